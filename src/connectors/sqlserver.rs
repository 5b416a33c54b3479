//! sqlserver: not available in this build yet (see Kind::availability); its issue brings the connector.
