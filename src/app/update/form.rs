//! The connection form: fields, URL paste, validation, Test and Save.

use super::*;
use keys::FormCmd;

pub(super) fn text_input(text: &str) -> TextArea<'static> {
    use ratatui::style::{Modifier, Style};
    let mut t = TextArea::new(vec![text.to_string()]);
    t.set_cursor_line_style(Style::default());
    // Dim, not grey: the placeholder must stay colourless under NO_COLOR.
    t.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
    t.move_cursor(CursorMove::End);
    t
}

pub(super) fn password_input() -> TextArea<'static> {
    let mut t = text_input("");
    t.set_mask_char(MASK);
    // No undo history: it would keep copies of every typed character.
    t.set_max_histories(0);
    t
}

/// Wipes a secret input and gives back a fresh, empty one.
pub(super) fn reset_secret(t: &mut TextArea<'static>) {
    wipe_input(t);
    *t = password_input();
}

/// After an edit of a secret input: a cut must not leave the secret in the
/// yank buffer (Ctrl-Y would bring it back after the field was cleared).
pub(super) fn forget_yank(t: &mut TextArea<'static>) {
    use zeroize::Zeroize;
    let mut y = t.yank_text();
    if !y.is_empty() {
        y.zeroize();
        t.set_yank_text(String::new());
    }
}

pub(super) fn field_text(spec: &ConnSpec, f: Field) -> String {
    match f {
        Field::Host => spec.host.clone(),
        Field::Port => spec.port.map(|p| p.to_string()).unwrap_or_default(),
        Field::Database | Field::ServiceName | Field::Path => spec.database.clone(),
        Field::User => spec.user.clone(),
        Field::Password | Field::TlsMode | Field::ConnectBy | Field::Driver => String::new(),
        Field::CaFile => spec
            .ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        Field::AuthSource => spec.options.get("authSource").cloned().unwrap_or_default(),
        Field::SshVia => spec
            .options
            .get(crate::ssh::OPTION)
            .cloned()
            .unwrap_or_default(),
    }
}

pub(super) fn build_fields(kind: Kind, name: &str, spec: &ConnSpec) -> Vec<FormField> {
    let mut fields = vec![
        FormField {
            id: FieldId::Name,
            input: text_input(name),
        },
        FormField {
            id: FieldId::Url,
            input: text_input(""),
        },
    ];
    for &f in kind.fields() {
        let input = if f == Field::Password {
            password_input()
        } else {
            text_input(&field_text(spec, f))
        };
        fields.push(FormField {
            id: FieldId::Conn(f),
            input,
        });
    }
    fields.push(FormField {
        id: FieldId::Environment,
        input: text_input(""),
    });
    for f in &mut fields {
        if f.id == FieldId::Url {
            // A pasted URL may carry a password: keep no undo copies of it.
            f.input.set_max_histories(0);
            f.input.set_placeholder_text(format!(
                "optional: {}://user@host/db",
                kind.url_schemes()[0]
            ));
        }
    }
    fields
}

pub fn new_form(kind: Kind, no_color: bool) -> FormState {
    let spec = ConnSpec::new(kind);
    let mut form = FormState {
        kind,
        editing: None,
        had_secret: false,
        clear_password: false,
        fields: build_fields(kind, "", &spec),
        tls: spec.tls,
        base: spec,
        source: PasswordSource::Vault,
        focus: FormFocus::Field(0),
        environment: Environment::None,
        error: None,
        test: None,
        answer: None,
        stages: None,
        answer_fresh: false,
        show_detail: false,
        saving: false,
        save_error: None,
        original: None,
        secret_choice: None,
        touched: false,
        pristine: 0,
    };
    restyle(&mut form, no_color);
    form.pristine = fingerprint(&form);
    form
}

/// What the person can change in the form, summarised to tell "changed"
/// from "as opened". Secret inputs count only by their length: no digest of
/// a password is kept.
pub(super) fn fingerprint(form: &FormState) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    form.kind.hash(&mut h);
    form.tls.id().hash(&mut h);
    form.environment.id().hash(&mut h);
    form.clear_password.hash(&mut h);
    for (k, v) in &form.base.options {
        (k, v).hash(&mut h);
    }
    for f in &form.fields {
        f.id.spec_name().hash(&mut h);
        let text = zeroize::Zeroizing::new(f.text());
        if f.holds_secret() {
            text.chars().count().hash(&mut h);
        } else {
            text.as_str().hash(&mut h);
        }
    }
    h.finish()
}

