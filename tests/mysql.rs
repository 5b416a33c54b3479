//! MySQL/MariaDB connector against a real server (VARLOR_TEST_MYSQL_*).
//! Browser tests expect tests/fixtures/mysql.sql to be loaded. The behaviours
//! every engine shares run from tests/common/conformance.rs through the
//! harness below (`conformance::*` tests); this file keeps MySQL's own.

use std::process::Command;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use varlor::connectors::mysql::MysqlConnector;
use varlor::connectors::{
    Cell, ConnError, ConnSpec, Connector, ErrorKind, Kind, SessionOptions, TableKind, TableRef,
    TlsMode,
};

mod common;

use common::conformance::{
    col, table, text, AfterKill, Bulk, Cap, Described, Fixture, Harness, Hostile, StreamCase,
};
use common::ServerEnv;

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
    fn root_sql(&self, sql: &str) -> Option<String>;
    fn root_sql_or_why(&self, sql: &str) -> Result<String, String>;
}

impl MysqlEnv for ServerEnv {
    /// TLS `prefer` (the default of a new connection).
    fn my_spec(&self) -> ConnSpec {
        let mut s = ServerEnv::spec(self, Kind::Mysql);
        s.tls = TlsMode::Prefer;
        s
    }

    fn connector(&self, spec: ConnSpec) -> MysqlConnector {
        MysqlConnector::new(spec, Some(self.secret()), SessionOptions::default())
    }

    /// Runs SQL as root over the socket; `None` when no socket/client is available.
    fn root_sql(&self, sql: &str) -> Option<String> {
        self.root_sql_or_why(sql)
            .map_err(|why| eprintln!("root sql failed: {why}"))
            .ok()
    }

