//! Shared helpers for the integration tests (`mod common;` in each test file).
//!
//! - `pg()` / `mysql()` / `mongo()`: the throwaway server started by `scripts/test` (or
//!   any server named by `VARLOR_TEST_PG_*` / `VARLOR_TEST_MYSQL_*`). When the
//!   variables are missing they print a "skipped: …" notice and return `None`
//!   — except under `CI=true`, where a missing server is a failure (panic).
//! - `hanging_listener()`, `closed_port()`: ports that time out or refuse.
//! - `temp_home()`: a throwaway directory to use as `VARLOR_HOME`.
//! - `conformance`: the connector behaviours every engine shares, written
//!   once; an engine's test file implements its `Harness` and invokes
//!   `conformance_tests!`.
#![allow(dead_code)] // each test file uses a different subset

pub mod conformance;
pub mod hostile;
pub mod tds;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use secrecy::SecretString;
use varlor::connectors::{ConnSpec, Kind, TlsMode};

/// A test server from the environment. Variables (PREFIX = `VARLOR_TEST_PG`
/// or `VARLOR_TEST_MYSQL`): `PREFIX_{HOST,PORT,USER,PASSWORD,DB}` required;
/// `PREFIX_CA` (else `VARLOR_TEST_CA`), `PREFIX_TLS_USER`,
/// `PREFIX_TLS_PASSWORD` (a user the server only admits over TLS) and
/// `PREFIX_SOCKET` (MariaDB's root socket) optional.
#[derive(Debug, Clone)]
pub struct ServerEnv {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub db: String,
    /// The CA that signed the server certificate.
    pub ca: Option<PathBuf>,
    /// A user the server only accepts over TLS.
    pub tls_user: Option<String>,
    pub tls_password: Option<String>,
    /// MariaDB only: the unix socket where root logs in without a password.
    pub socket: Option<PathBuf>,
}

impl ServerEnv {
    /// A spec for this server with TLS disabled and a 10 s connect timeout;
    /// tests change the fields they are about.
    pub fn spec(&self, kind: Kind) -> ConnSpec {
        let mut spec = ConnSpec::new(kind);
        spec.host = self.host.clone();
        spec.port = Some(self.port);
        spec.user = self.user.clone();
        spec.database = self.db.clone();
        spec.tls = TlsMode::Disable;
        spec.connect_timeout_secs = 10;
        spec
    }

    /// The password as the connectors take it.
    pub fn secret(&self) -> SecretString {
        SecretString::from(self.password.clone())
    }
}

/// The PostgreSQL test server, or `None` (skip) when not configured.
pub fn pg() -> Option<ServerEnv> {
    server("VARLOR_TEST_PG", "PostgreSQL")
}

/// The MySQL/MariaDB test server, or `None` (skip) when not configured.
pub fn mysql() -> Option<ServerEnv> {
    server("VARLOR_TEST_MYSQL", "MySQL/MariaDB")
}

/// The MongoDB-compatible test server (SecantusDB under `scripts/test`;
/// TLS required, CA in `VARLOR_TEST_MONGO_CA`), or `None` (skip).
pub fn mongo() -> Option<ServerEnv> {
    server("VARLOR_TEST_MONGO", "MongoDB")
}

/// True under `CI=true`, where nothing may be skipped.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Prints a skip notice (straight to stderr, so the test harness does not
/// swallow it) or panics under CI.
pub fn skip(why: &str) {
    if is_ci() {
        panic!("CI=true and {why}");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

fn server(prefix: &str, label: &str) -> Option<ServerEnv> {
    let var = |name: &str| {
        std::env::var(format!("{prefix}_{name}"))
            .ok()
            .filter(|v| !v.is_empty())
    };
    let Some(host) = var("HOST") else {
        skip(&format!(
            "no {label} test server ({prefix}_HOST unset; run scripts/test)"
        ));
        return None;
    };
    let port = match var("PORT").map(|p| p.parse::<u16>()) {
        Some(Ok(p)) => p,
        _ => panic!("{prefix}_PORT is missing or not a port number"),
    };
    let required = |name: &str| {
        var(name).unwrap_or_else(|| panic!("{prefix}_HOST is set but {prefix}_{name} is not"))
    };
    Some(ServerEnv {
        host,
        port,
        user: required("USER"),
        password: required("PASSWORD"),
        db: required("DB"),
        ca: var("CA")
            .or_else(|| {
                std::env::var("VARLOR_TEST_CA")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .map(PathBuf::from),
        tls_user: var("TLS_USER"),
        tls_password: var("TLS_PASSWORD"),
        socket: var("SOCKET").map(PathBuf::from),
    })
}

/// A port on 127.0.0.1 that accepts TCP connections and never says a word:
/// connecting succeeds, every handshake then hangs. The listener and the
/// accepted sockets live in a background thread until the test process ends.
pub fn hanging_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // keep it open, never answer
        }
    });
    port
}

