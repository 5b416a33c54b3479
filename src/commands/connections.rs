//! `list`, `add`, `edit`, `rm`.
//!
//! `varlor list --json` prints an array, one object per connection, ordered by name:
//!
//! ```json
//! { "name": "demo", "kind": "sqlite", "engine": "SQLite",
//!   "host": "", "port": null, "database": "/…/demo.sqlite", "user": "",
//!   "tls": "prefer", "ca_file": null, "connect_timeout_secs": 30, "ssh": null | "bastion",
//!   "environment": "none", "password_source": "none", "has_secret": false,
//!   "summary": "/…/demo.sqlite", "url": "sqlite:///…/demo.sqlite",
//!   "created_at": 1763940000, "updated_at": 1763940000, "auth_failures": 0,
//!   "last_test": null | { "at": 1763940000, "ok": true, "status": "ok",
//!                         "error": null, "latency_ms": 3,
//!                         "server_version": "SQLite 3.46.0", "tls": false } }
//! ```
//!
//! Times are Unix seconds. Never a password, ciphertext or password command.

use std::io::{BufRead, Write};

use secrecy::SecretString;
use serde_json::json;

use super::{
    ago, colour_stdout, interactive, paint, print_json, print_table, prompt_secret,
    read_stdin_secret, CliError, Ctx, Style,
};
use crate::cli::{AddArgs, EditArgs, PasswordArgs, SpecArgs};
use crate::config::Config;
use crate::connectors::{ConnSpec, Environment, Field, Kind, PasswordSource, SpecError, TlsMode};
use crate::display::{display_string, display_text};
use crate::store::{NewConnection, SavedConnection};

pub fn list(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let profile = ctx.open()?;
    let conns = profile.list()?;
    if json {
        return print_json(&serde_json::Value::Array(
            conns.iter().map(connection_json).collect(),
        ));
    }
    if conns.is_empty() {
        println!("No connections. Add one with `varlor add NAME --url postgres://user@host/db`.");
        return Ok(());
    }
    let colour = colour_stdout();
    let rows: Vec<Vec<String>> = conns
        .iter()
        .map(|c| {
            let env = match c.environment {
                Environment::None => String::new(),
                Environment::Production => paint(colour, Style::Red, "production"),
                Environment::Staging => paint(colour, Style::Yellow, "staging"),
                Environment::Development => paint(colour, Style::Green, "development"),
            };
            let (status, when) = match &c.last_test {
                None => (paint(colour, Style::Dim, "never"), String::new()),
                Some(t) if t.ok => (
                    paint(
                        colour,
                        Style::Green,
                        &match t.latency_ms {
                            Some(ms) => format!("✓ {ms} ms"),
                            None => "✓".into(),
                        },
                    ),
                    ago(t.at),
                ),
                Some(t) => (
                    paint(
                        colour,
                        Style::Red,
                        &format!("✗ {}", display_text(&t.status)),
                    ),
                    ago(t.at),
                ),
            };
            vec![
                display_string(&c.name),
                c.spec.kind.display_name().to_string(),
                super::truncate(&display_text(&c.spec.summary()), 48),
                env,
                status,
                when,
            ]
        })
        .collect();
    print_table(
        &["NAME", "ENGINE", "TARGET", "ENV", "LAST TEST", "WHEN"],
        &rows,
        colour,
    );
    Ok(())
}

/// The documented JSON of one connection (see the module docs).
pub fn connection_json(c: &SavedConnection) -> serde_json::Value {
    json!({
        "name": c.name,
        "kind": c.spec.kind.id(),
        "engine": c.spec.kind.display_name(),
        "host": c.spec.host,
        "port": c.spec.port,
        "database": c.spec.database,
        "user": c.spec.user,
        "tls": c.spec.tls.id(),
        "ca_file": c.spec.ca_file.as_ref().map(|p| p.display().to_string()),
        "connect_timeout_secs": c.spec.connect_timeout_secs,
        "ssh": c.spec.options.get(crate::ssh::OPTION),
        "environment": c.environment.id(),
        "password_source": c.password_source.id(),
        "has_secret": c.has_secret,
        "summary": c.spec.summary(),
        "url": c.spec.to_url(),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "auth_failures": c.auth_failures,
        "last_test": c.last_test.as_ref().map(|t| json!({
            "at": t.at,
            "ok": t.ok,
            "status": t.status,
            "error": t.error,
            "latency_ms": t.latency_ms,
            "server_version": t.server_version,
            "tls": t.tls,
        })),
    })
}

