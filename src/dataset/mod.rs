//! Streaming import of selected tables into a local dataset the analyst can
//! open with sqlite3, DuckDB, pandas or a spreadsheet.
//!
//! # Using it (TUI and `varlor import`)
//!
//! ```ignore
//! let plan = ImportPlan {
//!     connection: "prod".into(),
//!     kind: Kind::Postgres,
//!     tables: vec![TablePlan::new(table_ref)],          // limit / filter per table
//!     destination: default_destination(&paths.datasets_dir(), "prod", Format::Sqlite),
//!     format: Format::Sqlite,
//! };
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let cancel = CancellationToken::new();                 // Esc / Ctrl-C: cancel.cancel()
//! let job = tokio::spawn(run_import(connector, plan, tx, cancel.clone()));
//! while let Some(ev) = rx.recv().await { /* draw ImportEvent */ }
//! let summary = job.await?;                                // never an Err: outcomes are inside
//! profile.audit("import", &summary.connection, summary.outcome().id(),
//!                       &summary.audit_detail())?;
//! ```
//!
//! The event channel closes when `run_import` returns (it owns the sender),
//! so the receive loop above ends by itself.
//!
//! # Formats
//!
//! - **sqlite** (`Format::Sqlite`): one file holding every table. The dataset
//!   table is named after the source's display name (`schema.table`, e.g.
//!   `public.customers`, always quoted), made unique case-insensitively
//!   (`name #2`) and never `sqlite_…` (those get a leading `_`). Column
//!   types: integers → INTEGER; floats → REAL; numeric/decimal (scale 0 and
//!   precision ≤ 18: INTEGER), money and MySQL `bigint unsigned` → NUMERIC,
//!   each value bound as INTEGER (fits 64 bits) or REAL (≤ 15 significant
//!   digits, which a double round-trips), so they sort, `max` and `sum` as
//!   numbers. If any value of such a column would lose a digit (or is not
//!   a finite number), the column is TEXT instead — rebuilt at the end of
//!   the table, every value in the source's digits (values already stored
//!   as numbers are written with the declared scale) — and the provenance
//!   lists it in `kept_as_text` with the reason; booleans → INTEGER 0/1; timestamps → ISO
//!   8601 TEXT (`2024-01-02T03:04:05+01:00`); json and everything else →
//!   TEXT; bytea/blob → BLOB; an unknown/empty type → no declared type (the
//!   value is stored as it came). A SQLite source keeps its column affinity.
//!   Each table is written in its own transaction: a failed table leaves no
//!   trace and the others stay.
//! - **csv** (`Format::Csv`): a directory with one `<name>.csv` per table,
//!   RFC 4180 (comma, `"` doubled, CRLF line ends, UTF-8), a header row.
//!   **NULL is an empty unquoted field; an empty string is `""`** (the same
//!   convention as PostgreSQL's `COPY … CSV`). Bytes are base64 (standard
//!   alphabet, padded); booleans `true`/`false` (also when sent as `t`/`f`);
//!   numbers as the engine wrote them (floats received as numbers: shortest
//!   round-trip form), `NaN`/`Infinity`/`-Infinity` when not finite. In a
//!   one-column table a NULL is written `""` too: readers skip empty lines.
//! - **jsonl** (`Format::Jsonl`): one `<name>.jsonl` per table, one JSON
//!   object per row with the columns in source order. NULL → `null`,
//!   integers/floats/booleans → JSON scalars, also when the engine sends
//!   them as text (MySQL's text protocol, PostgreSQL floats: the digits are
//!   copied verbatim; NaN/Infinity, which JSON lacks, stay strings); other
//!   text (timestamps, json…) → strings; bytes → base64 strings. Decimals
//!   (numeric, money, bigint unsigned) → JSON numbers when a double reader
//!   gets every digit back (an i64, or ≤ 15 significant digits; the digits
//!   are copied verbatim), else strings. **One JSON type per column:** a
//!   column whose values came out as more than one JSON type (a NaN among
//!   floats, one decimal past 15 digits, text and numbers in a SQLite
//!   column) is rewritten when its table ends with every value a string —
//!   the text the CSV has — and listed in the provenance's `kept_as_text`.
//! - **parquet** (`Format::Parquet`): one `<name>.parquet` per table, typed
//!   nullable columns, zstd, row groups of 65,536 rows written as rows
//!   arrive; decimals as DECIMAL(p,s) when declared with p ≤ 38, else text
//!   (in `kept_as_text`); timestamps with a zone as UTC-adjusted
//!   TIMESTAMP(MICROS), without as local TIMESTAMP; dates as DATE; see
//!   `sink_parquet.rs`. A value its column type cannot hold (NaN decimal,
//!   `infinity` timestamp, zero date) fails that table with clear words.
//!
//! File names (csv/jsonl/parquet) are the display name with `%`, `/`, `\`, control
//! and Windows-reserved characters percent-encoded (`a/b` → `a%2Fb.csv`),
//! unicode kept, made unique case-insensitively. Duplicate column names get a
//! ` #2` suffix in every format.
//!
//! # Atomicity and cancel
//!
//! Everything is written under a temporary `.…partial` name in the
//! destination directory (removed on drop) and renamed into place when
//! complete. SQLite: the file appears only at the end, with every table
//! that succeeded; cancel discards it (an existing file at the destination
//! is left untouched). CSV/JSONL/Parquet: each table's file is renamed into place
//! as soon as it is complete, so cancel keeps the tables finished before it
//! and leaves nothing of the interrupted one (a csv/jsonl directory this
//! import created and left empty is removed). Only a hard kill (SIGKILL,
//! power loss) can leave a `.<name>.XXXXXX.partial` file behind: never under
//! the final name, and the next import into the same place removes it (see
//! `partial.rs`). Directories an import creates are 0700, files 0600. An existing SQLite destination
//! is only replaced when it is itself a Varlor dataset (or empty); anything
//! else is refused.
//!
//! # Provenance
//!
//! Where each table came from (connection, kind, source schema and table,
//! time, rows, filter, limit, source column types, numeric columns kept as
//! text and why) is recorded in the `_varlor_import` table (SQLite) or the
//! `_varlor_import.json` sidecar (csv/jsonl/parquet; entries of earlier imports into the same directory are kept
//! unless their file was replaced).
//!
//! Memory stays flat: rows are written as they arrive (SQLite in bounded
//! batches of multi-row inserts), never collected.

