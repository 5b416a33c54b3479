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
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Environment, ErrorKind, Kind, Logical,
    PasswordSource, TableInfo, TableKind, TableRef,
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

/// The first 500 rows of a longer result arrive for `task`.
fn first_page(s: &mut State, task: TaskId) {
    update(
        s,
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

    // Each engine asks for its first rows in its own SQL.
    let mut ms = browsing(Kind::Sqlserver, vec![table(Some("dbo"), "brack]et")]);
    update(&mut ms, ch('e'));
    assert_eq!(sql(&ms), "SELECT TOP (100) * FROM [dbo].[brack]]et]");
    let mut ora = browsing(Kind::Oracle, vec![table(Some("HR"), "Emp\"s")]);
    update(&mut ora, ch('e'));
    assert_eq!(
        sql(&ora),
        r#"SELECT * FROM "HR"."Emp""s" FETCH FIRST 100 ROWS ONLY"#
    );

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

    first_page(&mut s, task);
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

fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        update(s, ch(c));
    }
}

fn clear_editor(s: &mut State) {
    s.query.as_mut().unwrap().set_sql("");
}

#[test]
fn history_is_recorded_and_walked_with_ctrl_p_and_ctrl_n_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("catalog.db");
    {
        let mut cat = varlor::store::Catalog::open(&path).unwrap();
        cat.insert(
            &varlor::store::NewConnection {
                name: "billing-prod".into(),
                spec: conn("billing-prod", Kind::Postgres).spec,
                environment: Environment::Production,
                password_source: PasswordSource::Vault,
            },
            None,
        )
        .unwrap();
    }
    // First run: two statements are run; each asks to be remembered.
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "orders")]);
    let fx = update(&mut s, ch('e'));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::QueryHistoryLoad { conn } if conn == "billing-prod")),
        "{fx:?}"
    );
    let mut remembered = Vec::new();
    for text in ["SELECT 1", "SELECT 2", "SELECT 2"] {
        clear_editor(&mut s);
        type_text(&mut s, text);
        let fx = update(&mut s, key(KeyCode::F(5)));
        let (task, ..) = run_effect(&fx);
        for e in fx {
            if let Effect::QueryRemember { conn, sql } = e {
                assert_eq!(conn, "billing-prod");
                remembered.push(sql);
            }
        }
        update(
            &mut s,
            Action::QueryPage {
                task,
                result: Ok(QueryPage {
                    columns: Some(vec![]),
                    rows: vec![],
                    done: true,
                    elapsed: Duration::from_millis(1),
                }),
            },
        );
        s.query.as_mut().unwrap().focus = QueryFocus::Editor;
    }
    // The same statement twice in a row is remembered once.
    assert_eq!(remembered, vec!["SELECT 1", "SELECT 2"]);
    {
        let mut cat = varlor::store::Catalog::open(&path).unwrap();
        for sql in &remembered {
            cat.record_query("billing-prod", sql).unwrap();
        }
    }

    // A restart: a fresh state, the history read back from the catalog.
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "orders")]);
    update(&mut s, ch('e'));
    let starter = sql(&s);
    // Before the history arrives, Ctrl-P says there is none.
    update(&mut s, ctrl('p'));
    assert_eq!(sql(&s), starter);
    let history = varlor::store::Catalog::open(&path)
        .unwrap()
        .query_history("billing-prod")
        .unwrap();
    update(
        &mut s,
        Action::QueryHistory {
            conn: "billing-prod".into(),
            result: Ok(history),
        },
    );
    type_text(&mut s, " -- mine");
    let draft = sql(&s);
    update(&mut s, ctrl('p'));
    assert_eq!(sql(&s), "SELECT 2");
    update(&mut s, ctrl('p'));
    assert_eq!(sql(&s), "SELECT 1");
    update(&mut s, ctrl('p'));
    assert_eq!(sql(&s), "SELECT 1", "the oldest stays");
    assert!(s.status.as_ref().unwrap().text.contains("oldest"));
    update(&mut s, ctrl('n'));
    assert_eq!(sql(&s), "SELECT 2");
    update(&mut s, ctrl('n'));
    assert_eq!(sql(&s), draft, "past the newest: the text being typed");
    update(&mut s, ctrl('n'));
    assert_eq!(sql(&s), draft);
    // A history for another connection is not this pane's.
    update(
        &mut s,
        Action::QueryHistory {
            conn: "other".into(),
            result: Ok(vec!["SELECT 'other'".into()]),
        },
    );
    update(&mut s, ctrl('p'));
    update(&mut s, ctrl('p'));
    update(&mut s, ctrl('p'));
    assert_eq!(sql(&s), "SELECT 1");
}

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

    first_page(&mut s, task);
    snap("query_results", &s);
}

