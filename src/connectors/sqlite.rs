//! SQLite files through rusqlite (bundled); also the built-in demo.
//!
//! The file is always opened read-only (`SQLITE_OPEN_READ_ONLY` plus
//! `PRAGMA query_only`). rusqlite is blocking, so every call runs in
//! `spawn_blocking` on the one pooled connection. A call whose future is
//! dropped, or that outlives the statement timeout, is stopped with the
//! connection's interrupt handle.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, InterruptHandle, OpenFlags};

use super::engine::{Capabilities, Engine, RowLimit, TunnelEnd, SQL_CAPABILITIES};
use super::ident::{self, Dialect};
use super::query::{single_statement, ChannelCursor, QueryCursor, READ_AHEAD};
use super::spec::SpecError;
// rusqlite's `prepare` compiles the first statement and ignores the rest,
// so a filter with a second statement is refused rather than cut.
use super::query::has_statement_separator;
use super::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, RowSet, RowSink,
    ServerInfo, SessionOptions, StreamOptions, TableInfo, TableKind, TableRef,
};
use super::{Field, Kind};
use secrecy::SecretString;

/// SQLite: a local file through rusqlite, opened read-only for browsing.
pub const ENGINE: Engine = Engine {
    kind: Kind::Sqlite,
    id: "sqlite",
    display_name: "SQLite",
    default_port: None,
    fields: &[Field::Path],
    url_schemes: &["sqlite", "file"],
    parse_url,
    has_password: false,
    file_based: true,
    user_required: false,
    dialect: Some(Dialect::Ansi),
    row_limit: RowLimit::Limit,
    capabilities: Capabilities {
        read_only: "file opened read-only",
        ..SQL_CAPABILITIES
    },
    tunnel: TunnelEnd::Loopback,
    concurrent: false,
    open: Ok(|spec, _password, opts| Box::new(SqliteConnector::new(spec.clone(), opts))),
};

/// `sqlite:///abs/path`, `sqlite:rel/path`, `file:…`: everything after the scheme is the path.
fn parse_url(text: &str, kind: Kind) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let rest = text
        .split_once(':')
        .map_or("", |(_, r)| r)
        .trim_start_matches("//");
    if rest.is_empty() {
        return Err(SpecError::new("url", "a sqlite URL needs a file path"));
    }
    let mut spec = ConnSpec::new(kind);
    spec.database = rest.to_string();
    Ok((spec, None))
}

/// Rows in flight between the blocking reader and the async sink.
const STREAM_BUFFER: usize = 256;

pub struct SqliteConnector {
    spec: ConnSpec,
    opts: SessionOptions,
    /// The pooled connection and its interrupt handle (set together).
    session: Arc<Mutex<Option<Connection>>>,
    interrupt: Arc<Mutex<Option<InterruptHandle>>>,
}

