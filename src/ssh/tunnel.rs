//! One `ssh -N -L 127.0.0.1:PORT:HOST:PORT` child: started, watched until
//! its forward listens, killed with its whole process group and reaped when
//! dropped.
//!
//! The child runs in a session of its own (so a ProxyJump's helper `ssh` is
//! in its group and dies with it, and no terminal is shared with the TUI),
//! with `PR_SET_PDEATHSIG` on Linux: the signal follows the *thread* that
//! forked, so a dedicated thread spawns ssh and stays until it has exited
//! (reading its stderr, then reaping it). `kill -9` of Varlor ends that
//! thread and so the ssh.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{askpass, Via};
use crate::connectors::{ConnError, ErrorKind};

/// Environment variable naming an ssh config file to use instead of
/// `~/.ssh/config` (`ssh -F`); also read by `varlor ssh-hosts`.
pub const CONFIG_ENV: &str = "VARLOR_SSH_CONFIG";

/// How long a tunnel may wait for a person answering a prompt.
const PROMPT_PATIENCE: Duration = Duration::from_secs(300);

/// A running tunnel.
pub struct Tunnel {
    local_port: u16,
    pid: i32,
    log: Arc<Mutex<String>>,
    exited: Arc<AtomicBool>,
    waiter: Option<std::thread::JoinHandle<()>>,
    _askpass: Option<askpass::Server>,
    /// How the bastion accepted us ("publickey", "password"…), from ssh's log.
    pub auth: Option<String>,
    /// Time from spawning ssh to the forward listening.
    pub setup: Duration,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("local_port", &self.local_port)
            .field("pid", &self.pid)
            .finish()
    }
}

/// `host` as the target of `-L` (IPv6 in brackets).
fn forward_target(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A loopback port free right now (ssh binds it; [`Tunnel::open`] then
/// checks that the listener there is ssh's own).
fn free_port() -> Result<u16, ConnError> {
    let l = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| ConnError::new(ErrorKind::SshFailed, format!("no local port: {e}")))?;
    Ok(l.local_addr().map(|a| a.port()).unwrap_or(0))
}

/// The ssh arguments (no secret ever: prompts go through askpass).
pub fn arguments(
    via: &Via,
    host: &str,
    port: u16,
    local: u16,
    timeout: Duration,
    batch: bool,
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-N".into(),
        "-T".into(),
        "-L".into(),
        format!("127.0.0.1:{local}:{}:{port}", forward_target(host)),
    ];
    let mut opt = |o: String| {
        a.push("-o".into());
        a.push(o);
    };
    opt("ExitOnForwardFailure=yes".into());
    opt("ServerAliveInterval=15".into());
    opt("ServerAliveCountMax=3".into());
    opt(format!("ConnectTimeout={}", timeout.as_secs().max(1)));
    // A multiplexing master would outlive us (ControlPersist forks away).
    opt("ControlPath=none".into());
    // "Authenticated to … using …": the auth method for the staged test.
    opt("LogLevel=VERBOSE".into());
    if batch {
        opt("BatchMode=yes".into());
    }
    if let Some(cfg) = std::env::var_os(CONFIG_ENV) {
        a.push("-F".into());
        a.push(cfg.to_string_lossy().into_owned());
    }
    if let Some(p) = via.port {
        a.push("-p".into());
        a.push(p.to_string());
    }
    a.push("--".into());
    a.push(via.destination.clone());
    a
}

