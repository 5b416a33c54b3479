//! `run_import`: streams each planned table through a sink into the
//! destination, reporting progress, surviving a failed table, and stopping
//! promptly on cancel.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use super::provenance::{KeptAsText, ProvenanceRecord};
use super::sink_files::FilesDestination;
use super::sink_sqlite::SqliteDestination;
use super::{
    Format, ImportError, ImportEvent, ImportPlan, ImportSummary, TableOutcome, TablePlan,
    TableSummary,
};
use crate::connectors::{
    Cell, ColumnMeta, ConnError, Connector, ErrorKind, Kind, RowSink, StreamOptions,
};

/// Rows between two looks at the clock and the cancel token.
const CHECK_EVERY: u64 = 16;

/// Where the tables go (one per format).
pub(crate) trait Destination: Send {
    /// The dataset table or file name for a source table; unique per import.
    fn target(&mut self, table: &crate::connectors::TableRef) -> String;
    /// A writer for one table. Dropping it without `finish` discards the table.
    fn table<'a>(&'a mut self, target: &str) -> Result<Box<dyn TableWriter + 'a>, ImportError>;
    /// Provenance of a table that completed.
    fn record(&mut self, record: ProvenanceRecord);
    /// Makes the dataset final. Returns whether anything was written.
    fn commit(self: Box<Self>) -> Result<bool, ImportError>;
    /// Ends a cancelled import. Returns whether anything was written.
    fn cancel(self: Box<Self>) -> Result<bool, ImportError>;
}

/// Writes one table.
pub(crate) trait TableWriter: Send {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ImportError>;
    fn row(&mut self, row: Vec<Cell>) -> Result<(), ImportError>;
    /// Whole documents are kept as they are (JSON Lines); see
    /// `RowSink::wants_documents`.
    fn takes_documents(&self) -> bool {
        false
    }
    /// Takes whole CSV records in the dataset's own CSV form (see
    /// `RowSink::takes_csv`).
    fn takes_csv(&self) -> bool {
        false
    }
    fn csv_records(&mut self, _bytes: &[u8]) -> Result<(), ImportError> {
        Err(ImportError::write("this table writer takes rows, not CSV"))
    }
    /// Makes the table durable under its final name. Returns the numeric
    /// columns kept as text (for the provenance).
    fn finish(self: Box<Self>) -> Result<Vec<KeptAsText>, ImportError>;
}

fn open_destination(plan: &ImportPlan) -> Result<Box<dyn Destination>, ImportError> {
    Ok(match plan.format {
        Format::Sqlite => Box::new(SqliteDestination::create(&plan.destination)?),
        Format::Csv | Format::Jsonl | Format::Parquet => {
            Box::new(FilesDestination::create(&plan.destination, plan.format)?)
        }
    })
}

