//! The non-secret description of a connection (what is stored in the
//! catalog), its validation, and connection-URL parsing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::Kind;

/// Default connect timeout; configurable per connection and in the config.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// `options` key: the name the server's certificate must carry when `host`
/// is not that name — an SSH tunnel's loopback end (`ssh::connector`). Set
/// at run time on the dialled spec, never stored.
pub const TLS_SERVER_NAME: &str = "tls_server_name";

/// `options` key: the Unix socket of an SSH tunnel that the engine's driver
/// dials instead of `host:port` (engines whose `tunnel` is `Socket`). Set at
/// run time on the dialled spec, never stored.
pub const TUNNEL_SOCKET: &str = "tunnel_socket";

/// `options` key: "127.0.0.1:PORT" of the SOCKS5 gate in front of an SSH
/// tunnel (engines whose `tunnel` is `Socks5`: the driver names the real
/// host and port to it). Set at run time on the dialled spec, never stored.
pub const SOCKS5_PROXY: &str = "socks5_proxy";

/// The option keys set at run time on a dialled spec, never a driver's own
/// option nor stored.
pub const RUNTIME_OPTIONS: [&str; 3] = [TLS_SERVER_NAME, TUNNEL_SOCKET, SOCKS5_PROXY];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Disable,
    /// Use TLS when the server offers it, without verifying the certificate.
    #[default]
    Prefer,
    /// Always TLS; the certificate is not verified (like libpq's `require`).
    Require,
    /// Always TLS; the certificate must chain to the CA file (or the system
    /// roots) and match the host name.
    VerifyFull,
}

impl TlsMode {
    pub const ALL: [TlsMode; 4] = [
        TlsMode::Disable,
        TlsMode::Prefer,
        TlsMode::Require,
        TlsMode::VerifyFull,
    ];

    pub fn id(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> Option<TlsMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" | "disabled" | "off" | "false" => Some(TlsMode::Disable),
            "prefer" | "preferred" | "allow" => Some(TlsMode::Prefer),
            "require" | "required" | "on" | "true" => Some(TlsMode::Require),
            "verify-full" | "verify_full" | "verify-ca" | "verify_identity" | "verify" => {
                Some(TlsMode::VerifyFull)
            }
            _ => None,
        }
    }

    /// How much protection the mode gives, for "never weaken silently".
    pub fn strength(self) -> u8 {
        match self {
            TlsMode::Disable => 0,
            TlsMode::Prefer => 1,
            TlsMode::Require => 2,
            TlsMode::VerifyFull => 3,
        }
    }
}

/// The destination of a secret: what a stored password is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub kind: Kind,
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub database: String,
}

impl Target {
    /// The fields that differ between two targets, by their form names.
    pub fn changed_fields(&self, other: &Target) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kind != other.kind {
            out.push("engine");
        }
        if self.host != other.host {
            out.push("host");
        }
        if self.port != other.port {
            out.push("port");
        }
        if self.user != other.user {
            out.push("user");
        }
        if self.database != other.database {
            out.push("database");
        }
        out
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.engine().file_based {
            return write!(f, "{} {}", self.kind.display_name(), self.database);
        }
        write!(f, "{} ", self.kind.display_name())?;
        if !self.user.is_empty() {
            write!(f, "{}@", self.user)?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if !self.database.is_empty() {
            write!(f, "/{}", self.database)?;
        }
        Ok(())
    }
}

/// Environment tag shown in colour; production is red everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Staging,
    Development,
    #[default]
    None,
}

impl Environment {
    pub const ALL: [Environment; 4] = [
        Environment::None,
        Environment::Development,
        Environment::Staging,
        Environment::Production,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
            Environment::Development => "development",
            Environment::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Environment> {
        match s.trim().to_ascii_lowercase().as_str() {
            "production" | "prod" => Some(Environment::Production),
            "staging" | "stage" => Some(Environment::Staging),
            "development" | "dev" => Some(Environment::Development),
            "none" | "" => Some(Environment::None),
            _ => None,
        }
    }
}

/// Where a connection's password comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "command")]
pub enum PasswordSource {
    /// Encrypted in the profile's vault (default).
    #[default]
    Vault,
    /// Asked every time, never stored.
    Prompt,
    /// Produced by a shell command (short-lived cloud tokens); its output is
    /// used once and never stored or logged.
    Command(String),
    /// The connection needs no password (SQLite, trust auth).
    None,
}

impl PasswordSource {
    pub fn id(&self) -> &'static str {
        match self {
            PasswordSource::Vault => "vault",
            PasswordSource::Prompt => "prompt",
            PasswordSource::Command(_) => "command",
            PasswordSource::None => "none",
        }
    }
}

