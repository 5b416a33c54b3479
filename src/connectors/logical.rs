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
}
