//! Snapshots of every pane at 80×24 and 40×15 (ratatui TestBackend + insta).
//! Times are fixed in the state, so the frames are deterministic.

mod common;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use varlor::app::action::Action;
use varlor::app::state::*;
use varlor::app::update::{set_connections, update};
use varlor::connectors::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Environment, ErrorKind, Field, Kind,
    PasswordSource, RowSet, ServerInfo, TableInfo, TableKind, TableRef,
};
use varlor::store::{SavedConnection, TestOutcome};

const NOW: i64 = 1_760_000_000;
const SIZES: [(u16, u16); 2] = [(80, 24), (40, 15)];

fn render(state: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| varlor::ui::draw(f, state)).expect("draw");
    t.backend().to_string()
}

fn snap(name: &str, state: &State) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(state, w, h));
    }
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}
fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, key(KeyCode::Char(c)));
    }
}

fn conn(name: &str, kind: Kind, env: Environment, last: Option<TestOutcome>) -> SavedConnection {
    let mut spec = ConnSpec::new(kind);
    spec.user = "app".into();
    spec.host = "db.internal".into();
    spec.database = if kind == Kind::Sqlite {
        "/var/data/demo.db".into()
    } else {
        "shop".into()
    };
    SavedConnection {
        id: 1,
        name: name.into(),
        spec,
        environment: env,
        password_source: PasswordSource::Vault,
        has_secret: true,
        key_version: 1,
        created_at: 0,
        updated_at: 0,
        last_test: last,
        auth_failures: 0,
    }
}

fn outcome(ok: bool, minutes_ago: i64) -> TestOutcome {
    TestOutcome {
        at: NOW - minutes_ago * 60,
        ok,
        status: if ok { "ok" } else { "Invalid credentials" }.into(),
        error: (!ok).then(|| "28P01 password authentication failed".into()),
        latency_ms: ok.then_some(12),
        server_version: ok.then(|| "PostgreSQL 16.4".into()),
        tls: Some(false),
    }
}

fn base() -> State {
    let mut s = State::new("default");
    s.now_unix = NOW;
    s.loaded = true;
    s
}

fn listed() -> State {
    let mut s = base();
    set_connections(
        &mut s,
        vec![
            conn(
                "billing-prod",
                Kind::Postgres,
                Environment::Production,
                Some(outcome(true, 3)),
            ),
            conn(
                "crm-staging",
                Kind::Mysql,
                Environment::Staging,
                Some(outcome(false, 125)),
            ),
            conn("demo", Kind::Sqlite, Environment::Development, None),
            conn("warehouse", Kind::Postgres, Environment::None, None),
        ],
        None,
    );
    s
}

#[test]
fn empty_list() {
    snap("empty_list", &base());
}

#[test]
fn list_with_ok_failed_and_untested_rows() {
    snap("list", &listed());
}

#[test]
fn list_with_a_test_running() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('j')));
    update(&mut s, key(KeyCode::Char('j')));
    update(&mut s, key(KeyCode::Char('j')));
    update(&mut s, key(KeyCode::Char('t')));
    s.tests.get_mut("warehouse").unwrap().elapsed = Duration::from_millis(2300);
    snap("list_testing", &s);
}

#[test]
fn list_filtered_and_delete_confirm() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('/')));
    typed(&mut s, "bill");
    snap("list_filter", &s);
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, key(KeyCode::Char('d')));
    snap("list_confirm_delete", &s);
}

#[test]
fn picker() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('n')));
    update(&mut s, key(KeyCode::Char('o')));
    snap("picker", &s);
}

fn pg_form() -> State {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('n')));
    update(&mut s, key(KeyCode::Enter));
    typed(&mut s, "shop");
    s
}

#[test]
fn form_with_a_validation_error() {
    let mut s = pg_form();
    // Tab to the port and type a bad value.
    for _ in 0..3 {
        update(&mut s, key(KeyCode::Tab));
    }
    typed(&mut s, "99");
    assert_eq!(
        s.form.as_ref().unwrap().error.as_ref().unwrap().field,
        "port"
    );
    snap("form_error", &s);
}

#[test]
fn sqlite_form_with_a_missing_file() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('n')));
    update(&mut s, key(KeyCode::Char('s')));
    update(&mut s, key(KeyCode::Char('s')));
    update(&mut s, key(KeyCode::Enter));
    typed(&mut s, "lite");
    while s.form.as_ref().unwrap().focused_field() != Some(FieldId::Conn(Field::Path)) {
        update(&mut s, key(KeyCode::Tab));
    }
    typed(&mut s, "/nonexistent/varlor/app.db");
    update(&mut s, ctrl('t'));
    update(&mut s, ctrl('s'));
    let out = render(&s, 80, 24);
    assert!(
        out.contains("no file at '/nonexistent/varlor/app.db'"),
        "{out}"
    );
    snap("form_sqlite_missing_file", &s);
}

