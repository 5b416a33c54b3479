//! The `varlor` binary driven end to end: every subcommand, bad input (exit
//! 2, message naming the field, catalog unchanged), real PostgreSQL/MariaDB
//! when `VARLOR_TEST_PG_*` / `VARLOR_TEST_MYSQL_*` are set (skipped with a
//! notice otherwise, a failure under CI=true).

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A throwaway VARLOR_HOME and passphrase file.
struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    pass_file: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).expect("mkdir home");
        let pass_file = dir.path().join("passphrase");
        std::fs::write(&pass_file, "correct horse battery staple\n").expect("write passphrase");
        Home {
            _dir: dir,
            home,
            pass_file,
        }
    }

    fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"));
        c.args(args)
            .env("VARLOR_HOME", &self.home)
            .env("VARLOR_PASSPHRASE_FILE", &self.pass_file)
            .env("NO_COLOR", "1")
            // Fast scrypt for tests (the store reads it; real profiles keep the default).
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env_remove("VARLOR_PROFILE")
            .env_remove("VARLOR_NEW_PASSPHRASE_FILE")
            .env_remove("VARLOR_LOG")
            .timeout(std::time::Duration::from_secs(90));
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).write_stdin("").output().expect("run varlor"))
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        Run::from(
            self.cmd(args)
                .write_stdin(stdin.to_string())
                .output()
                .expect("run varlor"),
        )
    }

    fn list_json(&self) -> Value {
        let r = self.run(&["list", "--json"]);
        r.code_is(0);
        r.json()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.home.parent().expect("parent").join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    fn code_is(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.out, self.err
        );
        self
    }
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.out, self.err))
    }
    fn all(&self) -> String {
        format!("{}{}", self.out, self.err)
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect()
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection {name} in {list}"))
}

use common::{closed_port, ServerEnv as Server};

mod common;

fn pg() -> Option<Server> {
    common::pg()
}

fn mysql() -> Option<Server> {
    common::mysql()
}

fn add_server(h: &Home, name: &str, kind: &str, s: &Server, password: &str) -> Run {
    let args = common::add_server_args(name, kind, s, &s.db);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    h.run_stdin(&args, &format!("{password}\n"))
}

// ------------------------------------------------------------------ basics

#[test]
fn first_run_lists_the_demo() {
    let h = Home::new();
    let r = h.run(&["list"]);
    r.code_is(0);
    assert!(r.out.contains("demo"), "{}", r.out);
    assert!(r.out.contains("SQLite"), "{}", r.out);
    assert!(r.out.contains("never"), "{}", r.out);
    assert!(!r.out.contains('\x1b'), "no colour when piped");
    let list = h.list_json();
    let demo = find(&list, "demo");
    assert_eq!(demo["kind"], "sqlite");
    assert_eq!(demo["has_secret"], false);
    assert!(demo["last_test"].is_null());
}

#[test]
fn test_demo_succeeds_and_is_recorded() {
    let h = Home::new();
    let r = h.run(&["test", "demo"]);
    r.code_is(0);
    assert!(r.out.starts_with("✓ SQLite"), "{}", r.out);
    assert!(r.out.contains(" ms"), "{}", r.out);
    let r = h.run(&["test", "demo", "--json"]);
    r.code_is(0);
    let j = r.json();
    assert_eq!(j["ok"], true);
    assert!(j["server_version"].as_str().unwrap().contains("SQLite"));
    let list = h.list_json();
    assert_eq!(find(&list, "demo")["last_test"]["ok"], true);
    let r = h.run(&["list"]);
    assert!(r.out.contains("✓"), "{}", r.out);
}

#[test]
fn there_is_no_password_flag() {
    let h = Home::new();
    let r = h.run(&[
        "add",
        "x",
        "--kind",
        "postgres",
        "--user",
        "u",
        "--password",
        "hunter2",
    ]);
    r.code_is(2);
    assert_eq!(names(&h.list_json()), vec!["demo"]);
}

