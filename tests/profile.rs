//! The Profile API: demo on first run, add/edit/remove with the vault,
//! validation, the lockout and in-flight guards, password commands, audit.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use varlor::connectors::{
    ConnError, ConnSpec, Environment, ErrorKind, Kind, PasswordSource, ServerInfo,
};
use varlor::profile::{Profile, ProfileError};
use varlor::store::{CatalogError, NewConnection, Paths, VaultError};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn open(home: &Path) -> Profile {
    let mut p = Profile::open_at(Paths::under(home, "default")).expect("open profile");
    p.set_work_factor(10);
    p
}

fn pg(name: &str, source: PasswordSource) -> NewConnection {
    let mut spec = ConnSpec::new(Kind::Postgres);
    spec.host = "db.example".into();
    spec.user = "app".into();
    spec.database = "shop".into();
    NewConnection {
        name: name.into(),
        spec,
        environment: Environment::Production,
        password_source: source,
    }
}

fn invalid_credentials() -> Result<ServerInfo, ConnError> {
    Err(ConnError::new(
        ErrorKind::InvalidCredentials,
        "28P01 password authentication failed for user \"app\"",
    ))
}

fn success() -> Result<ServerInfo, ConnError> {
    Ok(ServerInfo {
        version: "PostgreSQL 16.4".into(),
        latency: Duration::from_millis(7),
        tls: true,
    })
}

/// Every byte of every file under `dir`.
fn files_contain(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

#[test]
fn demo_is_created_once_and_not_resurrected() {
    let tmp = tempfile::tempdir().unwrap();
    let p = open(tmp.path());
    let demo = p.get("demo").unwrap();
    assert_eq!(demo.spec.kind, Kind::Sqlite);
    assert_eq!(demo.environment, Environment::Development);
    assert_eq!(demo.password_source, PasswordSource::None);
    assert!(Path::new(&demo.spec.database).is_file());
    assert!(demo.spec.database.ends_with("demo.sqlite"));
    assert!(!p.needs_unlock(&demo));
    assert!(p.resolve_password(&demo, None).unwrap().is_none());
    // The file opens as SQLite with the shop schema.
    let db = rusqlite::Connection::open(&demo.spec.database).unwrap();
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM order_items", [], |r| r.get(0))
        .unwrap();
    assert!(n > 1000, "{n}");
    drop(p);

    let mut p = open(tmp.path());
    assert_eq!(p.list().unwrap().len(), 1, "no second demo");
    p.remove("demo").unwrap();
    drop(p);
    let p = open(tmp.path());
    assert!(matches!(
        p.get("demo"),
        Err(ProfileError::Catalog(CatalogError::NotFound(_)))
    ));
}

#[test]
fn a_user_connection_named_demo_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::under(tmp.path(), "default");
    paths.ensure().unwrap();
    {
        let mut cat = varlor::store::Catalog::open(&paths.catalog()).unwrap();
        cat.insert(&pg("demo", PasswordSource::Prompt), None)
            .unwrap();
    }
    let p = Profile::open_at(paths).unwrap();
    assert_eq!(p.get("demo").unwrap().spec.kind, Kind::Postgres);
}

#[test]
fn saving_a_secret_needs_a_vault_but_no_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    match p.add(pg("prod", PasswordSource::Vault), Some(secret("pw-1"))) {
        Err(ProfileError::Vault(VaultError::NotInitialised)) => {}
        Err(e) => panic!("expected NotInitialised, got {e}"),
        Ok(_) => panic!("saved a secret without a vault"),
    }
    assert!(p.get("prod").is_err(), "nothing saved");
    // No password: fine without a vault.
    p.add(pg("trust", PasswordSource::Vault), None).unwrap();

    p.init_vault(&secret("passphrase")).unwrap();
    assert!(p.vault_initialised());
    assert!(p.is_unlocked(), "init leaves the vault unlocked");
    drop(p);

    // A new run: saving works while locked; reading needs the unlock.
    let mut p = open(tmp.path());
    assert!(!p.is_unlocked());
    let saved = p
        .add(pg("prod", PasswordSource::Vault), Some(secret("pw-1")))
        .unwrap();
    assert!(saved.has_secret);
    assert_eq!(saved.key_version, 1);
    assert!(p.needs_unlock(&saved));
    assert!(matches!(
        p.resolve_password(&saved, None),
        Err(ProfileError::Locked)
    ));
    assert!(matches!(
        p.unlock(&secret("nope")),
        Err(ProfileError::Vault(VaultError::WrongPassphrase))
    ));
    p.unlock(&secret("passphrase")).unwrap();
    assert!(!p.needs_unlock(&saved));
    let pw = p.resolve_password(&saved, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "pw-1");
    // A vault connection without a stored secret uses what was typed.
    let trust = p.get("trust").unwrap();
    assert!(p.resolve_password(&trust, None).unwrap().is_none());

    let audit = p.catalog().audit_list(None).unwrap();
    let unlocks: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "unlock")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(unlocks, vec!["wrong passphrase", "ok"]);
}

