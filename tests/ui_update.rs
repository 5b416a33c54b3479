//! Every key path of the TUI through the pure `update` (no terminal).

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use secrecy::ExposeSecret;
use varlor::app::action::Action;
use varlor::app::effect::{Effect, FormPassword};
#[allow(unused_imports)]
use varlor::app::state::ImportRowStatus;
use varlor::app::state::*;
use varlor::app::update::{set_connections, update};
use varlor::connectors::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Environment, ErrorKind, Field, Kind,
    PasswordSource, RowSet, ServerInfo, TableInfo, TableKind, TableRef, TlsMode,
};
use varlor::store::{SavedConnection, TestOutcome};

fn conn(name: &str, kind: Kind) -> SavedConnection {
    let mut spec = ConnSpec::new(kind);
    spec.user = "app".into();
    spec.database = "shop".into();
    SavedConnection {
        id: 1,
        name: name.into(),
        spec,
        environment: Environment::None,
        password_source: PasswordSource::Vault,
        has_secret: true,
        key_version: 1,
        created_at: 0,
        updated_at: 0,
        last_test: None,
        auth_failures: 0,
    }
}

fn state_with(names: &[&str]) -> State {
    let mut s = State::new("default");
    let rows = names.iter().map(|n| conn(n, Kind::Postgres)).collect();
    set_connections(&mut s, rows, None);
    s
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}
fn ch(c: char) -> Action {
    key(KeyCode::Char(c))
}
fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
fn shift_tab() -> Action {
    Action::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT))
}
fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    let mut out = vec![];
    for c in text.chars() {
        out.extend(update(s, ch(c)));
    }
    out
}
fn tick(s: &mut State, after: Duration) -> Vec<Effect> {
    let now = s.now + after;
    update(
        s,
        Action::Tick {
            now,
            now_unix: 1_000,
        },
    )
}
fn highlighted(s: &State) -> String {
    s.highlighted().map(|c| c.name.clone()).unwrap_or_default()
}
fn focus_field(s: &mut State, id: FieldId) {
    let form = s.form.as_ref().unwrap();
    let idx = form.fields.iter().position(|f| f.id == id).unwrap();
    for _ in 0..30 {
        if s.form.as_ref().unwrap().focus == FormFocus::Field(idx) {
            break;
        }
        update(s, key(KeyCode::Tab));
    }
    assert_eq!(s.form.as_ref().unwrap().focused_field(), Some(id));
}
fn clear_field(s: &mut State) {
    for _ in 0..80 {
        update(s, key(KeyCode::Backspace));
    }
}
fn info() -> ServerInfo {
    ServerInfo {
        version: "PostgreSQL 16.4".into(),
        latency: Duration::from_millis(12),
        tls: false,
    }
}

// ------------------------------------------------------------------ list

#[test]
fn list_moves_with_vim_keys_arrows_and_ends() {
    let mut s = state_with(&["a", "b", "c", "d"]);
    assert_eq!(highlighted(&s), "a");
    update(&mut s, ch('j'));
    update(&mut s, key(KeyCode::Down));
    assert_eq!(highlighted(&s), "c");
    update(&mut s, ch('k'));
    assert_eq!(highlighted(&s), "b");
    update(&mut s, key(KeyCode::Up));
    update(&mut s, key(KeyCode::Up));
    assert_eq!(highlighted(&s), "a", "stops at the top");
    update(&mut s, ch('G'));
    assert_eq!(highlighted(&s), "d");
    update(&mut s, ch('j'));
    assert_eq!(highlighted(&s), "d", "stops at the bottom");
    update(&mut s, ch('g'));
    assert_eq!(highlighted(&s), "a");
}

#[test]
fn slash_filters_by_name_and_esc_clears() {
    let mut s = state_with(&["billing-prod", "billing-stage", "crm"]);
    update(&mut s, ch('/'));
    assert!(s.filter_active);
    typed(&mut s, "STAGE");
    assert_eq!(s.visible.len(), 1);
    assert_eq!(highlighted(&s), "billing-stage");
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Enter));
    assert!(!s.filter_active);
    assert_eq!(s.filter, "STAG");
    // Keys act on the list again, within the filtered rows.
    update(&mut s, ch('j'));
    assert_eq!(highlighted(&s), "billing-stage");
    update(&mut s, ch('/'));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.visible.len(), 3);
    assert!(s.filter.is_empty());
}

#[test]
fn q_quits_and_ctrl_c_quits_from_anywhere() {
    let mut s = state_with(&["a"]);
    update(&mut s, ch('q'));
    assert!(s.quit);
    let mut s = state_with(&["a"]);
    update(&mut s, ch('n'));
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Form);
    update(&mut s, ch('q'));
    assert!(!s.quit, "q is text in a form field");
    update(&mut s, ctrl('c'));
    assert!(s.quit);
}

#[test]
fn help_overlay_opens_and_closes() {
    let mut s = state_with(&["a"]);
    update(&mut s, ch('?'));
    assert!(s.help);
    update(&mut s, ch('j'));
    assert_eq!(highlighted(&s), "a", "keys go to the overlay");
    update(&mut s, key(KeyCode::Esc));
    assert!(!s.help);
}

#[test]
fn delete_asks_first() {
    let mut s = state_with(&["a", "b"]);
    update(&mut s, ch('j'));
    assert!(update(&mut s, ch('d')).is_empty());
    assert_eq!(s.confirm, Some(Confirm::Delete("b".into())));
    assert!(update(&mut s, ch('n')).is_empty());
    assert_eq!(s.confirm, None);
    update(&mut s, ch('d'));
    let fx = update(&mut s, ch('y'));
    assert!(matches!(&fx[..], [Effect::Delete { name }] if name == "b"));
    let fx = update(&mut s, Action::Deleted(Ok("b".into())));
    assert!(matches!(&fx[..], [Effect::LoadConnections { .. }]));
    update(
        &mut s,
        Action::ConnectionsLoaded {
            result: Ok(vec![conn("a", Kind::Postgres)]),
            select: None,
        },
    );
    assert_eq!(highlighted(&s), "a");
}

#[test]
fn t_tests_in_background_and_the_list_keeps_working() {
    let mut s = state_with(&["a", "b", "c"]);
    let fx = update(&mut s, ch('t'));
    let task = match &fx[..] {
        [Effect::TestSaved {
            task, name, force, ..
        }] => {
            assert_eq!(name, "a");
            assert!(!force);
            *task
        }
        _ => panic!("expected TestSaved"),
    };
    assert!(s.tests.contains_key("a"));
    // A second t on the same row does not start another test.
    assert!(update(&mut s, ch('t')).is_empty());
    tick(&mut s, Duration::from_millis(1500));
    assert_eq!(s.tests["a"].elapsed, Duration::from_millis(1500));
    // Never blocked: moving, opening the picker and coming back all work.
    update(&mut s, ch('j'));
    assert_eq!(highlighted(&s), "b");
    update(&mut s, ch('n'));
    assert_eq!(s.screen, Screen::Picker);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::List);
    let fx = update(
        &mut s,
        Action::TestDone {
            task,
            name: Some("a".into()),
            result: Ok(info()),
        },
    );
    assert!(matches!(&fx[..], [Effect::LoadConnections { select: Some(n) }] if n == "b"));
    assert!(!s.tests.contains_key("a"));
    assert!(matches!(
        s.answers["a"],
        TestAnswer::Ok { latency_ms: 12, .. }
    ));
}

#[test]
fn esc_cancels_the_highlighted_test() {
    let mut s = state_with(&["a"]);
    let fx = update(&mut s, ch('t'));
    let Effect::TestSaved { task, .. } = fx[0] else {
        panic!()
    };
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(matches!(&fx[..], [Effect::Cancel { task: t }] if *t == task));
    assert!(s.tests.is_empty());
    assert_eq!(s.answers["a"], TestAnswer::Cancelled);
    // The late result of the cancelled task does not overwrite the answer.
    update(
        &mut s,
        Action::TestDone {
            task,
            name: Some("a".into()),
            result: Err(ConnError::new(ErrorKind::Cancelled, "")),
        },
    );
    assert_eq!(s.answers["a"], TestAnswer::Cancelled);
}

#[test]
fn lockout_guard_asks_before_testing_again() {
    let mut s = state_with(&["a"]);
    let fx = update(&mut s, ch('t'));
    let Effect::TestSaved { task, .. } = fx[0] else {
        panic!()
    };
    update(
        &mut s,
        Action::TestRefused {
            task,
            name: Some("a".into()),
            message: "3 consecutive failed logins".into(),
            lockout: true,
        },
    );
    assert_eq!(s.confirm, Some(Confirm::ForceTest("a".into())));
    let fx = update(&mut s, ch('y'));
    assert!(matches!(&fx[..], [Effect::TestSaved { force: true, .. }]));
}

#[test]
fn v_shows_last_test_details() {
    let mut s = State::new("default");
    let mut c = conn("a", Kind::Postgres);
    c.last_test = Some(TestOutcome {
        at: 0,
        ok: false,
        status: "Invalid credentials".into(),
        error: Some("28P01 password authentication failed for user app".into()),
        latency_ms: None,
        server_version: None,
        tls: None,
    });
    set_connections(&mut s, vec![c], None);
    update(&mut s, ch('v'));
    let p = s.popup.clone().expect("popup");
    assert!(p.text.contains("28P01"));
    update(&mut s, key(KeyCode::Esc));
    assert!(s.popup.is_none());
}

// ------------------------------------------------------------------ picker

#[test]
fn picker_lists_all_kinds_and_first_letter_cycles() {
    let mut s = state_with(&[]);
    update(&mut s, ch('n'));
    assert_eq!(s.screen, Screen::Picker);
    update(&mut s, ch('m'));
    assert_eq!(Kind::ALL[s.picker], Kind::Mysql);
    update(&mut s, ch('m'));
    assert_eq!(Kind::ALL[s.picker], Kind::Mongodb);
    update(&mut s, ch('s'));
    assert_eq!(Kind::ALL[s.picker], Kind::Sqlserver);
    update(&mut s, ch('s'));
    assert_eq!(Kind::ALL[s.picker], Kind::Sqlite);
    update(&mut s, ch('p'));
    assert_eq!(Kind::ALL[s.picker], Kind::Postgres);
    update(&mut s, key(KeyCode::Down));
    update(&mut s, ch('j'));
    assert_eq!(Kind::ALL[s.picker], Kind::Mongodb);
    update(&mut s, ch('k'));
    assert_eq!(Kind::ALL[s.picker], Kind::Mysql);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::List);
}

