//! `varlor audit [--since DURATION|DATE] [--prune DAYS] [--json]`.
//!
//! `--json` prints an array of entries, oldest first as stored:
//!
//! ```json
//! { "id": 7, "at": 1763940000, "actor": "alice", "action": "test",
//!   "target": "prod-db", "outcome": "Invalid credentials", "detail": "…" }
//! ```
//!
//! `--prune DAYS` deletes entries older than DAYS and prints
//! `{ "pruned": N }` with `--json`.

use serde_json::json;

use super::{
    colour_stdout, format_time, now_unix, print_json, print_table, truncate, CliError, Ctx,
};
use crate::display::{display_string, display_text};

pub fn run(ctx: &Ctx, since: Option<&str>, prune: Option<u32>, json: bool) -> Result<(), CliError> {
    let since = since.map(|s| parse_since(s, now_unix())).transpose()?;
    let mut profile = ctx.open()?;
    if let Some(days) = prune {
        if since.is_some() {
            return Err(CliError::usage(
                "prune: --prune cannot be combined with --since",
            ));
        }
        let n = profile
            .prune_audit(days)
            .map_err(|e| CliError::failed(e.to_string()))?;
        tracing::info!(days, pruned = n, "audit log pruned");
        if json {
            return print_json(&json!({ "pruned": n }));
        }
        println!(
            "Pruned {n} audit entr{} older than {days} days.",
            if n == 1 { "y" } else { "ies" }
        );
        return Ok(());
    }
    let entries = profile
        .catalog()
        .audit_list(since)
        .map_err(|e| CliError::failed(e.to_string()))?;
    if json {
        return print_json(
            &serde_json::to_value(&entries)
                .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?,
        );
    }
    if entries.is_empty() {
        println!("No audit entries.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                format_time(e.at),
                display_string(&e.actor),
                display_string(&e.action),
                truncate(&display_text(&e.target), 32),
                truncate(&display_text(&e.outcome), 32),
                truncate(&display_text(&e.detail), 60),
            ]
        })
        .collect();
    print_table(
        &["WHEN", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL"],
        &rows,
        colour_stdout(),
    );
    Ok(())
}

/// `30s`, `15m`, `24h`, `7d`, `2w` (ago from `now`), or a UTC date
/// `2026-11-01` / `2026-11-01T12:30[:00]` → Unix seconds.
pub fn parse_since(text: &str, now: i64) -> Result<i64, CliError> {
    let t = text.trim();
    let bad = || {
        CliError::usage(format!(
            "since: '{t}' is neither a duration (30m, 24h, 7d, 2w) nor a date (2026-11-01)"
        ))
    };
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let n: i64 = t[..t.len() - 1].trim().parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        return n
            .checked_mul(secs)
            .filter(|d| *d >= 0)
            .map(|d| now - d)
            .ok_or_else(bad);
    }
    let (date, clock) = match t.split_once(['T', ' ']) {
        Some((d, c)) => (d, Some(c.trim_end_matches('Z'))),
        None => (t, None),
    };
    let nums: Vec<&str> = date.split('-').collect();
    let [y, m, d] = nums.as_slice() else {
        return Err(bad());
    };
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let (mut hh, mut mm, mut ss) = (0u8, 0u8, 0u8);
    if let Some(c) = clock {
        let parts: Vec<&str> = c.split(':').collect();
        let get = |i: usize| -> Result<u8, CliError> {
            parts
                .get(i)
                .map(|p| p.parse::<u8>().map_err(|_| bad()))
                .unwrap_or(Ok(0))
        };
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad());
        }
        (hh, mm, ss) = (get(0)?, get(1)?, get(2)?);
    }
    let time = time::Time::from_hms(hh, mm, ss).map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        let now = 1_000_000;
        assert_eq!(parse_since("30m", now).unwrap(), now - 1800);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_since("1970-01-02", now).unwrap(), 86_400);
        assert_eq!(parse_since("1970-01-01T01:00", now).unwrap(), 3600);
        for bad in ["x", "3y", "2026-13-01", "-5d", "2026-01"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(e.message.starts_with("since:"), "{bad}: {}", e.message);
        }
    }
}
