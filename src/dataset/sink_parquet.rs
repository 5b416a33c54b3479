//! Parquet per table, written with the `parquet` crate's own column writers
//! (no Arrow): typed, nullable columns; rows are buffered per column and
//! written as a row group every `GROUP_ROWS` rows (or `GROUP_BYTES` of
//! variable-length data), so memory stays flat whatever the table size;
//! zstd-compressed pages.
//!
//! Column types, from the connector's logical type (and, for decimals and
//! dates, the engine's type name through `connectors::logical`):
//! integers → INT64; floats → DOUBLE; booleans → BOOLEAN; decimals with a
//! declared precision ≤ 38 (and MySQL `bigint unsigned`, as DECIMAL(20,0))
//! → DECIMAL(p,s) in a fixed-length byte array; decimals without one (or
//! wider) → UTF-8 text, recorded in the provenance; timestamps with a zone →
//! TIMESTAMP(MICROS, adjusted to UTC); without → TIMESTAMP(MICROS, local);
//! dates → DATE; bytes → BYTE_ARRAY; json and everything else → UTF-8 text
//! (bytes in a text column as base64, as in CSV). A SQLite source's INTEGER
//! and REAL affinities → INT64 / DOUBLE, BLOB → BYTE_ARRAY, others → text.
//!
//! A value its column type cannot hold exactly (a `NaN` decimal, an
//! `infinity` timestamp, a MySQL zero date) fails the table with a message
//! naming the column; nothing of it is kept and the other tables go on.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType,
    Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use tempfile::NamedTempFile;

use super::convert::{
    float_text, parse_bool, parse_date_days, parse_decimal, parse_timestamp_micros, ColKind,
};
use super::import::TableWriter;
use super::names::unique_columns;
use super::provenance::KeptAsText;
use super::ImportError;
use crate::connectors::logical::{decimal_params, temporal, Temporal};
use crate::connectors::{Cell, ColumnMeta};

/// Rows per row group.
const GROUP_ROWS: usize = 65_536;
/// Variable-length bytes buffered before a row group is written early.
const GROUP_BYTES: usize = 32 * 1024 * 1024;
/// The widest decimal a 16-byte integer holds.
const MAX_DECIMAL_PRECISION: u32 = 38;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Conv {
    Int64,
    Double,
    Bool,
    Decimal { scale: u32, width: usize },
    Date,
    Timestamp { utc: bool },
    Text,
    Bytes,
}

