//! CSV per table, RFC 4180: comma separated, fields quoted when they hold a
//! comma, a quote, CR or LF (quotes doubled), CRLF line ends, a header row.
//!
//! NULL is an empty unquoted field and an empty string is `""`, as in
//! PostgreSQL's `COPY … CSV`. One exception: in a one-column table a NULL
//! is written `""` too, because an empty line is skipped by most readers
//! (the csv crate, pandas) and the row would be lost. The csv crate's writer cannot quote one field
//! and not another, which that distinction needs, so the few lines of
//! quoting live here; the tests read every file back with the csv crate.

use std::io::Write;

use base64::Engine;

use super::convert::{float_text, iso8601, parse_bool, ColKind};
use super::sink_files::Encoder;
use crate::connectors::Cell;

#[derive(Default)]
pub(crate) struct CsvEncoder {
    kinds: Vec<ColKind>,
    scratch: String,
}

/// Appends one field; `quote_empty` tells an empty string from NULL.
pub(crate) fn field(out: &mut Vec<u8>, bytes: &[u8], quote_empty: bool) {
    if bytes.is_empty() {
        if quote_empty {
            out.extend_from_slice(b"\"\"");
        }
        return;
    }
    if !bytes
        .iter()
        .any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for (i, part) in bytes.split(|&c| c == b'"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part);
    }
    out.push(b'"');
}

impl Encoder for CsvEncoder {
    fn takes_csv(&self) -> bool {
        true
    }

    fn header(&mut self, out: &mut Vec<u8>, names: &[String], kinds: &[ColKind]) {
        self.kinds = kinds.to_vec();
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            field(out, n.as_bytes(), true);
        }
        out.extend_from_slice(b"\r\n");
    }

    fn row(&mut self, out: &mut Vec<u8>, row: &[Cell]) {
        if let [Cell::Null] = row {
            out.extend_from_slice(b"\"\"\r\n");
            return;
        }
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let kind = self.kinds.get(i).copied().unwrap_or(ColKind::Any);
            match cell {
                Cell::Null => {}
                // Digits and signs never need quoting.
                Cell::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                Cell::Float(f) => out.extend_from_slice(float_text(*f).as_bytes()),
                Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Cell::Text(s) if kind == ColKind::Timestamp => {
                    field(out, iso8601(s).as_bytes(), true)
                }
                Cell::Text(s) if kind == ColKind::Bool => match parse_bool(s) {
                    Some(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                    None => field(out, s.as_bytes(), true),
                },
                Cell::Text(s) => field(out, s.as_bytes(), true),
                Cell::Json(v) => field(out, v.to_string().as_bytes(), true),
                Cell::Bytes(b) => {
                    self.scratch.clear();
                    base64::engine::general_purpose::STANDARD.encode_string(b, &mut self.scratch);
                    // base64 never needs quoting; an empty value is "" (not NULL).
                    field(out, self.scratch.as_bytes(), true);
                }
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cells: Vec<Cell>) -> String {
        let mut e = CsvEncoder::default();
        let mut out = Vec::new();
        e.row(&mut out, &cells);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoting_and_null_versus_empty() {
        assert_eq!(
            line(vec![
                Cell::Null,
                Cell::Text(String::new()),
                Cell::Text("a,b".into()),
                Cell::Text("say \"hi\"".into()),
                Cell::Text("two\nlines".into()),
                Cell::Int(-3),
                Cell::Bool(true),
                Cell::Bytes(vec![0, 255]),
            ]),
            "
,\"\",\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",-3,true,AP8=\r\n"
                .trim_start_matches('\n')
        );
        // A lone NULL would be an empty line, which readers skip.
        assert_eq!(line(vec![Cell::Null]), "\"\"\r\n");
    }
}
