//! The PostgreSQL connector against a real server (scripts/test starts one;
//! see tests/common for the variables and the skip rules).

mod common;

use std::time::{Duration, Instant};

use common::{closed_port, hanging_listener, pg, ServerEnv};
use secrecy::SecretString;
use varlor::connectors::postgres::PostgresConnector;
use varlor::connectors::{
    Cell, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, Kind, RowSink, SessionOptions,
    StreamOptions, TableKind, TableRef, TlsMode,
};

fn connector(env: &ServerEnv, edit: impl FnOnce(&mut ConnSpec)) -> PostgresConnector {
    let mut spec = env.spec(Kind::Postgres);
    edit(&mut spec);
    PostgresConnector::new(spec, Some(env.secret()), SessionOptions::default())
}

fn browser(env: &ServerEnv) -> PostgresConnector {
    connector(env, |_| {})
}

/// The password (and the wrong one tried) must never show in what a person reads.
fn assert_no_secret(err: &ConnError, secrets: &[&str]) {
    for s in secrets {
        assert!(!err.to_string().contains(s), "secret in Display: {err}");
        assert!(!err.detail.contains(s), "secret in detail: {}", err.detail);
        assert!(!err.full().contains(s), "secret in full text");
    }
}

/// A plain (not read-only) client for setting up and checking from outside.
async fn admin(env: &ServerEnv) -> tokio_postgres::Client {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&env.host)
        .port(env.port)
        .user(&env.user)
        .password(&env.password)
        .dbname(&env.db);
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(conn);
    client
}

fn table(schema: &str, name: &str) -> TableRef {
    TableRef {
        schema: Some(schema.into()),
        name: name.into(),
        kind: TableKind::Table,
        estimated_rows: None,
        system: false,
    }
}

// ---- test(): connecting and its errors ------------------------------------

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
async fn wrong_password_is_invalid_credentials() {
    let Some(env) = pg() else { return };
    let wrong = "canary-Wr0ng-pa55word";
    let c = PostgresConnector::new(
        env.spec(Kind::Postgres),
        Some(SecretString::from(wrong)),
        SessionOptions::default(),
    );
    let err = c.test().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidCredentials, "{}", err.full());
    assert_no_secret(&err, &[wrong, &env.password]);
}

#[tokio::test]
async fn unknown_database_is_database_not_found() {
    let Some(env) = pg() else { return };
    let err = connector(&env, |s| s.database = "no_such_db_varlor".into())
        .test()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DatabaseNotFound, "{}", err.full());
    assert_no_secret(&err, &[&env.password]);
}

#[tokio::test]
async fn closed_port_is_refused_quickly() {
    let Some(env) = pg() else { return };
    let port = closed_port();
    let started = Instant::now();
    let err = connector(&env, |s| s.port = Some(port))
        .test()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::ConnectionRefused, "{}", err.full());
    assert!(took < Duration::from_secs(5), "refused took {took:?}");
    assert_no_secret(&err, &[&env.password]);
}

#[tokio::test]
async fn silent_listener_times_out_at_the_configured_timeout() {
    let Some(env) = pg() else { return };
    let port = hanging_listener();
    let started = Instant::now();
    let err = connector(&env, |s| {
        s.port = Some(port);
        s.connect_timeout_secs = 2;
    })
    .test()
    .await
    .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::ConnectionTimeout, "{}", err.full());
    assert!(
        took >= Duration::from_millis(1900),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "ignored the timeout: {took:?}"
    );
    assert_no_secret(&err, &[&env.password]);
}

#[tokio::test]
async fn unknown_host_is_reported() {
    let Some(env) = pg() else { return };
    let err = connector(&env, |s| {
        s.host = "no-such-host.invalid".into();
        s.connect_timeout_secs = 5;
    })
    .test()
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownHost, "{}", err.full());
}

#[tokio::test]
async fn verify_full_with_the_ca_succeeds_over_tls() {
    let Some(env) = pg() else { return };
    let Some(ca) = env.ca.clone() else {
        common::skip("no CA file for the PostgreSQL server (VARLOR_TEST_PG_CA)");
        return;
    };
    let info = connector(&env, |s| {
        s.tls = TlsMode::VerifyFull;
        s.ca_file = Some(ca);
    })
    .test()
    .await
    .expect("verify-full with the CA");
    assert!(info.tls);
}

