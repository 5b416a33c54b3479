//! A directory of one file per table (csv, jsonl, parquet): each written under a
//! temporary name and renamed into place when complete; the provenance
//! sidecar is merged at the end.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::convert::ColKind;
use super::import::{Destination, TableWriter};
use super::names::{file_safe, unique_columns, Uniquer};
use super::provenance::{write_sidecar, KeptAsText, ProvenanceRecord};
use super::{Format, ImportError};
use crate::connectors::{Cell, ColumnMeta, TableRef};

const BUFFER: usize = 256 * 1024;

/// Turns rows into bytes for one file format. Each call appends one whole
/// line to `out` (cleared by the caller), so writing stays one `write_all`.
pub(crate) trait Encoder: Send {
    /// Called once with the (de-duplicated) column names and their kinds.
    fn header(&mut self, out: &mut Vec<u8>, names: &[String], kinds: &[ColKind]);
    fn row(&mut self, out: &mut Vec<u8>, row: &[Cell]);
    /// Writes a whole-document stream as the documents themselves.
    fn takes_documents(&self) -> bool {
        false
    }
    /// Takes whole records in this crate's CSV form (the CSV encoder).
    fn takes_csv(&self) -> bool {
        false
    }
    /// Numeric columns some of whose values were written as text.
    fn kept_as_text(&self) -> Vec<KeptAsText> {
        Vec::new()
    }
    /// Whether the lines written need [`Encoder::rewrite`] when the table
    /// ends (a JSONL column that got more than one JSON type).
    fn needs_rewrite(&self) -> bool {
        false
    }
    /// One written line (without its newline) as it must finally read.
    fn rewrite(&self, line: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(line);
    }
}

pub(crate) struct FilesDestination {
    dir: PathBuf,
    /// Whether this import made the directory (removed again if it stays empty).
    created_dir: bool,
    format: Format,
    names: Uniquer,
    records: Vec<ProvenanceRecord>,
}

impl FilesDestination {
    pub(crate) fn create(dir: &Path, format: Format) -> Result<Self, ImportError> {
        if dir.exists() && !dir.is_dir() {
            return Err(ImportError::destination(format!(
                "{} exists and is not a directory; the {format} format writes one file per table",
                dir.display()
            )));
        }
        let created_dir = !dir.exists();
        super::partial::create_private_dir(dir).map_err(|e| {
            ImportError::destination(format!("cannot create {}: {e}", dir.display()))
        })?;
        // Leftovers of an import killed hard (files of our own pattern only).
        let ext = format!(".{}", format.extension());
        super::partial::remove_leftovers(dir, |n| {
            n.ends_with(&ext) || n == super::PROVENANCE_SIDECAR
        });
        Ok(FilesDestination {
            dir: dir.to_path_buf(),
            created_dir,
            format,
            names: Uniquer::new(&[]),
            records: Vec::new(),
        })
    }

    fn encoder(&self) -> Box<dyn Encoder> {
        match self.format {
            Format::Jsonl => Box::new(super::sink_jsonl::JsonlEncoder::default()),
            Format::Csv | Format::Sqlite | Format::Parquet => {
                Box::new(super::sink_csv::CsvEncoder::default())
            }
        }
    }

    fn write_sidecar(&self) -> Result<bool, ImportError> {
        if self.records.is_empty() {
            if self.created_dir {
                // Nothing was imported: leave no empty directory behind
                // (remove_dir refuses if anything else appeared in it).
                let _ = std::fs::remove_dir(&self.dir);
            }
            return Ok(false);
        }
        write_sidecar(&self.dir, self.format.id(), &self.records)?;
        Ok(true)
    }
}

impl Destination for FilesDestination {
    fn target(&mut self, table: &TableRef) -> String {
        let stem = file_safe(&table.display_name());
        let stem = self.names.unique_with(&stem, |b, n| format!("{b}~{n}"));
        format!("{stem}.{}", self.format.extension())
    }