#[test]
fn bad_input_names_the_field_exits_2_and_changes_nothing() {
    let h = Home::new();
    h.run_stdin(
        &[
            "add",
            "db1",
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--user",
            "u",
            "--password-stdin",
        ],
        "pw\n",
    )
    .code_is(0);
    let before = h.list_json();
    let pg = |extra: &[&str]| {
        let mut a = vec![
            "add", "x", "--kind", "postgres", "--host", "h", "--user", "u",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (pg(&["--port", "0"]), "port"),
        (pg(&["--port", "70000"]), "port"),
        (pg(&["--port", "abc"]), "port"),
        (
            vec!["add", "x", "--kind", "foodb", "--host", "h", "--user", "u"]
                .into_iter()
                .map(String::from)
                .collect(),
            "kind",
        ),
        (
            vec![
                "add", "db1", "--kind", "postgres", "--host", "h", "--user", "u",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "already exists",
        ),
        (
            vec!["add", "demo", "--url", "postgres://u@h/d"]
                .into_iter()
                .map(String::from)
                .collect(),
            "already exists",
        ),
        (
            vec!["add", "x", "--url", "nonsense"]
                .into_iter()
                .map(String::from)
                .collect(),
            "url",
        ),
        (
            vec!["add", "x", "--url", "postgres://u@host:99999/db"]
                .into_iter()
                .map(String::from)
                .collect(),
            "url",
        ),
        (
            vec!["add", "x", "--url", "foo://u@h/d"]
                .into_iter()
                .map(String::from)
                .collect(),
            "url",
        ),
        (pg(&["--tls", "sometimes"]), "tls"),
        (pg(&["--env", "prodd"]), "env"),
        (pg(&["--timeout", "0"]), "timeout"),
        (
            vec!["add", "x", "--kind", "postgres", "--host", "h"]
                .into_iter()
                .map(String::from)
                .collect(),
            "user",
        ),
        (
            vec!["edit", "db1", "--port", "0"]
                .into_iter()
                .map(String::from)
                .collect(),
            "port",
        ),
        (
            vec!["edit", "db1", "--port", "70000"]
                .into_iter()
                .map(String::from)
                .collect(),
            "port",
        ),
        (
            vec!["edit", "db1", "--rename", "demo"]
                .into_iter()
                .map(String::from)
                .collect(),
            "already exists",
        ),
        (
            vec!["edit", "nope", "--port", "1"]
                .into_iter()
                .map(String::from)
                .collect(),
            "nope",
        ),
        (
            vec!["rm", "nope", "--yes"]
                .into_iter()
                .map(String::from)
                .collect(),
            "nope",
        ),
        (
            vec!["rm", "db1"].into_iter().map(String::from).collect(),
            "--yes",
        ),
        (
            vec!["audit", "--since", "yesterday-ish"]
                .into_iter()
                .map(String::from)
                .collect(),
            "since",
        ),
    ];
    for (args, needle) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = h.run(&a);
        assert_eq!(r.code, 2, "{a:?}\n{}{}", r.out, r.err);
        assert!(
            r.err.contains(needle),
            "{a:?}: stderr should name '{needle}':\n{}",
            r.err
        );
        assert!(r.err.starts_with("error: "), "{a:?}: {}", r.err);
        assert_eq!(h.list_json(), before, "{a:?} changed the catalog");
    }
}

#[test]
fn add_edit_rm_round_trip() {
    let h = Home::new();
    let port = closed_port().to_string();
    h.run_stdin(
        &[
            "add",
            "shop",
            "--kind",
            "pg",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--database",
            "shop",
            "--user",
            "bob",
            "--password-stdin",
            "--env",
            "staging",
            "--tls",
            "disable",
        ],
        "s3cret-pw\n",
    )
    .code_is(0);
    let list = h.list_json();
    let shop = find(&list, "shop");
    assert_eq!(shop["kind"], "postgres");
    assert_eq!(shop["port"].as_u64(), Some(port.parse().unwrap()));
    assert_eq!(shop["environment"], "staging");
    assert_eq!(shop["tls"], "disable");
    assert_eq!(shop["has_secret"], true);
    assert_eq!(shop["password_source"], "vault");
    assert!(!list.to_string().contains("s3cret-pw"));

    let r = h.run(&["list"]);
    assert!(r.out.contains("staging"), "{}", r.out);
    assert!(r.out.contains("bob@127.0.0.1"), "{}", r.out);

    h.run(&[
        "edit",
        "shop",
        "--env",
        "production",
        "--rename",
        "shop-prod",
    ])
    .code_is(0);
    let list = h.list_json();
    assert_eq!(names(&list), vec!["demo", "shop-prod"]);
    let c = find(&list, "shop-prod");
    assert_eq!(c["environment"], "production");
    assert_eq!(c["has_secret"], true, "the secret is kept: same target");

    // A new port is a new target: the stored password does not follow it.
    let r = h.run(&["edit", "shop-prod", "--port", "6543"]);
    r.code_is(0);
    assert!(r.out.contains("password was dropped"), "{}", r.out);
    let list = h.list_json();
    let c = find(&list, "shop-prod");
    assert_eq!(c["port"], 6543);
    assert_eq!(c["database"], "shop", "untouched fields are kept");
    assert_eq!(
        c["has_secret"], false,
        "the secret is not sent to a new target"
    );

    let before = h.list_json();
    let r = h.run(&["edit", "shop-prod"]);
    r.code_is(0);
    assert!(r.out.contains("Nothing to change"), "{}", r.out);
    assert_eq!(h.list_json(), before);

    h.run(&["edit", "shop-prod", "--clear-password"]).code_is(0);
    assert_eq!(find(&h.list_json(), "shop-prod")["has_secret"], false);

    h.run(&["edit", "shop-prod", "--password-command", "echo tok"])
        .code_is(0);
    let list = h.list_json();
    assert_eq!(find(&list, "shop-prod")["password_source"], "command");
    assert!(
        !list.to_string().contains("echo tok"),
        "the command is not listed"
    );

    h.run(&["rm", "shop-prod", "--yes"]).code_is(0);
    assert_eq!(names(&h.list_json()), vec!["demo"]);
}

#[test]
fn url_password_goes_to_the_vault() {
    let h = Home::new();
    let r = h.run(&[
        "add",
        "u1",
        "--url",
        "postgres://ann:pa%24%24word@127.0.0.1:5999/app?sslmode=require",
    ]);
    r.code_is(0);
    assert!(r.out.contains("moved into the vault"), "{}", r.out);
    let list = h.list_json();
    let c = find(&list, "u1");
    assert_eq!(c["user"], "ann");
    assert_eq!(c["port"], 5999);
    assert_eq!(c["tls"], "require");
    assert_eq!(c["has_secret"], true);
    assert!(!list.to_string().contains("pa$$word"));
    assert!(!list.to_string().contains("pa%24%24word"));
}

#[test]
fn test_closed_port_is_connection_refused() {
    let h = Home::new();
    let port = closed_port().to_string();
    // A URL is tested without saving.
    let url = format!("postgres://bob@127.0.0.1:{port}/db?sslmode=disable");
    let r = h.run(&["test", &url]);
    r.code_is(1);
    assert!(r.out.contains("✗ Connection refused"), "{}", r.all());
    assert_eq!(names(&h.list_json()), vec!["demo"]);

    let url = format!("mysql://bob@127.0.0.1:{port}/db");
    let r = h.run(&["test", &url, "--json"]);
    r.code_is(1);
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["error"]["kind"], "connection_refused");
    assert_eq!(j["error"]["message"], "Connection refused");

    // A saved one records the result.
    h.run_stdin(
        &[
            "add",
            "gone",
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "u",
            "--password-stdin",
        ],
        "pw\n",
    )
    .code_is(0);
    let r = h.run(&["test", "gone", "-v"]);
    r.code_is(1);
    assert!(r.out.contains("Connection refused"), "{}", r.all());
    let list = h.list_json();
    assert_eq!(
        find(&list, "gone")["last_test"]["status"],
        "Connection refused"
    );
    let r = h.run(&["list"]);
    assert!(r.out.contains("✗ Connection refused"), "{}", r.out);
}

#[test]
fn a_driver_missing_from_this_build_is_honest() {
    // Every engine has its connector now; Oracle's thick (Instant Client)
    // driver is only in builds with `--features oracle-thick`.
    let h = Home::new();
    h.run(&[
        "add",
        "ora",
        "--url",
        "oracle://u@127.0.0.1:1521/svc?driver=thick",
        "--no-password",
    ])
    .code_is(0);
    let r = h.run(&["test", "ora", "-v"]);
    r.code_is(1);
    assert!(r.all().contains("no thick Oracle driver"), "{}", r.all());
}

#[test]
fn vault_init_status_rotate_and_doctor() {
    let h = Home::new();
    let j = h.run(&["vault", "status", "--json"]).json();
    assert_eq!(j["initialised"], false);
    h.run(&["vault", "init"]).code_is(0);
    h.run(&["vault", "init"]).code_is(2);
    let j = h.run(&["vault", "status", "--json"]).json();
    assert_eq!(j["initialised"], true);
    let v1 = j["key_version"].as_i64().expect("key version");

    h.run_stdin(
        &[
            "add",
            "s",
            "--kind",
            "mysql",
            "--host",
            "127.0.0.1",
            "--user",
            "u",
            "--password-stdin",
        ],
        "pw1\n",
    )
    .code_is(0);
    let r = h.run(&["doctor"]);
    r.code_is(0);
    assert!(r.out.contains("vault round trip"), "{}", r.out);
    assert!(r.out.contains("1 decrypt"), "{}", r.out);

    let new_pass = h.write("new-passphrase", "a brand new passphrase\n");
    let r = h.run(&[
        "vault",
        "rotate",
        "--new-passphrase-file",
        new_pass.to_str().unwrap(),
    ]);
    r.code_is(0);
    assert!(r.out.contains("1 secret re-encrypted"), "{}", r.out);
    let j = h.run(&["vault", "status", "--json"]).json();
    assert!(j["key_version"].as_i64().unwrap() > v1);
    assert_eq!(j["secrets"], 1);

    // The old passphrase no longer opens the vault; the new one does.
    let r = h.run(&["doctor"]);
    r.code_is(1);
    assert!(r.out.contains('✗'), "{}", r.out);
    let r = Run::from(
        h.cmd(&["doctor", "--json"])
            .env("VARLOR_PASSPHRASE_FILE", &new_pass)
            .output()
            .unwrap(),
    );
    r.code_is(0);
    let j = r.json();
    assert_eq!(j["ok"], true);
    assert!(j["schema_version"].as_i64().unwrap() >= 1);
    assert!(j["counts"]["connections"].as_i64().unwrap() >= 2);

    // Locked without any way to unlock: a clear error.
    let r = Run::from(
        h.cmd(&["vault", "rotate"])
            .env_remove("VARLOR_PASSPHRASE_FILE")
            .output()
            .unwrap(),
    );
    r.code_is(1);
    assert!(r.err.contains("VARLOR_PASSPHRASE_FILE"), "{}", r.err);
}

#[test]
fn doctor_passes_on_a_fresh_profile() {
    let h = Home::new();
    let r = h.run(&["doctor"]);
    r.code_is(0);
    assert!(r.out.contains("All checks passed"), "{}", r.out);
    assert!(r.out.contains("schema version"), "{}", r.out);
}