#[tokio::test]
async fn verify_full_without_the_ca_is_not_trusted() {
    let Some(env) = pg() else { return };
    let err = connector(&env, |s| s.tls = TlsMode::VerifyFull)
        .test()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::CertificateNotTrusted, "{}", err.full());
    assert_no_secret(&err, &[&env.password]);
}

#[tokio::test]
async fn bad_ca_file_is_a_config_error_naming_it() {
    let Some(env) = pg() else { return };
    let err = connector(&env, |s| {
        s.tls = TlsMode::VerifyFull;
        s.ca_file = Some("/nonexistent/varlor-ca.pem".into());
    })
    .test()
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.detail.contains("/nonexistent/varlor-ca.pem"));
}

#[tokio::test]
async fn tls_only_user_without_tls_is_tls_required() {
    let Some(env) = pg() else { return };
    let (Some(user), Some(password)) = (env.tls_user.clone(), env.tls_password.clone()) else {
        common::skip("no TLS-only user (VARLOR_TEST_PG_TLS_USER)");
        return;
    };
    let mut spec = env.spec(Kind::Postgres);
    spec.user = user;
    let plain = PostgresConnector::new(
        spec.clone(),
        Some(SecretString::from(password.clone())),
        SessionOptions::default(),
    );
    let err = plain.test().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::TlsRequired, "{}", err.full());
    assert_no_secret(&err, &[&password]);
    // The same user over TLS gets in: it really was about TLS.
    spec.tls = TlsMode::Require;
    let info = PostgresConnector::new(
        spec,
        Some(SecretString::from(password)),
        SessionOptions::default(),
    )
    .test()
    .await
    .expect("TLS-only user over TLS");
    assert!(info.tls);
}

// ---- browsing --------------------------------------------------------------

#[tokio::test]
async fn lists_fixture_tables_views_and_system_tables() {
    let Some(env) = pg() else { return };
    let tables = browser(&env).list_tables().await.expect("list");
    let find = |schema: &str, name: &str| {
        tables
            .iter()
            .find(|t| t.schema.as_deref() == Some(schema) && t.name == name)
            .unwrap_or_else(|| panic!("{schema}.{name} not listed"))
    };
    for (schema, name, kind) in [
        ("public", "customers", TableKind::Table),
        ("public", "orders", TableKind::Table),
        ("public", "Weird Name", TableKind::Table),
        ("public", "quote\"d", TableKind::Table),
        ("public", "semi;colon", TableKind::Table),
        ("public", "ünïcödé", TableKind::Table),
        ("public", "select", TableKind::Table),
        ("public", "all_types", TableKind::Table),
        ("public", "paid_orders", TableKind::View),
        ("public", "slow_view", TableKind::View),
        ("sales", "regions", TableKind::Table),
        ("sales", "revenue_by_country", TableKind::MaterializedView),
        ("inventory", "stock", TableKind::Table),
        ("inventory", "stock_by_warehouse", TableKind::View),
        ("Odd Schema", "Weird Name", TableKind::Table),
    ] {
        let t = find(schema, name);
        assert_eq!(t.kind, kind, "{schema}.{name}");
        assert!(!t.system, "{schema}.{name}");
    }
    // Analyzed by the harness: the estimate comes from pg_class.reltuples.
    assert_eq!(find("public", "orders").estimated_rows, Some(5000));
    assert_eq!(find("public", "paid_orders").estimated_rows, None);
    assert!(find("pg_catalog", "pg_class").system);
    assert!(tables
        .iter()
        .any(|t| t.schema.as_deref() == Some("information_schema") && t.system));
}

#[tokio::test]
async fn every_fixture_table_previews() {
    let Some(env) = pg() else { return };
    let c = browser(&env);
    let tables = c.list_tables().await.expect("list");
    let skip = ["slow_view", "writing_view", "session_pid"];
    let mut previewed = 0;
    // The fixture schemas only: other tests and the benchmark add empty tables.
    let schemas = ["public", "sales", "inventory", "Odd Schema"];
    for t in tables.iter().filter(|t| {
        !t.system
            && !skip.contains(&t.name.as_str())
            && t.schema.as_deref().is_some_and(|s| schemas.contains(&s))
    }) {
        let rs = c
            .preview(t, 10)
            .await
            .unwrap_or_else(|e| panic!("{}: {}", t.display_name(), e.full()));
        assert!(!rs.columns.is_empty(), "{}", t.display_name());
        assert!(rs.rows.len() <= 10);
        if t.name != "write_log" {
            // write_log must stay empty (read-only test); all others have data.
            assert!(!rs.rows.is_empty(), "{} has data", t.display_name());
        }
        assert!(rs.rows.iter().all(|r| r.len() == rs.columns.len()));
        previewed += 1;
    }
    assert!(previewed >= 15, "only {previewed} previewed");
}

