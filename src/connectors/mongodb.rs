//! mongodb: not available in this build yet; its issue brings the connector.

use super::engine::{Capabilities, Engine, FilterLanguage, StructureSource};
use super::spec::parse_network_url;
use super::{Field, Kind};

pub const ENGINE: Engine = Engine {
    kind: Kind::Mongodb,
    id: "mongodb",
    display_name: "MongoDB",
    default_port: Some(27017),
    fields: &[
        Field::Host,
        Field::Port,
        Field::Database,
        Field::User,
        Field::Password,
        Field::AuthSource,
        Field::TlsMode,
        Field::CaFile,
    ],
    url_schemes: &["mongodb", "mongodb+srv"],
    parse_url: parse_network_url,
    has_password: true,
    file_based: false,
    user_required: false,
    dialect: None,
    capabilities: Capabilities {
        filter: FilterLanguage::Document,
        structure: StructureSource::Sampled,
        exact_count: true,
        read_only: "only read commands are sent",
    },
    open: Err("MongoDB support is not available in this build yet"),
};
