//! The pure heart of the app: `update(state, action) -> effects`. No I/O,
//! no clocks (time arrives in `Action::Tick`), so every key path is a unit test.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use secrecy::SecretString;
use tui_textarea::{CursorMove, TextArea};

use crate::connectors::{
    ConnSpec, Environment, ErrorKind, Field, Kind, PasswordSource, SpecError, TlsMode,
};
use crate::store::{NewConnection, SavedConnection};

use super::action::Action;
use super::effect::{Effect, FormPassword};
use super::state::*;

const PAGE: usize = 10;

mod browser;
mod form;
mod import;
mod list;
mod picker;
mod unlock;

use browser::*;
use form::*;
use import::*;
use list::*;
use picker::*;
use unlock::*;

pub use browser::{full_value, fuzzy_match, refilter_browser};
pub use form::{edit_form, form_spec, new_form};
pub use list::{answer_line, set_connections};
pub use unlock::new_unlock_prompt;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return vec![];
            }
            on_key(state, key)
        }
        Action::Paste(text) => on_paste(state, &text),
        Action::Tick { now, now_unix } => on_tick(state, now, now_unix),
        Action::Resize => vec![],
        Action::ConnectionsLoaded { result, select } => {
            match result {
                Ok(rows) => set_connections(state, rows, select.as_deref()),
                Err(e) => {
                    state.load_error = Some(e.clone());
                    set_status(state, StatusKind::Error, e);
                }
            }
            vec![]
        }
        Action::TestDone { task, name, result } => {
            match name {
                Some(name) => {
                    if state.tests.get(&name).is_some_and(|r| r.task == task) {
                        state.tests.remove(&name);
                        let answer = TestAnswer::from_result(&result);
                        set_status(
                            state,
                            status_kind(&answer),
                            format!("{name}: {}", answer_line(&answer)),
                        );
                        state.answers.insert(name, answer);
                    }
                    // The catalog recorded the outcome: refresh the row.
                    let select = state.highlighted().map(|c| c.name.clone());
                    vec![Effect::LoadConnections { select }]
                }
                None => {
                    if let Some(form) = &mut state.form {
                        if form.test.as_ref().is_some_and(|r| r.task == task) {
                            form.test = None;
                            form.answer = Some(TestAnswer::from_result(&result));
                            form.answer_fresh = true;
                        }
                    }
                    vec![]
                }
            }
        }
        Action::TestRefused {
            task,
            name,
            message,
            lockout,
        } => {
            match name {
                Some(name) => {
                    if state.tests.get(&name).is_some_and(|r| r.task == task) {
                        state.tests.remove(&name);
                        if lockout {
                            state.confirm = Some(Confirm::ForceTest(name.clone()));
                        }
                        set_status(state, StatusKind::Error, format!("{name}: {message}"));
                        state.answers.insert(name, TestAnswer::Refused(message));
                    }
                }
                None => {
                    if let Some(form) = &mut state.form {
                        if form.test.as_ref().is_some_and(|r| r.task == task) {
                            form.test = None;
                            form.answer = Some(TestAnswer::Refused(message));
                        }
                    }
                }
            }
            vec![]
        }
        Action::NeedsUnlock {
            initialised,
            pending,
        } => {
            match &pending {
                Pending::TestConnection { name } => {
                    state.tests.remove(name);
                }
                Pending::TestForm => {
                    if let Some(f) = &mut state.form {
                        f.test = None;
                    }
                }
                Pending::SaveForm => {
                    if let Some(f) = &mut state.form {
                        f.saving = false;
                    }
                }
                Pending::OpenBrowser { .. } => {
                    if let Some(b) = &mut state.browser {
                        b.loading = None;
                    }
                }
            }
            state.unlock = Some(new_unlock_prompt(!initialised, pending));
            vec![]
        }
        Action::NeedsPassword { pending } => {
            let name = match &pending {
                Pending::TestConnection { name } | Pending::OpenBrowser { name } => name.clone(),
                _ => String::new(),
            };
            match &pending {
                Pending::TestConnection { name } => {
                    state.tests.remove(name);
                }
                Pending::OpenBrowser { .. } => {
                    if let Some(b) = &mut state.browser {
                        b.loading = None;
                    }
                }
                _ => {}
            }
            let mut prompt = new_unlock_prompt(false, pending);
            prompt.connection = Some(name);
            state.unlock = Some(prompt);
            vec![]
        }
        Action::Saved(result) => match result {
            Ok(conn) => {
                let name = conn.name.clone();
                state.form = None;
                state.screen = Screen::List;
                // Show the new row at once; the reload confirms it.
                if let Some(i) = state.connections.iter().position(|c| c.name == name) {
                    state.connections[i] = conn;
                } else {
                    state.connections.push(conn);
                    state.connections.sort_by(|a, b| a.name.cmp(&b.name));
                }
                // A renamed connection leaves its old row behind until the reload.
                let rows = std::mem::take(&mut state.connections);
                set_connections(state, rows, Some(&name));
                set_status(state, StatusKind::Info, format!("Saved '{name}'"));
                vec![Effect::LoadConnections { select: Some(name) }]
            }
            Err(e) => {
                if let Some(f) = &mut state.form {
                    f.saving = false;
                    f.save_error = Some(e.clone());
                }
                set_status(state, StatusKind::Error, e);
                vec![]
            }
        },
        Action::Deleted(result) => match result {
            Ok(name) => {
                set_status(state, StatusKind::Info, format!("Deleted '{name}'"));
                state.cache.remove(&name);
                vec![Effect::LoadConnections { select: None }]
            }
            Err(e) => {
                set_status(state, StatusKind::Error, e);
                vec![]
            }
        },
        Action::Unlocked(result) => {
            let Some(prompt) = &mut state.unlock else {
                return vec![];
            };
            match result {
                Ok(()) => {
                    let pending = prompt.pending.clone();
                    let created = prompt.create;
                    state.unlock = None;
                    set_status(
                        state,
                        StatusKind::Info,
                        if created {
                            "Vault created and unlocked"
                        } else {
                            "Vault unlocked"
                        },
                    );
                    resume(state, pending)
                }
                Err(e) => {
                    prompt.busy = false;
                    prompt.error = Some(e);
                    reset_secret(&mut prompt.input);
                    reset_secret(&mut prompt.confirm);
                    prompt.focus_confirm = false;
                    vec![]
                }
            }
        }
        Action::TablesLoaded { task, conn, result } => {
            let Some(b) = &mut state.browser else {
                return vec![];
            };
            if b.conn != conn || b.loading.as_ref().is_none_or(|r| r.task != task) {
                return vec![];
            }
            b.loading = None;
            match result {
                Ok(mut tables) => {
                    // Grouped by schema: system schemas last, then by name.
                    tables.sort_by(|a, b| {
                        (a.system, &a.schema, &a.name).cmp(&(b.system, &b.schema, &b.name))
                    });
                    b.tables = tables;
                    b.error = None;
                    b.selected = 0;
                    refilter_browser(b);
                    b.load_due = true;
                }
                Err(e) => b.error = Some(e),
            }
            vec![]
        }
        Action::BrowserFailed { task, message } => {
            if let Some(b) = &mut state.browser {
                if b.loading.as_ref().is_some_and(|r| r.task == task) {
                    b.loading = None;
                    b.error = Some(crate::connectors::ConnError::new(ErrorKind::Other, message));
                }
            }
            vec![]
        }
        Action::Described {
            conn,
            table,
            result,
            at,
        } => {
            if let Some(b) = &mut state.browser {
                if b.conn == conn
                    && b.structure_loading
                        .as_ref()
                        .is_some_and(|(k, _)| *k == table)
                {
                    b.structure_loading = None;
                    b.structure_error = result.as_ref().err().cloned();
                }
            }
            if let Ok(info) = result {
                state.cache.entry(conn).or_default().structures.insert(
                    table,
                    CachedStructure {
                        info,
                        loaded_at: at,
                    },
                );
            }
            vec![]
        }
        Action::Counted {
            task,
            conn,
            table,
            result,
        } => {
            let cache = state.cache.entry(conn).or_default();
            if let Some(CountState::Running(r)) = cache.counts.get(&table) {
                if r.task == task {
                    let done = match result {
                        Ok(n) => CountState::Done(n),
                        Err(e) if e.kind == ErrorKind::Cancelled => {
                            cache.counts.remove(&table);
                            return vec![];
                        }
                        Err(e) => CountState::Failed(e.kind.message().to_string()),
                    };
                    cache.counts.insert(table, done);
                }
            }
            vec![]
        }
        Action::ImportEvent { task, event } => {
            if let Some(imp) = state.import.as_mut().filter(|i| i.task == task) {
                apply_import_event(imp, event);
            }
            vec![]
        }
        Action::ImportDone { task, summary } => {
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
        Action::Previewed {
            task,
            table,
            result,
        } => {
            if let Some(p) = state.browser.as_mut().and_then(|b| b.preview.as_mut()) {
                if p.table == table && p.loading.as_ref().is_some_and(|r| r.task == task) {
                    p.loading = None;
                    match result {
                        Ok(rows) => {
                            p.rows = Some(rows);
                            p.error = None;
                        }
                        Err(e) if e.kind == ErrorKind::Cancelled => {}
                        Err(e) => p.error = Some(e),
                    }
                }
            }
            vec![]
        }
    }
}

