//! Partial files: every file an import writes is first a hidden
//! `.<name>.XXXXXX.partial` next to its final place, mode 0600, removed when
//! dropped (Esc, Ctrl-C, `q`, SIGTERM, SIGHUP, a server error, a panic all
//! drop it) and renamed into place when complete.
//!
//! Only a hard kill (SIGKILL, power loss) can leave one behind. Each partial
//! file is held under an exclusive `flock` while its import runs, so the next
//! import into the same directory removes the leftovers of its own naming
//! pattern that are older than this process and that no process holds,
//! and never touches another program's files or a running import's.

use std::fs::File;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use tempfile::NamedTempFile;

/// What tempfile puts between the prefix and the suffix (its default).
const RANDOM_LEN: usize = 6;
const SUFFIX: &str = ".partial";

static PROCESS_START: OnceLock<SystemTime> = OnceLock::new();

/// Records when this process started (`main` calls it first thing); a
/// partial file older than that cannot be one this process is writing.
pub fn mark_process_start() {
    PROCESS_START.get_or_init(SystemTime::now);
}

fn process_start() -> SystemTime {
    *PROCESS_START.get_or_init(SystemTime::now)
}

/// Creates `.<name>.XXXXXX.partial` in `dir`, mode 0600, locked for as long
/// as it lives.
pub(crate) fn create(dir: &Path, name: &str) -> std::io::Result<NamedTempFile> {
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(SUFFIX)
        .rand_bytes(RANDOM_LEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let temp = builder.tempfile_in(dir)?;
    lock(temp.as_file());
    Ok(temp)
}

/// An exclusive, non-blocking `flock`; whether it was had.
fn lock(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on an open descriptor; released when it is closed.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        true
    }
}

/// The `<name>` of a `.<name>.XXXXXX.partial` file name, if it is one.
pub(crate) fn partial_name(file_name: &str) -> Option<&str> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(SUFFIX)?;
    let (name, random) = inner.rsplit_once('.')?;
    let random_ok = random.len() == RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric());
    (random_ok && !name.is_empty()).then_some(name)
}

/// Removes from `dir` the partial files whose `<name>` `ours` accepts, that
/// are older than this process and that no running import holds; how many.
pub(crate) fn remove_leftovers(dir: &Path, ours: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let start = process_start();
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(partial_name) else {
            continue;
        };
        if !ours(name) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let old = meta.modified().is_ok_and(|m| m < start);
        if !meta.is_file() || !old {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if lock(&file) && std::fs::remove_file(&path).is_ok() {
            tracing::info!(file = %path.display(), "removed a partial file left by an interrupted import");
            removed += 1;
        }
    }
    removed
}

/// Creates `dir` (and missing parents) with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_its_own_pattern() {
        assert_eq!(
            partial_name(".orders.csv.a1B2c3.partial"),
            Some("orders.csv")
        );
        assert_eq!(partial_name(".x.sqlite.ZZZZZZ.partial"), Some("x.sqlite"));
        assert_eq!(partial_name("orders.csv.a1B2c3.partial"), None);
        assert_eq!(partial_name(".orders.csv.a1B2.partial"), None);
        assert_eq!(partial_name(".orders.csv.a1B2c3.part"), None);
        assert_eq!(partial_name(".a1B2c3.partial"), None);
        assert_eq!(partial_name(".x.a-B2c3.partial"), None);
    }

    #[test]
    fn a_held_partial_survives_and_a_released_one_of_a_previous_run_does_not() {
        mark_process_start();
        let dir = tempfile::tempdir().unwrap();
        // Made "before this process": an old mtime.
        let old = dir.path().join(".t.csv.abcdef.partial");
        let other = dir.path().join(".t.csv.abcdef.partial.keep");
        let foreign = dir.path().join(".notes.txt.abcdef.partial");
        for p in [&old, &other, &foreign] {
            std::fs::write(p, b"x").unwrap();
            let f = File::options().write(true).open(p).unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
                .unwrap();
        }
        // Held by a running import (this test): kept even though it is old.
        let held = create(dir.path(), "u.csv").unwrap();
        File::options()
            .write(true)
            .open(held.path())
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH)
            .unwrap();
        let n = remove_leftovers(dir.path(), |n| n.ends_with(".csv"));
        assert_eq!(n, 1);
        assert!(!old.exists());
        assert!(other.exists() && foreign.exists() && held.path().exists());
        // A partial newer than the process start is not touched either.
        let fresh = dir.path().join(".v.csv.abcdef.partial");
        std::fs::write(&fresh, b"x").unwrap();
        File::options()
            .write(true)
            .open(&fresh)
            .unwrap()
            .set_modified(SystemTime::now() + std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(remove_leftovers(dir.path(), |n| n.ends_with(".csv")), 0);
        assert!(fresh.exists() && held.path().exists());
    }

    #[cfg(unix)]
    #[test]
    fn partial_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = create(dir.path(), "x.csv").unwrap();
        let mode = std::fs::metadata(t.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
