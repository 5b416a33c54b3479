//! ssh's prompts (unknown host key, key passphrase, password) reach the
//! person, never the terminal behind the TUI and never argv or a file.
//!
//! The tunnel starts ssh with `SSH_ASKPASS` = this binary,
//! `SSH_ASKPASS_REQUIRE=force` and [`SOCKET_ENV`] naming a Unix socket in a
//! fresh 0700 directory. ssh runs `varlor "<prompt>"`; [`main_if_askpass`]
//! sends the prompt over the socket and prints the answer on stdout for ssh
//! (a pipe). The parent answers through the registered [`Prompter`]: the
//! CLI's terminal prompt, the TUI's masked overlay. With no prompter ssh runs
//! in BatchMode and fails with words instead of asking.
//!
//! Frames: u32 big-endian length + bytes. Request: one kind byte (from the
//! `SSH_ASKPASS_PROMPT` ssh sets: [`ASK`], [`CONFIRM`] for "confirm",
//! [`NOTICE`] for "none") + the prompt. Reply: one status byte (1 answer,
//! 0 refused) + the answer. A notice ("Confirm user presence for key …",
//! a hardware key waiting for a touch) is shown, never answered: ssh kills
//! that askpass when it is done, so the reply comes at once.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The environment variable naming the parent's socket.
pub const SOCKET_ENV: &str = "VARLOR_ASKPASS_SOCKET";

/// Longest prompt or answer accepted on the socket.
const MAX_FRAME: usize = 64 * 1024;

/// Request kinds: ssh asks (the prompt's text tells a yes/no from a secret),
/// asks permission (`SSH_ASKPASS_PROMPT=confirm`: yes/no), or only informs
/// (`SSH_ASKPASS_PROMPT=none`).
const ASK: u8 = b'?';
const CONFIRM: u8 = b'y';
const NOTICE: u8 = b'!';

/// What ssh asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// A yes/no question shown with its text (unknown host key: the text
    /// holds the fingerprint). Answered in the clear ("yes" / "no").
    Confirm(String),
    /// A passphrase or password: masked.
    Secret(String),
}

impl Question {
    /// Which kind of prompt ssh's text is.
    pub fn from_prompt(prompt: &str) -> Question {
        let lower = prompt.to_ascii_lowercase();
        if lower.contains("(yes/no") || lower.contains("are you sure you want to continue") {
            Question::Confirm(prompt.to_string())
        } else {
            Question::Secret(prompt.to_string())
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Question::Confirm(t) | Question::Secret(t) => t,
        }
    }
}

/// Answers ssh's questions for a front-end. `None` refuses (ssh then fails).
pub trait Prompter: Send + Sync {
    fn ask(&self, question: &Question) -> Option<SecretString>;
    /// Something to show that needs no answer (a hardware key waiting for
    /// a touch). Must not block.
    fn notify(&self, _text: &str) {}
}

static PROMPTER: RwLock<Option<Arc<dyn Prompter>>> = RwLock::new(None);
static PROGRAM: RwLock<Option<PathBuf>> = RwLock::new(None);

/// The program ssh runs as `SSH_ASKPASS`: this binary, unless set (a test
/// harness is not varlor: it points this at the varlor binary).
pub fn set_program(path: PathBuf) {
    if let Ok(mut slot) = PROGRAM.write() {
        *slot = Some(path);
    }
}

pub fn program() -> std::io::Result<PathBuf> {
    match PROGRAM.read().ok().and_then(|p| p.clone()) {
        Some(p) => Ok(p),
        None => std::env::current_exe(),
    }
}

/// Registers (or with `None` removes) the prompter of this process. Without
/// one, tunnels run ssh in BatchMode.
pub fn set_prompter(p: Option<Arc<dyn Prompter>>) {
    if let Ok(mut slot) = PROMPTER.write() {
        *slot = p;
    }
}

pub fn prompter() -> Option<Arc<dyn Prompter>> {
    PROMPTER.read().ok().and_then(|s| s.clone())
}

fn write_frame(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// The parent's end: a socket in a private directory, answered on a thread
/// until dropped.
pub struct Server {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(prompter: Arc<dyn Prompter>) -> std::io::Result<Server> {
        // A 0700 directory (before the socket exists): only this user can connect.
        let dir = tempfile::Builder::new()
            .prefix("varlor-askpass.")
            .tempdir()?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        let path = dir.path().join("s");
        let listener = UnixListener::bind(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_t = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ssh-askpass".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop_t.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(mut conn) = conn {
                        let _ = answer(&mut conn, prompter.as_ref());
                    }
                }
            })?;
        Ok(Server {
            dir: Some(dir),
            path,
            stop,
            thread: Some(thread),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.path
    }
}

