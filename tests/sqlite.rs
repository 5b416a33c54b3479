//! SQLite connector against files built here in a temp dir.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Collect;
use rusqlite::Connection;
use varlor::connectors::sqlite::SqliteConnector;
use varlor::connectors::{
    Cell, ConnSpec, Connector, ErrorKind, Kind, SessionOptions, StreamOptions, TableKind, TableRef,
};

const SCHEMA: &str = r#"
CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'none');
CREATE TABLE child (
  a INTEGER NOT NULL, b TEXT NOT NULL,
  parent_id INTEGER REFERENCES parent,
  other_id INTEGER REFERENCES parent(id),
  PRIMARY KEY (a, b));
CREATE TABLE classes (id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC, anything);
CREATE TABLE "Weird Name" ("Id" INTEGER PRIMARY KEY, "Mixed Case" TEXT, "with space" REAL);
CREATE TABLE "quote""d" (id INTEGER PRIMARY KEY, "col""quote" TEXT);
CREATE TABLE "semi;colon" (id INTEGER PRIMARY KEY, "a;b" TEXT);
CREATE TABLE "ünïcödé" (id INTEGER PRIMARY KEY, "naïve" TEXT);
CREATE TABLE "select" ("from" INTEGER PRIMARY KEY, "where" TEXT);
CREATE TABLE "back`tick" (id INTEGER PRIMARY KEY, v TEXT);
CREATE VIEW parent_names AS SELECT name FROM parent;
CREATE VIEW endless AS
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;
INSERT INTO parent VALUES (1, 'one'), (2, 'two');
INSERT INTO child VALUES (1, 'x', 1, 2), (2, 'y', NULL, NULL);
INSERT INTO classes (i, r, t, b, n, anything) VALUES
  (9223372036854775807, 1.5, 'text ✓ 🎉', x'00ff10', 12.50, NULL),
  (-1, -0.25, '', x'', 3, 'mixed'),
  (NULL, NULL, NULL, NULL, NULL, 42);
INSERT INTO "Weird Name" VALUES (1, 'one', 1.5), (2, 'two', NULL), (3, 'ünïcödé ✓', -3.25);
INSERT INTO "quote""d" VALUES (1, 'dq "one"');
INSERT INTO "semi;colon" VALUES (1, '; DROP TABLE parent; --');
INSERT INTO "ünïcödé" VALUES (1, 'café');
INSERT INTO "select" VALUES (1, 'reserved');
INSERT INTO "back`tick" VALUES (1, '`ticked`');
"#;

fn make_db(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("fixture.db");
    let conn = Connection::open(&path).expect("create");
    conn.execute_batch(SCHEMA).expect("schema");
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut ins = tx
            .prepare("INSERT INTO child VALUES (?1, 'bulk', NULL, NULL)")
            .expect("prepare");
        for i in 10..5010 {
            ins.execute([i]).expect("insert");
        }
    }
    tx.commit().expect("commit");
    common::hostile::add_to_sqlite(&path);
    path
}

fn connector(path: &Path) -> SqliteConnector {
    connector_with(path, SessionOptions::default())
}

fn connector_with(path: &Path, opts: SessionOptions) -> SqliteConnector {
    let mut spec = ConnSpec::new(Kind::Sqlite);
    spec.database = path.display().to_string();
    SqliteConnector::new(spec, opts)
}

fn t(name: &str) -> TableRef {
    TableRef {
        schema: None,
        name: name.into(),
        kind: TableKind::Table,
        estimated_rows: None,
        system: false,
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

#[tokio::test]
async fn test_reports_the_sqlite_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let info = connector(&path).test().await.expect("ok");
    assert!(info.version.starts_with("SQLite 3."), "{}", info.version);
    assert!(!info.tls);
}

#[tokio::test]
async fn a_missing_file_is_database_not_found_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let e = connector(&path).test().await.expect_err("missing");
    assert_eq!(e.kind, ErrorKind::DatabaseNotFound, "{}", e.full());
    assert!(
        e.detail.contains(&path.display().to_string()),
        "{}",
        e.detail
    );
    assert!(!path.exists(), "a read-only open must not create the file");
    let e = connector(&path).list_tables().await.expect_err("missing");
    assert_eq!(e.kind, ErrorKind::DatabaseNotFound);
}

