//! rustls client configurations for the TLS modes, shared by the engines.
