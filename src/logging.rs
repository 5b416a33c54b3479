//! Logging to `<state_dir>/logs/varlor.log` (dir 0700, file 0600), never to
//! stdout/stderr: the TUI owns the terminal. Log names, kinds and outcomes —
//! never a secret.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Above this size the log is moved to `varlor.log.1` at start.
const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot open log file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid log level '{0}'")]
    Level(String),
    #[error("logging already initialised")]
    AlreadySet,
}

/// Driver log targets that carry server text or row values verbatim; always
/// off, whatever VARLOR_LOG asks (tiberius logs every server ERROR message,
/// and rows at trace, unscrubbed). The connectors log their own scrubbed errors.
const SILENCED: [&str; 1] = ["tiberius::tds::stream::token=off"];

/// The level: VARLOR_LOG (RUST_LOG syntax) wins, then `-v` (debug), then the config.
pub fn filter(config_level: &str, verbose: bool) -> Result<EnvFilter, LoggingError> {
    let silence = |f: EnvFilter| {
        SILENCED
            .iter()
            .filter_map(|d| d.parse().ok())
            .fold(f, EnvFilter::add_directive)
    };
    if let Ok(spec) = std::env::var("VARLOR_LOG") {
        if !spec.trim().is_empty() {
            return EnvFilter::try_new(&spec)
                .map(silence)
                .map_err(|_| LoggingError::Level(spec));
        }
    }
    let level = if verbose { "debug" } else { config_level };
    // Keep the drivers' own chatter at warn unless asked for explicitly.
    EnvFilter::try_new(format!(
        "warn,varlor={level}",
        level = level.trim().to_ascii_lowercase()
    ))
    .map(silence)
    .map_err(|_| LoggingError::Level(level.to_string()))
}

/// Opens (creating) the log file with safe permissions.
pub fn open_log(log_dir: &Path) -> Result<File, LoggingError> {
    let path = log_dir.join("varlor.log");
    let err = |source| LoggingError::Open {
        path: path.clone(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(log_dir).map_err(err)?;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let _ = std::fs::rename(&path, log_dir.join("varlor.log.1"));
    }
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        // Tighten what an older version or a umask may have left open.
        let _ = std::fs::set_permissions(log_dir, std::fs::Permissions::from_mode(0o700));
        let file = opts.open(&path).map_err(err)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        Ok(file)
    }
    #[cfg(not(unix))]
    opts.open(&path).map_err(err)
}

/// Installs the global subscriber writing to the log file.
pub fn init(log_dir: &Path, config_level: &str, verbose: bool) -> Result<(), LoggingError> {
    let filter = filter(config_level, verbose)?;
    let file = open_log(log_dir)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .try_init()
        .map_err(|_| LoggingError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_and_dir_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("state/logs");
        open_log(&logs).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let d = std::fs::metadata(&logs).unwrap().permissions().mode() & 0o777;
            let f = std::fs::metadata(logs.join("varlor.log"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!((d, f), (0o700, 0o600));
        }
    }

    #[test]
    fn bad_level_is_an_error() {
        assert!(filter("info", false).is_ok());
        assert!(filter("lots!!", false).is_err());
    }
}
