//! A long `varlor import` stopped by SIGTERM or SIGHUP (a closed terminal)
//! cancels cleanly: exit 1, nothing under the final name, no temporary file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_varlor");

/// A SQLite file big enough that importing it takes well over the delay below.
fn big_sqlite(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE big(id INTEGER PRIMARY KEY, payload TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)
         INSERT INTO big SELECT i, printf('row %d with some text to copy', i) FROM n;",
    )
    .unwrap();
}

fn stop_mid_import(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let db = dir.path().join("big.sqlite");
    big_sqlite(&db);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("VARLOR_HOME", &home)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let url = format!("sqlite://{}", db.display());
    assert!(run(&["add", "big", "--url", &url]).status.success());

    let dest = out_dir.join("big.sqlite");
    let mut child = Command::new(BIN)
        .args(["import", "big", "big", "--to"])
        .arg(&dest)
        .env("VARLOR_HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the import has started writing its temporary file.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&out_dir).unwrap().next().is_none() {
        assert!(
            Instant::now() < deadline,
            "the import never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a stopped import exits 1");
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn sigterm_cancels_and_leaves_no_file() {
    stop_mid_import(libc::SIGTERM);
}

#[test]
fn sighup_cancels_and_leaves_no_file() {
    stop_mid_import(libc::SIGHUP);
}