/// How a running call ends early: the flags the blocking side reads and the
/// handle that stops a statement in flight.
struct Stopper {
    interrupt: Arc<Mutex<Option<InterruptHandle>>>,
    cancelled: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Stopper {
    /// Interrupts until the blocking call reports done: an interrupt that
    /// lands between two statements is a no-op, so one is not enough.
    fn stop(&self) {
        let interrupt = self.interrupt.clone();
        let done = self.done.clone();
        let nag = move || {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                // `done` is read and set under this lock, and set before the
                // call lets go of the session: an interrupt can never land
                // on the next call's statement.
                let Ok(h) = interrupt.lock() else { return };
                if done.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(h) = h.as_ref() {
                    h.interrupt();
                }
                drop(h);
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        // A plain thread: this also runs from Drop, outside any runtime.
        let _ = std::thread::Builder::new()
            .name("sqlite-interrupt".into())
            .spawn(nag);
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        if !self.done.load(Ordering::SeqCst) {
            self.cancelled.store(true, Ordering::SeqCst);
            self.stop();
        }
    }
}

/// Marks a call done under the interrupt lock (see `Stopper::stop`).
struct MarkDone {
    interrupt: Arc<Mutex<Option<InterruptHandle>>>,
    done: Arc<AtomicBool>,
}

impl Drop for MarkDone {
    fn drop(&mut self) {
        let _guard = self.interrupt.lock();
        self.done.store(true, Ordering::SeqCst);
    }
}

/// What the blocking side of a call sees.
#[derive(Clone)]
struct Flags {
    cancelled: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
}

impl Flags {
    fn check(&self) -> Result<(), ConnError> {
        if self.timed_out.load(Ordering::SeqCst) {
            Err(timeout_error())
        } else if self.cancelled.load(Ordering::SeqCst) {
            Err(ConnError::new(ErrorKind::Cancelled, "cancelled"))
        } else {
            Ok(())
        }
    }

    /// An interrupted statement is a timeout or a cancel, whichever stopped it.
    fn map(&self, e: rusqlite::Error) -> ConnError {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if f.code == ErrorCode::OperationInterrupted {
                return self
                    .check()
                    .err()
                    .unwrap_or_else(|| ConnError::new(ErrorKind::Cancelled, "interrupted"));
            }
        }
        map_error(e)
    }
}

fn timeout_error() -> ConnError {
    ConnError::new(
        ErrorKind::StatementTimeout,
        "interrupted after the statement timeout",
    )
}

fn map_error(e: rusqlite::Error) -> ConnError {
    let text = e.to_string();
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::NotADatabase => ErrorKind::Config,
            ErrorCode::CannotOpen => ErrorKind::DatabaseNotFound,
            ErrorCode::PermissionDenied => ErrorKind::PermissionDenied,
            ErrorCode::ReadOnly => ErrorKind::ReadOnly,
            ErrorCode::OperationInterrupted => ErrorKind::Cancelled,
            _ if msg
                .as_deref()
                .is_some_and(|m| m.starts_with("no such table")) =>
            {
                ErrorKind::NotFound
            }
            _ if msg
                .as_deref()
                .is_some_and(|m| m.contains("readonly") || m.contains("read-only")) =>
            {
                ErrorKind::ReadOnly
            }
            _ => ErrorKind::Other,
        },
        _ => ErrorKind::Other,
    };
    ConnError::new(kind, text)
}

/// Opens the file read-only and proves it is a database.
fn open(path: &Path) -> Result<Connection, ConnError> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConnError::new(
                ErrorKind::DatabaseNotFound,
                format!("path: no such file: {shown}"),
            ));
        }
        Err(e) => {
            return Err(ConnError::new(
                super::error::classify_io(&e),
                format!("path: {shown}: {e}"),
            ));
        }
        Ok(m) if m.is_dir() => {
            return Err(ConnError::new(
                ErrorKind::Config,
                format!("path: {shown} is a directory, not an SQLite file"),
            ));
        }
        Ok(_) => {}
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| map_error(e).with_prefix(&format!("path: {shown}: ")))?;
    let checked = (|| {
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    })();
    match checked {
        Ok(_) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::NotADatabase => {
            Err(ConnError::new(
                ErrorKind::Config,
                format!("path: {shown} is not an SQLite database"),
            ))
        }
        Err(e) => Err(map_error(e).with_prefix(&format!("path: {shown}: "))),
    }
}

trait Prefix {
    fn with_prefix(self, p: &str) -> Self;
}

impl Prefix for ConnError {
    fn with_prefix(mut self, p: &str) -> Self {
        self.detail = format!("{p}{}", self.detail);
        self
    }
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Cell::Text(s.to_string()),
            // Not UTF-8 despite the storage class: keep the bytes.
            Err(_) => Cell::Bytes(t.to_vec()),
        },
        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
    }
}

fn select_sql(table: &TableRef, filter: Option<&str>, limit: Option<u64>) -> String {
    let mut sql = format!("SELECT * FROM {}", ident::qualified(Dialect::Ansi, table));
    if let Some(f) = filter {
        // On its own lines so a trailing `--` comment cannot swallow the `)`.
        sql.push_str(" WHERE (\n");
        sql.push_str(f);
        sql.push_str("\n)");
    }
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    sql
}

