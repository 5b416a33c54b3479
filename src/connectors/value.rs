//! Values as they come off a server: text in the engine's own format (no
//! precision lost), NULL kept distinct from empty text, binary kept as bytes.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
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
    /// A timestamp cell from the engine's text, in the one form ([`iso8601`]).
    /// Values outside its shape (`infinity`, BC dates, years past 9999) keep
    /// the engine's words; the in-range values of the same column are ISO
    /// 8601 whatever else the column holds.
    pub fn timestamp(text: &str) -> Cell {
        Cell::Text(iso8601(text).into_owned())
    }

    /// [`Cell::timestamp`] of text the caller owns: rewritten in place, no
    /// new allocation (a row of a million timestamps allocates a million
    /// strings fewer).
    pub fn timestamp_owned(mut text: String) -> Cell {
        iso8601_in_place(&mut text);
        Cell::Text(text)
    }

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

/// The one form of a timestamp a person sees or exports, from every engine:
/// ISO 8601 (`T` between date and time, the offset as `+HH:MM`, which
/// SQLite's date functions need). Connectors build timestamp cells with
/// [`Cell::timestamp`], so the preview, query results, `--csv`/`--json` and
/// every dataset format show the same text.
///
/// `2024-01-02 03:04:05.5+01` → `2024-01-02T03:04:05.5+01:00`. Only text of
/// exactly that shape is touched; anything else (BC dates, `infinity`,
/// years past 9999) is returned unchanged.
pub fn iso8601(s: &str) -> Cow<'_, str> {
    match iso8601_shape(s) {
        None => Cow::Borrowed(s),
        Some(false) if s.as_bytes()[10] == b'T' => Cow::Borrowed(s),
        Some(hours_only) => {
            let mut out = String::with_capacity(s.len() + 3);
            out.push_str(s);
            rewrite_iso8601(&mut out, hours_only);
            Cow::Owned(out)
        }
    }
}

/// What [`iso8601`] returns, made of `s` itself (the same bytes; no
/// allocation unless a `+HH` zone gains its `:00`).
pub(crate) fn iso8601_in_place(s: &mut String) {
    if let Some(hours_only) = iso8601_shape(s) {
        rewrite_iso8601(s, hours_only);
    }
}

/// `T` between date and time, `:00` after an hours-only zone; `s` has the
/// shape [`iso8601_shape`] accepted (an ASCII byte at 10).
fn rewrite_iso8601(s: &mut String, hours_only: bool) {
    s.replace_range(10..11, "T");
    if hours_only {
        s.push_str(":00");
    }
}

/// What [`iso8601`] returns, appended to `out` (no allocation): for the
/// CSV rewritten in a byte stream.
pub(crate) fn iso8601_into(s: &str, out: &mut Vec<u8>) {
    match iso8601_shape(s) {
        None => out.extend_from_slice(s.as_bytes()),
        Some(hours_only) => {
            out.extend_from_slice(&s.as_bytes()[..10]);
            out.push(b'T');
            out.extend_from_slice(&s.as_bytes()[11..]);
            if hours_only {
                out.extend_from_slice(b":00");
            }
        }
    }
}

/// Whether [`iso8601`] rewrites `s`: `Some(hours_only)` when `s` is a
/// plain timestamp (`hours_only`: its zone is `+HH`, which gains `:00`).
fn iso8601_shape(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let date_ok = b.len() >= 16
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b' ' || b[10] == b'T')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16);
    if !date_ok {
        return None;
    }
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        if !digits(i + 1..i + 3) {
            return None;
        }
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let rest = &s[i..];
    let hours_only = match rest.as_bytes() {
        [] | [b'Z'] => false,
        [b'+' | b'-', h1, h2] if h1.is_ascii_digit() && h2.is_ascii_digit() => true,
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            false
        }
        [b'+' | b'-', h1, h2, b':', m1, m2, b':', s1, s2]
            if [h1, h2, m1, m2, s1, s2].iter().all(|c| c.is_ascii_digit()) =>
        {
            false
        }
        _ => return None,
    };
    Some(hours_only)
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
    fn iso8601_normalises_only_plain_timestamps() {
        assert_eq!(
            iso8601("2024-01-02 03:04:05+01"),
            "2024-01-02T03:04:05+01:00"
        );
        assert_eq!(
            iso8601("2024-01-02 03:04:05.123456+05:30"),
            "2024-01-02T03:04:05.123456+05:30"
        );
        assert_eq!(iso8601("2024-01-02 03:04:05"), "2024-01-02T03:04:05");
        assert_eq!(iso8601("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z");
        assert_eq!(
            iso8601("1850-01-01 00:00:00+00:09:21"),
            "1850-01-01T00:00:00+00:09:21"
        );
        assert_eq!(iso8601("infinity"), "infinity");
        assert_eq!(iso8601("2024-01-02 03:04:05 BC"), "2024-01-02 03:04:05 BC");
        assert_eq!(iso8601("0000-00-00 00:00:00"), "0000-00-00T00:00:00");
        assert_eq!(iso8601("12024-01-02 03:04:05"), "12024-01-02 03:04:05");
        assert_eq!(iso8601("2024-01-02"), "2024-01-02");
        // Its own output passes through untouched (sinks apply it again).
        for s in [
            "2024-01-02 03:04:05+01",
            "2024-01-02 03:04:05.5",
            "0000-00-00 00:00:00",
        ] {
            let once = iso8601(s).into_owned();
            assert!(matches!(iso8601(&once), Cow::Borrowed(_)), "{s}");
        }
    }

    /// The in-place rewrite (streamed MariaDB rows) gives the very bytes of
    /// the borrowing one, whatever the shape.
    #[test]
    fn iso8601_in_place_matches_iso8601() {
        for s in [
            "2024-01-02 03:04:05",
            "2024-01-02 03:04:05+01",
            "2024-01-02 03:04:05.123456+05:30",
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05-07",
            "1850-01-01 00:00:00+00:09:21",
            "0000-00-00 00:00:00",
            "2024-01-02 03:04",
            "2024-01-02 03:04:05 BC",
            "12024-01-02 03:04:05",
            "2024-01-02",
            "infinity",
            "",
            "2024-01-02 03:04:05.",
            "ü024-01-02 03:04:05",
        ] {
            let mut owned = s.to_string();
            iso8601_in_place(&mut owned);
            assert_eq!(owned, iso8601(s), "{s}");
            assert_eq!(
                Cell::timestamp_owned(s.to_string()),
                Cell::timestamp(s),
                "{s}"
            );
        }
    }

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
