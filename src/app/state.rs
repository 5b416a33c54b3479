//! Plain application data. Nothing here does I/O; `update` changes it and
//! the `ui` module draws it. Time is stored as values (`now_unix`, `elapsed`)
//! refreshed by ticks, so drawing is deterministic.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tui_textarea::TextArea;

use crate::connectors::{
    ConnError, ConnSpec, Environment, Field, Kind, RowSet, SpecError, TableInfo, TableRef, TlsMode,
};
use crate::store::SavedConnection;

/// Mask shown instead of password characters.
pub const MASK: char = '•';

/// Identifies one background task so its result (or its cancel) can be
/// matched; results for a task no longer awaited are ignored.
pub type TaskId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    List,
    Picker,
    Form,
    Browser,
    /// The query pane of the connection open in the browser.
    Query,
}

/// A background operation that shows a spinner and its elapsed time.
#[derive(Debug, Clone)]
pub struct Running {
    pub task: TaskId,
    pub started: Instant,
    pub elapsed: Duration,
}

impl Running {
    pub fn new(task: TaskId, now: Instant) -> Self {
        Running {
            task,
            started: now,
            elapsed: Duration::ZERO,
        }
    }
}

/// The answer of a connection test, in plain words.
#[derive(Debug, Clone, PartialEq)]
pub enum TestAnswer {
    Ok {
        version: String,
        latency_ms: u64,
        tls: bool,
    },
    Failed {
        message: String,
        hint: String,
        /// Sanitized driver detail, shown on request.
        detail: String,
    },
    /// Refused before running (lockout guard, in flight, locked…).
    Refused(String),
    Cancelled,
}

impl TestAnswer {
    /// A success as the catalog records it (`at`: Unix seconds); None otherwise.
    pub fn outcome(&self, at: i64) -> Option<crate::store::TestOutcome> {
        match self {
            TestAnswer::Ok {
                version,
                latency_ms,
                tls,
            } => Some(crate::store::TestOutcome {
                at,
                ok: true,
                status: "ok".into(),
                error: None,
                latency_ms: Some(*latency_ms),
                server_version: Some(version.clone()),
                tls: Some(*tls),
            }),
            _ => None,
        }
    }

    pub fn from_result(r: &Result<crate::connectors::ServerInfo, ConnError>) -> Self {
        match r {
            Ok(info) => TestAnswer::Ok {
                version: info.version.clone(),
                latency_ms: info.latency.as_millis() as u64,
                tls: info.tls,
            },
            Err(e) if e.kind == crate::connectors::ErrorKind::Cancelled => TestAnswer::Cancelled,
            Err(e) => TestAnswer::Failed {
                message: e.headline(),
                hint: e.hint().to_string(),
                detail: e.detail.clone(),
            },
        }
    }
}

/// Which field of the form an input is, including the ones every kind has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    Name,
    Url,
    Conn(Field),
    Environment,
}

impl FieldId {
    pub fn label(self) -> &'static str {
        match self {
            FieldId::Name => "Name",
            FieldId::Url => "URL",
            FieldId::Environment => "Environment",
            FieldId::Conn(f) => match f {
                Field::Host => "Host",
                Field::Port => "Port",
                Field::Database => "Database",
                Field::User => "User",
                Field::Password => "Password",
                Field::TlsMode => "TLS mode",
                Field::CaFile => "CA file",
                Field::Path => "File path",
                Field::AuthSource => "Auth source",
                Field::ServiceName => "Service name",
                Field::ConnectBy => "Connect by",
                Field::Driver => "Driver",
                Field::SshVia => "SSH via",
            },
        }
    }

    /// The name `SpecError::field` uses for this field.
    pub fn spec_name(self) -> &'static str {
        match self {
            FieldId::Name => "name",
            FieldId::Url => "url",
            FieldId::Environment => "environment",
            FieldId::Conn(f) => match f {
                Field::Host => "host",
                Field::Port => "port",
                Field::Database => "database",
                Field::User => "user",
                Field::Password => "password",
                Field::TlsMode => "tls",
                Field::CaFile => "ca_file",
                Field::Path => "path",
                Field::AuthSource => "auth_source",
                Field::ServiceName => "service_name",
                Field::ConnectBy => "connect_by",
                Field::Driver => "driver",
                Field::SshVia => "ssh",
            },
        }
    }

    /// Selectors cycle through fixed values instead of taking text.
    pub fn is_selector(self) -> bool {
        matches!(
            self,
            FieldId::Environment | FieldId::Conn(Field::TlsMode | Field::ConnectBy | Field::Driver)
        )
    }
}

