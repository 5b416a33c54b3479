//! Drawing. Every function here only reads `State`; one file per pane.

pub mod browser;
pub mod connections;
pub mod discover;
pub mod form;
pub mod help;
pub mod import;
pub mod picker;
pub mod preview;
pub mod query;
pub mod query_complete;
pub mod ssh_prompt;
pub mod theme;
pub mod unlock;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::state::{Confirm, Layer, Screen, State, StatusKind};
use crate::display::{display_lines, display_text};
pub use theme::Theme;

/// Below this the frame shows only a "too small" note.
const MIN_W: u16 = 20;
const MIN_H: u16 = 6;

pub fn draw(f: &mut Frame, state: &State) {
    let theme = Theme::new(state.no_color);
    let area = f.area();
    if area.width < MIN_W || area.height < MIN_H {
        let p = Paragraph::new("Terminal too small for Varlor: enlarge it (q quits)")
            .wrap(Wrap { trim: true });
        f.render_widget(p, area);
        return;
    }
    let production = state.production_open();
    let mut title = vec![Span::styled(" Varlor ", theme.bold())];
    if production {
        title.push(Span::styled(
            " PRODUCTION ",
            theme.env(crate::connectors::Environment::Production),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(production))
        .title(Line::from(title));
    let inner = block.inner(area);
    f.render_widget(block, area);

    let has_status = state.status.is_some();
    let [content, status_area, hints_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(u16::from(has_status)),
        Constraint::Length(1),
    ])
    .areas(inner);

    match state.screen {
        Screen::List => connections::draw(f, content, state, theme),
        Screen::Picker => picker::draw(f, content, state, theme),
        Screen::Form => form::draw(f, content, state, theme),
        Screen::Browser => browser::draw(f, content, state, theme),
        Screen::Query => query::draw(f, content, state, theme),
    }

    if let Some(s) = &state.status {
        let style = match s.kind {
            StatusKind::Info => theme.normal(),
            StatusKind::Error => theme.error(),
        };
        f.render_widget(
            Paragraph::new(Span::styled(
                fit(&s.text, status_area.width as usize),
                style,
            )),
            status_area,
        );
    }
    draw_hints(f, hints_area, state, theme);

    // Bottom to top: the overlay that gets the keys is drawn last.
    for layer in state.overlays().into_iter().rev() {
        match layer {
            Layer::Confirm => {
                if let Some(c) = &state.confirm {
                    draw_confirm(f, area, c, theme);
                }
            }
            Layer::Popup => {
                if let Some(p) = &state.popup {
                    draw_popup(f, area, &p.title, &p.text, theme);
                }
            }
            // One drawing shows the dialog or the progress.
            Layer::ImportDialog => import::draw(f, area, state, theme),
            Layer::ImportProgress if state.import_dialog.is_none() => {
                import::draw(f, area, state, theme)
            }
            Layer::Discover => discover::draw(f, area, state, theme),
            Layer::Help => help::draw(f, area, state, theme),
            Layer::Unlock => unlock::draw(f, area, state, theme),
            Layer::SshPrompt => ssh_prompt::draw(f, area, state, theme),
            _ => {}
        }
    }
}

/// Key hints of the layer that has the keys (from the key tables).
pub fn hints(state: &State) -> Vec<(&'static str, &'static str)> {
    crate::app::keys::hints(state)
}

fn draw_hints(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    // The status bar starts with the profile name, then the pane's keys.
    let profile = fit(&state.profile_name, (area.width as usize / 3).max(4));
    let mut used = profile.width() + 3;
    let mut spans = vec![
        Span::styled(profile, theme.bold()),
        Span::styled(" │ ", theme.dim()),
    ];
    if state.unlocking {
        let text = "Unlocking the vault… ";
        used += text.width();
        spans.push(Span::styled(text, theme.key()));
    }
    let width = (area.width as usize).saturating_sub(used);
    spans.extend(hint_spans(&hints(state), width, theme));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Key hints as `key what` pairs within `width` columns: a hint that does
/// not fit is dropped whole (and those after it), never cut mid-word.
pub fn hint_spans(
    hints: &[(&'static str, &'static str)],
    width: usize,
    theme: Theme,
) -> Vec<Span<'static>> {
    let mut spans = vec![];
    let mut used = 0;
    for (k, what) in hints {
        let w = k.width() + what.width() + 2;
        if used + w > width {
            break;
        }
        spans.push(Span::styled(*k, theme.key()));
        spans.push(Span::styled(format!(" {what} "), theme.dim()));
        used += w;
    }
    spans
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_confirm(f: &mut Frame, area: Rect, c: &Confirm, theme: Theme) {
    let text = match c {
        Confirm::Delete(name) => format!("Delete connection '{name}' and its stored secret?"),
        Confirm::ForceTest(name) => format!(
            "'{name}' failed to log in several times in a row. Testing again may lock the account. Test anyway?"
        ),
        Confirm::KeepPassword { from, to } => format!(
            "The stored password was saved for {from}. Send it to {to} too?"
        ),
        Confirm::DiscardForm => "Leave the form and discard your changes?".to_string(),
    };
    let (yes, no) = match c {
        Confirm::KeepPassword { .. } => (" keep it   ", " drop it   Esc back"),
        Confirm::DiscardForm => (" discard   ", " keep editing"),
        _ => (" yes   ", " no"),
    };
    let r = centered(area, 50, 7);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.error())
        .title(" Confirm ");
    let p = Paragraph::new(vec![
        Line::from(display_text(&text).into_owned()),
        Line::from(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(yes),
            Span::styled("n", theme.key()),
            Span::raw(no),
        ]),
    ])
    .wrap(Wrap { trim: true })
    .block(block);
    f.render_widget(p, r);
}