#[test]
fn oracle_is_selectable_with_its_own_fields() {
    let mut s = state_with(&[]);
    update(&mut s, ch('n'));
    update(&mut s, ch('o'));
    // Oracle became available (thin driver); it was this test's unavailable kind.
    assert!(Kind::Oracle.availability().is_ok());
    update(&mut s, key(KeyCode::Enter));
    let form = s.form.as_ref().unwrap();
    assert_eq!(form.kind, Kind::Oracle);
    assert_eq!(form.text(FieldId::Conn(Field::Port)), "1521");
    assert!(form.field(FieldId::Conn(Field::ServiceName)).is_some());
}

// ------------------------------------------------------------------ form

fn new_pg_form(s: &mut State) {
    update(s, ch('n'));
    update(s, ch('p'));
    update(s, key(KeyCode::Enter));
}

#[test]
fn form_has_kind_fields_and_default_port() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    let form = s.form.as_ref().unwrap();
    let ids: Vec<FieldId> = form.fields.iter().map(|f| f.id).collect();
    assert_eq!(ids[0], FieldId::Name);
    assert_eq!(ids[1], FieldId::Url);
    for f in Kind::Postgres.fields() {
        assert!(ids.contains(&FieldId::Conn(*f)), "{f:?}");
    }
    assert_eq!(*ids.last().unwrap(), FieldId::Environment);
    assert_eq!(form.text(FieldId::Conn(Field::Port)), "5432");
    // SQLite has only a file path.
    let mut s = state_with(&[]);
    update(&mut s, ch('n'));
    update(&mut s, ch('s'));
    update(&mut s, ch('s'));
    update(&mut s, key(KeyCode::Enter));
    let form = s.form.as_ref().unwrap();
    assert!(form.field(FieldId::Conn(Field::Path)).is_some());
    assert!(form.field(FieldId::Conn(Field::Host)).is_none());
}

/// A new SQLite form named `name` with `path` typed into its Path field.
fn sqlite_form(s: &mut State, name: &str, path: &str) {
    update(s, ch('n'));
    update(s, ch('s'));
    update(s, ch('s'));
    update(s, key(KeyCode::Enter));
    typed(s, name);
    for _ in 0..10 {
        if s.form.as_ref().unwrap().focused_field() == Some(FieldId::Conn(Field::Path)) {
            break;
        }
        update(s, key(KeyCode::Tab));
    }
    assert_eq!(
        s.form.as_ref().unwrap().focused_field(),
        Some(FieldId::Conn(Field::Path))
    );
    typed(s, path);
}

#[test]
fn a_sqlite_file_that_does_not_exist_is_refused_in_words_by_test_and_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let shown = path.display().to_string();
    let mut s = state_with(&[]);
    sqlite_form(&mut s, "lite", &shown);
    // Test: nothing runs (opening would say "database not found" at best).
    assert!(update(&mut s, ctrl('t')).is_empty());
    match &s.form.as_ref().unwrap().answer {
        Some(TestAnswer::Refused(m)) => {
            assert!(m.contains(&format!("no file at '{shown}'")), "{m}");
            assert!(m.contains("never creates"), "{m}");
        }
        other => panic!("no answer in words: {other:?}"),
    }
    // Save: nothing is saved, and the form says why.
    assert!(update(&mut s, ctrl('s')).is_empty());
    let form = s.form.as_ref().unwrap();
    assert!(!form.saving);
    let e = form.save_error.as_deref().unwrap_or_default();
    assert!(
        e.contains(&format!("cannot save: no file at '{shown}'")),
        "{e}"
    );
    assert!(!path.exists(), "nothing created the file");
    // A directory is not a database file either.
    let mut d = state_with(&[]);
    sqlite_form(&mut d, "dir", &dir.path().display().to_string());
    assert!(update(&mut d, ctrl('s')).is_empty());
    let e = d
        .form
        .as_ref()
        .unwrap()
        .save_error
        .clone()
        .unwrap_or_default();
    assert!(e.contains("is not a file"), "{e}");
    // Once the file exists, Test and Save go ahead.
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        &update(&mut s, ctrl('t'))[..],
        [Effect::TestForm { .. }]
    ));
    assert!(matches!(
        &update(&mut s, ctrl('s'))[..],
        [Effect::Save { .. }]
    ));
}

#[test]
fn tab_and_shift_tab_move_through_fields_and_buttons() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    assert_eq!(
        s.form.as_ref().unwrap().focused_field(),
        Some(FieldId::Name)
    );
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.form.as_ref().unwrap().focused_field(), Some(FieldId::Url));
    update(&mut s, shift_tab());
    update(&mut s, shift_tab());
    assert_eq!(s.form.as_ref().unwrap().focus, FormFocus::SaveButton);
    update(&mut s, shift_tab());
    assert_eq!(s.form.as_ref().unwrap().focus, FormFocus::TestButton);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(
        s.form.as_ref().unwrap().focused_field(),
        Some(FieldId::Name)
    );
}

#[test]
fn validation_names_the_bad_field_as_you_type() {
    let mut s = state_with(&["taken"]);
    new_pg_form(&mut s);
    assert_eq!(
        s.form.as_ref().unwrap().error.as_ref().unwrap().field,
        "name"
    );
    typed(&mut s, "taken");
    let e = s.form.as_ref().unwrap().error.clone().unwrap();
    assert_eq!(e.field, "name");
    assert!(e.message.contains("already exists"), "{}", e.message);
    typed(&mut s, "2");
    // Next missing thing: the user.
    assert_eq!(
        s.form.as_ref().unwrap().error.as_ref().unwrap().field,
        "user"
    );
    focus_field(&mut s, FieldId::Conn(Field::User));
    typed(&mut s, "bob");
    assert!(s.form.as_ref().unwrap().error.is_none());
    focus_field(&mut s, FieldId::Conn(Field::Port));
    typed(&mut s, "99");
    let e = s.form.as_ref().unwrap().error.clone().unwrap();
    assert_eq!(e.field, "port");
    assert!(e.message.contains("out of range"), "{}", e.message);
    clear_field(&mut s);
    typed(&mut s, "x");
    assert_eq!(
        s.form.as_ref().unwrap().error.as_ref().unwrap().field,
        "port"
    );
    clear_field(&mut s);
    typed(&mut s, "6543");
    assert!(s.form.as_ref().unwrap().error.is_none());
    // Save refuses while invalid and says why.
    focus_field(&mut s, FieldId::Conn(Field::Host));
    clear_field(&mut s);
    assert_eq!(
        s.form.as_ref().unwrap().error.as_ref().unwrap().field,
        "host"
    );
    assert!(update(&mut s, ctrl('s')).is_empty());
    assert!(s.form.as_ref().unwrap().save_error.is_some());
}

#[test]
fn url_field_fills_the_others_and_moves_the_password() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    typed(&mut s, "shop");
    update(&mut s, key(KeyCode::Tab));
    update(
        &mut s,
        Action::Paste("postgres://bob:s3cret@db.example:6543/sales?sslmode=require".into()),
    );
    let form = s.form.as_ref().unwrap();
    assert_eq!(form.text(FieldId::Conn(Field::Host)), "db.example");
    assert_eq!(form.text(FieldId::Conn(Field::Port)), "6543");
    assert_eq!(form.text(FieldId::Conn(Field::User)), "bob");
    assert_eq!(form.text(FieldId::Conn(Field::Database)), "sales");
    assert_eq!(form.text(FieldId::Conn(Field::Password)), "s3cret");
    assert_eq!(form.tls, TlsMode::Require);
    assert!(
        !form.text(FieldId::Url).contains("s3cret"),
        "the password leaves the URL field"
    );
    assert!(form.error.is_none(), "{:?}", form.error);
}

#[test]
fn url_of_another_engine_switches_the_form_kind() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, Action::Paste("mariadb://root@localhost/app".into()));
    let form = s.form.as_ref().unwrap();
    assert_eq!(form.kind, Kind::Mysql);
    assert_eq!(form.text(FieldId::Conn(Field::Port)), "3306");
}

#[test]
fn pasted_ado_net_string_fills_a_sql_server_form_and_moves_the_password() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    update(&mut s, key(KeyCode::Tab));
    update(
        &mut s,
        Action::Paste(
            "Server=tcp:shop.database.windows.net,1433;Initial Catalog=sales;User ID=app;\
             Password={s3c;ret};Encrypt=Strict;ApplicationIntent=ReadOnly;"
                .into(),
        ),
    );
    let form = s.form.as_ref().unwrap();
    assert_eq!(form.kind, Kind::Sqlserver);
    assert_eq!(
        form.text(FieldId::Conn(Field::Host)),
        "shop.database.windows.net"
    );
    assert_eq!(form.text(FieldId::Conn(Field::Port)), "1433");
    assert_eq!(form.text(FieldId::Conn(Field::User)), "app");
    assert_eq!(form.text(FieldId::Conn(Field::Database)), "sales");
    assert_eq!(form.text(FieldId::Conn(Field::Password)), "s3c;ret");
    assert_eq!(form.tls, TlsMode::VerifyFull);
    assert_eq!(
        form.base.options.get("encrypt").map(String::as_str),
        Some("strict")
    );
    assert!(
        !form.text(FieldId::Url).contains("s3c;ret"),
        "the password leaves the URL field"
    );
}

#[test]
fn selectors_cycle_tls_and_environment() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    focus_field(&mut s, FieldId::Conn(Field::TlsMode));
    assert_eq!(s.form.as_ref().unwrap().tls, TlsMode::Prefer);
    update(&mut s, key(KeyCode::Right));
    assert_eq!(s.form.as_ref().unwrap().tls, TlsMode::Require);
    update(&mut s, key(KeyCode::Left));
    update(&mut s, key(KeyCode::Left));
    assert_eq!(s.form.as_ref().unwrap().tls, TlsMode::Disable);
    focus_field(&mut s, FieldId::Environment);
    update(&mut s, key(KeyCode::Left));
    assert_eq!(
        s.form.as_ref().unwrap().environment,
        Environment::Production
    );
    assert!(s.production_open(), "the frame turns red");
    update(&mut s, ch(' '));
    assert_eq!(s.form.as_ref().unwrap().environment, Environment::None);
}