mod convert;
mod csv_rewrite;
mod import;
mod names;
mod partial;
mod progress;
mod provenance;
mod sink_csv;
mod sink_files;
mod sink_jsonl;
mod sink_parquet;
mod sink_sqlite;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Rows as CSV exactly as an import writes them (NULL an empty unquoted
/// field, an empty string `""`, timestamps ISO 8601, bytes base64), for
/// `varlor preview --csv` and `varlor query --csv`.
pub struct CsvRows {
    enc: sink_csv::CsvEncoder,
}

impl CsvRows {
    /// Starts the CSV: the header line is appended to `out`.
    pub fn new(columns: &[crate::connectors::ColumnMeta], out: &mut Vec<u8>) -> CsvRows {
        use sink_files::Encoder;
        let mut enc = sink_csv::CsvEncoder::default();
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let kinds: Vec<convert::ColKind> = columns.iter().map(|c| c.logical).collect();
        enc.header(out, &names, &kinds);
        CsvRows { enc }
    }

    /// Appends one row (CRLF-terminated) to `out`.
    pub fn row(&mut self, out: &mut Vec<u8>, row: &[crate::connectors::Cell]) {
        use sink_files::Encoder;
        self.enc.row(out, row);
    }
}
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::connectors::{ConnError, Kind, TableRef};

pub(crate) use csv_rewrite::{CsvRewriter, FieldRule};
pub use import::run_import;
pub use partial::mark_process_start;
pub use provenance::{
    read_sidecar, KeptAsText, ProvenanceRecord, PROVENANCE_SIDECAR, PROVENANCE_TABLE,
};

/// The shape of the dataset written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Sqlite,
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Sqlite, Format::Csv, Format::Jsonl, Format::Parquet];

    /// Stable identifier used on the command line and in JSON.
    pub fn id(self) -> &'static str {
        match self {
            Format::Sqlite => "sqlite",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }

    /// Accepts the ids and common aliases (`sqlite3`, `db`, `ndjson`).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" | "db" => Some(Format::Sqlite),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "jsonlines" => Some(Format::Jsonl),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// Extension of the dataset file (sqlite) or of each table file.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Sqlite => "sqlite",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }

    /// Whether the destination is a directory of one file per table.
    pub fn is_directory(self) -> bool {
        !matches!(self, Format::Sqlite)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::parse(s)
            .ok_or_else(|| format!("unknown format {s:?}: use sqlite, csv, jsonl or parquet"))
    }
}