fn valid_form() -> State {
    let mut s = pg_form();
    for _ in 0..5 {
        update(&mut s, key(KeyCode::Tab));
    }
    typed(&mut s, "bob");
    update(&mut s, key(KeyCode::Tab));
    typed(&mut s, "secret");
    s
}

#[test]
fn form_test_in_progress() {
    let mut s = valid_form();
    update(&mut s, ctrl('t'));
    s.form.as_mut().unwrap().test.as_mut().unwrap().elapsed = Duration::from_millis(1200);
    let out = render(&s, 80, 24);
    assert!(!out.contains("secret"), "the password is masked");
    snap("form_testing", &s);
}

#[test]
fn form_test_failure_and_success() {
    let mut s = valid_form();
    let task = s.next_task;
    update(&mut s, ctrl('t'));
    // The hops come first; the failed one is named, and outside text in it
    // (a host name) goes through the display step.
    update(
        &mut s,
        Action::TestStages {
            task,
            line: "SSH bastion ✓ 41 ms (publickey) → tunnel to db\u{1b}[2J.internal:5432 ✓ → PostgreSQL login ✗".into(),
        },
    );
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
    assert!(
        !render(&s, 80, 24).contains('\u{1b}'),
        "no raw escape on screen"
    );
    snap("form_test_failed", &s);
    // A new test drops the old hops until its own arrive.
    let task = s.next_task;
    update(&mut s, ctrl('t'));
    update(
        &mut s,
        Action::TestDone {
            task,
            name: None,
            result: Ok(ServerInfo {
                version: "PostgreSQL 16.4".into(),
                latency: Duration::from_millis(12),
                tls: true,
            }),
        },
    );
    snap("form_test_ok", &s);
}

#[test]
fn production_form_edit() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('e')));
    let form = s.form.as_mut().unwrap();
    form.focus = FormFocus::Field(
        form.fields
            .iter()
            .position(|f| f.id == FieldId::Conn(Field::Password))
            .unwrap(),
    );
    snap("form_edit_production", &s);
}

#[test]
fn unlock_prompt() {
    let mut s = listed();
    update(
        &mut s,
        Action::NeedsUnlock {
            initialised: true,
            pending: Pending::TestConnection {
                name: "demo".into(),
            },
        },
    );
    typed(&mut s, "hunter2");
    let out = render(&s, 80, 24);
    assert!(!out.contains("hunter2"));
    snap("unlock", &s);
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, Action::Unlocked(Err("wrong passphrase".into())));
    snap("unlock_wrong", &s);
}

#[test]
fn create_vault_prompt() {
    let mut s = listed();
    update(
        &mut s,
        Action::NeedsUnlock {
            initialised: false,
            pending: Pending::SaveForm,
        },
    );
    snap("unlock_create", &s);
    // Enter on the first field moves to "Again": dialog and bar both say so,
    // then both say what Enter does there; no label touches the bullets.
    typed(&mut s, "pw");
    let frame = render(&s, 80, 24);
    assert_eq!(frame.matches("Enter next field").count(), 2, "{frame}");
    assert!(frame.contains("›Passphrase  ••"), "{frame}");
    update(&mut s, key(KeyCode::Enter));
    let frame = render(&s, 80, 24);
    assert_eq!(
        frame.matches("Enter create the vault").count(),
        2,
        "{frame}"
    );
    insta::assert_snapshot!("unlock_create_again_80x24", frame);
}

#[test]
fn help() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('?')));
    snap("help", &s);
}

#[test]
fn help_scrolls_when_it_does_not_fit() {
    let mut s = listed();
    update(
        &mut s,
        Action::Resize {
            width: 40,
            height: 15,
        },
    );
    update(&mut s, key(KeyCode::Char('?')));
    let top = render(&s, 40, 15);
    assert!(
        top.contains("more: j"),
        "an indicator of more below:\n{top}"
    );
    assert!(!top.contains("↑ more"), "{top}");
    update(&mut s, key(KeyCode::PageDown));
    let paged = render(&s, 40, 15);
    insta::assert_snapshot!("help_scrolled_40x15", paged);
    assert!(paged.contains("↑ more"), "{paged}");
    // The end shows the last line (F1, from every screen), nothing below.
    update(&mut s, key(KeyCode::End));
    let end = render(&s, 40, 15);
    assert!(end.contains("F1"), "{end}");
    assert!(!end.contains("more: j"), "{end}");
    // One line up moves at once (the scroll never runs past the end).
    update(&mut s, key(KeyCode::Char('k')));
    assert_ne!(render(&s, 40, 15), end);
    update(&mut s, key(KeyCode::Char('j')));
    assert_eq!(render(&s, 40, 15), end);
    update(&mut s, key(KeyCode::Down));
    assert_eq!(render(&s, 40, 15), end);
    update(&mut s, key(KeyCode::Home));
    assert_eq!(render(&s, 40, 15), top);
    update(&mut s, key(KeyCode::Char('j')));
    update(&mut s, key(KeyCode::PageUp));
    assert_eq!(render(&s, 40, 15), top);
    // Closed and opened again: from the top.
    update(&mut s, key(KeyCode::End));
    update(&mut s, key(KeyCode::Esc));
    update(&mut s, key(KeyCode::Char('?')));
    assert_eq!(render(&s, 40, 15), top);
    // At 80x24 the list help fits: no indicator, nothing moves.
    let mut wide = listed();
    update(&mut wide, key(KeyCode::Char('?')));
    let fits = render(&wide, 80, 24);
    assert!(!fits.contains("more"), "{fits}");
    update(&mut wide, key(KeyCode::PageDown));
    assert_eq!(render(&wide, 80, 24), fits);
}

