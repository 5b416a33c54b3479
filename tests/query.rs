//! Typed queries (`Connector::query`) against the real servers: results come
//! a page at a time, and whatever is typed, nothing is written. Every write
//! attempt below is made by a login that *can* write (a control proves it),
//! and the data is compared before and after (row count + checksum, the
//! sequence's value, no new table).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::ServerEnv;
use varlor::connectors::mysql::MysqlConnector;
use varlor::connectors::postgres::PostgresConnector;
use varlor::connectors::sqlite::SqliteConnector;
use varlor::connectors::{
    Cell, ConnError, ConnSpec, Connector, ErrorKind, Kind, SessionOptions, TlsMode,
};

// ---- helpers ----------------------------------------------------------------

/// Runs SQL as the PostgreSQL superuser over the unix socket.
fn pg_super(env: &ServerEnv, sql: &str) -> Option<String> {
    let Ok(state) = std::env::var("VARLOR_TEST_PG_STATE") else {
        common::skip("VARLOR_TEST_PG_STATE (the superuser socket directory) is not set");
        return None;
    };
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &state,
            "-p",
        ])
        .arg(env.port.to_string())
        .args(["-U", "postgres", "-d", &env.db, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs SQL as MariaDB root over the socket.
fn my_root(env: &ServerEnv, sql: &str) -> Option<String> {
    if env.socket.is_none() {
        common::skip("VARLOR_TEST_MYSQL_SOCKET (root's socket) is not set");
        return None;
    }
    let out = common::mysql_root_sql(env, &format!("USE `{}`;\n{sql}", env.db))
        .unwrap_or_else(|e| panic!("mariadb: {e}"));
    Some(out.trim().to_string())
}

fn pg_connector(env: &ServerEnv) -> PostgresConnector {
    let spec = env.spec(Kind::Postgres);
    PostgresConnector::new(spec, Some(env.secret()), SessionOptions::default())
}

fn my_connector(env: &ServerEnv) -> MysqlConnector {
    let mut spec = env.spec(Kind::Mysql);
    spec.tls = TlsMode::Prefer;
    MysqlConnector::new(spec, Some(env.secret()), SessionOptions::default())
}

/// Every row of a typed query, a page of `page` rows at a time.
async fn all_rows(c: &dyn Connector, sql: &str, page: usize) -> Result<Vec<Vec<Cell>>, ConnError> {
    let mut cur = c.query(sql).await?;
    let mut rows = Vec::new();
    loop {
        let got = cur.next_page(page).await?;
        let n = got.len();
        rows.extend(got);
        if n < page {
            assert!(cur.is_done());
            return Ok(rows);
        }
    }
}

/// The outcome of one write attempt, for the report.
fn outcome(sql: &str, r: &Result<Vec<Vec<Cell>>, ConnError>) -> String {
    match r {
        Ok(rows) => format!("{sql:?} → ran, {} rows", rows.len()),
        Err(e) => format!("{sql:?} → {}: {}", e.kind.message(), e.detail),
    }
}

// ---- PostgreSQL ---------------------------------------------------------------

#[tokio::test]
async fn postgres_typed_writes_change_nothing_and_answer_in_words() {
    let Some(env) = common::pg() else { return };
    let Some(_) = pg_super(
        &env,
        "DROP TABLE IF EXISTS public.q_guard, public.q_made CASCADE; \
         DROP SEQUENCE IF EXISTS public.q_seq; DROP PROCEDURE IF EXISTS public.q_write(); \
         CREATE TABLE public.q_guard (id int PRIMARY KEY, v text); \
         INSERT INTO public.q_guard SELECT g, 'v' || g FROM generate_series(1, 50) g; \
         CREATE SEQUENCE public.q_seq; \
         CREATE PROCEDURE public.q_write() LANGUAGE sql AS $$ DELETE FROM public.q_guard $$; \
         ALTER TABLE public.q_guard OWNER TO varlor_test; \
         ALTER SEQUENCE public.q_seq OWNER TO varlor_test; \
         ALTER PROCEDURE public.q_write() OWNER TO varlor_test",
    ) else {
        return;
    };
    let state = || {
        pg_super(
            &env,
            "SELECT (SELECT count(*) FROM public.q_guard) || ' ' || \
             (SELECT md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM public.q_guard) || ' ' || \
             (SELECT last_value || '/' || is_called FROM public.q_seq) || ' ' || \
             (to_regclass('public.q_made') IS NULL) || ' ' || \
             current_setting('default_transaction_read_only')",
        )
        .unwrap()
    };
    assert!(state().starts_with("50 "));

    // Control: the same login writes when Varlor does not wrap it.
    let (client, conn) = tokio_postgres::Config::new()
        .host(&env.host)
        .port(env.port)
        .user(&env.user)
        .password(&env.password)
        .dbname(&env.db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "BEGIN; DELETE FROM public.q_guard; SELECT nextval('public.q_seq'); ROLLBACK",
        )
        .await
        .expect("the login can write outside Varlor");
    // nextval is not transactional: the control moved the sequence.
    let before = state();

    let c = pg_connector(&env);
    use ErrorKind::{Other, ReadOnly};
    let attempts: &[(&str, &[ErrorKind])] = &[
        ("INSERT INTO public.q_guard VALUES (999, 'x')", &[ReadOnly]),
        ("UPDATE public.q_guard SET v = 'x'", &[ReadOnly]),
        ("DELETE FROM public.q_guard", &[ReadOnly]),
        ("CREATE TABLE public.q_made (id int)", &[ReadOnly]),
        ("DROP TABLE public.q_guard", &[ReadOnly]),
        ("TRUNCATE public.q_guard", &[ReadOnly]),
        (
            "SET TRANSACTION READ WRITE; DELETE FROM public.q_guard",
            &[Other],
        ),
        ("SET TRANSACTION READ WRITE", &[Other]),
        ("COMMIT; DELETE FROM public.q_guard", &[Other]),
        (
            "WITH d AS (DELETE FROM public.q_guard RETURNING *) SELECT count(*) FROM d",
            &[ReadOnly],
        ),
        ("SELECT nextval('public.q_seq')", &[ReadOnly]),
        (
            "SELECT set_config('default_transaction_read_only', 'off', false); \
             DELETE FROM public.q_guard",
            &[Other],
        ),
        ("CALL public.q_write()", &[ReadOnly]),
        ("LOCK TABLE public.q_guard", &[ReadOnly]),
        ("SELECT 1;\nDELETE FROM public.q_guard;", &[Other]),
        ("SELECT 1 FROM public.q_guard FOR UPDATE", &[ReadOnly]),
    ];
    for (sql, kinds) in attempts {
        let r = all_rows(&c, sql, 100).await;
        eprintln!("{}", outcome(sql, &r));
        let e = r.expect_err(sql);
        assert!(kinds.contains(&e.kind), "{sql}: {e:?}");
        assert!(!e.detail.is_empty(), "{sql}: no words");
        if sql.contains("; ") || sql.contains(";\n") {
            assert!(e.detail.contains("one statement at a time"), "{sql}: {e:?}");
        }
        assert_eq!(state(), before, "after {sql}");
    }
    // A lone COMMIT or set_config runs, and still nothing can follow it.
    for sql in [
        "COMMIT",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
    ] {
        let r = all_rows(&c, sql, 100).await;
        eprintln!("{}", outcome(sql, &r));
        assert_eq!(state(), before, "after {sql}");
    }
    pg_super(
        &env,
        "DROP TABLE public.q_guard; DROP SEQUENCE public.q_seq; DROP PROCEDURE public.q_write()",
    );
}

#[tokio::test]
async fn postgres_results_come_a_page_at_a_time() {
    let Some(env) = common::pg() else { return };
    let c = pg_connector(&env);
    let mut cur = c
        .query("SELECT g AS n, 'r' || g AS label, NULL::text AS nothing FROM generate_series(1, 1234) g ORDER BY g;")
        .await
        .unwrap();
    let names: Vec<_> = cur.columns().iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["n", "label", "nothing"]);
    let first = cur.next_page(500).await.unwrap();
    assert_eq!(first.len(), 500);
    assert_eq!(
        first[0],
        vec![Cell::Int(1), Cell::Text("r1".into()), Cell::Null]
    );
    assert!(!cur.is_done());
    assert_eq!(cur.next_page(500).await.unwrap()[0][0], Cell::Int(501));
    let last = cur.next_page(500).await.unwrap();
    assert_eq!(last.len(), 234);
    assert_eq!(last[233][0], Cell::Int(1234));
    assert!(cur.is_done());
    // Statements that are not a cursor's still answer (one statement).
    let shown = all_rows(&c, "SHOW statement_timeout", 10).await.unwrap();
    assert_eq!(shown, vec![vec![Cell::Text("15s".into())]]);
}

/// Whether a backend sleeps in a page of a typed query (as the superuser
/// sees it: the running statement of a cursor is its FETCH).
/// `pg_running` sees every session's sleeping cursor: the tests that wait
/// for theirs to end take turns, or each sees the other's.
static PG_SLEEPERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pg_running(env: &ServerEnv) -> bool {
    let n = pg_super(
        env,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
         AND query LIKE 'FETCH FORWARD % FROM varlor_query' AND wait_event = 'PgSleep'",
    )
    .unwrap();
    n != "0"
}

#[tokio::test]
async fn postgres_a_cancelled_query_stops_on_the_server_within_a_second() {
    let _turn = PG_SLEEPERS.lock().await;
    let Some(env) = common::pg() else { return };
    if pg_super(&env, "SELECT 1").is_none() {
        return;
    }
    let c = pg_connector(&env);
    let sql = "SELECT pg_sleep(60) AS q_cancel_probe";
    // The pane runs "open + first page" as one future; Esc drops it.
    let run = async {
        let mut cur = c.query(sql).await?;
        cur.next_page(500).await
    };
    let r = tokio::time::timeout(Duration::from_millis(700), run).await;
    assert!(r.is_err(), "pg_sleep(60) cannot have finished");
    let dropped = Instant::now();
    let mut gone = false;
    while dropped.elapsed() < Duration::from_secs(1) {
        if !pg_running(&env) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "pg_sleep(60) still running 1 s after the cancel");
    // Before the cancel it was running: the probe can see it.
    let probe = tokio::spawn({
        let env = env.clone();
        async move {
            let c = pg_connector(&env);
            let mut cur = c.query(sql).await.unwrap();
            let _ = cur.next_page(1).await;
        }
    });
    let seen_at = Instant::now();
    let mut seen = false;
    while seen_at.elapsed() < Duration::from_secs(3) {
        if pg_running(&env) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    probe.abort();
    let _ = probe.await;
    assert!(seen, "the probe never saw the running query");
    // The aborted probe's cursor is cancelled on the server too; wait for it,
    // or its sleep outlives this test and another one sees it running.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pg_running(&env) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pg_running(&env), "the aborted probe's query still runs");
}

// ---- MariaDB ------------------------------------------------------------------

#[tokio::test]
async fn mariadb_typed_writes_change_nothing_and_answer_in_words() {
    let Some(env) = common::mysql() else { return };
    let Some(_) = my_root(
        &env,
        "DROP TABLE IF EXISTS q_guard, q_made; DROP SEQUENCE IF EXISTS q_seq; \
         DROP PROCEDURE IF EXISTS q_write; \
         CREATE TABLE q_guard (id int PRIMARY KEY, v text); \
         INSERT INTO q_guard SELECT seq, CONCAT('v', seq) FROM seq_1_to_50; \
         CREATE SEQUENCE q_seq; \
         CREATE PROCEDURE q_write() MODIFIES SQL DATA DELETE FROM q_guard; \
         GRANT ALL ON varlor_test.* TO 'varlor_test'@'%';",
    ) else {
        return;
    };
    let state = || {
        my_root(
            &env,
            "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM q_guard), \
             (SELECT MD5(GROUP_CONCAT(id, '=', v ORDER BY id)) FROM q_guard), \
             (SELECT next_not_cached_value FROM q_seq), \
             (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'q_made'))",
        )
        .unwrap()
    };
    let before = state();
    assert!(before.starts_with("50 "), "{before}");

    // Control: the same login writes when Varlor does not wrap it.
    {
        use mysql_async::prelude::Queryable;
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(env.host.clone())
            .tcp_port(env.port)
            .user(Some(env.user.clone()))
            .pass(Some(env.password.clone()))
            .db_name(Some(env.db.clone()))
            .prefer_socket(false);
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        conn.query_drop("START TRANSACTION; DELETE FROM q_guard; ROLLBACK")
            .await
            .expect("the login can write outside Varlor");
        conn.disconnect().await.unwrap();
    }

    let c = my_connector(&env);
    let attempts = [
        "INSERT INTO q_guard VALUES (999, 'x')",
        "UPDATE q_guard SET v = 'x'",
        "DELETE FROM q_guard",
        "CREATE TABLE q_made (id int)",
        "DROP TABLE q_guard",
        "TRUNCATE q_guard",
        "SET TRANSACTION READ WRITE; DELETE FROM q_guard",
        "SET TRANSACTION READ WRITE",
        "COMMIT; DELETE FROM q_guard",
        "WITH d AS (SELECT id FROM q_guard) DELETE FROM q_guard WHERE id IN (SELECT id FROM d) RETURNING id",
        "DELETE FROM q_guard RETURNING id",
        "SELECT nextval(q_seq)",
        "SELECT set_config('default_transaction_read_only', 'off', false); DELETE FROM q_guard",
        "CALL q_write()",
        "LOCK TABLE q_guard WRITE",
        "SELECT 1 FROM q_guard FOR UPDATE",
    ];
    for sql in attempts {
        let r = all_rows(&c, sql, 100).await;
        eprintln!("{}", outcome(sql, &r));
        let e = r.expect_err(sql);
        assert!(!e.detail.is_empty(), "{sql}: no words");
        if sql.contains("; ") {
            assert_eq!(e.kind, ErrorKind::Other, "{sql}: {e:?}");
            assert!(e.detail.contains("one statement at a time"), "{sql}: {e:?}");
        }
        assert_eq!(state(), before, "after {sql}");
    }
    // These run, and still nothing can follow them on that connection.
    for sql in ["COMMIT", "SET SESSION TRANSACTION READ WRITE"] {
        let r = all_rows(&c, sql, 10).await;
        eprintln!("{}", outcome(sql, &r));
        assert_eq!(state(), before, "after {sql}");
    }
    my_root(
        &env,
        "DROP TABLE q_guard; DROP SEQUENCE q_seq; DROP PROCEDURE q_write;",
    );
}

#[tokio::test]
async fn mariadb_results_come_a_page_at_a_time() {
    let Some(env) = common::mysql() else { return };
    let c = my_connector(&env);
    let mut cur = c
        .query("SELECT seq AS n, CONCAT('r', seq) AS label, NULL AS nothing FROM seq_1_to_1234 ORDER BY seq")
        .await
        .unwrap();
    let names: Vec<_> = cur.columns().iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["n", "label", "nothing"]);
    let first = cur.next_page(500).await.unwrap();
    assert_eq!(first.len(), 500);
    assert_eq!(first[0][1], Cell::Text("r1".into()));
    assert_eq!(first[0][2], Cell::Null);
    assert_eq!(first[0][0].display(), "1");
    assert!(!cur.is_done());
    assert_eq!(cur.next_page(500).await.unwrap()[0][0].display(), "501");
    let last = cur.next_page(500).await.unwrap();
    assert_eq!(last.len(), 234);
    assert!(cur.is_done());
}

#[tokio::test]
async fn mariadb_a_cancelled_query_stops_on_the_server_within_a_second() {
    let Some(env) = common::mysql() else { return };
    let running = |env: &ServerEnv| {
        my_root(
            env,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE '%q_cancel_probe%' AND INFO NOT LIKE '%PROCESSLIST%'",
        )
        .map(|n| n != "0")
    };
    if running(&env).is_none() {
        return;
    }
    let c = my_connector(&env);
    let run = async {
        let mut cur = c.query("SELECT SLEEP(60) AS q_cancel_probe").await?;
        cur.next_page(500).await
    };
    let probe = async {
        // It really runs on the server before the cancel.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            if running(&env) == Some(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    let seen = tokio::select! {
        _ = run => panic!("SLEEP(60) cannot have finished"),
        seen = probe => seen,
    };
    assert!(seen, "the probe never saw the running query");
    // `run` is dropped here: the Esc of the pane.
    let dropped = Instant::now();
    let mut gone = false;
    while dropped.elapsed() < Duration::from_secs(1) {
        if running(&env) == Some(false) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "SLEEP(60) still running 1 s after the cancel");
}

// ---- SQLite -------------------------------------------------------------------

#[tokio::test]
async fn sqlite_typed_queries_read_and_never_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); \
             WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 700) \
             INSERT INTO t SELECT n, 'v' || n FROM g;",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let mut spec = ConnSpec::new(Kind::Sqlite);
    spec.database = path.display().to_string();
    let c = SqliteConnector::new(spec, SessionOptions::default());
    let mut cur = c
        .query("SELECT id, v, NULL AS none_here FROM t ORDER BY id;")
        .await
        .unwrap();
    assert_eq!(cur.columns().len(), 3);
    let first = cur.next_page(500).await.unwrap();
    assert_eq!(first.len(), 500);
    assert_eq!(
        first[0],
        vec![Cell::Int(1), Cell::Text("v1".into()), Cell::Null]
    );
    assert_eq!(cur.next_page(500).await.unwrap().len(), 200);
    assert!(cur.is_done());
    for sql in [
        "INSERT INTO t VALUES (999, 'x')",
        "DELETE FROM t",
        "CREATE TABLE made (id int)",
        "DROP TABLE t",
        "PRAGMA query_only = 0",
        "SELECT 1; DELETE FROM t",
        "ATTACH 'other.sqlite' AS o",
    ] {
        let r = all_rows(&c, sql, 100).await;
        eprintln!("{}", outcome(sql, &r));
        if sql.starts_with("PRAGMA") {
            // Runs on the cursor's own connection, which is read-only by its
            // open flags anyway; nothing may change below.
            continue;
        }
        let e = r.expect_err(sql);
        if sql.contains("; ") {
            assert!(e.detail.contains("one statement at a time"), "{e:?}");
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    assert!(!dir.path().join("other.sqlite").exists());
}

// ---- export of a result (the query pane's `x`) --------------------------------

/// Exports the whole result of `sql` through the import's sinks in each
/// format; returns the rows found in each written file.
async fn export_everywhere(
    c: std::sync::Arc<dyn Connector>,
    kind: Kind,
    sql: &str,
) -> Vec<(String, u64, i64)> {
    use varlor::dataset::{run_import, Format, ImportPlan, TablePlan};
    let dir = tempfile::tempdir().unwrap();
    let mut found = Vec::new();
    for format in Format::ALL {
        let destination = dir.path().join(format!("out-{}", format.id()));
        let plan = ImportPlan {
            connection: "test".into(),
            kind,
            tables: vec![TablePlan::query("query", sql.to_string())],
            destination: destination.clone(),
            format,
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = Instant::now();
        let summary = run_import(
            c.clone(),
            plan,
            tx,
            tokio_util::sync::CancellationToken::new(),
        )
        .await;
        let mut progress = 0;
        while let Ok(ev) = rx.try_recv() {
            if matches!(ev, varlor::dataset::ImportEvent::Progress { .. }) {
                progress += 1;
            }
        }
        assert_eq!(summary.outcome().id(), "ok", "{format}: {summary:?}");
        assert!(progress > 0, "{format}: no progress was reported");
        // Count and sum what the file holds (not what the summary says).
        let (rows, sum) = match format {
            Format::Sqlite => {
                let db = rusqlite::Connection::open(&destination).unwrap();
                db.query_row("SELECT COUNT(*), SUM(n) FROM \"query\"", [], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)?))
                })
                .unwrap()
            }
            Format::Csv => {
                let mut rd = csv::Reader::from_path(destination.join("query.csv")).unwrap();
                let mut n = 0;
                let mut sum = 0i64;
                for r in rd.records() {
                    sum += r.unwrap()[0].parse::<i64>().unwrap();
                    n += 1;
                }
                (n, sum)
            }
            Format::Jsonl => {
                let text = std::fs::read_to_string(destination.join("query.jsonl")).unwrap();
                let mut n = 0;
                let mut sum = 0i64;
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    // An unsigned BIGINT (MariaDB's seq) is kept as a string.
                    sum += v["n"]
                        .as_i64()
                        .or_else(|| v["n"].as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or_else(|| panic!("{line}"));
                    n += 1;
                }
                (n, sum)
            }
            Format::Parquet => {
                use parquet::file::reader::{FileReader, SerializedFileReader};
                use parquet::record::Field as F;
                let path = destination.join("query.parquet");
                let reader = SerializedFileReader::try_from(path.as_path()).unwrap();
                let mut n = 0;
                let mut sum = 0i64;
                for row in reader.get_row_iter(None).unwrap() {
                    let row = row.unwrap();
                    let (_, f) = row.get_column_iter().next().unwrap();
                    sum += match f {
                        F::Long(i) => *i,
                        // An unsigned BIGINT (MariaDB's seq): DECIMAL(20,0).
                        F::Decimal(d) => d
                            .data()
                            .iter()
                            .fold(0i128, |v, b| (v << 8) | i128::from(*b))
                            as i64,
                        other => panic!("n: {other:?}"),
                    };
                    n += 1;
                }
                (n, sum)
            }
        };
        assert_eq!(summary.total_rows(), rows, "{format}");
        println!(
            "export {format}: {rows} rows in {} ms",
            started.elapsed().as_millis()
        );
        found.push((format.id().to_string(), rows, sum));
    }
    found
}

