//! Operations both front-ends perform, as plain synchronous functions on a
//! [`Profile`] (the shape of gitui's `asyncgit/src/sync`): the TUI runs them
//! on a blocking task and turns the outcome into an `Action`, the CLI runs
//! them inline. What needs a person comes back as a value ([`Need`]), which
//! the TUI turns into its prompt and the CLI into a masked terminal prompt or
//! an error, so neither front-end decides the rules on its own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use secrecy::SecretString;

use crate::config::Config;
use crate::connectors::{ServerInfo, SessionOptions, Target};
use crate::profile::{Profile, ProfileError, TestJob};
use crate::store::{NewConnection, SavedConnection, TestOutcome, VaultState};

/// What an operation needs from a person before it can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The vault must be unlocked; `vault_exists` false: it must be created.
    Unlock { vault_exists: bool },
    /// The connection asks for its password every time.
    Password,
}

/// An operation's next step: done, or waiting for a person.
#[derive(Debug)]
pub enum Step<T> {
    Go(T),
    Need(Need),
}

/// The unlock from `--identity` / `VARLOR_PASSPHRASE_FILE`, tried at most
/// once per run (a wrong file must not be retried on every operation).
#[derive(Debug, Default)]
pub struct EnvUnlock {
    tried: AtomicBool,
    identity: Option<PathBuf>,
}

impl EnvUnlock {
    pub fn new(identity: Option<PathBuf>) -> EnvUnlock {
        EnvUnlock {
            tried: AtomicBool::new(false),
            identity,
        }
    }

    /// An environment unlock that is never tried here (the caller does it).
    pub fn disabled() -> EnvUnlock {
        EnvUnlock {
            tried: AtomicBool::new(true),
            identity: None,
        }
    }

    pub fn identity(&self) -> Option<&std::path::Path> {
        self.identity.as_deref()
    }

    /// Marks it tried (the TUI runs it in the background after its first frame).
    pub fn mark_tried(&self) {
        self.tried.store(true, Ordering::SeqCst);
    }

    /// Unlocked already, or now from the environment (first call only).
    pub fn unlocked(&self, p: &mut Profile) -> bool {
        p.is_unlocked()
            || (!self.tried.swap(true, Ordering::SeqCst)
                && p.vault_initialised()
                && matches!(p.unlock_from_env(self.identity.as_deref()), Ok(true)))
    }
}

/// The session every browse, count, preview and import opens, from the
/// config: read-only, with the statement timeout (at least one second).
pub fn session_options(config: &Config) -> SessionOptions {
    SessionOptions {
        statement_timeout: std::time::Duration::from_secs(config.statement_timeout_secs.max(1)),
        read_only: true,
        sample_size: config.sample_documents.max(1),
        two_sessions: true,
    }
}

fn need_unlock(p: &Profile) -> Need {
    // Files that exist, even broken, are unlocked (or reported), never
    // replaced by a new vault.
    Need::Unlock {
        vault_exists: p.vault().state() != VaultState::Absent,
    }
}

/// Maps what the profile refused for want of a person to a [`Need`].
fn step<T>(p: &Profile, r: Result<T, ProfileError>) -> Result<Step<T>, ProfileError> {
    match r {
        Ok(v) => Ok(Step::Go(v)),
        Err(ProfileError::Locked) => Ok(Step::Need(need_unlock(p))),
        Err(ProfileError::PasswordNeeded) => Ok(Step::Need(Need::Password)),
        Err(e) => Err(e),
    }
}

/// Whether `conn` can be used now, trying the environment unlock once.
fn ready(p: &mut Profile, conn: &SavedConnection, env: &EnvUnlock) -> bool {
    !p.needs_unlock(conn) || (env.unlocked(p) && !p.needs_unlock(conn))
}

/// A saved connection ready to connect: its settings and password.
pub fn prepare_connection(
    p: &mut Profile,
    name: &str,
    prompted: Option<SecretString>,
    env: &EnvUnlock,
) -> Result<Step<(SavedConnection, Option<SecretString>)>, ProfileError> {
    let conn = p.get(name)?;
    if !ready(p, &conn, env) {
        return Ok(Step::Need(need_unlock(p)));
    }
    let password = p.resolve_password(&conn, prompted);
    step(p, password.map(|pw| (conn, pw)))
}

/// A test of a saved connection, past the lockout and in-flight guards
/// (`force` passes the lockout guard). Hand its result to `finish_test`.
pub fn prepare_test(
    p: &mut Profile,
    name: &str,
    force: bool,
    prompted: Option<SecretString>,
    env: &EnvUnlock,
) -> Result<Step<TestJob>, ProfileError> {
    let conn = p.get(name)?;
    if !ready(p, &conn, env) {
        return Ok(Step::Need(need_unlock(p)));
    }
    let job = p.begin_test(name, force, prompted);
    step(p, job)
}

/// The stored password of the connection being edited, for a test of the
/// form: only when the form still points at the target it was saved for.
pub fn stored_password_for(
    p: &mut Profile,
    name: &str,
    target: &Target,
    env: &EnvUnlock,
) -> Result<Step<Option<SecretString>>, ProfileError> {
    let conn = p.get(name)?;
    if !ready(p, &conn, env) {
        return Ok(Step::Need(need_unlock(p)));
    }
    let password = p.stored_password_for(&conn, target);
    step(p, password)
}

/// Records a finished test (and releases its in-flight guard).
pub fn finish_test(
    p: &mut Profile,
    name: &str,
    result: &Result<ServerInfo, crate::connectors::ConnError>,
) -> Result<(), ProfileError> {
    p.finish_test(name, result)
}

