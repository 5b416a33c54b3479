//! The connection form: one single-line input per field, selectors for TLS
//! mode and environment, Test and Save buttons, the test answer in one line.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::{elapsed, spinner, Theme};
use super::{fit, pad};
use crate::app::state::{FieldId, FormFocus, FormState, State, TestAnswer};
use crate::app::update::answer_line;
use crate::connectors::Field;

pub fn draw(f: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let Some(form) = &state.form else { return };
    let width = area.width as usize;
    let label_w: usize = if area.width >= 60 { 14 } else { 10 };
    let mut y = area.y;
    let bottom = area.y + area.height;

    // Title (dropped when space is short).
    // A fourth line names the hops of the last test (SSH → tunnel → engine).
    let stages = form.stages.as_deref().filter(|_| form.test.is_none());
    let footer_h = 3u16 + u16::from(stages.is_some());
    let with_title = area.height > form.fields.len() as u16 + footer_h;
    if with_title {
        let title = match &form.editing {
            Some(n) => format!("Edit '{n}' ({})", form.kind.display_name()),
            None => format!("New {} connection", form.kind.display_name()),
        };
        f.render_widget(
            Paragraph::new(Span::styled(fit(&title, width), theme.bold())),
            Rect::new(area.x, y, area.width, 1),
        );
        y += 1;
    }

    let fields_h = bottom.saturating_sub(y).saturating_sub(footer_h).max(1) as usize;
    let focus_idx = match form.focus {
        FormFocus::Field(i) => i,
        _ => form.fields.len().saturating_sub(1),
    };
    let start = if focus_idx >= fields_h {
        focus_idx + 1 - fields_h
    } else {
        0
    };
    // Nothing is "required" before the person typed, tested or saved.
    let error = form.error.as_ref().filter(|_| form.touched);
    let error_field = error.map(|e| e.field);
    for (i, field) in form.fields.iter().enumerate().skip(start).take(fields_h) {
        if y >= bottom {
            break;
        }
        let focused = form.focus == FormFocus::Field(i);
        let bad = error_field == Some(field.id.spec_name())
            || (error_field == Some("database") && field.id == FieldId::Conn(Field::ServiceName));
        let marker = if bad {
            "!"
        } else if focused {
            "›"
        } else {
            " "
        };
        let label_style = if bad {
            theme.error()
        } else if focused {
            theme.key()
        } else {
            theme.normal()
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(marker, label_style),
                Span::styled(pad(field.id.label(), label_w - 1), label_style),
            ])),
            Rect::new(area.x, y, label_w as u16, 1),
        );
        let input_area = Rect::new(
            area.x + label_w as u16,
            y,
            area.width.saturating_sub(label_w as u16),
            1,
        );
        draw_input(f, input_area, form, i, focused, theme);
        y += 1;
    }

    // Footer: validation error, buttons, test answer.
    let footer_y = y.min(bottom.saturating_sub(footer_h));
    let mut footer: Vec<Line> = Vec::new();
    match (&form.save_error, error) {
        (Some(e), _) => footer.push(Line::from(Span::styled(
            fit(&format!("✗ {e}"), width),
            theme.error(),
        ))),
        (None, Some(e)) => footer.push(Line::from(Span::styled(
            fit(
                &format!("! {}: {}", label_of(form, e.field), e.message),
                width,
            ),
            theme.error(),
        ))),
        (None, None) if form.error.is_some() => footer.push(Line::from(Span::styled(
            fit("Fill in the fields: ^T tests, ^S saves, F1 help", width),
            theme.dim(),
        ))),
        (None, None) => footer.push(Line::from(Span::styled("✓ ready to save", theme.dim()))),
    }
    let button = |label: &str, focused: bool| {
        Span::styled(
            format!("[ {label} ]"),
            if focused {
                theme.selected()
            } else {
                theme.bold()
            },
        )
    };
    footer.push(Line::from(vec![
        button("Test ^T", form.focus == FormFocus::TestButton),
        Span::raw("  "),
        button(
            if form.saving { "Saving…" } else { "Save ^S" },
            form.focus == FormFocus::SaveButton,
        ),
    ]));
    footer.push(answer(form, state, theme, width));
    if let Some(line) = stages {
        footer.push(Line::from(Span::styled(fit(line, width), theme.dim())));
    }
    f.render_widget(
        Paragraph::new(footer),
        Rect::new(
            area.x,
            footer_y,
            area.width,
            bottom.saturating_sub(footer_y),
        ),
    );
}