#[test]
fn oracle_selectors_choose_sid_and_driver() {
    let mut s = state_with(&[]);
    update(&mut s, ch('n'));
    update(&mut s, ch('o'));
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.form.as_ref().unwrap().kind, Kind::Oracle);
    let opt = |s: &State, k: &str| s.form.as_ref().unwrap().base.options.get(k).cloned();
    focus_field(&mut s, FieldId::Conn(Field::ConnectBy));
    assert_eq!(opt(&s, "connect_by"), None, "a service name by default");
    update(&mut s, key(KeyCode::Right));
    assert_eq!(opt(&s, "connect_by").as_deref(), Some("sid"));
    update(&mut s, key(KeyCode::Left));
    assert_eq!(opt(&s, "connect_by"), None);
    focus_field(&mut s, FieldId::Conn(Field::Driver));
    assert_eq!(opt(&s, "driver"), None, "the thin driver by default");
    update(&mut s, key(KeyCode::Right));
    assert_eq!(opt(&s, "driver").as_deref(), Some("thick"));
    // Typing does not go into a selector.
    update(&mut s, ch('x'));
    assert_eq!(opt(&s, "driver").as_deref(), Some("thick"));
}

fn filled_pg_form(s: &mut State) {
    new_pg_form(s);
    typed(s, "shop");
    focus_field(s, FieldId::Conn(Field::User));
    typed(s, "bob");
    update(s, key(KeyCode::Tab));
    assert_eq!(
        s.form.as_ref().unwrap().focused_field(),
        Some(FieldId::Conn(Field::Password))
    );
    typed(s, "pw");
}

#[test]
fn ctrl_t_tests_the_form_and_esc_cancels() {
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    let fx = update(&mut s, ctrl('t'));
    let task = match &fx[..] {
        [Effect::TestForm {
            task,
            spec,
            password: FormPassword::Typed(p),
        }] => {
            assert_eq!(spec.user, "bob");
            assert_eq!(spec.port, Some(5432));
            assert_eq!(p.expose_secret(), "pw");
            *task
        }
        other => panic!("unexpected {other:?}"),
    };
    tick(&mut s, Duration::from_millis(700));
    assert_eq!(
        s.form.as_ref().unwrap().test.as_ref().unwrap().elapsed,
        Duration::from_millis(700)
    );
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(matches!(&fx[..], [Effect::Cancel { task: t }] if *t == task));
    assert_eq!(s.screen, Screen::Form, "Esc cancels the test, not the form");
    assert_eq!(s.form.as_ref().unwrap().answer, Some(TestAnswer::Cancelled));
    update(
        &mut s,
        Action::TestDone {
            task,
            name: None,
            result: Ok(info()),
        },
    );
    assert_eq!(
        s.form.as_ref().unwrap().answer,
        Some(TestAnswer::Cancelled),
        "late result ignored"
    );
}

#[test]
fn test_answers_are_one_line_in_plain_words() {
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    let Effect::TestForm { task, .. } = update(&mut s, ctrl('t')).remove(0) else {
        panic!()
    };
    update(
        &mut s,
        Action::TestDone {
            task,
            name: None,
            result: Ok(info()),
        },
    );
    let a = s.form.as_ref().unwrap().answer.clone().unwrap();
    let line = varlor::app::update::answer_line(&a);
    assert!(
        line.contains("PostgreSQL 16.4") && line.contains("12 ms"),
        "{line}"
    );

    let Effect::TestForm { task, .. } = update(&mut s, ctrl('t')).remove(0) else {
        panic!()
    };
    update(
        &mut s,
        Action::TestDone {
            task,
            name: None,
            result: Err(ConnError::new(
                ErrorKind::InvalidCredentials,
                "28P01 password authentication failed",
            )),
        },
    );
    let a = s.form.as_ref().unwrap().answer.clone().unwrap();
    let line = varlor::app::update::answer_line(&a);
    assert!(line.contains("Invalid credentials"), "{line}");
    assert!(!line.contains("28P01"), "detail only on request");
    update(&mut s, ctrl('e'));
    assert!(s.popup.as_ref().unwrap().text.contains("28P01"));
}

#[test]
fn ctrl_s_saves_and_returns_to_the_list_on_the_new_row() {
    let mut s = state_with(&["aaa", "zzz"]);
    filled_pg_form(&mut s);
    let fx = update(&mut s, ctrl('s'));
    match &fx[..] {
        [Effect::Save {
            old_name: None,
            new,
            password: Some(Some(p)),
            tested: None,
            keep_for_new_target: false,
        }] => {
            assert_eq!(new.name, "shop");
            assert_eq!(new.spec.user, "bob");
            assert_eq!(new.password_source, PasswordSource::Vault);
            assert_eq!(p.expose_secret(), "pw");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(update(&mut s, ctrl('s')).is_empty(), "one save at a time");
    let mut saved = conn("shop", Kind::Postgres);
    saved.spec.user = "bob".into();
    let fx = update(&mut s, Action::Saved(Ok(saved)));
    assert!(matches!(&fx[..], [Effect::LoadConnections { select: Some(n) }] if n == "shop"));
    assert_eq!(s.screen, Screen::List);
    assert_eq!(highlighted(&s), "shop");
}

#[test]
fn save_error_stays_on_the_form() {
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    update(&mut s, ctrl('s'));
    update(
        &mut s,
        Action::Saved(Err("catalog error: disk full".into())),
    );
    assert_eq!(s.screen, Screen::Form);
    assert!(s.form.as_ref().unwrap().save_error.is_some());
    assert!(!s.form.as_ref().unwrap().saving);
}

#[test]
fn buttons_act_on_enter() {
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    while s.form.as_ref().unwrap().focus != FormFocus::TestButton {
        update(&mut s, key(KeyCode::Tab));
    }
    assert!(matches!(
        &update(&mut s, key(KeyCode::Enter))[..],
        [Effect::TestForm { .. }]
    ));
    update(&mut s, key(KeyCode::Tab));
    assert!(matches!(
        &update(&mut s, key(KeyCode::Enter))[..],
        [Effect::Save { .. }]
    ));
}

#[test]
fn editing_keeps_the_stored_password_unless_typed_or_cleared() {
    let mut s = state_with(&["a"]);
    update(&mut s, ch('e'));
    assert_eq!(s.screen, Screen::Form);
    assert_eq!(s.form.as_ref().unwrap().text(FieldId::Name), "a");
    assert_eq!(
        s.form
            .as_ref()
            .unwrap()
            .text(FieldId::Conn(Field::Password)),
        "",
        "the stored password is never loaded into the form"
    );
    // Test uses the stored secret.
    assert!(matches!(
        &update(&mut s, ctrl('t'))[..],
        [Effect::TestForm { password: FormPassword::Stored(n), .. }] if n == "a"
    ));
    update(&mut s, key(KeyCode::Esc));
    match &update(&mut s, ctrl('s'))[..] {
        [Effect::Save {
            old_name: Some(o),
            password: None,
            new,
            ..
        }] => {
            assert_eq!(o, "a");
            assert_eq!(new.password_source, PasswordSource::Vault);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Clear explicitly.
    let mut s = state_with(&["a"]);
    update(&mut s, ch('e'));
    focus_field(&mut s, FieldId::Conn(Field::Password));
    update(&mut s, ctrl('x'));
    assert!(s.form.as_ref().unwrap().clear_password);
    match &update(&mut s, ctrl('s'))[..] {
        [Effect::Save {
            password: Some(None),
            new,
            ..
        }] => assert_eq!(new.password_source, PasswordSource::None),
        other => panic!("unexpected {other:?}"),
    }
    // Replace by typing.
    let mut s = state_with(&["a"]);
    update(&mut s, ch('e'));
    focus_field(&mut s, FieldId::Conn(Field::Password));
    typed(&mut s, "new");
    assert!(matches!(
        &update(&mut s, ctrl('s'))[..],
        [Effect::Save { password: Some(Some(p)), .. }] if p.expose_secret() == "new"
    ));
}

/// Opens the edit form of "a" and points it at another host.
fn edit_to_new_host(s: &mut State) {
    update(s, ch('e'));
    focus_field(s, FieldId::Conn(Field::Host));
    clear_field(s);
    typed(s, "evil.example");
}

#[test]
fn a_changed_target_asks_before_the_stored_password_follows() {
    // Save asks, naming both targets; `n` drops the stored password.
    let mut s = state_with(&["a"]);
    edit_to_new_host(&mut s);
    assert!(update(&mut s, ctrl('s')).is_empty(), "nothing saved yet");
    match &s.confirm {
        Some(Confirm::KeepPassword { from, to }) => {
            assert!(from.contains("app@localhost"), "{from}");
            assert!(to.contains("app@evil.example"), "{to}");
        }
        other => panic!("expected the question, got {other:?}"),
    }
    match &update(&mut s, ch('n'))[..] {
        [Effect::Save {
            password: Some(None),
            keep_for_new_target: false,
            ..
        }] => {}
        other => panic!("unexpected {other:?}"),
    }
    // `y` keeps it, explicitly.
    let mut s = state_with(&["a"]);
    edit_to_new_host(&mut s);
    update(&mut s, ctrl('s'));
    match &update(&mut s, ch('y'))[..] {
        [Effect::Save {
            password: None,
            keep_for_new_target: true,
            new,
            ..
        }] => assert_eq!(new.spec.host, "evil.example"),
        other => panic!("unexpected {other:?}"),
    }
    // Esc goes back to the form with nothing saved.
    let mut s = state_with(&["a"]);
    edit_to_new_host(&mut s);
    update(&mut s, ctrl('s'));
    assert!(update(&mut s, key(KeyCode::Esc)).is_empty());
    assert!(s.confirm.is_none());
    assert_eq!(s.screen, Screen::Form);
    // A typed password needs no question: it is for the new target.
    focus_field(&mut s, FieldId::Conn(Field::Password));
    typed(&mut s, "fresh");
    assert!(matches!(
        &update(&mut s, ctrl('s'))[..],
        [Effect::Save { password: Some(Some(p)), keep_for_new_target: false, .. }]
            if p.expose_secret() == "fresh"
    ));
}

#[test]
fn the_form_test_never_sends_the_stored_password_to_a_changed_target() {
    let mut s = state_with(&["a"]);
    edit_to_new_host(&mut s);
    assert!(
        update(&mut s, ctrl('t')).is_empty(),
        "no test runs with the old password"
    );
    match &s.form.as_ref().unwrap().answer {
        Some(TestAnswer::Refused(m)) => {
            assert!(m.contains("type the password"), "{m}")
        }
        other => panic!("unexpected {other:?}"),
    }
    // Back to the saved host: the stored password may be used again.
    focus_field(&mut s, FieldId::Conn(Field::Host));
    clear_field(&mut s);
    typed(&mut s, "localhost");
    assert!(matches!(
        &update(&mut s, ctrl('t'))[..],
        [Effect::TestForm { password: FormPassword::Stored(n), .. }] if n == "a"
    ));
}

#[test]
fn renaming_to_itself_is_not_a_duplicate() {
    let mut s = state_with(&["a", "b"]);
    update(&mut s, ch('e'));
    assert!(s.form.as_ref().unwrap().error.is_none());
    typed(&mut s, "x");
    clear_field(&mut s);
    typed(&mut s, "b");
    assert_eq!(
        s.form.as_ref().unwrap().error.as_ref().unwrap().field,
        "name"
    );
}

#[test]
fn esc_leaves_the_form() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::List);
    assert!(s.form.is_none());
}

// ------------------------------------------------------------------ unlock

#[test]
fn unlock_prompt_retries_on_a_wrong_passphrase_then_resumes() {
    let mut s = state_with(&["a"]);
    update(&mut s, ch('t'));
    update(
        &mut s,
        Action::NeedsUnlock {
            initialised: true,
            pending: Pending::TestConnection { name: "a".into() },
        },
    );
    assert!(s.tests.is_empty());
    assert!(!s.unlock.as_ref().unwrap().create);
    // Empty passphrase: says so.
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s.unlock.as_ref().unwrap().error.is_some());
    typed(&mut s, "wrong");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::Unlock { passphrase, create: false }] if passphrase.expose_secret() == "wrong")
    );
    assert!(s.unlock.as_ref().unwrap().busy);
    // Keys wait while unlocking.
    assert!(update(&mut s, ch('x')).is_empty());
    update(&mut s, Action::Unlocked(Err("wrong passphrase".into())));
    let p = s.unlock.as_ref().unwrap();
    assert_eq!(p.error.as_deref(), Some("wrong passphrase"));
    assert!(p.input.lines().join("").is_empty());
    typed(&mut s, "right");
    update(&mut s, key(KeyCode::Enter));
    let fx = update(&mut s, Action::Unlocked(Ok(())));
    assert!(s.unlock.is_none());
    assert!(matches!(&fx[..], [Effect::TestSaved { name, .. }] if name == "a"));
}

