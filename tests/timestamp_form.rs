//! One look for timestamps: the same row's timestamp cells read the same in
//! the CLI preview (`--json`, `--csv`, the table) and in imported CSV and
//! JSON Lines, for PostgreSQL, MariaDB and a SQLite file; in-range values
//! are ISO 8601 (`2024-01-02T03:04:05+02:00`) even in a column that also
//! holds out-of-range ones (`infinity`, BC, MariaDB's zero date), which keep
//! the engine's words. A typed query (`varlor query --json`) shows the same.
//!
//! Needs the servers of `scripts/test` (VARLOR_TEST_PG_* / VARLOR_TEST_MYSQL_*,
//! MariaDB's root socket to create the table); skips with a notice without
//! them, fails under CI=true.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pass"), "correct horse battery staple\n").unwrap();
        Home { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs varlor; panics with its output unless it exits 0.
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let o = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"))
            .args(args)
            .env("VARLOR_HOME", self.path("home"))
            .env("VARLOR_PASSPHRASE_FILE", self.path("pass"))
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env("NO_COLOR", "1")
            .env_remove("VARLOR_PROFILE")
            .env_remove("VARLOR_LOG")
            .timeout(std::time::Duration::from_secs(90))
            .write_stdin(stdin.to_string())
            .output()
            .expect("run varlor");
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "varlor {args:?}\n{out}\n{err}");
        out
    }

    fn add_server(&self, kind: &str, s: &common::ServerEnv, database: &str) {
        let mut args = common::add_server_args("src", kind, s, database);
        args.extend(["--tls".to_string(), "disable".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args, &format!("{}\n", s.password));
    }
}

/// Column → values (in `id` order) as each front end shows them.
type Columns = BTreeMap<String, Vec<Value>>;

/// `preview --json` / `query --json` output: the values of `cols`, rows
/// ordered by the first column.
fn json_columns(text: &str, cols: &[&str]) -> Columns {
    let j: Value = serde_json::from_str(text).unwrap();
    let names: Vec<&str> = j["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let mut rows: Vec<Vec<Value>> = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    rows.sort_by_key(|r| r[0].as_i64());
    pick(&names, &rows, cols)
}

fn pick(names: &[&str], rows: &[Vec<Value>], cols: &[&str]) -> Columns {
    cols.iter()
        .map(|c| {
            let i = names.iter().position(|n| n == c).expect("column");
            (c.to_string(), rows.iter().map(|r| r[i].clone()).collect())
        })
        .collect()
}

/// CSV text (header first) as JSON strings, NULL (an empty field) as null.
fn csv_columns(text: &str, cols: &[&str]) -> Columns {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut rows: Vec<Vec<Value>> = rdr
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|f| {
                    if f.is_empty() {
                        Value::Null
                    } else {
                        Value::String(f.into())
                    }
                })
                .collect()
        })
        .collect();
    rows.sort_by_key(|r| r[0].as_str().and_then(|s| s.parse::<i64>().ok()));
    pick(&names, &rows, cols)
}

/// Imports `table` as `format` into a fresh directory; the one file's text.
fn import(h: &Home, table: &str, format: &str) -> String {
    let dir = h.path(&format!("out-{format}"));
    let _ = std::fs::remove_dir_all(&dir);
    h.ok(
        &[
            "import",
            "src",
            table,
            "--to",
            dir.to_str().unwrap(),
            "--format",
            format,
        ],
        "",
    );
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == format))
        .unwrap_or_else(|| panic!("no .{format} file in {}", dir.display()));
    std::fs::read_to_string(file).unwrap()
}

fn jsonl_columns(text: &str, cols: &[&str]) -> Columns {
    let mut objs: Vec<serde_json::Map<String, Value>> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    objs.sort_by_key(|o| o["id"].as_i64());
    cols.iter()
        .map(|c| (c.to_string(), objs.iter().map(|o| o[*c].clone()).collect()))
        .collect()
}

