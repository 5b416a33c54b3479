//! A profile opened for work: paths, config, catalog and vault together, and
//! the operations both the CLI and the TUI perform (add, edit, remove,
//! unlock, password resolution, test bookkeeping with audit and the lockout
//! guard). Synchronous and quick; network work happens in `connectors`.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::config::Config;

use crate::connectors::error::sanitize;
use crate::connectors::{ConnError, ErrorKind, PasswordSource, ServerInfo, SpecError};
use crate::connectors::{ConnSpec, Target};
use crate::store::catalog::SecretUpdate;
use crate::store::sealed::{self, Binding, Opened};
use crate::store::vault::Recovery;
use crate::store::{
    Catalog, CatalogError, NewConnection, Paths, PathsError, SavedConnection, TestOutcome,
    UnlockedVault, Vault, VaultError,
};

/// Settings key: the demo connection was created once (deleting it must not resurrect it).
const SETTING_DEMO_CREATED: &str = "demo_created";
/// Settings key: this profile's random id, part of every secret's binding.
const SETTING_PROFILE_UID: &str = "profile_uid";
/// Settings key: every stored secret carries its binding; from then on an
/// unbound (legacy) plaintext is refused as tampered.
const SETTING_SECRETS_BOUND: &str = "secrets_bound";
/// Longest connection name.
pub const MAX_NAME_CHARS: usize = 64;
/// Consecutive failed logins after which a test needs confirmation.
pub const LOCKOUT_THRESHOLD: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Spec(#[from] crate::connectors::SpecError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The vault must be unlocked first (the caller asks for the passphrase).
    #[error("the vault is locked")]
    Locked,
    /// The connection's password is asked every time and none was given.
    #[error("this connection asks for its password every time")]
    PasswordNeeded,
    #[error("password command failed: {0}")]
    PasswordCommand(String),
    /// 3+ consecutive "Invalid credentials": the caller must confirm (`--force`).
    #[error(
        "{0} consecutive failed logins: testing again may lock the account (confirm to go on)"
    )]
    LockoutGuard(u32),
    #[error("a test of '{0}' is already running")]
    TestInFlight(String),
    /// The decrypted secret was saved for another connection, profile or
    /// target: copied or tampered with. Never sent anywhere.
    #[error(
        "the stored password of '{name}' was refused: {why}; it may have been copied or tampered with, so it was not sent. Enter the password again"
    )]
    SecretMisbound { name: String, why: String },
}

/// A test ready to run off the UI thread: everything the connector needs.
pub struct TestJob {
    pub connection: SavedConnection,
    pub password: Option<SecretString>,
}

/// The result of a finished test, to hand back to `Profile::finish_test`.
pub type TestResult = Result<ServerInfo, ConnError>;

pub struct Profile {
    pub paths: Paths,
    pub config: Config,
    catalog: Catalog,
    vault: Vault,
    unlocked: Option<UnlockedVault>,
    /// With no identity of its own: the agent that holds this profile's
    /// identity and decrypts its secrets (see `crate::agent`).
    agent: Option<crate::agent::Client>,
    /// False for operations that need the identity itself (rotate, passwd…).
    agent_allowed: bool,
    /// Connections with a test running (at most one each).
    in_flight: HashSet<String>,
    /// This profile's id, bound into every secret it stores.
    uid: String,
}

impl Profile {
    /// Resolves paths (VARLOR_HOME / XDG), creates dirs 0700, opens the
    /// catalog, creates the demo connection on first run, loads config.toml.
    pub fn open(name: &str) -> Result<Profile, ProfileError> {
        Profile::open_at(Paths::resolve(name)?)
    }

    pub fn open_at(paths: Paths) -> Result<Profile, ProfileError> {
        paths.ensure()?;
        let config = Config::load(&paths.config_file())?;
        let mut catalog = Catalog::open(&paths.catalog())?;
        let vault = Vault::new(&paths.profile_dir);
        // A rotation killed half-way is finished or undone before anything
        // reads the key files.
        match vault.recover(&catalog)? {
            Recovery::Clean => {}
            Recovery::Finished(v) => {
                tracing::warn!("finished an interrupted key rotation (key version {v})");
                catalog.audit("rotate", "vault", "recovered", &format!("key version {v}"))?;
            }
            Recovery::RolledBack => {
                tracing::warn!("removed the files of an unfinished key rotation");
            }
            Recovery::Mismatch => {
                tracing::warn!(
                    "the catalog's key version matches neither vault key set; left untouched"
                );
            }
        }
        let uid = catalog.setting_or_random(SETTING_PROFILE_UID)?;
        if catalog.secrets()?.is_empty() && catalog.setting(SETTING_SECRETS_BOUND)?.is_none() {
            // Nothing to migrate: every secret stored from now on is bound.
            catalog.set_setting(SETTING_SECRETS_BOUND, "1")?;
        }
        let mut profile = Profile {
            paths,
            config,
            catalog,
            vault,
            unlocked: None,
            agent: None,
            agent_allowed: true,
            in_flight: HashSet::new(),
            uid,
        };
        profile.ensure_demo()?;
        Ok(profile)
    }

