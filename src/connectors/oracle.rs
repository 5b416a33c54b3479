//! Oracle through Oracle's own pure-Rust thin client (`oracledb`): no Oracle
//! Instant Client, no ODPI-C. The ODPI-C driver (`oracle` crate, needs
//! Instant Client) is the optional "thick" driver behind the `oracle-thick`
//! cargo feature, chosen per connection with `options["driver"] = "thick"`.
//!
//! Both drivers are blocking: every call runs on tokio's blocking pool with
//! the session moved into it and back. A browsing session is opened lazily
//! and reused; each call starts with `ROLLBACK` + `SET TRANSACTION READ ONLY`
//! (unless the session is explicitly not read-only), so user filters only
//! ever run in a read-only transaction. The statement timeout is the
//! driver's call timeout (per round trip).

mod parse;
#[cfg(feature = "oracle-thick")]
mod thick;
mod thin;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::engine::{Capabilities, Engine, RowLimit, TunnelEnd, SQL_CAPABILITIES};
use super::ident::{self, Dialect};
use super::query::{single_statement, ChannelCursor, QueryCursor, READ_AHEAD};
use super::statement;
use super::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, Logical, RowSet,
    RowSink, ServerInfo, SessionOptions, StreamOptions, TableInfo, TableKind, TableRef,
};
use super::{Field, Kind};

pub use parse::claims as claims_connect_string;
pub use parse::{ADDRESSES, CONNECT_BY, DRIVER};

pub const ENGINE: Engine = Engine {
    kind: Kind::Oracle,
    id: "oracle",
    display_name: "Oracle",
    default_port: Some(1521),
    fields: &[
        Field::Host,
        Field::Port,
        Field::ServiceName,
        Field::ConnectBy,
        Field::User,
        Field::Password,
        Field::TlsMode,
        Field::CaFile,
        Field::Driver,
        Field::SshVia,
    ],
    url_schemes: &["oracle"],
    parse_url: parse::parse,
    has_password: true,
    file_based: false,
    user_required: true,
    dialect: Some(Dialect::Ansi),
    row_limit: RowLimit::FetchFirst,
    capabilities: Capabilities {
        read_only: "SET TRANSACTION READ ONLY",
        ..SQL_CAPABILITIES
    },
    tunnel: TunnelEnd::Loopback,
    concurrent: false,
    open: Ok(|spec, password, opts| Box::new(OracleConnector::new(spec.clone(), password, opts))),
};

/// Schemas Oracle maintains itself when the server cannot say
/// (`ALL_USERS.ORACLE_MAINTAINED` is 12c+).
const SYSTEM_SCHEMAS: &[&str] = &[
    "SYS",
    "SYSTEM",
    "XDB",
    "MDSYS",
    "CTXSYS",
    "ORDSYS",
    "ORDDATA",
    "OLAPSYS",
    "WMSYS",
    "LBACSYS",
    "DVSYS",
    "GSMADMIN_INTERNAL",
    "APPQOSSYS",
    "DBSNMP",
    "OUTLN",
    "AUDSYS",
    "OJVMSYS",
    "DBSFWUSER",
];

/// Text cells (CLOB, long strings) are cut to this many characters in a preview.
pub const PREVIEW_TEXT_MAX: usize = 2000;

/// Rows handed from the blocking fetch to the async sink at a time.
const STREAM_BUFFER: usize = 256;

// ---------------------------------------------------------------------------
// What a driver said, independent of the driver (so both drivers share one
// classification and tests can construct every case).

/// A driver failure, reduced to what classification needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A server error `ORA-nnnnn: message`.
    Ora {
        code: usize,
        message: String,
    },
    /// The listener answered REFUSE with a TNS error number (12514 for an
    /// unknown service, 12505 for an unknown SID, 12541, 12520…).
    Refused {
        code: usize,
        host: String,
        port: u16,
    },
    /// A socket error, as text (the driver does not keep the io kind).
    Io(String),
    /// The TLS layer failed.
    Tls(String),
    /// The peer closed the connection.
    Dead(String),
    /// The call timeout passed.
    CallTimeout,
    /// The connect string could not be used.
    BadConnectString(String),
    /// An ODPI-C error (thick driver): `DPI-1047` and friends.
    Dpi {
        code: String,
        message: String,
    },
    Other(String),
}

/// Where a failure happened: connecting or running a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Query,
}

/// The message for a thick connection without Instant Client, in words.
pub const DPI_1047_WORDS: &str =
    "Oracle client library not found (DPI-1047): install Oracle Instant Client, or use the thin driver";

