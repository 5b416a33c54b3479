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