/// A port on 127.0.0.1 that refuses connections (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("local addr").port()
}

/// A fresh directory for `VARLOR_HOME`, deleted when the guard drops.
pub fn temp_home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("varlor-home-")
        .tempdir()
        .expect("create a temp dir")
}

/// A row sink that keeps what it receives; `fail_after: Some(n)` makes it
/// refuse the (n+1)-th row, to test that a failing sink aborts a stream.
/// `csv: true` makes it take the dataset's CSV (`RowSink::takes_csv`), kept
/// in `csv_bytes` / `csv_records`.
#[derive(Default)]
pub struct Collect {
    pub cols: Vec<varlor::connectors::ColumnMeta>,
    pub rows: Vec<Vec<varlor::connectors::Cell>>,
    pub fail_after: Option<usize>,
    pub csv: bool,
    pub csv_bytes: Vec<u8>,
    pub csv_records: u64,
}

impl varlor::connectors::RowSink for Collect {
    fn columns(
        &mut self,
        columns: &[varlor::connectors::ColumnMeta],
    ) -> Result<(), varlor::connectors::ConnError> {
        self.cols = columns.to_vec();
        Ok(())
    }
    fn row(
        &mut self,
        row: Vec<varlor::connectors::Cell>,
    ) -> Result<(), varlor::connectors::ConnError> {
        if self.fail_after == Some(self.rows.len()) {
            return Err(varlor::connectors::ConnError::new(
                varlor::connectors::ErrorKind::Other,
                "sink full",
            ));
        }
        self.rows.push(row);
        Ok(())
    }
    fn takes_csv(&self) -> bool {
        self.csv
    }
    fn csv_records(
        &mut self,
        bytes: &[u8],
        records: u64,
    ) -> Result<(), varlor::connectors::ConnError> {
        assert!(self.csv, "CSV records sent to a sink that takes rows");
        assert!(bytes.ends_with(b"\r\n"), "a batch of whole records");
        self.csv_bytes.extend_from_slice(bytes);
        self.csv_records += records;
        Ok(())
    }
}

/// Runs SQL as root over MariaDB's socket (`VARLOR_TEST_MYSQL_SOCKET`, the
/// `mariadb` client), or says why it could not.
pub fn mysql_root_sql(env: &ServerEnv, sql: &str) -> Result<String, String> {
    let sock = env.socket.as_ref().ok_or("no root socket")?;
    let mut child = Command::new("mariadb")
        .args([
            "--no-defaults",
            "--default-character-set=utf8mb4",
            "-N",
            "-B",
            "-u",
            "root",
            "-S",
        ])
        .arg(sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("mariadb client: {e}"))?;
    // A client that stops early (an SQL error) breaks the pipe: its own
    // words say why, so they come first.
    let wrote = child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(sql.as_bytes());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    wrote.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `varlor add NAME` arguments for this server (`--password-stdin`: the
/// password goes on stdin), with `database` in place of the server's own.
pub fn add_server_args(name: &str, kind: &str, s: &ServerEnv, database: &str) -> Vec<String> {
    [
        "add",
        name,
        "--kind",
        kind,
        "--host",
        &s.host,
        "--port",
        &s.port.to_string(),
        "--database",
        database,
        "--user",
        &s.user,
        "--password-stdin",
    ]
    .map(String::from)
    .to_vec()
}

/// A plain (not read-only) PostgreSQL client for setting up and checking
/// from outside.
pub async fn pg_admin(env: &ServerEnv) -> tokio_postgres::Client {
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
