//! Oracle connect strings: Easy Connect (`host:1521/service`,
//! `tcps://host:2484/service`), `oracle://user@host:1521/service` URLs,
//! SQL*Plus-style `user/password@<connect string>`, and full TNS descriptors
//! `(DESCRIPTION=(ADDRESS=…)(CONNECT_DATA=…))` with nested parentheses and
//! several addresses. Everything lands in a `ConnSpec`:
//!
//! - `host`/`port`: the first address; further addresses in
//!   `options["addresses"]` (`tcp://h:1521,tcps://h2:2484`), tried in order;
//! - `database`: the service name, or the SID when `options["connect_by"]` is `sid`;
//! - `tls`: `verify-full` for TCPS (the thin driver always verifies);
//! - `options["driver"]`: `thick` for the ODPI-C driver, absent for thin.

use secrecy::SecretString;

use crate::connectors::spec::{parse_network_url, SpecError};
use crate::connectors::{ConnSpec, Kind, TlsMode};

/// `options` key: `sid` when `database` holds a SID instead of a service name.
pub const CONNECT_BY: &str = "connect_by";
/// `options` key: further addresses after the first, `tcp://h:p,tcps://h:p`.
pub const ADDRESSES: &str = "addresses";
/// `options` key: `thick` (ODPI-C, needs Instant Client) or `thin` (default).
pub const DRIVER: &str = "driver";

/// One listener address of a descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub tcps: bool,
    pub host: String,
    pub port: u16,
}

/// Whether pasted text is an Oracle connect string the generic URL parser
/// would not recognise: a descriptor, `user/pw@…`, `tcp(s)://…`, or a bare
/// Easy Connect `host[:port]/service`.
pub fn claims(text: &str) -> bool {
    let t = strip_credentials(text.trim()).1;
    if t.starts_with('(') {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("tcp://") || lower.starts_with("tcps://") {
        return true;
    }
    if t.contains("://") {
        return false;
    }
    // host[:port]/service: a '/', and before it something that is a host
    // (and not a known scheme such as "postgres:").
    let Some((head, service)) = t.split_once('/') else {
        return false;
    };
    if service.is_empty() || head.is_empty() {
        return false;
    }
    let host = head.rsplit_once(':').map_or(head, |(h, _)| h);
    Kind::parse(host).is_none()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'))
}

/// The engine's `parse_url`: every pasted Oracle form.
pub fn parse(text: &str, kind: Kind) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("oracle://") || lower.starts_with("oracle:") && !lower.contains("://") {
        return parse_url(text, kind);
    }
    let (creds, rest) = strip_credentials(text);
    let (mut spec, password) = if rest.starts_with('(') {
        (parse_descriptor(rest, kind)?, None)
    } else {
        (parse_easy_connect(rest, kind)?, None)
    };
    let mut password = password;
    if let Some((user, pw)) = creds {
        spec.user = user;
        password = pw;
    }
    Ok((spec, password))
}

/// `user[/password]@rest` (SQL*Plus style); the user name may be quoted.
fn strip_credentials(text: &str) -> (Option<(String, Option<SecretString>)>, &str) {
    // Only when an '@' comes before any descriptor or address.
    let stop = text
        .find(['(', ':'])
        .map_or(text.len(), |i| i.min(text.len()));
    let Some(at) = text[..stop].rfind('@') else {
        return (None, text);
    };
    if text[..at].contains("://") {
        return (None, text);
    }
    let creds = &text[..at];
    let rest = &text[at + 1..];
    let (user, pw) = match creds.split_once('/') {
        Some((u, p)) => (u, Some(p)),
        None => (creds, None),
    };
    let user = user.trim_matches('"').to_string();
    let pw = pw
        .map(|p| p.trim_matches('"'))
        .filter(|p| !p.is_empty())
        .map(|p| SecretString::from(p.to_string()));
    (Some((user, pw)), rest)
}

/// `oracle://user[:password]@host[:port]/service[?sid=…&driver=thick&sslmode=…]`.
fn parse_url(text: &str, kind: Kind) -> Result<(ConnSpec, Option<SecretString>), SpecError> {
    let (mut spec, password) = parse_network_url(text, kind)?;
    if let Some(sid) = spec.options.remove("sid") {
        if !spec.database.is_empty() {
            return Err(SpecError::new(
                "url",
                "give either a service name (the path) or ?sid=, not both",
            ));
        }
        spec.database = sid;
        spec.options.insert(CONNECT_BY.into(), "sid".into());
    }
    check_driver(&mut spec)?;
    check_service(&spec.database)?;
    Ok((spec, password))
}

