//! `varlor vault init [--ssh-recipient FILE.pub]…|add-recipient FILE.pub|rotate|status`.
//!
//! A recipient is a public key (SSH ssh-ed25519/ssh-rsa, or age `age1…`) the
//! secrets are also encrypted to, so its private key given with `--identity`
//! unlocks the vault without the passphrase (scripts, SSH sessions).
//!
//! `vault status --json`:
//!
//! ```json
//! { "profile": "default", "initialised": true, "key_version": 2,
//!   "identity_file": "/…/identity.age", "recipients_file": "/…/recipients.txt",
//!   "connections": 3, "secrets": 2 }
//! ```

use serde_json::json;

use super::{ensure_unlocked, new_passphrase, print_json, CliError, Ctx};
use crate::cli::VaultCommand;
use crate::display::display_text;

pub fn run(ctx: &Ctx, cmd: VaultCommand) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    match cmd {
        VaultCommand::Init { ssh_recipient } => {
            // Read every key before creating anything: a bad file is exit 2
            // and no vault.
            let keys = ssh_recipient
                .iter()
                .map(|p| read_public_key(p))
                .collect::<Result<Vec<_>, _>>()?;
            if profile.vault_initialised() {
                return Err(CliError::usage(format!(
                    "the vault of profile '{}' already exists",
                    ctx.profile
                ))
                .hint("`varlor vault rotate` changes its key and passphrase"));
            }
            let passphrase = new_passphrase(None, "VARLOR_PASSPHRASE_FILE")?;
            profile.init_vault(&passphrase)?;
            tracing::info!(profile = %ctx.profile, "vault initialised");
            println!(
                "Vault created for profile '{}' ({}).",
                ctx.profile,
                display_text(&profile.paths.profile_dir.display().to_string())
            );
            for (path, key) in ssh_recipient.iter().zip(&keys) {
                profile.add_recipient(key)?;
                println!(
                    "{} from {} can unlock it (--identity with its private key).",
                    key_kind(key),
                    display_text(&path.display().to_string())
                );
            }
            Ok(())
        }
        VaultCommand::AddRecipient { file } => {
            let key = read_public_key(&file)?;
            ensure_unlocked(&mut profile, ctx)?;
            let n = profile.add_recipient(&key)?;
            tracing::info!(profile = %ctx.profile, secrets = n, "vault recipient added");
            println!(
                "{} from {} can unlock profile '{}'; {n} secret{} re-encrypted.",
                key_kind(&key),
                display_text(&file.display().to_string()),
                ctx.profile,
                if n == 1 { "" } else { "s" }
            );
            Ok(())
        }
        VaultCommand::Rotate {
            new_passphrase_file,
        } => {
            ensure_unlocked(&mut profile, ctx)?;
            let passphrase =
                new_passphrase(new_passphrase_file.as_deref(), "VARLOR_NEW_PASSPHRASE_FILE")?;
            let n = profile.rotate(&passphrase)?;
            tracing::info!(profile = %ctx.profile, secrets = n, "vault rotated");
            let version = profile.vault.key_version().ok();
            println!(
                "New key{} for profile '{}'; {n} secret{} re-encrypted.",
                version
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default(),
                ctx.profile,
                if n == 1 { "" } else { "s" }
            );
            Ok(())
        }
        VaultCommand::Status { json } => {
            let initialised = profile.vault_initialised();
            let key_version = if initialised {
                profile.vault.key_version().ok()
            } else {
                None
            };
            let conns = profile.list()?;
            let secrets = conns.iter().filter(|c| c.has_secret).count();
            if json {
                return print_json(&json!({
                    "profile": ctx.profile,
                    "initialised": initialised,
                    "key_version": key_version,
                    "identity_file": profile.paths.identity().display().to_string(),
                    "recipients_file": profile.paths.recipients().display().to_string(),
                    "connections": conns.len(),
                    "secrets": secrets,
                }));
            }
            println!("profile      {}", ctx.profile);
            if initialised {
                println!(
                    "vault        initialised{}",
                    key_version
                        .map(|v| format!(", key version {v}"))
                        .unwrap_or_default()
                );
            } else {
                println!("vault        not initialised (`varlor vault init`)");
            }
            println!(
                "identity     {}",
                display_text(&profile.paths.identity().display().to_string())
            );
            println!(
                "recipients   {}",
                display_text(&profile.paths.recipients().display().to_string())
            );
            println!("secrets      {secrets} of {} connections", conns.len());
            Ok(())
        }
    }
}

/// The first non-empty, non-comment line of a public key file, checked
/// before anything is written; a private key given by mistake is refused
/// without its content appearing anywhere.
fn read_public_key(path: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("recipient: cannot read {}: {e}", path.display())))?;
    let text = zeroize::Zeroizing::new(text);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    let parses = if line.starts_with("ssh-") {
        line.parse::<age::ssh::Recipient>().is_ok()
    } else if line.starts_with("age1") {
        line.parse::<age::x25519::Recipient>().is_ok()
    } else {
        false
    };
    if parses {
        return Ok(line.to_string());
    }
    let hint = if line.starts_with("-----BEGIN") || line.starts_with("AGE-SECRET-KEY-") {
        "that is a private key: give the public one (e.g. ~/.ssh/id_ed25519.pub)"
    } else {
        "expected an ssh-ed25519 / ssh-rsa public key line or an age1… key"
    };
    Err(CliError::usage(format!("recipient: {} is not a public key", path.display())).hint(hint))
}

/// "SSH key (ssh-ed25519)" / "age key", for messages (never the key itself).
fn key_kind(key: &str) -> String {
    match key.split_whitespace().next() {
        Some(t) if t.starts_with("ssh-") => format!("SSH key ({t})"),
        _ => "age key".to_string(),
    }
}
