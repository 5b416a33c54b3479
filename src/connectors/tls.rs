//! rustls client configurations for the TLS modes, shared by the engines.
//!
//! - `disable`: no TLS at all (`client_config` returns `None`).
//! - `prefer` / `require`: encrypted, certificate not verified (like libpq);
//!   the handshake signature is still checked, so the session key really
//!   belongs to whoever holds the presented certificate.
//! - `verify-full`: the certificate must chain to the CA file (or, without
//!   one, to the bundled web PKI roots) and name the host.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{ConnError, ErrorKind, TlsMode};

/// Makes ring the process-wide rustls provider. Drivers that build their
/// own `ClientConfig::builder()` (mysql_async, oracledb) need one, and with
/// both ring and aws-lc-rs compiled in (oracledb and tiberius bring aws-lc-rs) rustls
/// cannot pick by itself. Idempotent; the first provider installed stays.
pub fn install_default_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The rustls configuration for `mode`, or `None` when TLS is disabled.
/// `ca_file` is only used by `verify-full`.
pub fn client_config(
    mode: TlsMode,
    ca_file: Option<&Path>,
) -> Result<Option<ClientConfig>, ConnError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnError::new(ErrorKind::Config, format!("TLS setup: {e}")))?;
    let config = match mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Prefer | TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert { provider }))
            .with_no_client_auth(),
        TlsMode::VerifyFull => {
            let roots = match ca_file {
                Some(path) => load_ca_file(path)?,
                None => RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(config))
}

/// Reads every certificate of a PEM file into a root store. Errors name the
/// file, never its content.
pub fn load_ca_file(path: &Path) -> Result<RootCertStore, ConnError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| ConnError::new(ErrorKind::Config, format!("CA file {shown}: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        let cert = cert.map_err(|e| {
            ConnError::new(ErrorKind::Config, format!("CA file {shown}: not PEM ({e})"))
        })?;
        roots.add(cert).map_err(|e| {
            ConnError::new(
                ErrorKind::Config,
                format!("CA file {shown}: bad certificate ({e})"),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(ConnError::new(
            ErrorKind::Config,
            format!("CA file {shown}: no PEM certificate in it"),
        ));
    }
    Ok(roots)
}

/// Finds a rustls error anywhere in an error chain (drivers wrap it in
/// io::Error, whose `source()` skips the wrapped error) and maps it:
/// certificate problems → `CertificateNotTrusted`, anything else TLS → `Other`.
pub fn classify_tls(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    tls_cause(err).map(|(kind, _)| kind)
}

/// [`classify_tls`] with the rustls error's own words ("invalid peer
/// certificate: UnknownIssuer"), which drivers often leave out of their
/// message ("error performing TLS handshake").
pub fn tls_cause(err: &(dyn std::error::Error + 'static)) -> Option<(ErrorKind, String)> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = rustls_kind(e) {
            return Some(found);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(found) = rustls_kind(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

fn rustls_kind(e: &(dyn std::error::Error + 'static)) -> Option<(ErrorKind, String)> {
    let e = e.downcast_ref::<rustls::Error>()?;
    let kind = match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType => ErrorKind::CertificateNotTrusted,
        _ => ErrorKind::Other,
    };
    Some((kind, e.to_string()))
}

/// `require`/`prefer`: any certificate is accepted (libpq semantics), but the
/// handshake signatures are verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn disable_has_no_config() {
        assert!(client_config(TlsMode::Disable, None).unwrap().is_none());
    }

    #[test]
    fn other_modes_build() {
        for mode in [TlsMode::Prefer, TlsMode::Require, TlsMode::VerifyFull] {
            assert!(client_config(mode, None).unwrap().is_some(), "{mode:?}");
        }
    }

    #[test]
    fn missing_ca_file_names_the_file() {
        let err =
            client_config(TlsMode::VerifyFull, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.detail.contains("/nonexistent/ca.pem"), "{}", err.detail);
    }

    #[test]
    fn ca_file_without_certificates_is_rejected_without_echoing_it() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "not a certificate: secret-looking-content").unwrap();
        let err = load_ca_file(f.path()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.detail.contains(&f.path().display().to_string()));
        assert!(!err.detail.contains("secret-looking-content"));
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert_eq!(classify_tls(&io), Some(ErrorKind::CertificateNotTrusted));
        let plain = std::io::Error::other("x");
        assert_eq!(classify_tls(&plain), None);
    }

    #[test]
    fn every_certificate_reason_is_read_from_rustls_own_words() {
        use crate::connectors::error::{CertReason, ConnError};
        use rustls::CertificateError as C;
        let name = rustls::pki_types::ServerName::try_from("db.example").unwrap();
        let cases = [
            (C::UnknownIssuer, CertReason::UnknownCa),
            (C::NotValidForName, CertReason::NameMismatch),
            (
                C::NotValidForNameContext {
                    expected: name.to_owned(),
                    presented: vec!["DnsName(\"localhost\")".into()],
                },
                CertReason::NameMismatch,
            ),
            (C::Expired, CertReason::Expired),
            (
                C::ExpiredContext {
                    time: rustls::pki_types::UnixTime::since_unix_epoch(
                        std::time::Duration::from_secs(2_000_000_000),
                    ),
                    not_after: rustls::pki_types::UnixTime::since_unix_epoch(
                        std::time::Duration::from_secs(1_000_000_000),
                    ),
                },
                CertReason::Expired,
            ),
            (C::NotValidYet, CertReason::NotYetValid),
            (C::Revoked, CertReason::Revoked),
        ];
        for (err, want) in cases {
            let io = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(err),
            );
            // As a driver wraps it: its own words first, the cause after.
            let (kind, cause) = tls_cause(&io).expect("found in the chain");
            let e = ConnError::new(kind, format!("error performing TLS handshake: {cause}"));
            assert_eq!(e.cert_reason(), Some(want), "{cause}");
            assert!(e.headline().contains(want.words()), "{}", e.headline());
            assert_eq!(e.hint(), want.hint());
        }
        let none = rustls::Error::NoCertificatesPresented;
        let (kind, cause) = tls_cause(&none).unwrap();
        assert_eq!(
            ConnError::new(kind, cause).cert_reason(),
            Some(CertReason::NoCertificate)
        );
    }
}