#[test]
fn first_run_creates_the_vault_with_the_passphrase_twice() {
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    update(&mut s, ctrl('s'));
    update(
        &mut s,
        Action::NeedsUnlock {
            initialised: false,
            pending: Pending::SaveForm,
        },
    );
    assert!(s.unlock.as_ref().unwrap().create);
    typed(&mut s, "one");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.unlock.as_ref().unwrap().focus_confirm);
    typed(&mut s, "two");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s
        .unlock
        .as_ref()
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .contains("differ"));
    typed(&mut s, "same");
    update(&mut s, key(KeyCode::Tab));
    typed(&mut s, "same");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(matches!(&fx[..], [Effect::Unlock { create: true, .. }]));
    let fx = update(&mut s, Action::Unlocked(Ok(())));
    assert!(matches!(&fx[..], [Effect::Save { .. }]), "the save resumes");
}

#[test]
fn esc_on_the_prompt_gives_up() {
    let mut s = state_with(&["a"]);
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Browser);
    update(
        &mut s,
        Action::NeedsUnlock {
            initialised: true,
            pending: Pending::OpenBrowser { name: "a".into() },
        },
    );
    update(&mut s, key(KeyCode::Esc));
    assert!(s.unlock.is_none());
    assert_eq!(s.screen, Screen::List);
}

// ------------------------------------------------------------------ browser

fn table(schema: &str, name: &str, system: bool) -> TableRef {
    TableRef {
        schema: Some(schema.into()),
        name: name.into(),
        kind: TableKind::Table,
        estimated_rows: Some(42),
        system,
    }
}

fn open_browser(s: &mut State, tables: Vec<TableRef>) -> TaskId {
    let fx = update(s, key(KeyCode::Enter));
    let task = match &fx[..] {
        [Effect::OpenBrowser { task, name, .. }] => {
            assert_eq!(name, &highlighted(s));
            *task
        }
        other => panic!("unexpected {other:?}"),
    };
    update(
        s,
        Action::TablesLoaded {
            task,
            conn: highlighted(s),
            result: Ok(tables),
        },
    );
    task
}

#[test]
fn browser_hides_system_schemas_and_filters_fuzzily() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "orders", false),
            table("pg_catalog", "pg_class", true),
            table("public", "order_items", false),
            table("sales", "customers", false),
        ],
    );
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.visible.len(), 3);
    update(&mut s, ch('s'));
    assert_eq!(s.browser.as_ref().unwrap().visible.len(), 4);
    update(&mut s, ch('s'));
    update(&mut s, ch('/'));
    typed(&mut s, "oit");
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.visible.len(), 1);
    assert_eq!(b.highlighted().unwrap().name, "order_items");
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, key(KeyCode::Backspace));
    typed(&mut s, "sales.c");
    assert_eq!(
        s.browser.as_ref().unwrap().highlighted().unwrap().name,
        "customers"
    );
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.browser.as_ref().unwrap().visible.len(), 3);
}

#[test]
fn highlight_loads_structure_and_preview_once_cached() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![table("public", "a1", false), table("public", "a2", false)],
    );
    let fx = tick(&mut s, Duration::from_millis(100));
    let (dtask, ptask) = match &fx[..] {
        [Effect::Describe { task: d, table }, Effect::Preview { task: p, limit, .. }] => {
            assert_eq!(table.name, "a1");
            assert_eq!(*limit, 10);
            (*d, *p)
        }
        other => panic!("unexpected {other:?}"),
    };
    let _ = dtask;
    let info = TableInfo {
        table: table("public", "a1", false),
        columns: vec![ColumnInfo {
            name: "id".into(),
            data_type: "integer".into(),
            nullable: false,
            default: None,
            primary_key: true,
            references: None,
            presence: None,
        }],
        sampled: None,
        indexes: Vec::new(),
        validator: None,
        estimated_rows: Some(42),
    };
    let at = s.now;
    update(
        &mut s,
        Action::Described {
            conn: "a".into(),
            table: (Some("public".into()), "a1".into()),
            result: Ok(info),
            at,
        },
    );
    update(
        &mut s,
        Action::Previewed {
            task: ptask,
            table: (Some("public".into()), "a1".into()),
            result: Ok(RowSet {
                columns: vec![ColumnMeta {
                    name: "id".into(),
                    type_name: "int4".into(),
                    logical: Default::default(),
                }],
                rows: vec![vec![Cell::Int(1)], vec![Cell::Null]],
                elapsed: Duration::ZERO,
                documents: Vec::new(),
            }),
        },
    );
    assert!(s.cache["a"]
        .structures
        .contains_key(&(Some("public".into()), "a1".into())));
    // Down then up: a1 is cached, so only the preview is fetched again.
    update(&mut s, ch('j'));
    assert_eq!(tick(&mut s, Duration::from_millis(100)).len(), 2);
    update(&mut s, ch('k'));
    let fx = tick(&mut s, Duration::from_millis(100));
    assert!(
        fx.iter().all(|e| !matches!(e, Effect::Describe { .. })),
        "{fx:?}"
    );
    // After five minutes the cache is stale.
    update(&mut s, ch('j'));
    tick(&mut s, Duration::from_secs(1));
    update(&mut s, ch('k'));
    let fx = tick(&mut s, Duration::from_secs(301));
    assert!(fx.iter().any(|e| matches!(e, Effect::Describe { .. })));
}

/// Moving the highlight quickly queues nothing stale: keys between two
/// ticks load only the table landed on, and what was still loading for the
/// table left is cancelled (which drops it on its own session: structure and
/// rows have one each, see connectors/lanes.rs).
#[test]
fn moving_on_cancels_the_stale_structure_and_preview() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "a1", false),
            table("public", "a2", false),
            table("public", "a3", false),
        ],
    );
    let fx = tick(&mut s, Duration::from_millis(100));
    let (d1, p1) = match &fx[..] {
        [Effect::Describe { task: d, .. }, Effect::Preview { task: p, .. }] => (*d, *p),
        other => panic!("unexpected {other:?}"),
    };
    update(&mut s, ch('j'));
    update(&mut s, ch('j'));
    let fx = tick(&mut s, Duration::from_millis(100));
    let cancelled: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Cancel { task } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec![d1, p1], "{fx:?}");
    let loads: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Describe { table, .. } => Some(("describe", table.name.as_str())),
            Effect::Preview { table, .. } => Some(("preview", table.name.as_str())),
            _ => None,
        })
        .collect();
    // a2 was passed over: never asked for; structure goes out first.
    assert_eq!(loads, vec![("describe", "a3"), ("preview", "a3")]);
}

#[test]
fn count_runs_in_background_is_cancellable_and_remembered() {
    let mut s = state_with(&["a"]);
    open_browser(&mut s, vec![table("public", "big", false)]);
    let fx = update(&mut s, ch('c'));
    let Effect::Count { task, .. } = fx[0] else {
        panic!()
    };
    assert!(update(&mut s, ch('c')).is_empty(), "one count at a time");
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(matches!(&fx[..], [Effect::Cancel { task: t }] if *t == task));
    assert_eq!(s.screen, Screen::Browser, "Esc cancelled the count only");
    let Effect::Count { task, .. } = update(&mut s, ch('c')).remove(0) else {
        panic!()
    };
    update(
        &mut s,
        Action::Counted {
            task,
            conn: "a".into(),
            table: (Some("public".into()), "big".into()),
            result: Ok(1_000_000),
        },
    );
    // Close and reopen: the count is still known.
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::List);
    open_browser(&mut s, vec![table("public", "big", false)]);
    assert_eq!(
        s.cache["a"].counts[&(Some("public".into()), "big".into())],
        CountState::Done(1_000_000)
    );
}

#[test]
fn space_selects_tables_and_r_reconnects() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![table("public", "t1", false), table("public", "t2", false)],
    );
    update(&mut s, ch(' '));
    update(&mut s, ch(' '));
    assert_eq!(s.browser.as_ref().unwrap().chosen.len(), 2);
    update(&mut s, ch('k'));
    update(&mut s, ch(' '));
    assert_eq!(s.browser.as_ref().unwrap().chosen.len(), 1);
    s.cache.entry("a".into()).or_default();
    let fx = update(&mut s, ch('r'));
    let task = match &fx[..] {
        [Effect::Reconnect { task }] => *task,
        other => panic!("unexpected {other:?}"),
    };
    assert!(!s.cache.contains_key("a"), "structure cache dropped");
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "a".into(),
            result: Err(ConnError::new(ErrorKind::ConnectionLost, "eof")),
        },
    );
    assert_eq!(
        s.browser.as_ref().unwrap().error.as_ref().unwrap().kind,
        ErrorKind::ConnectionLost
    );
    assert_eq!(s.screen, Screen::Browser, "the app keeps running");
}