fn check_driver(spec: &mut ConnSpec) -> Result<(), SpecError> {
    if let Some(d) = spec.options.get(DRIVER) {
        match d.to_ascii_lowercase().as_str() {
            "thin" => {
                spec.options.remove(DRIVER);
            }
            "thick" => {
                spec.options.insert(DRIVER.into(), "thick".into());
            }
            other => {
                return Err(SpecError::new(
                    "driver",
                    format!("unknown driver '{other}' (thin or thick)"),
                ))
            }
        }
    }
    Ok(())
}

/// Easy Connect: `[tcp://|tcps://]host[:port][/service][:server][/instance][?k=v&…]`.
fn parse_easy_connect(text: &str, kind: Kind) -> Result<ConnSpec, SpecError> {
    let mut spec = ConnSpec::new(kind);
    let (body, query) = match text.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (text, None),
    };
    let lower = body.to_ascii_lowercase();
    let (tcps, rest) = if lower.starts_with("tcps://") {
        (true, &body[7..])
    } else if lower.starts_with("tcp://") {
        (false, &body[6..])
    } else if body.contains("://") {
        return Err(SpecError::new(
            "url",
            "Easy Connect takes tcp:// or tcps:// (or oracle:// for a URL)",
        ));
    } else {
        (false, body)
    };
    let (addr, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    if addr.contains(',') {
        // host1,host2:port — several hosts sharing a port.
        let (hosts, port) = split_host_port(addr)?;
        let mut addrs = Vec::new();
        for h in hosts.split(',') {
            addrs.push(Address {
                tcps,
                host: check_host(h)?,
                port: port.unwrap_or(if tcps { 2484 } else { 1521 }),
            });
        }
        set_addresses(&mut spec, &addrs);
    } else {
        let (host, port) = split_host_port(addr)?;
        set_addresses(
            &mut spec,
            &[Address {
                tcps,
                host: check_host(host)?,
                port: port.unwrap_or(1521),
            }],
        );
    }
    if let Some(p) = path {
        // service[:server][/instance]
        let service = p.split(['/', ':']).next().unwrap_or("");
        spec.database = service.to_string();
    }
    for kv in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|s| !s.is_empty())
    {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k.to_ascii_lowercase().as_str() {
            "sid" => {
                spec.database = v.to_string();
                spec.options.insert(CONNECT_BY.into(), "sid".into());
            }
            "driver" => {
                spec.options.insert(DRIVER.into(), v.to_string());
            }
            "ssl_server_dn_match" | "wallet_location" | "ssl_server_cert_dn" => {
                spec.options.insert(k.to_ascii_lowercase(), v.to_string());
            }
            "transport_connect_timeout" | "connect_timeout" => {
                let secs: f64 = v.trim_end_matches(['s', 'S']).parse().map_err(|_| {
                    SpecError::new("timeout", format!("'{v}' is not a number of seconds"))
                })?;
                spec.connect_timeout_secs = secs.ceil().max(1.0) as u64;
            }
            "password" => {
                return Err(SpecError::new(
                    "url",
                    "put the password before the '@' (user/password@host/service)",
                ))
            }
            other => {
                spec.options.insert(other.to_string(), v.to_string());
            }
        }
    }
    check_driver(&mut spec)?;
    check_service(&spec.database)?;
    Ok(spec)
}

fn split_host_port(addr: &str) -> Result<(&str, Option<u16>), SpecError> {
    if let Some(inner) = addr.strip_prefix('[') {
        // [::1]:1521
        let (h, rest) = inner
            .split_once(']')
            .ok_or_else(|| SpecError::new("host", "'[' without its closing ']'"))?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(port_of(p)?),
            None if rest.is_empty() => None,
            None => {
                return Err(SpecError::new(
                    "host",
                    format!("unexpected '{rest}' after ']'"),
                ))
            }
        };
        return Ok((h, port));
    }
    match addr.rsplit_once(':') {
        Some((h, p)) => Ok((h, Some(port_of(p)?))),
        None => Ok((addr, None)),
    }
}

fn port_of(p: &str) -> Result<u16, SpecError> {
    ConnSpec::parse_port(p)
}