fn answer(conn: &mut UnixStream, prompter: &dyn Prompter) -> std::io::Result<()> {
    let request = read_frame(conn)?;
    let (kind, prompt) = request.split_first().unwrap_or((&ASK, &[]));
    let prompt = String::from_utf8_lossy(prompt).into_owned();
    let question = match *kind {
        NOTICE => {
            prompter.notify(&prompt);
            return conn.write_all(&[0]);
        }
        CONFIRM => Question::Confirm(prompt),
        _ => Question::from_prompt(&prompt),
    };
    match prompter.ask(&question) {
        Some(secret) => {
            conn.write_all(&[1])?;
            write_frame(conn, secret.expose_secret().as_bytes())
        }
        None => conn.write_all(&[0]),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        drop(self.dir.take());
    }
}

/// Askpass mode: when this process was started by ssh as `SSH_ASKPASS`
/// (the socket variable set, one argument), ask the parent and exit with
/// ssh's convention (0 answered, 1 refused). Returns `None` otherwise.
pub fn main_if_askpass() -> Option<i32> {
    let socket = std::env::var_os(SOCKET_ENV)?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.len() > 1 {
        return None;
    }
    let prompt = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = match std::env::var("SSH_ASKPASS_PROMPT").as_deref() {
        Ok("none") => NOTICE,
        Ok("confirm") => CONFIRM,
        _ => ASK,
    };
    Some(match ask_parent(Path::new(&socket), kind, &prompt) {
        Ok(Some(answer)) => {
            let mut out = std::io::stdout().lock();
            let ok = out
                .write_all(&answer)
                .and_then(|_| out.write_all(b"\n"))
                .and_then(|_| out.flush());
            i32::from(ok.is_err())
        }
        _ => 1,
    })
}

fn ask_parent(
    socket: &Path,
    kind: u8,
    prompt: &str,
) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut conn = UnixStream::connect(socket)?;
    let mut request = Vec::with_capacity(prompt.len() + 1);
    request.push(kind);
    request.extend_from_slice(prompt.as_bytes());
    write_frame(&mut conn, &request)?;
    let mut status = [0u8; 1];
    conn.read_exact(&mut status)?;
    if status[0] != 1 {
        return Ok(None);
    }
    read_frame(&mut conn).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Canned(Mutex<Vec<Question>>, Option<&'static str>);
    impl Prompter for Canned {
        fn ask(&self, q: &Question) -> Option<SecretString> {
            self.0.lock().unwrap().push(q.clone());
            self.1.map(|a| SecretString::from(a.to_string()))
        }
        fn notify(&self, text: &str) {
            self.0
                .lock()
                .unwrap()
                .push(Question::Secret(format!("notice: {text}")));
        }
    }

    #[test]
    fn a_notice_is_shown_not_asked_and_a_permission_is_a_yes_no() {
        let p = Arc::new(Canned(Mutex::new(Vec::new()), Some("yes")));
        let server = Server::start(p.clone()).unwrap();
        let touch = "Confirm user presence for key ED25519-SK SHA256:x";
        assert!(ask_parent(server.socket(), NOTICE, touch)
            .unwrap()
            .is_none());
        let got = ask_parent(server.socket(), CONFIRM, "Allow shared connection to x? ").unwrap();
        assert_eq!(got.unwrap().as_slice(), b"yes");
        let asked = p.0.lock().unwrap().clone();
        assert_eq!(
            asked,
            [
                Question::Secret(format!("notice: {touch}")),
                Question::Confirm("Allow shared connection to x? ".into())
            ]
        );
    }

    #[test]
    fn a_prompt_goes_to_the_parent_and_its_answer_back() {
        let p = Arc::new(Canned(Mutex::new(Vec::new()), Some("s3cret")));
        let server = Server::start(p.clone()).unwrap();
        let got = ask_parent(server.socket(), ASK, "Enter passphrase for key '/k': ").unwrap();
        assert_eq!(got.unwrap().as_slice(), b"s3cret");
        let q = p.0.lock().unwrap().pop().unwrap();
        assert!(matches!(q, Question::Secret(t) if t.contains("passphrase")));
        let mode = std::fs::metadata(server.socket().parent().unwrap()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o077, 0, "private directory");
        let dir = server.socket().parent().unwrap().to_path_buf();
        drop(server);
        assert!(!dir.exists(), "the socket directory goes with the server");
    }

    #[test]
    fn a_refusal_and_a_host_key_question() {
        let p = Arc::new(Canned(Mutex::new(Vec::new()), None));
        let server = Server::start(p.clone()).unwrap();
        let text = "The authenticity of host 'x' can't be established.\nED25519 key fingerprint is SHA256:abc.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? ";
        assert!(ask_parent(server.socket(), ASK, text).unwrap().is_none());
        assert!(matches!(p.0.lock().unwrap()[0], Question::Confirm(_)));
    }
}