enum Data {
    I64(Vec<i64>),
    I32(Vec<i32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Bytes(Vec<ByteArray>),
    Fixed(Vec<FixedLenByteArray>),
}

struct Column {
    name: String,
    conv: Conv,
    /// Definition levels: 1 = a value, 0 = NULL.
    defs: Vec<i16>,
    data: Data,
}

/// Bytes of a two's-complement integer holding any `precision`-digit value.
fn decimal_width(precision: u32) -> usize {
    (1..=16)
        .find(|&n| (8.0 * n as f64 - 1.0) * std::f64::consts::LOG10_2 >= precision as f64)
        .unwrap_or(16)
}

/// The column's Parquet conversion, and why a decimal is kept as text.
fn conversion(c: &ColumnMeta) -> (Conv, Option<&'static str>) {
    let conv = match c.logical {
        ColKind::Integer | ColKind::Affinity("INTEGER") => Conv::Int64,
        ColKind::Real | ColKind::Affinity("REAL") => Conv::Double,
        ColKind::Bool => Conv::Bool,
        ColKind::Bytes | ColKind::Affinity("BLOB") => Conv::Bytes,
        ColKind::Numeric => match decimal_params(&c.type_name) {
            Some((p, s)) if p <= MAX_DECIMAL_PRECISION && p > 0 => Conv::Decimal {
                scale: s,
                width: decimal_width(p),
            },
            Some(_) => {
                return (
                    Conv::Text,
                    Some("a precision above 38 digits, the widest Parquet DECIMAL readers take"),
                )
            }
            None => {
                return (
                    Conv::Text,
                    Some("no declared precision, which a Parquet DECIMAL needs"),
                )
            }
        },
        ColKind::Timestamp => match temporal(&c.type_name) {
            Some(Temporal::TimestampTz) => Conv::Timestamp { utc: true },
            Some(Temporal::Date) => Conv::Date,
            _ => Conv::Timestamp { utc: false },
        },
        _ if temporal(&c.type_name) == Some(Temporal::Date) => Conv::Date,
        _ => Conv::Text,
    };
    (conv, None)
}

fn field(name: &str, conv: Conv, precision: u32) -> parquet::errors::Result<Type> {
    let (physical, logical) = match conv {
        Conv::Int64 => (Physical::INT64, None),
        Conv::Double => (Physical::DOUBLE, None),
        Conv::Bool => (Physical::BOOLEAN, None),
        Conv::Decimal { scale, .. } => (
            Physical::FIXED_LEN_BYTE_ARRAY,
            Some(LogicalType::decimal(scale as i32, precision as i32)),
        ),
        Conv::Date => (Physical::INT32, Some(LogicalType::Date)),
        Conv::Timestamp { utc } => (
            Physical::INT64,
            Some(LogicalType::timestamp(utc, TimeUnit::MICROS)),
        ),
        Conv::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        Conv::Bytes => (Physical::BYTE_ARRAY, None),
    };
    let mut b = Type::primitive_type_builder(name, physical)
        .with_repetition(Repetition::OPTIONAL)
        .with_logical_type(logical);
    if let Conv::Decimal { scale, width } = conv {
        b = b
            .with_length(width as i32)
            .with_precision(precision as i32)
            .with_scale(scale as i32);
    }
    b.build()
}

fn pq_err(e: impl std::fmt::Display) -> ImportError {
    ImportError::write(format!("parquet: {e}"))
}

pub(crate) struct ParquetTable {
    final_path: PathBuf,
    // Field order matters: the writer is dropped before the file is removed.
    writer: Option<SerializedFileWriter<BufWriter<File>>>,
    temp: Option<NamedTempFile>,
    columns: Vec<Column>,
    rows: usize,
    bytes: usize,
    kept: Vec<KeptAsText>,
    scratch: String,
}

impl ParquetTable {
    pub(crate) fn new(temp: NamedTempFile, final_path: PathBuf) -> Self {
        ParquetTable {
            final_path,
            writer: None,
            temp: Some(temp),
            columns: Vec::new(),
            rows: 0,
            bytes: 0,
            kept: Vec::new(),
            scratch: String::new(),
        }
    }

    fn io(&self, e: impl std::fmt::Display) -> ImportError {
        ImportError::write(format!("{}: {e}", self.final_path.display()))
    }

    /// Writes the buffered rows as one row group.
    fn flush_group(&mut self) -> Result<(), ImportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| ImportError::write("the file is already closed"))?;
        let mut group = writer.next_row_group().map_err(pq_err)?;
        for col in &mut self.columns {
            let mut cw = group
                .next_column()
                .map_err(pq_err)?
                .ok_or_else(|| pq_err("fewer columns in the file than in the table"))?;
            let defs = Some(col.defs.as_slice());
            let written = match &mut col.data {
                Data::I64(v) => cw.typed::<Int64Type>().write_batch(v, defs, None),
                Data::I32(v) => cw.typed::<Int32Type>().write_batch(v, defs, None),
                Data::F64(v) => cw.typed::<DoubleType>().write_batch(v, defs, None),
                Data::Bool(v) => cw.typed::<BoolType>().write_batch(v, defs, None),
                Data::Bytes(v) => cw.typed::<ByteArrayType>().write_batch(v, defs, None),
                Data::Fixed(v) => cw
                    .typed::<FixedLenByteArrayType>()
                    .write_batch(v, defs, None),
            };
            written.map_err(pq_err)?;
            cw.close().map_err(pq_err)?;
            col.defs.clear();
            match &mut col.data {
                Data::I64(v) => v.clear(),
                Data::I32(v) => v.clear(),
                Data::F64(v) => v.clear(),
                Data::Bool(v) => v.clear(),
                Data::Bytes(v) => v.clear(),
                Data::Fixed(v) => v.clear(),
            }
        }
        group.close().map_err(pq_err)?;
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }
}

