//! The query editor's completion popup: the choices for the word before the
//! cursor, under the editor at the word's column, what each names beside it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use super::{fit, pad};
use crate::app::state::QueryState;

/// Choices shown at once (the list scrolls to keep the selected one).
const VISIBLE: usize = 8;

/// Draws the popup of `q` below `editor` (the editor's block), within `area`.
pub fn draw(f: &mut Frame, area: Rect, editor: Rect, q: &QueryState, theme: Theme) {
    let Some(c) = &q.completion else { return };
    let label_w = c
        .items
        .iter()
        .map(|i| i.what.label().len())
        .max()
        .unwrap_or(0);
    let name_w = c
        .items
        .iter()
        .map(|i| fit(&i.shown, 40).width())
        .max()
        .unwrap_or(0);
    let width = ((name_w + 2 + label_w + 2) as u16).min(area.width);
    let rows = c.items.len().min(VISIBLE);
    let height = (rows as u16 + 2).min(area.bottom().saturating_sub(editor.bottom()));
    if height < 3 || width < 8 {
        return;
    }
    // Under the editor, at the word's column (as far right as it fits).
    let line = q.editor.lines().get(c.row).map_or("", String::as_str);
    let before: String = line.chars().take(c.start).collect();
    let x = (editor.x + 1 + fit(&before, usize::MAX).width() as u16)
        .min(area.right().saturating_sub(width))
        .max(area.x);
    let popup = Rect::new(x, editor.bottom(), width, height);
    let inner_w = width.saturating_sub(2) as usize;
    let shown = (height - 2) as usize;
    let top = c.selected.saturating_sub(shown - 1);
    let lines: Vec<Line> = c
        .items
        .iter()
        .enumerate()
        .skip(top)
        .take(shown)
        .map(|(i, item)| {
            let label = item.what.label();
            let name = pad(&item.shown, inner_w.saturating_sub(label.len() + 2));
            let style = if i == c.selected {
                theme.selected()
            } else {
                theme.normal()
            };
            Line::from(vec![
                Span::styled(name, style),
                Span::styled(format!("  {label}"), theme.dim()),
            ])
        })
        .collect();
    let title = format!(" {}/{} ", c.selected + 1, c.items.len());
    f.render_widget(Clear, popup);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.focused_border())
                .title(title),
        ),
        popup,
    );
}
