//! SSH tunnels through the system OpenSSH client, so `~/.ssh/config`,
//! aliases, ProxyJump, the agent, known_hosts, hardware keys and
//! certificates behave exactly as in the person's shell.
//!
//! - `tunnel` — one `ssh -N -L /DIR/db.sock:db:port` child per open
//!   connection (a Unix socket in a 0700 directory: only this user can
//!   reach it), in its own session (process group) with a parent-death
//!   signal, killed and reaped when the tunnel is dropped.
//! - `gate` — for drivers that cannot dial that socket: a loopback TCP
//!   relay (MySQL/MariaDB, Oracle) or SOCKS5 proxy (MongoDB) that lets only
//!   this user's connections through.
//! - `askpass` — prompts (host key, passphrase, password) reach the person
//!   through `SSH_ASKPASS` = this binary, talking to its parent over a
//!   private Unix socket; without a registered prompter ssh runs in BatchMode.
//! - `connector` — the `Connector` that opens its tunnel lazily and maps
//!   failures behind the bastion to words; the staged test.
//! - `hosts` — the `Host` aliases of `~/.ssh/config` (for `varlor ssh-hosts`).
//!
//! A connection's "SSH via" is stored in `ConnSpec::options["ssh"]` (so
//! `?ssh=bastion` in a pasted URL round-trips with no schema change).

pub mod askpass;
pub mod connector;
pub mod gate;
pub mod hosts;
pub mod tunnel;

use crate::connectors::oracle::ADDRESSES as ORACLE_ADDRESSES;
use crate::connectors::{ConnError, ConnSpec, ErrorKind, Kind, SpecError, TlsMode};

pub use connector::{staged_test, stages_line, Stage, StagedTest, Tunnelled};
pub use tunnel::Tunnel;

/// The spec option holding the SSH hop ("alias" or "user@host[:port]").
pub const OPTION: &str = "ssh";

/// Where the tunnel goes first: an alias of `~/.ssh/config` or a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `[user@]host` or an alias, exactly as ssh takes it.
    pub destination: String,
    /// `-p PORT` when `user@host:port` was given.
    pub port: Option<u16>,
}

impl Via {
    /// Parses "alias", "host", "user@host" or "user@host:port" ("[::1]:22").
    /// Refuses what ssh would read as an option or that holds spaces or
    /// control characters, so the value can never inject an argument.
    pub fn parse(text: &str) -> Result<Via, SpecError> {
        let t = text.trim();
        let bad = |m: &str| Err(SpecError::new("ssh", m.to_string()));
        if t.is_empty() {
            return bad("empty: give a ~/.ssh/config alias or user@host[:port]");
        }
        if t.starts_with('-') {
            return bad("cannot start with '-'");
        }
        if !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@:[]%+".contains(c))
        {
            return bad(
                "use letters, digits and . _ - @ : [ ] only (an alias or user@host[:port])",
            );
        }
        let (user, hostport) = match t.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u), h),
            Some(_) => return bad("empty user before '@'"),
            None => (None, t),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| SpecError::new("ssh", "missing ']' after an IPv6 address"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return bad("unexpected text after ']'"),
            }
        } else if hostport.matches(':').count() == 1 {
            let (h, p) = hostport.split_once(':').unwrap_or((hostport, ""));
            (h, Some(p))
        } else {
            (hostport, None)
        };
        if host.is_empty() {
            return bad("no host");
        }
        let port = match port {
            Some(p) => Some(ConnSpec::parse_port(p).map_err(|e| SpecError::new("ssh", e.message))?),
            None => None,
        };
        let destination = match user {
            Some(u) => format!("{u}@{host}"),
            None => host.to_string(),
        };
        Ok(Via { destination, port })
    }
}

