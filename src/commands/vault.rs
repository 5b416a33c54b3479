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

use super::{
    ensure_unlocked, new_passphrase, passphrase_file_problem, print_json, read_passphrase_file,
    stored_secrets, vault_problem, CliError, Ctx,
};
use crate::cli::VaultCommand;
use crate::display::display_text;
use crate::store::VaultState;

pub fn run(ctx: &Ctx, cmd: VaultCommand) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    match cmd {
        VaultCommand::Init {
            ssh_recipient,
            work_factor,
        } => {
            // Read every key before creating anything: a bad file is exit 2
            // and no vault.
            let keys = ssh_recipient
                .iter()
                .map(|p| read_public_key(p))
                .collect::<Result<Vec<_>, _>>()?;
            let state = profile.vault().state();
            if state.is_ready() {
                return Err(CliError::usage(format!(
                    "the vault of profile '{}' already exists",
                    ctx.profile
                ))
                .hint("`varlor vault rotate` changes its key and passphrase"));
            }
            // Only a leftover identity with nothing encrypted to it may be
            // replaced; every other broken state has its own way out.
            let leftover = state == VaultState::RecipientsMissing && stored_secrets(&profile) == 0;
            if !leftover {
                if let Some(problem) = vault_problem(&profile, &state) {
                    return Err(problem);
                }
            }
            let passphrase = new_passphrase(None, "VARLOR_PASSPHRASE_FILE")?;
            if let Some(n) = work_factor {
                profile.set_work_factor(n);
            }
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
            profile.require_own_identity();
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
            profile.require_own_identity();
            ensure_unlocked(&mut profile, ctx)?;
            let passphrase =
                new_passphrase(new_passphrase_file.as_deref(), "VARLOR_NEW_PASSPHRASE_FILE")?;
            let n = profile.rotate(&passphrase)?;
            tracing::info!(profile = %ctx.profile, secrets = n, "vault rotated");
            let version = profile.vault().key_version().ok();
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
        VaultCommand::Passwd {
            new_passphrase_file,
            work_factor,
        } => {
            // The current passphrase is asked even with an agent running.
            profile.require_own_identity();
            ensure_unlocked(&mut profile, ctx)?;
            let passphrase =
                new_passphrase(new_passphrase_file.as_deref(), "VARLOR_NEW_PASSPHRASE_FILE")?;
            let factor = profile.passwd(&passphrase, work_factor)?;
            tracing::info!(profile = %ctx.profile, work_factor = factor, "vault passphrase changed");
            println!(
                "New passphrase for profile '{}' (scrypt work factor {factor}: {} MiB to unlock); the key is unchanged.",
                ctx.profile,
                crate::store::vault::unlock_memory_bytes(factor) >> 20
            );
            Ok(())
        }
        VaultCommand::Lock => {
            match crate::agent::Client::connect() {
                Ok(c) => {
                    let n = c
                        .forget_all()
                        .map_err(|e| CliError::failed(e.to_string()))?;
                    tracing::info!(count = n, "agent told to forget every identity");
                    println!(
                        "The agent forgot {n} identit{}; the next command asks for the passphrase.",
                        if n == 1 { "y" } else { "ies" }
                    );
                }
                Err(crate::agent::AgentError::NotRunning) => {
                    println!("No agent is running: nothing is unlocked.");
                }
                Err(e) => return Err(CliError::failed(e.to_string())),
            }
            Ok(())
        }
        VaultCommand::Repair => repair(ctx, &mut profile),
        VaultCommand::Reset { yes } => reset(ctx, &mut profile, yes),
        VaultCommand::Status { json } => {
            let state = profile.vault().state();
            let initialised = state.is_ready();
            let key_version = match state {
                VaultState::Ready { key_version } => Some(key_version),
                _ => None,
            };
            let problem = vault_problem(&profile, &state).or_else(passphrase_file_problem);
            let conns = profile.list()?;
            let secrets = conns.iter().filter(|c| c.has_secret).count();
            let factor = profile.vault().identity_work_factor().ok();
            let memory = factor.map(crate::store::vault::unlock_memory_bytes);
            if json {
                return print_json(&json!({
                    "profile": ctx.profile,
                    "initialised": initialised,
                    "key_version": key_version,
                    "identity_file": profile.paths.identity().display().to_string(),
                    "recipients_file": profile.paths.recipients().display().to_string(),
                    "connections": conns.len(),
                    "secrets": secrets,
                    "state": state.id(),
                    "work_factor": factor,
                    "unlock_memory_bytes": memory,
                    "problem": problem.as_ref().map(|p| p.message.clone()),
                    "hint": problem.as_ref().and_then(|p| p.hint.clone()),
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
            } else if state == VaultState::Absent {
                println!("vault        not initialised (`varlor vault init`)");
            } else {
                println!("vault        broken ({})", state.id().replace('_', " "));
            }
            println!(
                "identity     {}",
                display_text(&profile.paths.identity().display().to_string())
            );
            println!(
                "recipients   {}",
                display_text(&profile.paths.recipients().display().to_string())
            );
            if let (Some(f), Some(m)) = (factor, memory) {
                println!("work factor  {f} (an unlock needs {} MiB)", m >> 20);
            }
            println!("secrets      {secrets} of {} connections", conns.len());
            if let Some(p) = problem {
                println!("problem      {}", p.message);
                if let Some(h) = p.hint {
                    println!("way out      {h}");
                }
                return Err(CliError::silent(super::EXIT_FAILED));
            }
            Ok(())
        }
    }
}

/// `vault repair`: rebuilds recipients.txt from identity.age (passphrase).
fn repair(ctx: &Ctx, profile: &mut crate::profile::Profile) -> Result<(), CliError> {
    let state = profile.vault().state();
    if !matches!(
        state,
        VaultState::RecipientsMissing | VaultState::RecipientsDamaged(_)
    ) {
        return match vault_problem(profile, &state) {
            Some(p) => Err(p),
            None if state.is_ready() => {
                println!("The vault of profile '{}' needs no repair.", ctx.profile);
                Ok(())
            }
            None => {
                Err(CliError::failed("the vault is not initialised")
                    .hint("run `varlor vault init`"))
            }
        };
    }
    let passphrase = match std::env::var_os("VARLOR_PASSPHRASE_FILE").filter(|f| !f.is_empty()) {
        Some(f) => read_passphrase_file(std::path::Path::new(&f))?,
        None if super::interactive() => {
            super::prompt_secret(&format!("Vault passphrase (profile {}): ", ctx.profile))?
        }
        None => {
            return Err(
                CliError::failed("the passphrase is needed to repair the vault")
                    .hint("set VARLOR_PASSPHRASE_FILE=FILE, or run on a terminal to be asked"),
            )
        }
    };
    let unlocked = profile.vault().unlock(&passphrase).map_err(|e| {
        CliError::failed(format!(
            "cannot unlock {}: {e}",
            profile.paths.identity().display()
        ))
    })?;
    // The version the stored secrets were encrypted at.
    let version = profile
        .catalog()
        .vault_key_version()
        .ok()
        .flatten()
        .or_else(|| {
            profile
                .catalog()
                .secrets()
                .ok()
                .and_then(|s| s.iter().map(|(_, _, v)| *v).max())
        })
        .unwrap_or(1);
    profile
        .vault()
        .repair_recipients(&unlocked, version)
        .map_err(|e| CliError::failed(format!("cannot repair the vault: {e}")))?;
    tracing::info!(profile = %ctx.profile, "vault recipients rebuilt");
    let _ = profile.audit("vault repair", "vault", "ok", "");
    println!(
        "Rebuilt {} from {} (key version {version}). Keys added with `vault add-recipient` must be added again.",
        profile.paths.recipients().display(),
        profile.paths.identity().display()
    );
    Ok(())
}

/// `vault reset --yes`: the identity is gone, so are the secrets; keep the
/// connections and move the vault files aside for a new `vault init`.
fn reset(ctx: &Ctx, profile: &mut crate::profile::Profile, yes: bool) -> Result<(), CliError> {
    let state = profile.vault().state();
    match state {
        VaultState::IdentityMissing | VaultState::IdentityDamaged(_) => {}
        VaultState::RecipientsMissing | VaultState::RecipientsDamaged(_) => {
            return Err(CliError::usage(
                "the vault identity is intact: nothing needs to be dropped",
            )
            .hint("`varlor vault repair` rebuilds the public key file from it"))
        }
        VaultState::Ready { .. } => {
            return Err(
                CliError::usage("the vault is not broken: nothing was changed")
                    .hint("`varlor vault rotate` changes its key and passphrase"),
            )
        }
        VaultState::Absent => {
            return Err(CliError::usage("there is no vault to reset")
                .hint("`varlor vault init` creates one"))
        }
    }
    let n = stored_secrets(profile);
    if !yes {
        return Err(CliError::usage(format!(
            "this drops {n} stored secret(s) of profile '{}' for good (connections are kept)",
            ctx.profile
        ))
        .hint("pass --yes to confirm, or restore identity.age from a backup instead"));
    }
    // Secrets first: if setting the files aside fails, a second reset
    // finds nothing left to lose.
    let dropped = profile
        .drop_all_secrets()
        .map_err(|e| CliError::failed(format!("cannot drop the stored secrets: {e}")))?;
    let moved = profile
        .vault()
        .set_aside_files()
        .map_err(|e| CliError::failed(format!("cannot set the vault files aside: {e}")))?;
    tracing::info!(profile = %ctx.profile, dropped, "vault reset");
    let _ = profile.audit(
        "vault reset",
        "vault",
        "ok",
        &format!("{dropped} secrets dropped"),
    );
    for p in &moved {
        println!("Kept {} aside.", p.display());
    }
    println!(
        "Dropped {dropped} stored secret(s); connections are kept. Run `varlor vault init`, then set their passwords again (`varlor edit NAME --password-stdin`)."
    );
    Ok(())
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
