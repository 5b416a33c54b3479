//! The connector conformance suite: the behaviours every engine shares,
//! written once. Each engine's test file implements [`Harness`] (how to build
//! its connector, its fixture data, its admin hooks, what it legitimately
//! cannot do) and invokes [`conformance_tests!`](crate::conformance_tests)
//! once, which generates one named `#[tokio::test]` per case below
//! (`conformance::<case>`).
//!
//! A case an engine cannot run (SQLite has no network, TLS, password…) prints
//! `skipped: <engine> has no <capability>` and checks nothing; that is not a
//! missing server, so it never panics under `CI=true`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::SecretString;
use varlor::connectors::{
    connector_for, Cell, ConnError, ConnSpec, Connector, ErrorKind, SessionOptions, StreamOptions,
    TableInfo, TableKind, TableRef, TlsMode,
};

use super::{closed_port, hanging_listener, Collect};

/// Every case, in one list: the macro generates a test per name, for every
/// engine that invokes it. Add a case here and as a `pub async fn` below.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:ident) => {
        $crate::conformance_tests!(@cases $harness;
            closed_port_is_refused_quickly,
            silent_listener_times_out_at_the_configured_timeout,
            unknown_host_is_reported,
            verify_full_with_the_ca_succeeds_over_tls,
            verify_full_without_the_ca_is_not_trusted,
            bad_ca_file_is_a_config_error_naming_it,
            tls_only_user_without_tls_is_refused,
            wrong_password_is_invalid_credentials,
            unknown_database_is_database_not_found,
            lists_fixture_tables,
            every_fixture_table_previews,
            hostile_names_preview_their_own_rows,
            describe_marks_keys_types_and_defaults,
            counts_are_exact,
            dropping_a_count_cancels_it_on_the_server,
            browsing_session_is_read_only,
            slow_query_hits_the_statement_timeout,
            a_stream_is_not_cut_off_by_the_browsing_statement_timeout,
            session_is_reused_and_reconnects_after_the_server_drops_it,
            structure_answers_while_a_slow_preview_runs,
            stream_rows_honours_limit_and_filter,
            lists_ten_thousand_tables,
        );
    };
    (@cases $harness:ident; $($case:ident),* $(,)?) => {
        /// The shared connector conformance suite (tests/common/conformance.rs).
        mod conformance {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(h) = $harness() {
                        $crate::common::conformance::$case(&h).await;
                    }
                }
            )*
        }
    };
}

/// What an engine may legitimately lack; cases needing it are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Host and port: refused ports, silent listeners, unknown hosts.
    Network,
    /// TLS with certificate verification.
    Tls,
    /// A password checked by a server.
    Password,
    /// Server sessions an admin can list and kill.
    ServerSessions,
    /// A finite query that sleeps for seconds (to outlast a statement timeout).
    SleepingQuery,
    /// A SQL function that writes, callable from a browsing query.
    WritingFunction,
}

impl Cap {
    fn label(self) -> &'static str {
        match self {
            Cap::Network => "network",
            Cap::Tls => "TLS",
            Cap::Password => "password",
            Cap::ServerSessions => "server sessions to list and kill",
            Cap::SleepingQuery => "sleeping query",
            Cap::WritingFunction => "SQL function that writes",
        }
    }
}

/// What the first call after an admin killed the pooled session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterKill {
    /// The driver notices the dead session and reconnects on that call.
    Reconnects,
    /// That call fails with `ConnectionLost`; the next one reconnects.
    ReportsLost,
}

/// A table (or view) in the engine's fixture; `schema` is `None` for SQLite.
pub fn table(schema: Option<&str>, name: &str) -> TableRef {
    TableRef {
        schema: schema.map(Into::into),
        name: name.into(),
        kind: TableKind::Table,
        estimated_rows: None,
        system: false,
    }
}

pub fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