/// Column names of the statement with the declared types of the table
/// (rusqlite's decltype API needs a feature this build does not enable;
/// `SELECT *` names are the table's own column names).
fn column_metas(
    conn: &Connection,
    stmt: &rusqlite::Statement<'_>,
    table: &TableRef,
) -> Vec<ColumnMeta> {
    let mut declared = std::collections::HashMap::new();
    let pragma = format!(
        "PRAGMA table_info({})",
        ident::quote(Dialect::Ansi, &table.name)
    );
    if let Ok(mut p) = conn.prepare(&pragma) {
        if let Ok(rows) = p.query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            ))
        }) {
            declared.extend(rows.flatten());
        }
    }
    stmt.column_names()
        .into_iter()
        .map(|name| {
            let type_name = declared.get(name).cloned().unwrap_or_default();
            ColumnMeta {
                name: name.to_string(),
                logical: super::Logical::of_sqlite_decl(&type_name),
                type_name,
            }
        })
        .collect()
}

impl SqliteConnector {
    pub fn new(spec: ConnSpec, opts: SessionOptions) -> Self {
        SqliteConnector {
            spec,
            opts,
            session: Arc::new(Mutex::new(None)),
            interrupt: Arc::new(Mutex::new(None)),
        }
    }

    fn path(&self) -> Result<PathBuf, ConnError> {
        let p = self.spec.database.trim();
        if p.is_empty() {
            return Err(ConnError::new(
                ErrorKind::Config,
                "path: a database file is required",
            ));
        }
        Ok(PathBuf::from(p))
    }

    /// Runs `f` on the pooled connection in a blocking thread, under the
    /// statement timeout; dropping the returned future interrupts it.
    async fn run<T, F>(&self, f: F) -> Result<T, ConnError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Flags) -> Result<T, ConnError> + Send + 'static,
    {
        self.run_with(self.opts.statement_timeout, f).await
    }

    /// `run` with its own timeout (zero: none).
    async fn run_with<T, F>(&self, timeout: Duration, f: F) -> Result<T, ConnError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Flags) -> Result<T, ConnError> + Send + 'static,
    {
        let path = self.path()?;
        let session = self.session.clone();
        let interrupt = self.interrupt.clone();
        let stopper = Stopper {
            interrupt: self.interrupt.clone(),
            cancelled: Arc::new(AtomicBool::new(false)),
            timed_out: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicBool::new(false)),
        };
        let flags = Flags {
            cancelled: stopper.cancelled.clone(),
            timed_out: stopper.timed_out.clone(),
        };
        let done = stopper.done.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            let result = (|| {
                let mut slot = session
                    .lock()
                    .map_err(|_| ConnError::new(ErrorKind::Other, "session lock poisoned"))?;
                // Dropped before `slot`: the call is done before the session is free.
                let _done = MarkDone {
                    interrupt: interrupt.clone(),
                    done: done.clone(),
                };
                flags.check()?;
                if slot.is_none() {
                    let conn = open(&path)?;
                    if let Ok(mut h) = interrupt.lock() {
                        *h = Some(conn.get_interrupt_handle());
                    }
                    *slot = Some(conn);
                }
                let conn = slot
                    .as_ref()
                    .ok_or_else(|| ConnError::new(ErrorKind::Other, "no session"))?;
                f(conn, &flags)
            })();
            done.store(true, Ordering::SeqCst);
            result
        });
        let joined = if timeout.is_zero() {
            (&mut task).await
        } else {
            match tokio::time::timeout(timeout, &mut task).await {
                Ok(j) => j,
                Err(_) => {
                    stopper.timed_out.store(true, Ordering::SeqCst);
                    stopper.stop();
                    (&mut task).await
                }
            }
        };
        stopper.done.store(true, Ordering::SeqCst);
        match joined {
            Ok(r) => r,
            Err(e) => Err(ConnError::new(
                ErrorKind::Other,
                format!("sqlite worker failed: {e}"),
            )),
        }
    }
}

