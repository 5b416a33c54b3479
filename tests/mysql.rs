//! MySQL/MariaDB connector against a real server (VARLOR_TEST_MYSQL_*).
//! Browser tests expect tests/fixtures/mysql.sql to be loaded.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use varlor::connectors::mysql::MysqlConnector;
use varlor::connectors::{
    Cell, ConnError, ConnSpec, Connector, ErrorKind, Kind, SessionOptions, StreamOptions,
    TableKind, TableRef, TlsMode,
};

mod common;

use common::{closed_port, hanging_listener, Collect, ServerEnv};

macro_rules! server_or_skip {
    () => {
        match common::mysql() {
            Some(s) => s,
            None => return,
        }
    };
}

// ---- helpers ----

trait MysqlEnv {
    fn my_spec(&self) -> ConnSpec;
    fn connector(&self, spec: ConnSpec) -> MysqlConnector;
    fn connector_with(&self, spec: ConnSpec, opts: SessionOptions) -> MysqlConnector;
    fn root_sql(&self, sql: &str) -> Option<String>;
}

impl MysqlEnv for ServerEnv {
    /// TLS `prefer` (the default of a new connection).
    fn my_spec(&self) -> ConnSpec {
        let mut s = ServerEnv::spec(self, Kind::Mysql);
        s.tls = TlsMode::Prefer;
        s
    }

    fn connector(&self, spec: ConnSpec) -> MysqlConnector {
        self.connector_with(spec, SessionOptions::default())
    }

    fn connector_with(&self, spec: ConnSpec, opts: SessionOptions) -> MysqlConnector {
        MysqlConnector::new(spec, Some(self.secret()), opts)
    }

    /// Runs SQL as root over the socket; `None` when no socket/client is available.
    fn root_sql(&self, sql: &str) -> Option<String> {
        let sock = self.socket.as_ref()?;
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-N", "-B", "-u", "root", "-S"])
            .arg(sock)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(sql.as_bytes()).ok()?;
        let out = child.wait_with_output().ok()?;
        if !out.status.success() {
            eprintln!("root sql failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn assert_no_secret(e: &ConnError, secret: &str) {
    assert!(
        !e.to_string().contains(secret),
        "Display leaks the password"
    );
    assert!(!e.detail.contains(secret), "detail leaks the password");
    assert!(!e.full().contains(secret), "full() leaks the password");
}

fn tref(schema: &str, name: &str) -> TableRef {
    TableRef {
        schema: Some(schema.into()),
        name: name.into(),
        kind: TableKind::Table,
        estimated_rows: None,
        system: false,
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

// ---- test() ----

#[tokio::test]
async fn success_reports_version_latency_and_tls() {
    let srv = server_or_skip!();
    let info = srv.connector(srv.my_spec()).test().await.expect("test ok");
    assert!(
        info.version.starts_with("MariaDB ") || info.version.starts_with("MySQL "),
        "{}",
        info.version
    );
    assert!(info.version.chars().any(|c| c.is_ascii_digit()));
    assert!(info.tls, "prefer must use the server's TLS");
    println!("{} in {:?}", info.version, info.latency);
}

#[tokio::test]
async fn tls_disabled_is_plain() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.tls = TlsMode::Disable;
    let info = srv.connector(spec).test().await.expect("test ok");
    assert!(!info.tls);
}

#[tokio::test]
async fn tls_require_encrypts_without_verifying() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.tls = TlsMode::Require;
    let info = srv.connector(spec).test().await.expect("test ok");
    assert!(info.tls);
}

#[tokio::test]
async fn wrong_password_is_invalid_credentials_without_the_password() {
    let srv = server_or_skip!();
    let wrong = "wr0ng-Canary-7f3a9";
    let c = MysqlConnector::new(
        srv.my_spec(),
        Some(SecretString::from(wrong.to_string())),
        SessionOptions::default(),
    );
    let e = c.test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::InvalidCredentials, "{}", e.full());
    assert_no_secret(&e, wrong);
    assert_no_secret(&e, &srv.password);
}

#[tokio::test]
async fn unknown_database_is_database_not_found() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.database = "no_such_db_42".into();
    let e = srv.connector(spec).test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::DatabaseNotFound, "{}", e.full());
}

