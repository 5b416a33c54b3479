//! The query pane: the SQL editor above, the result grid below (the
//! preview's grid), with rows so far, elapsed time and "more rows…".

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::browser::{error_lines, pane_block};
use super::theme::{elapsed, spinner, Theme};
use super::{fit, preview};
use crate::app::state::{QueryFocus, State};
use crate::commands::browse::group_digits;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(q) = &state.query else { return };
    let lines = q.editor.lines().len() as u16;
    let editor_h = (lines + 2).clamp(3, (area.height / 3).max(3));
    let [top, bottom] =
        Layout::vertical([Constraint::Length(editor_h), Constraint::Min(3)]).areas(area);

    let language = state
        .browser
        .as_ref()
        .and_then(|b| b.kind.engine().query_language())
        .map_or("SQL", |l| l.name());
    let title = format!(" {language} · {} · read-only ", fit(&q.conn, 24));
    let block = pane_block(title, q.focus == QueryFocus::Editor, theme);
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
