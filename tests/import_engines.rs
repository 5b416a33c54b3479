//! Every table of the test databases (PostgreSQL, MariaDB, a SQLite file)
//! imported into each format and compared with the source row by row.
//! The source is read back with `Connector::preview` (same connector, no
//! import code involved); rows are compared as multisets because neither
//! side promises an order.
//!
//! Needs the servers of `scripts/test` (VARLOR_TEST_PG_* / VARLOR_TEST_MYSQL_*);
//! skips with a notice without them, fails under CI=true.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use tokio_util::sync::CancellationToken;

use varlor::connectors::{
    connector_for, Cell, ColumnMeta, ConnSpec, Connector, Kind, SessionOptions, TableKind, TableRef,
};
use varlor::dataset::{
    read_sidecar, run_import, Format, ImportOutcome, ImportPlan, ImportSummary, TableOutcome,
    TablePlan, PROVENANCE_TABLE,
};

// ------------------------------------------------------------ expectations
//
// The documented mapping (src/dataset/mod.rs), written out independently.

#[derive(Debug, Clone, Copy, PartialEq)]
enum T {
    Int,
    Float,
    Bool,
    Timestamp,
    /// numeric / decimal / bigint unsigned: exact decimal text from the source.
    Numeric,
    Other,
}

fn type_of(kind: Kind, type_name: &str) -> T {
    if kind == Kind::Sqlite {
        return T::Other;
    }
    let t = type_name.to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    if t.contains("bigint unsigned") {
        return T::Numeric;
    }
    match base.trim_end_matches(" unsigned") {
        "int2" | "int4" | "int8" | "oid" | "tinyint" | "smallint" | "mediumint" | "int"
        | "integer" | "bigint" | "year" => T::Int,
        "float4" | "float8" | "float" | "double" | "real" => T::Float,
        "bool" | "boolean" => T::Bool,
        "timestamp" | "timestamptz" | "datetime" => T::Timestamp,
        // Scale 0 and at most 18 digits fit an i64.
        "numeric" | "decimal" => match decimal_of(&t) {
            Some((p, 0)) if p <= 18 => T::Int,
            _ => T::Numeric,
        },
        _ => T::Other,
    }
}

/// `2024-01-02 03:04:05+02` → `2024-01-02T03:04:05+02:00` (plain shapes only).
fn iso(s: &str) -> String {
    let b = s.as_bytes();
    let plain = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[..4].iter().all(u8::is_ascii_digit)
        && !s.ends_with(" BC");
    if !plain {
        return s.to_string();
    }
    let mut out = format!("{}T{}", &s[..10], &s[11..]);
    let n = out.len();
    let ob = out.as_bytes();
    if n >= 3 && (ob[n - 3] == b'+' || ob[n - 3] == b'-') && ob[n - 2].is_ascii_digit() {
        out.push_str(":00");
    }
    out
}

/// Significant digits of a plain decimal literal (zeros at either end do not count).
fn significant_digits(s: &str) -> usize {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len()
}

/// A decimal a double or an i64 holds exactly, as a number.
fn exact(s: &str) -> Option<serde_json::Number> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    let plain = s
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    let f: f64 = s.parse().ok()?;
    (plain && significant_digits(s) <= 15 && f.is_finite())
        .then(|| serde_json::Number::from_f64(f))
        .flatten()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

fn sqlite_value(v: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value as V;
    match v {
        V::Null => "N".into(),
        V::Integer(i) => format!("I:{i}"),
        V::Real(f) => format!("R:{f:?}"),
        V::Text(s) => format!("T:{s}"),
        V::Blob(b) => format!("B:{}", hex(b)),
    }
}

/// What a source cell becomes in a SQLite dataset column declared `decl`.
fn expect_sqlite(kind: Kind, c: &ColumnMeta, decl: &str, cell: &Cell) -> String {
    let t = type_of(kind, &c.type_name);
    match cell {
        Cell::Null => "N".into(),
        Cell::Int(i) if decl == "TEXT" => format!("T:{i}"),
        Cell::Int(i) => format!("I:{i}"),
        Cell::Float(f) if f.is_nan() => "T:NaN".into(),
        Cell::Float(f) => format!("R:{f:?}"),
        Cell::Bool(b) => format!("I:{}", *b as i64),
        Cell::Bytes(b) => format!("B:{}", hex(b)),
        Cell::Json(v) => format!("T:{v}"),
        Cell::Text(s) => match (t, decl) {
            (T::Int, "INTEGER") => s
                .parse::<i64>()
                .map_or(format!("T:{s}"), |i| format!("I:{i}")),
            (T::Float, "REAL") => match s.parse::<f64>() {
                Ok(f) if !f.is_nan() => format!("R:{f:?}"),
                _ => format!("T:{s}"),
            },
            // A numeric column is numbers (integral values as INTEGER under
            // NUMERIC affinity), unless a value would lose digits: then it
            // is TEXT with the source's exact digits.
            (T::Numeric, "NUMERIC") => match exact(s) {
                Some(n) if n.is_i64() => format!("I:{n}"),
                Some(n) => {
                    let f = n.as_f64().unwrap();
                    if f.fract() == 0.0 && f.abs() < 9.0e18 {
                        format!("I:{}", f as i64)
                    } else {
                        format!("R:{f:?}")
                    }
                }
                None => format!("not exact but stored as a number: {s}"),
            },
            (T::Bool, _) => match s.as_str() {
                "t" | "true" | "1" => "I:1".into(),
                "f" | "false" | "0" => "I:0".into(),
                _ => format!("T:{s}"),
            },
            (T::Timestamp, _) => format!("T:{}", iso(s)),
            _ => format!("T:{s}"),
        },
    }
}

