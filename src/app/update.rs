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
        Action::EnvUnlocked(result) => {
            state.unlocking = false;
            match result {
                Ok(()) => set_status(state, StatusKind::Info, "Vault unlocked"),
                Err(e) => set_status(
                    state,
                    StatusKind::Error,
                    format!(
                        "cannot unlock the vault: {e} (check --identity / VARLOR_PASSPHRASE_FILE)"
                    ),
                ),
            }
            vec![]
        }
        Action::Terminate(code) => {
            state.quit = true;
            state.exit_code = code;
            vec![]
        }
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

/// Replaces the list, keeps the filter, highlights `select` (or the same index).
pub fn set_connections(state: &mut State, rows: Vec<SavedConnection>, select: Option<&str>) {
    state.connections = rows;
    state.loaded = true;
    state.load_error = None;
    refilter(state);
    if let Some(name) = select {
        if let Some(pos) = state
            .visible
            .iter()
            .position(|&i| state.connections[i].name == name)
        {
            state.selected = pos;
        }
    }
    clamp_selected(state);
}

fn refilter(state: &mut State) {
    let needle = state.filter.to_lowercase();
    state.visible = state
        .connections
        .iter()
        .enumerate()
        .filter(|(_, c)| needle.is_empty() || c.name.to_lowercase().contains(&needle))
        .map(|(i, _)| i)
        .collect();
    clamp_selected(state);
}

fn clamp_selected(state: &mut State) {
    if state.selected >= state.visible.len() {
        state.selected = state.visible.len().saturating_sub(1);
    }
}

fn set_status(state: &mut State, kind: StatusKind, text: impl Into<String>) {
    state.status = Some(Status {
        kind,
        text: text.into(),
    });
}

fn status_kind(a: &TestAnswer) -> StatusKind {
    match a {
        TestAnswer::Ok { .. } => StatusKind::Info,
        _ => StatusKind::Error,
    }
}

/// One line in plain words for a test answer.
pub fn answer_line(a: &TestAnswer) -> String {
    match a {
        TestAnswer::Ok {
            version,
            latency_ms,
            tls,
        } => format!(
            "✓ Connected to {version} in {latency_ms} ms{}",
            if *tls { " (TLS)" } else { "" }
        ),
        TestAnswer::Failed { message, hint, .. } => {
            if hint.is_empty() {
                format!("✗ {message}")
            } else {
                format!("✗ {message}: {hint}")
            }
        }
        TestAnswer::Refused(m) => format!("✗ {m}"),
        TestAnswer::Cancelled => "Test cancelled".into(),
    }
}

fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

fn plain(key: &KeyEvent) -> bool {
    !key.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if is_ctrl(&key, 'c') {
        state.quit = true;
        state.exit_code = 130;
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
                }
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

// ---------------------------------------------------------------- list

fn list_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if state.filter_active {
        match key.code {
            KeyCode::Esc => {
                state.filter_active = false;
                state.filter.clear();
                refilter(state);
            }
            KeyCode::Enter => state.filter_active = false,
            KeyCode::Backspace => {
                state.filter.pop();
                refilter(state);
            }
            KeyCode::Up => move_sel(&mut state.selected, state.visible.len(), -1),
            KeyCode::Down => move_sel(&mut state.selected, state.visible.len(), 1),
            KeyCode::Char(c) if plain(&key) => {
                state.filter.push(c);
                state.selected = 0;
                refilter(state);
            }
            _ => {}
        }
        return vec![];
    }
    let n = state.visible.len();
    match key.code {
        KeyCode::Char('q') => state.quit = true,
        KeyCode::Char('j') | KeyCode::Down => move_sel(&mut state.selected, n, 1),
        KeyCode::Char('k') | KeyCode::Up => move_sel(&mut state.selected, n, -1),
        KeyCode::Char('g') | KeyCode::Home => state.selected = 0,
        KeyCode::Char('G') | KeyCode::End => state.selected = n.saturating_sub(1),
        KeyCode::PageDown => move_sel(&mut state.selected, n, PAGE as isize),
        KeyCode::PageUp => move_sel(&mut state.selected, n, -(PAGE as isize)),
        KeyCode::Char('/') => state.filter_active = true,
        KeyCode::Char('?') => state.help = true,
        KeyCode::Char('n') => {
            state.screen = Screen::Picker;
            state.picker = 0;
        }
        KeyCode::Char('e') => {
            if let Some(conn) = state.highlighted().cloned() {
                state.form = Some(edit_form(&conn, state.no_color));
                state.screen = Screen::Form;
                validate_form(state);
            }
        }
        KeyCode::Char('d') => {
            if let Some(conn) = state.highlighted() {
                state.confirm = Some(Confirm::Delete(conn.name.clone()));
            }
        }
        KeyCode::Char('t') => {
            if let Some(name) = state.highlighted().map(|c| c.name.clone()) {
                return start_list_test(state, name, false);
            }
        }
        KeyCode::Char('v') => {
            if let Some(conn) = state.highlighted() {
                state.popup = Some(test_details(conn, state.answers.get(&conn.name)));
            }
        }
        KeyCode::Char('r') => return vec![Effect::LoadConnections { select: None }],
        KeyCode::Enter => {
            if let Some(conn) = state.highlighted().cloned() {
                return open_browser(state, &conn);
            }
        }
        KeyCode::Esc => {
            // Esc cancels the highlighted test, else clears the filter.
            if let Some(name) = state.highlighted().map(|c| c.name.clone()) {
                if let Some(r) = state.tests.remove(&name) {
                    state.answers.insert(name.clone(), TestAnswer::Cancelled);
                    set_status(state, StatusKind::Info, format!("{name}: test cancelled"));
                    return vec![Effect::Cancel { task: r.task }];
                }
            }
            if !state.filter.is_empty() {
                state.filter.clear();
                refilter(state);
            }
        }
        _ => {}
    }
    vec![]
}