#[test]
fn doctor_fails_on_open_permissions() {
    let h = Home::new();
    h.run(&["list"]).code_is(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The data dir (not re-tightened at open, unlike the profile dir).
        let data_dir = h.home.join("data");
        assert!(
            data_dir.is_dir(),
            "VARLOR_HOME layout: {}",
            data_dir.display()
        );
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = h.run(&["doctor"]);
        r.code_is(1);
        assert!(r.out.contains("expected 0700"), "{}", r.out);
        assert!(r.out.contains("Some checks failed"), "{}", r.out);
    }
}

#[test]
fn audit_lists_and_prunes_without_secrets() {
    let h = Home::new();
    h.run_stdin(
        &[
            "add",
            "a1",
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            &closed_port().to_string(),
            "--user",
            "u",
            "--password-stdin",
        ],
        "audit-secret-9\n",
    )
    .code_is(0);
    h.run(&["test", "a1"]).code_is(1);
    h.run(&["test", "demo"]).code_is(0);
    h.run(&["rm", "a1", "--yes"]).code_is(0);
    let r = h.run(&["audit", "--json"]);
    r.code_is(0);
    let rows = r.json();
    let actions: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in ["create", "test", "delete"] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    assert!(!r.out.contains("audit-secret-9"));
    let r = h.run(&["audit"]);
    r.code_is(0);
    assert!(r.out.contains("WHEN"), "{}", r.out);
    assert!(r.out.contains("a1"), "{}", r.out);
    assert!(!r.out.contains("audit-secret-9"));

    let n = rows.as_array().unwrap().len();
    let r = h.run(&["audit", "--since", "1h", "--json"]);
    assert_eq!(r.json().as_array().unwrap().len(), n);
    let r = h.run(&["audit", "--since", "2999-01-01", "--json"]);
    assert_eq!(r.json().as_array().unwrap().len(), 0);
    let r = h.run(&["audit", "--prune", "30", "--json"]);
    r.code_is(0);
    assert_eq!(r.json()["pruned"], 0);
}

// ------------------------------------------------------------------ browsing

fn demo_tables(h: &Home) -> Vec<Value> {
    let r = h.run(&["tables", "demo", "--json"]);
    r.code_is(0);
    r.json().as_array().unwrap().clone()
}

#[test]
fn browse_the_demo() {
    let h = Home::new();
    let tables = demo_tables(&h);
    assert!(tables.len() >= 3, "{tables:?}");
    let r = h.run(&["tables", "demo"]);
    r.code_is(0);
    assert!(r.out.contains("NAME"), "{}", r.out);

    // The table whose name needs quoting is addressable, quoted and plain.
    let weird = tables
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .find(|n| n.chars().any(|c| !c.is_ascii_alphanumeric() && c != '_'))
        .expect("the demo has a table whose name needs quoting");
    let quoted = format!("\"{}\"", weird.replace('"', "\"\""));
    for spelling in [weird.as_str(), quoted.as_str()] {
        let r = h.run(&["describe", "demo", spelling, "--json"]);
        r.code_is(0);
        let j = r.json();
        assert_eq!(j["table"]["name"], weird.as_str());
        assert!(!j["columns"].as_array().unwrap().is_empty());
    }

    let first = tables[0]["display_name"].as_str().unwrap().to_string();
    let r = h.run(&["describe", "demo", &first]);
    r.code_is(0);
    assert!(r.out.contains("COLUMN"), "{}", r.out);

    let r = h.run(&["count", "demo", &first, "--json"]);
    r.code_is(0);
    let total = r.json()["rows"].as_u64().unwrap();

    let r = h.run(&["preview", "demo", &first, "--limit", "3", "--json"]);
    r.code_is(0);
    let j = r.json();
    let rows = j["rows"].as_array().unwrap().len() as u64;
    assert_eq!(rows, total.min(3));
    let ncols = j["columns"].as_array().unwrap().len();

    let r = h.run(&["preview", "demo", &first, "--limit", "2", "--csv"]);
    r.code_is(0);
    let mut rd = csv::ReaderBuilder::new().from_reader(r.out.as_bytes());
    assert_eq!(rd.headers().unwrap().len(), ncols);
    assert_eq!(rd.records().count() as u64, total.min(2));

    let r = h.run(&["preview", "demo", &first]);
    r.code_is(0);
    assert!(
        r.out.contains("rows of") || r.out.contains("row of"),
        "{}",
        r.out
    );

    let r = h.run(&["preview", "demo", "no_such_table"]);
    r.code_is(2);
    assert!(r.err.contains("table"), "{}", r.err);
    h.run(&["preview", "demo", &first, "--limit", "0"])
        .code_is(2);
    h.run(&["tables", "nope"]).code_is(2);
}

#[test]
fn import_validates_its_input() {
    let h = Home::new();
    let out = h.home.parent().unwrap().join("out.sqlite");
    let to = out.to_str().unwrap();
    let r = h.run(&["import", "demo", "x", "--to", to, "--format", "xlsx"]);
    r.code_is(2);
    assert!(r.err.contains("format"), "{}", r.err);
    h.run(&["import", "nope", "x", "--to", to]).code_is(2);
    h.run(&["import", "demo", "--to", to]).code_is(2);
    let r = h.run(&["import", "demo", "no_such_table", "--to", to]);
    r.code_is(2);
    assert!(r.err.contains("no_such_table"), "{}", r.err);
    assert!(!out.exists(), "nothing written on bad input");
}

#[test]
fn import_demo_tables_to_sqlite_and_csv() {
    let h = Home::new();
    let tables = demo_tables(&h);
    let picked: Vec<String> = tables
        .iter()
        .take(2)
        .map(|t| t["display_name"].as_str().unwrap().to_string())
        .collect();
    let counts: Vec<u64> = picked
        .iter()
        .map(|t| {
            h.run(&["count", "demo", t, "--json"]).json()["rows"]
                .as_u64()
                .unwrap()
        })
        .collect();

    let out = h.home.parent().unwrap().join("demo.sqlite");
    let mut args = vec!["import", "demo"];
    args.extend(picked.iter().map(String::as_str));
    let to = out.to_str().unwrap().to_string();
    args.extend(["--to", &to, "--json"]);
    let r = h.run(&args);
    r.code_is(0);
    let j = r.json();
    assert_eq!(j["outcome"], "ok");
    assert_eq!(
        j["total_rows"].as_u64().unwrap(),
        counts.iter().sum::<u64>()
    );
    let db = rusqlite::Connection::open(&out).unwrap();
    for (t, want) in j["tables"].as_array().unwrap().iter().zip(&counts) {
        let target = t["target"].as_str().unwrap();
        let n: u64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM \"{}\"", target.replace('"', "\"\"")),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, *want, "{target}");
    }

    let dir = h.home.parent().unwrap().join("csv-out");
    let r = h.run(&[
        "import",
        "demo",
        &picked[0],
        "--to",
        dir.to_str().unwrap(),
        "--format",
        "csv",
        "--limit",
        "5",
    ]);
    r.code_is(0);
    assert!(r.out.contains("Imported"), "{}", r.out);
    let csv_file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("a csv file");
    let mut rd = csv::Reader::from_path(&csv_file).unwrap();
    assert_eq!(rd.records().count() as u64, counts[0].min(5));

    let r = h.run(&["audit", "--json"]);
    assert!(
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "import" && e["outcome"] == "ok"),
        "{}",
        r.out
    );
}

/// Imports `customers` from the demo with `--where`, returns the JSON summary
/// and the ids found in the dataset.
fn import_customers(h: &Home, file: &str, extra: &[&str]) -> (Run, Vec<i64>) {
    let out = h.home.parent().unwrap().join(file);
    let to = out.to_str().unwrap().to_string();
    let mut args = vec!["import", "demo", "customers", "--to", &to, "--json"];
    args.extend(extra);
    let r = h.run(&args);
    let mut ids = Vec::new();
    if out.exists() {
        let db = rusqlite::Connection::open(&out).unwrap();
        let mut st = db.prepare("SELECT id FROM customers").unwrap();
        ids = st
            .query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|x| x.unwrap())
            .collect();
    }
    (r, ids)
}

