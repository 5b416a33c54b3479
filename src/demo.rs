//! The built-in SQLite demo database (assets/demo.sql).
//!
//! A small shop schema (customers, products, orders, order_items, a table
//! whose name needs quoting, two views), a few thousand generated rows, built
//! once into `<data dir>/demo.sqlite` so Varlor is useful with no server.

use std::path::{Path, PathBuf};

use crate::connectors::{ConnSpec, Environment, Kind, PasswordSource};
use crate::store::NewConnection;

/// The schema and data, as SQL.
pub const DEMO_SQL: &str = include_str!("../assets/demo.sql");

/// File name under the data directory.
pub const FILE_NAME: &str = "demo.sqlite";

/// Name of the connection created on first run.
pub const CONNECTION_NAME: &str = "demo";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write the demo database: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot build the demo database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Where the demo database lives.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Writes `<data_dir>/demo.sqlite` unless it exists; returns its path.
/// Built under a temp name and renamed, so a crash never leaves half a demo.
pub fn ensure(data_dir: &Path) -> Result<PathBuf, DemoError> {
    let target = path(data_dir);
    if target.is_file() {
        return Ok(target);
    }
    let tmp = tempfile::Builder::new()
        .prefix(".demo-")
        .suffix(".sqlite")
        .tempfile_in(data_dir)?;
    build(tmp.path())?;
    tmp.as_file().sync_all()?;
    match tmp.persist_noclobber(&target) {
        Ok(_) => Ok(target),
        // Another process built it at the same moment: theirs is as good.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(target),
        Err(e) => Err(e.error.into()),
    }
}

/// Builds the demo schema and rows into the (empty) SQLite file at `path`.
pub fn build(path: &Path) -> Result<(), rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    // A scratch file renamed into place only when complete: no journal needed.
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    conn.execute_batch(&format!("BEGIN;\n{DEMO_SQL}\nCOMMIT;"))?;
    conn.close().map_err(|(_, e)| e)
}

/// The `demo` connection: SQLite, development, no password.
pub fn connection(db: &Path) -> NewConnection {
    let mut spec = ConnSpec::new(Kind::Sqlite);
    spec.database = db.to_string_lossy().into_owned();
    NewConnection {
        name: CONNECTION_NAME.into(),
        spec,
        environment: Environment::Development,
        password_source: PasswordSource::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_related_tables_views_and_a_quoted_name() {
        let tmp = tempfile::tempdir().unwrap();
        let p = ensure(tmp.path()).unwrap();
        let c = rusqlite::Connection::open(&p).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT COUNT(*) FROM customers"), 500);
        assert_eq!(count("SELECT COUNT(*) FROM orders"), 2000);
        let total = count(
            "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM products) + \
             (SELECT COUNT(*) FROM orders) + (SELECT COUNT(*) FROM order_items) + \
             (SELECT COUNT(*) FROM \"Order Notes ✓\")",
        );
        assert!((2000..20000).contains(&total), "{total} rows");
        assert!(count("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'view'") >= 1);
        assert_eq!(count("SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
        assert!(count("SELECT COUNT(*) FROM customers WHERE phone IS NULL") > 0);
        assert!(count("SELECT COUNT(*) FROM products WHERE typeof(thumbnail) = 'blob'") > 0);
        assert!(count("SELECT COUNT(*) FROM products WHERE typeof(price) = 'real'") > 0);
        assert!(count("SELECT COUNT(*) FROM order_totals") > 0);
        // No leftover temp tables or scratch files.
        let files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn ensure_keeps_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = ensure(tmp.path()).unwrap();
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute("DELETE FROM \"Order Notes ✓\"", []).unwrap();
        drop(c);
        ensure(tmp.path()).unwrap();
        let c = rusqlite::Connection::open(&p).unwrap();
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM \"Order Notes ✓\"", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
