//! How a source column's values land in the dataset: the SQLite declared
//! type, and the few value normalisations (timestamps to ISO 8601, boolean
//! text to 0/1, non-finite floats) shared by every format.

/// The one timestamp form (connectors build cells with it; sinks apply it
/// again, a no-op on its own output).
pub(crate) use crate::connectors::value::{iso8601, iso8601_into};

/// How a column is stored in a dataset: the connector's logical type.
pub(crate) use crate::connectors::Logical as ColKind;

/// The declared type of the SQLite dataset column.
pub(crate) fn sqlite_decl(k: ColKind) -> &'static str {
    match k {
        ColKind::Integer | ColKind::Bool => "INTEGER",
        ColKind::Real => "REAL",
        // Exact values are bound as INTEGER/REAL; a column holding a value
        // that would lose digits is rebuilt as TEXT when the table ends.
        ColKind::Numeric => "NUMERIC",
        ColKind::Timestamp | ColKind::Json | ColKind::Text => "TEXT",
        ColKind::Bytes => "BLOB",
        ColKind::Affinity(a) => a,
        ColKind::Any => "",
    }
}

/// A decimal value that a dataset can hold as a number without losing a digit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Exact {
    /// Fits a 64-bit integer.
    Int(i64),
    /// At most 15 significant digits (what a double keeps), finite, normal.
    Real(f64),
}

/// Why a decimal value is kept as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotExact {
    /// More significant digits than a double (15) or a 64-bit integer keeps.
    TooManyDigits,
    /// NaN, an infinity, an out-of-range exponent, or not a number at all.
    NotANumber,
}

impl NotExact {
    /// The reason recorded in the provenance.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            NotExact::TooManyDigits => {
                "values with more significant digits than a 64-bit integer or a 15-digit REAL keeps"
            }
            NotExact::NotANumber => {
                "values that are not finite numbers (NaN, Infinity, other text)"
            }
        }
    }
}

/// Whether the decimal text `s` (as an engine renders numeric, decimal,
/// bigint unsigned) survives as a number exactly: an integer literal that
/// fits an i64, or a decimal with at most 15 significant digits (leading
/// zeros and trailing fraction zeros do not count), which a double
/// round-trips.
pub(crate) fn exact_number(s: &str) -> Result<Exact, NotExact> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
        || exp.is_some_and(|e| e.parse::<i32>().is_err())
    {
        return Err(NotExact::NotANumber);
    }
    if exp.is_none() && !mantissa.contains('.') {
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Exact::Int(i));
        }
    }
    // Zeros at either end only move the exponent, which a double keeps.
    let digits = format!("{int_part}{frac_part}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    if significant > 15 {
        return Err(NotExact::TooManyDigits);
    }
    match s.parse::<f64>() {
        Ok(f) if (significant == 0 && f == 0.0) || f.is_normal() => Ok(Exact::Real(f)),
        _ => Err(NotExact::NotANumber),
    }
}