const EXPORT_ROWS: i64 = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_export_of_a_result_has_every_row() {
    let Some(env) = common::pg() else { return };
    let c: std::sync::Arc<dyn Connector> = std::sync::Arc::new(pg_connector(&env));
    let sql =
        format!("SELECT g AS n, repeat('x', 20) AS pad FROM generate_series(1, {EXPORT_ROWS}) g");
    let want_sum = EXPORT_ROWS * (EXPORT_ROWS + 1) / 2;
    for (format, rows, sum) in export_everywhere(c, Kind::Postgres, &sql).await {
        assert_eq!((rows, sum), (EXPORT_ROWS as u64, want_sum), "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_export_of_a_result_has_every_row() {
    let Some(env) = common::mysql() else { return };
    let c: std::sync::Arc<dyn Connector> = std::sync::Arc::new(my_connector(&env));
    // MariaDB's sequence engine: the numbers 1..N without a table.
    let sql = format!("SELECT seq AS n, REPEAT('x', 20) AS pad FROM seq_1_to_{EXPORT_ROWS}");
    let want_sum = EXPORT_ROWS * (EXPORT_ROWS + 1) / 2;
    for (format, rows, sum) in export_everywhere(c, Kind::Mysql, &sql).await {
        assert_eq!((rows, sum), (EXPORT_ROWS as u64, want_sum), "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_export_cannot_write_and_fails_in_words() {
    use varlor::dataset::{run_import, Format, ImportPlan, TablePlan};
    let Some(env) = common::pg() else { return };
    let c: std::sync::Arc<dyn Connector> = std::sync::Arc::new(pg_connector(&env));
    let dir = tempfile::tempdir().unwrap();
    let plan = ImportPlan {
        connection: "test".into(),
        kind: Kind::Postgres,
        tables: vec![TablePlan::query(
            "query",
            "WITH d AS (DELETE FROM public.orders RETURNING id) SELECT id FROM d".into(),
        )],
        destination: dir.path().join("x.sqlite"),
        format: Format::Sqlite,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = run_import(c, plan, tx, tokio_util::sync::CancellationToken::new()).await;
    assert_eq!(summary.outcome().id(), "failed");
    let text = format!("{:?}", summary.tables[0].outcome);
    assert!(text.contains("read-only"), "{text}");
    assert!(!dir.path().join("x.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_cancelled_export_stops_on_the_server_and_leaves_no_file() {
    use varlor::dataset::{run_import, Format, ImportPlan, TablePlan};
    let _turn = PG_SLEEPERS.lock().await;
    let Some(env) = common::pg() else { return };
    if pg_super(&env, "SELECT 1").is_none() {
        return;
    }
    let c: std::sync::Arc<dyn Connector> = std::sync::Arc::new(pg_connector(&env));
    let dir = tempfile::tempdir().unwrap();
    let destination = dir.path().join("x.sqlite");
    let plan = ImportPlan {
        connection: "test".into(),
        kind: Kind::Postgres,
        tables: vec![TablePlan::query(
            "query",
            "SELECT pg_sleep(60) AS export_cancel_probe".into(),
        )],
        destination: destination.clone(),
        format: Format::Sqlite,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = tokio_util::sync::CancellationToken::new();
    let job = tokio::spawn(run_import(c, plan, tx, cancel.clone()));
    let seen_at = Instant::now();
    while !pg_running(&env) {
        assert!(
            seen_at.elapsed() < Duration::from_secs(5),
            "the export's query never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let cancelled = Instant::now();
    let summary = tokio::time::timeout(Duration::from_secs(2), job)
        .await
        .expect("the export ends promptly on cancel")
        .unwrap();
    assert_eq!(summary.outcome().id(), "cancelled");
    while pg_running(&env) {
        assert!(
            cancelled.elapsed() < Duration::from_secs(1),
            "pg_sleep(60) still running 1 s after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!destination.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial file left"
    );
}

// ---- what the login may do (the pane's badge) ---------------------------------

use varlor::connectors::query::LoginWrites;

/// The read-only login of the fixtures (SELECT only on MariaDB, no grant at
/// all on PostgreSQL), admitted over TLS.
fn reader(env: &ServerEnv, kind: Kind) -> Option<Box<dyn Connector>> {
    let (Some(user), Some(password)) = (env.tls_user.clone(), env.tls_password.clone()) else {
        common::skip("no read-only (TLS) test user is configured");
        return None;
    };
    let mut spec = env.spec(kind);
    spec.user = user;
    spec.tls = TlsMode::Require;
    Some(
        varlor::connectors::connector_for(
            &spec,
            Some(secrecy::SecretString::from(password)),
            SessionOptions::default(),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn postgres_the_badge_tells_a_writer_from_a_reader() {
    let Some(env) = common::pg() else { return };
    match pg_connector(&env).login_writes().await.unwrap() {
        LoginWrites::CanWrite { why } => assert!(why.contains("on "), "{why}"),
        other => panic!("the owner of the tables can write: {other:?}"),
    }
    let Some(r) = reader(&env, Kind::Postgres) else {
        return;
    };
    assert_eq!(r.login_writes().await.unwrap(), LoginWrites::ReadOnly);
    // Granting one write privilege on one table turns the reader into a writer.
    let Some(user) = env.tls_user.clone() else {
        return;
    };
    if pg_super(
        &env,
        &format!("GRANT USAGE ON SCHEMA sales TO {user}; GRANT UPDATE ON sales.regions TO {user}"),
    )
    .is_none()
    {
        return;
    }
    let got = r.login_writes().await;
    pg_super(
        &env,
        &format!(
            "REVOKE UPDATE ON sales.regions FROM {user}; REVOKE USAGE ON SCHEMA sales FROM {user}"
        ),
    );
    match got.unwrap() {
        LoginWrites::CanWrite { why } => assert!(why.contains("sales.regions"), "{why}"),
        other => panic!("UPDATE on sales.regions is a write: {other:?}"),
    }
    assert_eq!(r.login_writes().await.unwrap(), LoginWrites::ReadOnly);
}

#[tokio::test]
async fn mariadb_the_badge_tells_a_writer_from_a_reader() {
    let Some(env) = common::mysql() else { return };
    match my_connector(&env).login_writes().await.unwrap() {
        LoginWrites::CanWrite { why } => assert!(why.starts_with("ALL PRIVILEGES ON"), "{why}"),
        other => panic!("varlor_test has ALL on its databases: {other:?}"),
    }
    let Some(r) = reader(&env, Kind::Mysql) else {
        return;
    };
    assert_eq!(r.login_writes().await.unwrap(), LoginWrites::ReadOnly);
}

#[tokio::test]
async fn sqlite_the_badge_follows_the_files_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let c = |p: &std::path::Path| {
        let mut spec = ConnSpec::new(Kind::Sqlite);
        spec.database = p.display().to_string();
        SqliteConnector::new(spec, SessionOptions::default())
    };
    assert!(matches!(
        c(&path).login_writes().await.unwrap(),
        LoginWrites::CanWrite { .. }
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let got = c(&path).login_writes().await.unwrap();
    // root may write any file, whatever its mode says.
    if unsafe { libc::geteuid() } == 0 {
        assert!(matches!(got, LoginWrites::CanWrite { .. }), "{got:?}");
    } else {
        assert_eq!(got, LoginWrites::ReadOnly);
    }
}
