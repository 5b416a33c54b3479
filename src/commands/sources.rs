//! `varlor connections import [--from SOURCE…] [--dry-run] [--json]`,
//! `varlor connections import --bundle FILE` and
//! `varlor connections export NAME… --to FILE --recipient KEY…`.
//!
//! Every connection is saved through `ops::save` (its password sealed into
//! the vault, bound to it), never overwriting one: a taken name gets a
//! suffix, a target already saved is left alone. Each import writes an
//! audit row saying where the connection came from.
//!
//! `connections import --json` prints:
//!
//! ```json
//! { "dry_run": false,
//!   "connections": [ { "name": "prod", "wanted": "prod", "status": "imported"
//!       | "would-import" | "already-saved" | "duplicate", "existing": null,
//!       "kind": "postgres", "summary": "app@db:5432/shop", "environment": "none",
//!       "source": "pgservice", "origin": "~/.pg_service.conf [prod] line 1",
//!       "password": true, "password_from": "~/.pgpass line 3", "notes": [] } ],
//!   "problems": [ { "file": "/…/.pgpass", "line": 4, "message": "…" } ],
//!   "warnings": [ "…" ] }
//! ```
//!
//! With `--bundle` the source is "bundle" and the origin the file.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde_json::json;

use super::{fulfil, print_json, CliError, Ctx};
use crate::bundle::{self, BundleError, Recipient};
use crate::cli::{ConnExportArgs, ConnImportArgs, ConnectionsCommand};
use crate::connectors::{ConnSpec, Environment, PasswordSource};
use crate::display::display_text;
use crate::ops::{EnvUnlock, Save};
use crate::profile::Profile;
use crate::sources::{self, Fate, Source};
use crate::store::{NewConnection, SavedConnection};

pub fn run(ctx: &Ctx, command: ConnectionsCommand) -> Result<(), CliError> {
    match command {
        ConnectionsCommand::Import(a) => match &a.bundle {
            Some(file) => import_bundle(ctx, file, a.dry_run, a.json),
            None => import(ctx, &a),
        },
        ConnectionsCommand::Export(a) => export(ctx, &a),
    }
}

impl From<BundleError> for CliError {
    fn from(e: BundleError) -> Self {
        match e {
            BundleError::BadRecipient(_) | BundleError::NoRecipient => {
                CliError::usage(e.to_string())
            }
            _ => CliError::failed(e.to_string()),
        }
    }
}

/// One connection about to be saved, from any source.
struct Incoming {
    wanted: String,
    spec: ConnSpec,
    environment: Environment,
    source: PasswordSource,
    password: Option<SecretString>,
    /// "pgpass", "bundle"…
    from: String,
    origin: String,
    password_from: Option<String>,
    notes: Vec<String>,
}

fn chosen_sources(from: &[String]) -> Result<Vec<Source>, CliError> {
    if from.is_empty() || from.iter().any(|f| f.trim() == "all") {
        return Ok(Source::ALL.to_vec());
    }
    from.iter()
        .map(|f| {
            Source::parse(f).ok_or_else(|| {
                CliError::usage(format!(
                    "from: unknown source '{}' (expected {} or all)",
                    display_text(f),
                    Source::ALL.map(|s| s.id()).join(", ")
                ))
            })
        })
        .collect()
}

