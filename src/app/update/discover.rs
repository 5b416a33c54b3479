//! The found-connections dialog: check the ones to import, Enter imports.

use super::*;
use crate::app::discover::DiscoverRow;
use keys::DiscoverCmd;

pub(super) fn discover_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(cmd) = lookup(keys::DISCOVER, state, &key) else {
        return vec![];
    };
    let Some(d) = state.discover.as_mut() else {
        return vec![];
    };
    let n = d.rows.len();
    match cmd {
        DiscoverCmd::Close => state.discover = None,
        DiscoverCmd::Down => move_sel(&mut d.selected, n, 1),
        DiscoverCmd::Up => move_sel(&mut d.selected, n, -1),
        DiscoverCmd::Toggle => {
            if let Some(r) = d.rows.get_mut(d.selected) {
                r.checked = !r.checked && r.already.is_none();
            }
        }
        DiscoverCmd::All => {
            let any_unchecked = d.rows.iter().any(|r| !r.checked && r.already.is_none());
            for r in d.rows.iter_mut() {
                r.checked = any_unchecked && r.already.is_none();
            }
        }
        DiscoverCmd::Import => {
            if d.loading || d.importing {
                return vec![];
            }
            let origins = d.chosen();
            if origins.is_empty() {
                set_status(state, StatusKind::Error, "Nothing checked to import");
                return vec![];
            }
            d.importing = true;
            return vec![Effect::ImportFound { origins }];
        }
    }
    vec![]
}

pub(super) fn on_discovered(
    state: &mut State,
    result: Result<(Vec<DiscoverRow>, Vec<String>), String>,
) -> Vec<Effect> {
    let Some(d) = state.discover.as_mut() else {
        return vec![];
    };
    d.loading = false;
    match result {
        Ok((rows, notes)) => {
            d.rows = rows;
            d.notes = notes;
            d.selected = 0;
        }
        Err(e) => {
            state.discover = None;
            set_status(state, StatusKind::Error, e);
        }
    }
    vec![]
}

pub(super) fn on_imported(state: &mut State, result: Result<Vec<String>, String>) -> Vec<Effect> {
    match result {
        Ok(names) => {
            state.discover = None;
            set_status(
                state,
                StatusKind::Info,
                format!("Imported {} connection(s)", names.len()),
            );
            vec![Effect::LoadConnections {
                select: names.first().cloned(),
            }]
        }
        Err(e) => {
            if let Some(d) = state.discover.as_mut() {
                d.importing = false;
            }
            set_status(state, StatusKind::Error, e);
            vec![]
        }
    }
}
