//! The SQLite dataset: one file, one transaction per table, multi-row
//! prepared inserts in bounded batches, renamed into place at the end.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, Statement};
use tempfile::NamedTempFile;

use super::convert::{
    exact_number, float_text, iso8601, parse_bool, sqlite_decl, ColKind, Exact, NotExact,
};
use super::import::{Destination, TableWriter};
use super::names::{unique_columns, Uniquer};
use super::provenance::{KeptAsText, ProvenanceRecord, PROVENANCE_TABLE};
use super::ImportError;
use crate::connectors::ident::{quote, Dialect};
use crate::connectors::{Cell, ColumnMeta, TableRef};

/// Bound variables per statement stay well under SQLite's 32766.
const MAX_VARS: usize = 30_000;
/// Rows per multi-row insert.
const MAX_BATCH: usize = 128;
/// The scratch name of a table rebuilt with some columns as TEXT (reserved:
/// no imported table gets it).
const REBUILD_TABLE: &str = "_varlor_import_rebuild";

pub(crate) struct SqliteDestination {
    final_path: PathBuf,
    // Field order matters: the connection closes before the file is removed.
    conn: Option<Connection>,
    temp: Option<NamedTempFile>,
    names: Uniquer,
    records: Vec<ProvenanceRecord>,
}

fn sql_err(e: rusqlite::Error) -> ImportError {
    ImportError::write(e)
}

impl SqliteDestination {
    pub(crate) fn create(final_path: &Path) -> Result<Self, ImportError> {
        let parent = match final_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = final_path
            .file_name()
            .ok_or_else(|| {
                ImportError::destination(format!(
                    "{} is not a file name for the dataset",
                    final_path.display()
                ))
            })?
            .to_string_lossy()
            .into_owned();
        super::partial::create_private_dir(&parent).map_err(|e| {
            ImportError::destination(format!("cannot create {}: {e}", parent.display()))
        })?;
        check_replaceable(final_path)?;
        // Leftovers of an import killed hard: our pattern, same file extension.
        let ext = Path::new(&file_name)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()));
        super::partial::remove_leftovers(&parent, |n| {
            n == file_name || ext.as_deref().is_some_and(|e| n.ends_with(e))
        });
        let temp = super::partial::create(&parent, &file_name).map_err(|e| {
            ImportError::destination(format!("cannot write in {}: {e}", parent.display()))
        })?;
        let conn = Connection::open(temp.path()).map_err(sql_err)?;
        // The file is private until renamed and thrown away on any failure,
        // so durability is only needed once, at the end (fsync before rename).
        // The rollback journal stays in memory: a failed table is rolled back
        // without a journal file appearing next to the dataset.
        conn.query_row("PRAGMA journal_mode=MEMORY", [], |_| Ok(()))
            .map_err(sql_err)?;
        conn.execute_batch(
            "PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16000;",
        )
        .map_err(sql_err)?;
        Ok(SqliteDestination {
            final_path: final_path.to_path_buf(),
            conn: Some(conn),
            temp: Some(temp),
            names: Uniquer::new(&[PROVENANCE_TABLE, REBUILD_TABLE]),
            records: Vec::new(),
        })
    }

    fn conn(&mut self) -> Result<&mut Connection, ImportError> {
        self.conn
            .as_mut()
            .ok_or_else(|| ImportError::write("the dataset is already closed"))
    }
}

/// Replacing a file is allowed only when it is empty or a Varlor dataset, so
/// a mistyped `--to` cannot destroy someone's database.
fn check_replaceable(path: &Path) -> Result<(), ImportError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ImportError::destination(format!(
                "cannot use {}: {e}",
                path.display()
            )))
        }
    };
    if meta.is_dir() {
        return Err(ImportError::destination(format!(
            "{} is a directory; the sqlite format writes one file",
            path.display()
        )));
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let is_dataset = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| {
        c.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [PROVENANCE_TABLE],
            |r| r.get::<_, i64>(0),
        )
    })
    .map(|n| n > 0)
    .unwrap_or(false);
    if is_dataset {
        Ok(())
    } else {
        Err(ImportError::destination(format!(
            "{} exists and is not a Varlor dataset: choose another path or remove it",
            path.display()
        )))
    }
}