fn move_sel(sel: &mut usize, len: usize, delta: isize) {
    if len == 0 {
        *sel = 0;
        return;
    }
    let next = (*sel as isize + delta).clamp(0, len as isize - 1);
    *sel = next as usize;
}

fn start_list_test(state: &mut State, name: String, force: bool) -> Vec<Effect> {
    start_list_test_with(state, name, force, None)
}

fn start_list_test_with(
    state: &mut State,
    name: String,
    force: bool,
    prompted: Option<SecretString>,
) -> Vec<Effect> {
    if state.tests.contains_key(&name) {
        set_status(
            state,
            StatusKind::Info,
            format!("{name}: a test is already running"),
        );
        return vec![];
    }
    let task = state.task();
    state
        .tests
        .insert(name.clone(), Running::new(task, state.now));
    state.answers.remove(&name);
    vec![Effect::TestSaved {
        task,
        name,
        force,
        prompted,
    }]
}

fn test_details(conn: &SavedConnection, answer: Option<&TestAnswer>) -> Popup {
    let mut text = String::new();
    match answer {
        Some(a @ TestAnswer::Failed { detail, .. }) => {
            text.push_str(&answer_line(a));
            text.push_str("\n\nDetails: ");
            text.push_str(if detail.is_empty() { "(none)" } else { detail });
        }
        Some(a) => text.push_str(&answer_line(a)),
        None => match &conn.last_test {
            None => text.push_str("Never tested. Press t to test."),
            Some(t) if t.ok => {
                text.push_str(&format!(
                    "✓ {} in {} ms",
                    t.server_version.as_deref().unwrap_or("server"),
                    t.latency_ms.unwrap_or(0)
                ));
            }
            Some(t) => {
                text.push_str(&format!("✗ {}", t.status));
                if let Some(d) = &t.error {
                    text.push_str("\n\nDetails: ");
                    text.push_str(d);
                }
            }
        },
    }
    Popup {
        title: format!("Last test of {}", conn.name),
        text,
    }
}

// ---------------------------------------------------------------- picker

fn picker_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let n = Kind::ALL.len();
    match key.code {
        KeyCode::Esc => state.screen = Screen::List,
        KeyCode::Char('j') | KeyCode::Down => move_sel(&mut state.picker, n, 1),
        KeyCode::Char('k') | KeyCode::Up => move_sel(&mut state.picker, n, -1),
        KeyCode::Char('?') => state.help = true,
        KeyCode::Enter => {
            let kind = Kind::ALL[state.picker.min(n - 1)];
            state.form = Some(new_form(kind, state.no_color));
            state.screen = Screen::Form;
            validate_form(state);
        }
        KeyCode::Char(c) if plain(&key) => {
            // First letter: cycle among the kinds starting with it.
            let c = c.to_ascii_lowercase();
            let matches: Vec<usize> = (0..n)
                .filter(|&i| {
                    Kind::ALL[i]
                        .display_name()
                        .to_ascii_lowercase()
                        .starts_with(c)
                })
                .collect();
            if let Some(&next) = matches
                .iter()
                .find(|&&i| i > state.picker)
                .or(matches.first())
            {
                state.picker = next;
            }
        }
        _ => {}
    }
    vec![]
}

// ---------------------------------------------------------------- form

fn text_input(text: &str) -> TextArea<'static> {
    use ratatui::style::{Modifier, Style};
    let mut t = TextArea::new(vec![text.to_string()]);
    t.set_cursor_line_style(Style::default());
    // Dim, not grey: the placeholder must stay colourless under NO_COLOR.
    t.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
    t.move_cursor(CursorMove::End);
    t
}

fn password_input() -> TextArea<'static> {
    let mut t = text_input("");
    t.set_mask_char(MASK);
    // No undo history: it would keep copies of every typed character.
    t.set_max_histories(0);
    t
}

/// Wipes a secret input and gives back a fresh, empty one.
fn reset_secret(t: &mut TextArea<'static>) {
    wipe_input(t);
    *t = password_input();
}

/// After an edit of a secret input: a cut must not leave the secret in the
/// yank buffer (Ctrl-Y would bring it back after the field was cleared).
fn forget_yank(t: &mut TextArea<'static>) {
    use zeroize::Zeroize;
    let mut y = t.yank_text();
    if !y.is_empty() {
        y.zeroize();
        t.set_yank_text(String::new());
    }
}

fn field_text(spec: &ConnSpec, f: Field) -> String {
    match f {
        Field::Host => spec.host.clone(),
        Field::Port => spec.port.map(|p| p.to_string()).unwrap_or_default(),
        Field::Database | Field::ServiceName | Field::Path => spec.database.clone(),
        Field::User => spec.user.clone(),
        Field::Password | Field::TlsMode => String::new(),
        Field::CaFile => spec
            .ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        Field::AuthSource => spec.options.get("authSource").cloned().unwrap_or_default(),
    }
}

fn build_fields(kind: Kind, name: &str, spec: &ConnSpec) -> Vec<FormField> {
    let mut fields = vec![
        FormField {
            id: FieldId::Name,
            input: text_input(name),
        },
        FormField {
            id: FieldId::Url,
            input: text_input(""),
        },
    ];
    for &f in kind.fields() {
        let input = if f == Field::Password {
            password_input()
        } else {
            text_input(&field_text(spec, f))
        };
        fields.push(FormField {
            id: FieldId::Conn(f),
            input,
        });
    }
    fields.push(FormField {
        id: FieldId::Environment,
        input: text_input(""),
    });
    for f in &mut fields {
        if f.id == FieldId::Url {
            // A pasted URL may carry a password: keep no undo copies of it.
            f.input.set_max_histories(0);
            f.input.set_placeholder_text(format!(
                "optional: {}://user@host/db",
                kind.url_schemes()[0]
            ));
        }
    }
    fields
}

