//! The query pane: the SQL editor above, the result grid below (the
//! preview's grid), with rows so far, elapsed time and "more rows…".

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::browser::{error_lines, pane_block};
use super::theme::{elapsed, spinner, Theme};
use super::{fit, preview};
use crate::app::state::{QueryFocus, QueryState, State};
use crate::commands::browse::group_digits;
use crate::connectors::query::LoginWrites;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(q) = &state.query else { return };
    let lines = q.editor.lines().len() as u16;
    let editor_h = (lines + 2).clamp(3, (area.height / 3).max(3));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(editor_h), Constraint::Min(3)]).areas(area);
    draw_panes(f, top, bottom, state, q, theme);
    // Over the results: the completion choices, or the export's formats.
    super::query_complete::draw(f, area, top, q, theme);
    if q.export_prompt {
        draw_export(f, bottom, theme);
    }
}

/// `x`: which format (the whole result is fetched again).
fn draw_export(f: &mut Frame, area: Rect, theme: Theme) {
    let lines = vec![
        Line::from(Span::styled(
            "The statement runs again (read-only) and every row is written",
            theme.normal(),
        )),
        Line::from(Span::styled("to the datasets directory.", theme.normal())),
        Line::from(vec![
            Span::styled("c", theme.key()),
            Span::raw(" CSV   "),
            Span::styled("j", theme.key()),
            Span::raw(" JSON Lines   "),
            Span::styled("s", theme.key()),
            Span::raw(" SQLite   "),
            Span::styled("p", theme.key()),
            Span::raw(" Parquet   "),
            Span::styled("Esc", theme.key()),
            Span::raw(" back"),
        ]),
    ];
    let w = area.width.min(66);
    let h = area.height.min(6);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(ratatui::widgets::Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(pane_block(" Export the whole result ".into(), true, theme)),
        r,
    );
}

fn draw_panes(f: &mut Frame, top: Rect, bottom: Rect, state: &State, q: &QueryState, theme: Theme) {
    // The badge first (its full words when they fit beside a short name),
    // then the connection's name in what is left.
    let avail = (top.width as usize).saturating_sub(3);
    let style = match &q.login {
        Some(LoginWrites::CanWrite { .. }) => theme.warn(),
        Some(LoginWrites::ReadOnly) => theme.ok(),
        _ => theme.dim(),
    };
    let full = q.login.as_ref().and_then(LoginWrites::badge);
    let badge = match full {
        Some(b) if b.chars().count() + 2 + 20 <= avail => b,
        _ => q
            .login
            .as_ref()
            .and_then(LoginWrites::short_badge)
            .unwrap_or("read-only"),
    };
    let badge = format!(" {} ", fit(badge, avail.saturating_sub(2)));
    let name_room = avail.saturating_sub(badge.chars().count() + 8);
    let language = state
        .browser
        .as_ref()
        .and_then(|b| b.kind.engine().query_language())
        .map_or("SQL", |l| l.name());
    let title = format!(" {language} · {} ", fit(&q.conn, name_room.min(24)));
    let block = pane_block(title, q.focus == QueryFocus::Editor, theme)
        .title_top(Line::from(Span::styled(badge, style)).right_aligned());
    let inner = block.inner(top);
    f.render_widget(block, top);
    f.render_widget(&q.editor, inner);

    let focused = q.focus == QueryFocus::Results;
    let mut title = " Results ".to_string();
    if let Some(rs) = &q.result {
        let n = group_digits(rs.rows.len() as u64);
        let first = elapsed(rs.elapsed);
        title = if q.done {
            format!(" {n} rows · first page {first} ")
        } else {
            format!(" {n} rows so far · first page {first} · more rows… ")
        };
        if !rs.columns.is_empty() && rs.columns.len() > 1 {
            title.push_str(&format!(
                "· col {}/{} ",
                (q.col_offset + 1).min(rs.columns.len()),
                rs.columns.len()
            ));
        }
    }
    let block = pane_block(title, focused, theme);
    let inner = block.inner(bottom);
    f.render_widget(block, bottom);
    let width = inner.width as usize;
    let [note, grid] = Layout::vertical([
        Constraint::Length(u16::from(q.running.is_some() || q.error.is_some())),
        Constraint::Min(0),
    ])
    .areas(inner);
    if let Some(r) = &q.running {
        let what = if q.result.is_some() {
            "fetching the next page…"
        } else {
            "running…"
        };
        f.render_widget(
            Paragraph::new(Span::styled(
                fit(
                    &format!(
                        "{} {what} {} (Esc cancels)",
                        spinner(state.spinner),
                        elapsed(r.elapsed)
                    ),
                    width,
                ),
                theme.warn(),
            )),
            note,
        );
    }
    if let Some(e) = &q.error {
        f.render_widget(
            Paragraph::new(error_lines(e, theme)).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let Some(rs) = &q.result else {
        if q.running.is_none() {
            f.render_widget(
                Paragraph::new(vec![Line::from(Span::styled(
                    "F5 (or Ctrl-Enter) runs one statement; nothing typed here can write.",
                    theme.dim(),
                ))])
                .wrap(Wrap { trim: true }),
                grid,
            );
        }
        return;
    };
    if rs.columns.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "the statement ran and returned no rows",
                theme.dim(),
            )),
            grid,
        );
        return;
    }
    preview::rows_grid(
        f,
        grid,
        &rs.columns,
        &rs.rows,
        q.row,
        q.col_offset,
        focused,
        theme,
    );
}
