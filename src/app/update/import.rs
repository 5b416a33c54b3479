//! The import dialog and the import progress overlay.

use super::*;
use keys::ImportCmd;

pub(super) fn restyle_import(state: &mut State) {
    use ratatui::style::{Modifier, Style};
    if let Some(d) = &mut state.import_dialog {
        let on = Style::default().add_modifier(Modifier::REVERSED);
        let style = |focus: usize| {
            if d.focus == focus {
                on
            } else {
                Style::default()
            }
        };
        let (a, b, c) = (style(1), style(2), style(4));
        d.destination.set_cursor_style(a);
        d.limit.set_cursor_style(b);
        for f in &mut d.filters {
            f.set_cursor_style(c);
            f.set_placeholder_text("all rows (SQL condition, e.g. id > 100)");
        }
        d.destination.set_placeholder_text(format!(
            "default: <data dir>/datasets/<connection>-<date>{}",
            if d.format == crate::dataset::Format::Sqlite {
                ".sqlite".to_string()
            } else {
                format!("-{}/", d.format.id())
            }
        ));
        d.limit.set_placeholder_text("all rows");
    }
}

pub(super) fn import_dialog_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let cmd = lookup(keys::IMPORT_DIALOG, state, &key);
    let Some(d) = &mut state.import_dialog else {
        return vec![];
    };
    match (cmd, key.code) {
        (Some(ImportCmd::Cancel), _) => {
            state.import_dialog = None;
            return vec![];
        }
        (Some(ImportCmd::Next), _) => d.focus = (d.focus + 1) % ImportDialog::FIELDS,
        (Some(ImportCmd::Prev), _) => {
            d.focus = (d.focus + ImportDialog::FIELDS - 1) % ImportDialog::FIELDS
        }
        (Some(ImportCmd::Start), _) => return start_import(state),
        (Some(c @ (ImportCmd::ChoicePrev | ImportCmd::ChoiceNext)), _) => {
            let delta = if c == ImportCmd::ChoicePrev { -1 } else { 1 };
            if d.focus == 0 {
                d.format = cycle(&crate::dataset::Format::ALL, d.format, delta);
            } else {
                let n = d.tables.len().max(1) as isize;
                d.current = (d.current as isize + delta).rem_euclid(n) as usize;
            }
        }
        // Ctrl-M / Ctrl-J would insert a newline: these inputs are one line.
        _ if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('m' | 'j')) => {}
        _ if d.focus == 1 => {
            edit_input(&mut d.destination, key);
        }
        _ if d.focus == 4 => {
            if let Some(f) = d.filters.get_mut(d.current) {
                edit_input(f, key);
            }
        }
        (_, KeyCode::Char(c)) if d.focus == 2 && plain(&key) && c.is_ascii_digit() => {
            d.limit.input(key);
        }
        (_, KeyCode::Backspace) if d.focus == 2 => {
            d.limit.input(key);
        }
        _ => {}
    }
    restyle_import(state);
    vec![]
}

pub(super) fn start_import(state: &mut State) -> Vec<Effect> {
    let task = state.task();
    let now = state.now;
    let (Some(d), Some(b)) = (&mut state.import_dialog, &state.browser) else {
        return vec![];
    };
    let limit_text = d.limit.lines().join("");
    let limit = if limit_text.trim().is_empty() {
        None
    } else {
        match limit_text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                d.error = Some("Row limit: a positive number, or empty for all rows".into());
                return vec![];
            }
        }
    };
    // A filter in the engine's own language (SQL condition or JSON document).
    let caps = b.kind.engine().capabilities;
    if let Some(why) = (0..d.tables.len())
        .filter_map(|i| d.filter(i))
        .find_map(|f| caps.check_filter(&f).err())
    {
        d.error = Some(format!("Where: {why}"));
        return vec![];
    }
    let dest = d.destination.lines().join("");
    let destination = (!dest.trim().is_empty()).then(|| std::path::PathBuf::from(dest.trim()));
    let tables: Vec<crate::dataset::TablePlan> = d
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| crate::dataset::TablePlan {
            limit,
            filter: d.filter(i),
            ..crate::dataset::TablePlan::new(t.clone())
        })
        .collect();
    let rows = tables
        .iter()
        .map(|p| ImportRow {
            table: p.table.display_name(),
            rows: 0,
            // The table's estimate says nothing about a filtered subset.
            estimated: p
                .table
                .estimated_rows
                .filter(|_| p.filter.is_none())
                .and_then(|n| u64::try_from(n).ok())
                .map(|n| limit.map_or(n, |l| n.min(l))),
            rows_per_sec: 0.0,
            eta: None,
            status: ImportRowStatus::Waiting,
        })
        .collect();
    let format = d.format;
    let effect = Effect::Import {
        task,
        conn: b.conn.clone(),
        kind: b.kind,
        tables,
        format,
        destination,
    };
    state.import = Some(ImportProgress {
        task,
        conn: b.conn.clone(),
        format,
        rows,
        running: Some(Running::new(task, now)),
        finished: None,
        cancelling: false,
    });
    state.import_dialog = None;
    vec![effect]
}

