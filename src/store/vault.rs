//! The age vault of a profile (see DESIGN.md): `recipients.txt` (public keys,
//! so saving needs no passphrase) and `identity.age` (the x25519 identity,
//! encrypted with a passphrase via scrypt). Unlocked once per run, in memory only.
//!
//! Files (profile dir 0700, files 0600, written temp-file + fsync + rename):
//! - `recipients.txt`: `# key-version: N` and one public key per line: the
//!   profile's `age1…` key, plus optional `ssh-ed25519`/`ssh-rsa` keys
//!   ([`Vault::add_recipient`]) so an SSH private key given with `--identity`
//!   can read the secrets (only those encrypted after it was added, or after
//!   `Profile::add_recipient` / a rotation re-encrypted them).
//! - `identity.age`: the `AGE-SECRET-KEY-…` line, age-scrypt encrypted, armored.
//! - `.vault.lock`: flock held by rotation, recovery and saving a secret.
//!
//! Rotation (crash-safe, see `Profile::rotate`): write `recipients.txt.next`
//! then `identity.age.next` (version N+1); one catalog transaction stores the
//! re-encrypted secrets and `vault_key_version = N+1`; rename
//! `identity.age.next`, then `recipients.txt.next`, into place. On open,
//! [`Vault::recover`] compares the catalog's version with the `.next` files:
//! equal → finish the renames; catalog still at the current version → delete them.

use std::path::{Path, PathBuf};

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

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
    /// The unlock would need more memory than this machine (or its cgroup)
    /// has available: refused before scrypt runs, instead of an OOM kill.
    #[error(
        "unlocking this vault needs {} of memory (scrypt work factor {log_n}) but only {} is available; nothing was changed",
        mib(*needed), mib(*available)
    )]
    NotEnoughMemory {
        log_n: u8,
        needed: u64,
        available: u64,
    },
    #[error("vault error: {0}")]
    Other(String),
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes.div_ceil(1 << 20))
}

/// What the vault's files say, read without a passphrase: the one
/// diagnosis `vault status`, `doctor`, `vault init` and every command that
/// needs the vault share, so they never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultState {
    /// Neither `identity.age` nor `recipients.txt`: `vault init` makes it.
    Absent,
    /// Both files present and well-formed.
    Ready { key_version: i64 },
    /// `recipients.txt` without `identity.age`: stored secrets cannot be
    /// read any more (only a backup of the identity brings them back).
    IdentityMissing,
    /// `identity.age` without `recipients.txt`: an interrupted init, or a
    /// deleted file; rebuilt from the identity by `vault repair`.
    RecipientsMissing,
    /// `identity.age` cannot be read or is not a passphrase-protected age
    /// file (the reason, never a secret).
    IdentityDamaged(String),
    /// `recipients.txt` cannot be read or parsed; rebuilt by `vault repair`.
    RecipientsDamaged(String),
}

impl VaultState {
    /// Whether secrets can be saved and read (after an unlock).
    pub fn is_ready(&self) -> bool {
        matches!(self, VaultState::Ready { .. })
    }
    /// A short identifier for `--json` output.
    pub fn id(&self) -> &'static str {
        match self {
            VaultState::Absent => "absent",
            VaultState::Ready { .. } => "ready",
            VaultState::IdentityMissing => "identity_missing",
            VaultState::RecipientsMissing => "recipients_missing",
            VaultState::IdentityDamaged(_) => "identity_damaged",
            VaultState::RecipientsDamaged(_) => "recipients_damaged",
        }
    }
}

/// The vault of one profile directory.
pub struct Vault {
    dir: PathBuf,
    /// scrypt work factor (log2 N) for identity.age.
    work_factor: u8,
}

/// The profile's identities, decrypted in memory only. The x25519 secret is
/// zeroized on drop by age; nothing here is Debug-printable.
pub struct UnlockedVault {
    keys: Vec<Key>,
}

enum Key {
    X25519(age::x25519::Identity),
    Ssh(age::ssh::Identity),
}

impl Key {
    fn as_identity(&self) -> &dyn age::Identity {
        match self {
            Key::X25519(k) => k,
            Key::Ssh(k) => k,
        }
    }
}

impl std::fmt::Debug for UnlockedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UnlockedVault({} key(s), redacted)", self.keys.len())
    }
}

const RECIPIENTS: &str = "recipients.txt";
const IDENTITY: &str = "identity.age";
const NEXT: &str = ".next";
const LOCK: &str = ".vault.lock";
const TMP_PREFIX: &str = ".tmp-";
const VERSION_TAG: &str = "# key-version:";