/// Connection names: shown in lists and typed on command lines.
fn check_name(name: &str) -> Result<(), CliError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(CliError::usage("name: a name is required"));
    }
    if n != name || name.chars().any(|c| c.is_control()) || name.chars().count() > 64 {
        return Err(CliError::usage(
            "name: use up to 64 characters, without control characters or surrounding spaces",
        ));
    }
    if name.contains("://") {
        return Err(CliError::usage("name: a name cannot look like a URL"));
    }
    Ok(())
}

fn field(e: SpecError) -> CliError {
    CliError::usage(e.to_string())
}

/// Builds a spec from the flags, over `base` when editing. A password found
/// in a URL is returned separately so it can go to the vault.
pub fn build_spec(
    a: &SpecArgs,
    base: Option<&ConnSpec>,
    config: &Config,
) -> Result<(ConnSpec, Option<SecretString>), CliError> {
    let (mut spec, url_password) = if let Some(url) = &a.url {
        let (mut spec, pw) = ConnSpec::from_url(url).map_err(field)?;
        let lower = url.to_ascii_lowercase().replace([' ', '_'], "");
        // connect_timeout / connectTimeout (URLs), Connect Timeout / Connection Timeout (ADO.NET).
        if a.timeout.is_none()
            && !lower.contains("connecttimeout")
            && !lower.contains("connectiontimeout")
        {
            spec.connect_timeout_secs =
                base.map_or(config.connect_timeout_secs, |b| b.connect_timeout_secs);
        }
        // An edit by URL keeps the TLS settings the URL does not state:
        // pasting the URL `varlor list` shows must not drop verify-full or the CA.
        if let Some(b) = base {
            let (states_mode, states_ca) = crate::connectors::spec::url_states_tls(url);
            if !states_mode {
                spec.tls = b.tls;
            }
            if !states_ca && spec.tls != TlsMode::Disable {
                spec.ca_file = b.ca_file.clone();
            }
        }
        (spec, pw)
    } else {
        let kind = match &a.kind {
            Some(k) => Some(Kind::parse(k).ok_or_else(|| {
                CliError::usage(format!(
                    "kind: unknown kind '{k}' (expected one of {})",
                    Kind::ALL.map(|k| k.id()).join(", ")
                ))
            })?),
            None => None,
        };
        let spec = match (base, kind) {
            (Some(b), Some(k)) if k != b.kind => change_engine(b, k),
            (Some(b), _) => b.clone(),
            (None, Some(k)) => {
                let mut s = ConnSpec::new(k);
                if a.timeout.is_none() {
                    s.connect_timeout_secs = config.connect_timeout_secs;
                }
                s
            }
            (None, None) => {
                return Err(CliError::usage(
                    "kind: required (pass --kind KIND with the fields, or --url URL)",
                ))
            }
        };
        (spec, None)
    };
    if let Some(h) = &a.host {
        spec.host = h.trim().to_string();
    }
    if let Some(p) = &a.port {
        spec.port = Some(ConnSpec::parse_port(p).map_err(field)?);
    }
    if let Some(d) = &a.database {
        spec.database = d.clone();
    }
    if let Some(u) = &a.user {
        spec.user = u.clone();
    }
    if let Some(t) = &a.tls {
        spec.tls = TlsMode::parse(t).ok_or_else(|| {
            CliError::usage(format!(
                "tls: unknown mode '{t}' (expected one of {})",
                TlsMode::ALL.map(|m| m.id()).join(", ")
            ))
        })?;
    }
    if let Some(f) = &a.ca_file {
        if !f.is_file() {
            return Err(CliError::usage(format!(
                "ca_file: {} is not a readable file",
                f.display()
            )));
        }
        spec.ca_file = Some(std::path::absolute(f).unwrap_or_else(|_| f.clone()));
    }
    if let Some(t) = a.timeout {
        spec.connect_timeout_secs = t;
    }
    if let Some(via) = &a.ssh {
        crate::ssh::set_via(&mut spec, Some(via));
    }
    spec.normalize().map_err(field)?;
    spec.validate().map_err(field)?;
    Ok((spec, url_password))
}

fn parse_env(text: Option<&str>, default: Environment) -> Result<Environment, CliError> {
    match text {
        None => Ok(default),
        Some(t) => Environment::parse(t).ok_or_else(|| {
            CliError::usage(format!(
                "env: unknown environment '{t}' (expected production, staging, development or none)"
            ))
        }),
    }
}