/// A table with a hostile name: what its preview must show.
pub struct Hostile {
    pub table: TableRef,
    /// (index, name) of columns.
    pub columns: Vec<(usize, &'static str)>,
    /// The exact number of rows, when checked.
    pub rows: Option<usize>,
    /// Whole rows that must be among the previewed ones.
    pub has_rows: Vec<Vec<Cell>>,
    /// (index, cell): some row has this cell at this index.
    pub has_cells: Vec<(usize, Cell)>,
}

/// What `describe` must say about one column; `None` fields are not checked.
#[derive(Default)]
pub struct Col {
    pub name: &'static str,
    pub data_type: Option<&'static str>,
    pub nullable: Option<bool>,
    pub primary_key: Option<bool>,
    pub default: Option<Option<&'static str>>,
    pub references: Option<Option<&'static str>>,
}

pub fn col(name: &'static str) -> Col {
    Col {
        name,
        ..Col::default()
    }
}

impl Col {
    pub fn ty(mut self, t: &'static str) -> Self {
        self.data_type = Some(t);
        self
    }
    pub fn nullable(mut self, n: bool) -> Self {
        self.nullable = Some(n);
        self
    }
    pub fn pk(mut self, pk: bool) -> Self {
        self.primary_key = Some(pk);
        self
    }
    pub fn default_is(mut self, d: Option<&'static str>) -> Self {
        self.default = Some(d);
        self
    }
    pub fn references(mut self, r: Option<&'static str>) -> Self {
        self.references = Some(r);
        self
    }
}

/// What `describe` must say about one table; `None` fields are not checked.
pub struct Described {
    pub table: TableRef,
    pub kind: Option<TableKind>,
    /// Every column name, in order.
    pub column_names: Option<Vec<&'static str>>,
    pub column_count: Option<usize>,
    /// The primary key columns, in table order.
    pub primary_key: Option<Vec<&'static str>>,
    pub estimated_rows: Option<Option<i64>>,
    /// Every column but the first is nullable.
    pub nullable_after_first: bool,
    pub columns: Vec<Col>,
}

impl Described {
    pub fn of(table: TableRef) -> Self {
        Described {
            table,
            kind: None,
            column_names: None,
            column_count: None,
            primary_key: None,
            estimated_rows: None,
            nullable_after_first: false,
            columns: Vec::new(),
        }
    }
}

/// One `stream_rows` call and what it must yield.
pub struct StreamCase {
    pub table: TableRef,
    pub limit: Option<u64>,
    pub filter: Option<&'static str>,
    pub rows: u64,
    /// (column name, cell): every streamed row has it.
    pub every: Option<(&'static str, Cell)>,
}

/// Tables made by [`Harness::create_tables`].
pub struct Bulk {
    pub schema: Option<String>,
    /// How many were made.
    pub count: usize,
    /// Every made table's name starts with it (and nothing else there does).
    pub prefix: String,
    /// One of the made tables, by name.
    pub probe: String,
}

/// The engine's fixture: what the shared cases expect to find.
pub struct Fixture {
    /// Tables and views `list_tables` must show (not flagged system).
    pub listed: Vec<(Option<&'static str>, &'static str, TableKind)>,
    /// A catalog table that must be listed and flagged system.
    pub system_table: (Option<&'static str>, &'static str),
    /// The fixture schemas: every non-system table in them previews.
    pub preview_schemas: Vec<Option<&'static str>>,
    /// Views not to preview there (slow, writing, session-bound).
    pub preview_skip: Vec<&'static str>,
    /// Fixture tables that are empty (all others have rows).
    pub may_be_empty: Vec<&'static str>,
    pub min_previewed: usize,
    pub hostile: Vec<Hostile>,
    /// A table whose rows hostile names must not touch, and its row count.
    pub untouched: (TableRef, u64),
    pub described: Vec<Described>,
    /// A table that does not exist.
    pub missing: TableRef,
    pub counts: Vec<(TableRef, u64)>,
    /// A small table (at least 2 rows) and its row count: "the session still works".
    pub small: (TableRef, u64),
    /// A view that runs past any statement timeout under 5 s.
    pub slow: TableRef,
    /// Previewing `slow` also runs into the timeout (not so for an endless
    /// recursive view, which a LIMIT stops).
    pub slow_previews: bool,
    /// Upper bound for a statement that hits a 1 s statement timeout.
    pub timeout_within: Duration,
    /// A finite stream that takes seconds, and its row count ([`Cap::SleepingQuery`]).
    pub slow_stream: Option<(TableRef, Option<&'static str>, u64)>,
    /// A view whose preview writes ([`Cap::WritingFunction`]).
    pub writing_view: Option<TableRef>,
    /// A table and a filter calling a function that writes ([`Cap::WritingFunction`]).
    pub write_filter: Option<(TableRef, &'static str)>,
    /// A table and a filter smuggling in a second statement that writes.
    pub smuggle: (TableRef, &'static str),
    /// The connector refuses a smuggled statement itself ("filter: …") before it runs.
    pub smuggle_refused_up_front: bool,
    /// What [`Harness::write_evidence`] says when nothing was ever written.
    pub pristine_evidence: Option<&'static str>,
    /// The full stream: table, rows, column count, (index, name), (index, type name).
    pub stream_all: (TableRef, u64, Option<usize>),
    pub stream_names: Vec<(usize, &'static str)>,
    pub stream_types: Vec<(usize, &'static str)>,
    pub streams: Vec<StreamCase>,
    pub after_kill: AfterKill,
}

/// One engine under test. Hooks a capability makes irrelevant keep their
/// default, which says so if it is ever reached.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The engine's spec against its test server or file; tests change the
    /// fields they are about.
    fn spec(&self) -> ConnSpec;
    /// The real password, if the engine has one.
    fn password(&self) -> Option<String>;
    fn has(&self, cap: Cap) -> bool;
    fn fixture(&self) -> Fixture;

    fn name(&self) -> &'static str {
        self.spec().kind.display_name()
    }
    /// The CA that signed the server certificate.
    fn ca(&self) -> Option<PathBuf> {
        None
    }
    /// Points `spec` at a database that does not exist.
    fn unknown_database(&self, spec: &mut ConnSpec) {
        spec.database = "no_such_db_varlor".into();
    }
    /// A user the server only admits over TLS, or why there is none.
    async fn tls_only_user(&self) -> Result<(String, String), String> {
        Err(format!("no TLS-only user for {}", self.name()))
    }
    /// The error for a TLS-only user who came without TLS.
    fn check_tls_only_refusal(&self, e: &ConnError) {
        assert_eq!(e.kind, ErrorKind::TlsRequired, "{}", e.full());
    }
    /// Engine-specific checks of a full listing (estimates, system schemas).
    fn check_listing(&self, _tables: &[TableRef]) {}
    /// As an admin: is the abandoned `COUNT(*)` of the fixture's slow view
    /// still running on the server? ([`Cap::ServerSessions`])
    async fn count_still_running(&self) -> bool {
        unreachable!("{} declares no server sessions", self.name())
    }
    /// The server's id of `c`'s pooled session ([`Cap::ServerSessions`]).
    async fn session_id(&self, _c: &dyn Connector) -> String {
        unreachable!("{} declares no server sessions", self.name())
    }
    /// As an admin, kills a server session; `Err(why)` when it cannot here.
    async fn kill_session(&self, _id: &str) -> Result<(), String> {
        unreachable!("{} declares no server sessions", self.name())
    }
    /// Seen from outside the browsing session: anything that would change
    /// if it wrote (a log table's row count, the file's bytes).
    async fn write_evidence(&self) -> String;
    /// Makes `n` empty tables, or says why it cannot here.
    async fn create_tables(&self, n: usize) -> Result<Bulk, String>;
    async fn drop_tables(&self, bulk: &Bulk);
    /// Engine-specific checks with `n` extra tables, gathered before they are
    /// dropped and asserted (by the returned closure) after.
    async fn many_tables_checks(
        &self,
        _c: &dyn Connector,
        _lists: &[Vec<TableRef>],
        _bulk: &Bulk,
    ) -> Box<dyn FnOnce() + Send> {
        Box::new(|| {})
    }
}

// ---- helpers ----------------------------------------------------------------

/// True (after printing the skip notice) when the engine lacks `cap`.
fn lacks(h: &impl Harness, cap: Cap) -> bool {
    if h.has(cap) {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {} has no {}",
        h.name(),
        cap.label()
    );
    true
}

/// A connector for `spec` with the real password.
fn connect(h: &impl Harness, spec: ConnSpec, opts: SessionOptions) -> Box<dyn Connector> {
    let password = h.password().map(SecretString::from);
    connector_for(&spec, password, opts).expect("engine available")
}

/// The browsing connector: the engine's spec, default session options.
fn browser(h: &impl Harness) -> Box<dyn Connector> {
    connect(h, h.spec(), SessionOptions::default())
}

fn with_timeout(h: &impl Harness, statement_timeout: Duration) -> Box<dyn Connector> {
    connect(
        h,
        h.spec(),
        SessionOptions {
            statement_timeout,
            read_only: true,
            ..Default::default()
        },
    )
}

/// The password (and any wrong one tried) never shows in what a person reads.
fn assert_no_secret(err: &ConnError, secrets: &[&str]) {
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!err.to_string().contains(s), "secret in Display: {err}");
        assert!(!err.detail.contains(s), "secret in detail: {}", err.detail);
        assert!(!err.full().contains(s), "secret in full text");
    }
}

fn real_password(h: &impl Harness) -> String {
    h.password().unwrap_or_default()
}

// ---- test(): connecting and its errors --------------------------------------

pub async fn closed_port_is_refused_quickly(h: &impl Harness) {
    if lacks(h, Cap::Network) {
        return;
    }
    let mut spec = h.spec();
    spec.port = Some(closed_port());
    let started = Instant::now();
    let err = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .expect_err("a closed port must fail");
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::ConnectionRefused, "{}", err.full());
    assert!(took < Duration::from_secs(5), "refused took {took:?}");
    assert_no_secret(&err, &[&real_password(h)]);
    println!("refused in {took:?}");
}

pub async fn silent_listener_times_out_at_the_configured_timeout(h: &impl Harness) {
    if lacks(h, Cap::Network) {
        return;
    }
    let mut spec = h.spec();
    spec.port = Some(hanging_listener());
    spec.connect_timeout_secs = 2;
    let started = Instant::now();
    let err = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .expect_err("a silent listener must fail");
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::ConnectionTimeout, "{}", err.full());
    assert!(
        took >= Duration::from_millis(1900),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "ignored the timeout: {took:?}"
    );
    assert_no_secret(&err, &[&real_password(h)]);
    println!("timed out after {took:?}");
}

pub async fn unknown_host_is_reported(h: &impl Harness) {
    if lacks(h, Cap::Network) {
        return;
    }
    let mut spec = h.spec();
    spec.host = "no-such-host.invalid".into();
    spec.connect_timeout_secs = 5;
    let err = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .expect_err("an unknown host must fail");
    assert_eq!(err.kind, ErrorKind::UnknownHost, "{}", err.full());
}

pub async fn verify_full_with_the_ca_succeeds_over_tls(h: &impl Harness) {
    if lacks(h, Cap::Tls) {
        return;
    }
    let Some(ca) = h.ca() else {
        super::skip(&format!("no CA file for the {} test server", h.name()));
        return;
    };
    let mut spec = h.spec();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = Some(ca);
    let info = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .unwrap_or_else(|e| panic!("verify-full with the CA: {}", e.full()));
    assert!(info.tls);
}

pub async fn verify_full_without_the_ca_is_not_trusted(h: &impl Harness) {
    if lacks(h, Cap::Tls) {
        return;
    }
    let mut spec = h.spec();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = None;
    let err = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .expect_err("an unknown CA must fail");
    assert_eq!(err.kind, ErrorKind::CertificateNotTrusted, "{}", err.full());
    // The person reads why, in the one line and its hint.
    assert_eq!(
        err.cert_reason(),
        Some(varlor::connectors::error::CertReason::UnknownCa),
        "{}",
        err.full()
    );
    assert!(err.headline().contains("unknown CA"), "{}", err.headline());
    assert_no_secret(&err, &[&real_password(h)]);
}

pub async fn bad_ca_file_is_a_config_error_naming_it(h: &impl Harness) {
    if lacks(h, Cap::Tls) {
        return;
    }
    let mut spec = h.spec();
    spec.tls = TlsMode::VerifyFull;
    spec.ca_file = Some("/nonexistent/varlor-ca.pem".into());
    let err = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .expect_err("a missing CA file must fail");
    assert_eq!(err.kind, ErrorKind::Config, "{}", err.full());
    assert!(
        err.detail.contains("/nonexistent/varlor-ca.pem"),
        "{}",
        err.detail
    );
}

pub async fn tls_only_user_without_tls_is_refused(h: &impl Harness) {
    if lacks(h, Cap::Tls) {
        return;
    }
    let (user, password) = match h.tls_only_user().await {
        Ok(u) => u,
        Err(why) => {
            super::skip(&why);
            return;
        }
    };
    let mut spec = h.spec();
    spec.user = user;
    spec.tls = TlsMode::Disable;
    let plain = connector_for(
        &spec,
        Some(SecretString::from(password.clone())),
        SessionOptions::default(),
    )
    .expect("engine available");
    let err = plain
        .test()
        .await
        .expect_err("a TLS-only user without TLS must fail");
    h.check_tls_only_refusal(&err);
    assert_no_secret(&err, &[&password]);
    // The same user over TLS gets in: it really was about TLS.
    spec.tls = TlsMode::Require;
    let info = connector_for(
        &spec,
        Some(SecretString::from(password)),
        SessionOptions::default(),
    )
    .expect("engine available")
    .test()
    .await
    .unwrap_or_else(|e| panic!("TLS-only user over TLS: {}", e.full()));
    assert!(info.tls);
}

pub async fn wrong_password_is_invalid_credentials(h: &impl Harness) {
    if lacks(h, Cap::Password) {
        return;
    }
    let wrong = "canary-Wr0ng-pa55word";
    let err = connector_for(
        &h.spec(),
        Some(SecretString::from(wrong)),
        SessionOptions::default(),
    )
    .expect("engine available")
    .test()
    .await
    .expect_err("a wrong password must fail");
    assert_eq!(err.kind, ErrorKind::InvalidCredentials, "{}", err.full());
    assert_no_secret(&err, &[wrong, &real_password(h)]);
}

pub async fn unknown_database_is_database_not_found(h: &impl Harness) {
    let mut spec = h.spec();
    h.unknown_database(&mut spec);
    let err = connect(h, spec, SessionOptions::default())
        .test()
        .await
        .expect_err("an unknown database must fail");
    assert_eq!(err.kind, ErrorKind::DatabaseNotFound, "{}", err.full());
    assert_no_secret(&err, &[&real_password(h)]);
}

// ---- browsing ---------------------------------------------------------------

pub async fn lists_fixture_tables(h: &impl Harness) {
    let fx = h.fixture();
    let started = Instant::now();
    let tables = browser(h).list_tables().await.expect("list");
    println!("listed {} tables in {:?}", tables.len(), started.elapsed());
    let find = |schema: Option<&str>, name: &str| {
        tables
            .iter()
            .find(|t| t.schema.as_deref() == schema && t.name == name)
            .unwrap_or_else(|| panic!("{schema:?}.{name} not listed"))
    };
    for (schema, name, kind) in &fx.listed {
        let t = find(*schema, name);
        assert_eq!(t.kind, *kind, "{schema:?}.{name}");
        assert!(!t.system, "{schema:?}.{name}");
    }
    let (schema, name) = fx.system_table;
    assert!(find(schema, name).system, "{schema:?}.{name}");
    h.check_listing(&tables);
}

pub async fn every_fixture_table_previews(h: &impl Harness) {
    let fx = h.fixture();
    let c = browser(h);
    let tables = c.list_tables().await.expect("list");
    let mut previewed = 0;
    // The fixture schemas only: other tests and benchmarks add empty tables.
    for t in tables.iter().filter(|t| {
        !t.system
            && !fx.preview_skip.iter().any(|s| *s == t.name)
            && fx.preview_schemas.contains(&t.schema.as_deref())
    }) {
        let rs = c
            .preview(t, 10)
            .await
            .unwrap_or_else(|e| panic!("{}: {}", t.display_name(), e.full()));
        assert!(!rs.columns.is_empty(), "{}", t.display_name());
        assert!(rs.rows.len() <= 10);
        if !fx.may_be_empty.iter().any(|s| *s == t.name) {
            assert!(!rs.rows.is_empty(), "{} has data", t.display_name());
        }
        assert!(rs.rows.iter().all(|r| r.len() == rs.columns.len()));
        previewed += 1;
    }
    assert!(previewed >= fx.min_previewed, "only {previewed} previewed");
}

pub async fn hostile_names_preview_their_own_rows(h: &impl Harness) {
    let fx = h.fixture();
    let c = browser(h);
    for case in &fx.hostile {
        let name = case.table.display_name();
        let rs = c
            .preview(&case.table, 10)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", e.full()));
        for (i, col) in &case.columns {
            assert_eq!(rs.columns[*i].name, *col, "{name}");
        }
        if let Some(n) = case.rows {
            assert_eq!(rs.rows.len(), n, "{name}: {:?}", rs.rows);
        }
        for row in &case.has_rows {
            assert!(
                rs.rows.contains(row),
                "{name}: {row:?} not in {:?}",
                rs.rows
            );
        }
        for (i, cell) in &case.has_cells {
            assert!(
                rs.rows.iter().any(|r| &r[*i] == cell),
                "{name}: no {cell:?} in column {i}: {:?}",
                rs.rows
            );
        }
    }
    // Nothing in a name was executed: the sample table keeps its rows.
    let (untouched, n) = &fx.untouched;
    assert_eq!(c.count_rows(untouched).await.unwrap(), *n);
}

fn check_described(d: &Described, info: &TableInfo) {
    let name = d.table.display_name();
    if let Some(kind) = d.kind {
        assert_eq!(info.table.kind, kind, "{name}");
    }
    if let Some(names) = &d.column_names {
        let got: Vec<_> = info.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&got, names, "{name}");
    }
    if let Some(n) = d.column_count {
        assert_eq!(info.columns.len(), n, "{name}");
    }
    if let Some(pk) = &d.primary_key {
        let got: Vec<_> = info
            .columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(&got, pk, "{name}");
    }
    if let Some(est) = d.estimated_rows {
        assert_eq!(info.estimated_rows, est, "{name}");
    }
    if d.nullable_after_first {
        assert!(info.columns.iter().skip(1).all(|c| c.nullable), "{name}");
    }
    for want in &d.columns {
        let got = info
            .columns
            .iter()
            .find(|c| c.name == want.name)
            .unwrap_or_else(|| panic!("{name}: no column {}", want.name));
        let at = format!("{name}.{}", want.name);
        if let Some(t) = want.data_type {
            assert_eq!(got.data_type, t, "{at}");
        }
        if let Some(n) = want.nullable {
            assert_eq!(got.nullable, n, "{at} nullable");
        }
        if let Some(pk) = want.primary_key {
            assert_eq!(got.primary_key, pk, "{at} primary key");
        }
        if let Some(d) = want.default {
            assert_eq!(got.default.as_deref(), d, "{at} default");
        }
        if let Some(r) = want.references {
            assert_eq!(got.references.as_deref(), r, "{at} references");
        }
    }
}

