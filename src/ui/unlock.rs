//! The passphrase prompt (masked); first run creates the vault.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use super::{centered, fit};
use crate::app::state::State;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(p) = &state.unlock else { return };
    let h = if p.create {
        10
    } else if p.connection.is_some() {
        9
    } else {
        8
    };
    let r = centered(area, 60, h);
    f.render_widget(Clear, r);
    let title = match (&p.connection, p.create) {
        (Some(name), _) => format!(" Password for '{}' ", fit(name, 30)),
        (None, true) => " Create the vault ".to_string(),
        (None, false) => " Unlock the vault ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let w = inner.width as usize;
    let intro = if p.connection.is_some() {
        "This connection asks for its password every time (never stored):"
    } else if p.create {
        "No vault yet. Choose a passphrase to protect saved passwords:"
    } else {
        "Profile passphrase (asked once per run):"
    };
    let mut y = inner.y;
    let line = |f: &mut Frame, y: u16, l: Line| {
        if y < inner.y + inner.height {
            f.render_widget(Paragraph::new(l), Rect::new(inner.x, y, inner.width, 1));
        }
    };
    let intro_h = if inner.width < 40 || p.create || p.connection.is_some() {
        2
    } else {
        1
    };
    f.render_widget(
        Paragraph::new(intro).wrap(Wrap { trim: true }),
        Rect::new(inner.x, y, inner.width, intro_h.min(inner.height)),
    );
    y += intro_h + 1;
    // The focus marker, the label, and a gap before the bullets.
    let label_w = 13u16.min(inner.width);
    let input = |f: &mut Frame, y: u16, label: &str, ta: &tui_textarea::TextArea, focused: bool| {
        if y >= inner.y + inner.height {
            return;
        }
        f.render_widget(
            Paragraph::new(Span::styled(
                format!("{}{label}", if focused { "›" } else { " " }),
                if focused { theme.key() } else { theme.normal() },
            )),
            Rect::new(inner.x, y, label_w, 1),
        );
        f.render_widget(
            ta,
            Rect::new(inner.x + label_w, y, inner.width.saturating_sub(label_w), 1),
        );
    };
    let label = if p.connection.is_some() {
        "Password"
    } else {
        "Passphrase"
    };
    input(f, y, label, &p.input, !p.focus_confirm);
    y += 1;
    if p.create {
        input(f, y, "Again", &p.confirm, p.focus_confirm);
        y += 1;
    }
    y += 1;
    if p.busy {
        line(f, y, Line::from(Span::styled("Working…", theme.warn())));
    } else if let Some(e) = &p.error {
        line(
            f,
            y,
            Line::from(Span::styled(fit(&format!("✗ {e}"), w), theme.error())),
        );
    } else {
        // The status bar's hints, so the dialog and the bar say the same.
        let hints = crate::app::keys::hints(state);
        line(f, y, Line::from(super::hint_spans(&hints, w, theme)));
    }
}
