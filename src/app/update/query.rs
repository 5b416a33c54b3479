//! The query pane: an editor for one statement of the open connection, run
//! read-only (`Connector::query`), and a grid of its rows fetched a page at
//! a time on demand. Esc cancels a running query (the server stops it too).

use super::*;
use crate::app::action::QueryPage;
use crate::app::keys::QueryCmd;
use crate::app::query_complete::{candidates, word_at, Known, Word};
use crate::app::state::{table_key, Completion};
use crate::connectors::{ConnError, RowSet, TableRef};

/// `SELECT * FROM <table> LIMIT 100` in the engine's SQL (`TOP (100)`,
/// `FETCH FIRST`), the name quoted in its way; `db.<coll>.find({}).limit(100)`
/// for MongoDB (empty for engines without a query language). `own_db`: the
/// connection's database.
pub fn starter_sql(
    kind: Kind,
    table: Option<&crate::connectors::TableRef>,
    own_db: Option<&str>,
) -> String {
    let engine = kind.engine();
    engine
        .query_language()
        .map_or_else(String::new, |l| l.starter(table, own_db, engine.row_limit))
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
        let conn = b.conn.clone();
        state.query = Some(QueryState::new(conn.clone(), &sql));
        state.screen = Screen::Query;
        return vec![Effect::QueryHistoryLoad { conn }, Effect::LoginCheck];
    }
    state.screen = Screen::Query;
    vec![]
}

/// The catalog's history of the pane's connection: behind what was run
/// since the pane opened.
pub(super) fn on_query_history(
    state: &mut State,
    conn: String,
    result: Result<Vec<String>, String>,
) -> Vec<Effect> {
    let Some(q) = state.query.as_mut().filter(|q| q.conn == conn) else {
        return vec![];
    };
    match result {
        Ok(older) => {
            for sql in older {
                if q.history.last() != Some(&sql) {
                    q.history.push(sql);
                }
            }
        }
        Err(e) => set_status(
            state,
            StatusKind::Error,
            format!("query history unavailable: {e}"),
        ),
    }
    vec![]
}

/// The login's badge; a check that failed leaves the pane's plain
/// "read-only" (the session is read-only either way).
pub(super) fn on_login_writes(
    state: &mut State,
    conn: String,
    result: Result<crate::connectors::query::LoginWrites, ConnError>,
) -> Vec<Effect> {
    if let Some(q) = state.query.as_mut().filter(|q| q.conn == conn) {
        match result {
            Ok(l) => q.login = Some(l),
            Err(e) => tracing::info!(kind = ?e.kind, "the login's privileges could not be read"),
        }
    }
    vec![]
}

/// Ctrl-P (`older`) / Ctrl-N: the editor shows the next entry of the
/// history; past the newest comes back the text being typed.
fn walk_history(q: &mut QueryState, older: bool) -> Result<(), &'static str> {
    let next = match (q.history_pos, older) {
        (None, true) if q.history.is_empty() => return Err("no statements run here yet"),
        (None, true) => {
            q.draft = q.sql();
            Some(0)
        }
        (Some(i), true) if i + 1 < q.history.len() => Some(i + 1),
        (Some(_), true) => return Err("the oldest statement of the history"),
        (Some(0), false) => None,
        (Some(i), false) => Some(i - 1),
        (None, false) => return Ok(()),
    };
    q.history_pos = next;
    let text = match next {
        Some(i) => q.history[i].clone(),
        None => std::mem::take(&mut q.draft),
    };
    q.set_sql(&text);
    Ok(())
}

