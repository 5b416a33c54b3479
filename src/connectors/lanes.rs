//! Two sessions per open connection, so a slow preview never holds the
//! cheap structure query.
//!
//! Every engine's connector keeps one pooled session and runs its calls on
//! it one after another (PostgreSQL pipelines them on one socket and the
//! server answers in order; MySQL, SQLite and Oracle hold their session for
//! the whole call; SQL Server takes it out of its slot and opens a new one
//! for a call that finds it away). A preview of a slow view or a count of a
//! huge table would then hold the structure of the next table behind it.
//!
//! [`Lanes`] is two of the engine's own connectors built from the same spec,
//! password and options, so both sessions are opened the same way
//! (read-only, statement timeout, TLS, login checks): the *structure* lane
//! answers listings, structure, indexes and the login check; the *rows*
//! lane previews, counts, streams and runs typed queries. Each lane opens
//! its session lazily. CLI commands, whose calls never overlap, ask for one
//! session (`SessionOptions::two_sessions`).
//! Cancelling a call (dropping its future) reaches only its own lane's
//! session. Dropping `Lanes` drops both connectors and with them both
//! sessions. Behind SSH both lanes dial the same tunnel (`ssh::Tunnelled`
//! builds `Lanes` against its forward).
//!
//! An engine whose driver already runs calls side by side on a pool of its
//! own (`Engine::concurrent`, MongoDB) keeps its single connector.

use async_trait::async_trait;
use secrecy::SecretString;

use super::engine::OpenFn;
use super::query::{LoginWrites, QueryCursor};
use super::{
    Capabilities, ConnError, ConnSpec, Connector, RowSet, RowSink, ServerInfo, SessionOptions,
    StreamOptions, TableInfo, TableRef,
};

/// Builds the browsing connector of `spec` with its engine's `open`: one
/// connector when the engine's driver pools calls itself or the caller
/// asked for one session (`SessionOptions::two_sessions`, the CLI),
/// [`Lanes`] of two otherwise.
pub fn browsing(
    open: OpenFn,
    spec: &ConnSpec,
    password: Option<SecretString>,
    opts: SessionOptions,
) -> Box<dyn Connector> {
    if spec.kind.engine().concurrent || !opts.two_sessions {
        return open(spec, password, opts);
    }
    Box::new(Lanes {
        structure: open(spec, password.clone(), opts.clone()),
        rows: open(spec, password, opts),
    })
}

/// Two connectors of one connection: structure on one session, rows on the
/// other (see the module documentation).
pub struct Lanes {
    structure: Box<dyn Connector>,
    rows: Box<dyn Connector>,
}

impl Lanes {
    /// Lanes over two given connectors (tests build them from fakes).
    pub fn new(structure: Box<dyn Connector>, rows: Box<dyn Connector>) -> Lanes {
        Lanes { structure, rows }
    }
}

