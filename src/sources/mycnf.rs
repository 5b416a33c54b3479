//! MySQL/MariaDB option files: `~/.my.cnf` (and `$MYSQL_HOME/my.cnf`), with
//! `!include FILE` and `!includedir DIR` (its `*.cnf` files, sorted).
//! The `[client]`, `[mysql]` and `[client*]` groups (`[client-server]`,
//! `[client-mariadb]`…) are read in file order, a later option overriding an
//! earlier one, as the client does; they make one connection. Values may be
//! quoted, `\n \t \\ \s` escaped; `#` and `;` start comments. Files outside
//! the home directory (and `MYSQL_HOME`) are not read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{Context, Discovery, Found, Source};
use crate::connectors::{ConnSpec, Environment, Kind, TlsMode};

/// One option: group, key (`_` as `-`), value, and where it was set.
#[derive(Debug, Clone)]
pub struct Opt {
    pub group: String,
    pub key: String,
    pub value: Option<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// Undoes quotes, escapes and trailing comments of an option value.
pub fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    let (body, quoted) = match raw.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let inner = &raw[1..];
            // The closing quote: the first unescaped one.
            let mut end = None;
            let mut esc = false;
            for (i, c) in inner.char_indices() {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == q {
                    end = Some(i);
                    break;
                }
            }
            match end {
                Some(e) => (&inner[..e], true),
                None => (raw, false),
            }
        }
        _ => (raw, false),
    };
    let body = if quoted {
        body
    } else {
        match body.find('#') {
            Some(i) => body[..i].trim_end(),
            None => body,
        }
    };
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('s') => out.push(' '),
            Some(c @ ('\\' | '"' | '\'')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether `path` may be read: under the home directory or `MYSQL_HOME`.
fn allowed(cx: &Context, path: &Path) -> bool {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.starts_with(&cx.home) || cx.var("MYSQL_HOME").is_some_and(|m| abs.starts_with(m))
}

/// Reads an option file and its includes, appending its options.
pub fn read_options(
    cx: &Context,
    path: &Path,
    depth: usize,
    d: &mut Discovery,
    out: &mut Vec<Opt>,
) {
    let Some(text) = super::read_text(d, path) else {
        return;
    };
    parse_into(cx, &text, path, depth, d, out);
}

/// Parses option-file text (also the decrypted `.mylogin.cnf`).
pub fn parse_into(
    cx: &Context,
    text: &str,
    path: &Path,
    depth: usize,
    d: &mut Discovery,
    out: &mut Vec<Opt>,
) {
    let mut group: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('!') {
            let (directive, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let arg = arg.trim();
            let target = match path.parent() {
                Some(dir) if Path::new(arg).is_relative() => dir.join(arg),
                _ => PathBuf::from(arg),
            };
            if depth >= 8 {
                d.problem(path, Some(n), "includes nested too deep; not followed");
                continue;
            }
            if arg.is_empty() || !matches!(directive, "include" | "includedir") {
                d.problem(path, Some(n), format!("unknown directive !{directive}"));
                continue;
            }
            if !allowed(cx, &target) {
                d.problem(
                    path,
                    Some(n),
                    format!(
                        "{} is outside your home directory: not read",
                        target.display()
                    ),
                );
                continue;
            }
            if directive == "include" {
                read_options(cx, &target, depth + 1, d, out);
            } else {
                let mut files: Vec<PathBuf> = match std::fs::read_dir(&target) {
                    Ok(rd) => rd
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "cnf"))
                        .collect(),
                    Err(e) => {
                        d.problem(path, Some(n), format!("{}: {e}", target.display()));
                        continue;
                    }
                };
                files.sort();
                for f in files {
                    read_options(cx, &f, depth + 1, d, out);
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            match rest.split_once(']') {
                Some((g, _)) if !g.trim().is_empty() => group = Some(g.trim().to_ascii_lowercase()),
                _ => d.problem(path, Some(n), "malformed [group] header"),
            }
            continue;
        }
        let Some(g) = &group else {
            d.problem(path, Some(n), "option outside a [group]");
            continue;
        };
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v))),
            None => (line.split('#').next().unwrap_or("").trim(), None),
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            d.problem(path, Some(n), "expected option=value");
            continue;
        }
        out.push(Opt {
            group: g.clone(),
            key: k.to_ascii_lowercase().replace('_', "-"),
            value: v,
            file: path.to_path_buf(),
            line: n,
        });
    }
}

/// The groups the mysql client reads.
pub fn client_group(g: &str) -> bool {
    g == "mysql" || g.starts_with("client") || g == "mariadb-client"
}

