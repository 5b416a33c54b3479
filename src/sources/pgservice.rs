//! `pg_service.conf`: the user's file (`PGSERVICEFILE`, else
//! `~/.pg_service.conf`) and the system one (`$PGSYSCONFDIR/pg_service.conf`);
//! a service in the user's file hides one of the same name in the system
//! file, as in libpq. Each `[service]` becomes a connection named after it,
//! with host, port, dbname, user, sslmode, sslrootcert and connect_timeout;
//! its password comes from a `password` key or from a matching pgpass line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{Context, Discovery, Found, Source};
use crate::connectors::{ConnSpec, Environment, Kind, TlsMode};

/// One `[service]` section: its line and its `key=value` pairs in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub pairs: Vec<(String, String, usize)>,
}

/// Parses the service file format; malformed lines become problems.
pub fn parse(text: &str, path: &Path, d: &mut Discovery) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(name) if !name.trim().is_empty() => out.push(Section {
                    name: name.trim().to_string(),
                    line: n,
                    pairs: Vec::new(),
                }),
                _ => d.problem(path, Some(n), "malformed [service] header"),
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            d.problem(path, Some(n), "expected key=value");
            continue;
        };
        match out.last_mut() {
            Some(s) => s
                .pairs
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string(), n)),
            None => d.problem(path, Some(n), "key=value outside a [service] section"),
        }
    }
    out
}

/// The service files, the user's first.
fn files(cx: &Context) -> Vec<PathBuf> {
    let mut v = vec![cx
        .var("PGSERVICEFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| cx.home.join(".pg_service.conf"))];
    if let Some(dir) = cx.var("PGSYSCONFDIR") {
        v.push(Path::new(dir).join("pg_service.conf"));
    }
    v
}

pub fn discover(cx: &Context, d: &mut Discovery) {
    let mut seen: HashSet<String> = HashSet::new();
    for path in files(cx) {
        let Some(text) = super::read_text(d, &path) else {
            continue;
        };
        for s in parse(&text, &path, d) {
            if !seen.insert(s.name.clone()) {
                continue; // hidden by the user's file (or repeated: first wins)
            }
            if let Some(f) = service(cx, &path, &s, d) {
                d.found.push(f);
            }
        }
    }
}

fn service(cx: &Context, path: &Path, s: &Section, d: &mut Discovery) -> Option<Found> {
    let mut notes = Vec::new();
    let mut spec = ConnSpec::new(Kind::Postgres);
    let mut password = None;
    let (mut host, mut hostaddr) = (None, None);
    let base = path.parent();
    for (k, v, n) in &s.pairs {
        match k.as_str() {
            "host" => host = Some(v.clone()),
            "hostaddr" => hostaddr = Some(v.clone()),
            "port" => match ConnSpec::parse_port(v.split(',').next().unwrap_or("")) {
                Ok(p) => spec.port = Some(p),
                Err(e) => {
                    d.problem(path, Some(*n), e.to_string());
                    return None;
                }
            },
            "dbname" => spec.database = v.clone(),
            "user" => spec.user = v.clone(),
            "password" => password = Some(SecretString::from(v.clone())),
            "sslmode" => match TlsMode::parse(v) {
                Some(m) => {
                    if v == "verify-ca" {
                        notes.push("sslmode verify-ca imported as verify-full (the host name is checked too)".into());
                    }
                    if v == "allow" {
                        notes.push("sslmode allow imported as prefer".into());
                    }
                    spec.tls = m;
                }
                None => d.problem(path, Some(*n), format!("unknown sslmode '{v}'")),
            },
            "sslrootcert" => spec.ca_file = super::ca_file(v, base, &mut notes),
            "connect_timeout" => match v.parse::<u64>() {
                Ok(t) if (1..=3600).contains(&t) => spec.connect_timeout_secs = t,
                _ => d.problem(path, Some(*n), format!("connect_timeout '{v}' ignored")),
            },
            other => notes.push(format!("{other} not imported")),
        }
    }
    let h = host.or(hostaddr).unwrap_or_default();
    let h = super::first_host(&h, &mut notes);
    spec.host = super::tcp_host(&h, &mut notes);
    if spec.user.is_empty() {
        match cx.os_user() {
            Some(u) => {
                spec.user = u.to_string();
                notes.push(format!("no user: {u} (your login name, as libpq does)"));
            }
            None => {
                d.problem(path, Some(s.line), format!("[{}]: no user", s.name));
                return None;
            }
        }
    }
    if spec.database.is_empty() {
        spec.database = spec.user.clone();
    }
    if spec.tls == TlsMode::Disable {
        spec.ca_file = None;
    }
    if let Err(e) = spec.validate() {
        d.problem(path, Some(s.line), format!("[{}]: {e}", s.name));
        return None;
    }
    Some(Found {
        name: super::clean_name(&s.name),
        spec,
        environment: Environment::None,
        password,
        password_from: None,
        source: Source::Pgservice,
        origin: format!("{} [{}] line {}", cx.show(path), s.name, s.line),
        notes,
    })
}
