//! The errors a person reads. Every driver error is mapped to one `ErrorKind`
//! (a one-line message and a hint); the raw driver text is kept, sanitized,
//! for the DBA who asks for it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    ConnectionRefused,
    ConnectionTimeout,
    UnknownHost,
    InvalidCredentials,
    /// The server asked for a password and the connection has none.
    PasswordRequired,
    DatabaseNotFound,
    /// The server insists on TLS but the connection has it disabled.
    TlsRequired,
    /// The server does not offer TLS but the connection requires it.
    TlsUnavailable,
    /// The server certificate is not trusted (unknown CA, wrong host name, expired).
    CertificateNotTrusted,
    PermissionDenied,
    /// The query ran longer than the session's statement timeout.
    StatementTimeout,
    /// A write was attempted in a read-only session.
    ReadOnly,
    /// The table or view does not exist (any more).
    NotFound,
    /// The server closed the connection (restart, crash, network).
    ConnectionLost,
    /// A client library this engine needs is missing.
    DriverUnavailable,
    /// This engine is not implemented in this build.
    NotAvailable,
    Cancelled,
    /// The connection settings are invalid (bad CA file, bad URL…).
    Config,
    /// An import filter (`--where`, the dialog's Where) was refused before running.
    InvalidFilter,
    Other,
    /// The account is locked (Oracle ORA-28000).
    AccountLocked,
    /// The password has expired and must be changed (Oracle ORA-28001).
    PasswordExpired,
    /// SSH: the bastion does not answer (DNS, refused, timeout, closed).
    SshUnreachable,
    /// SSH: the bastion refused every key / password offered.
    SshAuthFailed,
    /// SSH: the bastion's host key differs from known_hosts (refused).
    SshHostKeyChanged,
    /// SSH: the bastion's host key is not in known_hosts (and was not accepted).
    SshHostKeyUnknown,
    /// SSH: the bastion does not allow port forwarding (to that target).
    SshForwardingRefused,
    /// SSH: the tunnel is up, the database host refused or did not resolve
    /// from the bastion.
    RefusedBehindBastion,
    /// SSH: any other failure of the ssh client (words in the details).
    SshFailed,
}

