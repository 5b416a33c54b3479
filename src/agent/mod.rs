//! The Varlor agent (like ssh-agent or rbw-agent): one background process
//! per user that holds the unlocked identity of each profile, so only the
//! first command after an unlock pays for scrypt.
//!
//! - Where: a Unix socket `agent.sock` in `$XDG_RUNTIME_DIR/varlor/`, else
//!   in `<state dir>/agent/`; with `VARLOR_HOME` set, in
//!   `$VARLOR_HOME/state/agent/` (each home its own agent). Directory 0700,
//!   socket 0600, and the agent answers only peers of its own uid (SO_PEERCRED).
//! - What: per profile directory, that profile's x25519 identity, in locked
//!   memory ([`locked::LockedBox`]). A client sends a ciphertext and gets the
//!   plaintext back; the identity is never sent out. A request names its
//!   profile directory and is answered with that profile's identity only.
//! - How long: until idle for `agent_timeout_secs` (config.toml, default
//!   900), `varlor vault lock`, `varlor agent stop`, or until its socket
//!   file (or the directory holding it) disappears.
//!
//! Protocol: frames of a u32 (big endian) length and that many bytes. A
//! request is an op byte and length-prefixed fields; an answer is a status
//! byte (0 ok, else an [`Refusal`] code) and fields.

pub mod locked;
pub mod server;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// Set (non-empty, not "0") to never use or start an agent: scripts and
/// tests that want every command to unlock on its own.
pub const NO_AGENT_ENV: &str = "VARLOR_NO_AGENT";
/// The socket's file name in the agent directory.
pub const SOCKET: &str = "agent.sock";
/// The lock the running agent holds (one agent per directory).
pub const LOCK: &str = "agent.lock";
/// Largest frame accepted (ciphertexts of passwords are small).
const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no agent is running")]
    NotRunning,
    #[error("the agent cannot be started here (not the varlor binary)")]
    NoLauncher,
    #[error("the agent directory {0} is not private (must be 0700 and ours)")]
    UnsafeDir(PathBuf),
    #[error("the agent refused: {0}")]
    Refused(Refusal),
    #[error("agent I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the agent sent a malformed answer")]
    Protocol,
    #[error(transparent)]
    Paths(#[from] crate::store::PathsError),
}

/// Why the agent said no (its status byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it holds no identity for this profile")]
    NoIdentity,
    #[error("the secret belongs to another profile or an old key")]
    Foreign,
    #[error("the secret is tampered with or corrupt")]
    Tampered,
    #[error("bad request")]
    BadRequest,
}

impl Refusal {
    fn code(self) -> u8 {
        match self {
            Refusal::NoIdentity => 1,
            Refusal::Foreign => 2,
            Refusal::Tampered => 3,
            Refusal::BadRequest => 4,
        }
    }
    fn from_code(c: u8) -> Refusal {
        match c {
            1 => Refusal::NoIdentity,
            2 => Refusal::Foreign,
            3 => Refusal::Tampered,
            _ => Refusal::BadRequest,
        }
    }
}

/// Request op codes.
mod op {
    pub const ADD: u8 = 1;
    pub const DECRYPT: u8 = 2;
    pub const PUBLIC: u8 = 3;
    pub const FORGET: u8 = 4;
    pub const FORGET_ALL: u8 = 5;
    pub const STATUS: u8 = 6;
    pub const STOP: u8 = 7;
}

/// Whether agents are switched off for this process (VARLOR_NO_AGENT).
pub fn disabled() -> bool {
    std::env::var_os(NO_AGENT_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();

/// The binary that can run `agent serve` (main.rs sets it to itself); in a
/// library user or a test binary there is none and no agent is started.
pub fn set_launcher(binary: PathBuf) {
    let _ = LAUNCHER.set(binary);
}

/// The agent's directory for this user (see the module docs).
pub fn dir() -> Result<PathBuf, AgentError> {
    if std::env::var_os("VARLOR_HOME").is_some_and(|h| !h.is_empty()) {
        return Ok(crate::store::Paths::resolve("default")?
            .state_dir
            .join("agent"));
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|r| !r.is_empty()) {
        let run = PathBuf::from(run);
        if run.is_absolute() && run.is_dir() {
            return Ok(run.join("varlor"));
        }
    }
    Ok(crate::store::Paths::resolve("default")?
        .state_dir
        .join("agent"))
}

/// The socket path.
pub fn socket_path() -> Result<PathBuf, AgentError> {
    Ok(dir()?.join(SOCKET))
}

/// Creates the directory 0700 (parents too) and checks an existing one is
/// ours and private: a socket in a directory others can write is not used.
pub fn ensure_private_dir(dir: &Path) -> Result<(), AgentError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    check_private_dir(dir)?;
    Ok(())
}

fn check_private_dir(dir: &Path) -> Result<(), AgentError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(AgentError::UnsafeDir(dir.to_path_buf()));
    }
    Ok(())
}

