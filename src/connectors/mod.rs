//! Database engines behind one trait. `Kind` is the static metadata the
//! picker, the form and the CLI need; `Connector` is what talks to a server.

pub mod connect;
pub mod engine;
pub mod error;
pub mod ident;
pub mod lanes;
pub mod logical;
pub mod mongodb;
pub mod mysql;
pub mod oracle;
pub mod postgres;
pub mod query;
pub mod spec;
pub mod sqlite;
pub mod sqlserver;
pub mod statement;
pub mod tls;
pub mod value;

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use engine::{Capabilities, Engine, FilterLanguage, StructureSource};
pub use error::{ConnError, ErrorKind};
pub use logical::Logical;
pub use query::{QueryCursor, DEFAULT_PAGE_ROWS};
pub use spec::{ConnSpec, Environment, PasswordSource, SpecError, Target, TlsMode};
pub use value::{Cell, ColumnMeta, RowSet};

/// The six engines Varlor knows. Every one appears in the picker; the ones
/// not implemented in this build answer `ErrorKind::NotAvailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Postgres,
    Mysql,
    Mongodb,
    Oracle,
    Sqlserver,
    Sqlite,
}

/// A form field of a connection kind, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Host,
    Port,
    Database,
    User,
    Password,
    TlsMode,
    CaFile,
    /// SQLite: the database file.
    Path,
    /// MongoDB: the authentication database.
    AuthSource,
    /// Oracle: the service name (stored in `database`).
    ServiceName,
    /// Oracle: whether `database` is a service name or a SID (a selector;
    /// `options["connect_by"] = "sid"`).
    ConnectBy,
    /// Oracle: the thin (built-in) or thick (Instant Client) driver (a
    /// selector; `options["driver"] = "thick"`).
    Driver,
    /// Network engines: an SSH alias or `user@host[:port]` to tunnel
    /// through (`options["ssh"]`, see `src/ssh/`).
    SshVia,
}

impl Kind {
    /// Picker order.
    pub const ALL: [Kind; 6] = [
        Kind::Postgres,
        Kind::Mysql,
        Kind::Mongodb,
        Kind::Oracle,
        Kind::Sqlserver,
        Kind::Sqlite,
    ];

    /// The engine's descriptor: the one place that maps a kind to its engine.
    pub fn engine(self) -> &'static Engine {
        match self {
            Kind::Postgres => &postgres::ENGINE,
            Kind::Mysql => &mysql::ENGINE,
            Kind::Mongodb => &mongodb::ENGINE,
            Kind::Oracle => &oracle::ENGINE,
            Kind::Sqlserver => &sqlserver::ENGINE,
            Kind::Sqlite => &sqlite::ENGINE,
        }
    }

    /// Stable identifier stored in the catalog and used on the command line.
    pub fn id(self) -> &'static str {
        self.engine().id
    }

    pub fn display_name(self) -> &'static str {
        self.engine().display_name
    }

    pub fn default_port(self) -> Option<u16> {
        self.engine().default_port
    }

    /// The form fields of this kind, in order.
    pub fn fields(self) -> &'static [Field] {
        self.engine().fields
    }

    /// URL schemes accepted when a connection URL is pasted; the first is canonical.
    pub fn url_schemes(self) -> &'static [&'static str] {
        self.engine().url_schemes
    }

    /// Whether this build can talk to this engine, and if not, why.
    pub fn availability(self) -> Result<(), &'static str> {
        self.engine().open.map(|_| ())
    }

    /// Connections of this engine carry a password (SQLite's do not).
    pub fn has_password(self) -> bool {
        self.engine().has_password
    }

    /// Accepts ids, URL schemes and common aliases ("pg", "mariadb", "mssql", "sqlite3").
    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.trim().to_ascii_lowercase();
        if s == "sqlite3" || s == "mongo" {
            return Some(if s == "mongo" {
                Kind::Mongodb
            } else {
                Kind::Sqlite
            });
        }
        Kind::ALL
            .into_iter()
            .find(|k| k.id() == s || k.url_schemes().contains(&s.as_str()))
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

/// What a successful `test` learned about the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// e.g. "PostgreSQL 15.8" or "MariaDB 10.11.6".
    pub version: String,
    /// Time from starting to connect until the first round trip answered.
    pub latency: Duration,
    /// Whether the session is encrypted.
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Table,
    View,
    MaterializedView,
    ForeignTable,
    /// A document collection (MongoDB).
    Collection,
}

