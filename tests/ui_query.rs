//! The query pane through the pure `update` (keys, effects, pages, cancel)
//! and its frames at 80×24 and 40×15 (ratatui TestBackend + insta).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use varlor::app::action::{Action, QueryPage};
use varlor::app::effect::Effect;
use varlor::app::state::*;
use varlor::app::update::{set_connections, update};
use varlor::connectors::{
    Cell, ColumnMeta, ConnError, ConnSpec, Environment, ErrorKind, Kind, Logical, PasswordSource,
    TableKind, TableRef,
};
use varlor::store::SavedConnection;

fn conn(name: &str, kind: Kind) -> SavedConnection {
    let mut spec = ConnSpec::new(kind);
    spec.user = "app".into();
    spec.host = "db.internal".into();
    spec.database = "shop".into();
    SavedConnection {
        id: 1,
        name: name.into(),
        spec,
        environment: Environment::Production,
        password_source: PasswordSource::Vault,
        has_secret: true,
        key_version: 1,
        created_at: 0,
        updated_at: 0,
        last_test: None,
        auth_failures: 0,
    }
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}
fn ch(c: char) -> Action {
    key(KeyCode::Char(c))
}

fn table(schema: Option<&str>, name: &str) -> TableRef {
    TableRef {
        schema: schema.map(str::to_string),
        name: name.into(),
        kind: TableKind::Table,
        estimated_rows: Some(1_000_000),
        system: false,
    }
}

/// A browser open on `kind` with `tables`, the first highlighted.
fn browsing(kind: Kind, tables: Vec<TableRef>) -> State {
    let mut s = State::new("default");
    set_connections(&mut s, vec![conn("billing-prod", kind)], None);
    let task = s.next_task;
    update(&mut s, key(KeyCode::Enter));
    update(
        &mut s,
        Action::TablesLoaded {
            task,
            conn: "billing-prod".into(),
            result: Ok(tables),
        },
    );
    assert_eq!(s.screen, Screen::Browser);
    s
}

fn sql(s: &State) -> String {
    s.query.as_ref().unwrap().sql()
}

