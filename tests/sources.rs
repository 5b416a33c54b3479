//! `varlor connections import`: fixture files written here, in a throwaway
//! HOME, for every source (pgpass with escapes and wildcards, a service
//! without a password, my.cnf with !include, a .mylogin.cnf obfuscated by
//! this file's own implementation of the documented format, a DBeaver
//! workspace with two projects, the environment). The imported PostgreSQL
//! and MariaDB connections are then tested against the real servers.

use std::path::{Path, PathBuf};

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use serde_json::Value;

mod common;

struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    vhome: PathBuf,
    pass: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let vhome = dir.path().join("varlor");
        std::fs::create_dir_all(&home).unwrap();
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "sources test passphrase\n").unwrap();
        Home {
            _dir: dir,
            home,
            vhome,
            pass,
        }
    }

    fn write(&self, rel: &str, text: &[u8]) -> PathBuf {
        let p = self.home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        p
    }

    /// Runs varlor with only this HOME and `env` in its environment.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("USER", "tester")
            .env("VARLOR_HOME", &self.vhome)
            .env("VARLOR_PASSPHRASE_FILE", &self.pass)
            .env("VARLOR_SCRYPT_WORK_FACTOR", "10")
            .env("NO_COLOR", "1")
            .args(args)
            .timeout(std::time::Duration::from_secs(90));
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn import_json(&self, from: &str, env: &[(&str, &str)], dry: bool) -> Value {
        let mut args = vec!["connections", "import", "--json", "--from", from];
        if dry {
            args.push("--dry-run");
        }
        let (code, o, e) = self.run(&args, env);
        assert_eq!(code, 0, "{o}{e}");
        serde_json::from_str(&o).unwrap_or_else(|_| panic!("not JSON: {o}"))
    }

    fn test_ok(&self, name: &str) {
        let (code, o, e) = self.run(&["test", name], &[]);
        assert_eq!(code, 0, "test {name}: {o}{e}");
    }

    fn list(&self) -> Vec<Value> {
        let (code, o, e) = self.run(&["list", "--json"], &[]);
        assert_eq!(code, 0, "{e}");
        serde_json::from_str::<Value>(&o)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

fn conn<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

/// `\`-escapes every character, as a pgpass line may.
fn escape_all(s: &str) -> String {
    s.chars().map(|c| format!("\\{c}")).collect()
}

fn hash(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn pgpass_and_services_import_and_test_green() {
    let Some(pg) = common::pg() else { return };
    let h = Home::new();
    let port = pg.port.to_string();
    let pgpass = h.write(
        ".pgpass",
        format!(
            "# comment\n\
             {host}:{port}:{db}:{user}:{pw}\n\
             *:{port}:*:{user}:{wild}\n\
             only:three:fields\n\
             other.example:5432:we\\:ird\\\\db:bob:\n\
             *:*:*:*:catchall\n",
            host = pg.host,
            db = pg.db,
            user = pg.user,
            // Every character escaped: the test passes only if unescaped.
            pw = escape_all(&pg.password),
            wild = pg.password.replace('\\', "\\\\").replace(':', "\\:"),
        )
        .as_bytes(),
    );
    let services = h.write(
        ".pg_service.conf",
        format!(
            "# services\n[svc]\nhost=localhost\nport={port}\ndbname={db}\nuser={user}\nsslmode=disable\n\n\
             [nopw]\nhost=nowhere.invalid\nuser=nobody\n\nthis line is broken\n",
            db = pg.db,
            user = pg.user,
        )
        .as_bytes(),
    );
    let before = (hash(&pgpass), hash(&services));
    // A connection named like the service already exists elsewhere.
    let (code, _, e) = h.run(
        &[
            "add",
            "svc",
            "--kind",
            "postgres",
            "--host",
            "elsewhere",
            "--user",
            "x",
            "--no-password",
        ],
        &[],
    );
    assert_eq!(code, 0, "{e}");

    let dry = h.import_json("pgpass,pgservice", &[], true);
    assert_eq!(conn(&dry, "svc-2")["status"], "would-import");
    assert_eq!(h.list().len(), 2, "a dry run saves nothing (demo + svc)");

    let v = h.import_json("pgpass,pgservice", &[], false);
    let full = format!("{}/{}", pg.host, pg.db);
    let c = conn(&v, &full);
    assert_eq!(c["status"], "imported");
    assert_eq!(c["password"], true);
    assert!(
        c["origin"].as_str().unwrap().ends_with(".pgpass line 2"),
        "{c}"
    );
    // The service's name was taken: suffixed and reported.
    let s = conn(&v, "svc-2");
    assert_eq!(s["wanted"], "svc");
    assert_eq!(s["password"], true);
    assert!(
        s["password_from"]
            .as_str()
            .unwrap()
            .ends_with(".pgpass line 3"),
        "the wildcard line supplies the service's password: {s}"
    );
    // The escaped database name; an empty password is a password-less entry.
    let weird = conn(&v, "other.example/we:ird\\db");
    assert_eq!(weird["password"], false);
    // A service without a password, matched only by the catch-all line.
    assert_eq!(
        conn(&v, "nopw")["password_from"]
            .as_str()
            .map(|s| s.ends_with("line 6")),
        Some(true)
    );
    // Wildcard lines are not connections of their own.
    let n = v["connections"].as_array().unwrap().len();
    assert_eq!(n, 4, "{v:#}");
    // Malformed lines are reported with file and line; the rest went on.
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["line"] == 4 && p["file"].as_str().unwrap().ends_with(".pgpass")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p["line"] == 13 && p["file"].as_str().unwrap().ends_with(".pg_service.conf")),
        "{problems:?}"
    );

    h.test_ok(&full);
    h.test_ok("svc-2");

    // Every import is audited with its origin.
    let (_, audit, _) = h.run(&["audit", "--json"], &[]);
    assert!(audit.contains("from pgservice"), "{audit}");
    assert!(audit.contains(".pgpass line 3"), "{audit}");

    // Again: nothing overwritten, nothing added.
    let again = h.import_json("pgpass,pgservice", &[], false);
    assert!(
        again["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "already-saved"),
        "{again:#}"
    );
    assert_eq!(h.list().len(), 6);
    assert_eq!(
        before,
        (hash(&pgpass), hash(&services)),
        "sources never modified"
    );
}

#[test]
fn a_pgpass_readable_by_others_is_ignored_as_libpq_does() {
    let h = Home::new();
    let p = h.write(".pgpass", b"db.example:5432:app:bob:secret\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let v = h.import_json("pgpass", &[], true);
    assert_eq!(v["connections"].as_array().unwrap().len(), 0, "{v:#}");
    let w = v["warnings"].to_string();
    assert!(w.contains("group or world") && w.contains("0600"), "{w}");
}

#[test]
fn my_cnf_with_include_imports_and_tests_green() {
    let Some(m) = common::mysql() else { return };
    let h = Home::new();
    let extra = h.write(
        "conf/extra.cnf",
        format!(
            "[client-mariadb]\npassword=\"{}\"  # quoted\n[mysqld]\nport=1\n",
            m.password
        )
        .as_bytes(),
    );
    h.write(
        ".my.cnf",
        format!(
            "[client]\nhost={}\nport={}\nuser={}\ndatabase={}\nssl-mode=DISABLED\n!include {}\n[mysqldump]\nuser=nobody\n= broken\n",
            m.host,
            m.port,
            m.user,
            m.db,
            extra.display()
        )
        .as_bytes(),
    );
    let v = h.import_json("mycnf", &[], false);
    let name = format!("{}/{}", m.host, m.db);
    let c = conn(&v, &name);
    assert_eq!(c["kind"], "mysql");
    assert_eq!(c["password"], true, "the password came through !include");
    assert!(
        c["summary"].as_str().unwrap().contains(&m.port.to_string()),
        "{c}"
    );
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["line"] == 10),
        "{v:#}"
    );
    h.test_ok(&name);
}

