//! The PostgreSQL connector against a real server (scripts/test starts one;
//! see tests/common for the variables and the skip rules). The behaviours
//! every engine shares run from tests/common/conformance.rs through the
//! harness below (`conformance::*` tests); this file keeps PostgreSQL's own.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::conformance::{
    col, table as tref, text, AfterKill, Bulk, Cap, Described, Fixture, Harness, Hostile,
    StreamCase,
};
use common::{pg, ServerEnv};
use varlor::connectors::postgres::PostgresConnector;
use varlor::connectors::{
    Cell, ConnSpec, Connector, Kind, SessionOptions, TableKind, TableRef, TlsMode,
};

fn connector(env: &ServerEnv, edit: impl FnOnce(&mut ConnSpec)) -> PostgresConnector {
    let mut spec = env.spec(Kind::Postgres);
    edit(&mut spec);
    PostgresConnector::new(spec, Some(env.secret()), SessionOptions::default())
}

fn browser(env: &ServerEnv) -> PostgresConnector {
    connector(env, |_| {})
}

use common::pg_admin as admin;

fn table(schema: &str, name: &str) -> TableRef {
    tref(Some(schema), name)
}

// ---- the shared conformance suite ------------------------------------------

struct Pg(ServerEnv);

fn harness() -> Option<Pg> {
    pg().map(Pg)
}

conformance_tests!(harness);

/// The backend pid of whichever session previews it.
async fn backend_pid(c: &dyn Connector) -> i64 {
    let rs = c
        .preview(&table("public", "session_pid"), 1)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    match &rs.rows[0][0] {
        Cell::Int(p) => *p,
        other => panic!("pid: {other:?}"),
    }
}

/// Runs `DO` blocks of 1000 `stmt` (with `%s` the table number) each.
async fn in_batches(client: &tokio_postgres::Client, n: usize, stmt: &str) -> Result<(), String> {
    for batch in 0..n.div_ceil(1000) {
        client
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {}..{} LOOP \
                 EXECUTE format('{stmt}', i); END LOOP; END $$",
                batch * 1000 + 1,
                (batch * 1000 + 1000).min(n)
            ))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[async_trait]
impl Harness for Pg {
    fn spec(&self) -> ConnSpec {
        self.0.spec(Kind::Postgres)
    }
    fn password(&self) -> Option<String> {
        Some(self.0.password.clone())
    }
    fn has(&self, _: Cap) -> bool {
        true
    }
    fn ca(&self) -> Option<std::path::PathBuf> {
        self.0.ca.clone()
    }
    async fn tls_only_user(&self) -> Result<(String, String), String> {
        match (self.0.tls_user.clone(), self.0.tls_password.clone()) {
            (Some(u), Some(p)) => Ok((u, p)),
            _ => Err("no TLS-only user (VARLOR_TEST_PG_TLS_USER)".into()),
        }
    }

