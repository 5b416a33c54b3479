//! Connections that already live elsewhere on this machine: `~/.pgpass`,
//! `pg_service.conf`, MySQL option files, `~/.mylogin.cnf`, DBeaver's
//! workspace and the environment. Discovery only reads (files under the
//! home directory or named by environment variables, never modified) and
//! returns what it found, with the place each one came from; saving goes
//! through `ops::save` like every other connection (see
//! `commands::sources`).
//!
//! A malformed line is a [`Problem`] with its file and line number; the
//! rest of the file is still read.

pub mod dbeaver;
pub mod env;
pub mod mycnf;
pub mod mylogin;
pub mod pgpass;
pub mod pgservice;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::connectors::{ConnSpec, Environment, Kind, Target};
use crate::store::SavedConnection;

/// Where connections are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Pgpass,
    Pgservice,
    Mycnf,
    Mylogin,
    Dbeaver,
    Env,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Pgpass,
        Source::Pgservice,
        Source::Mycnf,
        Source::Mylogin,
        Source::Dbeaver,
        Source::Env,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Source::Pgpass => "pgpass",
            Source::Pgservice => "pgservice",
            Source::Mycnf => "mycnf",
            Source::Mylogin => "mylogin",
            Source::Dbeaver => "dbeaver",
            Source::Env => "env",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.id() == s.trim())
    }
}

/// One connection found in a source.
#[derive(Debug, Clone)]
pub struct Found {
    /// The derived name (before collisions are resolved).
    pub name: String,
    pub spec: ConnSpec,
    pub environment: Environment,
    pub password: Option<SecretString>,
    /// Where the password came from when not from the entry itself
    /// (e.g. "~/.pgpass line 3").
    pub password_from: Option<String>,
    pub source: Source,
    /// Where it came from: file, section or line, or variable names.
    pub origin: String,
    /// What was left out or changed on the way in.
    pub notes: Vec<String>,
}

/// A line or file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The home directory and the environment discovery reads: the process's
/// own, or a throwaway one in tests.
#[derive(Debug, Clone)]
pub struct Context {
    pub home: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl Context {
    /// The real HOME and environment; None without a home directory.
    pub fn from_process() -> Option<Context> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let home = vars
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()))?;
        Some(Context { home, vars })
    }

    /// A non-empty variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The OS user name, the default user of libpq and the MySQL client.
    pub fn os_user(&self) -> Option<&str> {
        self.var("USER").or_else(|| self.var("LOGNAME"))
    }

    /// `path` shown with `~` for the home directory.
    pub fn show(&self, path: &Path) -> String {
        match path.strip_prefix(&self.home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Everything discovery saw.
#[derive(Debug, Default)]
pub struct Discovery {
    pub found: Vec<Found>,
    pub problems: Vec<Problem>,
    /// Things a person should know (a file ignored for its mode, a key
    /// published in DBeaver's source…).
    pub warnings: Vec<String>,
    /// The files read.
    pub read: Vec<PathBuf>,
    /// Found entries dropped because an earlier one has the same target.
    pub duplicates: Vec<(Found, String)>,
}

impl Discovery {
    pub(crate) fn problem(&mut self, file: &Path, line: Option<usize>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }
}

/// The largest file a source reads (these are small text files).
const MAX_FILE: u64 = 4 * 1024 * 1024;

/// Reads a source file: None (silently) when absent, None with a problem
/// when unreadable or too large.
pub(crate) fn read_file(d: &mut Discovery, path: &Path) -> Option<Vec<u8>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            d.problem(path, None, format!("cannot read: {e}"));
            return None;
        }
    };
    if !meta.is_file() {
        d.problem(path, None, "not a regular file");
        return None;
    }
    if meta.len() > MAX_FILE {
        d.problem(path, None, "too large for a configuration file; skipped");
        return None;
    }
    match std::fs::read(path) {
        Ok(b) => {
            d.read.push(path.to_path_buf());
            Some(b)
        }
        Err(e) => {
            d.problem(path, None, format!("cannot read: {e}"));
            None
        }
    }
}