/// One table to import.
#[derive(Debug, Clone, PartialEq)]
pub struct TablePlan {
    pub table: TableRef,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// A user-typed `WHERE` condition (without the keyword); the connector
    /// runs it only inside a read-only session.
    pub filter: Option<String>,
    /// A typed query whose whole result is the source instead of `table`
    /// (the query pane's export: run again through `Connector::query`, so
    /// read-only like the pane); `table` then only names the target.
    pub query: Option<String>,
}

impl TablePlan {
    pub fn new(table: TableRef) -> Self {
        TablePlan {
            table,
            limit: None,
            filter: None,
            query: None,
        }
    }

    /// The whole result of `sql`, written under `name`.
    pub fn query(name: &str, sql: String) -> Self {
        TablePlan {
            query: Some(sql),
            ..TablePlan::new(TableRef {
                schema: None,
                name: name.to_string(),
                kind: crate::connectors::TableKind::View,
                estimated_rows: None,
                system: false,
            })
        }
    }
}

/// What to import, from where, to where.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPlan {
    /// The saved connection's name (provenance, audit, default file name).
    pub connection: String,
    pub kind: Kind,
    pub tables: Vec<TablePlan>,
    /// The SQLite file, or the directory for csv/jsonl (created if missing).
    pub destination: PathBuf,
    pub format: Format,
}

/// `<datasets_dir>/<connection>-<YYYY-MM-DD>.sqlite` (or a directory
/// `<connection>-<YYYY-MM-DD>-csv` / `-jsonl`), local date. When that name is
/// taken, `-2`, `-3`… is appended so a second import never replaces the first.
pub fn default_destination(datasets_dir: &Path, connection: &str, format: Format) -> PathBuf {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    default_destination_on(datasets_dir, connection, format, now.date())
}

/// [`default_destination`] for a given date (testable).
pub fn default_destination_on(
    datasets_dir: &Path,
    connection: &str,
    format: Format,
    date: time::Date,
) -> PathBuf {
    let stem = format!(
        "{}-{:04}-{:02}-{:02}",
        names::file_safe(connection),
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let make = |n: u32| {
        let base = if n == 1 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let name = match format {
            Format::Sqlite => format!("{base}.sqlite"),
            Format::Csv | Format::Jsonl | Format::Parquet => format!("{base}-{}", format.id()),
        };
        datasets_dir.join(name)
    };
    (1..10_000)
        .map(make)
        .find(|p| !p.exists())
        .unwrap_or_else(|| make(1))
}

/// Why a table (or the whole import) did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImportError {
    /// The server or connector failed (message and hint in the ConnError).
    #[error("{}", error.full())]
    Source { error: ConnError },
    /// Writing the dataset failed (disk full, permissions…).
    #[error("cannot write the dataset: {message}")]
    Write { message: String },
    /// The destination cannot be used (exists and is not a dataset, not writable…).
    #[error("{message}")]
    Destination { message: String },
    #[error("cancelled")]
    Cancelled,
}

impl ImportError {
    pub(crate) fn write(e: impl fmt::Display) -> Self {
        ImportError::Write {
            message: e.to_string(),
        }
    }
    pub(crate) fn destination(message: impl Into<String>) -> Self {
        ImportError::Destination {
            message: message.into(),
        }
    }
}

/// Progress of an import, sent while it runs. `index` is the position of the
/// table in `ImportPlan::tables`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ImportEvent {
    TableStarted {
        index: usize,
        /// Display name of the source table.
        table: String,
        /// From the catalog statistics (capped by the limit); `None` when unknown.
        estimated_rows: Option<u64>,
    },
    /// Throttled to at most one every 100 ms per table.
    Progress {
        index: usize,
        rows: u64,
        estimated_rows: Option<u64>,
        rows_per_sec: f64,
        /// Remaining time at the current rate, when an estimate is known.
        #[serde(serialize_with = "ser_opt_duration")]
        eta: Option<Duration>,
    },
    TableDone {
        index: usize,
        rows: u64,
        #[serde(serialize_with = "ser_duration")]
        elapsed: Duration,
    },
    TableFailed {
        index: usize,
        /// Rows received before the failure (none of them are kept).
        rows: u64,
        error: ImportError,
    },
}