#[tokio::test]
async fn a_password_echoed_by_the_server_is_scrubbed() {
    let srv = server_or_skip!();
    // The server echoes the database name in its error; name it after the password.
    let mut spec = srv.my_spec();
    spec.database = srv.password.clone();
    let e = srv.connector(spec).test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::DatabaseNotFound, "{}", e.full());
    assert!(e.detail.contains("***"), "{}", e.detail);
    assert_no_secret(&e, &srv.password);
}

#[tokio::test]
async fn closed_port_is_refused_quickly() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.port = Some(closed_port());
    let t = Instant::now();
    let e = srv.connector(spec).test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::ConnectionRefused, "{}", e.full());
    println!("refused in {:?}", t.elapsed());
}

#[tokio::test]
async fn unknown_host_is_reported() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.host = "no-such-host.invalid".into();
    let e = srv.connector(spec).test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::UnknownHost, "{}", e.full());
}

#[tokio::test]
async fn hanging_listener_times_out_at_the_configured_timeout() {
    let srv = server_or_skip!();
    let port = hanging_listener();
    let mut spec = srv.my_spec();
    spec.port = Some(port);
    spec.connect_timeout_secs = 2;
    let t = Instant::now();
    let e = srv.connector(spec).test().await.expect_err("must fail");
    let took = t.elapsed();
    assert_eq!(e.kind, ErrorKind::ConnectionTimeout, "{}", e.full());
    assert!(
        took >= Duration::from_millis(1900),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "ignored the timeout: {took:?}"
    );
    println!("timed out after {took:?}");
}

#[tokio::test]
async fn verify_full_with_the_ca_is_ok() {
    let srv = server_or_skip!();
    let Some(ca) = srv.ca.clone() else {
        common::skip("VARLOR_TEST_CA not set");
        return;
    };
    let mut spec = srv.my_spec();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = Some(ca);
    let info = srv.connector(spec).test().await.expect("verified TLS");
    assert!(info.tls);
}

#[tokio::test]
async fn verify_full_without_the_ca_is_not_trusted() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = None;
    let e = srv.connector(spec).test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::CertificateNotTrusted, "{}", e.full());
    assert_no_secret(&e, &srv.password);
}

#[tokio::test]
async fn verify_full_with_a_missing_ca_file_names_the_field() {
    let srv = server_or_skip!();
    let mut spec = srv.my_spec();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = Some("/nonexistent/ca.pem".into());
    let e = srv.connector(spec).test().await.expect_err("must fail");
    assert_eq!(e.kind, ErrorKind::Config, "{}", e.full());
    assert!(e.detail.contains("/nonexistent/ca.pem"), "{}", e.detail);
}

/// The TLS-only user: from the harness, or made here as root over the socket.
fn tls_user(srv: &ServerEnv) -> Option<(String, String)> {
    if let (Some(u), Some(p)) = (srv.tls_user.clone(), srv.tls_password.clone()) {
        return Some((u, p));
    }
    let pass = format!("tls-{}-{}", std::process::id(), srv.port);
    srv.root_sql(&format!(
        "CREATE USER IF NOT EXISTS 'varlor_tls_only'@'%' IDENTIFIED BY '{pass}' REQUIRE SSL;\n\
         ALTER USER 'varlor_tls_only'@'%' IDENTIFIED BY '{pass}' REQUIRE SSL;\n\
         GRANT SELECT ON {}.* TO 'varlor_tls_only'@'%';\n",
        srv.db
    ))?;
    Some(("varlor_tls_only".into(), pass))
}

