//! The Varlor agent through the real binary: unlock once, then commands need
//! no passphrase; other users are refused; idle timeout, `vault lock`, a
//! killed agent, two profiles, parallel clients, rotation and `vault passwd`
//! with the agent running; the memory guard and the work factor; a canary.
//! Every test stops its agent (see `Home::drop`), and scripts/test checks
//! that no agent is left behind.
//!
//! A connection to 127.0.0.1:1 ("bogus") tells locked from unlocked without
//! a server: unlocked, the command fails at connect ("refused"); locked, it
//! fails before ("the vault is locked").

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use varlor::agent::{AgentError, Client, Refusal};

mod common;

fn binary() -> PathBuf {
    std::env::var_os("VARLOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_varlor")))
}

struct Home {
    dir: tempfile::TempDir,
    home: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let h = Home { dir, home };
        h.passphrase("pass", "first passphrase");
        h
    }

    fn passphrase(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{text}\n")).unwrap();
        p
    }

    fn pass(&self) -> PathBuf {
        self.dir.path().join("pass")
    }

    fn config(&self, text: &str) {
        let dir = self.home.join("config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// varlor with no passphrase source at all.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_LOG", "debug")
            .env("NO_COLOR", "1")
            .env_remove("VARLOR_PASSPHRASE_FILE")
            .env_remove("VARLOR_NEW_PASSPHRASE_FILE")
            .env_remove("VARLOR_NO_AGENT")
            .env_remove("VARLOR_PROFILE")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run varlor")
    }

    fn run_with(&self, pass: &Path, args: &[&str]) -> Output {
        self.cmd(args)
            .env("VARLOR_PASSPHRASE_FILE", pass)
            .output()
            .expect("run varlor")
    }

    fn run_stdin(&self, pass: &Path, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .env("VARLOR_PASSPHRASE_FILE", pass)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn socket(&self) -> PathBuf {
        self.home.join("state/agent/agent.sock")
    }

    fn client(&self) -> Client {
        Client::at(self.socket())
    }

    fn profile_dir(&self, profile: &str) -> PathBuf {
        self.home.join("data/profiles").join(profile)
    }

    fn key(&self, profile: &str) -> String {
        varlor::agent::profile_key(&self.profile_dir(profile))
    }

    fn agent_pid(&self) -> Option<u32> {
        self.client().status().ok().map(|s| s.pid)
    }

    /// A PostgreSQL-kind connection nothing listens for, with a stored password.
    fn add_bogus(&self, profile: &str, password: &str) {
        let out = self.run_stdin(
            &self.pass(),
            &[
                "--profile",
                profile,
                "add",
                "bogus",
                "--kind",
                "postgres",
                "--host",
                "127.0.0.1",
                "--port",
                "1",
                "--user",
                "u",
                "--database",
                "d",
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        ok(&out);
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let pid = self.agent_pid();
        let _ = self.run(&["agent", "stop"]);
        if let Some(pid) = pid {
            wait_gone(pid, Duration::from_secs(5));
        }
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

/// Unlocked: past the vault, failing at connect. Locked: failing before.
fn is_locked(out: &Output) -> bool {
    assert!(!out.status.success());
    let e = stderr(out);
    e.contains("the vault is locked")
}

// ------------------------------------------------------------------ tests

#[test]
fn unlock_once_then_twenty_commands_need_no_passphrase() {
    let Some(pg) = common::pg() else {
        return common::skip("no PostgreSQL test server");
    };
    let h = Home::new();
    let port = pg.port.to_string();
    let out = h.run_stdin(
        &h.pass(),
        &[
            "add",
            "pg",
            "--kind",
            "postgres",
            "--host",
            &pg.host,
            "--port",
            &port,
            "--database",
            &pg.db,
            "--user",
            &pg.user,
            "--tls",
            "disable",
            "--password-stdin",
        ],
        &format!("{}\n", pg.password),
    );
    ok(&out);
    assert!(h.agent_pid().is_some(), "the first unlock starts the agent");
    for i in 0..20 {
        let args: &[&str] = if i % 2 == 0 {
            &["test", "pg"]
        } else {
            &["tables", "pg"]
        };
        ok(&h.run(args));
    }
    // Only the first command unlocked: the audit has one unlock row.
    let audit = h.run(&["audit", "--json"]);
    ok(&audit);
    let rows: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let unlocks = rows
        .as_array()
        .map(|a| a.iter().filter(|r| r["action"] == "unlock").count())
        .unwrap_or(0);
    let inits = rows
        .as_array()
        .map(|a| a.iter().filter(|r| r["action"] == "vault-init").count())
        .unwrap_or(0);
    assert_eq!(unlocks + inits, 1, "{rows}");
}

#[test]
fn parallel_commands_share_one_agent() {
    let Some(pg) = common::pg() else {
        return common::skip("no PostgreSQL test server");
    };
    let h = Home::new();
    let port = pg.port.to_string();
    ok(&h.run_stdin(
        &h.pass(),
        &[
            "add",
            "pg",
            "--kind",
            "postgres",
            "--host",
            &pg.host,
            "--port",
            &port,
            "--database",
            &pg.db,
            "--user",
            &pg.user,
            "--tls",
            "disable",
            "--password-stdin",
        ],
        &format!("{}\n", pg.password),
    ));
    let children: Vec<_> = (0..10)
        .map(|_| {
            h.cmd(&["test", "pg"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
}

#[test]
fn another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return common::skip("needs root to run a client as nobody");
    }
    let h = Home::new();
    h.add_bogus("default", "pw");
    let pid = h.agent_pid().expect("agent running");
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("setpriv")
    };
    // 1. As set up: the directory (0700) keeps nobody out.
    let probe = |who_is_root: bool| -> Vec<u8> {
        let script = format!(
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect({:?})\nexcept OSError as e:\n sys.stdout.write('connect-error'); sys.exit(0)\ntry:\n s.sendall(b'\\x00\\x00\\x00\\x01\\x06')\n d = s.recv(4096)\nexcept OSError:\n d = b''\nsys.stdout.buffer.write(d or b'EOF')\n",
            h.socket().display().to_string()
        );
        let out = if who_is_root {
            Command::new("/usr/bin/python3")
                .args(["-c", &script])
                .output()
        } else {
            Ok(as_nobody(&["/usr/bin/python3", "-c", &script]))
        }
        .expect("python3");
        out.stdout
    };
    assert_eq!(probe(false), b"connect-error");
    // 2. Permissions opened on purpose: SO_PEERCRED still refuses nobody.
    use std::os::unix::fs::PermissionsExt;
    let mut p = h.socket();
    while p.pop() && p.starts_with(h.dir.path()) {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(h.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(probe(false), b"EOF", "the agent answered another uid");
    let root = probe(true);
    assert_eq!(
        root.first().copied(),
        Some(0),
        "root gets no answer: {root:?}"
    );
    // nobody's varlor gets no password either (its profile is not readable).
    let out = as_nobody(&[&binary().display().to_string(), "agent", "status"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("holds"));
    assert!(alive(pid), "the agent survives refused clients");
    std::fs::set_permissions(
        h.socket().parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
}

#[test]
fn idle_timeout_forgets_and_ends_the_agent() {
    let h = Home::new();
    h.config("agent_timeout_secs = 2\n");
    h.add_bogus("default", "pw");
    let pid = h.agent_pid().expect("agent running");
    assert!(!is_locked(&h.run(&["test", "bogus"])));
    assert!(
        wait_gone(pid, Duration::from_secs(8)),
        "agent still running"
    );
    assert!(!h.socket().exists(), "socket left behind");
    assert!(is_locked(&h.run(&["test", "bogus"])));
}

#[test]
fn vault_lock_forgets_every_identity() {
    let h = Home::new();
    h.add_bogus("default", "pw");
    h.add_bogus("other", "pw2");
    assert_eq!(h.client().status().unwrap().profiles.len(), 2);
    assert!(!is_locked(&h.run(&["test", "bogus"])));
    let out = h.run(&["vault", "lock"]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("forgot 2"));
    assert!(h.client().status().unwrap().profiles.is_empty());
    assert!(is_locked(&h.run(&["test", "bogus"])));
    assert!(is_locked(&h.run(&["--profile", "other", "test", "bogus"])));
    // 0 = never start or use an agent.
    h.config("agent_timeout_secs = 0\n");
    assert!(!is_locked(&h.run_with(&h.pass(), &["test", "bogus"])));
    assert!(h.client().status().unwrap().profiles.is_empty());
}

#[test]
fn a_killed_agent_falls_back_cleanly() {
    let h = Home::new();
    h.add_bogus("default", "pw");
    let pid = h.agent_pid().expect("agent running");
    // SAFETY: kill(2) on the agent this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(wait_gone(pid, Duration::from_secs(5)));
    let started = Instant::now();
    let out = h.run(&["test", "bogus"]);
    assert!(is_locked(&out), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    // A passphrase unlocks as before and starts a new agent.
    assert!(!is_locked(&h.run_with(&h.pass(), &["test", "bogus"])));
    let new = h.agent_pid().expect("a new agent");
    assert_ne!(new, pid);
    assert!(!is_locked(&h.run(&["test", "bogus"])));
}

#[test]
fn two_profiles_stay_apart() {
    let h = Home::new();
    h.add_bogus("a", "password-a");
    let pass_b = h.passphrase("pass-b", "second passphrase");
    // Profile b has its own vault (and passphrase).
    let out = h.run_stdin(
        &pass_b,
        &[
            "--profile",
            "b",
            "add",
            "bogus",
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--user",
            "u",
            "--database",
            "d",
            "--password-stdin",
        ],
        "password-b\n",
    );
    ok(&out);
    let status = h.client().status().unwrap();
    assert_eq!(status.profiles, {
        let mut v = vec![h.key("a"), h.key("b")];
        v.sort();
        v
    });
    let secret_of = |p: &str| {
        varlor::store::Catalog::open(&h.profile_dir(p).join("catalog.db"))
            .unwrap()
            .secret("bogus")
            .unwrap()
            .unwrap()
            .0
    };
    let (ct_a, ct_b) = (secret_of("a"), secret_of("b"));
    let c = h.client();
    assert!(c.decrypt(&h.key("a"), &ct_a).is_ok());
    assert!(c.decrypt(&h.key("b"), &ct_b).is_ok());
    // b's identity never opens a's secret, whoever asks.
    assert!(matches!(
        c.decrypt(&h.key("b"), &ct_a),
        Err(AgentError::Refused(Refusal::Foreign))
    ));
    assert!(matches!(
        c.decrypt(&h.key("a"), &ct_b),
        Err(AgentError::Refused(Refusal::Foreign))
    ));
    // A profile the agent holds nothing for gets nothing.
    assert!(matches!(
        c.decrypt(&h.key("c"), &ct_a),
        Err(AgentError::Refused(Refusal::NoIdentity))
    ));
    assert!(!is_locked(&h.run(&["--profile", "a", "test", "bogus"])));
    assert!(!is_locked(&h.run(&["--profile", "b", "test", "bogus"])));
}

#[test]
fn rotation_and_passwd_keep_the_agent_current() {
    let h = Home::new();
    h.add_bogus("default", "pw");
    let recipients =
        || std::fs::read_to_string(h.profile_dir("default").join("recipients.txt")).unwrap();
    let held = || h.client().public_key(&h.key("default")).unwrap();
    let before = held().expect("held");
    assert!(recipients().contains(&before));
    // rotate needs the passphrase even with the agent running.
    let out = h.run(&["vault", "rotate"]);
    assert!(is_locked(&out));
    let pass2 = h.passphrase("pass2", "second passphrase");
    let out = h
        .cmd(&["vault", "rotate"])
        .env("VARLOR_PASSPHRASE_FILE", h.pass())
        .env("VARLOR_NEW_PASSPHRASE_FILE", &pass2)
        .output()
        .unwrap();
    ok(&out);
    let after = held().expect("the agent holds the new identity");
    assert_ne!(before, after);
    assert!(recipients().contains(&after) && !recipients().contains(&before));
    assert!(!is_locked(&h.run(&["test", "bogus"])));
    // passwd: same key, new passphrase; the agent keeps the (current) identity.
    let pass3 = h.passphrase("pass3", "third passphrase");
    let out = h
        .cmd(&["vault", "passwd"])
        .env("VARLOR_PASSPHRASE_FILE", &pass2)
        .env("VARLOR_NEW_PASSPHRASE_FILE", &pass3)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(held().as_deref(), Some(after.as_str()));
    assert!(!is_locked(&h.run(&["test", "bogus"])));
    // A rotation made without the agent: the agent's identity is stale and
    // is forgotten at its next use, never used.
    let pass4 = h.passphrase("pass4", "fourth passphrase");
    let out = h
        .cmd(&["vault", "rotate"])
        .env("VARLOR_NO_AGENT", "1")
        .env("VARLOR_PASSPHRASE_FILE", &pass3)
        .env("VARLOR_NEW_PASSPHRASE_FILE", &pass4)
        .output()
        .unwrap();
    ok(&out);
    assert!(is_locked(&h.run(&["test", "bogus"])));
    assert_eq!(held(), None);
    // Old passphrases are gone, the new one works.
    let out = h.run_with(&pass2, &["test", "bogus"]);
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );
    assert!(!is_locked(&h.run_with(&pass4, &["test", "bogus"])));
}

#[test]
fn memory_guard_refuses_before_unlocking() {
    let h = Home::new();
    h.add_bogus("default", "pw");
    ok(&h.run(&["vault", "lock"]));
    let identity = h.profile_dir("default").join("identity.age");
    let before = std::fs::read(&identity).unwrap();
    let out = h
        .cmd(&["test", "bogus"])
        .env("VARLOR_PASSPHRASE_FILE", h.pass())
        // Work factor 10 needs 1 MiB.
        .env("VARLOR_TEST_MEMORY_LIMIT_BYTES", (1u64 << 19).to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("needs 1 MiB"), "{e}");
    assert!(e.contains("scrypt work factor 10"), "{e}");
    assert!(e.contains("vault passwd --work-factor"), "{e}");
    assert_eq!(
        std::fs::read(&identity).unwrap(),
        before,
        "identity.age changed"
    );
    assert!(h.client().status().unwrap().profiles.is_empty());
    // Doctor says the same.
    let out = h
        .cmd(&["doctor"])
        .env("VARLOR_TEST_MEMORY_LIMIT_BYTES", "1024")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("unlocking is refused here"));
}

#[test]
fn work_factor_is_chosen_shown_and_lowered_by_passwd() {
    let h = Home::new();
    let out = h
        .cmd(&["vault", "init", "--work-factor", "19"])
        .env("VARLOR_PASSPHRASE_FILE", h.pass())
        .env("VARLOR_NO_AGENT", "1")
        .output()
        .unwrap();
    ok(&out);
    let status = h.run(&["vault", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["work_factor"], 19);
    assert_eq!(v["unlock_memory_bytes"], 512u64 << 20);
    let doctor = String::from_utf8_lossy(&h.run(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("above the default 18"), "{doctor}");
    assert!(doctor.contains("vault passwd --work-factor 18"), "{doctor}");
    let out = h
        .cmd(&["vault", "passwd", "--work-factor", "18"])
        .env("VARLOR_PASSPHRASE_FILE", h.pass())
        .env("VARLOR_NEW_PASSPHRASE_FILE", h.pass())
        .env("VARLOR_NO_AGENT", "1")
        .output()
        .unwrap();
    ok(&out);
    let status = h.run(&["vault", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["work_factor"], 18);
    // Out of range is a usage error.
    let out = h.run(&["vault", "passwd", "--work-factor", "30"]);
    assert_eq!(out.status.code(), Some(2));
    // Default for new vaults without the test knob: 18.
    let h2 = Home::new();
    let out = h2
        .cmd(&["vault", "init"])
        .env_remove("VARLOR_SCRYPT_WORK_FACTOR")
        .env("VARLOR_PASSPHRASE_FILE", h2.pass())
        .env("VARLOR_NO_AGENT", "1")
        .output()
        .unwrap();
    ok(&out);
    let status = h2.run(&["vault", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["work_factor"], 18);
}

#[test]
fn canary_with_the_agent_running() {
    let h = Home::new();
    let canary = format!(
        "CANARYAGENT{}{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    h.add_bogus("default", &canary);
    for _ in 0..3 {
        assert!(!is_locked(&h.run(&["test", "bogus"])));
    }
    let pid = h.agent_pid().expect("agent running");
    let passphrase = "first passphrase";
    let forbidden = [canary.as_str(), passphrase, "AGE-SECRET-KEY-"];
    // The agent's argv and environment.
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{what}")).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for f in forbidden {
            assert!(!text.contains(f), "{what} of the agent holds a secret");
        }
        assert!(!text.contains("VARLOR_PASSPHRASE_FILE"), "{what}: {text}");
    }
    // The identities' memory is locked (mlock).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.contains("VmLck:") && !status.contains("VmLck:\t       0 kB"),
        "{status}"
    );
    // Every file under the home: socket dir, logs, catalog, vault.
    let mut files = Vec::new();
    walk(&h.home, &mut files);
    assert!(files
        .iter()
        .any(|f| f.starts_with(h.home.join("state/agent"))));
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for s in forbidden {
            assert!(!text.contains(s), "{} holds a secret", f.display());
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}
