//! Local state of a profile: the catalog (SQLite), the age vault, and where
//! their files live.

pub mod catalog;
pub mod memory;
pub mod paths;
pub mod sealed;
pub mod vault;

pub use catalog::{AuditEntry, Catalog, CatalogError, NewConnection, SavedConnection, TestOutcome};
pub use paths::{Paths, PathsError};
pub use vault::{UnlockedVault, Vault, VaultError, VaultState};

/// Environment variable naming a crash point for the crash-safety tests.
#[doc(hidden)]
pub const CRASH_AT_ENV: &str = "VARLOR_TEST_CRASH_AT";

/// Failure injection for the crash-safety tests: when `VARLOR_TEST_CRASH_AT`
/// names this point, the process aborts on the spot (no destructors, no
/// flushing: like `kill -9`). A no-op otherwise.
#[doc(hidden)]
pub fn crash_point(name: &str) {
    if std::env::var_os(CRASH_AT_ENV).is_some_and(|v| v == name) {
        std::process::abort();
    }
}