#[tokio::test]
async fn tls_required_user_with_tls_disabled_gets_the_clearest_honest_error() {
    let srv = server_or_skip!();
    let Some((user, pass)) = tls_user(&srv) else {
        common::skip("no TLS-only user (VARLOR_TEST_MYSQL_TLS_USER) and no root socket");
        return;
    };
    let mut spec = srv.my_spec();
    spec.user = user;
    spec.tls = TlsMode::Disable;
    let c = MysqlConnector::new(
        spec.clone(),
        Some(SecretString::from(pass.clone())),
        SessionOptions::default(),
    );
    let e = c
        .test()
        .await
        .expect_err("plain login of a REQUIRE SSL user must fail");
    // MySQL with require_secure_transport answers 3159 (TLS required);
    // MariaDB refuses a REQUIRE SSL user with 1045, indistinguishable from a
    // bad password, so the detail says TLS may be the cause.
    match e.kind {
        ErrorKind::TlsRequired => {}
        ErrorKind::InvalidCredentials => {
            assert!(e.detail.contains("REQUIRE SSL"), "{}", e.detail)
        }
        other => panic!("unexpected {other:?}: {}", e.full()),
    }
    assert_no_secret(&e, &pass);

    spec.tls = TlsMode::Require;
    let c = MysqlConnector::new(
        spec,
        Some(SecretString::from(pass)),
        SessionOptions::default(),
    );
    let info = c.test().await.expect("same user over TLS");
    assert!(info.tls);
}

// ---- browser ----

#[tokio::test]
async fn lists_every_fixture_table_across_databases() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let t = Instant::now();
    let tables = c.list_tables().await.expect("list");
    println!("listed {} tables in {:?}", tables.len(), t.elapsed());
    let find = |schema: &str, name: &str| {
        tables
            .iter()
            .find(|t| t.schema.as_deref() == Some(schema) && t.name == name)
            .unwrap_or_else(|| panic!("{schema}.{name} not listed"))
    };
    for name in [
        "customers",
        "orders",
        "Weird Name",
        "all_types",
        "quote\"d",
        "semi;colon",
        "ünïcödé",
        "select",
        "back`tick",
    ] {
        let t = find("varlor_test", name);
        assert_eq!(t.kind, TableKind::Table, "{name}");
        assert!(!t.system);
    }
    for (schema, name) in [
        ("varlor_test", "customer_orders"),
        ("varlor_test", "slow_view"),
        ("sales", "region_targets"),
        ("inventory", "stock_view"),
    ] {
        assert_eq!(find(schema, name).kind, TableKind::View, "{schema}.{name}");
    }
    find("sales", "regions");
    find("inventory", "items");
    // InnoDB statistics are estimates, but a 1000-row table is not empty.
    assert!(find("varlor_test", "customers").estimated_rows.unwrap_or(0) > 0);
    assert!(find("information_schema", "TABLES").system);
    assert!(tables
        .iter()
        .filter(|t| t.schema.as_deref() == Some("mysql"))
        .all(|t| t.system));
}

