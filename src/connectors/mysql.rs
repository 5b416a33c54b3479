//! MySQL and MariaDB through mysql_async (rustls for TLS).
//!
//! `test` opens a fresh connection; browsing goes through one pooled session
//! (opened lazily, reused, dropped by `reset` or by a fatal error) that is
//! read-only and carries a statement timeout. Long queries (count, preview,
//! stream) send `KILL QUERY` from a second connection when their future is
//! dropped, so a cancelled look does not leave work running on the server.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, DriverError, IoError, Opts, OptsBuilder, Row, SslOpts, Value};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::engine::{Capabilities, Engine, RowLimit, TunnelEnd, SQL_CAPABILITIES};
use super::error::classify_io;
use super::ident::{self, Dialect};
use super::query::{single_statement, ChannelCursor, QueryCursor, READ_AHEAD};
use super::spec::parse_network_url;
use super::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, RowSet, RowSink,
    ServerInfo, SessionOptions, StreamOptions, TableInfo, TableKind, TableRef, TlsMode,
};
use super::{Field, Kind};

/// MySQL and MariaDB: mysql_async with rustls.
pub const ENGINE: Engine = Engine {
    kind: Kind::Mysql,
    id: "mysql",
    display_name: "MySQL/MariaDB",
    default_port: Some(3306),
    fields: &[
        Field::Host,
        Field::Port,
        Field::Database,
        Field::User,
        Field::Password,
        Field::TlsMode,
        Field::CaFile,
        Field::SshVia,
    ],
    url_schemes: &["mysql", "mariadb"],
    parse_url: parse_network_url,
    has_password: true,
    file_based: false,
    user_required: true,
    dialect: Some(Dialect::Backtick),
    row_limit: RowLimit::Limit,
    capabilities: SQL_CAPABILITIES,
    tunnel: TunnelEnd::Loopback,
    concurrent: false,
    open: Ok(|spec, password, opts| Box::new(MysqlConnector::new(spec.clone(), password, opts))),
};

/// Databases that belong to the server itself; hidden by default.
const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// At most this many tables get a row estimate in a listing (see list_tables).
const ESTIMATE_BUDGET: usize = 2000;

/// The character set number MySQL uses for "binary" (no character set).
const BINARY_CHARSET: u16 = 63;

/// A pooled session idle longer than this is pinged before reuse, so a
/// connection closed by the server's `wait_timeout` is replaced quietly.
const STALE_AFTER: Duration = Duration::from_secs(30);

pub struct MysqlConnector {
    spec: ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
    session: Mutex<Option<Session>>,
}

struct Session {
    conn: Conn,
    /// The options it was opened with (plain or TLS), reused for `KILL QUERY`.
    opts: Opts,
    last_used: Instant,
}

/// Why a query on the session failed: the server/driver, or the row sink.
enum Fail {
    Db(mysql_async::Error),
    Sink(ConnError),
}

impl From<mysql_async::Error> for Fail {
    fn from(e: mysql_async::Error) -> Self {
        Fail::Db(e)
    }
}

impl MysqlConnector {
    pub fn new(spec: ConnSpec, password: Option<SecretString>, opts: SessionOptions) -> Self {
        // mysql_async takes rustls' process default provider.
        super::tls::install_default_provider();
        MysqlConnector {
            spec,
            password,
            opts,
            session: Mutex::new(None),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.spec.connect_timeout_secs.max(1))
    }

