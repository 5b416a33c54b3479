//! Each broken state of a vault gets one diagnosis, the same in `vault
//! status`, `doctor`, `vault init` and the commands that need the vault,
//! naming the file really at fault (full path), with a way out that loses
//! nothing it does not have to (`vault repair`, `vault reset --yes`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_varlor");

struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    pass: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "a long passphrase\n").unwrap();
        Home {
            _dir: dir,
            home,
            pass,
        }
    }

    fn profile_dir(&self) -> PathBuf {
        self.home.join("data").join("profiles").join("default")
    }
    fn identity(&self) -> PathBuf {
        self.profile_dir().join("identity.age")
    }
    fn recipients(&self) -> PathBuf {
        self.profile_dir().join("recipients.txt")
    }

    /// `varlor ARGS` with VARLOR_PASSPHRASE_FILE set; `stdin` fed if given.
    fn run_with(&self, args: &[&str], stdin: Option<&str>, passfile: Option<&Path>) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env("NO_COLOR", "1")
            .env_remove("VARLOR_PASSPHRASE_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = passfile {
            c.env("VARLOR_PASSPHRASE_FILE", p);
        }
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None, Some(&self.pass))
    }

    /// A vault and one connection with a stored secret.
    fn with_secret() -> Home {
        let h = Home::new();
        ok(&h.run(&["vault", "init"]));
        h.add_secret("db");
        h
    }

    fn add_secret(&self, name: &str) -> Output {
        self.run_with(
            &[
                "add",
                name,
                "--kind",
                "postgres",
                "--host",
                "127.0.0.1",
                "--port",
                "1",
                "--user",
                "u",
                "--password-stdin",
            ],
            Some("stored-secret\n"),
            Some(&self.pass),
        )
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{:?}\n{}", o.status, text(o));
    text(o)
}

fn fails(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    text(o)
}

fn status_json(h: &Home) -> Value {
    let o = h.run(&["vault", "status", "--json"]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn doctor_check(h: &Home, name: &str) -> (String, String) {
    let o = h.run(&["doctor", "--json"]);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let checks = v["checks"].as_array().expect("checks");
    let c = checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["detail"].as_str().unwrap().to_string(),
    )
}

fn aside(h: &Home, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(h.profile_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{prefix}.broken-"))
        })
        .collect()
}

#[test]
fn identity_missing_is_one_diagnosis_and_reset_keeps_connections() {
    let h = Home::with_secret();
    std::fs::remove_file(h.identity()).unwrap();
    let recipients_before = std::fs::read(h.recipients()).unwrap();
    let id = h.identity().display().to_string();

    let out = fails(&h.run(&["vault", "status"]), 1);
    assert!(
        out.contains("identity missing") && out.contains(&id),
        "{out}"
    );
    assert!(
        out.contains("1 stored secret") && out.contains("vault reset --yes"),
        "{out}"
    );
    let v = status_json(&h);
    assert_eq!(v["state"], "identity_missing");
    assert!(v["problem"].as_str().unwrap().contains(&id), "{v}");

    // init does not claim "already initialised" nor overwrite anything.
    let out = fails(&h.run(&["vault", "init"]), 1);
    assert!(out.contains(&id) && out.contains("is missing"), "{out}");
    assert_eq!(std::fs::read(h.recipients()).unwrap(), recipients_before);
    assert!(!h.identity().exists());
    // A command that needs the vault says the same.
    let out = fails(&h.run(&["test", "db"]), 1);
    assert!(out.contains(&id) && out.contains("is missing"), "{out}");
    let (status, detail) = doctor_check(&h, "vault");
    assert_eq!(status, "fail");
    assert!(
        detail.contains(&id) && detail.contains("vault reset"),
        "{detail}"
    );

    // reset needs --yes, then keeps the connection and sets the file aside.
    let out = fails(&h.run(&["vault", "reset"]), 2);
    assert!(out.contains("--yes"), "{out}");
    assert!(h.recipients().exists());
    let out = ok(&h.run(&["vault", "reset", "--yes"]));
    assert!(out.contains("Dropped 1 stored secret"), "{out}");
    assert_eq!(aside(&h, "recipients.txt").len(), 1);
    let list = ok(&h.run(&["list"]));
    assert!(list.contains("db"), "connection kept: {list}");
    assert_eq!(status_json(&h)["state"], "absent");
    assert_eq!(status_json(&h)["secrets"], 0);
    ok(&h.run(&["vault", "init"]));
    assert_eq!(status_json(&h)["state"], "ready");
}