/// One connection from options (later ones override earlier ones).
/// `name`: None derives `host/db`.
pub fn connection(
    cx: &Context,
    opts: &[&Opt],
    source: Source,
    origin: String,
    name: Option<String>,
    d: &mut Discovery,
) -> Option<Found> {
    let mut last: BTreeMap<&str, &Opt> = BTreeMap::new();
    for o in opts {
        last.insert(o.key.as_str(), o);
    }
    let get = |k: &str| last.get(k).and_then(|o| o.value.clone());
    if !["host", "user", "password", "port", "database", "socket"]
        .iter()
        .any(|k| last.contains_key(k))
    {
        return None;
    }
    let mut notes = Vec::new();
    let mut spec = ConnSpec::new(Kind::Mysql);
    if let Some(s) = get("socket") {
        notes.push(format!("socket {s} not used: Varlor connects over TCP"));
    }
    spec.host = super::tcp_host(&get("host").unwrap_or_default(), &mut notes);
    if let Some(o) = last.get("port") {
        match ConnSpec::parse_port(o.value.as_deref().unwrap_or("")) {
            Ok(p) => spec.port = Some(p),
            Err(e) => d.problem(&o.file, Some(o.line), e.to_string()),
        }
    }
    spec.database = get("database").unwrap_or_default();
    spec.user = match get("user").or_else(|| cx.os_user().map(str::to_string)) {
        Some(u) => u,
        None => {
            d.warnings.push(format!("{origin}: no user; skipped"));
            return None;
        }
    };
    if let Some(m) = get("ssl-mode") {
        match TlsMode::parse(&m) {
            Some(t) => spec.tls = t,
            None => notes.push(format!("ssl-mode {m} not understood: prefer")),
        }
    } else if let Some(o) = last.get("ssl") {
        let on = o.value.as_deref().is_none_or(|v| v != "0" && v != "FALSE");
        spec.tls = if on {
            TlsMode::Require
        } else {
            TlsMode::Disable
        };
    }
    if let Some(o) = last.get("ssl-ca") {
        if spec.tls != TlsMode::Disable {
            spec.ca_file = super::ca_file(
                o.value.as_deref().unwrap_or(""),
                o.file.parent(),
                &mut notes,
            );
            if spec.ca_file.is_some() && spec.tls != TlsMode::VerifyFull {
                notes.push("ssl-ca given: kept, TLS mode unchanged".into());
            }
        }
    }
    let password = match last.get("password") {
        Some(o) if o.value.is_none() => {
            notes.push("password asked at the prompt there: none stored".into());
            None
        }
        Some(o) => o
            .value
            .clone()
            .filter(|v| !v.is_empty())
            .map(SecretString::from),
        None => None,
    };
    if let Err(e) = spec.validate() {
        d.warnings.push(format!("{origin}: {e}; skipped"));
        return None;
    }
    Some(Found {
        name: name.unwrap_or_else(|| super::derived_name(&spec)),
        spec,
        environment: Environment::None,
        password,
        password_from: None,
        source,
        origin,
        notes,
    })
}

pub fn discover(cx: &Context, d: &mut Discovery) {
    let mut files = vec![cx.home.join(".my.cnf")];
    if let Some(m) = cx.var("MYSQL_HOME") {
        files.insert(0, Path::new(m).join("my.cnf"));
    }
    let mut opts = Vec::new();
    for f in &files {
        read_options(cx, f, 0, d, &mut opts);
    }
    let chosen: Vec<&Opt> = opts.iter().filter(|o| client_group(&o.group)).collect();
    let mut places: Vec<String> = Vec::new();
    for o in &chosen {
        let p = format!("{} [{}]", cx.show(&o.file), o.group);
        if !places.contains(&p) {
            places.push(p);
        }
    }
    if let Some(f) = connection(cx, &chosen, Source::Mycnf, places.join(", "), None, d) {
        d.found.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unquoted() {
        assert_eq!(unquote(" plain # comment"), "plain");
        assert_eq!(unquote(r#""with # hash\s""#), "with # hash ");
        assert_eq!(unquote(r"'it\'s'"), "it's");
        assert_eq!(unquote(r"a\\b"), r"a\b");
    }

    #[test]
    fn client_groups() {
        for g in ["client", "mysql", "client-server", "client-mariadb"] {
            assert!(client_group(g), "{g}");
        }
        for g in ["mysqld", "mysqldump", "server"] {
            assert!(!client_group(g), "{g}");
        }
    }
}