/// mysql_config_editor's obfuscation, written here from the documented
/// format (not the code under test): 4 zero bytes, a 20-byte key, then per
/// line a little-endian length and AES-128-ECB(PKCS#7) under the XOR-folded key.
fn mylogin_bytes(text: &str) -> Vec<u8> {
    let key: [u8; 20] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let mut folded = [0u8; 16];
    for (i, b) in key.iter().enumerate() {
        folded[i % 16] ^= b;
    }
    let cipher = aes::Aes128::new(GenericArray::from_slice(&folded));
    let mut out = vec![0u8; 4];
    out.extend_from_slice(&key);
    for line in text.lines() {
        let mut plain = format!("{line}\n").into_bytes();
        let pad = 16 - plain.len() % 16;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        for block in plain.chunks_mut(16) {
            cipher.encrypt_block(GenericArray::from_mut_slice(block));
        }
        out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
        out.extend_from_slice(&plain);
    }
    out
}

#[test]
fn mylogin_cnf_login_paths_import_and_test_green() {
    let Some(m) = common::mysql() else { return };
    let h = Home::new();
    let text = format!(
        "[client]\nuser = \"nobody\"\n[prodpath]\nuser = \"{}\"\npassword = \"{}\"\nhost = \"{}\"\nport = {}\n",
        m.user, m.password, m.host, m.port
    );
    h.write(".mylogin.cnf", &mylogin_bytes(&text));
    let v = h.import_json("mylogin", &[], false);
    let c = conn(&v, "prodpath");
    assert_eq!(c["password"], true);
    assert!(c["origin"]
        .as_str()
        .unwrap()
        .contains("login path [prodpath]"));
    assert_eq!(
        conn(&v, "localhost")["password"],
        false,
        "[client] has no password"
    );
    // The database is not part of a login path: connect to the server.
    h.test_ok("prodpath");

    // A truncated file is a problem, not a crash.
    let h2 = Home::new();
    let bytes = mylogin_bytes(&text);
    h2.write(".mylogin.cnf", &bytes[..bytes.len() - 5]);
    let v = h2.import_json("mylogin", &[], true);
    assert!(v["problems"].to_string().contains("truncated"), "{v:#}");
}

