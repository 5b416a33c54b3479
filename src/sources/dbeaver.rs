//! DBeaver: every project of the workspace (`DBeaverData/workspace6/*` under
//! `$XDG_DATA_HOME`, `~/.local/share` or `~/Library`), its
//! `.dbeaver/data-sources*.json` (engine, host, port, database, the
//! connection type as the environment) and `.dbeaver/credentials-config.json`
//! (users and passwords). DBeaver Community encrypts the latter with
//! AES-128-CBC under a key published in its own source code, so anyone who
//! can read the file can read the passwords: the output says so.
//! SSH tunnels, SSL handlers, driver properties and bootstrap queries are
//! left out (with a note).

use std::path::{Path, PathBuf};

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use secrecy::SecretString;
use serde_json::Value;

use super::{Context, Discovery, Found, Source};
use crate::connectors::{ConnSpec, Environment, Kind};

/// The key DBeaver Community uses for credentials-config.json
/// (`DefaultSecureStorage` / `SecureCredentialsStorage` in its source).
const PUBLISHED_KEY: [u8; 16] = [
    0xba, 0xbb, 0x4a, 0x9f, 0x77, 0x4a, 0xb8, 0x53, 0xc9, 0x6c, 0x2d, 0x65, 0x3d, 0xfe, 0x54, 0x4a,
];

pub const WARNING: &str = "DBeaver Community encrypts credentials-config.json with a key \
published in its own source code: anyone who can read that file can read these passwords. \
In Varlor they are encrypted to your own key; consider removing them from DBeaver";

/// Decrypts credentials-config.json: a 16-byte IV, then AES-128-CBC, PKCS#7.
pub fn decrypt_credentials(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 32 || !bytes.len().is_multiple_of(16) {
        return None;
    }
    let cipher = aes::Aes128::new(GenericArray::from_slice(&PUBLISHED_KEY));
    let mut prev: [u8; 16] = bytes[..16].try_into().ok()?;
    let mut out = Vec::with_capacity(bytes.len() - 16);
    for block in bytes[16..].chunks(16) {
        let mut b = GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        for (o, p) in b.iter_mut().zip(prev.iter()) {
            *o ^= p;
        }
        out.extend_from_slice(&b);
        prev.copy_from_slice(block);
    }
    let pad = *out.last()? as usize;
    if pad == 0 || pad > 16 || out[out.len() - pad..].iter().any(|&b| b as usize != pad) {
        return None;
    }
    out.truncate(out.len() - pad);
    Some(out)
}

/// The workspace directories that exist.
fn workspaces(cx: &Context) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(x) = cx.var("XDG_DATA_HOME") {
        roots.push(Path::new(x).join("DBeaverData/workspace6"));
    }
    roots.push(cx.home.join(".local/share/DBeaverData/workspace6"));
    roots.push(cx.home.join("Library/DBeaverData/workspace6"));
    let mut out: Vec<PathBuf> = Vec::new();
    for r in roots {
        if r.is_dir() && !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

pub fn discover(cx: &Context, d: &mut Discovery) {
    let mut warned = false;
    for ws in workspaces(cx) {
        let Ok(rd) = std::fs::read_dir(&ws) else {
            continue;
        };
        let mut projects: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join(".dbeaver").is_dir())
            .collect();
        projects.sort();
        for project in projects {
            if project_sources(cx, &project, d) && !warned {
                d.warnings.push(WARNING.to_string());
                warned = true;
            }
        }
    }
}

/// Reads one project; true when it used DBeaver's stored passwords.
fn project_sources(cx: &Context, project: &Path, d: &mut Discovery) -> bool {
    let dir = project.join(".dbeaver");
    let pname = project
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let creds_path = dir.join("credentials-config.json");
    let creds: Value = match super::read_file(d, &creds_path) {
        None => Value::Null,
        Some(bytes) => match decrypt_credentials(&bytes)
            .and_then(|plain| serde_json::from_slice(&plain).ok())
        {
            Some(v) => v,
            None => {
                d.problem(
                    &creds_path,
                    None,
                    "does not decrypt with DBeaver Community's key (a master password, or DBeaver EE?): users and passwords left out",
                );
                Value::Null
            }
        },
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.starts_with("data-sources") && n.ends_with(".json")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut used_secret = false;
    for f in files {
        let Some(text) = super::read_text(d, &f) else {
            continue;
        };
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                d.problem(&f, Some(e.line()), format!("not valid JSON: {e}"));
                continue;
            }
        };
        let Some(conns) = v.get("connections").and_then(Value::as_object) else {
            continue;
        };
        for (id, c) in conns {
            if let Some(found) = connection(cx, &f, &pname, id, c, &creds, d) {
                used_secret |= found.password.is_some();
                d.found.push(found);
            }
        }
    }
    used_secret
}

