//! kill -9 in the middle of saving and of rotating, many times: the catalog
//! and the vault must always open afterwards, and every secret must decrypt
//! with exactly one of the two passphrases (the old or the new), never a mix.
//!
//! The child is this test binary re-executed with `VARLOR_CRASH_CHILD` set,
//! running the ignored `crash_child` entry point, which loops forever until
//! the parent kills it after a random short delay.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use varlor::connectors::{ConnSpec, Environment, Kind, PasswordSource};
use varlor::profile::{Profile, ProfileError};
use varlor::store::vault::Recovery;
use varlor::store::{Catalog, NewConnection, Paths, Vault, VaultError};

const PROFILE: &str = "crash";
const PASS_A: &str = "passphrase-A";
const PASS_B: &str = "passphrase-B";
const KILLS: usize = 20;
/// Secrets in the profile: enough that re-encrypting them takes a while,
/// widening the window a random kill must hit.
const SEEDED: usize = 40;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn open(home: &Path) -> Profile {
    let mut p = Profile::open_at(Paths::under(home, PROFILE)).expect("profile opens");
    p.vault.set_work_factor(10);
    p
}

fn conn(name: &str) -> NewConnection {
    let mut spec = ConnSpec::new(Kind::Mysql);
    spec.user = "app".into();
    spec.database = "shop".into();
    NewConnection {
        name: name.into(),
        spec,
        environment: Environment::Production,
        password_source: PasswordSource::Vault,
    }
}