pub(super) fn set_status(state: &mut State, kind: StatusKind, text: impl Into<String>) {
    state.status = Some(Status {
        kind,
        text: text.into(),
    });
}

pub(super) fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

pub(super) fn plain(key: &KeyEvent) -> bool {
    !key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

pub(super) fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if is_ctrl(&key, 'c') {
        state.quit = true;
        return vec![];
    }
    // A status message lasts until the next key.
    state.status = None;
    if state.unlock.is_some() {
        return unlock_key(state, key);
    }
    if state.popup.is_some() {
        if matches!(
            key.code,
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char(' ')
        ) {
            state.popup = None;
        }
        return vec![];
    }
    if state.help {
        match key.code {
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Enter => state.help = false,
            KeyCode::Char('q') => state.quit = true,
            _ => {}
        }
        return vec![];
    }
    if let Some(confirm) = state.confirm.clone() {
        return match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                state.confirm = None;
                match confirm {
                    Confirm::Delete(name) => vec![Effect::Delete { name }],
                    Confirm::ForceTest(name) => start_list_test(state, name, true),
                    Confirm::KeepPassword { .. } => answer_keep_password(state, true),
                }
            }
            KeyCode::Char('n') | KeyCode::Char('N')
                if matches!(confirm, Confirm::KeepPassword { .. }) =>
            {
                state.confirm = None;
                answer_keep_password(state, false)
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                state.confirm = None;
                vec![]
            }
            _ => vec![],
        };
    }
    if state.import_dialog.is_some() {
        return import_dialog_key(state, key);
    }
    if state.import.is_some() {
        return import_progress_key(state, key);
    }
    match state.screen {
        Screen::List => list_key(state, key),
        Screen::Picker => picker_key(state, key),
        Screen::Form => form_key(state, key),
        Screen::Browser => browser_key(state, key),
    }
}