pub fn new_form(kind: Kind, no_color: bool) -> FormState {
    let spec = ConnSpec::new(kind);
    let mut form = FormState {
        kind,
        editing: None,
        had_secret: false,
        clear_password: false,
        fields: build_fields(kind, "", &spec),
        tls: spec.tls,
        base: spec,
        source: PasswordSource::Vault,
        focus: FormFocus::Field(0),
        environment: Environment::None,
        error: None,
        test: None,
        answer: None,
        answer_fresh: false,
        show_detail: false,
        saving: false,
        save_error: None,
    };
    restyle(&mut form, no_color);
    form
}

pub fn edit_form(conn: &SavedConnection, no_color: bool) -> FormState {
    let mut form = new_form(conn.spec.kind, no_color);
    form.fields = build_fields(conn.spec.kind, &conn.name, &conn.spec);
    form.base = conn.spec.clone();
    form.tls = conn.spec.tls;
    form.environment = conn.environment;
    form.editing = Some(conn.name.clone());
    form.had_secret = conn.has_secret;
    form.source = conn.password_source.clone();
    if let Some(pw) = form.field_mut(FieldId::Conn(Field::Password)) {
        pw.input.set_placeholder_text(if conn.has_secret {
            "(stored; type to replace, Ctrl-X clears)"
        } else {
            "(none stored)"
        });
    }
    restyle(&mut form, no_color);
    form
}

/// Shows the cursor only in the focused input.
fn restyle(form: &mut FormState, _no_color: bool) {
    use ratatui::style::{Modifier, Style};
    let focus = form.focus;
    for (i, f) in form.fields.iter_mut().enumerate() {
        let style = if focus == FormFocus::Field(i) {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        f.input.set_cursor_style(style);
    }
}

fn focus_ring(form: &FormState) -> Vec<FormFocus> {
    let mut ring: Vec<FormFocus> = (0..form.fields.len()).map(FormFocus::Field).collect();
    ring.push(FormFocus::TestButton);
    ring.push(FormFocus::SaveButton);
    ring
}

fn move_focus(state: &mut State, delta: isize) {
    let no_color = state.no_color;
    let Some(form) = &mut state.form else { return };
    let ring = focus_ring(form);
    let pos = ring.iter().position(|f| *f == form.focus).unwrap_or(0) as isize;
    let len = ring.len() as isize;
    // Leaving the URL field hides any password it carried.
    if form.focused_field() == Some(FieldId::Url) {
        scrub_url_field(form);
    }
    form.focus = ring[((pos + delta).rem_euclid(len)) as usize];
    restyle(form, no_color);
}

fn scrub_url_field(form: &mut FormState) {
    use zeroize::Zeroize;
    let mut text = form.text(FieldId::Url);
    if let Ok((spec, Some(_))) = ConnSpec::from_url(&text) {
        if let Some(f) = form.field_mut(FieldId::Url) {
            wipe_input(&mut f.input);
            f.input = text_input(&spec.to_url());
            f.input.set_max_histories(0);
        }
    }
    text.zeroize();
}

fn form_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(form) = &mut state.form else {
        state.screen = Screen::List;
        return vec![];
    };
    if is_ctrl(&key, 't') {
        return start_form_test(state);
    }
    if is_ctrl(&key, 's') {
        return start_save(state);
    }
    if is_ctrl(&key, 'e') {
        if let Some(TestAnswer::Failed {
            message, detail, ..
        }) = &form.answer
        {
            state.popup = Some(Popup {
                title: format!("Details: {message}"),
                text: if detail.is_empty() {
                    "(no details)".into()
                } else {
                    detail.clone()
                },
            });
        }
        return vec![];
    }
    if is_ctrl(&key, 'x') && form.focused_field() == Some(FieldId::Conn(Field::Password)) {
        if form.editing.is_some() && form.had_secret {
            form.clear_password = !form.clear_password;
            if form.clear_password {
                if let Some(f) = form.field_mut(FieldId::Conn(Field::Password)) {
                    reset_secret(&mut f.input);
                }
            }
        }
        restyle(form, state.no_color);
        return vec![];
    }
    match key.code {
        KeyCode::Esc => {
            if let Some(r) = form.test.take() {
                form.answer = Some(TestAnswer::Cancelled);
                return vec![Effect::Cancel { task: r.task }];
            }
            state.form = None;
            state.screen = Screen::List;
            return vec![];
        }
        KeyCode::Tab | KeyCode::Down => {
            move_focus(state, 1);
            return vec![];
        }
        KeyCode::BackTab | KeyCode::Up => {
            move_focus(state, -1);
            return vec![];
        }
        KeyCode::Enter => {
            return match form.focus {
                FormFocus::TestButton => start_form_test(state),
                FormFocus::SaveButton => start_save(state),
                FormFocus::Field(_) => {
                    move_focus(state, 1);
                    vec![]
                }
            };
        }
        _ => {}
    }
    let Some(id) = form.focused_field() else {
        return vec![];
    };
    if id.is_selector() {
        let delta = match key.code {
            KeyCode::Left | KeyCode::Char('h') => -1,
            KeyCode::Right | KeyCode::Char('l') | KeyCode::Char(' ') => 1,
            _ => 0,
        };
        if delta != 0 {
            match id {
                FieldId::Environment => {
                    form.environment = cycle(&Environment::ALL, form.environment, delta)
                }
                _ => {
                    form.tls = cycle(&TlsMode::ALL, form.tls, delta);
                    form.answer_fresh = false;
                }
            }
            validate_form(state);
        }
        return vec![];
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('m' | 'j'))
    {
        return vec![];
    }
    let changed = form
        .field_mut(id)
        .map(|f| {
            let changed = f.input.input(key);
            if f.holds_secret() {
                forget_yank(&mut f.input);
            }
            changed
        })
        .unwrap_or(false);
    if changed {
        field_changed(state, id);
    }
    vec![]
}

