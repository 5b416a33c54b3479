//! `varlor test NAME|URL`.
//!
//! `--json` prints one object:
//!
//! ```json
//! { "target": "demo", "saved": true, "kind": "sqlite", "ok": true,
//!   "server_version": "SQLite 3.46.0", "latency_ms": 3, "tls": false,
//!   "ssh": null | "bastion",
//!   "stages": [ { "name": "SSH bastion", "ok": true, "ms": 40, "note": "publickey" },
//!               { "name": "tunnel to db.internal:5432", "ok": true, "ms": null, "note": null },
//!               { "name": "PostgreSQL 16.2", "ok": true, "ms": 12, "note": "TLS" } ],
//!   "error": null | { "kind": "invalid_credentials", "message": "Invalid credentials",
//!                     "hint": "Check the user name and password.", "detail": "…sanitized…" } }
//! ```
//!
//! The stages say which hop failed: the last one has `"ok": false`. Without
//! SSH they are `resolve HOST`, `TCP ADDR:PORT` and the engine's login (a
//! file or a host list: the login only).
//!
//! Exit 0 when the test succeeded, 1 when it failed.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{
    colour_stdout, fulfil, interactive, paint, print_json, prompt_secret, read_stdin_secret,
    CliError, Ctx, Style, EXIT_FAILED,
};
use crate::cli::TestArgs;
use crate::connectors::{
    error::sanitize, ConnError, ConnSpec, ErrorKind, Kind, PasswordSource, ServerInfo,
};
use crate::display::display_text;
use crate::profile::{Profile, ProfileError};
use crate::ssh::{Stage, StagedTest};

pub async fn run(ctx: &Ctx, a: TestArgs) -> Result<(), CliError> {
    if a.timeout.is_some_and(|t| t == 0 || t > 3600) {
        return Err(CliError::usage("timeout: between 1 and 3600 seconds"));
    }
    let mut profile = ctx.open()?;
    let looks_like_url = a.target.contains("://") || a.target.starts_with("sqlite:");
    if looks_like_url && profile.get(&a.target).is_err() {
        return test_url(ctx, &profile, &a).await;
    }
    test_saved(ctx, &mut profile, &a).await
}

async fn test_url(ctx: &Ctx, profile: &Profile, a: &TestArgs) -> Result<(), CliError> {
    let (mut spec, url_password) =
        ConnSpec::from_url(&a.target).map_err(|e| CliError::usage(e.to_string()))?;
    if !a.target.contains("onnect_timeout") {
        spec.connect_timeout_secs = profile.config.connect_timeout_secs;
    }
    if let Some(via) = &a.ssh {
        crate::ssh::set_via(&mut spec, Some(via));
    }
    if let Some(t) = a.timeout {
        spec.connect_timeout_secs = t;
    }
    spec.validate()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let password = if url_password.is_some() {
        url_password
    } else if a.password_stdin {
        Some(read_stdin_secret()?)
    } else if spec.kind.has_password() && interactive() {
        let p = prompt_secret(&format!(
            "Password for {} (empty for none): ",
            spec.summary()
        ))?;
        (!p.expose_secret().is_empty()).then_some(p)
    } else {
        None
    };
    let scrub_with = password.clone();
    let staged = run_test(&spec, password, ctx, profile).await;
    tracing::info!(
        kind = spec.kind.id(),
        ok = staged.result.is_ok(),
        "URL tested"
    );
    let label = sanitize(&spec.to_url(), None);
    report(
        ctx,
        a.json,
        &label,
        false,
        &spec,
        staged,
        scrub_with.as_ref(),
    )
}

