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

use std::path::Path;

// Bodies are implemented by the store work; the signatures are the contract
// the CLI and the TUI code against.
impl Catalog {
    /// Opens (creating if needed) with migrations, WAL, foreign keys; file 0600.
    pub fn open(_path: &Path) -> Result<Catalog, CatalogError> {
        todo!()
    }
    pub fn open_in_memory() -> Result<Catalog, CatalogError> {
        todo!()
    }
    pub fn schema_version(&self) -> Result<i64, CatalogError> {
        todo!()
    }
    /// Ordered by name.
    pub fn list(&self) -> Result<Vec<SavedConnection>, CatalogError> {
        todo!()
    }
    pub fn get(&self, _name: &str) -> Result<SavedConnection, CatalogError> {
        todo!()
    }
    /// `secret`: ciphertext and the key version it was made with.
    pub fn insert(
        &mut self,
        _c: &NewConnection,
        _secret: Option<(&[u8], i64)>,
    ) -> Result<SavedConnection, CatalogError> {
        todo!()
    }
    pub fn update(
        &mut self,
        _old_name: &str,
        _c: &NewConnection,
        _secret: SecretUpdate,
    ) -> Result<SavedConnection, CatalogError> {
        todo!()
    }
    pub fn delete(&mut self, _name: &str) -> Result<(), CatalogError> {
        todo!()
    }
    /// The stored ciphertext and its key version.
    pub fn secret(&self, _name: &str) -> Result<Option<(Vec<u8>, i64)>, CatalogError> {
        todo!()
    }
    /// Records a test; `auth_failure` bumps the consecutive counter, anything else resets it.
    pub fn record_test(
        &mut self,
        _name: &str,
        _outcome: &TestOutcome,
        _auth_failure: bool,
    ) -> Result<(), CatalogError> {
        todo!()
    }
    pub fn audit(
        &mut self,
        _action: &str,
        _target: &str,
        _outcome: &str,
        _detail: &str,
    ) -> Result<(), CatalogError> {
        todo!()
    }
    pub fn audit_list(&self, _since: Option<i64>) -> Result<Vec<AuditEntry>, CatalogError> {
        todo!()
    }
    pub fn audit_prune(&mut self, _older_than_days: u32) -> Result<usize, CatalogError> {
        todo!()
    }
    pub fn setting(&self, _key: &str) -> Result<Option<String>, CatalogError> {
        todo!()
    }
    pub fn set_setting(&mut self, _key: &str, _value: &str) -> Result<(), CatalogError> {
        todo!()
    }
    pub fn counts(&self) -> Result<Counts, CatalogError> {
        todo!()
    }
}
