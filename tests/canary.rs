//! Canary: a unique password is saved, tested, rotated, edited and deleted
//! through the real binary; afterwards no file under VARLOR_HOME (profile,
//! catalog, vault, config, state, logs), no audit row and no captured output
//! contains it, and it never appeared in any argv we built (stdin only).
//! A second canary inside a pasted URL must not be stored in clear either.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};

mod common;

fn random_token(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let a = RandomState::new().hash_one((nanos, std::process::id(), tag));
    let b = RandomState::new().hash_one(a);
    format!("CANARY{tag}{a:016x}{b:016x}")
}

struct Harness {
    _dir: tempfile::TempDir,
    home: PathBuf,
    pass_file: PathBuf,
    /// Every argv and every stdout/stderr, for the final checks.
    argv: Vec<Vec<String>>,
    captured: Vec<String>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).expect("mkdir");
        let pass_file = dir.path().join("pass");
        std::fs::write(&pass_file, "canary test passphrase\n").expect("write");
        Harness {
            _dir: dir,
            home,
            pass_file,
            argv: Vec::new(),
            captured: Vec::new(),
        }
    }

    /// Runs varlor; returns (exit code, stdout, stderr).
    fn run(&mut self, args: &[&str], stdin: &str, pass: Option<&Path>) -> (i32, String, String) {
        self.argv.push(args.iter().map(|s| s.to_string()).collect());
        let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"))
            .args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_PASSPHRASE_FILE", pass.unwrap_or(&self.pass_file))
            .env("VARLOR_LOG", "debug")
            .env("NO_COLOR", "1")
            // Fast scrypt for tests (the store reads it; real profiles keep the default).
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env_remove("VARLOR_PROFILE")
            .timeout(std::time::Duration::from_secs(90))
            .write_stdin(stdin.to_string())
            .output()
            .expect("run varlor");
        let o = String::from_utf8_lossy(&out.stdout).into_owned();
        let e = String::from_utf8_lossy(&out.stderr).into_owned();
        self.captured.push(o.clone());
        self.captured.push(e.clone());
        (out.status.code().unwrap_or(-1), o, e)
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn canary_password_never_leaks() {
    let canary = random_token("P");
    let url_canary = random_token("U");
    let mut h = Harness::new();

    // Against a real server when one is configured (the server sees the
    // wrong password and answers "Invalid credentials"), else a closed port.
    // (Without a server — skipped with a notice, a failure under CI — the
    // canary still goes through every step against a closed port.)
    let pg = common::pg();
    let (host, port, user, db) = match &pg {
        Some(s) => (
            s.host.clone(),
            s.port.to_string(),
            s.user.clone(),
            s.db.clone(),
        ),
        None => (
            "127.0.0.1".to_string(),
            common::closed_port().to_string(),
            "canary_user".to_string(),
            "canary_db".to_string(),
        ),
    };

    let (code, _, e) = h.run(
        &[
            "add",
            "canary",
            "--kind",
            "postgres",
            "--host",
            &host,
            "--port",
            &port,
            "--database",
            &db,
            "--user",
            &user,
            "--password-stdin",
            "--env",
            "production",
        ],
        &format!("{canary}\n"),
        None,
    );
    assert_eq!(code, 0, "{e}");
    let (code, o, _) = h.run(&["test", "canary", "-v"], "", None);
    assert_eq!(code, 1, "the canary is a wrong password / closed port: {o}");
    h.run(&["test", "canary", "--json", "-v"], "", None);

    // The same canary through the MySQL driver (its debug logging included).
    if let Some(m) = common::mysql() {
        let mport = m.port.to_string();
        let (code, _, e) = h.run(
            &[
                "add",
                "canary-my",
                "--kind",
                "mysql",
                "--host",
                &m.host,
                "--port",
                &mport,
                "--database",
                &m.db,
                "--user",
                &m.user,
                "--password-stdin",
            ],
            &format!("{canary}\n"),
            None,
        );
        assert_eq!(code, 0, "{e}");
        let (code, o, _) = h.run(&["test", "canary-my", "-v"], "", None);
        assert_eq!(code, 1, "a wrong password: {o}");
        assert!(o.contains("Invalid credentials"), "{o}");
        let (code, _, e) = h.run(&["rm", "canary-my", "--yes"], "", None);
        assert_eq!(code, 0, "{e}");
    }
    h.run(&["list"], "", None);
    h.run(&["list", "--json"], "", None);
    h.run(&["edit", "canary", "--env", "staging"], "", None);
    h.run(&["doctor", "-v"], "", None);
    h.run(&["doctor", "--json"], "", None);

    // Rotate: the canary is decrypted and re-encrypted in one transaction.
    let new_pass = h.home.parent().unwrap().join("pass2");
    std::fs::write(&new_pass, "second canary passphrase\n").unwrap();
    let np = new_pass.to_str().unwrap().to_string();
    let (code, _, e) = h.run(&["vault", "rotate", "--new-passphrase-file", &np], "", None);
    assert_eq!(code, 0, "{e}");
    h.run(&["test", "canary", "-v", "--force"], "", Some(&new_pass));
    h.run(&["vault", "status", "--json"], "", Some(&new_pass));

    // A password pasted inside a URL goes to the vault, never in clear.
    let url = format!("postgres://{user}:{url_canary}@{host}:{port}/{db}");
    let (code, _, e) = h.run(&["add", "canary-url", "--url", &url], "", Some(&new_pass));
    assert_eq!(code, 0, "{e}");
    let (_, listed, _) = h.run(&["list", "--json"], "", Some(&new_pass));
    assert!(listed.contains("canary-url"), "{listed}");
    h.run(&["test", "canary-url", "-v"], "", Some(&new_pass));

    let (code, audit, _) = h.run(&["audit", "--json"], "", Some(&new_pass));
    assert_eq!(code, 0);
    assert!(
        audit.contains("\"canary\""),
        "the audit names the connection"
    );
    h.run(&["audit"], "", Some(&new_pass));

    // While stored: only ciphertext on disk.
    let mut files = Vec::new();
    walk(&h.home, &mut files);
    check_files(&files, &[&canary, &url_canary]);

    let (code, _, e) = h.run(&["rm", "canary", "--yes"], "", Some(&new_pass));
    assert_eq!(code, 0, "{e}");
    let (code, _, e) = h.run(&["rm", "canary-url", "--yes"], "", Some(&new_pass));
    assert_eq!(code, 0, "{e}");
    h.run(&["audit", "--json"], "", Some(&new_pass));

    let mut files = Vec::new();
    walk(&h.home, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("varlor.log")),
        "the log file exists and is checked: {files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("catalog.db")));
    check_files(&files, &[&canary, &url_canary]);

    for (i, text) in h.captured.iter().enumerate() {
        assert!(
            !text.contains(&canary),
            "output #{i} leaks the canary:\n{text}"
        );
        assert!(
            !text.contains(&url_canary),
            "output #{i} leaks the URL canary:\n{text}"
        );
    }
    for args in &h.argv {
        assert!(
            !args.iter().any(|a| a.contains(&canary)),
            "the canary reached argv: {args:?}"
        );
    }
}

fn check_files(files: &[PathBuf], secrets: &[&str]) {
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for s in secrets {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "{} contains a canary in clear",
                f.display()
            );
        }
    }
}