/// The source chosen by flags, if any.
fn source_from_flags(p: &PasswordArgs) -> Result<Option<PasswordSource>, CliError> {
    Ok(if p.ask_password_every_time {
        Some(PasswordSource::Prompt)
    } else if let Some(cmd) = &p.password_command {
        if cmd.trim().is_empty() {
            return Err(CliError::usage("password_command: the command is empty"));
        }
        Some(PasswordSource::Command(cmd.clone()))
    } else if p.no_password {
        Some(PasswordSource::None)
    } else if p.password_stdin {
        Some(PasswordSource::Vault)
    } else {
        None
    })
}

pub fn add(ctx: &Ctx, a: AddArgs) -> Result<(), CliError> {
    check_name(&a.name)?;
    let mut profile = ctx.open()?;
    // Check everything before asking for anything, so bad input changes nothing.
    if profile.get(&a.name).is_ok() {
        return Err(CliError::usage(format!(
            "name: a connection named '{}' already exists",
            a.name
        ))
        .hint("choose another name, or `varlor edit` the existing one"));
    }
    let (spec, url_password) = build_spec(&a.spec, None, &profile.config)?;
    check_file_exists(&spec)?;
    let environment = parse_env(a.spec.env.as_deref(), Environment::None)?;
    let flagged = source_from_flags(&a.password)?;
    let source = match flagged {
        Some(s) => s,
        None if !spec.kind.has_password() => PasswordSource::None,
        None => PasswordSource::Vault,
    };
    if url_password.is_some() && (a.password.password_stdin || source != PasswordSource::Vault) {
        return Err(CliError::usage(
            "password: the URL carries a password; drop it from the URL or drop the password option",
        ));
    }
    let password = if source != PasswordSource::Vault {
        None
    } else if url_password.is_some() {
        url_password.clone()
    } else if a.password.password_stdin {
        Some(read_stdin_secret()?)
    } else if interactive() {
        let p = prompt_secret(&format!(
            "Password for {} (empty for none): ",
            spec.summary()
        ))?;
        use secrecy::ExposeSecret;
        (!p.expose_secret().is_empty()).then_some(p)
    } else {
        None
    };
    let new = NewConnection {
        name: a.name.clone(),
        spec,
        environment,
        password_source: source,
    };
    let saved = save(ctx, &mut profile, None, new, Some(password), false)?;
    tracing::info!(connection = %saved.name, kind = saved.spec.kind.id(), "connection added");
    println!(
        "Saved '{}' ({}, {}).",
        saved.name,
        saved.spec.kind.display_name(),
        display_text(&saved.spec.summary())
    );
    if url_password.is_some() {
        println!(
            "The password from the URL was moved into the vault; the URL is stored without it."
        );
    }
    if saved.password_source == PasswordSource::Vault
        && !saved.has_secret
        && saved.spec.kind.has_password()
    {
        eprintln!(
            "note: no password stored; set one with `varlor edit {} --password-stdin`",
            saved.name
        );
    }
    if let Err(why) = saved.spec.kind.availability() {
        eprintln!("note: {why}; the connection is saved for later.");
    }
    Ok(())
}

pub fn edit(ctx: &Ctx, a: EditArgs) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    let old = profile.get(&a.name)?;
    let sp = &a.spec;
    let pw = &a.password;
    let nothing = sp.url.is_none()
        && sp.kind.is_none()
        && sp.host.is_none()
        && sp.port.is_none()
        && sp.database.is_none()
        && sp.user.is_none()
        && sp.tls.is_none()
        && sp.ca_file.is_none()
        && sp.env.is_none()
        && sp.timeout.is_none()
        && sp.ssh.is_none()
        && !pw.password_stdin
        && !pw.ask_password_every_time
        && pw.password_command.is_none()
        && !pw.no_password
        && a.rename.is_none()
        && !a.clear_password
        && !a.password_prompt
        && !a.keep_password;
    if nothing {
        println!(
            "Nothing to change for '{}' (see `varlor edit --help`).",
            old.name
        );
        return Ok(());
    }
    let new_name = a.rename.clone().unwrap_or_else(|| old.name.clone());
    check_name(&new_name)?;
    if new_name != old.name && profile.get(&new_name).is_ok() {
        return Err(CliError::usage(format!(
            "rename: a connection named '{new_name}' already exists"
        )));
    }
    let (spec, url_password) = build_spec(&a.spec, Some(&old.spec), &profile.config)?;
    if spec.database != old.spec.database || spec.kind != old.spec.kind {
        check_file_exists(&spec)?;
    }
    let environment = parse_env(a.spec.env.as_deref(), old.environment)?;
    let flagged = source_from_flags(&a.password)?;
    if url_password.is_some() && flagged.is_some() {
        return Err(CliError::usage(
            "password: the URL carries a password; drop it from the URL or drop the password option",
        ));
    }
    let source = match flagged {
        Some(s) => s,
        None if url_password.is_some() || a.password_prompt => PasswordSource::Vault,
        None => old.password_source.clone(),
    };
    let password: Option<Option<SecretString>> = if a.clear_password {
        Some(None)
    } else if a.password.password_stdin {
        Some(Some(read_stdin_secret()?))
    } else if let Some(p) = url_password.clone() {
        Some(Some(p))
    } else if a.password_prompt {
        if !interactive() {
            return Err(CliError::usage(
                "password_prompt: needs a terminal; use --password-stdin",
            ));
        }
        Some(Some(prompt_secret(&format!(
            "New password for {}: ",
            spec.summary()
        ))?))
    } else if source != PasswordSource::Vault {
        // Prompt/command/none never keep a stored secret.
        old.has_secret.then_some(None)
    } else {
        None
    };
    let weakened = old.spec.tls_weakening(&spec);
    let new = NewConnection {
        name: new_name,
        spec,
        environment,
        password_source: source,
    };
    // Keeping the password for a new target re-binds it: the save asks for
    // the unlock it needs (and creating the vault for a new password).
    let saved = save(
        ctx,
        &mut profile,
        Some(&a.name),
        new,
        password.clone(),
        a.keep_password,
    )?;
    tracing::info!(connection = %saved.name, "connection edited");
    println!(
        "Updated '{}' ({}, {}).",
        saved.name,
        saved.spec.kind.display_name(),
        display_text(&saved.spec.summary())
    );
    for line in edit_notes(&old, &saved, password.is_some(), weakened) {
        println!("{line}");
    }
    Ok(())
}

