//! The connection list: keys, test bookkeeping, and the list itself.

use super::*;
use keys::{FilterCmd, ListCmd};

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

pub(super) fn refilter(state: &mut State) {
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

pub(super) fn clamp_selected(state: &mut State) {
    if state.selected >= state.visible.len() {
        state.selected = state.visible.len().saturating_sub(1);
    }
}

pub(super) fn status_kind(a: &TestAnswer) -> StatusKind {
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

pub(super) fn list_filter_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(cmd) = lookup(keys::FILTER, state, &key) else {
        return vec![];
    };
    match cmd {
        FilterCmd::Clear => {
            state.filter_active = false;
            state.filter_selected = false;
            state.filter.clear();
            refilter(state);
        }
        FilterCmd::Keep => {
            state.filter_active = false;
            state.filter_selected = false;
        }
        FilterCmd::Up => move_sel(&mut state.selected, state.visible.len(), -1),
        FilterCmd::Down => move_sel(&mut state.selected, state.visible.len(), 1),
        _ => {
            if edit_filter(&mut state.filter, &mut state.filter_selected, cmd, &key) {
                state.selected = 0;
                refilter(state);
            }
        }
    }
    vec![]
}

pub(super) fn list_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let n = state.visible.len();
    let Some(cmd) = lookup(keys::LIST, state, &key) else {
        return vec![];
    };
    match cmd {
        ListCmd::Quit => state.quit = true,
        ListCmd::Down => move_sel(&mut state.selected, n, 1),
        ListCmd::Up => move_sel(&mut state.selected, n, -1),
        ListCmd::First => state.selected = 0,
        ListCmd::Last => state.selected = n.saturating_sub(1),
        ListCmd::PageDown => move_sel(&mut state.selected, n, PAGE as isize),
        ListCmd::PageUp => move_sel(&mut state.selected, n, -(PAGE as isize)),
        ListCmd::Discover => {
            state.discover = Some(crate::app::discover::DiscoverDialog {
                loading: true,
                ..Default::default()
            });
            return vec![Effect::Discover];
        }
        ListCmd::Filter => {
            state.filter_active = true;
            state.filter_selected = !state.filter.is_empty();
        }
        ListCmd::Help => state.help = true,
        ListCmd::New => {
            state.screen = Screen::Picker;
            state.picker = 0;
        }
        ListCmd::Edit => {
            if let Some(conn) = state.highlighted().cloned() {
                state.form = Some(edit_form(&conn, state.no_color));
                state.screen = Screen::Form;
                validate_form(state);
            }
        }
        ListCmd::Delete => {
            if let Some(conn) = state.highlighted() {
                state.confirm = Some(Confirm::Delete(conn.name.clone()));
            }
        }
        ListCmd::Test => {
            if let Some(name) = state.highlighted().map(|c| c.name.clone()) {
                return start_list_test(state, name, false);
            }
        }
        ListCmd::Details => {
            if let Some(conn) = state.highlighted() {
                state.popup = Some(test_details(conn, state.answers.get(&conn.name)));
            }
        }
        ListCmd::Reload => return vec![Effect::LoadConnections { select: None }],
        ListCmd::Lock => return vec![Effect::LockVault],
        ListCmd::Open => {
            if let Some(conn) = state.highlighted().cloned() {
                return open_browser(state, &conn);
            }
        }
        ListCmd::Cancel => {
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
    }
    vec![]
}

pub(super) fn start_list_test(state: &mut State, name: String, force: bool) -> Vec<Effect> {
    start_list_test_with(state, name, force, None)
}

pub(super) fn start_list_test_with(
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

pub(super) fn test_details(conn: &SavedConnection, answer: Option<&TestAnswer>) -> Popup {
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

/// The connection list (re)loaded.
pub(super) fn on_connections_loaded(
    state: &mut State,
    result: Result<Vec<SavedConnection>, String>,
    select: Option<String>,
) -> Vec<Effect> {
    match result {
        Ok(rows) => set_connections(state, rows, select.as_deref()),
        Err(e) => {
            state.load_error = Some(e.clone());
            set_status(state, StatusKind::Error, e);
        }
    }
    vec![]
}

/// A delete finished.
pub(super) fn on_deleted(state: &mut State, result: Result<String, String>) -> Vec<Effect> {
    match result {
        Ok(name) => {
            set_status(state, StatusKind::Info, format!("Deleted '{name}'"));
            state.cache.remove(&name);
            vec![Effect::LoadConnections { select: None }]
        }
        Err(e) => {
            set_status(state, StatusKind::Error, e);
            vec![]
        }
    }
}

/// A test of a saved connection finished.
pub(super) fn on_test_done(
    state: &mut State,
    task: TaskId,
    name: String,
    result: Result<crate::connectors::ServerInfo, crate::connectors::ConnError>,
) -> Vec<Effect> {
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

/// The profile refused to start a test of a saved connection.
pub(super) fn on_test_refused(
    state: &mut State,
    task: TaskId,
    name: String,
    message: String,
    lockout: bool,
) -> Vec<Effect> {
    if state.tests.get(&name).is_some_and(|r| r.task == task) {
        state.tests.remove(&name);
        if lockout {
            state.confirm = Some(Confirm::ForceTest(name.clone()));
        }
        set_status(state, StatusKind::Error, format!("{name}: {message}"));
        state.answers.insert(name, TestAnswer::Refused(message));
    }
    vec![]
}