impl Destination for SqliteDestination {
    fn target(&mut self, table: &TableRef) -> String {
        let mut name = table.display_name();
        // SQLite reserves the sqlite_ prefix for itself.
        if name.to_ascii_lowercase().starts_with("sqlite_") {
            name.insert(0, '_');
        }
        self.names.unique(&name)
    }

    fn table<'a>(&'a mut self, target: &str) -> Result<Box<dyn TableWriter + 'a>, ImportError> {
        let conn = self.conn()?;
        Ok(Box::new(SqliteTable {
            conn,
            table: quote(Dialect::Ansi, target),
            kinds: Vec::new(),
            columns: Vec::new(),
            fallen: Vec::new(),
            batch: Vec::new(),
            batch_rows: 1,
            full_sql: String::new(),
            in_transaction: false,
        }))
    }

    fn record(&mut self, record: ProvenanceRecord) {
        self.records.push(record);
    }

    fn commit(mut self: Box<Self>) -> Result<bool, ImportError> {
        if self.records.is_empty() {
            // Nothing imported: no dataset file at all.
            return Ok(false);
        }
        let records = std::mem::take(&mut self.records);
        let conn = self.conn()?;
        let tx = conn.transaction().map_err(sql_err)?;
        tx.execute_batch(&ProvenanceRecord::sqlite_ddl())
            .map_err(sql_err)?;
        {
            let mut stmt = tx
                .prepare(&ProvenanceRecord::sqlite_insert())
                .map_err(sql_err)?;
            for r in &records {
                r.sqlite_insert_into(&mut stmt).map_err(sql_err)?;
            }
        }
        tx.commit().map_err(sql_err)?;
        if let Some(conn) = self.conn.take() {
            conn.close().map_err(|(_, e)| sql_err(e))?;
        }
        let temp = self
            .temp
            .take()
            .ok_or_else(|| ImportError::write("the dataset file is gone"))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| ImportError::write(format!("{}: {e}", temp.path().display())))?;
        temp.persist(&self.final_path).map_err(|e| {
            ImportError::write(format!(
                "renaming to {}: {}",
                self.final_path.display(),
                e.error
            ))
        })?;
        Ok(true)
    }

    fn cancel(self: Box<Self>) -> Result<bool, ImportError> {
        // Dropping closes the connection, then removes the temporary file.
        Ok(false)
    }
}

struct SqliteTable<'a> {
    conn: &'a mut Connection,
    /// Quoted table name.
    table: String,
    kinds: Vec<ColKind>,
    /// (dataset name, source type name) per column.
    columns: Vec<(String, String)>,
    /// Per numeric column: why it must end as TEXT (a value would lose digits).
    fallen: Vec<Option<NotExact>>,
    batch: Vec<Vec<Cell>>,
    batch_rows: usize,
    /// The insert of a full batch, built once.
    full_sql: String,
    in_transaction: bool,
}

impl SqliteTable<'_> {
    fn insert_sql(&self, rows: usize) -> String {
        let one = format!("({})", vec!["?"; self.kinds.len()].join(","));
        format!(
            "INSERT INTO {} VALUES {}",
            self.table,
            vec![one.as_str(); rows].join(",")
        )
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let sql = if self.batch.len() == self.batch_rows {
            Cow::Borrowed(self.full_sql.as_str())
        } else {
            Cow::Owned(self.insert_sql(self.batch.len()))
        };
        let mut stmt = self.conn.prepare_cached(&sql).map_err(sql_err)?;
        let mut idx = 1;
        for row in &self.batch {
            if row.len() != self.kinds.len() {
                return Err(ImportError::write(format!(
                    "a row has {} values for {} columns",
                    row.len(),
                    self.kinds.len()
                )));
            }
            for ((cell, k), fallen) in row.iter().zip(&self.kinds).zip(&mut self.fallen) {
                bind(&mut stmt, idx, cell, *k, fallen).map_err(sql_err)?;
                idx += 1;
            }
        }
        stmt.raw_execute().map_err(sql_err)?;
        drop(stmt);
        self.batch.clear();
        Ok(())
    }
}

