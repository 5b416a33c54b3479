//! `varlor import NAME TABLE… --to PATH [--format sqlite|csv|jsonl] [--limit N] [--json]`.
//!
//! The flag surface is final; the streaming engine (src/dataset) is wired in
//! when it lands. Until then the command validates its input (exit 2 on bad
//! input, as everywhere) and answers "not available yet" (exit 1).

use super::{CliError, Ctx};
use crate::cli::ImportArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sqlite,
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" | "db" => Some(Format::Sqlite),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json-lines" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result<(), CliError> {
    let _format = Format::parse(&a.format).ok_or_else(|| {
        CliError::usage(format!(
            "format: unknown format '{}' (expected sqlite, csv or jsonl)",
            a.format
        ))
    })?;
    if a.limit == Some(0) {
        return Err(CliError::usage("limit: must be at least 1"));
    }
    if a.tables.iter().any(|t| t.trim().is_empty()) {
        return Err(CliError::usage("table: a table name is empty"));
    }
    let profile = ctx.open()?;
    profile.get(&a.name)?;
    Err(
        CliError::failed("import is not available in this build yet")
            .hint("`varlor preview NAME TABLE --csv --limit N` exports small tables meanwhile"),
    )
}