    /// First run only: the demo database and its connection. A failure to
    /// build the demo is logged, not fatal (it is retried on the next run).
    fn ensure_demo(&mut self) -> Result<(), ProfileError> {
        if self.catalog.setting(SETTING_DEMO_CREATED)?.is_some() {
            return Ok(());
        }
        let db = match crate::demo::ensure(&self.paths.data_dir) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("demo database not created: {e}");
                return Ok(());
            }
        };
        match self.catalog.insert(&crate::demo::connection(&db), None) {
            Ok(_) => {
                self.catalog.audit(
                    "create",
                    crate::demo::CONNECTION_NAME,
                    "ok",
                    "demo (sqlite)",
                )?;
            }
            // The user already has a connection of that name: leave it alone.
            Err(CatalogError::Duplicate(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.catalog.set_setting(SETTING_DEMO_CREATED, "1")?;
        Ok(())
    }

    /// The catalog, to read (writes go through the profile's operations).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The vault's files and state (secrets go through the profile).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The scrypt work factor for vaults this profile creates (tests use a low one).
    pub fn set_work_factor(&mut self, log_n: u8) {
        self.vault.set_work_factor(log_n);
    }

    pub fn list(&self) -> Result<Vec<SavedConnection>, ProfileError> {
        Ok(self.catalog.list()?)
    }

    pub fn get(&self, name: &str) -> Result<SavedConnection, ProfileError> {
        Ok(self.catalog.get(name)?)
    }

    /// Encrypts `password` to the recipients (no passphrase needed) when the
    /// source is the vault; initialises nothing (errors if no vault and a secret is given).
    pub fn add(
        &mut self,
        mut new: NewConnection,
        password: Option<SecretString>,
    ) -> Result<SavedConnection, ProfileError> {
        validate(&mut new)?;
        self.check_name_free(&new.name, None)?;
        let password = password.filter(|p| !p.expose_secret().is_empty());
        let saved = match (&new.password_source, password) {
            (PasswordSource::Vault, Some(p)) => {
                // Under the vault lock: a concurrent rotation cannot swap the
                // key between encrypting and storing.
                let _lock = self.lock_initialised_vault()?;
                let (vault, uid) = (&self.vault, self.uid.clone());
                self.catalog.insert_with_secret(&new, |id| {
                    let binding = Binding {
                        profile: uid,
                        connection: id,
                        target: new.spec.target(),
                    };
                    Ok::<_, ProfileError>(vault.encrypt_versioned(&sealed::seal(&binding, &p))?)
                })?
            }
            // Other sources never store a password.
            _ => self.catalog.insert(&new, None)?,
        };
        self.catalog
            .audit("create", &saved.name, "ok", &describe(&saved))?;
        Ok(saved)
    }

    /// `password`: None keeps the stored secret, Some(None) clears it, Some(Some(p)) replaces it.
    /// A secret is kept only for the target it was saved for: see [`Profile::edit_keeping`].
    pub fn edit(
        &mut self,
        old_name: &str,
        new: NewConnection,
        password: Option<Option<SecretString>>,
    ) -> Result<SavedConnection, ProfileError> {
        self.edit_keeping(old_name, new, password, false)
    }

    /// Like `edit`. When the edit changes where the secret goes (engine,
    /// host, port, user, database) and no new password is given, the stored
    /// one is dropped unless `keep_for_new_target`; keeping it re-binds it to
    /// the new target, which needs the vault unlocked (`Locked` otherwise).
    pub fn edit_keeping(
        &mut self,
        old_name: &str,
        mut new: NewConnection,
        password: Option<Option<SecretString>>,
        keep_for_new_target: bool,
    ) -> Result<SavedConnection, ProfileError> {
        validate(&mut new)?;
        self.check_name_free(&new.name, Some(old_name))?;
        let old = self.catalog.get(old_name)?;
        let password_given = password.is_some();
        let moved = old.spec.target() != new.spec.target();
        let password = match password {
            None if old.has_secret && moved && keep_for_new_target => {
                // Re-bind: the person chose to send this password to the new target.
                let current = self.stored_password(&old)?;
                Some(current)
            }
            None if old.has_secret && moved => Some(None),
            other => other,
        };
        let binding = self.binding(old.id, &new.spec);
        let saved = if new.password_source != PasswordSource::Vault {
            // A secret is kept only for vault connections.
            let update = if old.has_secret {
                SecretUpdate::Clear
            } else {
                SecretUpdate::Keep
            };
            self.catalog.update(old_name, &new, update)?
        } else {
            match password {
                None => self.catalog.update(old_name, &new, SecretUpdate::Keep)?,
                Some(None) => self.catalog.update(old_name, &new, SecretUpdate::Clear)?,
                Some(Some(p)) if p.expose_secret().is_empty() => {
                    self.catalog.update(old_name, &new, SecretUpdate::Clear)?
                }
                Some(Some(p)) => {
                    let _lock = self.lock_initialised_vault()?;
                    let (ct, version) =
                        self.vault.encrypt_versioned(&sealed::seal(&binding, &p))?;
                    self.catalog
                        .update(old_name, &new, SecretUpdate::Set(ct, version))?
                }
            }
        };
        let mut detail = describe(&saved);
        if old_name != saved.name {
            detail.push_str(&format!(", renamed from '{old_name}'"));
        }
        if old.has_secret != saved.has_secret || password_given {
            detail.push_str(if saved.has_secret {
                ", password stored"
            } else {
                ", no stored password"
            });
        }
        if moved {
            detail.push_str(&format!(
                ", target changed from {} to {}",
                old.spec.target(),
                saved.spec.target()
            ));
            if old.has_secret && !password_given {
                detail.push_str(if saved.has_secret {
                    " (password kept for the new target)"
                } else {
                    " (stored password dropped)"
                });
            }
        }
        if let Some(w) = old.spec.tls_weakening(&saved.spec) {
            detail.push_str(&format!(", {w}"));
        }
        self.catalog.audit("update", &saved.name, "ok", &detail)?;
        Ok(saved)
    }

    /// Records a successful test run before the connection was saved.
    pub fn record_tested(&mut self, name: &str, outcome: &TestOutcome) -> Result<(), ProfileError> {
        Ok(self.catalog.record_test(name, outcome, false)?)
    }

    /// Remembers a statement typed for `name` (its text only).
    pub fn record_query(&mut self, name: &str, sql: &str) -> Result<(), ProfileError> {
        Ok(self.catalog.record_query(name, sql)?)
    }

    /// The statements typed for `name`, newest first.
    pub fn query_history(&self, name: &str) -> Result<Vec<String>, ProfileError> {
        Ok(self.catalog.query_history(name)?)
    }

    /// Drops audit rows older than `days`; how many went.
    pub fn prune_audit(&mut self, days: u32) -> Result<usize, ProfileError> {
        Ok(self.catalog.audit_prune(days)?)
    }

    /// Drops every stored secret (a lost identity: `vault reset`); how many went.
    pub fn drop_all_secrets(&mut self) -> Result<usize, ProfileError> {
        Ok(self.catalog.drop_all_secrets()?)
    }

    /// One audit-log row (never a secret).
    pub fn audit(
        &mut self,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &str,
    ) -> Result<(), ProfileError> {
        Ok(self.catalog.audit(action, target, outcome, detail)?)
    }

    /// Names are unique regardless of case (`Prod` and `prod` would be
    /// told apart by nobody typing them); `except` is the connection being
    /// renamed.
    fn check_name_free(&self, name: &str, except: Option<&str>) -> Result<(), ProfileError> {
        let lower = name.to_lowercase();
        let taken = self
            .catalog
            .list()?
            .into_iter()
            .find(|c| c.name.to_lowercase() == lower && Some(c.name.as_str()) != except);
        match taken {
            Some(c) => Err(CatalogError::Duplicate(c.name).into()),
            None => Ok(()),
        }
    }

    pub fn remove(&mut self, name: &str) -> Result<(), ProfileError> {
        self.catalog.delete(name)?;
        self.catalog.audit("delete", name, "ok", "")?;
        Ok(())
    }

    pub fn vault_initialised(&self) -> bool {
        self.vault.is_initialised()
    }

    /// Creates the vault and leaves it unlocked for this run.
    pub fn init_vault(&mut self, passphrase: &SecretString) -> Result<(), ProfileError> {
        let unlocked = self.vault.init_unlocked(passphrase)?;
        let version = self.vault.key_version()?;
        self.catalog.set_setting(
            crate::store::catalog::SETTING_VAULT_KEY_VERSION,
            &version.to_string(),
        )?;
        self.unlocked = Some(unlocked);
        self.share_with_agent();
        self.catalog.audit(
            "vault-init",
            "vault",
            "ok",
            &format!("key version {version}"),
        )?;
        Ok(())
    }

    /// The unlocked identities, to read a bundle sent to this profile's key.
    pub fn unlocked_vault(&self) -> Option<&crate::store::vault::UnlockedVault> {
        self.unlocked.as_ref()
    }

    /// Unlocked here, or the agent holds this profile's identity.
    pub fn is_unlocked(&self) -> bool {
        self.unlocked.is_some() || self.agent.is_some()
    }

    /// Locks the vault: this process forgets its identity, and the agent
    /// (if one runs) forgets every identity it holds. Returns how many the
    /// agent forgot. The next use of a secret asks for the passphrase.
    pub fn lock_all(&mut self) -> Result<usize, ProfileError> {
        self.lock();
        let forgot = match crate::agent::Client::connect() {
            Ok(c) => c
                .forget_all()
                .map_err(|e| ProfileError::Vault(VaultError::Other(format!("the agent: {e}"))))?,
            Err(_) => 0,
        };
        self.catalog.audit("lock", "vault", "ok", "")?;
        Ok(forgot)
    }

    /// Whether this process holds the identity itself (not through the agent).
    pub fn has_own_identity(&self) -> bool {
        self.unlocked.is_some()
    }

    /// For operations that need the identity itself (rotate, passwd,
    /// add-recipient, repair): the agent is not used by this profile from now on.
    pub fn require_own_identity(&mut self) {
        self.agent = None;
        self.agent_allowed = false;
    }

    /// The key the agent holds this profile's identity under.
    fn agent_key(&self) -> String {
        crate::agent::profile_key(&self.paths.profile_dir)
    }

    /// Uses the running agent when it holds this profile's *current*
    /// identity (its public key is in recipients.txt); one it holds for a
    /// key since rotated away is forgotten. False if there is no such agent.
    pub fn unlock_from_agent(&mut self) -> bool {
        if self.is_unlocked() || !self.agent_allowed || self.config.agent_timeout_secs == 0 {
            return self.is_unlocked();
        }
        let Ok(client) = crate::agent::Client::connect() else {
            return false;
        };
        let key = self.agent_key();
        let Ok(Some(public)) = client.public_key(&key) else {
            return false;
        };
        let current = self
            .vault
            .recipients()
            .map(|r| r.contains(&public))
            .unwrap_or(false);
        if !current {
            tracing::info!("the agent held an old identity of this profile: forgotten");
            let _ = client.forget(&key);
            return false;
        }
        tracing::debug!("vault unlocked through the agent");
        self.agent = Some(client);
        true
    }

    /// After an unlock: hands the identity to the agent (started if need
    /// be), unless agents are off. Failures only cost the next command a
    /// passphrase, so they are logged, not returned.
    fn share_with_agent(&self) {
        let timeout = self.config.agent_timeout_secs;
        let Some(secret) = self
            .unlocked
            .as_ref()
            .and_then(UnlockedVault::x25519_secret)
        else {
            return;
        };
        if timeout == 0 || crate::agent::disabled() {
            return;
        }
        let result = crate::agent::Client::connect_or_start(timeout)
            .and_then(|c| c.add(&self.agent_key(), &secret));
        match result {
            Ok(()) => tracing::info!("the agent holds this profile's identity"),
            Err(crate::agent::AgentError::NoLauncher) => {}
            Err(e) => tracing::warn!("the agent was not used: {e}"),
        }
    }

    /// Forgets the identity here and asks the agent to forget this profile's.
    pub fn lock(&mut self) {
        self.unlocked = None;
        self.agent = None;
        if let Ok(c) = crate::agent::Client::connect() {
            let _ = c.forget(&self.agent_key());
        }
    }

    /// Audited (outcome only).
    pub fn unlock(&mut self, passphrase: &SecretString) -> Result<(), ProfileError> {
        let result = self.vault.unlock(passphrase);
        self.finish_unlock(result, "passphrase")
    }

    pub fn unlock_with_identity(&mut self, path: &Path) -> Result<(), ProfileError> {
        let result = self.vault.unlock_with_identity_file(path);
        self.finish_unlock(result, "identity file")
    }

    fn finish_unlock(
        &mut self,
        result: Result<UnlockedVault, VaultError>,
        how: &str,
    ) -> Result<(), ProfileError> {
        match result {
            Ok(u) => {
                self.unlocked = Some(u);
                self.agent = None;
                self.share_with_agent();
                self.catalog.audit("unlock", "vault", "ok", how)?;
                if let Err(e) = self.bind_legacy_secrets() {
                    // Old secrets keep working unbound; the next unlock retries.
                    tracing::warn!("could not bind the stored secrets yet: {e}");
                }
                Ok(())
            }
            Err(e) => {
                // The error texts of VaultError never contain a secret.
                self.catalog.audit("unlock", "vault", &e.to_string(), how)?;
                Err(e.into())
            }
        }
    }

    /// Unlocks from `--identity` or VARLOR_PASSPHRASE_FILE when given; Ok(false) if neither is.
    /// The running agent comes first (see [`Profile::unlock_from_agent`]).
    pub fn unlock_from_env(&mut self, identity: Option<&Path>) -> Result<bool, ProfileError> {
        if self.unlock_from_agent() {
            return Ok(true);
        }
        if let Some(path) = identity {
            self.unlock_with_identity(path)?;
            return Ok(true);
        }
        let Some(file) = std::env::var_os("VARLOR_PASSPHRASE_FILE").filter(|f| !f.is_empty())
        else {
            return Ok(false);
        };
        let passphrase = read_passphrase_file(Path::new(&file))?;
        self.unlock(&passphrase)?;
        Ok(true)
    }

    /// Whether connecting to `conn` needs the vault unlocked first.
    pub fn needs_unlock(&self, conn: &SavedConnection) -> bool {
        conn.password_source == PasswordSource::Vault && conn.has_secret && !self.is_unlocked()
    }

    /// Vault → decrypt (Locked if locked); Command → run it; Prompt → `prompted` or PasswordNeeded.
    pub fn resolve_password(
        &self,
        conn: &SavedConnection,
        prompted: Option<SecretString>,
    ) -> Result<Option<SecretString>, ProfileError> {
        match &conn.password_source {
            PasswordSource::Vault => match self.stored_password(conn)? {
                Some(p) => Ok(Some(p)),
                // Nothing stored (e.g. trust auth): use what was typed, if anything.
                None => Ok(prompted),
            },
            PasswordSource::Prompt => prompted.map(Some).ok_or(ProfileError::PasswordNeeded),
            PasswordSource::Command(cmd) => run_password_command(cmd).map(Some),
            PasswordSource::None => Ok(None),
        }
    }

    /// The stored password of `conn` for `target` only: the form's Test of
    /// an edited connection uses this, so an unsaved change of host never
    /// receives the old host's password.
    pub fn stored_password_for(
        &self,
        conn: &SavedConnection,
        target: &Target,
    ) -> Result<Option<SecretString>, ProfileError> {
        if conn.spec.target() != *target {
            return Err(ProfileError::SecretMisbound {
                name: conn.name.clone(),
                why: format!("it was saved for {}, not for {target}", conn.spec.target()),
            });
        }
        self.stored_password(conn)
    }

    /// Decrypts `conn`'s stored secret and checks it was saved for this
    /// profile, this connection and its current target.
    fn stored_password(
        &self,
        conn: &SavedConnection,
    ) -> Result<Option<SecretString>, ProfileError> {
        if self.catalog.secret(&conn.name)?.is_none() {
            return Ok(None);
        }
        if let Some(unlocked) = self.unlocked.as_ref() {
            return self.open_secret(unlocked, conn);
        }
        let agent = self.agent.as_ref().ok_or(ProfileError::Locked)?;
        self.open_secret_with(conn, |ct| {
            use crate::agent::{AgentError, Refusal};
            match agent.decrypt(&self.agent_key(), ct) {
                Ok(plain) => Ok(crate::store::vault::secret_text(&plain)?),
                Err(AgentError::Refused(Refusal::Foreign)) => Err(VaultError::ForeignSecret.into()),
                Err(AgentError::Refused(Refusal::Tampered)) => Err(VaultError::Tampered.into()),
                // Gone, timed out or forgot: the caller unlocks as before.
                Err(e) => {
                    tracing::info!("the agent did not decrypt: {e}");
                    Err(ProfileError::Locked)
                }
            }
        })
    }

    /// `stored_password` with a given key (`doctor` checks with its own unlock).
    pub fn open_secret(
        &self,
        unlocked: &UnlockedVault,
        conn: &SavedConnection,
    ) -> Result<Option<SecretString>, ProfileError> {
        self.open_secret_with(conn, |ct| Ok(unlocked.decrypt(ct)?))
    }

    fn open_secret_with(
        &self,
        conn: &SavedConnection,
        decrypt: impl FnOnce(&[u8]) -> Result<SecretString, ProfileError>,
    ) -> Result<Option<SecretString>, ProfileError> {
        let Some((ct, _version)) = self.catalog.secret(&conn.name)? else {
            return Ok(None);
        };
        let plain = decrypt(&ct)?;
        let misbound = |why: String| ProfileError::SecretMisbound {
            name: conn.name.clone(),
            why,
        };
        match sealed::open(&plain).map_err(|e| misbound(e.to_string()))? {
            Opened::Bound(found, password) => {
                match sealed::mismatch(&found, &self.binding(conn.id, &conn.spec)) {
                    None => Ok(Some(password)),
                    Some(why) => Err(misbound(why)),
                }
            }
            Opened::Legacy(password) => {
                if self.catalog.setting(SETTING_SECRETS_BOUND)?.is_some() {
                    return Err(misbound(
                        "it carries no binding, and every secret of this profile was bound".into(),
                    ));
                }
                Ok(Some(password))
            }
        }
    }

    fn binding(&self, connection: i64, spec: &ConnSpec) -> Binding {
        Binding {
            profile: self.uid.clone(),
            connection,
            target: spec.target(),
        }
    }

    /// Vaults from before secrets were bound: at the first unlock, every
    /// legacy secret is re-encrypted with its binding (connection and
    /// current target) in one transaction; afterwards unbound plaintext is
    /// refused. Needs nothing the person has not already given.
    fn bind_legacy_secrets(&mut self) -> Result<usize, ProfileError> {
        if self.catalog.setting(SETTING_SECRETS_BOUND)?.is_some() {
            return Ok(0);
        }
        let Some(unlocked) = self.unlocked.as_ref() else {
            return Ok(0);
        };
        let _lock = self.vault.lock()?;
        let mut items = Vec::new();
        let mut version = self.vault.key_version()?;
        for (name, ct, _) in self.catalog.secrets()? {
            // An unreadable secret stays as it is: using it reports why.
            let Ok(plain) = unlocked.decrypt(&ct) else {
                continue;
            };
            let Ok(Opened::Legacy(password)) = sealed::open(&plain) else {
                continue;
            };
            let conn = self.catalog.get(&name)?;
            let binding = self.binding(conn.id, &conn.spec);
            let (ct, v) = self
                .vault
                .encrypt_versioned(&sealed::seal(&binding, &password))?;
            version = v;
            items.push((name, ct));
        }
        let n = items.len();
        self.catalog.rebind_secrets(&items, version)?;
        self.catalog.set_setting(SETTING_SECRETS_BOUND, "1")?;
        if n > 0 {
            self.catalog.audit(
                "vault-bind",
                "vault",
                "ok",
                &format!("{n} secret(s) bound to their connection"),
            )?;
        }
        Ok(n)
    }

    /// Lockout guard (unless `force`) and in-flight guard, then resolve_password.
    pub fn begin_test(
        &mut self,
        name: &str,
        force: bool,
        prompted: Option<SecretString>,
    ) -> Result<TestJob, ProfileError> {
        let connection = self.catalog.get(name)?;
        if connection.auth_failures >= LOCKOUT_THRESHOLD && !force {
            return Err(ProfileError::LockoutGuard(connection.auth_failures));
        }
        if !self.in_flight.insert(connection.name.clone()) {
            return Err(ProfileError::TestInFlight(connection.name));
        }
        match self.resolve_password(&connection, prompted) {
            Ok(password) => Ok(TestJob {
                connection,
                password,
            }),
            Err(e) => {
                self.in_flight.remove(&connection.name);
                Err(e)
            }
        }
    }

    /// Whether a test of `name` is running.
    pub fn test_in_flight(&self, name: &str) -> bool {
        self.in_flight.contains(name)
    }

    /// Releases the in-flight guard without recording anything (a test that
    /// never started, e.g. the user dismissed it).
    pub fn abandon_test(&mut self, name: &str) {
        self.in_flight.remove(name);
    }

    /// Records the outcome (catalog + audit) and releases the in-flight guard.
    pub fn finish_test(&mut self, name: &str, result: &TestResult) -> Result<(), ProfileError> {
        // Released first, so a failure to record never leaves the connection stuck.
        self.in_flight.remove(name);
        let at = crate::store::catalog::now();
        let (outcome, auth_failure, detail) = match result {
            Ok(info) => {
                let latency = u64::try_from(info.latency.as_millis()).unwrap_or(u64::MAX);
                (
                    TestOutcome {
                        at,
                        ok: true,
                        status: "ok".into(),
                        error: None,
                        latency_ms: Some(latency),
                        server_version: Some(info.version.clone()),
                        tls: Some(info.tls),
                    },
                    false,
                    format!(
                        "{latency} ms, {}{}",
                        info.version,
                        if info.tls { ", TLS" } else { "" }
                    ),
                )
            }
            Err(e) => (
                TestOutcome {
                    at,
                    ok: false,
                    status: e.kind.message().to_string(),
                    // Connectors scrub their detail; scrub URL/key=value passwords again.
                    error: Some(sanitize(&e.detail, None)).filter(|d| !d.is_empty()),
                    latency_ms: None,
                    server_version: None,
                    tls: None,
                },
                e.kind == ErrorKind::InvalidCredentials,
                String::new(),
            ),
        };
        self.catalog.record_test(name, &outcome, auth_failure)?;
        self.catalog.audit("test", name, &outcome.status, &detail)?;
        Ok(())
    }

    /// New identity protected by `new_passphrase`; re-encrypts every secret in
    /// one transaction; returns how many were re-encrypted.
    ///
    /// Crash-safe: the new key files are written as `*.next`, the catalog
    /// commits the re-encrypted secrets and the new key version in one
    /// transaction, then the files are renamed into place. `Profile::open`
    /// finishes or undoes an interrupted rotation by comparing versions.
    pub fn rotate(&mut self, new_passphrase: &SecretString) -> Result<usize, ProfileError> {
        if !self.vault.is_initialised() {
            return Err(VaultError::NotInitialised.into());
        }
        if self.unlocked.is_none() {
            return Err(ProfileError::Locked);
        }
        let result = self.rotate_unlocked(new_passphrase);
        if let Err(e) = &result {
            // Error texts never carry a secret; the outcome is worth a row.
            self.catalog
                .audit("rotate", "vault", "failed", &e.to_string())?;
        }
        result
    }

    fn rotate_unlocked(&mut self, new_passphrase: &SecretString) -> Result<usize, ProfileError> {
        let unlocked = self.unlocked.as_ref().ok_or(ProfileError::Locked)?;
        let lock = self.vault.lock()?;
        let version = self.catalog.vault_key_version()?;
        self.vault.recover_locked(&lock, version)?;
        // Decrypt everything first: one unreadable secret aborts with nothing changed.
        let mut plain = Vec::new();
        for (name, ct, _) in self.catalog.secrets()? {
            let secret = unlocked.decrypt(&ct).map_err(|e| {
                ProfileError::Vault(VaultError::Other(format!(
                    "cannot rotate: the secret of '{name}' is unreadable ({e}); nothing was changed"
                )))
            })?;
            plain.push((name, secret));
        }
        let pending = self.vault.prepare_rotation(&lock, new_passphrase)?;
        crate::store::crash_point("rotate:prepared");
        let reencrypted: Result<Vec<(String, Vec<u8>)>, VaultError> = plain
            .iter()
            .map(|(name, secret)| Ok((name.clone(), pending.encrypt(secret)?)))
            .collect();
        let committed = reencrypted.map_err(ProfileError::from).and_then(|items| {
            self.catalog
                .rotate_secrets(&items, pending.version())
                .map_err(ProfileError::from)
        });
        if let Err(e) = committed {
            self.vault.abort_rotation(&lock)?;
            return Err(e);
        }
        crate::store::crash_point("rotate:committed");
        let new_version = pending.version();
        self.unlocked = Some(self.vault.commit_rotation(&lock, pending)?);
        drop(lock);
        // The agent must never keep the rotated-away identity.
        self.share_with_agent();
        let n = plain.len();
        self.catalog.audit(
            "rotate",
            "vault",
            "ok",
            &format!("key version {new_version}, {n} secret(s) re-encrypted"),
        )?;
        Ok(n)
    }

    /// Changes the vault's passphrase (and its scrypt work factor, when
    /// given) without changing its key: only identity.age is rewritten.
    /// Needs the vault unlocked with the passphrase (its own identity).
    pub fn passwd(
        &mut self,
        new_passphrase: &SecretString,
        work_factor: Option<u8>,
    ) -> Result<u8, ProfileError> {
        let unlocked = self.unlocked.as_ref().ok_or(ProfileError::Locked)?;
        if let Some(n) = work_factor {
            self.vault.set_work_factor(n);
        }
        let result = self.vault.passwd(unlocked, new_passphrase);
        let factor = self.vault.work_factor();
        match &result {
            Ok(()) => self.catalog.audit(
                "passwd",
                "vault",
                "ok",
                &format!("scrypt work factor {factor}"),
            )?,
            Err(e) => self
                .catalog
                .audit("passwd", "vault", "failed", &e.to_string())?,
        }
        result?;
        Ok(factor)
    }

    /// Adds a public key (age or SSH) to the vault's recipients and
    /// re-encrypts every stored secret to the new set, so that key (e.g. an
    /// SSH key given with `--identity`) can read them. Needs the vault unlocked.
    pub fn add_recipient(&mut self, public_key: &str) -> Result<usize, ProfileError> {
        let unlocked = self.unlocked.as_ref().ok_or(ProfileError::Locked)?;
        self.vault.add_recipient(public_key)?;
        let _lock = self.vault.lock()?;
        let mut items = Vec::new();
        let mut version = self.vault.key_version()?;
        for (name, ct, _) in self.catalog.secrets()? {
            let secret = unlocked.decrypt(&ct)?;
            let (ct, v) = self.vault.encrypt_versioned(&secret)?;
            version = v;
            items.push((name, ct));
        }
        let n = items.len();
        self.catalog.rotate_secrets(&items, version)?;
        self.catalog.audit(
            "vault-recipient",
            "vault",
            "ok",
            &format!("{n} secret(s) re-encrypted"),
        )?;
        Ok(n)
    }

    fn lock_initialised_vault(&self) -> Result<crate::store::vault::VaultLock, ProfileError> {
        if !self.vault.is_initialised() {
            return Err(VaultError::NotInitialised.into());
        }
        Ok(self.vault.lock()?)
    }
}

/// Name rules (field "name") and the spec's own rules, on the spec as it
/// will be stored (paths made absolute): the CLI and the TUI save alike.
fn validate(new: &mut NewConnection) -> Result<(), ProfileError> {
    validate_name(&new.name)?;
    new.spec.normalize()?;
    new.spec.validate()?;
    if let PasswordSource::Command(cmd) = &new.password_source {
        if cmd.trim().is_empty() {
            return Err(SpecError::new("password_command", "the command is empty").into());
        }
    }
    Ok(())
}

/// Non-empty, at most 64 characters, no control characters, no outer spaces.
pub fn validate_name(name: &str) -> Result<(), SpecError> {
    if name.trim().is_empty() {
        return Err(SpecError::new("name", "a name is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(SpecError::new(
            "name",
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(SpecError::new("name", "control characters are not allowed"));
    }
    if name.trim() != name {
        return Err(SpecError::new("name", "cannot start or end with a space"));
    }
    Ok(())
}

/// Audit detail of a connection: kind, target and tags (never a secret).
fn describe(c: &SavedConnection) -> String {
    format!(
        "{} {} env={} password={}",
        c.spec.kind.id(),
        c.spec.summary(),
        c.environment.id(),
        c.password_source.id()
    )
}

/// Reads a passphrase file, dropping one trailing newline (as `echo` writes it).
pub fn read_passphrase_file(path: &Path) -> Result<SecretString, ProfileError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        VaultError::Other(format!(
            "cannot read the passphrase file {}: {}",
            path.display(),
            e.kind()
        ))
    })?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| VaultError::Other("the passphrase file is not UTF-8".into()))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(SecretString::from(text.to_owned()))
}