/// Reads a text source file (invalid UTF-8 is replaced, with a problem).
pub(crate) fn read_text(d: &mut Discovery, path: &Path) -> Option<String> {
    let bytes = read_file(d, path)?;
    match String::from_utf8(bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            d.problem(path, None, "not UTF-8 text; invalid bytes replaced");
            Some(String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
    }
}

/// `host/db`, or `host` without a database: the name of a connection that
/// has no name of its own.
pub fn derived_name(spec: &ConnSpec) -> String {
    let host = if spec.host.is_empty() {
        "localhost"
    } else {
        &spec.host
    };
    let base = if spec.database.is_empty() {
        host.to_string()
    } else {
        format!("{host}/{}", spec.database)
    };
    clean_name(&base)
}

/// A usable connection name: no control characters, no outer spaces, at
/// most 60 characters (room for a suffix), never empty or URL-like.
pub fn clean_name(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace("://", "-");
    let s: String = s.trim().chars().take(60).collect();
    let s = s.trim().to_string();
    if s.is_empty() {
        "imported".into()
    } else {
        s
    }
}

/// Runs the chosen sources. pgpass is read whenever a PostgreSQL source is
/// chosen: its lines supply passwords to services and other imported
/// PostgreSQL connections even when its own entries are not imported.
pub fn discover(cx: &Context, chosen: &[Source]) -> Discovery {
    let mut d = Discovery::default();
    let wants = |s: Source| chosen.contains(&s);
    let pgpass = if wants(Source::Pgpass)
        || wants(Source::Pgservice)
        || wants(Source::Env)
        || wants(Source::Dbeaver)
    {
        pgpass::load(cx, &mut d)
    } else {
        None
    };
    if wants(Source::Pgpass) {
        if let Some(p) = &pgpass {
            pgpass::connections(cx, p, &mut d);
        }
    }
    if wants(Source::Pgservice) {
        pgservice::discover(cx, &mut d);
    }
    if wants(Source::Mycnf) {
        mycnf::discover(cx, &mut d);
    }
    if wants(Source::Mylogin) {
        mylogin::discover(cx, &mut d);
    }
    if wants(Source::Dbeaver) {
        dbeaver::discover(cx, &mut d);
    }
    if wants(Source::Env) {
        env::discover(cx, &mut d);
    }
    if let Some(p) = &pgpass {
        for f in d.found.iter_mut() {
            if f.spec.kind == Kind::Postgres && f.password.is_none() {
                // The first matching line decides; an empty password there
                // means none (libpq would send none either).
                if let Some((pw, line)) = p.lookup(&f.spec) {
                    use secrecy::ExposeSecret;
                    if pw.expose_secret().is_empty() {
                        continue;
                    }
                    f.password = Some(pw);
                    f.password_from = Some(format!("{} line {line}", cx.show(&p.path)));
                }
            }
        }
    }
    // The same target found twice (a service and its pgpass line, an env
    // var naming a service's server): the first one stands.
    let mut seen: Vec<(Target, String)> = Vec::new();
    let mut kept = Vec::new();
    for f in std::mem::take(&mut d.found) {
        let t = f.spec.target();
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == t) {
            let first = first.clone();
            d.duplicates.push((f, first));
        } else {
            seen.push((t, f.name.clone()));
            kept.push(f);
        }
    }
    d.found = kept;
    d
}

/// What becomes of one found connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Imported under this name (renamed when the derived one was taken).
    Import { name: String, renamed: bool },
    /// A saved connection already has this target: nothing is overwritten.
    AlreadySaved(String),
}

/// Names for the found connections: a derived name already taken (by a
/// saved connection or an earlier found one) gets `-2`, `-3`…; a target
/// already saved is left alone.
pub fn plan<'a>(
    items: impl IntoIterator<Item = (&'a str, Target)>,
    existing: &[SavedConnection],
) -> Vec<Fate> {
    let mut taken: HashSet<String> = existing.iter().map(|c| c.name.clone()).collect();
    items
        .into_iter()
        .map(|(wanted, t)| {
            if let Some(c) = existing.iter().find(|c| c.spec.target() == t) {
                return Fate::AlreadySaved(c.name.clone());
            }
            let mut name = wanted.to_string();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{wanted}-{n}");
                n += 1;
            }
            taken.insert(name.clone());
            Fate::Import {
                renamed: name != wanted,
                name,
            }
        })
        .collect()
}

/// Splits `host` lists (`a,b`): the first host is kept, with a note.
pub(crate) fn first_host(host: &str, notes: &mut Vec<String>) -> String {
    let mut parts = host.split(',').map(str::trim);
    let first = parts.next().unwrap_or("").to_string();
    if parts.next().is_some() {
        notes.push(format!(
            "several hosts ({host}): only the first, {first}, is kept"
        ));
    }
    first
}

/// A unix-socket host (a directory or socket path) becomes localhost over
/// TCP, with a note: Varlor connects over TCP.
pub(crate) fn tcp_host(host: &str, notes: &mut Vec<String>) -> String {
    if host.is_empty() {
        return "localhost".into();
    }
    if host.starts_with('/') || host.starts_with('@') {
        notes.push(format!(
            "unix socket {host}: imported as localhost over TCP"
        ));
        return "localhost".into();
    }
    host.to_string()
}

/// A CA file that exists, else None with a note.
pub(crate) fn ca_file(path: &str, base: Option<&Path>, notes: &mut Vec<String>) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    let p = match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    };
    if p.is_file() {
        Some(p)
    } else {
        notes.push(format!("CA file {} not found: left out", p.display()));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, host: &str) -> Found {
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = host.into();
        spec.user = "u".into();
        Found {
            name: name.into(),
            spec,
            environment: Environment::None,
            password: None,
            password_from: None,
            source: Source::Env,
            origin: String::new(),
            notes: vec![],
        }
    }

    #[test]
    fn taken_names_get_a_suffix() {
        let f = [found("a", "h1"), found("a", "h2"), found("a", "h3")];
        let fates = plan(f.iter().map(|f| (f.name.as_str(), f.spec.target())), &[]);
        assert_eq!(
            fates,
            vec![
                Fate::Import {
                    name: "a".into(),
                    renamed: false
                },
                Fate::Import {
                    name: "a-2".into(),
                    renamed: true
                },
                Fate::Import {
                    name: "a-3".into(),
                    renamed: true
                },
            ]
        );
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name(" a\nb "), "a b");
        assert_eq!(clean_name("x://y"), "x-y");
        assert_eq!(clean_name("\n"), "imported");
        assert_eq!(clean_name(&"z".repeat(100)).chars().count(), 60);
        let mut spec = ConnSpec::new(Kind::Mysql);
        spec.host = "db".into();
        spec.database = "shop".into();
        assert_eq!(derived_name(&spec), "db/shop");
    }
}
