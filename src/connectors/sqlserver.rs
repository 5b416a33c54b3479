//! SQL Server through tiberius 0.13 (rustls; TDS 8.0 strict encryption) over
//! tokio with tokio-util's compat layer.
//!
//! `test` opens a fresh connection; browsing goes through one pooled session
//! (opened lazily, reused, dropped by `reset` or after a failure). SQL Server
//! has no read-only session: Varlor's own statements are reads, every browsing
//! batch starts with `SET LOCK_TIMEOUT` so a preview never waits behind
//! production locks, and a user's import filter runs inside a transaction that
//! is always rolled back. Cancel (dropping a count, preview or stream) sends a
//! TDS Attention on the session's connection (tiberius' `cancel_query`), then
//! closes it; the server aborts the request on either.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use tiberius::{AuthMethod, Client, ColumnData, ColumnType, Config, EncryptionLevel, QueryItem};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Mutex;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};
use tokio_util::either::Either;

use super::engine::{Capabilities, Engine, RowLimit, TunnelEnd, SQL_CAPABILITIES};
use super::error::classify_io;
use super::ident::{self, Dialect};
use super::query::{single_statement, ChannelCursor, QueryCursor, READ_AHEAD};
use super::spec::{parse_network_url, SpecError};
use super::statement;
use super::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, Logical, RowSet,
    RowSink, ServerInfo, SessionOptions, StreamOptions, TableInfo, TableKind, TableRef, TlsMode,
};
use super::{Field, Kind};

pub const ENGINE: Engine = Engine {
    kind: Kind::Sqlserver,
    id: "sqlserver",
    display_name: "SQL Server",
    default_port: Some(1433),
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
    url_schemes: &["sqlserver", "mssql"],
    parse_url,
    has_password: true,
    file_based: false,
    user_required: true,
    dialect: Some(Dialect::Bracket),
    row_limit: RowLimit::Top,
    capabilities: Capabilities {
        read_only: "reads only; filters and typed queries run in a transaction that is rolled back",
        ..SQL_CAPABILITIES
    },
    tunnel: TunnelEnd::Socket,
    concurrent: false,
    open: Ok(|spec, password, opts| {
        Box::new(SqlServerConnector::new(spec.clone(), password, opts))
    }),
};

/// `options` keys this engine reads (lower case).
pub const OPT_ENCRYPT: &str = "encrypt";
pub const OPT_INSTANCE: &str = "instance";
pub const OPT_APPLICATION_INTENT: &str = "applicationintent";
pub const OPT_HOST_IN_CERTIFICATE: &str = "hostnameincertificate";

/// Marks (during parsing only) that `sslmode` stated the TLS mode.
const MODE_STATED: &str = "\u{0}mode-stated";

/// Schemas that belong to the server itself; hidden by default.
const SYSTEM_SCHEMAS: [&str; 3] = ["sys", "INFORMATION_SCHEMA", "guest"];

/// TCP, or an SSH tunnel's Unix socket (`spec::TUNNEL_SOCKET`).
type Wire = Either<TcpStream, UnixStream>;
type MsClient = Client<Compat<Wire>>;

// ---------------------------------------------------------------------------
// Parsing: `sqlserver://` URLs and ADO.NET connection strings

/// The engine's parser: a URL (`sqlserver://user:pw@host:1433/db?encrypt=strict`)
/// or an ADO.NET connection string (`Server=tcp:host,1433;Initial Catalog=db;…`).
pub fn parse_url(text: &str, kind: Kind) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let text = text.trim();
    if text.contains("://") {
        let (mut spec, password) = parse_network_url(text, kind)?;
        let extras = std::mem::take(&mut spec.options);
        let mut trust = None;
        let mut encrypt = None;
        if super::spec::url_states_tls(text).0 {
            spec.options.insert(MODE_STATED.into(), String::new());
        }
        for (k, v) in extras {
            apply_option(&mut spec, &k, &v, &mut encrypt, &mut trust, true)?;
        }
        finish_tls(&mut spec, encrypt, trust)?;
        // A named instance without a port is found through SQL Browser.
        let explicit_port = url::Url::parse(text).ok().and_then(|u| u.port()).is_some();
        if spec.options.contains_key(OPT_INSTANCE) && !explicit_port {
            spec.port = None;
        }
        return Ok((spec, password));
    }
    parse_ado(text, kind)
}