pub async fn describe_marks_keys_types_and_defaults(h: &impl Harness) {
    let fx = h.fixture();
    let c = browser(h);
    for d in &fx.described {
        let info = c
            .describe(&d.table)
            .await
            .unwrap_or_else(|e| panic!("{}: {}", d.table.display_name(), e.full()));
        check_described(d, &info);
    }
    let err = c.describe(&fx.missing).await.expect_err("missing table");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.full());
}

pub async fn counts_are_exact(h: &impl Harness) {
    let fx = h.fixture();
    let c = browser(h);
    for (t, n) in &fx.counts {
        assert_eq!(c.count_rows(t).await.unwrap(), *n, "{}", t.display_name());
    }
    let err = c.count_rows(&fx.missing).await.expect_err("missing table");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.full());
    // A non-fatal error keeps the session usable.
    for (t, n) in &fx.counts {
        assert_eq!(c.count_rows(t).await.unwrap(), *n, "{}", t.display_name());
    }
}

pub async fn dropping_a_count_cancels_it_on_the_server(h: &impl Harness) {
    let fx = h.fixture();
    // No statement timeout to speak of: only the cancel can stop it.
    let c = with_timeout(h, Duration::from_secs(3600));
    let gave_up = tokio::time::timeout(Duration::from_millis(800), c.count_rows(&fx.slow)).await;
    assert!(gave_up.is_err(), "the count should still be running");
    if h.has(Cap::ServerSessions) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.count_still_running().await {
            assert!(
                Instant::now() < deadline,
                "the server still runs the abandoned count"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "{} has no server sessions to list: the next call proves the interrupt landed",
            h.name()
        );
    }
    // The session is free and usable again.
    let (small, n) = &fx.small;
    let got = tokio::time::timeout(Duration::from_secs(30), c.count_rows(small))
        .await
        .expect("the abandoned count still holds the session")
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(got, *n);
}

