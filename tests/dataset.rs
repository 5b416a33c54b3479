//! The dataset import without a server: a fake connector streams synthetic
//! rows of every cell kind into each format, and the files are read back
//! (rusqlite, the csv crate, serde_json) and compared value by value.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use tokio_util::sync::CancellationToken;

use varlor::connectors::{
    Cell, ColumnMeta, ConnError, Connector, ErrorKind, Kind, RowSet, RowSink, ServerInfo,
    StreamOptions, TableInfo, TableKind, TableRef,
};
use varlor::dataset::{
    default_destination, read_sidecar, run_import, Format, ImportError, ImportEvent, ImportOutcome,
    ImportPlan, ImportSummary, TableOutcome, TablePlan, PROVENANCE_SIDECAR, PROVENANCE_TABLE,
};

// ---------------------------------------------------------------- fakes

#[derive(Clone)]
enum Behavior {
    /// Streams the rows and ends.
    Rows,
    /// Streams this many rows, then fails as if the server went away.
    FailAfter(usize),
    /// Streams rows forever, sleeping between them (a connector awaiting the server).
    ForeverSlow,
    /// Streams rows forever without ever yielding, cancelling `token`
    /// itself after `n` rows: only the sink's own check can stop it.
    ForeverBusy(u64, CancellationToken),
    /// Ignores the limit it is given.
    IgnoreLimit,
    /// Streams this many rows, then panics (a bug in a driver).
    PanicAfter(usize),
}

#[derive(Clone)]
struct FakeTable {
    table: TableRef,
    columns: Vec<ColumnMeta>,
    rows: Vec<Vec<Cell>>,
    behavior: Behavior,
}

struct Fake {
    tables: Vec<FakeTable>,
}

fn tref(schema: Option<&str>, name: &str, estimated: Option<i64>) -> TableRef {
    TableRef {
        schema: schema.map(str::to_string),
        name: name.to_string(),
        kind: TableKind::Table,
        estimated_rows: estimated,
        system: false,
    }
}

impl Fake {
    fn find(&self, t: &TableRef) -> Result<&FakeTable, ConnError> {
        self.tables
            .iter()
            .find(|f| f.table.schema == t.schema && f.table.name == t.name)
            .ok_or_else(|| ConnError::new(ErrorKind::NotFound, t.display_name()))
    }
}

#[async_trait]
impl Connector for Fake {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        Err(ConnError::new(ErrorKind::Other, "fake"))
    }
    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        Ok(self.tables.iter().map(|t| t.table.clone()).collect())
    }
    async fn describe(&self, _t: &TableRef) -> Result<TableInfo, ConnError> {
        Err(ConnError::new(ErrorKind::Other, "fake"))
    }
    async fn count_rows(&self, t: &TableRef) -> Result<u64, ConnError> {
        Ok(self.find(t)?.rows.len() as u64)
    }
    async fn preview(&self, _t: &TableRef, _limit: usize) -> Result<RowSet, ConnError> {
        Err(ConnError::new(ErrorKind::Other, "fake"))
    }
    async fn stream_rows(
        &self,
        t: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        let f = self.find(t)?.clone();
        sink.columns(&f.columns)?;
        let limit = match f.behavior {
            Behavior::IgnoreLimit => usize::MAX,
            _ => opts.limit.map_or(usize::MAX, |l| l as usize),
        };
        let mut n = 0u64;
        match f.behavior {
            Behavior::Rows | Behavior::IgnoreLimit => {
                for row in f.rows.iter().take(limit) {
                    sink.row(row.clone())?;
                    n += 1;
                }
            }
            Behavior::PanicAfter(k) => {
                for row in f.rows.iter().take(k) {
                    sink.row(row.clone())?;
                }
                panic!("a driver bug mid-stream");
            }
            Behavior::FailAfter(k) => {
                for row in f.rows.iter().take(k) {
                    sink.row(row.clone())?;
                }
                return Err(ConnError::new(
                    ErrorKind::ConnectionLost,
                    "server closed the connection",
                ));
            }
            Behavior::ForeverSlow => loop {
                sink.row(f.rows[n as usize % f.rows.len()].clone())?;
                n += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            },
            Behavior::ForeverBusy(after, token) => loop {
                sink.row(f.rows[n as usize % f.rows.len()].clone())?;
                n += 1;
                if n == after {
                    token.cancel();
                }
            },
        }
        Ok(n)
    }
    async fn reset(&self) {}
    fn capabilities(&self) -> varlor::connectors::Capabilities {
        varlor::connectors::engine::SQL_CAPABILITIES
    }
}

// ---------------------------------------------------------------- data

/// A column of a SQL engine, typed as its connector would type it.
fn col(name: &str, type_name: &str) -> ColumnMeta {
    ColumnMeta {
        name: name.into(),
        type_name: type_name.into(),
        logical: varlor::connectors::Logical::of_sql_type(type_name, false),
    }
}

/// A column of a SQLite source (declared affinity).
fn sqlite_col(name: &str, decl: &str) -> ColumnMeta {
    ColumnMeta {
        name: name.into(),
        type_name: decl.into(),
        logical: varlor::connectors::Logical::of_sqlite_decl(decl),
    }
}