pub struct FormField {
    pub id: FieldId,
    /// Single-line text input (unused for selectors).
    pub input: TextArea<'static>,
}

impl FormField {
    pub fn text(&self) -> String {
        self.input.lines().join("")
    }

    /// The password, and the URL (a pasted URL may carry one).
    pub fn holds_secret(&self) -> bool {
        matches!(self.id, FieldId::Url | FieldId::Conn(Field::Password))
    }
}

impl Drop for FormField {
    // Closing the form (Esc, Save, a kind switch) wipes what was typed.
    fn drop(&mut self) {
        if self.holds_secret() {
            wipe_input(&mut self.input);
        }
    }
}

/// Empties a text input that may hold a secret: the lines (which we own
/// once taken out) are zeroized, the yank buffer and undo history dropped.
/// Styling is reset too; callers that keep the input rebuild it.
pub fn wipe_input(t: &mut TextArea<'static>) {
    use zeroize::Zeroize;
    let mut y = t.yank_text();
    y.zeroize();
    t.set_yank_text(String::new());
    t.set_max_histories(0);
    for mut line in std::mem::take(t).into_lines() {
        line.zeroize();
    }
}

/// What the focus ring of the form can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormFocus {
    Field(usize),
    TestButton,
    SaveButton,
}

pub struct FormState {
    pub kind: Kind,
    /// The stored name when editing an existing connection.
    pub editing: Option<String>,
    /// Whether the edited connection has a stored secret.
    pub had_secret: bool,
    /// Explicit "clear the stored password" request.
    pub clear_password: bool,
    /// The spec being edited (keeps options and timeouts the form does not show).
    pub base: ConnSpec,
    /// The stored password source (kept when nothing about the password changes).
    pub source: crate::connectors::PasswordSource,
    pub fields: Vec<FormField>,
    pub focus: FormFocus,
    pub tls: TlsMode,
    pub environment: Environment,
    /// First validation error, naming its field.
    pub error: Option<SpecError>,
    pub test: Option<Running>,
    pub answer: Option<TestAnswer>,
    /// The hops of the last test, in one line ("SSH bastion ✓ 40 ms → …").
    pub stages: Option<String>,
    /// The answer still describes the fields as they are (nothing edited since).
    pub answer_fresh: bool,
    pub show_detail: bool,
    pub saving: bool,
    /// Error from the last save attempt.
    pub save_error: Option<String>,
    /// The spec as saved, when editing: a stored password belongs to its target.
    pub original: Option<ConnSpec>,
    /// The person's answer for a changed target: keep (true) or drop the
    /// stored password when saving with this target.
    pub secret_choice: Option<(crate::connectors::Target, bool)>,
    /// The person changed something, or pressed Test or Save: validation
    /// errors show from then on (not "a name is required" at first sight).
    pub touched: bool,
    /// What the form held when it opened (`update::form` fingerprint): Esc
    /// with changes asks before discarding them.
    pub pristine: u64,
}

impl FormState {
    pub fn field(&self, id: FieldId) -> Option<&FormField> {
        self.fields.iter().find(|f| f.id == id)
    }
    pub fn field_mut(&mut self, id: FieldId) -> Option<&mut FormField> {
        self.fields.iter_mut().find(|f| f.id == id)
    }
    pub fn text(&self, id: FieldId) -> String {
        self.field(id).map(|f| f.text()).unwrap_or_default()
    }
    pub fn focused_field(&self) -> Option<FieldId> {
        match self.focus {
            FormFocus::Field(i) => self.fields.get(i).map(|f| f.id),
            _ => None,
        }
    }
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

/// What to do once the vault is unlocked (or created).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    TestConnection { name: String },
    TestForm,
    SaveForm,
    OpenBrowser { name: String },
}

