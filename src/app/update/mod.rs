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
use super::keys::{self, lookup};
use super::state::*;

const PAGE: usize = 10;

mod browser;
mod copy;
mod discover;
mod form;
mod import;
mod list;
mod overlays;
mod picker;
mod query;
mod ssh_prompt;
mod unlock;

use browser::*;
use form::*;
use import::*;
use list::*;
use picker::*;
use query::*;
use unlock::*;

pub use browser::{full_value, fuzzy_match, refilter_browser};
pub use form::{edit_form, form_spec, new_form};
pub use list::{answer_line, set_connections};
pub use query::{starter_sql, word_to_complete};
pub use unlock::new_unlock_prompt;

/// Opens the browser of the saved connection `name` (`varlor open NAME`).
pub fn open_connection(state: &mut State, name: &str) -> Vec<Effect> {
    match state.connections.iter().find(|c| c.name == name).cloned() {
        Some(conn) => open_browser(state, &conn),
        None => {
            set_status(
                state,
                StatusKind::Error,
                format!("no connection named '{name}'"),
            );
            vec![]
        }
    }
}

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) if key.kind == KeyEventKind::Release => vec![],
        Action::Key(key) => on_key(state, key),
        Action::Paste(text) => on_paste(state, &text),
        Action::Tick { now, now_unix } => {
            query::tick_query(state, now);
            browser::on_tick(state, now, now_unix)
        }
        Action::Resize { width, height } => {
            state.screen_size = (width, height);
            vec![]
        }
        Action::ConnectionsLoaded { result, select } => {
            list::on_connections_loaded(state, result, select)
        }
        Action::TestStages { task, line } => form::on_test_stages(state, task, line),
        Action::TestDone { task, name, result } => match name {
            Some(name) => list::on_test_done(state, task, name, result),
            None => form::on_test_done(state, task, result),
        },
        Action::TestRefused {
            task,
            name,
            message,
            lockout,
        } => match name {
            Some(name) => list::on_test_refused(state, task, name, message, lockout),
            None => form::on_test_refused(state, task, message),
        },
        Action::NeedsUnlock {
            initialised,
            pending,
        } => unlock::on_needs_unlock(state, initialised, pending),
        Action::NeedsPassword { pending } => unlock::on_needs_password(state, pending),
        Action::Saved(result) => form::on_saved(state, result),
        Action::Deleted(result) => list::on_deleted(state, result),
        Action::Unlocked(result) => unlock::on_unlocked(state, result),
        Action::Locked(result) => {
            match result {
                Ok(_) => set_status(
                    state,
                    StatusKind::Info,
                    "Vault locked: the next use asks for the passphrase",
                ),
                Err(e) => set_status(state, StatusKind::Error, format!("cannot lock: {e}")),
            }
            vec![]
        }
        Action::EnvUnlocked(result) => unlock::on_env_unlocked(state, result),
        Action::Terminate(code) => {
            state.quit = true;
            state.exit_code = code;
            vec![]
        }
        Action::TablesLoaded { task, conn, result } => {
            browser::on_tables_loaded(state, task, conn, result)
        }
        Action::BrowserFailed { task, message } => browser::on_browser_failed(state, task, message),
        Action::Described {
            conn,
            table,
            result,
            at,
        } => browser::on_described(state, conn, table, result, at),
        Action::Counted {
            task,
            conn,
            table,
            result,
        } => browser::on_counted(state, task, conn, table, result),
        Action::ImportEvent { task, event } => import::on_import_event(state, task, event),
        Action::ImportDone { task, summary } => import::on_import_done(state, task, &summary),
        Action::Previewed {
            task,
            table,
            result,
        } => browser::on_previewed(state, task, table, result),
        Action::Discovered(result) => discover::on_discovered(state, result),
        Action::FoundImported(result) => discover::on_imported(state, result),
        Action::QueryPage { task, result } => query::on_query_page(state, task, result),
        Action::QueryHistory { conn, result } => query::on_query_history(state, conn, result),
        Action::LoginWrites { conn, result } => query::on_login_writes(state, conn, result),
        Action::SshQuestion { id, question } => ssh_prompt::on_question(state, id, question),
        Action::SshQuestionExpired { id } => ssh_prompt::on_expired(state, id),
        Action::SshNotice { text } => {
            set_status(state, StatusKind::Info, format!("ssh: {}", text.trim_end()));
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
        state.exit_code = 130;
        return vec![];
    }
    // A status message lasts until the next key.
    state.status = None;
    // F1: help on every screen and dialog, even where `?` is typed text.
    if key.code == KeyCode::F(1) && state.unlock.is_none() && state.ssh_prompts.is_empty() {
        state.help = !state.help;
        state.help_scroll = 0;
        return vec![];
    }
    match state.layer() {
        Layer::SshPrompt => ssh_prompt::ssh_prompt_key(state, key),
        Layer::Unlock => unlock_key(state, key),
        Layer::Popup => overlays::popup_key(state, key),
        Layer::Help => overlays::help_key(state, key),
        Layer::Confirm => overlays::confirm_key(state, key),
        Layer::ImportDialog => import_dialog_key(state, key),
        Layer::ImportProgress => import_progress_key(state, key),
        Layer::Discover => discover::discover_key(state, key),
        Layer::ListFilter => list_filter_key(state, key),
        Layer::List => list_key(state, key),
        Layer::Picker => picker_key(state, key),
        Layer::Form => form_key(state, key),
        Layer::BrowserFilter => browser_filter_key(state, key),
        Layer::Browser => browser_key(state, key),
        Layer::Query => query_key(state, key),
    }
}

