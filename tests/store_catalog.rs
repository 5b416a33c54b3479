//! The catalog: migrations, CRUD, test bookkeeping, audit, settings, and the
//! SQLite guarantees it relies on (foreign keys, WAL, file permissions).

use std::path::Path;

use varlor::connectors::{ConnSpec, Environment, Kind, PasswordSource, TlsMode};
use varlor::store::catalog::SecretUpdate;
use varlor::store::{Catalog, CatalogError, NewConnection, TestOutcome};

fn pg(name: &str) -> NewConnection {
    let mut spec = ConnSpec::new(Kind::Postgres);
    spec.host = "db.internal".into();
    spec.port = Some(6543);
    spec.user = "reporter".into();
    spec.database = "shop".into();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = Some("/etc/ssl/ca.pem".into());
    spec.options
        .insert("application_name".into(), "varlor".into());
    NewConnection {
        name: name.into(),
        spec,
        environment: Environment::Production,
        password_source: PasswordSource::Vault,
    }
}

fn outcome(ok: bool, status: &str) -> TestOutcome {
    TestOutcome {
        at: 1_700_000_000,
        ok,
        status: status.into(),
        error: (!ok).then(|| "28P01 password authentication failed".to_string()),
        latency_ms: ok.then_some(12),
        server_version: ok.then(|| "PostgreSQL 16.4".to_string()),
        tls: ok.then_some(true),
    }
}

fn open(dir: &Path) -> Catalog {
    Catalog::open(&dir.join("catalog.db")).expect("open catalog")
}

#[test]
fn migrations_are_recorded_once() {
    let tmp = tempfile::tempdir().unwrap();
    let c = open(tmp.path());
    let applied = c.applied_migrations().unwrap();
    let versions: Vec<i64> = applied.iter().map(|m| m.0).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    assert_eq!(c.schema_version().unwrap(), 3);
    assert!(
        applied.iter().all(|m| m.1 > 1_600_000_000),
        "applied_at set"
    );
    drop(c);
    // Reopening applies nothing twice.
    let c = open(tmp.path());
    assert_eq!(c.applied_migrations().unwrap(), applied);
}

#[test]
fn a_newer_schema_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let c = open(tmp.path());
    c.connection()
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)",
            [],
        )
        .unwrap();
    drop(c);
    match Catalog::open(&tmp.path().join("catalog.db")) {
        Err(CatalogError::Corrupt(m)) => assert!(m.contains("999"), "{m}"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a catalog from a newer Varlor was opened"),
    }
}

#[test]
fn crud_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    let saved = c.insert(&pg("prod"), Some((b"ciphertext", 1))).unwrap();
    assert_eq!(saved.name, "prod");
    assert_eq!(saved.spec, pg("prod").spec);
    assert_eq!(saved.environment, Environment::Production);
    assert!(saved.has_secret);
    assert_eq!(saved.key_version, 1);
    assert_eq!(saved.auth_failures, 0);
    assert!(saved.last_test.is_none());

    let mut sqlite = NewConnection {
        name: "A local file".into(),
        spec: ConnSpec::new(Kind::Sqlite),
        environment: Environment::Development,
        password_source: PasswordSource::Command("pass show db".into()),
    };
    sqlite.spec.database = "/tmp/x.db".into();
    c.insert(&sqlite, None).unwrap();

    // Ordered by name, case-insensitively.
    let names: Vec<String> = c.list().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["A local file", "prod"]);
    let got = c.get("A local file").unwrap();
    assert_eq!(
        got.password_source,
        PasswordSource::Command("pass show db".into())
    );
    assert!(!got.has_secret);
    assert_eq!(c.secret("A local file").unwrap(), None);

    // Update: rename + keep the secret.
    let mut edited = pg("prod-eu");
    edited.spec.port = Some(5433);
    let updated = c.update("prod", &edited, SecretUpdate::Keep).unwrap();
    assert_eq!(updated.id, saved.id);
    assert_eq!(updated.spec.port, Some(5433));
    assert_eq!(
        c.secret("prod-eu").unwrap(),
        Some((b"ciphertext".to_vec(), 1))
    );
    assert!(matches!(c.get("prod"), Err(CatalogError::NotFound(_))));

    // Replace, then clear.
    c.update("prod-eu", &edited, SecretUpdate::Set(b"new".to_vec(), 2))
        .unwrap();
    assert_eq!(c.secret("prod-eu").unwrap(), Some((b"new".to_vec(), 2)));
    let cleared = c.update("prod-eu", &edited, SecretUpdate::Clear).unwrap();
    assert!(!cleared.has_secret);
    assert_eq!(c.secret("prod-eu").unwrap(), None);

    c.delete("prod-eu").unwrap();
    assert!(matches!(
        c.delete("prod-eu"),
        Err(CatalogError::NotFound(n)) if n == "prod-eu"
    ));
    assert!(matches!(c.secret("nope"), Err(CatalogError::NotFound(_))));
    assert_eq!(c.list().unwrap().len(), 1);
}

