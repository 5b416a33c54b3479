//! Tab completion in the query editor: schema, table and column names from
//! the browser's list and cached structures, and SQL keywords. A name that
//! is not a plain identifier of the dialect is inserted quoted (through
//! `connectors::ident`), so a table called `my table` completes to
//! `"my table"` (or `` `my table` `` on MySQL).
//!
//! Pure: the word before the cursor and what the browser knows in, the
//! candidates out. The update applies the chosen one to the editor.

use crate::connectors::ident::{quote, Dialect};
use crate::connectors::TableRef;

/// What a candidate names (shown beside it in the popup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Keyword,
    Schema,
    Table,
    Column,
}

impl What {
    pub fn label(self) -> &'static str {
        match self {
            What::Keyword => "keyword",
            What::Schema => "schema",
            What::Table => "table",
            What::Column => "column",
        }
    }
}

/// One completion: what the popup shows and what replaces the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The name as the server has it (`sales.my table`, `id`).
    pub shown: String,
    /// The text inserted in place of the word (quoted when needed).
    pub insert: String,
    pub what: What,
}

/// The word being completed on the cursor's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Char index where the word (with its opening quote, if any) starts.
    pub start: usize,
    /// What was typed of the name, without its opening quote.
    pub prefix: String,
    /// The name before a `.` in front of the word (`sales` in `sales.or`).
    pub qualifier: Option<String>,
    /// The word follows FROM, JOIN, INTO, UPDATE or TABLE: only tables.
    pub wants_table: bool,
    /// It began with an opening quote: matched case-sensitively, as the
    /// server will.
    pub quoted: bool,
}

/// Keywords offered (upper-case; typed lower-case, they complete lower-case).
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "IS",
    "IN",
    "LIKE",
    "BETWEEN",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "FULL",
    "CROSS",
    "ON",
    "USING",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "AS",
    "DISTINCT",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "EXISTS",
    "ASC",
    "DESC",
    "EXPLAIN",
    "SHOW",
    "CAST",
    "COALESCE",
    "TRUE",
    "FALSE",
    "VALUES",
    "LATERAL",
    "OVER",
    "PARTITION",
    "WINDOW",
    "FETCH",
    "FIRST",
    "ROWS",
    "ONLY",
    "NULLS",
];

/// Keywords after which a table name comes.
const BEFORE_TABLE: &[&str] = &["FROM", "JOIN", "INTO", "UPDATE", "TABLE", "DESCRIBE"];

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn opening(d: Dialect) -> char {
    match d {
        Dialect::Ansi => '"',
        Dialect::Backtick => '`',
        Dialect::Bracket => '[',
    }
}

fn closing(d: Dialect) -> char {
    match d {
        Dialect::Bracket => ']',
        Dialect::Ansi => '"',
        Dialect::Backtick => '`',
    }
}

/// Whether `name` can stand unquoted in `dialect`: a letter or `_` first,
/// then letters, digits, `_`; lower-case for ANSI engines (PostgreSQL folds
/// unquoted names to lower case); never a keyword.
pub fn plain(dialect: Dialect, name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let ok = |c: char| match dialect {
        Dialect::Ansi => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
        _ => c.is_ascii_alphanumeric() || c == '_',
    };
    (first.is_ascii_alphabetic() || first == '_')
        && ok(first)
        && chars.all(ok)
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name))
        && !BEFORE_TABLE.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// `name` as it must be written in `dialect`.
pub fn written(dialect: Dialect, name: &str) -> String {
    if plain(dialect, name) {
        name.to_string()
    } else {
        quote(dialect, name)
    }
}

/// The identifier that ends just before char index `end` of `chars`
/// (quoted or plain), unquoted, and where it starts.
fn ident_before(chars: &[char], end: usize, dialect: Dialect) -> Option<(String, usize)> {
    if end == 0 {
        return None;
    }
    let (open, close) = (opening(dialect), closing(dialect));
    if chars[end - 1] == close {
        // Walk back to the opening quote; a doubled closing quote is one
        // character of the name.
        let mut j = end - 1;
        let mut name = Vec::new();
        while j > 0 {
            j -= 1;
            let c = chars[j];
            if c == close && j > 0 && chars[j - 1] == close {
                name.push(close);
                j -= 1;
            } else if c == open {
                name.reverse();
                return Some((name.into_iter().collect(), j));
            } else {
                name.push(c);
            }
        }
        return None;
    }
    let mut i = end;
    while i > 0 && ident_char(chars[i - 1]) {
        i -= 1;
    }
    (i < end).then(|| (chars[i..end].iter().collect(), i))
}

