//! PostgreSQL through tokio-postgres (rustls for TLS).
//!
//! `test` opens a fresh connection. Browsing shares one pooled session per
//! connector, opened lazily, read-only and with a statement timeout, and
//! re-opened once when the server went away (an open connection has two such
//! connectors, one for structure and one for rows: `lanes`). A dropped
//! preview or count is cancelled on the server. Values are read with the simple
//! query protocol, which returns the server's own text for every type, so
//! nothing is lost in translation (numeric, timestamptz, arrays, json…).
//! Streaming (import) uses its own connection and a cursor inside a
//! read-only transaction that is always rolled back.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::UnixStream;
use tokio::sync::Mutex;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{Kind as PgKind, Type};
use tokio_postgres::{CancelToken, Client, Config, NoTls, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::engine::{Capabilities, Engine, RowLimit, TunnelEnd, SQL_CAPABILITIES};
use super::error::classify_io;
use super::ident::{qualified, Dialect};
use super::query::{BufferedCursor, QueryCursor};
use super::spec::parse_network_url;
use super::tls;
use super::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, RowSet, RowSink,
    ServerInfo, SessionOptions, StreamOptions, TableInfo, TableKind, TableRef, TlsMode,
};
use super::{Field, Kind};
use crate::dataset::{CsvRewriter, FieldRule};

/// PostgreSQL: tokio-postgres with rustls.
pub const ENGINE: Engine = Engine {
    kind: Kind::Postgres,
    id: "postgres",
    display_name: "PostgreSQL",
    default_port: Some(5432),
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
    url_schemes: &["postgres", "postgresql", "pg"],
    parse_url: parse_network_url,
    has_password: true,
    file_based: false,
    user_required: true,
    dialect: Some(Dialect::Ansi),
    row_limit: RowLimit::Limit,
    capabilities: SQL_CAPABILITIES,
    tunnel: TunnelEnd::Socket,
    concurrent: false,
    open: Ok(|spec, password, opts| Box::new(PostgresConnector::new(spec.clone(), password, opts))),
};

/// Every table, view, materialized view and foreign table in the schemas the
/// user may use, with the planner's row estimate. Public so the benchmark can
/// run the very same query through psql.
pub const LIST_TABLES_SQL: &str = "\
            SELECT n.nspname::text, c.relname::text, c.relkind::text, c.reltuples::float8 \
            FROM pg_catalog.pg_class c \
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
              AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
              AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
            ORDER BY 1, 2";

pub struct PostgresConnector {
    spec: ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
    session: Mutex<Option<Arc<Session>>>,
}

/// One open, configured connection.
struct Session {
    client: Client,
    /// The TLS connector the session used, for out-of-band cancel requests.
    tls: Option<MakeRustlsConnect>,
    /// Through an SSH tunnel: its socket and the name TLS checks, for the
    /// cancel request (the driver cannot redial a socket it did not open).
    tunnel: Option<(PathBuf, String)>,
}

impl Session {
    /// A guard that cancels the session's running query when dropped armed.
    fn cancel_guard(&self) -> CancelOnDrop {
        CancelOnDrop {
            token: Some(self.client.cancel_token()),
            tls: self.tls.clone(),
            tunnel: self.tunnel.clone(),
        }
    }
}

