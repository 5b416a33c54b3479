//! Where each dataset table came from: the `_varlor_import` table (SQLite)
//! or the `_varlor_import.json` sidecar (csv/jsonl).

use std::path::Path;

use rusqlite::Statement;
use serde::{Deserialize, Serialize};

use super::ImportError;
use crate::connectors::ColumnMeta;

/// Name of the metadata table in a SQLite dataset.
pub const PROVENANCE_TABLE: &str = "_varlor_import";
/// Name of the sidecar file in a csv/jsonl dataset directory.
pub const PROVENANCE_SIDECAR: &str = "_varlor_import.json";

/// One imported table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceRecord {
    /// The dataset table (sqlite) or the file name (csv/jsonl).
    pub target: String,
    /// The saved connection's name.
    pub connection: String,
    /// Engine id (`postgres`, `mysql`, `sqlite`…).
    pub kind: String,
    pub source_schema: Option<String>,
    pub source_table: String,
    /// RFC 3339, UTC, when the table finished.
    pub imported_at: String,
    pub rows: u64,
    pub filter: Option<String>,
    pub limit: Option<u64>,
    pub elapsed_ms: u64,
    /// The source's column names and engine types.
    pub columns: Vec<ColumnMeta>,
    pub varlor_version: String,
    /// Numeric columns written as text because some value would have lost
    /// digits as a number (SQLite, Parquet), or whose such values were
    /// written as strings (JSON Lines).
    #[serde(default)]
    pub kept_as_text: Vec<KeptAsText>,
}

/// A numeric column kept as text, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptAsText {
    /// The dataset column name.
    pub column: String,
    pub reason: String,
}

impl ProvenanceRecord {
    pub(crate) fn sqlite_ddl() -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS \"{PROVENANCE_TABLE}\" (\
             dataset_table TEXT NOT NULL, connection TEXT NOT NULL, kind TEXT NOT NULL, \
             source_schema TEXT, source_table TEXT NOT NULL, imported_at TEXT NOT NULL, \
             rows INTEGER NOT NULL, filter TEXT, row_limit INTEGER, elapsed_ms INTEGER NOT NULL, \
             columns TEXT NOT NULL, varlor_version TEXT NOT NULL, kept_as_text TEXT NOT NULL)"
        )
    }

    pub(crate) fn sqlite_insert() -> String {
        format!(
            "INSERT INTO \"{PROVENANCE_TABLE}\" (dataset_table, connection, kind, source_schema, \
             source_table, imported_at, rows, filter, row_limit, elapsed_ms, columns, \
             varlor_version, kept_as_text) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        )
    }

    pub(crate) fn sqlite_insert_into(&self, stmt: &mut Statement<'_>) -> rusqlite::Result<()> {
        let columns = serde_json::to_string(&self.columns).unwrap_or_else(|_| "[]".into());
        stmt.execute(rusqlite::params![
            self.target,
            self.connection,
            self.kind,
            self.source_schema,
            self.source_table,
            self.imported_at,
            i64::try_from(self.rows).unwrap_or(i64::MAX),
            self.filter,
            self.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
            i64::try_from(self.elapsed_ms).unwrap_or(i64::MAX),
            columns,
            self.varlor_version,
            serde_json::to_string(&self.kept_as_text).unwrap_or_else(|_| "[]".into()),
        ])?;
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    format: String,
    tables: Vec<ProvenanceRecord>,
}

/// Reads the sidecar of `dir` (an absent or unreadable one is empty).
pub fn read_sidecar(dir: &Path) -> Vec<ProvenanceRecord> {
    std::fs::read(dir.join(PROVENANCE_SIDECAR))
        .ok()
        .and_then(|b| serde_json::from_slice::<Sidecar>(&b).ok())
        .map(|s| s.tables)
        .unwrap_or_default()
}

/// Merges `records` into the sidecar of `dir`, replacing entries of the same
/// file, and writes it atomically (temporary file, then rename).
pub(crate) fn write_sidecar(
    dir: &Path,
    format: &str,
    records: &[ProvenanceRecord],
) -> Result<(), ImportError> {
    let mut tables: Vec<ProvenanceRecord> = read_sidecar(dir)
        .into_iter()
        .filter(|old| !records.iter().any(|r| r.target == old.target))
        .collect();
    tables.extend(records.iter().cloned());
    let sidecar = Sidecar {
        format: format.to_string(),
        tables,
    };
    let path = dir.join(PROVENANCE_SIDECAR);
    let err = |e: &dyn std::fmt::Display| ImportError::write(format!("{}: {e}", path.display()));
    let mut temp = super::partial::create(dir, PROVENANCE_SIDECAR).map_err(|e| err(&e))?;
    serde_json::to_writer_pretty(&mut temp, &sidecar).map_err(|e| err(&e))?;
    temp.as_file().sync_all().map_err(|e| err(&e))?;
    temp.persist(&path).map_err(|e| err(&e.error))?;
    Ok(())
}
