//! Patterns every network connector shares, written once: a connect bounded
//! by the configured timeout (drivers' own timeouts cover the TCP connect at
//! most, not a server that accepts and never answers).

use std::future::Future;
use std::time::Duration;

use super::{ConnError, ConnSpec, ErrorKind};

/// Runs `attempt` (TCP, TLS, login) within the spec's connect timeout; a
/// timeout names the host and port that did not answer.
pub async fn within_connect_timeout<T, E>(
    spec: &ConnSpec,
    attempt: impl Future<Output = Result<T, E>>,
    map_err: impl FnOnce(E) -> ConnError,
) -> Result<T, ConnError> {
    within(
        spec.connect_timeout(),
        &spec.host,
        spec.effective_port(),
        attempt,
        map_err,
    )
    .await
}

/// `within_connect_timeout` with an explicit limit.
pub async fn within<T, E>(
    timeout: Duration,
    host: &str,
    port: u16,
    attempt: impl Future<Output = Result<T, E>>,
    map_err: impl FnOnce(E) -> ConnError,
) -> Result<T, ConnError> {
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map_err(e)),
        Err(_) => Err(ConnError::new(
            ErrorKind::ConnectionTimeout,
            format!(
                "no answer from {host}:{port} within {} s",
                timeout.as_secs()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Kind;

    #[tokio::test]
    async fn a_silent_attempt_times_out_naming_the_target() {
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = "db.example".into();
        let never = std::future::pending::<Result<(), ConnError>>();
        let e = within(Duration::from_millis(20), "db.example", 5432, never, |e| e)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ConnectionTimeout);
        assert!(e.detail.contains("db.example:5432"), "{}", e.detail);
        let ok = within_connect_timeout(&spec, async { Ok::<_, ConnError>(7) }, |e| e).await;
        assert_eq!(ok.unwrap(), 7);
    }
}