#[tokio::test]
async fn hostile_names_preview_their_own_rows() {
    let Some(env) = pg() else { return };
    let c = browser(&env);
    let text = |cell: &Cell| cell.display();

    let rs = c.preview(&table("public", "quote\"d"), 10).await.unwrap();
    assert_eq!(rs.columns[0].name, "col\"umn");
    assert_eq!(rs.columns[1].name, "va'lue");
    assert_eq!(rs.rows.len(), 2);
    assert!(rs.rows.iter().any(|r| text(&r[1]) == "say \"hi\""));

    let rs = c.preview(&table("public", "semi;colon"), 10).await.unwrap();
    assert_eq!(rs.columns[1].name, "drop table x;");
    assert_eq!(rs.rows.len(), 2);

    let rs = c.preview(&table("public", "ünïcödé"), 10).await.unwrap();
    assert_eq!(rs.columns[0].name, "ñame");
    assert!(rs.rows.iter().any(|r| text(&r[0]) == "日本語"));

    let rs = c.preview(&table("public", "select"), 10).await.unwrap();
    assert_eq!(rs.columns[0].name, "from");
    assert_eq!(rs.rows.len(), 2);

    let rs = c.preview(&table("public", "Weird Name"), 10).await.unwrap();
    assert_eq!(rs.rows.len(), 3);
    assert!(rs.rows.iter().any(|r| text(&r[1]) == "ünïcödé ✓"));
    assert!(rs.rows.iter().any(|r| r[2].is_null()));

    // Same name, other schema: the schema is honoured.
    let rs = c
        .preview(&table("Odd Schema", "Weird Name"), 10)
        .await
        .unwrap();
    assert_eq!(rs.rows.len(), 1);
    assert_eq!(rs.columns[1].name, "note");
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
    assert_eq!(txt("c_timestamp"), "2024-01-02 03:04:05.678901");
    // Rendered in the server's TimeZone, with its offset.
    let tz = txt("c_timestamptz");
    assert!(tz.starts_with("2024-06-30 "), "{tz}");
    assert!(tz[11..].contains(['+', '-']), "no zone offset: {tz}");
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
    assert_eq!(ty("c_numeric"), "numeric");
    assert_eq!(ty("c_int_array"), "int4[]");
    assert_eq!(ty("c_text_array"), "text[]");
    assert_eq!(ty("c_enum"), "mood");
    assert_eq!(ty("c_timestamptz"), "timestamptz");
}

