//! `varlor agent serve`: the agent process itself (see the module docs of
//! `crate::agent`). Plain threads: one per client connection, one watchdog
//! for the idle timeout and for the socket file disappearing.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::locked::LockedBox;
use super::{op, read_frame, write_frame, AgentError, Refusal, LOCK, SOCKET};
use crate::store::vault::{decrypt_with_x25519, VaultError};

/// Identities by profile directory, and when the agent was last used.
struct State {
    identities: HashMap<String, LockedBox<age::x25519::Identity>>,
    last_used: Instant,
    all_locked: bool,
}

struct Agent {
    state: Mutex<State>,
    idle_timeout: Duration,
    socket: PathBuf,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the agent until it is stopped, idle too long, or its socket goes.
/// Returns Ok(()) at once when another agent already serves this directory.
pub fn serve(idle_timeout_secs: u64) -> Result<(), AgentError> {
    crate::forbid_core_dumps();
    let dir = super::dir()?;
    super::ensure_private_dir(&dir)?;
    // One agent per directory: the lock is held for the agent's lifetime.
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(LOCK))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(lock_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        tracing::info!("another agent already serves this directory");
        return Ok(());
    }
    let socket = dir.join(SOCKET);
    let _ = std::fs::remove_file(&socket);
    // The socket is created 0600 (umask), not chmod-ed after the fact.
    // SAFETY: umask has no preconditions.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(&socket);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound?;
    let inode = std::fs::metadata(&socket)?.ino();
    let agent = Arc::new(Agent {
        state: Mutex::new(State {
            identities: HashMap::new(),
            last_used: Instant::now(),
            all_locked: true,
        }),
        idle_timeout: Duration::from_secs(idle_timeout_secs.max(1)),
        socket: socket.clone(),
    });
    tracing::info!(pid = std::process::id(), idle_timeout_secs, "agent started");
    {
        let agent = agent.clone();
        std::thread::spawn(move || watchdog(&agent, inode));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        match peer_uid(&stream) {
            Some(uid) if uid == me => {}
            other => {
                tracing::warn!(peer_uid = ?other, "refused a client of another user");
                continue; // dropped: the connection closes unanswered
            }
        }
        let agent = agent.clone();
        std::thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
            let _ = handle(&agent, stream);
        });
    }
    Ok(())
}

/// The connecting process's uid (SO_PEERCRED).
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// Ends the agent when idle too long or when its socket file is removed or
/// replaced (its VARLOR_HOME deleted, or another agent took over).
fn watchdog(agent: &Agent, inode: u64) {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let gone = std::fs::metadata(&agent.socket).map_or(true, |m| m.ino() != inode);
        if gone {
            tracing::info!("the agent's socket is gone: exiting");
            exit(agent, false);
        }
        let idle = lock(&agent.state).last_used.elapsed();
        if idle >= agent.idle_timeout {
            tracing::info!("idle timeout: forgetting every identity and exiting");
            exit(agent, true);
        }
    }
}

/// Forgets every identity (zeroed with their memory), removes the socket if
/// it is still ours, and exits.
fn exit(agent: &Agent, remove_socket: bool) -> ! {
    lock(&agent.state).identities.clear();
    if remove_socket {
        let _ = std::fs::remove_file(&agent.socket);
    }
    std::process::exit(0)
}