/// Splits an ADO.NET connection string into (key, value) pairs: keys are
/// case-insensitive and trimmed; values may be quoted with `"` or `'` (the
/// quote doubled inside) or braced `{…}` (`}}` inside), and then hold `;`.
pub fn split_ado(text: &str) -> Result<Vec<(String, String)>, SpecError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // key
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ';' {
            i += 1;
        }
        let key: String = chars[start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        if i >= chars.len() || chars[i] == ';' {
            if !key.is_empty() {
                // Not echoed: it may be the tail of a password with a `;`.
                return Err(SpecError::new(
                    "url",
                    "a part has no '=': a value holding ';' needs quotes, e.g. Password=\"a;b\"",
                ));
            }
            i += 1;
            continue;
        }
        i += 1; // '='
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && matches!(chars[i], '"' | '\'' | '{') {
            let open = chars[i];
            let close = if open == '{' { '}' } else { open };
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                if chars[i] == close {
                    if i + 1 < chars.len() && chars[i + 1] == close {
                        value.push(close);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    closed = true;
                    break;
                }
                value.push(chars[i]);
                i += 1;
            }
            if !closed {
                return Err(SpecError::new(
                    "url",
                    format!("the value of '{key}' has no closing {close}"),
                ));
            }
            while i < chars.len() && chars[i] != ';' {
                if !chars[i].is_whitespace() {
                    return Err(SpecError::new(
                        "url",
                        format!("unexpected text after the quoted value of '{key}'"),
                    ));
                }
                i += 1;
            }
        } else {
            let vstart = i;
            while i < chars.len() && chars[i] != ';' {
                i += 1;
            }
            value = chars[vstart..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string();
        }
        i += 1; // ';'
        if key.is_empty() {
            return Err(SpecError::new("url", "a key=value pair has no key"));
        }
        out.push((key.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// Whether `text` looks like an ADO.NET connection string for SQL Server.
pub fn looks_like_ado(text: &str) -> bool {
    let t = text.trim_start().to_ascii_lowercase();
    ["server", "data source", "datasource", "address", "addr"]
        .iter()
        .any(|k| {
            t.strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
}

/// `tcp:host,1433`, `host\instance`, `host\instance,1433`, `(local)`, `.`:
/// (host, port, instance).
fn parse_server(value: &str) -> Result<(String, Option<u16>, Option<String>), SpecError> {
    let mut v = value.trim();
    let lower = v.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("tcp:") {
        v = &v[v.len() - rest.len()..];
    } else if lower.starts_with("np:") || lower.starts_with("lpc:") {
        return Err(SpecError::new(
            "host",
            "named pipes and shared memory are not supported; use a TCP host",
        ));
    }
    let (addr, port) = match v.rsplit_once(',') {
        Some((a, p)) => (a.trim(), Some(ConnSpec::parse_port(p)?)),
        None => (v, None),
    };
    let (host, instance) = match addr.split_once('\\') {
        Some((h, i)) => (
            h.trim(),
            Some(i.trim().to_string()).filter(|i| !i.is_empty()),
        ),
        None => (addr, None),
    };
    let host = match host.to_ascii_lowercase().as_str() {
        "." | "(local)" | "(localdb)" | "localhost" => "localhost".to_string(),
        _ => host.to_string(),
    };
    if host.is_empty() {
        return Err(SpecError::new(
            "host",
            "the connection string has no server",
        ));
    }
    Ok((host, port, instance))
}

fn parse_bool(field: &'static str, v: &str) -> Result<bool, SpecError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(SpecError::new(field, format!("'{v}' is not true or false"))),
    }
}

/// One option of a URL query or an ADO string that both shapes share.
fn apply_option(
    spec: &mut ConnSpec,
    key: &str,
    value: &str,
    encrypt: &mut Option<String>,
    trust: &mut Option<bool>,
    keep_unknown: bool,
) -> Result<(), SpecError> {
    let k = key.to_ascii_lowercase().replace([' ', '_', '-'], "");
    match k.as_str() {
        "encrypt" => *encrypt = Some(value.trim().to_ascii_lowercase()),
        "trustservercertificate" | "trustcert" => {
            *trust = Some(parse_bool("tls", value)?);
        }
        "applicationintent" => match value.trim().to_ascii_lowercase().as_str() {
            "readonly" => {
                spec.options
                    .insert(OPT_APPLICATION_INTENT.into(), "readonly".into());
            }
            "readwrite" => {
                spec.options.remove(OPT_APPLICATION_INTENT);
            }
            other => {
                return Err(SpecError::new(
                    "url",
                    format!("ApplicationIntent '{other}' is not ReadOnly or ReadWrite"),
                ))
            }
        },
        "instance" | "instancename" if !value.trim().is_empty() => {
            spec.options
                .insert(OPT_INSTANCE.into(), value.trim().into());
        }
        "instance" | "instancename" => {}
        "hostnameincertificate" => {
            spec.options
                .insert(OPT_HOST_IN_CERTIFICATE.into(), value.trim().into());
        }
        "sslmode" | "tls" => {
            spec.tls = TlsMode::parse(value)
                .ok_or_else(|| SpecError::new("tls", format!("unknown TLS mode '{value}'")))?;
            // A stated mode wins over what Encrypt/TrustServerCertificate imply.
            *trust = Some(spec.tls == TlsMode::Require);
            spec.options.insert(MODE_STATED.into(), String::new());
        }
        "connecttimeout" | "connectiontimeout" | "timeout" => {
            spec.connect_timeout_secs = value.trim().parse().map_err(|_| {
                SpecError::new("timeout", format!("'{value}' is not a number of seconds"))
            })?;
        }
        "integratedsecurity" | "trustedconnection" | "authentication" => {
            if k == "authentication" && value.trim().eq_ignore_ascii_case("SqlPassword") {
                return Ok(());
            }
            if k != "authentication" && !parse_bool("url", value)? {
                return Ok(());
            }
            return Err(SpecError::new(
                "url",
                format!("{key}: only SQL Server authentication (user and password) is supported"),
            ));
        }
        // Harmless client settings Varlor does not need.
        "persistsecurityinfo"
        | "multipleactiveresultsets"
        | "pooling"
        | "minpoolsize"
        | "maxpoolsize"
        | "multisubnetfailover"
        | "applicationname"
        | "app"
        | "workstationid"
        | "wsid"
        | "packetsize"
        | "loadbalancetimeout"
        | "connectretrycount"
        | "connectretryinterval"
        | "commandtimeout" => {}
        _ if keep_unknown => {
            spec.options.insert(k, value.to_string());
        }
        _ => {}
    }
    Ok(())
}

/// Encrypt + TrustServerCertificate → a TLS mode (and the strict option):
/// `Encrypt=True` verifies the certificate unless it is explicitly trusted.
fn finish_tls(
    spec: &mut ConnSpec,
    encrypt: Option<String>,
    trust: Option<bool>,
) -> Result<(), SpecError> {
    if spec.options.remove(MODE_STATED).is_some() {
        if encrypt.as_deref() == Some("strict") {
            spec.options.insert(OPT_ENCRYPT.into(), "strict".into());
        }
        return Ok(());
    }
    let trusted = trust.unwrap_or(false);
    let verify_or_trust = if trusted {
        TlsMode::Require
    } else {
        TlsMode::VerifyFull
    };
    match encrypt.as_deref() {
        None => {
            if trust.is_some() && spec.tls == TlsMode::default() {
                spec.tls = verify_or_trust;
            }
        }
        Some("true" | "yes" | "mandatory" | "required" | "require" | "on") => {
            spec.tls = verify_or_trust
        }
        Some("strict") => {
            spec.tls = verify_or_trust;
            spec.options.insert(OPT_ENCRYPT.into(), "strict".into());
        }
        Some("false" | "no" | "optional" | "off") => spec.tls = TlsMode::Prefer,
        Some("disable" | "disabled" | "notsupported") => spec.tls = TlsMode::Disable,
        Some(other) => {
            return Err(SpecError::new(
                "tls",
                format!("Encrypt '{other}' is not true, false or strict"),
            ))
        }
    }
    Ok(())
}

/// Parses an ADO.NET connection string (what Azure's portal and
/// appsettings.json hand out). The password goes to the caller, never into
/// the spec.
pub fn parse_ado(text: &str, kind: Kind) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let pairs = split_ado(text)?;
    let mut spec = ConnSpec::new(kind);
    spec.options = BTreeMap::new();
    let mut password = None;
    let mut server = None;
    let mut port_key = None;
    let mut encrypt = None;
    let mut trust = None;
    for (k, v) in pairs {
        match k.replace([' ', '_'], "").as_str() {
            "server" | "datasource" | "address" | "addr" | "networkaddress" => server = Some(v),
            "initialcatalog" | "database" => spec.database = v,
            "userid" | "uid" | "user" | "username" => spec.user = v,
            "password" | "pwd" => {
                password = Some(SecretString::from(v)).filter(|p| !p.expose_secret().is_empty())
            }
            "port" => port_key = Some(ConnSpec::parse_port(&v)?),
            // Unknown ADO.NET keys are dropped, not stored: after an unquoted
            // `;` in a password, the rest of it would read as `key=value`.
            _ => apply_option(&mut spec, &k, &v, &mut encrypt, &mut trust, false)?,
        }
    }
    let server =
        server.ok_or_else(|| SpecError::new("host", "the connection string has no Server"))?;
    let (host, port, instance) = parse_server(&server)?;
    spec.host = host;
    spec.port = port.or(port_key);
    if let Some(i) = instance {
        spec.options.insert(OPT_INSTANCE.into(), i);
    }
    if spec.port.is_none() && !spec.options.contains_key(OPT_INSTANCE) {
        spec.port = kind.default_port();
    }
    // ADO.NET (Microsoft.Data.SqlClient 4+) encrypts by default.
    if encrypt.is_none() && trust.is_none() {
        encrypt = Some("true".into());
    }
    finish_tls(&mut spec, encrypt, trust)?;
    Ok((spec, password))
}

// ---------------------------------------------------------------------------
// SQL generation

fn lock_timeout_prefix(statement_timeout: Duration) -> String {
    // Numbers only: nothing typed reaches this statement.
    let ms = statement_timeout.as_millis().clamp(1, i32::MAX as u128);
    format!("SET LOCK_TIMEOUT {ms}; ")
}

/// `N'…'`: a Unicode string literal (quotes doubled).
fn nliteral(value: &str) -> String {
    format!("N{}", ident::literal(Dialect::Bracket, value))
}

/// `SELECT [TOP (n)] * FROM [s].[t] [WHERE (filter)]`.
pub fn select_sql(table: &TableRef, filter: Option<&str>, limit: Option<u64>) -> String {
    let mut sql = String::from("SELECT ");
    if let Some(n) = limit {
        sql.push_str(&format!("TOP ({n}) "));
    }
    sql.push_str("* FROM ");
    sql.push_str(&ident::qualified(Dialect::Bracket, table));
    if let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) {
        sql.push_str(" WHERE (");
        sql.push_str(f);
        sql.push(')');
    }
    sql
}

pub fn count_sql(table: &TableRef) -> String {
    format!(
        "SELECT COUNT_BIG(*) FROM {}",
        ident::qualified(Dialect::Bracket, table)
    )
}

pub const LIST_SQL: &str = "SELECT s.name, o.name, o.type, \
     (SELECT SUM(p.rows) FROM sys.partitions p \
      WHERE p.object_id = o.object_id AND p.index_id IN (0, 1)), \
     CAST(o.is_ms_shipped AS int) \
     FROM sys.all_objects o JOIN sys.schemas s ON s.schema_id = o.schema_id \
     WHERE o.type IN ('U', 'V') ORDER BY s.name, o.name";

pub fn object_sql(table: &TableRef) -> String {
    format!(
        "SELECT o.type, (SELECT SUM(p.rows) FROM sys.partitions p \
         WHERE p.object_id = o.object_id AND p.index_id IN (0, 1)) \
         FROM sys.all_objects o WHERE o.object_id = OBJECT_ID({})",
        nliteral(&ident::qualified(Dialect::Bracket, table))
    )
}

pub fn columns_sql(table: &TableRef) -> String {
    format!(
        "SELECT c.name, t.name, CAST(c.max_length AS int), CAST(c.precision AS int), \
         CAST(c.scale AS int), CAST(c.is_nullable AS int), CAST(c.is_identity AS int), \
         OBJECT_DEFINITION(c.default_object_id), \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.index_columns ic \
           JOIN sys.indexes i ON i.object_id = ic.object_id AND i.index_id = ic.index_id \
           WHERE i.is_primary_key = 1 AND ic.object_id = c.object_id \
           AND ic.column_id = c.column_id) THEN 1 ELSE 0 END AS int), \
         (SELECT TOP (1) rs.name + N'.' + rt.name + N'(' + rc.name + N')' \
           FROM sys.foreign_key_columns fkc \
           JOIN sys.objects rt ON rt.object_id = fkc.referenced_object_id \
           JOIN sys.schemas rs ON rs.schema_id = rt.schema_id \
           JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id \
             AND rc.column_id = fkc.referenced_column_id \
           WHERE fkc.parent_object_id = c.object_id AND fkc.parent_column_id = c.column_id) \
         FROM sys.all_columns c JOIN sys.types t ON t.user_type_id = c.user_type_id \
         WHERE c.object_id = OBJECT_ID({}) ORDER BY c.column_id",
        nliteral(&ident::qualified(Dialect::Bracket, table))
    )
}

/// Version, edition, banner and whether this connection is encrypted
/// (`CONNECTIONPROPERTY` needs no VIEW SERVER STATE, unlike sys.dm_exec_connections).
pub const VERSION_SQL: &str = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), \
     CAST(SERVERPROPERTY('Edition') AS nvarchar(128)), CAST(@@VERSION AS nvarchar(4000)), \
     CAST(CONNECTIONPROPERTY('encrypt_option') AS nvarchar(40))";

/// A type name as SQL Server prints it, from `sys.columns`/`sys.types`.
pub fn sql_type_name(name: &str, max_length: i32, precision: i32, scale: i32) -> String {
    match name {
        "nvarchar" | "nchar" => match max_length {
            -1 => format!("{name}(max)"),
            n => format!("{name}({})", n / 2),
        },
        "varchar" | "char" | "varbinary" | "binary" => match max_length {
            -1 => format!("{name}(max)"),
            n => format!("{name}({n})"),
        },
        "decimal" | "numeric" => format!("{name}({precision},{scale})"),
        "datetime2" | "time" | "datetimeoffset" => format!("{name}({scale})"),
        _ => name.to_string(),
    }
}

/// The logical type of a SQL Server type name (`nvarchar(50)`, `datetime2(7)`…).
pub fn logical_of(type_name: &str) -> Logical {
    let base = type_name
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "tinyint" | "smallint" | "int" | "bigint" => Logical::Integer,
        "bit" => Logical::Bool,
        "decimal" | "numeric" | "money" | "smallmoney" => Logical::Numeric,
        "float" | "real" => Logical::Real,
        "datetime" | "datetime2" | "smalldatetime" | "datetimeoffset" => Logical::Timestamp,
        "varbinary" | "binary" | "image" | "timestamp" | "rowversion" => Logical::Bytes,
        // A sql_variant's values have different types from row to row.
        "sql_variant" => Logical::Any,
        _ => Logical::Text,
    }
}

/// The type name of a result column (the protocol carries no lengths here).
fn result_type_name(t: ColumnType) -> &'static str {
    use ColumnType as T;
    match t {
        T::Null => "null",
        T::Bit | T::Bitn => "bit",
        T::Int1 => "tinyint",
        T::Int2 => "smallint",
        T::Int4 => "int",
        T::Int8 => "bigint",
        T::Intn => "int",
        T::Datetime4 => "smalldatetime",
        T::Datetime | T::Datetimen => "datetime",
        T::Float4 => "real",
        T::Float8 | T::Floatn => "float",
        T::Money => "money",
        T::Money4 => "smallmoney",
        T::Guid => "uniqueidentifier",
        T::Decimaln => "decimal",
        T::Numericn => "numeric",
        T::Daten => "date",
        T::Timen => "time",
        T::Datetime2 => "datetime2",
        T::DatetimeOffsetn => "datetimeoffset",
        T::BigVarBin => "varbinary",
        T::BigVarChar => "varchar",
        T::BigBinary => "binary",
        T::BigChar => "char",
        T::NVarchar => "nvarchar",
        T::NChar => "nchar",
        T::Xml => "xml",
        T::Udt => "udt",
        T::Text => "text",
        T::Image => "image",
        T::NText => "ntext",
        T::SSVariant => "sql_variant",
    }
}