fn t(schema: &str, name: &str, kind: TableKind, rows: Option<i64>) -> TableRef {
    TableRef {
        schema: Some(schema.into()),
        name: name.into(),
        kind,
        estimated_rows: rows,
        system: schema == "pg_catalog",
    }
}

fn browser() -> State {
    let mut s = listed();
    let task = s.next_task;
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "billing-prod".into(),
            result: Ok(vec![
                t("public", "customers", TableKind::Table, Some(52_000)),
                t("public", "orders", TableKind::Table, Some(1_250_000)),
                t("public", "order_totals", TableKind::View, None),
                t("sales", "Weird Name", TableKind::Table, Some(3)),
                t("sales", "ünïcödé", TableKind::MaterializedView, Some(12)),
                t("pg_catalog", "pg_class", TableKind::Table, Some(400)),
            ]),
        },
    );
    s
}

fn with_structure_and_preview(s: &mut State) {
    let now = s.now;
    let fx = update(s, Action::Tick { now, now_unix: NOW });
    let ptask = fx
        .iter()
        .find_map(|e| match e {
            varlor::app::Effect::Preview { task, .. } => Some(*task),
            _ => None,
        })
        .expect("preview effect");
    let key = (Some("public".to_string()), "customers".to_string());
    update(
        s,
        Action::Described {
            conn: "billing-prod".into(),
            table: key.clone(),
            result: Ok(TableInfo {
                table: t("public", "customers", TableKind::Table, Some(52_000)),
                columns: vec![
                    col(
                        "id",
                        "bigint",
                        false,
                        true,
                        Some("nextval('customers_id_seq')"),
                        None,
                    ),
                    col("email", "text", false, false, None, None),
                    col("name", "varchar(100)", true, false, None, None),
                    col(
                        "region_id",
                        "integer",
                        true,
                        false,
                        None,
                        Some("public.regions(id)"),
                    ),
                    col("avatar", "bytea", true, false, None, None),
                ],
                estimated_rows: Some(52_000),
                sampled: None,
                indexes: Vec::new(),
                validator: None,
            }),
            at: now,
        },
    );
    let meta = |n: &str, ty: &str| ColumnMeta {
        name: n.into(),
        type_name: ty.into(),
        logical: Default::default(),
    };
    update(
        s,
        Action::Previewed {
            task: ptask,
            table: key,
            result: Ok(RowSet {
                columns: vec![
                    meta("id", "int8"),
                    meta("email", "text"),
                    meta("name", "varchar"),
                    meta("region_id", "int4"),
                    meta("avatar", "bytea"),
                    meta("notes", "text"),
                ],
                rows: vec![
                    vec![
                        Cell::Int(1),
                        Cell::Text("ana@example.com".into()),
                        Cell::Text("Ana Łukasiewicz".into()),
                        Cell::Int(3),
                        Cell::Bytes(vec![0x89, 0x50, 0x4e, 0x47]),
                        Cell::Text("".into()),
                    ],
                    vec![
                        Cell::Int(2),
                        Cell::Text("王小明@example.cn".into()),
                        Cell::Null,
                        Cell::Null,
                        Cell::Bytes((0..=255).collect()),
                        Cell::Text("a very long note that goes on\nand on across lines".into()),
                    ],
                ],
                elapsed: Duration::from_millis(4),
                documents: Vec::new(),
            }),
        },
    );
}

fn col(
    name: &str,
    ty: &str,
    nullable: bool,
    pk: bool,
    default: Option<&str>,
    refs: Option<&str>,
) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        data_type: ty.into(),
        nullable,
        default: default.map(Into::into),
        primary_key: pk,
        references: refs.map(Into::into),
        presence: None,
    }
}

#[test]
fn browser_tables() {
    let mut s = browser();
    update(&mut s, key(KeyCode::Char(' ')));
    snap("browser", &s);
}

#[test]
fn browser_connecting() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Enter));
    s.browser
        .as_mut()
        .unwrap()
        .loading
        .as_mut()
        .unwrap()
        .elapsed = Duration::from_millis(800);
    snap("browser_connecting", &s);
}