pub async fn browsing_session_is_read_only(h: &impl Harness) {
    let fx = h.fixture();
    let before = h.write_evidence().await;
    let c = browser(h);
    let mut sink = Collect::default();
    if h.has(Cap::WritingFunction) {
        if let Some(view) = &fx.writing_view {
            // Previewing this view calls a function that INSERTs.
            let err = c.preview(view, 10).await.expect_err("a write must fail");
            assert_eq!(err.kind, ErrorKind::ReadOnly, "{}", err.full());
        }
        // A function that INSERTs, called from a user-typed filter.
        let (t, filter) = fx.write_filter.as_ref().expect("write_filter");
        let err = c
            .stream_rows(
                t,
                &StreamOptions {
                    limit: Some(1),
                    filter: Some((*filter).into()),
                },
                &mut sink,
            )
            .await
            .expect_err("a write must fail");
        assert_eq!(err.kind, ErrorKind::ReadOnly, "{}", err.full());
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "part skipped: {} has no {}",
            h.name(),
            Cap::WritingFunction.label()
        );
    }
    // A filter cannot smuggle in a second statement.
    let (t, filter) = &fx.smuggle;
    let err = c
        .stream_rows(
            t,
            &StreamOptions {
                limit: None,
                filter: Some((*filter).into()),
            },
            &mut sink,
        )
        .await
        .expect_err("a second statement must fail");
    assert_ne!(err.kind, ErrorKind::ConnectionLost, "{}", err.full());
    if fx.smuggle_refused_up_front {
        assert!(err.detail.starts_with("filter:"), "{}", err.full());
    }
    let after = h.write_evidence().await;
    assert_eq!(after, before, "a browsing session wrote");
    if let Some(pristine) = fx.pristine_evidence {
        assert_eq!(after, pristine, "a browsing session wrote");
    }
}