pub fn edit_form(conn: &SavedConnection, no_color: bool) -> FormState {
    let mut form = new_form(conn.spec.kind, no_color);
    form.fields = build_fields(conn.spec.kind, &conn.name, &conn.spec);
    form.base = conn.spec.clone();
    form.tls = conn.spec.tls;
    form.environment = conn.environment;
    form.editing = Some(conn.name.clone());
    form.original = Some(conn.spec.clone());
    form.had_secret = conn.has_secret;
    form.source = conn.password_source.clone();
    if let Some(pw) = form.field_mut(FieldId::Conn(Field::Password)) {
        pw.input.set_placeholder_text(if conn.has_secret {
            "(stored; type to replace, Ctrl-X clears)"
        } else {
            "(none stored)"
        });
    }
    restyle(&mut form, no_color);
    form.pristine = fingerprint(&form);
    form
}

/// Shows the cursor only in the focused input.
pub(super) fn restyle(form: &mut FormState, _no_color: bool) {
    use ratatui::style::{Modifier, Style};
    let focus = form.focus;
    for (i, f) in form.fields.iter_mut().enumerate() {
        let style = if focus == FormFocus::Field(i) {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        f.input.set_cursor_style(style);
    }
}

pub(super) fn focus_ring(form: &FormState) -> Vec<FormFocus> {
    let mut ring: Vec<FormFocus> = (0..form.fields.len()).map(FormFocus::Field).collect();
    ring.push(FormFocus::TestButton);
    ring.push(FormFocus::SaveButton);
    ring
}

pub(super) fn move_focus(state: &mut State, delta: isize) {
    let no_color = state.no_color;
    let Some(form) = &mut state.form else { return };
    let ring = focus_ring(form);
    let pos = ring.iter().position(|f| *f == form.focus).unwrap_or(0) as isize;
    let len = ring.len() as isize;
    // Leaving the URL field hides any password it carried.
    if form.focused_field() == Some(FieldId::Url) {
        scrub_url_field(form);
    }
    form.focus = ring[((pos + delta).rem_euclid(len)) as usize];
    restyle(form, no_color);
}

pub(super) fn scrub_url_field(form: &mut FormState) {
    use zeroize::Zeroize;
    let mut text = form.text(FieldId::Url);
    if let Ok((spec, Some(_))) = ConnSpec::from_url(&text) {
        if let Some(f) = form.field_mut(FieldId::Url) {
            wipe_input(&mut f.input);
            f.input = text_input(&spec.to_url());
            f.input.set_max_histories(0);
        }
    }
    text.zeroize();
}

pub(super) fn form_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if state.form.is_none() {
        state.screen = Screen::List;
        return vec![];
    }
    match lookup(keys::FORM, state, &key) {
        Some(FormCmd::Test) => return start_form_test(state),
        Some(FormCmd::Save) => return start_save(state),
        Some(FormCmd::Details) => {
            show_error_details(state);
            return vec![];
        }
        Some(FormCmd::ClearStored) => {
            toggle_clear_password(state);
            return vec![];
        }
        Some(FormCmd::Back) => return form_back(state),
        Some(FormCmd::Next) => {
            move_focus(state, 1);
            return vec![];
        }
        Some(FormCmd::Prev) => {
            move_focus(state, -1);
            return vec![];
        }
        Some(FormCmd::Activate) => {
            let focus = state.form.as_ref().map(|f| f.focus);
            return match focus {
                Some(FormFocus::TestButton) => start_form_test(state),
                Some(FormFocus::SaveButton) => start_save(state),
                _ => {
                    move_focus(state, 1);
                    vec![]
                }
            };
        }
        Some(FormCmd::PickSshHost) => pick_ssh_host(state),
        Some(FormCmd::SelectorPrev) => change_selector(state, -1),
        Some(FormCmd::SelectorNext) => change_selector(state, 1),
        Some(FormCmd::Help) => state.help = true,
        Some(FormCmd::Edit) | None => type_into_field(state, key),
    }
    vec![]
}