    /// Driver options for one TLS choice (`None` = plain).
    fn driver_opts(&self, ssl: Option<SslOpts>) -> Opts {
        let db = Some(self.spec.database.clone()).filter(|d| !d.is_empty());
        OptsBuilder::default()
            .ip_or_hostname(self.spec.host.clone())
            .tcp_port(self.spec.effective_port())
            .user(Some(self.spec.user.clone()))
            .pass(
                self.password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string()),
            )
            .db_name(db)
            // mysql_async would otherwise move loopback connections to the
            // server's unix socket, silently dropping TLS.
            .prefer_socket(false)
            .ssl_opts(ssl)
            .into()
    }

    /// The TLS options of the spec's mode; `None` for plain connections.
    fn ssl_opts(&self) -> Result<Option<SslOpts>, ConnError> {
        match self.spec.tls {
            TlsMode::Disable => Ok(None),
            TlsMode::Prefer | TlsMode::Require => Ok(Some(
                SslOpts::default().with_danger_accept_invalid_certs(true),
            )),
            TlsMode::VerifyFull => {
                let mut ssl = SslOpts::default();
                if let Some(path) = &self.spec.ca_file {
                    // Same checks and messages as the other engines.
                    super::tls::load_ca_file(path)?;
                    let pem = std::fs::read(path).map_err(|e| {
                        ConnError::new(
                            ErrorKind::Config,
                            format!("CA file {}: {e}", path.display()),
                        )
                    })?;
                    // The given CA replaces the built-in roots, as libpq does.
                    ssl = ssl
                        .with_root_certs(vec![pem.into()])
                        .with_disable_built_in_roots(true);
                }
                // Through a tunnel the host is the loopback end: the
                // certificate is checked for the database's own name.
                if let Some(name) = self.spec.options.get(super::spec::TLS_SERVER_NAME) {
                    ssl = ssl.with_danger_tls_hostname_override(Some(name.clone()));
                }
                Ok(Some(ssl))
            }
        }
    }

    /// Connects within the connect timeout. `prefer` falls back to a plain
    /// connection only when the server has no TLS at all.
    async fn connect(&self) -> Result<(Conn, Opts), ConnError> {
        let timeout = self.connect_timeout();
        let ssl = self.ssl_opts()?;
        let fut = async {
            let opts = self.driver_opts(ssl.clone());
            match Conn::new(opts.clone()).await {
                Ok(c) => Ok((c, opts)),
                Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer))
                    if self.spec.tls == TlsMode::Prefer =>
                {
                    let plain = self.driver_opts(None);
                    Conn::new(plain.clone()).await.map(|c| (c, plain))
                }
                Err(e) => Err(e),
            }
        };
        let (host, port) = (&self.spec.host, self.spec.effective_port());
        super::connect::within(timeout, host, port, fut, |e| self.map_connect_err(e)).await
    }

    fn map_err(&self, e: mysql_async::Error) -> ConnError {
        map_error(&e, self.spec.tls).scrub(self.secret())
    }

    /// Login errors: 1044 at login names the connection's database, and the
    /// server sends it both for a missing database and for one the user may
    /// not use (it will not reveal which), so it reads as "database not found"
    /// whose hint mentions access.
    fn map_connect_err(&self, e: mysql_async::Error) -> ConnError {
        let mut err = self.map_err(e);
        if err.kind == ErrorKind::PermissionDenied && err.detail.starts_with("ERROR 1044 ") {
            err.kind = ErrorKind::DatabaseNotFound;
            err.detail
                .push_str(" (the server does not tell a missing database from one without access)");
        }
        err
    }

    fn map_fail(&self, f: Fail) -> ConnError {
        match f {
            Fail::Db(e) => self.map_err(e),
            Fail::Sink(e) => e.scrub(self.secret()),
        }
    }

    /// Opens a browsing session: read-only (unless told otherwise) with the
    /// statement timeout of the server's flavour.
    async fn open_session(&self) -> Result<Session, ConnError> {
        self.open_session_with(self.opts.statement_timeout).await
    }

    /// A new session whose statements are cut off after `statement_timeout`
    /// (zero: never).
    async fn open_session_with(&self, statement_timeout: Duration) -> Result<Session, ConnError> {
        let (mut conn, opts) = self.connect().await?;
        let setup = async {
            let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
            let mariadb = version.as_deref().unwrap_or("").contains("MariaDB");
            if self.opts.read_only {
                conn.query_drop("SET SESSION TRANSACTION READ ONLY").await?;
            }
            let t = statement_timeout;
            if !t.is_zero() {
                // Numbers only: nothing user-typed reaches these statements.
                let sql = if mariadb {
                    format!("SET SESSION max_statement_time = {:.3}", t.as_secs_f64())
                } else {
                    format!("SET SESSION max_execution_time = {}", t.as_millis())
                };
                match conn.query_drop(sql).await {
                    // Servers too old for a statement timeout (unknown system
                    // variable): browse without one rather than not at all.
                    Err(mysql_async::Error::Server(e)) if e.code == 1193 => {
                        tracing::warn!("server has no statement timeout: {}", e.message);
                    }
                    r => r?,
                }
            }
            Ok::<_, mysql_async::Error>(())
        };
        match tokio::time::timeout(self.connect_timeout(), setup).await {
            Ok(Ok(())) => Ok(Session {
                conn,
                opts,
                last_used: Instant::now(),
            }),
            Ok(Err(e)) => Err(self.map_err(e)),
            Err(_) => Err(ConnError::new(
                ErrorKind::ConnectionTimeout,
                "the server did not answer the session setup in time",
            )),
        }
    }

    /// The pooled session (opened if needed), taken out of its slot for the
    /// duration of one call; `settle` puts it back.
    async fn take_session(&self, slot: &mut Option<Session>) -> Result<Session, ConnError> {
        if let Some(mut s) = slot.take() {
            if s.last_used.elapsed() < STALE_AFTER || s.conn.ping().await.is_ok() {
                return Ok(s);
            }
            // Stale (server closed it while idle): replace it.
        }
        self.open_session().await
    }

    /// Returns the session to its slot unless the failure broke it, and maps
    /// the error.
    fn settle<T>(
        &self,
        slot: &mut Option<Session>,
        mut session: Session,
        result: Result<T, Fail>,
    ) -> Result<T, ConnError> {
        match result {
            Ok(v) => {
                session.last_used = Instant::now();
                *slot = Some(session);
                Ok(v)
            }
            Err(Fail::Db(e)) if !e.is_fatal() => {
                let err = self.map_err(e);
                // "Connection was killed" / "server shutdown" arrive as
                // ordinary error packets, but the session is gone all the same.
                if err.kind != ErrorKind::ConnectionLost {
                    session.last_used = Instant::now();
                    *slot = Some(session);
                }
                Err(err)
            }
            // Fatal errors and sink failures (a result may still be pending)
            // drop the session; the next call reconnects.
            Err(f) => Err(self.map_fail(f)),
        }
    }

    /// Runs a metadata query (no cancel needed: these are cheap).
    async fn meta<T, F>(&self, f: F) -> Result<T, ConnError>
    where
        F: for<'c> FnOnce(
            &'c mut Conn,
        ) -> futures::future::BoxFuture<'c, Result<T, mysql_async::Error>>,
    {
        let mut slot = self.session.lock().await;
        let mut s = self.take_session(&mut slot).await?;
        let r = f(&mut s.conn).await.map_err(Fail::Db);
        self.settle(&mut slot, s, r)
    }
}