fn kind_of(provider: &str, driver: &str) -> Option<Kind> {
    match provider {
        "postgresql" => Some(Kind::Postgres),
        "mysql" | "mariadb" => Some(Kind::Mysql),
        "oracle" => Some(Kind::Oracle),
        "sqlserver" | "mssql" => Some(Kind::Sqlserver),
        "mongodb" => Some(Kind::Mongodb),
        "sqlite" => Some(Kind::Sqlite),
        "generic" if driver.contains("sqlite") => Some(Kind::Sqlite),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn connection(
    cx: &Context,
    file: &Path,
    project: &str,
    id: &str,
    c: &Value,
    creds: &Value,
    d: &mut Discovery,
) -> Option<Found> {
    let label = text(c, "name").unwrap_or_else(|| id.to_string());
    let origin = format!("{} (project {project}) '{label}'", cx.show(file));
    let provider = text(c, "provider").unwrap_or_default();
    let driver = text(c, "driver").unwrap_or_default();
    let Some(kind) = kind_of(&provider, &driver) else {
        d.warnings.push(format!(
            "{origin}: engine {provider}/{driver} is not one Varlor knows; skipped"
        ));
        return None;
    };
    let cfg = c.get("configuration").cloned().unwrap_or(Value::Null);
    let mut notes = Vec::new();
    let mut spec = ConnSpec::new(kind);
    if kind.engine().file_based {
        let path = text(&cfg, "database").or_else(|| {
            text(&cfg, "url").and_then(|u| u.strip_prefix("jdbc:sqlite:").map(str::to_string))
        });
        spec.database = path.unwrap_or_default();
    } else {
        spec.host = super::tcp_host(&text(&cfg, "host").unwrap_or_default(), &mut notes);
        if let Some(p) = text(&cfg, "port") {
            match ConnSpec::parse_port(&p) {
                Ok(p) => spec.port = Some(p),
                Err(e) => notes.push(format!("{e}: default port used")),
            }
        }
        spec.database = text(&cfg, "database").unwrap_or_default();
    }
    let secret = creds.get(id).and_then(|e| e.get("#connection"));
    spec.user = secret
        .and_then(|s| text(s, "user"))
        .or_else(|| text(&cfg, "user"))
        .unwrap_or_default();
    let mut password = secret
        .and_then(|s| text(s, "password"))
        .map(SecretString::from);
    if password.is_none() {
        if let Some(p) = text(&cfg, "password") {
            notes.push("the password was stored in clear in data-sources.json".into());
            password = Some(SecretString::from(p));
        }
    }
    let environment = match text(&cfg, "type").as_deref() {
        Some("prod") => Environment::Production,
        Some("test") => Environment::Staging,
        Some("dev") => Environment::Development,
        Some(other) => {
            notes.push(format!("connection type '{other}' not imported"));
            Environment::None
        }
        None => Environment::None,
    };
    if let Some(h) = cfg.get("handlers").and_then(Value::as_object) {
        for (name, handler) in h {
            if handler.get("enabled").and_then(Value::as_bool) == Some(true) {
                notes.push(format!("{name} settings not imported"));
            }
        }
    }
    if spec.user.is_empty() && kind.engine().user_required {
        if let Some(u) = cx.os_user() {
            spec.user = u.to_string();
            notes.push(format!("no user saved: {u}"));
        }
    }
    if let Err(e) = spec.normalize().and_then(|_| spec.validate()) {
        d.warnings.push(format!("{origin}: {e}; skipped"));
        return None;
    }
    Some(Found {
        name: super::clean_name(&label),
        spec,
        environment,
        password,
        password_from: None,
        source: Source::Dbeaver,
        origin,
        notes,
    })
}