/// A value its column cannot hold: the column is named, the value is not
/// (it is production data and errors reach logs).
fn unfit(col: &str, what: &str) -> ImportError {
    ImportError::write(format!(
        "column {col:?}: a value is not {what}, which its Parquet column needs \
         (the csv, jsonl and sqlite formats keep it as text)"
    ))
}

/// Appends one cell to its column buffer; returns the variable-length bytes added.
fn push(col: &mut Column, cell: &Cell, scratch: &mut String) -> Result<usize, ImportError> {
    if cell.is_null() {
        col.defs.push(0);
        return Ok(0);
    }
    let name = col.name.as_str();
    let mut added = 0;
    match (&mut col.data, col.conv) {
        (Data::I64(v), Conv::Int64) => v.push(match cell {
            Cell::Int(i) => *i,
            Cell::Bool(b) => i64::from(*b),
            Cell::Text(s) => s.trim().parse().map_err(|_| unfit(name, "an integer"))?,
            Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => *f as i64,
            _ => return Err(unfit(name, "an integer")),
        }),
        (Data::F64(v), Conv::Double) => v.push(match cell {
            Cell::Float(f) => *f,
            Cell::Int(i) => *i as f64,
            Cell::Text(s) => s.trim().parse().map_err(|_| unfit(name, "a number"))?,
            _ => return Err(unfit(name, "a number")),
        }),
        (Data::Bool(v), Conv::Bool) => v.push(match cell {
            Cell::Bool(b) => *b,
            Cell::Int(i) if (0..=1).contains(i) => *i == 1,
            Cell::Text(s) => parse_bool(s).ok_or_else(|| unfit(name, "a boolean"))?,
            _ => return Err(unfit(name, "a boolean")),
        }),
        (Data::Fixed(v), Conv::Decimal { scale, width }) => {
            let unscaled = match cell {
                Cell::Text(s) => parse_decimal(s, scale),
                Cell::Int(i) => 10i128
                    .checked_pow(scale)
                    .and_then(|m| i128::from(*i).checked_mul(m)),
                _ => None,
            }
            .ok_or_else(|| unfit(name, "a decimal of the declared scale"))?;
            let bytes = unscaled.to_be_bytes();
            v.push(FixedLenByteArray::from(bytes[16 - width..].to_vec()));
        }
        (Data::I32(v), Conv::Date) => v.push(match cell {
            Cell::Text(s) => parse_date_days(s).ok_or_else(|| unfit(name, "a date"))?,
            _ => return Err(unfit(name, "a date")),
        }),
        (Data::I64(v), Conv::Timestamp { utc }) => v.push(match cell {
            Cell::Text(s) => match parse_timestamp_micros(s) {
                Some((micros, Some(_))) if utc => micros,
                Some((micros, None)) if !utc => micros,
                _ if utc => return Err(unfit(name, "a timestamp with a time zone")),
                _ => return Err(unfit(name, "a timestamp")),
            },
            _ => return Err(unfit(name, "a timestamp")),
        }),
        (Data::Bytes(v), conv) => {
            let bytes: Vec<u8> = match (cell, conv) {
                (Cell::Bytes(b), Conv::Bytes) => b.clone(),
                (Cell::Bytes(b), _) => {
                    scratch.clear();
                    base64::engine::general_purpose::STANDARD.encode_string(b, scratch);
                    scratch.as_bytes().to_vec()
                }
                (Cell::Text(s), _) => s.as_bytes().to_vec(),
                (Cell::Int(i), _) => i.to_string().into_bytes(),
                (Cell::Float(f), _) => float_text(*f).into_bytes(),
                (Cell::Bool(b), _) => b.to_string().into_bytes(),
                (Cell::Json(j), _) => j.to_string().into_bytes(),
                (Cell::Null, _) => Vec::new(),
            };
            added = bytes.len();
            v.push(ByteArray::from(bytes));
        }
        _ => {
            return Err(ImportError::write(
                "parquet: column buffer of the wrong type",
            ))
        }
    }
    col.defs.push(1);
    Ok(added)
}

