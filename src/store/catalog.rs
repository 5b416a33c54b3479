//! The profile's catalog: connections, test results, audit log, settings.
//! rusqlite, WAL, foreign keys on, numbered migrations in `schema_migrations`.

use crate::connectors::{ConnSpec, Environment, PasswordSource};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("a connection named '{0}' already exists")]
    Duplicate(String),
    #[error("no connection named '{0}'")]
    NotFound(String),
    #[error("catalog error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalog is corrupt: {0}")]
    Corrupt(String),
}

/// The result of a test, as recorded (never a secret).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TestOutcome {
    /// Unix seconds.
    pub at: i64,
    pub ok: bool,
    /// "ok" or the short error message ("Invalid credentials").
    pub status: String,
    /// Sanitized driver detail.
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
    pub server_version: Option<String>,
    pub tls: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SavedConnection {
    pub id: i64,
    pub name: String,
    pub spec: ConnSpec,
    pub environment: Environment,
    pub password_source: PasswordSource,
    /// Whether an encrypted secret is stored (the ciphertext itself is never exposed here).
    pub has_secret: bool,
    pub key_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_test: Option<TestOutcome>,
    /// Consecutive "Invalid credentials" results (lockout guard).
    pub auth_failures: u32,
}

/// What `add`/`edit` write (the ciphertext is produced by the vault).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    pub spec: ConnSpec,
    pub environment: Environment,
    pub password_source: PasswordSource,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// OS user running Varlor.
    pub actor: String,
    /// create, update, delete, test, unlock, rotate, import…
    pub action: String,
    /// Connection name or other subject.
    pub target: String,
    /// ok / failed / the short error.
    pub outcome: String,
    /// Free text, never a secret.
    pub detail: String,
}

pub struct Catalog {
    #[allow(dead_code)]
    conn: rusqlite::Connection,
}

/// How `update` treats the stored secret.
#[derive(Debug, Clone)]
pub enum SecretUpdate {
    /// Keep the stored ciphertext (editing without typing a new password).
    Keep,
    /// Remove it (explicit action).
    Clear,
    /// Replace it with this ciphertext of the given key version.
    Set(Vec<u8>, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub connections: i64,
    pub tests: i64,
    pub audit: i64,
}

// Contract (implemented by the store work; signatures are what the CLI and the TUI code against):
//
// impl Catalog {
//     pub fn open(path: &Path) -> Result<Catalog, CatalogError>;        // migrations, WAL, FKs, file 0600
//     pub fn open_in_memory() -> Result<Catalog, CatalogError>;
//     pub fn schema_version(&self) -> Result<i64, CatalogError>;
//     pub fn list(&self) -> Result<Vec<SavedConnection>, CatalogError>; // ordered by name
//     pub fn get(&self, name: &str) -> Result<SavedConnection, CatalogError>;
//     pub fn insert(&mut self, c: &NewConnection, secret: Option<(&[u8], i64)>) -> Result<SavedConnection, CatalogError>;
//     pub fn update(&mut self, old_name: &str, c: &NewConnection, secret: SecretUpdate) -> Result<SavedConnection, CatalogError>;
//     pub fn delete(&mut self, name: &str) -> Result<(), CatalogError>;
//     pub fn secret(&self, name: &str) -> Result<Option<(Vec<u8>, i64)>, CatalogError>;
//     pub fn record_test(&mut self, name: &str, outcome: &TestOutcome, auth_failure: bool) -> Result<(), CatalogError>;
//     pub fn audit(&mut self, action: &str, target: &str, outcome: &str, detail: &str) -> Result<(), CatalogError>;
//     pub fn audit_list(&self, since: Option<i64>) -> Result<Vec<AuditEntry>, CatalogError>;
//     pub fn audit_prune(&mut self, older_than_days: u32) -> Result<usize, CatalogError>;
//     pub fn setting(&self, key: &str) -> Result<Option<String>, CatalogError>;
//     pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), CatalogError>;
//     pub fn counts(&self) -> Result<Counts, CatalogError>;
// }
