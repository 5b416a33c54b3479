//! One `ssh -N -L /DIR/db.sock:HOST:PORT` child: started, watched until
//! its forward listens, killed with its whole process group and reaped when
//! dropped.
//!
//! The forward is a Unix socket, never a TCP port: `DIR` is a fresh
//! directory made 0700 before ssh starts (and the socket itself 0600,
//! `StreamLocalBindMask`), so only this user can reach the database through
//! it; dropping the tunnel removes the directory with the socket. Drivers
//! that cannot dial a socket get a gate of this process in front of it
//! (`ssh::gate`).
//!
//! The child runs in a session of its own (so a ProxyJump's helper `ssh` is
//! in its group and dies with it, and no terminal is shared with the TUI),
//! with `PR_SET_PDEATHSIG` on Linux: the signal follows the *thread* that
//! forked, so a dedicated thread spawns ssh and stays until it has exited
//! (reading its stderr, then reaping it). `kill -9` of Varlor ends that
//! thread and so the ssh.

use std::io::Read;
use std::path::{Path, PathBuf};
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
    socket: PathBuf,
    pid: i32,
    log: Arc<Mutex<String>>,
    exited: Arc<AtomicBool>,
    waiter: Option<std::thread::JoinHandle<()>>,
    _askpass: Option<askpass::Server>,
    /// The 0700 directory holding the socket; removed after ssh is gone.
    dir: Option<tempfile::TempDir>,
    /// How the bastion accepted us ("publickey", "password"…), from ssh's log.
    pub auth: Option<String>,
    /// Time from spawning ssh to the forward listening.
    pub setup: Duration,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("socket", &self.socket)
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

/// The socket's name inside its private directory.
const SOCKET_NAME: &str = "db.sock";

/// A fresh directory only this user may enter (mode 0700, made before ssh
/// starts), in `$XDG_RUNTIME_DIR` when there is one, else the temp dir.
fn private_dir() -> Result<tempfile::TempDir, ConnError> {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let failed = |e: std::io::Error| {
        ConnError::new(
            ErrorKind::SshFailed,
            format!(
                "cannot make a private directory for the tunnel's socket in {}: {e}",
                base.display()
            ),
        )
    };
    let dir = tempfile::Builder::new()
        .prefix("varlor-ssh-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(failed)?;
    // Whatever the umask did: 0700.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
    let sock = dir.path().join(SOCKET_NAME);
    let text = sock.to_string_lossy();
    // `-L` splits on ':'; a Unix socket path holds at most ~104 bytes.
    if text.contains(':') || text.len() > 100 || sock.to_str().is_none() {
        return Err(ConnError::new(
            ErrorKind::SshFailed,
            format!(
                "the tunnel's socket path {} is unusable (a ':' or over 100 bytes); set TMPDIR to a short directory",
                crate::connectors::error::sanitize(&text, None)
            ),
        ));
    }
    Ok(dir)
}

/// The ssh arguments (no secret ever: prompts go through askpass).
pub fn arguments(
    via: &Via,
    host: &str,
    port: u16,
    socket: &Path,
    timeout: Duration,
    batch: bool,
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-N".into(),
        "-T".into(),
        "-L".into(),
        format!(
            "{}:{}:{port}",
            socket.to_string_lossy(),
            forward_target(host)
        ),
    ];
    let mut opt = |o: String| {
        a.push("-o".into());
        a.push(o);
    };
    opt("ExitOnForwardFailure=yes".into());
    // The socket: 0600 (in a 0700 directory), a stale one replaced.
    opt("StreamLocalBindMask=0177".into());
    opt("StreamLocalBindUnlink=yes".into());
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
        let dir = private_dir()?;
        let socket = dir.path().join(SOCKET_NAME);
        let mut cmd = Command::new("ssh");
        cmd.args(arguments(via, host, port, &socket, timeout, batch))
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
            socket,
            pid,
            log,
            exited,
            waiter: Some(waiter),
            _askpass: server,
            dir: Some(dir),
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
            if listens(pid, &tunnel.socket) {
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

    /// The Unix socket ssh listens on (in a 0700 directory of its own).
    pub fn socket(&self) -> &Path {
        &self.socket
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
        // ssh is gone: the directory goes with the socket in it.
        if let Some(d) = self.dir.take() {
            let _ = d.close();
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

/// Whether `pid` itself listens on the Unix socket `path` (Linux: the
/// listener's inode in /proc/net/unix is one of its descriptors, so a socket
/// someone else bound there is never taken for the tunnel). Elsewhere: the
/// socket exists.
fn listens(pid: i32, path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Some(inode) = unix_listener_inode(path) else {
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
        path.exists()
    }
}

/// The inode of the listening Unix socket bound at `path` (/proc/net/unix:
/// "Num RefCount Protocol Flags Type St Inode Path"; flag 0x10000 = listening).
#[cfg(target_os = "linux")]
fn unix_listener_inode(path: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let want = path.to_str()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let listening = f
            .get(3)
            .and_then(|x| u32::from_str_radix(x, 16).ok())
            .is_some_and(|flags| flags & 0x10000 != 0);
        (f.len() > 7 && f[7] == want && listening).then(|| f[6].to_string())
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
            Path::new("/run/user/1/varlor-ssh-x/db.sock"),
            Duration::from_secs(9),
            true,
        );
        let s = a.join(" ");
        assert!(
            s.contains("-L /run/user/1/varlor-ssh-x/db.sock:db.internal:5432"),
            "{s}"
        );
        assert!(
            s.contains("StreamLocalBindMask=0177") && s.contains("StreamLocalBindUnlink=yes"),
            "{s}"
        );
        assert!(
            s.contains("ExitOnForwardFailure=yes") && s.contains("BatchMode=yes"),
            "{s}"
        );
        assert!(
            s.contains("ConnectTimeout=9") && s.contains("ControlPath=none"),
            "{s}"
        );
        assert_eq!(&a[a.len() - 4..], ["-p", "2222", "--", "ops@jump"]);
        let a = arguments(
            &via,
            "::1",
            5432,
            Path::new("/s"),
            Duration::from_secs(1),
            false,
        );
        assert!(a.contains(&"/s:[::1]:5432".to_string()));
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
        let dir = private_dir().unwrap();
        let path = dir.path().join(SOCKET_NAME);
        assert!(!listens(std::process::id() as i32, &path), "nothing yet");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(
            listens(std::process::id() as i32, &path),
            "our own listener"
        );
        assert!(!listens(1, &path), "pid 1 does not hold it");
        drop(l);
    }

    #[test]
    fn the_private_directory_is_0700_and_goes_away() {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_dir().unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let p = dir.path().to_path_buf();
        dir.close().unwrap();
        assert!(!p.exists());
    }
}