#[test]
fn browser_structure_and_preview() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    snap("browser_structure", &s);
    update(&mut s, key(KeyCode::Tab));
    snap("structure_focused", &s);
    update(&mut s, key(KeyCode::Tab));
    snap("preview", &s);
    update(&mut s, key(KeyCode::Char('l')));
    update(&mut s, key(KeyCode::Char('l')));
    update(&mut s, key(KeyCode::Char('j')));
    snap("preview_scrolled", &s);
}

#[test]
fn browser_sampled_structure() {
    // A MongoDB collection: field paths, presence and BSON types with shares.
    let mut s = browser();
    let now = s.now;
    update(&mut s, Action::Tick { now, now_unix: NOW });
    let field = |name: &str, ty: &str, p: f32| ColumnInfo {
        name: name.into(),
        data_type: ty.into(),
        nullable: p < 1.0,
        default: None,
        primary_key: name == "_id",
        references: None,
        presence: Some(p),
    };
    update(
        &mut s,
        Action::Described {
            conn: "billing-prod".into(),
            table: (Some("public".to_string()), "customers".to_string()),
            result: Ok(TableInfo {
                table: t(
                    "public",
                    "customers",
                    TableKind::Collection,
                    Some(2_400_000),
                ),
                columns: vec![
                    field("_id", "objectId 100%", 1.0),
                    field("email", "string 100%", 0.9),
                    field("mixed", "string 33%, int 33%, object 33%", 0.75),
                    field("mixed.inner", "int 100%", 0.25),
                    field("items[].sku", "string 100%", 0.5),
                    field("rare", "date 100%", 0.004),
                ],
                estimated_rows: Some(2_400_000),
                sampled: Some(1000),
                indexes: vec![
                    r#"_id_: {"_id":1}"#.into(),
                    "email_1: {\"email\":1} unique".into(),
                ],
                validator: Some(serde_json::json!({
                    "bsonType": "object",
                    "required": ["email"],
                    "properties": {"email": {"bsonType": "string", "pattern": "^\u{1b}[31m.+@"}}
                })),
            }),
            at: now,
        },
    );
    snap("browser_sampled_structure", &s);
    // The structure pane scrolls on to the indexes and the validator.
    update(&mut s, key(KeyCode::Tab));
    for _ in 0..5 {
        update(&mut s, key(KeyCode::Char('j')));
    }
    snap("browser_sampled_structure_scrolled", &s);
    for (w, h) in SIZES {
        assert_frame_clean("the validator", &s, w, h);
    }
    let frame = render(&s, 80, 24);
    assert!(frame.contains("validator ($jsonSchema)"), "{frame}");
    assert!(frame.contains("email_1: {\"email\":1} unique"), "{frame}");
}

#[test]
fn preview_wide_terminal() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    insta::assert_snapshot!("preview_wide_160x30", render(&s, 160, 30));
}

#[test]
fn count_in_progress() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    update(&mut s, key(KeyCode::Char('c')));
    let key = (Some("public".to_string()), "customers".to_string());
    if let Some(CountState::Running(r)) = s
        .cache
        .get_mut("billing-prod")
        .and_then(|c| c.counts.get_mut(&key))
    {
        r.elapsed = Duration::from_millis(3400);
    }
    update(&mut s, key_tab());
    snap("count_in_progress", &s);
}

fn key_tab() -> Action {
    key(KeyCode::Tab)
}

#[test]
fn browser_error() {
    let mut s = listed();
    let task = s.next_task;
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "billing-prod".into(),
            result: Err(ConnError::new(
                ErrorKind::ConnectionLost,
                "server closed the connection unexpectedly",
            )),
        },
    );
    snap("browser_error", &s);
}

fn assert_colourless(s: &State) {
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| varlor::ui::draw(f, s)).unwrap();
    let buf = term.backend().buffer();
    for cell in buf.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
}

#[test]
fn no_color_uses_no_colours() {
    let mut states = vec![listed(), valid_form(), browser()];
    let mut b = browser();
    with_structure_and_preview(&mut b);
    states.push(b);
    let mut i = browser();
    update(&mut i, key(KeyCode::Char('i')));
    states.push(i);
    let mut u = listed();
    update(
        &mut u,
        Action::NeedsUnlock {
            initialised: true,
            pending: Pending::TestForm,
        },
    );
    states.push(u);
    for mut s in states {
        s.no_color = true;
        assert_colourless(&s);
    }
}

#[test]
fn production_frame_is_red() {
    let s = browser();
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| varlor::ui::draw(f, &s)).unwrap();
    assert_eq!(
        term.backend().buffer()[(0, 0)].fg,
        ratatui::style::Color::Red
    );
    let s = listed();
    term.draw(|f| varlor::ui::draw(f, &s)).unwrap();
    assert_ne!(
        term.backend().buffer()[(0, 0)].fg,
        ratatui::style::Color::Red
    );
}