#[tokio::test]
async fn a_non_database_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "just some text, not a database\n".repeat(200)).unwrap();
    let e = connector(&path).test().await.expect_err("not a db");
    assert_eq!(e.kind, ErrorKind::Config, "{}", e.full());
    assert!(e.detail.contains("not an SQLite database"), "{}", e.detail);
    let e = connector(dir.path()).test().await.expect_err("a directory");
    assert_eq!(e.kind, ErrorKind::Config, "{}", e.full());
}

#[tokio::test]
async fn lists_tables_and_views_with_internal_ones_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let tables = connector(&path).list_tables().await.expect("list");
    let find = |n: &str| {
        tables
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("{n} not listed"))
    };
    for n in [
        "parent",
        "child",
        "classes",
        "Weird Name",
        "quote\"d",
        "semi;colon",
        "ünïcödé",
        "select",
        "back`tick",
        common::hostile::TABLE,
    ] {
        let t = find(n);
        assert_eq!(t.kind, TableKind::Table);
        assert!(!t.system);
        assert_eq!(t.estimated_rows, None);
        assert_eq!(t.schema, None);
    }
    assert_eq!(find("parent_names").kind, TableKind::View);
    assert_eq!(find("endless").kind, TableKind::View);
    assert!(find("sqlite_sequence").system);
}

#[tokio::test]
async fn values_keep_their_storage_class() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let set = connector(&path)
        .preview(&t("classes"), 10)
        .await
        .expect("preview");
    let types: Vec<_> = set.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(
        types,
        ["INTEGER", "INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC", ""]
    );
    assert_eq!(
        set.rows[0],
        vec![
            Cell::Int(1),
            Cell::Int(i64::MAX),
            Cell::Float(1.5),
            text("text ✓ 🎉"),
            Cell::Bytes(vec![0, 255, 16]),
            Cell::Float(12.5),
            Cell::Null,
        ]
    );
    assert_eq!(
        set.rows[1],
        vec![
            Cell::Int(2),
            Cell::Int(-1),
            Cell::Float(-0.25),
            text(""),
            Cell::Bytes(vec![]),
            Cell::Int(3),
            text("mixed"),
        ]
    );
    assert!(set.rows[2][1..6].iter().all(Cell::is_null));
    assert_eq!(set.rows[2][6], Cell::Int(42));
}

#[tokio::test]
async fn hostile_names_preview_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let c = connector(&path);
    let cases = [
        (
            "Weird Name",
            "Mixed Case",
            vec![Cell::Int(2), text("two"), Cell::Null],
        ),
        (
            "quote\"d",
            "col\"quote",
            vec![Cell::Int(1), text("dq \"one\"")],
        ),
        (
            "semi;colon",
            "a;b",
            vec![Cell::Int(1), text("; DROP TABLE parent; --")],
        ),
        ("ünïcödé", "naïve", vec![Cell::Int(1), text("café")]),
        ("select", "where", vec![Cell::Int(1), text("reserved")]),
        ("back`tick", "v", vec![Cell::Int(1), text("`ticked`")]),
    ];
    for (name, col, row) in cases {
        let set = c
            .preview(&t(name), 10)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", e.full()));
        assert_eq!(set.columns[1].name, col, "{name}");
        assert!(set.rows.contains(&row), "{name}: {:?}", set.rows);
    }
    // Terminal-hostile text comes back byte for byte (escaping is the display's job).
    let set = c.preview(&t(common::hostile::TABLE), 10).await.unwrap();
    assert_eq!(set.columns[1].name, common::hostile::COLUMN);
    let got: Vec<&Cell> = set.rows.iter().map(|r| &r[1]).collect();
    let want: Vec<Cell> = common::hostile::VALUES.iter().map(|v| text(v)).collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
    let info = c.describe(&t(common::hostile::TABLE)).await.unwrap();
    assert_eq!(info.columns[1].name, common::hostile::COLUMN);
    assert_eq!(c.count_rows(&t("parent")).await.unwrap(), 2);
    let limited = c.preview(&t("child"), 10).await.unwrap();
    assert_eq!(limited.rows.len(), 10);
}

