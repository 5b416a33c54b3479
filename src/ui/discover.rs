//! The found-connections dialog: one checkbox row per connection found, its
//! origin under the highlighted one, problems and warnings at the bottom.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use super::{centered, fit};
use crate::app::state::State;
use crate::display::display_text;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(d) = &state.discover else {
        return;
    };
    let r = centered(
        area,
        area.width.saturating_sub(4).min(100),
        area.height.saturating_sub(2).min(20),
    );
    f.render_widget(Clear, r);
    let title = if d.loading {
        " Looking for connections… ".to_string()
    } else if d.importing {
        " Importing… ".to_string()
    } else {
        format!(" Found {} connection(s) ", d.rows.len())
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    if !d.loading && d.rows.is_empty() {
        lines.push(Line::from(Span::styled(
            fit(
                "Nothing found in ~/.pgpass, pg_service.conf, ~/.my.cnf, ~/.mylogin.cnf, DBeaver or the environment.",
                w,
            ),
            theme.dim(),
        )));
    }
    // Room for the rows: the notes take at most 3 lines, the origin 1.
    let notes = d.notes.len().min(3);
    let room = (inner.height as usize).saturating_sub(notes + 1).max(1);
    let first = d.selected.saturating_sub(room.saturating_sub(1));
    for (i, row) in d.rows.iter().enumerate().skip(first).take(room) {
        let mark = match (&row.already, row.checked) {
            (Some(_), _) => "[=]",
            (None, true) => "[x]",
            (None, false) => "[ ]",
        };
        let mut text = format!(
            "{mark} {}  {}  {}{}",
            display_text(&row.name),
            row.engine,
            display_text(&row.summary),
            if row.password { "  (password)" } else { "" }
        );
        if let Some(a) = &row.already {
            text.push_str(&format!("  already saved as {}", display_text(a)));
        }
        let style = if i == d.selected {
            theme.selected()
        } else if row.already.is_some() {
            theme.dim()
        } else {
            theme.normal()
        };
        lines.push(Line::from(Span::styled(fit(&text, w), style)));
    }
    if let Some(row) = d.rows.get(d.selected) {
        lines.push(Line::from(Span::styled(
            fit(&format!("from {}", display_text(&row.origin)), w),
            theme.dim(),
        )));
    }
    for n in d.notes.iter().take(3) {
        lines.push(Line::from(Span::styled(
            fit(&display_text(n), w),
            theme.error(),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