fn t(s: &str) -> Cell {
    Cell::Text(s.into())
}

/// A table of every cell kind, with NULLs, empty strings, hostile text,
/// big numerics as text and awkward floats.
fn every_kind(table: TableRef) -> FakeTable {
    let columns = vec![
        col("id", "int8"),
        col("name", "text"),
        col("price", "numeric(40,10)"),
        col("ratio", "float8"),
        col("flag", "boolean"),
        col("payload", "bytea"),
        col("created", "timestamptz"),
        col("doc", "jsonb"),
        col("loose", ""),
        col("Name", "varchar(10)"),
    ];
    let all: Vec<u8> = (0..=255).collect();
    let rows = vec![
        vec![
            Cell::Int(1),
            t("plain"),
            t("12345678901234567890.0123456789"),
            Cell::Float(0.1),
            Cell::Bool(true),
            Cell::Bytes(vec![0xde, 0xad, 0xbe, 0xef]),
            t("2024-01-02 03:04:05.123456+01"),
            t(r#"{"a": [1, 2], "b": "é"}"#),
            Cell::Int(7),
            t("x"),
        ],
        vec![
            Cell::Int(i64::MIN),
            Cell::Text(String::new()),
            t("-0.0000000001"),
            Cell::Float(f64::NAN),
            Cell::Bool(false),
            Cell::Bytes(Vec::new()),
            t("infinity"),
            t("null"),
            t("text in a loose column"),
            Cell::Null,
        ],
        vec![
            Cell::Int(i64::MAX),
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Text(String::new()),
        ],
        vec![
            Cell::Int(4),
            t("comma, \"quote\"\nnew line\r\nand ünïcödé 🚀"),
            t("99999999999999999999999999999.9999999999"),
            Cell::Float(f64::INFINITY),
            t("t"),
            Cell::Bytes(all),
            t("1999-12-31 23:59:59-05:30"),
            t("[]"),
            Cell::Float(-2.5e-300),
            t("  spaces  "),
        ],
        vec![
            Cell::Int(5),
            t("tab\there; semi"),
            t("0"),
            Cell::Float(1e300),
            t("f"),
            Cell::Bytes(vec![b'"', b',', b'\n']),
            t("2024-06-30 12:00:00+00"),
            t("\"str\""),
            Cell::Bytes(vec![1, 2]),
            t("a,b"),
        ],
    ];
    FakeTable {
        table,
        columns,
        rows,
        behavior: Behavior::Rows,
    }
}

fn small(table: TableRef, n: i64, behavior: Behavior) -> FakeTable {
    FakeTable {
        table,
        columns: vec![col("n", "integer"), col("label", "text")],
        rows: (0..n)
            .map(|i| vec![Cell::Int(i), t(&format!("row {i}"))])
            .collect(),
        behavior,
    }
}

fn hostile_tables() -> Vec<TableRef> {
    vec![
        tref(Some("public"), "customers", Some(5)),
        tref(None, "Weird Name", None),
        tref(Some("sales"), "quote\"d", Some(-1)),
        tref(None, "semi;colon", Some(2)),
        tref(None, "ünïcödé", None),
        tref(None, "select", None),
        tref(Some("a/b"), "c/d", None),
        tref(None, "sqlite_stat", None),
        tref(None, "_varlor_import", None),
        tref(None, "Foo", None),
        tref(None, "foo", None),
    ]
}

// ---------------------------------------------------------------- helpers

fn plan(dir: &Path, format: Format, tables: &[FakeTable], file: &str) -> ImportPlan {
    ImportPlan {
        connection: "fake".into(),
        kind: Kind::Postgres,
        tables: tables
            .iter()
            .map(|f| TablePlan::new(f.table.clone()))
            .collect(),
        destination: dir.join(file),
        format,
    }
}

async fn import(
    tables: Vec<FakeTable>,
    plan: ImportPlan,
    cancel: CancellationToken,
) -> (ImportSummary, Vec<ImportEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let connector: Arc<dyn Connector> = Arc::new(Fake { tables });
    let summary = run_import(connector, plan, tx, cancel).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (summary, events)
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The documented timestamp normalisation, spelled out for the fixtures.
fn iso(s: &str) -> String {
    match s {
        "2024-01-02 03:04:05.123456+01" => "2024-01-02T03:04:05.123456+01:00".into(),
        "1999-12-31 23:59:59-05:30" => "1999-12-31T23:59:59-05:30".into(),
        "2024-06-30 12:00:00+00" => "2024-06-30T12:00:00+00:00".into(),
        other => other.into(),
    }
}

fn is_timestamp(c: &ColumnMeta) -> bool {
    c.type_name == "timestamptz"
}

fn is_bool(c: &ColumnMeta) -> bool {
    c.type_name == "boolean"
}

/// What a cell must read back as from the SQLite dataset.
fn expected_sqlite(c: &ColumnMeta, cell: &Cell) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    let text_col = matches!(
        c.type_name.as_str(),
        "text" | "numeric(40,10)" | "timestamptz" | "jsonb" | "varchar(10)"
    );
    match cell {
        Cell::Null => V::Null,
        Cell::Int(i) if text_col => V::Text(i.to_string()),
        Cell::Int(i) => V::Integer(*i),
        Cell::Float(f) if f.is_nan() => V::Text("NaN".into()),
        Cell::Float(f) => V::Real(*f),
        Cell::Bool(b) => V::Integer(*b as i64),
        Cell::Text(s) if is_bool(c) => V::Integer((s == "t") as i64),
        Cell::Text(s) if is_timestamp(c) => V::Text(iso(s)),
        Cell::Text(s) => V::Text(s.clone()),
        Cell::Bytes(b) => V::Blob(b.clone()),
        Cell::Json(v) => V::Text(v.to_string()),
    }
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

/// What a cell must read back as from CSV (NULL and "" both read as "").
fn expected_csv(c: &ColumnMeta, cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => float_text(*f),
        Cell::Bool(b) => b.to_string(),
        Cell::Text(s) if is_bool(c) => (s == "t").to_string(),
        Cell::Text(s) if is_timestamp(c) => iso(s),
        Cell::Text(s) => s.clone(),
        Cell::Bytes(b) => b64(b),
        Cell::Json(v) => v.to_string(),
    }
}

fn expected_json(c: &ColumnMeta, cell: &Cell) -> serde_json::Value {
    use serde_json::Value as J;
    match cell {
        Cell::Null => J::Null,
        Cell::Int(i) => J::from(*i),
        Cell::Float(f) if f.is_finite() => J::from(*f),
        Cell::Float(f) => J::String(float_text(*f)),
        Cell::Bool(b) => J::Bool(*b),
        Cell::Text(s) if is_bool(c) => J::Bool(s == "t"),
        Cell::Text(s) if is_timestamp(c) => J::String(iso(s)),
        // Decimals a double holds exactly (≤ 15 significant digits) are
        // numbers; longer ones stay strings, digit for digit.
        Cell::Text(s) if c.type_name.starts_with("numeric") => {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            if digits.trim_matches('0').len() <= 15 {
                serde_json::from_str(s).unwrap()
            } else {
                J::String(s.clone())
            }
        }
        Cell::Text(s) => J::String(s.clone()),
        Cell::Bytes(b) => J::String(b64(b)),
        Cell::Json(v) => v.clone(),
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn dataset_names(columns: &[ColumnMeta]) -> Vec<String> {
    // The fixture's "Name" collides case-insensitively with "name".
    columns
        .iter()
        .map(|c| {
            if c.name == "Name" {
                "Name #2".into()
            } else {
                c.name.clone()
            }
        })
        .collect()
}

fn check_sqlite(path: &Path, tables: &[FakeTable], summary: &ImportSummary) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for (f, ts) in tables.iter().zip(&summary.tables) {
        assert_eq!(ts.outcome, TableOutcome::Done, "{}", ts.target);
        let q = format!(
            "SELECT * FROM \"{}\" ORDER BY rowid",
            ts.target.replace('"', "\"\"")
        );
        let mut stmt = conn.prepare(&q).unwrap();
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        assert_eq!(names, dataset_names(&f.columns));
        let got: Vec<Vec<rusqlite::types::Value>> = stmt
            .query_map([], |r| {
                (0..f.columns.len())
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect()
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got.len(), f.rows.len(), "{}", ts.target);
        for (row, src) in got.iter().zip(&f.rows) {
            for ((g, cell), c) in row.iter().zip(src).zip(&f.columns) {
                assert_eq!(*g, expected_sqlite(c, cell), "{} {}", ts.target, c.name);
            }
        }
    }
}

fn check_csv(dir: &Path, tables: &[FakeTable], summary: &ImportSummary) {
    for (f, ts) in tables.iter().zip(&summary.tables) {
        assert_eq!(ts.outcome, TableOutcome::Done, "{}", ts.target);
        let path = dir.join(&ts.target);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(&path)
            .unwrap();
        let headers: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, dataset_names(&f.columns));
        let records: Vec<csv::StringRecord> = rdr.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), f.rows.len(), "{}", ts.target);
        for (rec, src) in records.iter().zip(&f.rows) {
            let got: Vec<&str> = rec.iter().collect();
            let want: Vec<String> = src
                .iter()
                .zip(&f.columns)
                .map(|(cell, c)| expected_csv(c, cell))
                .collect();
            assert_eq!(got, want, "{}", ts.target);
        }
    }
}