/// Sends `KILL QUERY <id>` from a second connection when dropped armed, i.e.
/// when the future running the query was dropped (cancelled) or its sink
/// failed mid-stream.
struct KillOnDrop {
    target: Option<(Opts, u32)>,
    timeout: Duration,
}

impl KillOnDrop {
    fn arm(session: &Session, timeout: Duration) -> Self {
        KillOnDrop {
            target: Some((session.opts.clone(), session.conn.id())),
            timeout,
        }
    }

    fn disarm(mut self) {
        self.target = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let Some((opts, id)) = self.target.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.timeout;
        rt.spawn(async move {
            let kill = async {
                let mut c = Conn::new(opts).await?;
                // The id is the server's own number, not user text.
                let r = c.query_drop(format!("KILL QUERY {id}")).await;
                let _ = c.disconnect().await;
                r
            };
            if let Ok(Err(e)) = tokio::time::timeout(timeout, kill).await {
                tracing::debug!(
                    "KILL QUERY {id} failed: {}",
                    map_error(&e, TlsMode::Prefer).kind.message()
                );
            }
        });
    }
}

/// Maps a driver error to the taxonomy (detail not yet scrubbed).
fn map_error(e: &mysql_async::Error, tls: TlsMode) -> ConnError {
    use mysql_async::Error as E;
    match e {
        E::Server(se) => {
            let detail = format!("ERROR {} ({}): {}", se.code, se.state, se.message);
            let msg = se.message.to_ascii_lowercase();
            let kind = match se.code {
                // "(using password: NO)": the connection sent none.
                1045 if msg.contains("using password: no") => ErrorKind::PasswordRequired,
                1045 => ErrorKind::InvalidCredentials,
                1049 => ErrorKind::DatabaseNotFound,
                1044 | 1142 | 1143 | 1227 | 1370 => ErrorKind::PermissionDenied,
                3024 | 1969 => ErrorKind::StatementTimeout,
                1792 => ErrorKind::ReadOnly,
                1290 if msg.contains("read-only") || msg.contains("read only") => {
                    ErrorKind::ReadOnly
                }
                1146 => ErrorKind::NotFound,
                3159 => ErrorKind::TlsRequired,
                1317 => ErrorKind::Cancelled,
                1053 | 1927 => ErrorKind::ConnectionLost,
                _ if msg.contains("max_statement_time exceeded") => ErrorKind::StatementTimeout,
                _ if msg.contains("secure transport") || msg.contains("insecure transport") => {
                    ErrorKind::TlsRequired
                }
                _ => ErrorKind::Other,
            };
            if kind == ErrorKind::InvalidCredentials && tls == TlsMode::Disable {
                // MariaDB refuses a plain login of a `REQUIRE SSL` user with
                // this very error; the protocol gives no way to tell them apart.
                return ConnError::new(
                    kind,
                    format!(
                        "{detail} (TLS is disabled: a user created with REQUIRE SSL is \
                         refused the same way; try TLS require)"
                    ),
                );
            }
            ConnError::new(kind, detail)
        }
        E::Io(IoError::Io(io)) => {
            if let Some(kind) = super::tls::classify_tls(io) {
                return ConnError::new(kind, format!("TLS: {io}"));
            }
            let kind = match classify_io(io) {
                // A NotFound io error here is never a table.
                ErrorKind::NotFound => ErrorKind::Other,
                k => k,
            };
            ConnError::new(kind, io.to_string())
        }
        E::Io(IoError::Tls(t)) => {
            let kind = match t {
                mysql_async::TlsError::Tls(r) => {
                    super::tls::classify_tls(r).unwrap_or(ErrorKind::Other)
                }
                mysql_async::TlsError::Pki(_) => ErrorKind::CertificateNotTrusted,
                mysql_async::TlsError::InvalidDnsName(_) => ErrorKind::Config,
                mysql_async::TlsError::VerifierBuilderError(_) => ErrorKind::Config,
            };
            ConnError::new(kind, format!("TLS: {t}"))
        }
        E::Driver(d) => {
            let kind = match d {
                DriverError::NoClientSslFlagFromServer => ErrorKind::TlsUnavailable,
                DriverError::ConnectionClosed | DriverError::PoolDisconnected => {
                    ErrorKind::ConnectionLost
                }
                _ => ErrorKind::Other,
            };
            ConnError::new(kind, d.to_string())
        }
        E::Url(u) => ConnError::new(ErrorKind::Config, u.to_string()),
        E::Other(o) => {
            let text = o.to_string();
            let lower = text.to_ascii_lowercase();
            let kind = if lower.contains("certificate") {
                ErrorKind::CertificateNotTrusted
            } else {
                ErrorKind::Other
            };
            ConnError::new(kind, text)
        }
    }
}

/// "10.11.6-MariaDB-0+deb12u1" → "MariaDB 10.11.6"; "8.0.36" → "MySQL 8.0.36".
fn display_version(raw: &str) -> String {
    let number = raw.split('-').next().unwrap_or(raw);
    if raw.contains("MariaDB") {
        format!("MariaDB {number}")
    } else {
        format!("MySQL {number}")
    }
}

/// A text-protocol value as text (lossy only for invalid UTF-8).
fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn is_stringish(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_STRING
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_GEOMETRY
    )
}

/// Whether a column carries raw bytes rather than text.
fn is_binary(c: &Column) -> bool {
    let t = c.column_type();
    t == ColumnType::MYSQL_TYPE_GEOMETRY || (is_stringish(t) && c.character_set() == BINARY_CHARSET)
}