/// DBeaver Community's credentials encryption, from its published key.
fn dbeaver_encrypt(plain: &[u8]) -> Vec<u8> {
    let key: [u8; 16] = [
        0xba, 0xbb, 0x4a, 0x9f, 0x77, 0x4a, 0xb8, 0x53, 0xc9, 0x6c, 0x2d, 0x65, 0x3d, 0xfe, 0x54,
        0x4a,
    ];
    let cipher = aes::Aes128::new(GenericArray::from_slice(&key));
    let iv: [u8; 16] = std::array::from_fn(|i| i as u8 * 3);
    let mut data = plain.to_vec();
    let pad = 16 - data.len() % 16;
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = iv.to_vec();
    let mut prev = iv;
    for block in data.chunks(16) {
        let mut b = GenericArray::clone_from_slice(block);
        for (x, p) in b.iter_mut().zip(prev.iter()) {
            *x ^= p;
        }
        cipher.encrypt_block(&mut b);
        prev.copy_from_slice(&b);
        out.extend_from_slice(&b);
    }
    out
}

#[test]
fn a_dbeaver_workspace_with_two_projects_imports_and_tests_green() {
    let Some(pg) = common::pg() else { return };
    let Some(m) = common::mysql() else { return };
    let h = Home::new();
    let ws = ".local/share/DBeaverData/workspace6";
    let general = serde_json::json!({
        "folders": {},
        "connections": {
            "postgres-jdbc-1": {
                "provider": "postgresql", "driver": "postgres-jdbc", "name": "Prod PG",
                "save-password": true,
                "configuration": {
                    "host": pg.host, "port": pg.port.to_string(), "database": pg.db,
                    "type": "prod", "auth-model": "native",
                    "handlers": { "ssh_tunnel": { "enabled": true, "properties": {} } }
                }
            },
            "db2-1": { "provider": "db2", "driver": "db2", "name": "Old DB2",
                        "configuration": { "host": "h", "port": "50000" } }
        }
    });
    h.write(
        &format!("{ws}/General/.dbeaver/data-sources.json"),
        general.to_string().as_bytes(),
    );
    let creds = serde_json::json!({
        "postgres-jdbc-1": { "#connection": { "user": pg.user, "password": pg.password } },
        "mysql8-1": { "#connection": { "user": m.user, "password": m.password } }
    });
    h.write(
        &format!("{ws}/General/.dbeaver/credentials-config.json"),
        &dbeaver_encrypt(creds.to_string().as_bytes()),
    );
    let second = serde_json::json!({
        "connections": {
            "mysql8-1": {
                "provider": "mysql", "driver": "mysql8", "name": "Shop MariaDB",
                "configuration": { "host": m.host, "port": m.port.to_string(), "database": m.db, "type": "dev" }
            },
            "mysql8-2": {
                "provider": "mysql", "driver": "mysql8", "name": "No Password",
                "configuration": { "host": "nowhere.invalid", "port": "3306", "user": "guest" }
            }
        }
    });
    h.write(
        &format!("{ws}/Second/.dbeaver/data-sources.json"),
        second.to_string().as_bytes(),
    );
    // The second project's credentials live in the first's file in this
    // fixture only by id; give it its own copy as DBeaver does.
    h.write(
        &format!("{ws}/Second/.dbeaver/credentials-config.json"),
        &dbeaver_encrypt(creds.to_string().as_bytes()),
    );

    let v = h.import_json("dbeaver", &[], false);
    let p = conn(&v, "Prod PG");
    assert_eq!(p["environment"], "production");
    assert_eq!(p["password"], true);
    assert!(p["notes"].to_string().contains("ssh_tunnel"), "{p}");
    assert!(p["origin"].as_str().unwrap().contains("project General"));
    let s = conn(&v, "Shop MariaDB");
    assert_eq!(s["environment"], "development");
    assert!(s["origin"].as_str().unwrap().contains("project Second"));
    assert_eq!(conn(&v, "No Password")["password"], false);
    let w = v["warnings"].to_string();
    assert!(w.contains("published in its own source"), "{w}");
    assert!(w.contains("db2"), "an unknown engine is reported: {w}");
    h.test_ok("Prod PG");
    h.test_ok("Shop MariaDB");
}