#[test]
fn edit_keeps_replaces_and_clears_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.init_vault(&secret("pp")).unwrap();
    p.add(pg("a", PasswordSource::Vault), Some(secret("first")))
        .unwrap();
    let read = |p: &Profile, name: &str| {
        let c = p.get(name).unwrap();
        p.resolve_password(&c, None)
            .unwrap()
            .map(|s| s.expose_secret().to_string())
    };

    // None: keep (and rename).
    let mut renamed = pg("a2", PasswordSource::Vault);
    renamed.environment = Environment::Staging;
    let saved = p.edit("a", renamed.clone(), None).unwrap();
    assert_eq!(saved.environment, Environment::Staging);
    assert_eq!(read(&p, "a2").as_deref(), Some("first"));

    // Some(Some): replace.
    p.edit("a2", renamed.clone(), Some(Some(secret("second"))))
        .unwrap();
    assert_eq!(read(&p, "a2").as_deref(), Some("second"));

    // Some(None): clear.
    let cleared = p.edit("a2", renamed.clone(), Some(None)).unwrap();
    assert!(!cleared.has_secret);
    assert_eq!(read(&p, "a2"), None);

    // Switching to "ask every time" drops a stored secret.
    p.edit("a2", renamed.clone(), Some(Some(secret("third"))))
        .unwrap();
    let prompt = p
        .edit("a2", pg("a2", PasswordSource::Prompt), None)
        .unwrap();
    assert!(!prompt.has_secret);
    assert_eq!(p.catalog().secret("a2").unwrap(), None);

    let actions: Vec<String> = p
        .catalog()
        .audit_list(None)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "update").count(), 5);
    assert!(actions.contains(&"create".to_string()));
}

#[test]
fn invalid_input_names_the_field_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    let before = p.list().unwrap();
    for (name, field) in [
        ("", "name"),
        ("a\u{7}b", "name"),
        (&*"x".repeat(65), "name"),
    ] {
        match p.add(pg(name, PasswordSource::Prompt), None) {
            Err(ProfileError::Spec(e)) => assert_eq!(e.field, field),
            Err(e) => panic!("{name:?}: unexpected {e}"),
            Ok(_) => panic!("{name:?} accepted"),
        }
    }
    let mut bad_port = pg("ok-name", PasswordSource::Prompt);
    bad_port.spec.port = Some(0);
    assert!(matches!(
        p.add(bad_port, None),
        Err(ProfileError::Spec(e)) if e.field == "port"
    ));
    let empty_cmd = pg("cmd", PasswordSource::Command("  ".into()));
    assert!(matches!(
        p.add(empty_cmd, None),
        Err(ProfileError::Spec(e)) if e.field == "password_command"
    ));
    assert!(matches!(
        p.add(pg("demo", PasswordSource::Prompt), None),
        Err(ProfileError::Catalog(CatalogError::Duplicate(_)))
    ));
    assert_eq!(p.list().unwrap(), before);
    assert!(matches!(
        p.edit("ghost", pg("ghost", PasswordSource::Prompt), None),
        Err(ProfileError::Catalog(CatalogError::NotFound(_)))
    ));
}

