//! A profile opened for work: paths, config, catalog and vault together, and
//! the operations both the CLI and the TUI perform (add, edit, remove,
//! unlock, password resolution, test bookkeeping with audit and the lockout
//! guard). Synchronous and quick; network work happens in `connectors`.

use secrecy::SecretString;

use crate::connectors::{ConnError, ServerInfo};
use crate::store::{CatalogError, PathsError, SavedConnection, VaultError};

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

// Contract (implemented by the store work):
//
// pub struct Profile { pub paths: Paths, pub config: Config, pub catalog: Catalog, pub vault: Vault, .. }
// impl Profile {
//     /// Resolves paths (VARLOR_HOME / XDG), creates dirs 0700, opens the catalog, creates the demo
//     /// connection on first run, loads config.toml.
//     pub fn open(name: &str) -> Result<Profile, ProfileError>;
//     pub fn open_at(paths: Paths) -> Result<Profile, ProfileError>;
//     pub fn list(&self) -> Result<Vec<SavedConnection>, ProfileError>;
//     pub fn get(&self, name: &str) -> Result<SavedConnection, ProfileError>;
//     /// Encrypts `password` to the recipients (no passphrase needed) unless the source is not Vault.
//     pub fn add(&mut self, new: NewConnection, password: Option<SecretString>) -> Result<SavedConnection, ProfileError>;
//     /// `password`: None keeps the stored secret, Some(None) clears it, Some(Some(p)) replaces it.
//     pub fn edit(&mut self, old_name: &str, new: NewConnection, password: Option<Option<SecretString>>) -> Result<SavedConnection, ProfileError>;
//     pub fn remove(&mut self, name: &str) -> Result<(), ProfileError>;
//     pub fn vault_initialised(&self) -> bool;
//     pub fn init_vault(&mut self, passphrase: &SecretString) -> Result<(), ProfileError>;
//     pub fn is_unlocked(&self) -> bool;
//     pub fn unlock(&mut self, passphrase: &SecretString) -> Result<(), ProfileError>;      // audited
//     pub fn unlock_with_identity(&mut self, path: &Path) -> Result<(), ProfileError>;
//     /// Unlock from VARLOR_PASSPHRASE_FILE / --identity when set; Ok(false) if neither is set.
//     pub fn unlock_from_env(&mut self, identity: Option<&Path>) -> Result<bool, ProfileError>;
//     /// Whether connecting to `conn` needs the vault unlocked first.
//     pub fn needs_unlock(&self, conn: &SavedConnection) -> bool;
//     /// Vault → decrypt (Locked if locked); Command → run it; Prompt → `prompted` or PasswordNeeded.
//     pub fn resolve_password(&self, conn: &SavedConnection, prompted: Option<SecretString>) -> Result<Option<SecretString>, ProfileError>;
//     /// Lockout guard (unless `force`) + in-flight guard, then resolve_password.
//     pub fn begin_test(&mut self, name: &str, force: bool, prompted: Option<SecretString>) -> Result<TestJob, ProfileError>;
//     /// Records the outcome (catalog + audit) and releases the in-flight guard.
//     pub fn finish_test(&mut self, name: &str, result: &TestResult) -> Result<(), ProfileError>;
//     pub fn rotate(&mut self, new_passphrase: &SecretString) -> Result<usize, ProfileError>;
// }
