//! `varlor vault init|rotate|status`.
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

pub fn run(ctx: &Ctx, cmd: VaultCommand) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    match cmd {
        VaultCommand::Init => {
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
                profile.paths.profile_dir.display()
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
            println!("identity     {}", profile.paths.identity().display());
            println!("recipients   {}", profile.paths.recipients().display());
            println!("secrets      {secrets} of {} connections", conns.len());
            Ok(())
        }
    }
}
