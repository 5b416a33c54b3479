//! SQLite connector against files built here in a temp dir. The behaviours
//! every engine shares run from tests/common/conformance.rs through the
//! harness below (`conformance::*` tests; the network, TLS, password and
//! server-session cases are skipped by capability); this file keeps SQLite's own.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::conformance::{
    col, table, text, AfterKill, Bulk, Cap, Described, Fixture, Harness, Hostile, StreamCase,
};
use rusqlite::Connection;
use varlor::connectors::sqlite::SqliteConnector;
use varlor::connectors::{
    Cell, ConnSpec, Connector, ErrorKind, Kind, SessionOptions, TableKind, TableRef,
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
    let mut spec = ConnSpec::new(Kind::Sqlite);
    spec.database = path.display().to_string();
    SqliteConnector::new(spec, SessionOptions::default())
}

fn t(name: &str) -> TableRef {
    table(None, name)
}

// ---- the shared conformance suite ----

/// A fresh fixture file per test.
struct Sqlite {
    dir: tempfile::TempDir,
    path: PathBuf,
}

fn harness() -> Option<Sqlite> {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    Some(Sqlite { dir, path })
}

conformance_tests!(harness);

#[async_trait]
impl Harness for Sqlite {
    fn spec(&self) -> ConnSpec {
        let mut spec = ConnSpec::new(Kind::Sqlite);
        spec.database = self.path.display().to_string();
        spec
    }
    fn password(&self) -> Option<String> {
        None
    }
    /// A file: no network, TLS or password; no server whose sessions an admin
    /// lists or kills; no sleep function; no function that writes.
    fn has(&self, _: Cap) -> bool {
        false
    }
    fn unknown_database(&self, spec: &mut ConnSpec) {
        spec.database = self.dir.path().join("nope.db").display().to_string();
    }

    fn fixture(&self) -> Fixture {
        use TableKind::{Table, View};
        let hostile = |name, second_col, row| Hostile {
            table: t(name),
            columns: vec![(1, second_col)],
            rows: None,
            has_rows: vec![row],
            has_cells: vec![],
        };
        Fixture {
            listed: vec![
                (None, "parent", Table),
                (None, "child", Table),
                (None, "classes", Table),
                (None, "Weird Name", Table),
                (None, "quote\"d", Table),
                (None, "semi;colon", Table),
                (None, "ünïcödé", Table),
                (None, "select", Table),
                (None, "back`tick", Table),
                (None, "parent_names", View),
                (None, "endless", View),
            ],
            system_table: (None, "sqlite_sequence"),
            preview_schemas: vec![None],
            preview_skip: vec!["endless"],
            may_be_empty: vec![],
            min_previewed: 10,
            hostile: vec![
                hostile(
                    "Weird Name",
                    "Mixed Case",
                    vec![Cell::Int(2), text("two"), Cell::Null],
                ),
                hostile(
                    "quote\"d",
                    "col\"quote",
                    vec![Cell::Int(1), text("dq \"one\"")],
                ),
                hostile(
                    "semi;colon",
                    "a;b",
                    vec![Cell::Int(1), text("; DROP TABLE parent; --")],
                ),
                hostile("ünïcödé", "naïve", vec![Cell::Int(1), text("café")]),
                hostile("select", "where", vec![Cell::Int(1), text("reserved")]),
                hostile("back`tick", "v", vec![Cell::Int(1), text("`ticked`")]),
            ],
            untouched: (t("parent"), 2),
            described: vec![
                Described {
                    primary_key: Some(vec!["a", "b"]),
                    columns: vec![
                        col("a").nullable(false),
                        col("parent_id")
                            .references(Some("parent(id)"))
                            .nullable(true),
                        col("other_id").references(Some("parent(id)")),
                    ],
                    ..Described::of(t("child"))
                },
                Described {
                    columns: vec![col("name").ty("TEXT").default_is(Some("'none'"))],
                    ..Described::of(t("parent"))
                },
                Described {
                    column_names: Some(vec!["id", "col\"quote"]),
                    ..Described::of(t("quote\"d"))
                },
            ],
            missing: t("missing"),
            counts: vec![(t("child"), 5002), (t("parent"), 2)],
            small: (t("parent"), 2),
            // A recursive view that never ends (a LIMIT stops its preview).
            slow: t("endless"),
            slow_previews: false,
            timeout_within: Duration::from_secs(20),
            slow_stream: None,
            writing_view: None,
            write_filter: None,
            smuggle: (t("parent"), "1=1; DELETE FROM parent"),
            smuggle_refused_up_front: true,
            pristine_evidence: None,
            stream_all: (t("child"), 5002, None),
            stream_names: vec![(1, "b")],
            stream_types: vec![(1, "TEXT")],
            streams: vec![StreamCase {
                table: t("child"),
                limit: Some(5),
                filter: Some("b = 'bulk' AND a % 2 = 0"),
                rows: 5,
                every: Some(("b", text("bulk"))),
            }],
            after_kill: AfterKill::Reconnects,
        }
    }

    fn check_listing(&self, tables: &[TableRef]) {
        // No statistics and no schemas in a plain SQLite file.
        for t in tables.iter().filter(|t| !t.system) {
            assert_eq!(t.estimated_rows, None, "{}", t.name);
            assert_eq!(t.schema, None, "{}", t.name);
        }
    }

    /// The file's bytes, hashed.
    async fn write_evidence(&self) -> String {
        use std::hash::{Hash, Hasher};
        let bytes = std::fs::read(&self.path).expect("read the fixture file");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        format!("{} bytes, hash {:x}", bytes.len(), h.finish())
    }

    async fn create_tables(&self, n: usize) -> Result<Bulk, String> {
        let mut conn = Connection::open(&self.path).map_err(|e| e.to_string())?;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        for i in 0..n {
            tx.execute_batch(&format!("CREATE TABLE bulk_t{i} (id INTEGER)"))
                .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(Bulk {
            schema: None,
            count: n,
            prefix: "bulk_t".into(),
            probe: format!("bulk_t{}", n - 1),
        })
    }

    /// The file goes with the temp dir.
    async fn drop_tables(&self, _bulk: &Bulk) {}
}

// ---- SQLite's own cases ----

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
async fn nothing_can_write_through_the_connector() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let before = std::fs::read(&path).unwrap();
    let c = connector(&path);
    // A smuggled second statement: conformance::browsing_session_is_read_only.
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

#[tokio::test]
async fn preview_honours_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_db(dir.path());
    let limited = connector(&path).preview(&t("child"), 10).await.unwrap();
    assert_eq!(limited.rows.len(), 10);
}

#[tokio::test]
async fn terminal_hostile_text_comes_back_byte_for_byte() {
    // Escaping is the display's job: the connector returns the exact bytes.
    let dir = tempfile::tempdir().unwrap();
    let c = connector(&make_db(dir.path()));
    let listed = c.list_tables().await.unwrap();
    assert!(listed.iter().any(|t| t.name == common::hostile::TABLE));
    let set = c.preview(&t(common::hostile::TABLE), 10).await.unwrap();
    assert_eq!(set.columns[1].name, common::hostile::COLUMN);
    let got: Vec<&Cell> = set.rows.iter().map(|r| &r[1]).collect();
    let want: Vec<Cell> = common::hostile::VALUES
        .iter()
        .map(|v| Cell::Text(v.to_string()))
        .collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
    let info = c.describe(&t(common::hostile::TABLE)).await.unwrap();
    assert_eq!(info.columns[1].name, common::hostile::COLUMN);
}