/// Decimal text as an integer of `scale` decimals (`"-1.5"`, scale 2 →
/// -150). `None` when it has more decimals than `scale` (other than zeros),
/// is not plain decimal text, or does not fit 38 digits.
pub(crate) fn parse_decimal(s: &str, scale: u32) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !digits(int_part) || !digits(frac_part) {
        return None;
    }
    let scale = scale as usize;
    let frac = frac_part.trim_end_matches('0');
    if frac.len() > scale {
        return None;
    }
    let int_part = int_part.trim_start_matches('0');
    if int_part.len() + scale > 38 {
        return None;
    }
    let mut v: i128 = 0;
    for c in int_part.bytes().chain(frac.bytes()) {
        v = v * 10 + i128::from(c - b'0');
    }
    v *= 10i128.pow((scale - frac.len()) as u32);
    Some(if neg { -v } else { v })
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (`None` for anything else, such as
/// a zero date or a BC date).
pub(crate) fn parse_date_days(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(num(0..4)?, month, u8::try_from(num(8..10)?).ok()?).ok()?;
    // 2440588 is the Julian day of 1970-01-01.
    Some(date.to_julian_day() - 2_440_588)
}

/// A timestamp as engines write it (`2024-01-02 03:04:05.123456+05:30`,
/// `T` or space, zone optional): microseconds since the Unix epoch — in UTC
/// when it has a zone, wall clock when not — and whether it had a zone.
/// `None` for other shapes (BC, `infinity`, zero dates, more than 6
/// fractional digits).
pub(crate) fn parse_timestamp_micros(s: &str) -> Option<(i64, Option<i32>)> {
    let days = parse_date_days(s.get(..10)?)?;
    let t = s.get(11..)?;
    if !matches!(s.as_bytes()[10], b' ' | b'T') {
        return None;
    }
    let tb = t.as_bytes();
    let two = |i: usize| -> Option<i64> {
        let p = t.get(i..i + 2)?;
        p.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    let (h, m) = (two(0)?, two(3)?);
    if tb.get(2) != Some(&b':') {
        return None;
    }
    let mut i = 5;
    let mut sec = 0;
    let mut micros = 0;
    if tb.get(i) == Some(&b':') {
        sec = two(i + 1)?;
        i += 3;
        if tb.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while tb.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let frac = &t[start..i];
            if frac.is_empty() || frac.len() > 6 {
                return None;
            }
            micros = frac.parse::<i64>().ok()? * 10i64.pow(6 - frac.len() as u32);
        }
    }
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let zone = &t[i..];
    let offset = match zone.as_bytes() {
        [] => None,
        [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let z = std::str::from_utf8(rest).ok()?;
            let parts: Vec<&str> = z.split(':').collect();
            if parts.is_empty()
                || parts.len() > 3
                || parts
                    .iter()
                    .any(|p| p.len() != 2 || !p.bytes().all(|c| c.is_ascii_digit()))
            {
                return None;
            }
            let secs = parts
                .iter()
                .zip([3600, 60, 1])
                .map(|(p, k)| p.parse::<i32>().unwrap_or(0) * k)
                .sum::<i32>();
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => return None,
    };
    let local = i64::from(days) * 86_400_000_000 + ((h * 60 + m) * 60 + sec) * 1_000_000 + micros;
    Some((local - i64::from(offset.unwrap_or(0)) * 1_000_000, offset))
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
    fn exact_numbers() {
        use Exact::*;
        assert_eq!(exact_number("25.86"), Ok(Real(25.86)));
        assert_eq!(exact_number("-0.0000000001"), Ok(Real(-1e-10)));
        assert_eq!(exact_number("9223372036854775807"), Ok(Int(i64::MAX)));
        assert_eq!(exact_number("-42"), Ok(Int(-42)));
        assert_eq!(exact_number("123.00"), Ok(Real(123.0)));
        assert_eq!(exact_number("100000000000000000000"), Ok(Real(1e20)));
        assert_eq!(
            exact_number("999999999999999.5"),
            Err(NotExact::TooManyDigits)
        );
        assert_eq!(
            exact_number("123456789012345.0000"),
            Ok(Real(123456789012345.0))
        );
        assert_eq!(
            exact_number("0.000123456789012345"),
            Ok(Real(0.000123456789012345))
        );
        assert_eq!(
            exact_number("18446744073709551615"),
            Err(NotExact::TooManyDigits)
        );
        assert_eq!(
            exact_number("12345678901234567890.0123456789"),
            Err(NotExact::TooManyDigits)
        );
        for bad in [
            "NaN",
            "Infinity",
            "-Infinity",
            "",
            "-",
            ".",
            "$1.00",
            "1e999",
            "1e-400",
            "1,5",
        ] {
            assert_eq!(exact_number(bad), Err(NotExact::NotANumber), "{bad}");
        }
        // Every accepted value prints back to the same number.
        for s in ["0.1", "3.14159265358979", "-7.5e-3", "1.5E10"] {
            let Ok(Real(f)) = exact_number(s) else {
                panic!("{s}")
            };
            assert_eq!(f, s.parse::<f64>().unwrap());
        }
    }

    #[test]
    fn decimals_dates_and_timestamps_parse_exactly() {
        assert_eq!(parse_decimal("-1.5", 2), Some(-150));
        assert_eq!(
            parse_decimal("12345678901234567890.0123456789", 10),
            Some(123456789012345678900123456789)
        );
        assert_eq!(parse_decimal("0.1250", 3), Some(125));
        assert_eq!(parse_decimal("0.125", 2), None);
        assert_eq!(parse_decimal("NaN", 2), None);
        assert_eq!(
            parse_decimal("18446744073709551615", 0),
            Some(18446744073709551615)
        );
        assert_eq!(parse_date_days("1970-01-02"), Some(1));
        assert_eq!(parse_date_days("2024-02-29"), Some(19782));
        assert_eq!(parse_date_days("0000-00-00"), None);
        assert_eq!(parse_date_days("2023-02-29"), None);
        assert_eq!(
            parse_timestamp_micros("1970-01-01 00:00:01"),
            Some((1_000_000, None))
        );
        assert_eq!(
            parse_timestamp_micros("2024-06-30 12:00:00+02"),
            Some((1_719_741_600_000_000, Some(7200)))
        );
        assert_eq!(
            parse_timestamp_micros("1970-01-01T00:00:00.5-00:30"),
            Some((1_800_500_000, Some(-1800)))
        );
        assert_eq!(
            parse_timestamp_micros("1850-01-01 00:00:00+00:09:21"),
            Some((-3_786_825_600_000_000 - 561_000_000, Some(561)))
        );
        assert_eq!(parse_timestamp_micros("infinity"), None);
        assert_eq!(parse_timestamp_micros("2024-01-02 03:04:05 BC"), None);
        assert_eq!(parse_timestamp_micros("2024-01-02 03:04:05.1234567"), None);
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