#[tokio::test]
async fn hostile_names_preview_correctly() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let cases: [(&str, &str, Vec<Vec<Cell>>); 6] = [
        (
            "Weird Name",
            "Mixed Case",
            vec![
                vec![text("1"), text("one"), text("1.5")],
                vec![text("2"), text("two"), Cell::Null],
                vec![text("3"), text("ünïcödé ✓"), text("-3.25")],
            ],
        ),
        (
            "quote\"d",
            "col\"quote",
            vec![
                vec![text("1"), text("dq \"one\"")],
                vec![text("2"), Cell::Null],
            ],
        ),
        (
            "semi;colon",
            "a;b",
            vec![
                vec![text("1"), text("x;y")],
                vec![text("2"), text("; DROP TABLE customers; --")],
            ],
        ),
        (
            "ünïcödé",
            "naïve",
            vec![
                vec![text("1"), text("café")],
                vec![text("2"), text("smörgåsbord 🍞")],
            ],
        ),
        (
            "select",
            "where",
            vec![
                vec![text("1"), text("reserved"), text("10")],
                vec![text("2"), text("words"), text("20")],
            ],
        ),
        (
            "back`tick",
            "tick`col",
            vec![vec![text("1"), text("`ticked`")]],
        ),
    ];
    for (name, second_col, rows) in cases {
        let mut set = c
            .preview(&tref("varlor_test", name), 10)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", e.full()));
        set.rows
            .sort_by_key(|r| r[0].display().parse::<i64>().unwrap_or(0));
        assert_eq!(set.columns[1].name, second_col, "{name}");
        assert_eq!(set.rows, rows, "{name}");
    }
    // The sample table still exists: nothing in a name was executed.
    assert_eq!(
        c.count_rows(&tref("varlor_test", "customers"))
            .await
            .unwrap(),
        1000
    );
}

#[tokio::test]
async fn every_listed_user_table_previews() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let tables = c.list_tables().await.expect("list");
    let mut n = 0;
    for t in tables.iter().filter(|t| !t.system && t.name != "slow_view") {
        if !matches!(
            t.schema.as_deref(),
            Some("varlor_test" | "sales" | "inventory")
        ) {
            continue;
        }
        let set = c
            .preview(t, 10)
            .await
            .unwrap_or_else(|e| panic!("{}: {}", t.display_name(), e.full()));
        assert!(!set.columns.is_empty(), "{}", t.display_name());
        assert!(set.rows.len() <= 10);
        assert!(set.rows.iter().all(|r| r.len() == set.columns.len()));
        n += 1;
    }
    assert!(n >= 15, "only {n} tables previewed");
}

#[tokio::test]
async fn all_types_arrive_as_the_servers_text() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let mut set = c
        .preview(&tref("varlor_test", "all_types"), 10)
        .await
        .expect("preview");
    set.rows
        .sort_by_key(|r| r[0].display().parse::<i64>().unwrap_or(0));
    let col = |name: &str| {
        set.columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let v = |row: usize, name: &str| set.rows[row][col(name)].clone();
    assert_eq!(set.rows.len(), 4);
    assert_eq!(v(0, "t_big"), text("9223372036854775807"));
    assert_eq!(v(0, "t_big_u"), text("18446744073709551615"));
    assert_eq!(v(0, "t_dec"), text("12345678901234567890.0123456789"));
    assert_eq!(v(1, "t_dec"), text("-0.0000000001"));
    assert_eq!(v(0, "t_float"), text("1.5"));
    assert_eq!(v(0, "t_double"), text("3.141592653589793"));
    assert_eq!(v(0, "t_bit"), Cell::Int(0b10_1010_1010));
    assert_eq!(v(0, "t_bool"), text("1"));
    assert_eq!(v(0, "t_blob"), Cell::Bytes(vec![0x00, 0xFF, 0x10]));
    assert_eq!(
        v(0, "t_varbinary"),
        Cell::Bytes(vec![0xDE, 0xAD, 0xBE, 0xEF])
    );
    assert_eq!(v(1, "t_blob"), Cell::Bytes(vec![]));
    assert_eq!(v(0, "t_date"), text("2024-02-29"));
    assert_eq!(v(0, "t_time"), text("838:59:59"));
    assert_eq!(v(1, "t_time"), text("-838:59:59"));
    assert_eq!(v(0, "t_datetime"), text("2024-01-02 03:04:05.123456"));
    assert_eq!(v(0, "t_ts"), text("2024-01-02 03:04:05"));
    assert_eq!(v(0, "t_year"), text("2024"));
    assert_eq!(v(0, "t_enum"), text("medium"));
    assert_eq!(v(0, "t_set"), text("red,blue"));
    assert_eq!(v(1, "t_set"), text(""));
    let json = v(0, "t_json").display();
    assert!(json.contains("🎉") && json.contains("\"b\""), "{json}");
    assert_eq!(v(1, "t_char"), text(""), "empty text is not NULL");
    assert_eq!(v(3, "t_varchar"), text("😀 utf8mb4 ✓ 日本語"));
    assert_eq!(v(3, "t_text"), text("emoji 🎉🚀"));
    // Row 3 is all NULL apart from its id.
    assert!(
        set.rows[2][1..].iter().all(Cell::is_null),
        "{:?}",
        set.rows[2]
    );
    let ty = |name: &str| set.columns[col(name)].type_name.clone();
    assert_eq!(ty("t_big_u"), "bigint unsigned");
    assert_eq!(ty("t_dec"), "decimal");
    assert_eq!(ty("t_blob"), "blob");
    assert_eq!(ty("t_text"), "text");
    assert_eq!(ty("t_varbinary"), "varbinary");
    assert_eq!(ty("t_enum"), "enum");
    assert_eq!(ty("t_datetime"), "datetime");
}