fn show_error_details(state: &mut State) {
    if let Some(TestAnswer::Failed {
        message, detail, ..
    }) = state.form.as_ref().and_then(|f| f.answer.as_ref())
    {
        state.popup = Some(Popup {
            title: format!("Details: {message}"),
            text: if detail.is_empty() {
                "(no details)".into()
            } else {
                detail.clone()
            },
        });
    }
}

fn toggle_clear_password(state: &mut State) {
    let Some(form) = &mut state.form else { return };
    if form.editing.is_some() && form.had_secret {
        form.clear_password = !form.clear_password;
        if form.clear_password {
            if let Some(f) = form.field_mut(FieldId::Conn(Field::Password)) {
                reset_secret(&mut f.input);
            }
        }
    }
    restyle(form, state.no_color);
}

/// Esc: cancel the running test, else leave the form (asking first when
/// something was changed).
fn form_back(state: &mut State) -> Vec<Effect> {
    if let Some(form) = &mut state.form {
        if let Some(r) = form.test.take() {
            form.answer = Some(TestAnswer::Cancelled);
            return vec![Effect::Cancel { task: r.task }];
        }
        if fingerprint(form) != form.pristine {
            state.confirm = Some(Confirm::DiscardForm);
            return vec![];
        }
    }
    discard_form(state);
    vec![]
}

/// Leaves the form, dropping what was typed (its inputs wipe themselves).
pub(super) fn discard_form(state: &mut State) {
    state.form = None;
    state.screen = Screen::List;
}

/// Ctrl-O in "SSH via": the next `Host` alias of the person's ssh config
/// (read on demand: a small local file, like the app's own config).
fn pick_ssh_host(state: &mut State) {
    let hosts = crate::ssh::hosts::config_path()
        .map(|p| crate::ssh::hosts::aliases(&p))
        .unwrap_or_default();
    let Some(form) = &mut state.form else { return };
    let id = FieldId::Conn(Field::SshVia);
    let current = form.text(id);
    let next = match hosts.iter().position(|h| *h == current.trim()) {
        Some(i) => hosts.get(i + 1).or(hosts.first()),
        None => hosts.first(),
    };
    let Some(next) = next.cloned() else {
        set_status(
            state,
            StatusKind::Info,
            "no Host alias in ~/.ssh/config: type user@host[:port]",
        );
        return;
    };
    if let Some(f) = form.field_mut(id) {
        f.input = text_input(&next);
    }
    form.answer_fresh = false;
    validate_form(state);
}

fn change_selector(state: &mut State, delta: isize) {
    let Some(form) = &mut state.form else { return };
    form.touched = true;
    match form.focused_field() {
        Some(FieldId::Environment) => {
            form.environment = cycle(&Environment::ALL, form.environment, delta)
        }
        // Two-valued selectors kept in the spec's options (Oracle).
        Some(FieldId::Conn(f @ (Field::ConnectBy | Field::Driver))) => {
            let (key, on) = match f {
                Field::ConnectBy => ("connect_by", "sid"),
                _ => ("driver", "thick"),
            };
            if form.base.options.get(key).is_some_and(|v| v == on) {
                form.base.options.remove(key);
            } else {
                form.base.options.insert(key.into(), on.into());
            }
            form.answer_fresh = false;
        }
        _ => {
            form.tls = cycle(&TlsMode::ALL, form.tls, delta);
            form.answer_fresh = false;
        }
    }
    validate_form(state);
}

/// Keys no binding claims go to the focused text field.
fn type_into_field(state: &mut State, key: KeyEvent) {
    let Some(form) = &mut state.form else { return };
    let Some(id) = form.focused_field() else {
        return;
    };
    // Selectors take no text; Ctrl-M / Ctrl-J would insert a newline.
    if id.is_selector()
        || (key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('m' | 'j')))
    {
        return;
    }
    let changed = form
        .field_mut(id)
        .map(|f| {
            let changed = edit_input(&mut f.input, key);
            if f.holds_secret() {
                forget_yank(&mut f.input);
            }
            changed
        })
        .unwrap_or(false);
    if changed {
        field_changed(state, id);
    }
}

