//! Quoting identifiers per dialect. The only place a table or column name
//! becomes SQL text.