#[test]
fn preview_scrolls_and_enter_shows_a_full_cell() {
    let mut s = state_with(&["a"]);
    open_browser(&mut s, vec![table("public", "t", false)]);
    let fx = tick(&mut s, Duration::from_millis(100));
    let ptask = fx
        .iter()
        .find_map(|e| match e {
            Effect::Preview { task, .. } => Some(*task),
            _ => None,
        })
        .unwrap();
    let long = "x".repeat(200);
    update(
        &mut s,
        Action::Previewed {
            task: ptask,
            table: (Some("public".into()), "t".into()),
            result: Ok(RowSet {
                columns: vec![
                    ColumnMeta {
                        name: "a".into(),
                        type_name: "text".into(),
                        logical: Default::default(),
                    },
                    ColumnMeta {
                        name: "b".into(),
                        type_name: "text".into(),
                        logical: Default::default(),
                    },
                ],
                rows: vec![vec![Cell::Null, Cell::Text(long.clone())]],
                elapsed: Duration::ZERO,
                documents: Vec::new(),
            }),
        },
    );
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.browser.as_ref().unwrap().focus, BrowserFocus::Preview);
    update(&mut s, ch('l'));
    update(&mut s, ch('l'));
    assert_eq!(
        s.browser
            .as_ref()
            .unwrap()
            .preview
            .as_ref()
            .unwrap()
            .col_offset,
        1
    );
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.popup.as_ref().unwrap().text, long);
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('h'));
    update(&mut s, key(KeyCode::Enter));
    assert!(s.popup.as_ref().unwrap().text.contains("NULL"));
}

#[test]
fn esc_while_connecting_cancels_then_leaves() {
    let mut s = state_with(&["a"]);
    let fx = update(&mut s, key(KeyCode::Enter));
    let Effect::OpenBrowser { task, .. } = fx[0] else {
        panic!()
    };
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(matches!(&fx[..], [Effect::Cancel { task: t }] if *t == task));
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(fx.iter().any(|e| matches!(e, Effect::CloseBrowser)));
    assert_eq!(s.screen, Screen::List);
}

#[test]
fn production_browser_turns_the_frame_red() {
    let mut s = State::new("default");
    let mut c = conn("prod", Kind::Postgres);
    c.environment = Environment::Production;
    set_connections(&mut s, vec![c], None);
    assert!(!s.production_open());
    update(&mut s, key(KeyCode::Enter));
    assert!(s.production_open());
}

#[test]
fn filtering_ten_thousand_tables_keeps_the_highlight_valid() {
    let mut s = state_with(&["a"]);
    let tables: Vec<TableRef> = (0..10_000)
        .map(|i| table(&format!("s{}", i % 10), &format!("table_{i}"), false))
        .collect();
    open_browser(&mut s, tables);
    update(&mut s, ch('G'));
    update(&mut s, ch('/'));
    typed(&mut s, "table_9999");
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.visible.len(), 1);
    assert_eq!(b.highlighted().unwrap().name, "table_9999");
    let _ = Instant::now();
}

#[test]
fn a_fresh_successful_test_is_saved_with_the_connection() {
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    let Effect::TestForm { task, .. } = update(&mut s, ctrl('t')).remove(0) else {
        panic!()
    };
    update(
        &mut s,
        Action::TestDone {
            task,
            name: None,
            result: Ok(info()),
        },
    );
    assert!(matches!(
        &update(&mut s, ctrl('s'))[..],
        [Effect::Save {
            tested: Some(TestAnswer::Ok { .. }),
            ..
        }]
    ));
    // Editing a field after the test makes it stale.
    update(&mut s, Action::Saved(Err("x".into())));
    typed(&mut s, "x");
    assert!(matches!(
        &update(&mut s, ctrl('s'))[..],
        [Effect::Save { tested: None, .. }]
    ));
}

// ------------------------------------------------------------------ import

#[test]
fn i_imports_the_chosen_tables_with_progress_and_cancel() {
    use varlor::dataset::{Format, ImportEvent};
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "t1", false),
            table("public", "t2", false),
            table("public", "t3", false),
        ],
    );
    update(&mut s, ch(' '));
    update(&mut s, ch(' '));
    update(&mut s, ch('i'));
    let d = s.import_dialog.as_ref().expect("dialog");
    assert_eq!(d.tables.len(), 2);
    update(&mut s, key(KeyCode::Left));
    assert_eq!(
        s.import_dialog.as_ref().unwrap().format,
        Format::Parquet,
        "the choice wraps to the last format"
    );
    update(&mut s, key(KeyCode::Right));
    update(&mut s, key(KeyCode::Right));
    assert_eq!(s.import_dialog.as_ref().unwrap().format, Format::Csv);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    typed(&mut s, "5x0");
    assert_eq!(
        s.import_dialog.as_ref().unwrap().limit.lines().join(""),
        "50",
        "only digits"
    );
    let fx = update(&mut s, key(KeyCode::Enter));
    let task = match &fx[..] {
        [Effect::Import {
            task,
            tables,
            format: Format::Csv,
            destination: None,
            ..
        }] => {
            assert_eq!(tables.len(), 2);
            assert!(tables.iter().all(|t| t.limit == Some(50)));
            *task
        }
        other => panic!("unexpected {other:?}"),
    };
    assert!(s.import_dialog.is_none());
    update(
        &mut s,
        Action::ImportEvent {
            task,
            event: ImportEvent::TableStarted {
                index: 0,
                table: "public.t1".into(),
                estimated_rows: Some(42),
            },
        },
    );
    update(
        &mut s,
        Action::ImportEvent {
            task,
            event: ImportEvent::Progress {
                index: 0,
                rows: 21,
                estimated_rows: Some(42),
                rows_per_sec: 100.0,
                eta: Some(Duration::from_millis(210)),
            },
        },
    );
    let imp = s.import.as_ref().unwrap();
    assert_eq!(imp.rows[0].rows, 21);
    assert_eq!(imp.rows[0].status, ImportRowStatus::Running);
    // Keys do not leak to the browser while importing; Esc cancels.
    assert!(update(&mut s, ch('q')).is_empty());
    assert!(!s.quit);
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(matches!(&fx[..], [Effect::Cancel { task: t }] if *t == task));
    assert!(s.import.as_ref().unwrap().cancelling);
}

#[test]
fn import_dialog_esc_closes_and_bad_limit_is_named() {
    let mut s = state_with(&["a"]);
    open_browser(&mut s, vec![table("public", "t1", false)]);
    update(&mut s, ch('i'));
    assert_eq!(
        s.import_dialog.as_ref().unwrap().tables.len(),
        1,
        "the highlighted table"
    );
    update(&mut s, key(KeyCode::Esc));
    assert!(s.import_dialog.is_none());
    assert_eq!(s.screen, Screen::Browser);
    update(&mut s, ch('i'));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    typed(&mut s, "0");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s
        .import_dialog
        .as_ref()
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .contains("Row limit"));
}

#[test]
fn import_dialog_filters_are_per_table() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "t1", false),
            table("public", "t2", false),
            table("public", "t3", false),
        ],
    );
    update(&mut s, ch(' '));
    update(&mut s, ch(' '));
    update(&mut s, ch(' '));
    update(&mut s, ch('i'));
    // Format, Destination, Row limit, Table, Where.
    for _ in 0..4 {
        update(&mut s, key(KeyCode::Tab));
    }
    assert_eq!(s.import_dialog.as_ref().unwrap().focus, 4);
    typed(&mut s, "id > 1");
    // Back to Table, ← wraps to the last table, its own empty filter.
    update(&mut s, shift_tab());
    update(&mut s, key(KeyCode::Left));
    assert_eq!(s.import_dialog.as_ref().unwrap().current, 2);
    update(&mut s, key(KeyCode::Tab));
    typed(&mut s, " x = 'a b' ");
    // Ctrl-J/M do not add a line (Enter would start the import).
    update(&mut s, ctrl('j'));
    update(&mut s, ctrl('m'));
    let d = s.import_dialog.as_ref().unwrap();
    assert_eq!(d.filters[2].lines().len(), 1);
    assert_eq!(d.filter(0).as_deref(), Some("id > 1"));
    assert_eq!(d.filter(1), None);
    assert_eq!(d.filter(2).as_deref(), Some("x = 'a b'"), "trimmed");
    // Space/← → on Table cycle; they do not type into the filter there.
    update(&mut s, shift_tab());
    update(&mut s, ch(' '));
    assert_eq!(s.import_dialog.as_ref().unwrap().current, 0);
    assert_eq!(
        s.import_dialog.as_ref().unwrap().filter(0).as_deref(),
        Some("id > 1")
    );
    let fx = update(&mut s, key(KeyCode::Enter));
    match &fx[..] {
        [Effect::Import { tables, .. }] => {
            let filters: Vec<(String, Option<String>)> = tables
                .iter()
                .map(|t| (t.table.name.clone(), t.filter.clone()))
                .collect();
            assert_eq!(
                filters,
                vec![
                    ("t1".to_string(), Some("id > 1".to_string())),
                    ("t2".to_string(), None),
                    ("t3".to_string(), Some("x = 'a b'".to_string())),
                ]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let imp = s.import.as_ref().unwrap();
    assert_eq!(
        imp.rows[0].estimated, None,
        "no estimate for a filtered table"
    );
    assert_eq!(imp.rows[1].estimated, Some(42));
}

#[test]
fn r_after_a_failed_first_connect_opens_again() {
    let mut s = state_with(&["a"]);
    let Effect::OpenBrowser { task, .. } = update(&mut s, key(KeyCode::Enter)).remove(0) else {
        panic!()
    };
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "a".into(),
            result: Err(ConnError::new(ErrorKind::ConnectionRefused, "refused")),
        },
    );
    assert!(matches!(
        &update(&mut s, ch('r'))[..],
        [Effect::OpenBrowser { name, .. }] if name == "a"
    ));
}