impl PostgresConnector {
    pub fn new(spec: ConnSpec, password: Option<SecretString>, opts: SessionOptions) -> Self {
        PostgresConnector {
            spec,
            password,
            opts,
            session: Mutex::new(None),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }

    /// Maps a driver error and scrubs the password out of its text.
    fn err(&self, e: tokio_postgres::Error) -> ConnError {
        map_error(&e).scrub(self.secret())
    }

    /// Through an SSH tunnel: its Unix socket and the name the database's
    /// certificate must carry (the spec's host, which is that name).
    fn tunnel(&self) -> Option<(PathBuf, String)> {
        let socket = self.spec.options.get(super::spec::TUNNEL_SOCKET)?;
        let name = self
            .spec
            .options
            .get(super::spec::TLS_SERVER_NAME)
            .unwrap_or(&self.spec.host);
        Some((PathBuf::from(socket), name.clone()))
    }

    fn config(&self) -> Config {
        let mut cfg = Config::new();
        // Dialling a loopback address for another host: check the
        // certificate (and send SNI) for the database's own name.
        let tunnel = self
            .spec
            .options
            .get(super::spec::TLS_SERVER_NAME)
            .zip(self.spec.host.parse::<std::net::IpAddr>().ok());
        match tunnel {
            Some((name, ip)) => cfg.host(name).hostaddr(ip),
            None => cfg.host(&self.spec.host),
        };
        cfg.port(self.spec.effective_port())
            .user(&self.spec.user)
            .application_name("varlor")
            .connect_timeout(self.spec.connect_timeout())
            .ssl_mode(match self.spec.tls {
                TlsMode::Disable => SslMode::Disable,
                TlsMode::Prefer => SslMode::Prefer,
                TlsMode::Require | TlsMode::VerifyFull => SslMode::Require,
            });
        if !self.spec.database.is_empty() {
            cfg.dbname(&self.spec.database);
        }
        if let Some(p) = &self.password {
            // The only place the password leaves its SecretString.
            cfg.password(p.expose_secret());
        }
        cfg
    }

    /// Connects (TCP, TLS, authentication) within the connect timeout. The
    /// driver's own timeout only covers the TCP connect; the outer one also
    /// covers a server that accepts and then never answers.
    async fn connect(&self) -> Result<Session, ConnError> {
        let cfg = self.config();
        let tls = tls::client_config(self.spec.tls, self.spec.ca_file.as_deref())?
            .map(MakeRustlsConnect::new);
        let tunnel = self.tunnel();
        if let Some((socket, name)) = &tunnel {
            let client = self.connect_socket(&cfg, tls.clone(), socket, name).await?;
            return Ok(Session {
                client,
                tls,
                tunnel,
            });
        }
        let attempt = async {
            match &tls {
                None => {
                    let (client, conn) = cfg.connect(NoTls).await?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Ok(client)
                }
                Some(t) => {
                    let (client, conn) = cfg.connect(t.clone()).await?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Ok(client)
                }
            }
        };
        let client =
            super::connect::within_connect_timeout(&self.spec, attempt, |e| self.err(e)).await?;
        Ok(Session {
            client,
            tls,
            tunnel: None,
        })
    }

    /// Connects over an SSH tunnel's Unix socket. The driver would skip TLS
    /// on a socket it dials itself, so the stream is opened here and TLS
    /// negotiated on it as on TCP, verified for the database's own `name`:
    /// the tunnel carries the server's TLS end to end.
    async fn connect_socket(
        &self,
        cfg: &Config,
        tls: Option<MakeRustlsConnect>,
        socket: &Path,
        name: &str,
    ) -> Result<Client, ConnError> {
        let attempt = async {
            let stream = UnixStream::connect(socket).await.map_err(|e| {
                ConnError::new(
                    classify_io(&e),
                    format!("the SSH tunnel's socket {}: {e}", socket.display()),
                )
            })?;
            let client = match tls {
                None => {
                    let (client, conn) = cfg
                        .connect_raw(stream, NoTls)
                        .await
                        .map_err(|e| self.err(e))?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    client
                }
                Some(mut t) => {
                    let t = MakeTlsConnect::<UnixStream>::make_tls_connect(&mut t, name).map_err(
                        |e| {
                            ConnError::new(
                                ErrorKind::Config,
                                format!("TLS name {}: {e}", super::error::sanitize(name, None)),
                            )
                        },
                    )?;
                    let (client, conn) =
                        cfg.connect_raw(stream, t).await.map_err(|e| self.err(e))?;
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    client
                }
            };
            Ok(client)
        };
        super::connect::within_connect_timeout(&self.spec, attempt, |e| e).await
    }

    /// A new connection set up for browsing: read-only (unless the options
    /// say otherwise), statement timeout, bytea as hex.
    async fn open_session(&self) -> Result<Session, ConnError> {
        let session = self.connect().await?;
        let mut setup = String::new();
        if self.opts.read_only {
            setup.push_str("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; ");
        }
        // Numbers we format ourselves; no user text reaches these statements.
        setup.push_str(&format!(
            "SET statement_timeout = {}; SET bytea_output = hex;",
            // Zero means no timeout, as in PostgreSQL itself.
            self.opts.statement_timeout.as_millis()
        ));
        session
            .client
            .batch_execute(&setup)
            .await
            .map_err(|e| self.err(e))?;
        Ok(session)
    }

    /// The pooled session, (re)connected when missing or closed.
    async fn session(&self) -> Result<Arc<Session>, ConnError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            if !s.client.is_closed() {
                return Ok(s.clone());
            }
        }
        *slot = None;
        let s = Arc::new(self.open_session().await?);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Forgets `s` if it is still the pooled session.
    async fn forget(&self, s: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, s)) {
            *slot = None;
        }
    }

    /// Runs a read on the pooled session; when the connection turns out to be
    /// lost, reconnects and tries once more (browsing reads are idempotent).
    /// A cancel that reaches a caller still waiting was meant for another
    /// call on the same session (a cancel request names the session, not
    /// the query: a dropped count or preview whose answer was already on its
    /// way cancels the query after it), so that read runs once more too.
    async fn with_session<T, F, Fut>(&self, op: F) -> Result<T, ConnError>
    where
        F: Fn(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<T, ConnError>>,
    {
        let mut retried = false;
        loop {
            let s = self.session().await?;
            match op(s.clone()).await {
                Err(e) if e.kind == ErrorKind::ConnectionLost => {
                    self.forget(&s).await;
                    if retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(e) if e.kind == ErrorKind::Cancelled && !retried => retried = true,
                other => return other,
            }
        }
    }

    /// A typed query's error, with a second statement refused in words.
    fn query_err(&self, e: tokio_postgres::Error) -> ConnError {
        let err = self.err(e);
        if err.detail.contains("cannot insert multiple commands") {
            return super::query::several_statements();
        }
        err
    }

    /// The dataset's CSV from the server's: `COPY (…) TO STDOUT (FORMAT
    /// csv)` of the very query (the server does no more work than for
    /// `psql \copy`), rewritten as it streams by `dataset::CsvRewriter`:
    /// record ends LF → CRLF, timestamps, booleans and bytea as the row
    /// path writes them. No row is built, which is what lets it keep up
    /// with `psql \copy`. Batches of whole records go to the sink.
    async fn copy_csv(
        &self,
        client: &Client,
        select: &str,
        columns: &[ColumnMeta],
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        // `select` was prepared on its own first (`columns_of`): a filter
        // that closed the parenthesis would not have parsed, so it stays
        // the inner query here.
        let stream = client
            .copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT csv)"))
            .await
            .map_err(|e| self.err(e))?;
        futures::pin_mut!(stream);
        const FLUSH: usize = 256 * 1024;
        let mut out = Vec::with_capacity(FLUSH + 64 * 1024);
        let mut csv = CsvRewriter::new(columns.iter().map(csv_rule).collect());
        let (mut records, mut total) = (0u64, 0u64);
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            let chunk = chunk.map_err(|e| self.err(e))?;
            records += csv.feed(&chunk, &mut out);
            if out.len() >= FLUSH && csv.at_record_end() {
                sink.csv_records(&out, records)?;
                total += records;
                records = 0;
                out.clear();
            }
        }
        if !csv.at_record_end() {
            return Err(ConnError::new(
                ErrorKind::Other,
                "the server's CSV ended inside a record",
            ));
        }
        if !out.is_empty() {
            sink.csv_records(&out, records)?;
            total += records;
        }
        Ok(total)
    }

    async fn columns_of(&self, client: &Client, sql: &str) -> Result<Vec<ColumnMeta>, ConnError> {
        let stmt = client.prepare(sql).await.map_err(|e| self.err(e))?;
        Ok(column_metas(&stmt))
    }
}