/// Environment override of the scrypt work factor (log2 N, 10..=22): lets
/// test suites create vaults quickly. Unset means [`DEFAULT_WORK_FACTOR`].
pub const WORK_FACTOR_ENV: &str = "VARLOR_SCRYPT_WORK_FACTOR";

/// The scrypt work factor (log2 N) of new vaults and `vault passwd`:
/// 2^18 needs 256 MiB to unlock, whatever machine created the vault (age
/// would calibrate it to that machine's speed instead).
pub const DEFAULT_WORK_FACTOR: u8 = 18;

/// The work factors Varlor writes and reads (2^22 = 4 GiB is the most
/// [`Vault::unlock`] accepts; below 2^10 a passphrase is cheap to guess).
pub const WORK_FACTORS: std::ops::RangeInclusive<u8> = 10..=22;

/// Memory one scrypt unlock needs at work factor `log_n`: 128·r·N bytes with r = 8.
pub fn unlock_memory_bytes(log_n: u8) -> u64 {
    128 * 8 * (1u64 << log_n.min(40))
}

/// A public key secrets are encrypted to.
#[derive(Clone)]
enum RecipientKey {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl RecipientKey {
    fn parse(line: &str) -> Option<RecipientKey> {
        if line.starts_with("age1") {
            line.parse().ok().map(RecipientKey::X25519)
        } else if line.starts_with("ssh-") {
            line.parse().ok().map(RecipientKey::Ssh)
        } else {
            None
        }
    }
    fn as_recipient(&self) -> &dyn age::Recipient {
        match self {
            RecipientKey::X25519(r) => r,
            RecipientKey::Ssh(r) => r,
        }
    }
    fn to_line(&self) -> String {
        match self {
            RecipientKey::X25519(r) => r.to_string(),
            RecipientKey::Ssh(r) => r.to_string(),
        }
    }
}

/// Parsed `recipients.txt`.
#[derive(Clone)]
struct Recipients {
    version: i64,
    keys: Vec<RecipientKey>,
}

impl Recipients {
    fn parse(text: &str) -> Result<Recipients, VaultError> {
        let mut version = 1;
        let mut keys = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(v) = line.strip_prefix(VERSION_TAG) {
                version = v.trim().parse().map_err(|_| {
                    VaultError::Other(format!("{RECIPIENTS} line {}: bad key version", i + 1))
                })?;
            } else if line.is_empty() || line.starts_with('#') {
                continue;
            } else {
                keys.push(RecipientKey::parse(line).ok_or_else(|| {
                    VaultError::Other(format!(
                        "{RECIPIENTS} line {}: not an age or SSH public key",
                        i + 1
                    ))
                })?);
            }
        }
        if keys.is_empty() {
            return Err(VaultError::Other(format!(
                "{RECIPIENTS} holds no public key"
            )));
        }
        Ok(Recipients { version, keys })
    }

    fn render(&self) -> String {
        let mut out = String::from(
            "# Varlor vault recipients: public keys the profile's secrets are encrypted to.\n\
             # Not secret. Managed by varlor; edit only with `varlor vault` commands.\n",
        );
        out.push_str(&format!("{VERSION_TAG} {}\n", self.version));
        for k in &self.keys {
            out.push_str(&k.to_line());
            out.push('\n');
        }
        out
    }

    fn encrypt(&self, secret: &SecretString) -> Result<Vec<u8>, VaultError> {
        let encryptor =
            age::Encryptor::with_recipients(self.keys.iter().map(RecipientKey::as_recipient))
                .map_err(|e| VaultError::Other(format!("cannot encrypt: {e}")))?;
        let mut out = Vec::with_capacity(secret.expose_secret().len() + 256);
        let mut w = encryptor.wrap_output(&mut out)?;
        w.write_all(secret.expose_secret().as_bytes())?;
        w.finish()?;
        Ok(out)
    }

    fn contains_x25519(&self, id: &age::x25519::Identity) -> bool {
        let public = id.to_public().to_string();
        self.keys
            .iter()
            .any(|k| matches!(k, RecipientKey::X25519(r) if r.to_string() == public))
    }
}

/// Proof that this process holds the vault's advisory lock (flock on
/// `.vault.lock`). Rotation, recovery and the save path take it, so a secret
/// is never encrypted to a key that a concurrent rotation is replacing.
/// Released on drop, and by the kernel if the process dies.
pub struct VaultLock {
    _file: std::fs::File,
}