/// Binds one value. `fallen` is the column's state for numeric columns: the
/// first value that would lose digits as a number sets it, and from then on
/// decimal text is bound as a BLOB of its UTF-8 (NUMERIC affinity would turn
/// text into a 15-digit REAL; it leaves BLOBs alone) until the rebuild in
/// `finish` makes the column TEXT.
fn bind(
    stmt: &mut Statement<'_>,
    idx: usize,
    cell: &Cell,
    k: ColKind,
    fallen: &mut Option<NotExact>,
) -> rusqlite::Result<()> {
    let text_column = sqlite_decl(k) == "TEXT";
    let value: ToSqlOutput<'_> = match cell {
        Cell::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        Cell::Text(s) if k == ColKind::Numeric => match (&*fallen, exact_number(s)) {
            (None, Ok(Exact::Int(i))) => ToSqlOutput::Owned(Value::Integer(i)),
            (None, Ok(Exact::Real(f))) => ToSqlOutput::Owned(Value::Real(f)),
            (_, Err(why)) => {
                fallen.get_or_insert(why);
                ToSqlOutput::Borrowed(ValueRef::Blob(s.as_bytes()))
            }
            (Some(_), Ok(_)) => ToSqlOutput::Borrowed(ValueRef::Blob(s.as_bytes())),
        },
        Cell::Float(f) if k == ColKind::Numeric && !f.is_finite() => {
            fallen.get_or_insert(NotExact::NotANumber);
            ToSqlOutput::Owned(Value::Blob(float_text(*f).into_bytes()))
        }
        Cell::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
        // SQLite would store NaN as NULL, and render REAL into a TEXT column
        // with only 15 digits: use the exact text instead.
        Cell::Float(f) if f.is_nan() || text_column => {
            ToSqlOutput::Owned(Value::Text(float_text(*f)))
        }
        Cell::Float(f) => ToSqlOutput::Owned(Value::Real(*f)),
        Cell::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
        Cell::Text(s) => match k {
            ColKind::Bool => match parse_bool(s) {
                Some(b) => ToSqlOutput::Owned(Value::Integer(i64::from(b))),
                None => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            },
            ColKind::Timestamp => match iso8601(s) {
                Cow::Borrowed(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
                Cow::Owned(t) => ToSqlOutput::Owned(Value::Text(t)),
            },
            // Engines sending numbers as text (MySQL's text protocol,
            // PostgreSQL floats): parse here, exactly, rather than let
            // SQLite's affinity do it (which keeps only 15 digits of a REAL).
            ColKind::Integer => match s.parse::<i64>() {
                Ok(i) => ToSqlOutput::Owned(Value::Integer(i)),
                Err(_) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            },
            ColKind::Real => match s.parse::<f64>() {
                Ok(f) if !f.is_nan() => ToSqlOutput::Owned(Value::Real(f)),
                _ => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            },
            _ => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        },
        Cell::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        // Nested values are stored as compact JSON text.
        Cell::Json(v) => ToSqlOutput::Owned(Value::Text(v.to_string())),
    };
    stmt.raw_bind_parameter(idx, value)
}

