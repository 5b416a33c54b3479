//! The age vault of a profile (see DESIGN.md): `recipients.txt` (public keys,
//! so saving needs no passphrase) and `identity.age` (the x25519 identity,
//! encrypted with a passphrase via scrypt). Unlocked once per run, in memory only.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

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

// Bodies are implemented by the store work; the signatures are the contract.
impl Vault {
    /// The vault of a profile directory (nothing is read yet).
    pub fn new(profile_dir: &Path) -> Vault {
        Vault {
            dir: profile_dir.to_path_buf(),
        }
    }
    /// `recipients.txt` and `identity.age` exist.
    pub fn is_initialised(&self) -> bool {
        todo!()
    }
    /// Creates a new identity protected by `passphrase`; refuses to overwrite.
    pub fn init(&self, _passphrase: &SecretString) -> Result<(), VaultError> {
        todo!()
    }
    /// Encrypts to the recipients: no passphrase needed.
    pub fn encrypt(&self, _secret: &SecretString) -> Result<Vec<u8>, VaultError> {
        todo!()
    }
    pub fn key_version(&self) -> Result<i64, VaultError> {
        todo!()
    }
    pub fn unlock(&self, _passphrase: &SecretString) -> Result<UnlockedVault, VaultError> {
        todo!()
    }
    /// An age identity file or an unencrypted SSH private key.
    pub fn unlock_with_identity_file(&self, _path: &Path) -> Result<UnlockedVault, VaultError> {
        todo!()
    }
}

impl UnlockedVault {
    pub fn decrypt(&self, _ciphertext: &[u8]) -> Result<SecretString, VaultError> {
        todo!()
    }
}