#[test]
fn import_with_a_where_filter() {
    let h = Home::new();
    let total = h.run(&["count", "demo", "customers", "--json"]).json()["rows"]
        .as_u64()
        .unwrap();
    let (r, ids) = import_customers(&h, "even.sqlite", &["--where", "customers=id % 2 = 0"]);
    r.code_is(0);
    let j = r.json();
    let rows = j["total_rows"].as_u64().unwrap();
    assert!(rows > 0 && rows < total, "{rows} of {total}");
    assert_eq!(ids.len() as u64, rows);
    assert!(ids.iter().all(|id| id % 2 == 0), "{ids:?}");

    // The filter combines with --limit, and a quoted table spelling works.
    let (r, ids) = import_customers(
        &h,
        "few.sqlite",
        &["--where", "\"customers\" = id > 3", "--limit", "2"],
    );
    r.code_is(0);
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| *id > 3), "{ids:?}");
}

#[test]
fn import_where_bad_input_is_a_usage_error() {
    let h = Home::new();
    for (filter, word) in [
        ("orders=id > 1", "orders"),
        ("no_such=id > 1", "no_such"),
        ("customers", "TABLE=CONDITION"),
        ("customers=", "TABLE=CONDITION"),
    ] {
        let (r, ids) = import_customers(&h, "bad.sqlite", &["--where", filter]);
        r.code_is(2);
        assert!(r.err.contains(word), "{filter}: {}", r.err);
        assert!(ids.is_empty(), "nothing written for {filter}");
    }
    let (r, _) = import_customers(
        &h,
        "bad.sqlite",
        &["--where", "customers=id > 1", "--where", "customers=id < 9"],
    );
    r.code_is(2);
    assert!(r.err.contains("two filters"), "{}", r.err);
}

#[test]
fn import_where_cannot_write() {
    let h = Home::new();
    let count = |h: &Home| {
        h.run(&["count", "demo", "customers", "--json"]).json()["rows"]
            .as_u64()
            .unwrap()
    };
    let before = count(&h);
    for filter in [
        "customers=1=1; DELETE FROM customers",
        "customers=1=1; DROP TABLE customers",
    ] {
        let (r, ids) = import_customers(&h, "w.sqlite", &["--where", filter]);
        assert_ne!(r.code, 0, "{filter}: {}", r.all());
        assert_eq!(r.json()["outcome"], "failed", "{filter}");
        assert!(ids.is_empty(), "{filter}: no rows imported");
        // A filter problem is named as one, not as the connection's settings.
        assert!(
            r.all().contains("\"invalid_filter\""),
            "{filter}: {}",
            r.all()
        );
        assert!(!r.all().contains("connection settings"), "{}", r.all());
    }
    // Parentheses balanced so the text after `;` is a whole statement: the
    // session only ever runs the one SELECT, whatever it does with the rest.
    import_customers(
        &h,
        "w2.sqlite",
        &[
            "--where",
            "customers=1=1); DELETE FROM customers; SELECT (1",
        ],
    );
    assert_eq!(count(&h), before, "the filter changed nothing");
    let r = h.run(&["describe", "demo", "customers"]);
    r.code_is(0);
}

/// An unencrypted ed25519 key pair made by ssh-keygen (None, with a notice,
/// when ssh-keygen is missing; a failure under CI=true).
fn ssh_key(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    let key = dir.join(name);
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "varlor-test", "-f"])
        .arg(&key)
        .output();
    match made {
        Ok(o) if o.status.success() => Some((key.clone(), key.with_extension("pub"))),
        Ok(o) => panic!("ssh-keygen failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => {
            common::skip("ssh-keygen is not installed: SSH recipient test not run");
            None
        }
    }
}

/// `test NAME` with only `--identity` to unlock (no passphrase file).
fn test_with_identity(h: &Home, name: &str, identity: &Path) -> Run {
    Run::from(
        h.cmd(&["test", name, "--identity", identity.to_str().unwrap()])
            .env_remove("VARLOR_PASSPHRASE_FILE")
            .write_stdin("")
            .output()
            .expect("run varlor"),
    )
}

fn add_closed_pg(h: &Home, name: &str, port: &str) {
    h.run_stdin(
        &[
            "add",
            name,
            "--kind",
            "postgres",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--user",
            "u",
            "--password-stdin",
        ],
        "s3cret-for-ssh\n",
    )
    .code_is(0);
}

#[test]
fn an_ssh_key_unlocks_the_vault() {
    let h = Home::new();
    let dir = h.home.parent().unwrap().to_path_buf();
    let Some((key, public)) = ssh_key(&dir, "id_ed25519") else {
        return;
    };
    let Some((other, _)) = ssh_key(&dir, "other") else {
        return;
    };
    // A private key is not a recipient: usage error, no vault made.
    let r = h.run(&["vault", "init", "--ssh-recipient", key.to_str().unwrap()]);
    r.code_is(2);
    assert!(r.err.contains("private key"), "{}", r.err);
    assert!(!r.all().contains("OPENSSH PRIVATE"), "{}", r.all());
    assert_eq!(
        h.run(&["vault", "status", "--json"]).json()["initialised"],
        false
    );

    let r = h.run(&["vault", "init", "--ssh-recipient", public.to_str().unwrap()]);
    r.code_is(0);
    assert!(r.out.contains("ssh-ed25519"), "{}", r.out);
    let port = closed_port().to_string();
    add_closed_pg(&h, "gone", &port);

    // The secret decrypts with the SSH key alone: the test gets as far as
    // connecting (refused), not stopped at the vault.
    let r = test_with_identity(&h, "gone", &key);
    r.code_is(1);
    assert!(r.out.contains("Connection refused"), "{}", r.all());
    // Another key cannot: stopped at unlocking, never connecting.
    let r = test_with_identity(&h, "gone", &other);
    r.code_is(1);
    assert!(!r.all().contains("Connection refused"), "{}", r.all());

    // With a real server, the decrypted password is the right one.
    if let Some(s) = pg() {
        add_server(&h, "pg", "postgres", &s, &s.password).code_is(0);
        let r = test_with_identity(&h, "pg", &key);
        r.code_is(0);
        assert!(r.out.starts_with("✓ PostgreSQL "), "{}", r.all());
    }
}

#[test]
fn add_recipient_re_encrypts_existing_secrets() {
    let h = Home::new();
    let dir = h.home.parent().unwrap().to_path_buf();
    let Some((key, public)) = ssh_key(&dir, "id_ed25519") else {
        return;
    };
    let port = closed_port().to_string();
    // Adding a connection with a password makes the vault (passphrase file).
    add_closed_pg(&h, "gone", &port);
    let r = test_with_identity(&h, "gone", &key);
    r.code_is(1);
    assert!(
        !r.all().contains("Connection refused"),
        "not yet a recipient: {}",
        r.all()
    );

    let r = h.run(&["vault", "add-recipient", public.to_str().unwrap()]);
    r.code_is(0);
    assert!(r.out.contains("1 secret re-encrypted"), "{}", r.out);
    let r = test_with_identity(&h, "gone", &key);
    r.code_is(1);
    assert!(r.out.contains("Connection refused"), "{}", r.all());
    // Still readable with the passphrase.
    let r = h.run(&["test", "gone"]);
    assert!(r.out.contains("Connection refused"), "{}", r.all());

    let junk = h.write("junk.pub", "hello\n");
    let r = h.run(&["vault", "add-recipient", junk.to_str().unwrap()]);
    r.code_is(2);
    assert!(r.err.contains("not a public key"), "{}", r.err);
}

