//! How many server sessions an open connection holds (connectors/lanes.rs):
//! two while the TUI browses (structure, rows), one for a CLI command, none
//! once it is closed. Counted from this process's own sockets and files in
//! /proc, so the one test of this binary is alone to own them.

mod common;

use std::path::Path;
use std::time::Duration;

use varlor::connectors::{connector_for, ConnSpec, Connector, Kind, SessionOptions, TableKind};

/// Inodes of this process's open sockets.
fn socket_inodes() -> std::collections::HashSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect()
}

/// This process's established TCP connections to `port`.
fn connections_to(port: u16) -> usize {
    let mine = socket_inodes();
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .filter(|c| {
            let remote = c[2].rsplit(':').next().unwrap_or("");
            u16::from_str_radix(remote, 16) == Ok(port) && c[3] == "01" && mine.contains(&c[9])
        })
        .count()
}

/// This process's open descriptors of `path`.
fn handles_of(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == path))
        .count()
}

/// Browses as the TUI does (listing, structure, preview, count, structure
/// again) and returns what `held` counts while it is open and after it is
/// dropped.
async fn browse(c: Box<dyn Connector>, held: impl Fn() -> usize) -> (usize, usize) {
    let tables = c.list_tables().await.unwrap();
    let t = tables
        .iter()
        .find(|t| !t.system && t.kind == TableKind::Table)
        .expect("a table")
        .clone();
    c.describe(&t).await.unwrap();
    c.preview(&t, 10).await.unwrap();
    c.count_rows(&t).await.unwrap();
    c.describe(&t).await.unwrap();
    let open = held();
    drop(c);
    // Closing is the drivers' (a spawned close on some): give it a moment.
    let mut after = held();
    for _ in 0..40 {
        if after == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = held();
    }
    (open, after)
}

fn opts(two_sessions: bool) -> SessionOptions {
    SessionOptions {
        two_sessions,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_while_browsing_one_for_the_cli_none_after_closing() {
    for (env, kind) in [
        (common::pg(), Kind::Postgres),
        (common::mysql(), Kind::Mysql),
    ] {
        let Some(env) = env else { continue };
        for (two, want) in [(true, 2), (false, 1)] {
            let c = connector_for(&env.spec(kind), Some(env.secret()), opts(two)).unwrap();
            let got = browse(c, || connections_to(env.port)).await;
            assert_eq!(got, (want, 0), "{kind}, two sessions: {two}");
        }
    }
    // SQLite: read-only handles on the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    let path = path.canonicalize().unwrap();
    let mut spec = ConnSpec::new(Kind::Sqlite);
    spec.database = path.display().to_string();
    for (two, want) in [(true, 2), (false, 1)] {
        let c = connector_for(&spec, None, opts(two)).unwrap();
        let got = browse(c, || handles_of(&path)).await;
        assert_eq!(got, (want, 0), "SQLite, two sessions: {two}");
    }
}
