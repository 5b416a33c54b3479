//! A column's logical type: what its values are, independent of how the
//! engine spells the type. Connectors fill it from their own metadata.

/// What a column holds, whatever the engine calls it. Each connector fills
/// it for its columns, so the dataset sinks never parse engine type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Logical {
    Integer,
    Real,
    Bool,
    /// Exact decimal text (numeric, decimal, money, bigint unsigned).
    Numeric,
    /// Date and time: text normalised to ISO 8601.
    Timestamp,
    Json,
    Bytes,
    Text,
    /// An engine without strict column types (SQLite): keep the declared
    /// affinity, convert nothing.
    Affinity(&'static str),
    /// No type known: store values as they come.
    #[default]
    Any,
}

impl Logical {
    /// From a SQL type name as `information_schema` spells it. `serial_is_unsigned`:
    /// MySQL's SERIAL is BIGINT UNSIGNED (which an i64 cannot hold).
    pub fn of_sql_type(type_name: &str, serial_is_unsigned: bool) -> Logical {
        let t = type_name.trim().to_ascii_lowercase();
        if t.is_empty() {
            return Logical::Any;
        }
        // Arrays (`integer[]`, PostgreSQL's internal `_int4`) come over as text.
        if t.ends_with("[]") || t.starts_with('_') {
            return Logical::Text;
        }
        let (base, params) = split_params(&t);
        let unsigned = base.contains("unsigned");
        let words: Vec<&str> = base
            .split_whitespace()
            .filter(|w| !matches!(*w, "unsigned" | "signed" | "zerofill"))
            .collect();
        let head = words.first().copied().unwrap_or("");
        let joined = words.join(" ");
        match head {
            "bool" | "boolean" => Logical::Bool,
            "bigint" | "int8" | "serial8" | "bigserial" if unsigned => Logical::Numeric,
            // MySQL's SERIAL is BIGINT UNSIGNED.
            "serial" if serial_is_unsigned => Logical::Numeric,
            "int" | "integer" | "int2" | "int4" | "int8" | "smallint" | "bigint" | "tinyint"
            | "mediumint" | "serial" | "serial2" | "serial4" | "serial8" | "smallserial"
            | "bigserial" | "oid" | "year" => Logical::Integer,
            "real" | "float" | "float4" | "float8" | "double" => Logical::Real,
            "numeric" | "decimal" | "dec" | "fixed" | "number" => {
                // Fits an i64 exactly only without decimals and ≤ 18 digits.
                let mut p = params.split(',').map(|s| s.trim().parse::<u32>().ok());
                match (p.next().flatten(), p.next().flatten()) {
                    (Some(prec), None | Some(0)) if prec <= 18 => Logical::Integer,
                    _ => Logical::Numeric,
                }
            }
            "money" => Logical::Numeric,
            "json" | "jsonb" => Logical::Json,
            "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary"
            | "raw" | "image" => Logical::Bytes,
            "datetime" | "timestamp" | "timestamptz" => Logical::Timestamp,
            // BIT comes as a number, or as text/bytes when it does not fit.
            "bit" => Logical::Any,
            _ if joined.starts_with("double precision") => Logical::Real,
            _ if joined.starts_with("long raw") => Logical::Bytes,
            _ => Logical::Text,
        }
    }

    /// From a SQLite declared type: its own affinity rules.
    pub fn of_sqlite_decl(type_name: &str) -> Logical {
        Logical::Affinity(sqlite_affinity(&type_name.trim().to_ascii_lowercase()))
    }
}

/// Precision and scale of a `numeric(p, s)` / `decimal(p)` type name, when
/// declared (`numeric` alone has none). For sinks that need them up front
/// (Parquet decimals, the text form of a SQLite column kept as text).
pub fn decimal_params(type_name: &str) -> Option<(u32, u32)> {
    let t = type_name.trim().to_ascii_lowercase();
    let (base, params) = split_params(&t);
    let head = base.split_whitespace().next().unwrap_or("");
    // MySQL's bigint unsigned: up to 18446744073709551615.
    if head == "bigint" && base.contains("unsigned") {
        return Some((20, 0));
    }
    if !matches!(head, "numeric" | "decimal" | "dec" | "fixed" | "number") {
        return None;
    }
    let mut p = params.split(',').map(|s| s.trim().parse::<u32>().ok());
    match (p.next().flatten(), p.next()) {
        (Some(prec), None) => Some((prec, 0)),
        (Some(prec), Some(Some(scale))) if scale <= prec => Some((prec, scale)),
        _ => None,
    }
}

/// What a date/time column holds, for formats with distinct types for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    Date,
    /// A wall-clock timestamp, no zone.
    Timestamp,
    /// An instant (`timestamptz`, `datetimeoffset`): values carry an offset.
    TimestampTz,
}