/// Small deterministic PRNG (xorshift) seeded from the clock; the seed is printed.
struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9)
            | 1;
        eprintln!("crash-safety seed: {seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The passphrase that opens the vault now, and the other one.
fn current_pair(p: &Profile) -> (&'static str, &'static str) {
    match p.vault.unlock(&secret(PASS_A)) {
        Ok(_) => (PASS_A, PASS_B),
        Err(_) => (PASS_B, PASS_A),
    }
}

/// Child: loops saving (add / replace password / delete) forever.
fn child_save(home: &Path) -> ! {
    let mut p = open(home);
    std::fs::write(home.join("ready"), b"").expect("ready file");
    let mut i: u64 = 0;
    loop {
        let name = format!("s{}", i % 40);
        let password = secret(&format!("pw-{name}-{i}"));
        match p.get(&name) {
            Ok(_) if i.is_multiple_of(5) => p.remove(&name).expect("remove"),
            Ok(_) => {
                p.edit(&name, conn(&name), Some(Some(password)))
                    .expect("edit");
            }
            Err(_) => {
                p.add(conn(&name), Some(password)).expect("add");
            }
        }
        i += 1;
    }
}

/// Child: rotates to the other passphrase forever, reopening the profile
/// (and so running its recovery) every few rounds.
fn child_rotate(home: &Path) -> ! {
    std::fs::write(home.join("ready"), b"").expect("ready file");
    loop {
        let mut p = open(home);
        let (mut now, mut next) = current_pair(&p);
        p.unlock(&secret(now)).expect("unlock");
        for _ in 0..4 {
            p.rotate(&secret(next)).expect("rotate");
            std::mem::swap(&mut now, &mut next);
        }
    }
}

#[test]
#[ignore = "child process of the crash-safety tests (run by them, never alone)"]
fn crash_child() {
    let Some(mode) = std::env::var_os("VARLOR_CRASH_CHILD") else {
        eprintln!("crash_child only runs as a child of the crash-safety tests");
        return;
    };
    let home = PathBuf::from(std::env::var_os("VARLOR_CRASH_HOME").expect("VARLOR_CRASH_HOME"));
    // Crash points abort(): no core files, please.
    #[cfg(unix)]
    unsafe {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscall on a valid struct.
        libc::setrlimit(libc::RLIMIT_CORE, &none);
    }
    match mode.to_str() {
        Some("save") => child_save(&home),
        Some("rotate") => child_rotate(&home),
        other => panic!("unknown child mode {other:?}"),
    }
}

/// Seeds a profile: vault with PASS_A and a few secrets.
fn seed(home: &Path) {
    let mut p = open(home);
    p.init_vault(&secret(PASS_A)).unwrap();
    for i in 0..SEEDED {
        let name = format!("seed{i}");
        p.add(conn(&name), Some(secret(&format!("pw-{name}"))))
            .unwrap();
    }
}

/// Runs the child in rotate mode with a crash point armed; it must die there.
fn run_until_crash_point(home: &Path, point: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env("VARLOR_CRASH_CHILD", "rotate")
        .env("VARLOR_CRASH_HOME", home)
        .env(varlor::store::CRASH_AT_ENV, point)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run child");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "child did not crash at {point}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    #[cfg(not(unix))]
    assert!(!out.status.success());
}

/// Runs the child in `mode`, kills it (SIGKILL) after a random delay.
fn run_and_kill(home: &Path, mode: &str, delay: Duration) {
    let _ = std::fs::remove_file(home.join("ready"));
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env("VARLOR_CRASH_CHILD", mode)
        .env("VARLOR_CRASH_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let started = Instant::now();
    while !home.join("ready").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("child exited early ({status}): {err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "child never became ready"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(delay);
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        panic!("child stopped before the kill ({status}): {err}");
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap child");
}

/// After a crash: recovery, integrity, exactly one passphrase, every secret readable.
fn verify(home: &Path) -> Recovery {
    let paths = Paths::under(home, PROFILE);
    let cat = Catalog::open(&paths.catalog()).expect("catalog opens after a crash");
    assert!(cat.integrity_ok().unwrap(), "catalog integrity");
    let recovery = Vault::new(&paths.profile_dir)
        .recover(&cat)
        .expect("vault recovery");
    assert_ne!(
        recovery,
        Recovery::Mismatch,
        "key files and catalog disagree"
    );
    drop(cat);

    let mut p = open(home);
    let a = p.vault.unlock(&secret(PASS_A));
    let b = p.vault.unlock(&secret(PASS_B));
    let pass = match (&a, &b) {
        (Ok(_), Err(VaultError::WrongPassphrase)) => PASS_A,
        (Err(VaultError::WrongPassphrase), Ok(_)) => PASS_B,
        _ => panic!(
            "exactly one passphrase must open the vault: A={:?} B={:?}",
            a.as_ref().err().map(|e| e.to_string()),
            b.as_ref().err().map(|e| e.to_string())
        ),
    };
    p.unlock(&secret(pass)).unwrap();
    let version = p.vault.key_version().unwrap();
    assert_eq!(p.catalog.vault_key_version().unwrap(), Some(version));

    let list = p.list().unwrap();
    let mut seeded = 0;
    for c in list.iter().filter(|c| c.has_secret) {
        assert_eq!(c.key_version, version, "{} has a stale key version", c.name);
        let pw = match p.resolve_password(c, None) {
            Ok(Some(pw)) => pw,
            Ok(None) => panic!("{}: secret vanished", c.name),
            Err(ProfileError::Vault(e)) => panic!("{}: unreadable after crash: {e}", c.name),
            Err(e) => panic!("{}: {e}", c.name),
        };
        assert!(
            pw.expose_secret().starts_with(&format!("pw-{}", c.name)),
            "{}: wrong secret",
            c.name
        );
        if c.name.starts_with("seed") {
            seeded += 1;
        }
    }
    assert_eq!(seeded, SEEDED, "a seeded secret was lost");
    let leftovers: Vec<String> = std::fs::read_dir(&p.paths.profile_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".next") || n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "leftovers after open: {leftovers:?}");
    recovery
}

fn crash_loop(mode: &str, max_delay_ms: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    seed(home);
    let mut rng = Rng::new();
    let (mut finished, mut rolled_back, mut clean) = (0, 0, 0);
    for round in 0..KILLS {
        let delay = Duration::from_millis(rng.below(max_delay_ms));
        run_and_kill(home, mode, delay);
        match verify(home) {
            Recovery::Finished(_) => finished += 1,
            Recovery::RolledBack => rolled_back += 1,
            Recovery::Clean => clean += 1,
            Recovery::Mismatch => unreachable!("checked in verify"),
        }
        eprintln!("{mode} round {round}: killed after {delay:?}, verified");
    }
    let p = open(home);
    let counts = p.catalog.counts().unwrap();
    eprintln!(
        "{mode}: {KILLS} kills; recoveries: {finished} finished, {rolled_back} rolled back, \
         {clean} clean; {} connections, key version {}",
        counts.connections,
        p.vault.key_version().unwrap()
    );
}

#[test]
fn kill_9_while_saving() {
    crash_loop("save", 600);
}

/// Deterministic crashes at each step of the rotation protocol: before the
/// catalog commits the old key must win, after it the new one.
#[test]
fn crash_at_each_rotation_step() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    seed(home);
    for round in 0..2 {
        for (point, expect_new) in [
            ("rotate:prepared", false),
            ("rotate:committed", true),
            ("rotate:identity-renamed", true),
        ] {
            let before = {
                let p = open(home);
                let pair = current_pair(&p);
                (pair, p.vault.key_version().unwrap())
            };
            run_until_crash_point(home, point);
            let recovery = verify(home);
            let p = open(home);
            let (now, _) = current_pair(&p);
            let version = p.vault.key_version().unwrap();
            if expect_new {
                assert_eq!(recovery, Recovery::Finished(before.1 + 1), "{point}");
                assert_eq!(now, before.0 .1, "{point}: new passphrase");
                assert_eq!(version, before.1 + 1);
            } else {
                assert_eq!(recovery, Recovery::RolledBack, "{point}");
                assert_eq!(now, before.0 .0, "{point}: old passphrase");
                assert_eq!(version, before.1);
            }
            eprintln!("round {round}: crash at {point}: {recovery:?}, verified");
        }
    }
}

#[test]
fn kill_9_while_rotating() {
    crash_loop("rotate", 1500);
}
