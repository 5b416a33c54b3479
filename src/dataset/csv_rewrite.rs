//! A server's CSV (PostgreSQL `COPY … TO STDOUT (FORMAT csv)`) rewritten into
//! the dataset's CSV as it streams, without building rows: record ends LF →
//! CRLF, and in the columns that need it the normalisation the row path
//! applies (timestamps to ISO 8601, booleans `true`/`false`, `bytea` hex to
//! base64), each value written through the same quoting as a row's.
//!
//! The input may be cut anywhere (inside a quoted field, inside a value, just
//! before a record end): the scanner keeps the field index, the quote state
//! and the value being collected across calls. Only values of rewritten
//! columns are collected (into a buffer reused for every row); the others
//! are copied between delimiters found with `memchr`.
//!
//! What it assumes of the input is what PostgreSQL writes: `,` between
//! fields, `"` quotes (a whole field quoted, `""` inside for a quote), an
//! LF after each record, NULL an empty unquoted field.

use base64::Engine;
use memchr::{memchr, memchr2, memchr3};

use super::convert::{iso8601_into, parse_bool};
use super::sink_csv::field;

/// How one column's values are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldRule {
    /// Copied as the server wrote it (its quoting is the dataset's).
    Keep,
    /// Timestamp text to ISO 8601 (`convert::iso8601`).
    Timestamp,
    /// Boolean text (`t`, `f`, …) to `true` / `false` (`convert::parse_bool`).
    Bool,
    /// PostgreSQL's `\x…` hex to base64; other text kept.
    HexBytes,
}

/// The streaming rewriter; one per table.
pub(crate) struct CsvRewriter {
    rules: Vec<FieldRule>,
    /// Every rule is `Keep`: only quotes and record ends matter.
    plain: bool,
    /// Index of the field being read.
    col: usize,
    /// Inside a quoted part of a field.
    in_quotes: bool,
    /// The field being collected (rewritten column) started with a quote.
    quoted: bool,
    /// The unquoted value of the rewritten field read so far.
    value: Vec<u8>,
    /// The last byte fed was a record end.
    ended_record: bool,
    bytes: Vec<u8>,
    base64: String,
}

impl CsvRewriter {
    pub(crate) fn new(rules: Vec<FieldRule>) -> CsvRewriter {
        CsvRewriter {
            plain: rules.iter().all(|r| *r == FieldRule::Keep),
            rules,
            col: 0,
            in_quotes: false,
            quoted: false,
            value: Vec::new(),
            ended_record: true,
            bytes: Vec::new(),
            base64: String::new(),
        }
    }