#[async_trait]
impl Connector for PostgresConnector {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        let started = Instant::now();
        let session = self.connect().await?;
        let msgs = session
            .client
            .simple_query(
                "SELECT version(), coalesce((SELECT ssl FROM pg_catalog.pg_stat_ssl \
                 WHERE pid = pg_catalog.pg_backend_pid()), false)",
            )
            .await
            .map_err(|e| self.err(e))?;
        let latency = started.elapsed();
        let row = msgs
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .ok_or_else(|| ConnError::new(ErrorKind::Other, "SELECT version() returned no row"))?;
        let version = short_version(row.get(0).unwrap_or("PostgreSQL"));
        let tls = match row.get(1) {
            Some(v) => v == "t",
            None => self.spec.tls != TlsMode::Disable,
        };
        Ok(ServerInfo {
            version,
            latency,
            tls,
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        self.with_session(|s| async move {
            let rows = s
                .client
                .query(LIST_TABLES_SQL, &[])
                .await
                .map_err(|e| self.err(e))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let schema: String = row.try_get(0).map_err(|e| self.err(e))?;
                let name: String = row.try_get(1).map_err(|e| self.err(e))?;
                let relkind: String = row.try_get(2).map_err(|e| self.err(e))?;
                let tuples: f64 = row.try_get(3).map_err(|e| self.err(e))?;
                let kind = match relkind.as_str() {
                    "v" => TableKind::View,
                    "m" => TableKind::MaterializedView,
                    "f" => TableKind::ForeignTable,
                    _ => TableKind::Table,
                };
                let system = is_system_schema(&schema);
                out.push(TableRef {
                    estimated_rows: estimate(kind, tuples),
                    schema: Some(schema),
                    name,
                    kind,
                    system,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        const REL: &str = "\
            SELECT c.oid, n.nspname::text, c.relkind::text, c.reltuples::float8 \
            FROM pg_catalog.pg_class c \
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relname = $2 \
              AND (n.nspname = $1 OR ($1 IS NULL AND pg_catalog.pg_table_is_visible(c.oid))) \
            LIMIT 1";
        const COLS: &str = "\
            SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                   NOT a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                   EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p \
                           WHERE p.conrelid = a.attrelid AND p.contype = 'p' \
                             AND a.attnum = ANY (p.conkey)), \
                   (SELECT string_agg(fn.nspname || '.' || fc.relname || '(' || fa.attname || ')', ', ') \
                    FROM pg_catalog.pg_constraint f \
                    CROSS JOIN LATERAL unnest(f.conkey, f.confkey) AS k(col, fcol) \
                    JOIN pg_catalog.pg_class fc ON fc.oid = f.confrelid \
                    JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
                    JOIN pg_catalog.pg_attribute fa ON fa.attrelid = f.confrelid AND fa.attnum = k.fcol \
                    WHERE f.conrelid = a.attrelid AND f.contype = 'f' AND k.col = a.attnum) \
            FROM pg_catalog.pg_attribute a \
            LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
            ORDER BY a.attnum";
        self.with_session(|s| async move {
            let schema = table.schema.as_deref();
            let rel = s
                .client
                .query_opt(REL, &[&schema, &table.name])
                .await
                .map_err(|e| self.err(e))?
                .ok_or_else(|| ConnError::new(ErrorKind::NotFound, table.display_name()))?;
            let oid: u32 = rel.try_get(0).map_err(|e| self.err(e))?;
            let schema: String = rel.try_get(1).map_err(|e| self.err(e))?;
            let relkind: String = rel.try_get(2).map_err(|e| self.err(e))?;
            let tuples: f64 = rel.try_get(3).map_err(|e| self.err(e))?;
            let kind = match relkind.as_str() {
                "v" => TableKind::View,
                "m" => TableKind::MaterializedView,
                "f" => TableKind::ForeignTable,
                _ => TableKind::Table,
            };
            let rows = s
                .client
                .query(COLS, &[&oid])
                .await
                .map_err(|e| self.err(e))?;
            let mut columns = Vec::with_capacity(rows.len());
            for row in rows {
                columns.push(ColumnInfo {
                    name: row.try_get(0).map_err(|e| self.err(e))?,
                    data_type: row.try_get(1).map_err(|e| self.err(e))?,
                    nullable: row.try_get(2).map_err(|e| self.err(e))?,
                    default: row.try_get(3).map_err(|e| self.err(e))?,
                    primary_key: row.try_get(4).map_err(|e| self.err(e))?,
                    references: row.try_get(5).map_err(|e| self.err(e))?,
                    presence: None,
                });
            }
            let estimated_rows = estimate(kind, tuples);
            Ok(TableInfo {
                table: TableRef {
                    system: is_system_schema(&schema),
                    schema: Some(schema),
                    name: table.name.clone(),
                    kind,
                    estimated_rows,
                },
                columns,
                estimated_rows,
                sampled: None,
                indexes: Vec::new(),
                validator: None,
            })
        })
        .await
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        let sql = format!(
            "SELECT pg_catalog.count(*) FROM {}",
            qualified(Dialect::Ansi, table)
        );
        self.with_session(|s| {
            let sql = sql.clone();
            async move {
                // If this future is dropped mid-query, the guard asks the
                // server to cancel it, so no orphan COUNT(*) keeps running.
                let mut guard = s.cancel_guard();
                let result = s.client.query_one(&sql, &[]).await;
                guard.token = None;
                let row = result.map_err(|e| self.err(e))?;
                let n: i64 = row.try_get(0).map_err(|e| self.err(e))?;
                Ok(n.max(0) as u64)
            }
        })
        .await
    }

    async fn login_writes(&self) -> Result<super::query::LoginWrites, ConnError> {
        // Superuser, or any of INSERT/UPDATE/DELETE/TRUNCATE on a table or
        // view of a schema this login can use (has_table_privilege counts
        // grants to PUBLIC and to roles it inherits).
        const SQL: &str = "SELECT r.rolsuper, (SELECT n.nspname || '.' || c.relname \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'f') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' \
             AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
             AND pg_catalog.has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') \
             ORDER BY 1 LIMIT 1) \
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";
        self.with_session(|s| async move {
            let row = s
                .client
                .query_one(SQL, &[])
                .await
                .map_err(|e| self.err(e))?;
            let superuser: bool = row.try_get(0).map_err(|e| self.err(e))?;
            let table: Option<String> = row.try_get(1).map_err(|e| self.err(e))?;
            Ok(match (superuser, table) {
                (true, _) => super::query::LoginWrites::CanWrite {
                    why: "superuser".into(),
                },
                (false, Some(t)) => super::query::LoginWrites::CanWrite {
                    why: format!("INSERT, UPDATE, DELETE or TRUNCATE on {t}"),
                },
                (false, None) => super::query::LoginWrites::ReadOnly,
            })
        })
        .await
    }

    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        // LIMIT without ORDER BY: the server stops after `limit` rows, never a full scan.
        let sql = format!(
            "SELECT * FROM {} LIMIT {limit}",
            qualified(Dialect::Ansi, table)
        );
        self.with_session(|s| {
            let sql = sql.clone();
            async move {
                let started = Instant::now();
                // A preview dropped mid-query (moving on, Esc) is cancelled
                // on the server, so a slow view does not keep the session
                // busy for the next table's rows.
                let mut guard = s.cancel_guard();
                // Both requests are pipelined on the one connection.
                let answer = tokio::try_join!(self.columns_of(&s.client, &sql), async {
                    s.client.simple_query(&sql).await.map_err(|e| self.err(e))
                });
                guard.token = None;
                let (columns, msgs) = answer?;
                let rows = msgs
                    .iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(text_row(r, &columns)),
                        _ => None,
                    })
                    .collect();
                Ok(RowSet {
                    columns,
                    rows,
                    elapsed: started.elapsed(),
                    documents: Vec::new(),
                })
            }
        })
        .await
    }

    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        // A connection of its own: a long import must not hold the browsing
        // session, and its transaction must not swallow the browser's queries.
        let session = self.open_session().await?;
        let client = &session.client;
        // A stream ended early (cancel, a sink error, the future dropped)
        // asks the server to stop: tokio-postgres reads a COPY to its end
        // even after its stream is dropped, so the server would otherwise
        // go on producing every row for nobody.
        let mut guard = session.cancel_guard();
        let mut select = format!("SELECT * FROM {}", qualified(Dialect::Ansi, table));
        // The stream always runs in a READ ONLY transaction (below).
        if let Some(filter) = opts.checked_filter(true)? {
            // Newlines keep a trailing `--` comment from eating the parenthesis.
            select.push_str(&format!(" WHERE (\n{filter}\n)"));
        }
        if let Some(limit) = opts.limit {
            select.push_str(&format!(" LIMIT {limit}"));
        }
        // Always READ ONLY and always rolled back: even a filter that calls
        // set_config() cannot leave anything behind.
        // No statement timeout for the stream (this transaction only): an
        // import is long by nature, shows progress and is cancelled by
        // dropping it (the connection goes with it).
        client
            .batch_execute("BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = 0")
            .await
            .map_err(|e| self.err(e))?;
        let columns = self.columns_of(client, &select).await?;
        sink.columns(&columns)?;
        // A one-column table writes a NULL as `""` (the sink refuses CSV).
        let server_csv = sink.takes_csv() && columns.len() > 1;
        if server_csv {
            let total = self.copy_csv(client, &select, &columns, sink).await?;
            guard.token = None;
            client
                .batch_execute("ROLLBACK")
                .await
                .map_err(|e| self.err(e))?;
            return Ok(total);
        }
        // COPY … TO STDOUT streams the rows in one go, in the server's text
        // format (the same output functions as the text protocol), with no
        // round trip per batch. Memory stays flat: tokio-postgres hands
        // each response over a bounded channel and reads the socket only
        // when there is room (the ~500 MB once blamed on COPY was the
        // passphrase KDF of the CLI run, see scripts/bench-import). It goes
        // through the extended protocol, where the server refuses more than
        // one statement: a filter cannot smuggle in a second command.
        let stream = client
            .copy_out(&format!("COPY ({select}) TO STDOUT"))
            .await
            .map_err(|e| self.err(e))?;
        futures::pin_mut!(stream);
        let mut total = 0u64;
        let mut pending: Vec<u8> = Vec::new();
        let mut scratch = Vec::new();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            let chunk = chunk.map_err(|e| self.err(e))?;
            // The server sends one row per message; a row split over
            // messages is joined in `pending`.
            let data: &[u8] = if pending.is_empty() {
                &chunk
            } else {
                pending.extend_from_slice(&chunk);
                &pending
            };
            let mut start = 0;
            // Rows end with a raw newline; newlines inside values are escaped.
            while let Some(end) = data[start..].iter().position(|&b| b == b'\n') {
                sink.row(copy_text_row(
                    &data[start..start + end],
                    &columns,
                    &mut scratch,
                ))?;
                total += 1;
                start += end + 1;
            }
            let rest = data[start..].to_vec();
            pending.clear();
            pending.extend_from_slice(&rest);
        }
        guard.token = None;
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| self.err(e))?;
        Ok(total)
    }

    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        // Trailing `;` and blanks only; the server's Parse (extended
        // protocol) refuses a second statement.
        let sql = sql.trim_end_matches(|c: char| c.is_whitespace() || c == ';');
        if sql.trim().is_empty() {
            return Err(ConnError::new(ErrorKind::Other, "nothing to run"));
        }
        super::query::refuse_lock(sql)?;
        // A connection of its own, read-only by default and inside a READ
        // ONLY transaction that is never committed. `SELECT 1` takes the
        // transaction's snapshot, after which `SET TRANSACTION READ WRITE`
        // is refused by the server. Numbers only in this text.
        let session = self.connect().await?;
        let mut guard = session.cancel_guard();
        let client = &session.client;
        client
            .batch_execute(&format!(
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET bytea_output = hex; \
                 BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}; SELECT 1",
                self.opts.statement_timeout.as_millis()
            ))
            .await
            .map_err(|e| self.err(e))?;
        let stmt = client.prepare(sql).await.map_err(|e| self.query_err(e))?;
        let columns = column_metas(&stmt);
        if columns.is_empty() {
            // No rows to page through: run the prepared statement itself.
            let r = client.execute(&stmt, &[]).await;
            guard.token = None;
            r.map_err(|e| self.query_err(e))?;
            return Ok(Box::new(BufferedCursor {
                columns,
                rows: Default::default(),
            }));
        }
        // A cursor keeps memory flat and pages on demand. Its own lines
        // keep a trailing `--` comment from eating anything of ours.
        client
            .batch_execute("SAVEPOINT varlor_query")
            .await
            .map_err(|e| self.err(e))?;
        let declared = client
            .execute(
                &format!("DECLARE varlor_query NO SCROLL CURSOR FOR\n{sql}\n"),
                &[],
            )
            .await;
        match declared {
            Ok(_) => {
                guard.token = None;
                Ok(Box::new(PgCursor {
                    session,
                    password: self.password.clone(),
                    columns,
                    done: false,
                }))
            }
            // Not a cursor's statement (SHOW, EXPLAIN, INSERT … RETURNING,
            // a data-modifying WITH): the server's Parse above proved the
            // text is one statement, so it runs as is, inside the same READ
            // ONLY transaction, its (small) answer read at once.
            Err(e)
                if e.code()
                    .is_some_and(|c| matches!(&c.code()[..2], "42" | "0A")) =>
            {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT varlor_query")
                    .await
                    .map_err(|e| self.err(e))?;
                let msgs = client.simple_query(sql).await;
                guard.token = None;
                let msgs = msgs.map_err(|e| self.query_err(e))?;
                let rows = msgs
                    .iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::Row(r) => Some(text_row(r, &columns)),
                        _ => None,
                    })
                    .collect();
                Ok(Box::new(BufferedCursor { columns, rows }))
            }
            Err(e) => Err(self.query_err(e)),
        }
    }

    async fn reset(&self) {
        *self.session.lock().await = None;
    }

    fn capabilities(&self) -> Capabilities {
        ENGINE.capabilities
    }
}