pub struct UnlockPrompt {
    /// First run: create the vault (passphrase twice).
    pub create: bool,
    /// Asking a connection's own password (it is never stored), not the passphrase.
    pub connection: Option<String>,
    pub input: TextArea<'static>,
    pub confirm: TextArea<'static>,
    pub focus_confirm: bool,
    pub error: Option<String>,
    pub busy: bool,
    pub pending: Pending,
}

impl Drop for UnlockPrompt {
    // However the prompt closes, the typed passphrase does not linger.
    fn drop(&mut self) {
        wipe_input(&mut self.input);
        wipe_input(&mut self.confirm);
    }
}

/// One of ssh's questions waiting for the person (unknown host key, key
/// passphrase, password), answered through `Effect::SshAnswer`.
pub struct SshPrompt {
    /// The prompter's id for this question.
    pub id: u64,
    /// ssh's own text (outside text: drawn through `display.rs`) and its kind.
    pub question: crate::ssh::askpass::Question,
    /// The answer being typed: masked for a secret, in the clear for yes/no.
    pub input: TextArea<'static>,
    pub error: Option<String>,
}

impl SshPrompt {
    pub fn secret(&self) -> bool {
        matches!(self.question, crate::ssh::askpass::Question::Secret(_))
    }
}

impl Drop for SshPrompt {
    // Answered, refused or expired: what was typed does not linger.
    fn drop(&mut self) {
        wipe_input(&mut self.input);
    }
}

/// Who gets a key, and what the status bar describes: the topmost overlay,
/// else the screen (with its filter, when one is being typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// ssh asks (above everything: a tunnel waits for the answer).
    SshPrompt,
    Unlock,
    Popup,
    Help,
    Confirm,
    ImportDialog,
    ImportProgress,
    Discover,
    ListFilter,
    List,
    Picker,
    Form,
    BrowserFilter,
    Browser,
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Delete(String),
    /// The lockout guard refused a test; testing again needs a yes.
    ForceTest(String),
    /// Saving an edit that sends the stored password somewhere new: keep it
    /// for the new target (y) or drop it (n)? Old and new target in words.
    KeepPassword {
        from: String,
        to: String,
    },
    /// Esc on a form with changes: discard them?
    DiscardForm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
}

/// A full-text popup (a preview cell, an error's detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popup {
    pub title: String,
    pub text: String,
}

/// Key of a table within one connection.
pub type TableKey = (Option<String>, String);

pub fn table_key(t: &TableRef) -> TableKey {
    (t.schema.clone(), t.name.clone())
}

