//! What an engine is and can do, in one value per engine. Each engine's file
//! declares its `ENGINE`; `Kind::engine` is the one `match` that finds it.
//! The picker, the form, the CLI, URL parsing, imports and filters read the
//! descriptor instead of asking "is this SQLite?".
//!
//! Adding an engine: a `Kind` variant, a file with its `ENGINE` (fields,
//! schemes, URL parser, `open`), and its arm in `Kind::engine`.

use secrecy::SecretString;

use super::ident::Dialect;
use super::spec::SpecError;
use super::{ConnSpec, Connector, Field, Kind, SessionOptions, TableRef};

/// Builds a connector bound to a spec and its password.
pub type OpenFn = fn(&ConnSpec, Option<SecretString>, SessionOptions) -> Box<dyn Connector>;

/// Parses a pasted URL or connection string of this engine into a spec and
/// the password it carried (which the caller moves into the vault).
pub type ParseUrlFn = fn(&str, Kind) -> Result<(ConnSpec, Option<SecretString>), SpecError>;

/// The language of a per-table import filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterLanguage {
    /// A SQL condition without `WHERE`, run inside the read-only session.
    Sql,
    /// A JSON query document (MongoDB).
    Document,
}

/// Where a table's structure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructureSource {
    /// The engine declares columns and types.
    Declared,
    /// Inferred by sampling documents (fields may be present in only some).
    Sampled,
}

/// What the import dialog, `--where` and filter validation may assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub filter: FilterLanguage,
    pub structure: StructureSource,
    /// `count` gives an exact number on demand.
    pub exact_count: bool,
    /// How a browsing session is kept from writing, in words for a person.
    pub read_only: &'static str,
}

impl Capabilities {
    /// Checks a filter's language before it is sent: a document filter must be
    /// a JSON object. SQL conditions are checked by the server, inside the
    /// read-only session.
    pub fn check_filter(&self, text: &str) -> Result<(), String> {
        match self.filter {
            FilterLanguage::Sql => Ok(()),
            FilterLanguage::Document => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) if v.is_object() => Ok(()),
                _ => Err(format!("not a JSON query document; {}", self.filter_hint())),
            },
        }
    }

    /// Filter help for `--where` and the import dialog.
    pub fn filter_hint(&self) -> &'static str {
        match self.filter {
            FilterLanguage::Sql => "a SQL condition without WHERE, e.g. status = 'paid'",
            FilterLanguage::Document => "a JSON query document, e.g. {\"status\": \"paid\"}",
        }
    }
}

/// One engine's static description.
pub struct Engine {
    pub kind: Kind,
    /// Stable identifier stored in the catalog and used on the command line.
    pub id: &'static str,
    pub display_name: &'static str,
    pub default_port: Option<u16>,
    /// Form fields in display order.
    pub fields: &'static [Field],
    /// URL schemes accepted when a URL is pasted; the first is canonical.
    pub url_schemes: &'static [&'static str],
    pub parse_url: ParseUrlFn,
    /// Connections of this engine carry a password.
    pub has_password: bool,
    /// The database is a local file: a path instead of host and port.
    pub file_based: bool,
    /// A user name is required to connect.
    pub user_required: bool,
    /// How identifiers are quoted (SQL engines).
    pub dialect: Option<Dialect>,
    /// How a typed query asks for the first rows only.
    pub row_limit: RowLimit,
    pub capabilities: Capabilities,
    /// How the driver reaches an SSH tunnel (network engines).
    pub tunnel: TunnelEnd,
    /// The driver runs calls side by side on a pool of its own (MongoDB).
    /// Otherwise a browsing connection gets two sessions, one for structure
    /// and one for rows (`connectors::lanes`).
    pub concurrent: bool,
    /// How to open a connector, or why this build cannot.
    pub open: Result<OpenFn, &'static str>,
}