// ------------------------------------------------------------------ real servers

#[test]
fn postgres_success_invalid_credentials_and_lockout_guard() {
    let Some(s) = pg() else { return };
    let h = Home::new();
    add_server(&h, "pg", "postgres", &s, &s.password).code_is(0);
    let r = h.run(&["test", "pg"]);
    r.code_is(0);
    assert!(r.out.starts_with("✓ PostgreSQL "), "{}", r.all());

    if let Some(ca) = s.ca.as_ref().and_then(|c| c.to_str()) {
        h.run(&["edit", "pg", "--tls", "verify-full", "--ca-file", ca])
            .code_is(0);
        let r = h.run(&["test", "pg"]);
        r.code_is(0);
        assert!(r.out.contains(", TLS"), "{}", r.out);
    }

    add_server(&h, "pg-bad", "postgres", &s, "definitely-wrong").code_is(0);
    for _ in 0..3 {
        let r = h.run(&["test", "pg-bad"]);
        r.code_is(1);
        assert!(
            r.out
                .contains("✗ Invalid credentials — Check the user name and password."),
            "{}",
            r.all()
        );
        assert!(!r.all().contains("definitely-wrong"));
    }
    let r = h.run(&["test", "pg-bad"]);
    r.code_is(1);
    assert!(r.err.contains("--force"), "{}", r.all());
    let r = h.run(&["test", "pg-bad", "--force"]);
    r.code_is(1);
    assert!(r.out.contains("Invalid credentials"), "{}", r.all());

    // Fixing the password clears the guard once it succeeds.
    h.run_stdin(
        &["edit", "pg-bad", "--password-stdin"],
        &format!("{}\n", s.password),
    )
    .code_is(0);
    h.run(&["test", "pg-bad", "--force"]).code_is(0);
    h.run(&["test", "pg-bad"]).code_is(0);

    // Rotate, then test with the new passphrase.
    let new_pass = h.write("new-pass", "rotated passphrase 42\n");
    h.run(&[
        "vault",
        "rotate",
        "--new-passphrase-file",
        new_pass.to_str().unwrap(),
    ])
    .code_is(0);
    let r = Run::from(
        h.cmd(&["test", "pg"])
            .env("VARLOR_PASSPHRASE_FILE", &new_pass)
            .output()
            .unwrap(),
    );
    r.code_is(0);
    assert!(r.out.starts_with("✓ PostgreSQL"), "{}", r.all());
    // The old passphrase does not unlock any more.
    let r = h.run(&["test", "pg"]);
    r.code_is(1);
    assert!(r.err.contains("passphrase"), "{}", r.all());

    // A URL test with the password on stdin, never saved.
    let url = format!("postgres://{}@{}:{}/{}", s.user, s.host, s.port, s.db);
    let r = h.run_stdin(
        &["test", &url, "--password-stdin"],
        &format!("{}\n", s.password),
    );
    r.code_is(0);
    let r = h.run_stdin(&["test", &url, "--password-stdin"], "nope\n");
    r.code_is(1);
    assert!(r.out.contains("Invalid credentials"), "{}", r.all());

    let r = Run::from(
        h.cmd(&["audit", "--json"])
            .env("VARLOR_PASSPHRASE_FILE", &new_pass)
            .output()
            .unwrap(),
    );
    assert!(!r.out.contains(&s.password));
    assert!(!r.out.contains("definitely-wrong"));
}

#[test]
fn postgres_browse_hostile_names() {
    let Some(s) = pg() else { return };
    let h = Home::new();
    add_server(&h, "pg", "postgres", &s, &s.password).code_is(0);
    let r = h.run(&["tables", "pg", "--json"]);
    r.code_is(0);
    let shown: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["display_name"].as_str().unwrap().to_string())
        .collect();
    for want in ["public.customers", "public.Weird Name", "sales.regions"] {
        assert!(shown.contains(&want.to_string()), "{shown:?}");
    }
    for spelling in [
        "Weird Name",
        "public.Weird Name",
        "\"public\".\"Weird Name\"",
    ] {
        let r = h.run(&["preview", "pg", spelling, "--json"]);
        r.code_is(0);
        assert_eq!(r.json()["rows"].as_array().unwrap().len(), 3, "{spelling}");
    }
    let r = h.run(&["count", "pg", "sales.regions", "--json"]);
    r.code_is(0);
    assert_eq!(r.json()["rows"], 3);
    let r = h.run(&["count", "pg", "orders"]);
    r.code_is(0);
    assert!(r.out.contains("5,000 rows"), "{}", r.out);
    let r = h.run(&["describe", "pg", "orders", "--json"]);
    r.code_is(0);
    let cols = r.json()["columns"].as_array().unwrap().clone();
    assert!(cols
        .iter()
        .any(|c| c["name"] == "id" && c["primary_key"] == true));
}

#[test]
fn mariadb_success_and_invalid_credentials() {
    let Some(s) = mysql() else { return };
    let h = Home::new();
    add_server(&h, "maria", "mysql", &s, &s.password).code_is(0);
    let r = h.run(&["test", "maria", "--json"]);
    r.code_is(0);
    let j = r.json();
    assert_eq!(j["ok"], true);
    assert!(
        j["server_version"].as_str().unwrap().contains("MariaDB"),
        "{j}"
    );
    add_server(&h, "maria-bad", "mariadb", &s, "wrong-wrong").code_is(0);
    let r = h.run(&["test", "maria-bad"]);
    r.code_is(1);
    assert!(r.out.contains("✗ Invalid credentials"), "{}", r.all());
    let r = h.run(&["count", "maria", "customers", "--json"]);
    r.code_is(0);
    assert_eq!(r.json()["rows"], 1000);
}

#[test]
fn prompt_source_takes_the_password_from_stdin() {
    let Some(s) = pg() else { return };
    let h = Home::new();
    let port = s.port.to_string();
    h.run(&[
        "add",
        "ask",
        "--kind",
        "postgres",
        "--host",
        &s.host,
        "--port",
        &port,
        "--database",
        &s.db,
        "--user",
        &s.user,
        "--ask-password-every-time",
    ])
    .code_is(0);
    assert_eq!(find(&h.list_json(), "ask")["has_secret"], false);
    let r = h.run(&["test", "ask"]);
    r.code_is(1);
    assert!(r.err.contains("--password-stdin"), "{}", r.all());
    let r = h.run_stdin(
        &["test", "ask", "--password-stdin"],
        &format!("{}\n", s.password),
    );
    r.code_is(0);

    // A password command (here: reading a file) is run at each connect.
    let pw_file = h.write("pg-password", &s.password);
    let cmd = format!("cat '{}'", pw_file.display());
    h.run(&["edit", "ask", "--password-command", &cmd])
        .code_is(0);
    let list = h.list_json();
    assert_eq!(find(&list, "ask")["password_source"], "command");
    let r = h.run(&["test", "ask"]);
    r.code_is(0);
    assert!(r.out.starts_with("✓ PostgreSQL"), "{}", r.all());

    // A new URL with a password replaces the stored secret.
    let url = format!(
        "postgres://{}:{}@{}:{}/{}",
        s.user, "not-the-password", s.host, s.port, s.db
    );
    h.run(&["edit", "ask", "--url", &url]).code_is(0);
    let list = h.list_json();
    assert_eq!(find(&list, "ask")["password_source"], "vault");
    assert_eq!(find(&list, "ask")["has_secret"], true);
    assert!(!list.to_string().contains("not-the-password"));
    let r = h.run(&["test", "ask"]);
    r.code_is(1);
    assert!(r.out.contains("Invalid credentials"), "{}", r.all());
}

