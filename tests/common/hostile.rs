//! Terminal-hostile text (issue 10): a SQLite table whose name and column
//! name carry escape sequences, and whose cells carry every class of
//! character that could drive a terminal. The same rows are in
//! tests/fixtures/postgres.sql and tests/fixtures/mysql.sql.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};

/// "evil" + OSC set-title.
pub const TABLE: &str = "evil\x1b]0;pwned\x07";
/// "col" + CSI clear screen.
pub const COLUMN: &str = "col\x1b[2J";
/// The text cells, ids 1..=5.
pub const VALUES: [&str; 5] = [
    "title \x1b]0;pwned\x07 set",
    "clear \x1b[2J screen",
    "leave \x1b[?1049l alt",
    "bell \x07 tab \t cr \r lf \n end",
    "c1 \u{9b}2J bidi \u{202e}gnp.exe",
];

/// Creates (or fills) `file` with the hostile table; returns its path.
pub fn sqlite_file(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.db");
    add_to_sqlite(&path);
    path
}

/// Adds the hostile table to the SQLite database at `path`.
pub fn add_to_sqlite(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    conn.execute_batch(&format!(
        "CREATE TABLE {} (id INTEGER PRIMARY KEY, {} TEXT);",
        q(TABLE),
        q(COLUMN)
    ))
    .expect("create");
    for (i, v) in VALUES.iter().enumerate() {
        conn.execute(
            &format!("INSERT INTO {} VALUES (?1, ?2)", q(TABLE)),
            rusqlite::params![i as i64 + 1, v],
        )
        .expect("insert");
    }
}

/// Characters that must never reach a terminal from outside text.
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// Panics (naming the place) when `text` carries a hostile character.
pub fn assert_clean(what: &str, text: &str, allow_newline: bool) {
    for c in text.chars() {
        if allow_newline && c == '\n' {
            continue;
        }
        assert!(
            !is_hostile(c),
            "{what}: raw {c:?} reached the output: {text:?}"
        );
    }
}