/// Imports `plan.tables` one after the other; see the module documentation.
///
/// Never fails as a whole: every outcome is in the returned summary, and
/// each table's start, progress and end are sent on `events` (a closed
/// receiver is fine). Cancelling `cancel` stops the running table promptly
/// (the stream future is dropped, which cancels the query on the server)
/// and skips the rest.
///
/// Writing is synchronous file I/O done as rows arrive: run this on the
/// multi-threaded runtime (`tokio::spawn`), not on a UI thread.
pub async fn run_import(
    connector: Arc<dyn Connector>,
    plan: ImportPlan,
    events: UnboundedSender<ImportEvent>,
    cancel: CancellationToken,
) -> ImportSummary {
    let started = Instant::now();
    let mut summary = ImportSummary {
        connection: plan.connection.clone(),
        kind: plan.kind,
        format: plan.format,
        destination: plan.destination.clone(),
        written: false,
        tables: Vec::with_capacity(plan.tables.len()),
        elapsed: Default::default(),
        cancelled: false,
        error: None,
    };

    let mut dest = match open_destination(&plan) {
        Ok(d) => d,
        Err(e) => {
            for (index, tp) in plan.tables.iter().enumerate() {
                let _ = events.send(ImportEvent::TableFailed {
                    index,
                    rows: 0,
                    error: e.clone(),
                });
                summary.tables.push(TableSummary {
                    table: tp.table.clone(),
                    target: String::new(),
                    outcome: TableOutcome::Failed { error: e.clone() },
                    rows: 0,
                    elapsed: Default::default(),
                });
            }
            summary.error = Some(e);
            summary.elapsed = started.elapsed();
            return summary;
        }
    };
    let targets: Vec<String> = plan.tables.iter().map(|t| dest.target(&t.table)).collect();

    for (index, tp) in plan.tables.iter().enumerate() {
        let target = targets[index].clone();
        if cancel.is_cancelled() {
            summary.tables.push(TableSummary {
                table: tp.table.clone(),
                target,
                outcome: TableOutcome::Cancelled,
                rows: 0,
                elapsed: Default::default(),
            });
            continue;
        }
        let estimated = estimate(connector.as_ref(), tp, plan.kind, &cancel).await;
        let _ = events.send(ImportEvent::TableStarted {
            index,
            table: tp.table.display_name(),
            estimated_rows: estimated,
        });
        let t0 = Instant::now();
        let result = import_table(
            connector.as_ref(),
            dest.as_mut(),
            &target,
            tp,
            Progress::new(events.clone(), index, estimated),
            &cancel,
        )
        .await;
        let elapsed = t0.elapsed();
        let (outcome, rows) = match result {
            Ok((rows, columns, kept_as_text)) => {
                dest.record(ProvenanceRecord {
                    target: target.clone(),
                    connection: plan.connection.clone(),
                    kind: plan.kind.id().to_string(),
                    source_schema: tp.table.schema.clone(),
                    source_table: tp.table.name.clone(),
                    imported_at: now_rfc3339(),
                    rows,
                    filter: tp.filter.clone(),
                    limit: tp.limit,
                    elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                    columns,
                    varlor_version: env!("CARGO_PKG_VERSION").to_string(),
                    kept_as_text,
                });
                let _ = events.send(ImportEvent::TableDone {
                    index,
                    rows,
                    elapsed,
                });
                (TableOutcome::Done, rows)
            }
            Err((rows, error)) => {
                tracing::info!(table = %tp.table.display_name(), %error, "import of a table failed");
                let _ = events.send(ImportEvent::TableFailed {
                    index,
                    rows,
                    error: error.clone(),
                });
                let outcome = if error == ImportError::Cancelled {
                    TableOutcome::Cancelled
                } else {
                    TableOutcome::Failed { error }
                };
                (outcome, rows)
            }
        };
        summary.tables.push(TableSummary {
            table: tp.table.clone(),
            target,
            outcome,
            rows,
            elapsed,
        });
    }

    summary.cancelled = cancel.is_cancelled()
        && summary
            .tables
            .iter()
            .any(|t| t.outcome == TableOutcome::Cancelled);
    let end = if summary.cancelled {
        dest.cancel()
    } else {
        dest.commit()
    };
    match end {
        Ok(written) => summary.written = written,
        Err(e) => summary.error = Some(e),
    }
    summary.elapsed = started.elapsed();
    summary
}

/// Rows to expect: the catalog estimate (a SQLite file has none, and
/// counting it locally is cheap), capped by the limit.
async fn estimate(
    connector: &dyn Connector,
    tp: &TablePlan,
    kind: Kind,
    cancel: &CancellationToken,
) -> Option<u64> {
    let mut est = tp.table.estimated_rows.and_then(|n| u64::try_from(n).ok());
    // A local file counts cheaply: an exact total makes the progress honest.
    if est.is_none() && kind.engine().file_based && tp.filter.is_none() && tp.query.is_none() {
        est = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            n = connector.count_rows(&tp.table) => n.ok(),
        };
    }
    match (est, tp.limit) {
        (Some(e), Some(l)) => Some(e.min(l)),
        (None, Some(l)) => Some(l),
        (e, None) => e,
    }
}

