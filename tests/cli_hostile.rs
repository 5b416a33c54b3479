//! Terminal-hostile data through the command line (issue 10): a SQLite file
//! (in a directory whose name carries an escape sequence) with a table whose
//! name, column and cells carry ESC/OSC/CSI sequences, C0 and C1 controls and
//! a bidi override (tests/common/hostile.rs). Human output must hold none of
//! them raw; `--json` and CSV into a pipe or a file keep the exact bytes.
//! PostgreSQL and MariaDB carry the same table (tests/fixtures/*.sql).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::hostile::{assert_clean, COLUMN, TABLE, VALUES};
use serde_json::Value;

struct Home {
    dir: tempfile::TempDir,
    home: PathBuf,
    pass_file: PathBuf,
}

fn bin() -> PathBuf {
    std::env::var_os("VARLOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_varlor")))
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).expect("mkdir home");
        let pass_file = dir.path().join("passphrase");
        std::fs::write(&pass_file, "correct horse battery staple\n").expect("write passphrase");
        Home {
            dir,
            home,
            pass_file,
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(bin());
        c.args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_PASSPHRASE_FILE", &self.pass_file)
            .env("NO_COLOR", "1")
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env_remove("VARLOR_PROFILE")
            .env_remove("VARLOR_LOG")
            .stdin(std::process::Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run varlor")
    }

    /// Runs under `script` so stdin, stdout and stderr are a terminal; the
    /// pty's own CR before each LF is removed from what is returned.
    fn run_pty(&self, args: &[&str]) -> Option<String> {
        if std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_err()
        {
            common::skip("`script` (util-linux) is not installed: pty checks not run");
            return None;
        }
        let quoted: Vec<String> = std::iter::once(bin().display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut c = std::process::Command::new("script");
        c.args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_PASSPHRASE_FILE", &self.pass_file)
            .env("NO_COLOR", "1")
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env_remove("VARLOR_PROFILE")
            .env_remove("VARLOR_LOG")
            .stdin(std::process::Stdio::null());
        let o = c.output().expect("run script");
        let text = String::from_utf8(o.stdout).expect("UTF-8 output");
        assert!(o.status.success(), "{args:?} on a pty failed:\n{text}");
        Some(text.replace("\r\n", "\n"))
    }
}

fn ok(o: &Output) -> (String, String) {
    let out = String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout");
    let err = String::from_utf8(o.stderr.clone()).expect("UTF-8 stderr");
    assert!(o.status.success(), "exit {:?}\n{out}\n{err}", o.status);
    (out, err)
}

/// A home with connection `h` to the hostile SQLite file, itself in a
/// directory whose name sets the terminal title.
fn setup() -> (Home, PathBuf) {
    let h = Home::new();
    let dir = h.dir.path().join("dir\x1b]0;pwned\x07");
    std::fs::create_dir(&dir).expect("mkdir");
    let file = common::hostile::sqlite_file(&dir);
    let (out, err) = ok(&h.run(&[
        "add",
        "h",
        "--kind",
        "sqlite",
        "--database",
        file.to_str().unwrap(),
    ]));
    assert_clean("add", &out, true);
    assert_clean("add", &err, true);
    assert!(out.contains("dir␛]0;pwned␇"), "{out}");
    (h, file)
}

#[test]
fn human_output_escapes_every_control_character() {
    let (h, _) = setup();
    for args in [
        vec!["list"],
        vec!["test", "h"],
        vec!["tables", "h"],
        vec!["describe", "h", TABLE],
        vec!["preview", "h", TABLE],
        vec!["count", "h", TABLE],
    ] {
        let (out, err) = ok(&h.run(&args));
        assert_clean(&format!("{args:?} stdout"), &out, true);
        assert_clean(&format!("{args:?} stderr"), &err, true);
        if args[0] != "list" && args[0] != "test" {
            assert!(out.contains("evil␛]0;pwned␇"), "{args:?}:\n{out}");
        }
    }
    let (out, _) = ok(&h.run(&["describe", "h", TABLE]));
    assert!(out.contains("col␛[2J"), "{out}");
    let (out, _) = ok(&h.run(&["preview", "h", TABLE]));
    assert!(out.contains("col␛[2J"), "{out}");
    for shown in [
        "title ␛]0;pwned␇ set",
        "clear ␛[2J screen",
        "leave ␛[?1049l alt",
        "bell ␇ tab \\t cr ␍ lf ↵ end",
        "c1 \\u{9b}2J bidi \\u{202e}gnp.exe",
    ] {
        assert!(out.contains(shown), "{shown:?} in\n{out}");
    }
    // The grid is aligned on what is shown: every row line has the second
    // column starting at the same display column.
    let lines: Vec<&str> = out.lines().take(1 + VALUES.len()).collect();
    let starts: Vec<usize> = lines
        .iter()
        .map(|l| {
            use unicode_width::UnicodeWidthStr;
            let cut = l.find(['c', 't', 'l', 'b']).unwrap();
            l[..cut].width()
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{starts:?}\n{out}");
    let (out, _) = ok(&h.run(&["count", "h", TABLE]));
    assert!(out.starts_with("5 rows in evil␛]0;pwned␇"), "{out}");
}

#[test]
fn errors_and_verbose_details_are_escaped() {
    let (h, _) = setup();
    let o = h.run(&["describe", "h", "nope\x1b[2J\u{9b}"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_clean("not found", &err, true);
    assert!(err.contains("nope␛[2J\\u{9b}"), "{err}");

    // A server error naming a hostile column, shown with -v.
    let filter = format!("{TABLE}=\"nope\".\"zz\x1b]0;pwned\x07\" = 1");
    let out_dir = h.dir.path().join("out");
    let o = h.run(&[
        "-v",
        "import",
        "h",
        TABLE,
        "--format",
        "csv",
        "--to",
        out_dir.to_str().unwrap(),
        "--where",
        &filter,
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap()
    );
    assert!(!o.status.success(), "{all}");
    assert_clean("import -v", &all, true);
    assert!(all.contains("zz␛]0;pwned␇"), "the detail is shown:\n{all}");
}

#[test]
fn json_keeps_the_exact_bytes() {
    let (h, _) = setup();
    let (out, _) = ok(&h.run(&["preview", "h", TABLE, "--json"]));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["table"], TABLE);
    assert_eq!(j["columns"][1]["name"], COLUMN);
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), VALUES.len());
    for (r, v) in rows.iter().zip(VALUES) {
        assert_eq!(r[1], v);
    }
    let (out, _) = ok(&h.run(&["tables", "h", "--json"]));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert!(
        j.as_array().unwrap().iter().any(|t| t["name"] == TABLE),
        "{j}"
    );
    let (out, _) = ok(&h.run(&["describe", "h", TABLE, "--json"]));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["columns"][1]["name"], COLUMN);
    let (out, _) = ok(&h.run(&["count", "h", TABLE, "--json"]));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["table"], TABLE);
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

#[test]
fn csv_is_exact_into_a_pipe_and_escaped_on_a_terminal() {
    let (h, _) = setup();
    // A pipe: the exact bytes, header included.
    let (out, _) = ok(&h.run(&["preview", "h", TABLE, "--csv"]));
    let recs = read_csv(out.as_bytes());
    assert_eq!(recs[0], vec!["id".to_string(), COLUMN.to_string()]);
    for (r, v) in recs[1..].iter().zip(VALUES) {
        assert_eq!(r[1], v);
    }
    assert_eq!(recs.len(), 1 + VALUES.len());

    // A terminal: escaped like every other human output, still one line a row.
    let Some(tty) = h.run_pty(&["preview", "h", TABLE, "--csv"]) else {
        return;
    };
    assert_clean("csv on a tty", &tty, true);
    assert_eq!(tty.lines().count(), 1 + VALUES.len(), "{tty}");
    assert!(tty.contains("col␛[2J"), "{tty}");
    assert!(tty.contains("bell ␇ tab \\t cr ␍ lf ↵ end"), "{tty}");

    // Human tables on a terminal too (colour off by NO_COLOR).
    for args in [
        vec!["tables", "h"],
        vec!["describe", "h", TABLE],
        vec!["preview", "h", TABLE],
        vec!["count", "h", TABLE],
        vec!["list"],
    ] {
        let tty = h.run_pty(&args).unwrap();
        assert_clean(&format!("{args:?} on a tty"), &tty, true);
    }
}

/// The import's own progress line starts with `\r` ESC `[K` (clear the line);
/// that is ours and is removed before checking the rest.
fn strip_progress_codes(s: &str) -> String {
    s.replace("\r\x1b[K", "\n")
}

#[test]
fn import_lines_are_escaped_and_the_files_exact() {
    let (h, _) = setup();
    let dest = h.dir.path().join("csv\x1b[2J-out");
    let (out, err) = ok(&h.run(&[
        "import",
        "h",
        TABLE,
        "--format",
        "csv",
        "--to",
        dest.to_str().unwrap(),
    ]));
    assert_clean("import stdout", &out, true);
    assert_clean("import stderr", &err, true);
    assert!(out.contains("evil␛]0;pwned␇"), "{out}");
    assert!(out.contains("csv␛[2J-out"), "{out}");
    let csv_file = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("a CSV file");
    let recs = read_csv(&std::fs::read(&csv_file).unwrap());
    assert_eq!(recs[0][1], COLUMN);
    for (r, v) in recs[1..].iter().zip(VALUES) {
        assert_eq!(r[1], v, "dataset keeps the exact bytes");
    }

    // On a terminal, with the progress line.
    let dest2 = h.dir.path().join("second");
    let Some(tty) = h.run_pty(&[
        "import",
        "h",
        TABLE,
        "--format",
        "sqlite",
        "--to",
        dest2.to_str().unwrap(),
    ]) else {
        return;
    };
    assert_clean("import on a tty", &strip_progress_codes(&tty), true);
    let db = rusqlite::Connection::open(&dest2).unwrap();
    let got: Vec<String> = db
        .prepare(&format!(
            "SELECT \"{}\" FROM \"{}\" ORDER BY id",
            COLUMN, TABLE
        ))
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|e| panic!("{e}: tables {:?}", tables_of(&dest2)));
    assert_eq!(got, VALUES);
}

fn tables_of(path: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut st = db.prepare("SELECT name FROM sqlite_master").unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The same table on a real server: human output escaped, JSON exact.
fn server_case(kind: &str, s: &common::ServerEnv, table: &str) {
    let h = Home::new();
    let args = common::add_server_args("srv", kind, s, &s.db);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = h
        .cmd(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{}\n", s.password).as_bytes())?;
            c.wait_with_output()
        })
        .expect("run varlor add");
    ok(&o);
    for args in [
        vec!["tables", "srv"],
        vec!["describe", "srv", table],
        vec!["preview", "srv", table],
        vec!["count", "srv", table],
    ] {
        let (out, err) = ok(&h.run(&args));
        assert_clean(&format!("{kind} {args:?}"), &out, true);
        assert_clean(&format!("{kind} {args:?}"), &err, true);
        assert!(out.contains("evil␛]0;pwned␇"), "{kind} {args:?}:\n{out}");
    }
    let (out, _) = ok(&h.run(&["preview", "srv", table, "--json"]));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["columns"][1]["name"], COLUMN);
    let mut rows = j["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| {
        r[0].to_string()
            .trim_matches('"')
            .parse::<i64>()
            .unwrap_or(0)
    });
    let got: Vec<&str> = rows.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(got, VALUES);
    let (out, _) = ok(&h.run(&["preview", "srv", table, "--csv"]));
    let recs = read_csv(out.as_bytes());
    assert_eq!(recs[0][1], COLUMN);
    let mut got: Vec<&Vec<String>> = recs[1..].iter().collect();
    got.sort_by_key(|r| r[0].parse::<i64>().unwrap_or(0));
    let got: Vec<&str> = got.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(got, VALUES);
}

#[test]
fn postgres_hostile_table_through_the_cli() {
    let Some(s) = common::pg() else { return };
    server_case("postgres", &s, &format!("public.{TABLE}"));
}

#[test]
fn mariadb_hostile_table_through_the_cli() {
    let Some(s) = common::mysql() else { return };
    server_case("mysql", &s, TABLE);
}