/// A typed query's cursor: its own connection, inside a READ ONLY
/// transaction that is never committed (dropping the connection rolls it
/// back); each page is one `FETCH` under the statement timeout.
struct PgCursor {
    session: Session,
    password: Option<SecretString>,
    columns: Vec<ColumnMeta>,
    done: bool,
}

#[async_trait]
impl QueryCursor for PgCursor {
    fn columns(&self) -> &[ColumnMeta] {
        &self.columns
    }

    async fn next_page(&mut self, max: usize) -> Result<Vec<Vec<Cell>>, ConnError> {
        if self.done {
            return Ok(Vec::new());
        }
        let max = max.max(1);
        // Marked done first: a page cancelled midway leaves no cursor to read.
        self.done = true;
        let mut guard = self.session.cancel_guard();
        let msgs = self
            .session
            .client
            .simple_query(&format!("FETCH FORWARD {max} FROM varlor_query"))
            .await;
        guard.token = None;
        let msgs = msgs
            .map_err(|e| map_error(&e).scrub(self.password.as_ref().map(|p| p.expose_secret())))?;
        let rows: Vec<Vec<Cell>> = msgs
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(text_row(r, &self.columns)),
                _ => None,
            })
            .collect();
        if rows.len() == max {
            self.done = false;
        } else {
            let _ = self.session.client.batch_execute("ROLLBACK").await;
        }
        Ok(rows)
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Sends a cancel request for the session's running query when dropped armed.
struct CancelOnDrop {
    token: Option<CancelToken>,
    tls: Option<MakeRustlsConnect>,
    tunnel: Option<(PathBuf, String)>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        let tls = self.tls.take();
        let tunnel = self.tunnel.take();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let Some((socket, name)) = tunnel else {
                    let _ = match tls {
                        Some(tls) => token.cancel_query(tls).await,
                        None => token.cancel_query(NoTls).await,
                    };
                    return;
                };
                let Ok(stream) = UnixStream::connect(&socket).await else {
                    return;
                };
                let _ = match tls {
                    Some(mut tls) => {
                        match MakeTlsConnect::<UnixStream>::make_tls_connect(&mut tls, &name) {
                            Ok(t) => token.cancel_query_raw(stream, t).await,
                            Err(_) => return,
                        }
                    }
                    None => token.cancel_query_raw(stream, NoTls).await,
                };
            });
        }
    }
}