impl TableKind {
    pub fn label(self) -> &'static str {
        match self {
            TableKind::Table => "table",
            TableKind::View => "view",
            TableKind::MaterializedView => "matview",
            TableKind::ForeignTable => "foreign",
            TableKind::Collection => "collection",
        }
    }

    /// Why a described table of this kind can have no column, in words
    /// (the TUI's structure pane and `varlor describe` say the same).
    pub fn no_columns_reason(self) -> &'static str {
        match self {
            TableKind::View | TableKind::MaterializedView => {
                "No columns visible: the view may be broken (a table it reads was dropped) or you lack privileges on its columns."
            }
            _ => "No columns visible: you may lack privileges on its columns.",
        }
    }
}

/// A table or view as listed by the browser.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableRef {
    /// Schema (PostgreSQL), database (MySQL) or `None` (SQLite main).
    pub schema: Option<String>,
    pub name: String,
    pub kind: TableKind,
    /// Estimated rows from the catalog statistics; `None` when unknown.
    pub estimated_rows: Option<i64>,
    /// System schemas (pg_catalog, information_schema, mysql…) are hidden by default.
    pub system: bool,
}

impl TableRef {
    /// "schema.name" for display (unquoted).
    pub fn display_name(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// A field path for sampled structures (`address.city`, `items[].sku`).
    pub name: String,
    /// The engine's own type name, e.g. "numeric(10,2)", "varchar(100)".
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub primary_key: bool,
    /// "schema.table(column)" this column references, if any.
    pub references: Option<String>,
    /// Sampled structures: the share of sampled documents holding the field
    /// (0.0–1.0); `None` for declared columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<f32>,
}

impl ColumnInfo {
    /// "75%" (one decimal under 10 %) for a sampled field; "" for a declared column.
    pub fn presence_label(&self) -> String {
        match self.presence {
            None => String::new(),
            Some(p) => {
                let pct = f64::from(p) * 100.0;
                if pct > 0.0 && pct < 10.0 && (pct * 10.0).round() % 10.0 != 0.0 {
                    format!("{pct:.1}%")
                } else {
                    format!("{}%", pct.round() as u64)
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    pub table: TableRef,
    pub columns: Vec<ColumnInfo>,
    pub estimated_rows: Option<i64>,
    /// How many documents a sampled structure was inferred from; `None`
    /// when the engine declares its columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<u64>,
    /// Index lines (`name: {key spec}`) when the engine gives them with the
    /// structure (MongoDB); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<String>,
    /// The collection validator's `$jsonSchema` (MongoDB), when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<serde_json::Value>,
}

/// Options for a browsing session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Statement timeout for every query of the session (default 15 s).
    pub statement_timeout: Duration,
    /// Browsing sessions are read-only unless explicitly not.
    pub read_only: bool,
    /// Documents sampled for an inferred structure (MongoDB; default 1,000).
    pub sample_size: u32,
    /// Structure and rows get a session each (`lanes`), so a slow preview
    /// never holds the structure: the TUI browser. A CLI command makes its
    /// calls one after another and keeps to one session (one login).
    pub two_sessions: bool,
}

/// Documents sampled for an inferred structure unless configured otherwise.
pub const DEFAULT_SAMPLE: u32 = 1000;

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            statement_timeout: Duration::from_secs(15),
            read_only: true,
            sample_size: DEFAULT_SAMPLE,
            two_sessions: true,
        }
    }
}

/// What to stream out of a table (import).
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    pub limit: Option<u64>,
    /// A user-typed `WHERE` filter; only ever run inside a read-only session.
    pub filter: Option<String>,
}

impl StreamOptions {
    /// The user's filter, trimmed (`None` when blank). Refused unless the
    /// session is read-only: typed text must never be able to write.
    pub fn checked_filter(&self, read_only: bool) -> Result<Option<&str>, ConnError> {
        let filter = self
            .filter
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty());
        if filter.is_some() && !read_only {
            return Err(ConnError::new(
                ErrorKind::InvalidFilter,
                "filter: a filter only runs in a read-only session",
            ));
        }
        Ok(filter)
    }
}