    fn fixture(&self) -> Fixture {
        use TableKind::{MaterializedView, Table, View};
        let p = Some("public");
        Fixture {
            listed: vec![
                (p, "customers", Table),
                (p, "orders", Table),
                (p, "Weird Name", Table),
                (p, "quote\"d", Table),
                (p, "semi;colon", Table),
                (p, "ünïcödé", Table),
                (p, "select", Table),
                (p, "all_types", Table),
                (p, "paid_orders", View),
                (p, "slow_view", View),
                (Some("sales"), "regions", Table),
                (Some("sales"), "revenue_by_country", MaterializedView),
                (Some("inventory"), "stock", Table),
                (Some("inventory"), "stock_by_warehouse", View),
                (Some("Odd Schema"), "Weird Name", Table),
            ],
            system_table: (Some("pg_catalog"), "pg_class"),
            preview_schemas: vec![p, Some("sales"), Some("inventory"), Some("Odd Schema")],
            preview_skip: vec!["slow_view", "writing_view", "session_pid"],
            // write_log must stay empty (read-only case); all others have data.
            may_be_empty: vec!["write_log"],
            min_previewed: 15,
            hostile: vec![
                Hostile {
                    table: table("public", "quote\"d"),
                    columns: vec![(0, "col\"umn"), (1, "va'lue")],
                    rows: Some(2),
                    has_rows: vec![],
                    has_cells: vec![(1, text("say \"hi\""))],
                },
                Hostile {
                    table: table("public", "semi;colon"),
                    columns: vec![(1, "drop table x;")],
                    rows: Some(2),
                    has_rows: vec![],
                    has_cells: vec![],
                },
                Hostile {
                    table: table("public", "ünïcödé"),
                    columns: vec![(0, "ñame")],
                    rows: None,
                    has_rows: vec![],
                    has_cells: vec![(0, text("日本語"))],
                },
                Hostile {
                    table: table("public", "select"),
                    columns: vec![(0, "from")],
                    rows: Some(2),
                    has_rows: vec![],
                    has_cells: vec![],
                },
                Hostile {
                    table: table("public", "Weird Name"),
                    columns: vec![],
                    rows: Some(3),
                    has_rows: vec![],
                    has_cells: vec![(1, text("ünïcödé ✓")), (2, Cell::Null)],
                },
                // Same name, other schema: the schema is honoured.
                Hostile {
                    table: table("Odd Schema", "Weird Name"),
                    columns: vec![(1, "note")],
                    rows: Some(1),
                    has_rows: vec![],
                    has_cells: vec![],
                },
            ],
            untouched: (table("public", "customers"), 1000),
            described: vec![
                Described {
                    column_names: Some(vec!["from", "where", "Weird Id"]),
                    columns: vec![
                        col("from").pk(true).nullable(false),
                        col("where").pk(false),
                        col("Weird Id").references(Some("public.Weird Name(Id)")),
                    ],
                    ..Described::of(table("public", "select"))
                },
                Described {
                    primary_key: Some(vec!["warehouse_id", "sku"]),
                    columns: vec![
                        col("quantity").pk(false).default_is(Some("0")),
                        col("warehouse_id").references(Some("inventory.warehouses(id)")),
                    ],
                    ..Described::of(table("inventory", "stock"))
                },
                Described {
                    nullable_after_first: true,
                    columns: vec![
                        col("c_numeric").ty("numeric(30,10)"),
                        col("c_varchar").ty("character varying(20)"),
                        col("c_int_array").ty("integer[]"),
                    ],
                    ..Described::of(table("public", "all_types"))
                },
                Described {
                    kind: Some(Table),
                    estimated_rows: Some(Some(5000)),
                    ..Described::of(table("public", "orders"))
                },
            ],
            missing: table("public", "no_such_table"),
            counts: vec![
                (table("public", "orders"), 5000),
                (table("inventory", "stock"), 300),
            ],
            small: (table("sales", "regions"), 3),
            // pg_sleep(5) per row.
            slow: table("public", "slow_view"),
            slow_previews: true,
            timeout_within: Duration::from_secs(4),
            slow_stream: Some((table("public", "slow_view"), None, 1)),
            writing_view: Some(table("public", "writing_view")),
            write_filter: Some((table("public", "customers"), "public.try_write() > 0")),
            smuggle: (
                table("public", "customers"),
                "true); DELETE FROM public.write_log; --",
            ),
            smuggle_refused_up_front: false,
            pristine_evidence: Some("0"),
            stream_all: (table("public", "orders"), 5000, None),
            stream_names: vec![(0, "id")],
            stream_types: vec![(2, "numeric(10,2)")],
            streams: vec![
                StreamCase {
                    table: table("public", "orders"),
                    limit: Some(2500),
                    filter: None,
                    rows: 2500,
                    every: None,
                },
                StreamCase {
                    table: table("public", "customers"),
                    limit: None,
                    filter: Some("country = 'DE' -- a trailing comment"),
                    rows: 200,
                    every: Some(("country", text("DE"))),
                },
            ],
            after_kill: AfterKill::Reconnects,
        }
    }