/// "PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu, …" → "PostgreSQL 15.8".
fn short_version(full: &str) -> String {
    let mut words = full.split_whitespace();
    match (words.next(), words.next()) {
        (Some(name), Some(ver)) => format!("{name} {}", ver.trim_end_matches(',')),
        _ => full.to_string(),
    }
}

fn is_system_schema(schema: &str) -> bool {
    schema == "pg_catalog" || schema == "information_schema" || schema.starts_with("pg_toast")
}

/// reltuples is -1 (PostgreSQL 14+) for never-analyzed tables; views have none.
fn estimate(kind: TableKind, reltuples: f64) -> Option<i64> {
    if kind == TableKind::View || reltuples < 0.0 || !reltuples.is_finite() {
        None
    } else {
        Some(reltuples.round() as i64)
    }
}

/// A readable type name: "int4", "numeric", "int4[]", enum names as declared.
fn type_name(ty: &Type) -> String {
    match ty.kind() {
        PgKind::Array(inner) => format!("{}[]", inner.name()),
        _ => ty.name().to_string(),
    }
}

/// Converts one text-protocol row: integers and booleans typed, bytea as
/// bytes, NULL as NULL, everything else the server's exact text.
fn text_row(row: &tokio_postgres::SimpleQueryRow, columns: &[ColumnMeta]) -> Vec<Cell> {
    (0..row.len())
        .map(|i| {
            let Some(text) = row.get(i) else {
                return Cell::Null;
            };
            let ty = columns.get(i).map(|c| c.type_name.as_str()).unwrap_or("");
            text_cell(ty, text)
        })
        .collect()
}