fn check_jsonl(dir: &Path, tables: &[FakeTable], summary: &ImportSummary) {
    for (f, ts) in tables.iter().zip(&summary.tables) {
        assert_eq!(ts.outcome, TableOutcome::Done, "{}", ts.target);
        let text = std::fs::read_to_string(dir.join(&ts.target)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), f.rows.len(), "{}", ts.target);
        let names = dataset_names(&f.columns);
        // One JSON type per column: where the values would be of several,
        // every value is a string, the text CSV has.
        let mixed: Vec<bool> = f
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let types: std::collections::BTreeSet<String> = f
                    .rows
                    .iter()
                    .map(|r| expected_json(c, &r[i]))
                    .filter(|v| !v.is_null())
                    .map(|v| json_type(&v).to_string())
                    .collect();
                types.len() > 1
            })
            .collect();
        for (line, src) in lines.iter().zip(&f.rows) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object().unwrap();
            assert_eq!(obj.len(), names.len());
            for (((cell, c), n), mixed) in src.iter().zip(&f.columns).zip(&names).zip(&mixed) {
                let want = match expected_json(c, cell) {
                    serde_json::Value::Null => serde_json::Value::Null,
                    _ if *mixed => serde_json::Value::String(expected_csv(c, cell)),
                    one => one,
                };
                assert_eq!(obj[n], want, "{} {n}", ts.target);
            }
        }
        for (i, n) in names.iter().enumerate() {
            let types: std::collections::BTreeSet<&str> = lines
                .iter()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()[n].clone())
                .filter(|v| !v.is_null())
                .map(|v| json_type(&v))
                .collect();
            assert!(types.len() <= 1, "{} {n} (#{i}): {types:?}", ts.target);
        }
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn sqlite_dataset_round_trips_every_kind_and_hostile_name() {
    let dir = tempfile::tempdir().unwrap();
    let tables: Vec<FakeTable> = hostile_tables().into_iter().map(every_kind).collect();
    let p = plan(dir.path(), Format::Sqlite, &tables, "set.sqlite");
    let (summary, events) = import(tables.clone(), p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
    assert!(summary.written);
    assert_eq!(summary.total_rows(), 5 * tables.len() as u64);
    let targets: Vec<&str> = summary.tables.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "public.customers",
            "Weird Name",
            "sales.quote\"d",
            "semi;colon",
            "ünïcödé",
            "select",
            "a/b.c/d",
            "_sqlite_stat",
            "_varlor_import #2",
            "Foo",
            "foo #2"
        ]
    );
    check_sqlite(&summary.destination, &tables, &summary);
    // Only the dataset remains: no temporary file, no journal.
    assert_eq!(dir_names(dir.path()), ["set.sqlite"]);

    // Declared types follow the documented mapping.
    let conn = rusqlite::Connection::open(&summary.destination).unwrap();
    let types: Vec<(String, String)> = conn
        .prepare("SELECT name, type FROM pragma_table_info('public.customers')")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want = [
        ("id", "INTEGER"),
        ("name", "TEXT"),
        ("price", "TEXT"),
        ("ratio", "REAL"),
        ("flag", "INTEGER"),
        ("payload", "BLOB"),
        ("created", "TEXT"),
        ("doc", "TEXT"),
        ("loose", ""),
        ("Name #2", "TEXT"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(types, want);

    // Provenance: one row per table, with the source's own names.
    let prov: Vec<(String, Option<String>, String, i64, String)> = conn
        .prepare(&format!(
            "SELECT dataset_table, source_schema, source_table, rows, kind FROM {PROVENANCE_TABLE} ORDER BY rowid"
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(prov.len(), tables.len());
    assert_eq!(
        prov[2],
        (
            "sales.quote\"d".into(),
            Some("sales".into()),
            "quote\"d".into(),
            5,
            "postgres".into()
        )
    );
    let columns: String = conn
        .query_row(
            &format!("SELECT columns FROM {PROVENANCE_TABLE} LIMIT 1"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    // The provenance records each column's name and the engine's type name.
    let columns: Vec<ColumnMeta> = serde_json::from_str(&columns).unwrap();
    let named = |c: &[ColumnMeta]| -> Vec<(String, String)> {
        c.iter()
            .map(|c| (c.name.clone(), c.type_name.clone()))
            .collect()
    };
    assert_eq!(named(&columns), named(&tables[0].columns));

    // Events: each table starts (with its estimate) and ends, in order.
    let starts: Vec<(usize, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            ImportEvent::TableStarted {
                index,
                estimated_rows,
                ..
            } => Some((*index, *estimated_rows)),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), tables.len());
    assert_eq!(starts[0], (0, Some(5)));
    assert_eq!(starts[1], (1, None));
    assert_eq!(starts[2], (2, None), "a negative estimate means unknown");
    let dones = events
        .iter()
        .filter(|e| matches!(e, ImportEvent::TableDone { rows: 5, .. }))
        .count();
    assert_eq!(dones, tables.len());
}

#[tokio::test]
async fn csv_dataset_round_trips_every_kind_and_hostile_name() {
    let dir = tempfile::tempdir().unwrap();
    let tables: Vec<FakeTable> = hostile_tables().into_iter().map(every_kind).collect();
    let p = plan(dir.path(), Format::Csv, &tables, "out");
    let (summary, _) = import(tables.clone(), p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
    check_csv(&summary.destination, &tables, &summary);
    let mut want: Vec<String> = [
        "public.customers.csv",
        "Weird Name.csv",
        "sales.quote%22d.csv",
        "semi;colon.csv",
        "ünïcödé.csv",
        "select.csv",
        "a%2Fb.c%2Fd.csv",
        "sqlite_stat.csv",
        "_varlor_import.csv",
        "Foo.csv",
        "foo~2.csv",
        PROVENANCE_SIDECAR,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(dir_names(&summary.destination), want);

    // NULL is an empty unquoted field, an empty string is "".
    let raw = std::fs::read_to_string(summary.destination.join("Weird Name.csv")).unwrap();
    let lines: Vec<&str> = raw.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,name,price,ratio,flag,payload,created,doc,loose,Name #2"
    );
    assert!(
        lines[2].starts_with("-9223372036854775808,\"\","),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("9223372036854775807,,,,,,,,,\"\""),
        "{}",
        lines[3]
    );
    assert!(
        lines[2].contains(",false,\"\","),
        "empty bytes are \"\": {}",
        lines[2]
    );

    let prov = read_sidecar(&summary.destination);
    assert_eq!(prov.len(), tables.len());
    assert_eq!(prov[6].target, "a%2Fb.c%2Fd.csv");
    assert_eq!(prov[6].source_schema.as_deref(), Some("a/b"));
    assert_eq!(prov[6].source_table, "c/d");
    assert_eq!(prov[6].rows, 5);
    assert_eq!(prov[6].connection, "fake");
}

#[tokio::test]
async fn jsonl_dataset_round_trips_every_kind_and_hostile_name() {
    let dir = tempfile::tempdir().unwrap();
    let tables: Vec<FakeTable> = hostile_tables().into_iter().map(every_kind).collect();
    let p = plan(dir.path(), Format::Jsonl, &tables, "out");
    let (summary, _) = import(tables.clone(), p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
    check_jsonl(&summary.destination, &tables, &summary);
    assert!(summary.destination.join("sales.quote%22d.jsonl").is_file());
    // Columns keep the source order in each object.
    let raw = std::fs::read_to_string(summary.destination.join("select.jsonl")).unwrap();
    let first = raw.lines().next().unwrap();
    assert!(
        first.starts_with(
            "{\"id\":1,\"name\":\"plain\",\"price\":\"12345678901234567890.0123456789\""
        ),
        "{first}"
    );
    let prov = read_sidecar(&summary.destination);
    assert_eq!(prov.len(), tables.len());
    // A decimal past 15 digits makes its column strings (the exact ones
    // too), as do a float NaN and the mixed values of a typeless column;
    // the provenance names each with its reason.
    let kept: Vec<&str> = prov[0]
        .kept_as_text
        .iter()
        .map(|k| k.column.as_str())
        .collect();
    assert_eq!(kept, ["price", "ratio", "loose"]);
    assert!(prov[0].kept_as_text[0]
        .reason
        .contains("significant digits"));
    assert!(prov[0].kept_as_text[1]
        .reason
        .contains("more than one JSON type"));
    assert!(raw.contains("\"price\":\"-0.0000000001\","), "{raw}");
}

#[tokio::test]
async fn a_failed_table_is_reported_and_the_others_go_on() {
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let tables = vec![
            small(tref(None, "one", Some(10)), 10, Behavior::Rows),
            small(tref(None, "two", Some(10)), 10, Behavior::FailAfter(5)),
            small(tref(None, "three", Some(10)), 10, Behavior::Rows),
        ];
        let p = plan(dir.path(), format, &tables, "out");
        let (summary, events) = import(tables.clone(), p, CancellationToken::new()).await;
        assert_eq!(summary.outcome(), ImportOutcome::Partial);
        assert!(summary.written);
        match &summary.tables[1].outcome {
            TableOutcome::Failed {
                error: ImportError::Source { error },
            } => assert_eq!(error.kind, ErrorKind::ConnectionLost),
            other => panic!("{format}: {other:?}"),
        }
        assert!(events.iter().any(|e| matches!(
            e,
            ImportEvent::TableFailed {
                index: 1,
                rows: 5,
                ..
            }
        )));
        let good = [tables[0].clone(), tables[2].clone()];
        let good_summary = ImportSummary {
            tables: vec![summary.tables[0].clone(), summary.tables[2].clone()],
            ..summary.clone()
        };
        match format {
            Format::Sqlite => {
                check_sqlite(&summary.destination, &good, &good_summary);
                let conn = rusqlite::Connection::open(&summary.destination).unwrap();
                let n: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM sqlite_master WHERE name = 'two'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(n, 0, "the failed table leaves nothing");
                let prov: i64 = conn
                    .query_row(
                        &format!("SELECT count(*) FROM {PROVENANCE_TABLE}"),
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(prov, 2);
                assert_eq!(dir_names(dir.path()), ["out"]);
            }
            Format::Csv => {
                check_csv(&summary.destination, &good, &good_summary);
                assert_eq!(
                    dir_names(&summary.destination),
                    [PROVENANCE_SIDECAR, "one.csv", "three.csv"]
                );
            }
            Format::Jsonl => {
                check_jsonl(&summary.destination, &good, &good_summary);
                assert_eq!(
                    dir_names(&summary.destination),
                    [PROVENANCE_SIDECAR, "one.jsonl", "three.jsonl"]
                );
                assert_eq!(read_sidecar(&summary.destination).len(), 2);
            }
            Format::Parquet => {
                // Read back with the parquet reader: the rows of the good tables.
                use parquet::file::reader::FileReader;
                for (t, name) in good.iter().zip(["one.parquet", "three.parquet"]) {
                    let path = summary.destination.join(name);
                    let reader =
                        parquet::file::reader::SerializedFileReader::try_from(path.as_path())
                            .unwrap();
                    let rows: Vec<String> = reader
                        .get_row_iter(None)
                        .unwrap()
                        .map(|r| r.unwrap().to_string())
                        .collect();
                    assert_eq!(rows.len(), t.rows.len(), "{name}");
                    assert_eq!(rows[0], "{n: 0, label: \"row 0\"}", "{name}");
                }
                assert_eq!(
                    dir_names(&summary.destination),
                    [PROVENANCE_SIDECAR, "one.parquet", "three.parquet"]
                );
                assert_eq!(read_sidecar(&summary.destination).len(), 2);
            }
        }
        // The audit line names every table and its outcome, never the filter text.
        let audit = summary.audit_detail();
        assert!(audit.contains("one (10 rows)"), "{audit}");
        assert!(audit.contains("two (failed: Connection lost)"), "{audit}");
        assert!(audit.contains("outcome=partial"), "{audit}");
        assert!(audit.contains("rows=20"), "{audit}");
    }
}

/// Cancels the token as soon as the first rows have been reported.
fn cancel_on_progress(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<ImportEvent>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Vec<ImportEvent>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(e) = rx.recv().await {
            if matches!(e, ImportEvent::Progress { index: 1, rows, .. } if rows > 0) {
                cancel.cancel();
            }
            seen.push(e);
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_a_waiting_stream_leaves_no_partial_file() {
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let tables = vec![
            small(tref(None, "done", None), 3, Behavior::Rows),
            small(tref(None, "endless", None), 3, Behavior::ForeverSlow),
            small(tref(None, "never", None), 3, Behavior::Rows),
        ];
        let p = plan(dir.path(), format, &tables, "out");
        let cancel = CancellationToken::new();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = cancel_on_progress(rx, cancel.clone());
        // Spawned: the import future must be Send for the TUI and the CLI.
        let summary = tokio::spawn(run_import(Arc::new(Fake { tables }), p, tx, cancel))
            .await
            .unwrap();
        let events = watcher.await.unwrap();
        assert!(summary.cancelled);
        assert_eq!(summary.outcome(), ImportOutcome::Cancelled);
        assert_eq!(summary.tables[1].outcome, TableOutcome::Cancelled);
        assert_eq!(summary.tables[2].outcome, TableOutcome::Cancelled);
        assert!(events.iter().any(|e| matches!(
            e,
            ImportEvent::TableFailed {
                index: 1,
                error: ImportError::Cancelled,
                ..
            }
        )));
        assert!(!events
            .iter()
            .any(|e| matches!(e, ImportEvent::TableStarted { index: 2, .. })));
        match format {
            // The SQLite dataset is all or nothing.
            Format::Sqlite => {
                assert!(!summary.written);
                assert_eq!(dir_names(dir.path()), Vec::<String>::new());
            }
            // Files finished before the cancel stay, complete and described.
            Format::Csv | Format::Jsonl | Format::Parquet => {
                let ext = format.extension();
                assert_eq!(
                    dir_names(&summary.destination),
                    [PROVENANCE_SIDECAR.to_string(), format!("done.{ext}")]
                );
                assert_eq!(read_sidecar(&summary.destination).len(), 1);
            }
        }
    }
}

#[tokio::test]
async fn cancel_of_a_busy_stream_is_seen_by_the_sink() {
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let tables = vec![small(
            tref(None, "busy", None),
            7,
            Behavior::ForeverBusy(5_000, cancel.clone()),
        )];
        let p = plan(dir.path(), format, &tables, "out");
        let (summary, _) = import(tables, p, cancel).await;
        assert_eq!(summary.outcome(), ImportOutcome::Cancelled);
        assert!(!summary.written);
        let rows = summary.tables[0].rows;
        assert!(
            (5_000..5_000 + 64).contains(&rows),
            "stopped after {rows} rows"
        );
        // Nothing at all: not even the csv/jsonl directory this import created.
        assert_eq!(dir_names(dir.path()), Vec::<String>::new(), "{format}");
    }
}

#[tokio::test]
async fn cancelled_sqlite_import_keeps_an_existing_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let first = vec![small(tref(None, "kept", None), 4, Behavior::Rows)];
    let p = plan(dir.path(), Format::Sqlite, &first, "set.sqlite");
    let (s1, _) = import(first.clone(), p.clone(), CancellationToken::new()).await;
    assert_eq!(s1.outcome(), ImportOutcome::Ok);
    let before = std::fs::read(&s1.destination).unwrap();

    let cancel = CancellationToken::new();
    let second = vec![small(
        tref(None, "busy", None),
        3,
        Behavior::ForeverBusy(100, cancel.clone()),
    )];
    let p2 = plan(dir.path(), Format::Sqlite, &second, "set.sqlite");
    let (s2, _) = import(second, p2, cancel).await;
    assert_eq!(s2.outcome(), ImportOutcome::Cancelled);
    assert_eq!(std::fs::read(&s1.destination).unwrap(), before);
    assert_eq!(dir_names(dir.path()), ["set.sqlite"]);
}

#[tokio::test]
async fn limit_is_enforced_even_when_the_connector_ignores_it() {
    let dir = tempfile::tempdir().unwrap();
    let tables = vec![small(
        tref(None, "big", Some(1000)),
        100,
        Behavior::IgnoreLimit,
    )];
    let mut p = plan(dir.path(), Format::Sqlite, &tables, "set.sqlite");
    p.tables[0].limit = Some(10);
    p.tables[0].filter = Some("email = 'someone@example.com'".into());
    let (summary, events) = import(tables, p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
    assert_eq!(summary.tables[0].rows, 10);
    assert!(events.iter().any(|e| matches!(
        e,
        ImportEvent::TableStarted {
            estimated_rows: Some(10),
            ..
        }
    )));
    let conn = rusqlite::Connection::open(&summary.destination).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM big", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
    let (filter, limit): (Option<String>, Option<i64>) = conn
        .query_row(
            &format!("SELECT filter, row_limit FROM {PROVENANCE_TABLE}"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(filter.as_deref(), Some("email = 'someone@example.com'"));
    assert_eq!(limit, Some(10));
    assert!(!summary.audit_detail().contains("someone@example.com"));
}

#[tokio::test]
async fn an_existing_file_that_is_not_a_dataset_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious.db");
    std::fs::write(&precious, b"not yours to replace").unwrap();
    let tables = vec![small(tref(None, "t", None), 2, Behavior::Rows)];
    let p = plan(dir.path(), Format::Sqlite, &tables, "precious.db");
    let (summary, events) = import(tables, p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Failed);
    assert!(matches!(
        summary.error,
        Some(ImportError::Destination { .. })
    ));
    assert!(matches!(
        events[0],
        ImportEvent::TableFailed { index: 0, .. }
    ));
    assert_eq!(std::fs::read(&precious).unwrap(), b"not yours to replace");
    assert_eq!(dir_names(dir.path()), ["precious.db"]);
}

#[tokio::test]
async fn a_second_import_replaces_a_dataset_and_merges_a_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite: a Varlor dataset at the destination is replaced whole.
    let a = vec![small(tref(None, "a", None), 2, Behavior::Rows)];
    let b = vec![small(tref(None, "b", None), 3, Behavior::Rows)];
    let (s, _) = import(
        a.clone(),
        plan(dir.path(), Format::Sqlite, &a, "x.sqlite"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(s.outcome(), ImportOutcome::Ok);
    let (s, _) = import(
        b.clone(),
        plan(dir.path(), Format::Sqlite, &b, "x.sqlite"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(s.outcome(), ImportOutcome::Ok, "{s:?}");
    check_sqlite(&s.destination, &b, &s);

    // CSV: the directory keeps other tables, and their provenance.
    let (s, _) = import(
        a.clone(),
        plan(dir.path(), Format::Csv, &a, "d"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(s.outcome(), ImportOutcome::Ok);
    let (s, _) = import(
        b.clone(),
        plan(dir.path(), Format::Csv, &b, "d"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(s.outcome(), ImportOutcome::Ok);
    assert_eq!(
        dir_names(&s.destination),
        [PROVENANCE_SIDECAR, "a.csv", "b.csv"]
    );
    let prov = read_sidecar(&s.destination);
    let targets: Vec<&str> = prov.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["a.csv", "b.csv"]);
}

#[tokio::test]
async fn sqlite_source_keeps_its_affinity_and_counts_for_an_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let f = FakeTable {
        table: tref(None, "loose", None),
        columns: vec![
            sqlite_col("a", "DECIMAL(10,2)"),
            sqlite_col("b", "VARCHAR(5)"),
            sqlite_col("c", ""),
        ],
        rows: vec![
            vec![Cell::Float(1.5), t("x"), Cell::Int(3)],
            vec![t("not a number"), t("12"), Cell::Bytes(vec![9])],
        ],
        behavior: Behavior::Rows,
    };
    let mut p = plan(
        dir.path(),
        Format::Sqlite,
        std::slice::from_ref(&f),
        "l.sqlite",
    );
    p.kind = Kind::Sqlite;
    let (summary, events) = import(vec![f], p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok);
    assert!(events.iter().any(|e| matches!(
        e,
        ImportEvent::TableStarted {
            estimated_rows: Some(2),
            ..
        }
    )));
    let conn = rusqlite::Connection::open(&summary.destination).unwrap();
    let decl: Vec<String> = conn
        .prepare("SELECT type FROM pragma_table_info('loose')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(decl, ["NUMERIC", "TEXT", ""]);
    let kinds: Vec<(String, String, String)> = conn
        .prepare("SELECT typeof(a), typeof(b), typeof(c) FROM loose ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds[0], ("real".into(), "text".into(), "integer".into()));
    assert_eq!(kinds[1], ("text".into(), "text".into(), "blob".into()));
}

#[test]
fn default_destination_lives_in_the_datasets_dir() {
    let dir = tempfile::tempdir().unwrap();
    let p: PathBuf = default_destination(dir.path(), "prod", Format::Sqlite);
    assert_eq!(p.parent(), Some(dir.path()));
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("prod-") && name.ends_with(".sqlite"),
        "{name}"
    );
    let d = default_destination(dir.path(), "prod", Format::Jsonl);
    assert!(d.to_string_lossy().ends_with("-jsonl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_mid_import_leaves_no_partial_file() {
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let tables = vec![small(
            tref(None, "boom", None),
            50,
            Behavior::PanicAfter(20),
        )];
        let p = plan(dir.path(), format, &tables, "out");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let joined = tokio::spawn(run_import(
            Arc::new(Fake { tables }),
            p,
            tx,
            CancellationToken::new(),
        ))
        .await;
        assert!(joined.unwrap_err().is_panic(), "{format}");
        let mut left = dir_names(dir.path());
        left.extend(dir_names(&dir.path().join("out")));
        assert!(
            left.iter().all(|n| !n.ends_with(".partial")),
            "{format}: {left:?}"
        );
    }
}

/// Decimals sort and sum as numbers in the SQLite dataset (the invoice
/// totals whose text `max()` said 9.91 where the source says 25.86); a
/// column where one value would lose digits becomes TEXT as a whole, with
/// every value in the source's own digits, and the provenance says why.
#[tokio::test]
async fn decimals_are_numbers_in_sqlite_unless_a_value_would_lose_digits() {
    let dir = tempfile::tempdir().unwrap();
    let totals = ["9.91", "25.86", "100.00", "3.98", "-0.50"];
    let table = FakeTable {
        table: tref(None, "invoices", None),
        columns: vec![
            col("total", "numeric(10,2)"),
            col("big", "numeric(30,10)"),
            col("unsigned", "bigint unsigned"),
        ],
        rows: totals
            .iter()
            .enumerate()
            .map(|(i, total)| {
                vec![
                    t(total),
                    // Exact values first, then one that a REAL cannot hold.
                    t(if i == 3 {
                        "12345678901234567890.0123456789"
                    } else {
                        [
                            "1.5000000000",
                            "-0.0000000001",
                            "7.0000000000",
                            "",
                            "0.2500000000",
                        ][i]
                    }),
                    t([
                        "1",
                        "18446744073709551615",
                        "0",
                        "42",
                        "9223372036854775807",
                    ][i]),
                ]
            })
            .collect(),
        behavior: Behavior::Rows,
    };
    let p = plan(
        dir.path(),
        Format::Sqlite,
        std::slice::from_ref(&table),
        "set.sqlite",
    );
    let (summary, _) = import(vec![table.clone()], p, CancellationToken::new()).await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
    let conn = rusqlite::Connection::open(&summary.destination).unwrap();
    let decls: Vec<String> = conn
        .prepare("SELECT type FROM pragma_table_info('invoices')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(decls, ["NUMERIC", "TEXT", "TEXT"]);
    let (max, sum, typ): (f64, f64, String) = conn
        .query_row(
            "SELECT max(total), sum(total), typeof(min(total)) FROM invoices",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(max, 100.0);
    assert!((sum - 139.25).abs() < 1e-9, "{sum}");
    assert_eq!(typ, "real");
    let order: Vec<f64> = conn
        .prepare("SELECT total FROM invoices ORDER BY total")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(order, [-0.5, 3.98, 9.91, 25.86, 100.0]);
    // The TEXT columns hold the source's digits, also for the values
    // written as numbers before the long one arrived.
    let big: Vec<(String, String)> = conn
        .prepare("SELECT big, unsigned FROM invoices ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        big,
        [
            ("1.5000000000", "1"),
            ("-0.0000000001", "18446744073709551615"),
            ("7.0000000000", "0"),
            ("12345678901234567890.0123456789", "42"),
            ("0.2500000000", "9223372036854775807"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let kept: String = conn
        .query_row(
            &format!("SELECT kept_as_text FROM {PROVENANCE_TABLE}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let kept: Vec<serde_json::Value> = serde_json::from_str(&kept).unwrap();
    let cols: Vec<&str> = kept.iter().map(|k| k["column"].as_str().unwrap()).collect();
    assert_eq!(cols, ["big", "unsigned"]);
    assert!(kept[0]["reason"]
        .as_str()
        .unwrap()
        .contains("significant digits"));

    // JSON Lines: numbers where a double reader gets every digit back from
    // every value of the column; one that does not makes the column strings.
    let p = plan(
        dir.path(),
        Format::Jsonl,
        std::slice::from_ref(&table),
        "jsonl",
    );
    let (summary, _) = import(vec![table], p, CancellationToken::new()).await;
    let text = std::fs::read_to_string(summary.destination.join("invoices.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        r#"{"total":9.91,"big":"1.5000000000","unsigned":"1"}"#
    );
    assert!(
        text.contains(r#""unsigned":"18446744073709551615""#),
        "{text}"
    );
}