impl ErrorKind {
    /// The one-line message shown to the user.
    pub fn message(self) -> &'static str {
        match self {
            ErrorKind::ConnectionRefused => "Connection refused",
            ErrorKind::ConnectionTimeout => "Connection timeout",
            ErrorKind::UnknownHost => "Unknown host",
            ErrorKind::InvalidCredentials => "Invalid credentials",
            ErrorKind::PasswordRequired => "Password required",
            ErrorKind::DatabaseNotFound => "Database not found",
            ErrorKind::TlsRequired => "TLS required",
            ErrorKind::TlsUnavailable => "Server does not support TLS",
            ErrorKind::CertificateNotTrusted => "Certificate not trusted",
            ErrorKind::PermissionDenied => "Permission denied",
            ErrorKind::StatementTimeout => "Query timed out",
            ErrorKind::ReadOnly => "Read-only session",
            ErrorKind::NotFound => "Table not found",
            ErrorKind::ConnectionLost => "Connection lost",
            ErrorKind::DriverUnavailable => "Driver unavailable",
            ErrorKind::NotAvailable => "Not available in this build",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::Config => "Invalid connection settings",
            ErrorKind::InvalidFilter => "Filter refused",
            ErrorKind::Other => "Error",
            ErrorKind::AccountLocked => "Account locked",
            ErrorKind::PasswordExpired => "Password expired",
            ErrorKind::SshUnreachable => "SSH host unreachable",
            ErrorKind::SshAuthFailed => "SSH authentication failed",
            ErrorKind::SshHostKeyChanged => "SSH HOST KEY CHANGED — refused",
            ErrorKind::SshHostKeyUnknown => "SSH host key unknown",
            ErrorKind::SshForwardingRefused => "Forwarding refused by the bastion",
            ErrorKind::RefusedBehindBastion => "Database refused behind the bastion",
            ErrorKind::SshFailed => "SSH failed",
        }
    }

    /// What the user can do about it.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorKind::ConnectionRefused => {
                "Nothing listens on that host and port: check the port and that the server runs."
            }
            ErrorKind::ConnectionTimeout => {
                "No answer in time: check the host, firewalls and VPN, or raise the timeout."
            }
            ErrorKind::UnknownHost => {
                "The host name does not resolve: check its spelling and your DNS."
            }
            ErrorKind::InvalidCredentials => "Check the user name and password.",
            ErrorKind::PasswordRequired => {
                "The server wants a password and none is stored: give the password and save it."
            }
            ErrorKind::DatabaseNotFound => {
                "Check the database name; the user may also lack access to it."
            }
            ErrorKind::TlsRequired => {
                "The server only accepts encrypted connections: set TLS to require or verify-full."
            }
            ErrorKind::TlsUnavailable => {
                "The server has no TLS: set TLS to prefer or disable, or enable TLS on the server."
            }
            ErrorKind::CertificateNotTrusted => {
                "Give the CA file that signed the server certificate, or check the host name."
            }
            ErrorKind::PermissionDenied => "The user lacks the privilege for this.",
            ErrorKind::StatementTimeout => {
                "The statement timeout cut it off: raise it in the config if this is expected."
            }
            ErrorKind::ReadOnly => "Browsing sessions are read-only by design.",
            ErrorKind::NotFound => "It may have been dropped or renamed: refresh the table list.",
            ErrorKind::ConnectionLost => "The server went away: reconnect and try again.",
            ErrorKind::DriverUnavailable => "Install the client library named in the details.",
            ErrorKind::NotAvailable => {
                "This engine comes in a later release; its connection can still be saved."
            }
            ErrorKind::Cancelled => "",
            ErrorKind::Config => "Fix the field named in the details.",
            ErrorKind::InvalidFilter => {
                "A filter is one condition without WHERE (no ';'): see the details for what was wrong."
            }
            ErrorKind::Other => "See the details for the server's own words.",
            ErrorKind::AccountLocked => {
                "Ask a DBA to unlock the account (too many failed logins?)."
            }
            ErrorKind::PasswordExpired => {
                "Change the password with the database's own tools, then update it here."
            }
            ErrorKind::SshUnreachable => {
                "The SSH host does not answer: check its name and port (`ssh HOST` in a shell)."
            }
            ErrorKind::SshAuthFailed => {
                "The bastion refused the keys offered: check the key, the agent and the user (`ssh -v HOST`)."
            }
            ErrorKind::SshHostKeyChanged => {
                "The bastion's host key is not the one in known_hosts: this may be an attack. Verify the new key out of band before removing the old one (ssh-keygen -R)."
            }
            ErrorKind::SshHostKeyUnknown => {
                "The bastion's host key is not known and was not accepted: check its fingerprint and answer yes when Varlor asks (the TUI and a terminal ask; scripts do not), or connect once with `ssh HOST`."
            }
            ErrorKind::SshForwardingRefused => {
                "The bastion does not allow port forwarding (AllowTcpForwarding / PermitOpen): ask its administrator."
            }
            ErrorKind::RefusedBehindBastion => {
                "The tunnel works; the database host and port, as seen from the bastion, refused or do not resolve."
            }
            ErrorKind::SshFailed => "See the details for ssh's own words.",
        }
    }
}

/// A connector error: a kind a person understands plus sanitized detail.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{}", self.headline())]
pub struct ConnError {
    pub kind: ErrorKind,
    /// The driver's own words, with every secret removed.
    pub detail: String,
}

