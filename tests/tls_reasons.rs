//! A refused server certificate is reported in words: name mismatch, expired
//! and unknown CA, each from `varlor test URL` (the line a person reads and
//! the staged `--json`). The server is a listener in this test that speaks
//! just enough PostgreSQL (it answers the SSLRequest with `S`) and then a
//! rustls handshake with a certificate made here by the `openssl` CLI
//! (installed by `scripts/testdb/certs.sh` under `scripts/test`): one for
//! another host name, one past its dates, one from a CA the client was not
//! given. The client trusts the test CA (`sslrootcert`) and verifies fully.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

/// Runs `openssl ARGS` in `dir`; panics with its words on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl (scripts/testdb/certs.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Keys are P-256 (quick to make; rustls with ring takes them).
const NEW_KEY: &str = "ec:prime256v1.params";

const LEAF_EXT: &str = "basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
";

/// A CA named `name` in `dir` (`name.pem`, `name.key`), with the files
/// `openssl ca` needs to sign with chosen dates.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            NEW_KEY,
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN=varlor {name}"),
            "-days",
            "30",
            "-extensions",
            "v3_ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.cnf")),
        format!(
            "[ca]\ndefault_ca = here\n[here]\ndir = .\ndatabase = {name}.index\n\
             new_certs_dir = .\ncertificate = {name}.pem\nprivate_key = {name}.key\n\
             serial = {name}.serial\ndefault_md = sha256\npolicy = any\n\
             unique_subject = no\n[any]\ncommonName = supplied\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{name}.index")), "").unwrap();
    std::fs::write(dir.join(format!("{name}.serial")), "1000\n").unwrap();
}

/// A leaf `leaf.pem`/`leaf.key` for `san`, signed by CA `ca`, valid from
/// `start` to `end` (`YYYYMMDDHHMMSSZ`).
fn make_leaf(dir: &Path, ca: &str, leaf: &str, san: &str, start: &str, end: &str) {
    std::fs::write(
        dir.join(format!("{leaf}.ext")),
        format!("{LEAF_EXT}subjectAltName = {san}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            NEW_KEY,
            "-nodes",
            "-keyout",
            &format!("{leaf}.key"),
            "-out",
            &format!("{leaf}.csr"),
            "-subj",
            &format!("/CN={leaf}"),
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            &format!("{ca}.cnf"),
            "-in",
            &format!("{leaf}.csr"),
            "-out",
            &format!("{leaf}.pem"),
            "-startdate",
            start,
            "-enddate",
            end,
            "-extfile",
            &format!("{leaf}.ext"),
        ],
    );
}

/// Listens on 127.0.0.1 and, for every connection, answers PostgreSQL's
/// SSLRequest with `S` and runs a TLS handshake with `leaf` (which the
/// client is expected to refuse). Returns the port.
fn fake_postgres(dir: &Path, leaf: &str) -> u16 {
    let read = |ext: &str| std::fs::read(dir.join(format!("{leaf}.{ext}"))).unwrap();
    let certs: Vec<_> = rustls_pemfile::certs(&mut &read("pem")[..])
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut &read("key")[..])
        .unwrap()
        .expect("a key");
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let config = config.clone();
            std::thread::spawn(move || {
                let mut request = [0u8; 8];
                // SSLRequest: length 8, code 80877103.
                if sock.read_exact(&mut request).is_err()
                    || request != [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]
                {
                    return;
                }
                if sock.write_all(b"S").is_err() {
                    return;
                }
                let mut tls = rustls::ServerConnection::new(config).unwrap();
                while tls.is_handshaking() {
                    if tls.complete_io(&mut sock).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

struct Case {
    leaf: &'static str,
    words: &'static str,
    hint: &'static str,
    /// The driver's own words, kept in the details.
    detail: &'static str,
}

/// `varlor test URL` (human line and `--json`) against the fake server.
fn varlor_test(home: &Path, url: &str, json: bool) -> (i32, String) {
    let mut args = vec!["test", url, "--timeout", "10"];
    if json {
        args.push("--json");
    }
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_varlor"))
        .args(&args)
        .env("VARLOR_HOME", home)
        .env("VARLOR_NO_AGENT", "1")
        .env("NO_COLOR", "1")
        .env_remove("VARLOR_PROFILE")
        .env_remove("VARLOR_LOG")
        .env_remove("PGPASSWORD")
        .timeout(std::time::Duration::from_secs(60))
        .write_stdin("")
        .output()
        .expect("run varlor");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn refused_certificates_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-out",
            "prime256v1.params",
        ],
    );
    make_ca(d, "ca");
    make_ca(d, "other_ca");
    let (past, future) = ("20200101000000Z", "20990101000000Z");
    let here = "IP:127.0.0.1, DNS:localhost";
    make_leaf(d, "ca", "other_name", "DNS:db.example.org", past, future);
    make_leaf(d, "ca", "expired", here, past, "20200102000000Z");
    make_leaf(d, "other_ca", "unknown_ca", here, past, future);
    // The control: the same listener with a good certificate gets past TLS.
    make_leaf(d, "ca", "good", here, past, future);
    let ca: PathBuf = d.join("ca.pem");
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    let url = |port: u16| {
        format!(
            "postgres://varlor@127.0.0.1:{port}/db?sslmode=verify-full&sslrootcert={}",
            ca.display()
        )
    };

    let cases = [
        Case {
            leaf: "other_name",
            words: "Certificate not trusted: issued for another host name",
            hint: "Connect by a name the certificate lists",
            // "see the details": they name what the certificate is for.
            detail: "db.example.org",
        },
        Case {
            leaf: "expired",
            words: "Certificate not trusted: expired",
            hint: "outside its dates",
            detail: "expired",
        },
        Case {
            leaf: "unknown_ca",
            words: "Certificate not trusted: signed by an unknown CA",
            hint: "Give the CA file that signed the server certificate",
            detail: "UnknownIssuer",
        },
    ];
    for c in &cases {
        let port = fake_postgres(d, c.leaf);
        let (code, line) = varlor_test(&home, &url(port), false);
        println!("{}: {line}", c.leaf);
        assert_eq!(code, 1, "{}: {line}", c.leaf);
        assert!(line.contains(c.words), "{}: {line}", c.leaf);
        assert!(line.contains(c.hint), "{}: {line}", c.leaf);

        let (code, out) = varlor_test(&home, &url(port), true);
        assert_eq!(code, 1, "{}: {out}", c.leaf);
        let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(j["ok"], false, "{out}");
        let detail = j["error"]["detail"].as_str().unwrap_or("");
        assert!(detail.contains(c.detail), "{}: {detail}", c.leaf);
        assert_eq!(j["error"]["kind"], "certificate_not_trusted", "{out}");
        assert_eq!(j["error"]["message"], c.words, "{out}");
        assert!(
            j["error"]["hint"].as_str().unwrap_or("").contains(c.hint),
            "{out}"
        );
        // The failing stage is the login, after resolve and TCP succeeded.
        let stages = j["stages"].as_array().expect("stages");
        let last = stages.last().expect("a stage");
        assert_eq!(last["ok"], false, "{out}");
        assert!(
            stages[..stages.len() - 1].iter().all(|s| s["ok"] == true),
            "{out}"
        );
    }

    // A certificate it trusts: the test gets past TLS (the fake server then
    // hangs up, which is no certificate error).
    let port = fake_postgres(d, "good");
    let (_, out) = varlor_test(&home, &url(port), true);
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    println!("good: {}", j["error"]);
    assert_ne!(j["error"]["kind"], "certificate_not_trusted", "{out}");
}
