//! A stored password belongs to the target it was saved for.
//!
//! - Edits through the CLI that change the engine, host, port, user or
//!   database drop the stored password unless `--keep-password`; a fake
//!   PostgreSQL server records every password it is offered, so "the old
//!   password never reaches a new target" is observed on the wire.
//! - Edits never weaken TLS unless asked, and say so when asked.
//! - The last test status is reset by a target change.
//! - A ciphertext moved to another row, another profile, or left under a
//!   hand-edited host is refused; an old (unbound) vault is migrated.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use varlor::connectors::{ConnSpec, Environment, Kind, PasswordSource};
use varlor::profile::{Profile, ProfileError};
use varlor::store::{NewConnection, Paths};

// ------------------------------------------------------------ fake server

/// What a client sent to the fake server: user, database, password.
#[derive(Debug, Clone, PartialEq)]
struct Offer {
    user: String,
    database: String,
    password: String,
}

/// A PostgreSQL-protocol listener that asks for a cleartext password,
/// records it and refuses the login (28P01). Not a database: it only proves
/// which password a client sent where.
struct FakePg {
    port: u16,
    offers: Arc<Mutex<Vec<Offer>>>,
}

impl FakePg {
    fn start() -> FakePg {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let offers = Arc::new(Mutex::new(Vec::new()));
        let seen = offers.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen);
                });
            }
        });
        FakePg { port, offers }
    }

    fn passwords(&self) -> Vec<String> {
        self.offers
            .lock()
            .unwrap()
            .iter()
            .map(|o| o.password.clone())
            .collect()
    }
}

fn read_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    let mut body = vec![0u8; n.saturating_sub(4)];
    s.read_exact(&mut body)?;
    Ok(body)
}

fn serve(mut s: TcpStream, seen: &Mutex<Vec<Offer>>) -> std::io::Result<()> {
    let mut startup = read_message(&mut s)?;
    if startup.len() == 4 && startup[..4] == 80877103u32.to_be_bytes() {
        s.write_all(b"N")?; // no TLS here
        startup = read_message(&mut s)?;
    }
    let params: Vec<String> = startup[4..]
        .split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let param = |k: &str| {
        params
            .iter()
            .position(|p| p == k)
            .and_then(|i| params.get(i + 1).cloned())
            .unwrap_or_default()
    };
    // AuthenticationCleartextPassword
    s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
    let mut tag = [0u8; 1];
    s.read_exact(&mut tag)?;
    let body = read_message(&mut s)?;
    if tag[0] == b'p' {
        let password = String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or(&[]));
        seen.lock().unwrap().push(Offer {
            user: param("user"),
            database: param("database"),
            password: password.into_owned(),
        });
    }
    let mut fields = Vec::new();
    for (code, text) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28P01"),
        (b'M', "password authentication failed"),
    ] {
        fields.push(code);
        fields.extend_from_slice(text.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(&fields);
    s.write_all(&msg)
}

// ------------------------------------------------------------ CLI harness

struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    pass_file: PathBuf,
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).expect("mkdir");
        let pass_file = dir.path().join("passphrase");
        std::fs::write(&pass_file, "pass phrase\n").expect("write");
        Home {
            _dir: dir,
            home,
            pass_file,
        }
    }

    fn run(&self, args: &[&str], stdin: &str) -> Run {
        let o = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"))
            .args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_PASSPHRASE_FILE", &self.pass_file)
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env("NO_COLOR", "1")
            .env_remove("VARLOR_PROFILE")
            .timeout(std::time::Duration::from_secs(60))
            .write_stdin(stdin.to_string())
            .output()
            .expect("run varlor");
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn ok(&self, args: &[&str], stdin: &str) -> Run {
        let r = self.run(args, stdin);
        assert_eq!(r.code, 0, "{args:?}\n{}\n{}", r.out, r.err);
        r
    }

    fn conn(&self, name: &str) -> Value {
        let r = self.ok(&["list", "--json"], "");
        let list: Value = serde_json::from_str(&r.out).expect("json");
        list.as_array()
            .expect("array")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    }

    /// A PostgreSQL connection to the fake, password "old-secret".
    fn add(&self, name: &str, port: u16) {
        self.ok(
            &[
                "add",
                name,
                "--kind",
                "postgres",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--database",
                "app",
                "--user",
                "bob",
                "--tls",
                "disable",
                "--password-stdin",
            ],
            "old-secret\n",
        );
    }
}

