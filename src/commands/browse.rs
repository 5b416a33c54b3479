//! `tables`, `describe`, `preview`, `count`: the table browser's twins.
//! Sessions are read-only with the configured statement timeout; Ctrl-C
//! cancels (dropping the future cancels the server query too).
//!
//! JSON shapes:
//!
//! - `tables --json`: `[{ "schema": "public"|null, "name": "orders",
//!   "display_name": "public.orders", "kind": "table"|"view"|"materialized_view"|"foreign_table",
//!   "estimated_rows": 5000|null, "system": false }]`
//! - `describe --json`: `{ "table": <as above>, "estimated_rows": 5000|null,
//!   "columns": [{ "name", "data_type", "nullable", "default", "primary_key", "references" }] }`;
//!   a sampled structure (MongoDB) adds `"sampled": 1000` and per column
//!   `"presence": 0.75`, its `data_type` listing the observed BSON types with shares,
//!   `"indexes": ["_id_: {\"_id\":1}"]` when the engine lists them, and
//!   `"validator": {…}` (the collection's `$jsonSchema`) when one is set.
//! - `preview --json`: `{ "table": "public.orders", "columns": [{ "name", "type" }],
//!   "rows": [[1, "text", null, true, 1.5, "\\x0a0b"]] }` — exact text for
//!   numerics/timestamps/json, bytes as `\x` hex text, NULL as null.
//! - `preview --csv`: RFC 4180, a header row, NULL as an empty field, bytes as `\x` hex.
//! - `count --json`: `{ "table": "public.orders", "rows": 5000 }`.

use std::future::Future;
use std::io::IsTerminal;

use serde_json::json;

use super::table_arg::{find, Lookup};
use super::{
    colour_stdout, fulfil, paint, print_json, print_table, truncate, CliError, Ctx, Style,
};
use crate::connectors::{connector_for, Cell, ConnError, Connector, ErrorKind, TableRef};
use crate::display::{display_string, display_text};
use crate::profile::Profile;

/// Width a preview cell is cut to in the human grid.
const CELL_WIDTH: usize = 40;

/// Rows as the human grid shows them: escaped, cut to the column width,
/// NULL dimmed (the preview and `varlor query` share it).
pub fn human_cells(rows: &[Vec<Cell>], colour: bool) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Cell::Null => paint(colour, Style::Dim, "NULL"),
                    other => truncate(&display_text(&other.display_grid()), CELL_WIDTH),
                })
                .collect()
        })
        .collect()
}

const NO_TERMINAL: &str = "run on a terminal to be asked";

/// Unlocks and resolves the password of `name`, and builds its connector.
pub async fn open_connector(
    ctx: &Ctx,
    profile: &mut Profile,
    name: &str,
) -> Result<Box<dyn Connector>, CliError> {
    let opts = ctx.session_options(profile);
    open_connector_with(ctx, profile, name, opts).await
}

/// [`open_connector`] with session options of the caller's.
pub async fn open_connector_with(
    ctx: &Ctx,
    profile: &mut Profile,
    name: &str,
    opts: crate::connectors::SessionOptions,
) -> Result<Box<dyn Connector>, CliError> {
    let target = profile.get(name)?.spec.summary();
    let env = crate::ops::EnvUnlock::disabled();
    let (conn, password) = fulfil(ctx, profile, &target, NO_TERMINAL, None, |p, prompted| {
        Ok(crate::ops::prepare_connection(p, name, prompted, &env)?)
    })?;
    tracing::info!(connection = %name, kind = conn.spec.kind.id(), "browsing session");
    connector_for(&conn.spec, password, opts).map_err(|e| conn_err(ctx, e))
}

/// The short message and hint; the sanitized detail with -v.
pub fn conn_err(ctx: &Ctx, e: ConnError) -> CliError {
    let msg = if ctx.verbose && !e.detail.is_empty() {
        e.full()
    } else {
        e.headline()
    };
    CliError::failed(msg).hint(e.hint())
}