fn cycle<T: Copy + PartialEq>(all: &[T], cur: T, delta: isize) -> T {
    let pos = all.iter().position(|x| *x == cur).unwrap_or(0) as isize;
    all[((pos + delta).rem_euclid(all.len() as isize)) as usize]
}

fn field_changed(state: &mut State, id: FieldId) {
    if let Some(f) = &mut state.form {
        f.answer_fresh = false;
    }
    if id == FieldId::Conn(Field::Password) {
        if let Some(f) = &mut state.form {
            if !f.text(id).is_empty() {
                f.clear_password = false;
            }
        }
    }
    if id == FieldId::Url {
        apply_url(state);
    }
    validate_form(state);
}

/// Fills the other fields from the URL field; a password moves to the password field.
fn apply_url(state: &mut State) {
    let no_color = state.no_color;
    let Some(form) = &mut state.form else { return };
    let mut text = form.text(FieldId::Url);
    if text.trim().is_empty() {
        return;
    }
    let parsed = ConnSpec::from_url(&text);
    zeroize::Zeroize::zeroize(&mut text);
    let Ok((spec, password)) = parsed else {
        return;
    };
    if spec.kind != form.kind {
        // Another engine's URL: switch the form to that kind, keep name and URL.
        let name = form.text(FieldId::Name);
        let url = form.field(FieldId::Url).map(|f| f.input.clone());
        form.kind = spec.kind;
        form.fields = build_fields(spec.kind, &name, &spec);
        if let (Some(u), Some(f)) = (url, form.field_mut(FieldId::Url)) {
            f.input = u;
        }
        form.focus = FormFocus::Field(1);
    }
    for &f in spec.kind.fields() {
        if matches!(f, Field::Password | Field::TlsMode) {
            continue;
        }
        if let Some(ff) = form.field_mut(FieldId::Conn(f)) {
            ff.input = text_input(&field_text(&spec, f));
        }
    }
    form.tls = spec.tls;
    let mut base = spec.clone();
    base.options = spec.options.clone();
    form.base = base;
    if let Some(pw) = password {
        use secrecy::ExposeSecret;
        if let Some(ff) = form.field_mut(FieldId::Conn(Field::Password)) {
            reset_secret(&mut ff.input);
            ff.input.insert_str(pw.expose_secret());
        }
        form.clear_password = false;
    }
    restyle(form, no_color);
}

