//! MongoDB through the official `mongodb` driver (tokio, rustls).
//!
//! Read-only by construction: every command Varlor sends is built in
//! [`read`] below (hello, buildInfo, listDatabases, listCollections, count,
//! aggregate with `$sample` / `$count`, listIndexes, listCollections for one
//! collection's validator, find, and a typed
//! query's find or aggregate — whose pipeline is a [`query::ReadPipeline`],
//! proven free of `$out` / `$merge`). Nothing else talks to the server, so a
//! reviewer checks one module.
//!
//! `test` and the browsing session connect the same way: the configured
//! connect timeout bounds both the TCP/TLS connect and server selection, and a
//! failed heartbeat of every seed host ends the wait early with the reason
//! (refused, unknown host, TLS), instead of waiting out server selection.
//!
//! Structure is sampled (`$sample`), values keep their BSON type: documents
//! and the types JSON lacks travel as `Cell::Json` in relaxed Extended JSON;
//! an import to JSON Lines gets whole documents in canonical Extended JSON
//! (lossless), other formats one column per top-level field.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::{self, spec::BinarySubtype, Bson, Document};
use mongodb::event::sdam::SdamEvent;
use mongodb::event::EventHandler;
use mongodb::options::{ClientOptions, Credential, Socks5Proxy, Tls, TlsOptions};
use mongodb::Client;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::engine::{Capabilities, Engine, FilterLanguage, RowLimit, StructureSource, TunnelEnd};
use super::error::classify_io;
use super::spec::SpecError;
use super::{
    Cell, ColumnInfo, ColumnMeta, ConnError, ConnSpec, Connector, ErrorKind, Logical, RowSet,
    RowSink, ServerInfo, SessionOptions, StreamOptions, TableInfo, TableKind, TableRef, TlsMode,
    DOCUMENT_COLUMN,
};
use super::{Field, Kind};

pub const ENGINE: Engine = Engine {
    kind: Kind::Mongodb,
    id: "mongodb",
    display_name: "MongoDB",
    default_port: Some(27017),
    fields: &[
        Field::Host,
        Field::Port,
        Field::Database,
        Field::User,
        Field::Password,
        Field::AuthSource,
        Field::TlsMode,
        Field::CaFile,
        Field::SshVia,
    ],
    url_schemes: &["mongodb", "mongodb+srv"],
    parse_url: parse_mongo_url,
    has_password: true,
    file_based: false,
    user_required: false,
    dialect: None,
    row_limit: RowLimit::Limit,
    capabilities: Capabilities {
        filter: FilterLanguage::Document,
        structure: StructureSource::Sampled,
        exact_count: true,
        read_only: "only read commands are sent",
    },
    tunnel: TunnelEnd::Socks5,
    concurrent: true,
    open: Ok(|spec, password, opts| Box::new(MongoConnector::new(spec.clone(), password, opts))),
};

pub use super::DEFAULT_SAMPLE;
/// Documents per batch while streaming (memory stays flat).
const STREAM_BATCH: u32 = 1000;
/// `spec.options` key remembering a `mongodb+srv://` URI (not a driver option).
const SRV_OPTION: &str = "srv";

pub mod query;

// --- URI parsing ----------------------------------------------------------

/// `mongodb://[user[:password]@]host1[:port1][,host2[:port2]…][/db][?options]`
/// and `mongodb+srv://…@cluster.example/db?…` (one host, no port). Several
/// hosts go into `spec.host` as `h1:p1,h2:p2`; `tls`, `tlsCAFile`,
/// `tlsInsecure`/`tlsAllowInvalidCertificates` and `connectTimeoutMS` become
/// spec fields; every other option (`authSource`, `replicaSet`,
/// `directConnection`, `authMechanism`, `readPreference`, unknown ones) is
/// kept in `spec.options` with its own spelling. The password comes back
/// separately for the vault.
pub fn parse_mongo_url(
    text: &str,
    kind: Kind,
) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let text = text.trim();
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| SpecError::new("url", "expected mongodb://host or mongodb+srv://host"))?;
    let mut srv = match scheme.to_ascii_lowercase().as_str() {
        "mongodb" => false,
        "mongodb+srv" => true,
        other => {
            return Err(SpecError::new(
                "url",
                format!("unknown scheme '{other}' (expected mongodb or mongodb+srv)"),
            ))
        }
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    // The authority ends at the first '/' after the userinfo.
    let (userinfo, after_at) = match before_query.rfind('@') {
        Some(at) if !before_query[..at].contains('/') => {
            (Some(&before_query[..at]), &before_query[at + 1..])
        }
        _ => (None, before_query),
    };
    let (hosts_part, path) = match after_at.split_once('/') {
        Some((h, p)) => (h, p),
        None => (after_at, ""),
    };
    let mut spec = ConnSpec::new(kind);
    let mut password = None;
    if let Some(ui) = userinfo {
        let (u, p) = match ui.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (ui, None),
        };
        if u.is_empty() {
            return Err(SpecError::new("user", "the URI has '@' but no user name"));
        }
        spec.user = percent_decode_strict(u, "user")?;
        if let Some(p) = p {
            let p = percent_decode_strict(p, "password")?;
            if !p.is_empty() {
                password = Some(SecretString::from(p));
            }
        }
    }
    if hosts_part.is_empty() {
        return Err(SpecError::new("host", "the URI names no host"));
    }
    let mut hosts = Vec::new();
    for h in hosts_part.split(',') {
        hosts.push(parse_host(h)?);
    }
    if srv {
        if hosts.len() != 1 {
            return Err(SpecError::new(
                "host",
                "a mongodb+srv URI names exactly one host (the SRV record)",
            ));
        }
        if hosts[0].1.is_some() {
            return Err(SpecError::new(
                "port",
                "a mongodb+srv URI cannot have a port",
            ));
        }
        spec.options.insert(SRV_OPTION.into(), "true".into());
    }
    if hosts.len() == 1 {
        spec.host = hosts[0].0.clone();
        spec.port = Some(hosts[0].1.unwrap_or(27017));
    } else {
        spec.host = hosts
            .iter()
            .map(|(h, p)| host_port(h, p.unwrap_or(27017)))
            .collect::<Vec<_>>()
            .join(",");
        spec.port = Some(hosts[0].1.unwrap_or(27017));
    }
    spec.database = percent_decode_strict(path, "database")?;
    if spec.database.contains(['/', '\\', ' ', '"', '$']) {
        return Err(SpecError::new(
            "database",
            format!("'{}' is not a valid database name", spec.database),
        ));
    }
    let mut tls_on: Option<bool> = if srv { Some(true) } else { None };
    let mut insecure = false;
    let mut sslmode: Option<TlsMode> = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| SpecError::new("url", format!("option '{pair}' has no value")))?;
        let v = percent_decode_strict(v, "url")?;
        let flag = |v: &str| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(SpecError::new(
                "tls",
                format!("{k}={v}: expected true or false"),
            )),
        };
        match k.to_ascii_lowercase().as_str() {
            "tls" | "ssl" => tls_on = Some(flag(&v)?),
            // Varlor's own URL of a spec (`ConnSpec::to_url`) says `sslmode`.
            "sslmode" => {
                let mode = TlsMode::parse(&v)
                    .ok_or_else(|| SpecError::new("tls", format!("unknown TLS mode '{v}'")))?;
                sslmode = Some(mode);
            }
            // …and `srv=true` for a mongodb+srv URI.
            "srv" if !srv => {
                if flag(&v)? {
                    srv = true;
                    spec.options.insert(SRV_OPTION.into(), "true".into());
                }
            }
            "tlsinsecure" | "tlsallowinvalidcertificates" => insecure = flag(&v)?,
            "tlscafile" => spec.ca_file = Some(v.into()),
            "connecttimeoutms" => {
                let ms: u64 = v.parse().map_err(|_| {
                    SpecError::new("timeout", format!("connectTimeoutMS={v} is not a number"))
                })?;
                spec.connect_timeout_secs = ms.div_ceil(1000).max(1);
            }
            "password" => {
                return Err(SpecError::new(
                    "url",
                    "put the password in the userinfo, not the query",
                ))
            }
            _ => {
                spec.options.insert(k.to_string(), v);
            }
        }
    }
    spec.tls = match (tls_on, insecure) {
        _ if sslmode.is_some() => sslmode.unwrap_or_default(),
        (Some(false), _) => TlsMode::Disable,
        (Some(true), true) | (None, true) => TlsMode::Require,
        (Some(true), false) => TlsMode::VerifyFull,
        (None, false) if spec.ca_file.is_some() => TlsMode::VerifyFull,
        // Unstated: MongoDB's own default (no TLS for mongodb://).
        (None, false) => TlsMode::Prefer,
    };
    Ok((spec, password))
}

