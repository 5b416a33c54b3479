//! Where files live (directories crate, XDG variables, `VARLOR_HOME`) and
//! the profile layout: `<data>/profiles/<name>/{catalog.db,identity.age,recipients.txt}`,
//! directories 0700, files 0600.

use std::path::{Path, PathBuf};

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
    pub fn resolve(profile: &str) -> Result<Paths, PathsError> {
        validate_profile(profile)?;
        if let Some(home) = std::env::var_os("VARLOR_HOME").filter(|h| !h.is_empty()) {
            return Ok(Paths::under(&absolute(PathBuf::from(home))?, profile));
        }
        // ProjectDirs honours XDG_CONFIG_HOME / XDG_DATA_HOME / XDG_STATE_HOME.
        let dirs = directories::ProjectDirs::from("", "", "varlor").ok_or(PathsError::NoHome)?;
        let data_dir = dirs.data_dir().to_path_buf();
        // state_dir is Linux-only in the directories crate; elsewhere use the local data dir.
        let state_dir = dirs
            .state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.data_local_dir().join("state"));
        Ok(Paths {
            profile: profile.to_string(),
            config_dir: dirs.config_dir().to_path_buf(),
            profile_dir: data_dir.join("profiles").join(profile),
            data_dir,
            state_dir,
        })
    }

    /// The layout under one directory (what `VARLOR_HOME` selects); also what tests use.
    pub fn under(home: &Path, profile: &str) -> Paths {
        let data_dir = home.join("data");
        Paths {
            profile: profile.to_string(),
            config_dir: home.join("config"),
            profile_dir: data_dir.join("profiles").join(profile),
            data_dir,
            state_dir: home.join("state"),
        }
    }

    /// Creates the directories with mode 0700.
    pub fn ensure(&self) -> Result<(), PathsError> {
        for dir in [
            &self.config_dir,
            &self.data_dir,
            &self.state_dir,
            &self.profile_dir,
        ] {
            create_private_dir(dir)?;
        }
        // The profile directory holds the vault: tighten it even if it existed
        // with looser permissions (created by hand, restored from a backup…).
        set_mode(&self.profile_dir, 0o700).map_err(|source| PathsError::Create {
            path: self.profile_dir.clone(),
            source,
        })
    }
}

/// Letters, digits, '-' and '_' only: the name becomes a directory name.
pub fn validate_profile(profile: &str) -> Result<(), PathsError> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PathsError::InvalidProfile(profile.to_string()))
    }
}

fn absolute(p: PathBuf) -> Result<PathBuf, PathsError> {
    if p.is_absolute() {
        return Ok(p);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(&p))
        .map_err(|source| PathsError::Create { path: p, source })
}

fn create_private_dir(dir: &Path) -> Result<(), PathsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| PathsError::Create {
        path: dir.to_path_buf(),
        source,
    })
}

/// chmod; a no-op off Unix.
pub(crate) fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_checked() {
        assert!(validate_profile("default").is_ok());
        assert!(validate_profile("tenant_2-eu").is_ok());
        for bad in ["", "../x", "a b", "a/b", ".", "é"] {
            assert!(
                matches!(validate_profile(bad), Err(PathsError::InvalidProfile(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn layout_under_one_home() {
        let p = Paths::under(Path::new("/h"), "t1");
        assert_eq!(p.config_file(), Path::new("/h/config/config.toml"));
        assert_eq!(p.catalog(), Path::new("/h/data/profiles/t1/catalog.db"));
        assert_eq!(p.log_dir(), Path::new("/h/state/logs"));
    }

    #[cfg(unix)]
    #[test]
    fn ensure_makes_private_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = Paths::under(tmp.path(), "x");
        std::fs::create_dir_all(&p.profile_dir).unwrap();
        set_mode(&p.profile_dir, 0o755).unwrap();
        p.ensure().unwrap();
        let mode = std::fs::metadata(&p.profile_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = std::fs::metadata(&p.config_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}