/// Maps a failure to the taxonomy. `spec` names what was tried (service or
/// SID, host and port); no password ever reaches this text.
pub fn classify(f: &Failure, phase: Phase, spec: &ConnSpec) -> ConnError {
    let by_sid = spec.options.get(CONNECT_BY).is_some_and(|v| v == "sid");
    let what = if by_sid { "SID" } else { "service" };
    let target = format!("{}:{}", spec.host, spec.effective_port());
    match f {
        Failure::Ora { code, message } => {
            let detail = format!("ORA-{code:05}: {}", first_line(message));
            let kind = match code {
                1017 | 1005 | 1004 => ErrorKind::InvalidCredentials,
                28000 => ErrorKind::AccountLocked,
                28001 => ErrorKind::PasswordExpired,
                12514 | 12505 => {
                    return ConnError::new(
                        ErrorKind::DatabaseNotFound,
                        format!(
                            "{what} '{}' is not known to the listener at {target} ({detail})",
                            spec.database
                        ),
                    )
                }
                12541 => {
                    return ConnError::new(
                        ErrorKind::ConnectionRefused,
                        format!("no listener at {target} ({detail})"),
                    )
                }
                12545 => ErrorKind::UnknownHost,
                12170 => ErrorKind::ConnectionTimeout,
                1031 | 1045 | 1039 | 1749 => ErrorKind::PermissionDenied,
                942 | 4043 => ErrorKind::NotFound,
                // 14551/14552: DML or a commit inside a query (a function that writes).
                1456 | 16000 | 14551 | 14552 => ErrorKind::ReadOnly,
                1013 => {
                    if phase == Phase::Query {
                        ErrorKind::StatementTimeout
                    } else {
                        ErrorKind::Cancelled
                    }
                }
                3113 | 3114 | 3135 | 28 | 1012 | 1092 | 1089 | 1033 | 1034 => {
                    ErrorKind::ConnectionLost
                }
                28040 => ErrorKind::Other,
                29024 | 29039 | 28759 | 28860 | 28862 => ErrorKind::CertificateNotTrusted,
                _ => ErrorKind::Other,
            };
            ConnError::new(kind, detail)
        }
        Failure::Refused { code, host, port } => match code {
            12514 | 12505 => ConnError::new(
                ErrorKind::DatabaseNotFound,
                format!(
                    "{what} '{}' is not registered with the listener at {host}:{port} (ORA-{code})",
                    spec.database
                ),
            ),
            12541 => ConnError::new(
                ErrorKind::ConnectionRefused,
                format!("no listener at {host}:{port} (ORA-12541)"),
            ),
            12519 | 12520 | 12516 | 12518 => ConnError::new(
                ErrorKind::ConnectionRefused,
                format!(
                    "the listener at {host}:{port} has no free handler for the {what} (TNS-{code})"
                ),
            ),
            _ => ConnError::new(
                ErrorKind::ConnectionRefused,
                format!("the listener at {host}:{port} refused the connection (TNS-{code})"),
            ),
        },
        Failure::Io(text) => {
            let lower = text.to_ascii_lowercase();
            let kind = if lower.contains("refused") {
                ErrorKind::ConnectionRefused
            } else if lower.contains("lookup address")
                || lower.contains("name or service not known")
                || lower.contains("no such host")
                || lower.contains("temporary failure in name resolution")
                || lower.contains("no address associated")
            {
                ErrorKind::UnknownHost
            } else if lower.contains("timed out") {
                ErrorKind::ConnectionTimeout
            } else if lower.contains("certificate") {
                ErrorKind::CertificateNotTrusted
            } else if lower.contains("reset")
                || lower.contains("broken pipe")
                || lower.contains("eof")
                || lower.contains("aborted")
            {
                ErrorKind::ConnectionLost
            } else {
                ErrorKind::Other
            };
            let detail = match kind {
                ErrorKind::ConnectionRefused => format!("nothing listens on {target} ({text})"),
                ErrorKind::UnknownHost => format!("'{}' does not resolve ({text})", spec.host),
                _ => text.clone(),
            };
            ConnError::new(kind, detail)
        }
        Failure::Tls(text) => {
            let lower = text.to_ascii_lowercase();
            let kind = if lower.contains("certificate")
                || lower.contains("unknownissuer")
                || lower.contains("notvalidforname")
                || lower.contains("expired")
            {
                ErrorKind::CertificateNotTrusted
            } else if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
                // A plain TCP listener answering a TLS hello.
                ErrorKind::TlsUnavailable
            } else {
                ErrorKind::Other
            };
            ConnError::new(kind, format!("TLS: {text}"))
        }
        Failure::Dead(text) => ConnError::new(
            ErrorKind::ConnectionLost,
            if phase == Phase::Connect {
                format!(
                    "{text} (while connecting to {target}: is this an Oracle listener? \
                     with TCPS, is it a TCPS port?)"
                )
            } else {
                text.clone()
            },
        ),
        Failure::CallTimeout => match phase {
            Phase::Connect => ConnError::new(
                ErrorKind::ConnectionTimeout,
                format!(
                    "no answer from {target} within {} s",
                    spec.connect_timeout().as_secs()
                ),
            ),
            Phase::Query => ConnError::new(
                ErrorKind::StatementTimeout,
                "the server did not answer within the statement timeout",
            ),
        },
        Failure::BadConnectString(text) => ConnError::new(ErrorKind::Config, text.clone()),
        Failure::Dpi { code, message } => {
            if code == "DPI-1047" {
                ConnError::new(ErrorKind::DriverUnavailable, DPI_1047_WORDS)
            } else {
                ConnError::new(ErrorKind::Other, format!("{code}: {}", first_line(message)))
            }
        }
        Failure::Other(text) => ConnError::new(ErrorKind::Other, text.clone()),
    }
}

/// Finds `ORA-nnnnn` / `DPI-nnnn` in a driver's text (the thick driver's errors
/// and the thin driver's fallbacks).
pub fn failure_from_text(text: &str) -> Failure {
    if let Some(pos) = text.find("DPI-") {
        let code: String = text[pos..]
            .chars()
            .take_while(|c| *c != ':' && !c.is_whitespace())
            .collect();
        return Failure::Dpi {
            code,
            message: text.to_string(),
        };
    }
    if let Some(pos) = text.find("ORA-") {
        let digits: String = text[pos + 4..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(code) = digits.parse() {
            let message = text[pos + 4 + digits.len()..]
                .trim_start_matches(':')
                .trim()
                .to_string();
            return Failure::Ora { code, message };
        }
    }
    Failure::Other(text.to_string())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

// ---------------------------------------------------------------------------
// SQL and types

/// `SELECT * FROM "S"."T" [WHERE (filter)]` with the row limit of the
/// server's generation: `FETCH FIRST n ROWS ONLY` (12c+) or a `ROWNUM`
/// wrapper (older servers).
pub fn select_sql(
    table: &TableRef,
    filter: Option<&str>,
    limit: Option<u64>,
    major: u32,
) -> String {
    let mut sql = format!("SELECT * FROM {}", ident::qualified(Dialect::Ansi, table));
    if let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) {
        sql.push_str(" WHERE (");
        sql.push_str(f);
        sql.push(')');
    }
    match limit {
        Some(n) if major >= 12 => format!("{sql} FETCH FIRST {n} ROWS ONLY"),
        Some(n) => format!("SELECT * FROM ({sql}) WHERE ROWNUM <= {n}"),
        None => sql,
    }
}

/// `SELECT COUNT(*) FROM "S"."T"`.
pub fn count_sql(table: &TableRef) -> String {
    format!(
        "SELECT COUNT(*) FROM {}",
        ident::qualified(Dialect::Ansi, table)
    )
}

/// A column type as Oracle prints it, from `ALL_TAB_COLUMNS`.
pub fn type_spelling(
    data_type: &str,
    precision: Option<i64>,
    scale: Option<i64>,
    data_length: Option<i64>,
    char_length: Option<i64>,
    char_used: Option<&str>,
) -> String {
    let t = data_type.trim();
    match t {
        "NUMBER" => match (precision, scale) {
            (None, None) => "NUMBER".into(),
            (None, Some(0)) => "NUMBER(*,0)".into(),
            (None, Some(s)) => format!("NUMBER(*,{s})"),
            (Some(p), None | Some(0)) => format!("NUMBER({p})"),
            (Some(p), Some(s)) => format!("NUMBER({p},{s})"),
        },
        "FLOAT" => match precision {
            Some(p) => format!("FLOAT({p})"),
            None => "FLOAT".into(),
        },
        "VARCHAR2" | "CHAR" | "VARCHAR" => {
            let unit = match char_used {
                Some("C") => "CHAR",
                _ => "BYTE",
            };
            let n = if unit == "CHAR" {
                char_length
            } else {
                data_length
            };
            match n {
                Some(n) => format!("{t}({n} {unit})"),
                None => t.into(),
            }
        }
        "NVARCHAR2" | "NCHAR" => match char_length {
            Some(n) => format!("{t}({n})"),
            None => t.into(),
        },
        "RAW" => match data_length {
            Some(n) => format!("RAW({n})"),
            None => t.into(),
        },
        // TIMESTAMP(6) WITH TIME ZONE, INTERVAL DAY(2) TO SECOND(6), DATE,
        // CLOB… are already spelled out by the dictionary.
        _ => t.into(),
    }
}

/// What an Oracle type holds.
pub fn logical_of(type_name: &str) -> Logical {
    let t = type_name.trim().to_ascii_uppercase();
    let head: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match head.as_str() {
        "NUMBER" => {
            // NUMBER(p) / NUMBER(p,0) with p <= 18 fits an i64.
            let inner = t
                .split_once('(')
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(i, _)| i)
                .unwrap_or("");
            let mut parts = inner.split(',').map(str::trim);
            let p = parts.next().and_then(|p| p.parse::<u32>().ok());
            let s = parts.next().map(|s| s.parse::<i32>().ok());
            match (p, s) {
                (Some(p), None | Some(Some(0))) if p <= 18 => Logical::Integer,
                _ => Logical::Numeric,
            }
        }
        "FLOAT" | "INTEGER" | "DECIMAL" => Logical::Numeric,
        "BINARY_FLOAT" | "BINARY_DOUBLE" => Logical::Real,
        "DATE" | "TIMESTAMP" => Logical::Timestamp,
        "BLOB" | "RAW" | "BFILE" => Logical::Bytes,
        "LONG" if t.starts_with("LONG RAW") => Logical::Bytes,
        "BOOLEAN" => Logical::Bool,
        "JSON" => Logical::Json,
        _ => Logical::Text,
    }
}

