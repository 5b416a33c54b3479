//! A loopback TCP gate in front of a tunnel's Unix socket, for drivers that
//! cannot dial a socket themselves (MySQL/MariaDB, Oracle: a plain relay;
//! MongoDB: a SOCKS5 proxy, so the driver names the database's real host and
//! checks its certificate for that name).
//!
//! A TCP port on 127.0.0.1 can be reached by every local user; the gate lets
//! through only connections whose socket belongs to this user (Linux: the
//! peer's entry in /proc/net/tcp carries its uid) and drops the rest
//! unanswered. The SOCKS5 mode also refuses every destination but the one
//! database. Elsewhere than Linux the uid is not checked (the socket behind
//! the gate is still private); README says so.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

/// What the gate speaks on its TCP side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Bytes in, bytes out.
    Relay,
    /// A SOCKS5 proxy (no authentication: the uid check is the gate) that
    /// allows a CONNECT to this host and port only.
    Socks5 { host: String, port: u16 },
}

/// A running gate; dropping it stops accepting (open relays end with the
/// tunnel).
#[derive(Debug)]
pub struct Gate {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// Listens on 127.0.0.1 (a free port) and relays to `socket`.
    pub async fn start(socket: PathBuf, mode: Mode) -> std::io::Result<Gate> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    // Out of descriptors and the like: the gate stays up.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if !same_user(peer, addr) {
                    tracing::warn!("ssh gate: refused a connection of another user");
                    continue;
                }
                let (socket, mode) = (socket.clone(), mode.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &socket, &mode).await;
                });
            }
        });
        Ok(Gate { addr, task })
    }

    /// The loopback port the driver dials.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut tcp: TcpStream, socket: &PathBuf, mode: &Mode) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    if let Mode::Socks5 { host, port } = mode {
        let wanted = socks5_request(&mut tcp).await?;
        if !same_destination(&wanted, host, *port) {
            // 0x02: connection not allowed by ruleset.
            tcp.write_all(&reply(0x02)).await?;
            return Ok(());
        }
        match UnixStream::connect(socket).await {
            Ok(mut unix) => {
                tcp.write_all(&reply(0x00)).await?;
                tokio::io::copy_bidirectional(&mut tcp, &mut unix).await?;
            }
            Err(e) => {
                // 0x05: connection refused.
                tcp.write_all(&reply(0x05)).await?;
                return Err(e);
            }
        }
        return Ok(());
    }
    let mut unix = UnixStream::connect(socket).await?;
    tokio::io::copy_bidirectional(&mut tcp, &mut unix).await?;
    Ok(())
}

/// A SOCKS5 reply with `code` and an unspecified bound address.
fn reply(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// Where a SOCKS5 client asks to go.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    Name(String, u16),
    Ip(IpAddr, u16),
}

fn same_destination(d: &Destination, host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match d {
        Destination::Name(n, p) => *p == port && n.eq_ignore_ascii_case(host),
        Destination::Ip(ip, p) => *p == port && host.parse::<IpAddr>().ok() == Some(*ip),
    }
}

/// The greeting (answered "no authentication") and the CONNECT request.
async fn socks5_request<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    s: &mut S,
) -> std::io::Result<Destination> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(bad("not SOCKS5"));
    }
    let mut methods = vec![0u8; head[1] as usize];
    s.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        s.write_all(&[5, 0xff]).await?;
        return Err(bad("no acceptable method"));
    }
    s.write_all(&[5, 0]).await?;
    let mut req = [0u8; 4];
    s.read_exact(&mut req).await?;
    if req[0] != 5 || req[1] != 1 {
        // 0x07: command not supported (only CONNECT).
        s.write_all(&reply(0x07)).await?;
        return Err(bad("only CONNECT"));
    }
    let ip_or_name = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            s.read_exact(&mut a).await?;
            Ok(IpAddr::from(a))
        }
        4 => {
            let mut a = [0u8; 16];
            s.read_exact(&mut a).await?;
            Ok(IpAddr::from(a))
        }
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            s.read_exact(&mut name).await?;
            Err(String::from_utf8_lossy(&name).into_owned())
        }
        _ => {
            s.write_all(&reply(0x08)).await?;
            return Err(bad("unknown address type"));
        }
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    Ok(match ip_or_name {
        Ok(ip) => Destination::Ip(ip, port),
        Err(name) => Destination::Name(name, port),
    })
}

