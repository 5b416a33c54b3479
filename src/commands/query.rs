//! `varlor query NAME "SQL"`: the query pane's twin. One statement, run so
//! that it cannot write (see `Connector::query`); rows are fetched a page at
//! a time and written as they come. Ctrl-C cancels (the server stops too).
//!
//! - human: the table printer, at most `--limit` rows (default one page,
//!   500), then "N rows (complete|more rows: raise --limit)".
//! - `--csv`: RFC 4180 with a header row, NULL as an empty field, every row
//!   unless `--limit`.
//! - `--json`: `{ "columns": [{ "name", "type" }], "rows": [[…]], "complete": true }`,
//!   every row unless `--limit` (then `complete` says whether more were left).

use std::io::{Read, Write};
use std::time::Instant;

use super::browse::{cancellable_query, human_cells, open_connector, rows_text};
use super::{colour_stdout, print_table, CliError, Ctx};
use crate::connectors::{Cell, DEFAULT_PAGE_ROWS};

/// The SQL argument, or stdin for `-`.
fn sql_text(arg: &str) -> Result<String, CliError> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::usage(format!("SQL: cannot read stdin: {e}")))?;
    Ok(s)
}

pub async fn run(
    ctx: &Ctx,
    name: &str,
    sql: &str,
    limit: Option<usize>,
    json: bool,
    csv: bool,
) -> Result<(), CliError> {
    let sql = sql_text(sql)?;
    if sql.trim().trim_matches(';').trim().is_empty() {
        return Err(CliError::usage("SQL: nothing to run"));
    }
    if limit == Some(0) {
        return Err(CliError::usage("limit: must be at least 1"));
    }
    let mut profile = ctx.open()?;
    let connector = open_connector(ctx, &mut profile, name).await?;
    // The pane's Ctrl-P finds it too (its text only; a failure costs nothing).
    if let Err(e) = profile.record_query(name, sql.trim()) {
        tracing::warn!(error = %e, "could not record the query in the history");
    }
    let started = Instant::now();
    let mut cursor = cancellable_query(ctx, connector.query(&sql)).await?;
    // Human output is a grid, measured before printing: one page by default.
    let cap = match (limit, json || csv) {
        (Some(n), _) => Some(n),
        (None, false) => Some(DEFAULT_PAGE_ROWS),
        (None, true) => None,
    };
    let columns = cursor.columns().to_vec();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // CSV as an import writes it, a page at a time; `out` only carries JSON.
    let mut csv_buf = Vec::new();
    let mut csv_w = csv.then(|| crate::dataset::CsvRows::new(&columns, &mut csv_buf));
    let fail = |e: std::io::Error| CliError::failed(format!("cannot write: {e}"));
    if json {
        let cols: Vec<_> = columns
            .iter()
            .map(|c| serde_json::json!({"name": c.name, "type": c.type_name}))
            .collect();
        write!(
            out,
            "{{\"columns\":{},\"rows\":[",
            serde_json::Value::Array(cols)
        )
        .map_err(fail)?;
    }
    let mut human: Vec<Vec<Cell>> = Vec::new();
    let mut n = 0usize;
    let complete = loop {
        let want = match cap {
            Some(c) => (c - n).min(DEFAULT_PAGE_ROWS),
            None => DEFAULT_PAGE_ROWS,
        };
        if want == 0 {
            // Exactly at the cap: whether more remain decides "complete".
            let more = cancellable_query(ctx, cursor.next_page(1)).await?;
            break more.is_empty();
        }
        let page = cancellable_query(ctx, cursor.next_page(want)).await?;
        let got = page.len();
        for row in page {
            if json {
                if n > 0 {
                    out.write_all(b",").map_err(fail)?;
                }
                serde_json::to_writer(&mut out, &super::browse::json_cells(&columns, &row))
                    .map_err(|e| CliError::failed(format!("cannot write JSON: {e}")))?;
            } else if let Some(w) = csv_w.as_mut() {
                w.row(&mut csv_buf, &row);
            } else {
                human.push(row);
            }
            n += 1;
        }
        if csv {
            super::browse::write_csv(&csv_buf)?;
            csv_buf.clear();
        }
        if got < want {
            break true;
        }
    };
    if json {
        writeln!(out, "],\"complete\":{complete}}}").map_err(fail)?;
    }
    if csv {
        super::browse::write_csv(&csv_buf)?;
    }
    out.flush().map_err(fail)?;
    drop(out);
    drop(cursor);
    if json || csv {
        return Ok(());
    }
    let colour = colour_stdout();
    let header: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let rows = human_cells(&human, colour);
    if !columns.is_empty() {
        print_table(&header, &rows, colour);
    }
    let tail = if complete {
        String::new()
    } else {
        " — more rows: raise --limit, or use --csv / --json for all".to_string()
    };
    println!(
        "{}{} ({} ms)",
        rows_text(n as u64),
        tail,
        started.elapsed().as_millis()
    );
    Ok(())
}