/// Everything needed to reach a server, except the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnSpec {
    pub kind: Kind,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// Database (service name for Oracle, file path for SQLite).
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Engine-specific extras (e.g. MongoDB `authSource`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_timeout_secs() -> u64 {
    DEFAULT_CONNECT_TIMEOUT.as_secs()
}

/// A connection field that failed validation, with a message naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Field name as the user knows it: "port", "host", "url", "kind"…
    pub field: &'static str,
    pub message: String,
}

/// What to do about a database file that is not there ([`ConnSpec::check_database_file`]).
pub const MISSING_FILE_HINT: &str = "Varlor opens existing database files read-only: check the path, or create the file first (sqlite3 FILE 'VACUUM')";

impl SpecError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        SpecError {
            field,
            message: message.into(),
        }
    }
}

impl ConnSpec {
    /// A blank spec of `kind` with the engine's default port.
    pub fn new(kind: Kind) -> Self {
        ConnSpec {
            kind,
            host: if kind.engine().file_based {
                String::new()
            } else {
                "localhost".into()
            },
            port: kind.default_port(),
            database: String::new(),
            user: String::new(),
            tls: TlsMode::default(),
            ca_file: None,
            connect_timeout_secs: default_timeout_secs(),
            options: BTreeMap::new(),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    /// The port to dial: the given one or the engine default.
    pub fn effective_port(&self) -> u16 {
        self.port.or(self.kind.default_port()).unwrap_or(0)
    }

    /// Parses a port typed by a person: 1..=65535.
    pub fn parse_port(text: &str) -> Result<u16, SpecError> {
        let t = text.trim();
        let n: u32 = t
            .parse()
            .map_err(|_| SpecError::new("port", format!("'{t}' is not a number")))?;
        if n == 0 || n > 65535 {
            return Err(SpecError::new(
                "port",
                format!("{n} is out of range 1-65535"),
            ));
        }
        Ok(n as u16)
    }

    /// What is stored, whichever front-end saves it: a database file and a
    /// CA file as absolute paths (a relative one breaks as soon as the
    /// working directory changes), and a CA file that exists.
    pub fn normalize(&mut self) -> Result<(), SpecError> {
        if self.kind.engine().file_based && !self.database.trim().is_empty() {
            if let Ok(abs) = std::path::absolute(self.database.trim()) {
                self.database = abs.display().to_string();
            }
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                return Err(SpecError::new(
                    "ca_file",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
            self.ca_file = Some(std::path::absolute(ca).unwrap_or_else(|_| ca.clone()));
        }
        Ok(())
    }

    /// A file-based engine (SQLite) opens existing files only, read-only:
    /// whether the database path names one. The CLI's `add`/`edit` and the
    /// TUI form's Test and Save ask this first, so a typo says so in words
    /// instead of reaching a test as "database not found" or being saved.
    pub fn check_database_file(&self) -> Result<(), SpecError> {
        if !self.kind.engine().file_based || self.database.is_empty() {
            return Ok(());
        }
        let path = std::path::Path::new(&self.database);
        if path.is_file() {
            return Ok(());
        }
        Err(SpecError::new(
            "path",
            if path.exists() {
                format!("'{}' is not a file", self.database)
            } else {
                format!("no file at '{}'", self.database)
            },
        ))
    }

    /// Checks required fields per kind.
    pub fn validate(&self) -> Result<(), SpecError> {
        match self.kind.engine().file_based {
            true => {
                if self.database.trim().is_empty() {
                    return Err(SpecError::new("path", "a database file is required"));
                }
            }
            false => {
                if self.host.trim().is_empty() {
                    return Err(SpecError::new("host", "a host is required"));
                }
                if self.host.chars().any(|c| c.is_whitespace() || c == '/') {
                    return Err(SpecError::new(
                        "host",
                        "a host cannot contain spaces or '/'",
                    ));
                }
                if self.port == Some(0) {
                    return Err(SpecError::new("port", "0 is out of range 1-65535"));
                }
                if self.user.trim().is_empty() && self.kind.engine().user_required {
                    return Err(SpecError::new("user", "a user is required"));
                }
                if self.tls == TlsMode::Disable && self.ca_file.is_some() {
                    return Err(SpecError::new("ca_file", "a CA file needs TLS enabled"));
                }
                crate::ssh::via_of(self)?;
            }
        }
        if self.connect_timeout_secs == 0 || self.connect_timeout_secs > 3600 {
            return Err(SpecError::new(
                "timeout",
                "must be between 1 and 3600 seconds",
            ));
        }
        Ok(())
    }

    /// Where a password for this spec goes: engine, host, port, user and
    /// database. A stored secret belongs to exactly this target.
    pub fn target(&self) -> Target {
        Target {
            kind: self.kind,
            host: self.host.trim().to_ascii_lowercase(),
            port: if self.kind.engine().file_based {
                None
            } else {
                Some(self.effective_port())
            },
            user: self.user.clone(),
            database: self.database.clone(),
        }
    }

    /// A person-readable note when `new` protects the connection less than
    /// `self` does: a weaker TLS mode, or the CA file dropped under
    /// verification. None when TLS is as strong or stronger.
    pub fn tls_weakening(&self, new: &ConnSpec) -> Option<String> {
        if new.tls.strength() < self.tls.strength() {
            return Some(format!(
                "TLS weakened from {} to {}",
                self.tls.id(),
                new.tls.id()
            ));
        }
        if new.tls == TlsMode::VerifyFull && self.ca_file.is_some() && new.ca_file.is_none() {
            return Some(
                "CA file dropped: the certificate is now checked against the system roots".into(),
            );
        }
        None
    }

    /// "user@host:port/db" for lists (never a password).
    pub fn summary(&self) -> String {
        match self.kind.engine().file_based {
            true => self.database.clone(),
            false => {
                let mut s = String::new();
                if !self.user.is_empty() {
                    s.push_str(&self.user);
                    s.push('@');
                }
                s.push_str(&self.host);
                if let Some(p) = self.port {
                    if Some(p) != self.kind.default_port() {
                        s.push_str(&format!(":{p}"));
                    }
                }
                if !self.database.is_empty() {
                    s.push('/');
                    s.push_str(&self.database);
                }
                s
            }
        }
    }

    /// The canonical URL of this spec, never with a password.
    pub fn to_url(&self) -> String {
        let scheme = self.kind.url_schemes()[0];
        if self.kind.engine().file_based {
            return format!("{scheme}://{}", self.database);
        }
        let mut u = url::Url::parse(&format!("{scheme}://placeholder")).expect("static url");
        // A host list (MongoDB's `h1:p1,h2:p2`) is not a URL host: put it
        // in afterwards, as it was typed.
        let host_list = self.host.contains(',');
        if !host_list {
            let _ = u.set_host(Some(&self.host));
            let _ = u.set_port(self.port);
        }
        let _ = u.set_username(&self.user);
        u.set_path(&self.database);
        if self.tls != TlsMode::default() {
            u.query_pairs_mut().append_pair("sslmode", self.tls.id());
        }
        // Engine options (MongoDB hosts and options, SQL Server encrypt=strict,
        // instance…) survive a round trip.
        for (k, v) in &self.options {
            u.query_pairs_mut().append_pair(k, v);
        }
        let text = u.to_string();
        if host_list {
            return text.replacen("placeholder", &self.host, 1);
        }
        text
    }

    /// Parses a pasted connection URL: the scheme picks the engine, whose
    /// own parser reads the rest. Returns the spec and the password if the
    /// URL carried one (the caller moves it into the vault; it is never
    /// stored in the spec).
    pub fn from_url(text: &str) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
        let text = text.trim();
        // ADO.NET connection strings (`Server=…;Password=…`) have no scheme.
        if super::sqlserver::looks_like_ado(text) {
            return (Kind::Sqlserver.engine().parse_url)(text, Kind::Sqlserver);
        }
        // Oracle descriptors, `user/pw@…` and bare Easy Connect have no
        // scheme of their own: the Oracle parser reads them.
        if super::oracle::claims_connect_string(text) {
            return (Kind::Oracle.engine().parse_url)(text, Kind::Oracle);
        }
        let scheme_end = text.find("://").or_else(|| text.find(':')).ok_or_else(|| {
            SpecError::new("url", "expected scheme://… (e.g. postgres://user@host/db)")
        })?;
        let scheme = &text[..scheme_end];
        let kind = Kind::parse(scheme)
            .ok_or_else(|| SpecError::new("url", format!("unknown scheme '{scheme}'")))?;
        (kind.engine().parse_url)(text, kind)
    }
}

/// `scheme://user[:password]@host[:port]/database?sslmode=…`: the URL shape
/// of the network engines.
pub fn parse_network_url(
    text: &str,
    kind: Kind,
) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let u =
        url::Url::parse(text).map_err(|e| SpecError::new("url", format!("malformed URL: {e}")))?;
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| SpecError::new("url", "the URL has no host"))?;
    let mut spec = ConnSpec::new(kind);
    spec.host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    spec.port = Some(u.port().unwrap_or(kind.default_port().unwrap_or(0)));
    if spec.port == Some(0) {
        return Err(SpecError::new("port", "0 is out of range 1-65535"));
    }
    spec.user = percent_decode(u.username());
    spec.database = percent_decode(u.path().trim_start_matches('/'));
    let password = u
        .password()
        .map(percent_decode)
        .filter(|p| !p.is_empty())
        .map(SecretString::from);
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "sslmode" | "ssl-mode" | "tls" | "ssl" => {
                spec.tls = TlsMode::parse(&v)
                    .ok_or_else(|| SpecError::new("tls", format!("unknown TLS mode '{v}'")))?;
            }
            "sslrootcert" | "ssl-ca" | "tlsCAFile" => {
                spec.ca_file = Some(PathBuf::from(v.as_ref()))
            }
            "connect_timeout" | "connectTimeout" => {
                spec.connect_timeout_secs = v.parse().map_err(|_| {
                    SpecError::new("timeout", format!("'{v}' is not a number of seconds"))
                })?;
            }
            "password" => {
                return Err(SpecError::new(
                    "url",
                    "put the password in the userinfo, not the query",
                ));
            }
            other => {
                spec.options.insert(other.to_string(), v.to_string());
            }
        }
    }
    Ok((spec, password))
}

