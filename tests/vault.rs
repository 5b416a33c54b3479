//! The age vault: round trip, each failure as its own error, rotation,
//! permissions, identity files, and recovery of an interrupted rotation.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use varlor::connectors::{ConnSpec, Environment, Kind, PasswordSource};
use varlor::profile::{Profile, ProfileError};
use varlor::store::vault::Recovery;
use varlor::store::{Catalog, NewConnection, Paths, Vault, VaultError};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// A vault with a cheap scrypt work factor (the real one targets ~1 s).
fn quick_vault(dir: &Path) -> Vault {
    let mut v = Vault::new(dir);
    v.set_work_factor(10);
    v
}

fn quick_profile(home: &Path, name: &str) -> Profile {
    let mut p = Profile::open_at(Paths::under(home, name)).expect("open profile");
    p.set_work_factor(10);
    p
}

fn pg(name: &str) -> NewConnection {
    let mut spec = ConnSpec::new(Kind::Postgres);
    spec.user = "app".into();
    spec.database = "shop".into();
    NewConnection {
        name: name.into(),
        spec,
        environment: Environment::Staging,
        password_source: PasswordSource::Vault,
    }
}

fn flip_last_byte(mut ct: Vec<u8>) -> Vec<u8> {
    let n = ct.len() - 1;
    ct[n] ^= 0x01;
    ct
}

#[test]
fn round_trip_needs_no_passphrase_to_encrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    assert!(!v.is_initialised());
    v.init(&secret("correct horse")).unwrap();
    assert!(v.is_initialised());
    assert_eq!(v.key_version().unwrap(), 1);

    let ct = v.encrypt(&secret("s3cret-Pässword")).unwrap();
    assert!(!String::from_utf8_lossy(&ct).contains("s3cret"));
    let (ct2, version) = v.encrypt_versioned(&secret("s3cret-Pässword")).unwrap();
    assert_eq!(version, 1);
    assert_ne!(ct, ct2, "every ciphertext has its own file key");

    let unlocked = v.unlock(&secret("correct horse")).unwrap();
    assert_eq!(
        unlocked.decrypt(&ct).unwrap().expose_secret(),
        "s3cret-Pässword"
    );
    assert_eq!(
        unlocked.decrypt(&ct2).unwrap().expose_secret(),
        "s3cret-Pässword"
    );
}

#[test]
fn wrong_passphrase_is_its_own_error_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    v.init(&secret("right")).unwrap();
    let before = std::fs::read(v.identity_path()).unwrap();
    match v.unlock(&secret("wrong")) {
        Err(VaultError::WrongPassphrase) => {}
        Err(e) => panic!("expected WrongPassphrase, got {e}"),
        Ok(_) => panic!("a wrong passphrase unlocked the vault"),
    }
    assert_eq!(std::fs::read(v.identity_path()).unwrap(), before);
    assert!(v.unlock(&secret("right")).is_ok());
}

#[test]
fn tampered_ciphertext_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    v.init(&secret("pw")).unwrap();
    let u = v.unlock(&secret("pw")).unwrap();
    let ct = v.encrypt(&secret("hunter2")).unwrap();

    let payload_flipped = flip_last_byte(ct.clone());
    let truncated = ct[..ct.len() - 5].to_vec();
    let mut header_mac = ct.clone();
    // The header MAC line is "--- <base64>": change one of its characters.
    let text = String::from_utf8_lossy(&ct).into_owned();
    let mac_at = text.find("\n--- ").expect("header MAC line") + 6;
    header_mac[mac_at] = if header_mac[mac_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let garbage = b"definitely not age".to_vec();

    for (what, bad) in [
        ("payload", payload_flipped),
        ("truncated", truncated),
        ("header mac", header_mac),
        ("garbage", garbage),
        ("empty", Vec::new()),
    ] {
        match u.decrypt(&bad) {
            Err(VaultError::Tampered) => {}
            Err(e) => panic!("{what}: expected Tampered, got {e}"),
            Ok(_) => panic!("{what}: tampered ciphertext decrypted"),
        }
    }
    // The original still decrypts.
    assert_eq!(u.decrypt(&ct).unwrap().expose_secret(), "hunter2");
}

