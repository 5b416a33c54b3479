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
    let visible = crate::app::keys::help_visible(area.height, keys.len());
    let r = centered(area, 56, visible as u16 + 2);
    f.render_widget(Clear, r);
    // Taller than the terminal: scrolled, and the border says there is more.
    let max = keys.len().saturating_sub(visible);
    let top = state.help_scroll.min(max);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(" Help ")
        .title_bottom(Line::from(" Esc closes ").right_aligned());
    if top > 0 {
        block = block.title(Line::from(Span::styled(" ↑ more ", theme.key())).right_aligned());
    }
    if top < max {
        block = block.title_bottom(Line::from(Span::styled(
            format!(" ↓ {} more: j ", keys.len() - top - visible),
            theme.key(),
        )));
    }
    // The widest key label and a space, within half the box.
    let widest = keys
        .iter()
        .map(|(k, _)| unicode_width::UnicodeWidthStr::width(*k))
        .max()
        .unwrap_or(0);
    let key_w = (widest + 1).min(r.width as usize / 2);
    let lines: Vec<Line> = keys
        .iter()
        .skip(top)
        .take(visible)
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(pad(k, key_w), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), r);
}
