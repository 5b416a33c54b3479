//! The help overlay: every key of the current pane.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use super::{centered, pad};
use crate::app::state::{Screen, State};

fn keys(screen: Screen) -> &'static [(&'static str, &'static str)] {
    match screen {
        Screen::List => &[
            ("j/k ↑↓", "move"),
            ("g/G", "first / last"),
            ("/", "filter by name"),
            ("Enter", "open (browse tables)"),
            ("n", "new connection"),
            ("e", "edit"),
            ("d", "delete (asks first)"),
            ("t", "test"),
            ("Esc", "cancel the test / clear filter"),
            ("v", "last test details"),
            ("r", "reload the list"),
            ("q", "quit"),
        ],
        Screen::Picker => &[
            ("j/k ↑↓", "move"),
            ("letter", "jump to a type"),
            ("Enter", "choose"),
            ("Esc", "back"),
        ],
        Screen::Form => &[
            ("Tab ↓", "next field"),
            ("S-Tab ↑", "previous field"),
            ("←→ space", "change a selector"),
            ("Ctrl-T", "test in the background"),
            ("Ctrl-S", "save"),
            ("Ctrl-X", "clear the stored password"),
            ("Ctrl-E", "error details"),
            ("Esc", "cancel test / back"),
        ],
        Screen::Browser => &[
            ("j/k g/G", "move"),
            ("/", "fuzzy filter"),
            ("space", "select for import"),
            ("i", "import selected tables"),
            ("s", "show system schemas"),
            ("c", "exact row count"),
            ("r", "reconnect and refresh"),
            ("Tab", "tables / structure / preview"),
            ("h/l", "scroll preview columns"),
            ("Enter", "full cell value"),
            ("Esc", "cancel / back"),
        ],
    }
}

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let keys = keys(state.screen);
    let r = centered(area, 56, keys.len() as u16 + 4);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(" Help ")
        .title_bottom(Line::from(" Esc closes · q quits ").right_aligned());
    let key_w = if r.width >= 40 { 12 } else { 9 };
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(pad(k, key_w), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        "Ctrl-C quits from anywhere",
        theme.dim(),
    )));
    f.render_widget(Paragraph::new(lines).block(block), r);
}