/// Whether the connection from `peer` to our `local` address was opened by
/// a socket of this user: /proc/net/tcp lists the peer's end with its uid.
#[cfg(target_os = "linux")]
fn same_user(peer: SocketAddr, local: SocketAddr) -> bool {
    // SAFETY: a plain syscall with no arguments.
    let me = unsafe { libc::geteuid() };
    peer_uid(peer, local).is_some_and(|uid| uid == me)
}

#[cfg(not(target_os = "linux"))]
fn same_user(_peer: SocketAddr, _local: SocketAddr) -> bool {
    true
}

/// /proc/net/tcp's "ADDR:PORT" of an IPv4 socket address.
#[cfg(target_os = "linux")]
fn proc_addr(a: SocketAddr) -> Option<String> {
    match a.ip() {
        IpAddr::V4(v4) => Some(format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(v4.octets()),
            a.port()
        )),
        IpAddr::V6(_) => None,
    }
}

/// The uid owning the socket `peer` → `local` ("sl local rem st … uid …").
#[cfg(target_os = "linux")]
fn peer_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let (p, l) = (proc_addr(peer)?, proc_addr(local)?);
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 7 && f[1] == p && f[2] == l)
            .then(|| f[7].parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_socket() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (dir, path)
    }

    #[tokio::test]
    async fn relays_this_users_connection_to_the_socket() {
        let (_d, path) = echo_socket();
        let gate = Gate::start(path, Mode::Relay).await.unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", gate.port()))
            .await
            .unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_peer_uid_is_read_from_proc() {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let local = l.local_addr().unwrap();
        let c = TcpStream::connect(local).await.unwrap();
        let (_s, peer) = l.accept().await.unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        let me = unsafe { libc::geteuid() };
        assert_eq!(peer_uid(peer, local), Some(me));
        // An address pair nobody holds has no owner: refused.
        let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(peer_uid(nobody, local), None);
        assert!(!same_user(nobody, local));
    }

    async fn socks_connect(port: u16, atyp_addr: &[u8], dport: u16) -> (TcpStream, u8) {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(&[5, 1, 0]).await.unwrap();
        let mut m = [0u8; 2];
        c.read_exact(&mut m).await.unwrap();
        assert_eq!(m, [5, 0]);
        let mut req = vec![5, 1, 0];
        req.extend_from_slice(atyp_addr);
        req.extend_from_slice(&dport.to_be_bytes());
        c.write_all(&req).await.unwrap();
        let mut rep = [0u8; 10];
        c.read_exact(&mut rep).await.unwrap();
        (c, rep[1])
    }

    #[tokio::test]
    async fn socks5_connects_to_the_one_database_only() {
        let (_d, path) = echo_socket();
        let mode = Mode::Socks5 {
            host: "db.internal".into(),
            port: 27017,
        };
        let gate = Gate::start(path, mode).await.unwrap();
        let name = |n: &str| {
            let mut v = vec![3, n.len() as u8];
            v.extend_from_slice(n.as_bytes());
            v
        };
        let (mut c, code) = socks_connect(gate.port(), &name("DB.internal"), 27017).await;
        assert_eq!(code, 0);
        c.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        for (addr, port) in [
            (name("other.internal"), 27017),
            (name("db.internal"), 22),
            (vec![1, 127, 0, 0, 1], 27017),
        ] {
            let (_c, code) = socks_connect(gate.port(), &addr, port).await;
            assert_eq!(code, 2, "{addr:?}:{port} must be refused");
        }
    }
}