/// How the server's CSV of a column becomes the dataset's: what the row
/// path (`text_cell`, then the CSV sink) does to that column's text.
fn csv_rule(c: &ColumnMeta) -> FieldRule {
    match c.logical {
        super::Logical::Timestamp => FieldRule::Timestamp,
        super::Logical::Bool => FieldRule::Bool,
        // A domain over bytea keeps its hex text on the row path too.
        _ if c.type_name == "bytea" => FieldRule::HexBytes,
        _ => FieldRule::Keep,
    }
}

/// One line of `COPY … TO STDOUT` text format: tab-separated fields, `\N`
/// for NULL, backslash escapes for tab, newline, carriage return and
/// backslash. Unescaped fields are read in place.
fn copy_text_row(line: &[u8], columns: &[ColumnMeta], scratch: &mut Vec<u8>) -> Vec<Cell> {
    let mut row = Vec::with_capacity(columns.len());
    for (i, field) in line.split(|&b| b == b'\t').enumerate() {
        if field == b"\\N" {
            row.push(Cell::Null);
            continue;
        }
        let ty = columns.get(i).map(|c| c.type_name.as_str()).unwrap_or("");
        let bytes: &[u8] = if field.contains(&b'\\') {
            unescape_copy_text(field, scratch);
            scratch
        } else {
            field
        };
        row.push(match std::str::from_utf8(bytes) {
            Ok(text) => text_cell(ty, text),
            Err(_) => text_cell(ty, &String::from_utf8_lossy(bytes)),
        });
    }
    row
}