    /// Runs SQL as root over the socket, or says why it could not.
    fn root_sql_or_why(&self, sql: &str) -> Result<String, String> {
        common::mysql_root_sql(self, sql)
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
    table(Some(schema), name)
}

// ---- the shared conformance suite ----

struct My(ServerEnv, std::sync::OnceLock<MysqlConnector>);

fn harness() -> Option<My> {
    common::mysql().map(|env| My(env, std::sync::OnceLock::new()))
}

conformance_tests!(harness);

/// The id of `c`'s own session in the process list (found by a LIMIT no
/// other test uses; our own threads are visible without PROCESS).
async fn own_thread_id(c: &dyn Connector) -> String {
    let set = c
        .preview(&tref("information_schema", "PROCESSLIST"), 997)
        .await
        .unwrap_or_else(|e| panic!("processlist: {}", e.full()));
    let id_col = set.columns.iter().position(|c| c.name == "ID").expect("ID");
    let info_col = set
        .columns
        .iter()
        .position(|c| c.name == "INFO")
        .expect("INFO");
    set.rows
        .iter()
        .find(|r| r[info_col].display().contains("LIMIT 997"))
        .map(|r| r[id_col].display())
        .expect("own session listed")
}

#[async_trait]
impl Harness for My {
    fn spec(&self) -> ConnSpec {
        self.0.my_spec()
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
    fn unknown_database(&self, spec: &mut ConnSpec) {
        spec.database = "no_such_db_42".into();
    }

    /// The TLS-only user: from the harness, or made here as root over the socket.
    async fn tls_only_user(&self) -> Result<(String, String), String> {
        let srv = &self.0;
        if let (Some(u), Some(p)) = (srv.tls_user.clone(), srv.tls_password.clone()) {
            return Ok((u, p));
        }
        let pass = format!("tls-{}-{}", std::process::id(), srv.port);
        srv.root_sql(&format!(
            "CREATE USER IF NOT EXISTS 'varlor_tls_only'@'%' IDENTIFIED BY '{pass}' REQUIRE SSL;\n\
             ALTER USER 'varlor_tls_only'@'%' IDENTIFIED BY '{pass}' REQUIRE SSL;\n\
             GRANT SELECT ON {}.* TO 'varlor_tls_only'@'%';\n",
            srv.db
        ))
        .ok_or("no TLS-only user (VARLOR_TEST_MYSQL_TLS_USER) and no root socket")?;
        Ok(("varlor_tls_only".into(), pass))
    }

    fn check_tls_only_refusal(&self, e: &ConnError) {
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
    }

    fn fixture(&self) -> Fixture {
        use TableKind::{Table, View};
        let v = Some("varlor_test");
        let hostile = |name, second_col, rows: Vec<Vec<Cell>>| Hostile {
            table: tref("varlor_test", name),
            columns: vec![(1, second_col)],
            rows: Some(rows.len()),
            has_rows: rows,
            has_cells: vec![],
        };
        Fixture {
            listed: vec![
                (v, "customers", Table),
                (v, "orders", Table),
                (v, "Weird Name", Table),
                (v, "all_types", Table),
                (v, "quote\"d", Table),
                (v, "semi;colon", Table),
                (v, "ünïcödé", Table),
                (v, "select", Table),
                (v, "back`tick", Table),
                (v, "customer_orders", View),
                (v, "slow_view", View),
                (Some("sales"), "region_targets", View),
                (Some("inventory"), "stock_view", View),
                (Some("sales"), "regions", Table),
                (Some("inventory"), "items", Table),
            ],
            system_table: (Some("information_schema"), "TABLES"),
            preview_schemas: vec![v, Some("sales"), Some("inventory")],
            preview_skip: vec!["slow_view"],
            may_be_empty: vec!["write_probe_log"],
            min_previewed: 15,
            hostile: vec![
                hostile(
                    "Weird Name",
                    "Mixed Case",
                    vec![
                        vec![text("1"), text("one"), text("1.5")],
                        vec![text("2"), text("two"), Cell::Null],
                        vec![text("3"), text("ünïcödé ✓"), text("-3.25")],
                    ],
                ),
                hostile(
                    "quote\"d",
                    "col\"quote",
                    vec![
                        vec![text("1"), text("dq \"one\"")],
                        vec![text("2"), Cell::Null],
                    ],
                ),
                hostile(
                    "semi;colon",
                    "a;b",
                    vec![
                        vec![text("1"), text("x;y")],
                        vec![text("2"), text("; DROP TABLE customers; --")],
                    ],
                ),
                hostile(
                    "ünïcödé",
                    "naïve",
                    vec![
                        vec![text("1"), text("café")],
                        vec![text("2"), text("smörgåsbord 🍞")],
                    ],
                ),
                hostile(
                    "select",
                    "where",
                    vec![
                        vec![text("1"), text("reserved"), text("10")],
                        vec![text("2"), text("words"), text("20")],
                    ],
                ),
                hostile(
                    "back`tick",
                    "tick`col",
                    vec![vec![text("1"), text("`ticked`")]],
                ),
            ],
            untouched: (tref("varlor_test", "customers"), 1000),
            described: vec![
                Described {
                    columns: vec![
                        col("id").pk(true).nullable(false),
                        col("amount").ty("decimal(10,2)"),
                        col("customer_id")
                            .references(Some("varlor_test.customers(id)"))
                            .pk(false),
                    ],
                    ..Described::of(tref("varlor_test", "orders"))
                },
                Described {
                    primary_key: Some(vec!["warehouse", "sku"]),
                    columns: vec![
                        col("warehouse").references(Some("inventory.warehouses(code)")),
                        col("qty").ty("int(10) unsigned").default_is(Some("0")),
                    ],
                    ..Described::of(tref("inventory", "items"))
                },
                Described {
                    column_count: Some(3),
                    columns: vec![col("with space").nullable(true).default_is(None)],
                    ..Described::of(tref("varlor_test", "Weird Name"))
                },
                Described {
                    estimated_rows: Some(None),
                    column_count: Some(3),
                    ..Described::of(tref("varlor_test", "customer_orders"))
                },
            ],
            missing: tref("varlor_test", "no_such_table"),
            counts: vec![
                (tref("varlor_test", "orders"), 5000),
                (tref("sales", "targets"), 9),
                (tref("varlor_test", "Weird Name"), 3),
            ],
            small: (tref("sales", "regions"), 3),
            // SLEEP(30).
            slow: tref("varlor_test", "slow_view"),
            slow_previews: true,
            timeout_within: Duration::from_secs(20),
            // Three rows, one second of SLEEP each.
            slow_stream: Some((tref("sales", "regions"), Some("SLEEP(1) = 0"), 3)),
            writing_view: None,
            write_filter: Some((
                tref("varlor_test", "customers"),
                "varlor_test.write_probe() = 1",
            )),
            smuggle: (
                tref("varlor_test", "customers"),
                "1=1; INSERT INTO varlor_test.write_probe_log (at) VALUES (NOW())",
            ),
            smuggle_refused_up_front: true,
            pristine_evidence: None,
            stream_all: (tref("varlor_test", "customers"), 1000, Some(5)),
            stream_names: vec![],
            stream_types: vec![],
            streams: vec![
                StreamCase {
                    table: tref("varlor_test", "customers"),
                    limit: Some(7),
                    filter: Some("country = 'DE'"),
                    rows: 7,
                    every: Some(("country", text("DE"))),
                },
                StreamCase {
                    table: tref("varlor_test", "customers"),
                    limit: None,
                    filter: Some("email IS NULL"),
                    rows: 100,
                    every: None,
                },
            ],
            after_kill: AfterKill::ReportsLost,
        }
    }

    fn check_listing(&self, tables: &[TableRef]) {
        let customers = tables
            .iter()
            .find(|t| t.schema.as_deref() == Some("varlor_test") && t.name == "customers")
            .expect("customers listed");
        // InnoDB statistics are estimates, but a 1000-row table is not empty.
        assert!(customers.estimated_rows.unwrap_or(0) > 0);
        assert!(tables
            .iter()
            .filter(|t| t.schema.as_deref() == Some("mysql"))
            .all(|t| t.system));
    }

    async fn count_still_running(&self) -> bool {
        // Our own threads are visible without the PROCESS privilege.
        let watcher = self.1.get_or_init(|| self.0.connector(self.0.my_spec()));
        let set = watcher
            .preview(&tref("information_schema", "PROCESSLIST"), 1000)
            .await
            .expect("processlist");
        let info = set
            .columns
            .iter()
            .position(|c| c.name == "INFO")
            .expect("INFO");
        set.rows.iter().any(|r| {
            r[info]
                .display()
                .contains("COUNT(*) FROM `varlor_test`.`slow_view`")
        })
    }

    async fn session_id(&self, c: &dyn Connector) -> String {
        own_thread_id(c).await
    }

    async fn kill_session(&self, id: &str) -> Result<(), String> {
        self.0
            .root_sql(&format!("KILL {id};"))
            .map(|_| ())
            .ok_or_else(|| "cannot KILL as root (VARLOR_TEST_MYSQL_SOCKET + mariadb)".into())
    }

    async fn write_evidence(&self) -> String {
        let log = tref("varlor_test", "write_probe_log");
        let n = self
            .0
            .connector(self.0.my_spec())
            .count_rows(&log)
            .await
            .expect("count");
        if let Some(out) = self
            .0
            .root_sql("SELECT COUNT(*) FROM varlor_test.write_probe_log")
        {
            assert_eq!(out.trim(), n.to_string(), "root sees the same rows");
        }
        n.to_string()
    }

    async fn create_tables(&self, n: usize) -> Result<Bulk, String> {
        let db = "varlor_many_tables";
        let mut sql = format!(
            "DROP DATABASE IF EXISTS {db};\nCREATE DATABASE {db};\n\
             GRANT SELECT ON {db}.* TO '{u}'@'%', '{u}'@'localhost';\nUSE {db};\n",
            u = self.0.user
        );
        for i in 0..n {
            sql.push_str(&format!("CREATE TABLE t{i:05} (id INT) ENGINE=MEMORY;\n"));
        }
        self.0.root_sql_or_why(&sql).map_err(|why| {
            format!("cannot create tables as root (VARLOR_TEST_MYSQL_SOCKET + mariadb): {why}")
        })?;
        Ok(Bulk {
            schema: Some(db.into()),
            count: n,
            prefix: "t".into(),
            probe: format!("t{:05}", n - 1),
        })
    }

    async fn drop_tables(&self, bulk: &Bulk) {
        let db = bulk.schema.as_deref().expect("a database");
        self.0.root_sql(&format!("DROP DATABASE {db};"));
    }

    async fn many_tables_checks(
        &self,
        c: &dyn Connector,
        lists: &[Vec<TableRef>],
        bulk: &Bulk,
    ) -> Box<dyn FnOnce() + Send> {
        let mut all_lazy = true;
        let mut customers_estimate = None;
        for tables in lists {
            // Over the estimate budget: estimates come lazily from describe.
            all_lazy &= tables
                .iter()
                .filter(|t| t.schema == bulk.schema)
                .all(|t| t.estimated_rows.is_none());
            customers_estimate = tables
                .iter()
                .find(|t| t.schema.as_deref() == Some("varlor_test") && t.name == "customers")
                .and_then(|t| t.estimated_rows);
        }
        let db = bulk.schema.as_deref().expect("a database");
        let described = c.describe(&tref(db, "t00042")).await;
        Box::new(move || {
            assert!(
                all_lazy,
                "estimates past the budget must be left to describe"
            );
            assert_eq!(described.expect("describe").estimated_rows, Some(0));
            assert!(
                customers_estimate.is_some(),
                "small databases keep their estimates"
            );
        })
    }
}

// ---- MySQL's own cases ----

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
    // Timestamps in the one form (ISO 8601) every front end shows.
    assert_eq!(v(0, "t_datetime"), text("2024-01-02T03:04:05.123456"));
    assert_eq!(v(0, "t_ts"), text("2024-01-02T03:04:05"));
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
                "--default-character-set=utf8mb4",
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

#[tokio::test]
async fn no_password_at_all_is_password_required() {
    let srv = server_or_skip!();
    let c = MysqlConnector::new(srv.my_spec(), None, SessionOptions::default());
    let e = c.test().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PasswordRequired, "{}", e.full());
}