fn check_host(h: &str) -> Result<String, SpecError> {
    let h = h.trim();
    if h.is_empty() {
        return Err(SpecError::new("host", "a host is required"));
    }
    if h.chars()
        .any(|c| c.is_whitespace() || "()=/@\"'".contains(c))
    {
        return Err(SpecError::new("host", format!("'{h}' is not a host name")));
    }
    Ok(h.to_string())
}

/// A service name or SID goes into a descriptor: no parentheses, '=' or quotes.
pub fn check_service(s: &str) -> Result<(), SpecError> {
    if s.chars().any(|c| c.is_whitespace() || "()=\"'".contains(c)) {
        return Err(SpecError::new(
            "service_name",
            format!("'{s}' cannot be a service name (no spaces, parentheses, '=' or quotes)"),
        ));
    }
    Ok(())
}

fn set_addresses(spec: &mut ConnSpec, addrs: &[Address]) {
    let first = &addrs[0];
    spec.host = first.host.clone();
    spec.port = Some(first.port);
    spec.tls = if first.tcps {
        TlsMode::VerifyFull
    } else {
        TlsMode::Prefer
    };
    if addrs.len() > 1 {
        let rest: Vec<String> = addrs[1..]
            .iter()
            .map(|a| {
                format!(
                    "{}://{}:{}",
                    if a.tcps { "tcps" } else { "tcp" },
                    a.host,
                    a.port
                )
            })
            .collect();
        spec.options.insert(ADDRESSES.into(), rest.join(","));
    } else {
        spec.options.remove(ADDRESSES);
    }
}