pub(super) fn query_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(q) = &state.query else {
        state.screen = Screen::Browser;
        return vec![];
    };
    if q.export_prompt {
        return match lookup(keys::QUERY_EXPORT, state, &key) {
            Some(cmd) => query_command(state, cmd),
            None => vec![],
        };
    }
    match q.focus {
        QueryFocus::Editor if q.completion.is_some() => {
            if let Some(cmd) = lookup(keys::QUERY_COMPLETION, state, &key) {
                return query_command(state, cmd);
            }
            // Any other key closes the choices and goes on to the editor.
            if let Some(q) = &mut state.query {
                q.completion = None;
            }
            query_key(state, key)
        }
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
    match cmd {
        QueryCmd::Complete => {
            complete(state);
            return vec![];
        }
        QueryCmd::ExportTo(format) => return export(state, format),
        _ => {}
    }
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
            q.history_pos = None;
            q.draft.clear();
            q.last_sql = Some(sql.clone());
            let mut fx = vec![
                Effect::QueryClose,
                Effect::QueryRun {
                    task,
                    sql: sql.clone(),
                    page,
                },
            ];
            if q.history.first() != Some(&sql) {
                q.history.insert(0, sql.clone());
                fx.push(Effect::QueryRemember {
                    conn: q.conn.clone(),
                    sql,
                });
            }
            return fx;
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
        QueryCmd::Complete => {}
        QueryCmd::CompleteNext | QueryCmd::CompletePrev => {
            if let Some(c) = &mut q.completion {
                let delta = if cmd == QueryCmd::CompleteNext { 1 } else { -1 };
                c.selected = (c.selected as isize + delta).rem_euclid(c.items.len().max(1) as isize)
                    as usize;
            }
        }
        QueryCmd::CompleteAccept => {
            if let Some(c) = q.completion.take() {
                if let Some(item) = c.items.get(c.selected) {
                    replace_word(q, c.row, c.start, &item.insert);
                }
            }
        }
        QueryCmd::CompleteClose => q.completion = None,
        QueryCmd::Export => q.export_prompt = true,
        QueryCmd::ExportClose | QueryCmd::ExportTo(_) => q.export_prompt = false,
        QueryCmd::Older | QueryCmd::Newer => {
            if let Err(why) = walk_history(q, cmd == QueryCmd::Older) {
                set_status(state, StatusKind::Info, why);
            }
        }
        QueryCmd::Copy | QueryCmd::CopyRow => {
            let copied = q.result.as_ref().and_then(|rs| {
                super::copy::cells(
                    &rs.columns,
                    &rs.rows,
                    q.row,
                    q.col_offset,
                    cmd == QueryCmd::CopyRow,
                )
            });
            super::copy::to_clipboard(state, copied);
        }
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

/// `x` then a format: the last statement runs again (read-only, like the
/// pane) and its whole result streams through the import's sinks into the
/// datasets directory, shown by the import's progress (Esc cancels).
fn export(state: &mut State, format: crate::dataset::Format) -> Vec<Effect> {
    let now = state.now;
    let task = state.task();
    let (Some(q), Some(b)) = (state.query.as_mut(), state.browser.as_ref()) else {
        return vec![];
    };
    q.export_prompt = false;
    let Some(sql) = q.last_sql.clone() else {
        return vec![];
    };
    if state.import.is_some() {
        set_status(
            state,
            StatusKind::Error,
            "an import is still shown: close it first",
        );
        return vec![];
    }
    let plan = crate::dataset::TablePlan::query("query", sql);
    state.import = Some(ImportProgress {
        task,
        conn: b.conn.clone(),
        format,
        rows: vec![ImportRow {
            table: "query result".into(),
            rows: 0,
            estimated: None,
            rows_per_sec: 0.0,
            eta: None,
            status: ImportRowStatus::Waiting,
        }],
        running: Some(Running::new(task, now)),
        finished: None,
        cancelling: false,
    });
    vec![Effect::Import {
        task,
        conn: b.conn.clone(),
        kind: b.kind,
        tables: vec![plan],
        format,
        destination: None,
    }]
}

/// The word before the editor's cursor, when Tab can complete it (a SQL
/// engine, the editor focused, a name or keyword being typed).
pub fn word_to_complete(state: &State) -> Option<Word> {
    let q = state.query.as_ref()?;
    let b = state.browser.as_ref().filter(|b| b.conn == q.conn)?;
    let dialect = b.kind.engine().dialect?;
    let (row, col) = q.editor.cursor();
    word_at(q.editor.lines().get(row)?, col, dialect)
}

/// What the browser knows of the pane's connection: its tables (system
/// ones only when shown), the columns of every cached structure, and the
/// schemas whose tables need no qualifier.
fn known(state: &State) -> Option<Known<'_>> {
    let b = state.browser.as_ref()?;
    let dialect = b.kind.engine().dialect?;
    let mut columns: Vec<_> = state
        .cache
        .get(&b.conn)
        .map(|c| {
            c.structures
                .values()
                .map(|s| {
                    let names = s.info.columns.iter().map(|c| c.name.as_str()).collect();
                    (&s.info.table, names)
                })
                .collect()
        })
        .unwrap_or_default();
    // The highlighted table's columns first, then by name (a stable order).
    let first = b.highlighted().map(crate::app::state::table_key);
    columns
        .sort_by_key(|(t, _): &(&TableRef, Vec<&str>)| (Some(table_key(t)) != first, table_key(t)));
    let mut default_schemas: Vec<String> = vec!["public".into(), "main".into(), "dbo".into()];
    if let Some(c) = state.connections.iter().find(|c| c.name == b.conn) {
        if !c.spec.database.is_empty() {
            default_schemas.push(c.spec.database.clone());
        }
    }
    Some(Known {
        dialect,
        tables: b
            .tables
            .iter()
            .filter(|t| b.show_system || !t.system)
            .collect(),
        columns,
        default_schemas,
    })
}

/// Tab: one candidate is inserted, several open the choices, none says so.
fn complete(state: &mut State) {
    let Some(word) = word_to_complete(state) else {
        return;
    };
    let Some(known) = known(state) else { return };
    let items = candidates(&word, &known);
    let Some(q) = state.query.as_mut() else {
        return;
    };
    let (row, _) = q.editor.cursor();
    match items.len() {
        0 => set_status(
            state,
            StatusKind::Info,
            format!("nothing known starts with '{}'", word.prefix),
        ),
        1 => replace_word(q, row, word.start, &items[0].insert),
        _ => {
            q.completion = Some(Completion {
                items,
                selected: 0,
                row,
                start: word.start,
            })
        }
    }
}

/// Replaces the text of line `row` from char `start` to the cursor.
fn replace_word(q: &mut QueryState, row: usize, start: usize, text: &str) {
    let (_, col) = q.editor.cursor();
    q.editor.move_cursor(tui_textarea::CursorMove::Jump(
        row.min(u16::MAX as usize) as u16,
        start.min(u16::MAX as usize) as u16,
    ));
    q.editor.delete_str(col.saturating_sub(start));
    q.editor.insert_str(text);
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