/// A key for a single-line text input, with the shell's Ctrl-U (erase to
/// the start of the line; tui-textarea binds it to undo) and Ctrl-W (erase
/// the word before the cursor). True when the text changed.
pub(super) fn edit_input(t: &mut TextArea<'static>, key: KeyEvent) -> bool {
    if is_ctrl(&key, 'u') {
        return t.delete_line_by_head();
    }
    if is_ctrl(&key, 'w') {
        return t.delete_word();
    }
    t.input(key)
}

/// A key that edits a filter's text (list and browser alike); true when the
/// text changed. A filter opened again with `/` starts selected: a typed
/// character replaces it, Backspace erases it, → / End keep it for editing.
pub(super) fn edit_filter(
    filter: &mut String,
    selected: &mut bool,
    cmd: keys::FilterCmd,
    key: &KeyEvent,
) -> bool {
    use keys::FilterCmd;
    let was_selected = std::mem::replace(selected, false);
    match cmd {
        FilterCmd::Type => {
            let KeyCode::Char(c) = key.code else {
                return false;
            };
            if was_selected {
                filter.clear();
            }
            filter.push(c);
            true
        }
        FilterCmd::Erase if was_selected => {
            filter.clear();
            true
        }
        FilterCmd::Erase => filter.pop().is_some(),
        FilterCmd::EraseAll => {
            let changed = !filter.is_empty();
            filter.clear();
            changed
        }
        FilterCmd::Up | FilterCmd::Down => {
            *selected = was_selected;
            false
        }
        FilterCmd::EditEnd | FilterCmd::Keep | FilterCmd::Clear => false,
    }
}

/// Paste into a filter: replaces a selected filter, else appends.
pub(super) fn paste_filter(filter: &mut String, selected: &mut bool, text: &str) {
    if std::mem::replace(selected, false) {
        filter.clear();
    }
    filter.push_str(text);
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
    let over_screen = state.unlock.is_none() && state.ssh_prompts.is_empty();
    if over_screen && state.screen == Screen::Query {
        // The query editor keeps line breaks; other control characters go.
        if let Some(q) = state
            .query
            .as_mut()
            .filter(|q| q.focus == QueryFocus::Editor)
        {
            let text = text.replace("\r\n", "\n");
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    q.editor.insert_newline();
                }
                let clean: String = line
                    .chars()
                    .filter(|c| !crate::display::needs_escape(*c))
                    .collect();
                q.editor.insert_str(clean);
            }
        }
        return vec![];
    }
    // One line, and no control character: the input fields draw their text
    // as it is, and a clipboard can carry escape sequences.
    let one_line: String = text
        .chars()
        .filter(|c| !crate::display::needs_escape(*c))
        .collect();
    // The pasted text may be a secret: wipe our copy whatever happens to it.
    let one_line = zeroize::Zeroizing::new(one_line);
    if !state.ssh_prompts.is_empty() {
        ssh_prompt::on_paste(state, &one_line);
        return vec![];
    }
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
            paste_filter(&mut state.filter, &mut state.filter_selected, &one_line);
            refilter(state);
        }
        Screen::Browser => {
            if let Some(b) = &mut state.browser {
                if b.filter_active {
                    paste_filter(&mut b.filter, &mut b.filter_selected, &one_line);
                    refilter_browser(b);
                }
            }
        }
        _ => {}
    }
    vec![]
}
