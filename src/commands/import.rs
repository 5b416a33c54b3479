//! `varlor import NAME TABLE… [--to PATH] [--format sqlite|csv|jsonl|parquet] [--limit N]
//! [--where TABLE=CONDITION]… [--json]`.
//!
//! `--where` filters one table's rows: the text before the first `=` outside
//! double quotes names the table (resolved like the TABLE arguments, and it
//! must be one of them), the rest is an SQL condition without `WHERE`, e.g.
//! `--where "orders=status = 'paid'"`. The connector runs it only inside the
//! read-only session and refuses anything after one SELECT, so a filter can
//! never write; the table name itself is always quoted, never pasted.
//!
//! Every table and filter is resolved before anything is written (a bad name,
//! an unknown table in `--where` or two filters for one table is exit 2 and
//! no file). Progress goes to stderr when it is a terminal, nothing
//! otherwise; Ctrl-C cancels (no half-written file under the final name).
//! The import is written to the audit log. Exit 0 when every table
//! imported, 1 otherwise (partial, failed, cancelled).
//!
//! `--json` prints the summary (durations in milliseconds):
//!
//! ```json
//! { "outcome": "ok"|"partial"|"failed"|"cancelled", "total_rows": 6000,
//!   "connection": "prod", "kind": "postgres", "format": "sqlite",
//!   "destination": "/…/prod-2026-11-24.sqlite", "written": true,
//!   "elapsed": 412, "cancelled": false, "error": null,
//!   "tables": [ { "table": { "schema": "public", "name": "orders", … },
//!                 "target": "public.orders", "rows": 5000, "elapsed": 300,
//!                 "outcome": { "status": "done" } } ] }
//! ```

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::browse::{conn_err, group_digits, open_connector, rows_text};
use super::table_arg::{find, Lookup};
use super::{colour_stdout, paint, print_json, CliError, Ctx, Style};
use crate::cli::ImportArgs;
use crate::dataset::{
    default_destination, run_import, Format, ImportEvent, ImportOutcome, ImportPlan, TableOutcome,
    TablePlan,
};
use crate::display::display_text;

pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result<(), CliError> {
    let format = Format::parse(&a.format).ok_or_else(|| {
        CliError::usage(format!(
            "format: unknown format '{}' (expected sqlite, csv, jsonl or parquet)",
            a.format
        ))
    })?;
    if a.limit == Some(0) {
        return Err(CliError::usage("limit: must be at least 1"));
    }
    if a.tables.iter().any(|t| t.trim().is_empty()) {
        return Err(CliError::usage("table: a table name is empty"));
    }
    for f in &a.filters {
        split_filter(f)?;
    }
    let mut profile = ctx.open()?;
    let conn = profile.get(&a.name)?;
    let connector: Arc<dyn crate::connectors::Connector> =
        Arc::from(open_connector(ctx, &mut profile, &a.name).await?);

    let listed = tokio::select! {
        r = connector.list_tables() => r.map_err(|e| conn_err(ctx, e))?,
        _ = tokio::signal::ctrl_c() => return Err(CliError::failed("cancelled")),
    };
    let mut tables = Vec::new();
    for text in &a.tables {
        match find(&listed, text) {
            Lookup::Found(t) => {
                let mut plan = TablePlan::new(t.clone());
                plan.limit = a.limit;
                tables.push(plan);
            }
            Lookup::NotFound => {
                return Err(CliError::usage(format!(
                    "table: no table or view '{text}' in '{}'",
                    a.name
                ))
                .hint(format!("`varlor tables {} --all` lists them", a.name)))
            }
            Lookup::Ambiguous(hits) => {
                return Err(CliError::usage(format!(
                    "table: '{text}' is ambiguous: {}",
                    hits.iter()
                        .map(|t| t.display_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .hint("name the schema, e.g. schema.table"))
            }
        }
    }
    apply_filters(&a, &listed, &mut tables)?;
    let caps = conn.spec.kind.engine().capabilities;
    for t in &tables {
        if let Some(f) = &t.filter {
            caps.check_filter(f).map_err(|why| {
                CliError::usage(format!("where: {}: {why}", t.table.display_name()))
            })?;
        }
    }
    let destination = match &a.to {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => default_destination(&profile.paths.datasets_dir(), &a.name, format),
    };
    let plan = ImportPlan {
        connection: a.name.clone(),
        kind: conn.spec.kind,
        tables,
        destination,
        format,
    };
    let names: Vec<String> = plan.tables.iter().map(|t| t.table.display_name()).collect();
    tracing::info!(connection = %a.name, tables = plan.tables.len(), format = format.id(), "import started");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let job = tokio::spawn(run_import(connector, plan, tx, cancel.clone()));
    let show = std::io::stderr().is_terminal() && !a.json;
    let mut interrupted = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => if show { draw(&ev, &names) },
                None => break,
            },
            _ = stop_requested(), if !interrupted => {
                interrupted = true;
                cancel.cancel();
            }
        }
    }
    if show {
        eprint!("\r\x1b[K");
    }
    let summary = job
        .await
        .map_err(|e| CliError::failed(format!("import task failed: {e}")))?;
    let outcome = summary.outcome();
    if let Err(e) = crate::ops::audit_import(&mut profile, &summary.connection, &summary) {
        eprintln!("warning: the import was not written to the audit log: {e}");
    }
    tracing::info!(connection = %a.name, outcome = outcome.id(), rows = summary.total_rows(), "import finished");
    // Everything is written or cleaned up: a closed stdout may end us quietly now.
    super::restore_default_sigpipe();

    if a.json {
        let mut v = serde_json::to_value(&summary)
            .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?;
        if let Value::Object(m) = &mut v {
            m.insert("outcome".into(), Value::from(outcome.id()));
            m.insert("total_rows".into(), Value::from(summary.total_rows()));
        }
        print_json(&v)?;
    } else {
        let colour = colour_stdout();
        for t in &summary.tables {
            let secs = t.elapsed.as_secs_f64();
            match &t.outcome {
                TableOutcome::Done => println!(
                    "{} {} → {}  {} ({secs:.1} s)",
                    paint(colour, Style::Green, "✓"),
                    display_text(&t.table.display_name()),
                    display_text(&t.target),
                    rows_text(t.rows)
                ),
                TableOutcome::Failed { error } => println!(
                    "{} {} — {}",
                    paint(colour, Style::Red, "✗"),
                    display_text(&t.table.display_name()),
                    display_text(&error.to_string())
                ),
                TableOutcome::Cancelled => println!(
                    "{} {} — cancelled",
                    paint(colour, Style::Yellow, "-"),
                    display_text(&t.table.display_name())
                ),
            }
        }
        if let Some(e) = &summary.error {
            println!(
                "{} {}",
                paint(colour, Style::Red, "✗"),
                display_text(&e.to_string())
            );
        }
        println!(
            "{} {} from {} of {} table{} {} {} ({:.1} s)",
            match outcome {
                ImportOutcome::Ok | ImportOutcome::Partial => "Imported",
                ImportOutcome::Failed => "Failed:",
                ImportOutcome::Cancelled => "Cancelled:",
            },
            rows_text(summary.total_rows()),
            summary.tables_done(),
            summary.tables.len(),
            if summary.tables.len() == 1 { "" } else { "s" },
            if summary.written {
                "into"
            } else {
                "— nothing written to"
            },
            display_text(&summary.destination.display().to_string()),
            summary.elapsed.as_secs_f64()
        );
    }
    if outcome == ImportOutcome::Ok {
        Ok(())
    } else {
        Err(CliError::silent(super::EXIT_FAILED))
    }
}

