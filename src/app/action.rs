//! Everything the app reacts to: terminal input and the results of effects.

use std::time::Instant;

use crossterm::event::KeyEvent;

use crate::connectors::{ConnError, RowSet, ServerInfo, TableInfo, TableRef};
use crate::store::SavedConnection;

use super::state::{Pending, TableKey, TaskId};

pub enum Action {
    Key(KeyEvent),
    /// Bracketed paste.
    Paste(String),
    /// Periodic: spinner, elapsed times, "3m ago", debounced loads.
    Tick {
        now: Instant,
        now_unix: i64,
    },
    /// The terminal's size in columns and rows (also sent once at start).
    Resize {
        width: u16,
        height: u16,
    },
    /// The connection list (re)loaded; `select` highlights that name.
    ConnectionsLoaded {
        result: Result<Vec<SavedConnection>, String>,
        select: Option<String>,
    },
    /// A test finished (or was cancelled: `ErrorKind::Cancelled`).
    /// The hops of a form test, sent just before its `TestDone`.
    TestStages {
        task: TaskId,
        line: String,
    },
    TestDone {
        task: TaskId,
        /// The saved connection tested, `None` for a test of the form.
        name: Option<String>,
        result: Result<ServerInfo, ConnError>,
    },
    /// The profile refused to start a test (lockout guard, in flight…).
    TestRefused {
        task: TaskId,
        name: Option<String>,
        message: String,
        lockout: bool,
    },
    /// An operation needs the vault: ask for the passphrase (or create it).
    NeedsUnlock {
        initialised: bool,
        pending: Pending,
    },
    /// The connection asks for its password every time: prompt for it.
    NeedsPassword {
        pending: Pending,
    },
    Saved(Result<SavedConnection, String>),
    Deleted(Result<String, String>),
    /// Result of the background unlock from `--identity` /
    /// VARLOR_PASSPHRASE_FILE started after the first frame.
    EnvUnlocked(Result<(), String>),
    /// SIGTERM (143) or SIGHUP (129): quit with this exit status.
    Terminate(i32),
    /// The vault was locked (how many identities the agent forgot).
    Locked(Result<usize, String>),
    /// Result of an unlock or vault creation; `Err` is shown on the prompt.
    Unlocked(Result<(), String>),
    /// The browser's connector exists and the tables are listed.
    TablesLoaded {
        task: TaskId,
        conn: String,
        result: Result<Vec<TableRef>, ConnError>,
    },
    /// Opening failed before any connector call (unknown name, password…).
    BrowserFailed {
        task: TaskId,
        message: String,
    },
    Described {
        conn: String,
        table: TableKey,
        result: Result<TableInfo, ConnError>,
        at: Instant,
    },
    Counted {
        task: TaskId,
        conn: String,
        table: TableKey,
        result: Result<u64, ConnError>,
    },
    ImportEvent {
        task: TaskId,
        event: crate::dataset::ImportEvent,
    },
    ImportDone {
        task: TaskId,
        summary: Box<crate::dataset::ImportSummary>,
    },
    Previewed {
        task: TaskId,
        table: TableKey,
        result: Result<RowSet, ConnError>,
    },
    /// What discovery found (rows and notes), for the import-found dialog.
    Discovered(Result<(Vec<super::discover::DiscoverRow>, Vec<String>), String>),
    /// The chosen found connections were saved (their names).
    FoundImported(Result<Vec<String>, String>),
    /// A page of a typed query (the first one carries the columns).
    QueryPage {
        task: TaskId,
        result: Result<QueryPage, ConnError>,
    },
    /// What the login of `conn` may do (the query pane's badge).
    LoginWrites {
        conn: String,
        result: Result<crate::connectors::query::LoginWrites, ConnError>,
    },
    /// ssh asks something (through `app::ssh_prompt::TuiPrompter`); the
    /// tunnel waits until `Effect::SshAnswer { id, .. }`.
    SshQuestion {
        id: u64,
        question: crate::ssh::askpass::Question,
    },
    /// ssh tells something that needs no answer (touch the hardware key).
    SshNotice {
        text: String,
    },
    /// Nobody answered question `id` in time: it was refused.
    SshQuestionExpired {
        id: u64,
    },
    /// The statements run earlier on `conn`, newest first (from the catalog).
    QueryHistory {
        conn: String,
        result: Result<Vec<String>, String>,
    },
}

/// Rows fetched by one `Effect::QueryRun` / `Effect::QueryMore`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPage {
    /// Set on the first page only.
    pub columns: Option<Vec<crate::connectors::ColumnMeta>>,
    pub rows: Vec<Vec<crate::connectors::Cell>>,
    /// No more rows will come.
    pub done: bool,
    /// How long this fetch took (the first: from sending the query).
    pub elapsed: std::time::Duration,
}