fn on_paste(state: &mut State, text: &str) -> Vec<Effect> {
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

/// The spec the form describes, or the first error naming its field.
pub fn form_spec(form: &FormState) -> Result<ConnSpec, SpecError> {
    let url = form.text(FieldId::Url);
    if !url.trim().is_empty() {
        ConnSpec::from_url(&url)?;
    }
    let mut spec = form.base.clone();
    spec.kind = form.kind;
    spec.tls = form.tls;
    for &f in form.kind.fields() {
        let text = form.text(FieldId::Conn(f));
        match f {
            Field::Host => spec.host = text.trim().to_string(),
            Field::Port => {
                spec.port = if text.trim().is_empty() {
                    form.kind.default_port()
                } else {
                    Some(ConnSpec::parse_port(&text)?)
                }
            }
            Field::Database | Field::ServiceName | Field::Path => {
                spec.database = text.trim().to_string()
            }
            Field::User => spec.user = text.trim().to_string(),
            Field::CaFile => {
                spec.ca_file = Some(text.trim())
                    .filter(|t| !t.is_empty())
                    .map(std::path::PathBuf::from)
            }
            Field::AuthSource => {
                if text.trim().is_empty() {
                    spec.options.remove("authSource");
                } else {
                    spec.options
                        .insert("authSource".into(), text.trim().to_string());
                }
            }
            Field::Password | Field::TlsMode => {}
        }
    }
    spec.validate()?;
    Ok(spec)
}

fn check_name(form: &FormState, connections: &[SavedConnection]) -> Result<String, SpecError> {
    let name = form.text(FieldId::Name).trim().to_string();
    if name.is_empty() {
        return Err(SpecError::new("name", "a name is required"));
    }
    if connections
        .iter()
        .any(|c| c.name == name && form.editing.as_deref() != Some(c.name.as_str()))
    {
        return Err(SpecError::new(
            "name",
            format!("a connection named '{name}' already exists"),
        ));
    }
    Ok(name)
}

fn validate_form(state: &mut State) {
    let Some(form) = &mut state.form else { return };
    form.error = check_name(form, &state.connections)
        .and_then(|_| form_spec(form))
        .err();
    form.save_error = None;
}

fn typed_password(form: &FormState) -> Option<SecretString> {
    let t = form.text(FieldId::Conn(Field::Password));
    (!t.is_empty()).then(|| SecretString::from(t))
}

fn start_form_test(state: &mut State) -> Vec<Effect> {
    let task = state.task();
    let now = state.now;
    let Some(form) = &mut state.form else {
        return vec![];
    };
    if form.test.is_some() {
        return vec![];
    }
    let spec = match form_spec(form) {
        Ok(s) => s,
        Err(e) => {
            form.answer = Some(TestAnswer::Refused(format!("cannot test yet: {e}")));
            return vec![];
        }
    };
    let password = match (typed_password(form), &form.editing) {
        (Some(p), _) => FormPassword::Typed(p),
        (None, Some(name)) if form.had_secret && !form.clear_password => {
            FormPassword::Stored(name.clone())
        }
        _ => FormPassword::None,
    };
    form.test = Some(Running::new(task, now));
    form.answer = None;
    vec![Effect::TestForm {
        task,
        spec,
        password,
    }]
}

fn start_save(state: &mut State) -> Vec<Effect> {
    validate_form(state);
    let Some(form) = &mut state.form else {
        return vec![];
    };
    if form.saving {
        return vec![];
    }
    if let Some(e) = &form.error {
        form.save_error = Some(format!("cannot save: {e}"));
        return vec![];
    }
    let (Ok(name), Ok(spec)) = (check_name(form, &state.connections), form_spec(form)) else {
        return vec![];
    };
    let typed = typed_password(form);
    let keeps_secret = form.had_secret && !form.clear_password;
    let password_source = if form.kind == Kind::Sqlite {
        PasswordSource::None
    } else if typed.is_some() || keeps_secret {
        PasswordSource::Vault
    } else if matches!(
        form.source,
        PasswordSource::Command(_) | PasswordSource::Prompt
    ) {
        form.source.clone()
    } else {
        PasswordSource::None
    };
    let password = match (&form.editing, typed) {
        (_, Some(p)) => Some(Some(p)),
        (Some(_), None) if form.clear_password => Some(None),
        _ => None,
    };
    form.saving = true;
    let tested = match &form.answer {
        Some(a @ TestAnswer::Ok { .. }) if form.answer_fresh => Some(a.clone()),
        _ => None,
    };
    vec![Effect::Save {
        tested,
        old_name: form.editing.clone(),
        new: NewConnection {
            name,
            spec,
            environment: form.environment,
            password_source,
        },
        password,
    }]
}

// ---------------------------------------------------------------- unlock

pub fn new_unlock_prompt(create: bool, pending: Pending) -> UnlockPrompt {
    UnlockPrompt {
        create,
        connection: None,
        input: password_input(),
        confirm: password_input(),
        focus_confirm: false,
        error: None,
        busy: false,
        pending,
    }
}

fn unlock_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(p) = &mut state.unlock else {
        return vec![];
    };
    if p.busy {
        return vec![];
    }
    match key.code {
        KeyCode::Esc => {
            let pending = p.pending.clone();
            state.unlock = None;
            if let Pending::OpenBrowser { .. } = pending {
                state.browser = None;
                state.screen = Screen::List;
            }
            set_status(state, StatusKind::Info, "Vault still locked");
            vec![]
        }
        KeyCode::Tab | KeyCode::BackTab if p.create => {
            p.focus_confirm = !p.focus_confirm;
            vec![]
        }
        KeyCode::Enter => {
            // Zeroizing until it moves into a SecretString (which wipes itself).
            let pass = zeroize::Zeroizing::new(p.input.lines().join(""));
            if pass.is_empty() {
                p.error = Some("Type the passphrase first".into());
                return vec![];
            }
            if p.create {
                if !p.focus_confirm {
                    p.focus_confirm = true;
                    return vec![];
                }
                let confirm = zeroize::Zeroizing::new(p.confirm.lines().join(""));
                if *confirm != *pass {
                    p.error = Some("The two passphrases differ: type them again".into());
                    reset_secret(&mut p.input);
                    reset_secret(&mut p.confirm);
                    p.focus_confirm = false;
                    return vec![];
                }
            }
            let pass = SecretString::from(pass.as_str());
            if p.connection.is_some() {
                // A connection password goes straight to the pending operation.
                let pending = p.pending.clone();
                state.unlock = None;
                return resume_with(state, pending, Some(pass));
            }
            p.busy = true;
            p.error = None;
            let create = p.create;
            // Clear the inputs at once: the secret now lives only in the effect.
            reset_secret(&mut p.input);
            reset_secret(&mut p.confirm);
            vec![Effect::Unlock {
                passphrase: pass,
                create,
            }]
        }
        _ => {
            if key.modifiers.contains(KeyModifiers::CONTROL)
                && matches!(key.code, KeyCode::Char('m' | 'j'))
            {
                return vec![];
            }
            let t = if p.focus_confirm {
                &mut p.confirm
            } else {
                &mut p.input
            };
            t.input(key);
            forget_yank(t);
            vec![]
        }
    }
}

fn resume(state: &mut State, pending: Pending) -> Vec<Effect> {
    resume_with(state, pending, None)
}

fn resume_with(state: &mut State, pending: Pending, prompted: Option<SecretString>) -> Vec<Effect> {
    match pending {
        Pending::TestConnection { name } => start_list_test_with(state, name, false, prompted),
        Pending::TestForm => start_form_test(state),
        Pending::SaveForm => {
            if let Some(f) = &mut state.form {
                f.saving = false;
            }
            start_save(state)
        }
        Pending::OpenBrowser { name } => {
            let task = state.task();
            let now = state.now;
            match &mut state.browser {
                Some(b) if b.conn == name => {
                    b.loading = Some(Running::new(task, now));
                    b.error = None;
                    vec![Effect::OpenBrowser {
                        task,
                        name,
                        prompted,
                    }]
                }
                _ => vec![],
            }
        }
    }
}

// ---------------------------------------------------------------- browser