pub(super) fn move_sel(sel: &mut usize, len: usize, delta: isize) {
    if len == 0 {
        *sel = 0;
        return;
    }
    let next = (*sel as isize + delta).clamp(0, len as isize - 1);
    *sel = next as usize;
}

pub(super) fn cycle<T: Copy + PartialEq>(all: &[T], cur: T, delta: isize) -> T {
    let pos = all.iter().position(|x| *x == cur).unwrap_or(0) as isize;
    all[((pos + delta).rem_euclid(all.len() as isize)) as usize]
}

pub(super) fn on_paste(state: &mut State, text: &str) -> Vec<Effect> {
    let one_line: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    // The pasted text may be a secret: wipe our copy whatever happens to it.
    let one_line = zeroize::Zeroizing::new(one_line);
    if let Some(p) = &mut state.unlock {
        let t = if p.focus_confirm {
            &mut p.confirm
        } else {
            &mut p.input
        };
        t.insert_str(one_line.as_str());
        return vec![];
    }
    match state.screen {
        Screen::Form => {
            let Some(form) = &mut state.form else {
                return vec![];
            };
            let Some(id) = form.focused_field() else {
                return vec![];
            };
            if id.is_selector() {
                return vec![];
            }
            if let Some(f) = form.field_mut(id) {
                f.input.insert_str(&one_line);
            }
            field_changed(state, id);
            if id == FieldId::Url {
                if let Some(form) = &mut state.form {
                    scrub_url_field(form);
                }
            }
        }
        Screen::List if state.filter_active => {
            state.filter.push_str(&one_line);
            refilter(state);
        }
        Screen::Browser => {
            if let Some(b) = &mut state.browser {
                if b.filter_active {
                    b.filter.push_str(&one_line);
                    b.selected = 0;
                    refilter_browser(b);
                    b.load_due = true;
                }
            }
        }
        _ => {}
    }
    vec![]
}