/// From the engine's type name; `None` for anything else (time of day,
/// intervals and MySQL `timestamp`, which is sent without its zone, are
/// not instants with an offset).
pub fn temporal(type_name: &str) -> Option<Temporal> {
    let t = type_name.trim().to_ascii_lowercase();
    let (base, _) = split_params(&t);
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    match base.as_str() {
        "date" => Some(Temporal::Date),
        "timestamptz" | "timestamp with time zone" | "datetimeoffset" => {
            Some(Temporal::TimestampTz)
        }
        "timestamp"
        | "timestamp without time zone"
        | "datetime"
        | "datetime2"
        | "smalldatetime" => Some(Temporal::Timestamp),
        _ => None,
    }
}

/// `numeric(10, 2) unsigned` → ("numeric unsigned", "10, 2").
fn split_params(t: &str) -> (String, String) {
    let mut base = String::with_capacity(t.len());
    let mut params = String::new();
    let mut depth = 0u32;
    for ch in t.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth > 0 => params.push(ch),
            _ => base.push(ch),
        }
    }
    (base, params)
}

/// SQLite's own affinity rules (section 3.1 of its datatype documentation),
/// as the keyword to declare so the dataset column behaves the same.
fn sqlite_affinity(t: &str) -> &'static str {
    let u = t.to_ascii_uppercase();
    if u.contains("INT") {
        "INTEGER"
    } else if u.contains("CHAR") || u.contains("CLOB") || u.contains("TEXT") {
        "TEXT"
    } else if u.is_empty() {
        ""
    } else if u.contains("BLOB") {
        "BLOB"
    } else if u.contains("REAL") || u.contains("FLOA") || u.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_common_types() {
        use Logical::*;
        let pg = |t| Logical::of_sql_type(t, false);
        let my = |t| Logical::of_sql_type(t, true);
        assert_eq!(pg("int4"), Integer);
        assert_eq!(pg("bigint"), Integer);
        assert_eq!(pg("interval"), Text);
        assert_eq!(pg("point"), Text);
        assert_eq!(pg("double precision"), Real);
        assert_eq!(pg("numeric"), Numeric);
        assert_eq!(pg("numeric(10,2)"), Numeric);
        assert_eq!(pg("numeric(12,0)"), Integer);
        assert_eq!(pg("numeric(30)"), Numeric);
        assert_eq!(pg("timestamp with time zone"), Timestamp);
        assert_eq!(pg("timestamptz"), Timestamp);
        assert_eq!(pg("jsonb"), Json);
        assert_eq!(pg("bytea"), Bytes);
        assert_eq!(pg("boolean"), Bool);
        assert_eq!(pg("integer[]"), Text);
        assert_eq!(pg("_int4"), Text);
        assert_eq!(pg(""), Any);
        assert_eq!(my("BIGINT UNSIGNED"), Numeric);
        assert_eq!(my("int(10) unsigned"), Integer);
        assert_eq!(my("SERIAL"), Numeric);
        assert_eq!(my("DATETIME(6)"), Timestamp);
        assert_eq!(my("LONGBLOB"), Bytes);
        assert_eq!(my("decimal(65,30)"), Numeric);
        let lite = Logical::of_sqlite_decl;
        assert_eq!(lite("VARCHAR(10)"), Affinity("TEXT"));
        assert_eq!(lite("BIGINT"), Affinity("INTEGER"));
        assert_eq!(lite("DECIMAL(10,2)"), Affinity("NUMERIC"));
        assert_eq!(lite(""), Affinity(""));
        assert_eq!(lite("DOUBLE"), Affinity("REAL"));
    }

    #[test]
    fn decimal_and_temporal_params() {
        assert_eq!(decimal_params("numeric(10,2)"), Some((10, 2)));
        assert_eq!(decimal_params("DECIMAL(30, 10)"), Some((30, 10)));
        assert_eq!(decimal_params("decimal(12)"), Some((12, 0)));
        assert_eq!(decimal_params("numeric"), None);
        assert_eq!(decimal_params("bigint unsigned"), Some((20, 0)));
        assert_eq!(decimal_params("bigint"), None);
        assert_eq!(decimal_params("varchar(10)"), None);
        assert_eq!(
            temporal("timestamp with time zone"),
            Some(Temporal::TimestampTz)
        );
        assert_eq!(temporal("timestamptz"), Some(Temporal::TimestampTz));
        assert_eq!(temporal("DATETIME(6)"), Some(Temporal::Timestamp));
        assert_eq!(
            temporal("timestamp(3) without time zone"),
            Some(Temporal::Timestamp)
        );
        assert_eq!(temporal("date"), Some(Temporal::Date));
        assert_eq!(temporal("time"), None);
        assert_eq!(temporal("interval"), None);
    }
}