/// The SSH hop of a spec, if it has one (validated).
pub fn via_of(spec: &ConnSpec) -> Result<Option<Via>, SpecError> {
    match spec.options.get(OPTION).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(v) => {
            if spec.kind.engine().file_based {
                return Err(SpecError::new(
                    "ssh",
                    "a database file is not reached over SSH",
                ));
            }
            if spec.host.contains(',') {
                return Err(SpecError::new(
                    "ssh",
                    "SSH tunnels reach one database host, not a host list",
                ));
            }
            if spec.kind == Kind::Sqlserver
                && spec
                    .options
                    .contains_key(crate::connectors::sqlserver::OPT_INSTANCE)
                && spec.port.is_none()
            {
                return Err(SpecError::new(
                    "ssh",
                    "a named instance without a port is found through SQL Browser (UDP 1434), \
                     which an SSH tunnel does not carry: give the instance's port",
                ));
            }
            if spec.kind == Kind::Oracle {
                if spec.options.contains_key(ORACLE_ADDRESSES) {
                    return Err(SpecError::new(
                        "ssh",
                        "SSH tunnels reach one database host, not a list of addresses",
                    ));
                }
                if matches!(spec.tls, TlsMode::Require | TlsMode::VerifyFull) {
                    return Err(SpecError::new(
                        "ssh",
                        "Oracle's driver checks a TCPS certificate for the address it dials, \
                         which through SSH is this machine's end of the tunnel, not the \
                         database's name, so TCPS cannot work there: use TCP through the tunnel \
                         (ssh encrypts it up to the bastion), or no SSH",
                    ));
                }
            }
            if spec.options.get("srv").is_some_and(|v| v == "true") {
                return Err(SpecError::new(
                    "ssh",
                    "a mongodb+srv address is looked up here, not behind the bastion: \
                     give the database's host and port (mongodb://host:port) to go through SSH",
                ));
            }
            Via::parse(v).map(Some)
        }
    }
}

/// Sets or clears a spec's SSH hop (checked when the spec is validated).
pub fn set_via(spec: &mut ConnSpec, via: Option<&str>) {
    match via.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => {
            spec.options.insert(OPTION.into(), v.to_string());
        }
        None => {
            spec.options.remove(OPTION);
        }
    }
}

/// What went wrong, read from ssh's own stderr (its words are stable
/// across OpenSSH releases; the last matching line decides).
pub fn classify(stderr: &str) -> Option<ErrorKind> {
    let has = |needle: &str| stderr.contains(needle);
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key for ") && has("has changed") {
        return Some(ErrorKind::SshHostKeyChanged);
    }
    if has("administratively prohibited") || has("forwarding disabled") {
        return Some(ErrorKind::SshForwardingRefused);
    }
    if has("open failed: connect failed") || has("open failed: Connection refused") {
        return Some(ErrorKind::RefusedBehindBastion);
    }
    if has("Host key verification failed") || has("No ED25519 host key is known") {
        return Some(ErrorKind::SshHostKeyUnknown);
    }
    if has("Permission denied (")
        || has("Too many authentication failures")
        || has("Authentication failed")
    {
        return Some(ErrorKind::SshAuthFailed);
    }
    if has("Could not resolve hostname")
        || has("Connection refused")
        || has("Connection timed out")
        || has("No route to host")
        || has("Network is unreachable")
        || has("kex_exchange_identification")
        || has("Connection closed by")
        || has("Connection reset by")
        || has("Operation timed out")
    {
        return Some(ErrorKind::SshUnreachable);
    }
    None
}

/// ssh's words as a person-readable detail: its error lines, without the
/// VERBOSE chatter, the banner art and blank lines; sanitized.
pub fn detail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("debug")
                && !l.starts_with("Authenticated to")
                && !l.starts_with("Transferred:")
                && !l.starts_with("@@@")
                && !l.starts_with("Warning: Permanently added")
        })
        .collect();
    let tail = &lines[lines.len().saturating_sub(6)..];
    crate::connectors::error::sanitize(&tail.join("\n"), None)
}

