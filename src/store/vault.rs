//! The age vault of a profile (see DESIGN.md): `recipients.txt` (public keys,
//! so saving needs no passphrase) and `identity.age` (the x25519 identity,
//! encrypted with a passphrase via scrypt). Unlocked once per run, in memory only.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("the vault is not initialised (run `varlor vault init`)")]
    NotInitialised,
    #[error("identity file missing: {0}")]
    MissingIdentity(PathBuf),
    #[error("secret cannot be decrypted: it was tampered with or is corrupt")]
    Tampered,
    #[error("secret belongs to another profile or an old key")]
    ForeignSecret,
    #[error("vault file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("vault error: {0}")]
    Other(String),
}

pub struct Vault {
    #[allow(dead_code)]
    dir: PathBuf,
}

pub struct UnlockedVault {}