/// A NUMBER's exact text as a cell: an integer when it fits an i64, a float
/// when an f64 holds it exactly, and the text itself otherwise (never rounded).
pub fn number_cell(text: &str) -> Cell {
    let t = text.trim();
    if !t.contains(['.', 'e', 'E']) {
        if let Ok(i) = t.parse::<i64>() {
            return Cell::Int(i);
        }
        return Cell::Text(t.to_string());
    }
    if let Ok(f) = t.parse::<f64>() {
        if f.is_finite() && same_decimal(&format!("{f}"), t) {
            return Cell::Float(f);
        }
    }
    Cell::Text(t.to_string())
}

/// Whether two decimal texts are the same number written the same way once
/// leading "0" / trailing zeros are normalised ("0.5" vs ".5").
fn same_decimal(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        format!(
            "{}{}.{}",
            if neg { "-" } else { "" },
            if int.is_empty() { "0" } else { int },
            frac
        )
    }
    !a.contains(['e', 'E']) && !b.contains(['e', 'E']) && norm(a) == norm(b)
}

/// Cuts long text for a preview, saying how long it was.
pub fn cut_for_preview(cell: Cell) -> Cell {
    match cell {
        Cell::Text(t) if t.chars().count() > PREVIEW_TEXT_MAX => {
            let n = t.chars().count();
            let mut s: String = t.chars().take(PREVIEW_TEXT_MAX).collect();
            s.push_str(&format!("… ({n} characters)"));
            Cell::Text(s)
        }
        other => other,
    }
}

/// "Oracle Database 23ai Free Release 23.0.0.0.0 - …" → its first line.
fn display_banner(banner: &str) -> String {
    first_line(banner).to_string()
}

// ---------------------------------------------------------------------------
// The driver seam: what both drivers do, on the blocking pool.

/// Why a call on a session failed: the driver, or the row sink / consumer.
pub enum Fail {
    Db(Failure),
    Stop(ConnError),
}

impl From<Failure> for Fail {
    fn from(f: Failure) -> Self {
        Fail::Db(f)
    }
}

/// One open Oracle session of either driver. All methods block.
pub trait OraSession: Send {
    /// Runs a statement without results.
    fn execute(&mut self, sql: &str) -> Result<(), Failure>;
    /// Ends any transaction.
    fn rollback(&mut self) -> Result<(), Failure>;
    /// Runs a query with string binds; `columns` then `row` per row, until
    /// either returns an error.
    fn query(
        &mut self,
        sql: &str,
        binds: &[&str],
        columns: &mut dyn FnMut(&[ColumnMeta]) -> Result<(), ConnError>,
        row: &mut dyn FnMut(Vec<Cell>) -> Result<(), ConnError>,
    ) -> Result<(), Fail>;
    /// The server's major version (for FETCH FIRST vs ROWNUM).
    fn major_version(&self) -> u32;
    /// The server's version as numbers.
    fn version_text(&self) -> String;
    /// The per-round-trip timeout (`None`: unlimited).
    fn set_call_timeout(&mut self, t: Option<Duration>) -> Result<(), Failure>;
}

/// Runs a query and collects its rows.
fn collect(
    s: &mut dyn OraSession,
    sql: &str,
    binds: &[&str],
) -> Result<(Vec<ColumnMeta>, Vec<Vec<Cell>>), Fail> {
    let mut cols = Vec::new();
    let mut rows = Vec::new();
    s.query(
        sql,
        binds,
        &mut |c| {
            cols = c.to_vec();
            Ok(())
        },
        &mut |r| {
            rows.push(r);
            Ok(())
        },
    )?;
    Ok((cols, rows))
}

fn text(c: Option<&Cell>) -> Option<String> {
    match c? {
        Cell::Null => None,
        Cell::Text(t) => Some(t.clone()),
        other => Some(other.display()),
    }
}