/// A `ConnError` from what ssh printed.
pub fn error_from(stderr: &str) -> ConnError {
    ConnError::new(
        classify(stderr).unwrap_or(ErrorKind::SshFailed),
        detail(stderr),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_takes_aliases_and_user_host_port() {
        let v = Via::parse("bastion").unwrap();
        assert_eq!((v.destination.as_str(), v.port), ("bastion", None));
        let v = Via::parse("ops@jump.example:2222").unwrap();
        assert_eq!(
            (v.destination.as_str(), v.port),
            ("ops@jump.example", Some(2222))
        );
        let v = Via::parse("ops@[::1]:22").unwrap();
        assert_eq!((v.destination.as_str(), v.port), ("ops@::1", Some(22)));
        let v = Via::parse("::1").unwrap();
        assert_eq!(v.port, None);
    }

    #[test]
    fn via_refuses_what_could_become_an_ssh_option() {
        for bad in [
            "-oProxyCommand=touch /tmp/x",
            "a b",
            "host;rm",
            "",
            "@host",
            "h:0",
            "h:99999",
            "x\ny",
            "$(id)",
        ] {
            let e = Via::parse(bad).unwrap_err();
            assert_eq!(e.field, "ssh", "{bad}");
        }
    }

    #[test]
    fn ssh_words_become_kinds() {
        let cases = [
            ("ssh: connect to host 127.0.0.1 port 9: Connection refused", ErrorKind::SshUnreachable),
            ("ssh: Could not resolve hostname nope: Name or service not known", ErrorKind::SshUnreachable),
            ("u@h: Permission denied (publickey).", ErrorKind::SshAuthFailed),
            ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.", ErrorKind::SshHostKeyChanged),
            ("No ED25519 host key is known for [127.0.0.1]:2 and you have requested strict checking.\nHost key verification failed.", ErrorKind::SshHostKeyUnknown),
            ("channel 2: open failed: administratively prohibited: open failed", ErrorKind::SshForwardingRefused),
            ("channel 2: open failed: connect failed: Connection refused", ErrorKind::RefusedBehindBastion),
        ];
        for (text, kind) in cases {
            assert_eq!(classify(text), Some(kind), "{text}");
        }
        assert_eq!(classify("Authenticated to h using \"publickey\"."), None);
        assert_eq!(error_from("something odd").kind, ErrorKind::SshFailed);
    }

    #[test]
    fn spec_option_round_trips_and_is_checked() {
        let (mut spec, _) = ConnSpec::from_url("postgres://u@db.internal/app?ssh=bastion").unwrap();
        assert_eq!(via_of(&spec).unwrap().unwrap().destination, "bastion");
        assert!(spec.to_url().contains("ssh=bastion"), "{}", spec.to_url());
        set_via(&mut spec, Some("-oX"));
        assert!(via_of(&spec).is_err());
        set_via(&mut spec, None);
        assert_eq!(via_of(&spec).unwrap(), None);
    }

    #[test]
    fn what_a_tunnel_cannot_carry_is_refused_in_words() {
        let refused = |url: &str, words: &str| {
            let (spec, _) = ConnSpec::from_url(url).unwrap();
            let e = via_of(&spec).unwrap_err();
            assert!(e.field == "ssh" && e.message.contains(words), "{url}: {e}");
        };
        refused(
            "sqlserver://u@db.internal/app?instance=SQLEXPRESS&ssh=bastion",
            "SQL Browser",
        );
        refused(
            "oracle://u@db.internal:2484/SVC?tls=verify-full&ssh=bastion",
            "TCPS",
        );
        refused(
            "oracle://u@db.internal:2484/SVC?tls=require&ssh=bastion",
            "TCPS",
        );
        let mut spec = ConnSpec::new(Kind::Oracle);
        spec.host = "db1.internal".into();
        spec.options
            .insert(ORACLE_ADDRESSES.into(), "db2.internal:1521".into());
        set_via(&mut spec, Some("bastion"));
        let e = via_of(&spec).unwrap_err();
        assert!(e.message.contains("list of addresses"), "{e}");
        // With the instance's port, and Oracle over TCP: fine.
        for ok in [
            "sqlserver://u@db.internal:1434/app?instance=SQLEXPRESS&ssh=bastion",
            "oracle://u@db.internal:1521/SVC?ssh=bastion",
        ] {
            let (spec, _) = ConnSpec::from_url(ok).unwrap();
            assert!(via_of(&spec).unwrap().is_some(), "{ok}");
        }
    }
}