    /// Rewrites `chunk` (the next bytes of the stream, cut anywhere) onto
    /// `out`; returns how many records it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> u64 {
        let Some(&last) = chunk.last() else {
            return 0;
        };
        let records = if self.plain {
            self.feed_plain(chunk, out)
        } else {
            self.feed_fields(chunk, out)
        };
        // An LF leaves the quote state as it is: outside quotes after it, it
        // ended a record.
        self.ended_record = last == b'\n' && !self.in_quotes;
        records
    }

    /// Whether everything fed so far is whole records (what `out` holds can
    /// be handed on as such).
    pub(crate) fn at_record_end(&self) -> bool {
        self.ended_record
    }

    fn feed_plain(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> u64 {
        let mut records = 0;
        let mut i = 0;
        while i < chunk.len() {
            let rest = &chunk[i..];
            let hit = if self.in_quotes {
                memchr(b'"', rest)
            } else {
                memchr2(b'"', b'\n', rest)
            };
            let Some(k) = hit else {
                out.extend_from_slice(rest);
                break;
            };
            out.extend_from_slice(&rest[..k]);
            if rest[k] == b'"' {
                self.in_quotes = !self.in_quotes;
                out.push(b'"');
            } else {
                out.extend_from_slice(b"\r\n");
                records += 1;
            }
            i += k + 1;
        }
        records
    }

    fn feed_fields(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> u64 {
        let mut records = 0;
        let mut i = 0;
        while i < chunk.len() {
            let rest = &chunk[i..];
            let rule = self.rules.get(self.col).copied().unwrap_or(FieldRule::Keep);
            let hit = if self.in_quotes {
                memchr(b'"', rest)
            } else {
                memchr3(b',', b'\n', b'"', rest)
            };
            let Some(k) = hit else {
                if rule == FieldRule::Keep {
                    out.extend_from_slice(rest);
                } else {
                    self.value.extend_from_slice(rest);
                }
                break;
            };
            let at = rest[k];
            if rule == FieldRule::Keep {
                out.extend_from_slice(&rest[..k]);
                if at == b'"' {
                    self.in_quotes = !self.in_quotes;
                    out.push(b'"');
                }
            } else {
                self.value.extend_from_slice(&rest[..k]);
                if at == b'"' {
                    if self.in_quotes {
                        self.in_quotes = false;
                    } else {
                        // A quote right after a closing one is a doubled
                        // quote: one quote of the value.
                        if self.quoted {
                            self.value.push(b'"');
                        }
                        self.quoted = true;
                        self.in_quotes = true;
                    }
                } else {
                    self.emit(rule, out);
                }
            }
            match at {
                b',' => {
                    out.push(b',');
                    self.col += 1;
                }
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.col = 0;
                    records += 1;
                }
                _ => {}
            }
            i += k + 1;
        }
        records
    }

    /// Writes the collected value of a rewritten field, as the row path
    /// would write that cell.
    fn emit(&mut self, rule: FieldRule, out: &mut Vec<u8>) {
        let quoted = std::mem::take(&mut self.quoted);
        if self.value.is_empty() && !quoted {
            // NULL: an empty unquoted field.
            return;
        }
        // The row path reads invalid UTF-8 lossily too (the server sends UTF-8).
        let text = match std::str::from_utf8(&self.value) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&self.value),
        };
        match rule {
            FieldRule::Keep => field(out, text.as_bytes(), true),
            FieldRule::Timestamp => {
                if needs_quotes(text.as_bytes()) {
                    // Not a timestamp shape: iso8601 leaves it as it is.
                    field(out, text.as_bytes(), true);
                } else {
                    // ISO 8601 only adds `T` and `:00`: still nothing to quote.
                    iso8601_into(&text, out);
                }
            }
            // PostgreSQL's own spelling first (`parse_bool` allocates).
            FieldRule::Bool if &*text == "t" => out.extend_from_slice(b"true"),
            FieldRule::Bool if &*text == "f" => out.extend_from_slice(b"false"),
            FieldRule::Bool => match parse_bool(&text) {
                Some(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                None => field(out, text.as_bytes(), true),
            },
            FieldRule::HexBytes => {
                if hex_bytes(&text, &mut self.bytes) {
                    self.base64.clear();
                    base64::engine::general_purpose::STANDARD
                        .encode_string(&self.bytes, &mut self.base64);
                    field(out, self.base64.as_bytes(), true);
                } else {
                    field(out, text.as_bytes(), true);
                }
            }
        }
        drop(text);
        self.value.clear();
    }
}

/// Empty, or holding a byte that makes a CSV field quoted.
fn needs_quotes(b: &[u8]) -> bool {
    b.is_empty() || b.iter().any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n'))
}