fn import(ctx: &Ctx, a: &ConnImportArgs) -> Result<(), CliError> {
    let chosen = chosen_sources(&a.from)?;
    let cx = sources::Context::from_process()
        .ok_or_else(|| CliError::failed("no home directory (HOME is not set)"))?;
    let d = sources::discover(&cx, &chosen);
    let incoming: Vec<Incoming> = d
        .found
        .iter()
        .map(|f| Incoming {
            wanted: f.name.clone(),
            spec: f.spec.clone(),
            environment: f.environment,
            source: default_source(&f.spec),
            password: f.password.clone(),
            from: f.source.id().to_string(),
            origin: f.origin.clone(),
            password_from: f.password_from.clone(),
            notes: f.notes.clone(),
        })
        .collect();
    let mut profile = ctx.open()?;
    let mut rows = save_all(ctx, &mut profile, incoming, a.dry_run)?;
    for (f, first) in &d.duplicates {
        rows.push(Row {
            name: f.name.clone(),
            wanted: f.name.clone(),
            status: "duplicate",
            existing: Some(first.clone()),
            kind: f.spec.kind.id(),
            summary: f.spec.summary(),
            environment: f.environment.id(),
            from: f.source.id().to_string(),
            origin: f.origin.clone(),
            password: f.password.is_some(),
            password_from: f.password_from.clone(),
            notes: f.notes.clone(),
        });
    }
    let problems: Vec<String> = d.problems.iter().map(|p| p.to_string()).collect();
    if a.json {
        return print_json(&json!({
            "dry_run": a.dry_run,
            "connections": rows.iter().map(Row::json).collect::<Vec<_>>(),
            "problems": d.problems.iter().map(|p| json!({
                "file": p.file.display().to_string(),
                "line": p.line,
                "message": p.message,
            })).collect::<Vec<_>>(),
            "warnings": d.warnings,
        }));
    }
    print_rows(&rows, a.dry_run);
    if d.read.is_empty() && rows.is_empty() {
        println!(
            "Nothing found in {} (the files read are listed with -v).",
            chosen.iter().map(|s| s.id()).collect::<Vec<_>>().join(", ")
        );
    }
    if ctx.verbose {
        for f in &d.read {
            println!("read {}", display_text(&cx.show(f)));
        }
    }
    for p in &problems {
        eprintln!("problem: {}", display_text(p));
    }
    for w in &d.warnings {
        eprintln!("warning: {}", display_text(w));
    }
    Ok(())
}

/// The password source of an imported connection: the vault (with or
/// without a password), or none for engines without passwords.
fn default_source(spec: &ConnSpec) -> PasswordSource {
    if spec.kind.has_password() {
        PasswordSource::Vault
    } else {
        PasswordSource::None
    }
}

struct Row {
    name: String,
    wanted: String,
    status: &'static str,
    existing: Option<String>,
    kind: &'static str,
    summary: String,
    environment: &'static str,
    from: String,
    origin: String,
    password: bool,
    password_from: Option<String>,
    notes: Vec<String>,
}

impl Row {
    fn json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "wanted": self.wanted,
            "status": self.status,
            "existing": self.existing,
            "kind": self.kind,
            "summary": self.summary,
            "environment": self.environment,
            "source": self.from,
            "origin": self.origin,
            "password": self.password,
            "password_from": self.password_from,
            "notes": self.notes,
        })
    }
}