#[tokio::test]
async fn describe_shows_types_keys_and_references() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let info = c
        .describe(&tref("varlor_test", "orders"))
        .await
        .expect("describe");
    let col = |n: &str| {
        info.columns
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no {n}"))
            .clone()
    };
    assert!(col("id").primary_key);
    assert!(!col("id").nullable);
    assert_eq!(col("amount").data_type, "decimal(10,2)");
    assert_eq!(
        col("customer_id").references.as_deref(),
        Some("varlor_test.customers(id)")
    );
    assert!(!col("customer_id").primary_key);

    let items = c
        .describe(&tref("inventory", "items"))
        .await
        .expect("describe");
    let pk: Vec<_> = items
        .columns
        .iter()
        .filter(|c| c.primary_key)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(pk, ["warehouse", "sku"]);
    assert_eq!(
        items.columns[0].references.as_deref(),
        Some("inventory.warehouses(code)")
    );
    assert_eq!(items.columns[2].data_type, "int(10) unsigned");
    assert_eq!(items.columns[2].default.as_deref(), Some("0"));

    let weird = c
        .describe(&tref("varlor_test", "Weird Name"))
        .await
        .expect("describe");
    assert_eq!(weird.columns.len(), 3);
    assert!(weird.columns[2].nullable);
    assert_eq!(weird.columns[2].default, None);

    let view = c
        .describe(&tref("varlor_test", "customer_orders"))
        .await
        .expect("view");
    assert_eq!(view.estimated_rows, None);
    assert_eq!(view.columns.len(), 3);

    let e = c
        .describe(&tref("varlor_test", "no_such_table"))
        .await
        .expect_err("missing");
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn counts_are_exact() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    assert_eq!(
        c.count_rows(&tref("varlor_test", "orders")).await.unwrap(),
        5000
    );
    assert_eq!(c.count_rows(&tref("sales", "targets")).await.unwrap(), 9);
    let e = c
        .count_rows(&tref("varlor_test", "no_such_table"))
        .await
        .expect_err("missing");
    assert_eq!(e.kind, ErrorKind::NotFound, "{}", e.full());
    // A non-fatal error keeps the session usable.
    assert_eq!(
        c.count_rows(&tref("varlor_test", "Weird Name"))
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn writes_through_the_browsing_session_fail() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let log = tref("varlor_test", "write_probe_log");
    let before = c.count_rows(&log).await.expect("count");
    // A function that INSERTs, called from a filter: the read-only session refuses it.
    let mut sink = Collect::default();
    let opts = StreamOptions {
        limit: Some(1),
        filter: Some("varlor_test.write_probe() = 1".into()),
    };
    let e = c
        .stream_rows(&tref("varlor_test", "customers"), &opts, &mut sink)
        .await
        .expect_err("write must fail");
    assert_eq!(e.kind, ErrorKind::ReadOnly, "{}", e.full());
    // A second statement smuggled into a filter is refused before it runs.
    let opts = StreamOptions {
        limit: None,
        filter: Some("1=1; INSERT INTO varlor_test.write_probe_log (at) VALUES (NOW())".into()),
    };
    let e = c
        .stream_rows(&tref("varlor_test", "customers"), &opts, &mut sink)
        .await
        .expect_err("multi-statement must fail");
    assert!(e.detail.starts_with("filter:"), "{}", e.full());
    assert_eq!(c.count_rows(&log).await.expect("count"), before);
    if let Some(out) = srv.root_sql("SELECT COUNT(*) FROM varlor_test.write_probe_log") {
        assert_eq!(out.trim(), before.to_string(), "root sees no write either");
    }
}