/// How one table ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TableOutcome {
    Done,
    Failed {
        error: ImportError,
    },
    /// Interrupted by the cancel, or not started because of it.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSummary {
    /// The source table.
    pub table: TableRef,
    /// The dataset table name (sqlite) or file name (csv/jsonl).
    pub target: String,
    pub outcome: TableOutcome,
    /// Rows written (Done) or received before it stopped.
    pub rows: u64,
    #[serde(serialize_with = "ser_duration")]
    pub elapsed: Duration,
}

/// The overall result, for the status line, `--json` and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// Every table imported.
    Ok,
    /// Some tables imported, some failed.
    Partial,
    /// Nothing imported.
    Failed,
    Cancelled,
}

impl ImportOutcome {
    pub fn id(self) -> &'static str {
        match self {
            ImportOutcome::Ok => "ok",
            ImportOutcome::Partial => "partial",
            ImportOutcome::Failed => "failed",
            ImportOutcome::Cancelled => "cancelled",
        }
    }
}

/// What `run_import` did. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportSummary {
    pub connection: String,
    pub kind: Kind,
    pub format: Format,
    /// The final path: the SQLite file or the csv/jsonl directory.
    pub destination: PathBuf,
    /// Whether anything of this import exists at `destination`.
    pub written: bool,
    pub tables: Vec<TableSummary>,
    #[serde(serialize_with = "ser_duration")]
    pub elapsed: Duration,
    pub cancelled: bool,
    /// A failure of the whole import (destination unusable, final commit failed).
    pub error: Option<ImportError>,
}

impl ImportSummary {
    /// Rows of the tables that completed.
    pub fn total_rows(&self) -> u64 {
        self.tables
            .iter()
            .filter(|t| t.outcome == TableOutcome::Done)
            .map(|t| t.rows)
            .sum()
    }

    pub fn tables_done(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| t.outcome == TableOutcome::Done)
            .count()
    }

    pub fn outcome(&self) -> ImportOutcome {
        let done = self.tables_done();
        if self.cancelled {
            ImportOutcome::Cancelled
        } else if self.error.is_some() || done == 0 {
            ImportOutcome::Failed
        } else if done == self.tables.len() {
            ImportOutcome::Ok
        } else {
            ImportOutcome::Partial
        }
    }

    /// One line for the audit log: format, destination, rows, and each table
    /// with its outcome. Filters are not included (they are user text that
    /// may quote production values); only the fact that one was used.
    pub fn audit_detail(&self) -> String {
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                let status = match &t.outcome {
                    TableOutcome::Done => format!("{} rows", t.rows),
                    TableOutcome::Failed { error } => match error {
                        ImportError::Source { error } => {
                            format!("failed: {}", error.kind.message())
                        }
                        other => format!("failed: {}", first_line(&other.to_string())),
                    },
                    TableOutcome::Cancelled => "cancelled".to_string(),
                };
                format!("{} ({status})", t.table.display_name())
            })
            .collect();
        let mut s = format!(
            "format={} destination={} rows={} outcome={} tables=[{}]",
            self.format,
            self.destination.display(),
            self.total_rows(),
            self.outcome().id(),
            tables.join(", ")
        );
        if let Some(e) = &self.error {
            s.push_str(&format!(" error={}", first_line(&e.to_string())));
        }
        s
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parse_and_id_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.id()), Some(f));
        }
        assert_eq!(Format::parse("NDJSON"), Some(Format::Jsonl));
        assert_eq!(Format::parse("xlsx"), None);
        assert_eq!("parquet".parse::<Format>(), Ok(Format::Parquet));
        assert!("xlsx".parse::<Format>().is_err());
    }

    #[test]
    fn default_destination_names_and_avoids_existing() {
        let dir = tempfile::tempdir().unwrap();
        let date = time::macros::date!(2026 - 03 - 04);
        let p = default_destination_on(dir.path(), "prod/eu", Format::Sqlite, date);
        assert_eq!(p, dir.path().join("prod%2Feu-2026-03-04.sqlite"));
        std::fs::write(&p, b"").unwrap();
        let p2 = default_destination_on(dir.path(), "prod/eu", Format::Sqlite, date);
        assert_eq!(p2, dir.path().join("prod%2Feu-2026-03-04-2.sqlite"));
        let c = default_destination_on(dir.path(), "prod", Format::Csv, date);
        assert_eq!(c, dir.path().join("prod-2026-03-04-csv"));
    }
}