#[test]
fn json_cells_are_shown_indented() {
    let v = varlor::app::update::full_value(&Cell::Text(r#"{"a":[1,2]}"#.into()));
    assert!(v.contains("\n  \"a\""), "{v}");
    assert_eq!(
        varlor::app::update::full_value(&Cell::Text("{not json".into())),
        "{not json"
    );
    assert!(varlor::app::update::full_value(&Cell::Text(String::new())).contains("empty"));
    assert!(varlor::app::update::full_value(&Cell::Bytes(vec![0xde, 0xad])).contains("dead"));
}

#[test]
fn a_connection_that_asks_every_time_prompts_for_its_password() {
    let mut s = state_with(&["a"]);
    update(&mut s, ch('t'));
    update(
        &mut s,
        Action::NeedsPassword {
            pending: Pending::TestConnection { name: "a".into() },
        },
    );
    assert_eq!(s.unlock.as_ref().unwrap().connection.as_deref(), Some("a"));
    assert!(s.tests.is_empty());
    typed(&mut s, "pw1");
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(s.unlock.is_none());
    assert!(matches!(
        &fx[..],
        [Effect::TestSaved { name, prompted: Some(p), .. }] if name == "a" && p.expose_secret() == "pw1"
    ));
    assert!(s.tests.contains_key("a"));
}

// ------------------------------------------------------------------ secrets

const CANARY: &str = "Canary-7f3e-pw";

/// Every text the State holds that a typed secret could end up in: inputs
/// (with their yank buffers), messages, the list and the caches.
fn all_text(s: &State) -> String {
    fn area(t: &tui_textarea::TextArea) -> String {
        format!("{}\n{}\n", t.lines().join("\n"), t.yank_text())
    }
    let mut out = String::new();
    if let Some(f) = &s.form {
        for field in &f.fields {
            out += &area(&field.input);
        }
        out += &format!("{:?}{:?}{:?}", f.base, f.answer, f.save_error);
    }
    if let Some(u) = &s.unlock {
        out += &area(&u.input);
        out += &area(&u.confirm);
        out += &format!("{:?}", u.error);
    }
    if let Some(d) = &s.import_dialog {
        out += &area(&d.destination);
        out += &area(&d.limit);
        for f in &d.filters {
            out += &area(f);
        }
    }
    out += &format!(
        "{:?}{:?}{:?}{:?}{:?}{}",
        s.connections, s.answers, s.status, s.popup, s.confirm, s.filter
    );
    out
}

fn type_canary_password(s: &mut State) {
    filled_pg_form(s);
    clear_field(s);
    typed(s, CANARY);
    // The helper sees a secret where it lives (so the checks below can fail).
    assert!(all_text(s).contains(CANARY));
}

#[test]
fn esc_on_the_form_leaves_no_typed_password() {
    let mut s = state_with(&[]);
    type_canary_password(&mut s);
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.confirm, Some(Confirm::DiscardForm), "changed: asks first");
    update(&mut s, ch('y'));
    assert!(s.form.is_none());
    assert!(!all_text(&s).contains(CANARY));
}

#[test]
fn save_leaves_no_typed_password() {
    let mut s = state_with(&[]);
    type_canary_password(&mut s);
    let fx = update(&mut s, ctrl('s'));
    assert!(matches!(
        &fx[..],
        [Effect::Save { password: Some(Some(p)), .. }] if p.expose_secret() == CANARY
    ));
    update(&mut s, Action::Saved(Ok(conn("shop", Kind::Postgres))));
    assert!(s.form.is_none());
    assert!(!all_text(&s).contains(CANARY));
}

#[test]
fn a_password_in_a_pasted_url_does_not_linger() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    focus_field(&mut s, FieldId::Url);
    update(
        &mut s,
        Action::Paste(format!("postgres://bob:{CANARY}@db.example:5432/shop")),
    );
    let f = s.form.as_ref().unwrap();
    assert_eq!(f.text(FieldId::Conn(Field::Password)), CANARY);
    assert!(!f.text(FieldId::Url).contains(CANARY), "URL field scrubbed");
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('y'));
    assert!(s.form.is_none());
    assert!(!all_text(&s).contains(CANARY));
}

#[test]
fn a_cleared_password_cannot_be_brought_back() {
    let mut s = state_with(&[]);
    type_canary_password(&mut s);
    // Cut to the start of the line, then undo and paste: nothing comes back.
    update(&mut s, key(KeyCode::Home));
    update(&mut s, ctrl('k'));
    assert_eq!(
        s.form
            .as_ref()
            .unwrap()
            .text(FieldId::Conn(Field::Password)),
        ""
    );
    update(&mut s, ctrl('u'));
    update(&mut s, ctrl('y'));
    assert_eq!(
        s.form
            .as_ref()
            .unwrap()
            .text(FieldId::Conn(Field::Password)),
        ""
    );
    assert!(!all_text(&s).contains(CANARY));
}

#[test]
fn the_unlock_prompt_keeps_no_passphrase() {
    let mut s = state_with(&["a"]);
    let needs_unlock = |s: &mut State| {
        update(
            s,
            Action::NeedsUnlock {
                initialised: true,
                pending: Pending::TestConnection { name: "a".into() },
            },
        );
    };
    // Esc.
    needs_unlock(&mut s);
    typed(&mut s, CANARY);
    assert!(all_text(&s).contains(CANARY));
    update(&mut s, key(KeyCode::Esc));
    assert!(s.unlock.is_none());
    assert!(!all_text(&s).contains(CANARY));
    // Enter: the passphrase is in the effect only, then a wrong one is wiped.
    needs_unlock(&mut s);
    typed(&mut s, CANARY);
    let fx = update(&mut s, key(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::Unlock { passphrase, .. }] if passphrase.expose_secret() == CANARY)
    );
    assert!(!all_text(&s).contains(CANARY));
    update(&mut s, Action::Unlocked(Err("wrong passphrase".into())));
    assert!(!all_text(&s).contains(CANARY));
    // A connection's own password goes to the pending test, not the State.
    update(
        &mut s,
        Action::NeedsPassword {
            pending: Pending::TestConnection { name: "a".into() },
        },
    );
    typed(&mut s, CANARY);
    update(&mut s, key(KeyCode::Enter));
    assert!(s.unlock.is_none());
    assert!(!all_text(&s).contains(CANARY));
}

#[test]
fn wipe_input_empties_lines_and_yank() {
    let mut t = tui_textarea::TextArea::new(vec![CANARY.to_string()]);
    t.set_yank_text(CANARY);
    wipe_input(&mut t);
    assert_eq!(t.lines().join(""), "");
    assert_eq!(t.yank_text(), "");
    assert!(!t.undo(), "no history to undo into");
}

/// The README's keys table is the one the key tables generate: keys, hints
/// and help cannot drift apart. `VARLOR_BLESS=1` rewrites the README.
#[test]
fn readme_keys_table_matches_the_key_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- keys:start -->\n", "<!-- keys:end -->");
    let a = readme.find(start).expect("README has <!-- keys:start -->") + start.len();
    let b = readme.find(end).expect("README has <!-- keys:end -->");
    let table = varlor::app::keys::markdown();
    if std::env::var_os("VARLOR_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..a], table, &readme[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[a..b],
        table,
        "README keys table is out of date: run with VARLOR_BLESS=1"
    );
}

#[test]
fn every_binding_has_help_and_the_help_overlay_lists_the_pane_keys() {
    use varlor::app::keys;
    let mut s = state_with(&["a"]);
    let help: Vec<String> = keys::help(&s).iter().map(|(k, _)| k.to_string()).collect();
    for k in [
        "j/k ↑↓",
        "g/G Home/End",
        "PgDn/PgUp",
        "Enter",
        "?",
        "Ctrl-C",
    ] {
        assert!(help.iter().any(|h| h == k), "list help lacks {k}: {help:?}");
    }
    // The preview pane: its own keys first, then the browser's.
    open_browser(&mut s, vec![table("public", "t", false)]);
    s.browser.as_mut().unwrap().focus = BrowserFocus::Preview;
    let help: Vec<String> = keys::help(&s).iter().map(|(k, _)| k.to_string()).collect();
    for k in [
        "h/l ←→",
        "j/k ↑↓",
        "0/$ Home/End",
        "Enter",
        "/",
        "space",
        "Tab",
    ] {
        assert!(
            help.iter().any(|h| h == k),
            "preview help lacks {k}: {help:?}"
        );
    }
    // A binding with a label has words.
    assert!(keys::help(&s).iter().all(|(_, what)| !what.is_empty()));
}

// ------------------------------------------------------------------ exit status and background unlock

#[test]
fn ctrl_c_quits_with_status_130_and_q_with_0() {
    let mut s = state_with(&["a"]);
    update(&mut s, ch('q'));
    assert!(s.quit);
    assert_eq!(s.exit_code, 0);
    let mut s = state_with(&["a"]);
    update(&mut s, ctrl('c'));
    assert!(s.quit);
    assert_eq!(s.exit_code, 130);
}

#[test]
fn a_termination_signal_quits_with_its_status() {
    let mut s = state_with(&["a"]);
    update(&mut s, Action::Terminate(143));
    assert!(s.quit);
    assert_eq!(s.exit_code, 143);
}

#[test]
fn the_background_unlock_reports_its_outcome() {
    let mut s = state_with(&["a"]);
    s.unlocking = true;
    update(&mut s, Action::EnvUnlocked(Ok(())));
    assert!(!s.unlocking);
    assert_eq!(s.status.as_ref().unwrap().text, "Vault unlocked");
    s.unlocking = true;
    update(&mut s, Action::EnvUnlocked(Err("wrong passphrase".into())));
    assert!(!s.unlocking);
    let st = s.status.as_ref().unwrap();
    assert_eq!(st.kind, StatusKind::Error);
    assert!(st.text.contains("wrong passphrase") && st.text.contains("VARLOR_PASSPHRASE_FILE"));
}

#[test]
fn pasted_control_sequences_never_reach_an_input_field() {
    let mut s = state_with(&[]);
    new_pg_form(&mut s);
    focus_field(&mut s, FieldId::Conn(Field::Host));
    clear_field(&mut s);
    update(
        &mut s,
        Action::Paste("db\u{1b}]0;pwned\u{07}.example\u{202e}\n".into()),
    );
    let host = s.form.as_ref().unwrap().text(FieldId::Conn(Field::Host));
    assert_eq!(host, "db]0;pwned.example");
    assert!(!host.chars().any(char::is_control));
}

#[test]
fn shift_l_locks_the_vault_here_and_in_the_agent() {
    let mut s = state_with(&["a"]);
    assert!(matches!(&update(&mut s, ch('L'))[..], [Effect::LockVault]));
    update(&mut s, Action::Locked(Ok(2)));
    let st = s.status.as_ref().unwrap();
    assert_eq!(st.kind, StatusKind::Info);
    assert!(st.text.contains("Vault locked"), "{}", st.text);
    update(&mut s, Action::Locked(Err("agent: broken pipe".into())));
    assert_eq!(s.status.as_ref().unwrap().kind, StatusKind::Error);
}

