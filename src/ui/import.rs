//! The import dialog and its progress: one gauge per table, overall progress, Esc cancels.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::theme::{elapsed, spinner, Theme};
use super::{centered, fit, pad};
use crate::app::state::{ImportRowStatus, State};

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    if let Some(d) = &state.import_dialog {
        let r = centered(area, 70, 10);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focused_border())
            .title(format!(" Import {} table(s) ", d.tables.len()));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let w = inner.width;
        let row = |i: u16| Rect::new(inner.x, inner.y + i, w, 1).intersection(inner);
        let names: Vec<String> = d.tables.iter().map(|t| t.display_name()).collect();
        f.render_widget(
            Paragraph::new(Span::styled(
                fit(&names.join(", "), w as usize),
                theme.dim(),
            )),
            row(0),
        );
        let label = |focused: bool, text: &str| {
            Span::styled(
                pad(text, 13),
                if focused { theme.key() } else { theme.normal() },
            )
        };
        let mut formats = vec![label(d.focus == 0, "Format")];
        for fm in crate::dataset::Format::ALL {
            let style = if fm == d.format {
                theme.selected()
            } else {
                theme.dim()
            };
            formats.push(Span::styled(format!(" {} ", fm.id()), style));
            formats.push(Span::raw(" "));
        }
        f.render_widget(Paragraph::new(Line::from(formats)), row(2));
        f.render_widget(Paragraph::new(label(d.focus == 1, "Destination")), row(3));
        let dest = row(3);
        f.render_widget(
            &d.destination,
            Rect::new(
                dest.x + 13,
                dest.y,
                dest.width.saturating_sub(13),
                dest.height,
            ),
        );
        f.render_widget(Paragraph::new(label(d.focus == 2, "Row limit")), row(4));
        let lim = row(4);
        f.render_widget(
            &d.limit,
            Rect::new(lim.x + 13, lim.y, lim.width.saturating_sub(13), lim.height),
        );
        if let Some(e) = &d.error {
            f.render_widget(
                Paragraph::new(Span::styled(fit(e, w as usize), theme.error())),
                row(6),
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
            row(7),
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
        .title(format!(" Import from {} ({}) ", imp.conn, imp.format.id()));
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