    fn table<'a>(&'a mut self, target: &str) -> Result<Box<dyn TableWriter + 'a>, ImportError> {
        let final_path = self.dir.join(target);
        let temp = super::partial::create(&self.dir, target)
            .map_err(|e| ImportError::write(format!("{}: {e}", self.dir.display())))?;
        if self.format == Format::Parquet {
            return Ok(Box::new(super::sink_parquet::ParquetTable::new(
                temp, final_path,
            )));
        }
        Ok(Box::new(FileTable {
            out: Some(temp),
            final_path,
            encoder: self.encoder(),
            buf: Vec::with_capacity(BUFFER + 64 * 1024),
            started: false,
            width: 0,
        }))
    }

    fn record(&mut self, record: ProvenanceRecord) {
        self.records.push(record);
    }

    fn commit(self: Box<Self>) -> Result<bool, ImportError> {
        self.write_sidecar()
    }

    fn cancel(self: Box<Self>) -> Result<bool, ImportError> {
        // Tables finished before the cancel are complete files: describe them.
        self.write_sidecar()
    }
}

struct FileTable {
    out: Option<NamedTempFile>,
    final_path: PathBuf,
    encoder: Box<dyn Encoder>,
    /// Encoded lines not yet written: the encoder appends to it directly
    /// (no line buffer copied into a `BufWriter`), written out in one
    /// `write_all` once it holds [`BUFFER`] bytes.
    buf: Vec<u8>,
    started: bool,
    /// Columns of the table.
    width: usize,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ImportError {
    ImportError::write(format!("{}: {e}", path.display()))
}

impl FileTable {
    /// Writes `buf` out when it holds at least `at_least` bytes.
    fn flush_at(&mut self, at_least: usize) -> Result<(), ImportError> {
        if self.buf.len() < at_least.max(1) {
            return Ok(());
        }
        let out = self.out.as_mut().ok_or_else(closed)?;
        let r = out.write_all(&self.buf);
        self.buf.clear();
        r.map_err(|e| io_err(&self.final_path, e))
    }

    /// The lines of `written` passed through the encoder's `rewrite` into a
    /// new partial file beside it (the old one is removed when dropped).
    fn rewritten(&self, written: NamedTempFile) -> Result<NamedTempFile, ImportError> {
        use std::io::BufRead;
        let err = |e: std::io::Error| io_err(&self.final_path, e);
        let dir = self.final_path.parent().unwrap_or(Path::new("."));
        let name = self
            .final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fresh = super::partial::create(dir, &name).map_err(err)?;
        let mut out = BufWriter::with_capacity(BUFFER, fresh);
        let mut input = std::io::BufReader::with_capacity(BUFFER, written.reopen().map_err(err)?);
        let (mut line, mut done) = (Vec::new(), Vec::new());
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).map_err(err)? == 0 {
                break;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            done.clear();
            self.encoder.rewrite(body, &mut done);
            if body.len() < line.len() {
                done.push(b'\n');
            }
            out.write_all(&done).map_err(err)?;
        }
        out.into_inner().map_err(|e| err(e.into_error()))
    }
}

impl TableWriter for FileTable {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ImportError> {
        let names = unique_columns(columns.iter().map(|c| c.name.as_str()));
        let kinds: Vec<ColKind> = columns.iter().map(|c| c.logical).collect();
        if self.out.is_none() {
            return Err(closed());
        }
        self.encoder.header(&mut self.buf, &names, &kinds);
        self.flush_at(BUFFER)?;
        self.started = true;
        self.width = columns.len();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> Result<(), ImportError> {
        if !self.started {
            return Err(ImportError::write("a row arrived before the column list"));
        }
        if self.out.is_none() {
            return Err(closed());
        }
        self.encoder.row(&mut self.buf, &row);
        self.flush_at(BUFFER)
    }

    fn takes_documents(&self) -> bool {
        self.encoder.takes_documents()
    }