fn label_of(form: &FormState, spec_field: &str) -> &'static str {
    form.fields
        .iter()
        .find(|f| f.id.spec_name() == spec_field)
        .map(|f| f.id.label())
        .unwrap_or(match spec_field {
            "database" => "Service name",
            "timeout" => "Timeout",
            "tls" => "TLS mode",
            _ => "Field",
        })
}

fn answer(form: &FormState, state: &State, theme: Theme, width: usize) -> Line<'static> {
    if let Some(r) = &form.test {
        return Line::from(Span::styled(
            fit(
                &format!(
                    "{} Testing… {} (Esc cancels)",
                    spinner(state.spinner),
                    elapsed(r.elapsed)
                ),
                width,
            ),
            theme.warn(),
        ));
    }
    match &form.answer {
        None => Line::from(""),
        Some(a) => {
            let style = match a {
                TestAnswer::Ok { .. } => theme.ok(),
                TestAnswer::Cancelled => theme.dim(),
                _ => theme.error(),
            };
            let mut text = answer_line(a);
            if matches!(a, TestAnswer::Failed { .. }) {
                text.push_str(" (^E details)");
            }
            Line::from(Span::styled(fit(&text, width), style))
        }
    }
}

fn draw_input(f: &mut Frame, area: Rect, form: &FormState, i: usize, focused: bool, theme: Theme) {
    let field = &form.fields[i];
    match field.id {
        FieldId::Conn(Field::TlsMode) => {
            selector(f, area, form.tls.id(), focused, theme, theme.normal());
        }
        FieldId::Conn(Field::ConnectBy) => {
            let sid = form
                .base
                .options
                .get("connect_by")
                .is_some_and(|v| v == "sid");
            let label = if sid { "SID" } else { "service name" };
            selector(f, area, label, focused, theme, theme.normal());
        }
        FieldId::Conn(Field::Driver) => {
            let thick = form
                .base
                .options
                .get("driver")
                .is_some_and(|v| v == "thick");
            let label = if thick {
                "thick (Oracle Instant Client)"
            } else {
                "thin (built in)"
            };
            selector(f, area, label, focused, theme, theme.normal());
        }
        FieldId::Environment => {
            let label = match form.environment {
                crate::connectors::Environment::None => "none",
                e => e.id(),
            };
            selector(f, area, label, focused, theme, theme.env(form.environment));
        }
        FieldId::Conn(Field::Password) if form.clear_password => {
            f.render_widget(
                Paragraph::new(Span::styled(
                    "(stored password will be cleared; ^X undoes)",
                    theme.warn(),
                )),
                area,
            );
        }
        FieldId::Url => {
            // A password typed into the URL is masked until the field is left
            // (then it moves to the password field).
            let text = field.text();
            let shown = crate::connectors::error::sanitize(&text, None);
            if !focused && !shown.is_empty() {
                // A long URL shows its start (scheme, user, host), not the
                // end the cursor was left at.
                f.render_widget(Paragraph::new(fit(&shown, area.width as usize)), area);
            } else if shown == text {
                input(f, area, &field.input, focused, theme);
            } else {
                let mut masked = field.input.clone();
                masked.select_all();
                masked.cut();
                masked.cancel_selection();
                masked.insert_str(shown);
                f.render_widget(&masked, area);
            }
        }
        _ => input(f, area, &field.input, focused, theme),
    }
}

/// A text input; a focused empty one shows its cursor before the placeholder
/// (tui-textarea draws only the placeholder then, so the field looked inactive).
fn input(
    f: &mut Frame,
    area: Rect,
    t: &tui_textarea::TextArea<'static>,
    focused: bool,
    theme: Theme,
) {
    let empty = t.lines().iter().all(|l| l.is_empty());
    if !focused && !empty && t.mask_char().is_none() {
        // Unfocused text shows its start, wherever the cursor was left.
        f.render_widget(
            Paragraph::new(fit(&t.lines().join(""), area.width as usize)),
            area,
        );
        return;
    }
    if focused && empty {
        let hint = t.placeholder_text().to_string();
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(" ", theme.selected()),
                Span::styled(
                    fit(&hint, (area.width as usize).saturating_sub(1)),
                    theme.dim(),
                ),
            ])),
            area,
        );
        return;
    }
    f.render_widget(t, area);
}

fn selector(
    f: &mut Frame,
    area: Rect,
    value: &str,
    focused: bool,
    theme: Theme,
    style: ratatui::style::Style,
) {
    let line = Line::from(vec![
        Span::styled("◀ ", if focused { theme.key() } else { theme.dim() }),
        Span::styled(value.to_string(), style),
        Span::styled(" ▶", if focused { theme.key() } else { theme.dim() }),
    ]);
    f.render_widget(Paragraph::new(line), area);
}