/// A rotation in progress: the new key files are written as `*.next`; the
/// caller re-encrypts the secrets and commits the catalog, then calls
/// [`Vault::commit_rotation`].
pub struct PendingRotation {
    version: i64,
    identity: age::x25519::Identity,
    recipients: Recipients,
}

impl PendingRotation {
    pub fn version(&self) -> i64 {
        self.version
    }
    /// Encrypts to the new recipients.
    pub fn encrypt(&self, secret: &SecretString) -> Result<Vec<u8>, VaultError> {
        self.recipients.encrypt(secret)
    }
}

/// What [`Vault::recover`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// No interrupted rotation.
    Clean,
    /// The catalog had committed rotation to this version: the key files were installed.
    Finished(i64),
    /// The catalog had not committed: the half-written key files were removed.
    RolledBack,
    /// The catalog's version matches neither key set; nothing was touched.
    Mismatch,
}

impl Vault {
    /// The vault of a profile directory (nothing is read yet).
    pub fn new(profile_dir: &Path) -> Vault {
        let work_factor = std::env::var(WORK_FACTOR_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u8>().ok())
            .filter(|n| WORK_FACTORS.contains(n))
            .unwrap_or(DEFAULT_WORK_FACTOR);
        Vault {
            dir: profile_dir.to_path_buf(),
            work_factor,
        }
    }

    /// Overrides the scrypt work factor (log2 N) used when writing identity.age.
    pub fn set_work_factor(&mut self, log_n: u8) {
        self.work_factor = log_n.clamp(1, 30);
    }

    /// The work factor identity.age is written with.
    pub fn work_factor(&self) -> u8 {
        self.work_factor
    }

    /// The scrypt work factor recorded in identity.age's header (`-> scrypt
    /// <salt> <logN>`), read without the passphrase.
    pub fn identity_work_factor(&self) -> Result<u8, VaultError> {
        let bytes = std::fs::read(self.identity_path())?;
        header_work_factor(&bytes).ok_or_else(|| {
            VaultError::Other("identity.age has no scrypt stanza in its header".into())
        })
    }

    /// Refuses (NotEnoughMemory) when unlocking identity.age would need more
    /// memory than is available; Ok when it fits or cannot be measured.
    pub fn check_unlock_memory(&self) -> Result<(), VaultError> {
        let Ok(log_n) = self.identity_work_factor() else {
            return Ok(()); // unreadable: the unlock reports why
        };
        check_memory_for(log_n)
    }

