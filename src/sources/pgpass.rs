//! `~/.pgpass` (or `PGPASSFILE`): `hostname:port:database:username:password`,
//! `\:` and `\\` escaped, `*` matching anything, `#` comment lines. As
//! libpq does, a file readable by group or others is ignored (with a
//! warning), and the first matching line wins.
//!
//! A line naming every field is a connection of its own; a line with a
//! wildcard only supplies passwords to services and other imported
//! PostgreSQL connections that match it.

use std::path::PathBuf;

use secrecy::SecretString;

use super::{Context, Discovery, Found, Source};
use crate::connectors::{ConnSpec, Environment, Kind};

/// A field of a pgpass line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Any,
    Is(String),
}

impl Field {
    fn matches(&self, value: &str) -> bool {
        match self {
            Field::Any => true,
            Field::Is(s) => s == value,
        }
    }
    fn exact(&self) -> Option<&str> {
        match self {
            Field::Any => None,
            Field::Is(s) => Some(s),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub host: Field,
    pub port: Field,
    pub database: Field,
    pub user: Field,
    pub password: SecretString,
}

/// A read pgpass file.
#[derive(Debug, Clone)]
pub struct Pgpass {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// Splits one line into 4 fields and the password, undoing `\` escapes;
/// None when there are fewer than 5 fields.
pub fn parse_line(line: &str) -> Option<(Vec<Field>, String)> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut escaped_any = false;
    let mut chars = line.chars();
    while fields.len() < 4 {
        match chars.next() {
            None => return None,
            Some('\\') => {
                escaped_any = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            Some(':') => {
                let f = if cur == "*" && !escaped_any {
                    Field::Any
                } else {
                    Field::Is(std::mem::take(&mut cur))
                };
                cur.clear();
                escaped_any = false;
                fields.push(f);
            }
            Some(c) => cur.push(c),
        }
    }
    let mut password = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    password.push(n);
                }
            }
            c => password.push(c),
        }
    }
    Some((fields, password))
}

/// Reads the pgpass file named by `PGPASSFILE` or `~/.pgpass`.
pub fn load(cx: &Context, d: &mut Discovery) -> Option<Pgpass> {
    let path = cx
        .var("PGPASSFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| cx.home.join(".pgpass"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                d.warnings.push(format!(
                    "{} has group or world access and is ignored, as libpq ignores it; \
                     permissions should be u=rw (0600) or less",
                    cx.show(&path)
                ));
                return None;
            }
        }
    }
    let text = super::read_text(d, &path)?;
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((f, password)) = parse_line(line) else {
            d.problem(
                &path,
                Some(n),
                "expected hostname:port:database:username:password",
            );
            continue;
        };
        if let Field::Is(p) = &f[1] {
            if p.parse::<u16>().map_or(true, |p| p == 0) {
                d.problem(&path, Some(n), format!("port '{p}' is not a port number"));
                continue;
            }
        }
        let mut it = f.into_iter();
        let (host, port, database, user) = (
            it.next().unwrap_or(Field::Any),
            it.next().unwrap_or(Field::Any),
            it.next().unwrap_or(Field::Any),
            it.next().unwrap_or(Field::Any),
        );
        entries.push(Entry {
            line: n,
            host,
            port,
            database,
            user,
            password: SecretString::from(password),
        });
    }
    Some(Pgpass { path, entries })
}

impl Pgpass {
    /// The password of the first line matching `spec` (as libpq looks it up),
    /// with that line's number.
    pub fn lookup(&self, spec: &ConnSpec) -> Option<(SecretString, usize)> {
        let port = spec.effective_port().to_string();
        let database = if spec.database.is_empty() {
            &spec.user
        } else {
            &spec.database
        };
        self.entries
            .iter()
            .find(|e| {
                (e.host.matches(&spec.host)
                    || (e.host.exact() == Some("localhost") && spec.host.is_empty()))
                    && e.port.matches(&port)
                    && e.database.matches(database)
                    && e.user.matches(&spec.user)
            })
            .map(|e| (e.password.clone(), e.line))
    }
}

/// The lines that name every field become connections.
pub fn connections(cx: &Context, p: &Pgpass, d: &mut Discovery) {
    for e in &p.entries {
        let (Some(host), Some(port), Some(db), Some(user)) = (
            e.host.exact(),
            e.port.exact(),
            e.database.exact(),
            e.user.exact(),
        ) else {
            continue;
        };
        let mut notes = Vec::new();
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = super::tcp_host(host, &mut notes);
        spec.port = port.parse().ok();
        spec.database = db.to_string();
        spec.user = user.to_string();
        if spec.host.chars().any(|c| c.is_whitespace() || c == '/') {
            d.problem(&p.path, Some(e.line), "the host is not a host name");
            continue;
        }
        use secrecy::ExposeSecret;
        let password = (!e.password.expose_secret().is_empty()).then(|| e.password.clone());
        d.found.push(Found {
            name: super::derived_name(&spec),
            spec,
            environment: Environment::None,
            password,
            password_from: None,
            source: Source::Pgpass,
            origin: format!("{} line {}", cx.show(&p.path), e.line),
            notes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn escapes_and_wildcards() {
        let (f, pw) = parse_line(r"db\:1:5432:*:bob:pa\:ss\\word:x").unwrap();
        assert_eq!(f[0], Field::Is("db:1".into()));
        assert_eq!(f[2], Field::Any);
        assert_eq!(pw, r"pa:ss\word:x");
        let (f, _) = parse_line(r"\*:*:d:u:p").unwrap();
        assert_eq!(f[0], Field::Is("*".into()), "an escaped star is literal");
        assert!(parse_line("h:5432:d:u").is_none());
    }

    #[test]
    fn first_match_wins() {
        let p = Pgpass {
            path: "x".into(),
            entries: vec![
                Entry {
                    line: 1,
                    host: Field::Is("a".into()),
                    port: Field::Any,
                    database: Field::Any,
                    user: Field::Is("u".into()),
                    password: SecretString::from("first".to_string()),
                },
                Entry {
                    line: 2,
                    host: Field::Any,
                    port: Field::Any,
                    database: Field::Any,
                    user: Field::Any,
                    password: SecretString::from("any".to_string()),
                },
            ],
        };
        let mut s = ConnSpec::new(Kind::Postgres);
        s.host = "a".into();
        s.user = "u".into();
        let (pw, line) = p.lookup(&s).unwrap();
        assert_eq!((pw.expose_secret(), line), ("first", 1));
        s.user = "v".into();
        assert_eq!(p.lookup(&s).unwrap().1, 2);
    }
}
