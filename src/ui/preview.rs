//! Structure of the highlighted table and its preview grid.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::browser::{error_lines, pane_block, rows_estimate};
use super::theme::{elapsed, spinner, Theme};
use super::{fit, pad};
use crate::app::state::{table_key, BrowserFocus, BrowserState, CountState, State};
use crate::connectors::{Cell, ColumnMeta};
use crate::display::display_text;

/// Widest a preview column gets before its cells are cut ("…").
const MAX_COL_W: usize = 24;

pub fn structure(f: &mut Frame, area: Rect, state: &State, b: &BrowserState, theme: Theme) {
    let focused = b.focus == BrowserFocus::Structure;
    let Some(t) = b.highlighted() else {
        no_table(f, area, " Structure ", focused, b, theme);
        return;
    };
    let key = table_key(t);
    let cache = state.cache.get(&b.conn);
    let cached = cache.and_then(|c| c.structures.get(&key));
    let block = pane_block(
        format!(" {} · {} ", fit(&t.display_name(), 30), t.kind.label()),
        focused,
        theme,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();

    let est = cached
        .and_then(|c| c.info.estimated_rows)
        .or(t.estimated_rows);
    let mut rows_line = vec![Span::styled("rows ", theme.dim())];
    rows_line.push(Span::raw(match est {
        Some(n) if n >= 0 => format!("{} (estimate)", rows_estimate(Some(n))),
        _ => "unknown".into(),
    }));
    match cache.and_then(|c| c.counts.get(&key)) {
        Some(CountState::Running(r)) => rows_line.push(Span::styled(
            format!(
                "  {} counting… {} (Esc cancels)",
                spinner(state.spinner),
                elapsed(r.elapsed)
            ),
            theme.warn(),
        )),
        Some(CountState::Done(n)) => {
            rows_line.push(Span::styled(format!("  exact {n}"), theme.ok()))
        }
        Some(CountState::Failed(m)) => {
            rows_line.push(Span::styled(format!("  count failed: {m}"), theme.error()))
        }
        None => {
            rows_line.push(Span::styled("  c", theme.key()));
            rows_line.push(Span::styled(" exact count", theme.dim()));
        }
    }
    lines.push(Line::from(rows_line));

    if let Some(e) = &b.structure_error {
        lines.extend(error_lines(e, theme));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    let Some(s) = cached else {
        if b.structure_loading.is_some() {
            lines.push(Line::from(Span::styled(
                format!("{} loading structure…", spinner(state.spinner)),
                theme.warn(),
            )));
        }
        f.render_widget(Paragraph::new(lines), inner);
        return;
    };
    if let Some(sampled) = s.info.sampled {
        sampled_fields(
            &mut lines,
            s,
            (sampled, est),
            b.structure_scroll,
            inner,
            theme,
        );
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    if s.info.columns.is_empty() {
        lines.push(Line::from(Span::styled(
            t.kind.no_columns_reason(),
            theme.warn(),
        )));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    // Wide terminals give names and types more room; every column keeps a
    // space after it, so a cut type never runs into "not null".
    let name_w = s
        .info
        .columns
        .iter()
        .map(|c| display_text(&c.name).width())
        .max()
        .unwrap_or(4)
        .clamp(4, (width / 4).max(20));
    let type_w = s
        .info
        .columns
        .iter()
        .map(|c| display_text(&c.data_type).width())
        .max()
        .unwrap_or(4)
        .clamp(4, (width / 4).max(18));
    // Narrow: name and type share what "PK " and "not null " leave.
    let avail = width.saturating_sub(3 + 2 + 9);
    let (name_w, type_w) = if name_w + type_w > avail {
        let name_w = name_w
            .min(avail.saturating_sub(type_w).max(avail / 2))
            .max(1);
        (name_w, type_w.min(avail.saturating_sub(name_w)).max(1))
    } else {
        (name_w, type_w)
    };
    let room = (inner.height as usize).saturating_sub(lines.len());
    for c in s.info.columns.iter().skip(structure_skip(
        b.structure_scroll,
        s.info.columns.len(),
        room,
    )) {
        if lines.len() >= inner.height as usize {
            break;
        }
        let mut spans = vec![
            Span::styled(if c.primary_key { "PK " } else { "   " }, theme.key()),
            Span::styled(pad(&c.name, name_w) + " ", theme.bold()),
            Span::raw(pad(&c.data_type, type_w) + " "),
            Span::styled(
                if c.nullable { "null     " } else { "not null " },
                theme.dim(),
            ),
        ];
        let used = 3 + name_w + 1 + type_w + 1 + 9;
        let mut extra = String::new();
        if let Some(r) = &c.references {
            extra.push_str(&format!("→ {r} "));
        }
        if let Some(d) = &c.default {
            extra.push_str(&format!("= {d}"));
        }
        if !extra.is_empty() && width > used + 2 {
            spans.push(Span::styled(fit(&extra, width - used), theme.accent()));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The first column shown when scrolled by `scroll`: never past the point
/// where the last column reaches the bottom, so the pane stays full.
pub fn structure_skip(scroll: usize, columns: usize, room: usize) -> usize {
    scroll.min(columns.saturating_sub(room))
}

/// A pane with no highlighted table says why.
fn no_table(f: &mut Frame, area: Rect, title: &str, focused: bool, b: &BrowserState, theme: Theme) {
    let block = pane_block(title.into(), focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let why = if b.tables.is_empty() || b.loading.is_some() || b.error.is_some() {
        return;
    } else if !b.filter.trim().is_empty() {
        "Nothing matches the filter."
    } else {
        "No table to show."
    };
    f.render_widget(
        Paragraph::new(Span::styled(why, theme.dim())).wrap(Wrap { trim: true }),
        inner,
    );
}

/// A sampled structure (documents): per field path, how often it is present
/// and the BSON types seen, e.g. `  address.city   75%  string 90%, int 10%`.
fn sampled_fields(
    lines: &mut Vec<Line<'static>>,
    s: &crate::app::state::CachedStructure,
    (sampled, of): (u64, Option<i64>),
    scroll: usize,
    inner: Rect,
    theme: Theme,
) {
    let of = match rows_estimate(of) {
        e if e.is_empty() => String::new(),
        e => format!(" of {e}"),
    };
    lines.push(Line::from(Span::styled(
        format!("structure: sampled {sampled} documents{of}"),
        theme.dim(),
    )));
    let width = inner.width as usize;
    let name_w = s
        .info
        .columns
        .iter()
        .map(|c| display_text(&c.name).width())
        .max()
        .unwrap_or(4)
        .clamp(4, 28);
    let room = (inner.height as usize).saturating_sub(lines.len());
    let fields = s.info.columns.iter().map(|c| {
        let present = c.presence_label();
        let used = 3 + name_w + 1 + 6;
        let mut spans = vec![
            Span::styled(if c.primary_key { "PK " } else { "   " }, theme.key()),
            Span::styled(pad(&c.name, name_w) + " ", theme.bold()),
            Span::styled(format!("{present:>5} "), theme.accent()),
        ];
        if width > used {
            spans.push(Span::raw(fit(&c.data_type, width - used)));
        }
        Line::from(spans)
    });
    // Then the indexes and the validator, scrolled with the fields.
    let mut tail: Vec<Line<'static>> = Vec::new();
    if !s.info.indexes.is_empty() {
        tail.push(Line::from(Span::styled("indexes", theme.dim())));
        for i in &s.info.indexes {
            tail.push(Line::from(Span::raw(fit(&format!("   {i}"), width))));
        }
    }
    if let Some(v) = &s.info.validator {
        tail.push(Line::from(Span::styled(
            "validator ($jsonSchema)",
            theme.dim(),
        )));
        let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
        for l in text.lines() {
            tail.push(Line::from(Span::raw(fit(&format!("   {l}"), width))));
        }
    }
    // Scrolling stops with the pane full (as for declared structures).
    let skip = structure_skip(scroll, s.info.columns.len() + tail.len(), room);
    lines.extend(fields.chain(tail).skip(skip).take(room));
}

/// One-line text of a cell for the grid, as the terminal will show it: every
/// control character escaped (newlines as ↵), so widths are measured on it.
pub fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Text(t) if !t.trim().eq_ignore_ascii_case("null") => display_text(t).into_owned(),
        other => display_text(&other.display_grid()).into_owned(),
    }
}

pub fn grid(f: &mut Frame, area: Rect, state: &State, b: &BrowserState, theme: Theme) {
    let focused = b.focus == BrowserFocus::Preview;
    let Some(t) = b.highlighted() else {
        no_table(f, area, " Preview ", focused, b, theme);
        return;
    };
    // Rows of another table (the highlight moved, its load is due) are never shown.
    let Some(p) = b.preview.as_ref().filter(|p| p.table == table_key(t)) else {
        f.render_widget(pane_block(" Preview ".into(), focused, theme), area);
        return;
    };
    let mut title = " Preview ".to_string();
    if let Some(rs) = p.rows.as_ref().filter(|_| p.json) {
        title = format!(
            " Preview · row {}/{} · JSON (v: grid) ",
            (p.row + 1).min(rs.rows.len()),
            rs.rows.len()
        );
    } else if let Some(rs) = &p.rows {
        if !rs.columns.is_empty() {
            title = format!(
                " Preview · {} rows · col {}/{} ",
                rs.rows.len(),
                (p.col_offset + 1).min(rs.columns.len()),
                rs.columns.len()
            );
        }
    }
    let block = pane_block(title, focused, theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    if let Some(r) = &p.loading {
        f.render_widget(
            Paragraph::new(Span::styled(
                fit(
                    &format!(
                        "{} loading rows… {}",
                        spinner(state.spinner),
                        elapsed(r.elapsed)
                    ),
                    width,
                ),
                theme.warn(),
            )),
            inner,
        );
        return;
    }
    if let Some(e) = &p.error {
        f.render_widget(
            Paragraph::new(error_lines(e, theme)).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let Some(rs) = &p.rows else { return };
    if p.json {
        let text = rs.row_json_text(p.row).unwrap_or_default();
        f.render_widget(
            Paragraph::new(json_lines(&text, p.json_scroll, inner, theme)),
            inner,
        );
        return;
    }
    rows_grid(
        f,
        inner,
        &rs.columns,
        &rs.rows,
        p.row,
        p.col_offset,
        focused,
        theme,
    );
}

/// The JSON view's lines from logical line `scroll` on: each made safe for
/// the terminal (display.rs), then wrapped to the pane's width.
fn json_lines(text: &str, scroll: usize, area: Rect, theme: Theme) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthChar;
    let width = (area.width as usize).max(1);
    let mut out = Vec::new();
    for line in text.lines().skip(scroll) {
        if out.len() >= area.height as usize {
            break;
        }
        let safe = display_text(line);
        let mut chunk = String::new();
        let mut w = 0;
        for c in safe.chars() {
            let cw = c.width().unwrap_or(0);
            if w + cw > width {
                out.push(Line::from(Span::styled(
                    std::mem::take(&mut chunk),
                    theme.normal(),
                )));
                w = 0;
            }
            chunk.push(c);
            w += cw;
        }
        out.push(Line::from(Span::styled(chunk, theme.normal())));
    }
    out
}

/// Rows measured for column widths (and the visible window besides), so a
/// long result does not cost a full scan per frame.
const MEASURE_ROWS: usize = 1000;

/// A grid of rows (the preview's and the query pane's): the header, then the
/// window of rows around `row`, from column `col_offset`; NULL styled apart,
/// widths measured on what the terminal shows.
#[allow(clippy::too_many_arguments)]
pub fn rows_grid(
    f: &mut Frame,
    inner: Rect,
    columns: &[ColumnMeta],
    rows: &[Vec<Cell>],
    row: usize,
    col_offset: usize,
    focused: bool,
    theme: Theme,
) {
    if columns.is_empty() {
        return;
    }
    let width = inner.width as usize;
    let h = (inner.height as usize).saturating_sub(1);
    let first = if row >= h { row + 1 - h } else { 0 };
    let window = first..(first + h).min(rows.len());
    // Column widths from the header and the values, capped.
    let start = col_offset.min(columns.len() - 1);
    let natural = |ci: usize| {
        rows.iter()
            .take(MEASURE_ROWS)
            .chain(rows.get(window.clone()).unwrap_or(&[]))
            .filter_map(|r| r.get(ci))
            .map(|c| cell_text(c).width())
            .chain(std::iter::once(display_text(&columns[ci].name).width()))
            .max()
            .unwrap_or(1)
            .max(1)
    };
    // (column, width shown, width it would like)
    let mut cols: Vec<(usize, usize, usize)> = Vec::new();
    let mut used = 0;
    for ci in start..columns.len() {
        let want = natural(ci);
        let w = want.min(MAX_COL_W);
        let w = if cols.is_empty() { w.min(width) } else { w };
        if !cols.is_empty() && used + w + 1 > width {
            // A wide terminal shows part of the next column rather than
            // leaving its room empty.
            let left = width.saturating_sub(used + 1);
            if left >= 6 {
                cols.push((ci, left, want));
                used += left + 1;
            }
            break;
        }
        cols.push((ci, w, want));
        used += w + 1;
    }
    // Every column fits and room is left: widen the cut ones.
    let mut spare = width.saturating_sub(used);
    for c in cols.iter_mut() {
        if spare == 0 {
            break;
        }
        let more = c.2.saturating_sub(c.1).min(spare);
        c.1 += more;
        spare -= more;
    }
    let cols: Vec<(usize, usize)> = cols.into_iter().map(|(ci, w, _)| (ci, w)).collect();
    let mut lines = vec![Line::from(
        cols.iter()
            .map(|&(ci, w)| Span::styled(pad(&columns[ci].name, w) + " ", theme.bold()))
            .collect::<Vec<_>>(),
    )];
    for (ri, r) in rows.iter().enumerate().skip(first).take(h) {
        let spans: Vec<Span> = cols
            .iter()
            .map(|&(ci, w)| {
                let cell = r.get(ci).unwrap_or(&Cell::Null);
                let mut style = if cell.is_null() {
                    theme.null()
                } else {
                    theme.normal()
                };
                if focused && ri == row && ci == start {
                    style = theme.selected();
                }
                Span::styled(pad(&cell_text(cell), w) + " ", style)
            })
            .collect();
        lines.push(Line::from(spans));
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled("(no rows)", theme.dim())));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