#[test]
fn the_browser_filter_lands_on_an_exact_match_before_look_alikes() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "AlbumArtistBridge", false),
            table("public", "A_l_b_u_m", false),
            table("public", "Album", false),
            table("public", "Albums", false),
        ],
    );
    update(&mut s, ch('/'));
    typed(&mut s, "Album");
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.highlighted().map(|t| t.name.as_str()), Some("Album"));
    // Every look-alike is still listed.
    assert_eq!(b.visible.len(), 4);
    // A prefix beats a fuzzy match.
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('/'));
    typed(&mut s, "albums");
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.highlighted().map(|t| t.name.as_str()), Some("Albums"));
}

#[test]
fn open_goes_straight_to_a_connections_browser() {
    let mut s = state_with(&["a", "b"]);
    let effects = varlor::app::update::open_connection(&mut s, "b");
    assert!(matches!(&effects[..], [Effect::OpenBrowser { name, .. }] if name == "b"));
    assert_eq!(s.screen, Screen::Browser);
    let mut s = state_with(&["a"]);
    assert!(varlor::app::update::open_connection(&mut s, "nope").is_empty());
    assert_eq!(s.status.as_ref().unwrap().kind, StatusKind::Error);
}

#[test]
fn ssh_via_is_typed_or_picked_from_the_ssh_config_and_reaches_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::write(
        &cfg,
        "Host bastion\n  HostName 10.0.0.1\nHost *.internal\n  User x\nHost jump db-gw\n",
    )
    .unwrap();
    // Only this test of this binary reads the variable.
    std::env::set_var("VARLOR_SSH_CONFIG", &cfg);
    let spec_of = |fx: &[Effect]| match fx {
        [Effect::TestForm { spec, .. }] => spec.clone(),
        other => panic!("{other:?}"),
    };

    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    focus_field(&mut s, FieldId::Conn(Field::SshVia));
    let text = |s: &State| s.form.as_ref().unwrap().text(FieldId::Conn(Field::SshVia));
    // Ctrl-O walks the aliases (wildcards left out) and wraps.
    for want in ["bastion", "jump", "db-gw", "bastion"] {
        update(&mut s, ctrl('o'));
        assert_eq!(text(&s), want);
    }
    let spec = spec_of(&update(&mut s, ctrl('t')));
    assert_eq!(spec.options.get("ssh").map(String::as_str), Some("bastion"));

    // Typed by hand: user@host:port.
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    focus_field(&mut s, FieldId::Conn(Field::SshVia));
    typed(&mut s, "ops@gw.example:2222");
    let spec = spec_of(&update(&mut s, ctrl('t')));
    assert_eq!(
        spec.options.get("ssh").map(String::as_str),
        Some("ops@gw.example:2222")
    );

    // Empty: no tunnel.
    let mut s = state_with(&[]);
    filled_pg_form(&mut s);
    let spec = spec_of(&update(&mut s, ctrl('t')));
    assert_eq!(spec.options.get("ssh"), None);
}

fn preview_task(fx: &[Effect]) -> Option<(TaskId, String)> {
    fx.iter().find_map(|e| match e {
        Effect::Preview { task, table, .. } => Some((*task, table.name.clone())),
        _ => None,
    })
}

#[test]
fn slash_again_selects_the_filter_typing_replaces_it_arrow_keeps_it() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "orders", false),
            table("public", "order_items", false),
            table("public", "customers", false),
        ],
    );
    update(&mut s, ch('/'));
    typed(&mut s, "ord");
    update(&mut s, key(KeyCode::Enter));
    // `/` again: the old text is selected, a new name replaces it.
    update(&mut s, ch('/'));
    assert!(s.browser.as_ref().unwrap().filter_selected);
    typed(&mut s, "cust");
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.filter, "cust");
    assert_eq!(b.highlighted().unwrap().name, "customers");
    // `/` then → keeps the text and edits its end.
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, ch('/'));
    update(&mut s, key(KeyCode::Right));
    typed(&mut s, "omers");
    assert_eq!(
        s.browser.as_ref().unwrap().filter,
        "custguomers".replace("gu", "")
    );
    assert!(!s.browser.as_ref().unwrap().filter_selected);
    // Ctrl-U erases to the start, as in a shell.
    update(&mut s, ctrl('u'));
    assert_eq!(s.browser.as_ref().unwrap().filter, "");
    // The list's filter behaves the same.
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('q'));
    assert_eq!(
        s.screen,
        Screen::List,
        "q in the browser goes back to the list"
    );
    assert!(!s.quit);
    update(&mut s, ch('/'));
    typed(&mut s, "zz");
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, ch('/'));
    typed(&mut s, "a");
    assert_eq!(s.filter, "a");
    assert_eq!(highlighted(&s), "a");
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('q'));
    assert!(s.quit, "q on the list quits");
}

#[test]
fn after_the_filter_changes_the_panes_follow_the_highlight() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "alpha", false),
            table("public", "beta", false),
            table("public", "gamma", false),
        ],
    );
    let fx = tick(&mut s, Duration::from_millis(100));
    assert_eq!(preview_task(&fx).unwrap().1, "alpha");
    update(&mut s, ch('/'));
    typed(&mut s, "gam");
    let fx = tick(&mut s, Duration::from_millis(100));
    assert_eq!(preview_task(&fx).unwrap().1, "gamma");
    // Nothing matches: the old preview is cancelled and dropped.
    typed(&mut s, "zzz");
    let fx = tick(&mut s, Duration::from_millis(100));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Cancel { .. })),
        "{fx:?}"
    );
    assert!(s.browser.as_ref().unwrap().preview.is_none());
    assert!(s.browser.as_ref().unwrap().highlighted().is_none());
    // Back to "gam", kept; then Esc clears it: the highlight stays on gamma.
    for _ in 0..3 {
        update(&mut s, key(KeyCode::Backspace));
    }
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.browser.as_ref().unwrap().highlighted().unwrap().name,
        "gamma"
    );
    update(&mut s, key(KeyCode::Esc));
    let b = s.browser.as_ref().unwrap();
    assert_eq!(b.filter, "");
    assert_eq!(
        b.highlighted().unwrap().name,
        "gamma",
        "kept after clearing"
    );
    assert!(b.load_due || b.preview.as_ref().is_some_and(|p| p.table.1 == "gamma"));
    let fx = tick(&mut s, Duration::from_millis(100));
    if let Some((_, name)) = preview_task(&fx) {
        assert_eq!(name, "gamma");
    }
    assert_eq!(
        s.browser
            .as_ref()
            .unwrap()
            .preview
            .as_ref()
            .unwrap()
            .table
            .1,
        "gamma"
    );
}

#[test]
fn r_keeps_the_highlighted_table() {
    let mut s = state_with(&["a"]);
    open_browser(
        &mut s,
        vec![
            table("public", "a1", false),
            table("public", "a2", false),
            table("public", "a3", false),
        ],
    );
    update(&mut s, ch('j'));
    update(&mut s, ch('j'));
    let fx = update(&mut s, ch('r'));
    let task = match &fx[..] {
        [Effect::Reconnect { task }] => *task,
        other => panic!("unexpected {other:?}"),
    };
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "a".into(),
            // A new table sorts before it: the index moves, the table does not.
            result: Ok(vec![
                table("public", "a0", false),
                table("public", "a1", false),
                table("public", "a2", false),
                table("public", "a3", false),
            ]),
        },
    );
    assert_eq!(
        s.browser.as_ref().unwrap().highlighted().unwrap().name,
        "a3"
    );
}

#[test]
fn f1_opens_help_on_every_screen_and_question_mark_types_in_the_form() {
    let mut s = state_with(&["a"]);
    new_pg_form(&mut s);
    update(&mut s, ch('?'));
    assert!(!s.help);
    assert_eq!(s.form.as_ref().unwrap().text(FieldId::Name), "?");
    update(&mut s, key(KeyCode::F(1)));
    assert!(s.help);
    assert!(
        varlor::app::keys::help(&s)
            .iter()
            .any(|(k, _)| *k == "Ctrl-T"),
        "the form's keys"
    );
    assert!(
        varlor::ui::hints(&s).contains(&("F1", "help")) || {
            s.help = false;
            let h = varlor::ui::hints(&s);
            s.help = true;
            h.contains(&("F1", "help"))
        }
    );
    update(&mut s, key(KeyCode::F(1)));
    assert!(!s.help, "F1 closes it too");
    // Over a dialog, help describes the dialog.
    s.confirm = Some(Confirm::DiscardForm);
    update(&mut s, key(KeyCode::F(1)));
    assert!(varlor::app::keys::help(&s).iter().any(|(k, _)| *k == "y"));
    // q closes the help; it never quits from there.
    update(&mut s, ch('q'));
    assert!(!s.help && !s.quit);
}

#[test]
fn esc_on_a_changed_form_asks_before_discarding() {
    let mut s = state_with(&["a"]);
    new_pg_form(&mut s);
    // Unchanged: Esc leaves at once.
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::List);
    assert!(s.confirm.is_none());
    new_pg_form(&mut s);
    typed(&mut s, "mine");
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.confirm, Some(Confirm::DiscardForm));
    update(&mut s, ch('n'));
    assert_eq!(s.screen, Screen::Form, "n keeps editing");
    assert_eq!(s.form.as_ref().unwrap().text(FieldId::Name), "mine");
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, ch('y'));
    assert_eq!(s.screen, Screen::List);
    assert!(s.form.is_none());
    // A selector change counts as a change too; undoing it does not.
    new_pg_form(&mut s);
    focus_field(&mut s, FieldId::Environment);
    update(&mut s, key(KeyCode::Right));
    update(&mut s, key(KeyCode::Left));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::List, "back as opened: no question");
}

#[test]
fn ctrl_u_erases_to_the_start_of_the_field_as_in_a_shell() {
    let mut s = state_with(&["a"]);
    new_pg_form(&mut s);
    typed(&mut s, "hello world");
    update(&mut s, key(KeyCode::Left));
    update(&mut s, key(KeyCode::Left));
    update(&mut s, ctrl('u'));
    assert_eq!(s.form.as_ref().unwrap().text(FieldId::Name), "ld");
    update(&mut s, key(KeyCode::End));
    typed(&mut s, " two");
    update(&mut s, ctrl('w'));
    assert_eq!(s.form.as_ref().unwrap().text(FieldId::Name), "ld ");
    // The password field too, leaving nothing to yank back.
    focus_field(&mut s, FieldId::Conn(Field::Password));
    typed(&mut s, "s3cret");
    update(&mut s, ctrl('u'));
    let f = s.form.as_ref().unwrap();
    assert_eq!(f.text(FieldId::Conn(Field::Password)), "");
    assert_eq!(
        f.field(FieldId::Conn(Field::Password))
            .unwrap()
            .input
            .yank_text(),
        ""
    );
}