impl TableWriter for ParquetTable {
    fn columns(&mut self, columns: &[ColumnMeta]) -> Result<(), ImportError> {
        if columns.is_empty() {
            return Err(ImportError::write(
                "the table has no columns, and a Parquet file needs at least one",
            ));
        }
        let names = unique_columns(columns.iter().map(|c| c.name.as_str()));
        let mut fields = Vec::with_capacity(columns.len());
        for (name, c) in names.iter().zip(columns) {
            let (conv, why_text) = conversion(c);
            if let Some(why) = why_text {
                self.kept.push(KeptAsText {
                    column: name.clone(),
                    reason: format!("{}: {why}; the column is text", c.type_name),
                });
            }
            let precision = decimal_params(&c.type_name).map_or(0, |(p, _)| p);
            fields.push(Arc::new(field(name, conv, precision).map_err(pq_err)?));
            let data = match conv {
                Conv::Int64 | Conv::Timestamp { .. } => Data::I64(Vec::new()),
                Conv::Double => Data::F64(Vec::new()),
                Conv::Bool => Data::Bool(Vec::new()),
                Conv::Decimal { .. } => Data::Fixed(Vec::new()),
                Conv::Date => Data::I32(Vec::new()),
                Conv::Text | Conv::Bytes => Data::Bytes(Vec::new()),
            };
            self.columns.push(Column {
                name: name.clone(),
                conv,
                defs: Vec::new(),
                data,
            });
        }
        let schema = Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .map_err(pq_err)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).map_err(pq_err)?))
            .set_created_by(format!("varlor {}", env!("CARGO_PKG_VERSION")))
            .build();
        let temp = self
            .temp
            .as_ref()
            .ok_or_else(|| ImportError::write("the file is already closed"))?;
        let file = temp.as_file().try_clone().map_err(|e| self.io(e))?;
        let writer = SerializedFileWriter::new(
            BufWriter::with_capacity(256 * 1024, file),
            Arc::new(schema),
            Arc::new(props),
        )
        .map_err(pq_err)?;
        self.writer = Some(writer);
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> Result<(), ImportError> {
        if self.writer.is_none() {
            return Err(ImportError::write("a row arrived before the column list"));
        }
        if row.len() != self.columns.len() {
            return Err(ImportError::write(format!(
                "a row has {} values for {} columns",
                row.len(),
                self.columns.len()
            )));
        }
        for (col, cell) in self.columns.iter_mut().zip(&row) {
            self.bytes += push(col, cell, &mut self.scratch)?;
        }
        self.rows += 1;
        if self.rows >= GROUP_ROWS || self.bytes >= GROUP_BYTES {
            self.flush_group()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<KeptAsText>, ImportError> {
        self.flush_group()?;
        let writer = self
            .writer
            .take()
            .ok_or_else(|| ImportError::write("the source sent no column list"))?;
        // Writes the footer and flushes the buffer into the file.
        writer.close().map_err(pq_err)?;
        let temp = self
            .temp
            .take()
            .ok_or_else(|| ImportError::write("the file is already closed"))?;
        temp.as_file().sync_all().map_err(|e| self.io(e))?;
        temp.persist(&self.final_path)
            .map_err(|e| self.io(e.error))?;
        Ok(std::mem::take(&mut self.kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_widths_hold_their_precision() {
        assert_eq!(decimal_width(1), 1);
        assert_eq!(decimal_width(2), 1);
        assert_eq!(decimal_width(3), 2);
        assert_eq!(decimal_width(9), 4);
        assert_eq!(decimal_width(18), 8);
        assert_eq!(decimal_width(38), 16);
        for p in 1..=38u32 {
            let max = 10i128.pow(p) - 1;
            let w = decimal_width(p);
            assert!(w == 16 || max < 1i128 << (8 * w - 1), "{p}");
        }
    }
}