/// Colour on a terminal (a pseudo-terminal made by `script`), none with NO_COLOR.
#[test]
fn colour_only_on_a_terminal_without_no_color() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let h = Home::new();
    h.run(&["test", "demo"]).code_is(0);
    let bin = env!("CARGO_BIN_EXE_varlor");
    let in_pty = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &format!("'{bin}' list"), "/dev/null"])
            .env("VARLOR_HOME", &h.home)
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("VARLOR_NO_AGENT", "1")
            .env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let o = c.output().expect("run script");
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let coloured = in_pty(false);
    assert!(coloured.contains("demo"), "{coloured}");
    assert!(coloured.contains("\x1b[32m✓"), "{coloured:?}");
    let plain = in_pty(true);
    assert!(plain.contains("demo"), "{plain}");
    assert!(!plain.contains("\x1b["), "{plain:?}");
    let piped = h.run(&["list"]);
    assert!(!piped.out.contains('\x1b'));
}

#[test]
fn profiles_are_separate() {
    let h = Home::new();
    h.run_stdin(
        &[
            "--profile",
            "team-a",
            "add",
            "only-a",
            "--kind",
            "postgres",
            "--host",
            "h",
            "--user",
            "u",
            "--password-stdin",
        ],
        "pw\n",
    )
    .code_is(0);
    let a = Run::from(
        h.cmd(&["list", "--json", "--profile", "team-a"])
            .output()
            .unwrap(),
    );
    assert!(names(&a.json()).contains(&"only-a".to_string()));
    assert!(!names(&h.list_json()).contains(&"only-a".to_string()));
    let r = h.run(&["--profile", "bad/name", "list"]);
    r.code_is(2);
    assert!(Path::new(&h.home).exists());
}

