//! Quoting identifiers per dialect. The only place a table or column name
//! becomes SQL text: nothing else may paste a name into a statement.

use super::{Kind, TableRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `"name"`, `"` doubled (PostgreSQL, SQLite, Oracle).
    Ansi,
    /// `` `name` ``, `` ` `` doubled (MySQL/MariaDB).
    Backtick,
    /// `[name]`, `]` doubled (SQL Server).
    Bracket,
}

impl Dialect {
    /// The engine's quoting; ANSI for engines without SQL (never used to run SQL there).
    pub fn of(kind: Kind) -> Dialect {
        kind.engine().dialect.unwrap_or(Dialect::Ansi)
    }
}

/// Quotes one identifier. NUL characters cannot be part of an identifier in
/// any engine we support, so they are dropped rather than sent.
pub fn quote(dialect: Dialect, name: &str) -> String {
    let name = name.replace('\0', "");
    match dialect {
        Dialect::Ansi => format!("\"{}\"", name.replace('"', "\"\"")),
        Dialect::Backtick => format!("`{}`", name.replace('`', "``")),
        Dialect::Bracket => format!("[{}]", name.replace(']', "]]")),
    }
}

/// `"schema"."table"` (or just `"table"` without a schema).
pub fn qualified(dialect: Dialect, table: &TableRef) -> String {
    match &table.schema {
        Some(s) => format!("{}.{}", quote(dialect, s), quote(dialect, &table.name)),
        None => quote(dialect, &table.name),
    }
}

/// A string literal for engines where a parameter cannot be used (rare: e.g.
/// `SET` statements). Single quotes doubled; backslashes doubled for MySQL,
/// whose default sql_mode treats them as escapes.
pub fn literal(dialect: Dialect, value: &str) -> String {
    let mut v = value.replace('\0', "").replace('\'', "''");
    if dialect == Dialect::Backtick {
        v = v.replace('\\', "\\\\");
    }
    format!("'{v}'")
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
    fn hostile_names_are_quoted() {
        assert_eq!(quote(Dialect::Ansi, r#"quote"d"#), r#""quote""d""#);
        assert_eq!(quote(Dialect::Ansi, "semi;colon"), r#""semi;colon""#);
        assert_eq!(quote(Dialect::Backtick, "we`ird"), "`we``ird`");
        assert_eq!(quote(Dialect::Bracket, "a]b"), "[a]]b]");
        assert_eq!(quote(Dialect::Ansi, "ünïcödé"), "\"ünïcödé\"");
        assert_eq!(quote(Dialect::Ansi, "select"), "\"select\"");
    }

    #[test]
    fn qualified_names() {
        assert_eq!(
            qualified(Dialect::Ansi, &t(Some("sales"), "Weird Name")),
            r#""sales"."Weird Name""#
        );
        assert_eq!(qualified(Dialect::Backtick, &t(None, "x")), "`x`");
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal(Dialect::Ansi, "it's"), "'it''s'");
        assert_eq!(literal(Dialect::Backtick, r"a\'b"), r"'a\\''b'");
    }
}