fn int(c: Option<&Cell>) -> Option<i64> {
    match c? {
        Cell::Int(i) => Some(*i),
        Cell::Float(f) => Some(*f as i64),
        Cell::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The connector

pub struct OracleConnector {
    spec: ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
    session: Mutex<Option<Box<dyn OraSession>>>,
}

impl OracleConnector {
    pub fn new(spec: ConnSpec, password: Option<SecretString>, opts: SessionOptions) -> Self {
        OracleConnector {
            spec,
            password,
            opts,
            session: Mutex::new(None),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }

    fn err(&self, f: &Failure, phase: Phase) -> ConnError {
        classify(f, phase, &self.spec).scrub(self.secret())
    }

    fn fail(&self, f: Fail) -> ConnError {
        match f {
            Fail::Db(f) => self.err(&f, Phase::Query),
            Fail::Stop(e) => e.scrub(self.secret()),
        }
    }

    /// Opens a session on the blocking pool within the connect timeout. A
    /// listener that accepts and never answers leaves the driver's thread
    /// waiting until the peer closes; the caller gets its answer on time.
    async fn connect(&self) -> Result<Box<dyn OraSession>, ConnError> {
        let timeout = self.spec.connect_timeout();
        let spec = self.spec.clone();
        let password = self.password.clone();
        let thick = spec.options.get(DRIVER).is_some_and(|d| d == "thick");
        // A thread of its own, not the blocking pool: a listener that never
        // answers keeps it waiting (the driver has no read timeout during
        // the TNS handshake), and a runtime waits for its blocking pool at
        // shutdown. A detached thread lets the app (and tests) exit.
        super::tls::install_default_provider();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("oracle-connect".into())
            .spawn(move || {
                let pw = password.as_ref().map(|p| p.expose_secret()).unwrap_or("");
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if thick {
                        open_thick(&spec, pw)
                    } else {
                        thin::open(&spec, pw).map(|s| Box::new(s) as Box<dyn OraSession>)
                    }
                }))
                .unwrap_or_else(|p| {
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    Err(Failure::Other(format!("the Oracle driver failed: {why}")))
                });
                // The receiver is gone after a timeout: the session is dropped.
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            return Err(ConnError::new(
                ErrorKind::Other,
                format!("cannot start a thread: {e}"),
            ));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(s))) => Ok(s),
            Ok(Ok(Err(f))) => Err(self.err(&f, Phase::Connect)),
            Ok(Err(_)) => Err(ConnError::new(
                ErrorKind::Other,
                "the Oracle driver stopped",
            )),
            Err(_) => Err(ConnError::new(
                ErrorKind::ConnectionTimeout,
                format!(
                    "no answer from {}:{} within {} s",
                    self.spec.host,
                    self.spec.effective_port(),
                    timeout.as_secs()
                ),
            )),
        }
    }

    /// Runs `f` on the pooled session (opened if needed) on the blocking
    /// pool, inside a fresh read-only transaction. The session goes back to
    /// the pool unless the connection was lost.
    async fn run<T, F>(&self, f: F) -> Result<T, ConnError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn OraSession) -> Result<T, Fail> + Send + 'static,
    {
        let mut slot = self.session.lock().await;
        let session = match slot.take() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let read_only = self.opts.read_only;
        let timeout = Some(self.opts.statement_timeout).filter(|t| !t.is_zero());
        let job = tokio::task::spawn_blocking(move || {
            let mut session = session;
            let r = begin(&mut *session, read_only, timeout).and_then(|()| f(&mut *session));
            (session, r)
        });
        let (session, r) = job.await.map_err(|j| {
            ConnError::new(
                ErrorKind::Other,
                format!("the Oracle driver failed: {}", panic_text(j)),
            )
        })?;
        match r {
            Ok(v) => {
                *slot = Some(session);
                Ok(v)
            }
            Err(e) => {
                let err = self.fail(e);
                if err.kind != ErrorKind::ConnectionLost && err.kind != ErrorKind::StatementTimeout
                {
                    *slot = Some(session);
                }
                Err(err)
            }
        }
    }
}

/// The start of every call: a new transaction, read-only.
fn begin(s: &mut dyn OraSession, read_only: bool, timeout: Option<Duration>) -> Result<(), Fail> {
    s.set_call_timeout(timeout)?;
    s.rollback()?;
    if read_only {
        s.execute("SET TRANSACTION READ ONLY")?;
    }
    Ok(())
}

fn panic_text(j: tokio::task::JoinError) -> String {
    if j.is_panic() {
        let p = j.into_panic();
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    } else {
        "cancelled".into()
    }
}

#[cfg(feature = "oracle-thick")]
fn open_thick(spec: &ConnSpec, password: &str) -> Result<Box<dyn OraSession>, Failure> {
    thick::open(spec, password).map(|s| Box::new(s) as Box<dyn OraSession>)
}

#[cfg(not(feature = "oracle-thick"))]
fn open_thick(_spec: &ConnSpec, _password: &str) -> Result<Box<dyn OraSession>, Failure> {
    Err(Failure::BadConnectString(
        "this build has no thick Oracle driver (build with --features oracle-thick, or use the \
         thin driver: remove driver=thick)"
            .into(),
    ))
}

const LIST_SQL: &str = "\
SELECT o.OWNER, o.NAME, o.KIND, o.NUM_ROWS, \
       CASE WHEN o.OWNER = SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA') THEN 0 ELSE 1 END AS MINE, \
       u.ORACLE_MAINTAINED \
FROM ( \
  SELECT OWNER, TABLE_NAME AS NAME, 'TABLE' AS KIND, NUM_ROWS FROM ALL_TABLES \
   WHERE NESTED = 'NO' AND SECONDARY = 'N' AND DROPPED = 'NO' AND (IOT_TYPE IS NULL OR IOT_TYPE = 'IOT') \
  UNION ALL \
  SELECT OWNER, VIEW_NAME, 'VIEW', NULL FROM ALL_VIEWS \
) o LEFT JOIN ALL_USERS u ON u.USERNAME = o.OWNER \
ORDER BY MINE, o.OWNER, o.NAME";

const COLUMNS_SQL: &str = "\
SELECT COLUMN_NAME, DATA_TYPE, DATA_PRECISION, DATA_SCALE, DATA_LENGTH, CHAR_LENGTH, CHAR_USED, \
       NULLABLE, DATA_DEFAULT \
FROM ALL_TAB_COLUMNS WHERE OWNER = :1 AND TABLE_NAME = :2 ORDER BY COLUMN_ID";

