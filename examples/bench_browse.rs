//! Browsing benchmark for PostgreSQL (run by scripts/bench-browse, which
//! starts a throwaway server when VARLOR_TEST_PG_* is not set).
//!
//! Prints medians of RUNS runs: listing 10,000 tables and the first rows of a
//! 1,000,000-row table through Varlor's connector (warm pooled session), next
//! to `psql` running the same SQL on one warm connection (`\timing`), and
//! the ratio. Goals from issue 6: list ≤ 1 s, preview ≤ 100 ms.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use varlor::connectors::postgres::{PostgresConnector, LIST_TABLES_SQL};
use varlor::connectors::{ConnSpec, Connector, Kind, SessionOptions, TableKind, TableRef, TlsMode};

const RUNS: usize = 7;
const SCHEMA: &str = "bench_browse";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set (run scripts/bench-browse)");
        std::process::exit(2)
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `sql` RUNS times in one psql session with \timing; returns the times.
fn psql_times(sql: &str) -> Vec<Duration> {
    let mut script = String::from("\\timing on\n\\o /dev/null\n");
    for _ in 0..RUNS {
        script.push_str(sql);
        script.push_str(";\n");
    }
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .env("PGHOST", env("VARLOR_TEST_PG_HOST"))
        .env("PGPORT", env("VARLOR_TEST_PG_PORT"))
        .env("PGUSER", env("VARLOR_TEST_PG_USER"))
        .env("PGDATABASE", env("VARLOR_TEST_PG_DB"))
        .env("PGPASSWORD", env("VARLOR_TEST_PG_PASSWORD"))
        .env("PGSSLMODE", "disable")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run psql");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("psql stdin");
        stdin.write_all(script.as_bytes()).expect("feed psql");
    }
    let out = child.wait_with_output().expect("psql output");
    assert!(out.status.success(), "psql failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect()
}

async fn setup(admin: &tokio_postgres::Client) {
    let have: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1",
            &[&SCHEMA],
        )
        .await
        .expect("count bench tables")
        .get(0);
    if have >= 10_000 {
        return;
    }
    eprintln!("creating 10,000 tables and a 1,000,000-row table in schema {SCHEMA}…");
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}"
        ))
        .await
        .expect("schema");
    for batch in 0..10 {
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {}..{} LOOP \
                 EXECUTE format('CREATE TABLE {SCHEMA}.t%s (id int)', i); END LOOP; END $$",
                batch * 1000 + 1,
                batch * 1000 + 1000
            ))
            .await
            .expect("create tables");
    }
    admin
        .batch_execute(&format!(
            "CREATE TABLE {SCHEMA}.big AS \
               SELECT i AS id, md5(i::text) AS label, now() - i * interval '1 second' AS at, \
                      (i % 1000)::numeric / 7 AS amount \
               FROM generate_series(1, 1000000) AS i; \
             ALTER TABLE {SCHEMA}.big ADD PRIMARY KEY (id); ANALYZE {SCHEMA}.big"
        ))
        .await
        .expect("big table");
}

#[tokio::main]
async fn main() {
    let mut spec = ConnSpec::new(Kind::Postgres);
    spec.host = env("VARLOR_TEST_PG_HOST");
    spec.port = Some(env("VARLOR_TEST_PG_PORT").parse().expect("port"));
    spec.user = env("VARLOR_TEST_PG_USER");
    spec.database = env("VARLOR_TEST_PG_DB");
    spec.tls = TlsMode::Disable;
    let password = env("VARLOR_TEST_PG_PASSWORD");

    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&spec.host)
        .port(spec.effective_port())
        .user(&spec.user)
        .password(&password)
        .dbname(&spec.database);
    let (admin, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect for setup");
    tokio::spawn(conn);
    setup(&admin).await;

    let c = PostgresConnector::new(
        spec,
        Some(SecretString::from(password)),
        SessionOptions::default(),
    );
    let big = TableRef {
        schema: Some(SCHEMA.into()),
        name: "big".into(),
        kind: TableKind::Table,
        estimated_rows: None,
        system: false,
    };
    // Warm up: open the pooled session, fill the type cache.
    let listed = c.list_tables().await.expect("list").len();
    c.preview(&big, 10).await.expect("preview");

    let mut list = Vec::new();
    let mut preview = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        c.list_tables().await.expect("list");
        list.push(t.elapsed());
        let t = Instant::now();
        let rs = c.preview(&big, 10).await.expect("preview");
        preview.push(t.elapsed());
        assert_eq!(rs.rows.len(), 10);
    }
    let psql_list = psql_times(LIST_TABLES_SQL);
    let psql_preview = psql_times(&format!("SELECT * FROM \"{SCHEMA}\".\"big\" LIMIT 10"));

    let row = |what: &str, ours: Vec<Duration>, theirs: Vec<Duration>| {
        let (o, t) = (median(ours), median(theirs));
        println!(
            "{what:<34} varlor {:>9.2} ms   psql {:>9.2} ms   ratio {:>5.2}",
            o.as_secs_f64() * 1000.0,
            t.as_secs_f64() * 1000.0,
            o.as_secs_f64() / t.as_secs_f64().max(1e-9)
        );
    };
    println!("median of {RUNS} runs, warm sessions, {listed} relations listed");
    row("list tables (10,000 + catalog)", list, psql_list);
    row("preview 10 rows of 1,000,000", preview, psql_preview);
}