/// Which TLS settings a pasted URL states explicitly (`sslmode`, `tls`…;
/// `sslrootcert`, `tlsCAFile`…), so an edit keeps the rest instead of
/// falling back to defaults.
pub fn url_states_tls(text: &str) -> (bool, bool) {
    let Some(q) = text.split_once('?').map(|(_, q)| q) else {
        return (false, false);
    };
    let keys: Vec<&str> = q
        .split('&')
        .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
        .collect();
    let has = |names: &[&str]| keys.iter().any(|k| names.contains(k));
    (
        has(&["sslmode", "ssl-mode", "tls", "ssl"]),
        has(&["sslrootcert", "ssl-ca", "tlsCAFile"]),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn url_with_password_splits_it_out() {
        let (spec, pw) =
            ConnSpec::from_url("postgres://bob:p%40ss@db.example:6543/shop?sslmode=verify-full")
                .unwrap();
        assert_eq!(spec.kind, Kind::Postgres);
        assert_eq!(spec.host, "db.example");
        assert_eq!(spec.port, Some(6543));
        assert_eq!(spec.user, "bob");
        assert_eq!(spec.database, "shop");
        assert_eq!(spec.tls, TlsMode::VerifyFull);
        assert_eq!(pw.unwrap().expose_secret(), "p@ss");
        assert!(!spec.to_url().contains("p@ss"));
    }

    #[test]
    fn url_defaults_port_per_kind() {
        let (spec, pw) = ConnSpec::from_url("mariadb://root@localhost/app").unwrap();
        assert_eq!(spec.kind, Kind::Mysql);
        assert_eq!(spec.port, Some(3306));
        assert!(pw.is_none());
    }

    #[test]
    fn malformed_urls_name_the_field() {
        assert_eq!(ConnSpec::from_url("nonsense").unwrap_err().field, "url");
        assert_eq!(ConnSpec::from_url("foo://a/b").unwrap_err().field, "url");
        assert_eq!(
            ConnSpec::from_url("postgres://host:99999/db")
                .unwrap_err()
                .field,
            "url"
        );
        assert_eq!(
            ConnSpec::from_url("postgres:///db").unwrap_err().field,
            "url"
        );
    }

    #[test]
    fn ports_are_checked() {
        assert!(ConnSpec::parse_port("0").is_err());
        assert!(ConnSpec::parse_port("70000").is_err());
        assert!(ConnSpec::parse_port("abc").is_err());
        assert_eq!(ConnSpec::parse_port(" 5432 ").unwrap(), 5432);
    }

    #[test]
    fn sqlite_url_is_a_path() {
        let (spec, _) = ConnSpec::from_url("sqlite:///tmp/x.db").unwrap();
        assert_eq!(spec.database, "/tmp/x.db");
        assert!(spec.validate().is_ok());
    }
}