/// A type name from result metadata (the protocol carries no declared type,
/// so sizes of TEXT/BLOB variants and lengths are not shown).
fn type_name(c: &Column) -> String {
    use ColumnType::*;
    let flags = c.flags();
    let unsigned = flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = c.character_set() == BINARY_CHARSET;
    let base = match c.column_type() {
        MYSQL_TYPE_TINY => "tinyint",
        MYSQL_TYPE_SHORT => "smallint",
        MYSQL_TYPE_INT24 => "mediumint",
        MYSQL_TYPE_LONG => "int",
        MYSQL_TYPE_LONGLONG => "bigint",
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => "decimal",
        MYSQL_TYPE_FLOAT => "float",
        MYSQL_TYPE_DOUBLE => "double",
        MYSQL_TYPE_NULL => "null",
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => "timestamp",
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => "date",
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => "time",
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => "datetime",
        MYSQL_TYPE_YEAR => "year",
        MYSQL_TYPE_BIT => "bit",
        MYSQL_TYPE_JSON => "json",
        MYSQL_TYPE_ENUM => "enum",
        MYSQL_TYPE_SET => "set",
        MYSQL_TYPE_GEOMETRY => "geometry",
        MYSQL_TYPE_VECTOR => "vector",
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            if binary {
                "blob"
            } else {
                "text"
            }
        }
        MYSQL_TYPE_STRING if flags.contains(ColumnFlags::ENUM_FLAG) => "enum",
        MYSQL_TYPE_STRING if flags.contains(ColumnFlags::SET_FLAG) => "set",
        MYSQL_TYPE_STRING => {
            if binary {
                "binary"
            } else {
                "char"
            }
        }
        MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR => {
            if binary {
                "varbinary"
            } else {
                "varchar"
            }
        }
        _ => "unknown",
    };
    if unsigned {
        format!("{base} unsigned")
    } else {
        base.to_string()
    }
}

fn column_meta(c: &Column) -> ColumnMeta {
    let type_name = type_name(c);
    ColumnMeta {
        name: c.name_str().into_owned(),
        logical: super::Logical::of_sql_type(&type_name, true),
        type_name,
    }
}

/// A text-protocol value as a cell: the server's own text, bytes for binary
/// columns, NULL kept apart, BIT as its number. The value is the row's,
/// given up: its bytes become the cell's text or bytes without a copy.
fn cell_from(v: Option<Value>, c: &Column) -> Cell {
    use ColumnType::*;
    let timestamp = matches!(
        c.column_type(),
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 | MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2
    );
    let bytes = match v {
        None | Some(Value::NULL) => return Cell::Null,
        Some(Value::Bytes(b)) if timestamp => {
            return Cell::timestamp_owned(
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            );
        }
        Some(Value::Bytes(b)) => b,
        // The binary protocol (typed queries) drops a zero time and the
        // fraction's zeros: spelled out as the text protocol does, with the
        // column's declared decimals, so both read the same.
        Some(Value::Date(y, mo, d, h, mi, s, us)) if timestamp => {
            let mut t = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            let decimals = usize::from(c.decimals()).min(6);
            if decimals > 0 {
                t.push('.');
                t.push_str(&format!("{us:06}")[..decimals]);
            }
            return Cell::timestamp_owned(t);
        }
        Some(other) => {
            let text = text_of(Some(&other)).unwrap_or_default();
            return if timestamp {
                Cell::timestamp_owned(text)
            } else {
                Cell::Text(text)
            };
        }
    };
    if c.column_type() == ColumnType::MYSQL_TYPE_BIT {
        if bytes.len() <= 8 {
            let n = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            return match i64::try_from(n) {
                Ok(i) => Cell::Int(i),
                Err(_) => Cell::Text(n.to_string()),
            };
        }
        return Cell::Bytes(bytes);
    }
    if is_binary(c) {
        return Cell::Bytes(bytes);
    }
    match String::from_utf8(bytes) {
        Ok(s) => Cell::Text(s),
        Err(e) => Cell::Bytes(e.into_bytes()),
    }
}

/// The cells of a row, its values moved (not copied) into them.
fn row_cells(row: Row, cols: &[Column]) -> Vec<Cell> {
    cells_from(row.unwrap_raw(), cols)
}

/// One cell per column; a value missing or taken is NULL.
fn cells_from(values: Vec<Option<Value>>, cols: &[Column]) -> Vec<Cell> {
    let mut values = values.into_iter();
    cols.iter()
        .map(|c| cell_from(values.next().flatten(), c))
        .collect()
}

/// `SELECT * FROM t [WHERE (filter)] [LIMIT n]` with the name quoted.
fn select_sql(table: &TableRef, filter: Option<&str>, limit: Option<u64>) -> String {
    let mut sql = format!(
        "SELECT * FROM {}",
        ident::qualified(Dialect::Backtick, table)
    );
    if let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) {
        sql.push_str(" WHERE (");
        sql.push_str(f);
        sql.push(')');
    }
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    sql
}

