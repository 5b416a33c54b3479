//! A bundle: connections with their passwords, age-encrypted (armored) to
//! the recipients' public keys only (age `age1…`, `ssh-ed25519`, `ssh-rsa`).
//! The plaintext (JSON, with a format version) exists only in memory,
//! zeroized after use; never the sender's identity, never a file in clear.
//!
//! Reading refuses, before anything is imported: a bundle not encrypted to
//! the reader's key, a tampered or truncated one (age authenticates every
//! chunk and the end), and one of a newer format version.

use std::io::Write;

use age::armor::{ArmoredWriter, Format};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::connectors::{ConnSpec, Environment};
use crate::store::VaultError;

/// The format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;
const KIND: &str = "varlor-connections";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("no recipient given")]
    NoRecipient,
    #[error("recipient: '{0}' is not an age (age1…) or SSH (ssh-ed25519/ssh-rsa) public key")]
    BadRecipient(String),
    #[error("this bundle is not encrypted to your key (wrong recipient): ask the sender to export it to your public key")]
    NotForMe,
    #[error("the bundle is damaged, truncated or was tampered with: nothing imported")]
    Damaged,
    #[error("the bundle was made by a newer Varlor (format {0}, this one reads up to {FORMAT}): upgrade to import it")]
    Newer(u32),
    #[error("not a Varlor connections bundle")]
    NotABundle,
    #[error("cannot encrypt the bundle: {0}")]
    Encrypt(String),
    #[error("{0}")]
    Vault(VaultError),
}

impl From<VaultError> for BundleError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::ForeignSecret => BundleError::NotForMe,
            VaultError::Tampered => BundleError::Damaged,
            other => BundleError::Vault(other),
        }
    }
}

/// One connection in a bundle.
#[derive(Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub spec: ConnSpec,
    pub environment: Environment,
    /// "vault" (with or without a password), "prompt" or "none".
    pub password_source: String,
    #[serde(default)]
    pub password: Option<String>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(p) = self.password.as_mut() {
            p.zeroize();
        }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({}, redacted)", self.name)
    }
}

impl Entry {
    pub fn secret(&self) -> Option<SecretString> {
        self.password.clone().map(SecretString::from)
    }
}

#[derive(Serialize, Deserialize)]
struct Payload {
    format: u32,
    kind: String,
    created_at: i64,
    connections: Vec<Entry>,
}

/// A parsed public key.
pub enum Recipient {
    Age(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    pub fn parse(text: &str) -> Result<Recipient, BundleError> {
        let t = text.trim();
        let bad = || {
            BundleError::BadRecipient(crate::display::display_text(t).chars().take(40).collect())
        };
        if t.starts_with("age1") {
            t.parse().map(Recipient::Age).map_err(|_| bad())
        } else if t.starts_with("ssh-") {
            t.parse().map(Recipient::Ssh).map_err(|_| bad())
        } else {
            Err(bad())
        }
    }

    /// Every key of a public-key file (`recipients.txt`, `id_ed25519.pub`),
    /// blank lines and `#` comments skipped.
    pub fn parse_file(text: &str) -> Result<Vec<Recipient>, BundleError> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(Recipient::parse)
            .collect()
    }

    fn as_age(&self) -> &dyn age::Recipient {
        match self {
            Recipient::Age(r) => r,
            Recipient::Ssh(r) => r,
        }
    }
}

/// Encrypts `entries` to `recipients`: the armored bundle.
pub fn seal(
    entries: Vec<Entry>,
    recipients: &[Recipient],
    now: i64,
) -> Result<Vec<u8>, BundleError> {
    if recipients.is_empty() {
        return Err(BundleError::NoRecipient);
    }
    let payload = Payload {
        format: FORMAT,
        kind: KIND.into(),
        created_at: now,
        connections: entries,
    };
    let plain = Zeroizing::new(
        serde_json::to_vec(&payload).map_err(|e| BundleError::Encrypt(e.to_string()))?,
    );
    drop(payload);
    seal_raw(&plain, recipients)
}

/// A decrypted bundle's connections, checked: right kind, known format.
pub fn open(plain: &SecretString) -> Result<Vec<Entry>, BundleError> {
    #[derive(Deserialize)]
    struct Head {
        format: u32,
        kind: String,
    }
    let head: Head =
        serde_json::from_str(plain.expose_secret()).map_err(|_| BundleError::NotABundle)?;
    if head.kind != KIND {
        return Err(BundleError::NotABundle);
    }
    if head.format > FORMAT {
        return Err(BundleError::Newer(head.format));
    }
    let p: Payload =
        serde_json::from_str(plain.expose_secret()).map_err(|_| BundleError::NotABundle)?;
    Ok(p.connections)
}

/// Decrypts a bundle with an unlocked vault (or identity file) and opens it.
pub fn read(
    unlocked: &crate::store::vault::UnlockedVault,
    armored: &[u8],
) -> Result<Vec<Entry>, BundleError> {
    let plain = unlocked.decrypt(armored)?;
    open(&plain)
}

/// Encrypts `plain` to `recipients`, armored (also how tests make odd bundles).
pub fn seal_raw(plain: &[u8], recipients: &[Recipient]) -> Result<Vec<u8>, BundleError> {
    if recipients.is_empty() {
        return Err(BundleError::NoRecipient);
    }
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(Recipient::as_age))
        .map_err(|e| BundleError::Encrypt(e.to_string()))?;
    let enc = |e: std::io::Error| BundleError::Encrypt(e.to_string());
    let mut out = Vec::new();
    let armored = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(enc)?;
    let mut w = encryptor.wrap_output(armored).map_err(enc)?;
    w.write_all(plain).map_err(enc)?;
    w.finish().and_then(|a| a.finish()).map_err(enc)?;
    Ok(out)
}