#[test]
fn another_profiles_secret_is_foreign() {
    let tmp = tempfile::tempdir().unwrap();
    let a = quick_vault(&tmp.path().join("a"));
    let b = quick_vault(&tmp.path().join("b"));
    std::fs::create_dir_all(a.dir()).unwrap();
    std::fs::create_dir_all(b.dir()).unwrap();
    a.init(&secret("same passphrase")).unwrap();
    b.init(&secret("same passphrase")).unwrap();
    let from_a = a.encrypt(&secret("tenant-a-password")).unwrap();
    let b_unlocked = b.unlock(&secret("same passphrase")).unwrap();
    match b_unlocked.decrypt(&from_a) {
        Err(VaultError::ForeignSecret) => {}
        Err(e) => panic!("expected ForeignSecret, got {e}"),
        Ok(_) => panic!("profile B read profile A's secret"),
    }
    // B's identity.age opens with the same passphrase but is a different key;
    // copying A's identity next to B's recipients is caught too.
    std::fs::copy(a.identity_path(), b.identity_path()).unwrap();
    assert!(matches!(
        b.unlock(&secret("same passphrase")),
        Err(VaultError::Other(_))
    ));
}

#[test]
fn missing_identity_and_uninitialised_vaults() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    assert!(matches!(
        v.unlock(&secret("x")),
        Err(VaultError::NotInitialised)
    ));
    assert!(matches!(
        v.encrypt(&secret("x")),
        Err(VaultError::NotInitialised)
    ));
    v.init(&secret("x")).unwrap();
    std::fs::remove_file(v.identity_path()).unwrap();
    assert!(!v.is_initialised());
    match v.unlock(&secret("x")) {
        Err(VaultError::MissingIdentity(p)) => assert_eq!(p, v.identity_path()),
        Err(e) => panic!("expected MissingIdentity, got {e}"),
        Ok(_) => panic!("unlocked without identity"),
    }
    // Init refuses to replace the recipients secrets may already be encrypted to.
    let recipients = std::fs::read(v.recipients_path()).unwrap();
    assert!(v.init(&secret("y")).is_err());
    assert_eq!(std::fs::read(v.recipients_path()).unwrap(), recipients);
}

#[test]
fn init_refuses_to_overwrite_and_rejects_empty_passphrases() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    assert!(v.init(&secret("")).is_err());
    assert!(!v.is_initialised());
    v.init(&secret("one")).unwrap();
    let id = std::fs::read(v.identity_path()).unwrap();
    assert!(v.init(&secret("two")).is_err());
    assert_eq!(std::fs::read(v.identity_path()).unwrap(), id);
    assert!(v.unlock(&secret("one")).is_ok());
}

#[test]
fn tampered_identity_file_is_not_a_wrong_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    v.init(&secret("pw")).unwrap();
    std::fs::write(
        v.identity_path(),
        b"-----BEGIN AGE ENCRYPTED FILE-----\nxx\n",
    )
    .unwrap();
    assert!(matches!(v.unlock(&secret("pw")), Err(VaultError::Tampered)));
}

#[test]
fn rotate_reencrypts_everything_and_retires_the_old_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = quick_profile(tmp.path(), "default");
    p.init_vault(&secret("old pass")).unwrap();
    p.add(pg("a"), Some(secret("alpha"))).unwrap();
    p.add(pg("b"), Some(secret("bravo"))).unwrap();
    p.add(pg("no-secret"), None).unwrap();
    let old_ct = p.catalog().secret("a").unwrap().unwrap().0;

    // Rotating needs the vault unlocked.
    let mut locked = quick_profile(tmp.path(), "default");
    assert!(matches!(
        locked.rotate(&secret("new pass")),
        Err(ProfileError::Locked)
    ));
    drop(locked);

    assert_eq!(p.rotate(&secret("new pass")).unwrap(), 2);
    assert_eq!(p.vault().key_version().unwrap(), 2);
    assert_eq!(p.catalog().vault_key_version().unwrap(), Some(2));
    assert_eq!(p.get("a").unwrap().key_version, 2);
    // The in-memory identity is the new one: secrets still resolve.
    let a = p.get("a").unwrap();
    let pw = p.resolve_password(&a, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "alpha");

    let mut again = quick_profile(tmp.path(), "default");
    assert!(matches!(
        again.unlock(&secret("old pass")),
        Err(ProfileError::Vault(VaultError::WrongPassphrase))
    ));
    again.unlock(&secret("new pass")).unwrap();
    for (name, want) in [("a", "alpha"), ("b", "bravo")] {
        let c = again.get(name).unwrap();
        let got = again.resolve_password(&c, None).unwrap().unwrap();
        assert_eq!(got.expose_secret(), want);
    }
    // A ciphertext from before the rotation is now foreign to the profile.
    let u = again.vault().unlock(&secret("new pass")).unwrap();
    assert!(matches!(u.decrypt(&old_ct), Err(VaultError::ForeignSecret)));
    // No rotation leftovers.
    let leftovers: Vec<String> = std::fs::read_dir(&again.paths.profile_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".next") || n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let audit = again.catalog().audit_list(None).unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "rotate" && e.outcome == "ok"));
}