const PK_SQL: &str = "\
SELECT cc.COLUMN_NAME FROM ALL_CONSTRAINTS c \
JOIN ALL_CONS_COLUMNS cc ON cc.OWNER = c.OWNER AND cc.CONSTRAINT_NAME = c.CONSTRAINT_NAME \
WHERE c.OWNER = :1 AND c.TABLE_NAME = :2 AND c.CONSTRAINT_TYPE = 'P'";

const FK_SQL: &str = "\
SELECT cc.COLUMN_NAME, rc.OWNER, rc.TABLE_NAME, rcc.COLUMN_NAME FROM ALL_CONSTRAINTS c \
JOIN ALL_CONS_COLUMNS cc ON cc.OWNER = c.OWNER AND cc.CONSTRAINT_NAME = c.CONSTRAINT_NAME \
JOIN ALL_CONSTRAINTS rc ON rc.OWNER = c.R_OWNER AND rc.CONSTRAINT_NAME = c.R_CONSTRAINT_NAME \
JOIN ALL_CONS_COLUMNS rcc ON rcc.OWNER = rc.OWNER AND rcc.CONSTRAINT_NAME = rc.CONSTRAINT_NAME \
 AND rcc.POSITION = cc.POSITION \
WHERE c.OWNER = :1 AND c.TABLE_NAME = :2 AND c.CONSTRAINT_TYPE = 'R'";

const STATS_SQL: &str = "SELECT NUM_ROWS FROM ALL_TABLES WHERE OWNER = :1 AND TABLE_NAME = :2";

/// Banner queries in order of preference; the login may not read V$VERSION.
const BANNER_SQL: [&str; 3] = [
    "SELECT BANNER_FULL FROM V$VERSION",
    "SELECT BANNER FROM V$VERSION WHERE ROWNUM = 1",
    "SELECT PRODUCT || ' ' || VERSION FROM PRODUCT_COMPONENT_VERSION WHERE PRODUCT LIKE 'Oracle%' AND ROWNUM = 1",
];

/// `LIST_SQL` for servers without `ALL_USERS.ORACLE_MAINTAINED` (< 12c).
fn list_sql_without_maintained() -> String {
    LIST_SQL
        .replace("u.ORACLE_MAINTAINED", "NULL")
        .replace(" LEFT JOIN ALL_USERS u ON u.USERNAME = o.OWNER", "")
}

fn owner_and_name(table: &TableRef) -> (String, String) {
    (table.schema.clone().unwrap_or_default(), table.name.clone())
}