    fn check_listing(&self, tables: &[TableRef]) {
        let find = |schema: &str, name: &str| {
            tables
                .iter()
                .find(|t| t.schema.as_deref() == Some(schema) && t.name == name)
                .unwrap_or_else(|| panic!("{schema}.{name} not listed"))
        };
        // Analyzed by the harness: the estimate comes from pg_class.reltuples.
        assert_eq!(find("public", "orders").estimated_rows, Some(5000));
        assert_eq!(find("public", "paid_orders").estimated_rows, None);
        assert!(tables
            .iter()
            .any(|t| t.schema.as_deref() == Some("information_schema") && t.system));
    }

    async fn count_still_running(&self) -> bool {
        let row = admin(&self.0)
            .await
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE state = 'active' AND query LIKE '%count(*) FROM \"public\".\"slow_view\"%' \
                   AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) > 0
    }

    async fn session_id(&self, c: &dyn Connector) -> String {
        backend_pid(c).await.to_string()
    }

    async fn kill_session(&self, id: &str) -> Result<(), String> {
        let pid: i32 = id.parse().expect("a backend pid");
        let killed: bool = admin(&self.0)
            .await
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(killed, "pg_terminate_backend({pid})");
        Ok(())
    }

    async fn write_evidence(&self) -> String {
        let n: i64 = admin(&self.0)
            .await
            .query_one("SELECT count(*) FROM public.write_log", &[])
            .await
            .unwrap()
            .get(0);
        n.to_string()
    }

    async fn create_tables(&self, n: usize) -> Result<Bulk, String> {
        let schema = format!("bulk_{}", std::process::id());
        let admin = admin(&self.0).await;
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = in_batches(&admin, n, &format!("CREATE TABLE {schema}.t%s (id int)")).await
        {
            let _ = admin
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await;
            panic!("create {n} tables: {e}");
        }
        Ok(Bulk {
            schema: Some(schema),
            count: n,
            prefix: "t".into(),
            probe: format!("t{}", n - 1),
        })
    }

    async fn drop_tables(&self, bulk: &Bulk) {
        let schema = bulk.schema.as_deref().expect("a schema");
        let admin = admin(&self.0).await;
        // In batches, to keep the lock table small.
        let _ = in_batches(
            &admin,
            bulk.count,
            &format!("DROP TABLE IF EXISTS {schema}.t%s"),
        )
        .await;
        let _ = admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await;
    }
}

// ---- PostgreSQL's own cases --------------------------------------------------

#[tokio::test]
async fn success_shows_version_and_tls_state() {
    let Some(env) = pg() else { return };
    let info = browser(&env).test().await.expect("plain connection");
    assert!(info.version.starts_with("PostgreSQL "), "{}", info.version);
    assert!(info.version.len() < 30, "not shortened: {}", info.version);
    assert!(!info.tls);
    let info = connector(&env, |s| s.tls = TlsMode::Prefer)
        .test()
        .await
        .expect("prefer");
    assert!(info.tls, "the server offers TLS, prefer must use it");
}