#[tokio::test]
async fn slow_view_hits_the_statement_timeout() {
    let srv = server_or_skip!();
    let c = srv.connector_with(
        srv.my_spec(),
        SessionOptions {
            statement_timeout: Duration::from_secs(1),
            read_only: true,
        },
    );
    let t = Instant::now();
    let e = c
        .preview(&tref("varlor_test", "slow_view"), 10)
        .await
        .expect_err("must time out");
    assert_eq!(e.kind, ErrorKind::StatementTimeout, "{}", e.full());
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    // The session survives a timeout.
    assert_eq!(c.count_rows(&tref("sales", "regions")).await.unwrap(), 3);
}

#[tokio::test]
async fn cancelled_count_is_killed_on_the_server() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let slow = tref("varlor_test", "slow_view");
    let r = tokio::time::timeout(Duration::from_millis(800), c.count_rows(&slow)).await;
    assert!(r.is_err(), "the count should still be running");
    // Our own threads are visible without the PROCESS privilege.
    let watcher = srv.connector(srv.my_spec());
    let plist = tref("information_schema", "PROCESSLIST");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let set = watcher.preview(&plist, 1000).await.expect("processlist");
        let info = set
            .columns
            .iter()
            .position(|c| c.name == "INFO")
            .expect("INFO");
        let running = set.rows.iter().any(|r| {
            r[info]
                .display()
                .contains("COUNT(*) FROM `varlor_test`.`slow_view`")
        });
        if !running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled COUNT is still running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The connector reconnects for the next call.
    assert_eq!(c.count_rows(&tref("sales", "regions")).await.unwrap(), 3);
}

#[tokio::test]
async fn a_stream_is_not_cut_off_by_the_browsing_statement_timeout() {
    let srv = server_or_skip!();
    let c = srv.connector_with(
        srv.my_spec(),
        SessionOptions {
            statement_timeout: Duration::from_millis(500),
            read_only: true,
        },
    );
    // Three rows, one second of SLEEP each: 3 s against a 0.5 s timeout.
    let opts = StreamOptions {
        limit: None,
        filter: Some("SLEEP(1) = 0".into()),
    };
    let mut sink = Collect::default();
    let n = c
        .stream_rows(&tref("sales", "regions"), &opts, &mut sink)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(n, 3);
    // Browsing keeps its timeout.
    let e = c
        .preview(&tref("varlor_test", "slow_view"), 10)
        .await
        .expect_err("must time out");
    assert_eq!(e.kind, ErrorKind::StatementTimeout, "{}", e.full());
}

