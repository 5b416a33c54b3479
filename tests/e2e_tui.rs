//! End to end: the real binary in tmux, driven by keys. Adds a PostgreSQL
//! connection to the throwaway server (VARLOR_TEST_PG_*), tests it, saves it,
//! quits, relaunches and finds the row with ✓; then edits it to a wrong
//! password and sees "Invalid credentials". Also checks `q` restores the terminal.
//!
//! Without a server (or tmux) it prints a notice and skips, except under
//! CI=true where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    std::env::var_os("VARLOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_varlor")))
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip(why: &str) {
    if ci() {
        panic!("CI=true but {why}");
    }
    eprintln!("skipped: {why}");
}

struct Pg {
    host: String,
    port: String,
    user: String,
    password: String,
    db: String,
}

fn pg() -> Option<Pg> {
    let v = |k: &str| std::env::var(format!("VARLOR_TEST_PG_{k}")).ok();
    Some(Pg {
        host: v("HOST")?,
        port: v("PORT")?,
        user: v("USER")?,
        password: v("PASSWORD")?,
        db: v("DB")?,
    })
}

/// A private tmux server (its own socket) killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `name` keeps parallel tests on separate servers.
    fn new(name: &str) -> Option<Tmux> {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .ok()?
            .status
            .success();
        ok.then(|| Tmux {
            socket: format!("varlor-e2e-{}-{name}", std::process::id()),
        })
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the binary in a new session; after it exits the pane prints the
    /// exit code and the terminal modes, then stays for capture.
    fn launch(&self, session: &str, home: &Path, passfile: &Path) {
        self.launch_with(session, home, passfile, "")
    }

    /// `launch` with arguments (a shell-quoted string) after the binary.
    fn launch_with(&self, session: &str, home: &Path, passfile: &Path, args: &str) {
        self.launch_env(session, home, passfile, args, &[])
    }

    /// `launch_with` and more environment variables (`NAME=value`).
    fn launch_env(&self, session: &str, home: &Path, passfile: &Path, args: &str, env: &[String]) {
        let script = format!(
            "'{}' {args}; echo VARLOR_EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sed 's/^/MODE=/'; sleep 600",
            binary().display()
        );
        let home_env = format!("VARLOR_HOME={}", home.display());
        let pass_env = format!("VARLOR_PASSPHRASE_FILE={}", passfile.display());
        let mut cmd: Vec<&str> = vec![
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            session,
            "-e",
            &home_env,
            "-e",
            &pass_env,
            "-e",
            "NO_COLOR=1",
            "-e",
            "TERM=xterm-256color",
        ];
        for e in env {
            cmd.extend(["-e", e.as_str()]);
        }
        cmd.extend(["sh", "-c", &script]);
        self.cmd(&cmd);
    }

    fn capture(&self, session: &str) -> String {
        self.cmd(&["capture-pane", "-p", "-t", session])
    }

    /// Polls the screen until `pred` holds; panics with the screen at the deadline.
    fn wait_for(&self, session: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_within(session, what, Duration::from_secs(30), pred)
    }

    fn wait_within(
        &self,
        session: &str,
        what: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.capture(session);
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&self, session: &str, text: &str) -> String {
        self.wait_for(session, text, |s| s.contains(text))
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    fn type_text(&self, session: &str, text: &str) {
        self.cmd(&["send-keys", "-t", session, "-l", text]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn assert_restored(screen: &str) {
    assert!(screen.contains("VARLOR_EXIT=0"), "exit status:\n{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "MODE=icanon"),
        "canonical mode restored:\n{screen}"
    );
    assert!(
        screen.lines().any(|l| l.trim() == "MODE=echo"),
        "echo restored:\n{screen}"
    );
    assert!(
        !screen.contains("┌ Varlor"),
        "left the alternate screen:\n{screen}"
    );
}

fn setup(name: &str) -> Option<(Tmux, tempfile::TempDir, PathBuf)> {
    let Some(tmux) = Tmux::new(name) else {
        skip("tmux is not installed");
        return None;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let passfile = home.path().join("passphrase");
    std::fs::write(&passfile, "e2e passphrase\n").expect("write passphrase");
    Some((tmux, home, passfile))
}

/// Answers the vault-creation prompt if the app shows it.
fn create_vault_if_asked(tmux: &Tmux, s: &str, until: &str) -> String {
    let screen = tmux.wait_for(s, until, |x| {
        x.contains(until) || x.contains("Create the vault")
    });
    if !screen.contains("Create the vault") {
        return screen;
    }
    tmux.type_text(s, "e2e passphrase");
    tmux.keys(s, &["Enter"]);
    tmux.type_text(s, "e2e passphrase");
    tmux.keys(s, &["Enter"]);
    tmux.wait_text(s, until)
}

#[test]
fn q_quits_and_restores_the_terminal() {
    let Some((tmux, home, passfile)) = setup("quit") else {
        return;
    };
    tmux.launch("quit", home.path(), &passfile);
    tmux.wait_text("quit", "┌ Varlor");
    tmux.keys("quit", &["q"]);
    let screen = tmux.wait_text("quit", "MODE=");
    assert_restored(&screen);
}

#[test]
fn add_test_save_relaunch_and_wrong_password() {
    let Some(pg) = pg() else {
        skip("VARLOR_TEST_PG_* not set (start a server with scripts/testdb)");
        return;
    };
    let Some((tmux, home, passfile)) = setup("add") else {
        return;
    };
    let s = "add";
    tmux.launch(s, home.path(), &passfile);
    tmux.wait_text(s, "┌ Varlor");

    // n → picker → PostgreSQL → form.
    tmux.keys(s, &["n"]);
    tmux.wait_text(s, "choose the database type");
    tmux.keys(s, &["p", "Enter"]);
    tmux.wait_text(s, "New PostgreSQL connection");
    assert!(tmux.capture(s).contains("5432"), "default port pre-filled");

    // Name, then the URL field fills host, port, user, database and password.
    tmux.type_text(s, "e2e-pg");
    tmux.keys(s, &["Tab"]);
    let url = format!(
        "postgres://{}:{}@{}:{}/{}?sslmode=disable",
        pg.user, pg.password, pg.host, pg.port, pg.db
    );
    tmux.type_text(s, &url);
    tmux.keys(s, &["Tab"]);
    let screen = tmux.wait_text(s, "◀ disable ▶");
    assert!(screen.contains("ready to save"), "{screen}");
    assert!(
        !screen.contains(&pg.password),
        "password never on screen:\n{screen}"
    );

    // Test → success, in plain words.
    tmux.keys(s, &["C-t"]);
    let screen = tmux.wait_for(s, "test answer", |x| {
        x.contains("Connected to") || x.contains("✗")
    });
    assert!(screen.contains("Connected to"), "test failed:\n{screen}");

    // Save → back on the list with the row highlighted.
    tmux.keys(s, &["C-s"]);
    create_vault_if_asked(&tmux, s, "Saved 'e2e-pg'");
    // The successful test was recorded with the save.
    tmux.wait_for(s, "saved row with ✓", |x| {
        x.lines().any(|l| l.contains("e2e-pg") && l.contains("✓"))
    });
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));

    // Relaunch: the row is there with ✓.
    let s = "again";
    tmux.launch(s, home.path(), &passfile);
    tmux.wait_for(s, "saved row with ✓", |x| {
        x.lines().any(|l| l.contains("e2e-pg") && l.contains("✓"))
    });

    // Edit to a wrong password → Invalid credentials.
    // The demo connection sorts first: filter to ours, then edit.
    tmux.keys(s, &["/"]);
    tmux.type_text(s, "e2e");
    tmux.keys(s, &["Enter", "e"]);
    tmux.wait_text(s, "Edit 'e2e-pg'");
    for _ in 0..6 {
        tmux.keys(s, &["Tab"]);
    }
    tmux.type_text(s, "definitely-wrong");
    tmux.keys(s, &["C-t"]);
    let screen = tmux.wait_for(s, "test answer", |x| {
        x.contains("Connected to") || x.contains("✗")
    });
    assert!(screen.contains("Invalid credentials"), "{screen}");
    assert!(!screen.contains("definitely-wrong"));
    // The form was changed: Esc asks before discarding.
    tmux.keys(s, &["Escape"]);
    tmux.wait_text(s, "discard your changes");
    tmux.keys(s, &["y"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));
}

#[test]
fn q_quits_at_once_while_a_test_hangs() {
    let Some((tmux, home, passfile)) = setup("hang") else {
        return;
    };
    // Accepts TCP connections and never answers: the test hangs until its timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let s = "hang";
    tmux.launch(s, home.path(), &passfile);
    tmux.wait_text(s, "┌ Varlor");
    tmux.keys(s, &["n", "p", "Enter"]);
    tmux.wait_text(s, "New PostgreSQL connection");
    tmux.type_text(s, "hang");
    tmux.keys(s, &["Tab"]);
    tmux.type_text(
        s,
        &format!("postgres://nobody@127.0.0.1:{port}/db?sslmode=disable"),
    );
    tmux.keys(s, &["Tab", "C-s"]);
    tmux.wait_text(s, "Saved 'hang'");
    tmux.keys(s, &["/"]);
    tmux.type_text(s, "hang");
    tmux.keys(s, &["Enter", "t"]);
    tmux.wait_text(s, "testing");
    // The list still moves and other panes open while the test hangs.
    tmux.keys(s, &["n"]);
    tmux.wait_text(s, "choose the database type");
    tmux.keys(s, &["Escape"]);
    tmux.wait_text(s, "testing");
    tmux.keys(s, &["q"]);
    let screen = tmux.wait_within(s, "exit while a test hangs", Duration::from_secs(3), |x| {
        x.contains("MODE=")
    });
    assert_restored(&screen);
    drop(listener);
}

#[path = "common/hostile.rs"]
mod hostile;

/// Terminal-hostile data (issue 10): a SQLite table whose name, column and
/// cells carry OSC title-set, CSI clear, alternate-screen leave, BEL, TAB,
/// CR, LF, C1 and bidi characters. Browsing it and opening its full values
/// must leave tmux's pane title and alternate screen alone, and show the
/// characters as visible escapes.
#[test]
fn hostile_table_cannot_drive_the_terminal() {
    let Some((tmux, home, passfile)) = setup("hostile") else {
        return;
    };
    let db = hostile::sqlite_file(home.path());
    let add = Command::new(binary())
        .args(["add", "hostile", "--kind", "sqlite", "--database"])
        .arg(&db)
        .env("VARLOR_HOME", home.path())
        .env("VARLOR_PASSPHRASE_FILE", &passfile)
        .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
        .env("VARLOR_NO_AGENT", "1")
        .output()
        .expect("run varlor add");
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let s = "hostile";
    tmux.launch(s, home.path(), &passfile);
    tmux.wait_text(s, "┌ Varlor");
    let title = |t: &Tmux| t.cmd(&["display", "-p", "-t", s, "#{pane_title}"]);
    let alternate = |t: &Tmux| t.cmd(&["display", "-p", "-t", s, "#{alternate_on}"]);
    let title_before = title(&tmux);
    assert_eq!(alternate(&tmux).trim(), "1");

    let check = |screen: &str, what: &str| {
        for c in screen.chars() {
            assert!(
                c == '\n' || !hostile::is_hostile(c),
                "{what}: raw {c:?} on screen:\n{screen}"
            );
        }
        let now = title(&tmux);
        assert_eq!(now, title_before, "{what}: the pane title changed");
        assert!(!now.contains("pwned"), "{what}: {now}");
        assert_eq!(
            alternate(&tmux).trim(),
            "1",
            "{what}: left the alternate screen"
        );
    };

    tmux.keys(s, &["/"]);
    tmux.type_text(s, "hostile");
    tmux.keys(s, &["Enter", "Enter"]);
    // The table list, its structure and preview: all escaped, visible.
    // Stops early if the terminal was taken over, so `check` names how.
    let screen = tmux.wait_for(s, "the preview", |x| {
        x.contains("Preview · 5 rows")
            || title(&tmux) != title_before
            || alternate(&tmux).trim() != "1"
    });
    check(&screen, "preview");
    for shown in ["evil␛]0;pwned␇", "col␛[2J", "clear ␛[2J screen"] {
        assert!(screen.contains(shown), "{shown:?} shown:\n{screen}");
    }

    // Each full value in the popup.
    tmux.keys(s, &["Tab", "Tab", "l"]);
    for row in 0..hostile::VALUES.len() {
        tmux.keys(s, &["Enter"]);
        let screen = tmux.wait_text(s, "Esc closes");
        check(&screen, &format!("popup of row {}", row + 1));
        if row == 3 {
            assert!(screen.contains("bell ␇ tab \\t cr ␍"), "{screen}");
        }
        // Alone: ESC followed at once by j would read as Alt-j.
        tmux.keys(s, &["Escape"]);
        tmux.wait_for(s, "popup closed", |x| !x.contains("Esc closes"));
        tmux.keys(s, &["j"]);
    }
    let screen = tmux.capture(s);
    check(&screen, "after the popups");
    tmux.keys(s, &["Escape"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));
}

#[test]
fn query_pane_open_type_run_see_rows_and_cancel() {
    let Some((tmux, home, passfile)) = setup("query") else {
        return;
    };
    let s = "query";
    tmux.launch(s, home.path(), &passfile);
    tmux.wait_text(s, "Enter open");
    // The built-in demo (SQLite) opens without a vault.
    tmux.keys(s, &["Enter"]);
    tmux.wait_text(s, "customers");
    tmux.keys(s, &["e"]);
    let screen = tmux.wait_text(s, "read-only");
    assert!(screen.contains("LIMIT 100"), "pre-filled:\n{screen}");
    // Clear the line (Ctrl-A, Ctrl-K), type, run with F5.
    tmux.keys(s, &["C-a", "C-k"]);
    tmux.type_text(s, "SELECT name, phone FROM customers ORDER BY id LIMIT 3");
    tmux.keys(s, &["F5"]);
    let screen = tmux.wait_text(s, "3 rows · first page");
    for shown in ["Hana Nakamura", "Viktor Novák", "NULL"] {
        assert!(screen.contains(shown), "{shown}:\n{screen}");
    }
    // The demo file may be written by this user: the badge says so.
    assert!(
        screen.contains("login can write — Varlor keeps this session read-only"),
        "badge:\n{screen}"
    );
    // x: the whole result again, through the import's CSV sink.
    tmux.keys(s, &["x"]);
    tmux.wait_text(s, "Export the whole result");
    tmux.keys(s, &["c"]);
    let screen = tmux.wait_text(s, "Import ok: 1 of 1 tables, 3 rows");
    assert!(screen.contains("query result"), "{screen}");
    let csv = std::fs::read_dir(home.path().join("data/datasets"))
        .expect("datasets dir")
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-csv"))
        .expect("the export's directory")
        .join("query.csv");
    let text = std::fs::read_to_string(&csv).expect("query.csv");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains("Viktor Novák"), "{text}");
    tmux.keys(s, &["Enter"]);
    // Tab completes: a table name with a space comes back quoted.
    tmux.keys(s, &["Tab", "C-a", "C-k"]);
    tmux.type_text(s, "SELECT count(*) AS n FROM \"Ord");
    tmux.keys(s, &["Tab"]);
    tmux.wait_text(s, "FROM \"Order Notes ✓\"");
    tmux.keys(s, &["F5"]);
    tmux.wait_text(s, "1 rows · first page");
    // Ctrl-P brings back the statement before.
    tmux.keys(s, &["Tab", "C-p", "C-p"]);
    tmux.wait_text(s, "SELECT name, phone FROM customers ORDER BY id LIMIT 3");
    // A query that never ends: Esc stops it (interrupt) and says so.
    tmux.keys(s, &["C-a", "C-k"]);
    tmux.type_text(
        s,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    tmux.keys(s, &["F5"]);
    tmux.wait_text(s, "running…");
    tmux.keys(s, &["Escape"]);
    tmux.wait_text(s, "query cancelled");
    // A write is refused in words.
    tmux.keys(s, &["C-a", "C-k"]);
    tmux.type_text(s, "DELETE FROM customers");
    tmux.keys(s, &["F5"]);
    tmux.wait_text(s, "Read-only session");
    tmux.keys(s, &["Escape"]);
    tmux.wait_text(s, "Tab pane");
    // q goes back to the list; q there quits.
    tmux.keys(s, &["q"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));
}

#[test]
fn open_name_starts_on_the_connections_browser() {
    let Some((tmux, home, passfile)) = setup("open") else {
        return;
    };
    tmux.launch_with("open", home.path(), &passfile, "open demo");
    // The demo's tables, without passing through the connection list.
    let screen = tmux.wait_for("open", "the demo's browser", |x| {
        x.contains("demo ·") && x.contains("customers")
    });
    assert!(!screen.contains("Last test"), "{screen}");
    tmux.keys("open", &["q"]);
    tmux.wait_text("open", "Enter open");
    tmux.keys("open", &["q"]);
    let screen = tmux.wait_text("open", "MODE=");
    assert_restored(&screen);
}

#[test]
fn bare_name_opens_and_the_filter_lands_on_the_exact_table_among_look_alikes() {
    let Some((tmux, home, passfile)) = setup("albums") else {
        return;
    };
    let db = home.path().join("albums.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE AlbumArtistBridge(x TEXT); INSERT INTO AlbumArtistBridge VALUES ('bridge-row');
         CREATE TABLE A_l_b_u_m(x TEXT); INSERT INTO A_l_b_u_m VALUES ('spaced-row');
         CREATE TABLE Albums(x TEXT); INSERT INTO Albums VALUES ('plural-row');
         CREATE TABLE Album(x TEXT); INSERT INTO Album VALUES ('the-album-row');",
    )
    .unwrap();
    drop(c);
    let out = std::process::Command::new(binary())
        .args(["add", "music", "--kind", "sqlite", "--database"])
        .arg(&db)
        .env("VARLOR_HOME", home.path())
        .env("VARLOR_PASSPHRASE_FILE", &passfile)
        .env("VARLOR_NO_AGENT", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = "albums";
    // `varlor music`: no subcommand of that name, so it opens the connection.
    tmux.launch_with(s, home.path(), &passfile, "music");
    tmux.wait_for(s, "the tables", |x| {
        x.contains("music ·") && x.contains("Albums")
    });
    tmux.keys(s, &["/"]);
    tmux.type_text(s, "Album");
    tmux.keys(s, &["Enter"]);
    let screen = tmux.wait_text(s, "the-album-row");
    for other in ["bridge-row", "spaced-row", "plural-row"] {
        assert!(!screen.contains(other), "{other}:\n{screen}");
    }
    // `/` again and a look-alike's full name: the panes follow.
    tmux.keys(s, &["/"]);
    tmux.type_text(s, "Albums");
    tmux.keys(s, &["Enter"]);
    let screen = tmux.wait_text(s, "plural-row");
    assert!(!screen.contains("the-album-row"), "{screen}");
    // y copies the cell to the clipboard through the terminal: tmux (with
    // set-clipboard on) keeps it as its newest paste buffer.
    tmux.cmd(&["set-option", "-g", "set-clipboard", "on"]);
    tmux.keys(s, &["Tab", "Tab", "y"]);
    tmux.wait_text(s, "Copied 10 bytes (x, row 1)");
    let pasted = tmux.cmd(&["show-buffer"]);
    assert_eq!(pasted, "plural-row");
    tmux.keys(s, &["q"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));
}

/// The throwaway sshd of `scripts/testdb/sshd.sh` (VARLOR_TEST_SSH_*).
struct Sshd {
    port: String,
    user: String,
    key: PathBuf,
    known_hosts: PathBuf,
}

fn sshd() -> Option<Sshd> {
    let v = |k: &str| {
        std::env::var(format!("VARLOR_TEST_SSH_{k}"))
            .ok()
            .filter(|v| !v.is_empty())
    };
    Some(Sshd {
        port: v("PORT")?,
        user: v("USER")?,
        key: v("KEY")?.into(),
        known_hosts: v("KNOWN_HOSTS")?.into(),
    })
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every regular file under `dir`.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// Every process's argv as `ps -eo args` shows it (read from /proc, so
/// no procps is needed): (pid, command line, zombie).
fn all_argv() -> Vec<(String, String, bool)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let (Ok(cmd), Ok(stat)) = (
            std::fs::read(e.path().join("cmdline")),
            std::fs::read_to_string(e.path().join("stat")),
        ) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'));
        out.push((e.file_name().to_string_lossy().into_owned(), cmd, zombie));
    }
    out
}

/// Live ssh processes whose command line holds `needle`.
fn live_ssh(needle: &str) -> Vec<(String, String)> {
    all_argv()
        .into_iter()
        .filter(|(_, cmd, zombie)| cmd.starts_with("ssh ") && cmd.contains(needle) && !zombie)
        .map(|(pid, cmd, _)| (pid, cmd))
        .collect()
}

/// ssh's questions reach the person in the TUI (issue 16): a connection
/// "SSH via" the bastion to the PostgreSQL test server, known_hosts empty.
/// Test of the saved connection → the overlay shows the bastion's real
/// fingerprint, Enter alone does nothing, `yes` → ✓ and the browser lists
/// the tables. Again with the key unknown: the form's Test, `no` → "SSH host
/// key unknown". A passphrase-protected key: the passphrase (a canary) is
/// typed masked into the overlay, the browser opens, and the canary is in
/// no screen or scrollback, no argv or ssh environment, no file under the
/// throwaway HOME, XDG and TMPDIR. Ctrl-C while ssh asks quits at once and
/// leaves no ssh behind.
#[test]
fn ssh_questions_are_asked_in_the_tui() {
    let (Some(pg), Some(sshd)) = (pg(), sshd()) else {
        skip("VARLOR_TEST_PG_* or VARLOR_TEST_SSH_* not set (run scripts/test)");
        return;
    };
    let Some((tmux, dir, passfile)) = setup("sshask") else {
        return;
    };
    let root = dir.path();
    let home = root.join("home");
    let dot = home.join(".ssh");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(&sshd.key, dot.join("id")).unwrap();
    std::fs::copy(&sshd.key, dot.join("id_pass")).unwrap();
    for k in ["id", "id_pass"] {
        std::fs::set_permissions(dot.join(k), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let canary = format!(
        "CANARYpp{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    // ssh-keygen's argv holds it for a moment: before the TUI starts.
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-p", "-P", "", "-N", &canary, "-f"])
            .arg(dot.join("id_pass")),
    );
    std::fs::copy(&sshd.known_hosts, dot.join("known_ok")).unwrap();
    let unknown = dot.join("known_hosts");
    std::fs::write(&unknown, "").unwrap();
    let fingerprint = run_ok(Command::new("ssh-keygen").arg("-lf").arg(&sshd.known_hosts))
        .lines()
        .find(|l| l.contains(&format!("[127.0.0.1]:{} ", sshd.port)))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .expect("the bastion's fingerprint");
    let host = |alias: &str, id: &str, known: &Path| {
        format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking ask\n  ConnectTimeout 5\n",
            sshd.port,
            sshd.user,
            dot.join(id).display(),
            known.display()
        )
    };
    let config = dot.join("config");
    std::fs::write(
        &config,
        host("hk-bastion", "id", &unknown) + &host("pk-bastion", "id_pass", &dot.join("known_ok")),
    )
    .unwrap();
    let varlor_home = root.join("varlor");
    let env: Vec<String> = [
        ("HOME", home.clone()),
        ("XDG_CONFIG_HOME", home.join(".config")),
        ("XDG_DATA_HOME", home.join(".local/share")),
        ("XDG_STATE_HOME", home.join(".local/state")),
        ("XDG_CACHE_HOME", home.join(".cache")),
        ("TMPDIR", root.join("tmp")),
        ("VARLOR_SSH_CONFIG", config.clone()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", v.display()))
    .chain([
        "VARLOR_NO_AGENT=1".to_string(),
        "SSH_AUTH_SOCK=/nonexistent".to_string(),
    ])
    .collect();
    for (name, alias) in [("hk", "hk-bastion"), ("pk", "pk-bastion")] {
        let url = format!(
            "postgres://{}@{}:{}/{}?ssh={alias}",
            pg.user, pg.host, pg.port, pg.db
        );
        let mut add = Command::new(binary());
        add.args([
            "add",
            name,
            "--url",
            &url,
            "--tls",
            "disable",
            "--password-stdin",
        ])
        .env("VARLOR_HOME", &varlor_home)
        .env("VARLOR_PASSPHRASE_FILE", &passfile)
        .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
        .env("VARLOR_NO_AGENT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = add.spawn().expect("varlor add");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{}\n", pg.password).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pick = |s: &str, name: &str| {
        tmux.wait_text(s, "Enter open");
        tmux.keys(s, &["/"]);
        tmux.type_text(s, name);
        tmux.keys(s, &["Enter"]);
    };

    // 1. Test of the saved connection: the fingerprint, Enter alone, yes.
    let s = "yes";
    tmux.launch_env(s, &varlor_home, &passfile, "", &env);
    pick(s, "hk");
    tmux.keys(s, &["t"]);
    let screen = tmux.wait_text(s, "SSH: unknown host key");
    let joined: String = screen.chars().filter(|c| !"│ \n".contains(*c)).collect();
    assert!(joined.contains(&fingerprint), "{fingerprint} on\n{screen}");
    tmux.keys(s, &["Enter"]);
    let screen = tmux.wait_text(s, "Type yes or no");
    assert!(
        screen.contains("SSH: unknown host key"),
        "still asking:\n{screen}"
    );
    tmux.type_text(s, "yes");
    tmux.keys(s, &["Enter"]);
    tmux.wait_for(s, "the test passed", |x| {
        x.lines().any(|l| l.contains(" hk ") && l.contains('✓'))
    });
    assert!(
        std::fs::read_to_string(&unknown)
            .unwrap()
            .contains(&format!("[127.0.0.1]:{}", sshd.port)),
        "ssh recorded the accepted key"
    );
    // Browse: a tunnel of its own, the key now known, the tables listed.
    tmux.keys(s, &["Enter"]);
    tmux.wait_for(s, "the tables through the tunnel", |x| {
        x.contains("customers")
    });
    tmux.keys(s, &["q"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));

    // 2. The form's Test, the key unknown again, answered no.
    std::fs::write(&unknown, "").unwrap();
    let s = "no";
    tmux.launch_env(s, &varlor_home, &passfile, "", &env);
    pick(s, "hk");
    tmux.keys(s, &["e"]);
    tmux.wait_text(s, "Edit 'hk'");
    tmux.keys(s, &["C-t"]);
    tmux.wait_text(s, "SSH: unknown host key");
    tmux.type_text(s, "no");
    tmux.keys(s, &["Enter"]);
    let screen = tmux.wait_for(s, "the test answer", |x| {
        x.contains("Connected to") || x.contains('✗')
    });
    assert!(screen.contains("SSH host key unknown"), "{screen}");
    assert_eq!(
        std::fs::read_to_string(&unknown).unwrap(),
        "",
        "nothing recorded"
    );
    tmux.keys(s, &["Escape"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));

    // 3. Ctrl-C while ssh asks: the app quits at once and ssh goes with it.
    let s = "quit";
    tmux.launch_env(s, &varlor_home, &passfile, "", &env);
    pick(s, "hk");
    tmux.keys(s, &["t"]);
    tmux.wait_text(s, "SSH: unknown host key");
    assert_eq!(
        live_ssh("hk-bastion").len(),
        1,
        "the tunnel waits for the answer"
    );
    tmux.keys(s, &["C-c"]);
    tmux.wait_within(s, "exit while ssh asks", Duration::from_secs(5), |x| {
        x.contains("VARLOR_EXIT=130")
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !live_ssh("hk-bastion").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        live_ssh("hk-bastion").is_empty(),
        "{:?}",
        live_ssh("hk-bastion")
    );

    // 4. A passphrase-protected key: typed masked, the browser opens.
    let s = "pass";
    tmux.launch_env(s, &varlor_home, &passfile, "open pk", &env);
    let screen = tmux.wait_text(s, "SSH: key passphrase");
    assert!(screen.contains("id_pass"), "{screen}");
    tmux.type_text(s, &canary);
    let screen = tmux.wait_text(s, &"•".repeat(canary.chars().count()));
    assert!(!screen.contains(&canary), "{screen}");
    tmux.keys(s, &["Enter"]);
    let screen = tmux.wait_for(s, "the tables through the tunnel", |x| {
        x.contains("customers")
    });
    assert!(!screen.contains(&canary), "{screen}");
    // While connected: no argv (ps) holds it, nor the ssh's environment.
    let argv = all_argv();
    assert!(argv.len() > 5, "{argv:?}");
    assert!(
        argv.iter().all(|(_, cmd, _)| !cmd.contains(&canary)),
        "in an argv"
    );
    let tunnel = live_ssh("pk-bastion");
    assert_eq!(tunnel.len(), 1, "{tunnel:?}");
    for (pid, cmd) in &tunnel {
        assert!(!cmd.contains(&canary));
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&environ).contains(&canary),
            "ssh's environment"
        );
    }
    tmux.keys(s, &["q"]);
    tmux.wait_text(s, "Enter open");
    tmux.keys(s, &["q"]);
    assert_restored(&tmux.wait_text(s, "MODE="));
    // Not in the scrollback of any run, nor in a file of the throwaway dirs.
    for s in ["yes", "no", "quit", "pass"] {
        let all = tmux.cmd(&["capture-pane", "-p", "-S", "-", "-E", "-", "-t", s]);
        assert!(!all.contains(&canary), "scrollback of {s}");
    }
    let mut files = vec![];
    files_under(root, &mut files);
    assert!(files.len() > 3, "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let found = bytes.windows(canary.len()).any(|w| w == canary.as_bytes());
        assert!(!found, "the passphrase is in {}", f.display());
    }
}
