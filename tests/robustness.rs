//! Robustness of the real binary (issue 10): the terminal is restored on
//! every exit path (masked prompts interrupted by Ctrl-C or a signal, the
//! TUI quitting while a slow unlock runs), imports leave no `.partial` file
//! whatever ends them, a closed stdout is not a crash, and every file and
//! directory Varlor creates is private.
//!
//! The terminal tests drive the binary in tmux (skipped without it, except
//! under CI=true); the PostgreSQL one needs the test server (VARLOR_TEST_PG_*).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    std::env::var_os("VARLOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_varlor")))
}

/// The binary with a private home and no colour; stdin closed.
fn varlor(home: &Path) -> Command {
    let mut c = Command::new(binary());
    c.env("VARLOR_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("VARLOR_PASSPHRASE_FILE")
        .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
        .env("VARLOR_NO_AGENT", "1")
        .stdin(Stdio::null());
    c
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A SQLite file with one table big enough that importing it takes seconds.
fn big_sqlite(path: &Path, rows: u64) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE big(id INTEGER PRIMARY KEY, payload TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO big SELECT i, printf('row %d with some text to copy', i) FROM n;"
    ))
    .unwrap();
}

/// Names of the `.partial` files anywhere under `dir`.
fn partials(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(partials(&p));
        } else if e.file_name().to_string_lossy().ends_with(".partial") {
            found.push(p.display().to_string());
        }
    }
    found
}

// ------------------------------------------------------------------ tmux