/// The key a profile's identity is held under: its directory's full path.
pub fn profile_key(profile_dir: &Path) -> String {
    std::fs::canonicalize(profile_dir)
        .unwrap_or_else(|_| profile_dir.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// What `agent status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub pid: u32,
    pub idle_timeout_secs: u64,
    pub idle_secs: u64,
    /// Profile directories whose identity the agent holds.
    pub profiles: Vec<String>,
    /// Whether the identities' memory is locked (mlock).
    pub memory_locked: bool,
}

/// A client of the agent at one socket. Each request is one connection.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// The running agent of this user, or NotRunning (also when agents are disabled).
    pub fn connect() -> Result<Client, AgentError> {
        if disabled() {
            return Err(AgentError::NotRunning);
        }
        let dir = dir()?;
        if !dir.exists() {
            return Err(AgentError::NotRunning);
        }
        check_private_dir(&dir)?;
        let client = Client {
            socket: dir.join(SOCKET),
        };
        client.stream()?;
        Ok(client)
    }

    /// The running agent, or a new one started detached (`varlor agent serve`).
    pub fn connect_or_start(idle_timeout_secs: u64) -> Result<Client, AgentError> {
        if disabled() {
            return Err(AgentError::NotRunning);
        }
        match Client::connect() {
            Ok(c) => return Ok(c),
            Err(AgentError::NotRunning) => {}
            Err(AgentError::Io(e)) if is_absent(&e) => {}
            Err(e) => return Err(e),
        }
        start(idle_timeout_secs)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match Client::connect() {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// A client of the agent at this socket path (nothing is checked yet).
    pub fn at(socket: PathBuf) -> Client {
        Client { socket }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn stream(&self) -> Result<UnixStream, AgentError> {
        let s = UnixStream::connect(&self.socket).map_err(|e| {
            if is_absent(&e) {
                AgentError::NotRunning
            } else {
                AgentError::Io(e)
            }
        })?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(s)
    }

    fn call(&self, op: u8, fields: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>, AgentError> {
        let mut s = self.stream()?;
        write_frame(&mut s, op, fields)?;
        let (status, fields) = read_frame(&mut s)?.ok_or(AgentError::Protocol)?;
        if status != 0 {
            return Err(AgentError::Refused(Refusal::from_code(status)));
        }
        Ok(fields)
    }

    /// Hands the agent a profile's identity (replacing any it held for it).
    pub fn add(&self, profile_key: &str, identity: &SecretString) -> Result<(), AgentError> {
        self.call(
            op::ADD,
            &[profile_key.as_bytes(), identity.expose_secret().as_bytes()],
        )
        .map(drop)
    }

    /// The plaintext of `ciphertext`, decrypted with that profile's identity.
    pub fn decrypt(
        &self,
        profile_key: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, AgentError> {
        let mut f = self.call(op::DECRYPT, &[profile_key.as_bytes(), ciphertext])?;
        f.pop().ok_or(AgentError::Protocol)
    }

    /// The public key (`age1…`) of the identity held for the profile, if any.
    pub fn public_key(&self, profile_key: &str) -> Result<Option<String>, AgentError> {
        match self.call(op::PUBLIC, &[profile_key.as_bytes()]) {
            Ok(mut f) => {
                let k = f.pop().ok_or(AgentError::Protocol)?;
                Ok(Some(String::from_utf8_lossy(&k).into_owned()))
            }
            Err(AgentError::Refused(Refusal::NoIdentity)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Forgets one profile's identity.
    pub fn forget(&self, profile_key: &str) -> Result<(), AgentError> {
        self.call(op::FORGET, &[profile_key.as_bytes()]).map(drop)
    }

    /// Forgets every identity; how many there were.
    pub fn forget_all(&self) -> Result<usize, AgentError> {
        let f = self.call(op::FORGET_ALL, &[])?;
        Ok(f.first()
            .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
            .unwrap_or(0))
    }

    pub fn status(&self) -> Result<Status, AgentError> {
        let f = self.call(op::STATUS, &[])?;
        let text = |i: usize| -> Result<String, AgentError> {
            f.get(i)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .ok_or(AgentError::Protocol)
        };
        let num = |i: usize| -> Result<u64, AgentError> {
            text(i)?.parse().map_err(|_| AgentError::Protocol)
        };
        Ok(Status {
            pid: u32::try_from(num(0)?).map_err(|_| AgentError::Protocol)?,
            idle_timeout_secs: num(1)?,
            idle_secs: num(2)?,
            memory_locked: num(3)? == 1,
            profiles: (4..f.len()).map(text).collect::<Result<_, _>>()?,
        })
    }

    /// Asks the agent to forget everything and exit.
    pub fn stop(&self) -> Result<(), AgentError> {
        self.call(op::STOP, &[]).map(drop)
    }
}

fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

/// Starts `varlor agent serve` detached: its own session (setsid), stdin,
/// stdout and stderr on /dev/null, no passphrase variable in its environment.
pub fn start(idle_timeout_secs: u64) -> Result<(), AgentError> {
    use std::os::unix::process::CommandExt;
    let binary = LAUNCHER.get().ok_or(AgentError::NoLauncher)?;
    ensure_private_dir(&dir()?)?;
    let mut cmd = std::process::Command::new(binary);
    cmd.args([
        "agent",
        "serve",
        "--idle-timeout",
        &idle_timeout_secs.to_string(),
    ])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .env_remove("VARLOR_PASSPHRASE_FILE")
    .env_remove("VARLOR_NEW_PASSPHRASE_FILE")
    .current_dir("/");
    // SAFETY: setsid is async-signal-safe; it detaches the agent from the
    // terminal and process group of the command that started it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    // Reaped when it ends (a long-running TUI must not keep a zombie).
    std::thread::spawn(move || child.wait());
    Ok(())
}

// ---------------------------------------------------------------- frames

fn write_frame(w: &mut impl Write, head: u8, fields: &[&[u8]]) -> std::io::Result<()> {
    let mut buf = Zeroizing::new(Vec::with_capacity(
        5 + fields.iter().map(|f| f.len() + 4).sum::<usize>(),
    ));
    buf.extend_from_slice(&[0, 0, 0, 0, head]);
    for f in fields {
        buf.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(f);
    }
    let len = u32::try_from(buf.len() - 4).unwrap_or(u32::MAX);
    buf[..4].copy_from_slice(&len.to_be_bytes());
    w.write_all(&buf)?;
    w.flush()
}

type Frame = (u8, Vec<Zeroizing<Vec<u8>>>);

/// One frame; Ok(None) at a clean end of stream.
fn read_frame(r: &mut impl Read) -> Result<Option<Frame>, AgentError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(AgentError::Protocol);
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body)?;
    let head = body[0];
    let mut fields = Vec::new();
    let mut rest = &body[1..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(AgentError::Protocol);
        }
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if n > rest.len() {
            return Err(AgentError::Protocol);
        }
        fields.push(Zeroizing::new(rest[..n].to_vec()));
        rest = &rest[n..];
    }
    Ok(Some((head, fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 9, &[b"abc", b"", b"\x00\x01"]).unwrap();
        let (head, fields) = read_frame(&mut &buf[..]).unwrap().unwrap();
        assert_eq!(head, 9);
        let fields: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
        assert_eq!(fields, vec![&b"abc"[..], b"", b"\x00\x01"]);
    }

    #[test]
    fn truncated_frames_are_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 1, &[b"abcdef"]).unwrap();
        // A field longer than the frame.
        buf[5] = 0x7f;
        assert!(read_frame(&mut &buf[..]).is_err());
        assert!(read_frame(&mut &[0u8, 0, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
    }
}