const OLD: &str = "old-secret";

/// Each target-changing edit, as CLI flags (the fake at `other` is a second server).
fn target_edits(other: u16) -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("host", vec!["--host".into(), "localhost".into()]),
        ("port", vec!["--port".into(), other.to_string()]),
        ("user", vec!["--user".into(), "mallory".into()]),
        ("database", vec!["--database".into(), "other".into()]),
    ]
}

#[test]
fn a_target_change_drops_the_stored_password_unless_kept() {
    let (a, b) = (FakePg::start(), FakePg::start());
    let h = Home::new();

    // The fake works: a saved connection offers its password to its own target.
    h.add("sanity", a.port);
    h.run(&["test", "sanity"], "");
    assert_eq!(a.passwords(), vec![OLD.to_string()]);
    a.offers.lock().unwrap().clear();

    for (field, flags) in target_edits(b.port) {
        let name = format!("drop-{field}");
        h.add(&name, a.port);
        let mut args = vec!["edit", name.as_str()];
        args.extend(flags.iter().map(String::as_str));
        let r = h.ok(&args, "");
        assert!(r.out.contains("password was dropped"), "{field}: {}", r.out);
        assert!(r.out.contains(field), "{field}: names the field: {}", r.out);
        assert_eq!(h.conn(&name)["has_secret"], false, "{field}");
        h.run(&["test", &name], "");
        let offered: Vec<String> = a.passwords().into_iter().chain(b.passwords()).collect();
        assert!(
            !offered.iter().any(|p| p == OLD),
            "{field}: the old password reached a new target: {offered:?}"
        );
    }

    // --keep-password: the person said so; the password follows, re-bound.
    for (field, flags) in target_edits(b.port) {
        a.offers.lock().unwrap().clear();
        b.offers.lock().unwrap().clear();
        let name = format!("keep-{field}");
        h.add(&name, a.port);
        let mut args = vec!["edit", name.as_str(), "--keep-password"];
        args.extend(flags.iter().map(String::as_str));
        let r = h.ok(&args, "");
        assert!(
            r.out.contains("kept for the new target"),
            "{field}: {}",
            r.out
        );
        assert_eq!(h.conn(&name)["has_secret"], true, "{field}");
        h.run(&["test", &name], "");
        let offered: Vec<String> = a.passwords().into_iter().chain(b.passwords()).collect();
        assert_eq!(offered, vec![OLD.to_string()], "{field}");
    }

    // The engine too.
    h.add("drop-engine", a.port);
    let r = h.ok(&["edit", "drop-engine", "--kind", "mysql"], "");
    assert!(r.out.contains("engine"), "{}", r.out);
    assert_eq!(h.conn("drop-engine")["has_secret"], false);

    // A new password given with the edit goes to the new target.
    b.offers.lock().unwrap().clear();
    h.add("retyped", a.port);
    let port = b.port.to_string();
    h.ok(
        &["edit", "retyped", "--port", &port, "--password-stdin"],
        "new-secret\n",
    );
    h.run(&["test", "retyped"], "");
    assert_eq!(b.passwords(), vec!["new-secret".to_string()]);
}

