//! The type picker: every engine, with its default port; unavailable ones dimmed with the reason.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use super::{fit, pad};
use crate::app::state::State;
use crate::connectors::Kind;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let width = area.width as usize;
    let mut lines = vec![
        Line::from(Span::styled(
            "New connection: choose the database type",
            theme.bold(),
        )),
        Line::from(""),
    ];
    for (i, kind) in Kind::ALL.iter().enumerate() {
        let selected = i == state.picker;
        let port = kind
            .default_port()
            .map(|p| format!("port {p}"))
            .unwrap_or_else(|| "file".into());
        let mut spans = vec![
            Span::raw(if selected { "▶ " } else { "  " }),
            Span::styled(
                pad(kind.display_name(), 15),
                match kind.availability() {
                    Ok(()) => theme.bold(),
                    Err(_) => theme.dim(),
                },
            ),
            Span::styled(pad(&port, 11), theme.dim()),
        ];
        if let Err(why) = kind.availability() {
            let room = width.saturating_sub(28);
            if room > 6 {
                spans.push(Span::styled(fit(why, room), theme.dim()));
            }
        }
        let mut line = Line::from(spans);
        if selected {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    lines.push(Line::from(""));
    let chosen = Kind::ALL[state.picker.min(Kind::ALL.len() - 1)];
    if let Err(why) = chosen.availability() {
        lines.push(Line::from(Span::styled(
            format!("{why}. You can still save its connection; testing needs a later release."),
            theme.warn(),
        )));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