impl Tunnel {
    /// Starts ssh and waits until its forward listens (blocking). Asks
    /// through the registered prompter; without one, BatchMode.
    pub fn open(via: &Via, host: &str, port: u16, timeout: Duration) -> Result<Tunnel, ConnError> {
        let started = Instant::now();
        let prompter = askpass::prompter();
        let batch = prompter.is_none();
        let server = match prompter {
            Some(p) => Some(askpass::Server::start(p).map_err(|e| {
                ConnError::new(
                    ErrorKind::SshFailed,
                    format!("cannot set up the prompt channel: {e}"),
                )
            })?),
            None => None,
        };
        let local = free_port()?;
        let mut cmd = Command::new("ssh");
        cmd.args(arguments(via, host, port, local, timeout, batch))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match &server {
            Some(s) => {
                let exe = askpass::program().map_err(|e| {
                    ConnError::new(
                        ErrorKind::SshFailed,
                        format!("cannot find this program: {e}"),
                    )
                })?;
                cmd.env("SSH_ASKPASS", exe)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env(askpass::SOCKET_ENV, s.socket());
            }
            None => {
                cmd.env_remove("SSH_ASKPASS")
                    .env_remove(askpass::SOCKET_ENV);
            }
        }
        own_session(&mut cmd);

        let log = Arc::new(Mutex::new(String::new()));
        let exited = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (log_t, exited_t) = (log.clone(), exited.clone());
        let waiter = std::thread::Builder::new()
            .name("ssh-tunnel".into())
            .spawn(move || {
                let mut child = match cmd.spawn() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        exited_t.store(true, Ordering::SeqCst);
                        return;
                    }
                };
                let _ = tx.send(Ok(child.id() as i32));
                if let Some(mut err) = child.stderr.take() {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = err.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if let Ok(mut l) = log_t.lock() {
                            l.push_str(&String::from_utf8_lossy(&buf[..n]));
                        }
                    }
                }
                let _ = child.wait();
                exited_t.store(true, Ordering::SeqCst);
            })
            .map_err(|e| {
                ConnError::new(ErrorKind::SshFailed, format!("cannot start a thread: {e}"))
            })?;
        let pid = match rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = waiter.join();
                let kind = if e.kind() == std::io::ErrorKind::NotFound {
                    ErrorKind::DriverUnavailable
                } else {
                    ErrorKind::SshFailed
                };
                return Err(ConnError::new(
                    kind,
                    format!("cannot run ssh (install openssh-client): {e}"),
                ));
            }
            Err(_) => {
                let _ = waiter.join();
                return Err(ConnError::new(ErrorKind::SshFailed, "ssh did not start"));
            }
        };
        let mut tunnel = Tunnel {
            local_port: local,
            pid,
            log,
            exited,
            waiter: Some(waiter),
            _askpass: server,
            auth: None,
            setup: Duration::ZERO,
        };
        let patience = if batch {
            timeout
        } else {
            timeout.max(PROMPT_PATIENCE)
        };
        let deadline = started + patience + Duration::from_secs(2);
        loop {
            if tunnel.exited.load(Ordering::SeqCst) {
                return Err(super::error_from(&tunnel.log_since(0)));
            }
            if listens(pid, local) {
                break;
            }
            if Instant::now() > deadline {
                return Err(ConnError::new(
                    ErrorKind::SshUnreachable,
                    format!(
                        "ssh to {} did not set up the tunnel within {} s",
                        via.destination,
                        patience.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tunnel.setup = started.elapsed();
        // The reader thread may be a moment behind ssh's log.
        for _ in 0..10 {
            tunnel.auth = auth_method(&tunnel.log_since(0));
            if tunnel.auth.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(tunnel)
    }

    /// The loopback port the database connector dials.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// The ssh process id (its process group id too).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Still running (a dead tunnel is reopened by the connector).
    pub fn alive(&self) -> bool {
        !self.exited.load(Ordering::SeqCst)
    }

    /// How much ssh has written so far (a mark for [`Tunnel::log_since`]).
    pub fn log_len(&self) -> usize {
        self.log.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// What ssh wrote after `mark`.
    pub fn log_since(&self, mark: usize) -> String {
        self.log
            .lock()
            .map(|l| l.get(mark..).unwrap_or("").to_string())
            .unwrap_or_default()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // The whole group: ssh and a ProxyJump/ProxyCommand helper.
        // SAFETY: a plain syscall; pid is our child's (its group id after setsid).
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
            libc::kill(self.pid, libc::SIGKILL);
        }
        // The thread reaps the child.
        if let Some(w) = self.waiter.take() {
            let _ = w.join();
        }
    }
}

/// A new session (process group, no controlling terminal) and, on Linux,
/// death with the thread that started it.
fn own_session(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            Ok(())
        });
    }
}

/// "Authenticated to host ([1.2.3.4]:22) using \"publickey\"." → "publickey".
fn auth_method(log: &str) -> Option<String> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.starts_with("Authenticated to"))?;
    let m = line.split("using \"").nth(1)?.split('"').next()?;
    Some(m.to_string())
}

/// Whether `pid` itself listens on 127.0.0.1:`port` (Linux: its socket
/// inode is the listener's in /proc/net/tcp, so another process that took
/// the port is never mistaken for the tunnel). Elsewhere: the port is taken.
fn listens(pid: i32, port: u16) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Some(inode) = listener_inode(port) else {
            return false;
        };
        let want = format!("socket:[{inode}]");
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == want))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        TcpListener::bind(("127.0.0.1", port)).is_err()
    }
}

#[cfg(target_os = "linux")]
fn listener_inode(port: u16) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 9 && f[1] == local && f[3] == "0A").then(|| f[9].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_hold_no_secret_and_end_options_before_the_host() {
        let via = Via::parse("ops@jump:2222").unwrap();
        let a = arguments(
            &via,
            "db.internal",
            5432,
            40000,
            Duration::from_secs(9),
            true,
        );
        let s = a.join(" ");
        assert!(s.contains("-L 127.0.0.1:40000:db.internal:5432"), "{s}");
        assert!(
            s.contains("ExitOnForwardFailure=yes") && s.contains("BatchMode=yes"),
            "{s}"
        );
        assert!(
            s.contains("ConnectTimeout=9") && s.contains("ControlPath=none"),
            "{s}"
        );
        assert_eq!(&a[a.len() - 4..], ["-p", "2222", "--", "ops@jump"]);
        let a = arguments(&via, "::1", 5432, 1, Duration::from_secs(1), false);
        assert!(a.contains(&"127.0.0.1:1:[::1]:5432".to_string()));
        assert!(!a.contains(&"BatchMode=yes".to_string()));
    }

    #[test]
    fn the_auth_method_is_read_from_the_log() {
        let log = "Authenticated to h ([127.0.0.1]:22) using \"publickey\".\n";
        assert_eq!(auth_method(log).as_deref(), Some("publickey"));
        assert_eq!(auth_method("nothing"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_listener_of_another_process_is_not_the_tunnel() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listens(std::process::id() as i32, port), "our own listener");
        assert!(!listens(1, port), "pid 1 does not hold it");
    }
}