/// How an engine's driver reaches the Unix socket of an SSH tunnel
/// (`ssh::connector`); each way keeps TLS checked for the database's own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// The connector opens the socket itself (`spec::TUNNEL_SOCKET`) and
    /// runs TLS over it (PostgreSQL, SQL Server).
    Socket,
    /// The driver speaks SOCKS5 to a gate of this process that only lets
    /// this user through, to the database only (`spec::SOCKS5_PROXY`;
    /// MongoDB, whose driver takes neither a socket with TLS nor a TLS name).
    Socks5,
    /// The driver dials a loopback port: a gate of this process that only
    /// lets this user through (MySQL/MariaDB, Oracle: TCP only).
    Loopback,
}

/// How a query asks for its first `n` rows, in the engine's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLimit {
    /// `SELECT … LIMIT n` (PostgreSQL, MySQL, SQLite).
    Limit,
    /// `SELECT TOP (n) …` (SQL Server).
    Top,
    /// `SELECT … FETCH FIRST n ROWS ONLY` (Oracle 12c+, the SQL standard).
    FetchFirst,
}

impl RowLimit {
    /// `SELECT * FROM <from>` limited to `n` rows; `from` is already quoted.
    pub fn select_all(self, from: &str, n: u64) -> String {
        match self {
            RowLimit::Limit => format!("SELECT * FROM {from} LIMIT {n}"),
            RowLimit::Top => format!("SELECT TOP ({n}) * FROM {from}"),
            RowLimit::FetchFirst => format!("SELECT * FROM {from} FETCH FIRST {n} ROWS ONLY"),
        }
    }
}

/// What the query pane and `varlor query` take for this engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    /// One SQL statement, identifiers quoted in this dialect.
    Sql(Dialect),
    /// mongosh's read methods: `db.coll.find(…)…` and `db.coll.aggregate([…])`.
    Mongo,
}

impl QueryLanguage {
    /// The language's name for titles and messages.
    pub fn name(self) -> &'static str {
        match self {
            QueryLanguage::Sql(_) => "SQL",
            QueryLanguage::Mongo => "MongoDB",
        }
    }

    /// The text a new query pane starts with: a look at `table` when one is
    /// highlighted. `own_db` is the connection's database (MongoDB's `db`).
    /// `limit`: how the engine's SQL asks for its first rows.
    pub fn starter(
        self,
        table: Option<&TableRef>,
        own_db: Option<&str>,
        limit: RowLimit,
    ) -> String {
        match (self, table) {
            (QueryLanguage::Sql(d), Some(t)) => {
                limit.select_all(&super::ident::qualified(d, t), 100)
            }
            (QueryLanguage::Sql(_), None) => "SELECT ".into(),
            (QueryLanguage::Mongo, t) => super::mongodb::query::starter(t, own_db),
        }
    }
}

impl Engine {
    /// The query language, if the engine has one: SQL engines by their
    /// dialect, document engines (a JSON filter language) the MongoDB one.
    pub fn query_language(&self) -> Option<QueryLanguage> {
        match (self.dialect, self.capabilities.filter) {
            (Some(d), _) => Some(QueryLanguage::Sql(d)),
            (None, FilterLanguage::Document) => Some(QueryLanguage::Mongo),
            (None, FilterLanguage::Sql) => None,
        }
    }
}

/// The capabilities of the SQL engines that enforce read-only sessions.
pub const SQL_CAPABILITIES: Capabilities = Capabilities {
    filter: FilterLanguage::Sql,
    structure: StructureSource::Declared,
    exact_count: true,
    read_only: "read-only session",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_in_the_engine_language() {
        let sql = SQL_CAPABILITIES;
        assert!(sql.check_filter("status = 'paid'").is_ok());
        let doc = Kind::Mongodb.engine().capabilities;
        assert!(doc.check_filter(r#"{"status": "paid"}"#).is_ok());
        for bad in ["status = 'paid'", "[1]", "{oops", "\"x\""] {
            let e = doc.check_filter(bad).unwrap_err();
            assert!(e.contains("JSON query document"), "{e}");
        }
    }

    #[test]
    fn every_kind_has_its_own_descriptor() {
        for k in Kind::ALL {
            let e = k.engine();
            assert_eq!(e.kind, k);
            assert_eq!(Kind::parse(e.id), Some(k));
            assert!(e.url_schemes.iter().all(|s| Kind::parse(s) == Some(k)));
            assert_eq!(e.file_based, e.default_port.is_none());
            assert!(!e.fields.is_empty());
        }
    }
}