pub(super) fn field_changed(state: &mut State, id: FieldId) {
    if let Some(f) = &mut state.form {
        f.answer_fresh = false;
        f.touched = true;
    }
    if id == FieldId::Conn(Field::Password) {
        if let Some(f) = &mut state.form {
            if !f.text(id).is_empty() {
                f.clear_password = false;
            }
        }
    }
    if id == FieldId::Url {
        apply_url(state);
    }
    validate_form(state);
}

/// Fills the other fields from the URL field; a password moves to the password field.
pub(super) fn apply_url(state: &mut State) {
    let no_color = state.no_color;
    let Some(form) = &mut state.form else { return };
    let mut text = form.text(FieldId::Url);
    if text.trim().is_empty() {
        return;
    }
    let parsed = ConnSpec::from_url(&text);
    let url_text = text.split_once('?').map_or("", |(_, q)| q).to_string();
    let url_text = format!("?{url_text}");
    zeroize::Zeroize::zeroize(&mut text);
    let Ok((spec, password)) = parsed else {
        return;
    };
    if spec.kind != form.kind {
        // Another engine's URL: switch the form to that kind, keep name and URL.
        let name = form.text(FieldId::Name);
        let url = form.field(FieldId::Url).map(|f| f.input.clone());
        form.kind = spec.kind;
        form.fields = build_fields(spec.kind, &name, &spec);
        if let (Some(u), Some(f)) = (url, form.field_mut(FieldId::Url)) {
            f.input = u;
        }
        form.focus = FormFocus::Field(1);
    }
    // Editing: a URL that does not state TLS keeps the connection's mode and
    // CA file, so pasting the listed URL never weakens TLS.
    let (states_mode, states_ca) = crate::connectors::spec::url_states_tls(&url_text);
    let keep_tls = form.editing.is_some() && !states_mode;
    let keep_ca = form.editing.is_some() && !states_ca;
    for &f in spec.kind.fields() {
        if matches!(
            f,
            Field::Password | Field::TlsMode | Field::ConnectBy | Field::Driver
        ) || (f == Field::CaFile && keep_ca)
        {
            continue;
        }
        if let Some(ff) = form.field_mut(FieldId::Conn(f)) {
            ff.input = text_input(&field_text(&spec, f));
        }
    }
    if !keep_tls {
        form.tls = spec.tls;
    }
    let mut base = spec.clone();
    base.options = spec.options.clone();
    form.base = base;
    if let Some(pw) = password {
        use secrecy::ExposeSecret;
        if let Some(ff) = form.field_mut(FieldId::Conn(Field::Password)) {
            reset_secret(&mut ff.input);
            ff.input.insert_str(pw.expose_secret());
        }
        form.clear_password = false;
    }
    restyle(form, no_color);
}

/// The spec the form describes, or the first error naming its field.
pub fn form_spec(form: &FormState) -> Result<ConnSpec, SpecError> {
    let url = form.text(FieldId::Url);
    if !url.trim().is_empty() {
        ConnSpec::from_url(&url)?;
    }
    let mut spec = form.base.clone();
    spec.kind = form.kind;
    spec.tls = form.tls;
    for &f in form.kind.fields() {
        let text = form.text(FieldId::Conn(f));
        match f {
            Field::Host => spec.host = text.trim().to_string(),
            Field::Port => {
                spec.port = if text.trim().is_empty() {
                    form.kind.default_port()
                } else {
                    Some(ConnSpec::parse_port(&text)?)
                }
            }
            Field::Database | Field::ServiceName | Field::Path => {
                spec.database = text.trim().to_string()
            }
            Field::User => spec.user = text.trim().to_string(),
            Field::CaFile => {
                spec.ca_file = Some(text.trim())
                    .filter(|t| !t.is_empty())
                    .map(std::path::PathBuf::from)
            }
            Field::AuthSource => {
                if text.trim().is_empty() {
                    spec.options.remove("authSource");
                } else {
                    spec.options
                        .insert("authSource".into(), text.trim().to_string());
                }
            }
            Field::SshVia => crate::ssh::set_via(&mut spec, Some(text.trim())),
            // Selectors: already in the options of `form.base`.
            Field::Password | Field::TlsMode | Field::ConnectBy | Field::Driver => {}
        }
    }
    spec.validate()?;
    Ok(spec)
}

