//! Local state of a profile: the catalog (SQLite), the age vault, and where
//! their files live.

pub mod catalog;
pub mod paths;
pub mod vault;

pub use catalog::{AuditEntry, Catalog, CatalogError, NewConnection, SavedConnection, TestOutcome};
pub use paths::{Paths, PathsError};
pub use vault::{UnlockedVault, Vault, VaultError};