/// Runs a connector call; Ctrl-C cancels it.
async fn cancellable<T>(
    ctx: &Ctx,
    fut: impl Future<Output = Result<T, ConnError>>,
) -> Result<T, CliError> {
    let r = tokio::select! {
        r = fut => r,
        _ = tokio::signal::ctrl_c() => Err(ConnError::new(ErrorKind::Cancelled, "interrupted")),
    };
    r.map_err(|e| conn_err(ctx, e))
}

/// Runs a typed query's call; Ctrl-C cancels it (and the server stops it).
/// A refusal keeps its words: the detail is what a person must read.
pub(super) async fn cancellable_query<T>(
    ctx: &Ctx,
    fut: impl Future<Output = Result<T, ConnError>>,
) -> Result<T, CliError> {
    let r = tokio::select! {
        r = fut => r,
        _ = tokio::signal::ctrl_c() => Err(ConnError::new(ErrorKind::Cancelled, "interrupted")),
    };
    r.map_err(|e| {
        if e.detail.is_empty() || ctx.verbose {
            conn_err(ctx, e)
        } else {
            CliError::failed(format!("{}: {}", e.kind.message(), display_text(&e.detail)))
                .hint(e.hint())
        }
    })
}

async fn resolve_table(
    ctx: &Ctx,
    connector: &dyn Connector,
    name: &str,
    text: &str,
) -> Result<TableRef, CliError> {
    let tables = cancellable(ctx, connector.list_table_names()).await?;
    match find(&tables, text) {
        Lookup::Found(t) => Ok(t.clone()),
        Lookup::NotFound => Err(CliError::usage(format!(
            "table: no table or view '{text}' in '{name}'"
        ))
        .hint(format!("`varlor tables {name} --all` lists them; quote parts with dots or spaces: '\"schema\".\"Weird Name\"'"))),
        Lookup::Ambiguous(hits) => Err(CliError::usage(format!(
            "table: '{text}' is ambiguous: {}",
            hits.iter()
                .map(|t| t.display_name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("name the schema, e.g. schema.table")),
    }
}

fn table_json(t: &TableRef) -> serde_json::Value {
    json!({
        "schema": t.schema,
        "name": t.name,
        "display_name": t.display_name(),
        "kind": t.kind,
        "estimated_rows": t.estimated_rows,
        "system": t.system,
    })
}

fn rows_label(n: Option<i64>) -> String {
    match n {
        Some(n) if n >= 0 => format!("~{}", group_digits(n as u64)),
        _ => "?".into(),
    }
}

/// "1 row", "5,000 rows".
pub fn rows_text(n: u64) -> String {
    format!("{} row{}", group_digits(n), if n == 1 { "" } else { "s" })
}

pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub async fn tables(ctx: &Ctx, name: &str, json: bool, all: bool) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    let connector = open_connector(ctx, &mut profile, name).await?;
    let mut list = cancellable(ctx, connector.list_tables()).await?;
    list.retain(|t| all || !t.system);
    list.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    if json {
        return print_json(&serde_json::Value::Array(
            list.iter().map(table_json).collect(),
        ));
    }
    if list.is_empty() {
        println!("No tables.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            vec![
                display_string(t.schema.as_deref().unwrap_or_default()),
                display_string(&t.name),
                t.kind.label().to_string(),
                rows_label(t.estimated_rows),
            ]
        })
        .collect();
    print_table(
        &["SCHEMA", "NAME", "KIND", "EST. ROWS"],
        &rows,
        colour_stdout(),
    );
    Ok(())
}

pub async fn describe(
    ctx: &Ctx,
    name: &str,
    table: &str,
    json: bool,
    sample: Option<u32>,
) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    let mut opts = ctx.session_options(&profile);
    if let Some(n) = sample {
        opts.sample_size = n;
    }
    let connector = open_connector_with(ctx, &mut profile, name, opts).await?;
    let t = resolve_table(ctx, connector.as_ref(), name, table).await?;
    let info = cancellable(ctx, connector.describe(&t)).await?;
    let indexes = if info.indexes.is_empty() {
        cancellable(ctx, connector.indexes(&t)).await?
    } else {
        info.indexes.clone()
    };
    // No column at all is a problem to name (a broken view, missing
    // privileges), not an empty success.
    let problem = info
        .columns
        .is_empty()
        .then(|| info.table.kind.no_columns_reason());
    if json {
        let mut out = json!({
            "table": table_json(&info.table),
            "estimated_rows": info.estimated_rows,
            "columns": info.columns,
        });
        if let Some(p) = problem {
            out["problem"] = json!(p);
            print_json(&out)?;
            return Err(CliError::silent(super::EXIT_FAILED));
        }
        if let Some(n) = info.sampled {
            out["sampled"] = json!(n);
        }
        if !indexes.is_empty() {
            out["indexes"] = json!(indexes);
        }
        if let Some(v) = &info.validator {
            out["validator"] = v.clone();
        }
        return print_json(&out);
    }
    if let Some(sampled) = info.sampled {
        // A sampled structure: field paths, observed types, presence.
        println!(
            "{} ({}, {} rows; structure sampled from {} documents)",
            display_text(&info.table.display_name()),
            info.table.kind.label(),
            rows_label(info.estimated_rows),
            group_digits(sampled)
        );
        let rows: Vec<Vec<String>> = info
            .columns
            .iter()
            .map(|c| {
                vec![
                    display_string(&c.name),
                    display_string(&c.data_type),
                    c.presence_label(),
                    if c.primary_key { "PK" } else { "" }.to_string(),
                ]
            })
            .collect();
        print_table(
            &["FIELD", "TYPES", "PRESENT", "KEY"],
            &rows,
            colour_stdout(),
        );
        if !indexes.is_empty() {
            println!("\nindexes:");
            for i in &indexes {
                println!("  {}", display_text(i));
            }
        }
        if let Some(v) = &info.validator {
            println!("\nvalidator ($jsonSchema):");
            let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
            for l in text.lines() {
                println!("  {}", display_text(l));
            }
        }
        return Ok(());
    }
    println!(
        "{} ({}, {} rows)",
        display_text(&info.table.display_name()),
        info.table.kind.label(),
        rows_label(info.estimated_rows)
    );
    if let Some(p) = problem {
        return Err(CliError::failed(format!(
            "{}: {p}",
            display_text(&info.table.display_name())
        )));
    }
    // On a terminal, a long type name is cut to a third of its width.
    let type_w = terminal_width().map_or(usize::MAX, |w| (w / 3).max(12));
    let rows: Vec<Vec<String>> = info
        .columns
        .iter()
        .map(|c| {
            let mut key = Vec::new();
            if c.primary_key {
                key.push("PK".to_string());
            }
            if let Some(r) = &c.references {
                key.push(format!("→ {}", display_text(r)));
            }
            vec![
                display_string(&c.name),
                truncate(&display_text(&c.data_type), type_w),
                if c.nullable { "yes" } else { "no" }.to_string(),
                truncate(&display_text(c.default.as_deref().unwrap_or("")), 30),
                key.join(" "),
            ]
        })
        .collect();
    print_table(
        &["COLUMN", "TYPE", "NULL", "DEFAULT", "KEY"],
        &rows,
        colour_stdout(),
    );
    Ok(())
}