#[tokio::test]
async fn stream_honours_limit_and_filter() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let customers = tref("varlor_test", "customers");
    let mut sink = Collect::default();
    let n = c
        .stream_rows(&customers, &StreamOptions::default(), &mut sink)
        .await
        .expect("stream");
    assert_eq!(n, 1000);
    assert_eq!(sink.rows.len(), 1000);
    assert_eq!(sink.cols.len(), 5);

    let mut sink = Collect::default();
    let opts = StreamOptions {
        limit: Some(7),
        filter: Some("country = 'DE'".into()),
    };
    assert_eq!(
        c.stream_rows(&customers, &opts, &mut sink).await.unwrap(),
        7
    );
    let country = sink.cols.iter().position(|c| c.name == "country").unwrap();
    assert!(sink.rows.iter().all(|r| r[country] == text("DE")));

    let mut sink = Collect::default();
    let opts = StreamOptions {
        limit: None,
        filter: Some("email IS NULL".into()),
    };
    assert_eq!(
        c.stream_rows(&customers, &opts, &mut sink).await.unwrap(),
        100
    );

    // A failing sink aborts the stream with its own error; the next call works.
    let mut sink = Collect {
        fail_after: Some(3),
        ..Default::default()
    };
    let e = c
        .stream_rows(
            &tref("varlor_test", "orders"),
            &StreamOptions::default(),
            &mut sink,
        )
        .await
        .expect_err("sink error");
    assert_eq!(e.detail, "sink full");
    assert_eq!(c.count_rows(&customers).await.unwrap(), 1000);
}

#[tokio::test]
async fn reset_drops_the_session_and_the_next_call_reconnects() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let regions = tref("sales", "regions");
    assert_eq!(c.preview(&regions, 10).await.unwrap().rows.len(), 3);
    c.reset().await;
    assert_eq!(c.preview(&regions, 2).await.unwrap().rows.len(), 2);
}

#[tokio::test]
async fn ten_thousand_tables_list() {
    let srv = server_or_skip!();
    let db = "varlor_many_tables";
    let mut sql = format!(
        "DROP DATABASE IF EXISTS {db};\nCREATE DATABASE {db};\n\
         GRANT SELECT ON {db}.* TO '{u}'@'%', '{u}'@'localhost';\nUSE {db};\n",
        u = srv.user
    );
    for i in 0..10_000 {
        sql.push_str(&format!("CREATE TABLE t{i:05} (id INT) ENGINE=MEMORY;\n"));
    }
    let t = Instant::now();
    if srv.root_sql(&sql).is_none() {
        common::skip("cannot create tables as root (VARLOR_TEST_MYSQL_SOCKET + mariadb)");
        return;
    }
    println!("created 10,000 tables in {:?}", t.elapsed());
    let c = srv.connector(srv.my_spec());
    let mut times = Vec::new();
    let mut found = 0;
    let mut customers_estimate = None;
    let mut all_lazy = true;
    for _ in 0..3 {
        let t = Instant::now();
        let tables = c.list_tables().await.expect("list");
        times.push(t.elapsed());
        let many: Vec<_> = tables
            .iter()
            .filter(|t| t.schema.as_deref() == Some(db))
            .collect();
        found = many.len();
        // Over the estimate budget: estimates come lazily from describe.
        all_lazy &= many.iter().all(|t| t.estimated_rows.is_none());
        customers_estimate = tables
            .iter()
            .find(|t| t.schema.as_deref() == Some("varlor_test") && t.name == "customers")
            .and_then(|t| t.estimated_rows);
    }
    let described = c.describe(&tref(db, "t00042")).await;
    srv.root_sql(&format!("DROP DATABASE {db};"));
    times.sort();
    println!(
        "list_tables with 10,000 extra tables: median {:?} of {times:?}",
        times[1]
    );
    assert_eq!(found, 10_000);
    assert!(
        all_lazy,
        "estimates past the budget must be left to describe"
    );
    assert_eq!(described.expect("describe").estimated_rows, Some(0));
    assert!(
        customers_estimate.is_some(),
        "small databases keep their estimates"
    );
}

