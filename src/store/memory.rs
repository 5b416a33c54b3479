//! How much memory this process may still use, so a vault unlock (scrypt
//! needs 128·r·N bytes) is refused with a message instead of being killed by
//! the OOM killer: the smaller of the kernel's `MemAvailable` and the room
//! left under the process's cgroup limit (v2 `memory.max`, v1
//! `memory.limit_in_bytes`, minus what the cgroup already uses).

use std::path::{Path, PathBuf};

/// Test-only cap on the available memory, in bytes (the memory-guard tests
/// use it instead of a real cgroup). Not for production use.
pub const TEST_LIMIT_ENV: &str = "VARLOR_TEST_MEMORY_LIMIT_BYTES";

/// Bytes available to this process; None when nothing can be measured.
pub fn available_bytes() -> Option<u64> {
    let test = std::env::var(TEST_LIMIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    [test, mem_available(), cgroup_room()]
        .into_iter()
        .flatten()
        .min()
}

/// `MemAvailable` of /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Limit minus usage of this process's memory cgroup (v2, else v1).
fn cgroup_room() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let root = Path::new("/sys/fs/cgroup");
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if id == "0" && controllers.is_empty() {
            // v2: walk up from our cgroup; the tightest limit on the way counts.
            let mut best: Option<u64> = None;
            let mut dir: PathBuf = root.join(rel);
            loop {
                if let Some(room) = room(&dir.join("memory.max"), &dir.join("memory.current")) {
                    best = Some(best.map_or(room, |b| b.min(room)));
                }
                if dir == root || !dir.pop() || !dir.starts_with(root) {
                    break;
                }
            }
            if best.is_some() {
                return best;
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            let dir = root.join("memory").join(rel);
            return room(
                &dir.join("memory.limit_in_bytes"),
                &dir.join("memory.usage_in_bytes"),
            );
        }
    }
    None
}

/// limit − usage; None for "max", an absurd v1 "no limit" value, or unreadable.
fn room(limit: &Path, usage: &Path) -> Option<u64> {
    let limit: u64 = std::fs::read_to_string(limit).ok()?.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None;
    }
    let used: u64 = std::fs::read_to_string(usage)
        .ok()
        .and_then(|u| u.trim().parse().ok())
        .unwrap_or(0);
    Some(limit.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed_in_bytes() {
        let text = "MemTotal:  2000 kB\nMemFree:   100 kB\nMemAvailable:   1536 kB\n";
        assert_eq!(parse_meminfo(text), Some(1536 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn this_machine_reports_something() {
        // Linux always has /proc/meminfo.
        let n = available_bytes().expect("no memory figure");
        assert!(n > 0);
    }
}
