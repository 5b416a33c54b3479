//! MySQL and MariaDB through mysql_async (rustls for TLS).

use async_trait::async_trait;
use secrecy::SecretString;

use super::{
    ConnError, ConnSpec, Connector, RowSet, RowSink, ServerInfo, SessionOptions, StreamOptions,
    TableInfo, TableRef,
};

pub struct MysqlConnector {
    spec: ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
}

impl MysqlConnector {
    pub fn new(spec: ConnSpec, password: Option<SecretString>, opts: SessionOptions) -> Self {
        MysqlConnector {
            spec,
            password,
            opts,
        }
    }
}

#[async_trait]
impl Connector for MysqlConnector {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        todo!()
    }
    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        todo!()
    }
    async fn describe(&self, _table: &TableRef) -> Result<TableInfo, ConnError> {
        todo!()
    }
    async fn count_rows(&self, _table: &TableRef) -> Result<u64, ConnError> {
        todo!()
    }
    async fn preview(&self, _table: &TableRef, _limit: usize) -> Result<RowSet, ConnError> {
        todo!()
    }
    async fn stream_rows(
        &self,
        _table: &TableRef,
        _opts: &StreamOptions,
        _sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        todo!()
    }
    async fn reset(&self) {}
}