pub async fn slow_query_hits_the_statement_timeout(h: &impl Harness) {
    let fx = h.fixture();
    let c = with_timeout(h, Duration::from_secs(1));
    let started = Instant::now();
    let err = c.count_rows(&fx.slow).await.expect_err("must time out");
    assert_eq!(err.kind, ErrorKind::StatementTimeout, "{}", err.full());
    assert!(
        started.elapsed() < fx.timeout_within,
        "{:?}",
        started.elapsed()
    );
    if fx.slow_previews {
        let started = Instant::now();
        let err = c.preview(&fx.slow, 10).await.expect_err("must time out");
        assert_eq!(err.kind, ErrorKind::StatementTimeout, "{}", err.full());
        assert!(
            started.elapsed() < fx.timeout_within,
            "{:?}",
            started.elapsed()
        );
    }
    // The session survives its timeout.
    let (small, n) = &fx.small;
    assert_eq!(c.count_rows(small).await.unwrap(), *n);
    let rs = c.preview(small, 10).await.unwrap();
    assert_eq!(rs.rows.len() as u64, *n);
}

pub async fn a_stream_is_not_cut_off_by_the_browsing_statement_timeout(h: &impl Harness) {
    if lacks(h, Cap::SleepingQuery) {
        return;
    }
    let fx = h.fixture();
    let c = with_timeout(h, Duration::from_millis(500));
    // Seconds of sleeping against a 0.5 s timeout: an import must finish.
    let (t, filter, rows) = fx.slow_stream.as_ref().expect("slow_stream");
    let mut sink = Collect::default();
    let n = c
        .stream_rows(
            t,
            &StreamOptions {
                limit: None,
                filter: filter.map(Into::into),
            },
            &mut sink,
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(n, *rows);
    // Browsing keeps its timeout.
    let err = if fx.slow_previews {
        c.preview(&fx.slow, 10).await.expect_err("must time out")
    } else {
        c.count_rows(&fx.slow).await.expect_err("must time out")
    };
    assert_eq!(err.kind, ErrorKind::StatementTimeout, "{}", err.full());
}

pub async fn session_is_reused_and_reconnects_after_the_server_drops_it(h: &impl Harness) {
    if lacks(h, Cap::ServerSessions) {
        return;
    }
    let fx = h.fixture();
    let c = browser(h);
    let first = h.session_id(&*c).await;
    let again = h.session_id(&*c).await;
    assert_eq!(first, again, "one pooled session, reused");
    if let Err(why) = h.kill_session(&first).await {
        super::skip(&why);
        return;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (small, n) = &fx.small;
    if fx.after_kill == AfterKill::ReportsLost {
        let err = c
            .preview(small, 10)
            .await
            .expect_err("the session was killed");
        assert_eq!(err.kind, ErrorKind::ConnectionLost, "{}", err.full());
    }
    let rs = c
        .preview(small, 10)
        .await
        .unwrap_or_else(|e| panic!("reconnects: {}", e.full()));
    assert_eq!(rs.rows.len() as u64, *n);
    let after = h.session_id(&*c).await;
    assert_ne!(after, first);

    c.reset().await;
    assert_eq!(c.preview(small, 2).await.unwrap().rows.len(), 2);
    let reset = h.session_id(&*c).await;
    assert_ne!(reset, after, "reset drops the session");
}

/// A slow preview (a count where the engine's slow view previews at once)
/// must not hold the structure of another table on the same connector:
/// `describe` and the listing answer while it runs, and cancelling it
/// leaves both the structure and the rows working.
pub async fn structure_answers_while_a_slow_preview_runs(h: &impl Harness) {
    let fx = h.fixture();
    let (small, n) = fx.small.clone();
    // No statement timeout to speak of: only the cancel stops the slow call.
    let c: std::sync::Arc<dyn Connector> =
        std::sync::Arc::from(with_timeout(h, Duration::from_secs(3600)));
    // Both sessions open first: what is checked is waiting, not logging in.
    c.describe(&small)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    c.preview(&small, 1)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    let (what, slow_table, previews) = if fx.slow_previews {
        ("preview", fx.slow.clone(), true)
    } else {
        ("count", fx.slow.clone(), false)
    };
    let rows = c.clone();
    let slow = tokio::spawn(async move {
        if previews {
            rows.preview(&slow_table, 10).await.map(|_| ())
        } else {
            rows.count_rows(&slow_table).await.map(|_| ())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !slow.is_finished(),
        "the slow {what} should still be running"
    );
    let info = tokio::time::timeout(Duration::from_secs(60), c.describe(&small))
        .await
        .unwrap_or_else(|_| panic!("the structure waited for the slow {what}"))
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert!(!info.columns.is_empty(), "{}", small.display_name());
    let listed = tokio::time::timeout(Duration::from_secs(60), c.list_tables())
        .await
        .unwrap_or_else(|_| panic!("the listing waited for the slow {what}"))
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert!(listed.iter().any(|t| t.name == small.name));
    // Still running well after the structure came back: the structure
    // did not come in behind it (in order on one session, it would have).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !slow.is_finished(),
        "the slow {what} ended before the structure came back"
    );
    // Cancel it (moving on, Esc): the structure session is untouched and
    // the rows session serves the next table.
    slow.abort();
    assert!(slow.await.is_err_and(|e| e.is_cancelled()));
    let again = tokio::time::timeout(Duration::from_secs(30), c.describe(&small))
        .await
        .expect("the structure after the cancel")
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(again.columns, info.columns);
    let rs = tokio::time::timeout(Duration::from_secs(30), c.preview(&small, 10))
        .await
        .expect("the cancelled slow call still holds the rows session")
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(rs.rows.len() as u64, n);
}

pub async fn stream_rows_honours_limit_and_filter(h: &impl Harness) {
    let fx = h.fixture();
    let c = browser(h);
    let (all_table, all_rows, col_count) = &fx.stream_all;

    let mut all = Collect::default();
    let n = c
        .stream_rows(all_table, &StreamOptions::default(), &mut all)
        .await
        .unwrap_or_else(|e| panic!("{}", e.full()));
    assert_eq!(n, *all_rows);
    assert_eq!(all.rows.len() as u64, *all_rows);
    if let Some(k) = col_count {
        assert_eq!(all.cols.len(), *k);
    }
    for (i, name) in &fx.stream_names {
        assert_eq!(all.cols[*i].name, *name);
    }
    for (i, ty) in &fx.stream_types {
        assert_eq!(all.cols[*i].type_name, *ty);
    }

    for case in &fx.streams {
        let mut sink = Collect::default();
        let opts = StreamOptions {
            limit: case.limit,
            filter: case.filter.map(Into::into),
        };
        let n = c
            .stream_rows(&case.table, &opts, &mut sink)
            .await
            .unwrap_or_else(|e| panic!("{opts:?}: {}", e.full()));
        assert_eq!(
            (n, sink.rows.len() as u64),
            (case.rows, case.rows),
            "{opts:?}"
        );
        if let Some((name, cell)) = &case.every {
            let i = sink
                .cols
                .iter()
                .position(|c| c.name == *name)
                .unwrap_or_else(|| panic!("no column {name}"));
            assert!(sink.rows.iter().all(|r| &r[i] == cell), "{opts:?}");
        }
    }

    // A failing sink aborts the stream with its own error; the next call works.
    let mut sink = Collect {
        fail_after: Some(3),
        ..Default::default()
    };
    let err = c
        .stream_rows(all_table, &StreamOptions::default(), &mut sink)
        .await
        .expect_err("sink error");
    assert_eq!(err.detail, "sink full");
    assert_eq!(c.count_rows(all_table).await.unwrap(), *all_rows);
}

pub async fn lists_ten_thousand_tables(h: &impl Harness) {
    const N: usize = 10_000;
    let started = Instant::now();
    let bulk = match h.create_tables(N).await {
        Ok(b) => b,
        Err(why) => {
            super::skip(&why);
            return;
        }
    };
    println!("created {N} tables in {:?}", started.elapsed());
    let c = browser(h);
    let mut times = Vec::new();
    let mut lists = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let tables = c.list_tables().await;
        times.push(started.elapsed());
        match tables {
            Ok(t) => lists.push(t),
            Err(e) => {
                h.drop_tables(&bulk).await;
                panic!("list {N} tables: {}", e.full());
            }
        }
    }
    let extra = h.many_tables_checks(&*c, &lists, &bulk).await;
    // Clean up before asserting.
    h.drop_tables(&bulk).await;

    let tables = lists.last().expect("listed");
    let mine: Vec<_> = tables
        .iter()
        .filter(|t| t.schema == bulk.schema && t.name.starts_with(&bulk.prefix))
        .collect();
    assert_eq!(mine.len(), N);
    assert!(mine.iter().any(|t| t.name == bulk.probe), "{}", bulk.probe);
    extra();
    times.sort();
    let _ = writeln!(
        std::io::stderr(),
        "{}: list_tables with {N} extra tables: {} tables, median {:?} of {times:?}",
        h.name(),
        tables.len(),
        times[1]
    );
}