#[test]
fn tiny_sizes_do_not_panic() {
    let mut states = vec![listed(), pg_form(), browser()];
    let mut b = browser();
    with_structure_and_preview(&mut b);
    states.push(b);
    for s in &states {
        for w in [1u16, 5, 12, 19, 20, 25, 33, 40, 41, 69, 70] {
            for h in [1u16, 3, 5, 6, 8, 10, 15] {
                render(s, w, h);
            }
        }
    }
    assert!(render(&listed(), 10, 4).contains("small"));
    let _ = Instant::now();
}

#[test]
fn import_dialog_and_progress() {
    use varlor::dataset::ImportEvent;
    let mut s = browser();
    update(&mut s, key(KeyCode::Char(' ')));
    update(&mut s, key(KeyCode::Char(' ')));
    update(&mut s, key(KeyCode::Char('i')));
    snap("import_dialog", &s);
    // A filter on the second table: Tab to "Table", → to it, Tab to "Where".
    for k in [
        KeyCode::Tab,
        KeyCode::Tab,
        KeyCode::Tab,
        KeyCode::Right,
        KeyCode::Tab,
    ] {
        update(&mut s, key(k));
    }
    for c in "kind = 'view'".chars() {
        update(&mut s, key(KeyCode::Char(c)));
    }
    snap("import_dialog_where", &s);
    let task = s.next_task;
    update(&mut s, key(KeyCode::Enter));
    for event in [
        ImportEvent::TableStarted {
            index: 0,
            table: "public.customers".into(),
            estimated_rows: Some(52_000),
        },
        ImportEvent::TableDone {
            index: 0,
            rows: 52_000,
            elapsed: Duration::from_secs(2),
        },
        ImportEvent::TableStarted {
            index: 1,
            table: "public.order_totals".into(),
            estimated_rows: Some(10_000),
        },
        ImportEvent::Progress {
            index: 1,
            rows: 2_500,
            estimated_rows: Some(10_000),
            rows_per_sec: 25_000.0,
            eta: Some(Duration::from_millis(300)),
        },
    ] {
        update(&mut s, Action::ImportEvent { task, event });
    }
    s.import.as_mut().unwrap().running.as_mut().unwrap().elapsed = Duration::from_millis(2100);
    snap("import_progress", &s);
}

// ------------------------------------------------------------ hostile text

/// Every symbol of the frame: none may carry a control or bidi character.
fn assert_frame_clean(what: &str, state: &State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| varlor::ui::draw(f, state)).unwrap();
    for (i, cell) in term.backend().buffer().content().iter().enumerate() {
        let (x, y) = (i as u16 % w, i as u16 / w);
        common::hostile::assert_clean(&format!("{what} at {x},{y}"), cell.symbol(), false);
    }
    term.backend().to_string()
}

/// The browser over a table whose name, column and cells carry escape
/// sequences, C0/C1 controls and a bidi override (tests/common/hostile.rs).
fn hostile_browser() -> State {
    use common::hostile::{COLUMN, TABLE, VALUES};
    let mut s = listed();
    let task = s.next_task;
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "billing-prod".into(),
            result: Ok(vec![
                t("public", TABLE, TableKind::Table, Some(5)),
                t("public", "zones", TableKind::Table, Some(52_000)),
            ]),
        },
    );
    let now = s.now;
    let fx = update(&mut s, Action::Tick { now, now_unix: NOW });
    let ptask = fx
        .iter()
        .find_map(|e| match e {
            varlor::app::Effect::Preview { task, table, .. } => {
                assert_eq!(table.name, TABLE, "the hostile table is highlighted");
                Some(*task)
            }
            _ => None,
        })
        .expect("preview effect");
    let key_ = (Some("public".to_string()), TABLE.to_string());
    update(
        &mut s,
        Action::Described {
            conn: "billing-prod".into(),
            table: key_.clone(),
            result: Ok(TableInfo {
                table: t("public", TABLE, TableKind::Table, Some(5)),
                columns: vec![
                    col("id", "integer", false, true, None, None),
                    col(
                        COLUMN,
                        "text\x1b[31m",
                        true,
                        false,
                        Some("'\x07'"),
                        Some("x\u{202e}y"),
                    ),
                ],
                estimated_rows: Some(5),
                sampled: None,
                indexes: Vec::new(),
                validator: None,
            }),
            at: now,
        },
    );
    update(
        &mut s,
        Action::Previewed {
            task: ptask,
            table: key_,
            result: Ok(RowSet {
                columns: vec![
                    ColumnMeta {
                        name: "id".into(),
                        type_name: "int4".into(),
                        logical: Default::default(),
                    },
                    ColumnMeta {
                        name: COLUMN.into(),
                        type_name: "text\x1b[0m".into(),
                        logical: Default::default(),
                    },
                ],
                rows: VALUES
                    .iter()
                    .enumerate()
                    .map(|(i, v)| vec![Cell::Int(i as i64 + 1), Cell::Text((*v).into())])
                    .collect(),
                elapsed: Duration::from_millis(3),
                documents: Vec::new(),
            }),
        },
    );
    s
}