fn expect_csv(kind: Kind, c: &ColumnMeta, cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => float_text(*f),
        Cell::Bool(b) => b.to_string(),
        Cell::Bytes(b) => b64(b),
        Cell::Json(v) => v.to_string(),
        Cell::Text(s) => match type_of(kind, &c.type_name) {
            T::Timestamp => iso(s),
            T::Bool if s == "t" || s == "1" => "true".into(),
            T::Bool if s == "f" || s == "0" => "false".into(),
            _ => s.clone(),
        },
    }
}

fn expect_json(kind: Kind, c: &ColumnMeta, cell: &Cell) -> serde_json::Value {
    use serde_json::Value as J;
    match cell {
        Cell::Null => J::Null,
        Cell::Int(i) => J::from(*i),
        Cell::Float(f) if f.is_finite() => J::from(*f),
        Cell::Float(f) => J::String(float_text(*f)),
        Cell::Bool(b) => J::Bool(*b),
        Cell::Bytes(b) => J::String(b64(b)),
        Cell::Json(v) => v.clone(),
        Cell::Text(s) => match type_of(kind, &c.type_name) {
            T::Int | T::Float => match serde_json::from_str::<J>(s) {
                Ok(n @ J::Number(_)) => n,
                _ => J::String(s.clone()),
            },
            T::Numeric => exact(s).map_or_else(|| J::String(s.clone()), J::Number),
            T::Bool if s == "t" || s == "1" => J::Bool(true),
            T::Bool if s == "f" || s == "0" => J::Bool(false),
            T::Timestamp => J::String(iso(s)),
            _ => J::String(s.clone()),
        },
    }
}

/// The JSON type of a non-null value.
fn json_type(v: &serde_json::Value) -> Option<&'static str> {
    use serde_json::Value as J;
    match v {
        J::Null => None,
        J::Bool(_) => Some("boolean"),
        J::Number(_) => Some("number"),
        J::String(_) => Some("string"),
        J::Array(_) => Some("array"),
        J::Object(_) => Some("object"),
    }
}

/// Declared `(precision, scale)` of `numeric(p,s)` / `decimal(p,s)`, and
/// MySQL's `bigint unsigned` as (20, 0).
fn decimal_of(type_name: &str) -> Option<(u32, u32)> {
    let t = type_name.to_ascii_lowercase();
    if t.starts_with("bigint") && t.contains("unsigned") {
        return Some((20, 0));
    }
    let inner = t.split_once('(')?.1.split_once(')')?.0;
    let mut it = inner.split(',').map(|x| x.trim().parse::<u32>());
    match (it.next(), it.next()) {
        (Some(Ok(p)), None) => Some((p, 0)),
        (Some(Ok(p)), Some(Ok(s))) => Some((p, s)),
        _ => None,
    }
}

/// Microseconds since the epoch of an engine's timestamp text (UTC when it
/// carries an offset), through the `time` crate.
fn ts_micros(s: &str) -> i64 {
    use time::macros::format_description;
    let (date_time, offset) = match s[19..].find(['+', '-']) {
        Some(i) => s.split_at(19 + i),
        None => (s, ""),
    };
    let date = time::Date::parse(
        &date_time[..10],
        format_description!("[year]-[month]-[day]"),
    )
    .unwrap();
    let t = time::Time::parse(
        &date_time[11..],
        format_description!("[hour]:[minute]:[second][optional [.[subsecond]]]"),
    )
    .unwrap();
    let offset_secs: i64 = if offset.is_empty() {
        0
    } else {
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        sign * offset[1..]
            .split(':')
            .zip([3600, 60, 1])
            .map(|(p, k)| p.parse::<i64>().unwrap() * k)
            .sum::<i64>()
    };
    let utc = time::PrimitiveDateTime::new(date, t).assume_utc();
    (utc.unix_timestamp_nanos() / 1000) as i64 - offset_secs * 1_000_000
}

fn days(s: &str) -> i32 {
    use time::macros::format_description;
    let d = time::Date::parse(s, format_description!("[year]-[month]-[day]")).unwrap();
    d.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day()
}

