//! Where files live (directories crate, XDG variables, `VARLOR_HOME`) and
//! the profile layout: `<data>/profiles/<name>/{catalog.db,identity.age,recipients.txt}`,
//! directories 0700, files 0600.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("invalid profile name '{0}': use letters, digits, '-' and '_'")]
    InvalidProfile(String),
    #[error("no home directory found; set VARLOR_HOME")]
    NoHome,
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Paths {
    pub profile: String,
    /// `$XDG_CONFIG_HOME/varlor` (config.toml).
    pub config_dir: PathBuf,
    /// `$XDG_DATA_HOME/varlor`.
    pub data_dir: PathBuf,
    /// `$XDG_STATE_HOME/varlor` (logs).
    pub state_dir: PathBuf,
    /// `<data_dir>/profiles/<profile>`.
    pub profile_dir: PathBuf,
}

impl Paths {
    pub fn catalog(&self) -> PathBuf {
        self.profile_dir.join("catalog.db")
    }
    pub fn identity(&self) -> PathBuf {
        self.profile_dir.join("identity.age")
    }
    pub fn recipients(&self) -> PathBuf {
        self.profile_dir.join("recipients.txt")
    }
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
    pub fn datasets_dir(&self) -> PathBuf {
        self.data_dir.join("datasets")
    }
}

impl Paths {
    /// Resolves the directories for `profile`: `VARLOR_HOME=DIR` puts config,
    /// data and state under DIR; otherwise the XDG/platform directories.
    pub fn resolve(_profile: &str) -> Result<Paths, PathsError> {
        todo!()
    }
    /// Creates the directories with mode 0700.
    pub fn ensure(&self) -> Result<(), PathsError> {
        todo!()
    }
}