/// `TABLE=CONDITION` split at the first `=` outside double quotes (so a
/// quoted name may hold `=`); both sides trimmed and non-empty.
fn split_filter(text: &str) -> Result<(&str, &str), CliError> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '=' if !quoted => {
                let (table, cond) = (text[..i].trim(), text[i + 1..].trim());
                if table.is_empty() || cond.is_empty() {
                    break;
                }
                return Ok((table, cond));
            }
            _ => {}
        }
    }
    Err(
        CliError::usage(format!("where: expected TABLE=CONDITION, got '{text}'"))
            .hint("e.g. --where \"orders=status = 'paid'\""),
    )
}

/// Attaches each `--where` to the table it names; the table must be one of
/// those being imported, and have at most one filter.
fn apply_filters(
    a: &ImportArgs,
    listed: &[crate::connectors::TableRef],
    tables: &mut [TablePlan],
) -> Result<(), CliError> {
    for text in &a.filters {
        let (name, cond) = split_filter(text)?;
        let target = match find(listed, name) {
            Lookup::Found(t) => tables.iter_mut().find(|p| p.table == *t),
            _ => None,
        };
        let Some(plan) = target else {
            return Err(CliError::usage(format!(
                "where: '{name}' is not one of the tables being imported"
            ))
            .hint("name the table as in the TABLE list"));
        };
        if plan.filter.is_some() {
            return Err(CliError::usage(format!(
                "where: two filters for '{}'",
                plan.table.display_name()
            ))
            .hint("combine them with AND"));
        }
        plan.filter = Some(cond.to_string());
    }
    Ok(())
}

/// One status line on stderr, rewritten in place.
fn draw(ev: &ImportEvent, names: &[String]) {
    let name = |i: usize| names.get(i).map(String::as_str).unwrap_or("?");
    let line = match ev {
        ImportEvent::TableStarted { index, .. } => {
            format!("[{}/{}] {} …", index + 1, names.len(), name(*index))
        }
        ImportEvent::Progress {
            index,
            rows,
            estimated_rows,
            rows_per_sec,
            eta,
        } => {
            let of = estimated_rows
                .map(|e| format!(" / ~{}", group_digits(e)))
                .unwrap_or_default();
            let eta = eta
                .map(|d| format!(", {} s left", d.as_secs()))
                .unwrap_or_default();
            format!(
                "[{}/{}] {}  {}{of} rows, {:.0} rows/s{eta}",
                index + 1,
                names.len(),
                name(*index),
                group_digits(*rows),
                rows_per_sec
            )
        }
        ImportEvent::TableDone { .. } | ImportEvent::TableFailed { .. } => return,
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[K{}",
        super::truncate(&display_text(&line), 100)
    );
    let _ = err.flush();
}

/// Ctrl-C, a closed terminal (SIGHUP) or `kill` (SIGTERM): each cancels the
/// import so its temporary files are removed instead of left behind.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
