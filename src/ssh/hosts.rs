//! The `Host` aliases of the person's ssh config, for `varlor ssh-hosts`
//! and the form's picker: wildcard patterns (`*`, `?`, `!`) left out,
//! `Include` followed (relative to `~/.ssh`, with globs), each file once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `$VARLOR_SSH_CONFIG`, else `~/.ssh/config`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(super::tunnel::CONFIG_ENV) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh").join("config"))
}

/// The aliases, in file order, each once.
pub fn aliases(config: &Path) -> Vec<String> {
    let ssh_dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = Vec::new();
    let mut seen_files = BTreeSet::new();
    read(config, &ssh_dir, &mut out, &mut seen_files, 0);
    let mut seen = BTreeSet::new();
    out.retain(|a| seen.insert(a.clone()));
    out
}

fn read(
    file: &Path,
    ssh_dir: &Path,
    out: &mut Vec<String>,
    seen: &mut BTreeSet<PathBuf>,
    depth: u8,
) {
    // ssh itself stops at 16 levels; a loop is read once.
    if depth > 16 || !seen.insert(file.to_path_buf()) {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, rest) = split_keyword(line);
        match key.to_ascii_lowercase().as_str() {
            "host" => out.extend(
                rest.split_whitespace()
                    .map(|w| w.trim_matches('"'))
                    .filter(|w| !w.is_empty() && !w.contains(['*', '?', '!']))
                    .map(str::to_string),
            ),
            "include" => {
                for pattern in rest.split_whitespace() {
                    for f in expand(pattern.trim_matches('"'), ssh_dir) {
                        read(&f, ssh_dir, out, seen, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

/// "Host a b" and "Host=a b".
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let rest = line[end..].trim_start();
    (&line[..end], rest.strip_prefix('=').unwrap_or(rest).trim())
}

/// An Include pattern: `~/` is the home, a relative path is under ~/.ssh,
/// `*` and `?` match within the last component.
fn expand(pattern: &str, ssh_dir: &Path) -> Vec<PathBuf> {
    let path = if let Some(rest) = pattern.strip_prefix("~/") {
        match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(rest),
            None => return Vec::new(),
        }
    } else if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        ssh_dir.join(pattern)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![path];
    }
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_without_wildcards_and_through_includes() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(
            d.join("config"),
            "# mine\nInclude conf.d/*.conf\nHost bastion prod-db\n  HostName 10.0.0.1\nHost *.internal !x\nHost=jump\nHost * \nInclude config\n",
        )
        .unwrap();
        std::fs::write(d.join("conf.d/a.conf"), "Host alpha beta?\n").unwrap();
        std::fs::write(d.join("conf.d/b.conf"), "host \"bravo\" bastion\n").unwrap();
        std::fs::write(d.join("conf.d/c.txt"), "Host not-included\n").unwrap();
        assert_eq!(
            aliases(&d.join("config")),
            ["alpha", "bravo", "bastion", "prod-db", "jump"]
        );
        assert!(aliases(&d.join("missing")).is_empty());
    }

    #[test]
    fn wildcards_match_like_ssh() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.txt"));
        assert!(wildcard("h?st", "host"));
    }
}