pub(super) fn import_progress_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match lookup(keys::IMPORT_PROGRESS, state, &key) {
        Some(ImportCmd::Cancel) => match &mut state.import {
            Some(imp) => {
                imp.cancelling = true;
                vec![Effect::Cancel { task: imp.task }]
            }
            None => vec![],
        },
        Some(ImportCmd::Close) => {
            state.import = None;
            vec![]
        }
        _ => vec![],
    }
}

pub(super) fn apply_import_event(imp: &mut ImportProgress, event: crate::dataset::ImportEvent) {
    use crate::dataset::ImportEvent as E;
    match event {
        E::TableStarted {
            index,
            estimated_rows,
            ..
        } => {
            if let Some(r) = imp.rows.get_mut(index) {
                r.status = ImportRowStatus::Running;
                if estimated_rows.is_some() {
                    r.estimated = estimated_rows;
                }
            }
        }
        E::Progress {
            index,
            rows,
            estimated_rows,
            rows_per_sec,
            eta,
        } => {
            if let Some(r) = imp.rows.get_mut(index) {
                r.rows = rows;
                if estimated_rows.is_some() {
                    r.estimated = estimated_rows;
                }
                r.rows_per_sec = rows_per_sec;
                r.eta = eta;
            }
        }
        E::TableDone { index, rows, .. } => {
            if let Some(r) = imp.rows.get_mut(index) {
                r.rows = rows;
                r.status = ImportRowStatus::Done;
                r.eta = None;
            }
        }
        E::TableFailed { index, rows, error } => {
            if let Some(r) = imp.rows.get_mut(index) {
                r.rows = rows;
                r.status = match error {
                    crate::dataset::ImportError::Cancelled => ImportRowStatus::Cancelled,
                    e => ImportRowStatus::Failed(e.to_string()),
                };
            }
        }
    }
}

/// Progress of the running import.
pub(super) fn on_import_event(
    state: &mut State,
    task: TaskId,
    event: crate::dataset::ImportEvent,
) -> Vec<Effect> {
    if let Some(imp) = state.import.as_mut().filter(|i| i.task == task) {
        apply_import_event(imp, event);
    }
    vec![]
}

/// The import ended: per-table outcome and the summary line.
pub(super) fn on_import_done(
    state: &mut State,
    task: TaskId,
    summary: &crate::dataset::ImportSummary,
) -> Vec<Effect> {
    if let Some(imp) = state.import.as_mut().filter(|i| i.task == task) {
        imp.running = None;
        imp.cancelling = false;
        for (row, t) in imp.rows.iter_mut().zip(&summary.tables) {
            row.rows = t.rows;
            row.status = match &t.outcome {
                crate::dataset::TableOutcome::Done => ImportRowStatus::Done,
                crate::dataset::TableOutcome::Cancelled => ImportRowStatus::Cancelled,
                crate::dataset::TableOutcome::Failed { error } => {
                    ImportRowStatus::Failed(error.to_string())
                }
            };
        }
        let mut line = format!(
            "Import {}: {} of {} tables, {} rows",
            summary.outcome().id(),
            summary.tables_done(),
            summary.tables.len(),
            summary.total_rows()
        );
        if summary.written {
            line.push_str(&format!("\n→ {}", summary.destination.display()));
        }
        if let Some(e) = &summary.error {
            line.push_str(&format!(" ({e})"));
        }
        imp.finished = Some(line);
    }
    vec![]
}