fn open_browser(state: &mut State, conn: &SavedConnection) -> Vec<Effect> {
    let task = state.task();
    let mut b = BrowserState::new(
        conn.name.clone(),
        conn.spec.kind,
        conn.environment,
        state.show_system_default,
    );
    b.loading = Some(Running::new(task, state.now));
    state.browser = Some(b);
    state.screen = Screen::Browser;
    vec![Effect::OpenBrowser {
        task,
        name: conn.name.clone(),
        prompted: None,
    }]
}

/// Case-insensitive subsequence match ("fuzzy"), O(len).
pub fn fuzzy_match(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars().flat_map(char::to_lowercase);
    needle
        .chars()
        .flat_map(char::to_lowercase)
        .all(|n| hay.any(|h| h == n))
}

pub fn refilter_browser(b: &mut BrowserState) {
    let needle = b.filter.trim().to_string();
    b.visible = b
        .tables
        .iter()
        .enumerate()
        .filter(|(_, t)| b.show_system || !t.system)
        .filter(|(_, t)| {
            needle.is_empty()
                || fuzzy_match(&needle, &t.name)
                || fuzzy_match(&needle, &t.display_name())
        })
        .map(|(i, _)| i)
        .collect();
    if b.selected >= b.visible.len() {
        b.selected = b.visible.len().saturating_sub(1);
    }
}

fn close_browser(state: &mut State) -> Vec<Effect> {
    let mut effects = vec![];
    if let Some(b) = state.browser.take() {
        if let Some(r) = b.loading {
            effects.push(Effect::Cancel { task: r.task });
        }
        if let Some((_, r)) = b.structure_loading {
            effects.push(Effect::Cancel { task: r.task });
        }
        if let Some(r) = b.preview.and_then(|p| p.loading) {
            effects.push(Effect::Cancel { task: r.task });
        }
        // Counts keep running in the background? No: the connector closes with the browser.
        if let Some(cache) = state.cache.get_mut(&b.conn) {
            cache.counts.retain(|_, c| {
                if let CountState::Running(r) = c {
                    effects.push(Effect::Cancel { task: r.task });
                    false
                } else {
                    true
                }
            });
        }
    }
    state.screen = Screen::List;
    effects.push(Effect::CloseBrowser);
    effects
}

