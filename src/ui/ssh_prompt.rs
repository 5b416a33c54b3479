//! ssh's question: its own text (the host key's fingerprint, the key file
//! or account asked for) through `display.rs`, and the answer — masked for
//! a passphrase or password, in the clear for yes/no.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use super::{centered, fit};
use crate::app::state::State;
use crate::display::display_lines;
use crate::ssh::askpass::Question;

/// Rows a text takes wrapped at `width` (an estimate: word wrapping may need more).
fn rows(lines: &[&str], width: usize) -> usize {
    lines
        .iter()
        .map(|l| l.width().div_ceil(width.max(1)).max(1))
        .sum()
}

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(p) = state.ssh_prompts.front() else {
        return;
    };
    let text = display_lines(p.question.text().trim_end()).into_owned();
    let lower = text.to_ascii_lowercase();
    let (title, label) = match &p.question {
        Question::Confirm(_) if lower.contains("authenticity of host") => {
            (" SSH: unknown host key ", "Answer")
        }
        Question::Confirm(_) => (" SSH asks ", "Answer"),
        Question::Secret(_) if lower.contains("passphrase") => (" SSH: key passphrase ", "Passphrase"),
        Question::Secret(_) if lower.contains("password") => (" SSH: password ", "Password"),
        Question::Secret(_) => (" SSH asks ", "Answer"),
    };
    let w = area.width.saturating_sub(2).min(76);
    let inner_w = w.saturating_sub(2) as usize;
    // Room for the frame, a gap, the answer and the hints.
    let room = area.height.saturating_sub(2 + 2 + 3) as usize;
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if rows(&lines, inner_w) > room {
        // Small terminal: keep the fingerprint, drop what the answer line says anyway.
        lines.retain(|l| {
            !l.starts_with("Are you sure") && !l.starts_with("This key is not known")
        });
    }
    let body_h = rows(&lines, inner_w).max(1);
    let queued = state.ssh_prompts.len() - 1;
    let h = (body_h + 3 + 2) as u16;
    let r = centered(area, w, h.min(area.height.saturating_sub(2)));
    f.render_widget(Clear, r);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(Span::styled(title, theme.bold()));
    if queued > 0 {
        block = block.title_bottom(Line::from(format!(" {queued} more ")).right_aligned());
    }
    let inner = block.inner(r);
    f.render_widget(block, r);
    let bottom = inner.y + inner.height;
    // ssh's words, as it wrote them (escaped), above the answer.
    let body_rows = inner.height.saturating_sub(3);
    f.render_widget(
        Paragraph::new(lines.join("\n")).wrap(Wrap { trim: false }),
        Rect::new(inner.x, inner.y, inner.width, body_rows),
    );
    let y = inner.y + body_rows + 1;
    if y < bottom {
        let label = format!("›{label} ");
        let lw = (label.width() as u16).min(inner.width);
        f.render_widget(
            Paragraph::new(Span::styled(label, theme.key())),
            Rect::new(inner.x, y, lw, 1),
        );
        f.render_widget(
            &p.input,
            Rect::new(inner.x + lw, y, inner.width.saturating_sub(lw), 1),
        );
    }
    let y = y + 1;
    if y < bottom {
        let line = match &p.error {
            Some(e) => Line::from(Span::styled(
                fit(&format!("✗ {e}"), inner.width as usize),
                theme.error(),
            )),
            None => Line::from(super::hint_spans(
                &crate::app::keys::hints(state),
                inner.width as usize,
                theme,
            )),
        };
        f.render_widget(Paragraph::new(line), Rect::new(inner.x, y, inner.width, 1));
    }
}