#[test]
fn a_fresh_form_is_not_touched_until_the_person_acts() {
    let mut s = state_with(&["a"]);
    new_pg_form(&mut s);
    let f = s.form.as_ref().unwrap();
    assert!(f.error.is_some(), "still invalid");
    assert!(!f.touched, "but nothing is shouted yet");
    update(&mut s, ctrl('s'));
    assert!(s.form.as_ref().unwrap().touched, "Save shows why not");
}

#[test]
fn y_copies_the_highlighted_cell_and_shift_y_its_row() {
    let mut s = state_with(&["a"]);
    open_browser(&mut s, vec![table("public", "t", false)]);
    let (ptask, _) = preview_task(&tick(&mut s, Duration::from_millis(100))).unwrap();
    let meta = |n: &str| ColumnMeta {
        name: n.into(),
        type_name: "text".into(),
        logical: Default::default(),
    };
    update(
        &mut s,
        Action::Previewed {
            task: ptask,
            table: (Some("public".into()), "t".into()),
            result: Ok(RowSet {
                columns: vec![meta("id"), meta("note"), meta("secret_col")],
                rows: vec![
                    vec![
                        Cell::Int(1),
                        Cell::Text("plain".into()),
                        Cell::Text("s1".into()),
                    ],
                    vec![
                        Cell::Int(2),
                        Cell::Text("evil\x1b]0;x\x07\tand\nmore".into()),
                        Cell::Null,
                    ],
                ],
                elapsed: Duration::ZERO,
                documents: Vec::new(),
            }),
        },
    );
    // Not in the preview pane: y does nothing.
    update(&mut s, ch('y'));
    assert!(s.clipboard.is_none());
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, ch('j'));
    update(&mut s, ch('l'));
    update(&mut s, ch('y'));
    // The raw value of the chosen column only (the terminal gets it base64).
    assert_eq!(
        s.clipboard.take().as_deref(),
        Some("evil\x1b]0;x\x07\tand\nmore")
    );
    let st = s.status.as_ref().unwrap();
    assert!(
        st.text.contains("Copied 19 bytes (note, row 2)"),
        "{}",
        st.text
    );
    assert!(varlor::ui::hints(&s).contains(&("y/Y", "copy")));
    update(&mut s, ch('Y'));
    assert_eq!(
        s.clipboard.take().as_deref(),
        Some("2\t\"evil\x1b]0;x\x07\tand\nmore\"\t")
    );
}

// ------------------------------------------------------------ ssh's questions

const HOST_KEY_QUESTION: &str = "The authenticity of host '[127.0.0.1]:2222 ([127.0.0.1]:2222)' can't be established.\nED25519 key fingerprint is SHA256:Xq1mN3Zp0d5kYQ7pE4m0vT1bW2c3d4e5f6g7h8i9j0k.\nThis key is not known by any other names.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? ";

fn ssh_asks(s: &mut State, id: u64, q: varlor::ssh::askpass::Question) {
    assert!(update(s, Action::SshQuestion { id, question: q }).is_empty());
}

/// The one `SshAnswer` among the effects: (id, answer in the clear).
fn ssh_answer(out: &[Effect]) -> Option<(u64, Option<String>)> {
    out.iter().find_map(|e| match e {
        Effect::SshAnswer { id, answer } => {
            Some((*id, answer.as_ref().map(|a| a.expose_secret().to_string())))
        }
        _ => None,
    })
}

#[test]
fn ssh_passphrase_question_is_typed_masked_and_enter_sends_it() {
    use varlor::ssh::askpass::Question;
    let mut s = state_with(&["prod"]);
    ssh_asks(
        &mut s,
        7,
        Question::Secret("Enter passphrase for key '/home/a/.ssh/id': ".into()),
    );
    assert_eq!(s.layer(), Layer::SshPrompt);
    // Keys go to the answer, not the list below ('d' would ask to delete, 'q' quit).
    assert!(typed(&mut s, "dq s3cret").is_empty());
    assert!(s.confirm.is_none() && !s.quit);
    let p = s.ssh_prompts.front().unwrap();
    assert_eq!(p.input.mask_char(), Some(MASK), "typed masked");
    assert_eq!(p.input.lines().join(""), "dq s3cret");
    let out = update(&mut s, key(KeyCode::Enter));
    assert_eq!(ssh_answer(&out), Some((7, Some("dq s3cret".into()))));
    assert!(s.ssh_prompts.is_empty());
    assert_eq!(s.layer(), Layer::List);
    assert_eq!(highlighted(&s), "prod", "the list is as it was");
}

#[test]
fn esc_refuses_ssh_s_question() {
    use varlor::ssh::askpass::Question;
    let mut s = state_with(&["prod"]);
    ssh_asks(
        &mut s,
        3,
        Question::Secret("varlor@bastion's password: ".into()),
    );
    typed(&mut s, "half");
    let out = update(&mut s, key(KeyCode::Esc));
    assert_eq!(ssh_answer(&out), Some((3, None)));
    assert!(s.ssh_prompts.is_empty());
    assert_eq!(s.layer(), Layer::List);
    assert!(s.status.as_ref().unwrap().text.contains("Refused"));
}

#[test]
fn a_host_key_needs_yes_typed_enter_alone_does_not_accept() {
    use varlor::ssh::askpass::Question;
    let mut s = state_with(&["prod"]);
    ssh_asks(&mut s, 1, Question::Confirm(HOST_KEY_QUESTION.into()));
    assert!(
        update(&mut s, key(KeyCode::Enter)).is_empty(),
        "Enter alone accepts nothing"
    );
    let p = s.ssh_prompts.front().unwrap();
    assert!(p.error.as_deref().unwrap().contains("yes or no"));
    assert_eq!(p.input.mask_char(), None, "yes/no is typed in the clear");
    typed(&mut s, "sure");
    assert!(
        update(&mut s, key(KeyCode::Enter)).is_empty(),
        "only yes or no"
    );
    assert_eq!(s.layer(), Layer::SshPrompt);
    for _ in 0..4 {
        update(&mut s, key(KeyCode::Backspace));
    }
    typed(&mut s, "YES");
    let out = update(&mut s, key(KeyCode::Enter));
    assert_eq!(ssh_answer(&out), Some((1, Some("yes".into()))));

    ssh_asks(&mut s, 2, Question::Confirm(HOST_KEY_QUESTION.into()));
    typed(&mut s, "n");
    let out = update(&mut s, key(KeyCode::Enter));
    assert_eq!(ssh_answer(&out), Some((2, Some("no".into()))));

    // A pasted fingerprint is passed on for ssh to compare.
    ssh_asks(&mut s, 4, Question::Confirm(HOST_KEY_QUESTION.into()));
    update(&mut s, Action::Paste("SHA256:abc\x1b[2J".into()));
    let out = update(&mut s, key(KeyCode::Enter));
    assert_eq!(ssh_answer(&out), Some((4, Some("SHA256:abc[2J".into()))));
}

#[test]
fn ssh_questions_come_one_after_the_other_above_every_overlay() {
    use varlor::ssh::askpass::Question;
    let mut s = state_with(&["prod"]);
    update(
        &mut s,
        Action::NeedsUnlock {
            initialised: true,
            pending: Pending::TestConnection {
                name: "prod".into(),
            },
        },
    );
    typed(&mut s, "vaultpw");
    s.help = true;
    ssh_asks(&mut s, 10, Question::Confirm(HOST_KEY_QUESTION.into()));
    ssh_asks(
        &mut s,
        11,
        Question::Secret("Enter passphrase for key 'k': ".into()),
    );
    assert_eq!(s.overlays().first(), Some(&Layer::SshPrompt));
    // F1 does not open help over it; Ctrl-U edits the answer.
    update(&mut s, key(KeyCode::F(1)));
    typed(&mut s, "yes");
    let out = update(&mut s, key(KeyCode::Enter));
    assert_eq!(ssh_answer(&out), Some((10, Some("yes".into()))));
    // The second question has its own overlay, with an empty answer.
    let p = s.ssh_prompts.front().unwrap();
    assert_eq!((p.id, p.input.lines().join("")), (11, String::new()));
    assert!(p.secret());
    typed(&mut s, "pp");
    let out = update(&mut s, key(KeyCode::Enter));
    assert_eq!(ssh_answer(&out), Some((11, Some("pp".into()))));
    // Underneath, the passphrase prompt still holds what was typed.
    assert_eq!(s.layer(), Layer::Unlock);
    assert_eq!(s.unlock.as_ref().unwrap().input.lines().join(""), "vaultpw");
}

#[test]
fn an_expired_ssh_question_closes_its_overlay_only() {
    use varlor::ssh::askpass::Question;
    let mut s = state_with(&["prod"]);
    ssh_asks(&mut s, 5, Question::Secret("pw: ".into()));
    ssh_asks(&mut s, 6, Question::Secret("pw2: ".into()));
    typed(&mut s, "ab");
    assert!(update(&mut s, Action::SshQuestionExpired { id: 6 }).is_empty());
    assert_eq!(s.ssh_prompts.len(), 1);
    assert_eq!(s.ssh_prompts[0].input.lines().join(""), "ab");
    update(&mut s, Action::SshQuestionExpired { id: 5 });
    assert!(s.ssh_prompts.is_empty());
    assert!(s.status.as_ref().unwrap().text.contains("unanswered"));
    // An answer after that has nothing to answer.
    assert!(update(&mut s, key(KeyCode::Enter))
        .iter()
        .all(|e| !matches!(e, Effect::SshAnswer { .. })));
}

#[test]
fn an_ssh_notice_is_a_status_line_not_a_question() {
    let mut s = state_with(&["prod"]);
    let text = "Confirm user presence for key ED25519-SK SHA256:abc\n".to_string();
    assert!(update(&mut s, Action::SshNotice { text }).is_empty());
    assert!(s.ssh_prompts.is_empty());
    assert_eq!(s.layer(), Layer::List);
    assert_eq!(
        s.status.as_ref().unwrap().text,
        "ssh: Confirm user presence for key ED25519-SK SHA256:abc"
    );
}