#[tokio::test]
async fn a_killed_session_is_a_clear_error_and_the_next_call_reconnects() {
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    // The session's own row in the process list (a LIMIT no other test uses).
    let set = c
        .preview(&tref("information_schema", "PROCESSLIST"), 997)
        .await
        .expect("processlist");
    let id_col = set.columns.iter().position(|c| c.name == "ID").expect("ID");
    let info_col = set
        .columns
        .iter()
        .position(|c| c.name == "INFO")
        .expect("INFO");
    let me = set
        .rows
        .iter()
        .find(|r| r[info_col].display().contains("LIMIT 997"))
        .map(|r| r[id_col].display())
        .expect("own session listed");
    if srv.root_sql(&format!("KILL {me};")).is_none() {
        common::skip("cannot KILL as root (VARLOR_TEST_MYSQL_SOCKET + mariadb)");
        return;
    }
    let regions = tref("sales", "regions");
    let e = c
        .preview(&regions, 10)
        .await
        .expect_err("the session was killed");
    assert_eq!(e.kind, ErrorKind::ConnectionLost, "{}", e.full());
    assert_eq!(
        c.preview(&regions, 10)
            .await
            .expect("reconnected")
            .rows
            .len(),
        3
    );
}

/// Benchmark (prints numbers, asserts only correctness): time to the first
/// 10 rows of a 1,000,000-row table, varlor's pooled session against the
/// `mariadb` client running the same query. Run with `--ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark; run explicitly"]
async fn bench_preview_on_a_million_rows() {
    let srv = server_or_skip!();
    let setup = format!(
        "USE {db};\nCREATE TABLE IF NOT EXISTS {db}.bench_million (id INT PRIMARY KEY, v VARCHAR(40)) \
         ENGINE=InnoDB;\n\
         INSERT IGNORE INTO {db}.bench_million SELECT seq, CONCAT('value ', seq) FROM seq_1_to_1000000;\n",
        db = srv.db
    );
    if srv.root_sql(&setup).is_none() {
        common::skip("cannot create the benchmark table as root");
        return;
    }
    let c = srv.connector(srv.my_spec());
    let table = tref(&srv.db, "bench_million");
    let first = Instant::now();
    assert_eq!(c.preview(&table, 10).await.expect("preview").rows.len(), 10);
    println!(
        "first preview (connect + session setup): {:?}",
        first.elapsed()
    );
    let mut ours = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        assert_eq!(c.preview(&table, 10).await.expect("preview").rows.len(), 10);
        ours.push(t.elapsed());
    }
    let mut client = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let out = Command::new("mariadb")
            .args([
                "--no-defaults",
                "-B",
                "-h",
                &srv.host,
                "-P",
                &srv.port.to_string(),
            ])
            .args(["-u", &srv.user, &srv.db, "-e"])
            .arg("SELECT * FROM bench_million LIMIT 10")
            .env("MYSQL_PWD", &srv.password)
            .output()
            .expect("mariadb client");
        assert!(out.status.success());
        client.push(t.elapsed());
    }
    ours.sort();
    client.sort();
    println!(
        "preview of 10 rows from 1,000,000: varlor median {:?}, mariadb client median {:?} \
         (ratio {:.4}; the client pays process start and login each run)",
        ours[4],
        client[4],
        ours[4].as_secs_f64() / client[4].as_secs_f64()
    );
    srv.root_sql(&format!("DROP TABLE {}.bench_million;", srv.db));
}

#[tokio::test]
async fn terminal_hostile_text_comes_back_byte_for_byte() {
    use common::hostile::{COLUMN, TABLE, VALUES};
    let srv = server_or_skip!();
    let c = srv.connector(srv.my_spec());
    let listed = c.list_tables().await.expect("list");
    assert!(
        listed.iter().any(|t| t.name == TABLE),
        "hostile table listed"
    );
    let mut set = c
        .preview(&tref("varlor_test", TABLE), 10)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    set.rows
        .sort_by_key(|r| r[0].display().parse::<i64>().unwrap_or(0));
    assert_eq!(set.columns[1].name, COLUMN);
    let got: Vec<Cell> = set.rows.iter().map(|r| r[1].clone()).collect();
    let want: Vec<Cell> = VALUES.iter().map(|v| text(v)).collect();
    assert_eq!(got, want);
}