/// Columns of the terminal stdout writes to, if it is one.
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(w);
    }
    crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w))
}

pub async fn preview(
    ctx: &Ctx,
    name: &str,
    table: &str,
    limit: Option<usize>,
    json: bool,
    csv: bool,
) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    let limit = limit.unwrap_or(profile.config.preview_rows);
    if limit == 0 || limit > 10_000 {
        return Err(CliError::usage("limit: must be between 1 and 10000"));
    }
    let connector = open_connector(ctx, &mut profile, name).await?;
    let t = resolve_table(ctx, connector.as_ref(), name, table).await?;
    let rs = cancellable(ctx, connector.preview(&t, limit)).await?;
    if json {
        return print_json(&json!({
            "table": t.display_name(),
            "columns": rs.columns.iter().map(|c| json!({"name": c.name, "type": c.type_name})).collect::<Vec<_>>(),
            "rows": rs.rows.iter().map(|r| json_cells(&rs.columns, r)).collect::<Vec<_>>(),
        }));
    }
    if csv {
        let mut buf = Vec::new();
        let mut w = crate::dataset::CsvRows::new(&rs.columns, &mut buf);
        for row in &rs.rows {
            w.row(&mut buf, row);
        }
        write_csv(&buf)?;
        return Ok(());
    }
    let colour = colour_stdout();
    let header: Vec<&str> = rs.columns.iter().map(|c| c.name.as_str()).collect();
    print_table(&header, &human_cells(&rs.rows, colour), colour);
    println!(
        "{} row{} of {} ({} ms)",
        rs.rows.len(),
        if rs.rows.len() == 1 { "" } else { "s" },
        display_text(&t.display_name()),
        rs.elapsed.as_millis()
    );
    Ok(())
}

