//! `varlor doctor`: verifies a profile like a setup script would —
//! directories and permissions, catalog migrations, the vault (a round trip
//! and every stored secret, when it can be unlocked without a prompt), counts.
//! Exit 1 when any check fails.
//!
//! `--json`:
//!
//! ```json
//! { "ok": true, "profile": "default", "schema_version": 3,
//!   "counts": { "connections": 1, "tests": 4, "audit": 9 },
//!   "checks": [ { "check": "data dir", "status": "ok"|"fail"|"skip", "detail": "…" } ] }
//! ```

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{colour_stdout, paint, print_json, read_passphrase_file, CliError, Ctx, Style};
use crate::connectors::Kind;
use crate::display::display_text;
use crate::profile::Profile;
use crate::store::UnlockedVault;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    Skip,
    /// Works, but should be changed (does not fail the run).
    Warn,
}

struct Check {
    name: String,
    status: Status,
    detail: String,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status,
            detail: detail.into(),
        });
    }
}

pub fn run(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let profile = ctx.open()?;
    let mut r = Report::default();
    let p = &profile.paths;

    // The config holds no secret: only writable-by-others is a failure there.
    check_mode(&mut r, "config dir", &p.config_dir, true, 0o022);
    for (label, dir) in [
        ("data dir", &p.data_dir),
        ("state dir", &p.state_dir),
        ("profile dir", &p.profile_dir),
        ("log dir", &p.log_dir()),
    ] {
        check_mode(&mut r, label, dir, true, 0o077);
    }
    let mut files = vec![
        ("catalog", p.catalog()),
        ("identity", p.identity()),
        ("recipients", p.recipients()),
        ("catalog wal", p.profile_dir.join("catalog.db-wal")),
        ("catalog shm", p.profile_dir.join("catalog.db-shm")),
    ];
    if let Ok(entries) = std::fs::read_dir(p.log_dir()) {
        for e in entries.flatten() {
            files.push(("log file", e.path()));
        }
    }
    for (label, f) in &files {
        if f.exists() {
            check_mode(&mut r, label, f, false, 0o077);
        }
    }
    if p.config_file().exists() {
        check_mode(&mut r, "config file", &p.config_file(), false, 0o022);
    }

    let schema_version = match profile.catalog().schema_version() {
        Ok(v) if v > 0 => {
            r.add("migrations", Status::Ok, format!("schema version {v}"));
            Some(v)
        }
        Ok(v) => {
            r.add("migrations", Status::Fail, format!("schema version {v}"));
            None
        }
        Err(e) => {
            r.add("migrations", Status::Fail, e.to_string());
            None
        }
    };
    let config_detail = if p.config_file().exists() {
        format!("{} parsed", p.config_file().display())
    } else {
        "defaults (no config.toml)".to_string()
    };
    r.add("config", Status::Ok, config_detail);

    check_vault(&mut r, &profile, ctx);

    let counts = match profile.catalog().counts() {
        Ok(c) => {
            r.add(
                "counts",
                Status::Ok,
                format!(
                    "{} connections, {} tests, {} audit rows",
                    c.connections, c.tests, c.audit
                ),
            );
            Some(c)
        }
        Err(e) => {
            r.add("counts", Status::Fail, e.to_string());
            None
        }
    };
    let engines: Vec<String> = Kind::ALL
        .iter()
        .map(|k| match k.availability() {
            Ok(()) => format!("{} ✓", k.id()),
            Err(_) => format!("{} (later)", k.id()),
        })
        .collect();
    r.add("engines", Status::Ok, engines.join(", "));

    let ok = r.checks.iter().all(|c| c.status != Status::Fail);
    if json {
        print_json(&json!({
            "ok": ok,
            "profile": ctx.profile,
            "schema_version": schema_version,
            "counts": counts,
            "checks": r.checks.iter().map(|c| json!({
                "check": c.name,
                "status": match c.status { Status::Ok => "ok", Status::Fail => "fail", Status::Skip => "skip", Status::Warn => "warn" },
                "detail": c.detail,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let colour = colour_stdout();
        let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &r.checks {
            let mark = match c.status {
                Status::Ok => paint(colour, Style::Green, "✓"),
                Status::Fail => paint(colour, Style::Red, "✗"),
                Status::Skip => paint(colour, Style::Dim, "-"),
                Status::Warn => paint(colour, Style::Red, "!"),
            };
            println!("{mark} {:width$}  {}", c.name, display_text(&c.detail));
        }
        println!(
            "{}",
            if ok {
                "All checks passed."
            } else {
                "Some checks failed."
            }
        );
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::silent(super::EXIT_FAILED))
    }
}

/// `forbidden`: permission bits that must not be set (0o077: private).
fn check_mode(r: &mut Report, label: &str, path: &Path, dir: bool, forbidden: u32) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            r.add(label, Status::Fail, format!("{}: {e}", path.display()));
            return;
        }
    };
    if dir && !meta.is_dir() {
        r.add(
            label,
            Status::Fail,
            format!("{} is not a directory", path.display()),
        );
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        let want = if dir { 0o700 } else { 0o600 };
        if mode & forbidden != 0 {
            r.add(
                label,
                Status::Fail,
                format!(
                    "{} is {mode:04o}, expected {want:04o} (chmod {want:o} {})",
                    path.display(),
                    path.display()
                ),
            );
            return;
        }
        r.add(
            label,
            Status::Ok,
            format!("{} ({mode:04o})", path.display()),
        );
    }
    #[cfg(not(unix))]
    {
        let _ = forbidden;
        r.add(label, Status::Ok, path.display().to_string());
    }
}

/// Unlocks without prompting (identity file or VARLOR_PASSPHRASE_FILE).
fn unlock_quietly(profile: &Profile, ctx: &Ctx) -> Option<Result<UnlockedVault, String>> {
    if let Some(id) = &ctx.identity {
        return Some(
            profile
                .vault()
                .unlock_with_identity_file(id)
                .map_err(|e| e.to_string()),
        );
    }
    let file = std::env::var_os("VARLOR_PASSPHRASE_FILE").filter(|v| !v.is_empty())?;
    Some(
        read_passphrase_file(Path::new(&file))
            .map_err(|e| e.message)
            .and_then(|p| profile.vault().unlock(&p).map_err(|e| e.to_string())),
    )
}

/// The scrypt work factor of identity.age and what an unlock costs; above
/// the default it warns and says how to lower it; above what is available
/// it fails (the unlock would be refused).
fn check_work_factor(r: &mut Report, profile: &Profile) {
    use crate::store::vault::{unlock_memory_bytes, DEFAULT_WORK_FACTOR};
    let Ok(n) = profile.vault().identity_work_factor() else {
        return;
    };
    let mib = unlock_memory_bytes(n) >> 20;
    let available = crate::store::memory::available_bytes();
    let detail = format!(
        "scrypt work factor {n}: an unlock needs {mib} MiB{}",
        available
            .map(|a| format!(" ({} MiB available)", a >> 20))
            .unwrap_or_default()
    );
    if available.is_some_and(|a| unlock_memory_bytes(n) > a) {
        r.add(
            "vault work factor",
            Status::Fail,
            format!("{detail}: unlocking is refused here — lower it on a machine with more memory: `varlor vault passwd --work-factor {DEFAULT_WORK_FACTOR}`"),
        );
    } else if n > DEFAULT_WORK_FACTOR {
        r.add(
            "vault work factor",
            Status::Warn,
            format!("{detail}, above the default {DEFAULT_WORK_FACTOR}: lower it with `varlor vault passwd --work-factor {DEFAULT_WORK_FACTOR}`"),
        );
    } else {
        r.add("vault work factor", Status::Ok, detail);
    }
}

fn check_vault(r: &mut Report, profile: &Profile, ctx: &Ctx) {
    let conns = profile.list().unwrap_or_default();
    let with_secret: Vec<&str> = conns
        .iter()
        .filter(|c| c.has_secret)
        .map(|c| c.name.as_str())
        .collect();
    let state = profile.vault().state();
    if let Some(problem) = super::vault_problem(profile, &state) {
        let detail = match &problem.hint {
            Some(h) => format!("{} — {h}", problem.message),
            None => problem.message.clone(),
        };
        r.add("vault", Status::Fail, detail);
        return;
    }
    if let Some(problem) = super::passphrase_file_problem() {
        r.add("passphrase file", Status::Fail, problem.message);
    }
    if state == crate::store::VaultState::Absent {
        if with_secret.is_empty() {
            r.add("vault", Status::Skip, "not initialised (no secrets stored)");
        } else {
            r.add(
                "vault",
                Status::Fail,
                format!(
                    "not initialised but {} connection(s) have secrets",
                    with_secret.len()
                ),
            );
        }
        return;
    }
    match profile.vault().key_version() {
        Ok(v) => r.add("vault", Status::Ok, format!("initialised, key version {v}")),
        Err(e) => r.add("vault", Status::Fail, e.to_string()),
    }
    check_work_factor(r, profile);
    let Some(unlocked) = unlock_quietly(profile, ctx) else {
        r.add(
            "vault round trip",
            Status::Skip,
            "set VARLOR_PASSPHRASE_FILE or pass --identity to check",
        );
        return;
    };
    let unlocked = match unlocked {
        Ok(u) => u,
        Err(e) => {
            r.add("vault unlock", Status::Fail, e);
            return;
        }
    };
    // A fresh random probe: encrypt to the recipients, decrypt with the identity.
    let probe = format!("varlor-doctor-{}-{}", std::process::id(), super::now_unix());
    let round = profile
        .vault()
        .encrypt(&SecretString::from(probe.clone()))
        .map_err(|e| e.to_string())
        .and_then(|ct| unlocked.decrypt(&ct).map_err(|e| e.to_string()));
    match round {
        Ok(back) if back.expose_secret() == probe => {
            r.add("vault round trip", Status::Ok, "encrypt → decrypt ok")
        }
        Ok(_) => r.add("vault round trip", Status::Fail, "decrypted text differs"),
        Err(e) => r.add("vault round trip", Status::Fail, e),
    }
    let mut bad = Vec::new();
    for name in &with_secret {
        // Decrypts and was saved for this connection and target.
        let ok = profile
            .get(name)
            .is_ok_and(|c| matches!(profile.open_secret(&unlocked, &c), Ok(Some(_))));
        if !ok {
            bad.push(*name);
        }
    }
    if bad.is_empty() {
        r.add(
            "stored secrets",
            Status::Ok,
            format!("{} decrypt", with_secret.len()),
        );
    } else {
        r.add(
            "stored secrets",
            Status::Fail,
            format!(
                "cannot decrypt: {} (re-enter with `varlor edit NAME --password-stdin`)",
                bad.join(", ")
            ),
        );
    }
}
