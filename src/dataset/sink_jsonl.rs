//! JSON Lines per table: one object per row, columns in source order.
//! NULL → null; integers, floats and booleans → JSON scalars (NaN and the
//! infinities, which JSON lacks, → strings); text → strings; bytes → base64.
//!
//! One JSON type per column: the encoder notes which JSON types each column
//! was written as; a column that got more than one (numbers and strings, say:
//! a NaN among floats, a decimal with too many digits, text in a SQLite
//! INTEGER column) is rewritten when the table ends with every value as a
//! string — the very text written before (numbers digit for digit) — and is
//! listed in the provenance's `kept_as_text`.

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
    /// Per column: the JSON types written so far (`JSON_*` bits).
    written: Vec<u8>,
}

const JSON_NUMBER: u8 = 1;
const JSON_STRING: u8 = 2;
const JSON_BOOL: u8 = 4;
const JSON_OBJECT: u8 = 8;
const JSON_ARRAY: u8 = 16;

/// The JSON type bit of a value written as `raw` (`None` for null).
fn json_type(raw: &[u8]) -> Option<u8> {
    match raw.first()? {
        b'"' => Some(JSON_STRING),
        b'n' => None,
        b't' | b'f' => Some(JSON_BOOL),
        b'{' => Some(JSON_OBJECT),
        b'[' => Some(JSON_ARRAY),
        _ => Some(JSON_NUMBER),
    }
}

/// The byte ranges of the values of one line this encoder wrote
/// (`{"k":v,"k2":v2}`), in order.
fn value_ranges(line: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut depth, mut in_str, mut esc) = (0u32, false, false);
    let mut start = None;
    for (i, &b) in line.iter().enumerate() {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 1 {
                    if let Some(st) = start.take() {
                        ranges.push(st..i);
                    }
                }
                depth = depth.saturating_sub(1);
            }
            b':' if depth == 1 && start.is_none() => start = Some(i + 1),
            b',' if depth == 1 => {
                if let Some(st) = start.take() {
                    ranges.push(st..i);
                }
            }
            _ => {}
        }
    }
    ranges
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
        self.written = vec![0; names.len()];
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
            .enumerate()
            .filter(|(i, _)| self.mixed(*i) || self.as_text.get(*i).is_some_and(Option::is_some))
            .map(|(i, name)| KeptAsText {
                column: name.clone(),
                reason: match self.as_text.get(i).copied().flatten() {
                    Some(w) => format!("{}: the whole column is JSON strings", w.reason()),
                    None => "values of more than one JSON type (numbers or booleans next to \
                             text such as NaN): the whole column is JSON strings"
                        .into(),
                },
            })
            .collect()
    }

    fn needs_rewrite(&self) -> bool {
        (0..self.written.len()).any(|i| self.mixed(i))
    }

    fn rewrite(&self, line: &[u8], out: &mut Vec<u8>) {
        let mut at = 0;
        for (i, r) in value_ranges(line).into_iter().enumerate() {
            let raw = &line[r.clone()];
            if self.mixed(i) && !matches!(json_type(raw), None | Some(JSON_STRING)) {
                out.extend_from_slice(&line[at..r.start]);
                // Numbers, booleans and nested values: their written text.
                json_str(out, &String::from_utf8_lossy(raw));
                at = r.end;
            }
        }
        out.extend_from_slice(&line[at..]);
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
            let value_start = out.len();
            match cell {
                Cell::Null => out.extend_from_slice(b"null"),
                Cell::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                // The CSV's text (shortest round trip, `1e300`): a valid
                // JSON number, and the same string if the column ends up
                // rewritten as strings.
                Cell::Float(f) if f.is_finite() => out.extend_from_slice(float_text(*f).as_bytes()),
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
                    Ok(Exact::Real(f)) => out.extend_from_slice(float_text(f).as_bytes()),
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
            if let (Some(t), Some(w)) = (json_type(&out[value_start..]), self.written.get_mut(i)) {
                *w |= t;
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

impl JsonlEncoder {
    /// Whether column `i` was written as more than one JSON type.
    fn mixed(&self, i: usize) -> bool {
        self.written.get(i).is_some_and(|w| w.count_ones() > 1)
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

    #[test]
    fn a_column_of_two_json_types_is_rewritten_as_strings() {
        let mut e = JsonlEncoder::default();
        let mut out = Vec::new();
        let names = ["id", "f", "d", "any", "j"].map(String::from);
        e.header(
            &mut out,
            &names,
            &[
                ColKind::Integer,
                ColKind::Real,
                ColKind::Numeric,
                ColKind::Any,
                ColKind::Json,
            ],
        );
        let rows = [
            [
                Cell::Int(1),
                Cell::Text("2.5e-3".into()),
                Cell::Text("1.50".into()),
                Cell::Int(42),
                Cell::Json(serde_json::json!({"a,b": "x\"}"})),
            ],
            [
                Cell::Int(2),
                Cell::Text("NaN".into()),
                Cell::Text("12345678901234567890.5".into()),
                Cell::Bytes(vec![1, 2]),
                Cell::Null,
            ],
            [
                Cell::Int(3),
                Cell::Float(f64::NEG_INFINITY),
                Cell::Null,
                Cell::Bool(true),
                Cell::Json(serde_json::json!([1, {"k": [2]}])),
            ],
        ];
        for r in &rows {
            e.row(&mut out, r);
        }
        assert!(e.needs_rewrite());
        let text = String::from_utf8(out).unwrap();
        let mut done = Vec::new();
        for line in text.lines() {
            e.rewrite(line.as_bytes(), &mut done);
            done.push(b'\n');
        }
        let done = String::from_utf8(done).unwrap();
        assert_eq!(
            done,
            "{\"id\":1,\"f\":\"2.5e-3\",\"d\":\"1.50\",\"any\":\"42\",\"j\":\"{\\\"a,b\\\":\\\"x\\\\\\\"}\\\"}\"}\n\
             {\"id\":2,\"f\":\"NaN\",\"d\":\"12345678901234567890.5\",\"any\":\"AQI=\",\"j\":null}\n\
             {\"id\":3,\"f\":\"-Infinity\",\"d\":null,\"any\":\"true\",\"j\":\"[1,{\\\"k\\\":[2]}]\"}\n"
        );
        // Every line is JSON, and each key has one type.
        let kinds: Vec<Vec<&str>> = done
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                names
                    .iter()
                    .map(|n| match &v[n] {
                        serde_json::Value::Null => "null",
                        serde_json::Value::Number(_) => "number",
                        serde_json::Value::String(_) => "string",
                        _ => "other",
                    })
                    .collect()
            })
            .collect();
        assert_eq!(kinds[0], ["number", "string", "string", "string", "string"]);
        let kept: Vec<String> = e.kept_as_text().into_iter().map(|k| k.column).collect();
        assert_eq!(kept, ["f", "d", "any", "j"]);
        // A column of one type is left alone.
        let mut one = JsonlEncoder::default();
        let mut out = Vec::new();
        one.header(&mut out, &names[..1], &[ColKind::Integer]);
        one.row(&mut out, &[Cell::Int(7)]);
        assert!(!one.needs_rewrite());
        assert!(one.kept_as_text().is_empty());
    }
}