    /// Changes the passphrase (and work factor) of identity.age without
    /// changing the key: nothing else is re-encrypted. Needs the vault's own
    /// identity (a passphrase unlock), not an SSH key.
    pub fn passwd(
        &self,
        unlocked: &UnlockedVault,
        new_passphrase: &SecretString,
    ) -> Result<(), VaultError> {
        check_passphrase(new_passphrase)?;
        let identity = unlocked.x25519().ok_or_else(|| {
            VaultError::Other(
                "changing the passphrase needs the vault's own identity: unlock with the passphrase"
                    .into(),
            )
        })?;
        let _lock = self.lock()?;
        let r = self.read_recipients()?;
        if !r.contains_x25519(identity) {
            return Err(VaultError::Other(
                "the unlocked identity is not the vault's current key (rotated meanwhile?); nothing was changed"
                    .into(),
            ));
        }
        let sealed = self.seal_identity(identity, new_passphrase)?;
        write_atomic(&self.dir, &self.identity_path(), &sealed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn recipients_path(&self) -> PathBuf {
        self.dir.join(RECIPIENTS)
    }
    pub fn identity_path(&self) -> PathBuf {
        self.dir.join(IDENTITY)
    }
    fn next_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{NEXT}"))
    }

    /// Diagnoses the vault's files (no passphrase needed; see [`VaultState`]).
    pub fn state(&self) -> VaultState {
        let present = |p: &Path| std::fs::symlink_metadata(p).is_ok();
        let (identity, recipients) = (self.identity_path(), self.recipients_path());
        let id_problem = || -> Option<String> {
            let bytes = match std::fs::read(&identity) {
                Ok(b) => b,
                Err(e) => return Some(format!("cannot read it: {e}")),
            };
            match age::Decryptor::new_buffered(ArmoredReader::new(&bytes[..])) {
                Ok(d) if d.is_scrypt() => None,
                Ok(_) => Some("it is not protected by a passphrase".into()),
                Err(_) => Some("it is not an age file (damaged or replaced)".into()),
            }
        };
        match (present(&identity), present(&recipients)) {
            (false, false) => VaultState::Absent,
            (false, true) => VaultState::IdentityMissing,
            (true, false) => match id_problem() {
                Some(why) => VaultState::IdentityDamaged(why),
                None => VaultState::RecipientsMissing,
            },
            (true, true) => {
                if let Some(why) = id_problem() {
                    return VaultState::IdentityDamaged(why);
                }
                match read_recipients_at(&recipients) {
                    Ok(Some(r)) => VaultState::Ready {
                        key_version: r.version,
                    },
                    Ok(None) => VaultState::RecipientsMissing,
                    Err(e) => VaultState::RecipientsDamaged(e.to_string()),
                }
            }
        }
    }

    /// Rebuilds `recipients.txt` from the unlocked identity (its x25519
    /// public key, at `key_version`) when it is missing or damaged; a damaged
    /// one is kept beside it as `recipients.txt.broken-<unix time>`. SSH or
    /// other recipients it listed are not known any more: add them again.
    pub fn repair_recipients(
        &self,
        unlocked: &UnlockedVault,
        key_version: i64,
    ) -> Result<(), VaultError> {
        let _lock = self.lock()?;
        let keys: Vec<RecipientKey> = unlocked
            .keys
            .iter()
            .filter_map(|k| match k {
                Key::X25519(id) => Some(RecipientKey::X25519(id.to_public())),
                Key::Ssh(_) => None,
            })
            .collect();
        if keys.is_empty() {
            return Err(VaultError::Other(
                "repair needs the vault's own identity: unlock with the passphrase".into(),
            ));
        }
        if self.recipients_path().exists() {
            self.set_aside(&self.recipients_path())?;
        }
        let r = Recipients {
            version: key_version.max(1),
            keys,
        };
        write_atomic(&self.dir, &self.recipients_path(), r.render().as_bytes())
    }

    /// Moves the vault's files aside (`<name>.broken-<unix time>`, never
    /// deleted) so `vault init` can start a new vault. Returns the new paths.
    pub fn set_aside_files(&self) -> Result<Vec<PathBuf>, VaultError> {
        let _lock = self.lock()?;
        let mut moved = Vec::new();
        for p in [self.identity_path(), self.recipients_path()] {
            if std::fs::symlink_metadata(&p).is_ok() {
                moved.push(self.set_aside(&p)?);
            }
        }
        sync_dir(&self.dir)?;
        Ok(moved)
    }

    fn set_aside(&self, path: &Path) -> Result<PathBuf, VaultError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut target = self.dir.join(format!("{name}.broken-{now}"));
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = self.dir.join(format!("{name}.broken-{now}-{n}"));
        }
        std::fs::rename(path, &target)?;
        Ok(target)
    }

    /// `recipients.txt` and `identity.age` exist.
    pub fn is_initialised(&self) -> bool {
        self.recipients_path().is_file() && self.identity_path().is_file()
    }

    /// Creates a new identity protected by `passphrase`; refuses to overwrite.
    pub fn init(&self, passphrase: &SecretString) -> Result<(), VaultError> {
        self.init_unlocked(passphrase).map(drop)
    }

    /// Like [`Vault::init`], and returns the new identity unlocked (saves a
    /// second scrypt run right after init).
    pub fn init_unlocked(&self, passphrase: &SecretString) -> Result<UnlockedVault, VaultError> {
        check_passphrase(passphrase)?;
        let _lock = self.lock()?;
        // recipients.txt is the commit point: once it exists, secrets may be
        // encrypted to it, so it is never replaced. An identity.age without
        // it is a leftover of an interrupted init and is overwritten.
        if self.recipients_path().exists() {
            return Err(VaultError::Other(
                "the vault is already initialised; nothing was changed".into(),
            ));
        }
        let identity = age::x25519::Identity::generate();
        let recipients = Recipients {
            version: 1,
            keys: vec![RecipientKey::X25519(identity.to_public())],
        };
        let sealed = self.seal_identity(&identity, passphrase)?;
        write_atomic(&self.dir, &self.identity_path(), &sealed)?;
        write_atomic(
            &self.dir,
            &self.recipients_path(),
            recipients.render().as_bytes(),
        )?;
        Ok(UnlockedVault {
            keys: vec![Key::X25519(identity)],
        })
    }

    fn read_recipients(&self) -> Result<Recipients, VaultError> {
        read_recipients_at(&self.recipients_path())?.ok_or(VaultError::NotInitialised)
    }

    /// Encrypts to the recipients: no passphrase needed.
    pub fn encrypt(&self, secret: &SecretString) -> Result<Vec<u8>, VaultError> {
        self.encrypt_versioned(secret).map(|(ct, _)| ct)
    }

    /// Encrypts and says which key version the ciphertext belongs to (one read
    /// of recipients.txt, so the two always agree).
    pub fn encrypt_versioned(&self, secret: &SecretString) -> Result<(Vec<u8>, i64), VaultError> {
        let r = self.read_recipients()?;
        Ok((r.encrypt(secret)?, r.version))
    }

    pub fn key_version(&self) -> Result<i64, VaultError> {
        Ok(self.read_recipients()?.version)
    }

    /// The public keys in recipients.txt (not secret).
    pub fn recipients(&self) -> Result<Vec<String>, VaultError> {
        Ok(self
            .read_recipients()?
            .keys
            .iter()
            .map(RecipientKey::to_line)
            .collect())
    }

    pub fn unlock(&self, passphrase: &SecretString) -> Result<UnlockedVault, VaultError> {
        let identity_path = self.identity_path();
        let sealed = match std::fs::read(&identity_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if self.recipients_path().exists() {
                    VaultError::MissingIdentity(identity_path)
                } else {
                    VaultError::NotInitialised
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(log_n) = header_work_factor(&sealed) {
            check_memory_for(log_n)?;
        }
        let identity = open_identity(&sealed, passphrase)?;
        // A damaged recipients.txt does not stop reading secrets (and
        // `vault repair` needs this unlock to rebuild it).
        if let Ok(Some(r)) = read_recipients_at(&self.recipients_path()) {
            if !r.contains_x25519(&identity) {
                return Err(VaultError::Other(
                    "identity.age does not match recipients.txt (files from different vaults?)"
                        .into(),
                ));
            }
        }
        Ok(UnlockedVault {
            keys: vec![Key::X25519(identity)],
        })
    }

    /// An age identity file or an unencrypted SSH private key.
    pub fn unlock_with_identity_file(&self, path: &Path) -> Result<UnlockedVault, VaultError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::MissingIdentity(path.to_path_buf()))
            }
            Err(e) => return Err(e.into()),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| not_an_identity(path))?;
        let trimmed = text.trim_start();
        if trimmed.starts_with("age-encryption.org/") || trimmed.starts_with("-----BEGIN AGE") {
            return Err(VaultError::Other(format!(
                "{} is an encrypted age file: give an unencrypted identity file, or use the passphrase",
                path.display()
            )));
        }
        if trimmed.starts_with("-----BEGIN") {
            let id = age::ssh::Identity::from_buffer(trimmed.as_bytes(), None)
                .map_err(|_| not_an_identity(path))?;
            return match id {
                age::ssh::Identity::Unencrypted(_) => Ok(UnlockedVault {
                    keys: vec![Key::Ssh(id)],
                }),
                age::ssh::Identity::Encrypted(_) => Err(VaultError::Other(format!(
                    "the SSH key {} is passphrase-protected: use an unencrypted key or the vault passphrase",
                    path.display()
                ))),
                age::ssh::Identity::Unsupported(_) => Err(VaultError::Other(format!(
                    "the SSH key type of {} is not supported (use ssh-ed25519 or ssh-rsa)",
                    path.display()
                ))),
            };
        }
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with("AGE-SECRET-KEY-") {
                let id = line
                    .parse::<age::x25519::Identity>()
                    .map_err(|_| not_an_identity(path))?;
                keys.push(Key::X25519(id));
            }
        }
        if keys.is_empty() {
            return Err(not_an_identity(path));
        }
        Ok(UnlockedVault { keys })
    }

    /// Adds a public key (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`) to
    /// recipients.txt. Secrets saved afterwards are readable by its identity
    /// too; existing ones after a re-encryption (`Profile::add_recipient` or a rotation).
    pub fn add_recipient(&self, public_key: &str) -> Result<(), VaultError> {
        let key = RecipientKey::parse(public_key.trim()).ok_or_else(|| {
            VaultError::Other("not an age (age1…) or SSH (ssh-ed25519/ssh-rsa) public key".into())
        })?;
        let _lock = self.lock()?;
        let mut r = self.read_recipients()?;
        let line = key.to_line();
        if r.keys.iter().any(|k| k.to_line() == line) {
            return Ok(());
        }
        r.keys.push(key);
        write_atomic(&self.dir, &self.recipients_path(), r.render().as_bytes())
    }

    /// Takes the vault's advisory lock (blocks while another process holds it).
    pub fn lock(&self) -> Result<VaultLock, VaultError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).read(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(self.dir.join(LOCK))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            loop {
                // SAFETY: flock on a file descriptor we own.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
                if rc == 0 {
                    break;
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err.into());
                }
            }
        }
        Ok(VaultLock { _file: file })
    }

    /// Finishes or undoes a rotation interrupted by a crash, judged by the
    /// catalog's recorded key version (read under the vault lock). Also
    /// removes temp files left by an interrupted atomic write.
    pub fn recover(&self, catalog: &super::Catalog) -> Result<Recovery, VaultError> {
        let lock = self.lock()?;
        let version = catalog
            .vault_key_version()
            .map_err(|e| VaultError::Other(e.to_string()))?;
        self.recover_locked(&lock, version)
    }

    /// [`Vault::recover`] with the lock held and the catalog's version already read.
    pub fn recover_locked(
        &self,
        _lock: &VaultLock,
        catalog_version: Option<i64>,
    ) -> Result<Recovery, VaultError> {
        remove_temp_files(&self.dir)?;
        let next_recipients = self.next_path(RECIPIENTS);
        let next_identity = self.next_path(IDENTITY);
        let pending = read_recipients_at(&next_recipients).unwrap_or(None);
        let current = read_recipients_at(&self.recipients_path()).unwrap_or(None);
        let Some(pending) = pending else {
            // No (readable) recipients.next: commit renames identity first and
            // recipients second, so a lone identity.next was never committed.
            let mut touched = remove_if_exists(&next_identity)?;
            touched |= remove_if_exists(&next_recipients)?;
            return Ok(if touched {
                Recovery::RolledBack
            } else {
                Recovery::Clean
            });
        };
        if catalog_version == Some(pending.version) {
            // The catalog already holds secrets for the new key: install it.
            if next_identity.exists() {
                std::fs::rename(&next_identity, self.identity_path())?;
            }
            std::fs::rename(&next_recipients, self.recipients_path())?;
            sync_dir(&self.dir)?;
            return Ok(Recovery::Finished(pending.version));
        }
        let uncommitted = match (catalog_version, &current) {
            (None, _) => true,
            (Some(v), Some(cur)) => v == cur.version,
            (Some(_), None) => false,
        };
        if uncommitted {
            remove_if_exists(&next_identity)?;
            remove_if_exists(&next_recipients)?;
            sync_dir(&self.dir)?;
            Ok(Recovery::RolledBack)
        } else {
            Ok(Recovery::Mismatch)
        }
    }

    /// Step 1 of a rotation: a new identity protected by `new_passphrase`,
    /// written to `identity.age.next` and `recipients.txt.next` (version + 1,
    /// keeping any SSH recipients). Nothing in use changes yet.
    pub fn prepare_rotation(
        &self,
        _lock: &VaultLock,
        new_passphrase: &SecretString,
    ) -> Result<PendingRotation, VaultError> {
        check_passphrase(new_passphrase)?;
        let current = self.read_recipients()?;
        let identity = age::x25519::Identity::generate();
        let mut keys = vec![RecipientKey::X25519(identity.to_public())];
        keys.extend(
            current
                .keys
                .iter()
                .filter(|k| matches!(k, RecipientKey::Ssh(_)))
                .cloned(),
        );
        let recipients = Recipients {
            version: current.version + 1,
            keys,
        };
        let sealed = self.seal_identity(&identity, new_passphrase)?;
        // recipients.next first: recovery treats a lone identity.next as uncommitted.
        write_atomic(
            &self.dir,
            &self.next_path(RECIPIENTS),
            recipients.render().as_bytes(),
        )?;
        write_atomic(&self.dir, &self.next_path(IDENTITY), &sealed)?;
        Ok(PendingRotation {
            version: recipients.version,
            identity,
            recipients,
        })
    }

    /// Step 3 (after the catalog committed the re-encrypted secrets):
    /// installs the new key files and returns the new identity unlocked.
    pub fn commit_rotation(
        &self,
        _lock: &VaultLock,
        pending: PendingRotation,
    ) -> Result<UnlockedVault, VaultError> {
        std::fs::rename(self.next_path(IDENTITY), self.identity_path())?;
        super::crash_point("rotate:identity-renamed");
        std::fs::rename(self.next_path(RECIPIENTS), self.recipients_path())?;
        sync_dir(&self.dir)?;
        Ok(UnlockedVault {
            keys: vec![Key::X25519(pending.identity)],
        })
    }

    /// Undoes step 1 (the catalog did not commit).
    pub fn abort_rotation(&self, _lock: &VaultLock) -> Result<(), VaultError> {
        remove_if_exists(&self.next_path(IDENTITY))?;
        remove_if_exists(&self.next_path(RECIPIENTS))?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    fn seal_identity(
        &self,
        identity: &age::x25519::Identity,
        passphrase: &SecretString,
    ) -> Result<Vec<u8>, VaultError> {
        let mut plain = Zeroizing::new(String::new());
        plain.push_str("# Varlor profile identity (age X25519)\n# public key: ");
        plain.push_str(&identity.to_public().to_string());
        plain.push('\n');
        plain.push_str(identity.to_string().expose_secret());
        plain.push('\n');
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        recipient.set_work_factor(self.work_factor);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| VaultError::Other(format!("cannot encrypt the identity: {e}")))?;
        let mut out = Vec::new();
        let armored = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)?;
        let mut w = encryptor.wrap_output(armored)?;
        w.write_all(plain.as_bytes())?;
        w.finish()?.finish()?;
        Ok(out)
    }
}