/// COPY text escapes: `\b \f \n \r \t \v`, octal `\NNN`, `\xHH`, and
/// `\` before any other byte stands for that byte.
fn unescape_copy_text(field: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b != b'\\' || i + 1 == field.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let next = field[i + 1];
        i += 2;
        match next {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(next - b'0');
                let mut digits = 1;
                while digits < 3 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                    v = v * 8 + u32::from(field[i] - b'0');
                    i += 1;
                    digits += 1;
                }
                out.push(v as u8);
            }
            b'x' if i < field.len() && field[i].is_ascii_hexdigit() => {
                let mut v = 0u32;
                let mut digits = 0;
                while digits < 2 && i < field.len() && field[i].is_ascii_hexdigit() {
                    v = v * 16 + (field[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    digits += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
}

fn text_cell(type_name: &str, text: &str) -> Cell {
    match type_name {
        "int2" | "int4" | "int8" | "oid" => text
            .parse()
            .map(Cell::Int)
            .unwrap_or_else(|_| Cell::Text(text.to_string())),
        "bool" => match text {
            "t" => Cell::Bool(true),
            "f" => Cell::Bool(false),
            _ => Cell::Text(text.to_string()),
        },
        "bytea" => decode_bytea_hex(text)
            .map(Cell::Bytes)
            .unwrap_or_else(|| Cell::Text(text.to_string())),
        "timestamp" | "timestamptz" => Cell::timestamp(text),
        _ => Cell::Text(text.to_string()),
    }
}

/// `\xdeadbeef` → bytes; `None` if not in hex output format.
fn decode_bytea_hex(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Maps a tokio-postgres error to the taxonomy (detail not yet scrubbed).
fn map_error(e: &tokio_postgres::Error) -> ConnError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let message = db.message();
        let kind = match code {
            // pg_hba `hostnossl … reject` and friends: "…, no encryption".
            "28000" | "28P01" if message.contains("no encryption") => ErrorKind::TlsRequired,
            "28000" | "28P01" => ErrorKind::InvalidCredentials,
            "3D000" => ErrorKind::DatabaseNotFound,
            "42501" => ErrorKind::PermissionDenied,
            "57014" if message.contains("user request") => ErrorKind::Cancelled,
            "57014" => ErrorKind::StatementTimeout,
            "25006" => ErrorKind::ReadOnly,
            "42P01" => ErrorKind::NotFound,
            "57P01" | "57P02" | "57P03" => ErrorKind::ConnectionLost,
            c if c.starts_with("08") => ErrorKind::ConnectionLost,
            _ => ErrorKind::Other,
        };
        let mut detail = format!("{code}: {message}");
        if let Some(d) = db.detail() {
            detail.push_str(&format!(" ({d})"));
        }
        return ConnError::new(kind, detail);
    }
    let text = e.to_string();
    // The server asked for a password and the connection has none (the
    // driver's "invalid configuration" carries it as its source).
    let cause = std::error::Error::source(e).map(|s| s.to_string());
    if cause.as_deref() == Some("password missing") {
        return ConnError::new(
            ErrorKind::PasswordRequired,
            "the server asked for a password",
        );
    }
    if let Some((kind, cause)) = tls::tls_cause(e) {
        return ConnError::new(kind, format!("{text}: {cause}"));
    }
    if text.contains("server does not support TLS") {
        return ConnError::new(ErrorKind::TlsUnavailable, text);
    }
    // The innermost io::Error says what happened on the socket.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let kind = classify_io(io);
            if kind != ErrorKind::Other {
                return ConnError::new(kind, text);
            }
        }
        source = s.source();
    }
    if e.is_closed() {
        return ConnError::new(ErrorKind::ConnectionLost, text);
    }
    ConnError::new(ErrorKind::Other, text)
}