#[tokio::test]
async fn describe_shows_keys_and_references() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let c = connector(&path);
    let info = c.describe(&t("child")).await.expect("describe");
    let pk: Vec<_> = info
        .columns
        .iter()
        .filter(|c| c.primary_key)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(pk, ["a", "b"]);
    assert_eq!(info.columns[2].references.as_deref(), Some("parent(id)"));
    assert_eq!(info.columns[3].references.as_deref(), Some("parent(id)"));
    assert!(info.columns[2].nullable);
    assert!(!info.columns[0].nullable);
    let parent = c.describe(&t("parent")).await.expect("describe");
    assert_eq!(parent.columns[1].default.as_deref(), Some("'none'"));
    assert_eq!(parent.columns[1].data_type, "TEXT");
    let weird = c.describe(&t("quote\"d")).await.expect("describe");
    assert_eq!(weird.columns[1].name, "col\"quote");
    let e = c.describe(&t("missing")).await.expect_err("missing");
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn counts_are_exact_and_missing_tables_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let c = connector(&path);
    assert_eq!(c.count_rows(&t("child")).await.unwrap(), 5002);
    let e = c.count_rows(&t("missing")).await.expect_err("missing");
    assert_eq!(e.kind, ErrorKind::NotFound, "{}", e.full());
}

#[tokio::test]
async fn an_endless_view_hits_the_statement_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let c = connector_with(
        &path,
        SessionOptions {
            statement_timeout: Duration::from_secs(1),
            read_only: true,
        },
    );
    let e = c.count_rows(&t("endless")).await.expect_err("timeout");
    assert_eq!(e.kind, ErrorKind::StatementTimeout, "{}", e.full());
    assert_eq!(c.count_rows(&t("parent")).await.unwrap(), 2);
}

#[tokio::test]
async fn a_dropped_count_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    // No statement timeout to speak of: only the interrupt can stop it.
    let c = connector_with(
        &path,
        SessionOptions {
            statement_timeout: Duration::from_secs(3600),
            read_only: true,
        },
    );
    let r = tokio::time::timeout(Duration::from_millis(300), c.count_rows(&t("endless"))).await;
    assert!(r.is_err(), "an endless count cannot finish");
    // The session is free again once the interrupt landed.
    let n = tokio::time::timeout(Duration::from_secs(30), c.count_rows(&t("parent")))
        .await
        .expect("the endless count was not interrupted")
        .expect("count");
    assert_eq!(n, 2);
}

#[tokio::test]
async fn stream_honours_limit_filter_and_a_failing_sink() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let c = connector(&path);
    let mut sink = Collect::default();
    assert_eq!(
        c.stream_rows(&t("child"), &StreamOptions::default(), &mut sink)
            .await
            .unwrap(),
        5002
    );
    assert_eq!(sink.rows.len(), 5002);
    assert_eq!(sink.cols[1].name, "b");
    assert_eq!(sink.cols[1].type_name, "TEXT");

    let mut sink = Collect::default();
    let opts = StreamOptions {
        limit: Some(5),
        filter: Some("b = 'bulk' AND a % 2 = 0".into()),
    };
    assert_eq!(
        c.stream_rows(&t("child"), &opts, &mut sink).await.unwrap(),
        5
    );
    assert!(sink.rows.iter().all(|r| r[1] == text("bulk")));

    let mut sink = Collect {
        fail_after: Some(10),
        ..Default::default()
    };
    let e = c
        .stream_rows(&t("child"), &StreamOptions::default(), &mut sink)
        .await
        .expect_err("sink error");
    assert_eq!(e.detail, "sink full");
    assert_eq!(c.count_rows(&t("child")).await.unwrap(), 5002);
}

#[tokio::test]
async fn nothing_can_write_through_the_connector() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let before = std::fs::read(&path).unwrap();
    let c = connector(&path);
    let mut sink = Collect::default();
    let opts = StreamOptions {
        limit: None,
        filter: Some("1=1; DELETE FROM parent".into()),
    };
    let e = c
        .stream_rows(&t("parent"), &opts, &mut sink)
        .await
        .expect_err("second statement refused");
    assert!(e.detail.starts_with("filter:"), "{}", e.full());
    c.list_tables().await.unwrap();
    c.describe(&t("child")).await.unwrap();
    c.preview(&t("classes"), 10).await.unwrap();
    assert_eq!(c.count_rows(&t("parent")).await.unwrap(), 2);
    c.reset().await;
    assert_eq!(c.count_rows(&t("parent")).await.unwrap(), 2);
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
}

#[tokio::test]
async fn preview_elapsed_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let c = connector(&path);
    let t0 = Instant::now();
    let set = c.preview(&t("child"), 10).await.unwrap();
    assert!(set.elapsed <= t0.elapsed());
    println!("first preview (opens the file) in {:?}", set.elapsed);
}