#[async_trait]
impl Connector for SqliteConnector {
    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        // rusqlite compiles the first statement and would drop the rest
        // silently: a second one is refused here, in words.
        let sql = single_statement(sql)?.to_string();
        let path = self.path()?;
        let (cols_tx, cols_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        let (handle_tx, handle_rx) = std::sync::mpsc::channel::<InterruptHandle>();
        // A connection of its own, opened read-only with query_only, on a
        // thread of its own that blocks while the person reads a page.
        let reader = move || {
            let mut cols_tx = Some(cols_tx);
            let run = (|| {
                let conn = open(&path)?;
                let _ = handle_tx.send(conn.get_interrupt_handle());
                let mut stmt = conn.prepare(&sql).map_err(map_error)?;
                let width = stmt.column_count();
                let metas = stmt
                    .column_names()
                    .into_iter()
                    .map(|name| ColumnMeta {
                        name: name.to_string(),
                        type_name: String::new(),
                        logical: super::Logical::of_sqlite_decl(""),
                    })
                    .collect();
                if let Some(c) = cols_tx.take() {
                    if c.send(Ok(metas)).is_err() {
                        return Ok(());
                    }
                }
                let mut q = stmt.query([]).map_err(map_error)?;
                while let Some(r) = q.next().map_err(map_error)? {
                    let mut row = Vec::with_capacity(width);
                    for i in 0..width {
                        row.push(cell(r.get_ref(i).map_err(map_error)?));
                    }
                    if tx.blocking_send(Ok(row)).is_err() {
                        return Ok(());
                    }
                }
                Ok::<_, ConnError>(())
            })();
            if let Err(e) = run {
                match cols_tx.take() {
                    Some(c) => {
                        let _ = c.send(Err(e));
                    }
                    None => {
                        let _ = tx.blocking_send(Err(e));
                    }
                }
            }
        };
        std::thread::Builder::new()
            .name("sqlite-query".into())
            .spawn(reader)
            .map_err(|e| ConnError::new(ErrorKind::Other, format!("sqlite reader: {e}")))?;
        // Dropping the cursor (or a timed-out page) interrupts the statement;
        // the closed channel stops the reader at its next row.
        struct Stop(std::sync::mpsc::Receiver<InterruptHandle>);
        impl Drop for Stop {
            fn drop(&mut self) {
                if let Ok(h) = self.0.try_recv() {
                    h.interrupt();
                }
            }
        }
        let cursor = ChannelCursor::start(
            cols_rx,
            rx,
            Box::new(Stop(handle_rx)),
            self.opts.statement_timeout,
        )
        .await?;
        Ok(Box::new(cursor))
    }