/// Every address of a spec: the first from host/port/tls, then the extras.
pub fn addresses(spec: &ConnSpec) -> Result<Vec<Address>, SpecError> {
    let tcps = matches!(spec.tls, TlsMode::Require | TlsMode::VerifyFull);
    let mut out = vec![Address {
        tcps,
        host: check_host(&spec.host)?,
        port: spec.effective_port(),
    }];
    if let Some(extra) = spec.options.get(ADDRESSES) {
        for a in extra.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let (tcps, rest) = if let Some(r) = a.strip_prefix("tcps://") {
                (true, r)
            } else if let Some(r) = a.strip_prefix("tcp://") {
                (false, r)
            } else {
                (false, a)
            };
            let (h, p) = split_host_port(rest)?;
            out.push(Address {
                tcps,
                host: check_host(h)?,
                port: p.unwrap_or(1521),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// TNS descriptors

/// A node of a descriptor: `(KEY=value)` or `(KEY=(…)(…))`.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Value(String, String),
    List(String, Vec<Node>),
}

impl Node {
    fn key(&self) -> &str {
        match self {
            Node::Value(k, _) | Node::List(k, _) => k,
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn err(&self, what: impl Into<String>) -> SpecError {
        SpecError::new(
            "url",
            format!(
                "TNS descriptor: {} (at character {})",
                what.into(),
                self.pos + 1
            ),
        )
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// `(KEY=…)`, the reader at its '('.
    fn node(&mut self, depth: usize) -> Result<Node, SpecError> {
        if depth > 16 {
            return Err(self.err("nested too deeply"));
        }
        self.skip_ws();
        if self.peek() != Some(b'(') {
            return Err(self.err("expected '('"));
        }
        self.pos += 1;
        self.skip_ws();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'=' || c == b'(' || c == b')' {
                break;
            }
            self.pos += 1;
        }
        let key = self.text[start..self.pos].trim().to_ascii_uppercase();
        if key.is_empty() {
            return Err(self.err("a parameter name is missing"));
        }
        if self.peek() != Some(b'=') {
            return Err(match self.peek() {
                None => self.err(format!("'({key}' is not closed")),
                _ => self.err(format!("expected '=' after {key}")),
            });
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'(') {
            let mut children = Vec::new();
            loop {
                self.skip_ws();
                match self.peek() {
                    Some(b'(') => children.push(self.node(depth + 1)?),
                    Some(b')') => {
                        self.pos += 1;
                        return Ok(Node::List(key, children));
                    }
                    None => {
                        return Err(self.err(format!("'({key}=' is not closed: a ')' is missing")))
                    }
                    Some(_) => return Err(self.err(format!("unexpected text inside {key}"))),
                }
            }
        }
        // A value, possibly double-quoted.
        let value = if self.peek() == Some(b'"') {
            self.pos += 1;
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' {
                    break;
                }
                self.pos += 1;
            }
            if self.peek() != Some(b'"') {
                return Err(self.err(format!("the quoted value of {key} is not closed")));
            }
            let v = self.text[start..self.pos].to_string();
            self.pos += 1;
            v
        } else {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b')' || c == b'(' {
                    break;
                }
                self.pos += 1;
            }
            self.text[start..self.pos].trim().to_string()
        };
        self.skip_ws();
        match self.peek() {
            Some(b')') => {
                self.pos += 1;
                Ok(Node::Value(key, value))
            }
            None => Err(self.err(format!("'({key}={value}' is not closed: a ')' is missing"))),
            _ => Err(self.err(format!("unexpected '(' in the value of {key}"))),
        }
    }
}

/// Parses `(DESCRIPTION=…)` or `(DESCRIPTION_LIST=(DESCRIPTION=…)…)`.
pub fn parse_descriptor(text: &str, kind: Kind) -> Result<ConnSpec, SpecError> {
    let mut r = Reader {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    let root = r.node(0)?;
    r.skip_ws();
    if r.pos < text.len() {
        return Err(r.err("unexpected text after the closing ')'"));
    }
    let descriptions: Vec<&Node> = match &root {
        Node::List(k, _) if k == "DESCRIPTION" => vec![&root],
        Node::List(k, children) if k == "DESCRIPTION_LIST" => children
            .iter()
            .filter(|c| c.key() == "DESCRIPTION")
            .collect(),
        other => {
            return Err(SpecError::new(
                "url",
                format!(
                    "TNS descriptor: expected (DESCRIPTION=…), found ({}=…)",
                    other.key()
                ),
            ))
        }
    };
    if descriptions.is_empty() {
        return Err(SpecError::new(
            "url",
            "TNS descriptor: DESCRIPTION is empty",
        ));
    }
    let mut spec = ConnSpec::new(kind);
    let mut addrs = Vec::new();
    let mut service: Option<String> = None;
    let mut sid: Option<String> = None;
    for d in descriptions {
        let Node::List(_, children) = d else {
            continue;
        };
        collect_addresses(children, &mut addrs)?;
        for c in children {
            match c {
                Node::List(k, cd) if k == "CONNECT_DATA" => {
                    for item in cd {
                        match item {
                            Node::Value(k, v) if k == "SERVICE_NAME" => {
                                service.get_or_insert_with(|| v.clone());
                            }
                            Node::Value(k, v) if k == "SID" => {
                                sid.get_or_insert_with(|| v.clone());
                            }
                            _ => {}
                        }
                    }
                }
                Node::List(k, sec) if k == "SECURITY" => {
                    for item in sec {
                        if let Node::Value(k, v) = item {
                            if k == "SSL_SERVER_CERT_DN" || k == "SSL_SERVER_DN_MATCH" {
                                spec.options.insert(k.to_ascii_lowercase(), v.clone());
                            }
                            if k == "MY_WALLET_DIRECTORY" || k == "WALLET_LOCATION" {
                                spec.options.insert("wallet_location".into(), v.clone());
                            }
                        }
                    }
                }
                Node::Value(k, v) if k == "TRANSPORT_CONNECT_TIMEOUT" || k == "CONNECT_TIMEOUT" => {
                    let secs: f64 = v
                        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                        .trim()
                        .parse()
                        .map_err(|_| {
                            SpecError::new(
                                "timeout",
                                format!("TNS descriptor: {k}={v} is not a number of seconds"),
                            )
                        })?;
                    spec.connect_timeout_secs = secs.ceil().max(1.0) as u64;
                }
                _ => {}
            }
        }
    }
    if addrs.is_empty() {
        return Err(SpecError::new(
            "url",
            "TNS descriptor: no ADDRESS with HOST and PORT",
        ));
    }
    set_addresses(&mut spec, &addrs);
    match (service, sid) {
        (Some(s), _) => spec.database = s,
        (None, Some(s)) => {
            spec.database = s;
            spec.options.insert(CONNECT_BY.into(), "sid".into());
        }
        (None, None) => {
            return Err(SpecError::new(
                "url",
                "TNS descriptor: CONNECT_DATA has no SERVICE_NAME or SID",
            ))
        }
    }
    check_service(&spec.database)?;
    Ok(spec)
}

/// ADDRESS nodes, directly or inside ADDRESS_LIST, in order.
fn collect_addresses(nodes: &[Node], out: &mut Vec<Address>) -> Result<(), SpecError> {
    for n in nodes {
        match n {
            Node::List(k, items) if k == "ADDRESS_LIST" => collect_addresses(items, out)?,
            Node::List(k, items) if k == "ADDRESS" => {
                let get = |key: &str| {
                    items.iter().find_map(|i| match i {
                        Node::Value(k, v) if k == key => Some(v.clone()),
                        _ => None,
                    })
                };
                let protocol = get("PROTOCOL").unwrap_or_else(|| "TCP".into());
                let tcps = match protocol.to_ascii_uppercase().as_str() {
                    "TCP" => false,
                    "TCPS" => true,
                    other => {
                        return Err(SpecError::new(
                            "url",
                            format!(
                                "TNS descriptor: PROTOCOL={other} is not supported (TCP or TCPS)"
                            ),
                        ))
                    }
                };
                let host = get("HOST").ok_or_else(|| {
                    SpecError::new("url", "TNS descriptor: an ADDRESS has no HOST")
                })?;
                let port = match get("PORT") {
                    Some(p) => {
                        p.trim()
                            .parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| {
                                SpecError::new(
                                    "url",
                                    format!("TNS descriptor: PORT={p} is not a port (1-65535)"),
                                )
                            })?
                    }
                    None => 1521,
                };
                out.push(Address {
                    tcps,
                    host: check_host(&host)?,
                    port,
                });
            }
            Node::Value(k, _) if k == "ADDRESS" => {
                return Err(SpecError::new(
                    "url",
                    "TNS descriptor: ADDRESS needs (PROTOCOL=…)(HOST=…)(PORT=…)",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The descriptor the driver is given: every address in order (failover),
/// no retries, the connect timeout, the service name or SID. Values were
/// checked when the spec was parsed or saved.
pub fn build_descriptor(spec: &ConnSpec) -> Result<String, SpecError> {
    let addrs = addresses(spec)?;
    check_service(&spec.database)?;
    if spec.database.trim().is_empty() {
        return Err(SpecError::new(
            "service_name",
            "a service name (or SID) is required",
        ));
    }
    let mut s = String::from("(DESCRIPTION=(RETRY_COUNT=0)(RETRY_DELAY=0)");
    s.push_str(&format!(
        "(TRANSPORT_CONNECT_TIMEOUT={})",
        spec.connect_timeout().as_secs()
    ));
    if addrs.len() > 1 {
        s.push_str("(FAILOVER=ON)(LOAD_BALANCE=OFF)");
    }
    s.push_str("(ADDRESS_LIST=");
    for a in &addrs {
        s.push_str(&format!(
            "(ADDRESS=(PROTOCOL={})(HOST={})(PORT={}))",
            if a.tcps { "TCPS" } else { "TCP" },
            a.host,
            a.port
        ));
    }
    s.push(')');
    let by_sid = spec.options.get(CONNECT_BY).is_some_and(|v| v == "sid");
    s.push_str(&format!(
        "(CONNECT_DATA=({}={}))",
        if by_sid { "SID" } else { "SERVICE_NAME" },
        spec.database.trim()
    ));
    if addrs.iter().any(|a| a.tcps) {
        let mut sec = String::new();
        if let Some(dn) = spec.options.get("ssl_server_cert_dn") {
            if !dn.contains(['(', ')', '"']) {
                sec.push_str(&format!("(SSL_SERVER_CERT_DN=\"{dn}\")"));
            }
        }
        if !sec.is_empty() {
            s.push_str(&format!("(SECURITY={sec})"));
        }
    }
    s.push(')');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn p(text: &str) -> (ConnSpec, Option<SecretString>) {
        parse(text, Kind::Oracle).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn bad(text: &str) -> SpecError {
        match parse(text, Kind::Oracle) {
            Ok((s, _)) => panic!("{text} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn easy_connect_forms() {
        let (s, pw) = p("db.example:1522/FREEPDB1");
        assert_eq!(
            (s.host.as_str(), s.port, s.database.as_str()),
            ("db.example", Some(1522), "FREEPDB1")
        );
        assert_eq!(s.tls, TlsMode::Prefer);
        assert!(pw.is_none());
        let (s, _) = p("db.example/orcl");
        assert_eq!(s.port, Some(1521));
        let (s, _) = p("tcps://secure.example:2484/sales.example.com");
        assert_eq!(s.tls, TlsMode::VerifyFull);
        assert_eq!(s.port, Some(2484));
        assert_eq!(s.database, "sales.example.com");
        let (s, _) = p("tcp://h/svc:dedicated/inst1");
        assert_eq!(s.database, "svc");
        let (s, _) = p("[::1]:1600/svc");
        assert_eq!((s.host.as_str(), s.port), ("::1", Some(1600)));
        let (s, _) = p("h1,h2:1530/svc");
        assert_eq!(s.host, "h1");
        assert_eq!(s.options.get(ADDRESSES).unwrap(), "tcp://h2:1530");
        let (s, _) = p("h:1521/?sid=ORCL");
        assert_eq!(s.database, "ORCL");
        assert_eq!(s.options.get(CONNECT_BY).unwrap(), "sid");
        let (s, _) = p("h/svc?transport_connect_timeout=7&driver=thick");
        assert_eq!(s.connect_timeout_secs, 7);
        assert_eq!(s.options.get(DRIVER).unwrap(), "thick");
    }

    #[test]
    fn sqlplus_credentials_split_the_password_out() {
        let (s, pw) = p("scott/t1ger-pw@db:1521/orcl");
        assert_eq!(s.user, "scott");
        assert_eq!(pw.unwrap().expose_secret(), "t1ger-pw");
        let (s, pw) = p(
            "app/Secr3t@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=h)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=s)))",
        );
        assert_eq!((s.user.as_str(), s.host.as_str()), ("app", "h"));
        assert_eq!(pw.unwrap().expose_secret(), "Secr3t");
        assert!(!format!("{s:?}").contains("Secr3t"));
    }

    #[test]
    fn oracle_urls() {
        let (s, pw) = p("oracle://hr:p%40ss@db.example:1522/FREEPDB1");
        assert_eq!(
            (s.user.as_str(), s.host.as_str(), s.port),
            ("hr", "db.example", Some(1522))
        );
        assert_eq!(s.database, "FREEPDB1");
        assert_eq!(pw.unwrap().expose_secret(), "p@ss");
        let (s, _) = p("oracle://hr@db?sid=ORCL&driver=thin");
        assert_eq!(s.database, "ORCL");
        assert_eq!(s.options.get(CONNECT_BY).unwrap(), "sid");
        assert!(!s.options.contains_key(DRIVER));
        assert_eq!(bad("oracle://hr@db/x?sid=ORCL").field, "url");
        assert_eq!(bad("oracle://hr@db/x?driver=odbc").field, "driver");
    }

    #[test]
    fn descriptors_with_nesting_and_several_addresses() {
        let d = "(DESCRIPTION =\n  (CONNECT_TIMEOUT=5)(ADDRESS_LIST=\n (LOAD_BALANCE=off)(ADDRESS = (PROTOCOL = TCP)(HOST = a.example)(PORT = 1521))\n    (ADDRESS=(PROTOCOL=tcps)(HOST=b.example)(PORT=2484)))\n  (CONNECT_DATA=(SERVER=DEDICATED)(SERVICE_NAME=\"sales.example\")))";
        let (s, _) = p(d);
        assert_eq!((s.host.as_str(), s.port), ("a.example", Some(1521)));
        assert_eq!(s.tls, TlsMode::Prefer);
        assert_eq!(s.options.get(ADDRESSES).unwrap(), "tcps://b.example:2484");
        assert_eq!(s.database, "sales.example");
        assert_eq!(s.connect_timeout_secs, 5);
        let (s, _) = p(
            "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCPS)(HOST=h)(PORT=2484))(CONNECT_DATA=(SID=ORCL)))",
        );
        assert_eq!(s.tls, TlsMode::VerifyFull);
        assert_eq!(s.database, "ORCL");
        assert_eq!(s.options.get(CONNECT_BY).unwrap(), "sid");
        let (s, _) = p("(DESCRIPTION_LIST=(DESCRIPTION=(ADDRESS=(HOST=x)(PORT=1))(CONNECT_DATA=(SERVICE_NAME=a)))(DESCRIPTION=(ADDRESS=(HOST=y)(PORT=2))(CONNECT_DATA=(SERVICE_NAME=a))))");
        assert_eq!(s.host, "x");
        assert_eq!(s.options.get(ADDRESSES).unwrap(), "tcp://y:2");
    }

    #[test]
    fn malformed_descriptors_name_what_is_wrong() {
        let cases = [
            ("(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=a)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=x))", "a ')' is missing"),
            ("(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=a)(PORT=15x))(CONNECT_DATA=(SERVICE_NAME=x)))", "PORT=15x is not a port"),
            ("(DESCRIPTION=(ADDRESS=(PROTOCOL=IPC)(KEY=a))(CONNECT_DATA=(SERVICE_NAME=x)))", "PROTOCOL=IPC is not supported"),
            ("(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=x)))", "no ADDRESS"),
            ("(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(PORT=1))(CONNECT_DATA=(SERVICE_NAME=x)))", "has no HOST"),
            ("(DESCRIPTION=(ADDRESS=(HOST=a)(PORT=1))(CONNECT_DATA=(SERVER=DEDICATED)))", "no SERVICE_NAME or SID"),
            ("(DESCRIPTION=(ADDRESS=(HOST=a)(PORT=1))(CONNECT_DATA=(SERVICE_NAME=x))) trailing", "unexpected text after"),
            ("(DESCRIPTION (ADDRESS=(HOST=a)))", "expected '=' after DESCRIPTION"),
            ("(ADDRESS=(HOST=a)(PORT=1))", "expected (DESCRIPTION=…)"),
            ("(DESCRIPTION=(ADDRESS=(HOST=\"a)(PORT=1))", "quoted value of HOST is not closed"),
        ];
        for (text, want) in cases {
            let e = bad(text);
            assert!(
                e.to_string().contains(want),
                "{text}\n  -> {e}\n  want {want}"
            );
        }
        // Deep nesting is refused, not a stack overflow.
        let deep = format!("{}{}", "(A=".repeat(200), ")".repeat(200));
        assert!(bad(&deep).to_string().contains("nested too deeply"));
    }

    #[test]
    fn malformed_easy_connect_names_the_field() {
        assert_eq!(bad("db:99999/svc").field, "port");
        assert_eq!(bad("db:abc/svc").field, "port");
        assert_eq!(bad("http://db/svc").field, "url");
        assert_eq!(bad("h/svc?password=x").field, "url");
        assert_eq!(bad("h/sv(c").field, "service_name");
    }

    #[test]
    fn claims_only_oracle_shapes() {
        for yes in [
            "(DESCRIPTION=(ADDRESS=(HOST=a)))",
            "tcps://h:2484/s",
            "TCP://h/s",
            "db.example:1521/FREEPDB1",
            "localhost/XE",
            "scott/tiger@h:1521/s",
            "u/p@(DESCRIPTION=)",
        ] {
            assert!(claims(yes), "{yes}");
        }
        for no in [
            "postgres://a/b",
            "foo://a/b",
            "nonsense",
            "postgres:///db",
            "mysql:x/y",
            "sqlite:///tmp/x.db",
        ] {
            assert!(!claims(no), "{no}");
        }
    }

    #[test]
    fn descriptor_round_trip_through_the_builder() {
        let (mut s, _) = p("(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=a)(PORT=1521))(ADDRESS=(PROTOCOL=TCPS)(HOST=b)(PORT=2484))(CONNECT_DATA=(SID=ORCL)))");
        s.connect_timeout_secs = 9;
        let d = build_descriptor(&s).unwrap();
        assert_eq!(
            d,
            "(DESCRIPTION=(RETRY_COUNT=0)(RETRY_DELAY=0)(TRANSPORT_CONNECT_TIMEOUT=9)(FAILOVER=ON)(LOAD_BALANCE=OFF)\
             (ADDRESS_LIST=(ADDRESS=(PROTOCOL=TCP)(HOST=a)(PORT=1521))(ADDRESS=(PROTOCOL=TCPS)(HOST=b)(PORT=2484)))\
             (CONNECT_DATA=(SID=ORCL)))"
        );
        let again = parse_descriptor(&d, Kind::Oracle).unwrap();
        assert_eq!(again.host, "a");
        assert_eq!(again.database, "ORCL");
        assert_eq!(again.options.get(ADDRESSES), s.options.get(ADDRESSES));
        // A form edit that sneaks syntax into the service is refused.
        s.database = "X)(HOST=evil".into();
        assert_eq!(build_descriptor(&s).unwrap_err().field, "service_name");
    }
}