/// Adds (`old_name` None) or edits a connection through the operation the
/// TUI uses; what it needs (a vault, an unlock) is asked at the terminal.
fn save(
    ctx: &Ctx,
    profile: &mut crate::profile::Profile,
    old_name: Option<&str>,
    new: NewConnection,
    password: Option<Option<SecretString>>,
    keep_for_new_target: bool,
) -> Result<SavedConnection, CliError> {
    let env = crate::ops::EnvUnlock::disabled();
    let label = format!("'{}'", new.name);
    super::fulfil(ctx, profile, &label, "", None, |p, _| {
        let request = crate::ops::Save {
            old_name: old_name.map(str::to_string),
            new: new.clone(),
            password: password.clone(),
            keep_for_new_target,
            tested: None,
        };
        Ok(crate::ops::save(p, request, &env)?)
    })
}

/// What an edit changed that a person must know: a target change and what
/// became of the stored password, a weaker TLS setting, a reset test status.
/// `edit --kind`: the settings carried to another engine. What the new
/// engine has no field for is dropped (host and port of a file, the user of
/// SQLite, Oracle's connect-by and driver, MongoDB's auth source, TLS of a
/// file); [`engine_change_note`] says what went.
fn change_engine(b: &ConnSpec, k: Kind) -> ConnSpec {
    let mut s = b.clone();
    s.kind = k;
    if s.port.is_none() || s.port == b.kind.default_port() {
        s.port = k.default_port();
    }
    let has = |f: Field| k.fields().contains(&f);
    if k.engine().file_based {
        s.host.clear();
        s.port = None;
        s.tls = TlsMode::Disable;
        s.ca_file = None;
    }
    if !has(Field::User) {
        s.user.clear();
    }
    for (field, key) in [
        (Field::AuthSource, "authSource"),
        (Field::ConnectBy, "connect_by"),
        (Field::Driver, "driver"),
    ] {
        if !has(field) {
            s.options.remove(key);
        }
    }
    s
}

/// What an engine change left behind, in one line; None when the engine
/// did not change or nothing was lost.
fn engine_change_note(old: &ConnSpec, new: &ConnSpec) -> Option<String> {
    if old.kind == new.kind {
        return None;
    }
    let mut dropped = Vec::new();
    if !old.host.is_empty() && new.host.is_empty() {
        dropped.push(format!("host {}", old.host));
    }
    if let (Some(p), q) = (old.port, new.port) {
        if q != Some(p) {
            dropped.push(match q {
                Some(q) => format!("port {p} (now {q}, the new engine's default)"),
                None => format!("port {p}"),
            });
        }
    }
    if !old.user.is_empty() && new.user.is_empty() {
        dropped.push(format!("user {}", old.user));
    }
    if old.tls != new.tls {
        dropped.push(format!("TLS {} (now {})", old.tls.id(), new.tls.id()));
    }
    if let (Some(ca), None) = (&old.ca_file, &new.ca_file) {
        dropped.push(format!("CA file {}", ca.display()));
    }
    for (k, v) in &old.options {
        if !new.options.contains_key(k) {
            dropped.push(format!("{k}={v}"));
        }
    }
    let change = format!(
        "Engine changed from {} to {}",
        old.kind.display_name(),
        new.kind.display_name()
    );
    Some(if dropped.is_empty() {
        format!("{change}; every setting was kept.")
    } else {
        format!("{change}; dropped: {}.", display_text(&dropped.join(", ")))
    })
}