/// Receives streamed rows; errors abort the stream.
pub trait RowSink: Send {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ConnError>;
    fn row(&mut self, row: Vec<Cell>) -> Result<(), ConnError>;
    /// The sink keeps whole documents (JSON Lines): a document engine then
    /// sends one column named [`DOCUMENT_COLUMN`] holding each document as
    /// `Cell::Json` (canonical Extended JSON), instead of one column per field.
    fn wants_documents(&self) -> bool {
        false
    }
    /// The sink writes the dataset's CSV (RFC 4180, CRLF, NULL an empty
    /// field and an empty string `""`, booleans `true`/`false`, bytes
    /// base64, ISO 8601 timestamps): an engine that can have the server
    /// produce exactly those bytes may send them with `csv_records`
    /// instead of rows, after `columns`.
    fn takes_csv(&self) -> bool {
        false
    }
    /// `bytes` holds `records` whole CSV records, each ending in CRLF.
    fn csv_records(&mut self, _bytes: &[u8], _records: u64) -> Result<(), ConnError> {
        Err(ConnError::new(
            ErrorKind::Other,
            "this sink takes rows, not CSV",
        ))
    }
}

/// The one column of a whole-document stream (see [`RowSink::wants_documents`]).
pub const DOCUMENT_COLUMN: &str = "$document";

/// One engine, bound to one saved connection (spec + password). Holds at
/// most one pooled session, opened lazily and reused across calls
/// (`connector_for` pairs two of them, see `lanes`).
#[async_trait]
pub trait Connector: Send + Sync {
    /// Opens a fresh connection, round-trips once, closes it.
    async fn test(&self) -> Result<ServerInfo, ConnError>;
    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError>;
    /// Tables and views for finding one by a typed name: estimates may be
    /// missing (an engine paying a round trip per table for them skips it).
    async fn list_table_names(&self) -> Result<Vec<TableRef>, ConnError> {
        self.list_tables().await
    }
    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError>;
    /// Exact `COUNT(*)`; cancel by dropping the future (the server query is cancelled too).
    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError>;
    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError>;
    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError>;
    /// The table's indexes, one line each (`name: definition`); engines
    /// that do not list them here answer an empty list.
    async fn indexes(&self, _table: &TableRef) -> Result<Vec<String>, ConnError> {
        Ok(Vec::new())
    }

    /// Runs one typed statement so that it cannot write (each engine says
    /// how in `capabilities().read_only`), on a connection of its own. The
    /// columns are known when it returns; rows come a page at a time from
    /// the cursor. Dropping the future or the cursor cancels the query on
    /// the server. Engines without a query dialect keep this default.
    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        let _ = sql;
        Err(ConnError::new(ErrorKind::NotAvailable, query::NOT_YET))
    }
    /// What this login may do on the server (the query pane's badge), read
    /// on the browsing session; engines without a check answer `Unknown`.
    async fn login_writes(&self) -> Result<query::LoginWrites, ConnError> {
        Ok(query::LoginWrites::Unknown)
    }
    /// Drops the pooled session so the next call reconnects.
    async fn reset(&self);
    /// What this engine can do (filter language, structure source, …).
    fn capabilities(&self) -> Capabilities;
}

/// Builds the connector of a spec's kind. `password` is `None` for engines or
/// connections without one. Structure and rows get a session each
/// (`lanes::browsing`) unless the engine's driver pools calls itself or
/// `opts.two_sessions` is off. A spec with "SSH via" gets the engine's
/// connector behind its own tunnel (`crate::ssh`), opened on first use,
/// shared by both sessions and closed when the connector is dropped.
pub fn connector_for(
    spec: &ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
) -> Result<Box<dyn Connector>, ConnError> {
    tls::install_default_provider();
    let open = spec
        .kind
        .engine()
        .open
        .map_err(|why| ConnError::new(ErrorKind::NotAvailable, why))?;
    match crate::ssh::via_of(spec).map_err(|e| ConnError::new(ErrorKind::Config, e.to_string()))? {
        Some(via) => Ok(Box::new(crate::ssh::Tunnelled::new(
            spec, via, password, opts, open,
        ))),
        None => Ok(lanes::browsing(open, spec, password, opts)),
    }
}