#[derive(Debug, Clone)]
pub struct CachedStructure {
    pub info: TableInfo,
    pub loaded_at: Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CountState {
    Running(Running),
    Done(u64),
    Failed(String),
}

impl PartialEq for Running {
    fn eq(&self, other: &Self) -> bool {
        self.task == other.task
    }
}

/// What the app remembers per connection across opening and closing its browser.
#[derive(Debug, Clone, Default)]
pub struct ConnCache {
    pub structures: HashMap<TableKey, CachedStructure>,
    pub counts: HashMap<TableKey, CountState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserFocus {
    Tables,
    Structure,
    Preview,
}

#[derive(Debug, Clone)]
pub struct PreviewState {
    pub table: TableKey,
    pub loading: Option<Running>,
    pub rows: Option<RowSet>,
    pub error: Option<ConnError>,
    /// First visible column (horizontal scroll).
    pub col_offset: usize,
    pub row: usize,
    pub col: usize,
    /// The highlighted row shown whole as indented JSON instead of the grid.
    pub json: bool,
    /// First visible line of the JSON view.
    pub json_scroll: usize,
}

#[derive(Debug, Clone)]
pub struct BrowserState {
    pub conn: String,
    pub kind: Kind,
    pub environment: Environment,
    /// Connecting or listing tables.
    pub loading: Option<Running>,
    pub error: Option<ConnError>,
    pub tables: Vec<TableRef>,
    /// Indices into `tables` after the system toggle and the filter, grouped by schema.
    pub visible: Vec<usize>,
    pub selected: usize,
    pub show_system: bool,
    pub filter: String,
    pub filter_active: bool,
    /// The filter was opened again: its text is selected, typing replaces it.
    pub filter_selected: bool,
    /// Tables chosen with space (consumed by the import).
    pub chosen: BTreeSet<TableKey>,
    pub focus: BrowserFocus,
    pub structure_loading: Option<(TableKey, Running)>,
    pub structure_error: Option<ConnError>,
    pub preview: Option<PreviewState>,
    /// Highlight changed: load structure and preview on the next tick
    /// (so holding `j` does not fire a query per row).
    pub load_due: bool,
    pub structure_scroll: usize,
}

impl BrowserState {
    pub fn new(conn: String, kind: Kind, environment: Environment, show_system: bool) -> Self {
        BrowserState {
            conn,
            kind,
            environment,
            loading: None,
            error: None,
            tables: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            show_system,
            filter: String::new(),
            filter_active: false,
            filter_selected: false,
            chosen: BTreeSet::new(),
            focus: BrowserFocus::Tables,
            structure_loading: None,
            structure_error: None,
            preview: None,
            load_due: false,
            structure_scroll: 0,
        }
    }

    pub fn highlighted(&self) -> Option<&TableRef> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.tables.get(i))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFocus {
    Editor,
    Results,
}

/// The query pane: one typed statement of the open connection, run
/// read-only, its rows fetched a page at a time on demand.
pub struct QueryState {
    pub conn: String,
    pub editor: TextArea<'static>,
    pub focus: QueryFocus,
    /// The fetch in flight (the first page or a next one).
    pub running: Option<Running>,
    /// The task of the query whose cursor the runner holds.
    pub cursor_task: Option<TaskId>,
    /// Columns and rows so far; `elapsed` is the time to the first page.
    pub result: Option<RowSet>,
    /// Every row has arrived.
    pub done: bool,
    pub error: Option<ConnError>,
    /// When the running query started (for "elapsed").
    pub started: Option<Instant>,
    /// Total time of the last fetch that finished.
    pub elapsed: Duration,
    pub row: usize,
    pub col_offset: usize,
    /// Statements run on this connection, newest first (the catalog's
    /// history, then what was run since).
    pub history: Vec<String>,
    /// The entry shown by Ctrl-P / Ctrl-N (`None`: the person's own text).
    pub history_pos: Option<usize>,
    /// The text being typed before Ctrl-P walked the history.
    pub draft: String,
    /// Tab's choices for the word before the cursor, when there are several.
    pub completion: Option<Completion>,
    /// The statement of the last run (what `x` exports, run again).
    pub last_sql: Option<String>,
    /// `x` asked which format to export to.
    pub export_prompt: bool,
    /// What the login may do (the badge), once the server said.
    pub login: Option<crate::connectors::query::LoginWrites>,
}

/// The completion popup: candidates for the word at `row`, from char `start`
/// to the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub items: Vec<super::query_complete::Candidate>,
    pub selected: usize,
    pub row: usize,
    pub start: usize,
}

impl QueryState {
    pub fn new(conn: String, sql: &str) -> Self {
        let mut q = QueryState {
            conn,
            editor: TextArea::default(),
            focus: QueryFocus::Editor,
            running: None,
            cursor_task: None,
            result: None,
            done: false,
            error: None,
            started: None,
            elapsed: Duration::ZERO,
            row: 0,
            col_offset: 0,
            history: Vec::new(),
            history_pos: None,
            draft: String::new(),
            completion: None,
            last_sql: None,
            export_prompt: false,
            login: None,
        };
        q.set_sql(sql);
        q
    }