/// A browser on tables whose names need quoting, `orders` described.
fn browsing_odd_names(kind: Kind) -> State {
    let tables = vec![
        table(Some("public"), "my table"),
        table(Some("public"), "orders"),
        table(Some("sales"), "My Orders"),
    ];
    let mut s = browsing(kind, tables.clone());
    let col = |name: &str| ColumnInfo {
        name: name.into(),
        data_type: "integer".into(),
        nullable: false,
        default: None,
        primary_key: false,
        references: None,
        presence: None,
    };
    let at = s.now;
    update(
        &mut s,
        Action::Described {
            conn: "billing-prod".into(),
            table: (Some("public".into()), "orders".into()),
            result: Ok(TableInfo {
                table: tables[1].clone(),
                columns: vec![col("id"), col("customer_id"), col("Created At")],
                estimated_rows: None,
                sampled: None,
                indexes: Vec::new(),
                validator: None,
            }),
            at,
        },
    );
    update(&mut s, ch('e'));
    clear_editor(&mut s);
    s
}

fn choices(s: &State) -> Completion {
    s.query
        .as_ref()
        .and_then(|q| q.completion.clone())
        .expect("choices")
}

#[test]
fn tab_completes_tables_quoted_columns_and_keywords() {
    let mut s = browsing_odd_names(Kind::Postgres);
    type_text(&mut s, "SELECT * FROM my");
    update(&mut s, key(KeyCode::Tab));
    let c = choices(&s);
    let inserts: Vec<&str> = c.items.iter().map(|i| i.insert.as_str()).collect();
    assert_eq!(inserts, vec!["\"my table\"", "sales.\"My Orders\""]);
    snap("query_completion", &s);
    // Down then Up, Enter inserts the first: the name with a space, quoted.
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Up));
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(sql(&s), "SELECT * FROM \"my table\"");
    assert!(s.query.as_ref().unwrap().completion.is_none());
    assert_eq!(s.screen, Screen::Query);

    // One choice is inserted at once: a column of the described table.
    type_text(&mut s, " WHERE cust");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(sql(&s), "SELECT * FROM \"my table\" WHERE customer_id");
    // Inside an opened quote: the name with a space is closed too.
    type_text(&mut s, " AND \"Cre");
    update(&mut s, key(KeyCode::Tab));
    assert!(sql(&s).ends_with("AND \"Created At\""), "{}", sql(&s));
    // A keyword keeps the case typed.
    type_text(&mut s, " ord");
    update(&mut s, key(KeyCode::Tab));
    let c = choices(&s);
    assert!(c.items.iter().any(|i| i.insert == "order"), "{c:?}");
    // Any other key closes the choices and still types.
    update(&mut s, ch('e'));
    assert!(s.query.as_ref().unwrap().completion.is_none());
    assert!(sql(&s).ends_with(" orde"), "{}", sql(&s));
    // After a blank, Tab goes to the results as before.
    type_text(&mut s, " ");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.query.as_ref().unwrap().focus, QueryFocus::Results);
    // Nothing known: said, nothing changed.
    update(&mut s, key(KeyCode::Tab));
    type_text(&mut s, "zzz");
    let before = sql(&s);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(sql(&s), before);
    assert!(s.status.as_ref().unwrap().text.contains("zzz"));
}

#[test]
fn mysql_completion_quotes_with_backticks() {
    let mut s = browsing_odd_names(Kind::Mysql);
    type_text(&mut s, "select * from sales.m");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(sql(&s), "select * from sales.`My Orders`");
}

