//! SSH tunnels against the throwaway sshd of `scripts/testdb/sshd.sh`
//! (bastion, ProxyJump hop, forwarding disabled) with the real PostgreSQL,
//! MariaDB and MongoDB (SecantusDB) behind them. Every alias lives in one ssh config written
//! here (`VARLOR_SSH_CONFIG`, the `-F` of every tunnel), in a throwaway
//! home: IdentityFile, UserKnownHostsFile and ProxyJump as a person writes them.
//!
//! The prompter is process-wide, so the tests take one lock and run one at a time
//! (each test has its own runtime and thread: holding the lock across awaits is the point).
#![allow(clippy::await_holding_lock)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use varlor::connectors::Connector as _;
use varlor::connectors::{
    connector_for, ConnSpec, ErrorKind, Kind, SessionOptions, TableKind, TableRef, TlsMode,
};
use varlor::ssh::askpass::{self, Prompter, Question};
use varlor::ssh::{staged_test, via_of, StagedTest, Tunnelled};

struct Ssh {
    home: PathBuf,
    state: PathBuf,
    bastion_port: u16,
    canary: String,
}

static SETUP: OnceLock<Option<Ssh>> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a setup command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path));
}

/// The config, keys and known_hosts files, once per test process.
fn ssh() -> Option<(&'static Ssh, MutexGuard<'static, ()>)> {
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let setup = SETUP.get_or_init(|| {
        let var = |n: &str| std::env::var(format!("VARLOR_TEST_SSH_{n}")).ok().filter(|v| !v.is_empty());
        let Some(port) = var("PORT") else {
            common::skip("no test sshd (VARLOR_TEST_SSH_PORT unset; run scripts/test)");
            return None;
        };
        let (jump, nofwd) = (var("JUMP_PORT").unwrap(), var("NOFWD_PORT").unwrap());
        let (user, key, known) = (var("USER").unwrap(), var("KEY").unwrap(), var("KNOWN_HOSTS").unwrap());
        let home = common::temp_home().keep();
        let d = home.join(".ssh");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&key, d.join("id")).unwrap();
        std::fs::copy(&key, d.join("id_pass")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for k in ["id", "id_pass"] {
            std::fs::set_permissions(d.join(k), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let canary = format!("CANARY-ssh-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos());
        run(Command::new("ssh-keygen").args(["-q", "-p", "-P", "", "-N", &canary, "-f"]).arg(d.join("id_pass")));
        keygen(&d.join("wrong"));
        keygen(&d.join("other_host"));
        // known_hosts where the bastion has another key: "changed".
        let other = std::fs::read_to_string(d.join("other_host.pub")).unwrap();
        let other = other.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        std::fs::write(d.join("changed_hosts"), format!("[127.0.0.1]:{port} {other}\n")).unwrap();
        let host = |alias: &str, p: &str, id: &str, known: &str, extra: &str| {
            format!(
                "Host {alias}\n  HostName 127.0.0.1\n  Port {p}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  ConnectTimeout 5\n{extra}",
                d.join(id).display()
            )
        };
        let unknown = d.join("unknown_hosts").display().to_string();
        let changed = d.join("changed_hosts").display().to_string();
        let config = [
            host("bastion", &port, "id", &known, ""),
            host("bastion-kill", &port, "id", &known, ""),
            host("jumphost", &jump, "id", &known, ""),
            host("viajump", &port, "id", &known, "  ProxyJump jumphost\n"),
            host("wrongkey", &port, "wrong", &known, ""),
            host("down", &common::closed_port().to_string(), "id", &known, ""),
            host("unknownkey", &port, "id", &unknown, "  StrictHostKeyChecking ask\n"),
            host("changedkey", &port, "id", &changed, "  StrictHostKeyChecking ask\n"),
            host("nofwd", &nofwd, "id", &known, ""),
            host("passkey", &port, "id_pass", &known, ""),
        ]
        .join("");
        std::fs::write(d.join("config"), config).unwrap();
        std::env::set_var("VARLOR_SSH_CONFIG", d.join("config"));
        askpass::set_program(PathBuf::from(env!("CARGO_BIN_EXE_varlor")));
        Some(Ssh {
            home,
            state: PathBuf::from(var("STATE").unwrap()),
            bastion_port: port.parse().unwrap(),
            canary,
        })
    });
    setup.as_ref().map(|s| (s, guard))
}

/// Answers every question the same way and remembers them.
struct Answer(&'static str, Mutex<Vec<Question>>);
impl Prompter for Answer {
    fn ask(&self, q: &Question) -> Option<SecretString> {
        self.1.lock().unwrap().push(q.clone());
        Some(SecretString::from(self.0.to_string()))
    }
}

fn via(mut spec: ConnSpec, alias: &str) -> ConnSpec {
    spec.options.insert("ssh".into(), alias.into());
    spec
}

async fn staged(spec: &ConnSpec, pw: Option<SecretString>) -> StagedTest {
    staged_test(spec, pw, SessionOptions::default()).await
}

fn failed_with(t: &StagedTest, kind: ErrorKind, stage: &str) {
    let e = t.result.as_ref().expect_err(&t.line());
    assert_eq!(e.kind, kind, "{} / {}", t.line(), e.detail);
    let last = t.stages.last().expect("a stage");
    assert!(!last.ok && last.name.starts_with(stage), "{}", t.line());
}

async fn browse_through(alias: &str, kind: Kind, server: &common::ServerEnv, table: TableRef) {
    let spec = via(server.spec(kind), alias);
    let t = staged(&spec, Some(server.secret())).await;
    assert!(t.result.is_ok(), "{} {:?}", t.line(), t.result);
    assert_eq!(t.stages.len(), 3, "{}", t.line());
    assert!(
        t.stages[0].name == format!("SSH {alias}") && t.stages.iter().all(|s| s.ok),
        "{}",
        t.line()
    );
    let c = connector_for(&spec, Some(server.secret()), SessionOptions::default()).unwrap();
    let tables = c.list_tables().await.unwrap();
    assert!(tables.iter().any(|t| t.name == "customers"), "{tables:?}");
    let rows = c.preview(&table, 10).await.unwrap();
    assert_eq!(rows.rows.len(), 10);
    assert_eq!(c.count_rows(&table).await.unwrap(), 1000);
    let mut sink = common::Collect::default();
    let n = c
        .stream_rows(&table, &Default::default(), &mut sink)
        .await
        .unwrap();
    assert_eq!((n, sink.rows.len()), (1000, 1000));
    // Structure and rows have a session each, both through the one tunnel:
    // the structure answers while a slow preview runs on the other.
    let c: Arc<dyn varlor::connectors::Connector> = Arc::from(c);
    let slow = TableRef {
        name: "slow_view".into(),
        kind: TableKind::View,
        ..table.clone()
    };
    let rows = c.clone();
    let preview = tokio::spawn(async move { rows.preview(&slow, 10).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let info = c.describe(&table).await.unwrap();
    assert!(!info.columns.is_empty());
    assert!(
        !preview.is_finished(),
        "the structure waited for the preview"
    );
    let tunnels = live_ssh(alias);
    assert_eq!(
        tunnels.len(),
        1,
        "one tunnel per open connection: {tunnels:?}"
    );
    preview.abort();
    let _ = preview.await;
    drop(c);
    assert!(live_ssh(alias).is_empty(), "closing ends the tunnel");
}

fn table(schema: &str) -> TableRef {
    TableRef {
        schema: Some(schema.into()),
        name: "customers".into(),
        kind: TableKind::Table,
        estimated_rows: None,
        system: false,
    }
}

#[tokio::test]
async fn postgres_and_mariadb_through_the_tunnel() {
    let Some((_s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    if let Some(pg) = common::pg() {
        browse_through("bastion", Kind::Postgres, &pg, table("public")).await;
    }
    if let Some(my) = common::mysql() {
        let db = my.db.clone();
        browse_through("bastion", Kind::Mysql, &my, table(&db)).await;
    }
}

/// verify-full through a tunnel: the database is named `localhost` (as the
/// bastion sees it) and its certificate is checked for that name, not for
/// the tunnel's end (a socket for PostgreSQL, the loopback gate for
/// MariaDB); under another name of the same address it is refused.
#[tokio::test]
async fn verify_full_through_the_tunnel_checks_the_database_name() {
    let Some((_s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    for (kind, server) in [
        (Kind::Postgres, common::pg()),
        (Kind::Mysql, common::mysql()),
    ] {
        let Some(server) = server else { continue };
        let Some(spec) = verified_via_bastion(&server, kind) else {
            continue;
        };
        let t = staged(&spec, Some(server.secret())).await;
        let info = t
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{kind:?}: {} / {}", t.line(), e.full()));
        assert!(info.tls, "{kind:?}: {}", t.line());
        wrong_name_is_refused(&spec, &server).await;
    }
}

#[tokio::test]
async fn an_alias_with_proxyjump_goes_through_the_second_sshd() {
    let Some((s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    let Some(pg) = common::pg() else { return };
    let log = s.state.join("jump/sshd.log");
    let before = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("Accepted key")
        .count();
    browse_through("viajump", Kind::Postgres, &pg, table("public")).await;
    let after = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("Accepted key")
        .count();
    assert!(after > before, "the jump host logged no login");
}

#[tokio::test]
async fn ssh_failures_name_their_stage_in_words() {
    let Some((s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    // The fingerprint test may have accepted the key ("yes") into this file.
    std::fs::write(s.home.join(".ssh/unknown_hosts"), "").unwrap();
    let Some(pg) = common::pg() else { return };
    let spec = |alias| via(pg.spec(Kind::Postgres), alias);
    // BatchMode (no prompter): an unknown key is refused, not asked, and a
    // passphrase key cannot be used.
    for (alias, kind) in [
        ("wrongkey", ErrorKind::SshAuthFailed),
        ("down", ErrorKind::SshUnreachable),
        ("changedkey", ErrorKind::SshHostKeyChanged),
        ("unknownkey", ErrorKind::SshHostKeyUnknown),
        ("passkey", ErrorKind::SshAuthFailed),
    ] {
        let t = staged(&spec(alias), Some(pg.secret())).await;
        failed_with(&t, kind, &format!("SSH {alias}"));
    }
    let t = staged(&spec("nofwd"), Some(pg.secret())).await;
    failed_with(&t, ErrorKind::SshForwardingRefused, "tunnel to");
    assert!(t.stages[0].ok, "{}", t.line());
    let mut down = spec("bastion");
    down.port = Some(common::closed_port());
    let t = staged(&down, Some(pg.secret())).await;
    failed_with(&t, ErrorKind::RefusedBehindBastion, "tunnel to");
    // Browsing (not only the test) gets the same words.
    let c = connector_for(&down, Some(pg.secret()), SessionOptions::default()).unwrap();
    assert_eq!(
        c.list_tables().await.unwrap_err().kind,
        ErrorKind::RefusedBehindBastion
    );
    // The same words behind the relay (MariaDB) and the SOCKS5 gate (MongoDB).
    for (kind, server) in [
        (Kind::Mysql, common::mysql()),
        (Kind::Mongodb, common::mongo()),
    ] {
        let Some(server) = server else { continue };
        let mut down = via(server.spec(kind), "bastion");
        down.port = Some(common::closed_port());
        let t = staged(&down, Some(server.secret())).await;
        failed_with(&t, ErrorKind::RefusedBehindBastion, "tunnel to");
        let t = staged(&via(server.spec(kind), "nofwd"), Some(server.secret())).await;
        failed_with(&t, ErrorKind::SshForwardingRefused, "tunnel to");
    }
}

#[tokio::test]
async fn unknown_host_key_asks_with_its_fingerprint() {
    let Some((s, _g)) = ssh() else { return };
    let Some(pg) = common::pg() else { return };
    let known = s.home.join(".ssh/unknown_hosts");
    let spec = via(pg.spec(Kind::Postgres), "unknownkey");
    for (answer, ok) in [("no", false), ("yes", true)] {
        std::fs::write(&known, "").unwrap();
        let p = Arc::new(Answer(answer, Mutex::new(Vec::new())));
        askpass::set_prompter(Some(p.clone()));
        let t = staged(&spec, Some(pg.secret())).await;
        askpass::set_prompter(None);
        let asked = p.1.lock().unwrap().clone();
        assert!(
            matches!(&asked[..], [Question::Confirm(q)] if q.contains("SHA256:") && q.contains("fingerprint")),
            "{asked:?}"
        );
        assert_eq!(t.result.is_ok(), ok, "{answer}: {}", t.line());
        let saved = std::fs::read_to_string(&known).unwrap();
        assert_eq!(
            saved.contains(&format!("[127.0.0.1]:{}", s.bastion_port)),
            ok,
            "{saved}"
        );
        if !ok {
            failed_with(&t, ErrorKind::SshHostKeyUnknown, "SSH unknownkey");
        }
    }
    // Leave the key unknown again for the other tests.
    std::fs::write(&known, "").unwrap();
    // A changed key is refused even when the person would say yes.
    let p = Arc::new(Answer("yes", Mutex::new(Vec::new())));
    askpass::set_prompter(Some(p));
    let t = staged(
        &via(pg.spec(Kind::Postgres), "changedkey"),
        Some(pg.secret()),
    )
    .await;
    askpass::set_prompter(None);
    failed_with(&t, ErrorKind::SshHostKeyChanged, "SSH changedkey");
}

/// Every process whose command line holds `needle`, with its state letter.
fn processes_with(needle: &str) -> Vec<(i32, char, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if !cmd.contains(needle) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let state = stat
            .rsplit(") ")
            .next()
            .and_then(|s| s.chars().next())
            .unwrap_or('?');
        out.push((pid, state, cmd));
    }
    out
}

fn live_ssh(needle: &str) -> Vec<(i32, char, String)> {
    processes_with(needle)
        .into_iter()
        .filter(|(_, st, cmd)| *st != 'Z' && cmd.starts_with("ssh "))
        .collect()
}

/// The passphrase typed at the prompt reaches ssh only: not its argv or
/// environment, not a file, and the prompt's socket directory goes away.
#[tokio::test]
async fn canary_key_passphrase_never_reaches_argv_or_disk() {
    let Some((s, _g)) = ssh() else { return };
    let Some(pg) = common::pg() else { return };
    let canary: &'static str = Box::leak(s.canary.clone().into_boxed_str());
    let p = Arc::new(Answer(canary, Mutex::new(Vec::new())));
    askpass::set_prompter(Some(p.clone()));
    let spec = via(pg.spec(Kind::Postgres), "passkey");
    let c = connector_for(&spec, Some(pg.secret()), SessionOptions::default()).unwrap();
    let tables = c.list_tables().await;
    askpass::set_prompter(None);
    assert!(tables.is_ok(), "{tables:?}");
    assert!(matches!(&p.1.lock().unwrap()[..], [Question::Secret(q)] if q.contains("passphrase")));
    let ssh = live_ssh("passkey");
    assert_eq!(ssh.len(), 1, "{ssh:?}");
    for (pid, _, cmd) in &ssh {
        assert!(!cmd.contains(canary));
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(!String::from_utf8_lossy(&env).contains(canary));
    }
    assert!(
        processes_with(canary)
            .iter()
            .all(|(_, _, c)| c.starts_with("ssh-keygen")),
        "in an argv"
    );
    drop(c);
    assert!(
        live_ssh("passkey").is_empty(),
        "dropping the connector ends ssh"
    );
    let mut files = Vec::new();
    walk(&s.home, &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(canary),
            "{}",
            f.display()
        );
    }
    let leftover: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("varlor-askpass.")
        })
        .filter(|e| std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some()))
        .map(|e| e.path())
        .collect();
    assert!(
        leftover.is_empty() || leftover.iter().all(|p| !p.exists()),
        "{leftover:?}"
    );
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The CLI: a saved connection "SSH via" tests with stages, browses and
/// imports; quitting leaves no ssh, and neither does `kill -9` mid-query.
#[test]
fn cli_saved_connection_through_ssh_and_no_orphans() {
    let Some((s, _g)) = ssh() else { return };
    let Some(pg) = common::pg() else { return };
    let home = common::temp_home();
    let varlor = cli(s, home.path());
    let url = format!(
        "postgres://{}@127.0.0.1:{}/{}?ssh=bastion-kill",
        pg.user, pg.port, pg.db
    );
    let mut add = varlor();
    add.args([
        "add",
        "viassh",
        "--url",
        &url,
        "--tls",
        "disable",
        "--password-stdin",
    ]);
    let out = pipe(add, &format!("{}\n", pg.password));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = varlor().args(["test", "viassh"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("✓ PostgreSQL"), "{text}");
    assert!(
        text.contains("\n  SSH bastion-kill ✓") && text.contains(" → tunnel to 127.0.0.1:"),
        "{text}"
    );
    let out = varlor()
        .args(["test", "viassh", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ssh"], "bastion-kill");
    assert_eq!(v["stages"].as_array().unwrap().len(), 3, "{v}");
    let out = varlor()
        .args(["test", "viassh", "--json", "--ssh", "wrongkey"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "ssh_auth_failed", "{v}");

    succeeds(varlor().args(["preview", "viassh", "customers", "--json"]));
    let dest = home.path().join("out.sqlite");
    succeeds(
        varlor()
            .args(["import", "viassh", "orders", "--to"])
            .arg(&dest),
    );
    assert_eq!(imported_rows(&dest, "orders"), 5000);
    // The runtime is shut down without waiting for its tasks, so ssh may go
    // with the process exit (parent-death signal) a moment after varlor.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !live_ssh("bastion-kill").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        live_ssh("bastion-kill").is_empty(),
        "a finished command left ssh running"
    );

    // kill -9 mid-query: the parent-death signal takes ssh along.
    let mut child = varlor()
        .args(["query", "viassh", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while live_ssh("bastion-kill").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ssh = live_ssh("bastion-kill");
    assert_eq!(ssh.len(), 1, "the query's tunnel: {ssh:?}");
    std::thread::sleep(Duration::from_millis(300)); // mid-query
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !live_ssh("bastion-kill").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        live_ssh("bastion-kill").is_empty(),
        "ssh outlived kill -9: {:?}",
        live_ssh("bastion-kill")
    );
}

/// `varlor` for the CLI tests: a throwaway home and vault, the test ssh config.
fn cli(s: &Ssh, home: &Path) -> impl Fn() -> Command {
    let pass = home.join("pass");
    std::fs::write(&pass, "ssh test passphrase\n").unwrap();
    let (home, config) = (home.join("h"), s.home.join(".ssh/config"));
    move || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_varlor"));
        c.env("VARLOR_HOME", &home)
            .env("VARLOR_PASSPHRASE_FILE", &pass)
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env("NO_COLOR", "1")
            .env("VARLOR_SSH_CONFIG", &config);
        c
    }
}

/// Runs `cmd` and insists that it succeeded; its stdout.
fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rows of the imported table whose name ends with `table` in the SQLite file.
fn imported_rows(dest: &Path, table: &str) -> i64 {
    let db = rusqlite::Connection::open(dest).unwrap();
    let name: String = db
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%' || ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    db.query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| {
        r.get(0)
    })
    .unwrap()
}

fn pipe(mut cmd: Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The socket inodes `pid` holds ("socket:[N]" links in /proc/PID/fd).
fn socket_inodes(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("socket:[")
                        .and_then(|r| r.strip_suffix(']'))
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The TCP listeners (IPv4 and IPv6) among `pid`'s sockets: "port (inode)".
fn tcp_listeners_of(pid: i32) -> Vec<String> {
    let mine = socket_inodes(pid);
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && mine.iter().any(|i| i == f[9]) {
                out.push(format!("{} ({})", f[1], f[9]));
            }
        }
    }
    out
}

/// The Unix listeners among `pid`'s sockets, by path.
fn unix_listeners_of(pid: i32) -> Vec<String> {
    let mine = socket_inodes(pid);
    let text = std::fs::read_to_string("/proc/net/unix").unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let listening = u32::from_str_radix(f.get(3)?, 16).ok()? & 0x10000 != 0;
            (f.len() > 7 && listening && mine.iter().any(|i| i == f[6])).then(|| f[7].to_string())
        })
        .collect()
}

fn tunnelled(spec: &ConnSpec, server: &common::ServerEnv) -> Tunnelled {
    let via = via_of(spec).unwrap().expect("an ssh hop");
    let open = spec.kind.engine().open.expect("engine in this build");
    Tunnelled::new(
        spec,
        via,
        Some(server.secret()),
        SessionOptions::default(),
        open,
    )
}

/// Opens a tunnel for `kind` and checks what only this user can reach: ssh
/// listens on a Unix socket (0600, in a 0700 directory of this user) and on
/// no TCP port; closing removes both. `knock` gets the gate's port, if the
/// engine has one, while the tunnel is still open.
async fn private_tunnel(
    kind: Kind,
    server: &common::ServerEnv,
    knock: impl FnOnce(u16) + Send + 'static,
) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let c = tunnelled(&via(server.spec(kind), "bastion"), server);
    let info = c
        .test()
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: {}", e.full()));
    assert!(!info.version.is_empty());
    let pid = c.tunnel_pid().await.expect("a tunnel");
    let socket = c.tunnel_socket().await.expect("its socket");
    assert_eq!(
        tcp_listeners_of(pid),
        Vec::<String>::new(),
        "{kind:?}: ssh listens on TCP"
    );
    assert_eq!(
        unix_listeners_of(pid),
        [socket.display().to_string()],
        "{kind:?}: ssh's listeners"
    );
    let me = unsafe { libc::geteuid() };
    let dir = socket.parent().unwrap().to_path_buf();
    let dmeta = std::fs::metadata(&dir).unwrap();
    assert_eq!(
        (dmeta.permissions().mode() & 0o777, dmeta.uid()),
        (0o700, me),
        "{dir:?}"
    );
    let smeta = std::fs::symlink_metadata(&socket).unwrap();
    assert_eq!(smeta.permissions().mode() & 0o777, 0o600, "{socket:?}");
    if let Some(port) = c.gate_port().await {
        // The gate is ours, not ssh's, and only on loopback.
        assert!(tcp_listeners_of(std::process::id() as i32)
            .iter()
            .any(|l| l.starts_with(&format!("0100007F:{port:04X} "))));
        // Off the runtime: the gate serves on it meanwhile.
        tokio::task::spawn_blocking(move || knock(port))
            .await
            .unwrap();
    }
    drop(c);
    assert!(
        !socket.exists() && !dir.exists(),
        "{dir:?} outlived the tunnel"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || processes_with("bastion")
                .iter()
                .all(|(p, st, _)| *p != pid || *st == 'Z'),
        "ssh {pid} outlived the tunnel"
    );
}

/// How many bytes a connection to 127.0.0.1:`port` reads within 3 s, made
/// by `uid` (needs root to be another user).
fn bytes_read_as(uid: u32, port: u16) -> usize {
    use std::os::unix::process::CommandExt;
    let out = Command::new("timeout")
        .args([
            "5",
            "bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/$0 && timeout 3 head -c 4 <&3 | wc -c",
        ])
        .arg(port.to_string())
        .uid(uid)
        .gid(uid)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The tunnel is a socket only this user reaches: PostgreSQL dials it
/// itself; MariaDB dials a loopback gate of this process, which another
/// user's connection cannot pass (the server's greeting never reaches it).
#[tokio::test]
async fn the_tunnel_is_a_socket_only_this_user_reaches() {
    let Some((_s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    if let Some(pg) = common::pg() {
        private_tunnel(Kind::Postgres, &pg, |_| panic!("PostgreSQL needs no gate")).await;
    }
    if let Some(my) = common::mysql() {
        let me = unsafe { libc::geteuid() };
        private_tunnel(Kind::Mysql, &my, move |port| {
            // This user: MariaDB's greeting comes through the gate.
            assert_eq!(bytes_read_as(me, port), 4, "this user through the gate");
            if me == 0 {
                assert_eq!(
                    bytes_read_as(65534, port),
                    0,
                    "another user passed the gate"
                );
            } else {
                eprintln!("not root: the other-user knock on the gate is not tried");
            }
        })
        .await;
    }
}

/// A name that resolves to 127.0.0.1 here (so behind the bastion it
/// reaches the test servers) but that the test certificate does not carry.
fn uncertified_loopback_name() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|l| {
        let mut f = l.split('#').next()?.split_whitespace();
        (f.next()? == "127.0.0.1")
            .then(|| f.find(|n| !n.starts_with("localhost")).map(String::from))
            .flatten()
    })
}

/// `server` as the bastion sees it (`localhost`, the name its certificate
/// carries), verify-full with the test CA, via the bastion; `None` (a skip
/// notice) without the CA.
fn verified_via_bastion(server: &common::ServerEnv, kind: Kind) -> Option<ConnSpec> {
    let Some(ca) = server.ca.clone() else {
        common::skip("no test CA (VARLOR_TEST_CA)");
        return None;
    };
    let mut spec = server.spec(kind);
    spec.host = "localhost".into();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = Some(ca);
    Some(via(spec, "bastion"))
}

/// The same server under a name its certificate does not carry is refused
/// through the tunnel: the name checked is the database's, never the
/// tunnel's end.
async fn wrong_name_is_refused(spec: &ConnSpec, server: &common::ServerEnv) {
    let Some(other) = uncertified_loopback_name() else {
        eprintln!("no other name for 127.0.0.1 in /etc/hosts: the wrong-name check is not tried");
        return;
    };
    let mut wrong = spec.clone();
    wrong.host = other.clone();
    let t = staged(&wrong, Some(server.secret())).await;
    let e = t.result.as_ref().expect_err(&t.line());
    assert_eq!(
        e.kind,
        ErrorKind::CertificateNotTrusted,
        "{:?} as {other}: {} / {}",
        spec.kind,
        t.line(),
        e.full()
    );
}

/// MongoDB (SecantusDB, TLS required) reached only through the bastion:
/// the staged test, list, structure, preview, count and an import; its
/// certificate checked for the database's own name, not the tunnel's end.
#[tokio::test]
async fn mongodb_through_the_tunnel() {
    let Some((_s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    let Some(mongo) = common::mongo() else { return };
    let Some(spec) = verified_via_bastion(&mongo, Kind::Mongodb) else {
        return;
    };
    let t = staged(&spec, Some(mongo.secret())).await;
    let info = t
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("{} / {}", t.line(), e.full()));
    assert!(info.tls, "{}", t.line());
    assert_eq!(t.stages.len(), 3, "{}", t.line());
    assert!(t.stages.iter().all(|s| s.ok), "{}", t.line());
    assert!(t.line().contains(" → tunnel to localhost:"), "{}", t.line());

    let c: Arc<dyn varlor::connectors::Connector> =
        Arc::from(connector_for(&spec, Some(mongo.secret()), SessionOptions::default()).unwrap());
    let tables = c.list_tables().await.unwrap();
    let customers = tables
        .iter()
        .find(|t| t.name == "customers")
        .unwrap_or_else(|| panic!("{tables:?}"))
        .clone();
    let info = c.describe(&customers).await.unwrap();
    assert!(
        info.columns.iter().any(|col| col.name == "email"),
        "{:?}",
        info.columns
    );
    assert_eq!(c.preview(&customers, 10).await.unwrap().rows.len(), 10);
    assert_eq!(c.count_rows(&customers).await.unwrap(), 1000);
    let dir = tempfile::tempdir().unwrap();
    let plan = varlor::dataset::ImportPlan {
        connection: "via-bastion".into(),
        kind: Kind::Mongodb,
        tables: vec![varlor::dataset::TablePlan::new(customers)],
        destination: dir.path().join("out.sqlite"),
        format: varlor::dataset::Format::Sqlite,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = varlor::dataset::run_import(
        c.clone(),
        plan,
        tx,
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    assert_eq!(
        summary.outcome(),
        varlor::dataset::ImportOutcome::Ok,
        "{summary:?}"
    );
    assert_eq!(
        imported_rows(&dir.path().join("out.sqlite"), "customers"),
        1000
    );
    drop(c);

    wrong_name_is_refused(&spec, &mongo).await;
}

/// Through SSH a MongoDB host list or `+srv` address is refused in words.
#[test]
fn mongodb_host_lists_and_srv_are_refused_through_ssh() {
    for url in [
        "mongodb://u@a.example:27017,b.example:27017/app?ssh=bastion",
        "mongodb+srv://u@cluster.example/app?ssh=bastion",
    ] {
        let (spec, _) = ConnSpec::from_url(url).unwrap();
        let e = via_of(&spec).unwrap_err();
        assert_eq!(e.field, "ssh", "{url}");
        assert!(
            e.message.contains("host list") || e.message.contains("mongodb+srv"),
            "{url}: {}",
            e.message
        );
    }
}

/// The CLI with a saved MongoDB connection "SSH via" the bastion: the staged
/// test, a preview and an import, TLS verified for the database's name.
#[test]
fn cli_mongodb_through_ssh() {
    let Some((s, _g)) = ssh() else { return };
    let Some(mongo) = common::mongo() else { return };
    let Some(ca) = mongo.ca.clone() else {
        common::skip("no test CA (VARLOR_TEST_MONGO_CA)");
        return;
    };
    let home = common::temp_home();
    let varlor = cli(s, home.path());
    let url = format!(
        "mongodb://{}@localhost:{}/{}?tls=true&tlsCAFile={}&ssh=bastion",
        mongo.user,
        mongo.port,
        mongo.db,
        ca.display()
    );
    let mut add = varlor();
    add.args(["add", "mongoviassh", "--url", &url, "--password-stdin"]);
    let out = pipe(add, &format!("{}\n", mongo.password));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = succeeds(varlor().args(["test", "mongoviassh"]));
    assert!(
        text.contains("SSH bastion ✓") && text.contains(" → tunnel to localhost:"),
        "{text}"
    );
    assert!(text.contains("(TLS)"), "{text}");
    let preview = succeeds(varlor().args(["preview", "mongoviassh", "customers", "--json"]));
    assert!(preview.contains("customer1@example.com"), "{preview}");
    let dest = home.path().join("out.sqlite");
    succeeds(
        varlor()
            .args(["import", "mongoviassh", "customers", "--to"])
            .arg(&dest),
    );
    assert_eq!(imported_rows(&dest, "customers"), 1000);
    // A +srv address through SSH is refused in words when it is added.
    let out = varlor()
        .args([
            "add",
            "srvviassh",
            "--url",
            "mongodb+srv://u@cluster.example/app?ssh=bastion",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mongodb+srv"), "{err}");
}

/// This user's PostgreSQL sessions asleep in pg_sleep, seen over a direct
/// connection.
async fn pg_sleeping(pg: &common::ServerEnv) -> i64 {
    common::pg_admin(pg)
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' \
             AND usename = current_user AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// A query abandoned through the tunnel is cancelled on the server: the
/// cancel request goes over the tunnel's socket (the driver cannot redial
/// a socket it did not open).
#[tokio::test]
async fn a_query_dropped_through_the_tunnel_is_cancelled_on_the_server() {
    let Some((_s, _g)) = ssh() else { return };
    askpass::set_prompter(None);
    let Some(pg) = common::pg() else { return };
    let spec = via(pg.spec(Kind::Postgres), "bastion");
    let c: Arc<dyn varlor::connectors::Connector> =
        Arc::from(connector_for(&spec, Some(pg.secret()), SessionOptions::default()).unwrap());
    let before = pg_sleeping(&pg).await;
    let run = tokio::spawn({
        let c = c.clone();
        async move {
            let mut cur = c.query("SELECT pg_sleep(60) AS ssh_cancel_probe").await?;
            cur.next_page(500).await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while pg_sleeping(&pg).await <= before {
        assert!(Instant::now() < deadline, "the query never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run.abort();
    let dropped = Instant::now();
    while pg_sleeping(&pg).await > before {
        assert!(
            dropped.elapsed() < Duration::from_secs(3),
            "pg_sleep(60) still running 3 s after the query was dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real binary as ssh's `SSH_ASKPASS`: with `SSH_ASKPASS_PROMPT=none`
/// (a hardware key waiting for a touch) it shows the text and asks nothing;
/// with `confirm` the question is a yes/no whatever its words; otherwise
/// the answer is printed for ssh.
#[test]
fn the_askpass_child_follows_ssh_s_prompt_hint() {
    struct Record(Mutex<Vec<String>>);
    impl Prompter for Record {
        fn ask(&self, q: &Question) -> Option<SecretString> {
            self.0.lock().unwrap().push(format!("{q:?}"));
            Some(SecretString::from("yes".to_string()))
        }
        fn notify(&self, text: &str) {
            self.0.lock().unwrap().push(format!("notice {text}"));
        }
    }
    let p = Arc::new(Record(Mutex::new(Vec::new())));
    let server = askpass::Server::start(p.clone()).unwrap();
    let child = |hint: Option<&str>, prompt: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_varlor"));
        c.arg(prompt).env(askpass::SOCKET_ENV, server.socket());
        match hint {
            Some(h) => c.env("SSH_ASKPASS_PROMPT", h),
            None => c.env_remove("SSH_ASKPASS_PROMPT"),
        };
        c.output().unwrap()
    };
    let out = child(
        Some("none"),
        "Confirm user presence for key ED25519-SK SHA256:x",
    );
    assert!(out.stdout.is_empty());
    let out = child(Some("confirm"), "Allow shared connection to bastion? ");
    assert_eq!(out.stdout, b"yes\n");
    assert!(out.status.success());
    let out = child(None, "Enter passphrase for key 'k': ");
    assert_eq!(out.stdout, b"yes\n");
    assert_eq!(
        *p.0.lock().unwrap(),
        [
            "notice Confirm user presence for key ED25519-SK SHA256:x".to_string(),
            "Confirm(\"Allow shared connection to bastion? \")".to_string(),
            "Secret(\"Enter passphrase for key 'k': \")".to_string(),
        ]
    );
}