#[test]
fn lockout_guard_after_three_invalid_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.add(pg("prod", PasswordSource::Prompt), None).unwrap();
    for _ in 0..3 {
        let job = p.begin_test("prod", false, Some(secret("bad"))).unwrap();
        assert_eq!(job.password.unwrap().expose_secret(), "bad");
        p.finish_test("prod", &invalid_credentials()).unwrap();
    }
    assert_eq!(p.get("prod").unwrap().auth_failures, 3);
    match p.begin_test("prod", false, Some(secret("again"))) {
        Err(ProfileError::LockoutGuard(3)) => {}
        Err(e) => panic!("expected LockoutGuard(3), got {e}"),
        Ok(_) => panic!("a 4th test ran without confirmation"),
    }
    assert!(!p.test_in_flight("prod"), "a refused test holds no guard");
    // Confirmed: runs; a success resets the counter and the guard.
    p.begin_test("prod", true, Some(secret("good"))).unwrap();
    p.finish_test("prod", &success()).unwrap();
    let c = p.get("prod").unwrap();
    assert_eq!(c.auth_failures, 0);
    let last = c.last_test.unwrap();
    assert!(last.ok);
    assert_eq!(last.latency_ms, Some(7));
    assert_eq!(last.server_version.as_deref(), Some("PostgreSQL 16.4"));
    p.begin_test("prod", false, Some(secret("x"))).unwrap();

    let tests: Vec<_> = p
        .catalog()
        .audit_list(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "test")
        .collect();
    assert_eq!(tests.len(), 4);
    assert_eq!(tests[0].outcome, "Invalid credentials");
    assert_eq!(tests[3].outcome, "ok");
    assert!(tests[3].detail.contains("7 ms"), "{}", tests[3].detail);
}

#[test]
fn one_test_in_flight_per_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.add(pg("a", PasswordSource::Prompt), None).unwrap();
    p.begin_test("a", false, Some(secret("x"))).unwrap();
    assert!(p.test_in_flight("a"));
    match p.begin_test("a", false, Some(secret("x"))) {
        Err(ProfileError::TestInFlight(n)) => assert_eq!(n, "a"),
        Err(e) => panic!("expected TestInFlight, got {e}"),
        Ok(_) => panic!("two tests in flight"),
    }
    // Other connections are not blocked.
    p.begin_test("demo", false, None).unwrap();
    p.finish_test(
        "a",
        &Err(ConnError::new(ErrorKind::ConnectionRefused, "refused")),
    )
    .unwrap();
    assert!(!p.test_in_flight("a"));
    // A failure before the test starts releases the guard as well.
    assert!(matches!(
        p.begin_test("a", false, None),
        Err(ProfileError::PasswordNeeded)
    ));
    assert!(matches!(
        p.begin_test("a", false, None),
        Err(ProfileError::PasswordNeeded)
    ));
    // Recording for a deleted connection errors, but releases the guard.
    p.begin_test("a", false, Some(secret("x"))).unwrap();
    p.remove("a").unwrap();
    assert!(p.finish_test("a", &success()).is_err());
    assert!(!p.test_in_flight("a"));
}

#[test]
fn password_command_output_is_used_and_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.add(
        pg(
            "token",
            // The stored command text must not itself contain the canary.
            PasswordSource::Command("printf 'tok-%s%s-42\\n' CAN ARY".into()),
        ),
        None,
    )
    .unwrap();
    let c = p.get("token").unwrap();
    assert!(!c.has_secret);
    let job = p.begin_test("token", false, None).unwrap();
    assert_eq!(job.password.unwrap().expose_secret(), "tok-CANARY-42");
    p.finish_test("token", &success()).unwrap();

    p.add(
        pg(
            "broken",
            PasswordSource::Command(
                "echo out-CAN$(echo ARY)-77; echo err-CAN$(echo ARY)-88 >&2; exit 3".into(),
            ),
        ),
        None,
    )
    .unwrap();
    let broken = p.get("broken").unwrap();
    let err = p.resolve_password(&broken, None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ProfileError::PasswordCommand(_)));
    assert!(text.contains('3'), "{text}");
    assert!(!text.contains("CANARY"), "{text}");
    assert!(!format!("{err:?}").contains("CANARY"));
    assert!(!p.test_in_flight("broken"));
    assert!(p.begin_test("broken", false, None).is_err());
    assert!(!p.test_in_flight("broken"), "released after the failure");

    // stdin is closed: a command waiting for input gets EOF, not a hang.
    p.add(pg("reads", PasswordSource::Command("cat".into())), None)
        .unwrap();
    let reads = p.get("reads").unwrap();
    assert!(matches!(
        p.resolve_password(&reads, None),
        Err(ProfileError::PasswordCommand(_))
    ));

    // The command's output never reaches the profile's files.
    drop(p);
    assert!(files_contain(tmp.path(), "CANARY-42").is_empty());
    assert!(files_contain(tmp.path(), "CANARY-77").is_empty());
}