#[async_trait]
impl Connector for Lanes {
    async fn test(&self) -> Result<ServerInfo, ConnError> {
        self.structure.test().await
    }
    async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
        self.structure.list_tables().await
    }
    async fn list_table_names(&self) -> Result<Vec<TableRef>, ConnError> {
        self.structure.list_table_names().await
    }
    async fn describe(&self, table: &TableRef) -> Result<TableInfo, ConnError> {
        self.structure.describe(table).await
    }
    async fn indexes(&self, table: &TableRef) -> Result<Vec<String>, ConnError> {
        self.structure.indexes(table).await
    }
    async fn login_writes(&self) -> Result<LoginWrites, ConnError> {
        self.structure.login_writes().await
    }
    async fn count_rows(&self, table: &TableRef) -> Result<u64, ConnError> {
        self.rows.count_rows(table).await
    }
    async fn preview(&self, table: &TableRef, limit: usize) -> Result<RowSet, ConnError> {
        self.rows.preview(table, limit).await
    }
    async fn stream_rows(
        &self,
        table: &TableRef,
        opts: &StreamOptions,
        sink: &mut dyn RowSink,
    ) -> Result<u64, ConnError> {
        self.rows.stream_rows(table, opts, sink).await
    }
    async fn query(&self, sql: &str) -> Result<Box<dyn QueryCursor>, ConnError> {
        self.rows.query(sql).await
    }
    async fn reset(&self) {
        futures::join!(self.structure.reset(), self.rows.reset());
    }
    fn capabilities(&self) -> Capabilities {
        self.structure.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::connectors::{ErrorKind, Kind, TableKind};

    /// A connector whose every call is counted; `preview` and `count_rows`
    /// never finish (a slow view), the structure calls answer at once.
    #[derive(Default)]
    struct Fake {
        calls: AtomicUsize,
        resets: AtomicUsize,
    }

    struct Discard;

    impl RowSink for Discard {
        fn columns(&mut self, _: &[crate::connectors::ColumnMeta]) -> Result<(), ConnError> {
            Ok(())
        }
        fn row(&mut self, _: Vec<crate::connectors::Cell>) -> Result<(), ConnError> {
            Ok(())
        }
    }

    fn table() -> TableRef {
        TableRef {
            schema: None,
            name: "t".into(),
            kind: TableKind::Table,
            estimated_rows: None,
            system: false,
        }
    }

    fn info(t: &TableRef) -> TableInfo {
        TableInfo {
            table: t.clone(),
            columns: Vec::new(),
            estimated_rows: None,
            sampled: None,
            indexes: Vec::new(),
            validator: None,
        }
    }

    #[async_trait]
    impl Connector for Arc<Fake> {
        async fn test(&self) -> Result<ServerInfo, ConnError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Err(ConnError::new(ErrorKind::Other, "fake"))
        }
        async fn list_tables(&self) -> Result<Vec<TableRef>, ConnError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(vec![table()])
        }
        async fn describe(&self, t: &TableRef) -> Result<TableInfo, ConnError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(info(t))
        }
        async fn count_rows(&self, _t: &TableRef) -> Result<u64, ConnError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending().await
        }
        async fn preview(&self, _t: &TableRef, _limit: usize) -> Result<RowSet, ConnError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending().await
        }
        async fn stream_rows(
            &self,
            _t: &TableRef,
            _opts: &StreamOptions,
            _sink: &mut dyn RowSink,
        ) -> Result<u64, ConnError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(0)
        }
        async fn reset(&self) {
            self.resets.fetch_add(1, Ordering::SeqCst);
        }
        fn capabilities(&self) -> Capabilities {
            Kind::Postgres.engine().capabilities
        }
    }

    #[tokio::test]
    async fn structure_answers_while_a_preview_and_a_count_hang() {
        let (s, r) = (Arc::new(Fake::default()), Arc::new(Fake::default()));
        let lanes = Arc::new(Lanes::new(Box::new(s.clone()), Box::new(r.clone())));
        let t = table();
        let (l, tt) = (lanes.clone(), t.clone());
        let preview = tokio::spawn(async move { l.preview(&tt, 10).await });
        let (l, tt) = (lanes.clone(), t.clone());
        let count = tokio::spawn(async move { l.count_rows(&tt).await });
        // Both are running (hanging) on the rows lane before structure asks.
        while r.calls.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            (lanes.describe(&t).await, lanes.list_tables().await)
        })
        .await
        .expect("structure waited for the rows lane");
        assert_eq!(got.0.unwrap().table, t);
        assert_eq!(got.1.unwrap().len(), 1);
        assert!(!preview.is_finished() && !count.is_finished());
        // Each call went to its own lane only.
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
        assert_eq!(r.calls.load(Ordering::SeqCst), 2);
        lanes
            .stream_rows(&t, &StreamOptions::default(), &mut Discard)
            .await
            .unwrap();
        assert_eq!(r.calls.load(Ordering::SeqCst), 3);
        let _ = lanes.test().await;
        assert_eq!(s.calls.load(Ordering::SeqCst), 3);
        lanes.reset().await;
        assert_eq!(s.resets.load(Ordering::SeqCst), 1);
        assert_eq!(r.resets.load(Ordering::SeqCst), 1);
        preview.abort();
        count.abort();
    }

    /// On a real engine (SQLite: no server needed): with two sessions the
    /// structure answers while a count runs forever; with one (the CLI's
    /// choice) it waits behind it.
    #[tokio::test]
    async fn one_session_when_asked_two_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanes.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE small(id INTEGER PRIMARY KEY); \
                 CREATE VIEW endless AS WITH RECURSIVE n(i) AS \
                 (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n;",
            )
            .unwrap();
        let mut spec = ConnSpec::new(Kind::Sqlite);
        spec.database = path.display().to_string();
        let open = Kind::Sqlite.engine().open.unwrap();
        let small = TableRef {
            name: "small".into(),
            ..table()
        };
        let endless = TableRef {
            name: "endless".into(),
            kind: TableKind::View,
            ..table()
        };
        for two in [true, false] {
            let opts = SessionOptions {
                statement_timeout: Duration::from_secs(3600),
                two_sessions: two,
                ..Default::default()
            };
            let c: Arc<dyn Connector> = Arc::from(browsing(open, &spec, None, opts));
            c.describe(&small).await.unwrap();
            let (rows, t) = (c.clone(), endless.clone());
            let count = tokio::spawn(async move { rows.count_rows(&t).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!count.is_finished());
            let answered = tokio::time::timeout(Duration::from_secs(2), c.describe(&small))
                .await
                .is_ok();
            assert_eq!(answered, two, "two sessions: {two}");
            count.abort();
            let _ = count.await;
        }
    }
}