pub(super) fn check_name(
    form: &FormState,
    connections: &[SavedConnection],
) -> Result<String, SpecError> {
    let name = form.text(FieldId::Name).trim().to_string();
    if name.is_empty() {
        return Err(SpecError::new("name", "a name is required"));
    }
    if connections
        .iter()
        .any(|c| c.name == name && form.editing.as_deref() != Some(c.name.as_str()))
    {
        return Err(SpecError::new(
            "name",
            format!("a connection named '{name}' already exists"),
        ));
    }
    Ok(name)
}

pub(super) fn validate_form(state: &mut State) {
    let Some(form) = &mut state.form else { return };
    form.error = check_name(form, &state.connections)
        .and_then(|_| form_spec(form))
        .err();
    form.save_error = None;
}

pub(super) fn typed_password(form: &FormState) -> Option<SecretString> {
    let t = form.text(FieldId::Conn(Field::Password));
    (!t.is_empty()).then(|| SecretString::from(t))
}

pub(super) fn start_form_test(state: &mut State) -> Vec<Effect> {
    let task = state.task();
    let now = state.now;
    let Some(form) = &mut state.form else {
        return vec![];
    };
    form.touched = true;
    if form.test.is_some() {
        return vec![];
    }
    let spec = match form_spec(form) {
        Ok(s) => s,
        Err(e) => {
            form.answer = Some(TestAnswer::Refused(format!("cannot test yet: {e}")));
            return vec![];
        }
    };
    // SQLite opens existing files only, read-only (never creates one).
    if let Err(e) = spec.check_database_file() {
        form.answer = Some(TestAnswer::Refused(format!(
            "cannot test: {} (Varlor never creates one)",
            e.message
        )));
        return vec![];
    }
    let password = match (typed_password(form), &form.editing) {
        (Some(p), _) => FormPassword::Typed(p),
        (None, Some(_))
            if form.had_secret
                && !form.clear_password
                && form
                    .original
                    .as_ref()
                    .is_some_and(|o| o.target() != spec.target()) =>
        {
            // The stored password belongs to the saved target, not this one.
            let from = form.original.as_ref().map(|o| o.target().to_string());
            form.answer = Some(TestAnswer::Refused(format!(
                "the stored password belongs to {}: type the password for {} to test",
                from.unwrap_or_default(),
                spec.target()
            )));
            return vec![];
        }
        (None, Some(name)) if form.had_secret && !form.clear_password => {
            FormPassword::Stored(name.clone())
        }
        _ => FormPassword::None,
    };
    form.test = Some(Running::new(task, now));
    form.stages = None;
    form.answer = None;
    vec![Effect::TestForm {
        task,
        spec,
        password,
    }]
}