/// ISO 8601 as Varlor writes it: `T`, optional fraction, optional `Z` or
/// `+HH:MM[:SS]`.
fn is_iso(s: &str) -> bool {
    let b = s.as_bytes();
    let d = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if !(b.len() >= 19
        && d(0..4)
        && b[4] == b'-'
        && d(5..7)
        && b[7] == b'-'
        && d(8..10)
        && b[10] == b'T'
        && d(11..13)
        && b[13] == b':'
        && d(14..16)
        && b[16] == b':'
        && d(17..19))
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &f[n..];
    }
    let z = rest.as_bytes();
    match z {
        [] | [b'Z'] => true,
        [b'+' | b'-', ..] => {
            let parts: Vec<&str> = rest[1..].split(':').collect();
            (2..=3).contains(&parts.len())
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit()))
        }
        _ => false,
    }
}

/// Every front end shows the same text; `want` is that text per column
/// (`None` = NULL); in-range values are ISO 8601.
fn check(h: &Home, table: &str, want: &[(&str, Vec<Option<&str>>)], iso: bool) {
    let sql = format!("SELECT * FROM {table} ORDER BY id");
    let cols: Vec<&str> = want.iter().map(|(c, _)| *c).collect();
    let want: Columns = want
        .iter()
        .map(|(c, vals)| {
            (
                c.to_string(),
                vals.iter()
                    .map(|v| v.map_or(Value::Null, |s| Value::String(s.into())))
                    .collect(),
            )
        })
        .collect();
    let shown = h.ok(&["preview", "src", table, "--json", "--limit", "100"], "");
    assert_eq!(
        json_columns(&shown, &cols),
        want,
        "preview --json of {table}"
    );
    // A typed query's results (the query pane's cells) read the same.
    let queried = h.ok(&["query", "src", &sql, "--json"], "");
    assert_eq!(
        json_columns(&queried, &cols),
        want,
        "query --json of {table}"
    );
    let csv_preview = h.ok(&["preview", "src", table, "--csv", "--limit", "100"], "");
    assert_eq!(
        csv_columns(&csv_preview, &cols),
        want,
        "preview --csv of {table}"
    );
    let grid = h.ok(&["preview", "src", table, "--limit", "100"], "");
    assert_eq!(
        csv_columns(&import(h, table, "csv"), &cols),
        want,
        "imported CSV of {table}"
    );
    assert_eq!(
        jsonl_columns(&import(h, table, "jsonl"), &cols),
        want,
        "imported JSONL of {table}"
    );
    let mut in_range = 0;
    for v in want.values().flatten().filter_map(Value::as_str) {
        // The grid shows the same words (its columns may be cut: the start).
        let start: String = v.chars().take(16).collect();
        assert!(grid.contains(&start), "the table shows {v}:\n{grid}");
        if iso && v.as_bytes().get(4) == Some(&b'-') && !v.ends_with(" BC") && v.len() < 40 {
            assert!(is_iso(v), "{v} is not ISO 8601");
            in_range += 1;
        }
    }
    assert!(!iso || in_range >= 3, "in-range values checked: {in_range}");
}

