//! JSON Lines per table: one object per row, columns in source order.
//! NULL → null; integers, floats and booleans → JSON scalars (NaN and the
//! infinities, which JSON lacks, → strings); text → strings; bytes → base64.

use std::io::Write;

use base64::Engine;

use super::convert::{
    exact_number, float_text, is_json_number, iso8601, parse_bool, ColKind, Exact, NotExact,
};
use super::provenance::KeptAsText;
use super::sink_files::Encoder;
use crate::connectors::Cell;

#[derive(Default)]
pub(crate) struct JsonlEncoder {
    /// `"name":` per column, escaped once.
    keys: Vec<Vec<u8>>,
    kinds: Vec<ColKind>,
    scratch: String,
    /// A whole-document stream: each row's one JSON cell is the line.
    documents: bool,
    names: Vec<String>,
    /// Per column: why some numeric value was written as a string.
    as_text: Vec<Option<NotExact>>,
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl Encoder for JsonlEncoder {
    fn header(&mut self, _out: &mut Vec<u8>, names: &[String], kinds: &[ColKind]) {
        self.kinds = kinds.to_vec();
        self.names = names.to_vec();
        self.as_text = vec![None; names.len()];
        self.documents = names.len() == 1
            && names[0] == crate::connectors::DOCUMENT_COLUMN
            && kinds == [ColKind::Json];
        self.keys = names
            .iter()
            .map(|n| {
                let mut k = Vec::with_capacity(n.len() + 3);
                json_str(&mut k, n);
                k.push(b':');
                k
            })
            .collect();
    }

    fn takes_documents(&self) -> bool {
        true
    }

    fn kept_as_text(&self) -> Vec<KeptAsText> {
        self.names
            .iter()
            .zip(&self.as_text)
            .filter_map(|(name, why)| {
                why.map(|w| KeptAsText {
                    column: name.clone(),
                    reason: format!("{} are JSON strings", w.reason()),
                })
            })
            .collect()
    }

    fn row(&mut self, out: &mut Vec<u8>, row: &[Cell]) {
        if let (true, [Cell::Json(doc)]) = (self.documents, row) {
            let _ = serde_json::to_writer(&mut *out, doc);
            out.push(b'\n');
            return;
        }
        out.push(b'{');
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match self.keys.get(i) {
                Some(k) => out.extend_from_slice(k),
                // More values than columns: still valid JSON, keyed by position.
                None => {
                    json_str(out, &format!("#{}", i + 1));
                    out.push(b':');
                }
            }
            let kind = self.kinds.get(i).copied().unwrap_or(ColKind::Any);
            match cell {
                Cell::Null => out.extend_from_slice(b"null"),
                Cell::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                Cell::Float(f) if f.is_finite() => {
                    let _ = serde_json::to_writer(&mut *out, f);
                }
                Cell::Float(f) => json_str(out, &float_text(*f)),
                Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Cell::Text(s) if kind == ColKind::Timestamp => json_str(out, &iso8601(s)),
                // Numbers sent as text (MySQL, PostgreSQL floats) stay numbers,
                // copied digit for digit; NaN and the infinities stay strings.
                Cell::Text(s)
                    if matches!(kind, ColKind::Integer | ColKind::Real) && is_json_number(s) =>
                {
                    out.extend_from_slice(s.as_bytes())
                }
                // Decimals: a JSON number when a double reader gets every
                // digit back, else the exact string (recorded).
                Cell::Text(s) if kind == ColKind::Numeric => match exact_number(s) {
                    Ok(_) if is_json_number(s) => out.extend_from_slice(s.as_bytes()),
                    Ok(Exact::Int(v)) => {
                        let _ = write!(out, "{v}");
                    }
                    Ok(Exact::Real(f)) => {
                        let _ = serde_json::to_writer(&mut *out, &f);
                    }
                    Err(why) => {
                        if let Some(slot) = self.as_text.get_mut(i) {
                            slot.get_or_insert(why);
                        }
                        json_str(out, s)
                    }
                },
                Cell::Text(s) if kind == ColKind::Bool => match parse_bool(s) {
                    Some(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                    None => json_str(out, s),
                },
                Cell::Text(s) => json_str(out, s),
                Cell::Json(v) => {
                    let _ = serde_json::to_writer(&mut *out, v);
                }
                Cell::Bytes(b) => {
                    self.scratch.clear();
                    base64::engine::general_purpose::STANDARD.encode_string(b, &mut self.scratch);
                    out.push(b'"');
                    out.extend_from_slice(self.scratch.as_bytes());
                    out.push(b'"');
                }
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_strings_and_bytes() {
        let mut e = JsonlEncoder::default();
        let mut out = Vec::new();
        let names = ["n", "f", "t", "b", "x", "\"q\""].map(String::from);
        e.header(&mut out, &names, &[ColKind::Any; 6]);
        e.row(
            &mut out,
            &[
                Cell::Null,
                Cell::Float(f64::NAN),
                Cell::Text("é\n".into()),
                Cell::Bool(false),
                Cell::Bytes(vec![1, 2, 3]),
                Cell::Float(0.5),
            ],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"n\":null,\"f\":\"NaN\",\"t\":\"é\\n\",\"b\":false,\"x\":\"AQID\",\"\\\"q\\\"\":0.5}\n"
        );
    }
}
