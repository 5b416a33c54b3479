//! `varlor import NAME TABLE… --to PATH [--format sqlite|csv|jsonl] [--limit N] [--json]`.
//!
//! Streams the tables into a local dataset (see `crate::dataset` for the
//! formats, atomicity and provenance). A progress line on stderr when it is a
//! terminal (and not `--json`), quiet otherwise; Ctrl-C cancels (no partial
//! file is left under the final name). The import is written to the audit log.
//!
//! Exit codes: 0 every table imported; 1 a table failed, the destination was
//! unusable or the import was cancelled (the tables that did complete stay);
//! 2 bad input (format, limit, unknown connection or table).
//!
//! `--json` prints the summary: `{ "connection", "kind", "format",
//! "destination", "written": bool, "cancelled": bool, "elapsed": ms,
//! "error": null|{ "type", "message"|"error" }, "outcome": "ok"|"partial"|"failed"|"cancelled",
//! "rows": total, "tables": [{ "table": {schema, name, kind, estimated_rows, system},
//! "target": dataset table or file name, "outcome": { "status": "done"|"failed"|"cancelled",
//! "error"?: … }, "rows", "elapsed": ms }] }`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::browse::{conn_err, group_digits, open_connector};
use super::table_arg::{find, Lookup};
use super::{colour_stdout, paint, print_json, CliError, Ctx, Style};
use crate::cli::ImportArgs;
use crate::connectors::{ConnError, Connector, ErrorKind, TableRef};
use crate::dataset::{
    run_import, Format, ImportEvent, ImportOutcome, ImportPlan, ImportSummary, TableOutcome,
    TablePlan,
};

pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result<(), CliError> {
    let format = Format::parse(&a.format).ok_or_else(|| {
        CliError::usage(format!(
            "format: unknown format '{}' (expected sqlite, csv or jsonl)",
            a.format
        ))
    })?;
    if a.limit == Some(0) {
        return Err(CliError::usage("limit: must be at least 1"));
    }
    if a.tables.iter().any(|t| t.trim().is_empty()) {
        return Err(CliError::usage("table: a table name is empty"));
    }
    let mut profile = ctx.open()?;
    let conn = profile.get(&a.name)?;
    let connector: Arc<dyn Connector> =
        Arc::from(open_connector(ctx, &mut profile, &a.name).await?);

    let listed = tokio::select! {
        r = connector.list_tables() => r,
        _ = tokio::signal::ctrl_c() => Err(ConnError::new(ErrorKind::Cancelled, "interrupted")),
    }
    .map_err(|e| conn_err(ctx, e))?;
    let mut tables: Vec<TableRef> = Vec::with_capacity(a.tables.len());
    for text in &a.tables {
        let t = match find(&listed, text) {
            Lookup::Found(t) => t.clone(),
            Lookup::NotFound => {
                return Err(CliError::usage(format!(
                    "table: no table or view '{text}' in '{}'",
                    a.name
                ))
                .hint(format!(
                    "`varlor tables {} --all` lists them; quote parts with dots or spaces: '\"schema\".\"Weird Name\"'",
                    a.name
                )))
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
        };
        if !tables.contains(&t) {
            tables.push(t);
        }
    }

    let plan = ImportPlan {
        connection: a.name.clone(),
        kind: conn.spec.kind,
        tables: tables
            .into_iter()
            .map(|table| TablePlan {
                table,
                limit: a.limit,
                filter: None,
            })
            .collect(),
        destination: a.to.clone(),
        format,
    };
    tracing::info!(connection = %a.name, tables = plan.tables.len(), format = %format, "import");
    let names: Vec<String> = plan.tables.iter().map(|t| t.table.display_name()).collect();

    let cancel = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let job = tokio::spawn(run_import(connector, plan, tx, cancel.clone()));
    let mut bar = Bar::new(!a.json && std::io::stderr().is_terminal(), names);
    let mut stop = StopSignals::new();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(e) => bar.show(&e),
                None => break,
            },
            _ = tokio::signal::ctrl_c(), if !cancel.is_cancelled() => {
                bar.note("cancelling…");
                cancel.cancel();
            }
            // A closed terminal or a `kill` cancels too, so the temporary
            // files are removed rather than left behind by a hard exit.
            _ = stop.recv(), if !cancel.is_cancelled() => cancel.cancel(),
        }
    }
    bar.clear();
    let summary = job
        .await
        .map_err(|e| CliError::failed(format!("the import stopped unexpectedly: {e}")))?;

    let outcome = summary.outcome();
    if let Err(e) = profile.catalog.audit(
        "import",
        &summary.connection,
        outcome.id(),
        &summary.audit_detail(),
    ) {
        tracing::warn!(error = %e, "could not write the audit log");
        eprintln!("warning: the import was not written to the audit log: {e}");
    }

    if a.json {
        let mut v = serde_json::to_value(&summary)
            .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("outcome".into(), outcome.id().into());
            o.insert("rows".into(), summary.total_rows().into());
        }
        print_json(&v)?;
    } else {
        print_summary(ctx, &summary);
    }
    match outcome {
        ImportOutcome::Ok => Ok(()),
        _ if a.json => Err(CliError::silent(super::EXIT_FAILED)),
        ImportOutcome::Cancelled => Err(CliError::failed("import cancelled")
            .hint("tables finished before the cancel are kept (csv/jsonl); a SQLite dataset is not written")),
        ImportOutcome::Failed => Err(CliError::failed(match &summary.error {
            Some(e) => e.to_string(),
            None => "no table could be imported".to_string(),
        })),
        ImportOutcome::Partial => Err(CliError::failed(format!(
            "{} of {} tables failed",
            summary.tables.len() - summary.tables_done(),
            summary.tables.len()
        ))),
    }
}