fn column_meta(c: &tiberius::Column) -> ColumnMeta {
    let type_name = result_type_name(c.column_type()).to_string();
    ColumnMeta {
        name: c.name().to_string(),
        logical: logical_of(&type_name),
        type_name,
    }
}

// ---------------------------------------------------------------------------
// Values

/// Days since 0001-01-01 (SQL Server `date`) → "YYYY-MM-DD".
fn date_from_days(days_since_0001: i64) -> String {
    // Julian day number of 0001-01-01 (proleptic Gregorian).
    let jd = 1_721_426 + days_since_0001;
    match i32::try_from(jd)
        .ok()
        .and_then(|j| time::Date::from_julian_day(j).ok())
    {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        None => format!("(day {days_since_0001})"),
    }
}

/// Days since 1900-01-01 (`datetime`, `smalldatetime`) as days since 0001-01-01.
const DAYS_0001_TO_1900: i64 = 693_595;

/// `increments` of 10^-scale s since midnight → "HH:MM:SS[.fff…]" (scale digits).
fn time_text(increments: u64, scale: u8) -> String {
    let div = 10u64.pow(u32::from(scale));
    let secs = increments / div;
    let frac = increments % div;
    let base = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if scale == 0 {
        base
    } else {
        format!("{base}.{frac:0width$}", width = scale as usize)
    }
}

/// An exact decimal from tiberius' mantissa and scale.
fn numeric_text(value: i128, scale: u8) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{abs}");
    }
    let div = 10u128.pow(u32::from(scale));
    format!(
        "{sign}{}.{:0width$}",
        abs / div,
        abs % div,
        width = scale as usize
    )
}