/// A prepared statement's columns as the sinks read them; `numeric(p,s)`
/// keeps its precision and scale (Parquet decimals, SQLite text of kept
/// columns), read from the type modifier ((p << 16) | s) + 4 (-1: undeclared).
fn column_metas(stmt: &tokio_postgres::Statement) -> Vec<ColumnMeta> {
    stmt.columns()
        .iter()
        .map(|c| {
            let type_name = match c.type_modifier() {
                m if *c.type_() == Type::NUMERIC && m >= 4 => {
                    let m = m - 4;
                    format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
                }
                _ => type_name(c.type_()),
            };
            ColumnMeta {
                name: c.name().to_string(),
                logical: super::Logical::of_sql_type(&type_name, false),
                type_name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn through_a_tunnel_the_loopback_is_dialled_and_the_database_name_checked() {
        use tokio_postgres::config::Host;
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = "127.0.0.1".into();
        spec.port = Some(40123);
        spec.tls = TlsMode::VerifyFull;
        let plain = PostgresConnector::new(spec.clone(), None, SessionOptions::default()).config();
        assert_eq!(plain.get_hosts(), [Host::Tcp("127.0.0.1".into())]);
        assert!(plain.get_hostaddrs().is_empty());
        spec.options.insert(
            crate::connectors::spec::TLS_SERVER_NAME.into(),
            "db.internal".into(),
        );
        let tunnelled = PostgresConnector::new(spec, None, SessionOptions::default()).config();
        assert_eq!(tunnelled.get_hosts(), [Host::Tcp("db.internal".into())]);
        assert_eq!(
            tunnelled.get_hostaddrs(),
            ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(tunnelled.get_ports(), [40123]);
    }

    #[test]
    fn copy_text_rows_unescape_and_keep_null_apart_from_empty() {
        let cols: Vec<ColumnMeta> = ["int4", "text", "text", "bytea", "bool", "text"]
            .iter()
            .map(|t| ColumnMeta {
                name: "c".into(),
                type_name: t.to_string(),
                logical: Default::default(),
            })
            .collect();
        let mut scratch = Vec::new();
        let line = b"42\ta\\tb\\nc\\\\d\t\t\\\\xdead00ff\t\\N\t\\101\\x42\xc3\xa9";
        let row = copy_text_row(line, &cols, &mut scratch);
        assert_eq!(
            row,
            vec![
                Cell::Int(42),
                Cell::Text("a\tb\nc\\d".into()),
                Cell::Text(String::new()),
                Cell::Bytes(vec![0xde, 0xad, 0x00, 0xff]),
                Cell::Null,
                Cell::Text("ABé".into()),
            ]
        );
    }

    #[test]
    fn versions_are_shortened() {
        assert_eq!(
            short_version("PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu"),
            "PostgreSQL 15.8"
        );
        assert_eq!(
            short_version("PostgreSQL 16.2, compiled"),
            "PostgreSQL 16.2"
        );
        assert_eq!(short_version("odd"), "odd");
    }

    #[test]
    fn bytea_hex_is_decoded() {
        assert_eq!(
            decode_bytea_hex("\\xdeadbeef00ff"),
            Some(vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff])
        );
        assert_eq!(decode_bytea_hex("\\x"), Some(vec![]));
        assert_eq!(decode_bytea_hex("\\xabc"), None);
        assert_eq!(decode_bytea_hex("plain"), None);
        assert_eq!(decode_bytea_hex("\\xzz"), None);
    }

    #[test]
    fn text_cells_keep_exact_text() {
        assert_eq!(
            text_cell("int8", "9223372036854775807"),
            Cell::Int(i64::MAX)
        );
        assert_eq!(text_cell("bool", "f"), Cell::Bool(false));
        assert_eq!(
            text_cell("numeric", "12345678901234567890.0123456789"),
            Cell::Text("12345678901234567890.0123456789".into())
        );
        assert_eq!(text_cell("float8", "NaN"), Cell::Text("NaN".into()));
        assert_eq!(
            text_cell("timestamptz", "2024-01-02 03:04:05+01"),
            Cell::Text("2024-01-02T03:04:05+01:00".into())
        );
        assert_eq!(
            text_cell("timestamp", "0044-03-15 12:00:00 BC"),
            Cell::Text("0044-03-15 12:00:00 BC".into())
        );
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate(TableKind::Table, -1.0), None);
        assert_eq!(estimate(TableKind::Table, 1000.0), Some(1000));
        assert_eq!(estimate(TableKind::View, 0.0), None);
    }
}