#[test]
fn hostile_text_never_reaches_the_frame() {
    let mut s = hostile_browser();
    for (w, h) in [(80, 24), (40, 15), (160, 30)] {
        assert_frame_clean("browser", &s, w, h);
    }
    let frame = assert_frame_clean("browser", &s, 80, 24);
    // Shown, escaped: the reader sees what is there.
    assert!(frame.contains("evil␛]0;pwned␇"), "{frame}");
    assert!(frame.contains("col␛[2J"), "{frame}");
    insta::assert_snapshot!("hostile_browser_80x24", frame);

    // Preview focused, on the hostile column, row by row; then each full value.
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Char('l')));
    for row in 0..common::hostile::VALUES.len() {
        assert_frame_clean(&format!("preview row {row}"), &s, 80, 24);
        update(&mut s, key(KeyCode::Enter));
        assert!(s.popup.is_some(), "Enter opens the full value");
        for (w, h) in [(80, 24), (40, 15)] {
            assert_frame_clean(&format!("popup row {row}"), &s, w, h);
        }
        if row == 3 {
            let frame = assert_frame_clean("popup", &s, 80, 24);
            assert!(frame.contains("bell ␇ tab \\t cr ␍ lf"), "{frame}");
            insta::assert_snapshot!("hostile_popup_80x24", frame);
        }
        update(&mut s, key(KeyCode::Esc));
        update(&mut s, key(KeyCode::Char('j')));
    }
}

#[test]
fn hostile_error_detail_is_escaped() {
    let mut s = listed();
    let task = s.next_task;
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "billing-prod".into(),
            result: Err(ConnError::new(
                ErrorKind::Other,
                "relation \"evil\x1b]0;pwned\x07\" \u{9b}2J\r\ndoes not exist \u{202e}",
            )),
        },
    );
    let frame = assert_frame_clean("error detail", &s, 80, 24);
    assert!(frame.contains("evil␛]0;pwned␇"), "{frame}");
}

#[test]
fn browser_filter_matching_nothing_empties_both_panes() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    typed(&mut s, "/zzz");
    let now = s.now;
    update(&mut s, Action::Tick { now, now_unix: NOW });
    let frame = render(&s, 80, 24);
    assert_eq!(
        frame.matches("Nothing matches the filter.").count(),
        3,
        "tables, structure and preview say so:\n{frame}"
    );
    assert!(
        !frame.contains("ana@example"),
        "no rows of the last table:\n{frame}"
    );
    insta::assert_snapshot!("browser_filter_nothing_80x24", frame);
    // `/` again shows the kept text selected.
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, key(KeyCode::Char('/')));
    insta::assert_snapshot!("browser_filter_reopened_80x24", render(&s, 80, 24));
}

/// The highlighted table's structure replaced by `columns`.
fn described(s: &mut State, columns: Vec<ColumnInfo>) {
    let b = s.browser.as_ref().unwrap();
    let t = b.highlighted().unwrap().clone();
    let at = s.now;
    update(
        s,
        Action::Described {
            conn: b.conn.clone(),
            table: (t.schema.clone(), t.name.clone()),
            result: Ok(TableInfo {
                table: t,
                columns,
                sampled: None,
                estimated_rows: None,
                indexes: Vec::new(),
                validator: None,
            }),
            at,
        },
    );
}

#[test]
fn structure_columns_never_run_into_each_other() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    described(
        &mut s,
        vec![
            col(
                "created_at_with_a_very_long_name",
                "timestamp with time zone",
                false,
                false,
                None,
                None,
            ),
            col("id", "bigint", false, true, None, None),
        ],
    );
    for (w, h) in [(80, 24), (200, 60)] {
        let frame = render(&s, w, h);
        let row = frame
            .lines()
            .find(|l| l.contains("not null") && l.contains("timestamp"))
            .unwrap_or_else(|| panic!("{frame}"));
        assert!(
            row.contains("… not null")
                || row.contains("zone not null")
                || row.contains("  not null"),
            "a space before `not null`: {row}"
        );
        assert!(!row.contains("…not null"), "{row}");
    }
    // 200 wide: the whole type and name show.
    let wide = render(&s, 200, 60);
    assert!(wide.contains("timestamp with time zone"), "{wide}");
    assert!(wide.contains("created_at_with_a_very_long_name"), "{wide}");
}