#[async_trait]
impl Connector for OracleConnector {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        let start = Instant::now();
        let mut session = self.connect().await?;
        let remaining = self.spec.connect_timeout().saturating_sub(start.elapsed());
        let job = tokio::task::spawn_blocking(move || {
            let _ = session.set_call_timeout(Some(remaining.max(Duration::from_secs(1))));
            let r = (|| -> Result<(String, Duration, bool), Fail> {
                collect(&mut *session, "SELECT 1 FROM DUAL", &[])?;
                let latency = start.elapsed();
                let mut banner = None;
                for sql in BANNER_SQL {
                    if let Ok((_, rows)) = collect(&mut *session, sql, &[]) {
                        banner = rows.first().and_then(|r| text(r.first()));
                        if banner.is_some() {
                            break;
                        }
                    }
                }
                let banner =
                    banner.unwrap_or_else(|| format!("Oracle Database {}", session.version_text()));
                let (_, rows) = collect(
                    &mut *session,
                    "SELECT SYS_CONTEXT('USERENV', 'NETWORK_PROTOCOL') FROM DUAL",
                    &[],
                )?;
                let tls = rows
                    .first()
                    .and_then(|r| text(r.first()))
                    .is_some_and(|p| p.eq_ignore_ascii_case("tcps"));
                Ok((banner, latency, tls))
            })();
            drop(session);
            r
        });
        let out = job
            .await
            .map_err(|j| ConnError::new(ErrorKind::Other, panic_text(j)))?
            .map_err(|f| self.fail(f))?;
        Ok(ServerInfo {
            version: display_banner(&out.0),
            latency: out.1,
            tls: out.2,
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        let rows = self
            .run(|s| match collect(s, LIST_SQL, &[]) {
                // ORA-00904: ALL_USERS.ORACLE_MAINTAINED is 12c+ (thick
                // driver on an older server): the fixed list decides.
                Err(Fail::Db(Failure::Ora { code: 904, .. })) => {
                    collect(s, &list_sql_without_maintained(), &[]).map(|(_, r)| r)
                }
                r => r.map(|(_, r)| r),
            })
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let owner = text(r.first())?;
                let name = text(r.get(1))?;
                let kind = if text(r.get(2)).as_deref() == Some("VIEW") {
                    TableKind::View
                } else {
                    TableKind::Table
                };
                let system = match text(r.get(5)).as_deref() {
                    Some("Y") => true,
                    Some(_) => false,
                    None => SYSTEM_SCHEMAS.contains(&owner.as_str()),
                };
                Some(TableRef {
                    schema: Some(owner),
                    name,
                    kind,
                    // NUM_ROWS: optimizer statistics, not a count.
                    estimated_rows: int(r.get(3)),
                    system,
                })
            })
            .collect())
    }

    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        let (owner, name) = owner_and_name(table);
        let (cols, pks, fks, stats) = self
            .run(move |s| {
                let b = [owner.as_str(), name.as_str()];
                let (_, cols) = collect(s, COLUMNS_SQL, &b)?;
                let (_, pks) = collect(s, PK_SQL, &b)?;
                let (_, fks) = collect(s, FK_SQL, &b)?;
                let (_, stats) = collect(s, STATS_SQL, &b)?;
                Ok((cols, pks, fks, stats))
            })
            .await?;
        if cols.is_empty() {
            return Err(ConnError::new(
                ErrorKind::NotFound,
                format!("{} has no columns the user may see", table.display_name()),
            ));
        }
        let pk: Vec<String> = pks.iter().filter_map(|r| text(r.first())).collect();
        let columns = cols
            .iter()
            .map(|r| {
                let name = text(r.first()).unwrap_or_default();
                let data_type = type_spelling(
                    &text(r.get(1)).unwrap_or_default(),
                    int(r.get(2)),
                    int(r.get(3)),
                    int(r.get(4)),
                    int(r.get(5)),
                    text(r.get(6)).as_deref(),
                );
                let references = fks.iter().find_map(|f| {
                    (text(f.first()).as_deref() == Some(name.as_str())).then(|| {
                        format!(
                            "{}.{}({})",
                            text(f.get(1)).unwrap_or_default(),
                            text(f.get(2)).unwrap_or_default(),
                            text(f.get(3)).unwrap_or_default()
                        )
                    })
                });
                ColumnInfo {
                    primary_key: pk.contains(&name),
                    nullable: text(r.get(7)).as_deref() != Some("N"),
                    default: text(r.get(8))
                        .map(|d| d.trim().to_string())
                        .filter(|d| !d.is_empty()),
                    name,
                    data_type,
                    references,
                    presence: None,
                }
            })
            .collect();
        let estimated = stats
            .first()
            .and_then(|r| int(r.first()))
            .or(table.estimated_rows);
        Ok(TableInfo {
            table: table.clone(),
            columns,
            estimated_rows: estimated,
            sampled: None,
            indexes: Vec::new(),
            validator: None,
        })
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        let sql = count_sql(table);
        let rows = self
            .run(move |s| collect(s, &sql, &[]).map(|(_, r)| r))
            .await?;
        rows.first()
            .and_then(|r| int(r.first()))
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| ConnError::new(ErrorKind::Other, "COUNT(*) returned no number"))
    }

    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        let start = Instant::now();
        let table = table.clone();
        let (columns, rows) = self
            .run(move |s| {
                let sql = select_sql(&table, None, Some(limit as u64), s.major_version());
                collect(s, &sql, &[])
            })
            .await?;
        let rows = rows
            .into_iter()
            .map(|r| r.into_iter().map(cut_for_preview).collect())
            .collect();
        Ok(RowSet {
            columns,
            rows,
            elapsed: start.elapsed(),
            documents: Vec::new(),
        })
    }

    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        let filter = opts
            .checked_filter(self.opts.read_only)?
            .map(str::to_string);
        let limit = opts.limit;
        let table = table.clone();
        // A session of its own, so an import neither holds nor breaks the
        // browser's session; its rows come through a bounded channel.
        let session = self.connect().await?;
        let read_only = self.opts.read_only;
        // No call timeout: an import is long by nature, shows progress and is
        // stopped by dropping it; the browsing statement timeout must not cut it.
        let timeout = None;
        enum Msg {
            Columns(Vec<ColumnMeta>),
            Row(Vec<Cell>),
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(STREAM_BUFFER);
        let job = tokio::task::spawn_blocking(move || {
            let mut session = session;
            let gone = || ConnError::new(ErrorKind::Cancelled, "the import stopped reading");
            begin(&mut *session, read_only, timeout)?;
            let sql = select_sql(&table, filter.as_deref(), limit, session.major_version());
            let tx2 = tx.clone();
            session.query(
                &sql,
                &[],
                &mut |c| {
                    tx.blocking_send(Msg::Columns(c.to_vec()))
                        .map_err(|_| gone())
                },
                &mut |r| tx2.blocking_send(Msg::Row(r)).map_err(|_| gone()),
            )
        });
        let mut n = 0u64;
        let mut sink_err = None;
        while let Some(msg) = rx.recv().await {
            let r = match msg {
                Msg::Columns(c) => sink.columns(&c),
                Msg::Row(r) => sink.row(r).map(|()| n += 1),
            };
            if let Err(e) = r {
                sink_err = Some(e);
                break;
            }
        }
        drop(rx);
        let result = job
            .await
            .map_err(|j| ConnError::new(ErrorKind::Other, panic_text(j)))?;
        if let Some(e) = sink_err {
            return Err(e.scrub(self.secret()));
        }
        match result {
            Ok(()) => Ok(n),
            Err(Fail::Db(f)) if self.opts.read_only && opts.filter.is_some() => {
                let mut e = self.err(&f, Phase::Query);
                e.detail = format!("filter: {}", e.detail);
                Err(e)
            }
            Err(f) => Err(self.fail(f)),
        }
    }

    /// A typed query: one statement (Oracle runs no more per call), checked
    /// word by word first (DDL would commit and end the read-only
    /// transaction), then run on a session of its own inside
    /// `SET TRANSACTION READ ONLY`, rolled back at the end. A dropped cursor
    /// stops the fetching; a statement still executing on the server stops at
    /// the call timeout (the statement timeout) at the latest.
    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        let text = single_statement(sql)?.to_string();
        statement::only_query(&text, "Oracle", &statement::ORACLE)?;
        let session = self.connect().await?;
        let (cols_tx, cols_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        let (spec, password) = (self.spec.clone(), self.password.clone());
        let timeout = Some(self.opts.statement_timeout).filter(|t| !t.is_zero());
        // A thread of its own (see `connect`): a runtime never waits for it.
        let spawned = std::thread::Builder::new()
            .name("oracle-query".into())
            .spawn(move || {
                let mut session = session;
                let gone = || ConnError::new(ErrorKind::Cancelled, "the query was closed");
                let mut cols_tx = Some(cols_tx);
                let rows = tx.clone();
                let r = begin(&mut *session, true, timeout).and_then(|()| {
                    session.query(
                        &text,
                        &[],
                        &mut |c| match cols_tx.take() {
                            Some(t) => t.send(Ok(c.to_vec())).map_err(|_| gone()),
                            None => Ok(()),
                        },
                        &mut |r| rows.blocking_send(Ok(r)).map_err(|_| gone()),
                    )
                });
                let secret = password.as_ref().map(|p| p.expose_secret());
                let err = match r {
                    Ok(()) => None,
                    Err(Fail::Stop(e)) if e.kind == ErrorKind::Cancelled => None,
                    Err(Fail::Stop(e)) => Some(e.scrub(secret)),
                    Err(Fail::Db(f)) => Some(classify(&f, Phase::Query, &spec).scrub(secret)),
                };
                match (cols_tx.take(), err) {
                    (Some(t), Some(e)) => {
                        let _ = t.send(Err(e));
                    }
                    (Some(t), None) => {
                        let _ = t.send(Ok(Vec::new()));
                    }
                    (None, Some(e)) => {
                        let _ = tx.blocking_send(Err(e));
                    }
                    (None, None) => {}
                }
                drop((tx, rows));
                let _ = session.rollback();
            });
        if let Err(e) = spawned {
            return Err(ConnError::new(
                ErrorKind::Other,
                format!("could not start the query thread: {e}"),
            ));
        }
        let cursor =
            ChannelCursor::start(cols_rx, rx, Box::new(()), self.opts.statement_timeout).await?;
        Ok(Box::new(cursor))
    }

    async fn reset(&self) {
        let old = self.session.lock().await.take();
        if let Some(s) = old {
            // Logging off is a round trip: off the async threads.
            let _ = tokio::task::spawn_blocking(move || drop(s)).await;
        }
    }

    fn capabilities(&self) -> Capabilities {
        ENGINE.capabilities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ConnSpec {
        let (s, _) = parse::parse("db.example:1521/FREEPDB1", Kind::Oracle).unwrap();
        s
    }

    fn ora(code: usize) -> ConnError {
        classify(
            &Failure::Ora {
                code,
                message: "message from the server".into(),
            },
            Phase::Connect,
            &spec(),
        )
    }

    #[test]
    fn ora_codes_map_to_words() {
        assert_eq!(ora(1017).kind, ErrorKind::InvalidCredentials);
        assert_eq!(ora(1017).to_string(), "Invalid credentials");
        assert_eq!(ora(28000).kind, ErrorKind::AccountLocked);
        assert_eq!(ora(28000).to_string(), "Account locked");
        assert_eq!(ora(28001).kind, ErrorKind::PasswordExpired);
        assert_eq!(ora(28001).to_string(), "Password expired");
        for code in [12514, 12505] {
            let e = ora(code);
            assert_eq!(e.kind, ErrorKind::DatabaseNotFound);
            assert!(e.detail.contains("'FREEPDB1'"), "{}", e.detail);
            assert!(e.detail.contains(&format!("ORA-{code}")), "{}", e.detail);
        }
        let e = ora(12541);
        assert_eq!(e.kind, ErrorKind::ConnectionRefused);
        assert!(
            e.detail.contains("no listener at db.example:1521"),
            "{}",
            e.detail
        );
        assert_eq!(ora(942).kind, ErrorKind::NotFound);
        assert_eq!(ora(1031).kind, ErrorKind::PermissionDenied);
        assert_eq!(ora(1456).kind, ErrorKind::ReadOnly);
        assert_eq!(ora(14551).kind, ErrorKind::ReadOnly);
        assert_eq!(ora(3113).kind, ErrorKind::ConnectionLost);
        assert_eq!(ora(12545).kind, ErrorKind::UnknownHost);
        assert_eq!(ora(1).kind, ErrorKind::Other);
        assert_eq!(ora(1017).detail, "ORA-01017: message from the server");
    }

    #[test]
    fn sid_not_found_names_the_sid() {
        let (s, _) = parse::parse("h:1521/?sid=ORCL", Kind::Oracle).unwrap();
        let e = classify(
            &Failure::Refused {
                code: 12505,
                host: "h".into(),
                port: 1521,
            },
            Phase::Connect,
            &s,
        );
        assert_eq!(e.kind, ErrorKind::DatabaseNotFound);
        assert!(e.detail.contains("SID 'ORCL'"), "{}", e.detail);
    }

    #[test]
    fn listener_and_socket_failures_in_words() {
        let s = spec();
        let refuse = |code| {
            classify(
                &Failure::Refused {
                    code,
                    host: "h".into(),
                    port: 1521,
                },
                Phase::Connect,
                &s,
            )
        };
        assert_eq!(refuse(12514).kind, ErrorKind::DatabaseNotFound);
        assert!(refuse(12514).detail.contains("service 'FREEPDB1'"));
        assert_eq!(refuse(12541).kind, ErrorKind::ConnectionRefused);
        assert!(refuse(12520).detail.contains("no free handler"));
        let io = |t: &str| classify(&Failure::Io(t.into()), Phase::Connect, &s);
        assert_eq!(
            io("stream operation failed: Connection refused (os error 111)").kind,
            ErrorKind::ConnectionRefused
        );
        assert_eq!(
            io("stream operation failed: failed to lookup address information: Name or service not known").kind,
            ErrorKind::UnknownHost
        );
        assert_eq!(
            io("connection timed out").kind,
            ErrorKind::ConnectionTimeout
        );
        let t = classify(&Failure::CallTimeout, Phase::Connect, &s);
        assert_eq!(t.kind, ErrorKind::ConnectionTimeout);
        assert!(t.detail.contains("within 30 s"), "{}", t.detail);
        assert_eq!(
            classify(&Failure::CallTimeout, Phase::Query, &s).kind,
            ErrorKind::StatementTimeout
        );
        let tls = classify(
            &Failure::Tls("invalid peer certificate: UnknownIssuer".into()),
            Phase::Connect,
            &s,
        );
        assert_eq!(tls.kind, ErrorKind::CertificateNotTrusted);
        let plain = classify(
            &Failure::Tls("received corrupt message of type InvalidContentType".into()),
            Phase::Connect,
            &s,
        );
        assert_eq!(plain.kind, ErrorKind::TlsUnavailable);
    }

    #[test]
    fn dpi_1047_is_reported_in_words() {
        let raw = "DPI Error: DPI-1047: Cannot locate a 64-bit Oracle Client library: \
                   \"libclntsh.so: cannot open shared object file: No such file or directory\"";
        let f = failure_from_text(raw);
        assert_eq!(
            f,
            Failure::Dpi {
                code: "DPI-1047".into(),
                message: raw.into()
            }
        );
        let e = classify(&f, Phase::Connect, &spec());
        assert_eq!(e.kind, ErrorKind::DriverUnavailable);
        assert_eq!(e.detail, DPI_1047_WORDS);
        assert!(!e.detail.contains("libclntsh"));
        // The thick driver's ORA errors are read from its text.
        assert_eq!(
            failure_from_text("OCI Error: ORA-28000: the account is locked"),
            Failure::Ora {
                code: 28000,
                message: "the account is locked".into()
            }
        );
    }

    #[test]
    fn passwords_never_reach_the_detail() {
        let mut s = spec();
        s.user = "scott".into();
        let e = classify(
            &Failure::Other("login scott/hunter2 failed".into()),
            Phase::Connect,
            &s,
        )
        .scrub(Some("hunter2"));
        assert!(!e.detail.contains("hunter2"), "{}", e.detail);
    }

    fn t(schema: &str, name: &str) -> TableRef {
        TableRef {
            schema: Some(schema.into()),
            name: name.into(),
            kind: TableKind::Table,
            estimated_rows: None,
            system: false,
        }
    }

    #[test]
    fn sql_generation_fetch_first_or_rownum() {
        let tab = t("HR", "Mixed Case\"Name");
        assert_eq!(
            select_sql(&tab, None, Some(50), 19),
            r#"SELECT * FROM "HR"."Mixed Case""Name" FETCH FIRST 50 ROWS ONLY"#
        );
        assert_eq!(
            select_sql(&tab, None, Some(50), 11),
            r#"SELECT * FROM (SELECT * FROM "HR"."Mixed Case""Name") WHERE ROWNUM <= 50"#
        );
        assert_eq!(
            select_sql(&tab, Some(" status = 'paid' "), None, 23),
            r#"SELECT * FROM "HR"."Mixed Case""Name" WHERE (status = 'paid')"#
        );
        assert_eq!(
            select_sql(&tab, Some("x > 1"), Some(5), 11),
            r#"SELECT * FROM (SELECT * FROM "HR"."Mixed Case""Name" WHERE (x > 1)) WHERE ROWNUM <= 5"#
        );
        assert_eq!(
            count_sql(&t("app", "emp")),
            r#"SELECT COUNT(*) FROM "app"."emp""#
        );
    }

    #[test]
    fn listing_sql_has_an_older_server_variant() {
        assert!(LIST_SQL.contains("ORDER BY MINE, o.OWNER, o.NAME"));
        assert!(LIST_SQL.contains("SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')"));
        let old = list_sql_without_maintained();
        assert!(!old.contains("ALL_USERS"), "{old}");
        assert!(!old.contains("ORACLE_MAINTAINED"), "{old}");
        assert!(old.contains("ALL_TABLES") && old.contains("ALL_VIEWS"));
    }

    #[test]
    fn types_spelled_as_oracle_prints_them() {
        assert_eq!(
            type_spelling("NUMBER", Some(10), Some(2), Some(22), None, None),
            "NUMBER(10,2)"
        );
        assert_eq!(
            type_spelling("NUMBER", Some(10), Some(0), Some(22), None, None),
            "NUMBER(10)"
        );
        assert_eq!(
            type_spelling("NUMBER", None, None, Some(22), None, None),
            "NUMBER"
        );
        assert_eq!(
            type_spelling("NUMBER", None, Some(0), Some(22), None, None),
            "NUMBER(*,0)"
        );
        assert_eq!(
            type_spelling("VARCHAR2", None, None, Some(400), Some(100), Some("C")),
            "VARCHAR2(100 CHAR)"
        );
        assert_eq!(
            type_spelling("VARCHAR2", None, None, Some(100), Some(100), Some("B")),
            "VARCHAR2(100 BYTE)"
        );
        assert_eq!(
            type_spelling("NVARCHAR2", None, None, Some(100), Some(50), Some("C")),
            "NVARCHAR2(50)"
        );
        assert_eq!(
            type_spelling("RAW", None, None, Some(16), None, None),
            "RAW(16)"
        );
        assert_eq!(
            type_spelling(
                "TIMESTAMP(6) WITH TIME ZONE",
                None,
                Some(6),
                Some(13),
                None,
                None
            ),
            "TIMESTAMP(6) WITH TIME ZONE"
        );
        assert_eq!(
            type_spelling("FLOAT", Some(126), None, Some(22), None, None),
            "FLOAT(126)"
        );
    }

    #[test]
    fn logical_types() {
        use Logical::*;
        assert_eq!(logical_of("NUMBER(10)"), Integer);
        assert_eq!(logical_of("NUMBER(18,0)"), Integer);
        assert_eq!(logical_of("NUMBER(19)"), Numeric);
        assert_eq!(logical_of("NUMBER(10,2)"), Numeric);
        assert_eq!(logical_of("NUMBER"), Numeric);
        assert_eq!(logical_of("NUMBER(*,0)"), Numeric);
        assert_eq!(logical_of("FLOAT(126)"), Numeric);
        assert_eq!(logical_of("BINARY_DOUBLE"), Real);
        assert_eq!(logical_of("BINARY_FLOAT"), Real);
        assert_eq!(logical_of("DATE"), Timestamp);
        assert_eq!(logical_of("TIMESTAMP(6) WITH TIME ZONE"), Timestamp);
        assert_eq!(logical_of("TIMESTAMP(9) WITH LOCAL TIME ZONE"), Timestamp);
        assert_eq!(logical_of("INTERVAL DAY(2) TO SECOND(6)"), Text);
        assert_eq!(logical_of("VARCHAR2(100 CHAR)"), Text);
        assert_eq!(logical_of("NCLOB"), Text);
        assert_eq!(logical_of("CLOB"), Text);
        assert_eq!(logical_of("BLOB"), Bytes);
        assert_eq!(logical_of("RAW(16)"), Bytes);
        assert_eq!(logical_of("LONG RAW"), Bytes);
        assert_eq!(logical_of("LONG"), Text);
        assert_eq!(logical_of("ROWID"), Text);
        assert_eq!(logical_of("BOOLEAN"), Bool);
    }

    #[test]
    fn numbers_are_never_rounded() {
        assert_eq!(number_cell("42"), Cell::Int(42));
        assert_eq!(number_cell("-9223372036854775808"), Cell::Int(i64::MIN));
        assert_eq!(
            number_cell("12345678901234567890123456789"),
            Cell::Text("12345678901234567890123456789".into())
        );
        assert_eq!(number_cell("1.5"), Cell::Float(1.5));
        assert_eq!(number_cell(".25"), Cell::Float(0.25));
        assert_eq!(number_cell("0.1"), Cell::Float(0.1));
        // 17 significant digits: an f64 would round it.
        assert_eq!(
            number_cell("1234567.1234567891"),
            Cell::Text("1234567.1234567891".into())
        );
        assert_eq!(
            number_cell("0.12345678901234567890123"),
            Cell::Text("0.12345678901234567890123".into())
        );
        assert_eq!(number_cell("1E+125"), Cell::Text("1E+125".into()));
    }

    #[test]
    fn long_text_is_cut_in_previews_only() {
        let long = "x".repeat(PREVIEW_TEXT_MAX + 1000);
        match cut_for_preview(Cell::Text(long.clone())) {
            Cell::Text(t) => {
                assert!(t.ends_with(&format!("… ({} characters)", PREVIEW_TEXT_MAX + 1000)));
                assert!(t.chars().count() < long.len());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            cut_for_preview(Cell::Text("short".into())),
            Cell::Text("short".into())
        );
        assert_eq!(cut_for_preview(Cell::Bytes(vec![1])), Cell::Bytes(vec![1]));
    }
}
