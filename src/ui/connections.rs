//! The connection list: one row per saved connection, never a secret.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::{ago, elapsed, env_label, spinner, Theme};
use super::{fit, pad};
use crate::app::state::{State, TestAnswer};
use crate::store::SavedConnection;

/// Which columns fit: (engine, summary, when). Name, env and status always show.
fn columns(width: u16) -> (bool, bool, bool) {
    (width >= 56, width >= 72, width >= 46)
}

pub fn status_text(state: &State, c: &SavedConnection, theme: Theme) -> (String, Style) {
    if let Some(r) = state.tests.get(&c.name) {
        return (
            format!("{} testing {}", spinner(state.spinner), elapsed(r.elapsed)),
            theme.warn(),
        );
    }
    match state.answers.get(&c.name) {
        Some(TestAnswer::Refused(m)) => return (format!("✗ {m}"), theme.error()),
        Some(TestAnswer::Cancelled) if c.last_test.is_none() => {
            return ("cancelled".into(), theme.dim())
        }
        _ => {}
    }
    match &c.last_test {
        None => ("never tested".into(), theme.dim()),
        Some(t) if t.ok => (format!("✓ {} ms", t.latency_ms.unwrap_or(0)), theme.ok()),
        Some(t) => (format!("✗ {}", t.status), theme.error()),
    }
}

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let width = area.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    if state.filter_active || !state.filter.is_empty() {
        let mut line = super::filter_line(
            &state.filter,
            state.filter_active,
            state.filter_selected,
            width.saturating_sub(12),
            theme,
        );
        line.spans.push(Span::styled(
            format!("  {} of {}", state.visible.len(), state.connections.len()),
            theme.dim(),
        ));
        lines.push(line);
    }
    if let Some(e) = &state.load_error {
        lines.push(Line::from(Span::styled(
            fit(&format!("Cannot read the connections: {e}"), width),
            theme.error(),
        )));
    }
    if state.connections.is_empty() {
        if state.loaded {
            lines.push(Line::from(""));
            lines.push(Line::from(" No connections yet."));
            lines.push(Line::from(vec![
                Span::raw(" Press "),
                Span::styled("n", theme.key()),
                Span::raw(" to add one, "),
                Span::styled("?", theme.key()),
                Span::raw(" for help."),
            ]));
        } else {
            lines.push(Line::from(Span::styled(" Loading…", theme.dim())));
        }
        f.render_widget(Paragraph::new(lines), area);
        return;
    }

    let (show_engine, show_summary, show_when) = columns(area.width);
    // Short engine ids unless the terminal is wide; every column ends with a space.
    let long_engine = area.width >= 100;
    let env_w = 8;
    let engine_w = match (show_engine, long_engine) {
        (false, _) => 0,
        (true, true) => 15,
        (true, false) => 10,
    };
    let when_w = if show_when { 9 } else { 0 };
    let status_w = if area.width >= 60 { 22 } else { 14 };
    let fixed = 2 + env_w + engine_w + when_w + status_w;
    let flexible = width.saturating_sub(fixed);
    let (name_w, summary_w) = if show_summary {
        let n = (flexible / 2).max(10);
        (n, flexible.saturating_sub(n))
    } else {
        (flexible, 0)
    };
    let pad = |s: &str, w: usize| {
        let mut t = pad(s, w.saturating_sub(1));
        if w > 0 {
            t.push(' ');
        }
        t
    };

    let mut header = String::from("  ");
    header.push_str(&pad("Name", name_w));
    if show_engine {
        header.push_str(&pad("Engine", engine_w));
    }
    if show_summary {
        header.push_str(&pad("Where", summary_w));
    }
    header.push_str(&pad("Env", env_w));
    header.push_str(&pad("Last test", status_w));
    if show_when {
        header.push_str(&pad("When", when_w));
    }
    lines.push(Line::from(Span::styled(
        fit(&header, width),
        theme.bold().patch(theme.dim()),
    )));

    let rows_h = (area.height as usize).saturating_sub(lines.len()).max(1);
    let start = if state.selected >= rows_h {
        state.selected + 1 - rows_h
    } else {
        0
    };
    // Only the visible window is built: cheap with thousands of rows.
    for (pos, &idx) in state.visible.iter().enumerate().skip(start).take(rows_h) {
        let c = &state.connections[idx];
        let selected = pos == state.selected;
        let (status, status_style) = status_text(state, c, theme);
        let mut spans = vec![Span::raw(if selected { "▶ " } else { "  " })];
        spans.push(Span::styled(pad(&c.name, name_w), theme.bold()));
        if show_engine {
            let engine = if long_engine {
                c.spec.kind.display_name()
            } else {
                c.spec.kind.id()
            };
            spans.push(Span::raw(pad(engine, engine_w)));
        }
        if show_summary {
            spans.push(Span::styled(pad(&c.spec.summary(), summary_w), theme.dim()));
        }
        spans.push(Span::styled(
            pad(env_label(c.environment), env_w),
            theme.env(c.environment),
        ));
        spans.push(Span::styled(pad(&status, status_w), status_style));
        if show_when {
            let when = c
                .last_test
                .as_ref()
                .map(|t| ago(state.now_unix, t.at))
                .unwrap_or_default();
            spans.push(Span::styled(pad(&when, when_w), theme.dim()));
        }
        let mut line = Line::from(spans);
        if selected {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), area);
}