#[async_trait]
impl Connector for MysqlConnector {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        let start = Instant::now();
        let (mut conn, _) = self.connect().await?;
        let probe = async {
            let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
            let latency = start.elapsed();
            let cipher: Option<(String, String)> = conn
                .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                .await?;
            Ok::<_, mysql_async::Error>((version, latency, cipher))
        };
        let remaining = self.connect_timeout().saturating_sub(start.elapsed());
        let out = match tokio::time::timeout(remaining, probe).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(self.map_err(e)),
            Err(_) => {
                return Err(ConnError::new(
                    ErrorKind::ConnectionTimeout,
                    "the server accepted the login but did not answer a query in time",
                ))
            }
        };
        let _ = conn.disconnect().await;
        let (version, latency, cipher) = out;
        Ok(ServerInfo {
            version: display_version(version.as_deref().unwrap_or("unknown")),
            latency,
            tls: cipher.is_some_and(|(_, c)| !c.is_empty()),
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        // Names and kinds come from the directory alone and stay fast with
        // 10,000 tables; TABLE_ROWS makes the server open every table (6 s
        // for 10,000 MEMORY tables here), so estimates are fetched only for
        // user databases that fit the budget, and stay None (lazy, via
        // describe) for the rest.
        let rows: Vec<Row> = self
            .meta(|c| {
                Box::pin(c.query(
                    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE \
                     FROM information_schema.TABLES ORDER BY TABLE_SCHEMA, TABLE_NAME",
                ))
            })
            .await?;
        let mut tables: Vec<TableRef> = rows
            .iter()
            .filter_map(|r| {
                let schema = text_of(r.as_ref(0))?;
                let name = text_of(r.as_ref(1))?;
                let ttype = text_of(r.as_ref(2)).unwrap_or_default();
                let kind = if ttype.ends_with("VIEW") {
                    TableKind::View
                } else {
                    TableKind::Table
                };
                let system = SYSTEM_SCHEMAS.contains(&schema.to_ascii_lowercase().as_str());
                Some(TableRef {
                    schema: Some(schema),
                    name,
                    kind,
                    estimated_rows: None,
                    system,
                })
            })
            .collect();
        let mut per_schema: std::collections::BTreeMap<&str, usize> = Default::default();
        for t in tables
            .iter()
            .filter(|t| !t.system && t.kind == TableKind::Table)
        {
            *per_schema
                .entry(t.schema.as_deref().unwrap_or(""))
                .or_default() += 1;
        }
        let mut budget = ESTIMATE_BUDGET;
        let mut wanted: Vec<String> = Vec::new();
        for (schema, n) in per_schema {
            if n <= budget {
                budget -= n;
                wanted.push(schema.to_string());
            }
        }
        if wanted.is_empty() {
            return Ok(tables);
        }
        let sql = format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN ({})",
            vec!["?"; wanted.len()].join(", ")
        );
        let estimates: Vec<Row> = self.meta(|c| Box::pin(c.exec(sql, wanted))).await?;
        let mut by_name = std::collections::HashMap::new();
        for r in &estimates {
            if let (Some(s), Some(n), Some(rows)) = (
                text_of(r.as_ref(0)),
                text_of(r.as_ref(1)),
                text_of(r.as_ref(2)).and_then(|t| t.parse::<i64>().ok()),
            ) {
                by_name.insert((s, n), rows);
            }
        }
        for t in tables.iter_mut() {
            if let Some(s) = &t.schema {
                t.estimated_rows = by_name.get(&(s.clone(), t.name.clone())).copied();
            }
        }
        Ok(tables)
    }

    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        let schema = table
            .schema
            .clone()
            .unwrap_or_else(|| self.spec.database.clone());
        let name = table.name.clone();
        let (info, cols, keys): (Option<Row>, Vec<Row>, Vec<Row>) = self
            .meta(|c| {
                Box::pin(async move {
                    let p = (schema.as_str(), name.as_str());
                    let info = c
                        .exec_first(
                            "SELECT TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES \
                             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                            p,
                        )
                        .await?;
                    let cols = c
                        .exec(
                            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, \
                             COLUMN_KEY FROM information_schema.COLUMNS \
                             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                            p,
                        )
                        .await?;
                    let keys = c
                        .exec(
                            "SELECT COLUMN_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_SCHEMA, \
                             REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
                             FROM information_schema.KEY_COLUMN_USAGE \
                             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                             ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
                            p,
                        )
                        .await?;
                    Ok((info, cols, keys))
                })
            })
            .await?;
        let Some(info) = info else {
            return Err(ConnError::new(
                ErrorKind::NotFound,
                format!("{} does not exist", table.display_name()),
            ));
        };
        let is_view = text_of(info.as_ref(0)).is_some_and(|t| t.ends_with("VIEW"));
        let estimated_rows = if is_view {
            None
        } else {
            text_of(info.as_ref(1)).and_then(|t| t.parse::<i64>().ok())
        };
        let has_primary = keys
            .iter()
            .any(|k| text_of(k.as_ref(1)).as_deref() == Some("PRIMARY"));
        let columns = cols
            .iter()
            .map(|r| {
                let name = text_of(r.as_ref(0)).unwrap_or_default();
                let key_cols = keys
                    .iter()
                    .filter(|k| text_of(k.as_ref(0)).as_deref() == Some(name.as_str()));
                let mut primary_key = false;
                let mut references = None;
                for k in key_cols {
                    if text_of(k.as_ref(1)).as_deref() == Some("PRIMARY") {
                        primary_key = true;
                    }
                    if let (Some(s), Some(t), Some(c)) = (
                        text_of(k.as_ref(2)),
                        text_of(k.as_ref(3)),
                        text_of(k.as_ref(4)),
                    ) {
                        references.get_or_insert(format!("{s}.{t}({c})"));
                    }
                }
                // Without a PRIMARY constraint MySQL may still mark a unique
                // NOT NULL key as PRI; only trust it when no PRIMARY exists.
                if !has_primary && text_of(r.as_ref(4)).as_deref() == Some("PRI") {
                    primary_key = true;
                }
                // MariaDB reports "NULL" (text) for a NULL default.
                let default = text_of(r.as_ref(3)).filter(|d| d != "NULL");
                ColumnInfo {
                    name,
                    data_type: text_of(r.as_ref(1)).unwrap_or_default(),
                    nullable: text_of(r.as_ref(2)).as_deref() == Some("YES"),
                    default,
                    primary_key,
                    references,
                    presence: None,
                }
            })
            .collect();
        let mut t = table.clone();
        t.estimated_rows = estimated_rows;
        Ok(TableInfo {
            table: t,
            columns,
            estimated_rows,
            sampled: None,
            indexes: Vec::new(),
            validator: None,
        })
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {}",
            ident::qualified(Dialect::Backtick, table)
        );
        let mut slot = self.session.lock().await;
        let mut s = self.take_session(&mut slot).await?;
        let kill = KillOnDrop::arm(&s, self.connect_timeout());
        let r: Result<Option<u64>, _> = s.conn.query_first(sql).await;
        kill.disarm();
        let n = self.settle(&mut slot, s, r.map_err(Fail::Db))?;
        Ok(n.unwrap_or(0))
    }

    async fn login_writes(&self) -> Result<super::query::LoginWrites, ConnError> {
        let mut slot = self.session.lock().await;
        let mut s = self.take_session(&mut slot).await?;
        let r: Result<Vec<String>, _> = s.conn.query("SHOW GRANTS").await;
        let grants = self.settle(&mut slot, s, r.map_err(Fail::Db))?;
        Ok(match super::query::mysql_write_grant(&grants) {
            Some(why) => super::query::LoginWrites::CanWrite { why },
            None => super::query::LoginWrites::ReadOnly,
        })
    }

    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        let sql = select_sql(table, None, Some(limit as u64));
        let start = Instant::now();
        let mut slot = self.session.lock().await;
        let mut s = self.take_session(&mut slot).await?;
        let kill = KillOnDrop::arm(&s, self.connect_timeout());
        let r = async {
            let mut result = s.conn.query_iter(sql).await?;
            let cols = result.columns().unwrap_or_else(|| Vec::new().into());
            let mut rows = Vec::new();
            while let Some(row) = result.next().await? {
                rows.push(row_cells(row, &cols));
            }
            Ok::<_, mysql_async::Error>(RowSet {
                columns: cols.iter().map(column_meta).collect(),
                rows,
                elapsed: Duration::ZERO,
                documents: Vec::new(),
            })
        }
        .await;
        kill.disarm();
        let mut set = self.settle(&mut slot, s, r.map_err(Fail::Db))?;
        set.elapsed = start.elapsed();
        Ok(set)
    }

    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        let filter = opts.checked_filter(self.opts.read_only)?;
        let sql = select_sql(table, filter, opts.limit);
        // A session of its own without the statement timeout: an import is
        // long by nature, shows progress and is cancelled by dropping it
        // (KILL QUERY below); it must not hold or time out the browser's session.
        let mut own: Option<Session> = None;
        let slot = &mut own;
        let mut s = self.open_session_with(Duration::ZERO).await?;
        if filter.is_some() {
            // The client always allows multi-statements; preparing the text
            // first proves the filter is one SELECT and nothing after it.
            let checked = async {
                let stmt = s.conn.prep(sql.as_str()).await?;
                s.conn.close(stmt).await
            }
            .await;
            if let Err(e) = checked {
                let mut err = self.settle(slot, s, Err::<(), _>(Fail::Db(e)));
                if let Err(ref mut ce) = err {
                    ce.detail = format!("filter: {}", ce.detail);
                }
                return err.map(|_| 0);
            }
        }
        let kill = KillOnDrop::arm(&s, self.connect_timeout());
        let r = async {
            let mut result = s.conn.query_iter(sql).await?;
            let cols = result.columns().unwrap_or_else(|| Vec::new().into());
            let metas: Vec<ColumnMeta> = cols.iter().map(column_meta).collect();
            sink.columns(&metas).map_err(Fail::Sink)?;
            let mut n = 0u64;
            // Row by row off the socket: memory stays flat however big the table.
            while let Some(row) = result.next().await? {
                sink.row(row_cells(row, &cols)).map_err(Fail::Sink)?;
                n += 1;
            }
            Ok::<_, Fail>(n)
        }
        .await;
        if !matches!(r, Err(Fail::Sink(_))) {
            kill.disarm();
        }
        let result = self.settle(slot, s, r);
        if let Some(done) = own.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), done.conn.disconnect()).await;
        }
        result
    }

    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        // The client allows multi-statements and the server answers a second
        // one with a bare syntax error: refuse it here, in words.
        let sql = single_statement(sql)?.to_string();
        let (mut conn, opts) = self.connect().await?;
        // Read-only twice over: the session default (so even a statement
        // that ends the transaction leaves the next one read-only) and the
        // transaction itself, which is never committed. net_write_timeout:
        // a person may read one page for minutes while the server waits to
        // send the next. Numbers only in this text.
        let setup = conn
            .query_drop(
                "SET SESSION TRANSACTION READ ONLY; SET SESSION net_write_timeout = 3600; \
                 START TRANSACTION READ ONLY",
            )
            .await;
        if let Err(e) = setup {
            return Err(self.map_err(e));
        }
        let guard = KillOnDrop {
            target: Some((opts, conn.id())),
            timeout: self.connect_timeout(),
        };
        let (cols_tx, cols_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        let (tls, password) = (self.spec.tls, self.password.clone());
        let map = move |e: mysql_async::Error| {
            map_error(&e, tls).scrub(password.as_ref().map(|p| p.expose_secret()))
        };
        let producer = tokio::spawn(async move {
            let mut cols_tx = Some(cols_tx);
            let run = async {
                // One prepared statement: the server refuses a second one.
                let stmt = conn.prep(sql.as_str()).await?;
                let mut result = conn.exec_iter(&stmt, ()).await?;
                let cols = result.columns().unwrap_or_else(|| Vec::new().into());
                let metas = cols.iter().map(column_meta).collect();
                if let Some(c) = cols_tx.take() {
                    if c.send(Ok(metas)).is_err() {
                        return Ok(());
                    }
                }
                // Row by row off the socket; a full channel stops the reading.
                while let Some(row) = result.next().await? {
                    if tx.send(Ok(row_cells(row, &cols))).await.is_err() {
                        return Ok(());
                    }
                }
                Ok::<_, mysql_async::Error>(())
            }
            .await;
            if let Err(e) = run {
                // Before the columns, the error goes there; after, as a row.
                match cols_tx.take() {
                    Some(c) => {
                        let _ = c.send(Err(map(e)));
                    }
                    None => {
                        let _ = tx.send(Err(map(e))).await;
                    }
                }
            }
            drop(tx);
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                let _ = conn.query_drop("ROLLBACK").await;
                let _ = conn.disconnect().await;
            })
            .await;
        });
        // Dropping the cursor (or a timed-out page) kills the query on the
        // server, then stops the reader.
        struct Stop(Option<KillOnDrop>, tokio::task::AbortHandle);
        impl Drop for Stop {
            fn drop(&mut self) {
                if let Some(k) = self.0.take() {
                    if self.1.is_finished() {
                        k.disarm();
                    }
                }
                self.1.abort();
            }
        }
        let stop = Stop(Some(guard), producer.abort_handle());
        let cursor =
            ChannelCursor::start(cols_rx, rx, Box::new(stop), self.opts.statement_timeout).await?;
        Ok(Box::new(cursor))
    }

    async fn reset(&self) {
        let old = self.session.lock().await.take();
        if let Some(s) = old {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.conn.disconnect()).await;
        }
    }

    fn capabilities(&self) -> Capabilities {
        ENGINE.capabilities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`cell_from`] of a borrowed value (the tests keep theirs).
    fn cell_of(v: Option<&Value>, c: &Column) -> Cell {
        cell_from(v.cloned(), c)
    }

    #[test]
    fn through_a_tunnel_the_certificate_is_checked_for_the_database_name() {
        let mut spec = ConnSpec::new(Kind::Mysql);
        spec.host = "127.0.0.1".into();
        spec.tls = TlsMode::VerifyFull;
        let c = MysqlConnector::new(spec.clone(), None, SessionOptions::default());
        let ssl = c.ssl_opts().unwrap().unwrap();
        assert_eq!(ssl.tls_hostname_override(), None);
        spec.options.insert(
            crate::connectors::spec::TLS_SERVER_NAME.into(),
            "db.internal".into(),
        );
        let c = MysqlConnector::new(spec, None, SessionOptions::default());
        let ssl = c.ssl_opts().unwrap().unwrap();
        assert_eq!(ssl.tls_hostname_override(), Some("db.internal"));
    }

    #[test]
    fn versions_read_well() {
        assert_eq!(
            display_version("10.11.6-MariaDB-0+deb12u1"),
            "MariaDB 10.11.6"
        );
        assert_eq!(display_version("8.0.36"), "MySQL 8.0.36");
        assert_eq!(display_version("8.0.36-0ubuntu0.22.04.1"), "MySQL 8.0.36");
    }

    fn server(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn server_codes_map_to_kinds() {
        let k = |code, msg| map_error(&server(code, msg), TlsMode::Prefer).kind;
        assert_eq!(k(1045, "Access denied"), ErrorKind::InvalidCredentials);
        assert_eq!(k(1049, "Unknown database 'x'"), ErrorKind::DatabaseNotFound);
        assert_eq!(k(1044, "Access denied to db"), ErrorKind::PermissionDenied);
        assert_eq!(
            k(1142, "SELECT command denied"),
            ErrorKind::PermissionDenied
        );
        assert_eq!(k(1969, "interrupted"), ErrorKind::StatementTimeout);
        assert_eq!(k(3024, "exceeded"), ErrorKind::StatementTimeout);
        assert_eq!(k(1792, "READ ONLY transaction"), ErrorKind::ReadOnly);
        assert_eq!(k(1146, "doesn't exist"), ErrorKind::NotFound);
        assert_eq!(k(3159, "insecure transport"), ErrorKind::TlsRequired);
        assert_eq!(k(1234, "whatever"), ErrorKind::Other);
    }

    #[test]
    fn plain_access_denied_mentions_require_ssl() {
        let e = map_error(&server(1045, "Access denied"), TlsMode::Disable);
        assert_eq!(e.kind, ErrorKind::InvalidCredentials);
        assert!(e.detail.contains("REQUIRE SSL"), "{}", e.detail);
    }

    #[test]
    fn select_quotes_hostile_names() {
        let t = TableRef {
            schema: Some("db`x".into()),
            name: "semi;colon".into(),
            kind: TableKind::Table,
            estimated_rows: None,
            system: false,
        };
        assert_eq!(
            select_sql(&t, None, Some(10)),
            "SELECT * FROM `db``x`.`semi;colon` LIMIT 10"
        );
        assert_eq!(
            select_sql(&t, Some(" a = 1 "), None),
            "SELECT * FROM `db``x`.`semi;colon` WHERE (a = 1)"
        );
    }

    #[test]
    fn bit_and_binary_cells() {
        let bit = Column::new(ColumnType::MYSQL_TYPE_BIT).with_character_set(BINARY_CHARSET);
        assert_eq!(
            cell_of(Some(&Value::Bytes(vec![0x01, 0x02])), &bit),
            Cell::Int(258)
        );
        let blob = Column::new(ColumnType::MYSQL_TYPE_BLOB).with_character_set(BINARY_CHARSET);
        assert_eq!(
            cell_of(Some(&Value::Bytes(vec![0, 255])), &blob),
            Cell::Bytes(vec![0, 255])
        );
        let text = Column::new(ColumnType::MYSQL_TYPE_BLOB).with_character_set(45);
        assert_eq!(
            cell_of(Some(&Value::Bytes("ü".as_bytes().to_vec())), &text),
            Cell::Text("ü".into())
        );
        // Numbers are binary-charset too, but arrive as the server's text.
        let dec = Column::new(ColumnType::MYSQL_TYPE_NEWDECIMAL).with_character_set(BINARY_CHARSET);
        assert_eq!(
            cell_of(
                Some(&Value::Bytes(b"12345678901234567890.0123456789".to_vec())),
                &dec
            ),
            Cell::Text("12345678901234567890.0123456789".into())
        );
        assert_eq!(cell_of(Some(&Value::NULL), &text), Cell::Null);
        // Timestamps in the one form, from the text and the binary protocol;
        // MariaDB's zero date keeps the same shape as the others.
        let dt = Column::new(ColumnType::MYSQL_TYPE_DATETIME).with_character_set(BINARY_CHARSET);
        assert_eq!(
            cell_of(Some(&Value::Bytes(b"2024-01-02 03:04:05".to_vec())), &dt),
            Cell::Text("2024-01-02T03:04:05".into())
        );
        assert_eq!(
            cell_of(Some(&Value::Bytes(b"0000-00-00 00:00:00".to_vec())), &dt),
            Cell::Text("0000-00-00T00:00:00".into())
        );
        let dt6 = dt.clone().with_decimals(6);
        assert_eq!(
            cell_of(Some(&Value::Date(2024, 1, 2, 3, 4, 5, 500_000)), &dt6),
            Cell::Text("2024-01-02T03:04:05.500000".into())
        );
        // A zero time and a zero date keep the text protocol's shape.
        assert_eq!(
            cell_of(Some(&Value::Date(1000, 1, 1, 0, 0, 0, 0)), &dt6),
            Cell::Text("1000-01-01T00:00:00.000000".into())
        );
        assert_eq!(
            cell_of(Some(&Value::Date(0, 0, 0, 0, 0, 0, 0)), &dt),
            Cell::Text("0000-00-00T00:00:00".into())
        );
    }
    /// A streamed row's values are moved into its cells: the same cells as
    /// converting each value on its own (and a missing value is NULL).
    #[test]
    fn row_cells_move_the_values_into_the_same_cells() {
        let text = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING).with_character_set(45);
        let dt = Column::new(ColumnType::MYSQL_TYPE_DATETIME).with_character_set(BINARY_CHARSET);
        let blob = Column::new(ColumnType::MYSQL_TYPE_BLOB).with_character_set(BINARY_CHARSET);
        let bit = Column::new(ColumnType::MYSQL_TYPE_BIT).with_character_set(BINARY_CHARSET);
        let cols = vec![
            text.clone(),
            dt.clone(),
            dt.clone(),
            blob,
            bit,
            text.clone(),
            text,
        ];
        let values = vec![
            Value::Bytes(b"note, \"quoted\" 1".to_vec()),
            Value::Bytes(b"2024-01-02 03:04:05".to_vec()),
            // Not UTF-8: replaced as the borrowed conversion does.
            Value::Bytes(b"2024-01-02 03:04:0\xff".to_vec()),
            Value::Bytes(vec![0, 255]),
            Value::Bytes(vec![0x01, 0x02]),
            Value::NULL,
            Value::Bytes(vec![b'a', 0xff]),
        ];
        let one_by_one: Vec<Cell> = values
            .iter()
            .zip(&cols)
            .map(|(v, c)| cell_of(Some(v), c))
            .collect();
        assert_eq!(
            cells_from(values.into_iter().map(Some).collect(), &cols),
            one_by_one
        );
        assert_eq!(one_by_one[1], Cell::Text("2024-01-02T03:04:05".into()));
        assert_eq!(
            one_by_one[2],
            Cell::Text("2024-01-02 03:04:0\u{fffd}".into())
        );
        // Fewer values than columns: the rest are NULL.
        assert_eq!(
            cells_from(vec![Some(Value::Bytes(b"x".to_vec())), None], &cols[..3]),
            vec![Cell::Text("x".into()), Cell::Null, Cell::Null]
        );
    }
}
