//! Canary: a unique password is saved, tested, rotated, edited and deleted
//! through the real binary; afterwards no file under VARLOR_HOME (profile,
//! catalog, vault, config, state, logs), no audit row and no captured output
//! contains it, and it never appeared in any argv we built (stdin only).
//! A second canary inside a pasted URL must not be stored in clear either,
//! nor a third inside a pasted ADO.NET connection string (SQL Server).
//! Another, read from ~/.pgpass by `connections import` and carried to a
//! second profile in a bundle, is checked the same way.

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
        self.run_env(args, stdin, pass, &[])
    }

    /// `run` with extra environment variables (they override the defaults).
    fn run_env(
        &mut self,
        args: &[&str],
        stdin: &str,
        pass: Option<&Path>,
        env: &[(&str, &Path)],
    ) -> (i32, String, String) {
        self.argv.push(args.iter().map(|s| s.to_string()).collect());
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"));
        cmd.args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_PASSPHRASE_FILE", pass.unwrap_or(&self.pass_file))
            .env("VARLOR_LOG", "debug")
            .env("NO_COLOR", "1")
            // Fast scrypt for tests (the store reads it; real profiles keep the default).
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env_remove("VARLOR_PROFILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
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
    let ado_canary = random_token("A");
    let ora_canary = random_token("O");
    let desc_canary = random_token("D");
    let ora_url_canary = random_token("R");
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
    // The same canary through the MongoDB driver: typed on stdin for a
    // pasted URI without a password, then inside a URI (moved to the vault).
    if let Some(m) = common::mongo() {
        let ca =
            m.ca.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
        let uri = format!(
            "mongodb://{}@{}:{}/{}?tls=true&tlsCAFile={ca}&directConnection=true",
            m.user, m.host, m.port, m.db
        );
        let (code, _, e) = h.run(
            &["add", "canary-mongo", "--url", &uri, "--password-stdin"],
            &format!("{canary}\n"),
            None,
        );
        assert_eq!(code, 0, "{e}");
        let (code, o, _) = h.run(&["test", "canary-mongo", "-v"], "", None);
        assert_eq!(code, 1, "a wrong password: {o}");
        assert!(o.contains("Invalid credentials"), "{o}");
        h.run(&["tables", "canary-mongo", "--json"], "", None);
        h.run(&["describe", "canary-mongo", "orders", "-v"], "", None);
        let with_pw = uri.replacen('@', &format!(":{url_canary}@"), 1);
        let (code, _, e) = h.run(&["add", "canary-mongo-url", "--url", &with_pw], "", None);
        assert_eq!(code, 0, "{e}");
        let (code, o, _) = h.run(&["test", "canary-mongo-url", "--json", "-v"], "", None);
        assert_eq!(code, 1, "a wrong password: {o}");
        for name in ["canary-mongo", "canary-mongo-url"] {
            let (code, _, e) = h.run(&["rm", name, "--yes"], "", None);
            assert_eq!(code, 0, "{e}");
        }
    }
    // The same canary through the SQL Server driver (tiberius), against the
    // TDS protocol fixture (not SQL Server), which echoes the password it
    // received into its login error: the output must carry it scrubbed.
    let echo: common::tds::LoginRule = std::sync::Arc::new(|l: &common::tds::Login| {
        Some((
            18456,
            14,
            format!(
                "Login failed for user '{}'. (fixture echo: {})",
                l.user, l.password
            ),
        ))
    });
    let fx = common::tds::start(echo, vec![]);
    let fport = fx.port.to_string();
    let (code, _, e) = h.run(
        &[
            "add",
            "canary-ms",
            "--kind",
            "sqlserver",
            "--host",
            "127.0.0.1",
            "--port",
            &fport,
            "--database",
            "shop",
            "--user",
            "app",
            "--tls",
            "disable",
            "--password-stdin",
        ],
        &format!("{canary}\n"),
        None,
    );
    assert_eq!(code, 0, "{e}");
    let (code, o, _) = h.run(&["test", "canary-ms", "-v"], "", None);
    assert_eq!(code, 1, "the fixture refuses the login: {o}");
    assert!(o.contains("Invalid credentials"), "{o}");
    h.run(&["test", "canary-ms", "--json", "-v"], "", None);
    // A password inside a pasted ADO.NET string (braced, with a `;`) goes to the vault.
    let ado_pw = format!("{ado_canary};tail");
    let ado = format!(
        "Server=tcp:127.0.0.1,{fport};Initial Catalog=shop;User ID=app;\
         Password={{{ado_pw}}};Encrypt=False;"
    );
    let (code, _, e) = h.run(
        &["add", "canary-ado", "--url", &ado, "--tls", "disable"],
        "",
        None,
    );
    assert_eq!(code, 0, "{e}");
    let (code, o, _) = h.run(&["test", "canary-ado", "-v"], "", None);
    assert_eq!(code, 1, "{o}");
    assert!(o.contains("Invalid credentials"), "{o}");
    let sent: Vec<String> = fx.logins().into_iter().map(|l| l.password).collect();
    assert_eq!(sent.len(), 3, "{} logins", sent.len());
    assert!(
        sent[..2].iter().all(|p| p == &canary),
        "the vault's password was sent"
    );
    assert_eq!(sent[2], ado_pw, "the ADO string's password was sent");
    let mut files = Vec::new();
    walk(&h.home, &mut files);
    check_files(&files, &[&canary, &ado_canary]);
    for name in ["canary-ms", "canary-ado"] {
        let (code, _, e) = h.run(&["rm", name, "--yes"], "", None);
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

    // Oracle: a password typed at the prompt, and passwords pasted in a
    // TNS descriptor (`user/password@(DESCRIPTION=…)`) and an oracle:// URL.
    // No Oracle server can run here: a closed port, so the driver gets the
    // password and fails after (never a faked login).
    let ora_port = common::closed_port().to_string();
    let (code, _, e) = h.run(
        &[
            "add",
            "canary-ora",
            "--kind",
            "oracle",
            "--host",
            "127.0.0.1",
            "--port",
            &ora_port,
            "--database",
            "FREEPDB1",
            "--user",
            "scott",
            "--password-stdin",
        ],
        &format!("{ora_canary}\n"),
        Some(&new_pass),
    );
    assert_eq!(code, 0, "{e}");
    let (code, o, _) = h.run(&["test", "canary-ora", "-v"], "", Some(&new_pass));
    assert_eq!(code, 1, "a closed port: {o}");
    assert!(o.contains("Connection refused"), "{o}");
    let descriptor = format!(
        "scott/{desc_canary}@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=127.0.0.1)(PORT={ora_port}))\
         (CONNECT_DATA=(SERVICE_NAME=FREEPDB1)))"
    );
    let (code, _, e) = h.run(
        &["add", "canary-ora-desc", "--url", &descriptor],
        "",
        Some(&new_pass),
    );
    assert_eq!(code, 0, "{e}");
    h.run(&["test", "canary-ora-desc", "-v"], "", Some(&new_pass));
    h.run(
        &["test", "canary-ora-desc", "--json", "-v"],
        "",
        Some(&new_pass),
    );
    let ora_url = format!("oracle://scott:{ora_url_canary}@127.0.0.1:{ora_port}/FREEPDB1");
    let (code, _, e) = h.run(
        &["add", "canary-ora-url", "--url", &ora_url],
        "",
        Some(&new_pass),
    );
    assert_eq!(code, 0, "{e}");
    h.run(&["test", "canary-ora-url", "-v"], "", Some(&new_pass));

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
    check_files(
        &files,
        &[
            &canary,
            &url_canary,
            &ado_canary,
            &ora_canary,
            &desc_canary,
            &ora_url_canary,
        ],
    );

    let (code, _, e) = h.run(&["rm", "canary", "--yes"], "", Some(&new_pass));
    assert_eq!(code, 0, "{e}");
    let (code, _, e) = h.run(&["rm", "canary-url", "--yes"], "", Some(&new_pass));
    assert_eq!(code, 0, "{e}");
    for name in ["canary-ora", "canary-ora-desc", "canary-ora-url"] {
        let (code, _, e) = h.run(&["rm", name, "--yes"], "", Some(&new_pass));
        assert_eq!(code, 0, "{e}");
    }
    h.run(&["audit", "--json"], "", Some(&new_pass));

    let mut files = Vec::new();
    walk(&h.home, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("varlor.log")),
        "the log file exists and is checked: {files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("catalog.db")));
    check_files(
        &files,
        &[
            &canary,
            &url_canary,
            &ado_canary,
            &ora_canary,
            &desc_canary,
            &ora_url_canary,
        ],
    );

    for (i, text) in h.captured.iter().enumerate() {
        assert!(
            !text.contains(&canary),
            "output #{i} leaks the canary:\n{text}"
        );
        assert!(
            !text.contains(&url_canary),
            "output #{i} leaks the URL canary:\n{text}"
        );
        assert!(
            !text.contains(&ado_canary),
            "output #{i} leaks the ADO.NET canary:\n{text}"
        );
        for (what, c) in [
            ("Oracle", &ora_canary),
            ("Oracle descriptor", &desc_canary),
            ("Oracle URL", &ora_url_canary),
        ] {
            assert!(
                !text.contains(c.as_str()),
                "output #{i} leaks the {what} canary:\n{text}"
            );
        }
    }
    for args in &h.argv {
        assert!(
            !args
                .iter()
                .any(|a| a.contains(&canary) || a.contains(&ora_canary)),
            "the canary reached argv: {args:?}"
        );
    }
}

/// A password read from ~/.pgpass, imported, tested, exported in a bundle
/// and imported by a second profile never reaches either profile's files,
/// the bundle in clear, the logs, argv or any output.
#[test]
fn canary_from_pgpass_and_in_a_bundle_never_leaks() {
    let canary = random_token("G");
    let mut h = Harness::new();
    let root = h.home.parent().unwrap().to_path_buf();
    // The user's HOME (where the pgpass lives) is not under VARLOR_HOME.
    let user_home = root.join("user-home");
    std::fs::create_dir(&user_home).unwrap();
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
    let pgpass = user_home.join(".pgpass");
    std::fs::write(&pgpass, format!("{host}:{port}:{db}:{user}:{canary}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let env: [(&str, &Path); 2] = [("HOME", &user_home), ("PGPASSFILE", &pgpass)];
    let name = format!("{host}/{db}");
    let imp = ["connections", "import", "--from", "pgpass"];
    h.run_env(&[&imp[..], &["--dry-run"]].concat(), "", None, &env);
    h.run_env(
        &[&imp[..], &["--dry-run", "--json"]].concat(),
        "",
        None,
        &env,
    );
    let (code, o, e) = h.run_env(&[&imp[..], &["-v"]].concat(), "", None, &env);
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains(&name), "{o}");
    let (code, o, _) = h.run(&["test", &name, "-v"], "", None);
    assert_eq!(code, 1, "the canary is a wrong password / closed port: {o}");
    h.run(&["list", "--json"], "", None);
    h.run(&["audit", "--json"], "", None);

    // Bob: another profile, another key.
    let bob_home = root.join("bob");
    let bob_pass = root.join("bob-pass");
    std::fs::write(&bob_pass, "bob canary passphrase\n").unwrap();
    let bob_env: [(&str, &Path); 1] = [("VARLOR_HOME", &bob_home)];
    let (code, _, e) = h.run_env(&["vault", "init"], "", Some(&bob_pass), &bob_env);
    assert_eq!(code, 0, "{e}");
    let bob_recipients = bob_home.join("data/profiles/default/recipients.txt");
    assert!(bob_recipients.is_file());
    let bundle = root.join("canary.age");
    let (code, o, e) = h.run(
        &[
            "connections",
            "export",
            &name,
            "--to",
            bundle.to_str().unwrap(),
            "--recipient",
            &format!("@{}", bob_recipients.display()),
        ],
        "",
        None,
    );
    assert_eq!(code, 0, "{o}{e}");
    let b = bundle.to_str().unwrap().to_string();
    let (code, o, e) = h.run_env(
        &["connections", "import", "--bundle", &b, "-v"],
        "",
        Some(&bob_pass),
        &bob_env,
    );
    assert_eq!(code, 0, "{o}{e}");
    h.run_env(&["test", &name, "-v"], "", Some(&bob_pass), &bob_env);
    h.run_env(&["audit"], "", Some(&bob_pass), &bob_env);

    let mut files = vec![bundle.clone()];
    walk(&h.home, &mut files);
    walk(&bob_home, &mut files);
    assert!(
        files.iter().filter(|f| f.ends_with("varlor.log")).count() >= 2,
        "both logs exist and are checked: {files:?}"
    );
    check_files(&files, &[&canary]);
    for (i, text) in h.captured.iter().enumerate() {
        assert!(
            !text.contains(&canary),
            "output #{i} leaks the canary:\n{text}"
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