#[test]
fn structure_scroll_stops_with_the_pane_full() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    let columns: Vec<ColumnInfo> = (0..30)
        .map(|i| col(&format!("c{i:02}"), "integer", true, false, None, None))
        .collect();
    described(&mut s, columns);
    update(&mut s, key(KeyCode::Tab));
    for _ in 0..200 {
        update(&mut s, key(KeyCode::Char('j')));
    }
    let frame = render(&s, 80, 24);
    assert!(frame.contains("c29"), "the last column shows:\n{frame}");
    let shown = (0..30)
        .filter(|i| frame.contains(&format!("c{i:02} ")))
        .count();
    assert!(
        shown >= 6,
        "the pane stays full ({shown} columns):\n{frame}"
    );
    // And one k shows the column before the window at once.
    let first_shown = (0..30)
        .find(|i| frame.contains(&format!("c{i:02} ")))
        .unwrap();
    for _ in 0..30 {
        update(&mut s, key(KeyCode::Char('k')));
    }
    assert!(render(&s, 80, 24).contains("c00 "));
    assert!(first_shown > 0);
}

#[test]
fn a_view_without_columns_says_why() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    update(&mut s, key(KeyCode::Char('j')));
    assert_eq!(
        s.browser.as_ref().unwrap().highlighted().unwrap().name,
        "order_totals"
    );
    described(&mut s, vec![]);
    let frame = render(&s, 80, 24);
    assert!(frame.contains("No columns visible"), "{frame}");
    assert!(frame.contains("view may be"), "{frame}");
}

#[test]
fn wide_terminals_show_more_preview_columns() {
    let mut s = browser();
    with_structure_and_preview(&mut s);
    let narrow = render(&s, 80, 24);
    let wide = render(&s, 200, 60);
    for name in ["region_id", "avatar", "notes"] {
        assert!(wide.contains(name), "{name} at 200×60:\n{wide}");
    }
    assert!(!narrow.contains("notes"), "80 columns cannot hold them all");
    // The list takes a name's width, not a third of the screen.
    let header = wide.lines().nth(1).unwrap();
    let list_w = header.find("┐┌").unwrap();
    assert!(list_w < 60 * 3, "{header}");
}

#[test]
fn status_bar_drops_whole_hints() {
    let s = listed();
    for w in [40u16, 52, 61, 80] {
        let frame = render(&s, w, 15);
        let bar = frame.lines().nth(13).unwrap();
        let after = bar
            .split(" │ ")
            .nth(1)
            .unwrap()
            .trim_end_matches(['│', '"', ' ']);
        let mut expected = String::new();
        for (k, what) in varlor::ui::hints(&s) {
            let next = format!("{expected}{k} {what} ");
            if next.trim_end().len() > after.len() {
                break;
            }
            expected = next;
        }
        assert_eq!(after, expected.trim_end(), "at {w} columns: {bar}");
    }
}

#[test]
fn an_unfocused_url_shows_its_start() {
    let mut s = listed();
    update(&mut s, key(KeyCode::Char('n')));
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, key(KeyCode::Tab));
    let long = format!(
        "postgres://reporting_user@analytics-replica.db.internal:5432/warehouse?sslmode=verify-full&application_name={}",
        "x".repeat(60)
    );
    update(&mut s, Action::Paste(long));
    update(&mut s, key(KeyCode::Tab));
    let frame = render(&s, 80, 24);
    let row = frame.lines().find(|l| l.contains(" URL ")).unwrap();
    assert!(row.contains("postgres://reporting_user@analytics"), "{row}");
}

/// The preview of a MongoDB-like result: the rows' whole documents known.
fn with_documents(s: &mut State) {
    with_structure_and_preview(s);
    let rs = s
        .browser
        .as_mut()
        .and_then(|b| b.preview.as_mut())
        .and_then(|p| p.rows.as_mut())
        .expect("preview rows");
    rs.documents = vec![
        serde_json::json!({
            "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"},
            "email": "ana@example.com",
            "name": "Ana \u{202e}Łukasiewicz\u{1b}[31m",
            "address": {"city": "Kraków", "geo": [19.94, 50.06]},
            "orders": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": {"$numberLong": "9007199254740993"}}],
            "since": {"$date": {"$numberLong": "-14182940000"}},
            "score": {"$numberDouble": "NaN"},
            "note": "a very long note that goes on and on and on past the edge of a small terminal"
        }),
        serde_json::json!({"_id": {"$oid": "65a1b2c3d4e5f60718293a4c"}, "email": "王小明@example.cn"}),
    ];
}

#[test]
fn preview_json_view_of_the_highlighted_document() {
    let mut s = browser();
    with_documents(&mut s);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Char('v')));
    snap("preview_json", &s);
    for (w, h) in SIZES {
        assert_frame_clean("the JSON view", &s, w, h);
    }
    for _ in 0..4 {
        update(&mut s, key(KeyCode::Char('j')));
    }
    snap("preview_json_scrolled", &s);
}