#[test]
fn duplicate_names_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.insert(&pg("a"), None).unwrap();
    c.insert(&pg("b"), Some((b"b-secret", 1))).unwrap();
    assert!(matches!(
        c.insert(&pg("a"), None),
        Err(CatalogError::Duplicate(n)) if n == "a"
    ));
    // Renaming onto an existing name is a duplicate too, and rolls back.
    let mut renamed = pg("a");
    renamed.spec.port = Some(1);
    assert!(matches!(
        c.update("b", &renamed, SecretUpdate::Clear),
        Err(CatalogError::Duplicate(_))
    ));
    assert_eq!(c.get("b").unwrap().spec.port, Some(6543));
    assert_eq!(c.secret("b").unwrap(), Some((b"b-secret".to_vec(), 1)));
    assert_eq!(c.list().unwrap().len(), 2);
}

#[test]
fn record_test_updates_status_history_and_auth_counter() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.insert(&pg("p"), None).unwrap();
    for expected in 1..=3 {
        c.record_test("p", &outcome(false, "Invalid credentials"), true)
            .unwrap();
        assert_eq!(c.get("p").unwrap().auth_failures, expected);
    }
    let last = c.get("p").unwrap().last_test.unwrap();
    assert!(!last.ok);
    assert_eq!(last.status, "Invalid credentials");
    assert_eq!(
        last.error.as_deref(),
        Some("28P01 password authentication failed")
    );

    c.record_test("p", &outcome(true, "ok"), false).unwrap();
    let p = c.get("p").unwrap();
    assert_eq!(p.auth_failures, 0, "a success resets the counter");
    let last = p.last_test.unwrap();
    assert!(last.ok);
    assert_eq!(last.latency_ms, Some(12));
    assert_eq!(last.server_version.as_deref(), Some("PostgreSQL 16.4"));
    assert_eq!(last.tls, Some(true));

    let history = c.test_history("p").unwrap();
    assert_eq!(history.len(), 4);
    assert!(history[0].ok, "newest first");
    assert_eq!(c.counts().unwrap().tests, 4);
    assert!(matches!(
        c.record_test("ghost", &outcome(true, "ok"), false),
        Err(CatalogError::NotFound(_))
    ));
}

#[test]
fn editing_credentials_resets_the_auth_counter() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.insert(&pg("p"), None).unwrap();
    c.record_test("p", &outcome(false, "Invalid credentials"), true)
        .unwrap();
    c.update("p", &pg("p"), SecretUpdate::Keep).unwrap();
    assert_eq!(c.get("p").unwrap().auth_failures, 1, "nothing changed");
    c.update("p", &pg("p"), SecretUpdate::Set(b"x".to_vec(), 1))
        .unwrap();
    assert_eq!(c.get("p").unwrap().auth_failures, 0);
}

#[test]
fn deleting_a_connection_cascades_to_its_history() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.insert(&pg("p"), None).unwrap();
    c.record_test("p", &outcome(true, "ok"), false).unwrap();
    assert_eq!(c.counts().unwrap().tests, 1);
    c.delete("p").unwrap();
    assert_eq!(c.counts().unwrap().tests, 0);
    // Foreign keys are enforced: history for a missing connection is refused.
    let err = c
        .connection()
        .execute(
            "INSERT INTO test_history (connection_id, at, ok, status) VALUES (4242, 0, 1, 'ok')",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
}

#[test]
fn audit_log_lists_since_and_prunes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.audit("create", "p", "ok", "postgres reporter@db")
        .unwrap();
    c.audit("test", "p", "Invalid credentials", "").unwrap();
    let all = c.audit_list(None).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].action, "create");
    assert_eq!(all[1].outcome, "Invalid credentials");
    assert!(!all[0].actor.is_empty());
    // An old row, backdated 40 days.
    c.connection()
        .execute(
            "INSERT INTO audit_log (at, actor, action, target, outcome, detail) \
             VALUES (strftime('%s','now') - 40*86400, 'x', 'delete', 'old', 'ok', '')",
            [],
        )
        .unwrap();
    let now = all[0].at;
    assert_eq!(c.audit_list(Some(now - 86_400)).unwrap().len(), 2);
    assert_eq!(c.audit_list(None).unwrap().len(), 3);
    assert_eq!(c.audit_prune(30).unwrap(), 1);
    assert_eq!(c.audit_prune(30).unwrap(), 0);
    assert_eq!(c.counts().unwrap().audit, 2);
}

#[test]
fn query_history_is_kept_per_connection_across_reopening_and_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.insert(&pg("a"), None).unwrap();
    c.insert(&pg("b"), None).unwrap();
    c.record_query("a", "SELECT 1").unwrap();
    c.record_query("a", "SELECT 1").unwrap(); // the same again: one entry
    c.record_query("a", "SELECT *\nFROM \"my table\"").unwrap();
    c.record_query("a", "SELECT 1").unwrap();
    c.record_query("b", "SELECT 'b'").unwrap();
    assert!(matches!(
        c.record_query("nope", "SELECT 1"),
        Err(CatalogError::NotFound(_))
    ));
    drop(c);
    let mut c = open(tmp.path());
    assert_eq!(
        c.query_history("a").unwrap(),
        vec!["SELECT 1", "SELECT *\nFROM \"my table\"", "SELECT 1"]
    );
    assert_eq!(c.query_history("b").unwrap(), vec!["SELECT 'b'"]);
    // Capped: the oldest go.
    let cap = varlor::store::catalog::QUERIES_PER_CONNECTION as usize;
    for i in 0..cap + 7 {
        c.record_query("b", &format!("SELECT {i}")).unwrap();
    }
    let b = c.query_history("b").unwrap();
    assert_eq!(b.len(), cap);
    assert_eq!(b[0], format!("SELECT {}", cap + 6));
    assert_eq!(b[cap - 1], "SELECT 7");
    // Deleting a connection deletes its history.
    c.delete("a").unwrap();
    let left: i64 = c
        .connection()
        .query_row("SELECT COUNT(*) FROM query_history", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, cap as i64);
}