#[tokio::test]
async fn describe_marks_keys_types_and_defaults() {
    let Some(env) = pg() else { return };
    let c = browser(&env);

    let info = c.describe(&table("public", "select")).await.unwrap();
    let names: Vec<_> = info.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["from", "where", "Weird Id"]);
    assert!(info.columns[0].primary_key);
    assert!(!info.columns[0].nullable);
    assert!(!info.columns[1].primary_key);
    assert_eq!(
        info.columns[2].references.as_deref(),
        Some("public.Weird Name(Id)")
    );

    let info = c.describe(&table("inventory", "stock")).await.unwrap();
    let by = |n: &str| info.columns.iter().find(|c| c.name == n).unwrap();
    assert!(by("warehouse_id").primary_key && by("sku").primary_key);
    assert!(!by("quantity").primary_key);
    assert_eq!(by("quantity").default.as_deref(), Some("0"));
    assert_eq!(
        by("warehouse_id").references.as_deref(),
        Some("inventory.warehouses(id)")
    );

    let info = c.describe(&table("public", "all_types")).await.unwrap();
    let ty = |n: &str| {
        info.columns
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .data_type
            .clone()
    };
    assert_eq!(ty("c_numeric"), "numeric(30,10)");
    assert_eq!(ty("c_varchar"), "character varying(20)");
    assert_eq!(ty("c_int_array"), "integer[]");
    assert!(info.columns.iter().skip(1).all(|c| c.nullable));

    let info = c.describe(&table("public", "orders")).await.unwrap();
    assert_eq!(info.estimated_rows, Some(5000));
    assert_eq!(info.table.kind, TableKind::Table);

    let err = c
        .describe(&table("public", "no_such_table"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn count_is_exact() {
    let Some(env) = pg() else { return };
    let c = browser(&env);
    assert_eq!(
        c.count_rows(&table("public", "orders")).await.unwrap(),
        5000
    );
    assert_eq!(
        c.count_rows(&table("inventory", "stock")).await.unwrap(),
        300
    );
    let err = c
        .count_rows(&table("public", "no_such_table"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn dropping_a_count_cancels_it_on_the_server() {
    let Some(env) = pg() else { return };
    let c = PostgresConnector::new(
        env.spec(Kind::Postgres),
        Some(env.secret()),
        SessionOptions {
            statement_timeout: Duration::from_secs(60),
            read_only: true,
        },
    );
    let slow = table("public", "slow_view");
    // The slow view sleeps 5 s; give up after 0.5 s.
    let gave_up = tokio::time::timeout(Duration::from_millis(500), c.count_rows(&slow)).await;
    assert!(gave_up.is_err(), "the count should still be running");
    let admin = admin(&env).await;
    let still_running = |admin: tokio_postgres::Client| async move {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE state = 'active' AND query LIKE '%count(*) FROM \"public\".\"slow_view\"%' \
                   AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), admin)
    };
    let mut admin = admin;
    let mut running = 1;
    for _ in 0..30 {
        let (n, a) = still_running(admin).await;
        admin = a;
        running = n;
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running, 0, "the server still runs the abandoned count");
    // The session is still usable afterwards.
    assert_eq!(c.count_rows(&table("sales", "regions")).await.unwrap(), 3);
}

#[tokio::test]
async fn browsing_session_is_read_only() {
    let Some(env) = pg() else { return };
    let c = browser(&env);
    // Previewing this view calls a function that INSERTs.
    let err = c
        .preview(&table("public", "writing_view"), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{}", err.full());
    // Same through a user-typed filter on the streaming path.
    let mut sink = Collect::default();
    let err = c
        .stream_rows(
            &table("public", "customers"),
            &StreamOptions {
                limit: Some(5),
                filter: Some("public.try_write() > 0".into()),
            },
            &mut sink,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{}", err.full());
    // And a filter cannot smuggle in a second statement.
    let err = c
        .stream_rows(
            &table("public", "customers"),
            &StreamOptions {
                limit: None,
                filter: Some("true); DELETE FROM public.write_log; --".into()),
            },
            &mut sink,
        )
        .await
        .unwrap_err();
    assert_ne!(err.kind, ErrorKind::ConnectionLost);
    let n: i64 = admin(&env)
        .await
        .query_one("SELECT count(*) FROM public.write_log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "a browsing session wrote a row");
}

#[tokio::test]
async fn slow_view_hits_the_statement_timeout() {
    let Some(env) = pg() else { return };
    let c = PostgresConnector::new(
        env.spec(Kind::Postgres),
        Some(env.secret()),
        SessionOptions {
            statement_timeout: Duration::from_millis(800),
            read_only: true,
        },
    );
    let started = Instant::now();
    let err = c
        .preview(&table("public", "slow_view"), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::StatementTimeout, "{}", err.full());
    assert!(started.elapsed() < Duration::from_secs(4));
    // The session survives its timeout.
    let rs = c.preview(&table("sales", "regions"), 10).await.unwrap();
    assert_eq!(rs.rows.len(), 3);
}

#[tokio::test]
async fn a_stream_is_not_cut_off_by_the_browsing_statement_timeout() {
    let Some(env) = pg() else { return };
    let c = PostgresConnector::new(
        env.spec(Kind::Postgres),
        Some(env.secret()),
        SessionOptions {
            statement_timeout: Duration::from_millis(800),
            read_only: true,
        },
    );
    // slow_view sleeps 5 s: an import of it must finish, not time out.
    let mut rows = Collect::default();
    let n = c
        .stream_rows(
            &table("public", "slow_view"),
            &StreamOptions::default(),
            &mut rows,
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(n, 1);
    // Browsing keeps its timeout.
    let err = c
        .preview(&table("public", "slow_view"), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::StatementTimeout, "{}", err.full());
}

#[tokio::test]
async fn session_is_reused_and_reconnects_after_the_server_drops_it() {
    let Some(env) = pg() else { return };
    let c = browser(&env);
    let pid_view = table("public", "session_pid");
    let pid = |rs: varlor::connectors::RowSet| match &rs.rows[0][0] {
        Cell::Int(p) => *p,
        other => panic!("pid: {other:?}"),
    };
    let first = pid(c.preview(&pid_view, 1).await.unwrap());
    let again = pid(c.preview(&pid_view, 1).await.unwrap());
    assert_eq!(first, again, "one pooled session, reused");

    let killed: bool = admin(&env)
        .await
        .query_one("SELECT pg_terminate_backend($1)", &[&(first as i32)])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = pid(c.preview(&pid_view, 1).await.expect("reconnects"));
    assert_ne!(after, first);

    c.reset().await;
    let reset = pid(c.preview(&pid_view, 1).await.unwrap());
    assert_ne!(reset, after, "reset drops the session");
}

#[derive(Default)]
struct Collect {
    columns: Vec<ColumnMeta>,
    rows: Vec<Vec<Cell>>,
}

impl RowSink for Collect {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ConnError> {
        self.columns = columns.to_vec();
        Ok(())
    }
    fn row(&mut self, row: Vec<Cell>) -> Result<(), ConnError> {
        self.rows.push(row);
        Ok(())
    }
}

#[tokio::test]
async fn stream_rows_honours_limit_and_filter() {
    let Some(env) = pg() else { return };
    let c = browser(&env);
    let orders = table("public", "orders");

    let mut all = Collect::default();
    let n = c
        .stream_rows(&orders, &StreamOptions::default(), &mut all)
        .await
        .unwrap();
    assert_eq!(n, 5000);
    assert_eq!(all.rows.len(), 5000);
    assert_eq!(all.columns[0].name, "id");
    assert_eq!(all.columns[2].type_name, "numeric");

    let mut some = Collect::default();
    let n = c
        .stream_rows(
            &orders,
            &StreamOptions {
                limit: Some(2500),
                filter: None,
            },
            &mut some,
        )
        .await
        .unwrap();
    assert_eq!((n, some.rows.len()), (2500, 2500));

    let mut de = Collect::default();
    let n = c
        .stream_rows(
            &table("public", "customers"),
            &StreamOptions {
                limit: None,
                filter: Some("country = 'DE' -- a trailing comment".into()),
            },
            &mut de,
        )
        .await
        .unwrap();
    assert_eq!(n, 200);
    assert!(de.rows.iter().all(|r| r[3] == Cell::Text("DE".into())));
}

#[tokio::test]
async fn lists_ten_thousand_tables() {
    let Some(env) = pg() else { return };
    let admin = admin(&env).await;
    let schema = format!("bulk_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let started = Instant::now();
    for batch in 0..10 {
        admin
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {}..{} LOOP \
                 EXECUTE format('CREATE TABLE {schema}.t%s (id int)', i); END LOOP; END $$",
                batch * 1000 + 1,
                batch * 1000 + 1000
            ))
            .await
            .unwrap();
    }
    eprintln!("created 10,000 tables in {:?}", started.elapsed());

    let c = browser(&env);
    let started = Instant::now();
    let tables = c.list_tables().await;
    let took = started.elapsed();
    // Clean up before asserting, in batches to keep the lock table small.
    for batch in 0..10 {
        let _ = admin
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {}..{} LOOP \
                 EXECUTE format('DROP TABLE {schema}.t%s', i); END LOOP; END $$",
                batch * 1000 + 1,
                batch * 1000 + 1000
            ))
            .await;
    }
    let _ = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;

    let tables = tables.expect("list 10,000 tables");
    let mine: Vec<_> = tables
        .iter()
        .filter(|t| t.schema.as_deref() == Some(schema.as_str()))
        .collect();
    assert_eq!(mine.len(), 10_000);
    assert!(mine.iter().any(|t| t.name == "t9999"));
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "list_tables: {} tables (10,000 in {schema}) in {took:?}\n",
            tables.len()
        )
        .as_bytes(),
    );
}

#[tokio::test]
async fn terminal_hostile_text_comes_back_byte_for_byte() {
    use common::hostile::{COLUMN, TABLE, VALUES};
    let Some(env) = pg() else { return };
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
