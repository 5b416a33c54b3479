//! The query pane: an editor for one statement of the open connection, run
//! read-only (`Connector::query`), and a grid of its rows fetched a page at
//! a time on demand. Esc cancels a running query (the server stops it too).

use super::*;
use crate::app::action::QueryPage;
use crate::app::keys::QueryCmd;
use crate::connectors::{ConnError, RowSet};

/// `SELECT * FROM <table> LIMIT 100`, the name quoted in the engine's way;
/// `db.<coll>.find({}).limit(100)` for MongoDB (empty for engines without a
/// query language). `own_db`: the connection's database.
pub fn starter_sql(
    kind: Kind,
    table: Option<&crate::connectors::TableRef>,
    own_db: Option<&str>,
) -> String {
    kind.engine()
        .query_language()
        .map_or_else(String::new, |l| l.starter(table, own_db))
}

/// `e` in the browser: the query pane of the open connection (kept, with
/// its text and rows, while the connection stays open).
pub(super) fn open_query(state: &mut State) -> Vec<Effect> {
    let Some(b) = &state.browser else {
        return vec![];
    };
    if b.loading.is_some() || b.error.is_some() {
        set_status(state, StatusKind::Error, "the connection is not open yet");
        return vec![];
    }
    if state.query.as_ref().is_none_or(|q| q.conn != b.conn) {
        let own_db = state
            .connections
            .iter()
            .find(|c| c.name == b.conn)
            .map(|c| c.spec.database.as_str());
        let sql = starter_sql(b.kind, b.highlighted(), own_db);
        state.query = Some(QueryState::new(b.conn.clone(), &sql));
    }
    state.screen = Screen::Query;
    vec![]
}

pub(super) fn query_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(q) = &state.query else {
        state.screen = Screen::Browser;
        return vec![];
    };
    match q.focus {
        QueryFocus::Editor => {
            if let Some(cmd) = lookup(keys::QUERY_EDITOR, state, &key) {
                return query_command(state, cmd);
            }
            if let Some(q) = &mut state.query {
                // Everything else edits the text.
                q.editor.input(key);
            }
            vec![]
        }
        QueryFocus::Results => match lookup(keys::QUERY_RESULTS, state, &key) {
            Some(cmd) => query_command(state, cmd),
            None => vec![],
        },
    }
}

fn query_command(state: &mut State, cmd: QueryCmd) -> Vec<Effect> {
    let page = state.query_page_rows.max(1);
    let now = state.now;
    let task = state.task();
    let Some(q) = &mut state.query else {
        return vec![];
    };
    let nrows = q.result.as_ref().map_or(0, |r| r.rows.len());
    let ncols = q.result.as_ref().map_or(0, |r| r.columns.len());
    match cmd {
        QueryCmd::Run => {
            let sql = q.sql();
            if sql.trim().trim_matches(';').trim().is_empty() {
                set_status(state, StatusKind::Error, "nothing to run: type a statement");
                return vec![];
            }
            q.running = Some(Running::new(task, now));
            q.started = Some(now);
            q.cursor_task = Some(task);
            q.result = None;
            q.error = None;
            q.done = false;
            q.row = 0;
            q.col_offset = 0;
            return vec![Effect::QueryClose, Effect::QueryRun { task, sql, page }];
        }
        QueryCmd::Cancel => {
            if let Some(r) = q.running.take() {
                // Rows so far stay; the cursor is gone with the task.
                q.done = true;
                q.cursor_task = None;
                set_status(
                    state,
                    StatusKind::Info,
                    "query cancelled (the server stopped it too)",
                );
                return vec![Effect::Cancel { task: r.task }];
            }
        }
        QueryCmd::Back => {
            state.screen = Screen::Browser;
        }
        QueryCmd::Focus => {
            q.focus = match q.focus {
                QueryFocus::Editor => QueryFocus::Results,
                QueryFocus::Results => QueryFocus::Editor,
            }
        }
        QueryCmd::Down => {
            if q.row + 1 >= nrows {
                return more(state, task, page);
            }
            move_sel(&mut q.row, nrows, 1);
        }
        QueryCmd::Up => move_sel(&mut q.row, nrows, -1),
        QueryCmd::PageDown => {
            if q.row + PAGE >= nrows {
                q.row = nrows.saturating_sub(1);
                return more(state, task, page);
            }
            move_sel(&mut q.row, nrows, PAGE as isize);
        }
        QueryCmd::PageUp => move_sel(&mut q.row, nrows, -(PAGE as isize)),
        QueryCmd::Top => q.row = 0,
        QueryCmd::Bottom => q.row = nrows.saturating_sub(1),
        QueryCmd::Right => move_sel(&mut q.col_offset, ncols, 1),
        QueryCmd::Left => q.col_offset = q.col_offset.saturating_sub(1),
        QueryCmd::First => q.col_offset = 0,
        QueryCmd::Last => q.col_offset = ncols.saturating_sub(1),
        QueryCmd::More => return more(state, task, page),
        QueryCmd::Enter => {
            let popup = q.result.as_ref().and_then(|rs| {
                let col = rs.columns.get(q.col_offset)?;
                let cell = rs.rows.get(q.row)?.get(q.col_offset)?;
                Some(Popup {
                    title: format!("{} ({}), row {}", col.name, col.type_name, q.row + 1),
                    text: full_value(cell),
                })
            });
            if popup.is_some() {
                state.popup = popup;
            }
        }
    }
    vec![]
}

/// The next page, when there is one and nothing is fetching.
fn more(state: &mut State, task: TaskId, page: usize) -> Vec<Effect> {
    let now = state.now;
    let Some(q) = &mut state.query else {
        return vec![];
    };
    let Some(cursor) = q.cursor_task else {
        return vec![];
    };
    if q.done || q.running.is_some() || q.result.is_none() {
        return vec![];
    }
    q.running = Some(Running::new(task, now));
    vec![Effect::QueryMore { task, cursor, page }]
}

pub(super) fn on_query_page(
    state: &mut State,
    task: TaskId,
    result: Result<QueryPage, ConnError>,
) -> Vec<Effect> {
    let now = state.now;
    let Some(q) = &mut state.query else {
        return vec![];
    };
    // A cancelled or superseded fetch: its answer is no longer awaited.
    if q.running.as_ref().is_none_or(|r| r.task != task) {
        return vec![];
    }
    let running = q.running.take();
    if let Some(r) = &running {
        q.elapsed = now.saturating_duration_since(r.started).max(r.elapsed);
    }
    match result {
        Ok(page) => {
            q.done = page.done;
            if page.done {
                q.cursor_task = None;
            }
            match (&mut q.result, page.columns) {
                (Some(rs), _) => rs.rows.extend(page.rows),
                (None, columns) => {
                    let has_columns = columns.as_ref().is_some_and(|c| !c.is_empty());
                    q.result = Some(RowSet {
                        columns: columns.unwrap_or_default(),
                        rows: page.rows,
                        elapsed: page.elapsed,
                        documents: Vec::new(),
                    });
                    if has_columns {
                        q.focus = QueryFocus::Results;
                    }
                }
            }
        }
        Err(e) if e.kind == ErrorKind::Cancelled => {
            q.done = true;
            q.cursor_task = None;
        }
        Err(e) => {
            q.done = true;
            q.cursor_task = None;
            q.error = Some(e);
        }
    }
    vec![]
}

/// Spinner and elapsed time of the running fetch.
pub(super) fn tick_query(state: &mut State, now: Instant) {
    if let Some(r) = state.query.as_mut().and_then(|q| q.running.as_mut()) {
        r.elapsed = now.saturating_duration_since(r.started);
    }
}