/// SIGTERM and SIGHUP (unix); never fires elsewhere.
struct StopSignals {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals {
                signals: signal(SignalKind::terminate())
                    .and_then(|t| Ok((t, signal(SignalKind::hangup())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((term, hup)) = self.signals.as_mut() {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
        std::future::pending::<()>().await
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Written with `writeln!` and errors ignored: after a hang-up stdout may be
/// gone, and the import itself is already complete and audited.
fn print_summary(ctx: &Ctx, s: &ImportSummary) {
    let colour = colour_stdout();
    let mut out = std::io::stdout().lock();
    for t in &s.tables {
        let name = t.table.display_name();
        match &t.outcome {
            TableOutcome::Done => {
                _ = writeln!(
                    out,
                    "{} {name} → {}: {} rows in {}",
                    paint(colour, Style::Green, "✓"),
                    t.target,
                    group_digits(t.rows),
                    secs(t.elapsed)
                )
            }
            TableOutcome::Failed { error } => {
                let msg = match error {
                    crate::dataset::ImportError::Source { error } if !ctx.verbose => {
                        format!("{} ({})", error.kind.message(), error.kind.hint())
                    }
                    other => other.to_string(),
                };
                let _ = writeln!(out, "{} {name}: {msg}", paint(colour, Style::Red, "✗"));
            }
            TableOutcome::Cancelled => {
                let _ = writeln!(
                    out,
                    "{} {name}: cancelled",
                    paint(colour, Style::Yellow, "-")
                );
            }
        }
    }
    if s.written {
        let _ = writeln!(
            out,
            "{} rows in {} table(s) → {} ({}) in {}",
            group_digits(s.total_rows()),
            s.tables_done(),
            s.destination.display(),
            s.format,
            secs(s.elapsed)
        );
    }
}

/// The progress line on stderr (only on a terminal): the current table, its
/// rows against the estimate, the rate and the ETA.
struct Bar {
    on: bool,
    names: Vec<String>,
    drawn: bool,
}

impl Bar {
    fn new(on: bool, names: Vec<String>) -> Self {
        Bar {
            on,
            names,
            drawn: false,
        }
    }

    fn line(&mut self, text: &str) {
        if !self.on {
            return;
        }
        let width = 79;
        let text = super::truncate(text, width);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.on && self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }

    fn note(&mut self, text: &str) {
        self.line(text);
    }

    fn show(&mut self, e: &ImportEvent) {
        let n = self.names.len();
        let name = |i: usize| self.names.get(i).cloned().unwrap_or_default();
        match e {
            ImportEvent::TableStarted {
                index,
                estimated_rows,
                ..
            } => {
                let est = estimated_rows
                    .map(|e| format!(" (~{} rows)", group_digits(e)))
                    .unwrap_or_default();
                let text = format!("[{}/{n}] {}{est}", index + 1, name(*index));
                self.line(&text);
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
                    .map(|d| format!("  ETA {}", secs(d)))
                    .unwrap_or_default();
                let text = format!(
                    "[{}/{n}] {}  {}{of} rows  {}/s{eta}",
                    index + 1,
                    name(*index),
                    group_digits(*rows),
                    group_digits(*rows_per_sec as u64),
                );
                self.line(&text);
            }
            ImportEvent::TableDone { .. } | ImportEvent::TableFailed { .. } => {}
        }
    }
}