pub(super) fn start_save(state: &mut State) -> Vec<Effect> {
    validate_form(state);
    let Some(form) = &mut state.form else {
        return vec![];
    };
    form.touched = true;
    if form.saving {
        return vec![];
    }
    if let Some(e) = &form.error {
        form.save_error = Some(format!("cannot save: {e}"));
        return vec![];
    }
    let (Ok(name), Ok(spec)) = (check_name(form, &state.connections), form_spec(form)) else {
        return vec![];
    };
    // SQLite opens existing files only: a new path must name one (an edit
    // that keeps the path saves even if the file is gone for now).
    let path_changed = form
        .original
        .as_ref()
        .is_none_or(|o| o.database != spec.database || o.kind != spec.kind);
    if let (true, Err(e)) = (path_changed, spec.check_database_file()) {
        form.save_error = Some(format!("cannot save: {}", e.message));
        return vec![];
    }
    let typed = typed_password(form);
    // A stored password goes only where it was saved for, unless the person says so.
    let moved_secret = form.had_secret
        && !form.clear_password
        && typed.is_none()
        && form
            .original
            .as_ref()
            .is_some_and(|o| o.target() != spec.target());
    let keep_for_new_target = if moved_secret {
        match &form.secret_choice {
            Some((t, keep)) if *t == spec.target() => *keep,
            _ => {
                let from = form.original.as_ref().map(|o| o.target().to_string());
                state.confirm = Some(Confirm::KeepPassword {
                    from: from.unwrap_or_default(),
                    to: spec.target().to_string(),
                });
                return vec![];
            }
        }
    } else {
        false
    };
    let drops_secret = moved_secret && !keep_for_new_target;
    let keeps_secret = form.had_secret && !form.clear_password && !drops_secret;
    let password_source = if !form.kind.has_password() {
        PasswordSource::None
    } else if typed.is_some() || keeps_secret {
        PasswordSource::Vault
    } else if matches!(
        form.source,
        PasswordSource::Command(_) | PasswordSource::Prompt
    ) {
        form.source.clone()
    } else {
        PasswordSource::None
    };
    let password = match (&form.editing, typed) {
        (_, Some(p)) => Some(Some(p)),
        (Some(_), None) if form.clear_password || drops_secret => Some(None),
        _ => None,
    };
    form.saving = true;
    let tested = match &form.answer {
        Some(a @ TestAnswer::Ok { .. }) if form.answer_fresh => Some(a.clone()),
        _ => None,
    };
    vec![Effect::Save {
        tested,
        old_name: form.editing.clone(),
        new: NewConnection {
            name,
            spec,
            environment: form.environment,
            password_source,
        },
        password,
        keep_for_new_target,
    }]
}

/// The answer to `Confirm::KeepPassword`, remembered for this target, then save.
pub(super) fn answer_keep_password(state: &mut State, keep: bool) -> Vec<Effect> {
    let Some(form) = &mut state.form else {
        return vec![];
    };
    let Ok(spec) = form_spec(form) else {
        return vec![];
    };
    form.secret_choice = Some((spec.target(), keep));
    start_save(state)
}

/// A save finished: back to the list on the saved row, or the error on the form.
pub(super) fn on_saved(state: &mut State, result: Result<SavedConnection, String>) -> Vec<Effect> {
    match result {
        Ok(conn) => {
            let name = conn.name.clone();
            state.form = None;
            state.screen = Screen::List;
            // Show the new row at once; the reload confirms it.
            if let Some(i) = state.connections.iter().position(|c| c.name == name) {
                state.connections[i] = conn;
            } else {
                state.connections.push(conn);
                state.connections.sort_by(|a, b| a.name.cmp(&b.name));
            }
            // A renamed connection leaves its old row behind until the reload.
            let rows = std::mem::take(&mut state.connections);
            set_connections(state, rows, Some(&name));
            set_status(state, StatusKind::Info, format!("Saved '{name}'"));
            vec![Effect::LoadConnections { select: Some(name) }]
        }
        Err(e) => {
            if let Some(f) = &mut state.form {
                f.saving = false;
                f.save_error = Some(e.clone());
            }
            set_status(state, StatusKind::Error, e);
            vec![]
        }
    }
}

/// The hops of the form's running test (drawn under its answer).
pub(super) fn on_test_stages(state: &mut State, task: TaskId, line: String) -> Vec<Effect> {
    if let Some(form) = &mut state.form {
        if form.test.as_ref().is_some_and(|r| r.task == task) {
            form.stages = Some(line).filter(|l| !l.is_empty());
        }
    }
    vec![]
}

/// A test of the form's settings finished.
pub(super) fn on_test_done(
    state: &mut State,
    task: TaskId,
    result: Result<crate::connectors::ServerInfo, crate::connectors::ConnError>,
) -> Vec<Effect> {
    if let Some(form) = &mut state.form {
        if form.test.as_ref().is_some_and(|r| r.task == task) {
            form.test = None;
            form.answer = Some(TestAnswer::from_result(&result));
            form.answer_fresh = true;
        }
    }
    vec![]
}

/// The form's test was refused before it ran.
pub(super) fn on_test_refused(state: &mut State, task: TaskId, message: String) -> Vec<Effect> {
    if let Some(form) = &mut state.form {
        if form.test.as_ref().is_some_and(|r| r.task == task) {
            form.test = None;
            form.answer = Some(TestAnswer::Refused(message));
        }
    }
    vec![]
}