impl UnlockedVault {
    /// The vault's own x25519 identity, if this unlock has it (not an SSH key).
    fn x25519(&self) -> Option<&age::x25519::Identity> {
        self.keys.iter().find_map(|k| match k {
            Key::X25519(id) => Some(id),
            Key::Ssh(_) => None,
        })
    }

    /// The x25519 identity's secret text (`AGE-SECRET-KEY-…`), to hand to
    /// the agent over its socket; never printed, logged or written.
    pub fn x25519_secret(&self) -> Option<SecretString> {
        self.x25519().map(|id| id.to_string())
    }

    /// An unlocked vault from an `AGE-SECRET-KEY-…` line (the agent's side).
    pub fn from_x25519_secret(secret: &str) -> Result<UnlockedVault, VaultError> {
        let id = secret
            .trim()
            .parse::<age::x25519::Identity>()
            .map_err(|_| VaultError::Other("not an age identity".into()))?;
        Ok(UnlockedVault {
            keys: vec![Key::X25519(id)],
        })
    }

    /// The public key of the x25519 identity (`age1…`), not secret.
    pub fn x25519_public(&self) -> Option<String> {
        self.x25519().map(|id| id.to_public().to_string())
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<SecretString, VaultError> {
        let plain = decrypt_bytes(self.keys.iter().map(Key::as_identity), ciphertext)?;
        secret_text(&plain)
    }
}

/// A decrypted secret's bytes as text (the agent's answers go through this too).
pub fn secret_text(plain: &[u8]) -> Result<SecretString, VaultError> {
    let text = std::str::from_utf8(plain)
        .map_err(|_| VaultError::Other("the decrypted secret is not text".into()))?;
    Ok(SecretString::from(text.to_owned()))
}

/// Decrypts a secret with one x25519 identity (what the agent does).
pub fn decrypt_with_x25519(
    identity: &age::x25519::Identity,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    decrypt_bytes(std::iter::once(identity as &dyn age::Identity), ciphertext)
}

fn decrypt_bytes<'a>(
    identities: impl Iterator<Item = &'a dyn age::Identity>,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(ciphertext))
        .map_err(|_| VaultError::Tampered)?;
    let mut reader = decryptor.decrypt(identities).map_err(|e| match e {
        // No stanza opens with our key: another profile's secret, or
        // one made for a key that has since been rotated away.
        age::DecryptError::NoMatchingKeys => VaultError::ForeignSecret,
        _ => VaultError::Tampered,
    })?;
    let mut plain = Zeroizing::new(Vec::new());
    // The payload is authenticated chunk by chunk: any flipped byte fails here.
    reader
        .read_to_end(&mut plain)
        .map_err(|_| VaultError::Tampered)?;
    Ok(plain)
}