/// What a source cell becomes in the Parquet file, in the form `pq_field` prints.
fn expect_parquet(kind: Kind, c: &ColumnMeta, cell: &Cell) -> String {
    if cell.is_null() {
        return "N".into();
    }
    let t = c.type_name.to_ascii_lowercase();
    let text = |cell: &Cell| match cell {
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => float_text(*f),
        Cell::Bool(b) => b.to_string(),
        Cell::Json(v) => v.to_string(),
        Cell::Bytes(b) => b64(b),
        Cell::Null => unreachable!(),
    };
    let float = |cell: &Cell| match cell {
        Cell::Float(f) => format!("F:{f:?}"),
        Cell::Int(i) => format!("F:{:?}", *i as f64),
        other => format!("F:{:?}", text(other).parse::<f64>().unwrap()),
    };
    let int = |cell: &Cell| match cell {
        Cell::Int(i) => format!("I:{i}"),
        Cell::Bool(b) => format!("I:{}", *b as i64),
        other => format!("I:{}", text(other).parse::<i64>().unwrap()),
    };
    if kind == Kind::Sqlite {
        let u = t.to_ascii_uppercase();
        return if u.contains("INT") {
            int(cell)
        } else if u.contains("CHAR") || u.contains("CLOB") || u.contains("TEXT") || u.is_empty() {
            format!("T:{}", text(cell))
        } else if u.contains("BLOB") {
            match cell {
                Cell::Bytes(b) => format!("X:{}", hex(b)),
                other => format!("X:{}", hex(text(other).as_bytes())),
            }
        } else if u.contains("REAL") || u.contains("FLOA") || u.contains("DOUB") {
            float(cell)
        } else {
            format!("T:{}", text(cell))
        };
    }
    let base = t.split('(').next().unwrap_or("").trim().to_string();
    match type_of(kind, &c.type_name) {
        T::Int => int(cell),
        T::Float => float(cell),
        T::Bool => match cell {
            Cell::Bool(b) => format!("B:{b}"),
            other => format!("B:{}", matches!(text(other).as_str(), "t" | "true" | "1")),
        },
        T::Numeric => match decimal_of(&t) {
            // The source prints every decimal of the declared scale.
            Some((p, _)) if p <= 38 => format!("D:{}", text(cell)),
            _ => format!("T:{}", text(cell)),
        },
        T::Timestamp => format!("TS:{}", ts_micros(&text(cell))),
        _ if base == "date" => format!("Date:{}", days(&text(cell))),
        _ if t.contains("blob") || t.contains("binary") || t == "bytea" => match cell {
            Cell::Bytes(b) => format!("X:{}", hex(b)),
            other => format!("X:{}", hex(text(other).as_bytes())),
        },
        _ => format!("T:{}", text(cell)),
    }
}

/// A Parquet field as `expect_parquet` writes it.
fn pq_field(f: &parquet::record::Field) -> String {
    use parquet::record::Field as F;
    match f {
        F::Null => "N".into(),
        F::Long(i) => format!("I:{i}"),
        F::Double(d) => format!("F:{d:?}"),
        F::Bool(b) => format!("B:{b}"),
        F::Str(s) => format!("T:{s}"),
        F::Bytes(b) => format!("X:{}", hex(b.data())),
        F::Date(d) => format!("Date:{d}"),
        F::TimestampMicros(m) => format!("TS:{m}"),
        F::Decimal(d) => {
            let bytes = d.data();
            let mut v: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                -1
            } else {
                0
            };
            for b in bytes {
                v = (v << 8) | i128::from(*b);
            }
            let scale = d.scale() as usize;
            let digits = format!("{:0>width$}", v.unsigned_abs(), width = scale + 1);
            let (i, frac) = digits.split_at(digits.len() - scale);
            let sign = if v < 0 { "-" } else { "" };
            if scale == 0 {
                format!("D:{sign}{i}")
            } else {
                format!("D:{sign}{i}.{frac}")
            }
        }
        other => panic!("unexpected parquet field {other:?}"),
    }
}

/// Every table's Parquet file read back and compared row by row.
fn compare_parquet(
    kind: Kind,
    sources: &[(Vec<ColumnMeta>, Vec<Vec<Cell>>)],
    summary: &ImportSummary,
    dir: &Path,
) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    for ((cols, rows), ts) in sources.iter().zip(&summary.tables) {
        let path = dir.join(&ts.target);
        let reader = SerializedFileReader::try_from(path.as_path()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        assert_eq!(schema.num_columns(), cols.len(), "{}", ts.target);
        let got: Vec<Vec<String>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .get_column_iter()
                    .map(|(_, f)| pq_field(f))
                    .collect()
            })
            .collect();
        let want = expected(rows, cols, |c, cell| expect_parquet(kind, c, cell));
        assert_eq!(got.len(), rows.len(), "parquet {}: row count", ts.target);
        assert_eq!(sorted(got), sorted(want), "parquet {}", ts.target);
    }
    assert_eq!(read_sidecar(dir).len(), sources.len());
}

// ------------------------------------------------------------ harness

fn arc(spec: &ConnSpec, password: Option<secrecy::SecretString>) -> Arc<dyn Connector> {
    match connector_for(spec, password, SessionOptions::default()) {
        Ok(c) => Arc::from(c),
        Err(e) => panic!("connector: {}", e.full()),
    }
}

/// The tables and materialized views of the test database (views are for browsing tests:
/// one sleeps, one writes, one shows a backend pid).
async fn tables_of(connector: &dyn Connector, schema: Option<&str>) -> Vec<TableRef> {
    let all = match connector.list_tables().await {
        Ok(t) => t,
        Err(e) => panic!("list_tables: {}", e.full()),
    };
    all.into_iter()
        .filter(|t| !t.system && matches!(t.kind, TableKind::Table | TableKind::MaterializedView))
        .filter(|t| schema.is_none() || t.schema.as_deref() == schema)
        .collect()
}

async fn source_rows(connector: &dyn Connector, t: &TableRef) -> (Vec<ColumnMeta>, Vec<Vec<Cell>>) {
    match connector.preview(t, 1_000_000).await {
        Ok(rs) => (rs.columns, rs.rows),
        Err(e) => panic!("preview {}: {}", t.display_name(), e.full()),
    }
}