/// On a terminal, `add` asks for the password with a masked prompt: the
/// typed secret is never echoed, and it lands in the vault.
#[test]
fn masked_password_prompt_on_a_terminal() {
    use std::io::{Read, Write};
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let h = Home::new();
    let bin = env!("CARGO_BIN_EXE_varlor");
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("'{bin}' add typed --kind postgres --host h --user u"),
            "/dev/null",
        ])
        .env("VARLOR_HOME", &h.home)
        .env("VARLOR_PASSPHRASE_FILE", &h.pass_file)
        .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
        .env("VARLOR_NO_AGENT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Type only once the prompt is shown (echo is off by then).
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("Password for") {
        let n = stdout.read(&mut buf).expect("read pty");
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    stdin.write_all(b"Typed-Secret-77\n").unwrap();
    drop(stdin);
    stdout.read_to_end(&mut seen).unwrap();
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{text}");
    assert!(text.contains("Saved 'typed'"), "{text}");
    assert!(
        !text.contains("Typed-Secret-77"),
        "the password was echoed: {text}"
    );
    assert_eq!(find(&h.list_json(), "typed")["has_secret"], true);
}

/// The harness's PostgreSQL fixtures (tests/fixtures/postgres.sql): every
/// hostile name is addressable from the command line, browsing is
/// read-only, and the configured statement timeout cuts a slow view off.
#[test]
fn postgres_hostile_names_read_only_and_timeout() {
    let Some(s) = pg() else { return };
    let h = Home::new();
    add_server(&h, "pg", "postgres", &s, &s.password).code_is(0);
    let rows = |table: &str| -> usize {
        let r = h.run(&["preview", "pg", table, "--json"]);
        r.code_is(0);
        r.json()["rows"].as_array().unwrap().len()
    };
    for (spelling, n) in [
        (r#""quote""d""#, 2),
        (r#"quote"d"#, 2),
        ("semi;colon", 2),
        (r#"public."semi;colon""#, 2),
        ("ünïcödé", 3),
        ("select", 2),
        (r#""select""#, 2),
        (r#""Odd Schema"."Weird Name""#, 1),
        ("Odd Schema.Weird Name", 1),
        ("public.Weird Name", 3),
    ] {
        assert_eq!(rows(spelling), n, "{spelling}");
    }
    let r = h.run(&["describe", "pg", "select", "--json"]);
    r.code_is(0);
    let cols = r.json()["columns"].as_array().unwrap().clone();
    assert!(
        cols.iter()
            .any(|c| c["name"] == "Weird Id" && c["references"].as_str().is_some()),
        "{cols:?}"
    );
    let r = h.run(&["preview", "pg", r#""quote""d""#, "--csv"]);
    r.code_is(0);
    let mut rd = csv::Reader::from_reader(r.out.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        vec!["col\"umn", "va'lue"]
    );
    let values: Vec<String> = rd.records().map(|x| x.unwrap()[1].to_string()).collect();
    assert!(values.contains(&"say \"hi\"".to_string()), "{values:?}");

    // Read-only: a view whose preview would insert a row is refused.
    let r = h.run(&["preview", "pg", "writing_view"]);
    r.code_is(1);
    assert!(r.err.contains("Read-only"), "{}", r.all());
    let r = h.run(&["count", "pg", "write_log", "--json"]);
    r.code_is(0);
    assert_eq!(r.json()["rows"], 0);

    // The statement timeout comes from config.toml.
    let cfg = h.home.join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "statement_timeout_secs = 1\n").unwrap();
    let t0 = std::time::Instant::now();
    let r = h.run(&["preview", "pg", "slow_view"]);
    r.code_is(1);
    assert!(r.err.contains("Query timed out"), "{}", r.all());
    println!("slow_view cut off after {:?}", t0.elapsed());
}

/// The harness's MariaDB fixtures (tests/fixtures/mysql.sql): hostile names
/// from the command line, including a backtick-quoted spelling.
#[test]
fn mariadb_hostile_names() {
    let Some(s) = mysql() else { return };
    let h = Home::new();
    add_server(&h, "maria", "mysql", &s, &s.password).code_is(0);
    let db = s.db.clone();
    for (spelling, n) in [
        (r#"quote"d"#.to_string(), 2),
        ("`quote\"d`".to_string(), 2),
        ("semi;colon".to_string(), 2),
        (format!("{db}.semi;colon"), 2),
        ("ünïcödé".to_string(), 2),
        ("select".to_string(), 2),
        (format!("`{db}`.`select`"), 2),
        ("back`tick".to_string(), 1),
        ("`back``tick`".to_string(), 1),
        ("sales.regions".to_string(), 3),
    ] {
        let r = h.run(&["preview", "maria", &spelling, "--json"]);
        r.code_is(0);
        assert_eq!(r.json()["rows"].as_array().unwrap().len(), n, "{spelling}");
    }
    let r = h.run(&["count", "maria", "semi;colon", "--json"]);
    r.code_is(0);
    assert_eq!(r.json()["rows"], 2);
}

// ------------------------------------------------------------------ query

#[test]
fn query_the_demo_reads_and_refuses_writes_in_words() {
    let h = Home::new();
    let tables = demo_tables(&h);
    let first = tables[0]["name"].as_str().unwrap().to_string();
    let quoted = format!("\"{}\"", first.replace('"', "\"\""));
    let total = h.run(&["count", "demo", &first, "--json"]).json()["rows"]
        .as_u64()
        .unwrap();

    let sql = format!("SELECT * FROM {quoted};");
    let r = h.run(&["query", "demo", &sql, "--json"]);
    r.code_is(0);
    let j = r.json();
    assert_eq!(j["rows"].as_array().unwrap().len() as u64, total);
    assert_eq!(j["complete"], true);
    assert!(!j["columns"].as_array().unwrap().is_empty());

    // --limit cuts, and says more rows were left.
    let r = h.run(&["query", "demo", &sql, "--json", "--limit", "1"]);
    r.code_is(0);
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["complete"], total <= 1);

    // SQL from stdin with `-`; CSV with a header.
    let r = h.run_stdin(&["query", "demo", "-", "--csv"], &format!("{sql}\n"));
    r.code_is(0);
    let mut rd = csv::ReaderBuilder::new().from_reader(r.out.as_bytes());
    assert_eq!(rd.records().count() as u64, total);

    // Human output: the table printer and a count.
    let r = h.run(&["query", "demo", "SELECT 1 AS one, NULL AS nothing_here"]);
    r.code_is(0);
    assert!(r.out.contains("one") && r.out.contains("NULL"), "{}", r.out);
    assert!(r.out.contains("1 row"), "{}", r.out);

    // A second statement is refused in words; so is a write.
    let r = h.run(&["query", "demo", &format!("SELECT 1; DELETE FROM {quoted}")]);
    r.code_is(1);
    assert!(r.err.contains("one statement at a time"), "{}", r.err);
    let r = h.run(&["query", "demo", &format!("DELETE FROM {quoted}")]);
    r.code_is(1);
    assert!(r.err.contains("Read-only"), "{}", r.err);
    assert_eq!(
        h.run(&["count", "demo", &first, "--json"]).json()["rows"],
        total
    );
    h.run(&["query", "demo", "  ;  "]).code_is(2);
    h.run(&["query", "demo", "SELECT 1", "--limit", "0"])
        .code_is(2);
}

#[test]
fn query_adds_its_text_to_the_connections_history() {
    let h = Home::new();
    h.run(&["query", "demo", "SELECT 1 AS one"]).code_is(0);
    h.run(&["query", "demo", "SELECT 1 AS one"]).code_is(0);
    h.run_stdin(&["query", "demo", "-", "--json"], "SELECT 2 AS two\n")
        .code_is(0);
    let catalog =
        varlor::store::Catalog::open(&h.home.join("data/profiles/default/catalog.db")).unwrap();
    assert_eq!(
        catalog.query_history("demo").unwrap(),
        vec!["SELECT 2 AS two", "SELECT 1 AS one"]
    );
}

#[test]
fn postgres_query_streams_every_row_and_cannot_write() {
    let Some(s) = pg() else { return };
    let h = Home::new();
    add_server(&h, "pg", "postgres", &s, &s.password).code_is(0);
    let sql = "SELECT g, 'r' || g AS label FROM generate_series(1, 1200) g ORDER BY g";
    let r = h.run(&["query", "pg", sql, "--csv"]);
    r.code_is(0);
    let mut rd = csv::ReaderBuilder::new().from_reader(r.out.as_bytes());
    let rows: Vec<_> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1200);
    assert_eq!(&rows[1199][1], "r1200");
    // Human output stops at one page and says so.
    let r = h.run(&["query", "pg", sql]);
    r.code_is(0);
    assert!(r.out.contains("500 rows — more rows"), "{}", r.out);
    let r = h.run(&["query", "pg", "DELETE FROM public.orders"]);
    r.code_is(1);
    assert!(r.err.contains("read-only transaction"), "{}", r.err);
}

#[test]
fn where_help_says_mongodb_takes_a_json_filter_not_sql() {
    let h = Home::new();
    let r = h.run(&["import", "--help"]);
    r.code_is(0);
    let text = r.out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("for MongoDB it is a JSON query document, not SQL"),
        "{}",
        r.out
    );
    let r = h.run(&["query", "--help"]);
    assert!(r.out.contains("db.COLL.aggregate"), "{}", r.out);
}

#[test]
fn mongodb_query_streams_documents_and_refuses_writes() {
    let Some(s) = common::mongo() else { return };
    let h = Home::new();
    let ca = s.ca.clone().expect("a CA for the MongoDB test server");
    let url = format!(
        "mongodb://{}@{}:{}/{}?tls=true&tlsCAFile={}&directConnection=true",
        s.user,
        s.host,
        s.port,
        s.db,
        ca.display()
    );
    h.run_stdin(
        &["add", "mg", "--url", &url, "--password-stdin"],
        &format!("{}\n", s.password),
    )
    .code_is(0);
    // The fixture's `orders`: 5,000 documents, `_id` 1…5000.
    let r = h.run(&[
        "query",
        "mg",
        "db.orders.find({_id: {$lte: 1200}}, {status: 1}).sort({_id: -1})",
        "--json",
    ]);
    r.code_is(0);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1200);
    assert_eq!(rows[0][0], 1200);
    assert_eq!(v["columns"][1]["name"], "status");
    assert_eq!(v["complete"], true);
    let r = h.run(&[
        "query",
        "mg",
        r#"db.orders.aggregate([{"$group": {"_id": null, "n": {"$sum": 1}}}])"#,
        "--csv",
    ]);
    r.code_is(0);
    // The CSV of the import (RFC 4180: CRLF, NULL is an empty field).
    assert_eq!(r.out, "_id,n\r\n,5000\r\n");
    let r = h.run(&[
        "query",
        "mg",
        r#"db.orders.aggregate([{"$out": "stolen"}])"#,
    ]);
    r.code_is(1);
    assert!(r.err.contains("$out writes"), "{}", r.err);
    let r = h.run(&["query", "mg", "db.orders.deleteMany({})"]);
    r.code_is(1);
    assert!(r.err.contains("deleteMany"), "{}", r.err);
    let r = h.run(&["query", "mg", "db.orders.countDocuments({})"]);
    assert!(
        r.err.contains("only find, findOne and aggregate"),
        "{}",
        r.err
    );
    let r = h.run(&["query", "mg", r#"db.orders.aggregate([{"$count": "n"}])"#]);
    r.code_is(0);
    assert!(r.out.contains("5000"), "{}", r.out);
    // describe --sample N: the structure from N documents, indexes with it.
    let r = h.run(&["describe", "mg", "orders", "--sample", "20", "--json"]);
    r.code_is(0);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(v["sampled"], 20);
    assert!(
        v["indexes"][0].as_str().unwrap().starts_with("_id_: "),
        "{v}"
    );
    let r = h.run(&["describe", "mg", "orders", "--sample", "20"]);
    r.code_is(0);
    assert!(
        r.out.contains("structure sampled from 20 documents"),
        "{}",
        r.out
    );
    h.run(&["describe", "mg", "orders", "--sample", "0"])
        .code_is(2);
}

#[test]
fn completions_generate_for_the_three_shells() {
    let h = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let r = h.run(&["completions", shell]);
        r.code_is(0);
        for word in ["varlor", "preview", "import", "--json"] {
            assert!(r.out.contains(word), "{shell} lacks {word}");
        }
    }
    h.run(&["completions", "tcsh"]).code_is(2);
}

#[test]
fn open_of_an_unknown_connection_is_a_usage_error_before_the_terminal_is_taken() {
    let h = Home::new();
    let r = h.run(&["open", "nosuch"]);
    r.code_is(2);
    assert!(r.err.contains("nosuch"), "{}", r.all());
}

#[test]
fn add_of_a_sqlite_file_that_does_not_exist_is_refused() {
    let h = Home::new();
    let before = h.list_json();
    let missing = h.home.parent().unwrap().join("nope.db");
    let r = h.run(&[
        "add",
        "lite",
        "--kind",
        "sqlite",
        "--database",
        missing.to_str().unwrap(),
    ]);
    r.code_is(2);
    assert!(r.err.contains("no file at"), "{}", r.all());
    assert_eq!(h.list_json(), before, "nothing saved");
    let file = h.write("there.db", "");
    h.run(&[
        "add",
        "lite",
        "--kind",
        "sqlite",
        "--database",
        file.to_str().unwrap(),
    ])
    .code_is(0);
}

#[test]
fn edit_kind_says_what_the_new_engine_drops() {
    let h = Home::new();
    h.run(&[
        "add",
        "pg",
        "--kind",
        "postgres",
        "--host",
        "db.internal",
        "--user",
        "app",
        "--database",
        "shop",
        "--tls",
        "verify-full",
        "--no-password",
    ])
    .code_is(0);
    let file = h.write("shop.db", "");
    let r = h.run(&[
        "edit",
        "pg",
        "--kind",
        "sqlite",
        "--database",
        file.to_str().unwrap(),
    ]);
    r.code_is(0);
    assert!(
        r.out.contains("Engine changed from PostgreSQL to SQLite; dropped: host db.internal, port 5432, user app, TLS verify-full (now disable)"),
        "{}",
        r.all()
    );
    let pg = find(&h.list_json(), "pg").clone();
    assert_eq!(pg["kind"], "sqlite");
}

/// A port that accepts TCP connections and never answers.
fn silent_port() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn test_url_takes_a_timeout() {
    let h = Home::new();
    let (_l, port) = silent_port();
    let url = format!("postgres://u@127.0.0.1:{port}/d?sslmode=disable");
    h.run(&["test", &url, "--timeout", "0"]).code_is(2);
    let started = std::time::Instant::now();
    let r = h.run_stdin(
        &["test", &url, "--timeout", "1", "--password-stdin"],
        "pw\n",
    );
    r.code_is(1);
    assert!(r.out.contains("Connection timeout"), "{}", r.all());
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
}

#[test]
fn a_test_that_outlives_rm_says_the_connection_was_removed() {
    let h = Home::new();
    let (_l, port) = silent_port();
    h.run(&[
        "add",
        "gone",
        "--kind",
        "postgres",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--user",
        "u",
        "--database",
        "d",
        "--tls",
        "disable",
        "--no-password",
    ])
    .code_is(0);
    let running = std::process::Command::new(env!("CARGO_BIN_EXE_varlor"))
        .args(["test", "gone", "--timeout", "4"])
        .env("VARLOR_HOME", &h.home)
        .env("VARLOR_PASSPHRASE_FILE", &h.pass_file)
        .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
        .env("VARLOR_NO_AGENT", "1")
        .env("NO_COLOR", "1")
        .env_remove("VARLOR_PROFILE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    h.run(&["rm", "gone", "--yes"]).code_is(0);
    let out = Run::from(running.wait_with_output().unwrap());
    out.code_is(1);
    assert!(
        out.err
            .contains("'gone' was removed while it was being tested"),
        "{}",
        out.all()
    );
    assert!(!out.all().contains("no connection named"), "{}", out.all());
}

#[test]
fn describe_of_a_broken_sqlite_view_says_the_view_is_broken() {
    let h = Home::new();
    let path = h.home.parent().unwrap().join("broken.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("CREATE TABLE t(a INT); CREATE VIEW v AS SELECT a FROM t; DROP TABLE t;")
        .unwrap();
    drop(db);
    h.run(&[
        "add",
        "lite",
        "--kind",
        "sqlite",
        "--database",
        path.to_str().unwrap(),
    ])
    .code_is(0);
    let r = h.run(&["describe", "lite", "v"]);
    r.code_is(1);
    assert!(
        r.err
            .contains("the view v is broken: no such table: main.t"),
        "{}",
        r.all()
    );
}

#[test]
fn describe_of_a_view_without_columns_is_a_failure_that_says_why() {
    let Some(s) = mysql() else { return };
    let h = Home::new();
    add_server(&h, "my", "mysql", &s, &s.password).code_is(0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!(
        "mysql://{}:{}@{}:{}/{}",
        s.user, s.password, s.host, s.port, s.db
    );
    let run = |sql: &'static str| {
        rt.block_on(async {
            use mysql_async::prelude::Queryable;
            let mut c = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
            c.query_drop(sql).await.unwrap();
            c.disconnect().await.unwrap();
        })
    };
    run("DROP VIEW IF EXISTS nc_broken_v");
    run("DROP TABLE IF EXISTS nc_broken_t");
    run("CREATE TABLE nc_broken_t (a INT)");
    run("CREATE VIEW nc_broken_v AS SELECT a FROM nc_broken_t");
    run("DROP TABLE nc_broken_t");
    let r = h.run(&["describe", "my", "nc_broken_v"]);
    let j = h.run(&["describe", "my", "nc_broken_v", "--json"]);
    run("DROP VIEW nc_broken_v");
    r.code_is(1);
    assert!(r.err.contains("the view may be broken"), "{}", r.all());
    j.code_is(1);
    assert_eq!(j.json()["columns"], serde_json::json!([]));
    assert!(j.json()["problem"]
        .as_str()
        .unwrap()
        .contains("No columns visible"));
}

#[test]
fn preview_tells_null_from_the_word_and_from_an_empty_string() {
    let h = Home::new();
    let path = h.home.parent().unwrap().join("nulls.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE t(id INTEGER, a TEXT, r REAL);
         INSERT INTO t VALUES (1, NULL, 1e308), (2, '', NULL), (3, 'NULL', 0.5);",
    )
    .unwrap();
    drop(db);
    h.run(&[
        "add",
        "n",
        "--kind",
        "sqlite",
        "--database",
        path.to_str().unwrap(),
    ])
    .code_is(0);
    let csv = h.run(&["preview", "n", "t", "--csv"]);
    csv.code_is(0);
    assert_eq!(
        csv.out, "id,a,r\r\n1,,1e308\r\n2,\"\",\r\n3,NULL,0.5\r\n",
        "NULL empty, '' quoted, as an import writes them"
    );
    let human = h.run(&["preview", "n", "t"]);
    human.code_is(0);
    let lines: Vec<&str> = human.out.lines().collect();
    assert!(
        lines[1].contains("NULL") && !lines[1].contains("'NULL'"),
        "{}",
        human.out
    );
    assert!(lines[1].contains("1e308"), "{}", human.out);
    assert!(lines[3].contains("'NULL'"), "{}", human.out);
}

#[test]
fn a_bare_word_that_is_no_command_or_connection_is_a_usage_error() {
    let h = Home::new();
    let r = h.run(&["nosuch"]);
    r.code_is(2);
    assert!(
        r.err.contains("no command or connection named 'nosuch'"),
        "{}",
        r.all()
    );
    h.run(&["two", "words"]).code_is(2);
}

#[test]
fn json_numbers_are_numbers_for_every_engine_where_exact() {
    let sql =
        "SELECT CAST(12.50 AS DECIMAL(10,2)) AS d, 5 AS i, CAST(1.5 AS DOUBLE PRECISION) AS f";
    let mut checked = 0;
    for (kind, server) in [("mysql", mysql()), ("postgres", pg())] {
        let Some(s) = server else { continue };
        let h = Home::new();
        add_server(&h, "srv", kind, &s, &s.password).code_is(0);
        let sql = if kind == "mysql" {
            sql.replace("DOUBLE PRECISION", "DOUBLE")
        } else {
            sql.to_string()
        };
        let r = h.run(&["query", "srv", &sql, "--json"]);
        r.code_is(0);
        let row = &r.json()["rows"][0];
        assert_eq!(
            row[0],
            serde_json::json!("12.50"),
            "{kind}: decimals stay exact text"
        );
        assert_eq!(row[1], serde_json::json!(5), "{kind}: {}", r.out);
        assert_eq!(row[2], serde_json::json!(1.5), "{kind}: {}", r.out);
        checked += 1;
    }
    let h = Home::new();
    let r = h.run(&[
        "query",
        "demo",
        "SELECT 5 AS i, 1.5 AS f, 'x' AS t",
        "--json",
    ]);
    r.code_is(0);
    assert_eq!(r.json()["rows"][0], serde_json::json!([5, 1.5, "x"]));
    let _ = checked;
}