#[test]
fn interrupted_rotation_is_rolled_back_before_the_catalog_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    let mut cat = Catalog::open(&tmp.path().join("catalog.db")).unwrap();
    v.init(&secret("old")).unwrap();
    cat.set_setting("vault_key_version", "1").unwrap();
    let ct = v.encrypt(&secret("s")).unwrap();
    cat.insert(&pg("a"), Some((&ct, 1))).unwrap();
    {
        let lock = v.lock().unwrap();
        let _pending = v.prepare_rotation(&lock, &secret("new")).unwrap();
        // "crash": the catalog never commits.
    }
    assert_eq!(v.recover(&cat).unwrap(), Recovery::RolledBack);
    assert_eq!(v.key_version().unwrap(), 1);
    let u = v.unlock(&secret("old")).unwrap();
    assert_eq!(u.decrypt(&ct).unwrap().expose_secret(), "s");
    assert_eq!(v.recover(&cat).unwrap(), Recovery::Clean);
}

#[test]
fn interrupted_rotation_is_finished_after_the_catalog_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    let mut cat = Catalog::open(&tmp.path().join("catalog.db")).unwrap();
    v.init(&secret("old")).unwrap();
    cat.set_setting("vault_key_version", "1").unwrap();
    let ct = v.encrypt(&secret("s")).unwrap();
    cat.insert(&pg("a"), Some((&ct, 1))).unwrap();
    {
        let lock = v.lock().unwrap();
        let pending = v.prepare_rotation(&lock, &secret("new")).unwrap();
        let new_ct = pending.encrypt(&secret("s")).unwrap();
        cat.rotate_secrets(&[("a".into(), new_ct)], pending.version())
            .unwrap();
        // "crash" before the key files are renamed.
    }
    assert_eq!(v.recover(&cat).unwrap(), Recovery::Finished(2));
    assert_eq!(v.key_version().unwrap(), 2);
    let u = v.unlock(&secret("new")).unwrap();
    let (stored, version) = cat.secret("a").unwrap().unwrap();
    assert_eq!(version, 2);
    assert_eq!(u.decrypt(&stored).unwrap().expose_secret(), "s");
    assert!(matches!(
        v.unlock(&secret("old")),
        Err(VaultError::WrongPassphrase)
    ));
}

#[cfg(unix)]
#[test]
fn vault_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut p = quick_profile(tmp.path(), "perm");
    p.init_vault(&secret("pw")).unwrap();
    p.add(pg("a"), Some(secret("x"))).unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let check = |p: &Profile| {
        assert_eq!(mode(&p.paths.profile_dir), 0o700);
        for f in [p.paths.identity(), p.paths.recipients(), p.paths.catalog()] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    };
    check(&p);
    p.rotate(&secret("pw2")).unwrap();
    check(&p);
}

