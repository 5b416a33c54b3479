//! The import dialog and its progress: one gauge per table, overall progress, Esc cancels.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use tui_textarea::TextArea;

use super::theme::{elapsed, spinner, Theme};
use super::{centered, fit, pad};
use crate::app::state::{ImportRowStatus, State};
use crate::display::display_text;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    if let Some(d) = &state.import_dialog {
        let r = centered(area, 70, 12);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focused_border())
            .title(format!(" Import {} table(s) ", d.tables.len()));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let w = inner.width;
        let row = |i: u16| Rect::new(inner.x, inner.y + i, w, 1).intersection(inner);
        // The chosen tables; `*` marks a filtered one, the current one is highlighted.
        let mut names = Vec::new();
        let mut used = 0usize;
        for (i, t) in d.tables.iter().enumerate() {
            let mut name = t.display_name();
            if d.filter(i).is_some() {
                name.push('*');
            }
            let sep = if i == 0 { "" } else { ", " };
            let room = (w as usize).saturating_sub(used + sep.chars().count());
            if room == 0 {
                break;
            }
            let name = fit(&name, room);
            used += sep.chars().count() + name.chars().count();
            names.push(Span::styled(sep, theme.dim()));
            names.push(Span::styled(
                name,
                if i == d.current {
                    theme.selected()
                } else {
                    theme.dim()
                },
            ));
        }
        f.render_widget(Paragraph::new(Line::from(names)), row(0));
        if (0..d.tables.len()).any(|i| d.filter(i).is_some()) {
            f.render_widget(
                Paragraph::new(Span::styled(
                    fit("* has a Where filter", w as usize),
                    theme.dim(),
                )),
                row(1),
            );
        }
        let label = |focused: bool, text: &str| {
            Span::styled(
                pad(text, 13),
                if focused { theme.key() } else { theme.normal() },
            )
        };
        let mut formats = vec![label(d.focus == 0, "Format")];
        let all = crate::dataset::Format::ALL;
        let every: usize = all.iter().map(|fm| fm.id().len() + 3).sum();
        if 13 + every > w as usize {
            // Too narrow for every choice: the chosen one, like the table row.
            let n = all.iter().position(|fm| *fm == d.format).unwrap_or(0) + 1;
            formats.push(Span::styled(
                format!("‹ {} ›", d.format.id()),
                theme.selected(),
            ));
            formats.push(Span::styled(format!(" {n}/{}", all.len()), theme.dim()));
        } else {
            for fm in all {
                let style = if fm == d.format {
                    theme.selected()
                } else {
                    theme.dim()
                };
                formats.push(Span::styled(format!(" {} ", fm.id()), style));
                formats.push(Span::raw(" "));
            }
        }
        f.render_widget(Paragraph::new(Line::from(formats)), row(2));
        let input = |f: &mut Frame, i: u16, text: &str, focus: usize, area: &TextArea| {
            f.render_widget(Paragraph::new(label(d.focus == focus, text)), row(i));
            let r = row(i);
            f.render_widget(
                area,
                Rect::new(r.x + 13, r.y, r.width.saturating_sub(13), r.height).intersection(r),
            );
        };
        input(f, 3, "Destination", 1, &d.destination);
        input(f, 4, "Row limit", 2, &d.limit);
        let current = d
            .tables
            .get(d.current)
            .map(|t| t.display_name())
            .unwrap_or_default();
        let which = if d.tables.len() > 1 {
            format!("‹ {current} › {}/{}", d.current + 1, d.tables.len())
        } else {
            current
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                label(d.focus == 3, "Table"),
                Span::styled(fit(&which, (w as usize).saturating_sub(13)), theme.normal()),
            ])),
            row(5),
        );
        if let Some(filter) = d.filters.get(d.current) {
            input(f, 6, "Where", 4, filter);
        }
        if let Some(e) = &d.error {
            f.render_widget(
                Paragraph::new(Span::styled(fit(e, w as usize), theme.error())),
                row(8),
            );
        }
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("Enter", theme.key()),
                Span::raw(" start  "),
                Span::styled("Tab", theme.key()),
                Span::raw(" next  "),
                Span::styled("Esc", theme.key()),
                Span::raw(" cancel"),
            ])),
            row(9),
        );
        return;
    }
    let Some(imp) = &state.import else { return };
    let h = (imp.rows.len() as u16 + 7).min(area.height);
    let r = centered(area, 76, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(format!(
            " Import from {} ({}) ",
            display_text(&imp.conn),
            imp.format.id()
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let w = inner.width as usize;
    let name_w = (w / 3).clamp(6, 28);
    let bar_w = w.saturating_sub(name_w + 30).clamp(0, 30);
    let mut lines = Vec::new();
    let (mut done_rows, mut est_total, mut all_known) = (0u64, 0u64, true);
    for row in &imp.rows {
        done_rows += row.rows;
        match row.estimated {
            Some(e) => est_total += e.max(row.rows),
            None => all_known = false,
        }
        let frac = row
            .estimated
            .filter(|e| *e > 0)
            .map(|e| (row.rows as f64 / e as f64).min(1.0));
        let frac = match row.status {
            ImportRowStatus::Done => Some(1.0),
            _ => frac,
        };
        let filled = frac
            .map(|x| (x * bar_w as f64).round() as usize)
            .unwrap_or(0);
        let bar = format!(
            "{}{}",
            "█".repeat(filled),
            "░".repeat(bar_w - filled.min(bar_w))
        );
        let (status, style) = match &row.status {
            ImportRowStatus::Waiting => ("waiting".to_string(), theme.dim()),
            ImportRowStatus::Running => {
                let mut s = format!("{} rows {:.0}/s", row.rows, row.rows_per_sec);
                if let Some(eta) = row.eta {
                    s.push_str(&format!(" eta {}", elapsed(eta)));
                }
                (s, theme.warn())
            }
            ImportRowStatus::Done => (format!("✓ {} rows", row.rows), theme.ok()),
            ImportRowStatus::Failed(e) => (format!("✗ {e}"), theme.error()),
            ImportRowStatus::Cancelled => ("cancelled".to_string(), theme.dim()),
        };
        lines.push(Line::from(vec![
            Span::raw(pad(&row.table, name_w) + " "),
            Span::styled(bar + " ", theme.accent()),
            Span::styled(fit(&status, w.saturating_sub(name_w + bar_w + 2)), style),
        ]));
    }
    lines.push(Line::from(""));
    let overall = if all_known && est_total > 0 {
        format!(
            "Overall {done_rows} / {est_total} rows ({:.0}%)",
            done_rows as f64 * 100.0 / est_total as f64
        )
    } else {
        format!("Overall {done_rows} rows")
    };
    lines.push(Line::from(Span::styled(fit(&overall, w), theme.bold())));
    match (&imp.finished, &imp.running) {
        (Some(text), _) => {
            for line in text.lines() {
                lines.push(Line::from(Span::styled(fit(line, w), theme.ok())));
            }
            lines.push(Line::from(Span::styled("Enter/Esc closes", theme.dim())));
        }
        (None, Some(r)) => lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "{} {} {} (Esc cancels; nothing half-written is kept)",
                    spinner(state.spinner),
                    if imp.cancelling {
                        "cancelling…"
                    } else {
                        "importing…"
                    },
                    elapsed(r.elapsed)
                ),
                w,
            ),
            theme.warn(),
        ))),
        _ => {}
    }
    f.render_widget(Paragraph::new(lines), inner);
}