/// A save from either front-end.
pub struct Save {
    /// Set when editing.
    pub old_name: Option<String>,
    pub new: NewConnection,
    /// None keeps the stored secret, Some(None) clears it, Some(Some(p)) sets it.
    pub password: Option<Option<SecretString>>,
    /// Keep the stored password although the target changed (re-binds it).
    pub keep_for_new_target: bool,
    /// A successful test of exactly these settings, recorded with the save.
    pub tested: Option<TestOutcome>,
}

/// Adds or edits a connection. Storing a secret needs a vault; keeping one
/// for a new target needs it unlocked: both come back as a [`Need`].
pub fn save(
    p: &mut Profile,
    s: Save,
    env: &EnvUnlock,
) -> Result<Step<SavedConnection>, ProfileError> {
    if matches!(s.password, Some(Some(_))) && !p.vault_initialised() {
        return Ok(Step::Need(Need::Unlock {
            vault_exists: false,
        }));
    }
    if s.keep_for_new_target && !env.unlocked(p) {
        return Ok(Step::Need(need_unlock(p)));
    }
    let saved = match s.old_name {
        None => p.add(s.new, s.password.flatten()),
        Some(old) => p.edit_keeping(&old, s.new, s.password, s.keep_for_new_target),
    };
    let saved = match step(p, saved)? {
        Step::Go(saved) => saved,
        need => return Ok(need),
    };
    // The save stands even if recording its test fails.
    if let Some(outcome) = s.tested {
        if p.record_tested(&saved.name, &outcome).is_ok() {
            return Ok(Step::Go(p.get(&saved.name).unwrap_or(saved)));
        }
    }
    Ok(Step::Go(saved))
}

/// Audits a finished import (names and counts, never data).
pub fn audit_import(
    p: &mut Profile,
    connection: &str,
    summary: &crate::dataset::ImportSummary,
) -> Result<(), ProfileError> {
    p.audit(
        "import",
        connection,
        summary.outcome().id(),
        &summary.audit_detail(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{ConnSpec, Environment, Kind, PasswordSource};
    use crate::store::Paths;

    fn profile(dir: &std::path::Path) -> Profile {
        let mut p = Profile::open_at(Paths::under(dir, "default")).unwrap();
        p.set_work_factor(10);
        p
    }

    fn pg(name: &str, source: PasswordSource) -> NewConnection {
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = "db.example".into();
        spec.user = "app".into();
        NewConnection {
            name: name.into(),
            spec,
            environment: Environment::None,
            password_source: source,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn save_new(p: &mut Profile, name: &str, pw: Option<&str>) -> Step<SavedConnection> {
        let s = Save {
            old_name: None,
            new: pg(name, PasswordSource::Vault),
            password: Some(pw.map(secret)),
            keep_for_new_target: false,
            tested: None,
        };
        save(p, s, &EnvUnlock::disabled()).unwrap()
    }

    #[test]
    fn saving_a_secret_without_a_vault_asks_to_create_one() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = profile(tmp.path());
        assert!(matches!(
            save_new(&mut p, "a", Some("pw")),
            Step::Need(Need::Unlock {
                vault_exists: false
            })
        ));
        assert!(p.get("a").is_err(), "nothing saved");
        assert!(matches!(save_new(&mut p, "a", None), Step::Go(_)));
    }

    #[test]
    fn a_locked_vault_and_a_prompted_password_come_back_as_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = profile(tmp.path());
        p.init_vault(&secret("pp")).unwrap();
        assert!(matches!(save_new(&mut p, "a", Some("pw")), Step::Go(_)));
        p.add(pg("ask", PasswordSource::Prompt), None).unwrap();
        drop(p);
        let mut p = profile(tmp.path());
        let env = EnvUnlock::disabled();
        assert!(matches!(
            prepare_connection(&mut p, "a", None, &env).unwrap(),
            Step::Need(Need::Unlock { vault_exists: true })
        ));
        assert!(matches!(
            prepare_connection(&mut p, "ask", None, &env).unwrap(),
            Step::Need(Need::Password)
        ));
        match prepare_connection(&mut p, "ask", Some(secret("typed")), &env).unwrap() {
            Step::Go((_, Some(pw))) => {
                use secrecy::ExposeSecret;
                assert_eq!(pw.expose_secret(), "typed")
            }
            other => panic!("{other:?}"),
        }
        p.unlock(&secret("pp")).unwrap();
        assert!(matches!(
            prepare_test(&mut p, "a", false, None, &env).unwrap(),
            Step::Go(_)
        ));
        // In flight: a second test of the same connection is refused.
        assert!(matches!(
            prepare_test(&mut p, "a", false, None, &env),
            Err(ProfileError::TestInFlight(_))
        ));
    }

    #[test]
    fn a_fresh_test_is_recorded_with_the_save() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = profile(tmp.path());
        let outcome = TestOutcome {
            at: 1,
            ok: true,
            status: "ok".into(),
            error: None,
            latency_ms: Some(7),
            server_version: Some("PostgreSQL 16".into()),
            tls: Some(true),
        };
        let s = Save {
            old_name: None,
            new: pg("t", PasswordSource::None),
            password: None,
            keep_for_new_target: false,
            tested: Some(outcome.clone()),
        };
        let Step::Go(saved) = save(&mut p, s, &EnvUnlock::disabled()).unwrap() else {
            panic!("not saved");
        };
        assert_eq!(saved.last_test, Some(outcome));
    }

    #[test]
    fn session_options_are_read_only_with_at_least_a_second() {
        let c = Config {
            statement_timeout_secs: 0,
            ..Default::default()
        };
        let o = session_options(&c);
        assert!(o.read_only);
        assert_eq!(o.statement_timeout, std::time::Duration::from_secs(1));
    }
}
