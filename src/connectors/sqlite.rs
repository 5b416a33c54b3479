//! SQLite files through rusqlite (bundled); also the built-in demo.

use async_trait::async_trait;

use super::{
    ConnError, ConnSpec, Connector, RowSet, RowSink, ServerInfo, SessionOptions, StreamOptions,
    TableInfo, TableRef,
};

pub struct SqliteConnector {
    spec: ConnSpec,

    opts: SessionOptions,
}

impl SqliteConnector {
    pub fn new(spec: ConnSpec, opts: SessionOptions) -> Self {
        SqliteConnector { spec, opts }
    }
}

#[async_trait]
impl Connector for SqliteConnector {
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