/// `host`, `host:port`, `[::1]:port` → (host, port).
fn parse_host(h: &str) -> Result<(String, Option<u16>), SpecError> {
    let h = percent_decode_strict(h, "host")?;
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or_else(|| SpecError::new("host", format!("'{h}': unclosed '['")))?;
        (inner.to_string(), after.strip_prefix(':'))
    } else {
        match h.rsplit_once(':') {
            Some((a, p)) => (a.to_string(), Some(p)),
            None => (h.clone(), None),
        }
    };
    if host.is_empty() {
        return Err(SpecError::new("host", "an empty host in the host list"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(ConnSpec::parse_port(p)?),
    };
    Ok((host, port))
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn percent_decode_strict(s: &str, field: &'static str) -> Result<String, SpecError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| SpecError::new(field, "a '%' not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| SpecError::new(field, "not UTF-8 after percent-decoding"))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// The driver's proxy setting for the SOCKS5 gate at "127.0.0.1:PORT"
/// (`spec::SOCKS5_PROXY`, set by `ssh::connector`).
fn socks5_gate(addr: &str) -> Result<Socks5Proxy, ConnError> {
    let bad = || {
        ConnError::new(
            ErrorKind::Config,
            "the SSH tunnel's gate address is malformed",
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok(Socks5Proxy::builder()
        .host(host.to_string())
        .port(port)
        .build())
}

/// The URI handed to the driver's option parser: hosts, user, database and
/// the kept options, never the password (it is set on the credential) nor
/// the TLS settings (set from the spec's fields).
fn driver_uri(spec: &ConnSpec) -> String {
    let srv = spec.options.get(SRV_OPTION).is_some_and(|v| v == "true");
    let mut uri = String::from(if srv { "mongodb+srv://" } else { "mongodb://" });
    if !spec.user.is_empty() {
        uri.push_str(&percent_encode(&spec.user));
        uri.push('@');
    }
    let host = spec.host.trim();
    if srv || host.contains(',') {
        uri.push_str(host);
    } else {
        uri.push_str(&host_port(host, spec.effective_port()));
    }
    uri.push('/');
    uri.push_str(&percent_encode(&spec.database));
    let opts: Vec<String> = spec
        .options
        .iter()
        .filter(|(k, _)| {
            k.as_str() != SRV_OPTION && !super::spec::RUNTIME_OPTIONS.contains(&k.as_str())
        })
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    if !opts.is_empty() {
        uri.push('?');
        uri.push_str(&opts.join("&"));
    }
    uri
}

// --- the read commands ------------------------------------------------------

/// Every command Varlor sends to a MongoDB server. All are reads; the
/// driver adds only its own handshake, authentication, `getMore` and
/// `killCursors` (closing a cursor Varlor opened).
mod read {
    use std::time::Duration;

    use mongodb::bson::{doc, Document};
    use mongodb::{Client, Cursor};

    fn max_ms(t: Duration) -> i64 {
        // 0 means no limit, as in MongoDB.
        t.as_millis().min(i64::MAX as u128) as i64
    }

    pub async fn hello(c: &Client) -> mongodb::error::Result<Document> {
        c.database("admin").run_command(doc! { "hello": 1 }).await
    }

    pub async fn build_info(c: &Client) -> mongodb::error::Result<Document> {
        c.database("admin")
            .run_command(doc! { "buildInfo": 1 })
            .await
    }

    /// Database names the user may read (refused by some servers for
    /// non-admin users; the caller falls back to its own database).
    pub async fn list_databases(c: &Client) -> mongodb::error::Result<Document> {
        c.database("admin")
            .run_command(doc! { "listDatabases": 1, "nameOnly": true, "authorizedDatabases": true })
            .await
    }

    pub async fn list_collections(
        c: &Client,
        db: &str,
    ) -> mongodb::error::Result<Cursor<Document>> {
        c.database(db)
            .run_cursor_command(doc! {
                "listCollections": 1, "nameOnly": true, "authorizedCollections": true,
            })
            .await
    }

    /// One collection's listCollections entry (its options: the validator).
    pub async fn collection_info(
        c: &Client,
        db: &str,
        coll: &str,
    ) -> mongodb::error::Result<Cursor<Document>> {
        c.database(db)
            .run_cursor_command(doc! {
                "listCollections": 1, "filter": { "name": coll }, "authorizedCollections": true,
            })
            .await
    }

    /// `count` without a query: the collection's metadata count, no scan.
    pub async fn estimated_count(
        c: &Client,
        db: &str,
        coll: &str,
        t: Duration,
    ) -> mongodb::error::Result<Document> {
        c.database(db)
            .run_command(doc! { "count": coll, "maxTimeMS": max_ms(t) })
            .await
    }

    /// The exact count: every document is visited, bounded by maxTimeMS.
    pub async fn exact_count(
        c: &Client,
        db: &str,
        coll: &str,
        t: Duration,
    ) -> mongodb::error::Result<Cursor<Document>> {
        c.database(db)
            .run_cursor_command(doc! {
                "aggregate": coll,
                "pipeline": [ { "$count": "n" } ],
                "cursor": {},
                "maxTimeMS": max_ms(t),
            })
            .await
    }

    pub async fn sample(
        c: &Client,
        db: &str,
        coll: &str,
        size: u32,
        t: Duration,
    ) -> mongodb::error::Result<Cursor<Document>> {
        c.database(db)
            .run_cursor_command(doc! {
                "aggregate": coll,
                "pipeline": [ { "$sample": { "size": size as i64 } } ],
                "cursor": { "batchSize": size as i64 },
                "maxTimeMS": max_ms(t),
            })
            .await
    }

    pub async fn list_indexes(
        c: &Client,
        db: &str,
        coll: &str,
    ) -> mongodb::error::Result<Cursor<Document>> {
        c.database(db)
            .run_cursor_command(doc! { "listIndexes": coll })
            .await
    }

    /// A `find` (filter, projection, sort, skip, limit; a limit of 0 or
    /// none means all), for typed queries and, in natural order, for
    /// previews and imports.
    pub async fn find_query(
        c: &Client,
        db: &str,
        coll: &str,
        q: &super::query::FindSpec,
        batch: u32,
        t: Duration,
    ) -> mongodb::error::Result<Cursor<Document>> {
        let mut cmd = doc! { "find": coll, "filter": q.filter.clone(), "batchSize": batch as i64 };
        if let Some(p) = &q.projection {
            cmd.insert("projection", p.clone());
        }
        if let Some(s) = &q.sort {
            cmd.insert("sort", s.clone());
        }
        if let Some(n) = q.skip.filter(|n| *n > 0) {
            cmd.insert("skip", n);
        }
        if let Some(n) = q.limit.filter(|n| *n > 0) {
            cmd.insert("limit", n);
        }
        cursor(c, db, cmd, batch, t).await
    }

    /// A typed query's `aggregate`: only a [`ReadPipeline`] (no `$out`,
    /// no `$merge`) and the read options the parser allowed.
    ///
    /// [`ReadPipeline`]: super::query::ReadPipeline
    pub async fn aggregate(
        c: &Client,
        db: &str,
        coll: &str,
        pipeline: &super::query::ReadPipeline,
        options: &Document,
        batch: u32,
        t: Duration,
    ) -> mongodb::error::Result<Cursor<Document>> {
        let mut cmd = doc! {
            "aggregate": coll,
            "pipeline": pipeline.stages().to_vec(),
            "cursor": { "batchSize": batch as i64 },
        };
        for (k, v) in options {
            if !cmd.contains_key(k) {
                cmd.insert(k.clone(), v.clone());
            }
        }
        cursor(c, db, cmd, batch, t).await
    }

    /// `find` in natural order; `limit` 0 means all. No maxTimeMS when
    /// `t` is zero (imports are long by nature and cancelled by dropping).
    pub async fn find(
        c: &Client,
        db: &str,
        coll: &str,
        filter: Document,
        limit: i64,
        batch: u32,
        t: Duration,
    ) -> mongodb::error::Result<Cursor<Document>> {
        let spec = super::query::FindSpec {
            filter,
            limit: Some(limit),
            ..Default::default()
        };
        find_query(c, db, coll, &spec, batch, t).await
    }

    /// Runs a cursor command built above, with maxTimeMS unless `t` is zero.
    async fn cursor(
        c: &Client,
        db: &str,
        mut cmd: Document,
        batch: u32,
        t: Duration,
    ) -> mongodb::error::Result<Cursor<Document>> {
        if !t.is_zero() {
            cmd.insert("maxTimeMS", max_ms(t));
        }
        c.database(db)
            .run_cursor_command(cmd)
            .batch_size(batch)
            .await
    }
}

// --- the connector ------------------------------------------------------------

pub struct MongoConnector {
    spec: ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
    client: Mutex<Option<Client>>,
}

impl MongoConnector {
    pub fn new(spec: ConnSpec, password: Option<SecretString>, opts: SessionOptions) -> Self {
        MongoConnector {
            spec,
            password,
            opts,
            client: Mutex::new(None),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }

    fn err(&self, e: mongodb::error::Error) -> ConnError {
        map_error(&e).scrub(self.secret())
    }

    /// The database of the connection (what the user is scoped to).
    fn own_database(&self) -> &str {
        self.spec.database.trim()
    }

    /// Driver options from the spec; the password only goes on the credential.
    async fn client_options(&self) -> Result<ClientOptions, ConnError> {
        let uri = driver_uri(&self.spec);
        let timeout = self.spec.connect_timeout();
        let parsed = tokio::time::timeout(timeout, ClientOptions::parse(&uri)).await;
        let mut o = match parsed {
            Err(_) => {
                return Err(ConnError::new(
                    ErrorKind::ConnectionTimeout,
                    format!(
                        "resolving {} took over {} s",
                        self.spec.host,
                        timeout.as_secs()
                    ),
                ))
            }
            Ok(Err(e)) => {
                let mapped = self.err(e);
                let kind = if matches!(mapped.kind, ErrorKind::Other) {
                    ErrorKind::Config
                } else {
                    mapped.kind
                };
                return Err(ConnError::new(kind, mapped.detail));
            }
            Ok(Ok(o)) => o,
        };
        o.app_name = Some("varlor".into());
        o.connect_timeout = Some(timeout);
        o.server_selection_timeout = Some(timeout);
        if !self.spec.user.is_empty() {
            let mut cred = o.credential.take().unwrap_or_else(|| {
                Credential::builder()
                    .username(self.spec.user.clone())
                    .build()
            });
            cred.username = Some(self.spec.user.clone());
            cred.password = self
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_string());
            if cred.source.is_none() {
                // Default: the connection's database, then admin.
                let db = self.own_database();
                cred.source = Some(if db.is_empty() {
                    "admin".into()
                } else {
                    db.into()
                });
            }
            o.credential = Some(cred);
        }
        if let Some(gate) = self.spec.options.get(super::spec::SOCKS5_PROXY) {
            // Through an SSH tunnel: the driver names the database's real
            // host to the gate (which lets it reach that one only) and checks
            // the certificate for that name. One server, no discovery.
            o.socks5_proxy = Some(socks5_gate(gate)?);
            o.direct_connection = Some(true);
        }
        let srv = self
            .spec
            .options
            .get(SRV_OPTION)
            .is_some_and(|v| v == "true");
        o.tls = Some(match self.spec.tls {
            TlsMode::Disable => Tls::Disabled,
            // Prefer: MongoDB's own default, TLS only for SRV URIs (verified).
            TlsMode::Prefer if !srv => Tls::Disabled,
            TlsMode::Prefer => Tls::Enabled(TlsOptions::default()),
            TlsMode::Require => Tls::Enabled(
                TlsOptions::builder()
                    .allow_invalid_certificates(true)
                    .build(),
            ),
            TlsMode::VerifyFull => {
                if let Some(ca) = &self.spec.ca_file {
                    // Read it ourselves first, for an error naming the file.
                    super::tls::load_ca_file(ca)?;
                }
                Tls::Enabled(
                    TlsOptions::builder()
                        .ca_file_path(self.spec.ca_file.clone())
                        .build(),
                )
            }
        });
        Ok(o)
    }

    fn tls_in_use(&self) -> bool {
        match self.spec.tls {
            TlsMode::Disable => false,
            TlsMode::Prefer => self
                .spec
                .options
                .get(SRV_OPTION)
                .is_some_and(|v| v == "true"),
            TlsMode::Require | TlsMode::VerifyFull => true,
        }
    }

    /// Builds a client and runs `hello` on it, within the connect timeout;
    /// gives up early when every seed host failed its heartbeat.
    async fn connect(&self) -> Result<(Client, Document), ConnError> {
        let mut o = self.client_options().await?;
        let seeds: Vec<String> = o.hosts.iter().map(|h| h.to_string()).collect();
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(String, mongodb::error::Error)>();
        o.sdam_event_handler = Some(EventHandler::callback(move |ev: SdamEvent| {
            if let SdamEvent::ServerHeartbeatFailed(f) = ev {
                let _ = tx.send((f.server_address.to_string(), f.failure.clone()));
            }
        }));
        let client = Client::with_options(o).map_err(|e| self.err(e))?;
        let timeout = self.spec.connect_timeout();
        let hello = read::hello(&client);
        let all_failed = async {
            let mut failed: BTreeMap<String, mongodb::error::Error> = BTreeMap::new();
            while let Some((addr, e)) = rx.recv().await {
                failed.insert(addr, e);
                if seeds.iter().all(|s| failed.contains_key(s)) {
                    return failed;
                }
            }
            std::future::pending().await
        };
        let outcome = tokio::time::timeout(timeout, async {
            tokio::select! {
                r = hello => Ok(r),
                failed = all_failed => Err(failed),
            }
        })
        .await;
        match outcome {
            Err(_) => Err(ConnError::new(
                ErrorKind::ConnectionTimeout,
                format!(
                    "no answer from {} within {} s",
                    self.spec.host,
                    timeout.as_secs()
                ),
            )),
            Ok(Ok(Ok(hello))) => Ok((client, hello)),
            Ok(Ok(Err(e))) => Err(self.err(e)),
            Ok(Err(failed)) => {
                // The first host's reason names the kind; the detail lists all.
                let kind = failed
                    .values()
                    .map(|e| map_error(e).kind)
                    .next()
                    .unwrap_or(ErrorKind::Other);
                let detail = failed
                    .iter()
                    .map(|(a, e)| format!("{a}: {}", map_error(e).detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(ConnError::new(kind, format!("tried {detail}")).scrub(self.secret()))
            }
        }
    }

    /// The pooled client, connected on first use.
    async fn client(&self) -> Result<Client, ConnError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let (c, _) = self.connect().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn db_of<'a>(&'a self, table: &'a TableRef) -> &'a str {
        table
            .schema
            .as_deref()
            .unwrap_or_else(|| self.own_database())
    }

    /// Databases to list: what listDatabases allows, else the own database.
    async fn databases(&self, c: &Client) -> Result<Vec<String>, ConnError> {
        match read::list_databases(c).await {
            Ok(answer) => {
                let mut names: Vec<String> = answer
                    .get_array("databases")
                    .map(|a| {
                        a.iter()
                            .filter_map(|d| d.as_document()?.get_str("name").ok())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let own = self.own_database();
                if !own.is_empty() && !names.iter().any(|n| n == own) {
                    names.push(own.to_string());
                }
                names.sort();
                Ok(names)
            }
            Err(e) => {
                let mapped = self.err(e);
                if mapped.kind == ErrorKind::PermissionDenied && !self.own_database().is_empty() {
                    Ok(vec![self.own_database().to_string()])
                } else {
                    Err(mapped)
                }
            }
        }
    }

    /// The collections and views of `db`, with estimated counts when
    /// `estimates` (one `count` each, eight at a time).
    async fn collections(
        &self,
        c: &Client,
        db: &str,
        estimates: bool,
    ) -> Result<Vec<TableRef>, ConnError> {
        let cursor = read::list_collections(c, db)
            .await
            .map_err(|e| self.err(e))?;
        let specs: Vec<Document> = cursor.try_collect().await.map_err(|e| self.err(e))?;
        let system_db = matches!(db, "admin" | "config" | "local");
        let mut out: Vec<TableRef> = specs
            .iter()
            .filter_map(|s| {
                let name = s.get_str("name").ok()?.to_string();
                let kind = match s.get_str("type").unwrap_or("collection") {
                    "view" => TableKind::View,
                    _ => TableKind::Collection,
                };
                Some(TableRef {
                    schema: Some(db.to_string()),
                    system: system_db || name.starts_with("system."),
                    name,
                    kind,
                    estimated_rows: None,
                })
            })
            .collect();
        if !estimates {
            out.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(out);
        }
        // Estimates from metadata, a few at a time (never a scan).
        let t = self.opts.statement_timeout;
        let jobs: Vec<(String, bool)> = out
            .iter()
            .map(|tr| (tr.name.clone(), tr.kind == TableKind::View))
            .collect();
        let estimates: Vec<Option<i64>> =
            futures::stream::iter(jobs.into_iter().map(|(name, is_view)| {
                let c = c.clone();
                let db = db.to_string();
                async move {
                    if is_view {
                        return None;
                    }
                    read::estimated_count(&c, &db, &name, t)
                        .await
                        .ok()
                        .and_then(|d| number(d.get("n")?))
                }
            }))
            .buffered(8)
            .collect()
            .await;
        for (tr, n) in out.iter_mut().zip(estimates) {
            tr.estimated_rows = n;
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every readable database's collections (see [`Self::collections`]).
    async fn list(&self, estimates: bool) -> Result<Vec<TableRef>, ConnError> {
        let c = self.client().await?;
        let mut out = Vec::new();
        for db in self.databases(&c).await? {
            match self.collections(&c, &db, estimates).await {
                Ok(mut v) => out.append(&mut v),
                // A database listed but not readable: skip it, keep the rest.
                Err(e) if e.kind == ErrorKind::PermissionDenied => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn sample_structure(
        &self,
        c: &Client,
        table: &TableRef,
        size: u32,
    ) -> Result<TableInfo, ConnError> {
        let db = self.db_of(table);
        let t = self.opts.statement_timeout;
        let mut cursor = read::sample(c, db, &table.name, size, t)
            .await
            .map_err(|e| self.err(e))?;
        let mut shape = Shape::default();
        while let Some(d) = cursor.try_next().await.map_err(|e| self.err(e))? {
            shape.add(&d);
        }
        let estimated = if table.kind == TableKind::View {
            None
        } else {
            read::estimated_count(c, db, &table.name, t)
                .await
                .ok()
                .and_then(|d| number(d.get("n")?))
        };
        let mut table = table.clone();
        table.estimated_rows = estimated.or(table.estimated_rows);
        // Indexes and the validator complete the picture; a server that
        // refuses them still gives the sampled fields.
        let (indexes, validator) = if table.kind == TableKind::View {
            (Vec::new(), None)
        } else {
            (
                self.index_lines(c, &table).await.unwrap_or_default(),
                self.validator(c, &table).await.unwrap_or_default(),
            )
        };
        Ok(TableInfo {
            columns: shape.columns(),
            estimated_rows: table.estimated_rows,
            sampled: Some(shape.docs),
            indexes,
            validator,
            table,
        })
    }

    /// The validator of a collection (its `$jsonSchema` when it has one,
    /// else the whole validator) as relaxed Extended JSON.
    async fn validator(
        &self,
        c: &Client,
        table: &TableRef,
    ) -> Result<Option<serde_json::Value>, ConnError> {
        let cursor = read::collection_info(c, self.db_of(table), &table.name)
            .await
            .map_err(|e| self.err(e))?;
        let specs: Vec<Document> = cursor.try_collect().await.map_err(|e| self.err(e))?;
        let validator = specs
            .iter()
            .find(|s| s.get_str("name") == Ok(table.name.as_str()))
            .and_then(|s| s.get_document("options").ok())
            .and_then(|o| o.get_document("validator").ok())
            .filter(|v| !v.is_empty());
        Ok(validator.map(|v| {
            let shown = match v.get_document("$jsonSchema") {
                Ok(schema) => Bson::Document(schema.clone()),
                Err(_) => Bson::Document(v.clone()),
            };
            shown.into_relaxed_extjson()
        }))
    }

    /// The indexes of a collection, one line each (`name: {key spec}`).
    async fn index_lines(&self, c: &Client, table: &TableRef) -> Result<Vec<String>, ConnError> {
        let cursor = read::list_indexes(c, self.db_of(table), &table.name)
            .await
            .map_err(|e| self.err(e))?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(|e| self.err(e))?;
        Ok(docs
            .iter()
            .map(|d| {
                let name = d.get_str("name").unwrap_or("?");
                let key = d
                    .get_document("key")
                    .map(|k| Bson::Document(k.clone()).into_relaxed_extjson().to_string())
                    .unwrap_or_default();
                let unique = if d.get_bool("unique").unwrap_or(false) {
                    " unique"
                } else {
                    ""
                };
                format!("{name}: {key}{unique}")
            })
            .collect())
    }

    fn parse_filter(&self, opts: &StreamOptions) -> Result<Document, ConnError> {
        let Some(text) = opts.checked_filter(true)? else {
            return Ok(Document::new());
        };
        ENGINE
            .capabilities
            .check_filter(text)
            .map_err(|m| ConnError::new(ErrorKind::InvalidFilter, format!("filter: {m}")))?;
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ConnError::new(ErrorKind::InvalidFilter, format!("filter: {e}")))?;
        match Bson::try_from(json) {
            Ok(Bson::Document(d)) => Ok(d),
            Ok(_) => Err(ConnError::new(
                ErrorKind::Config,
                "filter: not a JSON query document",
            )),
            Err(e) => Err(ConnError::new(
                ErrorKind::Config,
                format!("filter: bad Extended JSON: {e}"),
            )),
        }
    }
}

#[async_trait]
impl Connector for MongoConnector {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        let started = Instant::now();
        let (client, hello) = self.connect().await?;
        let build = read::build_info(&client).await.map_err(|e| self.err(e))?;
        let latency = started.elapsed();
        let version = build.get_str("version").unwrap_or("?");
        let deployment = if hello.get_str("msg").ok() == Some("isdbgrid") {
            "sharded cluster (mongos)".to_string()
        } else if let Ok(set) = hello.get_str("setName") {
            format!("replica set {set}")
        } else {
            "standalone".to_string()
        };
        Ok(ServerInfo {
            version: format!("MongoDB {version}, {deployment}"),
            latency,
            tls: self.tls_in_use(),
        })
    }

    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        self.list(true).await
    }

    async fn list_table_names(&self) -> Result<Vec<TableRef>, ConnError> {
        self.list(false).await
    }

    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        let c = self.client().await?;
        self.sample_structure(&c, table, self.opts.sample_size.max(1))
            .await
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        let c = self.client().await?;
        let mut cursor = read::exact_count(
            &c,
            self.db_of(table),
            &table.name,
            self.opts.statement_timeout,
        )
        .await
        .map_err(|e| self.err(e))?;
        let first = cursor.try_next().await.map_err(|e| self.err(e))?;
        // No document at all: the collection is empty.
        Ok(first
            .and_then(|d| number(d.get("n")?))
            .map_or(0, |n| n.max(0) as u64))
    }

    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        let c = self.client().await?;
        let started = Instant::now();
        let limit = limit.max(1);
        let cursor = read::find(
            &c,
            self.db_of(table),
            &table.name,
            Document::new(),
            limit as i64,
            limit.min(u32::MAX as usize) as u32,
            self.opts.statement_timeout,
        )
        .await
        .map_err(|e| self.err(e))?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(|e| self.err(e))?;
        let mut grid = Grid::default();
        for d in &docs {
            grid.observe(d);
        }
        let rows = docs.iter().map(|d| grid.row(d)).collect();
        Ok(RowSet {
            columns: grid.columns(),
            rows,
            elapsed: started.elapsed(),
            documents: docs
                .into_iter()
                .map(|d| Bson::Document(d).into_relaxed_extjson())
                .collect(),
        })
    }

    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        let filter = self.parse_filter(opts)?;
        let c = self.client().await?;
        let db = self.db_of(table).to_string();
        let limit = opts.limit.map_or(0, |l| l.min(i64::MAX as u64) as i64);
        let open = |filter: Document| {
            let c = c.clone();
            let db = db.clone();
            async move {
                read::find(
                    &c,
                    &db,
                    &table.name,
                    filter,
                    limit,
                    STREAM_BATCH,
                    Duration::ZERO,
                )
                .await
            }
        };
        let mut total = 0u64;
        if sink.wants_documents() {
            sink.columns(&[ColumnMeta {
                name: DOCUMENT_COLUMN.into(),
                type_name: "document".into(),
                logical: Logical::Json,
            }])?;
            let mut cursor = open(filter).await.map_err(|e| self.err(e))?;
            while let Some(d) = cursor.try_next().await.map_err(|e| self.err(e))? {
                sink.row(vec![Cell::Json(Bson::Document(d).into_canonical_extjson())])?;
                total += 1;
            }
            return Ok(total);
        }
        // One column per top-level field: a first pass learns the union of
        // the fields (and their types), the second sends the rows.
        let mut grid = Grid::default();
        let mut cursor = open(filter.clone()).await.map_err(|e| self.err(e))?;
        while let Some(d) = cursor.try_next().await.map_err(|e| self.err(e))? {
            grid.observe(&d);
        }
        drop(cursor);
        if grid.order.is_empty() {
            grid.order.push("_id".into());
            grid.types.insert("_id".into(), Vec::new());
        }
        sink.columns(&grid.columns())?;
        let mut cursor = open(filter).await.map_err(|e| self.err(e))?;
        while let Some(d) = cursor.try_next().await.map_err(|e| self.err(e))? {
            sink.row(grid.row(&d))?;
            total += 1;
        }
        Ok(total)
    }

    async fn indexes(&self, table: &TableRef) -> Result<Vec<String>, ConnError> {
        if table.kind == TableKind::View {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        self.index_lines(&c, table).await
    }

    /// A typed find or aggregate (see [`query`]); refused in words before
    /// anything is sent when it would write. Dropping the cursor closes it
    /// on the server; `maxTimeMS` is the statement timeout.
    async fn query(&self, text: &str) -> Result<Box<dyn super::QueryCursor>, ConnError> {
        let q = query::parse(text)?;
        let db = match q.db.as_deref() {
            Some(d) => d.to_string(),
            None if !self.own_database().is_empty() => self.own_database().to_string(),
            None => {
                return Err(ConnError::new(
                    ErrorKind::Other,
                    "this connection names no database: write db.getSiblingDB(\"name\").…",
                ))
            }
        };
        let c = self.client().await?;
        let batch = query::FIRST_PAGE as u32;
        let t = self.opts.statement_timeout;
        let cursor = match &q.op {
            query::Op::Find(f) => read::find_query(&c, &db, &q.coll, f, batch, t).await,
            query::Op::Aggregate { pipeline, options } => {
                read::aggregate(&c, &db, &q.coll, pipeline, options, batch, t).await
            }
        }
        .map_err(|e| self.err(e))?;
        Ok(Box::new(
            query::DocCursor::start(cursor, self.password.clone()).await?,
        ))
    }

    async fn reset(&self) {
        *self.client.lock().await = None;
    }

    fn capabilities(&self) -> Capabilities {
        ENGINE.capabilities
    }
}

fn number(b: &Bson) -> Option<i64> {
    match b {
        Bson::Int32(i) => Some(*i as i64),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) if f.is_finite() => Some(*f as i64),
        _ => None,
    }
}

// --- values ------------------------------------------------------------------

/// MongoDB's own name of a value's BSON type (`$type` names).
pub fn type_name(b: &Bson) -> &'static str {
    match b {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(bin) if bin.subtype == BinarySubtype::Uuid => "uuid",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// What a column of one BSON type is in a dataset.
fn logical_of(type_name: &str) -> Logical {
    match type_name {
        "int" | "long" => Logical::Integer,
        "double" => Logical::Real,
        "bool" => Logical::Bool,
        "decimal" => Logical::Numeric,
        "date" => Logical::Timestamp,
        "string" | "objectId" | "uuid" | "symbol" => Logical::Text,
        "binData" => Logical::Bytes,
        _ => Logical::Json,
    }
}

/// A BSON value as a cell, faithfully: integers and finite doubles as
/// numbers, ObjectId as hex, dates as ISO 8601 (UTC, milliseconds; any
/// year), Decimal128 as its exact text, UUID binaries as UUIDs, other
/// binaries as bytes, and documents, arrays and the types JSON lacks
/// (Timestamp, Regex, MinKey/MaxKey, Code, NaN/±Infinity…) as relaxed
/// Extended JSON.
pub fn cell(b: &Bson) -> Cell {
    match b {
        Bson::Null | Bson::Undefined => Cell::Null,
        Bson::Int32(i) => Cell::Int(*i as i64),
        Bson::Int64(i) => Cell::Int(*i),
        Bson::Double(f) if f.is_finite() => Cell::Float(*f),
        Bson::Boolean(v) => Cell::Bool(*v),
        Bson::String(s) | Bson::Symbol(s) => Cell::Text(s.clone()),
        Bson::ObjectId(o) => Cell::Text(o.to_hex()),
        Bson::Decimal128(d) => Cell::Text(d.to_string()),
        Bson::DateTime(dt) => Cell::Text(iso_date(*dt)),
        Bson::Binary(bin) if bin.subtype == BinarySubtype::Uuid && bin.bytes.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&bin.bytes);
            Cell::Text(bson::Uuid::from_bytes(a).to_string())
        }
        Bson::Binary(bin) if bin.subtype == BinarySubtype::Generic => {
            Cell::Bytes(bin.bytes.clone())
        }
        other => Cell::Json(other.clone().into_relaxed_extjson()),
    }
}

/// `1969-07-20T20:17:40.000Z`; years outside 0–9999 as milliseconds text.
fn iso_date(dt: bson::DateTime) -> String {
    let ms = dt.timestamp_millis();
    match time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000) {
        Ok(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        _ => format!("{ms} ms since 1970"),
    }
}

/// Top-level fields of some documents, `_id` first then in order of first
/// appearance, with the BSON types seen in each.
#[derive(Default)]
struct Grid {
    order: Vec<String>,
    types: HashMap<String, Vec<&'static str>>,
}

impl Grid {
    fn observe(&mut self, d: &Document) {
        if d.contains_key("_id") && !self.types.contains_key("_id") {
            self.order.insert(0, "_id".into());
            self.types.insert("_id".into(), Vec::new());
        }
        for (k, v) in d {
            let seen = self.types.entry(k.clone()).or_insert_with(|| {
                self.order.push(k.clone());
                Vec::new()
            });
            let t = type_name(v);
            if t != "null" && !seen.contains(&t) {
                seen.push(t);
            }
        }
    }

    fn columns(&self) -> Vec<ColumnMeta> {
        self.order
            .iter()
            .map(|k| {
                let ts = &self.types[k];
                let logical = match ts.as_slice() {
                    [] => Logical::Any,
                    [one] => logical_of(one),
                    // int and long together are still integers.
                    many if many.iter().all(|t| matches!(*t, "int" | "long")) => Logical::Integer,
                    _ => Logical::Any,
                };
                ColumnMeta {
                    name: k.clone(),
                    type_name: if ts.is_empty() {
                        "null".into()
                    } else {
                        ts.join("|")
                    },
                    logical,
                }
            })
            .collect()
    }

    fn row(&self, d: &Document) -> Vec<Cell> {
        self.order
            .iter()
            .map(|k| d.get(k).map_or(Cell::Null, cell))
            .collect()
    }
}

// --- sampled structure -------------------------------------------------------

/// Field paths of sampled documents: `a.b` for sub-documents, `a[]` for
/// array elements (`a[].b` inside them); per path, how many documents hold
/// it and how many hold it with each BSON type.
#[derive(Default)]
struct Shape {
    docs: u64,
    order: Vec<String>,
    paths: HashMap<String, PathStats>,
}

#[derive(Default)]
struct PathStats {
    present: u64,
    types: Vec<(&'static str, u64)>,
}

impl Shape {
    fn add(&mut self, d: &Document) {
        self.docs += 1;
        let mut seen: Vec<(String, Vec<&'static str>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        walk_doc(d, "", &mut seen, &mut index);
        for (path, types) in seen {
            let stats = self.paths.entry(path.clone()).or_insert_with(|| {
                self.order.push(path.clone());
                PathStats::default()
            });
            stats.present += 1;
            for t in types {
                match stats.types.iter_mut().find(|(n, _)| *n == t) {
                    Some((_, c)) => *c += 1,
                    None => stats.types.push((t, 1)),
                }
            }
        }
    }

    fn columns(&self) -> Vec<ColumnInfo> {
        let mut order: Vec<&String> = self.order.iter().collect();
        // `_id` first, the rest in order of first appearance.
        order.sort_by_key(|p| *p != "_id");
        order
            .into_iter()
            .map(|p| {
                let s = &self.paths[p];
                let mut types = s.types.clone();
                types.sort_by_key(|t| std::cmp::Reverse(t.1));
                let data_type = types
                    .iter()
                    .map(|(t, n)| format!("{t} {}", percent(*n, s.present)))
                    .collect::<Vec<_>>()
                    .join(", ");
                ColumnInfo {
                    name: p.clone(),
                    data_type,
                    nullable: s.present < self.docs || types.iter().any(|(t, _)| *t == "null"),
                    default: None,
                    primary_key: p == "_id",
                    references: None,
                    presence: Some(if self.docs == 0 {
                        0.0
                    } else {
                        s.present as f32 / self.docs as f32
                    }),
                }
            })
            .collect()
    }
}

/// `n` of `of` as a percentage: whole numbers, one decimal below 10 %.
pub fn percent(n: u64, of: u64) -> String {
    if of == 0 {
        return "0%".into();
    }
    let p = n as f64 * 100.0 / of as f64;
    if p > 0.0 && p < 10.0 && p.fract() != 0.0 {
        format!("{p:.1}%")
    } else {
        format!("{}%", p.round() as u64)
    }
}

fn note(
    path: String,
    t: &'static str,
    seen: &mut Vec<(String, Vec<&'static str>)>,
    index: &mut HashMap<String, usize>,
) {
    match index.get(&path) {
        Some(&i) => {
            if !seen[i].1.contains(&t) {
                seen[i].1.push(t);
            }
        }
        None => {
            index.insert(path.clone(), seen.len());
            seen.push((path, vec![t]));
        }
    }
}

fn walk_doc(
    d: &Document,
    prefix: &str,
    seen: &mut Vec<(String, Vec<&'static str>)>,
    index: &mut HashMap<String, usize>,
) {
    for (k, v) in d {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        walk_value(v, path, seen, index);
    }
}

fn walk_value(
    v: &Bson,
    path: String,
    seen: &mut Vec<(String, Vec<&'static str>)>,
    index: &mut HashMap<String, usize>,
) {
    note(path.clone(), type_name(v), seen, index);
    match v {
        Bson::Document(sub) => walk_doc(sub, &path, seen, index),
        Bson::Array(items) => {
            let elem = format!("{path}[]");
            for item in items {
                walk_value(item, elem.clone(), seen, index);
            }
        }
        _ => {}
    }
}

// --- errors --------------------------------------------------------------------

/// Maps a driver error to the taxonomy (detail not yet scrubbed): server
/// codes first, then the kinds, then — inside a server-selection error —
/// what the last attempt on each host said.
fn map_error(e: &mongodb::error::Error) -> ConnError {
    use mongodb::error::ErrorKind as K;
    let text = e.to_string();
    let kind = match &*e.kind {
        K::Authentication { .. } => ErrorKind::InvalidCredentials,
        K::Command(c) => match c.code {
            18 => ErrorKind::InvalidCredentials,
            13 | 8000 => ErrorKind::PermissionDenied,
            50 | 262 => ErrorKind::StatementTimeout,
            26 => ErrorKind::NotFound,
            11601 => ErrorKind::Cancelled,
            91 | 11600 | 11602 => ErrorKind::ConnectionLost,
            _ => ErrorKind::Other,
        },
        K::DnsResolve { .. } => ErrorKind::UnknownHost,
        K::InvalidArgument { .. } | K::InvalidTlsConfig { .. } => ErrorKind::Config,
        K::Io(io) => match classify_io(io) {
            ErrorKind::Other => classify_text(&text).unwrap_or(ErrorKind::ConnectionLost),
            k => k,
        },
        K::ConnectionPoolCleared { .. } => {
            classify_text(&text).unwrap_or(ErrorKind::ConnectionLost)
        }
        K::ServerSelection { .. } => classify_text(&text).unwrap_or(ErrorKind::ConnectionTimeout),
        _ => classify_text(&text).unwrap_or(ErrorKind::Other),
    };
    // An authentication failure carrying a transport cause is a transport error.
    let kind = if kind == ErrorKind::InvalidCredentials {
        match classify_text(&text) {
            Some(k @ (ErrorKind::ConnectionRefused | ErrorKind::CertificateNotTrusted)) => k,
            _ => kind,
        }
    } else {
        kind
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(k) = super::tls::classify_tls(s) {
            if k == ErrorKind::CertificateNotTrusted {
                return ConnError::new(k, text);
            }
        }
        source = s.source();
    }
    ConnError::new(kind, text)
}

/// What a driver message says happened on the wire, if anything.
fn classify_text(text: &str) -> Option<ErrorKind> {
    let t = text.to_ascii_lowercase();
    if t.contains("invalid peer certificate")
        || t.contains("unknownissuer")
        || t.contains("certificate")
        || t.contains("notvalidforname")
    {
        Some(ErrorKind::CertificateNotTrusted)
    } else if t.contains("connection refused") {
        Some(ErrorKind::ConnectionRefused)
    } else if t.contains("failed to lookup address")
        || t.contains("name or service not known")
        || t.contains("no record found")
        || t.contains("nxdomain")
        || t.contains("temporary failure in name resolution")
        || t.contains("dns")
    {
        Some(ErrorKind::UnknownHost)
    } else if t.contains("timed out") || t.contains("timeout") {
        Some(ErrorKind::ConnectionTimeout)
    } else if t.contains("connection reset") || t.contains("broken pipe") || t.contains("eof") {
        Some(ErrorKind::ConnectionLost)
    } else if t.contains("tls") || t.contains("handshake") {
        Some(ErrorKind::CertificateNotTrusted)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;
    use secrecy::ExposeSecret;

    fn parse(s: &str) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
        ConnSpec::from_url(s)
    }

    #[tokio::test]
    async fn through_a_tunnel_the_driver_names_the_real_host_to_the_gate() {
        use crate::connectors::spec::{SOCKS5_PROXY, TLS_SERVER_NAME};
        let mut spec = ConnSpec::new(Kind::Mongodb);
        spec.host = "db.internal".into();
        spec.port = Some(27018);
        spec.tls = TlsMode::VerifyFull;
        spec.options
            .insert(TLS_SERVER_NAME.into(), "db.internal".into());
        spec.options
            .insert(SOCKS5_PROXY.into(), "127.0.0.1:40111".into());
        let uri = driver_uri(&spec);
        assert!(
            !uri.contains("tls_server_name") && !uri.contains("socks5"),
            "run-time options are no driver options: {uri}"
        );
        let c = MongoConnector::new(spec.clone(), None, SessionOptions::default());
        let o = c.client_options().await.unwrap();
        assert_eq!(o.hosts[0].to_string(), "db.internal:27018");
        let p = o.socks5_proxy.clone().expect("the gate as proxy");
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", Some(40111)));
        assert!(p.authentication.is_none());
        assert_eq!(o.direct_connection, Some(true));
        // No gate, no proxy.
        spec.options.remove(SOCKS5_PROXY);
        let c = MongoConnector::new(spec, None, SessionOptions::default());
        assert!(c.client_options().await.unwrap().socks5_proxy.is_none());
    }

    #[test]
    fn srv_uri_is_one_host_with_tls() {
        let (spec, pw) =
            parse("mongodb+srv://ann:s3cr%40t@cluster0.example.net/shop?retryWrites=true").unwrap();
        assert_eq!(spec.kind, Kind::Mongodb);
        assert_eq!(spec.host, "cluster0.example.net");
        assert_eq!(spec.user, "ann");
        assert_eq!(spec.database, "shop");
        assert_eq!(spec.tls, TlsMode::VerifyFull);
        assert_eq!(spec.options.get("srv").map(String::as_str), Some("true"));
        assert_eq!(
            spec.options.get("retryWrites").map(String::as_str),
            Some("true")
        );
        assert_eq!(pw.unwrap().expose_secret(), "s3cr@t");
        let uri = driver_uri(&spec);
        assert!(
            uri.starts_with("mongodb+srv://ann@cluster0.example.net/shop?"),
            "{uri}"
        );
        assert!(!uri.contains("s3cr"), "{uri}");
        assert!(!uri.contains("srv=true"), "{uri}");
    }

    #[test]
    fn several_hosts_and_options_are_kept() {
        let (spec, pw) = parse(
            "mongodb://u%3Aser:p%2Fw%3A@a.example:27018,b.example,[::1]:27020/app?\
             replicaSet=rs0&directConnection=false&authMechanism=SCRAM-SHA-256&\
             readPreference=secondaryPreferred&authSource=admin&tls=true&\
             tlsCAFile=%2Ftmp%2Fca.pem&connectTimeoutMS=2500&fancyNewOption=7",
        )
        .unwrap();
        assert_eq!(spec.host, "a.example:27018,b.example:27017,[::1]:27020");
        assert_eq!(spec.port, Some(27018));
        assert_eq!(spec.user, "u:ser");
        assert_eq!(pw.unwrap().expose_secret(), "p/w:");
        assert_eq!(spec.database, "app");
        assert_eq!(spec.tls, TlsMode::VerifyFull);
        assert_eq!(
            spec.ca_file.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
        assert_eq!(spec.connect_timeout_secs, 3);
        for (k, v) in [
            ("replicaSet", "rs0"),
            ("directConnection", "false"),
            ("authMechanism", "SCRAM-SHA-256"),
            ("readPreference", "secondaryPreferred"),
            ("authSource", "admin"),
            ("fancyNewOption", "7"),
        ] {
            assert_eq!(spec.options.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(spec.validate().is_ok());
        let uri = driver_uri(&spec);
        assert!(
            uri.starts_with("mongodb://u%3Aser@a.example:27018,b.example:27017,[::1]:27020/app?"),
            "{uri}"
        );
        assert!(uri.contains("replicaSet=rs0"), "{uri}");
    }

    #[test]
    fn varlors_own_url_of_a_spec_parses_back_to_it() {
        for uri in [
            "mongodb://ann:pw@a.example:27018,b.example:27019/app?replicaSet=rs0&tls=true&tlsInsecure=true",
            "mongodb+srv://ann@cluster0.example.net/shop?authSource=admin",
            "mongodb://h.example:27017/?directConnection=true&tls=false",
        ] {
            let (spec, _) = parse(uri).unwrap();
            let url = spec.to_url();
            assert!(!url.contains("pw"), "{url}");
            let (again, pw) = parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(again, spec, "{uri} → {url}");
            assert!(pw.is_none());
        }
    }

    #[test]
    fn tls_options() {
        let p = |s: &str| parse(s).unwrap().0.tls;
        assert_eq!(p("mongodb://h"), TlsMode::Prefer);
        assert_eq!(p("mongodb://h/?tls=false"), TlsMode::Disable);
        assert_eq!(p("mongodb://h/?ssl=true"), TlsMode::VerifyFull);
        assert_eq!(
            p("mongodb://h/?tls=true&tlsInsecure=true"),
            TlsMode::Require
        );
        assert_eq!(
            p("mongodb://h/?tls=true&tlsAllowInvalidCertificates=true"),
            TlsMode::Require
        );
    }

    #[test]
    fn malformed_uris_say_what_is_wrong() {
        let e = |s: &str| parse(s).unwrap_err();
        assert_eq!(e("mongodb://").field, "host");
        assert_eq!(e("mongodb://h:99999/db").field, "port");
        assert_eq!(e("mongodb://h:abc/db").field, "port");
        assert_eq!(e("mongodb+srv://a.example:27017/db").field, "port");
        assert_eq!(e("mongodb+srv://a.example,b.example/db").field, "host");
        assert_eq!(e("mongodb://a,,b/db").field, "host");
        assert_eq!(e("mongodb://u:p%zz@h/db").field, "password");
        assert_eq!(e("mongodb://h/db?tls=maybe").field, "tls");
        assert_eq!(e("mongodb://h/db?tls").field, "url");
        assert_eq!(e("mongodb://h/db?password=x").field, "url");
        assert_eq!(e("mongodb://h/my db").field, "database");
        assert_eq!(e("mongodb://:pw@h/db").field, "user");
        let msg = e("mongodb+srv://a.example,b.example/db").to_string();
        assert!(msg.contains("exactly one host"), "{msg}");
    }

    #[test]
    fn bson_cells_are_faithful() {
        use bson::{oid::ObjectId, Binary, Decimal128, Timestamp};
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(
            cell(&Bson::ObjectId(oid)),
            Cell::Text("65a1b2c3d4e5f60718293a4b".into())
        );
        let before_1970 = bson::DateTime::from_millis(-14182940000);
        assert_eq!(
            cell(&Bson::DateTime(before_1970)),
            Cell::Text("1969-07-20T20:17:40.000Z".into())
        );
        let uuid = Binary {
            subtype: BinarySubtype::Uuid,
            bytes: (0u8..16).collect(),
        };
        assert_eq!(
            cell(&Bson::Binary(uuid)),
            Cell::Text("00010203-0405-0607-0809-0a0b0c0d0e0f".into())
        );
        let d: Decimal128 = "1234567890.123456789012345".parse().unwrap();
        assert_eq!(
            cell(&Bson::Decimal128(d)),
            Cell::Text("1234567890.123456789012345".into())
        );
        assert_eq!(cell(&Bson::Int64(i64::MAX)), Cell::Int(i64::MAX));
        assert_eq!(
            cell(&Bson::Double(f64::NAN)),
            Cell::Json(serde_json::json!({"$numberDouble": "NaN"}))
        );
        assert_eq!(
            cell(&Bson::Double(f64::NEG_INFINITY)),
            Cell::Json(serde_json::json!({"$numberDouble": "-Infinity"}))
        );
        assert_eq!(
            cell(&Bson::Timestamp(Timestamp {
                time: 5,
                increment: 1
            })),
            Cell::Json(serde_json::json!({"$timestamp": {"t": 5, "i": 1}}))
        );
        assert_eq!(
            cell(&Bson::MinKey),
            Cell::Json(serde_json::json!({"$minKey": 1}))
        );
        assert_eq!(
            cell(&Bson::MaxKey),
            Cell::Json(serde_json::json!({"$maxKey": 1}))
        );
    }

    #[test]
    fn shapes_count_presence_and_types() {
        let mut s = Shape::default();
        s.add(&doc! { "_id": 1, "a": "x", "n": { "m": { "k": 1 } }, "l": [ { "s": 1 }, { "s": "t" } ] });
        s.add(&doc! { "_id": 2, "a": 5 });
        s.add(&doc! { "_id": 3, "a": { "b": 1 } });
        s.add(&doc! { "_id": 4 });
        let cols = s.columns();
        let get = |n: &str| cols.iter().find(|c| c.name == n).unwrap();
        assert_eq!(cols[0].name, "_id");
        assert_eq!(get("a").presence, Some(0.75));
        assert_eq!(get("a").data_type, "string 33%, int 33%, object 33%");
        assert_eq!(get("a.b").presence, Some(0.25));
        assert_eq!(get("n.m.k").data_type, "int 100%");
        assert_eq!(get("l").data_type, "array 100%");
        assert_eq!(get("l[]").data_type, "object 100%");
        assert_eq!(get("l[].s").data_type, "int 100%, string 100%");
        assert!(get("a").nullable);
        assert!(!get("_id").nullable);
    }
}
