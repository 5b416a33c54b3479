//! The table browser: tables, structure, preview, counts, and the tick that loads them.

use super::*;
use keys::{BrowserCmd, FilterCmd, PaneCmd};

pub(super) fn open_browser(state: &mut State, conn: &SavedConnection) -> Vec<Effect> {
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

/// Applies the system toggle and the filter. With a filter the highlight
/// lands on the best match; without one it stays on the table it was on.
/// When the highlighted table changes (or nothing matches any more), its
/// structure and preview are due.
pub fn refilter_browser(b: &mut BrowserState) {
    let before = b.highlighted().map(crate::app::state::table_key);
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
    if !needle.is_empty() {
        // Land on the best match: exact, then prefix, then substring, then
        // fuzzy (the list keeps its schema order; only the highlight moves).
        let best = b
            .visible
            .iter()
            .enumerate()
            .min_by_key(|(_, &i)| match_rank(&needle, &b.tables[i]))
            .map(|(pos, _)| pos);
        b.selected = best.unwrap_or(0);
    } else if let Some(k) = &before {
        if let Some(pos) = b
            .visible
            .iter()
            .position(|&i| crate::app::state::table_key(&b.tables[i]) == *k)
        {
            b.selected = pos;
        }
    }
    if b.selected >= b.visible.len() {
        b.selected = b.visible.len().saturating_sub(1);
    }
    if b.highlighted().map(crate::app::state::table_key) != before || b.visible.is_empty() {
        b.load_due = true;
        b.structure_scroll = 0;
    }
}

/// How well `needle` matches a table: 0 exact, 1 prefix, 2 substring, 3 fuzzy
/// (case-insensitive, on the name or `schema.name`).
fn match_rank(needle: &str, t: &crate::connectors::TableRef) -> u8 {
    let n = needle.to_lowercase();
    [t.name.to_lowercase(), t.display_name().to_lowercase()]
        .iter()
        .map(|h| {
            if *h == n {
                0
            } else if h.starts_with(&n) {
                1
            } else if h.contains(&n) {
                2
            } else {
                3
            }
        })
        .min()
        .unwrap_or(3)
}

pub(super) fn close_browser(state: &mut State) -> Vec<Effect> {
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
    if let Some(r) = state.query.take().and_then(|q| q.running) {
        effects.push(Effect::Cancel { task: r.task });
    }
    state.screen = Screen::List;
    effects.push(Effect::CloseBrowser);
    effects
}

pub(super) fn browser_filter_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let cmd = lookup(keys::FILTER, state, &key);
    let Some(b) = &mut state.browser else {
        return vec![];
    };
    let Some(cmd) = cmd else {
        return vec![];
    };
    match cmd {
        FilterCmd::Clear => {
            b.filter_active = false;
            b.filter_selected = false;
            b.filter.clear();
            refilter_browser(b);
        }
        FilterCmd::Keep => {
            b.filter_active = false;
            b.filter_selected = false;
        }
        FilterCmd::Up => move_sel(&mut b.selected, b.visible.len(), -1),
        FilterCmd::Down => move_sel(&mut b.selected, b.visible.len(), 1),
        _ => {
            if edit_filter(&mut b.filter, &mut b.filter_selected, cmd, &key) {
                refilter_browser(b);
            }
            return vec![];
        }
    }
    b.load_due = true;
    vec![]
}

pub(super) fn browser_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(b) = &mut state.browser else {
        state.screen = Screen::List;
        return vec![];
    };
    let focus = b.focus;
    if let Some(cmd) = lookup(keys::BROWSER, state, &key) {
        return browser_command(state, cmd);
    }
    match focus {
        BrowserFocus::Tables => {
            if let Some(cmd) = lookup(keys::BROWSER_TABLES, state, &key) {
                tables_pane(state, cmd);
            }
        }
        BrowserFocus::Structure => {
            if let Some(cmd) = lookup(keys::BROWSER_STRUCTURE, state, &key) {
                structure_pane(state, cmd);
            }
        }
        BrowserFocus::Preview => {
            if let Some(cmd) = lookup(keys::BROWSER_PREVIEW, state, &key) {
                preview_pane(state, cmd);
            }
        }
    }
    vec![]
}

