//! What a stored secret's plaintext holds: the password together with the
//! connection and target it was saved for. age authenticates the whole
//! plaintext, so a ciphertext copied onto another catalog row, into another
//! profile that shares a recipient, or left behind when someone edits the
//! row's host by hand, opens to a binding that does not match and is refused
//! instead of being sent to a server it was never meant for.
//!
//! Format (UTF-8): `varlor-secret/1\n{binding as one JSON line}\n{password}`.
//! A plaintext without the header is a secret from before binding existed
//! ("legacy"); the profile accepts those only until it has migrated them.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::connectors::Target;

const HEADER: &str = "varlor-secret/1\n";

/// Whom a secret belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The profile's random id (settings `profile_uid`).
    pub profile: String,
    /// The connection's row id in that profile's catalog.
    pub connection: i64,
    /// Where the password may be sent.
    pub target: Target,
}

/// An opened plaintext.
pub enum Opened {
    Bound(Binding, SecretString),
    /// Written before secrets were bound.
    Legacy(SecretString),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the stored secret's binding is unreadable")]
    Malformed,
}

/// The plaintext to encrypt for `password` under `binding`.
pub fn seal(binding: &Binding, password: &SecretString) -> SecretString {
    // serde_json escapes control characters, so the binding stays one line.
    let json = serde_json::to_string(binding).expect("a binding always serialises");
    let mut text = Zeroizing::new(String::with_capacity(
        HEADER.len() + json.len() + 1 + password.expose_secret().len(),
    ));
    text.push_str(HEADER);
    text.push_str(&json);
    text.push('\n');
    text.push_str(password.expose_secret());
    SecretString::from(text.as_str().to_owned())
}

/// Splits a decrypted plaintext into its binding and password.
pub fn open(plain: &SecretString) -> Result<Opened, SealError> {
    let text = plain.expose_secret();
    let Some(rest) = text.strip_prefix(HEADER) else {
        return Ok(Opened::Legacy(plain.clone()));
    };
    let (json, password) = rest.split_once('\n').ok_or(SealError::Malformed)?;
    let binding: Binding = serde_json::from_str(json).map_err(|_| SealError::Malformed)?;
    Ok(Opened::Bound(
        binding,
        SecretString::from(password.to_owned()),
    ))
}

/// Why a binding does not fit the connection asking for it, in words.
pub fn mismatch(found: &Binding, expected: &Binding) -> Option<String> {
    if found.profile != expected.profile {
        return Some("it was saved in another profile".into());
    }
    if found.connection != expected.connection {
        return Some("it was saved for another connection of this profile".into());
    }
    if found.target != expected.target {
        let fields = found.target.changed_fields(&expected.target).join(", ");
        return Some(format!(
            "it was saved for {} and the connection now points elsewhere ({fields} changed outside Varlor)",
            found.target
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{ConnSpec, Kind};

    fn binding(host: &str, id: i64) -> Binding {
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = host.into();
        spec.user = "bob".into();
        spec.database = "app".into();
        Binding {
            profile: "p1".into(),
            connection: id,
            target: spec.target(),
        }
    }

    #[test]
    fn round_trip_keeps_every_byte_of_the_password() {
        let pw = SecretString::from("a\nb\u{1b}[2J c:\"{}\n".to_string());
        let b = binding("db1", 7);
        let Opened::Bound(got, p) = open(&seal(&b, &pw)).unwrap() else {
            panic!("expected a bound secret");
        };
        assert_eq!(got, b);
        assert_eq!(p.expose_secret(), pw.expose_secret());
    }

    #[test]
    fn plain_text_is_legacy() {
        let pw = SecretString::from("hunter2".to_string());
        assert!(matches!(open(&pw).unwrap(), Opened::Legacy(p) if p.expose_secret() == "hunter2"));
    }

    #[test]
    fn a_broken_binding_is_malformed() {
        let pw = SecretString::from(format!("{HEADER}not json\npw"));
        assert_eq!(open(&pw).err(), Some(SealError::Malformed));
        let pw = SecretString::from(format!("{HEADER}no newline"));
        assert_eq!(open(&pw).err(), Some(SealError::Malformed));
    }

    #[test]
    fn mismatches_are_named() {
        let a = binding("db1", 7);
        assert_eq!(mismatch(&a, &a), None);
        let mut other_profile = a.clone();
        other_profile.profile = "p2".into();
        assert!(mismatch(&a, &other_profile)
            .unwrap()
            .contains("another profile"));
        assert!(mismatch(&a, &binding("db1", 8))
            .unwrap()
            .contains("another connection"));
        let moved = mismatch(&a, &binding("evil.example", 7)).unwrap();
        assert!(moved.contains("host"), "{moved}");
        assert!(moved.contains("bob@db1"), "{moved}");
    }
}
