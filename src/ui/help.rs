//! The help overlay: every key of the current layer, from the key tables.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use super::{centered, pad};
use crate::app::state::State;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let keys = crate::app::keys::help(state);
    // Above the status bar, which keeps showing the screen's hints.
    let r = centered(
        area,
        56,
        (keys.len() as u16 + 2).min(area.height.saturating_sub(3)),
    );
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(" Help ")
        .title_bottom(Line::from(" Esc closes ").right_aligned());
    // The widest key label and a space, within half the box.
    let widest = keys
        .iter()
        .map(|(k, _)| unicode_width::UnicodeWidthStr::width(*k))
        .max()
        .unwrap_or(0);
    let key_w = (widest + 1).min(r.width as usize / 2);
    let lines: Vec<Line> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(pad(k, key_w), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), r);
}
