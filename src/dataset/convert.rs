//! How a source column's values land in the dataset: the SQLite declared
//! type, and the few value normalisations (timestamps to ISO 8601, boolean
//! text to 0/1, non-finite floats) shared by every format.

use std::borrow::Cow;

/// How a column is stored in a dataset: the connector's logical type.
pub(crate) use crate::connectors::Logical as ColKind;

/// The declared type of the SQLite dataset column.
pub(crate) fn sqlite_decl(k: ColKind) -> &'static str {
    match k {
        ColKind::Integer | ColKind::Bool => "INTEGER",
        ColKind::Real => "REAL",
        ColKind::Numeric | ColKind::Timestamp | ColKind::Json | ColKind::Text => "TEXT",
        ColKind::Bytes => "BLOB",
        ColKind::Affinity(a) => a,
        ColKind::Any => "",
    }
}

/// `2024-01-02 03:04:05.5+01` → `2024-01-02T03:04:05.5+01:00`. Only text of
/// exactly that shape is touched; anything else (BC dates, `infinity`,
/// years past 9999) is returned unchanged.
pub(crate) fn iso8601(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let date_ok = b.len() >= 16
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b' ' || b[10] == b'T')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16);
    if !date_ok {
        return Cow::Borrowed(s);
    }
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        if !digits(i + 1..i + 3) {
            return Cow::Borrowed(s);
        }
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return Cow::Borrowed(s);
            }
        }
    }
    let rest = &s[i..];
    let zone = match rest.as_bytes() {
        [] | [b'Z'] => rest.to_string(),
        [sign @ (b'+' | b'-'), h1, h2] if h1.is_ascii_digit() && h2.is_ascii_digit() => {
            format!("{}{}{}:00", *sign as char, *h1 as char, *h2 as char)
        }
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            rest.to_string()
        }
        [b'+' | b'-', h1, h2, b':', m1, m2, b':', s1, s2]
            if [h1, h2, m1, m2, s1, s2].iter().all(|c| c.is_ascii_digit()) =>
        {
            rest.to_string()
        }
        _ => return Cow::Borrowed(s),
    };
    if b[10] == b'T' && zone == rest {
        return Cow::Borrowed(s);
    }
    Cow::Owned(format!("{}T{}{}", &s[..10], &s[11..i], zone))
}

/// Whether `s` is a JSON number as written (so it can be copied verbatim,
/// digits and all): `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
pub(crate) fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// Boolean text as engines spell it (`t`, `true`, `1`…), for boolean columns.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "1" | "y" | "yes" | "on" => Some(true),
        "f" | "false" | "0" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Shortest text that round-trips the float; PostgreSQL's spelling for the
/// non-finite values.
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_normalises_only_plain_timestamps() {
        assert_eq!(
            iso8601("2024-01-02 03:04:05+01"),
            "2024-01-02T03:04:05+01:00"
        );
        assert_eq!(
            iso8601("2024-01-02 03:04:05.123456+05:30"),
            "2024-01-02T03:04:05.123456+05:30"
        );
        assert_eq!(iso8601("2024-01-02 03:04:05"), "2024-01-02T03:04:05");
        assert_eq!(iso8601("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z");
        assert_eq!(
            iso8601("1850-01-01 00:00:00+00:09:21"),
            "1850-01-01T00:00:00+00:09:21"
        );
        assert_eq!(iso8601("infinity"), "infinity");
        assert_eq!(iso8601("2024-01-02 03:04:05 BC"), "2024-01-02 03:04:05 BC");
        assert_eq!(iso8601("0000-00-00 00:00:00"), "0000-00-00T00:00:00");
        assert_eq!(iso8601("12024-01-02 03:04:05"), "12024-01-02 03:04:05");
        assert_eq!(iso8601("2024-01-02"), "2024-01-02");
    }

    #[test]
    fn json_numbers() {
        for ok in [
            "0",
            "-1",
            "3.25",
            "1e+30",
            "2.5E-300",
            "-0.0",
            "12345678901234567890",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "NaN", "Infinity", "1e", "+1", " 1", "0x10",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn floats_round_trip_as_text() {
        for f in [0.1, 1.0, -2.5e-300, 1e300, f64::MAX, 123456789.125] {
            assert_eq!(float_text(f).parse::<f64>().unwrap(), f);
        }
        assert_eq!(float_text(f64::NAN), "NaN");
        assert_eq!(float_text(f64::NEG_INFINITY), "-Infinity");
    }
}