fn run_effect(fx: &[Effect]) -> (TaskId, String, usize) {
    fx.iter()
        .find_map(|e| match e {
            Effect::QueryRun { task, sql, page } => Some((*task, sql.clone(), *page)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no QueryRun in {fx:?}"))
}

fn columns() -> Vec<ColumnMeta> {
    ["id", "name", "note"]
        .iter()
        .map(|n| ColumnMeta {
            name: n.to_string(),
            type_name: "text".into(),
            logical: Logical::Text,
        })
        .collect()
}

fn rows(from: i64, n: i64) -> Vec<Vec<Cell>> {
    (from..from + n)
        .map(|i| {
            vec![
                Cell::Int(i),
                Cell::Text(format!("name {i}")),
                if i % 2 == 0 {
                    Cell::Null
                } else {
                    Cell::Text("x".into())
                },
            ]
        })
        .collect()
}

#[test]
fn e_opens_the_editor_prefilled_with_the_quoted_table() {
    let mut s = browsing(Kind::Postgres, vec![table(Some("sales"), "Weird \"Name\"")]);
    update(&mut s, ch('e'));
    assert_eq!(s.screen, Screen::Query);
    assert_eq!(
        sql(&s),
        r#"SELECT * FROM "sales"."Weird ""Name""" LIMIT 100"#
    );

    let mut s = browsing(Kind::Mysql, vec![table(Some("shop"), "odd`name")]);
    update(&mut s, ch('e'));
    assert_eq!(sql(&s), "SELECT * FROM `shop`.`odd``name` LIMIT 100");

    // Esc goes back to the browser; `e` again finds the text as it was.
    update(&mut s, ch(' '));
    update(&mut s, ch('1'));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Browser);
    update(&mut s, ch('e'));
    assert!(sql(&s).ends_with("LIMIT 100 1"), "{}", sql(&s));
}

#[test]
fn f5_and_ctrl_enter_run_and_pages_come_on_demand() {
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "big")]);
    update(&mut s, ch('e'));
    // Typing edits the text: q and ? are letters here.
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, ch('q'));
    assert!(!s.quit);
    update(&mut s, key(KeyCode::Backspace));
    update(&mut s, ch('0'));
    let fx = update(&mut s, key(KeyCode::F(5)));
    let (task, text, page) = run_effect(&fx);
    assert!(matches!(fx[0], Effect::QueryClose), "{fx:?}");
    assert_eq!(text, r#"SELECT * FROM "public"."big" LIMIT 100"#);
    assert_eq!(page, 500);
    let q = s.query.as_ref().unwrap();
    assert!(q.running.is_some());
    // Running: F5 does nothing more.
    assert!(update(&mut s, key(KeyCode::F(5))).is_empty());

    update(
        &mut s,
        Action::QueryPage {
            task,
            result: Ok(QueryPage {
                columns: Some(columns()),
                rows: rows(1, 500),
                done: false,
                elapsed: Duration::from_millis(42),
            }),
        },
    );
    let q = s.query.as_ref().unwrap();
    assert!(q.running.is_none());
    assert_eq!(q.focus, QueryFocus::Results);
    assert_eq!(q.result.as_ref().unwrap().rows.len(), 500);
    assert!(!q.done);

    // j moves; at the last row it asks for the next page (once).
    update(&mut s, ch('j'));
    assert_eq!(s.query.as_ref().unwrap().row, 1);
    update(&mut s, ch('G'));
    let fx = update(&mut s, ch('j'));
    let more = match &fx[..] {
        [Effect::QueryMore {
            task: t,
            cursor,
            page,
        }] => {
            assert_eq!(*cursor, task);
            assert_eq!(*page, 500);
            *t
        }
        other => panic!("{other:?}"),
    };
    assert!(update(&mut s, ch('j')).is_empty(), "one fetch at a time");
    update(
        &mut s,
        Action::QueryPage {
            task: more,
            result: Ok(QueryPage {
                columns: None,
                rows: rows(501, 20),
                done: true,
                elapsed: Duration::from_millis(7),
            }),
        },
    );
    let q = s.query.as_ref().unwrap();
    assert_eq!(q.result.as_ref().unwrap().rows.len(), 520);
    assert!(q.done);
    assert!(
        update(&mut s, ch('m')).is_empty(),
        "complete: no more pages"
    );

    // Enter shows the full value; NULL in words.
    update(&mut s, ch('g'));
    update(&mut s, ch('j'));
    update(&mut s, ch('l'));
    update(&mut s, ch('l'));
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.popup.as_ref().unwrap().text, "NULL (no value)");
    update(&mut s, key(KeyCode::Esc));

    // Tab back to the editor; Ctrl-Enter runs too.
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.query.as_ref().unwrap().focus, QueryFocus::Editor);
    let fx = update(
        &mut s,
        Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::CONTROL)),
    );
    run_effect(&fx);
}

