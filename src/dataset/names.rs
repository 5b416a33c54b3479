//! Names in the dataset: file names that are safe on any filesystem yet
//! unambiguous, and de-duplication of table, file and column names.

use std::collections::HashSet;

/// Longest file-name stem we produce (bytes); filesystems allow 255.
const MAX_STEM: usize = 200;

/// Percent-encodes what a file name cannot (or should not) hold: `%` itself
/// (so the encoding is unambiguous), `/`, `\`, NUL and control characters,
/// the characters Windows reserves, and a leading `.` (hidden files, `..`).
/// Unicode is kept. Over-long names are cut and get a hash so they stay unique.
pub(crate) fn file_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, ch) in name.chars().enumerate() {
        let encode = matches!(
            ch,
            '%' | '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|'
        ) || ch.is_control()
            || (i == 0 && ch == '.');
        if encode {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(ch);
        }
    }
    if out.is_empty() {
        return "%00".to_string();
    }
    if out.len() > MAX_STEM {
        let mut cut = MAX_STEM - 10;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!("{}~{:08x}", &out[..cut], fnv1a(name.as_bytes()));
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Makes names unique, comparing case-insensitively (SQLite identifiers and
/// some filesystems fold case): the second `a` becomes `a #2`. `reserved`
/// names are treated as already taken.
pub(crate) struct Uniquer {
    taken: HashSet<String>,
}

impl Uniquer {
    pub(crate) fn new(reserved: &[&str]) -> Self {
        Uniquer {
            taken: reserved.iter().map(|r| r.to_lowercase()).collect(),
        }
    }

    pub(crate) fn unique(&mut self, name: &str) -> String {
        self.unique_with(name, |base, n| format!("{base} #{n}"))
    }

    /// `make(base, n)` builds the n-th candidate (n ≥ 2).
    pub(crate) fn unique_with(&mut self, name: &str, make: impl Fn(&str, u32) -> String) -> String {
        let mut candidate = name.to_string();
        let mut n = 1;
        while self.taken.contains(&candidate.to_lowercase()) {
            n += 1;
            candidate = make(name, n);
        }
        self.taken.insert(candidate.to_lowercase());
        candidate
    }
}

/// Column names made unique within one table.
pub(crate) fn unique_columns<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut u = Uniquer::new(&[]);
    names.map(|n| u.unique(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_safe_encodes_separators_and_keeps_unicode() {
        assert_eq!(file_safe("public.ünïcödé"), "public.ünïcödé");
        assert_eq!(file_safe("a/b"), "a%2Fb");
        assert_eq!(file_safe("a%2Fb"), "a%252Fb");
        assert_eq!(file_safe("tab\there"), "tab%09here");
        assert_eq!(file_safe(".."), "%2E.");
        assert_eq!(file_safe("semi;colon"), "semi;colon");
        assert_eq!(file_safe("quote\"d"), "quote%22d");
        assert_eq!(file_safe(""), "%00");
        let long = "é".repeat(300);
        let a = file_safe(&long);
        assert!(a.len() <= MAX_STEM);
        assert_ne!(a, file_safe(&"é".repeat(301)));
    }

    #[test]
    fn uniquer_folds_case_and_respects_reserved() {
        let mut u = Uniquer::new(&["_varlor_import"]);
        assert_eq!(u.unique("Foo"), "Foo");
        assert_eq!(u.unique("foo"), "foo #2");
        assert_eq!(u.unique("foo"), "foo #3");
        assert_eq!(u.unique("_VARLOR_IMPORT"), "_VARLOR_IMPORT #2");
        assert_eq!(
            unique_columns(["a", "b", "A"].into_iter()),
            ["a", "b", "A #2"]
        );
    }
}