#[test]
fn edits_never_weaken_tls_silently_and_reset_the_last_test() {
    let fake = FakePg::start();
    let h = Home::new();
    let ca = h.home.parent().unwrap().join("ca.pem");
    std::fs::write(&ca, "not checked until connect\n").unwrap();
    let port = fake.port.to_string();
    h.ok(
        &[
            "add",
            "tls",
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--database",
            "app",
            "--user",
            "bob",
            "--tls",
            "verify-full",
            "--ca-file",
        ]
        .into_iter()
        .chain([ca.to_str().unwrap(), "--no-password"])
        .collect::<Vec<_>>(),
        "",
    );
    h.run(&["test", "tls"], "");
    assert!(!h.conn("tls")["last_test"].is_null(), "a test was recorded");

    // The URL `list` shows carries no CA: pasting it back keeps TLS as it was.
    let url = h.conn("tls")["url"].as_str().unwrap().to_string();
    let r = h.ok(&["edit", "tls", "--url", &url], "");
    assert!(!r.out.contains("weakened"), "{}", r.out);
    let c = h.conn("tls");
    assert_eq!(c["tls"], "verify-full");
    assert_eq!(c["ca_file"], ca.display().to_string());

    // A URL naming another host: the target changed, TLS still kept, status reset.
    let moved = format!("postgres://bob@localhost:{port}/app");
    let r = h.ok(&["edit", "tls", "--url", &moved], "");
    assert!(r.out.contains("last test result was reset"), "{}", r.out);
    let c = h.conn("tls");
    assert_eq!(c["tls"], "verify-full");
    assert_eq!(c["ca_file"], ca.display().to_string());
    assert!(c["last_test"].is_null(), "{c}");

    // Asked for explicitly: allowed, and said.
    let r = h.ok(&["edit", "tls", "--tls", "prefer"], "");
    assert!(
        r.out.contains("TLS weakened from verify-full to prefer"),
        "{}",
        r.out
    );
    let r = h.ok(
        &["edit", "tls", "--url", &format!("{moved}?sslmode=disable")],
        "",
    );
    assert!(
        r.out.contains("TLS weakened from prefer to disable"),
        "{}",
        r.out
    );
    assert_eq!(h.conn("tls")["ca_file"], Value::Null);
}

// ------------------------------------------------------------ binding

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn open(home: &Path, profile: &str) -> Profile {
    let mut p = Profile::open_at(Paths::under(home, profile)).expect("open profile");
    p.set_work_factor(10);
    p
}

fn pg(name: &str, host: &str) -> NewConnection {
    let mut spec = ConnSpec::new(Kind::Postgres);
    spec.host = host.into();
    spec.user = "app".into();
    spec.database = "shop".into();
    NewConnection {
        name: name.into(),
        spec,
        environment: Environment::None,
        password_source: PasswordSource::Vault,
    }
}

fn ciphertext(p: &Profile, name: &str) -> Vec<u8> {
    p.catalog().secret(name).unwrap().expect("a secret").0
}

fn put_ciphertext(p: &Profile, name: &str, ct: &[u8]) {
    let n = p
        .catalog()
        .connection()
        .execute(
            "UPDATE connections SET secret = ?2 WHERE name = ?1",
            rusqlite::params![name, ct],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[track_caller]
fn assert_misbound(p: &Profile, name: &str, expected_why: &str) {
    let c = p.get(name).unwrap();
    match p.resolve_password(&c, None) {
        Err(ProfileError::SecretMisbound { why, .. }) => {
            assert!(why.contains(expected_why), "{why}")
        }
        Err(e) => panic!("expected the tamper error, got {e}"),
        Ok(pw) => panic!(
            "a moved secret was accepted: {:?}",
            pw.map(|p| p.expose_secret().to_string())
        ),
    }
}

#[test]
fn a_secret_copied_to_another_row_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path(), "default");
    p.init_vault(&secret("pp")).unwrap();
    p.add(pg("prod", "prod.db"), Some(secret("prod-pw")))
        .unwrap();
    p.add(pg("evil", "evil.example"), Some(secret("evil-pw")))
        .unwrap();
    let prod_ct = ciphertext(&p, "prod");
    put_ciphertext(&p, "evil", &prod_ct);
    assert_misbound(&p, "evil", "another connection");
    // The error names neither password.
    let e = p
        .resolve_password(&p.get("evil").unwrap(), None)
        .unwrap_err()
        .to_string();
    assert!(!e.contains("prod-pw") && !e.contains("evil-pw"), "{e}");
    // The original still opens.
    let prod = p.get("prod").unwrap();
    let pw = p.resolve_password(&prod, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "prod-pw");
}

