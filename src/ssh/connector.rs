//! The connector of a connection with "SSH via": it opens its tunnel on
//! first use (one per open connection, shared by every call), builds the
//! engine's own connector against the tunnel's end as the engine's
//! `TunnelEnd` says (the Unix socket itself, or a gate of this process in
//! front of it: see `through`), and turns a failure that ssh explains (channel refused behind the bastion, forwarding
//! prohibited, tunnel gone) into those words. Dropping it drops the tunnel:
//! ssh is killed and reaped.
//!
//! Also the staged test both front-ends show: "SSH bastion ✓ 40 ms →
//! tunnel to db:5432 ✓ → PostgreSQL 16.2 ✓ 12 ms", and for connections
//! without SSH "resolve ✓ → TCP ✓ → PostgreSQL ✓", so a failure names its stage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use secrecy::SecretString;
use serde::Serialize;

use super::gate::{self, Gate};
use super::{Tunnel, Via};
use crate::connectors::engine::{OpenFn, TunnelEnd};
use crate::connectors::{
    connector_for, error::classify_io, Capabilities, ConnError, ConnSpec, Connector, ErrorKind,
    QueryCursor, RowSet, RowSink, ServerInfo, SessionOptions, StreamOptions, TableInfo, TableRef,
};

struct Live {
    inner: Arc<dyn Connector>,
    tunnel: Arc<Tunnel>,
    /// The loopback gate of engines that cannot dial the socket.
    gate: Option<Gate>,
}

/// An engine's connector behind an SSH tunnel.
pub struct Tunnelled {
    spec: ConnSpec,
    via: Via,
    password: Option<SecretString>,
    opts: SessionOptions,
    open: OpenFn,
    live: tokio::sync::Mutex<Option<Live>>,
}

impl Tunnelled {
    pub fn new(
        spec: &ConnSpec,
        via: Via,
        password: Option<SecretString>,
        opts: SessionOptions,
        open: OpenFn,
    ) -> Tunnelled {
        Tunnelled {
            spec: spec.clone(),
            via,
            password,
            opts,
            open,
            live: tokio::sync::Mutex::new(None),
        }
    }

    /// The running tunnel's ssh pid, if one is open (tests watch it).
    pub async fn tunnel_pid(&self) -> Option<i32> {
        self.live.lock().await.as_ref().map(|l| l.tunnel.pid())
    }

    /// The running tunnel's Unix socket, if one is open (tests watch it).
    pub async fn tunnel_socket(&self) -> Option<std::path::PathBuf> {
        let live = self.live.lock().await;
        live.as_ref().map(|l| l.tunnel.socket().to_path_buf())
    }

    /// The loopback port of the gate in front of the socket, for engines
    /// that have one (tests knock on it as another user).
    pub async fn gate_port(&self) -> Option<u16> {
        let live = self.live.lock().await;
        live.as_ref().and_then(|l| l.gate.as_ref().map(Gate::port))
    }

    /// The live inner connector, opening (or reopening) the tunnel.
    async fn connector(&self) -> Result<(Arc<dyn Connector>, Arc<Tunnel>), ConnError> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref() {
            if l.tunnel.alive() {
                return Ok((l.inner.clone(), l.tunnel.clone()));
            }
        }
        *live = None;
        let tunnel = Arc::new(open_tunnel(&self.via, &self.spec).await?);
        let (end, gate) = match self.spec.kind.engine().tunnel {
            TunnelEnd::Socket => (End::Socket(tunnel.socket().to_path_buf()), None),
            TunnelEnd::Loopback => {
                let g = start_gate(&tunnel, gate::Mode::Relay).await?;
                (End::Port(g.port()), Some(g))
            }
            TunnelEnd::Socks5 => {
                let mode = gate::Mode::Socks5 {
                    host: self.spec.host.clone(),
                    port: self.spec.effective_port(),
                };
                let g = start_gate(&tunnel, mode).await?;
                (End::Socks5(g.port()), Some(g))
            }
        };
        let local = through(&self.spec, &end);
        // Both lanes (structure, rows) dial this one tunnel.
        let inner: Arc<dyn Connector> = Arc::from(crate::connectors::lanes::browsing(
            self.open,
            &local,
            self.password.clone(),
            self.opts.clone(),
        ));
        *live = Some(Live {
            inner: inner.clone(),
            tunnel: tunnel.clone(),
            gate,
        });
        Ok((inner, tunnel))
    }

    /// Runs one call on the inner connector; a failure ssh explains gets its words.
    async fn call<'a, T>(
        &'a self,
        f: impl FnOnce(Arc<dyn Connector>) -> BoxFuture<'a, Result<T, ConnError>>,
    ) -> Result<T, ConnError> {
        let (inner, tunnel) = self.connector().await?;
        let mark = tunnel.log_len();
        match f(inner).await {
            Ok(v) => Ok(v),
            Err(e) => Err(explain(&tunnel, mark, e).await),
        }
    }
}