/// A file-based engine (SQLite) opens existing files only: say so at `add`
/// or `edit`, not at the first test (the check the TUI form makes too).
fn check_file_exists(spec: &ConnSpec) -> Result<(), CliError> {
    spec.check_database_file().map_err(|e| {
        let err = CliError::usage(display_text(&e.to_string()).into_owned());
        if std::path::Path::new(&spec.database).exists() {
            err
        } else {
            err.hint(crate::connectors::spec::MISSING_FILE_HINT)
        }
    })
}

fn edit_notes(
    old: &SavedConnection,
    saved: &SavedConnection,
    password_given: bool,
    weakened: Option<String>,
) -> Vec<String> {
    let mut notes = Vec::new();
    notes.extend(engine_change_note(&old.spec, &saved.spec));
    let (from, to) = (old.spec.target(), saved.spec.target());
    if from != to {
        notes.push(format!(
            "Target changed ({}): {from} → {to}.",
            from.changed_fields(&to).join(", ")
        ));
        if old.has_secret && !password_given {
            notes.push(if saved.has_secret {
                "The stored password was kept for the new target, as asked (--keep-password)."
                    .to_string()
            } else {
                format!(
                    "The stored password was dropped: it belongs to {from}. Give the new one with \
                     `varlor edit {} --password-prompt`, or keep the old one with --keep-password.",
                    saved.name
                )
            });
        }
    }
    if let Some(w) = weakened {
        notes.push(format!("{w}, as asked."));
    }
    if old.last_test.is_some() && saved.last_test.is_none() {
        notes.push(
            "The last test result was reset: test again with `varlor test NAME`."
                .replace("NAME", &saved.name),
        );
    }
    notes
}

pub fn remove(ctx: &Ctx, name: &str, yes: bool) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    let conn = profile.get(name)?;
    if !yes {
        if !interactive() {
            return Err(CliError::usage("rm: confirmation needed").hint("pass --yes"));
        }
        eprint!(
            "Remove '{}' ({}) and its stored password? [y/N] ",
            conn.name,
            display_text(&conn.spec.summary())
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Kept '{}'.", conn.name);
            return Ok(());
        }
    }
    profile.remove(name)?;
    tracing::info!(connection = %name, "connection removed");
    println!("Removed '{name}'.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SpecArgs {
        SpecArgs::default()
    }

    #[test]
    fn port_errors_name_the_field() {
        let mut a = args();
        a.kind = Some("postgres".into());
        a.user = Some("u".into());
        for bad in ["0", "70000", "x"] {
            a.port = Some(bad.into());
            let e = build_spec(&a, None, &Config::default()).unwrap_err();
            assert_eq!(e.code, super::super::EXIT_USAGE);
            assert!(e.message.starts_with("port:"), "{}", e.message);
        }
    }

    #[test]
    fn unknown_kind_names_the_field() {
        let mut a = args();
        a.kind = Some("foodb".into());
        let e = build_spec(&a, None, &Config::default()).unwrap_err();
        assert!(e.message.starts_with("kind:"), "{}", e.message);
    }

    #[test]
    fn url_password_is_split_out() {
        use secrecy::ExposeSecret;
        let mut a = args();
        a.url = Some("postgres://bob:s3cr%40t@db:6543/shop".into());
        let (spec, pw) = build_spec(&a, None, &Config::default()).unwrap();
        assert_eq!(pw.unwrap().expose_secret(), "s3cr@t");
        assert!(!serde_json::to_string(&spec).unwrap().contains("s3cr"));
    }

    #[test]
    fn editing_keeps_unspecified_fields() {
        let (base, _) = ConnSpec::from_url("postgres://bob@db:6543/shop").unwrap();
        let mut a = args();
        a.database = Some("other".into());
        let (spec, _) = build_spec(&a, Some(&base), &Config::default()).unwrap();
        assert_eq!(spec.host, "db");
        assert_eq!(spec.port, Some(6543));
        assert_eq!(spec.database, "other");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("prod-db").is_ok());
        assert!(check_name(" x").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
    }
}