#[test]
fn postgres_timestamps_read_the_same_everywhere() {
    let Some(s) = common::pg() else { return };
    let schema = format!("ts_form_{}", std::process::id());
    let psql = |sql: &str| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let client = common::pg_admin(&s).await;
            client.batch_execute(sql).await.unwrap();
        });
    };
    psql(&format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.events (id int PRIMARY KEY, at timestamp, at_tz timestamptz);
         INSERT INTO {schema}.events VALUES
           (1, '2024-01-02 03:04:05.678901', '2024-06-30 12:00:00+00'),
           (2, 'infinity', '-infinity'),
           (3, '0044-03-15 12:00:00 BC', '1999-12-31 23:59:59.5+00'),
           (4, '1999-12-31 23:59:59', '1970-01-01 00:00:00+00'),
           (5, NULL, NULL);"
    ));
    let h = Home::new();
    h.add_server("postgres", &s, &s.db);
    let table = format!("{schema}.events");
    // timestamptz is shown in the session's zone, the server's default:
    // UTC under scripts/testdb/postgres.sh.
    let result = std::panic::catch_unwind(|| {
        check(
            &h,
            &table,
            &[
                (
                    "at",
                    vec![
                        Some("2024-01-02T03:04:05.678901"),
                        Some("infinity"),
                        Some("0044-03-15 12:00:00 BC"),
                        Some("1999-12-31T23:59:59"),
                        None,
                    ],
                ),
                (
                    "at_tz",
                    vec![
                        Some("2024-06-30T12:00:00+00:00"),
                        Some("-infinity"),
                        Some("1999-12-31T23:59:59.5+00:00"),
                        Some("1970-01-01T00:00:00+00:00"),
                        None,
                    ],
                ),
            ],
            true,
        );
    });
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn mariadb_timestamps_read_the_same_everywhere() {
    let Some(s) = common::mysql() else { return };
    let db = format!("varlor_ts_form_{}", std::process::id());
    let created = common::mysql_root_sql(
        &s,
        &format!(
            "SET SESSION sql_mode = '';
             DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db};
             GRANT SELECT ON {db}.* TO '{u}'@'%', '{u}'@'localhost';
             CREATE TABLE {db}.events (id INT PRIMARY KEY, at DATETIME(6), at_ts TIMESTAMP NULL DEFAULT NULL);
             INSERT INTO {db}.events VALUES
               (1, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05'),
               (2, '0000-00-00 00:00:00', '0000-00-00 00:00:00'),
               (3, '1000-01-01 00:00:00', '1970-01-02 00:00:00'),
               (4, '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07'),
               (5, NULL, NULL);",
            u = s.user
        ),
    );
    if let Err(why) = created {
        common::skip(&format!("cannot create the table as root: {why}"));
        return;
    }
    let h = Home::new();
    let result = std::panic::catch_unwind(|| {
        h.add_server("mysql", &s, &db);
        check(
            &h,
            "events",
            &[
                (
                    "at",
                    vec![
                        Some("2024-01-02T03:04:05.123456"),
                        Some("0000-00-00T00:00:00.000000"),
                        Some("1000-01-01T00:00:00.000000"),
                        Some("9999-12-31T23:59:59.999999"),
                        None,
                    ],
                ),
                (
                    "at_ts",
                    vec![
                        Some("2024-01-02T03:04:05"),
                        Some("0000-00-00T00:00:00"),
                        Some("1970-01-02T00:00:00"),
                        Some("2038-01-19T03:14:07"),
                        None,
                    ],
                ),
            ],
            true,
        );
    });
    let _ = common::mysql_root_sql(&s, &format!("DROP DATABASE {db};"));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// SQLite has no timestamp type: what the file holds is what every front
/// end shows, unchanged, whichever shape it has.
#[test]
fn sqlite_timestamps_read_the_same_everywhere() {
    let h = Home::new();
    let file: PathBuf = h.path("events.db");
    sqlite_file(&file);
    h.ok(
        &[
            "add",
            "src",
            "--kind",
            "sqlite",
            "--database",
            file.to_str().unwrap(),
        ],
        "",
    );
    check(
        &h,
        "events",
        &[
            (
                "at",
                vec![
                    Some("2024-01-02 03:04:05"),
                    Some("2024-01-02T03:04:05+01:00"),
                    Some("infinity"),
                    Some("1999-12-31T23:59:59Z"),
                    None,
                ],
            ),
            (
                "at_text",
                vec![
                    Some("2024-01-02 03:04:05+01"),
                    Some("0000-00-00 00:00:00"),
                    Some("yesterday"),
                    Some("1970-01-01"),
                    None,
                ],
            ),
        ],
        false,
    );
}

fn sqlite_file(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at TIMESTAMP, at_text TEXT);
         INSERT INTO events VALUES
           (1, '2024-01-02 03:04:05', '2024-01-02 03:04:05+01'),
           (2, '2024-01-02T03:04:05+01:00', '0000-00-00 00:00:00'),
           (3, 'infinity', 'yesterday'),
           (4, '1999-12-31T23:59:59Z', '1970-01-01'),
           (5, NULL, NULL);",
    )
    .unwrap();
}