/// The word before char index `col` of `line`, if completion makes sense
/// there: inside an identifier, or just after its opening quote.
pub fn word_at(line: &str, col: usize, dialect: Dialect) -> Option<Word> {
    let chars: Vec<char> = line.chars().collect();
    let col = col.min(chars.len());
    let (open, close) = (opening(dialect), closing(dialect));
    // An unclosed quoted identifier before the cursor: its text is the prefix.
    let mut quoted_from = None;
    let mut i = 0;
    while i < col {
        let c = chars[i];
        match quoted_from {
            None if c == open => quoted_from = Some(i),
            None if c == '\'' => {
                // A string literal: skip it (no completion inside).
                i += 1;
                while i < col && chars[i] != '\'' {
                    i += 1;
                }
                if i >= col {
                    return None;
                }
            }
            Some(_) if c == close => quoted_from = None,
            _ => {}
        }
        i += 1;
    }
    let (start, prefix) = match quoted_from {
        Some(q) => (q, chars[q + 1..col].iter().collect::<String>()),
        None => {
            let mut s = col;
            while s > 0 && ident_char(chars[s - 1]) {
                s -= 1;
            }
            // Nothing typed yet: only right after a `.` (`sales.` lists its tables).
            if s == col && !(col > 0 && chars[col - 1] == '.') {
                return None;
            }
            // A number is not a name.
            if s < col && chars[s].is_ascii_digit() {
                return None;
            }
            (s, chars[s..col].iter().collect())
        }
    };
    let qualifier = (start > 0 && chars[start - 1] == '.')
        .then(|| ident_before(&chars, start - 1, dialect).map(|(q, _)| q))
        .flatten();
    // The keyword before the word (or before its qualifier).
    let mut k = start;
    if qualifier.is_some() {
        k = ident_before(&chars, start - 1, dialect).map_or(start, |(_, s)| s);
    }
    while k > 0 && chars[k - 1].is_whitespace() {
        k -= 1;
    }
    let before = ident_before(&chars, k, dialect)
        .map(|(w, _)| w.to_ascii_uppercase())
        .unwrap_or_default();
    Some(Word {
        start,
        prefix,
        qualifier,
        wants_table: BEFORE_TABLE.contains(&before.as_str()),
        quoted: quoted_from.is_some(),
    })
}

/// What the browser knows of the connection.
pub struct Known<'a> {
    pub dialect: Dialect,
    pub tables: Vec<&'a TableRef>,
    /// Described tables and their column names.
    pub columns: Vec<(&'a TableRef, Vec<&'a str>)>,
    /// Schemas whose tables need no qualifier (public, main, the database).
    pub default_schemas: Vec<String>,
}

fn matches_any_case(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .chars()
            .zip(prefix.chars())
            .all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()))
}

