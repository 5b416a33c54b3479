//! ssh's question: its own text (the host key's fingerprint, the key file
//! or account asked for) through `display.rs`, and the answer — masked for
//! a passphrase or password, in the clear for yes/no.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use super::{centered, fit};
use crate::app::state::State;
use crate::display::display_lines;
use crate::ssh::askpass::Question;

/// `line` wrapped at `width` columns: at spaces, and a word longer than a
/// row (a fingerprint on a narrow terminal) cut across rows, so every
/// character is shown and the rows are counted exactly.
fn wrap(line: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthChar;
    let width = width.max(1);
    let mut rows: Vec<String> = vec![];
    let mut cur = String::new();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        let ww = word.width();
        let sep = usize::from(!cur.is_empty());
        if cur.width() + sep + ww <= width {
            if sep == 1 {
                cur.push(' ');
            }
            cur.push_str(word);
            continue;
        }
        if !cur.is_empty() {
            rows.push(std::mem::take(&mut cur));
        }
        for c in word.chars() {
            if cur.width() + c.width().unwrap_or(0) > width {
                rows.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
    }
    if !cur.is_empty() || rows.is_empty() {
        rows.push(cur);
    }
    rows
}

/// ssh's lines wrapped at `width`.
fn wrapped(lines: &[&str], width: usize) -> Vec<String> {
    lines.iter().flat_map(|l| wrap(l, width)).collect()
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
        Question::Secret(_) if lower.contains("passphrase") => {
            (" SSH: key passphrase ", "Passphrase")
        }
        Question::Secret(_) if lower.contains("password") => (" SSH: password ", "Password"),
        Question::Secret(_) => (" SSH asks ", "Answer"),
    };
    let w = area.width.saturating_sub(2).min(76);
    let inner_w = w.saturating_sub(2) as usize;
    // Room for the frame, a gap, the answer and the hints.
    let room = area.height.saturating_sub(2 + 2 + 3) as usize;
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if wrapped(&lines, inner_w).len() > room {
        // Small terminal: keep the fingerprint, drop what the answer line says anyway.
        lines.retain(|l| !l.starts_with("Are you sure") && !l.starts_with("This key is not known"));
    }
    let body = wrapped(&lines, inner_w);
    let body_h = body.len().max(1);
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
        Paragraph::new(body.join("\n")),
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

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_keeps_every_character_of_a_long_word() {
        assert_eq!(
            wrap("key is SHA256:abcdefgh.", 8),
            ["key is", "SHA256:a", "bcdefgh."]
        );
        assert_eq!(wrap("", 8), [""]);
        assert_eq!(wrap("a  b", 8), ["a b"]);
    }
}