async fn import(
    connector: Arc<dyn Connector>,
    kind: Kind,
    tables: &[TableRef],
    dest: &Path,
    format: Format,
) -> ImportSummary {
    let plan = ImportPlan {
        connection: format!("test-{}", kind.id()),
        kind,
        tables: tables.iter().cloned().map(TablePlan::new).collect(),
        destination: dest.to_path_buf(),
        format,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = run_import(connector, plan, tx, CancellationToken::new()).await;
    for t in &summary.tables {
        if let TableOutcome::Failed { error } = &t.outcome {
            panic!("{} {}: {error}", format, t.table.display_name());
        }
    }
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");
    assert!(summary.written);
    summary
}

/// Each source row mapped cell by cell.
fn expected(
    rows: &[Vec<Cell>],
    cols: &[ColumnMeta],
    f: impl Fn(&ColumnMeta, &Cell) -> String,
) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().zip(cols).map(|(cell, c)| f(c, cell)).collect())
        .collect()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Imports `tables` into every format and compares each with the source.
/// Returns the SQLite dataset's path for engine-specific checks.
async fn import_and_compare(
    connector: Arc<dyn Connector>,
    kind: Kind,
    tables: &[TableRef],
    dir: &Path,
) -> std::path::PathBuf {
    let mut sources = Vec::new();
    for t in tables {
        sources.push(source_rows(connector.as_ref(), t).await);
    }

    // SQLite
    let path = dir.join("set.sqlite");
    let s = import(connector.clone(), kind, tables, &path, Format::Sqlite).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    for ((cols, rows), ts) in sources.iter().zip(&s.tables) {
        let quoted = format!("\"{}\"", ts.target.replace('"', "\"\""));
        let decls: Vec<String> = conn
            .prepare(&format!(
                "SELECT type FROM pragma_table_info({})",
                sql_lit(&ts.target)
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(decls.len(), cols.len(), "{}", ts.target);
        let mut stmt = conn.prepare(&format!("SELECT * FROM {quoted}")).unwrap();
        let got: Vec<Vec<String>> = stmt
            .query_map([], |r| {
                (0..cols.len())
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| sqlite_value(&v))
                    })
                    .collect()
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(cols)
                    .zip(&decls)
                    .map(|((cell, c), d)| expect_sqlite(kind, c, d, cell))
                    .collect()
            })
            .collect();
        assert_eq!(got.len(), rows.len(), "sqlite {}: row count", ts.target);
        println!("{kind:?} {}: {} rows compared", ts.target, rows.len());
        assert_eq!(sorted(got), sorted(want), "sqlite {}", ts.target);
        assert_eq!(ts.rows, rows.len() as u64);
    }
    let prov: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM {PROVENANCE_TABLE}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(prov as usize, tables.len());

    // CSV
    let csv_dir = dir.join("csv");
    let s = import(connector.clone(), kind, tables, &csv_dir, Format::Csv).await;
    for ((cols, rows), ts) in sources.iter().zip(&s.tables) {
        let mut rdr = csv::Reader::from_path(csv_dir.join(&ts.target)).unwrap();
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header.len(), cols.len(), "{}", ts.target);
        let got: Vec<Vec<String>> = rdr
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        let want = expected(rows, cols, |c, cell| expect_csv(kind, c, cell));
        assert_eq!(got.len(), rows.len(), "csv {}: row count", ts.target);
        assert_eq!(sorted(got), sorted(want), "csv {}", ts.target);
    }
    assert_eq!(read_sidecar(&csv_dir).len(), tables.len());

    // JSON Lines
    let jsonl_dir = dir.join("jsonl");
    let s = import(connector.clone(), kind, tables, &jsonl_dir, Format::Jsonl).await;
    for ((cols, rows), ts) in sources.iter().zip(&s.tables) {
        let text = std::fs::read_to_string(jsonl_dir.join(&ts.target)).unwrap();
        let got: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(l).unwrap();
                // Key order is the column order: compare the values in it.
                let vals: Vec<serde_json::Value> = cols
                    .iter()
                    .map(|c| v.get(&c.name).cloned().unwrap_or_default())
                    .collect();
                assert_eq!(v.len(), cols.len());
                serde_json::to_string(&vals).unwrap()
            })
            .collect();
        // One JSON type per column: a column whose values would be of more
        // than one type is all strings, each the text CSV has.
        let mut want: Vec<Vec<serde_json::Value>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(cols)
                    .map(|(cell, c)| expect_json(kind, c, cell))
                    .collect()
            })
            .collect();
        for (i, c) in cols.iter().enumerate() {
            let types: std::collections::BTreeSet<&str> =
                want.iter().filter_map(|r| json_type(&r[i])).collect();
            if types.len() > 1 {
                for (w, row) in want.iter_mut().zip(rows) {
                    if !row[i].is_null() {
                        w[i] = serde_json::Value::String(expect_csv(kind, c, &row[i]));
                    }
                }
            }
        }
        let want: Vec<String> = want
            .iter()
            .map(|vals| serde_json::to_string(vals).unwrap())
            .collect();
        assert_eq!(got.len(), rows.len(), "jsonl {}: row count", ts.target);
        for (i, c) in cols.iter().enumerate() {
            let types: std::collections::BTreeSet<&str> = got
                .iter()
                .filter_map(|l| {
                    let vals: Vec<serde_json::Value> = serde_json::from_str(l).unwrap();
                    json_type(&vals[i])
                })
                .collect();
            assert!(
                types.len() <= 1,
                "jsonl {} column {}: values of {types:?}",
                ts.target,
                c.name
            );
        }
        assert_eq!(sorted(got), sorted(want), "jsonl {}", ts.target);
    }

    // Parquet
    let pq_dir = dir.join("parquet");
    let s = import(connector.clone(), kind, tables, &pq_dir, Format::Parquet).await;
    compare_parquet(kind, &sources, &s, &pq_dir);
    path
}