#[test]
fn v_toggles_the_preview_between_grid_and_json_and_keys_follow_the_view() {
    let mut s = browser();
    with_documents(&mut s);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    let p = |s: &State| s.browser.as_ref().unwrap().preview.clone().unwrap();
    assert!(!p(&s).json);
    update(&mut s, key(KeyCode::Char('v')));
    assert!(p(&s).json);
    assert!(render(&s, 80, 24).contains("\"$oid\": \"65a1b2c3d4e5f60718293a4b\""));
    // j/k scroll the document (never past its last line), not the rows.
    for _ in 0..100 {
        update(&mut s, key(KeyCode::Char('j')));
    }
    let lines = p(&s)
        .rows
        .unwrap()
        .row_json_text(0)
        .unwrap()
        .lines()
        .count();
    assert_eq!(p(&s).row, 0);
    assert_eq!(p(&s).json_scroll, lines - 1);
    update(&mut s, key(KeyCode::Char('k')));
    assert_eq!(p(&s).json_scroll, lines - 2);
    update(&mut s, key(KeyCode::Home));
    assert_eq!(p(&s).json_scroll, 0);
    // l: the next document, from its top; there is no third.
    update(&mut s, key(KeyCode::PageDown));
    update(&mut s, key(KeyCode::Char('l')));
    assert_eq!((p(&s).row, p(&s).json_scroll), (1, 0));
    update(&mut s, key(KeyCode::Char('l')));
    assert_eq!(p(&s).row, 1);
    assert!(render(&s, 80, 24).contains("王小明@example.cn"));
    assert!(render(&s, 80, 24).contains("row 2/2 · JSON"));
    // v again: the grid, on the same row; l scrolls columns again.
    update(&mut s, key(KeyCode::Char('v')));
    assert!(!p(&s).json);
    assert_eq!(p(&s).row, 1);
    update(&mut s, key(KeyCode::Char('l')));
    assert_eq!(p(&s).col_offset, 1);
    // A SQL row has no document: its columns in order, as a JSON object.
    let mut s = browser();
    with_structure_and_preview(&mut s);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Char('v')));
    let frame = render(&s, 80, 24);
    assert!(frame.contains("\"email\": \"ana@example.com\","), "{frame}");
    // Enter in the JSON view goes back to the grid.
    update(&mut s, key(KeyCode::Enter));
    assert!(!p(&s).json);
}

#[test]
fn ssh_questions() {
    use varlor::ssh::askpass::Question;
    let text = "The authenticity of host '[127.0.0.1]:2222 ([127.0.0.1]:2222)' can't be established.\nED25519 key fingerprint is SHA256:Xq1mN3Zp0d5kYQ7pE4m0vT1bW2c3d4e5f6g7h8i9j0k.\nThis key is not known by any other names.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? ";
    let mut s = listed();
    update(
        &mut s,
        Action::SshQuestion {
            id: 1,
            question: Question::Confirm(text.into()),
        },
    );
    for (w, h) in SIZES {
        let frame = render(&s, w, h);
        // The whole fingerprint, even where it wraps.
        let joined: String = frame.chars().filter(|c| !"│ \"\n".contains(*c)).collect();
        assert!(
            joined.contains("SHA256:Xq1mN3Zp0d5kYQ7pE4m0vT1bW2c3d4e5f6g7h8i9j0k."),
            "{frame}"
        );
        assert!(frame.contains("unknown host key"), "{frame}");
    }
    snap("ssh_host_key", &s);
    update(&mut s, key(KeyCode::Enter));
    snap("ssh_host_key_enter_alone", &s);
    typed(&mut s, "yes");
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Action::SshQuestion {
            id: 2,
            question: Question::Secret(
                "Enter passphrase for key '/home/ops/.ssh/id_ed25519': ".into(),
            ),
        },
    );
    typed(&mut s, "hunter2");
    for (w, h) in SIZES {
        let frame = render(&s, w, h);
        assert!(
            !frame.contains("hunter2") && !frame.contains("hunt"),
            "{frame}"
        );
        assert!(frame.contains("•••••••"), "{frame}");
    }
    snap("ssh_passphrase", &s);
    // ssh's text is outside text: controls become visible escapes.
    update(&mut s, key(KeyCode::Esc));
    update(
        &mut s,
        Action::SshQuestion {
            id: 3,
            question: Question::Secret("ops@bastion's password:\x1b]0;pwned\x07 ".into()),
        },
    );
    let frame = render(&s, 80, 24);
    assert!(
        !frame.contains('\x1b') && !frame.contains('\x07'),
        "{frame}"
    );
    assert!(frame.contains("SSH: password"), "{frame}");
    // A server's keyboard-interactive text can be long: the answer line stays.
    update(&mut s, key(KeyCode::Esc));
    let long = "Welcome to the bastion.\n".repeat(40) + "Verification code: ";
    update(
        &mut s,
        Action::SshQuestion {
            id: 4,
            question: Question::Secret(long),
        },
    );
    for (w, h) in [(20, 6), (40, 15), (80, 24), (200, 60)] {
        let frame = render(&s, w, h);
        if h >= 15 {
            assert!(frame.contains("›Answer"), "{w}x{h}:\n{frame}");
        }
    }
}