/// The candidates for `word`, best first, without duplicates.
pub fn candidates(word: &Word, known: &Known<'_>) -> Vec<Candidate> {
    let d = known.dialect;
    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |c: Candidate| {
        if !out.iter().any(|o| o.insert == c.insert) {
            out.push(c);
        }
    };
    let p = word.prefix.as_str();
    let matches = |name: &str, p: &str| {
        if word.quoted {
            name.starts_with(p)
        } else {
            matches_any_case(name, p)
        }
    };
    if let Some(q) = &word.qualifier {
        // `schema.` → its tables; `table.` → its columns.
        for t in &known.tables {
            if t.schema.as_deref() == Some(q.as_str()) && matches(&t.name, p) {
                push(Candidate {
                    shown: t.name.clone(),
                    insert: written(d, &t.name),
                    what: What::Table,
                });
            }
        }
        for (t, cols) in &known.columns {
            if t.name == *q {
                for c in cols.iter().filter(|c| matches(c, p)) {
                    push(Candidate {
                        shown: c.to_string(),
                        insert: written(d, c),
                        what: What::Column,
                    });
                }
            }
        }
        return out;
    }
    let table = |t: &TableRef| {
        let insert = match &t.schema {
            Some(s) if !known.default_schemas.iter().any(|x| x == s) => {
                format!("{}.{}", written(d, s), written(d, &t.name))
            }
            _ => written(d, &t.name),
        };
        Candidate {
            shown: match &t.schema {
                Some(s) => format!("{s}.{}", t.name),
                None => t.name.clone(),
            },
            insert,
            what: What::Table,
        }
    };
    if !word.wants_table {
        for (_, cols) in &known.columns {
            for c in cols.iter().filter(|c| matches(c, p)) {
                push(Candidate {
                    shown: c.to_string(),
                    insert: written(d, c),
                    what: What::Column,
                });
            }
        }
    }
    for t in known.tables.iter().filter(|t| matches(&t.name, p)) {
        let t: &TableRef = t;
        push(table(t));
    }
    let mut schemas: Vec<&str> = known
        .tables
        .iter()
        .filter_map(|t| t.schema.as_deref())
        .filter(|s| matches(s, p))
        .collect();
    schemas.sort_unstable();
    schemas.dedup();
    for s in schemas {
        push(Candidate {
            shown: format!("{s}."),
            insert: format!("{}.", written(d, s)),
            what: What::Schema,
        });
    }
    if !word.wants_table && !word.quoted && !p.is_empty() {
        let lower = p.chars().all(|c| !c.is_uppercase());
        for k in KEYWORDS.iter().filter(|k| matches(k, p)) {
            push(Candidate {
                shown: k.to_string(),
                insert: if lower {
                    k.to_ascii_lowercase()
                } else {
                    k.to_string()
                },
                what: What::Keyword,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::TableKind;

    fn t(schema: Option<&str>, name: &str) -> TableRef {
        TableRef {
            schema: schema.map(str::to_string),
            name: name.into(),
            kind: TableKind::Table,
            estimated_rows: None,
            system: false,
        }
    }

    #[test]
    fn plain_names_stay_and_others_are_quoted_per_dialect() {
        assert_eq!(written(Dialect::Ansi, "orders"), "orders");
        assert_eq!(written(Dialect::Ansi, "Orders"), "\"Orders\"");
        assert_eq!(written(Dialect::Ansi, "my table"), "\"my table\"");
        assert_eq!(written(Dialect::Ansi, "select"), "\"select\"");
        assert_eq!(written(Dialect::Ansi, "1st"), "\"1st\"");
        assert_eq!(written(Dialect::Backtick, "Orders"), "Orders");
        assert_eq!(written(Dialect::Backtick, "my `t`"), "`my ``t```");
        assert_eq!(written(Dialect::Bracket, "a]b"), "[a]]b]");
    }

    #[test]
    fn the_word_before_the_cursor_with_its_qualifier_and_context() {
        let w = word_at("SELECT * FROM sales.or", 22, Dialect::Ansi).unwrap();
        assert_eq!(w.prefix, "or");
        assert_eq!(w.start, 20);
        assert_eq!(w.qualifier.as_deref(), Some("sales"));
        assert!(w.wants_table);
        let w = word_at("SELECT * FROM \"my t", 19, Dialect::Ansi).unwrap();
        assert_eq!((w.start, w.prefix.as_str()), (14, "my t"));
        assert!(w.wants_table);
        let line = "SELECT \"My \"\"x\"\"\".na";
        let w = word_at(line, line.chars().count(), Dialect::Ansi).unwrap();
        assert_eq!(w.qualifier.as_deref(), Some("My \"x\""));
        assert_eq!(w.prefix, "na");
        let w = word_at("select id, na", 13, Dialect::Ansi).unwrap();
        assert!(!w.wants_table);
        assert!(word_at("SELECT ", 7, Dialect::Ansi).is_none());
        assert!(word_at("LIMIT 100", 9, Dialect::Ansi).is_none());
        assert!(word_at("SELECT 'ab", 10, Dialect::Ansi).is_none());
        let w = word_at("SELECT * FROM `my t", 19, Dialect::Backtick).unwrap();
        assert_eq!(w.prefix, "my t");
    }

    #[test]
    fn a_table_with_a_space_completes_quoted_and_qualified_outside_the_default_schema() {
        let tables = [t(Some("public"), "my table"), t(Some("sales"), "My Orders")];
        let known = Known {
            dialect: Dialect::Ansi,
            tables: tables.iter().collect(),
            columns: vec![(&tables[0], vec!["id", "Note"])],
            default_schemas: vec!["public".into()],
        };
        let w = word_at("SELECT * FROM my", 16, Dialect::Ansi).unwrap();
        let c = candidates(&w, &known);
        let inserts: Vec<&str> = c.iter().map(|c| c.insert.as_str()).collect();
        assert_eq!(inserts, vec!["\"my table\"", "sales.\"My Orders\""]);
        let w = word_at("select n", 8, Dialect::Ansi).unwrap();
        let c = candidates(&w, &known);
        assert_eq!(c[0].insert, "\"Note\"");
        assert_eq!(c[0].what, What::Column);
        assert!(c
            .iter()
            .any(|c| c.insert == "not" && c.what == What::Keyword));
        let w = word_at("SELECT x FROM sales.", 20, Dialect::Ansi).unwrap();
        let c = candidates(&w, &known);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].what, What::Table);
        let w = word_at("SELECT \"my table\".", 18, Dialect::Ansi).unwrap();
        let c = candidates(&w, &known);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[1].insert, "\"Note\"");
        // Inside a quote the case is the server's: "My matches, "my does not.
        let w = word_at("SELECT * FROM \"M", 16, Dialect::Ansi).unwrap();
        let c = candidates(&w, &known);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].insert, "sales.\"My Orders\"");
        let w = word_at("SELECT x FROM sales.m", 21, Dialect::Ansi).unwrap();
        let c = candidates(&w, &known);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].insert, "\"My Orders\"");
    }
}
