//! The table browser: tables grouped by schema, filter, selection; the
//! structure and preview panes beside it (or alone when narrow).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::theme::{elapsed, spinner, Theme};
use super::{fit, pad};
use crate::app::state::{table_key, BrowserFocus, BrowserState, State};
use crate::connectors::ConnError;
use crate::display::display_text;

/// Below this width only the focused pane is shown.
const SPLIT_MIN_WIDTH: u16 = 70;
/// The table list never takes more columns than this.
const LIST_MAX_WIDTH: u16 = 52;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(b) = &state.browser else { return };
    if area.width < SPLIT_MIN_WIDTH {
        match b.focus {
            BrowserFocus::Tables => tables(f, area, state, b, theme),
            BrowserFocus::Structure => super::preview::structure(f, area, state, b, theme),
            BrowserFocus::Preview => super::preview::grid(f, area, state, b, theme),
        }
        return;
    }
    // The table list needs a name's width, not a third of a wide terminal:
    // the rest goes to the structure and the preview.
    let left_w = ((u32::from(area.width) * 38 + 50) / 100).min(u32::from(LIST_MAX_WIDTH)) as u16;
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Min(0)]).areas(area);
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(right);
    tables(f, left, state, b, theme);
    super::preview::structure(f, top, state, b, theme);
    super::preview::grid(f, bottom, state, b, theme);
}

pub fn pane_block(title: String, focused: bool, theme: Theme) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.focused_border()
        } else {
            theme.dim()
        })
        .title(title)
}

pub fn error_lines(e: &ConnError, theme: Theme) -> Vec<Line<'static>> {
    let mut v = vec![Line::from(Span::styled(
        format!("✗ {}", display_text(&e.headline())),
        theme.error(),
    ))];
    if !e.hint().is_empty() {
        v.push(Line::from(e.hint().to_string()));
    }
    if !e.detail.is_empty() {
        v.push(Line::from(Span::styled(
            display_text(&e.detail).into_owned(),
            theme.dim(),
        )));
    }
    v.push(Line::from(vec![
        Span::styled("r", theme.key()),
        Span::raw(" reconnects, "),
        Span::styled("Esc", theme.key()),
        Span::raw(" goes back"),
    ]));
    v
}

pub fn rows_estimate(n: Option<i64>) -> String {
    match n {
        None => String::new(),
        Some(n) if n < 0 => String::new(),
        Some(n) if n < 10_000 => format!("~{n}"),
        Some(n) if n < 10_000_000 => format!("~{}k", n / 1000),
        Some(n) => format!("~{}M", n / 1_000_000),
    }
}

fn tables(f: &mut Frame, area: Rect, state: &State, b: &BrowserState, theme: Theme) {
    let mut title = format!(" {} ", display_text(&b.conn));
    if !b.tables.is_empty() {
        title.push_str(&format!("· {} tables ", b.visible.len()));
    }
    let mut block = pane_block(title, b.focus == BrowserFocus::Tables, theme);
    if !b.chosen.is_empty() {
        block = block.title_bottom(
            Line::from(Span::styled(
                format!(" {} selected ", b.chosen.len()),
                theme.ok(),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    if b.filter_active || !b.filter.is_empty() {
        lines.push(super::filter_line(
            &b.filter,
            b.filter_active,
            b.filter_selected,
            width,
            theme,
        ));
    }
    if let Some(r) = &b.loading {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "{} Connecting… {} (Esc cancels)",
                    spinner(state.spinner),
                    elapsed(r.elapsed)
                ),
                width,
            ),
            theme.warn(),
        )));
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    if let Some(e) = &b.error {
        lines.extend(error_lines(e, theme));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    if b.visible.is_empty() {
        let hidden = b.tables.iter().filter(|t| t.system).count();
        lines.push(Line::from(Span::styled(
            if b.tables.is_empty() {
                "No tables.".to_string()
            } else if !b.filter.is_empty() {
                "Nothing matches the filter.".to_string()
            } else {
                format!("Only system tables ({hidden}): press s to show them.")
            },
            theme.dim(),
        )));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    let h = (inner.height as usize).saturating_sub(lines.len()).max(1);
    // Walk back from the highlight so it sits mid-window; headers take lines too.
    let schema_of = |pos: usize| &b.tables[b.visible[pos]].schema;
    let mut start = b.selected;
    let mut used = 1;
    while start > 0 && used < h / 2 {
        used += 1 + usize::from(schema_of(start - 1) != schema_of(start));
        start -= 1;
    }
    let kind_w = 6;
    let rows_w = 7;
    let name_w = width.saturating_sub(3 + kind_w + rows_w).max(4);
    let mut prev: Option<&Option<String>> = None;
    let mut pos = start;
    while pos < b.visible.len() && lines.len() < inner.height as usize {
        let t = &b.tables[b.visible[pos]];
        if prev != Some(&t.schema) {
            let label = t.schema.as_deref().unwrap_or("main");
            lines.push(Line::from(Span::styled(
                fit(
                    &format!("▾ {label}{}", if t.system { " (system)" } else { "" }),
                    width,
                ),
                theme.accent(),
            )));
            prev = Some(&t.schema);
            if lines.len() >= inner.height as usize {
                break;
            }
        }
        let chosen = b.chosen.contains(&table_key(t));
        let mut line = Line::from(vec![
            Span::styled(if chosen { " ● " } else { "   " }, theme.ok()),
            Span::raw(pad(&t.name, name_w - 1) + " "),
            Span::styled(pad(short_kind(t.kind), kind_w), theme.dim()),
            Span::styled(pad(&rows_estimate(t.estimated_rows), rows_w), theme.dim()),
        ]);
        if pos == b.selected {
            line = line.style(theme.selected());
        }
        lines.push(line);
        pos += 1;
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn short_kind(k: crate::connectors::TableKind) -> &'static str {
    use crate::connectors::TableKind;
    match k {
        TableKind::Table => "table",
        TableKind::View => "view",
        TableKind::MaterializedView => "mview",
        TableKind::ForeignTable => "fgn",
        TableKind::Collection => "coll",
    }
}
