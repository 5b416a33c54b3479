//! oracle: not available in this build yet; its issue brings the connector.

use super::engine::{Capabilities, Engine, SQL_CAPABILITIES};
use super::ident::Dialect;
use super::spec::parse_network_url;
use super::{Field, Kind};

pub const ENGINE: Engine = Engine {
    kind: Kind::Oracle,
    id: "oracle",
    display_name: "Oracle",
    default_port: Some(1521),
    fields: &[
        Field::Host,
        Field::Port,
        Field::ServiceName,
        Field::User,
        Field::Password,
    ],
    url_schemes: &["oracle"],
    parse_url: parse_network_url,
    has_password: true,
    file_based: false,
    user_required: true,
    dialect: Some(Dialect::Ansi),
    capabilities: Capabilities {
        read_only: "SET TRANSACTION READ ONLY",
        ..SQL_CAPABILITIES
    },
    open: Err("Oracle support is not available in this build yet"),
};