async fn import_table(
    connector: &dyn Connector,
    dest: &mut dyn Destination,
    target: &str,
    tp: &TablePlan,
    progress: Progress,
    cancel: &CancellationToken,
) -> Result<(u64, Vec<ColumnMeta>, Vec<KeptAsText>), (u64, ImportError)> {
    let writer = dest.table(target).map_err(|e| (0, e))?;
    let mut sink = ImportSink {
        writer,
        columns: None,
        rows: 0,
        limit: tp.limit,
        limit_reached: false,
        cancel: cancel.clone(),
        cancelled: false,
        write_error: None,
        progress,
    };
    let opts = StreamOptions {
        limit: tp.limit,
        filter: tp.filter.clone(),
    };
    // Dropping the stream future on cancel is what stops a connector that
    // is waiting on the server; the sink's own check stops one that is busy.
    let streamed = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        r = async {
            match &tp.query {
                Some(sql) => crate::connectors::query::drain(connector.query(sql).await?, &mut sink).await,
                None => connector.stream_rows(&tp.table, &opts, &mut sink).await,
            }
        } => Some(r),
    };
    let rows = sink.rows;
    if let Some(e) = sink.write_error.take() {
        return Err((rows, e));
    }
    match streamed {
        None => return Err((rows, ImportError::Cancelled)),
        Some(Err(_)) if sink.cancelled => return Err((rows, ImportError::Cancelled)),
        Some(Err(_)) if sink.limit_reached => {}
        Some(Err(error)) => return Err((rows, ImportError::Source { error })),
        Some(Ok(_)) => {}
    }
    let columns = match sink.columns.take() {
        Some(c) => c,
        None => {
            // A source that sent no column list had no rows either; let the
            // writer decide whether an empty column list is writable.
            sink.writer.columns(&[]).map_err(|e| (rows, e))?;
            Vec::new()
        }
    };
    let kept_as_text = sink.writer.finish().map_err(|e| (rows, e))?;
    Ok((rows, columns, kept_as_text))
}

/// The `RowSink` handed to the connector: counts, enforces the limit, checks
/// the cancel token, throttles progress, and keeps the writer's own error
/// (the connector only sees that the sink gave up).
struct ImportSink<'a> {
    writer: Box<dyn TableWriter + 'a>,
    columns: Option<Vec<ColumnMeta>>,
    rows: u64,
    limit: Option<u64>,
    limit_reached: bool,
    cancel: CancellationToken,
    cancelled: bool,
    write_error: Option<ImportError>,
    progress: Progress,
}

impl ImportSink<'_> {
    fn give_up(&mut self, e: ImportError) -> ConnError {
        let err = ConnError::new(ErrorKind::Other, e.to_string());
        self.write_error = Some(e);
        err
    }
}

impl RowSink for ImportSink<'_> {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ConnError> {
        if self.columns.is_some() {
            return Err(self.give_up(ImportError::write("the column list arrived twice")));
        }
        self.columns = Some(columns.to_vec());
        self.writer.columns(columns).map_err(|e| self.give_up(e))
    }

    fn wants_documents(&self) -> bool {
        self.writer.takes_documents()
    }

    fn takes_csv(&self) -> bool {
        self.writer.takes_csv()
    }

    fn csv_records(&mut self, bytes: &[u8], records: u64) -> Result<(), ConnError> {
        if let Err(e) = self.writer.csv_records(bytes) {
            return Err(self.give_up(e));
        }
        self.rows += records;
        if self.cancel.is_cancelled() {
            self.cancelled = true;
            return Err(ConnError::new(ErrorKind::Cancelled, "import cancelled"));
        }
        self.progress.tick(self.rows);
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> Result<(), ConnError> {
        if self.limit.is_some_and(|l| self.rows >= l) {
            // The connector should have stopped at the limit; stop it here.
            self.limit_reached = true;
            return Err(ConnError::new(ErrorKind::Cancelled, "row limit reached"));
        }
        if let Err(e) = self.writer.row(row) {
            return Err(self.give_up(e));
        }
        self.rows += 1;
        if self.rows.is_multiple_of(CHECK_EVERY) {
            if self.cancel.is_cancelled() {
                self.cancelled = true;
                return Err(ConnError::new(ErrorKind::Cancelled, "import cancelled"));
            }
            self.progress.tick(self.rows);
        }
        Ok(())
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