/// Opens the tunnel on a blocking thread (ssh may wait for a prompt).
async fn open_tunnel(via: &Via, spec: &ConnSpec) -> Result<Tunnel, ConnError> {
    let (via, host, port, timeout) = (
        via.clone(),
        spec.host.clone(),
        spec.effective_port(),
        spec.connect_timeout(),
    );
    tokio::task::spawn_blocking(move || Tunnel::open(&via, &host, port, timeout))
        .await
        .map_err(|e| ConnError::new(ErrorKind::SshFailed, format!("tunnel task failed: {e}")))?
}

/// Starts the loopback gate in front of the tunnel's socket.
async fn start_gate(tunnel: &Tunnel, mode: gate::Mode) -> Result<Gate, ConnError> {
    Gate::start(tunnel.socket().to_path_buf(), mode)
        .await
        .map_err(|e| ConnError::new(ErrorKind::SshFailed, format!("no local gate: {e}")))
}

/// What the engine's driver dials to reach the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The tunnel's Unix socket itself.
    Socket(std::path::PathBuf),
    /// The gate's loopback port, relaying.
    Port(u16),
    /// The gate's loopback port, speaking SOCKS5.
    Socks5(u16),
}

/// The spec the engine's connector dials: the tunnel's end, with TLS still
/// checked for the database's own name.
fn through(spec: &ConnSpec, end: &End) -> ConnSpec {
    use crate::connectors::spec::{SOCKS5_PROXY, TLS_SERVER_NAME, TUNNEL_SOCKET};
    let mut s = spec.clone();
    s.options.remove(super::OPTION);
    // The certificate still names the database host, not the tunnel's end.
    s.options.insert(TLS_SERVER_NAME.into(), spec.host.clone());
    match end {
        End::Socket(path) => {
            s.options
                .insert(TUNNEL_SOCKET.into(), path.to_string_lossy().into_owned());
        }
        End::Port(port) => {
            s.host = "127.0.0.1".into();
            s.port = Some(*port);
        }
        // The driver names the real host and port to the proxy.
        End::Socks5(port) => {
            s.options
                .insert(SOCKS5_PROXY.into(), format!("127.0.0.1:{port}"));
        }
    }
    s
}

/// A driver error that ssh can explain better: what ssh wrote since `mark`
/// (a channel refused behind the bastion, forwarding prohibited), or the
/// tunnel's own death.
async fn explain(tunnel: &Tunnel, mark: usize, e: ConnError) -> ConnError {
    if e.kind == ErrorKind::Cancelled {
        return e;
    }
    // ssh logs a refused channel just after closing the local socket.
    for _ in 0..10 {
        let said = tunnel.log_since(mark);
        match super::classify(&said) {
            Some(k @ (ErrorKind::RefusedBehindBastion | ErrorKind::SshForwardingRefused)) => {
                return ConnError::new(k, super::detail(&said));
            }
            _ if !tunnel.alive() => {
                let all = tunnel.log_since(0);
                let mut err = super::error_from(&all);
                if err.kind == ErrorKind::SshFailed {
                    err.kind = ErrorKind::SshUnreachable;
                }
                return err;
            }
            _ => {}
        }
        if !matches!(
            e.kind,
            ErrorKind::ConnectionLost | ErrorKind::ConnectionRefused | ErrorKind::Other
        ) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    e
}

#[async_trait]
impl Connector for Tunnelled {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        self.call(|c| Box::pin(async move { c.test().await })).await
    }
    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        self.call(|c| Box::pin(async move { c.list_tables().await }))
            .await
    }
    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        self.call(|c| Box::pin(async move { c.describe(table).await }))
            .await
    }
    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        self.call(|c| Box::pin(async move { c.count_rows(table).await }))
            .await
    }
    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        self.call(|c| Box::pin(async move { c.preview(table, limit).await }))
            .await
    }
    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        self.call(|c| Box::pin(async move { c.stream_rows(table, opts, sink).await }))
            .await
    }
    async fn indexes(&self, table: &TableRef) -> Result<Vec<String>, ConnError> {
        self.call(|c| Box::pin(async move { c.indexes(table).await }))
            .await
    }
    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        self.call(|c| Box::pin(async move { c.query(sql).await }))
            .await
    }
    async fn reset(&self) {
        let inner = self.live.lock().await.as_ref().map(|l| l.inner.clone());
        if let Some(inner) = inner {
            inner.reset().await;
        }
    }
    fn capabilities(&self) -> Capabilities {
        self.spec.kind.engine().capabilities
    }
}