#[test]
fn recipients_missing_is_repaired_from_the_identity() {
    let h = Home::with_secret();
    std::fs::remove_file(h.recipients()).unwrap();
    let identity_before = std::fs::read(h.identity()).unwrap();
    let rc = h.recipients().display().to_string();

    let out = fails(&h.run(&["vault", "status"]), 1);
    assert!(out.contains(&rc) && out.contains("vault repair"), "{out}");
    assert_eq!(status_json(&h)["state"], "recipients_missing");
    // Neither init nor saving a new secret replaces the identity the stored
    // secret needs.
    let out = fails(&h.run(&["vault", "init"]), 1);
    assert!(out.contains(&rc) && out.contains("vault repair"), "{out}");
    let out = fails(&h.add_secret("other"), 1);
    assert!(out.contains("vault repair"), "{out}");
    assert_eq!(std::fs::read(h.identity()).unwrap(), identity_before);
    let (status, detail) = doctor_check(&h, "vault");
    assert_eq!(status, "fail");
    assert!(detail.contains(&rc), "{detail}");

    // Without the passphrase, repair cannot run (and changes nothing).
    let out = fails(&h.run_with(&["vault", "repair"], None, None), 1);
    assert!(out.contains("passphrase"), "{out}");
    assert!(!h.recipients().exists());

    let out = ok(&h.run(&["vault", "repair"]));
    assert!(out.contains(&rc), "{out}");
    let v = status_json(&h);
    assert_eq!(v["state"], "ready");
    assert_eq!(v["key_version"], 1);
    let (status, detail) = doctor_check(&h, "stored secrets");
    assert_eq!((status.as_str(), detail.as_str()), ("ok", "1 decrypt"));
    // New secrets work again.
    ok(&h.add_secret("other"));
}

#[test]
fn an_interrupted_init_is_simply_done_again() {
    let h = Home::new();
    ok(&h.run(&["vault", "init"]));
    // recipients.txt is init's commit point: without it and with no secret
    // stored, the identity is a leftover and init replaces it.
    std::fs::remove_file(h.recipients()).unwrap();
    assert_eq!(status_json(&h)["state"], "recipients_missing");
    ok(&h.run(&["vault", "init"]));
    assert_eq!(status_json(&h)["state"], "ready");
}

#[test]
fn a_damaged_identity_is_named_and_reset_sets_it_aside() {
    let h = Home::with_secret();
    std::fs::write(h.identity(), "this is not an age file\n").unwrap();
    let id = h.identity().display().to_string();
    let out = fails(&h.run(&["vault", "status"]), 1);
    assert!(out.contains("damaged") && out.contains(&id), "{out}");
    assert_eq!(status_json(&h)["state"], "identity_damaged");
    let out = fails(&h.run(&["vault", "init"]), 1);
    assert!(out.contains(&id) && out.contains("damaged"), "{out}");
    let out = fails(&h.run(&["test", "db"]), 1);
    assert!(out.contains(&id) && out.contains("damaged"), "{out}");
    // repair is for the public key file only.
    let out = fails(&h.run(&["vault", "repair"]), 1);
    assert!(out.contains(&id), "{out}");
    ok(&h.run(&["vault", "reset", "--yes"]));
    let kept = aside(&h, "identity.age");
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&kept[0]).unwrap(),
        "this is not an age file\n",
        "the damaged file is kept, not deleted"
    );
    assert!(ok(&h.run(&["list"])).contains("db"));
}

#[test]
fn a_tampered_identity_payload_is_reported_as_the_identity() {
    let h = Home::with_secret();
    let mut bytes = std::fs::read(h.identity()).unwrap();
    let n = bytes.len();
    // Inside the armored payload (before the END line).
    bytes[n - 40] ^= 0x01;
    std::fs::write(h.identity(), &bytes).unwrap();
    let out = fails(&h.run(&["test", "db"]), 1);
    assert!(
        out.contains(&h.identity().display().to_string()) && out.contains("damaged"),
        "{out}"
    );
}

#[test]
fn damaged_recipients_are_rebuilt_and_kept_aside() {
    let h = Home::with_secret();
    std::fs::write(h.recipients(), "garbage\n").unwrap();
    let rc = h.recipients().display().to_string();
    let out = fails(&h.run(&["vault", "status"]), 1);
    assert!(out.contains(&rc) && out.contains("damaged"), "{out}");
    assert_eq!(status_json(&h)["state"], "recipients_damaged");
    ok(&h.run(&["vault", "repair"]));
    assert_eq!(status_json(&h)["state"], "ready");
    let kept = aside(&h, "recipients.txt");
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), "garbage\n");
    let (status, _) = doctor_check(&h, "stored secrets");
    assert_eq!(status, "ok");
}

#[test]
fn a_missing_or_unreadable_passphrase_file_is_named() {
    let h = Home::with_secret();
    let missing = h.home.join("no-such-passphrase");
    let name = missing.display().to_string();
    for args in [&["vault", "status"][..], &["test", "db"][..]] {
        let out = fails(&h.run_with(args, None, Some(&missing)), 1);
        assert!(out.contains(&name), "{args:?}: {out}");
        assert!(out.contains("VARLOR_PASSPHRASE_FILE"), "{args:?}: {out}");
    }
    let o = h.run_with(&["doctor", "--json"], None, Some(&missing));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "passphrase file")
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert_eq!(check["status"], "fail");
    assert!(check["detail"].as_str().unwrap().contains(&name));

    // Unreadable: a directory where the file should be.
    let out = fails(&h.run_with(&["vault", "status"], None, Some(&h.home)), 1);
    assert!(out.contains(&h.home.display().to_string()), "{out}");
}