/// A private tmux server (its own socket) killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Option<Tmux> {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            common::skip("tmux is not installed");
            return None;
        }
        Some(Tmux {
            socket: format!("varlor-rob-{}-{name}", std::process::id()),
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

    /// Runs `varlor ARGS` in a new 100x30 session; once it exits the pane
    /// prints its exit status and whether echo is on, then stays for capture.
    /// The pane's shell traps SIGINT (so a Ctrl-C that reaches the whole
    /// foreground group does not end the script before it reports); varlor
    /// itself starts with the default disposition, as from a terminal.
    fn launch(&self, session: &str, env: &[(&str, String)], args: &str) {
        let script = format!(
            "exec sh -c \"trap : INT; '{}' {args}; echo VARLOR_EXIT=\\$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo -e icanon -e -icanon | sed 's/^/MODE=/'; sleep 600\"",
            binary().display()
        );
        let mut cmd = vec![
            "new-session".to_string(),
            "-d".into(),
            "-x".into(),
            "100".into(),
            "-y".into(),
            "30".into(),
            "-s".into(),
            session.into(),
            "-e".into(),
            "NO_COLOR=1".into(),
            "-e".into(),
            "TERM=xterm-256color".into(),
        ];
        for (k, v) in env {
            cmd.push("-e".into());
            cmd.push(format!("{k}={v}"));
        }
        cmd.extend(["sh".into(), "-c".into(), script]);
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        self.cmd(&refs);
    }

    fn capture(&self, session: &str) -> String {
        self.cmd(&["capture-pane", "-p", "-t", session])
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
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_text(&self, session: &str, text: &str) -> String {
        self.wait_within(session, text, Duration::from_secs(60), |s| s.contains(text))
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    fn type_text(&self, session: &str, text: &str) {
        self.cmd(&["send-keys", "-t", session, "-l", text]);
    }

    /// The pid of the varlor process running in the pane (the child of the
    /// pane's shell).
    fn varlor_pid(&self, session: &str) -> i32 {
        let shell: i32 = self
            .cmd(&["display-message", "-p", "-t", session, "#{pane_pid}"])
            .trim()
            .parse()
            .expect("the pane's pid");
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("read the shell's children");
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("varlor runs under the pane's shell")
    }

    /// Waits for the exit line and returns (exit status, echo on, screen).
    fn wait_exit(&self, session: &str, limit: Duration) -> (i32, bool, String) {
        let screen = self.wait_within(session, "the exit status and modes", limit, |s| {
            s.contains("VARLOR_EXIT=")
                && s.lines()
                    .any(|l| matches!(l.trim(), "MODE=echo" | "MODE=-echo"))
        });
        let code = screen
            .lines()
            .find_map(|l| l.split_once("VARLOR_EXIT=").map(|(_, c)| c))
            .and_then(|c| c.trim().parse().ok())
            .expect("exit status");
        let echo = screen.lines().any(|l| l.trim() == "MODE=echo");
        (code, echo, screen)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn home_env(home: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("VARLOR_HOME", home.display().to_string()),
        ("VARLOR_SCRYPT_WORK_FACTOR", "10".into()),
        ("VARLOR_NO_AGENT", "1".into()),
    ]
}

// ------------------------------------------------------------------ 4. terminal

/// A masked prompt interrupted by `signal` (sent as a key for SIGINT, with
/// kill(2) otherwise): echo is back on and the exit status says which signal.
fn interrupted_prompt(session: &str, args: &str, prompt: &str, key: Option<&str>, signal: i32) {
    let Some(tmux) = Tmux::new(session) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    tmux.launch(session, &home_env(dir.path()), args);
    tmux.wait_text(session, prompt);
    // Echo is off while the prompt waits (what the test is about).
    tmux.type_text(session, "typed-secret");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !tmux.capture(session).contains("typed-secret"),
        "the prompt is masked"
    );
    match key {
        Some(k) => tmux.keys(session, &[k]),
        // SAFETY: a signal to the process this test started in its pane.
        None => unsafe {
            libc::kill(tmux.varlor_pid(session), signal);
        },
    }
    let (code, echo, screen) = tmux.wait_exit(session, Duration::from_secs(20));
    assert!(echo, "echo restored after the signal:\n{screen}");
    assert_eq!(code, 128 + signal, "exit status:\n{screen}");
    assert!(!screen.contains("panicked"), "{screen}");
}

#[test]
fn ctrl_c_at_the_password_prompt_restores_echo() {
    interrupted_prompt(
        "pwc",
        "add x --kind postgres --host h --user u",
        "Password for",
        Some("C-c"),
        libc::SIGINT,
    );
}

#[test]
fn sigterm_at_the_password_prompt_restores_echo() {
    interrupted_prompt(
        "pwt",
        "add x --kind postgres --host h --user u",
        "Password for",
        None,
        libc::SIGTERM,
    );
}

#[test]
fn sighup_at_the_new_passphrase_prompt_restores_echo() {
    interrupted_prompt(
        "pph",
        "vault init",
        "New vault passphrase",
        None,
        libc::SIGHUP,
    );
}

#[test]
fn ctrl_c_at_the_vault_passphrase_prompt_restores_echo() {
    let Some(tmux) = Tmux::new("vpc") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    // A vault and a connection with a stored secret (closed port: never reached).
    let mut add = varlor(&home);
    add.env("VARLOR_PASSPHRASE_FILE", &pass)
        .args([
            "add",
            "db",
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--user",
            "u",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = add.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"stored-secret\n")
        .unwrap();
    ok(child.wait_with_output().unwrap());

    tmux.launch("vpc", &home_env(&home), "test db");
    tmux.wait_text("vpc", "Vault passphrase");
    tmux.keys("vpc", &["C-c"]);
    let (code, echo, screen) = tmux.wait_exit("vpc", Duration::from_secs(20));
    assert!(echo, "echo restored:\n{screen}");
    assert_eq!(code, 130, "{screen}");
}

/// A vault whose identity takes seconds to unlock (scrypt work factor 18).
fn slow_vault(dir: &Path) -> (PathBuf, PathBuf) {
    let home = dir.join("home");
    let pass = dir.join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    let mut init = varlor(&home);
    init.env("VARLOR_PASSPHRASE_FILE", &pass)
        .env("VARLOR_SCRYPT_WORK_FACTOR", "18")
        .env("VARLOR_NO_AGENT", "1")
        .args(["vault", "init"]);
    ok(init.output().unwrap());
    (home, pass)
}

#[test]
fn tui_draws_before_a_slow_unlock_and_ctrl_c_exits_130() {
    let Some(tmux) = Tmux::new("slow") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (home, pass) = slow_vault(dir.path());
    // How long the unlock itself takes on this machine right now.
    let t = Instant::now();
    let mut status = varlor(&home);
    status.env("VARLOR_PASSPHRASE_FILE", &pass).args(["doctor"]);
    let _ = status.output().unwrap();
    let unlock_cost = t.elapsed();

    let mut env = home_env(&home);
    env.push(("VARLOR_PASSPHRASE_FILE", pass.display().to_string()));
    let started = Instant::now();
    tmux.launch("slow", &env, "");
    let screen = tmux.wait_within("slow", "the first frame", Duration::from_secs(30), |s| {
        s.contains("┌ Varlor")
    });
    let first_frame = started.elapsed();
    eprintln!("first frame after {first_frame:?}; unlock (doctor) takes {unlock_cost:?}");
    // The frame is up while the unlock is still running.
    assert!(
        screen.contains("Unlocking the vault"),
        "first frame before the unlock finished:\n{screen}"
    );
    assert!(
        first_frame < Duration::from_millis(1500),
        "first frame took {first_frame:?}"
    );
    // Keys typed meanwhile are not echoed (raw mode) and the unlock finishes.
    tmux.type_text("slow", "zz");
    let screen = tmux.wait_within("slow", "the unlock", Duration::from_secs(60), |s| {
        s.contains("Vault unlocked")
    });
    assert!(!screen.contains("Unlocking the vault"), "{screen}");
    tmux.keys("slow", &["C-c"]);
    let (code, echo, screen) = tmux.wait_exit("slow", Duration::from_secs(10));
    assert_eq!(code, 130, "Ctrl-C exits 130:\n{screen}");
    assert!(echo, "{screen}");
    assert!(
        !screen.contains("zz"),
        "keys typed during the unlock not echoed:\n{screen}"
    );
}

#[test]
fn tui_quits_with_ctrl_c_during_the_unlock() {
    let Some(tmux) = Tmux::new("slowq") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (home, pass) = slow_vault(dir.path());
    let mut env = home_env(&home);
    env.push(("VARLOR_PASSPHRASE_FILE", pass.display().to_string()));
    tmux.launch("slowq", &env, "");
    tmux.wait_text("slowq", "Unlocking the vault");
    tmux.keys("slowq", &["C-c"]);
    let (code, echo, screen) = tmux.wait_exit("slowq", Duration::from_secs(30));
    assert_eq!(code, 130, "{screen}");
    assert!(echo, "{screen}");
    assert!(
        !screen.contains("┌ Varlor"),
        "left the alternate screen:\n{screen}"
    );
}

// ------------------------------------------------------------------ 5. partial files

/// Starts a TUI import of a big SQLite table into the default datasets
/// directory, stops it with `stop`, and checks nothing is left there.
fn tui_import_stopped(session: &str, stop: &str, expected_exit: i32) {
    let Some(tmux) = Tmux::new(session) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let db = dir.path().join("big.sqlite");
    big_sqlite(&db, 3_000_000);
    let url = format!("sqlite://{}", db.display());
    ok(varlor(&home)
        .args(["add", "big", "--url", &url])
        .output()
        .unwrap());
    let datasets = home.join("data").join("datasets");

    tmux.launch(session, &home_env(&home), "");
    tmux.wait_text(session, "┌ Varlor");
    tmux.keys(session, &["/"]);
    tmux.type_text(session, "big");
    tmux.keys(session, &["Enter", "Enter"]);
    tmux.wait_text(session, "big · 1 table");
    tmux.keys(session, &["i"]);
    tmux.wait_text(session, "Import");
    tmux.keys(session, &["Enter"]);
    // The import is writing its partial file.
    let deadline = Instant::now() + Duration::from_secs(30);
    while partials(&datasets).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the import never started:\n{}",
            tmux.capture(session)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let signal = match stop {
        "SIGTERM" => Some(libc::SIGTERM),
        "SIGHUP" => Some(libc::SIGHUP),
        _ => None,
    };
    match signal {
        // SAFETY: a signal to the process this test started in its pane.
        Some(sig) => unsafe {
            libc::kill(tmux.varlor_pid(session), sig);
        },
        None => tmux.keys(session, &[stop]),
    }
    let (code, echo, screen) = tmux.wait_exit(session, Duration::from_secs(20));
    assert_eq!(
        partials(&datasets),
        Vec::<String>::new(),
        "partial files left"
    );
    assert_eq!(code, expected_exit, "{screen}");
    assert!(echo, "{screen}");
    let left: Vec<_> = std::fs::read_dir(&datasets)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing of a stopped import: {left:?}");
}

#[test]
fn tui_import_stopped_by_ctrl_c_leaves_no_partial() {
    tui_import_stopped("impc", "C-c", 130);
}

#[test]
fn tui_import_stopped_by_sigterm_leaves_no_partial() {
    tui_import_stopped("impt", "SIGTERM", 143);
}

#[test]
fn tui_import_stopped_by_sighup_leaves_no_partial() {
    tui_import_stopped("imph", "SIGHUP", 129);
}

#[test]
fn the_next_import_removes_leftovers_of_a_killed_one_only() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let db = dir.path().join("small.sqlite");
    big_sqlite(&db, 100);
    let url = format!("sqlite://{}", db.display());
    ok(varlor(&home)
        .args(["add", "small", "--url", &url])
        .output()
        .unwrap());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // What `kill -9` of an import leaves: a partial file of our pattern.
    let leftover = out.join(".small.sqlite.Xy12Ab.partial");
    let leftover_csv = out.join("csv").join(".big.csv.Q1w2E3.partial");
    std::fs::create_dir(out.join("csv")).unwrap();
    // Other programs' files, or not our pattern: kept.
    let keep = [
        out.join(".notes.txt.Xy12Ab.partial"),
        out.join("small.sqlite.Xy12Ab.partial"),
        out.join(".small.sqlite.partial"),
        out.join("csv").join(".big.csv.Q1w2.partial"),
    ];
    for p in keep.iter().chain([&leftover, &leftover_csv]) {
        std::fs::write(p, b"half a file").unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let dest = out.join("small.sqlite");
    ok(varlor(&home)
        .args(["import", "small", "big", "--to"])
        .arg(&dest)
        .output()
        .unwrap());
    ok(varlor(&home)
        .args(["import", "small", "big", "--format", "csv", "--to"])
        .arg(out.join("csv"))
        .output()
        .unwrap());
    assert!(dest.is_file() && out.join("csv").join("big.csv").is_file());
    assert!(
        !leftover.exists(),
        "the killed run's sqlite partial is removed"
    );
    assert!(
        !leftover_csv.exists(),
        "the killed run's csv partial is removed"
    );
    for p in &keep {
        assert!(p.exists(), "{} must be kept", p.display());
    }
}

/// The PostgreSQL backend streaming the import is killed by a superuser
/// (pg_terminate_backend): the import fails and leaves no partial file.
#[test]
fn a_server_error_mid_import_leaves_no_partial() {
    let Some(pg) = common::pg() else {
        return;
    };
    let Ok(state) = std::env::var("VARLOR_TEST_PG_STATE") else {
        common::skip("VARLOR_TEST_PG_STATE (the superuser socket directory) is not set");
        return;
    };
    let psql = |sql: &str| {
        Command::new("psql")
            .args(["-X", "-q", "-At", "-h", &state, "-p", &pg.port.to_string()])
            .args(["-U", "postgres", "-d", &pg.db, "-c", sql])
            .output()
            .expect("run psql")
    };
    let view = format!("varlor_rob_stream_{}", std::process::id());
    let made = psql(&format!(
        "CREATE OR REPLACE VIEW public.{view} AS SELECT i, repeat('x', 40) AS pad FROM generate_series(1, 200000000) AS i; GRANT SELECT ON public.{view} TO {};",
        pg.user
    ));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    let url = format!(
        "postgres://{}@{}:{}/{}?sslmode=disable",
        pg.user, pg.host, pg.port, pg.db
    );
    let mut add = varlor(&home);
    add.env("VARLOR_PASSPHRASE_FILE", &pass)
        .args(["add", "pg", "--url", &url, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = add.spawn().unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{}", pg.password).unwrap();
    ok(child.wait_with_output().unwrap());

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut import = varlor(&home);
    import
        .env("VARLOR_PASSPHRASE_FILE", &pass)
        .args([
            "import",
            "pg",
            &format!("public.{view}"),
            "--format",
            "csv",
            "--to",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = import.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while partials(&out).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the import never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The backend that holds the view (its cursor's transaction).
    let killed = psql(&format!(
        "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l \
         WHERE l.relation = 'public.{view}'::regclass AND l.pid <> pg_backend_pid()"
    ));
    let n = String::from_utf8_lossy(&killed.stdout).trim().to_string();
    assert_eq!(
        n,
        "1",
        "one backend terminated: {}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let output = child.wait_with_output().unwrap();
    let _ = psql(&format!("DROP VIEW IF EXISTS public.{view}"));
    assert_eq!(output.status.code(), Some(1), "a failed import exits 1");
    assert_eq!(partials(&out), Vec::<String>::new(), "partial files left");
    assert!(
        !out.join(format!("public.{view}.csv")).exists()
            && !out.join(format!("{view}.csv")).exists(),
        "no file under the final name"
    );
}

// ------------------------------------------------------------------ 6. closed pipes

/// Runs `args` with stdout a pipe whose reader is already closed.
fn into_closed_pipe(home: &Path, args: &[&str]) {
    let mut child = varlor(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    let quiet = out.status.code() == Some(0)
        || out.status.code() == Some(141)
        || out.status.signal() == Some(libc::SIGPIPE);
    assert!(quiet, "{args:?}: {:?}\n{stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.contains("error"), "{args:?}: {stderr}");
}

#[test]
fn a_closed_stdout_ends_each_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(varlor(&home).args(["list"]).output().unwrap()); // creates the demo
    for args in [
        vec!["preview", "demo", "customers", "--limit", "500"],
        vec!["preview", "demo", "customers", "--limit", "500", "--csv"],
        vec!["preview", "demo", "customers", "--json"],
        vec!["tables", "demo"],
        vec!["tables", "demo", "--json"],
        vec!["describe", "demo", "customers"],
        vec!["list"],
        vec!["list", "--json"],
        vec!["audit"],
        vec!["vault", "status"],
        vec!["doctor"],
    ] {
        into_closed_pipe(&home, &args);
    }
}

// ------------------------------------------------------------------ 8. permissions

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn every_file_and_directory_varlor_creates_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // Even with a permissive umask of the caller.
    let permissive = |c: &mut Command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask is async-signal-safe; runs in the child before exec.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
    };
    let mut list = varlor(&home);
    list.arg("list");
    permissive(&mut list);
    ok(list.output().unwrap());
    for kind in [
        vec!["import", "demo", "customers"],
        vec!["import", "demo", "customers", "--format", "csv"],
        vec!["import", "demo", "customers", "--format", "jsonl"],
    ] {
        let mut c = varlor(&home);
        c.args(&kind);
        permissive(&mut c);
        ok(c.output().unwrap());
    }
    let data = home.join("data");
    let datasets = data.join("datasets");
    let mut checked = Vec::new();
    for d in [
        home.join("config"),
        data.clone(),
        home.join("state"),
        home.join("state").join("logs"),
        datasets.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        checked.push(d);
    }
    assert_eq!(mode(&data.join("demo.sqlite")), 0o600);
    assert_eq!(
        mode(&home.join("state").join("logs").join("varlor.log")),
        0o600
    );
    let mut files = 0;
    for e in std::fs::read_dir(&datasets).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
            for f in std::fs::read_dir(&p).unwrap().flatten() {
                assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
                files += 1;
            }
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            files += 1;
        }
    }
    // One sqlite file, csv + sidecar, jsonl + sidecar.
    assert_eq!(files, 5, "datasets made");
}