/// Plans names, then saves each through `ops::save` (unless `dry_run`),
/// with an audit row naming its origin.
fn save_all(
    ctx: &Ctx,
    profile: &mut Profile,
    incoming: Vec<Incoming>,
    dry_run: bool,
) -> Result<Vec<Row>, CliError> {
    let existing = profile.list()?;
    let fates = sources::plan(
        incoming
            .iter()
            .map(|i| (i.wanted.as_str(), i.spec.target())),
        &existing,
    );
    let mut rows = Vec::new();
    for (i, fate) in incoming.into_iter().zip(fates) {
        let mut row = Row {
            name: i.wanted.clone(),
            wanted: i.wanted.clone(),
            status: "already-saved",
            existing: None,
            kind: i.spec.kind.id(),
            summary: i.spec.summary(),
            environment: i.environment.id(),
            from: i.from.clone(),
            origin: i.origin.clone(),
            password: i.password.is_some(),
            password_from: i.password_from.clone(),
            notes: i.notes.clone(),
        };
        match fate {
            Fate::AlreadySaved(name) => row.existing = Some(name),
            Fate::Import { name, .. } => {
                row.name = name.clone();
                row.status = if dry_run { "would-import" } else { "imported" };
                if !dry_run {
                    let saved = save_one(ctx, profile, &name, i)?;
                    row.password = saved.has_secret;
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn save_one(
    ctx: &Ctx,
    profile: &mut Profile,
    name: &str,
    i: Incoming,
) -> Result<SavedConnection, CliError> {
    let new = NewConnection {
        name: name.to_string(),
        spec: i.spec,
        environment: i.environment,
        password_source: i.source,
    };
    let password = i.password;
    let env = EnvUnlock::disabled();
    let label = format!("'{name}'");
    let saved = fulfil(ctx, profile, &label, "", None, |p, _| {
        let request = Save {
            old_name: None,
            new: new.clone(),
            password: Some(password.clone()),
            keep_for_new_target: false,
            tested: None,
        };
        Ok(crate::ops::save(p, request, &env)?)
    })?;
    let mut detail = format!("from {}: {}", i.from, i.origin);
    if let Some(pf) = &i.password_from {
        detail.push_str(&format!(" (password: {pf})"));
    }
    profile.audit("discover", &saved.name, "ok", &detail)?;
    tracing::info!(connection = %saved.name, source = %i.from, "connection imported");
    Ok(saved)
}

fn print_rows(rows: &[Row], dry_run: bool) {
    let imported = rows
        .iter()
        .filter(|r| matches!(r.status, "imported" | "would-import"))
        .count();
    for r in rows {
        let what = match r.status {
            "imported" => "imported ",
            "would-import" => "would add",
            "already-saved" => "kept     ",
            _ => "duplicate",
        };
        let mut line = format!(
            "{what} {} ({}, {})",
            display_text(&r.name),
            r.kind,
            display_text(&r.summary)
        );
        if r.name != r.wanted {
            line.push_str(&format!(
                " — renamed: '{}' is taken",
                display_text(&r.wanted)
            ));
        }
        if let Some(e) = &r.existing {
            let why = if r.status == "duplicate" {
                "same target as"
            } else {
                "already saved as"
            };
            line.push_str(&format!(" — {why} '{}'", display_text(e)));
        }
        println!("{line}");
        let pw = match (&r.password, &r.password_from) {
            (true, Some(pf)) => format!("password into the vault (from {})", display_text(pf)),
            (true, None) => "password into the vault".to_string(),
            (false, _) => "no password".to_string(),
        };
        println!("    from {}: {}; {pw}", r.from, display_text(&r.origin));
        for n in &r.notes {
            println!("    note: {}", display_text(n));
        }
    }
    if dry_run {
        println!("Dry run: {imported} connection(s) would be imported; nothing saved.");
    } else {
        println!("{imported} connection(s) imported.");
    }
}

// ---------------------------------------------------------------- bundles

fn parse_recipients(args: &[String]) -> Result<Vec<Recipient>, CliError> {
    let mut out = Vec::new();
    for a in args {
        if let Some(file) = a.strip_prefix('@') {
            let text = std::fs::read_to_string(file).map_err(|e| {
                CliError::usage(format!(
                    "recipient: cannot read {}: {e}",
                    display_text(file)
                ))
            })?;
            let keys = Recipient::parse_file(&text)?;
            if keys.is_empty() {
                return Err(CliError::usage(format!(
                    "recipient: {} holds no public key",
                    display_text(file)
                )));
            }
            out.extend(keys);
        } else {
            out.push(Recipient::parse(a)?);
        }
    }
    Ok(out)
}

fn export(ctx: &Ctx, a: &ConnExportArgs) -> Result<(), CliError> {
    let recipients = parse_recipients(&a.recipients)?;
    if a.to.exists() {
        return Err(CliError::usage(format!(
            "to: {} already exists",
            display_text(&a.to.display().to_string())
        ))
        .hint("choose another file name; nothing is overwritten"));
    }
    let mut profile = ctx.open()?;
    let mut conns = Vec::new();
    for n in &a.names {
        if !conns.iter().any(|c: &SavedConnection| &c.name == n) {
            conns.push(profile.get(n)?);
        }
    }
    let env = EnvUnlock::disabled();
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut with_password = 0;
    for c in &conns {
        let (source, password) = match &c.password_source {
            PasswordSource::Vault if c.has_secret => {
                let name = c.name.clone();
                let (_, pw) = fulfil(ctx, &mut profile, &name, "", None, |p, _| {
                    Ok(crate::ops::prepare_connection(p, &name, None, &env)?)
                })?;
                ("vault", pw)
            }
            PasswordSource::Vault => ("vault", None),
            PasswordSource::None => ("none", None),
            PasswordSource::Prompt => ("prompt", None),
            PasswordSource::Command(_) => {
                notes.push(format!(
                    "'{}' runs a password command here: the bundle asks for the password instead",
                    c.name
                ));
                ("prompt", None)
            }
        };
        use secrecy::ExposeSecret;
        with_password += usize::from(password.is_some());
        entries.push(bundle::Entry {
            name: c.name.clone(),
            spec: c.spec.clone(),
            environment: c.environment,
            password_source: source.into(),
            password: password.map(|p| p.expose_secret().to_string()),
        });
    }
    let n = entries.len();
    let armored = bundle::seal(entries, &recipients, super::now_unix())?;
    write_new(&a.to, &armored)?;
    let names: Vec<&str> = conns.iter().map(|c| c.name.as_str()).collect();
    profile.audit(
        "export",
        &names.join(","),
        "ok",
        &format!(
            "{n} connection(s), {with_password} password(s), to {} recipient(s), file {}",
            recipients.len(),
            a.to.display()
        ),
    )?;
    tracing::info!(
        connections = n,
        recipients = recipients.len(),
        "bundle exported"
    );
    for note in notes {
        println!("note: {}", display_text(&note));
    }
    println!(
        "Wrote {} ({n} connection(s), {with_password} password(s)), encrypted to {} recipient(s) only.",
        display_text(&a.to.display().to_string()),
        recipients.len()
    );
    println!("They import it with `varlor connections import --bundle FILE`.");
    Ok(())
}

/// Writes a new file (0600) through a temporary file in the same directory,
/// renamed into place without replacing anything.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".varlor-bundle-")
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| {
        CliError::failed(format!(
            "cannot write {}: {}",
            display_text(&path.display().to_string()),
            e.error
        ))
    })?;
    Ok(())
}

fn import_bundle(ctx: &Ctx, file: &Path, dry_run: bool, json: bool) -> Result<(), CliError> {
    let shown = display_text(&file.display().to_string()).into_owned();
    let armored = std::fs::read(file)
        .map_err(|e| CliError::usage(format!("bundle: cannot read {shown}: {e}")))?;
    let mut profile = ctx.open()?;
    let entries = match &ctx.identity {
        Some(id) => {
            let unlocked = profile
                .vault()
                .unlock_with_identity_file(id)
                .map_err(|e| CliError::failed(e.to_string()))?;
            bundle::read(&unlocked, &armored)?
        }
        None => {
            super::ensure_unlocked(&mut profile, ctx)?;
            let unlocked = profile
                .unlocked_vault()
                .ok_or_else(|| CliError::failed("the vault is locked"))?;
            bundle::read(unlocked, &armored)?
        }
    };
    // Everything is checked before anything is saved.
    let mut incoming = Vec::new();
    for e in &entries {
        let mut spec = e.spec.clone();
        let mut notes = Vec::new();
        if let Some(ca) = &spec.ca_file {
            if !ca.is_file() {
                notes.push(format!(
                    "CA file {} is not on this machine: left out (set it with `varlor edit --ca-file`)",
                    ca.display()
                ));
                spec.ca_file = None;
            }
        }
        crate::profile::validate_name(&e.name)
            .and_then(|_| spec.validate())
            .map_err(|err| {
                CliError::failed(format!(
                    "the bundle's connection '{}' is not valid ({err}): nothing imported",
                    display_text(&e.name)
                ))
            })?;
        let source = match e.password_source.as_str() {
            "prompt" => PasswordSource::Prompt,
            "none" => PasswordSource::None,
            _ => PasswordSource::Vault,
        };
        incoming.push(Incoming {
            wanted: e.name.clone(),
            spec,
            environment: e.environment,
            source,
            password: e.secret(),
            from: "bundle".into(),
            origin: file.display().to_string(),
            password_from: None,
            notes,
        });
    }
    drop(entries);
    let rows = save_all(ctx, &mut profile, incoming, dry_run)?;
    if !dry_run {
        let names: Vec<&str> = rows
            .iter()
            .filter(|r| r.status == "imported")
            .map(|r| r.name.as_str())
            .collect();
        profile.audit(
            "import-bundle",
            &file.display().to_string(),
            "ok",
            &format!(
                "{} of {} connection(s) imported: {}",
                names.len(),
                rows.len(),
                names.join(",")
            ),
        )?;
    }
    if json {
        return print_json(&json!({
            "dry_run": dry_run,
            "connections": rows.iter().map(Row::json).collect::<Vec<_>>(),
            "problems": [],
            "warnings": [],
        }));
    }
    print_rows(&rows, dry_run);
    Ok(())
}