/// Every numeric column (integers, floats, decimals) of `tables`: the
/// source's own `max`, `min`, `sum` and `ORDER BY` against the SQLite
/// dataset's. Columns kept as TEXT must be named in the provenance; the
/// others must be numbers. Returns how many columns were compared.
async fn numeric_columns_agree(
    connector: &dyn Connector,
    kind: Kind,
    tables: &[TableRef],
    path: &Path,
) -> usize {
    use varlor::connectors::ident::{qualified, quote, Dialect};
    let d = Dialect::of(kind);
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut compared = 0;
    for t in tables {
        let (cols, _) = source_rows(connector, t).await;
        let target = t.display_name();
        let decls = decls_of(path, &target);
        let kept: String = conn
            .query_row(
                &format!("SELECT kept_as_text FROM {PROVENANCE_TABLE} WHERE dataset_table = ?1"),
                [&target],
                |r| r.get(0),
            )
            .unwrap();
        for c in &cols {
            let ty = type_of(kind, &c.type_name);
            if !matches!(ty, T::Int | T::Float | T::Numeric) {
                continue;
            }
            let decl = decls.get(&c.name).cloned().unwrap_or_default();
            if decl == "TEXT" {
                assert_eq!(
                    ty,
                    T::Numeric,
                    "{target}.{}: only decimals may be TEXT",
                    c.name
                );
                assert!(
                    kept.contains(&format!("\"{}\"", c.name)),
                    "{target}.{}: {kept}",
                    c.name
                );
                continue;
            }
            assert!(
                !kept.contains(&format!("\"column\":\"{}\"", c.name)),
                "{target}.{} is {decl} but listed as kept as text: {kept}",
                c.name
            );
            let (sc, lc) = (quote(d, &c.name), quote(Dialect::Ansi, &c.name));
            let src_table = qualified(d, t);
            let cast = |e: String| match kind {
                Kind::Mysql => format!("CAST({e} AS CHAR)"),
                _ => format!("CAST({e} AS TEXT)"),
            };
            let src_sql = format!(
                "SELECT {}, {}, {} FROM {src_table}",
                cast(format!("max({sc})")),
                cast(format!("min({sc})")),
                cast(format!("sum({sc})"))
            );
            let mut cur = connector.query(&src_sql).await.unwrap();
            let row = cur.next_page(10).await.unwrap().remove(0);
            let num = |cell: &Cell| -> Option<f64> {
                match cell {
                    Cell::Null => None,
                    Cell::Int(i) => Some(*i as f64),
                    Cell::Float(f) => Some(*f),
                    Cell::Text(s) => Some(s.parse().unwrap()),
                    other => panic!("{other:?}"),
                }
            };
            let src: Vec<Option<f64>> = row.iter().map(num).collect();
            if src.iter().flatten().any(|f| !f.is_finite()) {
                continue; // NaN / infinities: SQLite keeps them as text, no sum to compare
            }
            let lite_table = sql_ident(&target);
            let lite: Vec<Option<f64>> = conn
                .query_row(
                    &format!("SELECT max({lc}), min({lc}), sum({lc}) FROM {lite_table}"),
                    [],
                    |r| (0..3).map(|i| r.get::<_, Option<f64>>(i)).collect(),
                )
                .unwrap();
            let close = |a: f64, b: f64| a == b || ((a - b) / a.abs().max(b.abs())).abs() < 1e-12;
            for (what, (a, b)) in ["max", "min", "sum"].iter().zip(src.iter().zip(&lite)) {
                match (a, b) {
                    (Some(a), Some(b)) => {
                        assert!(
                            close(*a, *b),
                            "{target}.{} {what}: source {a}, dataset {b}",
                            c.name
                        )
                    }
                    (a, b) => assert_eq!(a, b, "{target}.{} {what}", c.name),
                }
            }
            // The order of the values, NULLs aside (engines put them at different ends).
            let mut cur = connector
                .query(&format!(
                    // Aliased: PostgreSQL would sort by an output column of the same name.
                    "SELECT {} AS varlor_sorted FROM {src_table} WHERE {sc} IS NOT NULL ORDER BY {sc}",
                    cast(sc.clone())
                ))
                .await
                .unwrap();
            let mut src_order = Vec::new();
            loop {
                let page = cur.next_page(1000).await.unwrap();
                let n = page.len();
                src_order.extend(page.iter().map(|r| num(&r[0]).unwrap()));
                if n < 1000 {
                    break;
                }
            }
            let lite_order: Vec<f64> = conn
                .prepare(&format!(
                    "SELECT {lc} FROM {lite_table} WHERE {lc} IS NOT NULL ORDER BY {lc}"
                ))
                .unwrap()
                .query_map([], |r| r.get::<_, f64>(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(src_order, lite_order, "{target}.{} ORDER BY", c.name);
            compared += 1;
        }
    }
    compared
}

fn sql_lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn decls_of(path: &Path, table: &str) -> BTreeMap<String, String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: Vec<(String, String)> = conn
        .prepare(&format!(
            "SELECT name, type FROM pragma_table_info({})",
            sql_lit(table)
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.into_iter().collect()
}

fn names(tables: &[TableRef]) -> Vec<String> {
    tables.iter().map(|t| t.display_name()).collect()
}

// ------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tables_import_faithfully() {
    let Some(env) = common::pg() else { return };
    let connector = arc(&env.spec(Kind::Postgres), Some(env.secret()));
    let tables = tables_of(connector.as_ref(), None).await;
    let listed = names(&tables);
    for must in [
        "public.customers",
        "public.orders",
        "public.Weird Name",
        "public.all_types",
        "public.quote\"d",
        "public.semi;colon",
        "public.ünïcödé",
        "public.select",
        "Odd Schema.Weird Name",
    ] {
        assert!(listed.iter().any(|n| n == must), "{must} not in {listed:?}");
    }
    println!("postgres: {} tables: {listed:?}", tables.len());
    let dir = tempfile::tempdir().unwrap();
    let path = import_and_compare(connector.clone(), Kind::Postgres, &tables, dir.path()).await;
    let compared = numeric_columns_agree(connector.as_ref(), Kind::Postgres, &tables, &path).await;
    assert!(compared >= 10, "only {compared} numeric columns compared");

    // The type mapping, on the table of every common type.
    let d = decls_of(&path, "public.all_types");
    for (col, want) in [
        ("c_int8", "INTEGER"),
        ("c_numeric", "TEXT"),
        ("c_real", "REAL"),
        ("c_double", "REAL"),
        ("c_bool", "INTEGER"),
        ("c_bytea", "BLOB"),
        ("c_timestamptz", "TEXT"),
        ("c_jsonb", "TEXT"),
        ("c_int_array", "TEXT"),
    ] {
        assert_eq!(d.get(col).map(String::as_str), Some(want), "{col}");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (numeric, double, tz, bytea): (String, f64, String, Vec<u8>) = conn
        .query_row(
            "SELECT c_numeric, c_double, c_timestamptz, c_bytea FROM \"public.all_types\" WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(numeric, "12345678901234567890.0123456789");
    assert_eq!(
        double,
        std::f64::consts::E,
        "the fixture stores e to full precision"
    );
    assert!(tz.contains('T') && tz.ends_with(":00"), "{tz}");
    assert_eq!(bytea, [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]);

    // Parquet column types: decimals as DECIMAL(p,s), instants adjusted to UTC.
    {
        use parquet::basic::LogicalType;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let path = dir.path().join("parquet/public.all_types.parquet");
        let reader = SerializedFileReader::try_from(path.as_path()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let column = |name: &str| {
            (0..schema.num_columns())
                .map(|i| schema.column(i))
                .find(|c| c.name() == name)
                .unwrap()
        };
        let numeric = column("c_numeric");
        assert_eq!((numeric.type_precision(), numeric.type_scale()), (30, 10));
        assert!(matches!(
            numeric.logical_type_ref(),
            Some(LogicalType::Decimal(_))
        ));
        match column("c_timestamptz").logical_type_ref() {
            Some(LogicalType::Timestamp(t)) => assert!(t.is_adjusted_to_u_t_c),
            other => panic!("{other:?}"),
        }
        match column("c_timestamp").logical_type_ref() {
            Some(LogicalType::Timestamp(t)) => assert!(!t.is_adjusted_to_u_t_c),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            column("c_date").logical_type_ref(),
            Some(&LogicalType::Date)
        );
        assert_eq!(
            column("c_jsonb").logical_type_ref(),
            Some(&LogicalType::String)
        );
        assert_eq!(column("c_bytea").logical_type_ref(), None);
    }

    // CSV: the row of NULLs has empty unquoted fields, the row of empty
    // strings has "" (the csv reader above cannot tell them apart).
    let raw = std::fs::read_to_string(dir.path().join("csv/public.all_types.csv")).unwrap();
    assert!(raw.contains("\r\n2,,,,,,,,,,"), "{raw}");
    assert!(raw.contains(",false,\"\",\"\",     ,"), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tables_import_faithfully() {
    let Some(env) = common::mysql() else { return };
    let connector = arc(&env.spec(Kind::Mysql), Some(env.secret()));
    let tables = tables_of(connector.as_ref(), Some(&env.db)).await;
    let listed = names(&tables);
    for must in ["customers", "orders", "Weird Name"] {
        assert!(
            listed.iter().any(|n| n == &format!("{}.{must}", env.db)),
            "{must} not in {listed:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = import_and_compare(connector.clone(), Kind::Mysql, &tables, dir.path()).await;
    let compared = numeric_columns_agree(connector.as_ref(), Kind::Mysql, &tables, &path).await;
    assert!(compared >= 5, "only {compared} numeric columns compared");

    // The type mapping, on the table of every common type.
    let table = format!("{}.all_types", env.db);
    let d = decls_of(&path, &table);
    for (col, want) in [
        ("t_big", "INTEGER"),
        ("t_big_u", "TEXT"),
        ("t_dec", "TEXT"),
        ("t_double", "REAL"),
        ("t_bool", "INTEGER"),
        ("t_blob", "BLOB"),
        ("t_datetime", "TEXT"),
        ("t_json", "TEXT"),
        ("t_bit", ""),
    ] {
        assert_eq!(d.get(col).map(String::as_str), Some(want), "{col}");
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (big_u, dec, double, dt, int): (String, String, f64, String, i64) = conn
        .query_row(
            &format!(
                "SELECT t_big_u, t_dec, t_double, t_datetime, t_int FROM {} WHERE id = 1",
                sql_ident(&table)
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(big_u, "18446744073709551615");
    assert_eq!(dec, "12345678901234567890.0123456789");
    assert_eq!(
        double,
        std::f64::consts::PI,
        "the fixture stores pi to full precision"
    );
    assert_eq!(dt, "2024-01-02T03:04:05.123456");
    assert_eq!(int, 2147483647);
}

fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A SQLite source file with hostile names and every storage class.
fn sqlite_source(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        r#"
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance NUMERIC, score REAL);
        INSERT INTO customers VALUES (1, 'Ada', 12.50, 0.1), (2, '', NULL, -1e300), (3, 'ünïcödé 🚀', 7, NULL);
        CREATE TABLE "Weird Name" ("Id" INTEGER, "a b" TEXT, "blob" BLOB, loose);
        INSERT INTO "Weird Name" VALUES (1, 'x,y', x'00ff', 42), (2, 'say "hi"', x'', 'text'), (3, NULL, NULL, x'0102'), (4, 'two
lines', NULL, 2.5);
        CREATE TABLE "quote""d" ("col""umn" INTEGER);
        INSERT INTO "quote""d" VALUES (1), (NULL), (3);
        CREATE TABLE "semi;colon" (v TEXT);
        INSERT INTO "semi;colon" VALUES ('a;b'), ('--'), (NULL), ('');
        CREATE TABLE "select" ("from" INTEGER, "where" TEXT);
        INSERT INTO "select" VALUES (1, 'reserved');
        CREATE TABLE "a/b" (n INTEGER);
        INSERT INTO "a/b" VALUES (9223372036854775807), (-9223372036854775808);
        CREATE TABLE empty (x TEXT);
        "#,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_tables_import_faithfully() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("source.db");
    sqlite_source(&src);
    let mut spec = ConnSpec::new(Kind::Sqlite);
    spec.database = src.to_string_lossy().into_owned();
    let connector = arc(&spec, None);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // The SQLite connector may not be in this build yet: its todo!() panics.
    let job = tokio::spawn(async move {
        let tables = tables_of(connector.as_ref(), None).await;
        assert_eq!(tables.len(), 7, "{:?}", names(&tables));
        import_and_compare(connector, Kind::Sqlite, &tables, &out).await
    });
    match job.await {
        Ok(path) => {
            let d = decls_of(&path, "customers");
            assert_eq!(d.get("balance").map(String::as_str), Some("NUMERIC"));
            assert_eq!(d.get("score").map(String::as_str), Some("REAL"));
        }
        Err(e) if e.is_panic() => {
            let p = e.into_panic();
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if msg.contains("not yet implemented") && !common::is_ci() {
                common::skip("the SQLite connector is not implemented in this build");
            } else {
                std::panic::resume_unwind(p);
            }
        }
        Err(e) => panic!("{e}"),
    }
}

/// One import for `scripts/bench-import` (run it there, in release mode;
/// it only prints): VARLOR_BENCH_KIND (postgres|mysql), VARLOR_BENCH_TABLE
/// (`schema.table` or `table`), VARLOR_BENCH_FORMAT (or `none`: the connector
/// alone into a counting sink), VARLOR_BENCH_DEST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark harness, driven by scripts/bench-import"]
async fn bench_import_once() {
    let var = |n: &str| std::env::var(format!("VARLOR_BENCH_{n}")).unwrap_or_default();
    let kind = Kind::parse(&var("KIND")).unwrap_or(Kind::Postgres);
    let env = match kind {
        Kind::Mysql => common::mysql(),
        _ => common::pg(),
    };
    let Some(env) = env else { return };
    let format = Format::parse(&var("FORMAT")).unwrap_or(Format::Csv);
    let table_arg = var("TABLE");
    let (schema, name) = match table_arg.split_once('.') {
        Some((s, n)) => (Some(s.to_string()), n.to_string()),
        None => (None, table_arg.clone()),
    };
    let connector = arc(&env.spec(kind), Some(env.secret()));
    let tables = tables_of(connector.as_ref(), schema.as_deref()).await;
    let Some(table) = tables.into_iter().find(|t| t.name == name) else {
        panic!("no table {table_arg}");
    };
    if var("FORMAT") == "none" {
        // The connector alone, into a sink that only counts (taking CSV
        // records, as the CSV file does): what the dataset side adds is the
        // difference.
        struct Count(u64);
        impl varlor::connectors::RowSink for Count {
            fn columns(&mut self, _: &[ColumnMeta]) -> Result<(), varlor::connectors::ConnError> {
                Ok(())
            }
            fn row(&mut self, _: Vec<Cell>) -> Result<(), varlor::connectors::ConnError> {
                self.0 += 1;
                Ok(())
            }
            fn takes_csv(&self) -> bool {
                true
            }
            fn csv_records(
                &mut self,
                _: &[u8],
                records: u64,
            ) -> Result<(), varlor::connectors::ConnError> {
                self.0 += records;
                Ok(())
            }
        }
        let started = std::time::Instant::now();
        let mut sink = Count(0);
        let opts = varlor::connectors::StreamOptions::default();
        if let Err(e) = connector.stream_rows(&table, &opts, &mut sink).await {
            panic!("{}", e.full());
        }
        println!(
            "rows={} elapsed_ms={}",
            sink.0,
            started.elapsed().as_millis()
        );
        return;
    }
    let plan = ImportPlan {
        connection: "bench".into(),
        kind,
        tables: vec![TablePlan::new(table)],
        destination: var("DEST").into(),
        format,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let s = run_import(connector, plan, tx, CancellationToken::new()).await;
    assert_eq!(s.outcome(), ImportOutcome::Ok, "{s:?}");
    println!(
        "rows={} elapsed_ms={}",
        s.total_rows(),
        s.elapsed.as_millis()
    );
}

/// A throwaway PostgreSQL of our own (scripts/testdb/postgres.sh), stopped on drop.
struct OwnServer {
    env: common::ServerEnv,
    state: String,
}

impl OwnServer {
    fn start() -> Option<OwnServer> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testdb/postgres.sh");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 || !script.exists() {
            common::skip("stopping a server mid-import needs root and scripts/testdb/postgres.sh");
            return None;
        }
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .stderr(std::process::Stdio::null())
            .output()
            .expect("run postgres.sh");
        if !out.status.success() {
            common::skip("scripts/testdb/postgres.sh could not start a server");
            return None;
        }
        // `export NAME=VALUE` lines (printf %q: these values need no unquoting
        // except backslashes, which only the URL line has).
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export VARLOR_TEST_PG_{name}=")))
                .map(|v| v.replace('\\', ""))
                .unwrap_or_default()
        };
        let state = get("STATE");
        let server = OwnServer {
            env: common::ServerEnv {
                host: get("HOST"),
                port: get("PORT").parse().expect("port"),
                user: get("USER"),
                password: get("PASSWORD"),
                db: get("DB"),
                ca: None,
                tls_user: None,
                tls_password: None,
                socket: None,
            },
            state,
        };
        Some(server)
    }

    fn stop(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testdb/postgres.sh");
        let _ = std::process::Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(&self.state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_import_fails_clearly_and_keeps_earlier_tables() {
    let Some(server) = OwnServer::start() else {
        return;
    };
    let env = server.env.clone();
    // A table big enough to be mid-stream when the server goes.
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host={} port={} user={} dbname={} password={}",
            env.host, env.port, env.user, env.db, env.password
        ),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE big AS SELECT i, md5(i::text) AS h FROM generate_series(1, 500000) AS i",
        )
        .await
        .expect("create big");
    drop(client);

    let connector = arc(&env.spec(Kind::Postgres), Some(env.secret()));
    let all = tables_of(connector.as_ref(), Some("public")).await;
    let pick = |n: &str| all.iter().find(|t| t.name == n).cloned().expect(n);
    let tables = [pick("customers"), pick("big"), pick("orders")];
    let (want_cols, want_rows) = source_rows(connector.as_ref(), &tables[0]).await;

    let dir = tempfile::tempdir().unwrap();
    let plan = ImportPlan {
        connection: "doomed".into(),
        kind: Kind::Postgres,
        tables: tables.iter().cloned().map(TablePlan::new).collect(),
        destination: dir.path().join("set.sqlite"),
        format: Format::Sqlite,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let state = server.state.clone();
    let killer = tokio::spawn(async move {
        let mut stopped = false;
        while let Some(e) = rx.recv().await {
            if !stopped && matches!(e, varlor::dataset::ImportEvent::Progress { index: 1, .. }) {
                stopped = true;
                let state = state.clone();
                tokio::task::spawn_blocking(move || {
                    let script =
                        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testdb/postgres.sh");
                    std::process::Command::new("bash")
                        .arg(script)
                        .arg("stop")
                        .arg(state)
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                })
                .await
                .expect("join")
                .expect("stop");
            }
        }
        stopped
    });
    let summary = run_import(connector, plan, tx, CancellationToken::new()).await;
    assert!(killer.await.unwrap(), "the server was never stopped");

    assert_eq!(summary.tables[0].outcome, TableOutcome::Done);
    for t in &summary.tables[1..] {
        match &t.outcome {
            TableOutcome::Failed {
                error: varlor::dataset::ImportError::Source { error },
            } => {
                println!(
                    "{}: {} ({:?})",
                    t.table.display_name(),
                    error.full(),
                    error.kind
                );
                assert!(
                    matches!(
                        error.kind,
                        varlor::connectors::ErrorKind::ConnectionLost
                            | varlor::connectors::ErrorKind::ConnectionRefused
                    ),
                    "{}",
                    error.full()
                );
            }
            other => panic!("{}: {other:?}", t.table.display_name()),
        }
    }
    assert_eq!(summary.outcome(), ImportOutcome::Partial);
    // The dataset holds the first table, whole, and nothing of the others.
    let conn = rusqlite::Connection::open(dir.path().join("set.sqlite")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM \"public.customers\"", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n as usize, want_rows.len());
    assert!(!want_cols.is_empty());
    let others: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('public.big', 'public.orders')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(others, 0);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file left");
}