#[test]
fn x_exports_the_whole_result_of_the_last_run_through_the_import() {
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "orders")]);
    update(&mut s, ch('e'));
    let ran = sql(&s);
    // Nothing to export before a run.
    s.query.as_mut().unwrap().focus = QueryFocus::Results;
    assert!(update(&mut s, ch('x')).is_empty());
    assert!(!s.query.as_ref().unwrap().export_prompt);
    s.query.as_mut().unwrap().focus = QueryFocus::Editor;

    let (task, ..) = run_effect(&update(&mut s, key(KeyCode::F(5))));
    first_page(&mut s, task);
    // The text changes after the run: the export is of what ran.
    s.query.as_mut().unwrap().set_sql("SELECT 'edited'");
    assert_eq!(s.query.as_ref().unwrap().focus, QueryFocus::Results);
    update(&mut s, ch('x'));
    assert!(s.query.as_ref().unwrap().export_prompt);
    snap("query_export", &s);
    // Esc: no export.
    assert!(update(&mut s, key(KeyCode::Esc)).is_empty());
    assert!(!s.query.as_ref().unwrap().export_prompt);
    assert_eq!(s.screen, Screen::Query);

    update(&mut s, ch('x'));
    let fx = update(&mut s, ch('j'));
    let (tables, format, destination) = fx
        .iter()
        .find_map(|e| match e {
            Effect::Import {
                tables,
                format,
                destination,
                conn,
                ..
            } => {
                assert_eq!(conn, "billing-prod");
                Some((tables.clone(), *format, destination.clone()))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Import in {fx:?}"));
    assert_eq!(format, varlor::dataset::Format::Jsonl);
    assert_eq!(destination, None, "the datasets directory");
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0].query.as_deref(), Some(ran.as_str()));
    assert_eq!(
        tables[0].limit, None,
        "the whole result, not the rows on screen"
    );
    // The import's progress shows it; Esc there cancels it.
    let imp = s.import.as_ref().expect("progress shown");
    let export_task = imp.task;
    assert_eq!(s.layer(), Layer::ImportProgress);
    let fx = update(&mut s, key(KeyCode::Esc));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Cancel { task } if *task == export_task)),
        "{fx:?}"
    );
}

#[test]
fn the_badge_says_what_the_login_may_do() {
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "orders")]);
    let fx = update(&mut s, ch('e'));
    assert!(fx.iter().any(|e| matches!(e, Effect::LoginCheck)), "{fx:?}");
    // Reopening the same pane does not ask again.
    update(&mut s, key(KeyCode::Esc));
    let fx = update(&mut s, ch('e'));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::LoginCheck)),
        "{fx:?}"
    );
    let login = |why: Option<&str>| Action::LoginWrites {
        conn: "billing-prod".into(),
        result: Ok(match why {
            Some(w) => varlor::connectors::query::LoginWrites::CanWrite { why: w.into() },
            None => varlor::connectors::query::LoginWrites::ReadOnly,
        }),
    };
    update(&mut s, login(Some("superuser")));
    snap("query_badge_writer", &s);
    update(&mut s, login(None));
    let screen = render(&s, 80, 24);
    assert!(screen.contains("read-only login"), "{screen}");
    assert!(!screen.contains("login can write"), "{screen}");
    // Another connection's answer is not this pane's.
    update(
        &mut s,
        Action::LoginWrites {
            conn: "other".into(),
            result: Ok(varlor::connectors::query::LoginWrites::CanWrite { why: "x".into() }),
        },
    );
    assert!(render(&s, 80, 24).contains("read-only login"));
    // A failed check leaves the plain "read-only".
    update(
        &mut s,
        Action::LoginWrites {
            conn: "billing-prod".into(),
            result: Err(ConnError::new(ErrorKind::PermissionDenied, "no")),
        },
    );
    assert!(render(&s, 80, 24).contains("read-only login"));
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
    assert!(frame.contains("MongoDB · billing-prod"), "{frame}");
    assert!(frame.contains("read-only"), "{frame}");
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

#[test]
fn y_and_shift_y_copy_a_result_cell_and_row_like_the_preview() {
    let mut s = browsing(Kind::Postgres, vec![table(Some("public"), "big")]);
    update(&mut s, ch('e'));
    let (task, _, _) = run_effect(&update(&mut s, key(KeyCode::F(5))));
    first_page(&mut s, task);
    // The first page moves the focus to the results.
    assert_eq!(s.query.as_ref().unwrap().focus, QueryFocus::Results);
    update(&mut s, ch('j'));
    update(&mut s, ch('l'));
    update(&mut s, ch('y'));
    assert_eq!(s.clipboard.take().as_deref(), Some("name 2"));
    // The row: tab-separated, NULL empty.
    update(&mut s, ch('Y'));
    assert_eq!(s.clipboard.take().as_deref(), Some("2\tname 2\t"));
    assert!(s.status.as_ref().unwrap().text.contains("OSC 52"));
    // In the editor, y is a letter again.
    s.query.as_mut().unwrap().focus = QueryFocus::Editor;
    let before = sql(&s);
    update(&mut s, ch('y'));
    assert!(s.clipboard.is_none());
    assert!(sql(&s).len() > before.len(), "{}", sql(&s));
}