fn handle(agent: &Agent, mut stream: UnixStream) -> Result<(), AgentError> {
    while let Some((head, fields)) = read_frame(&mut stream)? {
        let field = |i: usize| fields.get(i).map(|f| &f[..]);
        let key = field(0).map(|k| String::from_utf8_lossy(k).into_owned());
        let answer: Result<Vec<Vec<u8>>, Refusal> = match (head, key) {
            (op::ADD, Some(key)) => add(agent, key, field(1)),
            (op::DECRYPT, Some(key)) => decrypt(agent, &key, field(1)),
            (op::PUBLIC, Some(key)) => {
                let s = touch(agent);
                s.identities
                    .get(&key)
                    .map(|id| vec![id.to_public().to_string().into_bytes()])
                    .ok_or(Refusal::NoIdentity)
            }
            (op::FORGET, Some(key)) => {
                lock(&agent.state).identities.remove(&key);
                tracing::info!(profile = %key, "identity forgotten");
                Ok(vec![])
            }
            (op::FORGET_ALL, _) => {
                let mut s = lock(&agent.state);
                let n = s.identities.len();
                s.identities.clear();
                tracing::info!(count = n, "every identity forgotten");
                Ok(vec![n.to_string().into_bytes()])
            }
            (op::STATUS, _) => {
                let s = lock(&agent.state);
                let mut out = vec![
                    std::process::id().to_string().into_bytes(),
                    agent.idle_timeout.as_secs().to_string().into_bytes(),
                    s.last_used.elapsed().as_secs().to_string().into_bytes(),
                    u8::from(s.all_locked).to_string().into_bytes(),
                ];
                let mut keys: Vec<&String> = s.identities.keys().collect();
                keys.sort();
                out.extend(keys.into_iter().map(|k| k.clone().into_bytes()));
                Ok(out)
            }
            (op::STOP, _) => {
                let _ = reply(&mut stream, Ok(vec![]));
                tracing::info!("stopped");
                exit(agent, true);
            }
            _ => Err(Refusal::BadRequest),
        };
        reply(&mut stream, answer)?;
    }
    Ok(())
}

fn touch(agent: &Agent) -> MutexGuard<'_, State> {
    let mut s = lock(&agent.state);
    s.last_used = Instant::now();
    s
}

fn add(agent: &Agent, key: String, secret: Option<&[u8]>) -> Result<Vec<Vec<u8>>, Refusal> {
    let text = secret
        .and_then(|s| std::str::from_utf8(s).ok())
        .ok_or(Refusal::BadRequest)?;
    let secret = SecretString::from(text.trim().to_owned());
    let id = secrecy::ExposeSecret::expose_secret(&secret)
        .parse::<age::x25519::Identity>()
        .map_err(|_| Refusal::BadRequest)?;
    let boxed = LockedBox::new(id).ok_or(Refusal::BadRequest)?;
    let mut s = touch(agent);
    if !boxed.is_locked() {
        s.all_locked = false;
        tracing::warn!("could not lock an identity's memory (RLIMIT_MEMLOCK?)");
    }
    tracing::info!(profile = %key, "holding the identity of a profile");
    s.identities.insert(key, boxed);
    Ok(vec![])
}

fn decrypt(agent: &Agent, key: &str, ct: Option<&[u8]>) -> Result<Vec<Vec<u8>>, Refusal> {
    let ct = ct.ok_or(Refusal::BadRequest)?;
    let s = touch(agent);
    // Only the identity of the profile the request names is ever used.
    let id = s.identities.get(key).ok_or(Refusal::NoIdentity)?;
    match decrypt_with_x25519(id, ct) {
        // The plaintext goes back to the client; the frame buffer is zeroed.
        Ok(plain) => Ok(vec![plain.to_vec()]),
        Err(VaultError::ForeignSecret) => Err(Refusal::Foreign),
        Err(_) => Err(Refusal::Tampered),
    }
}

fn reply(stream: &mut UnixStream, answer: Result<Vec<Vec<u8>>, Refusal>) -> std::io::Result<()> {
    match answer {
        Ok(fields) => {
            let fields = fields
                .into_iter()
                .map(zeroize::Zeroizing::new)
                .collect::<Vec<_>>();
            let refs: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
            write_frame(stream, 0, &refs)
        }
        Err(r) => write_frame(stream, r.code(), &[]),
    }?;
    stream.flush()
}

/// For `agent status` when nothing answers: whether a socket file is left.
pub fn stale_socket(dir: &Path) -> bool {
    dir.join(SOCKET).exists()
}