async fn test_saved(ctx: &Ctx, profile: &mut Profile, a: &TestArgs) -> Result<(), CliError> {
    let name = a.target.as_str();
    let conn = profile.get(name)?;
    let prompted = if conn.password_source == PasswordSource::Prompt && a.password_stdin {
        Some(read_stdin_secret()?)
    } else {
        None
    };
    let env = crate::ops::EnvUnlock::disabled();
    let job = fulfil(
        ctx,
        profile,
        &format!("'{name}'"),
        "pass --password-stdin, or run on a terminal to be asked",
        prompted,
        |p, prompted| {
            crate::ops::prepare_test(p, name, a.force, prompted, &env).map_err(|e| match e {
                ProfileError::LockoutGuard(n) => CliError::failed(format!(
                "'{name}' failed to log in {n} times in a row: testing again may lock the account"
            ))
                .hint("fix the password (`varlor edit`), or pass --force to test anyway"),
                e => e.into(),
            })
        },
    )?;
    let scrub_with = job.password.clone();
    let mut spec = job.connection.spec.clone();
    if let Some(via) = &a.ssh {
        crate::ssh::set_via(&mut spec, Some(via));
    }
    if let Some(t) = a.timeout {
        spec.connect_timeout_secs = t;
    }
    let staged = match spec.validate() {
        Ok(()) => run_test(&spec, job.password, ctx, profile).await,
        Err(e) => crate::ssh::connector::StagedTest {
            stages: Vec::new(),
            result: Err(ConnError::new(ErrorKind::Config, e.to_string())),
        },
    };
    let result = &staged.result;
    // Record even when the user interrupted, so the in-flight guard is released.
    let recorded = match crate::ops::finish_test(profile, name, result) {
        // `varlor rm` ran while this test was connecting: nothing to record.
        Err(ProfileError::Catalog(crate::store::catalog::CatalogError::NotFound(_))) => {
            eprintln!(
                "note: '{}' was removed while it was being tested; the result is not recorded",
                display_text(name)
            );
            Ok(())
        }
        r => r,
    };
    tracing::info!(
        connection = %name,
        kind = conn.spec.kind.id(),
        outcome = %result.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        "connection tested"
    );
    let shown = report(ctx, a.json, name, true, &spec, staged, scrub_with.as_ref());
    recorded?;
    shown
}

/// Tests hop by hop (SSH, tunnel, database; or resolve, TCP, login) with a
/// Ctrl-C escape hatch (dropping the future closes the socket and the tunnel).
async fn run_test(
    spec: &ConnSpec,
    password: Option<SecretString>,
    ctx: &Ctx,
    profile: &Profile,
) -> StagedTest {
    tokio::select! {
        r = crate::ssh::staged_test(spec, password, ctx.session_options(profile)) => r,
        _ = tokio::signal::ctrl_c() => StagedTest {
            stages: Vec::new(),
            result: Err(ConnError::new(ErrorKind::Cancelled, "interrupted")),
        },
    }
}

fn stages_json(stages: &[Stage]) -> serde_json::Value {
    serde_json::to_value(stages).unwrap_or(serde_json::Value::Null)
}

fn report(
    ctx: &Ctx,
    json: bool,
    target: &str,
    saved: bool,
    spec: &ConnSpec,
    staged: StagedTest,
    secret: Option<&SecretString>,
) -> Result<(), CliError> {
    let kind: Kind = spec.kind;
    let ssh = spec.options.get(crate::ssh::OPTION);
    // Connectors sanitize already; scrub again with the secret we hold.
    let result: Result<ServerInfo, ConnError> = staged
        .result
        .map_err(|e| e.scrub(secret.map(|s| s.expose_secret())));
    let stages = staged.stages;
    if json {
        let v = match &result {
            Ok(info) => json!({
                "target": target, "saved": saved, "kind": kind.id(), "ok": true,
                "server_version": info.version,
                "latency_ms": info.latency.as_millis() as u64,
                "tls": info.tls, "ssh": ssh, "stages": stages_json(&stages), "error": null,
            }),
            Err(e) => json!({
                "target": target, "saved": saved, "kind": kind.id(), "ok": false,
                "server_version": null, "latency_ms": null, "tls": null,
                "ssh": ssh, "stages": stages_json(&stages),
                "error": {
                    "kind": e.kind, "message": e.headline(),
                    "hint": e.hint(), "detail": e.detail,
                },
            }),
        };
        print_json(&v)?;
    } else {
        let colour = colour_stdout();
        match &result {
            Ok(info) => println!(
                "{} {} — {} ms, {}",
                paint(colour, Style::Green, "✓"),
                display_text(&info.version),
                info.latency.as_millis(),
                if info.tls { "TLS" } else { "no TLS" }
            ),
            Err(e) => {
                let hint = e.hint();
                if hint.is_empty() {
                    println!(
                        "{} {}",
                        paint(colour, Style::Red, "✗"),
                        display_text(&e.headline())
                    );
                } else {
                    println!(
                        "{} {} — {}",
                        paint(colour, Style::Red, "✗"),
                        display_text(&e.headline()),
                        hint
                    );
                }
                if ctx.verbose && !e.detail.is_empty() {
                    println!("  detail: {}", display_text(&e.detail));
                }
            }
        }
        // The hops, under the verdict: which one failed (one stage says nothing more).
        if stages.len() > 1 {
            println!("  {}", display_text(&crate::ssh::stages_line(&stages)));
        }
    }
    match result {
        Ok(_) => Ok(()),
        Err(_) => Err(CliError::silent(EXIT_FAILED)),
    }
}