/// The `logN` of the first `-> scrypt <salt> <logN>` stanza of an (armored
/// or binary) age file's header; None if it has none or is not age.
pub fn header_work_factor(file: &[u8]) -> Option<u8> {
    let mut plain = Vec::new();
    // The header is at the start; 64 KiB of dearmored text holds it.
    let _ = ArmoredReader::new(file)
        .take(64 * 1024)
        .read_to_end(&mut plain);
    let text = String::from_utf8_lossy(&plain);
    let mut lines = text.lines();
    if !lines.next()?.starts_with("age-encryption.org/") {
        return None;
    }
    for line in lines {
        if line.starts_with("---") {
            break;
        }
        let mut words = line.split(' ');
        if words.next() == Some("->") && words.next() == Some("scrypt") {
            let _salt = words.next()?;
            return words.next()?.parse().ok();
        }
    }
    None
}

fn check_memory_for(log_n: u8) -> Result<(), VaultError> {
    let needed = unlock_memory_bytes(log_n);
    match super::memory::available_bytes() {
        Some(available) if needed > available => Err(VaultError::NotEnoughMemory {
            log_n,
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

fn not_an_identity(path: &Path) -> VaultError {
    VaultError::Other(format!(
        "{} is not an age identity (AGE-SECRET-KEY-…) or an unencrypted SSH private key",
        path.display()
    ))
}

fn check_passphrase(p: &SecretString) -> Result<(), VaultError> {
    if p.expose_secret().is_empty() {
        return Err(VaultError::Other("the passphrase cannot be empty".into()));
    }
    Ok(())
}

/// Decrypts identity.age with the passphrase and parses the x25519 identity.
fn open_identity(
    sealed: &[u8],
    passphrase: &SecretString,
) -> Result<age::x25519::Identity, VaultError> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(sealed))
        .map_err(|_| VaultError::Tampered)?;
    if !decryptor.is_scrypt() {
        return Err(VaultError::Other(
            "identity.age is not protected by a passphrase".into(),
        ));
    }
    let mut identity = age::scrypt::Identity::new(passphrase.clone());
    // age caps the work at ~16x this machine's measured 1 s; on a busy host
    // the measurement is low, so allow up to 2^22 (our own file, 0600).
    identity.set_max_work_factor(22);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                VaultError::WrongPassphrase
            }
            age::DecryptError::ExcessiveWork { .. } => VaultError::Other(
                "identity.age needs more scrypt work than this machine allows".into(),
            ),
            _ => VaultError::Tampered,
        })?;
    let mut plain = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plain)
        .map_err(|_| VaultError::Tampered)?;
    let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Tampered)?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| l.parse::<age::x25519::Identity>().ok())
        .ok_or(VaultError::Tampered)
}