#[test]
fn esc_cancels_a_running_query_on_the_server_and_late_answers_are_ignored() {
    let mut s = browsing(Kind::Mysql, vec![table(Some("shop"), "t")]);
    update(&mut s, ch('e'));
    let (task, _, _) = run_effect(&update(&mut s, key(KeyCode::F(5))));
    let now = s.now + Duration::from_millis(1500);
    update(&mut s, Action::Tick { now, now_unix: 0 });
    assert_eq!(
        s.query.as_ref().unwrap().running.as_ref().unwrap().elapsed,
        Duration::from_millis(1500)
    );
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(
        matches!(&fx[..], [Effect::Cancel { task: t }] if *t == task),
        "{fx:?}"
    );
    assert_eq!(s.screen, Screen::Query, "the first Esc only cancels");
    assert!(s.query.as_ref().unwrap().running.is_none());
    update(
        &mut s,
        Action::QueryPage {
            task,
            result: Err(ConnError::new(ErrorKind::Cancelled, "cancelled")),
        },
    );
    assert!(s.query.as_ref().unwrap().error.is_none());
    // A refusal is shown in words.
    let (task, _, _) = run_effect(&update(&mut s, key(KeyCode::F(5))));
    update(
        &mut s,
        Action::QueryPage {
            task,
            result: Err(ConnError::new(
                ErrorKind::ReadOnly,
                "25006: cannot execute DELETE in a read-only transaction",
            )),
        },
    );
    let shown = render(&s, 80, 24);
    assert!(shown.contains("Read-only session"), "{shown}");
    assert!(shown.contains("cannot execute DELETE"), "{shown}");
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Browser);
    // Leaving the connection drops the pane (the first Esc may cancel the
    // browser's own preview load).
    for _ in 0..3 {
        if s.screen == Screen::Browser {
            update(&mut s, key(KeyCode::Esc));
        }
    }
    assert_eq!(s.screen, Screen::List);
    assert!(s.query.is_none());
}

#[test]
fn a_multi_line_paste_keeps_its_lines_and_loses_escapes() {
    let mut s = browsing(Kind::Sqlite, vec![table(None, "t")]);
    update(&mut s, ch('e'));
    let q = s.query.as_mut().unwrap();
    q.editor = tui_textarea::TextArea::default();
    update(
        &mut s,
        Action::Paste("SELECT 1\r\nFROM t\x1b]0;x\x07".into()),
    );
    assert_eq!(sql(&s), "SELECT 1\nFROM t]0;x");
}

// ------------------------------------------------------------------ frames

fn render(state: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| varlor::ui::draw(f, state)).expect("draw");
    t.backend().to_string()
}

fn snap(name: &str, state: &State) {
    for (w, h) in [(80, 24), (40, 15)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(state, w, h));
    }
}

#[test]
fn snapshots_of_the_editor_and_the_results() {
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "orders")]);
    update(&mut s, ch('e'));
    snap("query_editor", &s);

    let (task, _, _) = run_effect(&update(&mut s, key(KeyCode::F(5))));
    let now = s.now + Duration::from_millis(2300);
    update(&mut s, Action::Tick { now, now_unix: 0 });
    snap("query_running", &s);

    update(
        &mut s,
        Action::QueryPage {
            task,
            result: Ok(QueryPage {
                columns: Some(columns()),
                rows: rows(1, 500),
                done: false,
                elapsed: Duration::from_millis(42),
            }),
        },
    );
    snap("query_results", &s);
}

#[test]
fn mongodb_opens_the_editor_with_a_find_and_runs_it() {
    let mut coll = table(Some("shop"), "orders");
    coll.kind = TableKind::Collection;
    let mut other = table(Some("logs"), "odd name");
    other.kind = TableKind::Collection;
    let mut s = browsing(Kind::Mongodb, vec![coll]);
    update(&mut s, ch('e'));
    assert_eq!(s.screen, Screen::Query);
    // `db` is the connection's own database ("shop").
    assert_eq!(sql(&s), "db.orders.find({}).limit(100)");
    let frame = render(&s, 80, 24);
    assert!(
        frame.contains("MongoDB · billing-prod · read-only"),
        "{frame}"
    );
    let (_, text, _) = run_effect(&update(&mut s, key(KeyCode::F(5))));
    assert_eq!(text, "db.orders.find({}).limit(100)");

    // A collection of another database, with a name that is no identifier.
    let mut s = browsing(Kind::Mongodb, vec![other]);
    update(&mut s, ch('e'));
    assert_eq!(
        sql(&s),
        r#"db.getSiblingDB("logs").getCollection("odd name").find({}).limit(100)"#
    );
}