pub fn draw_popup(f: &mut Frame, area: Rect, title: &str, text: &str, theme: Theme) {
    // The whole value of a cell or an error's detail: line breaks kept,
    // every other control shown as an escape.
    let text = display_lines(text);
    let w = area.width.saturating_sub(4).min(72);
    let lines = text.lines().count() as u16 + (text.width() as u16 / w.max(1)) + 3;
    let r = centered(area, w, lines.min(area.height.saturating_sub(2)).max(5));
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused_border())
        .title(format!(" {} ", fit(title, w.saturating_sub(4) as usize)))
        .title_bottom(Line::from(" Esc closes ").right_aligned());
    f.render_widget(
        Paragraph::new(text.into_owned())
            .wrap(Wrap { trim: false })
            .block(block),
        r,
    );
}

/// Cuts `s` to `width` terminal columns, ending with "…" when cut. The text
/// passes through [`display_text`] first, so what is measured and returned
/// is what the terminal will show (no control character reaches it).
pub fn fit(s: &str, width: usize) -> String {
    let s = display_text(s);
    let s = s.as_ref();
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw + 1 > width {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// `fit` then pad with spaces to exactly `width` columns.
pub fn pad(s: &str, width: usize) -> String {
    let mut t = fit(s, width);
    let w = t.width();
    t.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    t
}

/// The `/ filter▏` line of the list and the browser: a filter opened again
/// shows its text selected (typing replaces it).
pub fn filter_line(
    filter: &str,
    active: bool,
    selected: bool,
    width: usize,
    theme: Theme,
) -> Line<'static> {
    let cursor = if active && !selected { "▏" } else { "" };
    let text = fit(filter, width.saturating_sub(3 + cursor.len().min(1)));
    let style = if active && selected {
        theme.selected()
    } else {
        theme.normal()
    };
    Line::from(vec![
        Span::styled("/", theme.key()),
        Span::raw(" "),
        Span::styled(text, style),
        Span::raw(cursor),
    ])
}

pub fn styled_line(text: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(Span::styled(text.into(), style))
}