#[test]
fn a_saved_password_reaches_no_file_audit_or_error() {
    let tmp = tempfile::tempdir().unwrap();
    let canary = "Canary-7f3a9e1c-pw";
    let mut p = open(tmp.path());
    p.init_vault(&secret("vault pass")).unwrap();
    p.add(pg("c", PasswordSource::Vault), Some(secret(canary)))
        .unwrap();
    let job = p.begin_test("c", false, None).unwrap();
    assert_eq!(job.password.unwrap().expose_secret(), canary);
    // A driver that echoes the password: its detail is scrubbed by the
    // connector; the profile scrubs URL passwords again before storing.
    let err = ConnError::new(
        ErrorKind::InvalidCredentials,
        format!("cannot connect to postgres://app:{canary}@db.example/shop"),
    );
    p.finish_test("c", &Err(err)).unwrap();
    let last = p.get("c").unwrap().last_test.unwrap();
    assert!(!last.error.unwrap_or_default().contains(canary));
    p.remove("c").unwrap();
    for e in p.catalog().audit_list(None).unwrap() {
        let row = format!("{} {} {} {}", e.action, e.target, e.outcome, e.detail);
        assert!(!row.contains(canary), "{row}");
    }
    drop(p);
    let hits = files_contain(tmp.path(), canary);
    assert!(hits.is_empty(), "canary found in {hits:?}");
}

/// The only test in this binary that touches VARLOR_PASSPHRASE_FILE.
#[test]
fn unlock_from_env_reads_the_passphrase_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.init_vault(&secret("from file")).unwrap();
    drop(p);
    let mut p = open(tmp.path());
    std::env::remove_var("VARLOR_PASSPHRASE_FILE");
    assert!(!p.unlock_from_env(None).unwrap());
    assert!(!p.is_unlocked());

    let file = tmp.path().join("pass");
    std::fs::write(&file, "from file\n").unwrap();
    std::env::set_var("VARLOR_PASSPHRASE_FILE", &file);
    assert!(p.unlock_from_env(None).unwrap());
    assert!(p.is_unlocked());

    let mut p = open(tmp.path());
    std::fs::write(&file, "wrong\n").unwrap();
    assert!(matches!(
        p.unlock_from_env(None),
        Err(ProfileError::Vault(VaultError::WrongPassphrase))
    ));
    std::fs::remove_file(&file).unwrap();
    let err = p.unlock_from_env(None).unwrap_err();
    assert!(err.to_string().contains("passphrase file"), "{err}");
    std::env::remove_var("VARLOR_PASSPHRASE_FILE");
}

#[test]
fn lock_all_forgets_the_identity_until_the_next_unlock() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.init_vault(&secret("pp")).unwrap();
    let saved = p
        .add(pg("a", PasswordSource::Vault), Some(secret("pw")))
        .unwrap();
    assert!(p.is_unlocked());
    p.lock_all().unwrap();
    assert!(!p.is_unlocked());
    assert!(matches!(
        p.resolve_password(&saved, None),
        Err(ProfileError::Locked)
    ));
    p.unlock(&secret("pp")).unwrap();
    let pw = p.resolve_password(&saved, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "pw");
    let audit = p.catalog().audit_list(None).unwrap();
    assert!(audit.iter().any(|e| e.action == "lock"));
}

#[test]
fn names_are_unique_regardless_of_case() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = open(tmp.path());
    p.add(pg("Prod", PasswordSource::None), None).unwrap();
    match p.add(pg("prod", PasswordSource::None), None) {
        Err(ProfileError::Catalog(CatalogError::Duplicate(n))) => assert_eq!(n, "Prod"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    p.add(pg("other", PasswordSource::None), None).unwrap();
    assert!(p
        .edit("other", pg("PROD", PasswordSource::None), None)
        .is_err());
    // Renaming a connection to another case of its own name is fine.
    p.edit("Prod", pg("PROD", PasswordSource::None), None)
        .unwrap();
    assert!(p.get("PROD").is_ok());
}