/// A decoded value as a cell. Money arrives from tiberius as f64 (scaled by
/// 10^4), shown with its four decimals.
pub fn cell_of(data: &ColumnData<'static>, column: ColumnType) -> Cell {
    use ColumnData as D;
    match data {
        D::U8(Some(v)) => Cell::Int(i64::from(*v)),
        D::I16(Some(v)) => Cell::Int(i64::from(*v)),
        D::I32(Some(v)) => Cell::Int(i64::from(*v)),
        D::I64(Some(v)) => Cell::Int(*v),
        D::F32(Some(v)) => Cell::Float(v.to_string().parse().unwrap_or(f64::from(*v))),
        D::F64(Some(v)) if matches!(column, ColumnType::Money | ColumnType::Money4) => {
            Cell::Text(format!("{v:.4}"))
        }
        D::F64(Some(v)) => Cell::Float(*v),
        D::Bit(Some(b)) => Cell::Bool(*b),
        D::String(Some(s)) => Cell::Text(s.to_string()),
        D::Guid(Some(g)) => Cell::Text(g.to_string().to_ascii_uppercase()),
        D::Binary(Some(b)) => Cell::Bytes(b.to_vec()),
        D::Numeric(Some(n)) => Cell::Text(numeric_text(n.value(), n.scale())),
        D::Xml(Some(x)) => Cell::Text(x.to_string()),
        D::DateTime(Some(dt)) => {
            // 1/300 s ticks since midnight, shown in milliseconds as SQL Server does.
            let ms = (u64::from(dt.seconds_fragments()) * 1000 + 150) / 300;
            Cell::Text(format!(
                "{}T{}",
                date_from_days(i64::from(dt.days()) + DAYS_0001_TO_1900),
                time_text(ms, 3)
            ))
        }
        D::SmallDateTime(Some(dt)) => Cell::Text(format!(
            "{}T{}",
            date_from_days(i64::from(dt.days()) + DAYS_0001_TO_1900),
            time_text(u64::from(dt.seconds_fragments()) * 60, 0)
        )),
        D::Date(Some(d)) => Cell::Text(date_from_days(i64::from(d.days()))),
        D::Time(Some(t)) => Cell::Text(time_text(t.increments(), t.scale())),
        D::DateTime2(Some(dt)) => Cell::Text(datetime2_text(dt)),
        D::DateTimeOffset(Some(dto)) => {
            // The wire holds UTC; shown in the stored offset, as SQL Server prints it.
            let dt = dto.datetime2();
            let offset = i64::from(dto.offset());
            let t = dt.time();
            let div = 10u64.pow(u32::from(t.scale()));
            let day_incr = 86_400 * div as i128;
            let mut total = i128::from(dt.date().days()) * day_incr
                + i128::from(t.increments())
                + i128::from(offset) * 60 * div as i128;
            if total < 0 {
                total = 0;
            }
            let days = (total / day_incr) as i64;
            let incr = (total % day_incr) as u64;
            let sign = if offset < 0 { '-' } else { '+' };
            Cell::Text(format!(
                "{}T{}{sign}{:02}:{:02}",
                date_from_days(days),
                time_text(incr, t.scale()),
                offset.abs() / 60,
                offset.abs() % 60
            ))
        }
        _ => Cell::Null,
    }
}

fn datetime2_text(dt: &tiberius::time::DateTime2) -> String {
    format!(
        "{}T{}",
        date_from_days(i64::from(dt.date().days())),
        time_text(dt.time().increments(), dt.time().scale())
    )
}

fn row_cells(row: tiberius::Row) -> Vec<Cell> {
    let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
    row.into_iter()
        .zip(types)
        .map(|(d, t)| cell_of(&d, t))
        .collect()
}