impl ConnError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        ConnError {
            kind,
            detail: detail.into(),
        }
    }

    /// Removes `secret` (and URL userinfo passwords) from the detail text.
    pub fn scrub(mut self, secret: Option<&str>) -> Self {
        self.detail = sanitize(&self.detail, secret);
        self
    }

    /// The one line a person reads: the kind's words (for an untrusted
    /// certificate, with why), or for an error no kind describes, the
    /// server's own words (first line, sanitized).
    pub fn headline(&self) -> String {
        if let Some(reason) = self.cert_reason() {
            return format!("{}: {}", self.kind.message(), reason.words());
        }
        match self.kind {
            ErrorKind::Other if !self.detail.trim().is_empty() => {
                let line = self.detail.lines().next().unwrap_or("").trim();
                let cut: String = line.chars().take(160).collect();
                if cut.len() < line.len() {
                    format!("{cut}…")
                } else {
                    cut
                }
            }
            kind => kind.message().to_string(),
        }
    }

    /// What the person can do: the kind's hint, or the one for the
    /// certificate problem found in the driver's words.
    pub fn hint(&self) -> &'static str {
        match self.cert_reason() {
            Some(r) => r.hint(),
            // The headline already is the server's own words.
            None if self.kind == ErrorKind::Other && !self.detail.trim().is_empty() => "",
            None => self.kind.hint(),
        }
    }

    /// Why a certificate was refused, read from the driver's words (rustls'
    /// own error names, which every engine's detail carries).
    pub fn cert_reason(&self) -> Option<CertReason> {
        if self.kind != ErrorKind::CertificateNotTrusted {
            return None;
        }
        CertReason::find(&self.detail)
    }

    /// "Invalid credentials: <detail>" — for logs and `--verbose`.
    pub fn full(&self) -> String {
        if self.detail.is_empty() {
            self.kind.message().to_string()
        } else {
            format!("{}: {}", self.kind.message(), self.detail)
        }
    }
}

/// Why a server certificate was not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertReason {
    UnknownCa,
    NameMismatch,
    Expired,
    NotYetValid,
    Revoked,
    NoCertificate,
}

impl CertReason {
    /// Reads the reason from a driver's text (rustls' `Display` and `Debug`
    /// words, OpenSSL-style words from other stacks).
    pub fn find(detail: &str) -> Option<CertReason> {
        let t = detail.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        Some(
            if has(&[
                "unknownissuer",
                "unknown issuer",
                "unknown ca",
                "self signed",
                "self-signed",
                "unable to get local issuer",
            ]) {
                CertReason::UnknownCa
            } else if has(&[
                "notvalidforname",
                "not valid for name",
                "hostname mismatch",
                "name mismatch",
                "does not match",
            ]) {
                CertReason::NameMismatch
            } else if has(&["notvalidyet", "not valid yet", "not yet valid"]) {
                CertReason::NotYetValid
            } else if has(&["expired"]) {
                CertReason::Expired
            } else if has(&["revoked"]) {
                CertReason::Revoked
            } else if has(&[
                "nocertificatespresented",
                "no certificates presented",
                "sent no certificates",
            ]) {
                CertReason::NoCertificate
            } else {
                return None;
            },
        )
    }

    pub fn words(self) -> &'static str {
        match self {
            CertReason::UnknownCa => "signed by an unknown CA",
            CertReason::NameMismatch => "issued for another host name",
            CertReason::Expired => "expired",
            CertReason::NotYetValid => "not valid yet",
            CertReason::Revoked => "revoked",
            CertReason::NoCertificate => "the server sent none",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            CertReason::UnknownCa => {
                "Give the CA file that signed the server certificate (CA file / sslrootcert / ssl-ca)."
            }
            CertReason::NameMismatch => {
                "Connect by a name the certificate lists (see the details), or fix the certificate."
            }
            CertReason::Expired | CertReason::NotYetValid => {
                "The server's certificate is outside its dates: renew it, or check this machine's clock."
            }
            CertReason::Revoked => "The certificate was revoked: the server needs a new one.",
            CertReason::NoCertificate => "The server offered TLS without a certificate: check its TLS setup.",
        }
    }
}

