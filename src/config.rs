//! `config.toml` (see config.example.toml). Every key is optional; a bad file
//! is an error naming the key, never a silent default.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// The largest structure sample (`sample_documents`, `--sample`).
pub const MAX_SAMPLE: u32 = 100_000;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seconds to wait for a server to answer a connect (default 30).
    pub connect_timeout_secs: u64,
    /// Statement timeout of browsing sessions, seconds (default 15).
    pub statement_timeout_secs: u64,
    /// Rows shown by a preview (default 10).
    pub preview_rows: usize,
    /// Show system schemas in the table browser by default.
    pub show_system_schemas: bool,
    /// Log level for the log file in the state dir: error, warn, info, debug.
    pub log_level: String,
    /// Structure cache lifetime, seconds (default 300).
    pub structure_cache_secs: u64,
    /// Rows per page of a typed query in the query pane (default 500).
    pub query_page_rows: usize,
    /// Documents sampled to infer a MongoDB collection's structure (default
    /// 1,000; `varlor describe --sample N` overrides it).
    pub sample_documents: u32,
    /// The agent forgets every identity and exits after this many idle
    /// seconds (default 900); 0 = never start or use an agent.
    pub agent_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect_timeout_secs: 30,
            statement_timeout_secs: 15,
            preview_rows: 10,
            query_page_rows: crate::connectors::DEFAULT_PAGE_ROWS,
            sample_documents: crate::connectors::DEFAULT_SAMPLE,
            show_system_schemas: false,
            log_level: "info".into(),
            structure_cache_secs: 300,
            agent_timeout_secs: 900,
        }
    }
}

impl Config {
    /// Loads `path`; a missing file is the default config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
        if c.query_page_rows == 0 || c.query_page_rows > 100_000 {
            return Err("query_page_rows must be between 1 and 100000".into());
        }
        if !(1..=MAX_SAMPLE).contains(&c.sample_documents) {
            return Err(format!(
                "sample_documents must be between 1 and {MAX_SAMPLE}"
            ));
        }
        if c.preview_rows == 0 || c.preview_rows > 10_000 {
            return Err("preview_rows must be between 1 and 10000".into());
        }
        if c.connect_timeout_secs == 0 || c.statement_timeout_secs == 0 {
            return Err("timeouts must be at least 1 second".into());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structure_sample_is_bounded() {
        assert_eq!(Config::parse("").unwrap().sample_documents, 1000);
        assert_eq!(
            Config::parse("sample_documents = 250")
                .unwrap()
                .sample_documents,
            250
        );
        for bad in ["sample_documents = 0", "sample_documents = 100001"] {
            let e = Config::parse(bad).unwrap_err();
            assert!(
                e.contains("sample_documents must be between 1 and 100000"),
                "{e}"
            );
        }
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../config.example.toml");
        let c = Config::parse(text).expect("config.example.toml must parse");
        assert_eq!(c.preview_rows, 10);
        assert_eq!(c.agent_timeout_secs, Config::default().agent_timeout_secs);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse("preview_rowz = 3").unwrap_err();
        assert!(err.contains("preview_rowz"), "{err}");
    }
}