#[test]
fn a_host_edited_outside_varlor_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path(), "default");
    p.init_vault(&secret("pp")).unwrap();
    p.add(pg("prod", "prod.db"), Some(secret("prod-pw")))
        .unwrap();
    p.catalog()
        .connection()
        .execute(
            "UPDATE connections SET host = 'evil.example' WHERE name = 'prod'",
            [],
        )
        .unwrap();
    assert_misbound(&p, "prod", "host");
}

#[test]
fn a_secret_copied_between_profiles_sharing_a_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = open(tmp.path(), "alpha");
    a.init_vault(&secret("pp")).unwrap();
    a.add(pg("db", "same.host"), Some(secret("alpha-pw")))
        .unwrap();
    let ct = ciphertext(&a, "db");
    // Profile beta has the same key files (same recipient, same identity).
    let mut b = open(tmp.path(), "beta");
    for f in ["identity.age", "recipients.txt"] {
        std::fs::copy(a.paths.profile_dir.join(f), b.paths.profile_dir.join(f)).unwrap();
    }
    b.add(pg("db", "same.host"), None).unwrap();
    drop(b);
    let mut b = open(tmp.path(), "beta");
    b.unlock(&secret("pp")).unwrap();
    assert_eq!(
        b.get("db").unwrap().id,
        a.get("db").unwrap().id,
        "same row id"
    );
    put_ciphertext(&b, "db", &ct);
    assert_misbound(&b, "db", "another profile");
}

#[test]
fn an_unbound_vault_is_migrated_at_unlock_and_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path(), "default");
    p.init_vault(&secret("pp")).unwrap();
    p.add(pg("old", "old.db"), None).unwrap();
    p.add(pg("other", "other.db"), None).unwrap();
    // What a vault written before binding holds: the bare password.
    let (legacy, _) = p.vault().encrypt_versioned(&secret("legacy-pw")).unwrap();
    put_ciphertext(&p, "old", &legacy);
    p.catalog()
        .connection()
        .execute("DELETE FROM settings WHERE key = 'secrets_bound'", [])
        .unwrap();
    drop(p);

    let mut p = open(tmp.path(), "default");
    p.unlock(&secret("pp")).unwrap();
    let old = p.get("old").unwrap();
    let pw = p.resolve_password(&old, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "legacy-pw");
    assert_ne!(
        ciphertext(&p, "old"),
        legacy,
        "re-encrypted with its binding"
    );
    // Now bound: moving it is refused, and so is an unbound secret.
    let migrated = ciphertext(&p, "old");
    put_ciphertext(&p, "other", &migrated);
    assert_misbound(&p, "other", "another connection");
    put_ciphertext(&p, "other", &legacy);
    assert_misbound(&p, "other", "no binding");
}

#[test]
fn renaming_keeps_the_secret_and_a_locked_keep_asks_for_the_unlock() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path(), "default");
    p.init_vault(&secret("pp")).unwrap();
    p.add(pg("a", "a.db"), Some(secret("pw"))).unwrap();
    drop(p);
    let mut p = open(tmp.path(), "default");
    // Rename only: same target, kept without unlocking.
    p.edit("a", pg("b", "a.db"), None).unwrap();
    // Keeping it for a new host re-binds it: that needs the key.
    assert!(matches!(
        p.edit_keeping("b", pg("b", "new.db"), None, true),
        Err(ProfileError::Locked)
    ));
    assert!(p.get("b").unwrap().has_secret, "nothing changed");
    p.unlock(&secret("pp")).unwrap();
    let saved = p.edit_keeping("b", pg("b", "new.db"), None, true).unwrap();
    assert_eq!(saved.spec.host, "new.db");
    let pw = p.resolve_password(&saved, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "pw");
    // The form's Test path: only for the saved target.
    assert!(matches!(
        p.stored_password_for(&saved, &pg("b", "elsewhere").spec.target()),
        Err(ProfileError::SecretMisbound { .. })
    ));
}