#[test]
fn environment_variables_import_and_test_green() {
    let Some(pg) = common::pg() else { return };
    let Some(m) = common::mysql() else { return };
    let h = Home::new();
    let url = format!(
        "mysql://{}:{}@{}:{}/{}",
        m.user, m.password, m.host, m.port, m.db
    );
    let port = pg.port.to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("PGHOST", pg.host.as_str()),
        ("PGPORT", port.as_str()),
        ("PGDATABASE", pg.db.as_str()),
        ("PGUSER", pg.user.as_str()),
        ("PGPASSWORD", pg.password.as_str()),
        ("PGSSLMODE", "disable"),
    ];
    let (code, o, e) = h.run(&["connections", "import", "--from", "env"], &env);
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("$DATABASE_URL"), "the origin is shown: {o}");
    assert!(!o.contains(&pg.password) && !o.contains(&m.password), "{o}");
    let names: Vec<String> = h
        .list()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let my = format!("{}/{}", m.host, m.db);
    assert!(names.contains(&my), "{names:?}");
    h.test_ok(&my);
    // The PG* connection has the same host/db name: suffixed.
    let pgname = format!("{}/{}-2", pg.host, pg.db);
    if pg.host == m.host && pg.db == m.db {
        h.test_ok(&pgname);
    } else {
        h.test_ok(&format!("{}/{}", pg.host, pg.db));
    }
}

#[test]
fn an_unknown_source_is_a_usage_error() {
    let h = Home::new();
    let (code, _, e) = h.run(&["connections", "import", "--from", "nosuch"], &[]);
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("pgpass"), "{e}");
}