#[test]
fn age_identity_file_unlocks_secrets_encrypted_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let v = quick_vault(tmp.path());
    v.init(&secret("pw")).unwrap();
    let before = v.encrypt(&secret("before")).unwrap();

    let key = age::x25519::Identity::generate();
    let key_file = tmp.path().join("key.txt");
    std::fs::write(
        &key_file,
        format!(
            "# created: now\n# public key: {}\n{}\n",
            key.to_public(),
            key.to_string().expose_secret()
        ),
    )
    .unwrap();
    v.add_recipient(&key.to_public().to_string()).unwrap();
    assert_eq!(v.recipients().unwrap().len(), 2);
    let after = v.encrypt(&secret("after")).unwrap();

    let u = v.unlock_with_identity_file(&key_file).unwrap();
    assert_eq!(u.decrypt(&after).unwrap().expose_secret(), "after");
    // Made before the key was a recipient: not readable with it.
    assert!(matches!(u.decrypt(&before), Err(VaultError::ForeignSecret)));
    // The passphrase still reads both.
    let p = v.unlock(&secret("pw")).unwrap();
    assert_eq!(p.decrypt(&before).unwrap().expose_secret(), "before");
    assert_eq!(p.decrypt(&after).unwrap().expose_secret(), "after");

    assert!(matches!(
        v.unlock_with_identity_file(&tmp.path().join("absent")),
        Err(VaultError::MissingIdentity(_))
    ));
    let junk = tmp.path().join("junk.txt");
    std::fs::write(&junk, "hello").unwrap();
    assert!(matches!(
        v.unlock_with_identity_file(&junk),
        Err(VaultError::Other(_))
    ));
}

#[test]
fn profile_add_recipient_makes_existing_secrets_readable_by_an_ssh_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "varlor-test", "-f"])
        .arg(&key)
        .status();
    match made {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("ssh-keygen not available: skipping the SSH identity test");
            return;
        }
    }
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut p = quick_profile(&tmp.path().join("home"), "ssh");
    p.init_vault(&secret("pw")).unwrap();
    p.add(pg("a"), Some(secret("alpha"))).unwrap();
    assert_eq!(p.add_recipient(public.trim()).unwrap(), 1);

    let mut fresh = quick_profile(&tmp.path().join("home"), "ssh");
    fresh.unlock_with_identity(&key).unwrap();
    let a = fresh.get("a").unwrap();
    let pw = fresh.resolve_password(&a, None).unwrap().unwrap();
    assert_eq!(pw.expose_secret(), "alpha");
    // A rotation keeps the SSH recipient.
    fresh.rotate(&secret("pw2")).unwrap();
    let mut again = quick_profile(&tmp.path().join("home"), "ssh");
    again.unlock_from_env(Some(&key)).unwrap();
    let a = again.get("a").unwrap();
    assert_eq!(
        again
            .resolve_password(&a, None)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "alpha"
    );
}

#[test]
fn rotate_with_an_unreadable_secret_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = quick_profile(tmp.path(), "default");
    p.init_vault(&secret("old pass")).unwrap();
    p.add(pg("mine"), Some(secret("m"))).unwrap();
    // A ciphertext from another profile's vault slipped into the catalog.
    let other = quick_vault(&tmp.path().join("other"));
    std::fs::create_dir_all(other.dir()).unwrap();
    other.init(&secret("x")).unwrap();
    let foreign = other.encrypt(&secret("theirs")).unwrap();
    // Written behind the profile's back, as tampering would be.
    varlor::store::Catalog::open(&p.paths.catalog())
        .unwrap()
        .insert(&pg("foreign"), Some((&foreign, 1)))
        .unwrap();
    let recipients = std::fs::read(p.paths.recipients()).unwrap();
    let identity = std::fs::read(p.paths.identity()).unwrap();

    let err = p.rotate(&secret("new pass")).unwrap_err();
    assert!(err.to_string().contains("foreign"), "{err}");
    assert_eq!(std::fs::read(p.paths.recipients()).unwrap(), recipients);
    assert_eq!(std::fs::read(p.paths.identity()).unwrap(), identity);
    assert_eq!(p.catalog().secret("foreign").unwrap().unwrap().0, foreign);
    assert_eq!(p.vault().key_version().unwrap(), 1);
    let mine = p.get("mine").unwrap();
    assert_eq!(
        p.resolve_password(&mine, None)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "m"
    );
    let audit = p.catalog().audit_list(None).unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "rotate" && e.outcome == "failed"));
}