fn browser_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(b) = &mut state.browser else {
        state.screen = Screen::List;
        return vec![];
    };
    if b.filter_active {
        match key.code {
            KeyCode::Esc => {
                b.filter_active = false;
                b.filter.clear();
                refilter_browser(b);
            }
            KeyCode::Enter => b.filter_active = false,
            KeyCode::Backspace => {
                b.filter.pop();
                refilter_browser(b);
            }
            KeyCode::Up => move_sel(&mut b.selected, b.visible.len(), -1),
            KeyCode::Down => move_sel(&mut b.selected, b.visible.len(), 1),
            KeyCode::Char(c) if plain(&key) => {
                b.filter.push(c);
                b.selected = 0;
                refilter_browser(b);
            }
            _ => return vec![],
        }
        b.load_due = true;
        return vec![];
    }
    let conn = b.conn.clone();
    let key_of_highlight = b.highlighted().map(table_key);
    match key.code {
        KeyCode::Char('q') => {
            state.quit = true;
            return vec![];
        }
        KeyCode::Char('?') => {
            state.help = true;
            return vec![];
        }
        KeyCode::Esc => {
            // Innermost running thing first: count, preview, then leave.
            if let Some(k) = &key_of_highlight {
                if let Some(cache) = state.cache.get_mut(&conn) {
                    if let Some(CountState::Running(r)) = cache.counts.get(k) {
                        let task = r.task;
                        cache.counts.remove(k);
                        set_status(state, StatusKind::Info, "Count cancelled");
                        return vec![Effect::Cancel { task }];
                    }
                }
            }
            if let Some(r) = b.loading.take() {
                b.error = Some(crate::connectors::ConnError::new(
                    ErrorKind::Cancelled,
                    "cancelled",
                ));
                return vec![Effect::Cancel { task: r.task }];
            }
            if let Some(p) = &mut b.preview {
                if let Some(r) = p.loading.take() {
                    return vec![Effect::Cancel { task: r.task }];
                }
            }
            if !b.filter.is_empty() {
                b.filter.clear();
                refilter_browser(b);
                return vec![];
            }
            return close_browser(state);
        }
        KeyCode::Tab => {
            b.focus = match b.focus {
                BrowserFocus::Tables => BrowserFocus::Structure,
                BrowserFocus::Structure => BrowserFocus::Preview,
                BrowserFocus::Preview => BrowserFocus::Tables,
            };
            return vec![];
        }
        KeyCode::BackTab => {
            b.focus = match b.focus {
                BrowserFocus::Tables => BrowserFocus::Preview,
                BrowserFocus::Structure => BrowserFocus::Tables,
                BrowserFocus::Preview => BrowserFocus::Structure,
            };
            return vec![];
        }
        KeyCode::Char('r') => {
            // Reconnect, reload the list and drop cached structures.
            let task = state.task();
            let now = state.now;
            state.cache.remove(&conn);
            let Some(b) = &mut state.browser else {
                return vec![];
            };
            let mut effects = vec![];
            if let Some(r) = b.loading.replace(Running::new(task, now)) {
                effects.push(Effect::Cancel { task: r.task });
            }
            // Never connected (e.g. the first connect failed): open afresh.
            let never_loaded = b.tables.is_empty();
            b.error = None;
            b.structure_error = None;
            b.preview = None;
            effects.push(if never_loaded {
                Effect::OpenBrowser {
                    task,
                    name: conn,
                    prompted: None,
                }
            } else {
                Effect::Reconnect { task }
            });
            return effects;
        }
        KeyCode::Char('c') => {
            let Some(t) = b.highlighted().cloned() else {
                return vec![];
            };
            let k = table_key(&t);
            let task = state.task();
            let now = state.now;
            let cache = state.cache.entry(conn).or_default();
            if let Some(CountState::Running(_)) = cache.counts.get(&k) {
                return vec![];
            }
            cache
                .counts
                .insert(k, CountState::Running(Running::new(task, now)));
            return vec![Effect::Count { task, table: t }];
        }
        KeyCode::Char(' ') => {
            if let Some(k) = key_of_highlight {
                if !b.chosen.remove(&k) {
                    b.chosen.insert(k);
                }
                move_sel(&mut b.selected, b.visible.len(), 1);
                b.load_due = true;
            }
            return vec![];
        }
        KeyCode::Char('s') => {
            b.show_system = !b.show_system;
            refilter_browser(b);
            b.load_due = true;
            return vec![];
        }
        KeyCode::Char('/') => {
            b.filter_active = true;
            b.focus = BrowserFocus::Tables;
            return vec![];
        }
        KeyCode::Char('i') => {
            // The chosen tables, or the highlighted one when none is chosen.
            let tables: Vec<crate::connectors::TableRef> = if b.chosen.is_empty() {
                b.highlighted().cloned().into_iter().collect()
            } else {
                b.tables
                    .iter()
                    .filter(|t| b.chosen.contains(&table_key(t)))
                    .cloned()
                    .collect()
            };
            if !tables.is_empty() && b.loading.is_none() && b.error.is_none() {
                let filters = tables.iter().map(|_| text_input("")).collect();
                state.import_dialog = Some(ImportDialog {
                    tables,
                    format: crate::dataset::Format::Sqlite,
                    destination: text_input(""),
                    limit: text_input(""),
                    filters,
                    current: 0,
                    focus: 0,
                    error: None,
                });
                restyle_import(state);
            }
            return vec![];
        }
        _ => {}
    }
    match b.focus {
        BrowserFocus::Tables => {
            let n = b.visible.len();
            let before = b.selected;
            match key.code {
                KeyCode::Char('j') | KeyCode::Down => move_sel(&mut b.selected, n, 1),
                KeyCode::Char('k') | KeyCode::Up => move_sel(&mut b.selected, n, -1),
                KeyCode::Char('g') | KeyCode::Home => b.selected = 0,
                KeyCode::Char('G') | KeyCode::End => b.selected = n.saturating_sub(1),
                KeyCode::PageDown => move_sel(&mut b.selected, n, PAGE as isize),
                KeyCode::PageUp => move_sel(&mut b.selected, n, -(PAGE as isize)),
                KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => {
                    b.focus = BrowserFocus::Preview
                }
                _ => {}
            }
            if b.selected != before {
                b.load_due = true;
                b.structure_scroll = 0;
            }
        }
        BrowserFocus::Structure => match key.code {
            KeyCode::Char('j') | KeyCode::Down => b.structure_scroll += 1,
            KeyCode::Char('k') | KeyCode::Up => {
                b.structure_scroll = b.structure_scroll.saturating_sub(1)
            }
            KeyCode::Char('g') | KeyCode::Home => b.structure_scroll = 0,
            KeyCode::Char('h') | KeyCode::Left => b.focus = BrowserFocus::Tables,
            _ => {}
        },
        BrowserFocus::Preview => {
            let Some(p) = &mut b.preview else {
                if matches!(key.code, KeyCode::Char('h') | KeyCode::Left) {
                    b.focus = BrowserFocus::Tables;
                }
                return vec![];
            };
            let (nrows, ncols) = p
                .rows
                .as_ref()
                .map(|r| (r.rows.len(), r.columns.len()))
                .unwrap_or((0, 0));
            match key.code {
                KeyCode::Char('j') | KeyCode::Down => move_sel(&mut p.row, nrows, 1),
                KeyCode::Char('k') | KeyCode::Up => move_sel(&mut p.row, nrows, -1),
                KeyCode::Char('l') | KeyCode::Right => move_sel(&mut p.col_offset, ncols, 1),
                KeyCode::Char('h') | KeyCode::Left => {
                    if p.col_offset == 0 {
                        b.focus = BrowserFocus::Tables;
                    } else {
                        p.col_offset -= 1;
                    }
                }
                KeyCode::Char('0') | KeyCode::Home => p.col_offset = 0,
                KeyCode::Char('$') | KeyCode::End => p.col_offset = ncols.saturating_sub(1),
                KeyCode::Enter => {
                    if let Some(rs) = &p.rows {
                        if let (Some(row), Some(col)) =
                            (rs.rows.get(p.row), rs.columns.get(p.col_offset))
                        {
                            if let Some(cell) = row.get(p.col_offset) {
                                state.popup = Some(Popup {
                                    title: format!(
                                        "{} ({}), row {}",
                                        col.name,
                                        col.type_name,
                                        p.row + 1
                                    ),
                                    text: full_value(cell),
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    vec![]
}

/// The whole value of a cell, for the popup.
pub fn full_value(cell: &crate::connectors::Cell) -> String {
    use crate::connectors::Cell;
    match cell {
        Cell::Null => "NULL (no value)".into(),
        Cell::Text(t) if t.is_empty() => "(empty text)".into(),
        Cell::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("{} bytes\n\\x{hex}", b.len())
        }
        // JSON documents are shown indented.
        Cell::Text(t)
            if (t.starts_with('{') || t.starts_with('['))
                && serde_json::from_str::<serde_json::Value>(t).is_ok() =>
        {
            serde_json::from_str::<serde_json::Value>(t)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| t.clone())
        }
        other => other.display(),
    }
}

// ---------------------------------------------------------------- tick

fn on_tick(state: &mut State, now: Instant, now_unix: i64) -> Vec<Effect> {
    state.now = now;
    state.now_unix = now_unix;
    state.spinner = state.spinner.wrapping_add(1);
    let bump = |r: &mut Running| r.elapsed = now.saturating_duration_since(r.started);
    for r in state.tests.values_mut() {
        bump(r);
    }
    if let Some(r) = state.form.as_mut().and_then(|f| f.test.as_mut()) {
        bump(r);
    }
    if let Some(r) = state.import.as_mut().and_then(|i| i.running.as_mut()) {
        bump(r);
    }
    for cache in state.cache.values_mut() {
        for c in cache.counts.values_mut() {
            if let CountState::Running(r) = c {
                bump(r);
            }
        }
    }
    let Some(b) = &mut state.browser else {
        return vec![];
    };
    if let Some(r) = &mut b.loading {
        bump(r);
    }
    if let Some((_, r)) = &mut b.structure_loading {
        bump(r);
    }
    if let Some(r) = b.preview.as_mut().and_then(|p| p.loading.as_mut()) {
        bump(r);
    }
    if !b.load_due || b.loading.is_some() {
        return vec![];
    }
    b.load_due = false;
    load_highlighted(state)
}

/// Structure (unless cached and fresh) and preview of the highlighted table.
fn load_highlighted(state: &mut State) -> Vec<Effect> {
    let now = state.now;
    let ttl = state.structure_cache;
    let limit = state.preview_rows;
    let Some(b) = &state.browser else {
        return vec![];
    };
    let Some(table) = b.highlighted().cloned() else {
        return vec![];
    };
    let key = table_key(&table);
    let fresh = state
        .cache
        .get(&b.conn)
        .and_then(|c| c.structures.get(&key))
        .is_some_and(|s| now.saturating_duration_since(s.loaded_at) < ttl);
    let mut effects = vec![];
    let describe_task = (!fresh).then(|| state.task());
    let preview_task = state.task();
    let Some(b) = &mut state.browser else {
        return vec![];
    };
    b.structure_error = None;
    if let Some(task) = describe_task {
        if let Some((_, old)) = b.structure_loading.take() {
            effects.push(Effect::Cancel { task: old.task });
        }
        b.structure_loading = Some((key.clone(), Running::new(task, now)));
        effects.push(Effect::Describe {
            task,
            table: table.clone(),
        });
    }
    if b.preview
        .as_ref()
        .is_some_and(|p| p.table == key && p.error.is_none())
    {
        return effects;
    }
    if let Some(old) = b.preview.take().and_then(|p| p.loading) {
        effects.push(Effect::Cancel { task: old.task });
    }
    b.preview = Some(PreviewState {
        table: key,
        loading: Some(Running::new(preview_task, now)),
        rows: None,
        error: None,
        col_offset: 0,
        row: 0,
        col: 0,
    });
    effects.push(Effect::Preview {
        task: preview_task,
        table,
        limit,
    });
    effects
}

// ---------------------------------------------------------------- import

fn restyle_import(state: &mut State) {
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

fn import_dialog_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(d) = &mut state.import_dialog else {
        return vec![];
    };
    match key.code {
        KeyCode::Esc => {
            state.import_dialog = None;
            return vec![];
        }
        KeyCode::Tab | KeyCode::Down => d.focus = (d.focus + 1) % ImportDialog::FIELDS,
        KeyCode::BackTab | KeyCode::Up => {
            d.focus = (d.focus + ImportDialog::FIELDS - 1) % ImportDialog::FIELDS
        }
        KeyCode::Enter => return start_import(state),
        KeyCode::Left | KeyCode::Right | KeyCode::Char(' ') if d.focus == 0 => {
            let delta = if key.code == KeyCode::Left { -1 } else { 1 };
            d.format = cycle(&crate::dataset::Format::ALL, d.format, delta);
        }
        KeyCode::Left | KeyCode::Right | KeyCode::Char(' ') if d.focus == 3 => {
            let n = d.tables.len().max(1);
            d.current = if key.code == KeyCode::Left {
                (d.current + n - 1) % n
            } else {
                (d.current + 1) % n
            };
        }
        // Ctrl-M / Ctrl-J would insert a newline: these inputs are one line.
        _ if key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('m' | 'j')) => {}
        _ if d.focus == 1 => {
            d.destination.input(key);
        }
        _ if d.focus == 4 => {
            if let Some(f) = d.filters.get_mut(d.current) {
                f.input(key);
            }
        }
        KeyCode::Char(c) if d.focus == 2 && plain(&key) && c.is_ascii_digit() => {
            d.limit.input(key);
        }
        KeyCode::Backspace if d.focus == 2 => {
            d.limit.input(key);
        }
        _ => {}
    }
    restyle_import(state);
    vec![]
}

fn start_import(state: &mut State) -> Vec<Effect> {
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
    let dest = d.destination.lines().join("");
    let destination = (!dest.trim().is_empty()).then(|| std::path::PathBuf::from(dest.trim()));
    let tables: Vec<crate::dataset::TablePlan> = d
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| crate::dataset::TablePlan {
            table: t.clone(),
            limit,
            filter: d.filter(i),
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

fn import_progress_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(imp) = &mut state.import else {
        return vec![];
    };
    match key.code {
        KeyCode::Esc if imp.running.is_some() => {
            imp.cancelling = true;
            vec![Effect::Cancel { task: imp.task }]
        }
        KeyCode::Esc | KeyCode::Enter if imp.running.is_none() => {
            state.import = None;
            vec![]
        }
        _ => vec![],
    }
}

fn apply_import_event(imp: &mut ImportProgress, event: crate::dataset::ImportEvent) {
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