impl From<std::io::Error> for ConnError {
    fn from(e: std::io::Error) -> Self {
        ConnError::new(classify_io(&e), e.to_string())
    }
}

/// Maps an I/O error to the taxonomy.
pub fn classify_io(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => ErrorKind::ConnectionRefused,
        K::TimedOut => ErrorKind::ConnectionTimeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            ErrorKind::ConnectionLost
        }
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::NotFound => ErrorKind::NotFound,
        _ => {
            let text = e.to_string().to_ascii_lowercase();
            if text.contains("failed to lookup address")
                || text.contains("name or service not known")
                || text.contains("no such host")
                || text.contains("temporary failure in name resolution")
            {
                ErrorKind::UnknownHost
            } else if text.contains("certificate") || text.contains("invalidcertificate") {
                ErrorKind::CertificateNotTrusted
            } else {
                ErrorKind::Other
            }
        }
    }
}

/// Removes the secret and any `scheme://user:password@` password from `text`.
/// Also collapses newlines so a driver's multi-line dump stays one line.
pub fn sanitize(text: &str, secret: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(s) = secret.filter(|s| !s.is_empty()) {
        out = out.replace(s, "***");
    }
    // password=... in key/value connection strings
    for key in ["password=", "pwd=", "PASSWORD=", "Password="] {
        let mut search_from = 0;
        while let Some(pos) = out[search_from..].find(key) {
            let start = search_from + pos + key.len();
            let end = out[start..]
                .find(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == ',')
                .map(|e| start + e)
                .unwrap_or(out.len());
            out.replace_range(start..end, "***");
            search_from = start + 3;
        }
    }
    // userinfo in URLs: scheme://user:pass@host
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        result.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                result.push_str(&userinfo[..colon]);
                result.push_str(":***");
                result.push_str(&authority[at..]);
            } else {
                result.push_str(authority);
            }
        } else {
            result.push_str(authority);
        }
        rest = &tail[authority_end..];
    }
    result.push_str(rest);
    result
        .replace(['\r', '\n'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmapped_error_reads_as_the_servers_own_first_line() {
        let e = ConnError::new(ErrorKind::Other, "XX000: something odd\nCONTEXT: deep");
        assert_eq!(e.to_string(), "XX000: something odd");
        assert_eq!(ConnError::new(ErrorKind::Other, "").to_string(), "Error");
        let long = ConnError::new(ErrorKind::Other, "x".repeat(500));
        assert!(long.to_string().ends_with('…'));
        let mapped = ConnError::new(ErrorKind::InvalidCredentials, "28P01: failed");
        assert_eq!(mapped.to_string(), "Invalid credentials");
    }

    #[test]
    fn hints_name_no_keys() {
        // The CLI shows the same hints: no TUI key may appear in them.
        for k in [ErrorKind::NotFound, ErrorKind::ConnectionLost] {
            assert!(!k.hint().contains("press"), "{}", k.hint());
        }
    }

    #[test]
    fn sanitize_removes_secret_everywhere() {
        let s = sanitize("auth failed for hunter2; retry hunter2", Some("hunter2"));
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn sanitize_removes_url_passwords() {
        let s = sanitize("cannot reach postgres://bob:s3cret@db:5432/x now", None);
        assert_eq!(s, "cannot reach postgres://bob:***@db:5432/x now");
    }

    #[test]
    fn sanitize_removes_key_value_passwords() {
        let s = sanitize("host=a password=abc user=b", None);
        assert_eq!(s, "host=a password=*** user=b");
    }

    #[test]
    fn display_is_the_short_message() {
        let e = ConnError::new(
            ErrorKind::InvalidCredentials,
            "28P01 password authentication failed",
        );
        assert_eq!(e.to_string(), "Invalid credentials");
    }
}