impl TableWriter for SqliteTable<'_> {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ImportError> {
        if columns.is_empty() {
            return Err(ImportError::write(
                "the table has no columns, and a SQLite table needs at least one",
            ));
        }
        self.kinds = columns.iter().map(|c| c.logical).collect();
        self.fallen = vec![None; columns.len()];
        let names = unique_columns(columns.iter().map(|c| c.name.as_str()));
        self.columns = names
            .iter()
            .cloned()
            .zip(columns.iter().map(|c| c.type_name.clone()))
            .collect();
        let decls: Vec<&str> = self.kinds.iter().map(|k| sqlite_decl(*k)).collect();
        let defs = column_defs(&names, &decls);
        self.batch_rows = (MAX_VARS / columns.len()).clamp(1, MAX_BATCH);
        self.batch = Vec::with_capacity(self.batch_rows);
        self.full_sql = self.insert_sql(self.batch_rows);
        self.conn.execute_batch("BEGIN").map_err(sql_err)?;
        self.in_transaction = true;
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE {} ({})",
                self.table,
                defs.join(", ")
            ))
            .map_err(sql_err)?;
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> Result<(), ImportError> {
        if !self.in_transaction {
            return Err(ImportError::write("a row arrived before the column list"));
        }
        self.batch.push(row);
        if self.batch.len() >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<KeptAsText>, ImportError> {
        if !self.in_transaction {
            return Err(ImportError::write("the source sent no column list"));
        }
        // The remainder goes row by row so only two statement shapes are cached.
        let rest = std::mem::take(&mut self.batch);
        for row in rest {
            self.batch.push(row);
            self.flush()?;
        }
        let kept = self.rebuild_text_columns()?;
        self.conn.execute_batch("COMMIT").map_err(sql_err)?;
        self.in_transaction = false;
        Ok(kept)
    }
}

fn column_defs(names: &[String], decls: &[&str]) -> Vec<String> {
    names
        .iter()
        .zip(decls)
        .map(|(n, decl)| {
            if decl.is_empty() {
                quote(Dialect::Ansi, n)
            } else {
                format!("{} {decl}", quote(Dialect::Ansi, n))
            }
        })
        .collect()
}

impl SqliteTable<'_> {
    /// Numeric columns where some value would have lost digits become TEXT
    /// (a column is numbers or text, never a mix that sorts apart): the
    /// table is copied into one with those columns declared TEXT, inside the
    /// table's transaction. Values bound before the first such value were
    /// numbers: they are written with the column's declared scale
    /// (`numeric(30,10)` → `-0.0000000001`), else in SQLite's text form.
    fn rebuild_text_columns(&mut self) -> Result<Vec<KeptAsText>, ImportError> {
        if self.fallen.iter().all(Option::is_none) {
            return Ok(Vec::new());
        }
        let names: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        let decls: Vec<&str> = self
            .kinds
            .iter()
            .zip(&self.fallen)
            .map(|(k, f)| if f.is_some() { "TEXT" } else { sqlite_decl(*k) })
            .collect();
        let exprs: Vec<String> = self
            .columns
            .iter()
            .zip(&self.fallen)
            .map(|((name, type_name), f)| {
                let c = quote(Dialect::Ansi, name);
                match (f, crate::connectors::logical::decimal_params(type_name)) {
                    (None, _) => c,
                    (Some(_), Some((_, scale))) if scale > 0 => format!(
                        "CASE typeof({c}) WHEN 'blob' THEN CAST({c} AS TEXT) \
                         WHEN 'null' THEN NULL ELSE printf('%.{scale}f', {c}) END"
                    ),
                    (Some(_), _) => {
                        format!("CASE typeof({c}) WHEN 'blob' THEN CAST({c} AS TEXT) ELSE {c} END")
                    }
                }
            })
            .collect();
        let scratch = quote(Dialect::Ansi, REBUILD_TABLE);
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE {scratch} ({});
                 INSERT INTO {scratch} SELECT {} FROM {};
                 DROP TABLE {};
                 ALTER TABLE {scratch} RENAME TO {};",
                column_defs(&names, &decls).join(", "),
                exprs.join(", "),
                self.table,
                self.table,
                self.table
            ))
            .map_err(sql_err)?;
        Ok(names
            .into_iter()
            .zip(&self.fallen)
            .filter_map(|(column, f)| {
                f.map(|why| KeptAsText {
                    column,
                    reason: format!("{}; the column is TEXT", why.reason()),
                })
            })
            .collect())
    }
}

impl Drop for SqliteTable<'_> {
    fn drop(&mut self) {
        if self.in_transaction {
            // A failed or cancelled table leaves nothing behind.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