fn text_at(row: &tiberius::Row, idx: usize) -> Option<String> {
    match row.cells().nth(idx)?.1 {
        ColumnData::String(Some(s)) => Some(s.to_string()),
        other => match cell_of(other, ColumnType::Null) {
            Cell::Null => None,
            c => Some(c.display()),
        },
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Maps a tiberius error to the taxonomy (detail not yet scrubbed).
pub fn map_error(e: &tiberius::error::Error) -> ConnError {
    use tiberius::error::Error as E;
    match e {
        E::Server(t) => server_error(t.code(), t.class(), t.message()),
        E::Io { kind, message } => {
            let io = std::io::Error::new(*kind, message.clone());
            let kind = match classify_io(&io) {
                ErrorKind::NotFound => ErrorKind::Other,
                k => k,
            };
            ConnError::new(kind, message.clone())
        }
        E::Tls(msg) => {
            let lower = msg.to_ascii_lowercase();
            let kind = if lower.contains("certificate")
                || lower.contains("unknownissuer")
                || lower.contains("notvalidforname")
            {
                ErrorKind::CertificateNotTrusted
            } else {
                ErrorKind::Other
            };
            ConnError::new(kind, format!("TLS: {msg}"))
        }
        E::Protocol(p) => {
            let lower = p.to_ascii_lowercase();
            let kind = if lower.contains("encryption") {
                ErrorKind::TlsUnavailable
            } else {
                ErrorKind::Other
            };
            ConnError::new(kind, format!("protocol: {p}"))
        }
        E::Routing { host, port } => ConnError::new(
            ErrorKind::Other,
            format!("the server redirects to {host}:{port} (Azure routing is not followed)"),
        ),
        other => ConnError::new(ErrorKind::Other, other.to_string()),
    }
}

/// A server ERROR token → the taxonomy, with SQL Server's own words kept.
pub fn server_error(code: u32, class: u8, message: &str) -> ConnError {
    let detail = format!("Msg {code}, Level {class}: {message}");
    let (kind, note) = match code {
        18456 => (ErrorKind::InvalidCredentials, ""),
        4060 => (
            ErrorKind::DatabaseNotFound,
            " (the database does not exist or this login has no access to it: \
             the server does not say which)",
        ),
        18452 => (
            ErrorKind::InvalidCredentials,
            " (this login is refused for SQL Server authentication: the server \
             may accept only Windows authentication)",
        ),
        18486 => (
            ErrorKind::InvalidCredentials,
            " (account locked: too many failed logins; an administrator must unlock it)",
        ),
        18487 => (
            ErrorKind::InvalidCredentials,
            " (password expired: change it with another client first)",
        ),
        18488 => (
            ErrorKind::InvalidCredentials,
            " (the password must be changed before the first login: change it with another client)",
        ),
        208 => (ErrorKind::NotFound, ""),
        229 | 230 | 262 | 297 | 300 | 916 => (ErrorKind::PermissionDenied, ""),
        1222 => (
            ErrorKind::StatementTimeout,
            " (lock timeout: a production lock was held longer than the browsing timeout)",
        ),
        3980 | 3204 => (ErrorKind::Cancelled, ""),
        3906 => (ErrorKind::ReadOnly, ""),
        _ => (ErrorKind::Other, ""),
    };
    ConnError::new(kind, format!("{detail}{note}"))
}

// ---------------------------------------------------------------------------
// The connector

pub struct SqlServerConnector {
    spec: ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
    session: Mutex<Option<MsClient>>,
}

/// Holds the session's client while a request runs. Dropped armed (the call's
/// future was dropped, or the request failed mid-stream), it sends a TDS
/// Attention so the server stops, then closes the connection.
struct Attend {
    client: Option<MsClient>,
    timeout: Duration,
}

impl Attend {
    fn client(&mut self) -> &mut MsClient {
        self.client.as_mut().expect("client present until done")
    }

    fn done(mut self) -> MsClient {
        self.client.take().expect("client present until done")
    }
}

impl Drop for Attend {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.timeout;
        rt.spawn(async move {
            let _ = tokio::time::timeout(timeout, client.cancel_query()).await;
            let _ = tokio::time::timeout(timeout, client.close()).await;
        });
    }
}

impl SqlServerConnector {
    pub fn new(spec: ConnSpec, password: Option<SecretString>, opts: SessionOptions) -> Self {
        SqlServerConnector {
            spec,
            password,
            opts,
            session: Mutex::new(None),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }

    fn err(&self, e: &tiberius::error::Error) -> ConnError {
        map_error(e).scrub(self.secret())
    }

    fn instance(&self) -> Option<&str> {
        self.spec.options.get(OPT_INSTANCE).map(String::as_str)
    }

    /// tiberius configuration; `command_timeout` bounds each server answer.
    fn config(&self, command_timeout: Option<Duration>) -> Result<Config, ConnError> {
        let mut c = Config::new();
        c.host(&self.spec.host);
        // No port with an instance name: tiberius asks SQL Browser (UDP 1434).
        if let Some(p) = self.spec.port {
            c.port(p);
        }
        if let Some(i) = self.instance() {
            c.instance_name(i);
        }
        if !self.spec.database.is_empty() {
            c.database(&self.spec.database);
        }
        c.application_name("varlor");
        c.authentication(AuthMethod::sql_server(
            &self.spec.user,
            self.secret().unwrap_or(""),
        ));
        let strict = self
            .spec
            .options
            .get(OPT_ENCRYPT)
            .is_some_and(|v| v == "strict");
        let level = match (self.spec.tls, strict) {
            (TlsMode::Disable, true) => {
                return Err(ConnError::new(
                    ErrorKind::Config,
                    "tls: strict encryption cannot be combined with TLS disabled",
                ))
            }
            (TlsMode::Disable, false) => EncryptionLevel::NotSupported,
            (_, true) => EncryptionLevel::Strict,
            (TlsMode::Prefer, false) => EncryptionLevel::Off,
            (_, false) => EncryptionLevel::Required,
        };
        c.encryption(level);
        match self.spec.tls {
            TlsMode::Disable => {}
            TlsMode::Prefer | TlsMode::Require => c.trust_cert(),
            // Without a CA file: the system's trust store (tiberius' default).
            TlsMode::VerifyFull => {
                if let Some(path) = &self.spec.ca_file {
                    // Same checks and messages as the other engines.
                    super::tls::load_ca_file(path)?;
                    let pem = std::fs::read(path).map_err(|e| {
                        ConnError::new(
                            ErrorKind::Config,
                            format!("CA file {}: {e}", path.display()),
                        )
                    })?;
                    // Added to the system roots (tiberius layers extra CAs).
                    c.trust_cert_ca_bundle(pem);
                }
            }
        }
        // Dialled for another name (an SSH tunnel): the certificate is
        // checked (and SNI sent) for the database's own, unless stated.
        let stated = self.spec.options.get(OPT_HOST_IN_CERTIFICATE);
        if let Some(h) = stated.or(self.spec.options.get(super::spec::TLS_SERVER_NAME)) {
            c.hostname_in_certificate(h);
        }
        if self
            .spec
            .options
            .get(OPT_APPLICATION_INTENT)
            .is_some_and(|v| v == "readonly")
        {
            c.readonly(true);
        }
        c.handshake_timeout(Some(self.spec.connect_timeout()));
        c.command_timeout(command_timeout);
        c.lossy_utf16_decoding(true);
        Ok(c)
    }

    /// TCP connect (or SQL Browser lookup) and login, both within the
    /// configured connect timeout.
    async fn connect(&self, command_timeout: Option<Duration>) -> Result<MsClient, ConnError> {
        let config = self.config(command_timeout)?;
        let timeout = self.spec.connect_timeout();
        let socket = self.spec.options.get(super::spec::TUNNEL_SOCKET);
        let by_browser = socket.is_none() && self.instance().is_some() && self.spec.port.is_none();
        let fut = async {
            let wire = if let Some(path) = socket {
                // The tunnel's socket; TLS (TDS) runs over it as over TCP.
                Either::Right(UnixStream::connect(path).await?)
            } else {
                let tcp = if by_browser {
                    use tiberius::SqlBrowser;
                    TcpStream::connect_named(&config).await?
                } else {
                    TcpStream::connect(config.get_addr()).await?
                };
                let _ = tcp.set_nodelay(true);
                Either::Left(tcp)
            };
            Client::connect(config, wire.compat_write()).await
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => {
                let mut err = self.err(&e);
                if by_browser && err.kind == ErrorKind::Other {
                    err.detail = format!(
                        "instance {} not found through the SQL Browser service (UDP 1434): {}",
                        self.instance().unwrap_or(""),
                        err.detail
                    );
                }
                Err(err)
            }
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

    async fn browsing_client(&self) -> Result<MsClient, ConnError> {
        let mut slot = self.session.lock().await;
        match slot.take() {
            Some(c) => Ok(c),
            // tiberius' own per-answer bound stays behind the statement
            // timeout, which `browse` enforces (and answers with an Attention).
            None => {
                let bound = self.opts.statement_timeout + self.spec.connect_timeout();
                self.connect(Some(bound)).await
            }
        }
    }

    async fn put_back(&self, client: MsClient) {
        *self.session.lock().await = Some(client);
    }

    fn statement_timeout(&self) -> ConnError {
        ConnError::new(
            ErrorKind::StatementTimeout,
            format!(
                "no result within {} s; the request was cancelled",
                self.opts.statement_timeout.as_secs()
            ),
        )
    }

    /// Runs one browsing batch (with the lock timeout) and collects the
    /// first result set. The session goes back to the pool on success and
    /// on server errors; anything else drops (and attends) it.
    async fn browse(&self, sql: &str) -> Result<(Vec<ColumnMeta>, Vec<Vec<Cell>>), ConnError> {
        let batch = format!("{}{sql}", lock_timeout_prefix(self.opts.statement_timeout));
        let mut guard = Attend {
            client: Some(self.browsing_client().await?),
            timeout: self.spec.connect_timeout(),
        };
        let run = collect_first(guard.client(), &batch, None);
        let result = tokio::time::timeout(self.opts.statement_timeout, run).await;
        match result {
            Ok(Ok(v)) => {
                self.put_back(guard.done()).await;
                Ok(v)
            }
            Ok(Err(Fail::Db(e))) => match e {
                tiberius::error::Error::Server(_) => {
                    self.put_back(guard.done()).await;
                    Err(self.err(&e))
                }
                tiberius::error::Error::Io {
                    kind: std::io::ErrorKind::TimedOut,
                    ..
                } => Err(self.statement_timeout()),
                _ => Err(self.err(&e)),
            },
            Ok(Err(Fail::Sink(e))) => Err(e),
            Err(_) => Err(self.statement_timeout()),
        }
    }
}

enum Fail {
    Db(tiberius::error::Error),
    Sink(ConnError),
}

impl From<tiberius::error::Error> for Fail {
    fn from(e: tiberius::error::Error) -> Self {
        Fail::Db(e)
    }
}

/// Reads the first result set of a batch: columns, then rows (into `sink`
/// when given, else collected). Later result sets are drained.
async fn collect_first(
    client: &mut MsClient,
    sql: &str,
    mut sink: Option<&mut dyn RowSink>,
) -> Result<(Vec<ColumnMeta>, Vec<Vec<Cell>>), Fail> {
    let mut stream = client.simple_query(sql).await?;
    let mut columns: Option<Vec<ColumnMeta>> = None;
    let mut first_index = None;
    let mut rows = Vec::new();
    while let Some(item) = stream.try_next().await? {
        match item {
            QueryItem::Metadata(m) => {
                if columns.is_none() {
                    let cols: Vec<ColumnMeta> = m.columns().iter().map(column_meta).collect();
                    if let Some(s) = sink.as_deref_mut() {
                        s.columns(&cols).map_err(Fail::Sink)?;
                    }
                    first_index = Some(m.result_index());
                    columns = Some(cols);
                }
            }
            QueryItem::Row(r) => {
                if Some(r.result_index()) != first_index {
                    continue;
                }
                let cells = row_cells(r);
                match sink.as_deref_mut() {
                    Some(s) => s.row(cells).map_err(Fail::Sink)?,
                    None => rows.push(cells),
                }
            }
        }
    }
    if columns.is_none() {
        if let Some(s) = sink {
            s.columns(&[]).map_err(Fail::Sink)?;
        }
    }
    Ok((columns.unwrap_or_default(), rows))
}

/// Checks that a user's filter stays one condition inside `WHERE ( … )`: no
/// closing parenthesis that would end the wrapping one, no comment that could
/// hide it, no statement separator, every quote closed. The server checks the
/// rest, inside a transaction that is rolled back.
pub fn check_filter(filter: &str) -> Result<(), ConnError> {
    let bad = |why: &str| ConnError::new(ErrorKind::InvalidFilter, format!("filter: {why}"));
    let chars: Vec<char> = filter.chars().collect();
    let mut depth = 0i32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '[' => {
                let close = if c == '[' { ']' } else { c };
                i += 1;
                loop {
                    if i >= chars.len() {
                        return Err(bad("a quote or bracket is not closed"));
                    }
                    if chars[i] == close {
                        if chars.get(i + 1) == Some(&close) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                return Err(bad("comments are not allowed in a filter"))
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                return Err(bad("comments are not allowed in a filter"))
            }
            ';' => return Err(bad("a filter is one condition, without ';'")),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(bad("a ')' without its '('"));
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err(bad("a '(' without its ')'"));
    }
    Ok(())
}

#[async_trait]
impl Connector for SqlServerConnector {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        let start = Instant::now();
        let mut client = self.connect(Some(self.spec.connect_timeout())).await?;
        let remaining = self.spec.connect_timeout().saturating_sub(start.elapsed());
        let probe = async {
            let row = client.simple_query(VERSION_SQL).await?.into_row().await?;
            Ok::<_, tiberius::error::Error>(row)
        };
        let row = match tokio::time::timeout(remaining, probe).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(self.err(&e)),
            Err(_) => {
                return Err(ConnError::new(
                    ErrorKind::ConnectionTimeout,
                    "the server accepted the login but did not answer a query in time",
                ))
            }
        };
        let latency = start.elapsed();
        let _ = client.close().await;
        let row = row
            .ok_or_else(|| ConnError::new(ErrorKind::Other, "the version query returned no row"))?;
        let product = text_at(&row, 0).unwrap_or_else(|| "unknown".into());
        let edition = text_at(&row, 1);
        let banner = text_at(&row, 2)
            .and_then(|v| v.lines().next().map(|l| l.trim().to_string()))
            .filter(|l| !l.is_empty());
        let mut version = format!("SQL Server {product}");
        if let Some(e) = edition {
            version.push_str(&format!(" ({e})"));
        }
        if let Some(b) = banner {
            version.push_str(&format!("; {b}"));
        }
        let tls = match text_at(&row, 3) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => self.spec.tls != TlsMode::Disable,
        };
        Ok(ServerInfo {
            version,
            latency,
            tls,
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        let (_, rows) = self.browse(LIST_SQL).await?;
        Ok(rows.into_iter().filter_map(table_of_row).collect())
    }

    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        let (_, obj) = self.browse(&object_sql(table)).await?;
        let Some(obj) = obj.into_iter().next() else {
            return Err(ConnError::new(
                ErrorKind::NotFound,
                format!("{} does not exist", table.display_name()),
            ));
        };
        let is_view = matches!(obj.first(), Some(Cell::Text(t)) if t.trim() == "V");
        let estimated_rows = if is_view { None } else { cell_int(obj.get(1)) };
        let (_, cols) = self.browse(&columns_sql(table)).await?;
        let columns = cols.iter().map(|r| column_info(r)).collect();
        let mut t = table.clone();
        t.estimated_rows = estimated_rows;
        if is_view {
            t.kind = TableKind::View;
        }
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
        let (_, rows) = self.browse(&count_sql(table)).await?;
        rows.first()
            .and_then(|r| cell_int(r.first()))
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| ConnError::new(ErrorKind::Other, "COUNT_BIG returned no number"))
    }

    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        let start = Instant::now();
        let (columns, rows) = self
            .browse(&select_sql(table, None, Some(limit as u64)))
            .await?;
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
        let filter = opts.checked_filter(self.opts.read_only)?;
        if let Some(f) = filter {
            check_filter(f)?;
        }
        let sql = select_sql(table, filter, opts.limit);
        // A connection of its own without a command timeout: an import is
        // long by nature and is cancelled by dropping it (Attention, close).
        let mut guard = Attend {
            client: Some(self.connect(None).await?),
            timeout: self.spec.connect_timeout(),
        };
        let mut counting = Counting { inner: sink, n: 0 };
        let run = async {
            if filter.is_some() {
                // The filter is the user's text: it runs inside a transaction
                // that is always rolled back (XACT_ABORT: any error ends it).
                guard
                    .client()
                    .simple_query("SET XACT_ABORT ON; BEGIN TRANSACTION")
                    .await?
                    .into_results()
                    .await?;
            }
            let batch = format!("{}{sql}", lock_timeout_prefix(self.opts.statement_timeout));
            let r = collect_first(guard.client(), &batch, Some(&mut counting)).await;
            if filter.is_some() {
                let rb = guard
                    .client()
                    .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
                    .await;
                if let Ok(s) = rb {
                    let _ = s.into_results().await;
                }
            }
            r.map(|_| ())
        };
        let result = run.await;
        match result {
            Ok(()) => {
                let client = guard.done();
                let _ = client.close().await;
                Ok(counting.n)
            }
            // Attend closes the connection (the server rolls back with it).
            Err(Fail::Db(e)) => {
                let mut err = self.err(&e);
                if filter.is_some() && matches!(e, tiberius::error::Error::Server(_)) {
                    err.detail = format!("filter: {}", err.detail);
                }
                Err(err)
            }
            Err(Fail::Sink(e)) => Err(e.scrub(self.secret())),
        }
    }

    /// A typed query: checked word by word first (T-SQL needs no `;`
    /// between statements), then run on a connection of its own inside a
    /// transaction that is always rolled back, under the lock timeout.
    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        let text = single_statement(sql)?.to_string();
        statement::only_query(&text, "SQL Server", &statement::TSQL)?;
        let mut client = self.connect(None).await?;
        let setup = format!(
            "SET XACT_ABORT ON; SET IMPLICIT_TRANSACTIONS OFF; {}BEGIN TRANSACTION",
            lock_timeout_prefix(self.opts.statement_timeout)
        );
        let began = match client.simple_query(setup).await {
            Ok(s) => s.into_results().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = began {
            let _ = client.close().await;
            return Err(self.err(&e));
        }
        let (cols_tx, cols_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        let secret = self.password.clone();
        let map = move |e: &tiberius::error::Error| {
            map_error(e).scrub(secret.as_ref().map(|p| p.expose_secret()))
        };
        let timeout = self.spec.connect_timeout();
        let producer = tokio::spawn(async move {
            // Dropped unfinished (cancel, error): Attention, then close; the
            // server rolls the transaction back with the connection.
            let mut guard = Attend {
                client: Some(client),
                timeout,
            };
            let mut cols_tx = Some(cols_tx);
            let run = async {
                let mut stream = guard.client().simple_query(text).await?;
                let mut first = None;
                while let Some(item) = stream.try_next().await? {
                    match item {
                        QueryItem::Metadata(m) => {
                            if let Some(c) = cols_tx.take() {
                                first = Some(m.result_index());
                                if c.send(Ok(m.columns().iter().map(column_meta).collect()))
                                    .is_err()
                                {
                                    return Ok(false);
                                }
                            }
                        }
                        QueryItem::Row(r) if Some(r.result_index()) == first => {
                            if tx.send(Ok(row_cells(r))).await.is_err() {
                                return Ok(false);
                            }
                        }
                        QueryItem::Row(_) => {}
                    }
                }
                Ok::<_, tiberius::error::Error>(true)
            }
            .await;
            match run {
                Ok(true) => {
                    if let Some(c) = cols_tx.take() {
                        let _ = c.send(Ok(Vec::new()));
                    }
                    drop(tx);
                    let mut client = guard.done();
                    let _ = tokio::time::timeout(timeout, async {
                        if let Ok(s) = client
                            .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
                            .await
                        {
                            let _ = s.into_results().await;
                        }
                        let _ = client.close().await;
                    })
                    .await;
                }
                Ok(false) => {}
                Err(e) => match cols_tx.take() {
                    Some(c) => {
                        let _ = c.send(Err(map(&e)));
                    }
                    None => {
                        let _ = tx.send(Err(map(&e))).await;
                    }
                },
            }
        });
        // Dropping the cursor stops the reader, whose guard sends Attention.
        struct Stop(tokio::task::AbortHandle);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let stop = Stop(producer.abort_handle());
        let cursor =
            ChannelCursor::start(cols_rx, rx, Box::new(stop), self.opts.statement_timeout).await?;
        Ok(Box::new(cursor))
    }

    async fn reset(&self) {
        if let Some(c) = self.session.lock().await.take() {
            let _ = c.close().await;
        }
    }

    fn capabilities(&self) -> Capabilities {
        ENGINE.capabilities
    }
}

struct Counting<'a> {
    inner: &'a mut dyn RowSink,
    n: u64,
}

impl RowSink for Counting<'_> {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ConnError> {
        self.inner.columns(columns)
    }
    fn row(&mut self, row: Vec<Cell>) -> Result<(), ConnError> {
        self.n += 1;
        self.inner.row(row)
    }
}

