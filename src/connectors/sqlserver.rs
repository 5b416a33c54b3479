//! sqlserver: not available in this build yet; its issue brings the connector.

use super::engine::{Capabilities, Engine, SQL_CAPABILITIES};
use super::ident::Dialect;
use super::spec::parse_network_url;
use super::{Field, Kind};

pub const ENGINE: Engine = Engine {
    kind: Kind::Sqlserver,
    id: "sqlserver",
    display_name: "SQL Server",
    default_port: Some(1433),
    fields: &[
        Field::Host,
        Field::Port,
        Field::Database,
        Field::User,
        Field::Password,
        Field::TlsMode,
        Field::CaFile,
    ],
    url_schemes: &["sqlserver", "mssql"],
    parse_url: parse_network_url,
    has_password: true,
    file_based: false,
    user_required: true,
    dialect: Some(Dialect::Bracket),
    capabilities: Capabilities {
        read_only: "reads only; filters run in a transaction that is rolled back",
        ..SQL_CAPABILITIES
    },
    open: Err("SQL Server support is not available in this build yet"),
};