    /// Replaces the editor's text (cursor at its end).
    pub fn set_sql(&mut self, sql: &str) {
        let mut editor = TextArea::from(sql.lines().map(str::to_string).collect::<Vec<_>>());
        editor.move_cursor(tui_textarea::CursorMove::Bottom);
        editor.move_cursor(tui_textarea::CursorMove::End);
        self.editor = editor;
    }

    /// The editor's text.
    pub fn sql(&self) -> String {
        self.editor.lines().join("\n")
    }
}

/// The import dialog (issue 7): format, destination, optional row limit and
/// an optional `WHERE` filter per table.
pub struct ImportDialog {
    pub tables: Vec<TableRef>,
    pub format: crate::dataset::Format,
    /// Empty means the default `<data dir>/datasets/<connection>-<date>…`.
    pub destination: TextArea<'static>,
    pub limit: TextArea<'static>,
    /// One filter input per table (same order as `tables`); empty means all
    /// rows. The connector runs the text only inside its read-only session.
    pub filters: Vec<TextArea<'static>>,
    /// The table whose filter the `Where` field edits.
    pub current: usize,
    /// 0 format, 1 destination, 2 limit, 3 table, 4 where.
    pub focus: usize,
    pub error: Option<String>,
}

impl ImportDialog {
    /// Number of focusable rows.
    pub const FIELDS: usize = 5;