fn cell_int(c: Option<&Cell>) -> Option<i64> {
    match c? {
        Cell::Int(i) => Some(*i),
        Cell::Text(t) => t.split('.').next()?.parse().ok(),
        Cell::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn cell_text(c: Option<&Cell>) -> Option<String> {
    match c? {
        Cell::Null => None,
        Cell::Text(t) => Some(t.clone()),
        other => Some(other.display()),
    }
}

/// One row of `LIST_SQL`: schema, name, type, rows, shipped.
fn table_of_row(r: Vec<Cell>) -> Option<TableRef> {
    let schema = cell_text(r.first())?;
    let name = cell_text(r.get(1))?;
    let view = cell_text(r.get(2)).is_some_and(|t| t.trim() == "V");
    let shipped = cell_int(r.get(4)) == Some(1);
    Some(TableRef {
        system: shipped || SYSTEM_SCHEMAS.contains(&schema.as_str()),
        schema: Some(schema),
        name,
        kind: if view {
            TableKind::View
        } else {
            TableKind::Table
        },
        estimated_rows: if view { None } else { cell_int(r.get(3)) },
    })
}

/// One row of `columns_sql`.
fn column_info(r: &[Cell]) -> ColumnInfo {
    let base = cell_text(r.get(1)).unwrap_or_default();
    let int = |i: usize| cell_int(r.get(i)).unwrap_or(0) as i32;
    let mut data_type = sql_type_name(&base, int(2), int(3), int(4));
    if int(6) == 1 {
        data_type.push_str(" identity");
    }
    ColumnInfo {
        name: cell_text(r.first()).unwrap_or_default(),
        data_type,
        nullable: int(5) == 1,
        default: cell_text(r.get(7)),
        primary_key: int(8) == 1,
        references: cell_text(r.get(9)),
        presence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ado_string_from_azure_portal() {
        let portal = "Server=tcp:shop.database.windows.net,1433;Initial Catalog=sales;\
             Persist Security Info=False;User ID=app;Password={s3cr;et}}!};\
             MultipleActiveResultSets=False;Encrypt=True;TrustServerCertificate=False;\
             Connection Timeout=30;";
        let (spec, pw) = parse_url(portal, Kind::Sqlserver).unwrap();
        assert_eq!(spec.host, "shop.database.windows.net");
        assert_eq!(spec.port, Some(1433));
        assert_eq!(spec.database, "sales");
        assert_eq!(spec.user, "app");
        assert_eq!(spec.tls, TlsMode::VerifyFull);
        assert_eq!(spec.connect_timeout_secs, 30);
        assert_eq!(pw.unwrap().expose_secret(), "s3cr;et}!");
        assert!(!format!("{spec:?}").contains("s3cr"));
        // An unquoted `;` splits the password: the tail is never stored.
        let (spec, _) = parse_url(
            "Server=h;User ID=app;Password=s3cr;tail=et!;Encrypt=False",
            Kind::Sqlserver,
        )
        .unwrap();
        assert!(!format!("{spec:?}").contains("et!"), "{spec:?}");
        // Unquoted, the `;` ends the value: an error that does not echo the rest.
        let e = parse_url("Server=h;User ID=app;Password=s3cr;et!;", Kind::Sqlserver).unwrap_err();
        assert_eq!(e.field, "url");
        assert!(!e.to_string().contains("et!"), "{e}");
    }

    #[test]
    fn ado_quoting_instances_and_trust() {
        let (spec, pw) = parse_url(
            "Data Source=db01\\REPORTING;Database=\"it's; here\";UID='o''brien';PWD=\"p\"\"w\";\
             TrustServerCertificate=True;ApplicationIntent=ReadOnly",
            Kind::Sqlserver,
        )
        .unwrap();
        assert_eq!(spec.host, "db01");
        assert_eq!(
            spec.port, None,
            "a named instance without a port asks SQL Browser"
        );
        assert_eq!(spec.options.get(OPT_INSTANCE).unwrap(), "REPORTING");
        assert_eq!(spec.database, "it's; here");
        assert_eq!(spec.user, "o'brien");
        assert_eq!(pw.unwrap().expose_secret(), "p\"w");
        assert_eq!(
            spec.tls,
            TlsMode::Require,
            "trusted certificate, still encrypted"
        );
        assert_eq!(
            spec.options.get(OPT_APPLICATION_INTENT).unwrap(),
            "readonly"
        );
        assert!(spec.validate().is_ok());

        let (spec, _) = parse_url(
            "server=.\\SQLEXPRESS,1500;user id=sa;encrypt=strict",
            Kind::Sqlserver,
        )
        .unwrap();
        assert_eq!(spec.host, "localhost");
        assert_eq!(spec.port, Some(1500));
        assert_eq!(spec.options.get(OPT_ENCRYPT).unwrap(), "strict");
        assert_eq!(spec.tls, TlsMode::VerifyFull);

        let (spec, _) = parse_url("Server=h;User ID=u;Encrypt=False", Kind::Sqlserver).unwrap();
        assert_eq!(spec.tls, TlsMode::Prefer);
        assert_eq!(spec.port, Some(1433));
    }

    #[test]
    fn ado_errors_name_the_field_and_never_echo_the_password() {
        for (text, field) in [
            ("Server=h;Password={abc", "url"),
            ("Initial Catalog=x;Password=zz9", "host"),
            ("Server=np:\\\\h\\pipe;Password=zz9", "host"),
            ("Server=h,99999;Password=zz9", "port"),
            ("Server=h;Integrated Security=SSPI;Password=zz9", "url"),
            ("Server=h;Encrypt=maybe;Password=zz9", "tls"),
        ] {
            let e = parse_url(text, Kind::Sqlserver).unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(!e.to_string().contains("zz9"), "{e}");
        }
    }

    #[test]
    fn urls_carry_encrypt_instance_and_intent() {
        let (spec, pw) = parse_url(
            "sqlserver://bob:p%3Bw@db.example:1444/shop?encrypt=strict&applicationIntent=ReadOnly",
            Kind::Sqlserver,
        )
        .unwrap();
        assert_eq!(
            (spec.host.as_str(), spec.port, spec.database.as_str()),
            ("db.example", Some(1444), "shop")
        );
        assert_eq!(pw.unwrap().expose_secret(), "p;w");
        assert_eq!(spec.options.get(OPT_ENCRYPT).unwrap(), "strict");
        assert_eq!(
            spec.options.get(OPT_APPLICATION_INTENT).unwrap(),
            "readonly"
        );
        assert_eq!(spec.tls, TlsMode::VerifyFull);
        let (spec, _) = parse_url(
            "mssql://sa@h/db?trustServerCertificate=true",
            Kind::Sqlserver,
        )
        .unwrap();
        assert_eq!(spec.tls, TlsMode::Require);
        assert!(looks_like_ado("  Data Source = x"));
        assert!(looks_like_ado("Server=tcp:x,1"));
        assert!(!looks_like_ado("sqlserver://x"));
    }

    #[test]
    fn a_spec_survives_its_own_url() {
        for text in [
            "Server=db\\BI;User ID=u;Encrypt=Strict;TrustServerCertificate=True;\
             ApplicationIntent=ReadOnly",
            "Server=tcp:db,1500;User ID=u;Encrypt=Strict",
            "Server=db;User ID=u;Encrypt=False",
            "sqlserver://u@db/x?sslmode=disable",
        ] {
            let (spec, _) = parse_url(text, Kind::Sqlserver).unwrap();
            let url = spec.to_url();
            let (again, _) = parse_url(&url, Kind::Sqlserver).unwrap();
            assert_eq!(again, spec, "{text} → {url}");
        }
    }

    #[test]
    fn sql_is_generated_with_brackets_top_and_count_big() {
        let hostile = t("dbo", "we]ird; DROP TABLE x");
        assert_eq!(
            select_sql(&hostile, None, Some(100)),
            "SELECT TOP (100) * FROM [dbo].[we]]ird; DROP TABLE x]"
        );
        assert_eq!(
            select_sql(&t("s", "t"), Some("a = 1"), None),
            "SELECT * FROM [s].[t] WHERE (a = 1)"
        );
        assert_eq!(count_sql(&t("s", "t")), "SELECT COUNT_BIG(*) FROM [s].[t]");
        assert!(object_sql(&t("o'k", "t")).contains("OBJECT_ID(N'[o''k].[t]')"));
        assert_eq!(
            lock_timeout_prefix(Duration::from_secs(15)),
            "SET LOCK_TIMEOUT 15000; "
        );
    }

    #[test]
    fn filters_cannot_leave_their_condition() {
        for ok in [
            "a = 1",
            "name = 'x)'",
            "[we)ird] > 2",
            "f(a) in (1, 2)",
            "s = 'it''s'",
        ] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1=1) DELETE FROM t WHERE (1=1",
            "1=1; COMMIT",
            "1=1 --",
            "1=1 /* x */",
            "(a = 1",
            "name = 'open",
        ] {
            let e = check_filter(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidFilter, "{bad}");
        }
    }

    #[test]
    fn type_names_as_sql_server_prints_them() {
        assert_eq!(sql_type_name("nvarchar", 100, 0, 0), "nvarchar(50)");
        assert_eq!(sql_type_name("nvarchar", -1, 0, 0), "nvarchar(max)");
        assert_eq!(sql_type_name("varbinary", 16, 0, 0), "varbinary(16)");
        assert_eq!(sql_type_name("decimal", 9, 18, 2), "decimal(18,2)");
        assert_eq!(sql_type_name("datetime2", 8, 27, 7), "datetime2(7)");
        assert_eq!(sql_type_name("int", 4, 10, 0), "int");
        use Logical::*;
        for (ty, l) in [
            ("int", Integer),
            ("bigint", Integer),
            ("bit", Bool),
            ("decimal(18,2)", Numeric),
            ("money", Numeric),
            ("float", Real),
            ("real", Real),
            ("nvarchar(50)", Text),
            ("uniqueidentifier", Text),
            ("datetime2(7)", Timestamp),
            ("datetimeoffset(7)", Timestamp),
            ("date", Text),
            ("varbinary(max)", Bytes),
            ("xml", Text),
            ("sql_variant", Any),
        ] {
            assert_eq!(logical_of(ty), l, "{ty}");
        }
    }

    #[test]
    fn values_decode_exactly() {
        use tiberius::numeric::Numeric;
        use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, Time};
        let c = |d: ColumnData<'static>| cell_of(&d, ColumnType::Null);
        assert_eq!(
            c(ColumnData::Numeric(Some(Numeric::new_with_scale(
                123_456_789_012_345_678_901_234_567,
                4
            )))),
            Cell::Text("12345678901234567890123.4567".into())
        );
        assert_eq!(
            c(ColumnData::Numeric(Some(Numeric::new_with_scale(-5, 2)))),
            Cell::Text("-0.05".into())
        );
        assert_eq!(
            c(ColumnData::Numeric(Some(Numeric::new_with_scale(42, 0)))),
            Cell::Text("42".into())
        );
        assert_eq!(
            cell_of(&ColumnData::F64(Some(12.5)), ColumnType::Money),
            Cell::Text("12.5000".into())
        );
        assert_eq!(c(ColumnData::F32(Some(0.1))), Cell::Float(0.1));
        // 2024-02-29 is day 738944 since 0001-01-01.
        let date = Date::new(738_944);
        assert_eq!(
            c(ColumnData::Date(Some(date))),
            Cell::Text("2024-02-29".into())
        );
        let time = Time::new(452_961_234_567, 7);
        assert_eq!(
            c(ColumnData::Time(Some(time))),
            Cell::Text("12:34:56.1234567".into())
        );
        assert_eq!(
            c(ColumnData::DateTime2(Some(DateTime2::new(date, time)))),
            Cell::Text("2024-02-29T12:34:56.1234567".into())
        );
        // UTC 23:30 on 2024-02-29 at +02:00 is 01:30 on 2024-03-01.
        let utc = DateTime2::new(date, Time::new(84_600, 0));
        assert_eq!(
            c(ColumnData::DateTimeOffset(Some(DateTimeOffset::new(
                utc, 120
            )))),
            Cell::Text("2024-03-01T01:30:00+02:00".into())
        );
        // datetime: days since 1900, 1/300 s: 1900-01-02 00:00:01.000
        assert_eq!(
            c(ColumnData::DateTime(Some(DateTime::new(1, 300)))),
            Cell::Text("1900-01-02T00:00:01.000".into())
        );
        assert_eq!(c(ColumnData::I32(None)), Cell::Null);
        assert_eq!(c(ColumnData::Bit(Some(true))), Cell::Bool(true));
        let g = tiberius::Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap();
        assert_eq!(
            c(ColumnData::Guid(Some(g))),
            Cell::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into())
        );
    }

    #[test]
    fn server_errors_have_their_own_words() {
        let e = server_error(18456, 14, "Login failed for user 'app'.");
        assert_eq!(e.kind, ErrorKind::InvalidCredentials);
        let e = server_error(
            4060,
            11,
            "Cannot open database \"x\" requested by the login.",
        );
        assert_eq!(e.kind, ErrorKind::DatabaseNotFound);
        assert!(e.detail.contains("no access"), "{}", e.detail);
        assert!(server_error(18486, 14, "m").detail.contains("locked"));
        assert!(server_error(18487, 14, "m").detail.contains("expired"));
        assert!(server_error(18488, 14, "m")
            .detail
            .contains("must be changed"));
        assert!(server_error(18452, 14, "m").detail.contains("Windows"));
        assert_eq!(
            server_error(208, 16, "Invalid object name 'x'.").kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            server_error(1222, 16, "Lock request").kind,
            ErrorKind::StatementTimeout
        );
        let io = tiberius::error::Error::Io {
            kind: std::io::ErrorKind::ConnectionRefused,
            message: "Connection refused (os error 111)".into(),
        };
        assert_eq!(map_error(&io).kind, ErrorKind::ConnectionRefused);
        let tls = tiberius::error::Error::Tls("invalid peer certificate: UnknownIssuer".into());
        assert_eq!(map_error(&tls).kind, ErrorKind::CertificateNotTrusted);
    }
}
