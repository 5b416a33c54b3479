//! Values as they come off a server: text in the engine's own format (no
//! precision lost), NULL kept distinct from empty text, binary kept as bytes.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Exact text as the engine renders it (numeric, timestamps with zones,
    /// arrays, json, uuid, enums…).
    Text(String),
    Bytes(#[serde(with = "bytes_hex")] Vec<u8>),
    /// A nested value (a document, an array) from an engine that has them.
    Json(serde_json::Value),
}

impl Cell {
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// One-line display text: NULL as "NULL", bytes as "\x0a1b… (N bytes)".
    pub fn display(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format_float(*f),
            Cell::Bool(b) => b.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Json(v) => v.to_string(),
            Cell::Bytes(b) => {
                let shown: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
                if b.len() > 16 {
                    format!("\\x{shown}… ({} bytes)", b.len())
                } else {
                    format!("\\x{shown}")
                }
            }
        }
    }
}

impl Cell {
    /// The text of a cell in a grid a person reads (the TUI and the CLI's
    /// tables): like [`Cell::display`], but text that reads like NULL is
    /// quoted, so without colour the string 'NULL' still differs from NULL.
    pub fn display_grid(&self) -> String {
        match self {
            Cell::Text(t) if t.trim().eq_ignore_ascii_case("null") => format!("'{t}'"),
            other => other.display(),
        }
    }
}

/// Shortest text that round-trips the float.
/// Very large or very small magnitudes use exponent form ("1e308", not
/// 309 digits that a grid cuts).
pub fn format_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e15 {
        format!("{f:.1}")
    } else if f.is_finite() && (f.abs() >= 1e15 || (f != 0.0 && f.abs() < 1e-6)) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub name: String,
    /// The engine's type name.
    pub type_name: String,
    /// What the values are, filled by the connector (not in JSON output).
    #[serde(skip)]
    pub logical: super::Logical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowSet {
    pub columns: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Cell>>,
    #[serde(skip)]
    pub elapsed: Duration,
    /// The rows' whole documents as relaxed Extended JSON, one per row, from
    /// an engine that has them (MongoDB); empty otherwise. The JSON view
    /// shows these, so every BSON type is what the driver says it is.
    #[serde(skip)]
    pub documents: Vec<serde_json::Value>,
}

impl RowSet {
    /// Row `i` as one JSON object: the engine's own document when there is
    /// one, else the columns in order with their cells' values.
    pub fn row_document(&self, i: usize) -> Option<serde_json::Value> {
        if let Some(d) = self.documents.get(i) {
            return Some(d.clone());
        }
        let row = self.rows.get(i)?;
        let map = self
            .columns
            .iter()
            .zip(row)
            .map(|(c, v)| {
                let v = match v {
                    Cell::Float(f) if !f.is_finite() => serde_json::Value::String(f.to_string()),
                    other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
                };
                (c.name.clone(), v)
            })
            .collect();
        Some(serde_json::Value::Object(map))
    }

    /// Row `i` as indented JSON text (raw: the terminal escapes it).
    pub fn row_json_text(&self, i: usize) -> Option<String> {
        self.row_document(i)
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string()))
    }
}

mod bytes_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        s.serialize_str(&format!("\\x{hex}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let h = s.trim_start_matches("\\x");
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_as_json_keeps_column_order_and_prefers_the_document() {
        let col = |n: &str| ColumnMeta {
            name: n.into(),
            type_name: "t".into(),
            logical: Default::default(),
        };
        let mut rs = RowSet {
            columns: vec![col("z"), col("a"), col("b"), col("nan")],
            rows: vec![vec![
                Cell::Int(1),
                Cell::Null,
                Cell::Bytes(vec![0xab]),
                Cell::Float(f64::NAN),
            ]],
            elapsed: Duration::ZERO,
            documents: Vec::new(),
        };
        assert_eq!(
            rs.row_json_text(0).unwrap(),
            "{\n  \"z\": 1,\n  \"a\": null,\n  \"b\": \"\\\\xab\",\n  \"nan\": \"NaN\"\n}"
        );
        assert_eq!(rs.row_json_text(1), None);
        rs.documents = vec![serde_json::json!({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})];
        assert_eq!(
            rs.row_document(0).unwrap(),
            serde_json::json!({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})
        );
    }
}