/// One row for `--json`: what a column's logical type says is a number is
/// a JSON number whenever that is exact (engines that send numbers as text,
/// like MySQL's text protocol); decimals stay exact strings.
pub fn json_cells(
    columns: &[crate::connectors::ColumnMeta],
    row: &[Cell],
) -> Vec<serde_json::Value> {
    use crate::connectors::Logical;
    row.iter()
        .enumerate()
        .map(|(i, cell)| {
            let logical = columns.get(i).map(|c| c.logical).unwrap_or_default();
            match (cell, logical) {
                (Cell::Text(t), Logical::Integer) => t
                    .parse::<i64>()
                    .map(serde_json::Value::from)
                    .or_else(|_| t.parse::<u64>().map(serde_json::Value::from))
                    .unwrap_or_else(|_| json!(t)),
                (Cell::Text(t), Logical::Real) => t
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or_else(|| json!(t)),
                (other, _) => json!(other),
            }
        })
        .collect()
}

/// CSV bytes to stdout: exact into a file or a pipe; on a terminal a person
/// reads it, so it is escaped like every other human output.
pub(super) fn write_csv(buf: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let r = if out.is_terminal() {
        let text = String::from_utf8_lossy(buf);
        let text = text.strip_suffix("\r\n").unwrap_or(&text);
        text.split("\r\n")
            .try_for_each(|record| writeln!(out, "{}", display_text(record)))
    } else {
        out.write_all(buf)
    };
    r.and_then(|_| out.flush())
        .map_err(|e| CliError::failed(format!("cannot write CSV: {e}")))
}

pub async fn count(ctx: &Ctx, name: &str, table: &str, json: bool) -> Result<(), CliError> {
    let mut profile = ctx.open()?;
    let connector = open_connector(ctx, &mut profile, name).await?;
    let t = resolve_table(ctx, connector.as_ref(), name, table).await?;
    let n = cancellable(ctx, connector.count_rows(&t)).await?;
    if json {
        return print_json(&json!({ "table": t.display_name(), "rows": n }));
    }
    println!("{} in {}", rows_text(n), display_text(&t.display_name()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1234567), "1,234,567");
    }

    #[test]
    fn preview_csv_keeps_null_and_empty_apart_and_bytes_whole() {
        use crate::connectors::ColumnMeta;
        let meta = |n: &str| ColumnMeta {
            name: n.into(),
            type_name: "text".into(),
            logical: Default::default(),
        };
        let mut buf = Vec::new();
        let mut w =
            crate::dataset::CsvRows::new(&[meta("a"), meta("b"), meta("c"), meta("d")], &mut buf);
        w.row(
            &mut buf,
            &[
                Cell::Null,
                Cell::Text(String::new()),
                Cell::Text("NULL".into()),
                Cell::Bytes(vec![0; 20]),
            ],
        );
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "a,b,c,d\r\n,\"\",NULL,AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"
        );
    }

    #[test]
    fn the_human_grid_tells_null_from_the_word() {
        let rows = human_cells(
            &[vec![
                Cell::Null,
                Cell::Text("NULL".into()),
                Cell::Text("null".into()),
            ]],
            false,
        );
        assert_eq!(rows[0], vec!["NULL", "'NULL'", "'null'"]);
        let big = human_cells(&[vec![Cell::Float(1e308), Cell::Float(-1.5e-300)]], false);
        assert_eq!(big[0], vec!["1e308", "-1.5e-300"]);
    }
}