/// The browser's keys of every pane.
fn browser_command(state: &mut State, cmd: BrowserCmd) -> Vec<Effect> {
    let Some(b) = &mut state.browser else {
        return vec![];
    };
    match cmd {
        BrowserCmd::Quit => return close_browser(state),
        BrowserCmd::Query => return super::query::open_query(state),
        BrowserCmd::Help => state.help = true,
        BrowserCmd::Back => return browser_back(state),
        BrowserCmd::NextPane => {
            b.focus = match b.focus {
                BrowserFocus::Tables => BrowserFocus::Structure,
                BrowserFocus::Structure => BrowserFocus::Preview,
                BrowserFocus::Preview => BrowserFocus::Tables,
            }
        }
        BrowserCmd::PrevPane => {
            b.focus = match b.focus {
                BrowserFocus::Tables => BrowserFocus::Preview,
                BrowserFocus::Structure => BrowserFocus::Tables,
                BrowserFocus::Preview => BrowserFocus::Structure,
            }
        }
        BrowserCmd::Refresh => return browser_refresh(state),
        BrowserCmd::Count => return browser_count(state),
        BrowserCmd::Select => {
            if let Some(k) = b.highlighted().map(table_key) {
                if !b.chosen.remove(&k) {
                    b.chosen.insert(k);
                }
                move_sel(&mut b.selected, b.visible.len(), 1);
                b.load_due = true;
            }
        }
        BrowserCmd::System => {
            b.show_system = !b.show_system;
            refilter_browser(b);
            b.load_due = true;
        }
        BrowserCmd::Filter => {
            b.filter_active = true;
            b.filter_selected = !b.filter.is_empty();
            b.focus = BrowserFocus::Tables;
        }
        BrowserCmd::Import => open_import_dialog(state),
    }
    vec![]
}