    async fn test(&self) -> Result<ServerInfo, ConnError> {
        let path = self.path()?;
        let start = Instant::now();
        let version = tokio::task::spawn_blocking(move || {
            let conn = open(&path)?;
            conn.query_row("SELECT sqlite_version()", [], |r| r.get::<_, String>(0))
                .map_err(map_error)
        })
        .await
        .map_err(|e| ConnError::new(ErrorKind::Other, format!("sqlite worker failed: {e}")))??;
        Ok(ServerInfo {
            version: format!("SQLite {version}"),
            latency: start.elapsed(),
            tls: false,
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        self.run(|conn, flags| {
            let mut stmt = conn
                .prepare(
                    "SELECT name, type FROM sqlite_master \
                     WHERE type IN ('table', 'view') ORDER BY name",
                )
                .map_err(|e| flags.map(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| flags.map(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (name, kind) = row.map_err(|e| flags.map(e))?;
                out.push(TableRef {
                    schema: None,
                    system: name.starts_with("sqlite_"),
                    name,
                    kind: if kind == "view" {
                        TableKind::View
                    } else {
                        TableKind::Table
                    },
                    estimated_rows: None,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        let table = table.clone();
        self.run(move |conn, flags| {
            let q = ident::quote(Dialect::Ansi, &table.name);
            // (name, type, notnull, default, pk position)
            type Col = (String, String, bool, Option<String>, i64);
            let table_info = |quoted: &str| -> Result<Vec<Col>, ConnError> {
                let mut stmt = conn
                    .prepare(&format!("PRAGMA table_info({quoted})"))
                    .map_err(|e| flags.map(e))?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            r.get::<_, i64>(3)? != 0,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    })
                    .map_err(|e| flags.map(e))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(|e| flags.map(e))
            };
            let cols = table_info(&q).map_err(|e| {
                // A view over a dropped table: say it is the view that is
                // broken, with SQLite's words ("no such table: main.t").
                if e.kind == ErrorKind::NotFound && table.kind == TableKind::View {
                    ConnError::new(
                        ErrorKind::Other,
                        format!("the view {} is broken: {}", table.name, e.detail),
                    )
                } else {
                    e
                }
            })?;
            if cols.is_empty() {
                return Err(ConnError::new(
                    ErrorKind::NotFound,
                    format!("no such table: {}", table.name),
                ));
            }
            // (from, parent table, parent column or NULL = parent's key)
            let mut stmt = conn
                .prepare(&format!("PRAGMA foreign_key_list({q})"))
                .map_err(|e| flags.map(e))?;
            let fks = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .map_err(|e| flags.map(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| flags.map(e))?;
            let mut columns: Vec<ColumnInfo> = cols
                .into_iter()
                .map(|(name, data_type, notnull, default, pk)| ColumnInfo {
                    name,
                    data_type,
                    nullable: !notnull && pk == 0,
                    default,
                    primary_key: pk > 0,
                    references: None,
                    presence: None,
                })
                .collect();
            for (seq, parent, from, to) in fks {
                let to = match to {
                    Some(t) => t,
                    None => {
                        // References the parent's primary key, column `seq`.
                        let mut pk: Vec<(i64, String)> =
                            table_info(&ident::quote(Dialect::Ansi, &parent))?
                                .into_iter()
                                .filter(|c| c.4 > 0)
                                .map(|c| (c.4, c.0))
                                .collect();
                        pk.sort();
                        usize::try_from(seq)
                            .ok()
                            .and_then(|i| pk.get(i))
                            .map(|c| c.1.clone())
                            .unwrap_or_default()
                    }
                };
                if let Some(c) = columns.iter_mut().find(|c| c.name == from) {
                    c.references.get_or_insert(format!("{parent}({to})"));
                }
            }
            Ok(TableInfo {
                table,
                columns,
                estimated_rows: None,
                sampled: None,
                indexes: Vec::new(),
                validator: None,
            })
        })
        .await
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {}",
            ident::qualified(Dialect::Ansi, table)
        );
        self.run(move |conn, flags| {
            let n: i64 = conn
                .query_row(&sql, [], |r| r.get(0))
                .map_err(|e| flags.map(e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn login_writes(&self) -> Result<super::query::LoginWrites, ConnError> {
        // Whether this OS user may write the file (Varlor opens it
        // read-only all the same); access(2) asks without opening it.
        use std::os::unix::ffi::OsStrExt;
        let path = self.path()?;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| ConnError::new(ErrorKind::Config, "path: contains a NUL byte"))?;
        // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
        let writable = unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0;
        Ok(if writable {
            super::query::LoginWrites::CanWrite {
                why: "this user may write the file".into(),
            }
        } else {
            super::query::LoginWrites::ReadOnly
        })
    }

    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        let sql = select_sql(table, None, Some(limit as u64));
        let t = table.clone();
        let start = Instant::now();
        let mut set = self
            .run(move |conn, flags| {
                let mut stmt = conn.prepare(&sql).map_err(|e| flags.map(e))?;
                let columns = column_metas(conn, &stmt, &t);
                let width = columns.len();
                let mut rows = Vec::new();
                let mut q = stmt.query([]).map_err(|e| flags.map(e))?;
                while let Some(r) = q.next().map_err(|e| flags.map(e))? {
                    let mut row = Vec::with_capacity(width);
                    for i in 0..width {
                        row.push(cell(r.get_ref(i).map_err(|e| flags.map(e))?));
                    }
                    rows.push(row);
                }
                Ok(RowSet {
                    columns,
                    rows,
                    elapsed: Duration::ZERO,
                    documents: Vec::new(),
                })
            })
            .await?;
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
        if filter.is_some_and(has_statement_separator) {
            return Err(ConnError::new(
                ErrorKind::InvalidFilter,
                "filter: one condition only; a ';' (a second statement) is not allowed",
            ));
        }
        let sql = select_sql(table, filter, opts.limit);
        let has_filter = filter.is_some();
        let t = table.clone();
        enum Msg {
            Columns(Vec<ColumnMeta>),
            Row(Vec<Cell>),
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(STREAM_BUFFER);
        // No statement timeout for a stream: an import is long by nature,
        // shows progress and is cancelled by dropping it (interrupt).
        let reader = self.run_with(Duration::ZERO, move |conn, flags| {
            // A second statement was refused above; query_only refuses
            // writes anyway.
            let mut stmt = conn.prepare(&sql).map_err(|e| {
                let err = flags.map(e);
                if has_filter {
                    err.with_prefix("filter: ")
                } else {
                    err
                }
            })?;
            let width = stmt.column_count();
            if tx
                .blocking_send(Msg::Columns(column_metas(conn, &stmt, &t)))
                .is_err()
            {
                return Ok(());
            }
            let mut q = stmt.query([]).map_err(|e| flags.map(e))?;
            while let Some(r) = q.next().map_err(|e| flags.map(e))? {
                let mut row = Vec::with_capacity(width);
                for i in 0..width {
                    row.push(cell(r.get_ref(i).map_err(|e| flags.map(e))?));
                }
                // The receiver is gone when the sink failed: stop reading.
                if tx.blocking_send(Msg::Row(row)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        let consume = async {
            let mut n = 0u64;
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Columns(c) => sink.columns(&c)?,
                    Msg::Row(r) => {
                        sink.row(r)?;
                        n += 1;
                    }
                }
            }
            Ok::<_, ConnError>(n)
        };
        tokio::pin!(reader);
        tokio::pin!(consume);
        // Both sides run together; a sink error drops the reader (and its
        // receiver), which interrupts the query.
        let mut reader_result = None;
        loop {
            tokio::select! {
                r = &mut reader, if reader_result.is_none() => reader_result = Some(r),
                c = &mut consume => {
                    let n = c?;
                    return match reader_result {
                        Some(r) => r.map(|_| n),
                        None => reader.await.map(|_| n),
                    };
                }
            }
        }
    }

    async fn reset(&self) {
        let session = self.session.clone();
        let interrupt = self.interrupt.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(mut h) = interrupt.lock() {
                *h = None;
            }
            if let Ok(mut s) = session.lock() {
                *s = None;
            }
        })
        .await;
    }

    fn capabilities(&self) -> Capabilities {
        ENGINE.capabilities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_quotes_hostile_names() {
        let t = TableRef {
            schema: None,
            name: "quote\"d".into(),
            kind: TableKind::Table,
            estimated_rows: None,
            system: false,
        };
        assert_eq!(
            select_sql(&t, Some("a = 1"), Some(5)),
            "SELECT * FROM \"quote\"\"d\" WHERE (\na = 1\n) LIMIT 5"
        );
    }

    #[test]
    fn a_second_statement_in_a_filter_is_spotted() {
        assert!(has_statement_separator(
            "1=1); DELETE FROM customers; SELECT (1"
        ));
        assert!(has_statement_separator("a = 1;"));
        assert!(!has_statement_separator("name = 'a;b'"));
        assert!(!has_statement_separator("\"semi;colon\" = 1"));
        assert!(!has_statement_separator("x = 1 -- trailing; comment"));
        assert!(!has_statement_separator("x = 1 /* ; */ AND [a;b] = 2"));
        assert!(has_statement_separator("name = 'it''s'; DROP TABLE t"));
    }

    #[test]
    fn storage_classes_become_cells() {
        assert_eq!(cell(ValueRef::Integer(7)), Cell::Int(7));
        assert_eq!(cell(ValueRef::Real(0.5)), Cell::Float(0.5));
        assert_eq!(cell(ValueRef::Text(b"x")), Cell::Text("x".into()));
        assert_eq!(cell(ValueRef::Text(&[0xff])), Cell::Bytes(vec![0xff]));
        assert_eq!(cell(ValueRef::Blob(&[1, 2])), Cell::Bytes(vec![1, 2]));
        assert_eq!(cell(ValueRef::Null), Cell::Null);
    }
}
