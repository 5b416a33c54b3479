//! A profile opened for work: paths, config, catalog and vault together, and
//! the operations both the CLI and the TUI perform (add, edit, remove,
//! unlock, password resolution, test bookkeeping with audit and the lockout
//! guard). Synchronous and quick; network work happens in `connectors`.

use std::path::Path;

use secrecy::SecretString;

use crate::config::Config;

use crate::connectors::{ConnError, ServerInfo};
use crate::store::{
    Catalog, CatalogError, NewConnection, Paths, PathsError, SavedConnection, UnlockedVault, Vault,
    VaultError,
};

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
    pub catalog: Catalog,
    pub vault: Vault,
    #[allow(dead_code)]
    unlocked: Option<UnlockedVault>,
}

// Bodies are implemented by the store work; the signatures are the contract
// the CLI and the TUI code against.
impl Profile {
    /// Resolves paths (VARLOR_HOME / XDG), creates dirs 0700, opens the
    /// catalog, creates the demo connection on first run, loads config.toml.
    pub fn open(_name: &str) -> Result<Profile, ProfileError> {
        todo!()
    }
    pub fn open_at(_paths: Paths) -> Result<Profile, ProfileError> {
        todo!()
    }
    pub fn list(&self) -> Result<Vec<SavedConnection>, ProfileError> {
        todo!()
    }
    pub fn get(&self, _name: &str) -> Result<SavedConnection, ProfileError> {
        todo!()
    }
    /// Encrypts `password` to the recipients (no passphrase needed) when the
    /// source is the vault; initialises nothing (errors if no vault and a secret is given).
    pub fn add(
        &mut self,
        _new: NewConnection,
        _password: Option<SecretString>,
    ) -> Result<SavedConnection, ProfileError> {
        todo!()
    }
    /// `password`: None keeps the stored secret, Some(None) clears it, Some(Some(p)) replaces it.
    pub fn edit(
        &mut self,
        _old_name: &str,
        _new: NewConnection,
        _password: Option<Option<SecretString>>,
    ) -> Result<SavedConnection, ProfileError> {
        todo!()
    }
    pub fn remove(&mut self, _name: &str) -> Result<(), ProfileError> {
        todo!()
    }
    pub fn vault_initialised(&self) -> bool {
        todo!()
    }
    pub fn init_vault(&mut self, _passphrase: &SecretString) -> Result<(), ProfileError> {
        todo!()
    }
    pub fn is_unlocked(&self) -> bool {
        todo!()
    }
    /// Audited (outcome only).
    pub fn unlock(&mut self, _passphrase: &SecretString) -> Result<(), ProfileError> {
        todo!()
    }
    pub fn unlock_with_identity(&mut self, _path: &Path) -> Result<(), ProfileError> {
        todo!()
    }
    /// Unlocks from `--identity` or VARLOR_PASSPHRASE_FILE when given; Ok(false) if neither is.
    pub fn unlock_from_env(&mut self, _identity: Option<&Path>) -> Result<bool, ProfileError> {
        todo!()
    }
    /// Whether connecting to `conn` needs the vault unlocked first.
    pub fn needs_unlock(&self, _conn: &SavedConnection) -> bool {
        todo!()
    }
    /// Vault → decrypt (Locked if locked); Command → run it; Prompt → `prompted` or PasswordNeeded.
    pub fn resolve_password(
        &self,
        _conn: &SavedConnection,
        _prompted: Option<SecretString>,
    ) -> Result<Option<SecretString>, ProfileError> {
        todo!()
    }
    /// Lockout guard (unless `force`) and in-flight guard, then resolve_password.
    pub fn begin_test(
        &mut self,
        _name: &str,
        _force: bool,
        _prompted: Option<SecretString>,
    ) -> Result<TestJob, ProfileError> {
        todo!()
    }
    /// Records the outcome (catalog + audit) and releases the in-flight guard.
    pub fn finish_test(&mut self, _name: &str, _result: &TestResult) -> Result<(), ProfileError> {
        todo!()
    }
    /// New identity protected by `new_passphrase`; re-encrypts every secret in
    /// one transaction; returns how many were re-encrypted.
    pub fn rotate(&mut self, _new_passphrase: &SecretString) -> Result<usize, ProfileError> {
        todo!()
    }
}