/// Esc: the innermost running thing first (count, load, preview), then the
/// filter, then leave the browser.
fn browser_back(state: &mut State) -> Vec<Effect> {
    let Some(b) = &mut state.browser else {
        return vec![];
    };
    let conn = b.conn.clone();
    if let Some(k) = b.highlighted().map(table_key) {
        if let Some(cache) = state.cache.get_mut(&conn) {
            if let Some(CountState::Running(r)) = cache.counts.get(&k) {
                let task = r.task;
                cache.counts.remove(&k);
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
    close_browser(state)
}

/// `r`: reconnect, reload the list and drop cached structures.
fn browser_refresh(state: &mut State) -> Vec<Effect> {
    let task = state.task();
    let now = state.now;
    let Some(b) = &mut state.browser else {
        return vec![];
    };
    let conn = b.conn.clone();
    state.cache.remove(&conn);
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
    effects
}

/// `c`: an exact count of the highlighted table, in the background.
fn browser_count(state: &mut State) -> Vec<Effect> {
    let Some(b) = &state.browser else {
        return vec![];
    };
    let Some(t) = b.highlighted().cloned() else {
        return vec![];
    };
    let conn = b.conn.clone();
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
    vec![Effect::Count { task, table: t }]
}

/// `i`: the import dialog for the chosen tables, or the highlighted one.
fn open_import_dialog(state: &mut State) {
    let Some(b) = &state.browser else { return };
    let tables: Vec<crate::connectors::TableRef> = if b.chosen.is_empty() {
        b.highlighted().cloned().into_iter().collect()
    } else {
        b.tables
            .iter()
            .filter(|t| b.chosen.contains(&table_key(t)))
            .cloned()
            .collect()
    };
    if tables.is_empty() || b.loading.is_some() || b.error.is_some() {
        return;
    }
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

fn tables_pane(state: &mut State, cmd: PaneCmd) {
    let Some(b) = &mut state.browser else { return };
    let n = b.visible.len();
    let before = b.selected;
    match cmd {
        PaneCmd::Down => move_sel(&mut b.selected, n, 1),
        PaneCmd::Up => move_sel(&mut b.selected, n, -1),
        PaneCmd::First => b.selected = 0,
        PaneCmd::Last => b.selected = n.saturating_sub(1),
        PaneCmd::PageDown => move_sel(&mut b.selected, n, PAGE as isize),
        PaneCmd::PageUp => move_sel(&mut b.selected, n, -(PAGE as isize)),
        PaneCmd::Enter | PaneCmd::Right => b.focus = BrowserFocus::Preview,
        PaneCmd::Left | PaneCmd::Copy | PaneCmd::CopyRow | PaneCmd::Toggle => {}
    }
    if b.selected != before {
        b.load_due = true;
        b.structure_scroll = 0;
    }
}

fn structure_pane(state: &mut State, cmd: PaneCmd) {
    let Some(b) = &mut state.browser else { return };
    // Scrolling stops at the last column (drawing keeps the pane full).
    let columns = b
        .highlighted()
        .and_then(|t| {
            state
                .cache
                .get(&b.conn)
                .and_then(|c| c.structures.get(&table_key(t)))
        })
        .map_or(0, |s| s.info.columns.len());
    match cmd {
        PaneCmd::Down => {
            b.structure_scroll = (b.structure_scroll + 1).min(columns.saturating_sub(1))
        }
        PaneCmd::Up => b.structure_scroll = b.structure_scroll.saturating_sub(1),
        PaneCmd::First => b.structure_scroll = 0,
        PaneCmd::Left => b.focus = BrowserFocus::Tables,
        _ => {}
    }
}

fn preview_pane(state: &mut State, cmd: PaneCmd) {
    let Some(b) = &mut state.browser else { return };
    let Some(p) = &mut b.preview else {
        if cmd == PaneCmd::Left {
            b.focus = BrowserFocus::Tables;
        }
        return;
    };
    let (nrows, ncols) = p
        .rows
        .as_ref()
        .map(|r| (r.rows.len(), r.columns.len()))
        .unwrap_or((0, 0));
    if cmd == PaneCmd::Toggle {
        p.json = !p.json && nrows > 0;
        p.json_scroll = 0;
        return;
    }
    if p.json {
        // The JSON view: j/k scroll it, h/l go to the previous / next row.
        let lines = p
            .rows
            .as_ref()
            .and_then(|r| r.row_json_text(p.row))
            .map_or(0, |t| t.lines().count());
        let last = lines.saturating_sub(1);
        match cmd {
            PaneCmd::Down => p.json_scroll = (p.json_scroll + 1).min(last),
            PaneCmd::Up => p.json_scroll = p.json_scroll.saturating_sub(1),
            PaneCmd::PageDown => p.json_scroll = (p.json_scroll + PAGE).min(last),
            PaneCmd::PageUp => p.json_scroll = p.json_scroll.saturating_sub(PAGE),
            PaneCmd::First => p.json_scroll = 0,
            PaneCmd::Last => p.json_scroll = last,
            PaneCmd::Right if p.row + 1 < nrows => {
                p.row += 1;
                p.json_scroll = 0;
            }
            PaneCmd::Left if p.row > 0 => {
                p.row -= 1;
                p.json_scroll = 0;
            }
            PaneCmd::Left => b.focus = BrowserFocus::Tables,
            PaneCmd::Enter => p.json = false,
            _ => {}
        }
        return;
    }
    match cmd {
        PaneCmd::Down => move_sel(&mut p.row, nrows, 1),
        PaneCmd::Up => move_sel(&mut p.row, nrows, -1),
        PaneCmd::Right => move_sel(&mut p.col_offset, ncols, 1),
        PaneCmd::Left => {
            if p.col_offset == 0 {
                b.focus = BrowserFocus::Tables;
            } else {
                p.col_offset -= 1;
            }
        }
        PaneCmd::First => p.col_offset = 0,
        PaneCmd::Last => p.col_offset = ncols.saturating_sub(1),
        PaneCmd::Enter => {
            let popup = p.rows.as_ref().and_then(|rs| {
                let col = rs.columns.get(p.col_offset)?;
                let cell = rs.rows.get(p.row)?.get(p.col_offset)?;
                Some(Popup {
                    title: format!("{} ({}), row {}", col.name, col.type_name, p.row + 1),
                    text: full_value(cell),
                })
            });
            if popup.is_some() {
                state.popup = popup;
            }
        }
        PaneCmd::Copy | PaneCmd::CopyRow => copy_from_preview(state, cmd == PaneCmd::CopyRow),
        PaneCmd::PageDown | PaneCmd::PageUp | PaneCmd::Toggle => {}
    }
}

/// `y` / `Y`: the highlighted cell (or its row) onto the clipboard, raw.
fn copy_from_preview(state: &mut State, row_too: bool) {
    let Some(p) = state.browser.as_ref().and_then(|b| b.preview.as_ref()) else {
        return;
    };
    let Some(rs) = &p.rows else { return };
    let copied = super::copy::cells(&rs.columns, &rs.rows, p.row, p.col_offset, row_too);
    super::copy::to_clipboard(state, copied);
}

/// The whole value of a cell, for the popup.
pub fn full_value(cell: &crate::connectors::Cell) -> String {
    use crate::connectors::Cell;
    match cell {
        Cell::Null => "NULL (no value)".into(),
        Cell::Text(t) if t.is_empty() => "(empty text)".into(),
        Cell::Json(v) => serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()),
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

/// Structure (unless cached and fresh) and preview of the highlighted table.
pub(super) fn load_highlighted(state: &mut State) -> Vec<Effect> {
    let now = state.now;
    let ttl = state.structure_cache;
    let limit = state.preview_rows;
    let Some(b) = &state.browser else {
        return vec![];
    };
    let Some(table) = b.highlighted().cloned() else {
        // Nothing matches: no pane keeps showing the last table.
        let mut effects = vec![];
        let Some(b) = &mut state.browser else {
            return effects;
        };
        if let Some((_, r)) = b.structure_loading.take() {
            effects.push(Effect::Cancel { task: r.task });
        }
        if let Some(r) = b.preview.take().and_then(|p| p.loading) {
            effects.push(Effect::Cancel { task: r.task });
        }
        b.structure_error = None;
        return effects;
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
        json: false,
        json_scroll: 0,
    });
    effects.push(Effect::Preview {
        task: preview_task,
        table,
        limit,
    });
    effects
}

pub(super) fn on_tick(state: &mut State, now: Instant, now_unix: i64) -> Vec<Effect> {
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

/// The browser connected and listed its tables.
pub(super) fn on_tables_loaded(
    state: &mut State,
    task: TaskId,
    conn: String,
    result: Result<Vec<crate::connectors::TableRef>, crate::connectors::ConnError>,
) -> Vec<Effect> {
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
            // A reload (`r`) keeps the highlighted table when it still exists.
            let kept = b.highlighted().map(table_key);
            b.tables = tables;
            b.error = None;
            b.selected = 0;
            refilter_browser(b);
            if let Some(pos) =
                kept.and_then(|k| b.visible.iter().position(|&i| table_key(&b.tables[i]) == k))
            {
                b.selected = pos;
            }
            b.load_due = true;
        }
        Err(e) => b.error = Some(e),
    }
    vec![]
}

/// Opening the browser failed before any connector call.
pub(super) fn on_browser_failed(state: &mut State, task: TaskId, message: String) -> Vec<Effect> {
    if let Some(b) = &mut state.browser {
        if b.loading.as_ref().is_some_and(|r| r.task == task) {
            b.loading = None;
            b.error = Some(crate::connectors::ConnError::new(ErrorKind::Other, message));
        }
    }
    vec![]
}

/// A table structure arrived: cache it.
pub(super) fn on_described(
    state: &mut State,
    conn: String,
    table: TableKey,
    result: Result<crate::connectors::TableInfo, crate::connectors::ConnError>,
    at: Instant,
) -> Vec<Effect> {
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

/// An exact count finished.
pub(super) fn on_counted(
    state: &mut State,
    task: TaskId,
    conn: String,
    table: TableKey,
    result: Result<u64, crate::connectors::ConnError>,
) -> Vec<Effect> {
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

/// Preview rows arrived.
pub(super) fn on_previewed(
    state: &mut State,
    task: TaskId,
    table: TableKey,
    result: Result<crate::connectors::RowSet, crate::connectors::ConnError>,
) -> Vec<Effect> {
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