/// How long a password command may run before it is killed.
pub const PASSWORD_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a password command (`sh -c`), stdin closed. Its output is the
/// password: it never reaches an error, a log or the disk, and neither does stderr.
pub fn run_password_command(cmd: &str) -> Result<SecretString, ProfileError> {
    run_password_command_with_timeout(cmd, PASSWORD_COMMAND_TIMEOUT)
}

/// [`run_password_command`] with an explicit limit; on expiry the command's
/// whole process group is killed.
pub fn run_password_command_with_timeout(
    cmd: &str,
    timeout: Duration,
) -> Result<SecretString, ProfileError> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group, so a timeout kills what it spawned too.
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| ProfileError::PasswordCommand(format!("cannot run sh: {}", e.kind())))?;
    // Drain both pipes on threads so a chatty command cannot block on a full pipe.
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut buf = Zeroizing::new(Vec::new());
            let _ = out.read_to_end(&mut buf);
            buf
        })
    });
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut sink = Zeroizing::new(Vec::new());
            let _ = err.read_to_end(&mut sink);
        })
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(ProfileError::PasswordCommand(format!(
                    "timed out after {} s",
                    timeout.as_secs_f32()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(&mut child);
                return Err(ProfileError::PasswordCommand(format!(
                    "cannot wait for it: {}",
                    e.kind()
                )));
            }
        }
    };
    if let Some(t) = stderr {
        let _ = t.join();
    }
    let output = stdout
        .and_then(|t| t.join().ok())
        .unwrap_or_else(|| Zeroizing::new(Vec::new()));
    if !status.success() {
        let status = match status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        return Err(ProfileError::PasswordCommand(status));
    }
    let text = std::str::from_utf8(&output)
        .map_err(|_| ProfileError::PasswordCommand("its output is not UTF-8".into()))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(ProfileError::PasswordCommand("it printed nothing".into()));
    }
    Ok(SecretString::from(text.to_owned()))
}

fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: signals the process group we created for this child.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_with_the_field() {
        for bad in ["", "   ", " lead", "a\tb", &"x".repeat(65)] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
        }
        assert!(validate_name("prod-db (eu) ✓").is_ok());
        assert!(validate_name(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn a_hanging_password_command_is_killed() {
        let err =
            run_password_command_with_timeout("sleep 30; echo late", Duration::from_millis(200))
                .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    #[test]
    fn a_large_password_command_output_does_not_block() {
        // 1 MiB on stderr and stdout: more than a pipe buffer holds.
        let pw = run_password_command(
            "head -c 1048576 /dev/zero | tr '\\0' x >&2; head -c 1048576 /dev/zero | tr '\\0' y",
        )
        .unwrap();
        assert_eq!(pw.expose_secret().len(), 1 << 20);
    }
}

#[cfg(test)]
mod send_check {
    // The TUI moves the profile into tokio tasks.
    fn assert_send<T: Send>() {}
    #[test]
    fn profile_is_send() {
        assert_send::<super::Profile>();
    }
}