/// One hop of a test, as a person reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// "SSH bastion", "tunnel to db.internal:5432", "resolve db.example",
    /// "TCP 10.0.0.5:5432", "PostgreSQL 16.2".
    pub name: String,
    pub ok: bool,
    pub ms: Option<u64>,
    /// "publickey", "TLS", "no TLS", the address resolved…
    pub note: Option<String>,
}

impl Stage {
    fn new(
        name: impl Into<String>,
        ok: bool,
        took: Option<Duration>,
        note: Option<String>,
    ) -> Stage {
        Stage {
            name: name.into(),
            ok,
            ms: took.map(|d| d.as_millis() as u64),
            note,
        }
    }

    /// "SSH bastion ✓ 40 ms (publickey)".
    pub fn line(&self) -> String {
        let mut s = format!("{} {}", self.name, if self.ok { "✓" } else { "✗" });
        if let Some(ms) = self.ms {
            s.push_str(&format!(" {ms} ms"));
        }
        if let Some(n) = &self.note {
            s.push_str(&format!(" ({n})"));
        }
        s
    }
}

/// A test's stages and its outcome; the last stage is the one that failed.
#[derive(Debug)]
pub struct StagedTest {
    pub stages: Vec<Stage>,
    pub result: Result<ServerInfo, ConnError>,
}

impl StagedTest {
    /// "SSH bastion ✓ 40 ms → tunnel to db:5432 ✓ → PostgreSQL 16.2 ✓ 12 ms".
    pub fn line(&self) -> String {
        stages_line(&self.stages)
    }
}

/// Stages joined with arrows.
pub fn stages_line(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(Stage::line)
        .collect::<Vec<_>>()
        .join(" → ")
}

fn engine_stage(spec: &ConnSpec, result: &Result<ServerInfo, ConnError>) -> Stage {
    match result {
        Ok(info) => Stage::new(
            info.version.clone(),
            true,
            Some(info.latency),
            Some(if info.tls { "TLS" } else { "no TLS" }.into()),
        ),
        Err(_) => Stage::new(
            format!("{} login", spec.kind.display_name()),
            false,
            None,
            None,
        ),
    }
}

/// Tests `spec` hop by hop. Through SSH: the bastion, the tunnel, the
/// database. Without: resolve, TCP, then the engine's own login and round
/// trip (where the host is one name; a file or a host list is one stage).
pub async fn staged_test(
    spec: &ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
) -> StagedTest {
    let via = match super::via_of(spec) {
        Ok(v) => v,
        Err(e) => {
            return StagedTest {
                stages: Vec::new(),
                result: Err(ConnError::new(ErrorKind::Config, e.to_string())),
            }
        }
    };
    match via {
        Some(via) => through_ssh(spec, via, password, opts).await,
        None => direct(spec, password, opts).await,
    }
}

async fn through_ssh(
    spec: &ConnSpec,
    via: Via,
    password: Option<SecretString>,
    opts: SessionOptions,
) -> StagedTest {
    let mut stages = Vec::new();
    let ssh_name = format!("SSH {}", via.destination);
    let open = match spec.kind.engine().open {
        Ok(open) => open,
        Err(why) => {
            return StagedTest {
                stages,
                result: Err(ConnError::new(ErrorKind::NotAvailable, why)),
            }
        }
    };
    let t = Tunnelled::new(spec, via, password, opts, open);
    let started = Instant::now();
    let (inner, tunnel) = match t.connector().await {
        Ok(v) => v,
        Err(e) => {
            stages.push(Stage::new(ssh_name, false, Some(started.elapsed()), None));
            return StagedTest {
                stages,
                result: Err(e),
            };
        }
    };
    stages.push(Stage::new(
        ssh_name,
        true,
        Some(tunnel.setup),
        tunnel.auth.clone(),
    ));
    let hop = format!("tunnel to {}:{}", spec.host, spec.effective_port());
    let mark = tunnel.log_len();
    let result = match inner.test().await {
        Ok(info) => Ok(info),
        Err(e) => Err(explain(&tunnel, mark, e).await),
    };
    let tunnel_failed = matches!(
        &result,
        Err(e) if matches!(e.kind, ErrorKind::RefusedBehindBastion | ErrorKind::SshForwardingRefused | ErrorKind::SshUnreachable)
    );
    stages.push(Stage::new(hop, !tunnel_failed, None, None));
    if !tunnel_failed {
        stages.push(engine_stage(spec, &result));
    }
    drop((inner, tunnel));
    drop(t);
    StagedTest { stages, result }
}