#[tokio::test]
async fn every_common_type_previews_as_exact_text() {
    let Some(env) = pg() else { return };
    let rs = browser(&env)
        .preview(&table("public", "all_types"), 10)
        .await
        .expect("preview all_types");
    let col = |name: &str| {
        rs.columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let row = |id: i64| {
        rs.rows
            .iter()
            .find(|r| r[0] == Cell::Int(id))
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    let r1 = row(1);
    let txt = |name: &str| match &r1[col(name)] {
        Cell::Text(t) => t.clone(),
        other => panic!("{name}: expected text, got {other:?}"),
    };
    assert_eq!(r1[col("c_int2")], Cell::Int(-32768));
    assert_eq!(r1[col("c_int8")], Cell::Int(i64::MAX));
    assert_eq!(txt("c_numeric"), "12345678901234567890.0123456789");
    assert_eq!(txt("c_real"), "3.25");
    assert_eq!(txt("c_double"), "2.718281828459045");
    assert_eq!(r1[col("c_bool")], Cell::Bool(true));
    assert_eq!(txt("c_varchar"), "varchar ✓");
    assert_eq!(txt("c_char"), "ab   ");
    assert_eq!(
        r1[col("c_bytea")],
        Cell::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff])
    );
    assert_eq!(txt("c_date"), "2024-02-29");
    assert_eq!(txt("c_time"), "23:59:58.123456");
    // Timestamps in the one form (ISO 8601) every front end shows.
    assert_eq!(txt("c_timestamp"), "2024-01-02T03:04:05.678901");
    // Rendered in the server's TimeZone, with its offset as +HH:MM.
    let tz = txt("c_timestamptz");
    assert!(tz.starts_with("2024-06-30T"), "{tz}");
    assert!(
        tz[11..].contains(['+', '-']) && tz.ends_with(":00"),
        "no zone offset: {tz}"
    );
    assert_eq!(txt("c_interval"), "1 year 2 mons 3 days 04:05:06");
    assert_eq!(txt("c_uuid"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_eq!(txt("c_json"), r#"{"k": [1, 2, {"n": null}]}"#);
    assert_eq!(txt("c_jsonb"), r#"{"a": "x", "b": 2}"#);
    assert_eq!(txt("c_int_array"), "{1,2,3}");
    assert_eq!(txt("c_text_array"), r#"{"a b","c,d",NULL}"#);
    assert_eq!(txt("c_enum"), "happy");
    assert_eq!(txt("c_inet"), "192.168.0.1/24");

    // NULL stays NULL; empty text stays empty text.
    assert!(row(2)[1..].iter().all(Cell::is_null));
    let r3 = row(3);
    assert_eq!(r3[col("c_text")], Cell::Text(String::new()));
    assert_eq!(r3[col("c_bytea")], Cell::Bytes(vec![]));
    assert_eq!(r3[col("c_real")], Cell::Text("NaN".into()));
    assert_eq!(r3[col("c_double")], Cell::Text("-Infinity".into()));

    let ty = |name: &str| rs.columns[col(name)].type_name.clone();
    assert_eq!(ty("c_numeric"), "numeric(30,10)");
    assert_eq!(ty("c_int_array"), "int4[]");
    assert_eq!(ty("c_text_array"), "text[]");
    assert_eq!(ty("c_enum"), "mood");
    assert_eq!(ty("c_timestamptz"), "timestamptz");
}

#[tokio::test]
async fn terminal_hostile_text_comes_back_byte_for_byte() {
    use common::hostile::{COLUMN, TABLE, VALUES};
    let Some(env) = common::pg() else { return };
    let c = browser(&env);
    let listed = c.list_tables().await.expect("list");
    assert!(
        listed.iter().any(|t| t.name == TABLE),
        "hostile table listed"
    );
    let info = c.describe(&table("public", TABLE)).await.expect("describe");
    assert_eq!(info.columns[1].name, COLUMN);
    let set = c
        .preview(&table("public", TABLE), 10)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    let mut rows = set.rows.clone();
    rows.sort_by_key(|r| r[0].display().parse::<i64>().unwrap_or(0));
    let got: Vec<String> = rows.iter().map(|r| r[1].display()).collect();
    assert_eq!(got, VALUES);
}

#[tokio::test]
async fn no_password_at_all_is_password_required() {
    let Some(env) = pg() else { return };
    let spec = env.spec(Kind::Postgres);
    let c = PostgresConnector::new(spec, None, SessionOptions::default());
    let e = c.test().await.unwrap_err();
    assert_eq!(
        e.kind,
        varlor::connectors::ErrorKind::PasswordRequired,
        "{}",
        e.full()
    );
    assert_eq!(e.to_string(), "Password required");
}

// ---- PostgreSQL → CSV: the server's CSV against the row path (issue 19) ----

async fn collect(
    c: &dyn Connector,
    t: &TableRef,
    csv: bool,
    filter: Option<&str>,
) -> Result<common::Collect, varlor::connectors::ConnError> {
    let mut sink = common::Collect {
        csv,
        ..Default::default()
    };
    let opts = varlor::connectors::StreamOptions {
        limit: None,
        filter: filter.map(String::from),
    };
    c.stream_rows(t, &opts, &mut sink).await.map(|_| sink)
}

/// The edge values the fixtures lack, in a schema of this test's own.
const EDGES: &str = r#"
CREATE TABLE {s}."edge ""values"", too" (
  id integer,
  ts timestamp,
  tstz timestamptz,
  "flag, b" boolean,
  data bytea,
  note text,
  doc jsonb,
  tags text[],
  day date,
  amount numeric,
  score float8);
INSERT INTO {s}."edge ""values"", too" VALUES
  (1, 'infinity', '-infinity', true, '\x', E'cr\r lf\n crlf\r\n "quoted", comma', '{"a": "b,c"}',
   '{"x,y", "q\"z", NULL}', 'infinity', 'NaN', 'Infinity'),
  (2, '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC', false, '\x00', '', '"s"', '{}',
   '0001-01-01 BC', -0.000001, '-0'),
  (3, '10000-01-01 00:00:00', '12345-06-07 08:09:10.5+00', NULL, NULL, NULL, NULL, NULL,
   '10000-12-31', 1e30, 1e-300),
  (4, '2024-02-29 23:59:59.999999', '1900-01-01 00:00:00+00', true, '\x0d0a22', '\.', 'null',
   '{""}', '2024-02-29', 0, 2.718281828459045),
  (5, NULL, NULL, NULL, NULL, 'ünïcödé 🎉 日本語', NULL, NULL, NULL, NULL, NULL),
  (6, '2024-01-02 03:04:05', '2024-06-30 12:00:00.000001+02', false, '\xdeadbeef00ff', '"', '[]',
   '{a}', '2024-01-02', 12345678901234567890.0123456789, 'NaN'),
  (7, NULL, NULL, NULL, '\x', '', NULL, NULL, NULL, NULL, NULL);
"#;

/// Every table of the test database (and a table of edge values) exported
/// to CSV both ways: the server's CSV rewritten as it streams must be byte
/// for byte what the row path writes, and the import file must be exactly
/// the row path's header and rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_csv_is_byte_identical_to_the_row_path() {
    let Some(env) = pg() else { return };
    let admin = admin(&env).await;
    with_own_schema(&admin, "csv_edges", EDGES, |schema| async move {
        compare_csv_paths(&env, &schema).await
    })
    .await;
}

/// Runs `body` with a schema of its own (`{prefix}_{pid}`, filled by `setup`,
/// in which `{s}` is the quoted schema name), dropped afterwards even when
/// `body` panics.
async fn with_own_schema<F: std::future::Future<Output = ()>>(
    admin: &tokio_postgres::Client,
    prefix: &str,
    setup: &str,
    body: impl FnOnce(String) -> F,
) {
    use futures::FutureExt;
    let schema = format!("{prefix}_{}", std::process::id());
    let s = format!("\"{schema}\"");
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}; {}",
            setup.replace("{s}", &s)
        ))
        .await
        .expect("the test's schema");
    let result = std::panic::AssertUnwindSafe(body(schema))
        .catch_unwind()
        .await;
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
        .await;
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

async fn compare_csv_paths(env: &ServerEnv, schema: &str) {
    use varlor::dataset::{run_import, Format, ImportOutcome, ImportPlan, TablePlan};
    let c = browser(env);
    let tables: Vec<TableRef> = c
        .list_tables()
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()))
        .into_iter()
        .filter(|t| !t.system && matches!(t.kind, TableKind::Table | TableKind::MaterializedView))
        // Other tests' throwaway tables come and go.
        .filter(|t| {
            t.schema.as_deref() == Some(schema)
                || !t.schema.as_deref().unwrap_or("").starts_with("csv_edges_")
        })
        .filter(|t| !t.name.starts_with("bench_") && !t.name.starts_with("many_"))
        .collect();
    assert!(
        tables.iter().any(|t| t.schema.as_deref() == Some(schema)),
        "the edge table is listed"
    );
    assert!(tables.len() >= 12, "{tables:?}");

    // The import itself (the server path wherever it applies).
    let dir = tempfile::tempdir().unwrap();
    let plan = ImportPlan {
        connection: "csv-paths".into(),
        kind: Kind::Postgres,
        tables: tables.iter().cloned().map(TablePlan::new).collect(),
        destination: dir.path().to_path_buf(),
        format: Format::Csv,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = run_import(
        std::sync::Arc::new(browser(env)),
        plan,
        tx,
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    assert_eq!(summary.outcome(), ImportOutcome::Ok, "{summary:?}");

    let mut server_path_tables = 0;
    for (t, ts) in tables.iter().zip(&summary.tables) {
        let name = t.display_name();
        let rows = collect(&c, t, false, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", e.full()));
        assert!(rows.csv_bytes.is_empty());
        let mut want = Vec::new();
        let mut enc = varlor::dataset::CsvRows::new(&rows.cols, &mut want);
        let header_len = want.len();
        for r in &rows.rows {
            enc.row(&mut want, r);
        }
        let file = std::fs::read(dir.path().join(&ts.target)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&file),
            String::from_utf8_lossy(&want),
            "{name}: the import file differs from the row path"
        );
        if rows.cols.len() > 1 {
            let csv = collect(&c, t, true, None)
                .await
                .unwrap_or_else(|e| panic!("{name}: {}", e.full()));
            assert!(csv.rows.is_empty(), "{name}: the server path built rows");
            assert_eq!(csv.csv_records, rows.rows.len() as u64, "{name}");
            assert_eq!(
                String::from_utf8_lossy(&csv.csv_bytes),
                String::from_utf8_lossy(&want[header_len..]),
                "{name}: the server's CSV differs from the row path"
            );
            server_path_tables += 1;
        }
        println!("{name:?}: {} rows, same bytes", rows.rows.len());
    }
    assert!(server_path_tables >= 10, "{server_path_tables}");

    // The edge table holds what it should: ISO 8601, infinity, BC, year > 9999.
    let edge = tables
        .iter()
        .zip(&summary.tables)
        .find(|(t, _)| t.schema.as_deref() == Some(schema))
        .map(|(_, ts)| std::fs::read_to_string(dir.path().join(&ts.target)).unwrap())
        .unwrap();
    for piece in [
        "1,infinity,-infinity,true,\"\",\"cr\r lf\n crlf\r\n \"\"quoted\"\", comma\"",
        "0044-03-15 12:00:00 BC",
        "10000-01-01 00:00:00",
        "2024-02-29T23:59:59.999999,1900-01-01T00:00:00+00:00,true,DQoi,\\.,",
        "\r\n7,,,,\"\",\"\",,,,,\r\n",
        "3q2+7wD/",
    ] {
        assert!(edge.contains(piece), "{piece:?} not in {edge:?}");
    }

    // A filter stays inside the query: closing COPY's parenthesis to send
    // the rows elsewhere or add a statement does not parse.
    let weird = table("public", "Weird Name");
    for filter in [
        "true\n)) TO STDOUT (FORMAT text) --",
        "true)) TO '/tmp/varlor-smuggled.csv' (FORMAT csv); SELECT (1",
        "true); SELECT 1; --",
    ] {
        let err = match collect(&c, &weird, true, Some(filter)).await {
            Ok(got) => panic!(
                "{filter:?} ran: {:?}",
                String::from_utf8_lossy(&got.csv_bytes)
            ),
            Err(e) => e,
        };
        assert_ne!(
            err.kind,
            varlor::connectors::ErrorKind::ConnectionLost,
            "{}",
            err.full()
        );
    }
    assert!(!std::path::Path::new("/tmp/varlor-smuggled.csv").exists());

    // The server's CSV runs in the READ ONLY transaction too: a filter
    // calling a function that inserts is refused, and nothing is written.
    let writes = "SELECT count(*) FROM public.write_log";
    let probe = admin(env).await;
    let before: i64 = probe.query_one(writes, &[]).await.unwrap().get(0);
    let err = match collect(&c, &weird, true, Some("public.try_write() > 0")).await {
        Ok(_) => panic!("a writing filter ran"),
        Err(e) => e,
    };
    assert!(err.full().contains("read-only"), "{}", err.full());
    let after: i64 = probe.query_one(writes, &[]).await.unwrap().get(0);
    assert_eq!(after, before, "the CSV export wrote");
}

/// Cancelling a CSV export (the server's CSV path) stops it on the server
/// too, and leaves no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_csv_export_stops_on_the_server() {
    use varlor::dataset::{run_import, Format, ImportEvent, ImportPlan, TablePlan};
    let Some(env) = pg() else { return };
    let admin = admin(&env).await;
    let setup = "CREATE TABLE {s}.big AS SELECT i AS id, md5(i::text) AS name
                 FROM generate_series(1, 200000) AS i";
    let probe = &admin;
    with_own_schema(&admin, "csv_cancel", setup, |schema| async move {
        let mut plan = TablePlan::new(table(&schema, "big"));
        // 50 ms every 1,000 rows: 10 s for the whole table.
        plan.filter = Some("id % 1000 <> 0 OR pg_sleep(0.05)::text = ''".into());
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = tokio_util::sync::CancellationToken::new();
        let job = tokio::spawn(run_import(
            std::sync::Arc::new(browser(&env)),
            ImportPlan {
                connection: "csv-cancel".into(),
                kind: Kind::Postgres,
                tables: vec![plan],
                destination: dir.path().to_path_buf(),
                format: Format::Csv,
            },
            tx,
            cancel.clone(),
        ));
        // Rows are arriving (CSV records counted) before the cancel.
        let rows = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(ev) = rx.recv().await {
                if let ImportEvent::Progress { rows, .. } = ev {
                    if rows > 0 {
                        return rows;
                    }
                }
            }
            0
        })
        .await
        .expect("progress within 10 s");
        assert!(rows > 0 && rows < 200_000, "{rows}");
        cancel.cancel();
        let cancelled = std::time::Instant::now();
        let summary = tokio::time::timeout(Duration::from_secs(3), job)
            .await
            .expect("the export ends promptly on cancel")
            .unwrap();
        assert_eq!(summary.outcome().id(), "cancelled");
        let running = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
             AND query LIKE '%{schema}%' AND pid <> pg_backend_pid()"
        );
        loop {
            let n: i64 = probe.query_one(&running, &[]).await.unwrap().get(0);
            if n == 0 {
                break;
            }
            assert!(
                cancelled.elapsed() < Duration::from_secs(2),
                "the COPY still runs on the server 2 s after the cancel"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    })
    .await;
}

#[tokio::test]
async fn dropping_a_preview_cancels_it_on_the_server() {
    let Some(env) = pg() else { return };
    // A limit no other test uses names this preview in pg_stat_activity.
    const RUNNING: &str = "SELECT count(*) FROM pg_stat_activity \
         WHERE state = 'active' AND query LIKE '%FROM \"public\".\"slow_view\" LIMIT 7' \
           AND pid <> pg_backend_pid()";
    let c = std::sync::Arc::new(browser(&env));
    let admin = admin(&env).await;
    let running = || async {
        admin
            .query_one(RUNNING, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let started = std::time::Instant::now();
    let rows = c.clone();
    let preview = tokio::spawn(async move { rows.preview(&table("public", "slow_view"), 7).await });
    while running().await == 0 {
        assert!(!preview.is_finished(), "the slow preview ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    preview.abort();
    // slow_view sleeps 5 s: gone well before that, the cancel landed.
    while running().await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the server still runs the dropped preview"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The session is free for the next table at once.
    let rs = tokio::time::timeout(
        Duration::from_secs(3),
        c.preview(&table("sales", "regions"), 10),
    )
    .await
    .expect("the dropped preview still holds the session")
    .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(rs.rows.len(), 3);
}