/// `\xdeadbeef` into `out`; false (and `out` unspecified) when `text` is
/// not in PostgreSQL's hex output format.
fn hex_bytes(text: &str, out: &mut Vec<u8>) -> bool {
    let Some(hex) = text.as_bytes().strip_prefix(b"\\x") else {
        return false;
    };
    if hex.len() % 2 != 0 {
        return false;
    }
    out.clear();
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    for pair in hex.chunks_exact(2) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => out.push((h << 4) | l),
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Cell;
    use crate::dataset::convert::ColKind;
    use crate::dataset::sink_csv::CsvEncoder;
    use crate::dataset::sink_files::Encoder;

    const RULES: [FieldRule; 5] = [
        FieldRule::Keep,
        FieldRule::Timestamp,
        FieldRule::Bool,
        FieldRule::HexBytes,
        FieldRule::Keep,
    ];

    /// PostgreSQL's CSV of (int4, timestamptz, bool, bytea, text) rows, and
    /// the cells the row path makes of the same rows.
    fn server_csv() -> (Vec<u8>, Vec<Vec<Cell>>) {
        let t = |s: &str| Cell::Text(s.into());
        let rows: Vec<(&str, Vec<Cell>)> = vec![
            (
                "1,2024-01-02 03:04:05+01,t,\\xdeadbeef,plain\n",
                vec![
                    Cell::Int(1),
                    t("2024-01-02 03:04:05+01"),
                    Cell::Bool(true),
                    Cell::Bytes(vec![0xde, 0xad, 0xbe, 0xef]),
                    t("plain"),
                ],
            ),
            (
                "2,,,,\n",
                vec![Cell::Int(2), Cell::Null, Cell::Null, Cell::Null, Cell::Null],
            ),
            (
                "3,infinity,f,\\x,\"\"\n",
                vec![
                    Cell::Int(3),
                    t("infinity"),
                    Cell::Bool(false),
                    Cell::Bytes(vec![]),
                    t(""),
                ],
            ),
            (
                "4,2024-06-30 12:00:00.123456-03:30,t,\\x00ff,\"a,b \"\"q\"\"\r\ncr\r lf\n\"\n",
                vec![
                    Cell::Int(4),
                    t("2024-06-30 12:00:00.123456-03:30"),
                    Cell::Bool(true),
                    Cell::Bytes(vec![0, 255]),
                    t("a,b \"q\"\r\ncr\r lf\n"),
                ],
            ),
            (
                "5,2024-01-02 03:04:05 BC,f,\\x41,\"\"\"only quotes\"\"\"\n",
                vec![
                    Cell::Int(5),
                    t("2024-01-02 03:04:05 BC"),
                    Cell::Bool(false),
                    Cell::Bytes(b"A".to_vec()),
                    t("\"only quotes\""),
                ],
            ),
            (
                "6,10000-01-01 00:00:00+00,t,\\x,\"\n\"\n",
                vec![
                    Cell::Int(6),
                    t("10000-01-01 00:00:00+00"),
                    Cell::Bool(true),
                    Cell::Bytes(vec![]),
                    t("\n"),
                ],
            ),
            (
                "7,1900-01-01 00:00:00+00:53:28,f,\\x0a0d22,日本語 🎉\n",
                vec![
                    Cell::Int(7),
                    t("1900-01-01 00:00:00+00:53:28"),
                    Cell::Bool(false),
                    Cell::Bytes(vec![b'\n', b'\r', b'"']),
                    t("日本語 🎉"),
                ],
            ),
            // Quoted values in rewritten columns (not what PostgreSQL sends
            // for these types, but the scanner must still unquote them).
            (
                "8,\"2024-01-02 03:04:05-07\",\"t\",\"\\xab\",x\n",
                vec![
                    Cell::Int(8),
                    t("2024-01-02 03:04:05-07"),
                    Cell::Bool(true),
                    Cell::Bytes(vec![0xab]),
                    t("x"),
                ],
            ),
            (
                "9,\"not, a \"\"time\"\"\",\"\",\"\\xzz\",\"\"\n",
                vec![Cell::Int(9), t("not, a \"time\""), t(""), t("\\xzz"), t("")],
            ),
            (
                "10,-infinity,t,\\xAbCd,last\n",
                vec![
                    Cell::Int(10),
                    t("-infinity"),
                    Cell::Bool(true),
                    Cell::Bytes(vec![0xab, 0xcd]),
                    t("last"),
                ],
            ),
        ];
        let input = rows.iter().flat_map(|(l, _)| l.bytes()).collect();
        (input, rows.into_iter().map(|(_, c)| c).collect())
    }

    /// What the row path writes for `rows` (the CSV sink's encoder).
    fn row_path(rows: &[Vec<Cell>]) -> Vec<u8> {
        let mut enc = CsvEncoder::default();
        let mut out = Vec::new();
        let kinds = [
            ColKind::Integer,
            ColKind::Timestamp,
            ColKind::Bool,
            ColKind::Bytes,
            ColKind::Text,
        ];
        let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        enc.header(&mut out, &names, &kinds);
        out.clear();
        for r in rows {
            enc.row(&mut out, r);
        }
        out
    }

    fn rewrite(rules: &[FieldRule], pieces: &[&[u8]]) -> (Vec<u8>, u64, bool) {
        let mut rw = CsvRewriter::new(rules.to_vec());
        let mut out = Vec::new();
        let mut records = 0;
        for p in pieces {
            records += rw.feed(p, &mut out);
        }
        (out, records, rw.at_record_end())
    }

    #[test]
    fn rewritten_csv_is_what_the_row_path_writes() {
        let (input, rows) = server_csv();
        let (out, records, whole) = rewrite(&RULES, &[&input]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&row_path(&rows))
        );
        assert_eq!(records, rows.len() as u64);
        assert!(whole);
    }

    #[test]
    fn a_cut_anywhere_gives_the_same_bytes() {
        let (input, rows) = server_csv();
        let want = row_path(&rows);
        for rules in [&RULES[..], &[FieldRule::Keep; 5][..]] {
            let (whole, n, _) = rewrite(rules, &[&input]);
            if rules == RULES {
                assert_eq!(whole, want);
            }
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                let (out, records, end) = rewrite(rules, &[a, b]);
                assert_eq!(out, whole, "{rules:?} cut at {cut}");
                assert_eq!(records, n, "cut at {cut}");
                assert!(end);
                // Where the first piece stops: a record end only after an
                // LF outside quotes.
                let (_, _, end_a) = rewrite(rules, &[a]);
                let lf_end = rows_ending_at(&input, cut);
                assert_eq!(end_a, lf_end, "{rules:?} record end at {cut}");
            }
            // Two cuts, every pair of offsets, over the first 120 bytes.
            let short = &input[..input.len().min(120)];
            let (ref_out, ref_n, _) = rewrite(rules, &[short]);
            for i in 0..=short.len() {
                for j in i..=short.len() {
                    let (out, records, _) =
                        rewrite(rules, &[&short[..i], &short[i..j], &short[j..]]);
                    assert_eq!(out, ref_out, "{rules:?} cuts at {i}, {j}");
                    assert_eq!(records, ref_n);
                }
            }
            // One byte at a time.
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(rewrite(rules, &bytes).0, whole, "{rules:?} byte by byte");
        }
    }

    /// Whether `input[..cut]` is whole records (ends with a record's LF).
    fn rows_ending_at(input: &[u8], cut: usize) -> bool {
        let mut in_quotes = false;
        let mut end = true;
        for &b in &input[..cut] {
            if b == b'"' {
                in_quotes = !in_quotes;
            }
            end = b == b'\n' && !in_quotes;
        }
        end
    }

    #[test]
    fn plain_columns_only_change_record_ends() {
        let input = b"1,\"x\n\"\"y\"\r\n2,\"\r\",z\n3,,\"\"\n";
        let (out, records, end) = rewrite(&[FieldRule::Keep; 3], &[input]);
        assert_eq!(out, b"1,\"x\n\"\"y\"\r\r\n2,\"\r\",z\r\n3,,\"\"\r\n");
        assert_eq!(records, 3);
        assert!(end);
        // The same bytes whether the columns carry rules or not.
        let (ruled, _, _) = rewrite(
            &[FieldRule::Keep, FieldRule::Keep, FieldRule::Timestamp],
            &[input],
        );
        assert_eq!(ruled, out);
    }

    #[test]
    fn an_unfinished_record_is_not_a_record_end() {
        let (_, records, end) = rewrite(&RULES, &[b"1,2024-01-02 03:04:05+01,t"]);
        assert_eq!(records, 0);
        assert!(!end);
        let (_, _, end) = rewrite(&[FieldRule::Keep; 2], &[b"1,\"open\n"]);
        assert!(!end, "an LF inside quotes ends no record");
    }
}