async fn direct(
    spec: &ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
) -> StagedTest {
    let mut stages = Vec::new();
    // An engine this build cannot open says so before any network hop.
    let connector = match connector_for(spec, password, opts) {
        Ok(c) => c,
        Err(e) => {
            return StagedTest {
                stages,
                result: Err(e),
            }
        }
    };
    let one_host = !spec.kind.engine().file_based
        && !spec.host.contains(',')
        && !spec.options.contains_key("srv");
    if one_host {
        let timeout = spec.connect_timeout();
        let port = spec.effective_port();
        let started = Instant::now();
        let resolved =
            tokio::time::timeout(timeout, tokio::net::lookup_host((spec.host.as_str(), port)))
                .await;
        let addr = match resolved {
            Ok(Ok(mut addrs)) => addrs.next(),
            _ => None,
        };
        let Some(addr) = addr else {
            stages.push(Stage::new(
                format!("resolve {}", spec.host),
                false,
                Some(started.elapsed()),
                None,
            ));
            return StagedTest {
                stages,
                result: Err(ConnError::new(
                    ErrorKind::UnknownHost,
                    format!("{} does not resolve", spec.host),
                )),
            };
        };
        stages.push(Stage::new(
            format!("resolve {}", spec.host),
            true,
            Some(started.elapsed()),
            Some(addr.ip().to_string()).filter(|ip| *ip != spec.host),
        ));
        let started = Instant::now();
        let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await;
        let err = match tcp {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(ConnError::new(classify_io(&e), format!("{addr}: {e}"))),
            Err(_) => Some(ConnError::new(
                ErrorKind::ConnectionTimeout,
                format!("no answer from {addr} within {} s", timeout.as_secs()),
            )),
        };
        stages.push(Stage::new(
            format!("TCP {addr}"),
            err.is_none(),
            Some(started.elapsed()),
            None,
        ));
        if let Some(e) = err {
            // A refusal is quick to confirm: when the engine itself cannot
            // run here (a missing driver), that is the news, not the port.
            if e.kind == ErrorKind::ConnectionRefused {
                if let Err(own) = connector.test().await {
                    if matches!(
                        own.kind,
                        ErrorKind::DriverUnavailable | ErrorKind::NotAvailable | ErrorKind::Config
                    ) {
                        stages.push(engine_stage(spec, &Err(own.clone())));
                        return StagedTest {
                            stages,
                            result: Err(own),
                        };
                    }
                }
            }
            return StagedTest {
                stages,
                result: Err(e),
            };
        }
    }
    let result = connector.test().await;
    stages.push(engine_stage(spec, &result));
    StagedTest { stages, result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Kind;

    #[tokio::test]
    async fn a_refused_port_names_the_tcp_stage() {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = "127.0.0.1".into();
        spec.port = Some(port);
        spec.user = "u".into();
        let t = staged_test(&spec, None, SessionOptions::default()).await;
        assert_eq!(
            t.result.as_ref().unwrap_err().kind,
            ErrorKind::ConnectionRefused
        );
        assert_eq!(t.stages.len(), 2, "{}", t.line());
        assert!(t.stages[0].ok && !t.stages[1].ok, "{}", t.line());
        assert!(t.line().starts_with("resolve 127.0.0.1 ✓"), "{}", t.line());
        assert!(
            t.line().contains(&format!("TCP 127.0.0.1:{port} ✗")),
            "{}",
            t.line()
        );
    }

    #[tokio::test]
    async fn an_unresolvable_host_names_the_resolve_stage() {
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = "no-such-host.invalid".into();
        spec.user = "u".into();
        let t = staged_test(&spec, None, SessionOptions::default()).await;
        assert_eq!(t.result.as_ref().unwrap_err().kind, ErrorKind::UnknownHost);
        assert_eq!(t.line().matches('✗').count(), 1);
        assert!(
            t.line().starts_with("resolve no-such-host.invalid ✗"),
            "{}",
            t.line()
        );
    }

    #[test]
    fn the_engine_dials_the_tunnel_end_without_the_ssh_option() {
        use crate::connectors::spec::{SOCKS5_PROXY, TLS_SERVER_NAME, TUNNEL_SOCKET};
        let (spec, _) =
            ConnSpec::from_url("postgres://u@db.internal:6543/app?ssh=bastion").unwrap();
        let name = |s: &ConnSpec| s.options.get(TLS_SERVER_NAME).cloned();
        let s = through(&spec, &End::Port(40000));
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", Some(40000)));
        assert!(!s.options.contains_key("ssh"));
        assert_eq!(s.database, "app");
        assert_eq!(name(&s).as_deref(), Some("db.internal"));
        let s = through(&spec, &End::Socket("/run/x/db.sock".into()));
        assert_eq!((s.host.as_str(), s.port), ("db.internal", Some(6543)));
        assert_eq!(s.options[TUNNEL_SOCKET], "/run/x/db.sock");
        assert!(!s.options.contains_key("ssh"));
        let s = through(&spec, &End::Socks5(40001));
        assert_eq!((s.host.as_str(), s.port), ("db.internal", Some(6543)));
        assert_eq!(s.options[SOCKS5_PROXY], "127.0.0.1:40001");
    }

    /// Reads what a connector sends first on the tunnel's socket.
    async fn first_bytes(listener: &tokio::net::UnixListener) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let wait = Duration::from_secs(10);
        let (mut s, _) = tokio::time::timeout(wait, listener.accept())
            .await
            .expect("the connector dialled the socket")
            .unwrap();
        let mut buf = vec![0u8; 8192];
        let n = tokio::time::timeout(wait, s.read(&mut buf))
            .await
            .expect("it spoke")
            .unwrap();
        buf.truncate(n);
        buf
    }

    fn holds(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// A protocol fixture, not a server test (no SQL Server here): through
    /// the tunnel tiberius dials its Unix socket, and TLS names the
    /// database (SNI in the TDS 8 ClientHello), never the tunnel's end.
    #[tokio::test]
    async fn sql_server_fixture_dials_the_socket_and_names_the_database_for_tls() {
        use crate::connectors::TlsMode;
        for strict in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.sock");
            let listener = tokio::net::UnixListener::bind(&path).unwrap();
            let mut spec = ConnSpec::new(Kind::Sqlserver);
            spec.host = "db.internal".into();
            spec.port = Some(1433);
            spec.user = "u".into();
            spec.database = "app".into();
            spec.tls = TlsMode::VerifyFull;
            spec.connect_timeout_secs = 10;
            if strict {
                spec.options.insert("encrypt".into(), "strict".into());
            }
            spec.options.insert("ssh".into(), "bastion".into());
            let dialled = through(&spec, &End::Socket(path.clone()));
            let open = Kind::Sqlserver.engine().open.unwrap();
            let c = open(&dialled, None, SessionOptions::default());
            let client = tokio::spawn(async move { c.test().await });
            let hello = first_bytes(&listener).await;
            if strict {
                assert_eq!(hello[0], 0x16, "TDS 8 strict: TLS first");
                assert!(holds(&hello, b"db.internal"), "SNI names the database");
            } else {
                assert_eq!(hello[0], 0x12, "TDS 7: PRELOGIN first");
            }
            drop(listener);
            assert!(client.await.unwrap().is_err());
        }
    }

    /// A protocol fixture, not a server test (no Oracle here): the thin
    /// driver dials the gate's loopback port and its TNS CONNECT reaches
    /// the tunnel's socket behind it.
    #[tokio::test]
    async fn oracle_fixture_reaches_the_socket_through_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let g = Gate::start(path.clone(), gate::Mode::Relay).await.unwrap();
        let mut spec = ConnSpec::new(Kind::Oracle);
        spec.host = "db.internal".into();
        spec.port = Some(1521);
        spec.user = "u".into();
        spec.database = "SVC".into();
        spec.connect_timeout_secs = 10;
        spec.options.insert("ssh".into(), "bastion".into());
        let dialled = through(&spec, &End::Port(g.port()));
        assert_eq!(
            (dialled.host.as_str(), dialled.port),
            ("127.0.0.1", Some(g.port()))
        );
        let open = Kind::Oracle.engine().open.unwrap();
        let c = open(
            &dialled,
            Some(SecretString::from("pw")),
            SessionOptions::default(),
        );
        let client = tokio::spawn(async move { c.test().await });
        let connect = first_bytes(&listener).await;
        // TNS header: packet type 1 is CONNECT.
        assert_eq!(connect.get(4), Some(&1), "{connect:?}");
        assert!(holds(&connect, b"SERVICE_NAME=SVC"));
        assert!(holds(
            &connect,
            format!("(HOST=127.0.0.1)(PORT={})", g.port()).as_bytes()
        ));
        drop(listener);
        assert!(client.await.unwrap().is_err());
    }
}
