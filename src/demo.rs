//! The built-in SQLite demo database (assets/demo.sql).