#[test]
fn settings_upsert() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    assert_eq!(c.setting("k").unwrap(), None);
    c.set_setting("k", "1").unwrap();
    c.set_setting("k", "2").unwrap();
    assert_eq!(c.setting("k").unwrap().as_deref(), Some("2"));
    assert_eq!(c.vault_key_version().unwrap(), None);
    c.set_setting("vault_key_version", "3").unwrap();
    assert_eq!(c.vault_key_version().unwrap(), Some(3));
}

#[test]
fn rotate_secrets_is_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = open(tmp.path());
    c.insert(&pg("a"), Some((b"a1", 1))).unwrap();
    c.insert(&pg("b"), Some((b"b1", 1))).unwrap();
    c.insert(&pg("none"), None).unwrap();
    // Missing one secret (saved meanwhile by someone else): refused, nothing changed.
    assert!(c
        .rotate_secrets(&[("a".into(), b"a2".to_vec())], 2)
        .is_err());
    assert_eq!(c.secret("a").unwrap(), Some((b"a1".to_vec(), 1)));
    assert_eq!(c.vault_key_version().unwrap(), None);
    c.rotate_secrets(
        &[("a".into(), b"a2".to_vec()), ("b".into(), b"b2".to_vec())],
        2,
    )
    .unwrap();
    assert_eq!(c.secret("b").unwrap(), Some((b"b2".to_vec(), 2)));
    assert_eq!(c.get("a").unwrap().key_version, 2);
    assert_eq!(c.vault_key_version().unwrap(), Some(2));
}

#[test]
fn wal_and_integrity() {
    let tmp = tempfile::tempdir().unwrap();
    let c = open(tmp.path());
    assert_eq!(c.journal_mode().unwrap(), "wal");
    assert!(c.integrity_ok().unwrap());
    let fk: i64 = c
        .connection()
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn in_memory_catalog_works() {
    let mut c = Catalog::open_in_memory().unwrap();
    c.insert(&pg("m"), None).unwrap();
    assert_eq!(c.counts().unwrap().connections, 1);
}

#[cfg(unix)]
#[test]
fn catalog_files_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    // A pre-existing, world-readable file is tightened too.
    let path = tmp.path().join("catalog.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = Catalog::open(&path).unwrap();
    c.insert(&pg("p"), Some((b"x", 1))).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let p = tmp.path().join(format!("catalog.db{suffix}"));
        let mode = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", p.display());
    }
}

#[cfg(unix)]
#[test]
fn profile_paths_are_private() {
    use std::os::unix::fs::PermissionsExt;
    use varlor::store::Paths;
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::under(tmp.path(), "tenant-a");
    paths.ensure().unwrap();
    assert!(paths.profile_dir.ends_with("data/profiles/tenant-a"));
    for d in [
        &paths.profile_dir,
        &paths.config_dir,
        &paths.data_dir,
        &paths.state_dir,
    ] {
        let mode = std::fs::metadata(d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", d.display());
    }
}

/// The only test in this binary that touches the environment (one test, so no race).
#[test]
fn paths_follow_varlor_home_then_xdg() {
    use varlor::store::{Paths, PathsError};
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("VARLOR_HOME", tmp.path());
    let p = Paths::resolve("t1").unwrap();
    assert_eq!(p.config_dir, tmp.path().join("config"));
    assert_eq!(p.data_dir, tmp.path().join("data"));
    assert_eq!(p.state_dir, tmp.path().join("state"));
    assert_eq!(p.profile_dir, tmp.path().join("data/profiles/t1"));
    assert!(matches!(
        Paths::resolve("../escape"),
        Err(PathsError::InvalidProfile(_))
    ));

    std::env::remove_var("VARLOR_HOME");
    std::env::set_var("XDG_CONFIG_HOME", tmp.path().join("xc"));
    std::env::set_var("XDG_DATA_HOME", tmp.path().join("xd"));
    std::env::set_var("XDG_STATE_HOME", tmp.path().join("xs"));
    let p = Paths::resolve("default").unwrap();
    assert_eq!(p.config_file(), tmp.path().join("xc/varlor/config.toml"));
    assert_eq!(
        p.catalog(),
        tmp.path().join("xd/varlor/profiles/default/catalog.db")
    );
    assert_eq!(p.log_dir(), tmp.path().join("xs/varlor/logs"));
}