/// Ok(None) if the file does not exist.
fn read_recipients_at(path: &Path) -> Result<Option<Recipients>, VaultError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Recipients::parse(&t).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Temp file in the same directory, fsync, rename over `target`, fsync the
/// directory: readers see the old file or the new one, never a torn one.
fn write_atomic(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)?;
    // tempfile creates 0600 already; be explicit in case that ever changes.
    super::paths::set_mode(tmp.path(), 0o600)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| VaultError::Io(e.error))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<bool, VaultError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Temp files of interrupted atomic writes (only ever written under the lock).
fn remove_temp_files(dir: &Path) -> Result<(), VaultError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(dir: &Path) -> Vault {
        let mut v = Vault::new(dir);
        v.set_work_factor(10);
        v
    }

    #[test]
    fn recipients_round_trip_with_version() {
        let id = age::x25519::Identity::generate();
        let r = Recipients {
            version: 7,
            keys: vec![RecipientKey::X25519(id.to_public())],
        };
        let parsed = Recipients::parse(&r.render()).unwrap();
        assert_eq!(parsed.version, 7);
        assert!(parsed.contains_x25519(&id));
    }

    #[test]
    fn garbage_recipient_line_is_named() {
        let Err(err) = Recipients::parse("# key-version: 1\nnot-a-key\n") else {
            panic!("accepted")
        };
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn lone_identity_next_is_rolled_back() {
        let tmp = tempfile::tempdir().unwrap();
        let v = quick(tmp.path());
        v.init(&SecretString::from("pw")).unwrap();
        std::fs::write(v.next_path(IDENTITY), b"junk").unwrap();
        std::fs::write(tmp.path().join(".tmp-abc"), b"junk").unwrap();
        let lock = v.lock().unwrap();
        assert_eq!(
            v.recover_locked(&lock, Some(1)).unwrap(),
            Recovery::RolledBack
        );
        assert!(!v.next_path(IDENTITY).exists());
        assert!(!tmp.path().join(".tmp-abc").exists());
    }

    #[test]
    fn unlocked_vault_debug_is_redacted() {
        let v = UnlockedVault {
            keys: vec![Key::X25519(age::x25519::Identity::generate())],
        };
        assert!(!format!("{v:?}").contains("AGE-SECRET-KEY"));
    }
}
