//! `y` / `Y` in a grid (the preview and the query results): the highlighted
//! cell, or its row tab-separated, onto the person's clipboard through the
//! terminal (OSC 52, written by the app loop between frames).

use super::*;
use crate::connectors::{Cell, ColumnMeta};

/// Largest value sent through the terminal (terminals drop longer OSC 52).
const COPY_LIMIT: usize = 100_000;

/// The text to copy and what it is ("name, row 3"), or `None` when nothing
/// is highlighted.
pub(super) fn cells(
    columns: &[ColumnMeta],
    rows: &[Vec<Cell>],
    row: usize,
    col: usize,
    row_too: bool,
) -> Option<(String, String)> {
    let cells = rows.get(row)?;
    if row_too {
        let text: Vec<String> = cells.iter().map(|c| tsv_field(&copy_text(c))).collect();
        return Some((text.join("\t"), format!("row {}", row + 1)));
    }
    let (column, cell) = (columns.get(col)?, cells.get(col)?);
    Some((copy_text(cell), format!("{}, row {}", column.name, row + 1)))
}

/// Puts `copied` on the clipboard (or says why not) in the status bar.
pub(super) fn to_clipboard(state: &mut State, copied: Option<(String, String)>) {
    let Some((text, what)) = copied else { return };
    if text.len() > COPY_LIMIT {
        set_status(
            state,
            StatusKind::Error,
            format!(
                "Not copied: {} bytes is more than a terminal takes ({COPY_LIMIT}); use varlor preview --csv",
                text.len()
            ),
        );
        return;
    }
    let n = text.len();
    state.clipboard = Some(text);
    set_status(
        state,
        StatusKind::Info,
        format!("Copied {n} bytes ({what}) to your clipboard through the terminal (OSC 52)"),
    );
}

/// A cell's value as copied: the raw text (NULL empty, bytes in hex).
fn copy_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(t) => t.clone(),
        Cell::Json(v) => v.to_string(),
        Cell::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("\\x{hex}")
        }
        other => other.display(),
    }
}

/// One field of a tab-separated row: quoted (quotes doubled) when it holds a
/// tab, a quote or a line break, as spreadsheets read it.
fn tsv_field(s: &str) -> String {
    if s.contains(['\t', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