    fn takes_csv(&self) -> bool {
        // A one-column table writes a NULL as `""` (an empty line would be
        // skipped by readers), which a server's CSV does not.
        self.started && self.width > 1 && self.encoder.takes_csv()
    }

    fn csv_records(&mut self, bytes: &[u8]) -> Result<(), ImportError> {
        if !self.takes_csv() {
            return Err(ImportError::write("this file does not take CSV records"));
        }
        if self.out.is_none() {
            return Err(closed());
        }
        if self.buf.len() + bytes.len() <= BUFFER {
            self.buf.extend_from_slice(bytes);
            return self.flush_at(BUFFER);
        }
        // A big batch goes straight to the file, after what came before it.
        self.flush_at(1)?;
        let out = self.out.as_mut().ok_or_else(closed)?;
        out.write_all(bytes)
            .map_err(|e| io_err(&self.final_path, e))
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<KeptAsText>, ImportError> {
        if !self.started {
            return Err(ImportError::write("the source sent no column list"));
        }
        self.flush_at(1)?;
        let mut temp = self.out.take().ok_or_else(closed)?;
        if self.encoder.needs_rewrite() {
            temp = self.rewritten(temp)?;
        }
        temp.as_file()
            .sync_all()
            .map_err(|e| io_err(&self.final_path, e))?;
        temp.persist(&self.final_path)
            .map_err(|e| io_err(&self.final_path, e.error))?;
        Ok(self.encoder.kept_as_text())
    }
}

fn closed() -> ImportError {
    ImportError::write("the file is already closed")
}

#[cfg(test)]
mod tests {
    use super::super::sink_csv::CsvEncoder;
    use super::*;
    use crate::connectors::Logical;

    fn meta(name: &str, logical: Logical) -> ColumnMeta {
        ColumnMeta {
            name: name.into(),
            type_name: String::new(),
            logical,
        }
    }

    fn rows(
        t: &mut dyn TableWriter,
        enc: &mut CsvEncoder,
        expected: &mut Vec<u8>,
        n: &mut i64,
        count: usize,
    ) {
        for _ in 0..count {
            *n += 1;
            let row = vec![
                Cell::Text(n.to_string()),
                Cell::Text(format!("2024-01-02 03:04:05+0{}", *n % 10)),
            ];
            enc.row(expected, &row);
            t.row(row).unwrap();
        }
    }

    /// Lines appended straight to the table's buffer, batches of CSV
    /// records small and larger than the buffer, all past several flushes:
    /// the file holds exactly the encoder's bytes, in order.
    #[test]
    fn buffered_rows_and_csv_batches_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut dest = FilesDestination::create(dir.path(), Format::Csv).unwrap();
        let columns = [meta("id", Logical::Integer), meta("at", Logical::Timestamp)];
        let mut expected = Vec::new();
        let mut enc = CsvEncoder::default();
        enc.header(
            &mut expected,
            &["id".into(), "at".into()],
            &[Logical::Integer, Logical::Timestamp],
        );
        {
            let mut t = dest.table("t.csv").unwrap();
            t.columns(&columns).unwrap();
            let mut n = 0i64;
            rows(t.as_mut(), &mut enc, &mut expected, &mut n, 10_000);
            let small = b"1,\"a,b\"\r\n2,\r\n".to_vec();
            t.csv_records(&small).unwrap();
            expected.extend_from_slice(&small);
            rows(t.as_mut(), &mut enc, &mut expected, &mut n, 3);
            let big: Vec<u8> = (0..40_000)
                .flat_map(|i| format!("{i},x{i}\r\n").into_bytes())
                .collect();
            assert!(big.len() > BUFFER);
            t.csv_records(&big).unwrap();
            expected.extend_from_slice(&big);
            rows(t.as_mut(), &mut enc, &mut expected, &mut n, 20_000);
            assert!(expected.len() > 3 * BUFFER);
            t.finish().unwrap();
        }
        assert_eq!(std::fs::read(dir.path().join("t.csv")).unwrap(), expected);
    }
}