    /// The trimmed filter of table `i`, `None` when empty.
    pub fn filter(&self, i: usize) -> Option<String> {
        let text = self.filters.get(i)?.lines().join(" ");
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImportRowStatus {
    Waiting,
    Running,
    Done,
    Failed(String),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub table: String,
    pub rows: u64,
    pub estimated: Option<u64>,
    pub rows_per_sec: f64,
    pub eta: Option<Duration>,
    pub status: ImportRowStatus,
}

/// A running or finished import.
#[derive(Debug, Clone)]
pub struct ImportProgress {
    pub task: TaskId,
    pub conn: String,
    pub format: crate::dataset::Format,
    pub rows: Vec<ImportRow>,
    pub running: Option<Running>,
    /// Final one-line summary (outcome, rows, destination).
    pub finished: Option<String>,
    pub cancelling: bool,
}

pub struct State {
    pub profile_name: String,
    /// Connections found on this machine, to import (`i` on the list).
    pub discover: Option<super::discover::DiscoverDialog>,
    pub import_dialog: Option<ImportDialog>,
    pub import: Option<ImportProgress>,
    pub screen: Screen,
    pub connections: Vec<SavedConnection>,
    pub loaded: bool,
    pub load_error: Option<String>,
    /// Indices into `connections` matching the filter.
    pub visible: Vec<usize>,
    pub selected: usize,
    pub filter: String,
    pub filter_active: bool,
    /// The filter was opened again: its text is selected, typing replaces it.
    pub filter_selected: bool,
    pub picker: usize,
    pub form: Option<FormState>,
    /// Tests started from the list, by connection name.
    pub tests: HashMap<String, Running>,
    /// Answers of tests started from the list this run, by connection name.
    pub answers: HashMap<String, TestAnswer>,
    pub unlock: Option<UnlockPrompt>,
    /// ssh's questions, oldest first; the first one is on screen.
    pub ssh_prompts: std::collections::VecDeque<SshPrompt>,
    pub confirm: Option<Confirm>,
    pub help: bool,
    /// The first help line shown when the help does not fit.
    pub help_scroll: usize,
    /// The terminal's columns and rows (`Action::Resize`).
    pub screen_size: (u16, u16),
    pub popup: Option<Popup>,
    pub status: Option<Status>,
    pub browser: Option<BrowserState>,
    pub query: Option<QueryState>,
    /// Rows per page of a typed query.
    pub query_page_rows: usize,
    pub cache: HashMap<String, ConnCache>,
    /// Unix seconds, for "3m ago".
    pub now_unix: i64,
    pub now: Instant,
    pub spinner: usize,
    pub next_task: TaskId,
    pub quit: bool,
    /// The process exit status once `quit` is set: 0, or 130 after Ctrl-C
    /// (143/129 after SIGTERM/SIGHUP).
    pub exit_code: i32,
    /// `--identity` / VARLOR_PASSPHRASE_FILE is being unlocked in the background.
    pub unlocking: bool,
    pub no_color: bool,
    pub preview_rows: usize,
    pub structure_cache: Duration,
    pub show_system_default: bool,
    /// Text to put on the person's clipboard (OSC 52) after the next frame.
    pub clipboard: Option<String>,
}

impl State {
    /// The overlays present, topmost first (the order keys reach them; drawing
    /// goes the other way).
    pub fn overlays(&self) -> Vec<Layer> {
        let mut out = Vec::new();
        if !self.ssh_prompts.is_empty() {
            out.push(Layer::SshPrompt);
        }
        if self.unlock.is_some() {
            out.push(Layer::Unlock);
        }
        if self.popup.is_some() {
            out.push(Layer::Popup);
        }
        if self.help {
            out.push(Layer::Help);
        }
        if self.confirm.is_some() {
            out.push(Layer::Confirm);
        }
        if self.import_dialog.is_some() {
            out.push(Layer::ImportDialog);
        }
        if self.import.is_some() {
            out.push(Layer::ImportProgress);
        }
        if self.discover.is_some() {
            out.push(Layer::Discover);
        }
        out
    }

    /// The layer under every overlay: the screen.
    pub fn screen_layer(&self) -> Layer {
        match self.screen {
            Screen::List if self.filter_active => Layer::ListFilter,
            Screen::List => Layer::List,
            Screen::Picker => Layer::Picker,
            Screen::Form => Layer::Form,
            Screen::Browser if self.browser.as_ref().is_some_and(|b| b.filter_active) => {
                Layer::BrowserFilter
            }
            Screen::Browser => Layer::Browser,
            Screen::Query => Layer::Query,
        }
    }

    /// The layer that gets the next key.
    pub fn layer(&self) -> Layer {
        self.overlays()
            .first()
            .copied()
            .unwrap_or_else(|| self.screen_layer())
    }

    pub fn new(profile_name: impl Into<String>) -> Self {
        State {
            profile_name: profile_name.into(),
            discover: None,
            import_dialog: None,
            import: None,
            screen: Screen::List,
            connections: Vec::new(),
            loaded: false,
            load_error: None,
            visible: Vec::new(),
            selected: 0,
            filter: String::new(),
            filter_active: false,
            filter_selected: false,
            picker: 0,
            form: None,
            tests: HashMap::new(),
            answers: HashMap::new(),
            unlock: None,
            ssh_prompts: std::collections::VecDeque::new(),
            exit_code: 0,
            unlocking: false,
            confirm: None,
            help: false,
            help_scroll: 0,
            screen_size: (80, 24),
            popup: None,
            status: None,
            browser: None,
            query: None,
            query_page_rows: crate::connectors::DEFAULT_PAGE_ROWS,
            cache: HashMap::new(),
            now_unix: 0,
            now: Instant::now(),
            spinner: 0,
            next_task: 1,
            quit: false,
            no_color: false,
            preview_rows: 10,
            structure_cache: Duration::from_secs(300),
            show_system_default: false,
            clipboard: None,
        }
    }

    /// The highlighted connection of the list.
    pub fn highlighted(&self) -> Option<&SavedConnection> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.connections.get(i))
    }

    pub fn task(&mut self) -> TaskId {
        let t = self.next_task;
        self.next_task += 1;
        t
    }

    /// Whether a production connection is open or focused in the form or browser.
    pub fn production_open(&self) -> bool {
        match self.screen {
            Screen::Form => self.form.as_ref().is_some_and(|f| f.is_production()),
            Screen::Browser | Screen::Query => self
                .browser
                .as_ref()
                .is_some_and(|b| b.environment == Environment::Production),
            _ => false,
        }
    }
}
