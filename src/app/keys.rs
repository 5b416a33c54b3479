//! Keys as data: one table per layer (screen, overlay, browser pane) of
//! bindings with their help text and status-bar hint. The handlers in
//! `update/` dispatch from these tables, the status bar and the `?` help are
//! drawn from them, and the README's keys table is generated from them
//! (a test keeps it in step), so the three can no longer drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::{BrowserFocus, Layer, State, TestAnswer};

/// A key as a binding names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character typed without Ctrl or Alt (Shift allowed: `G`, `$`, `?`).
    Char(char),
    Ctrl(char),
    Code(KeyCode),
    /// A key code with Ctrl held (Ctrl-Enter; many terminals never send it).
    CtrlCode(KeyCode),
    /// Any character typed without Ctrl or Alt (filters, first-letter jumps).
    AnyChar,
}

impl Key {
    fn matches(self, ev: &KeyEvent) -> bool {
        let plain = !ev
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match self {
            Key::Char(c) => plain && ev.code == KeyCode::Char(c),
            Key::Ctrl(c) => {
                ev.modifiers.contains(KeyModifiers::CONTROL) && ev.code == KeyCode::Char(c)
            }
            Key::Code(code) => ev.code == code,
            Key::CtrlCode(code) => ev.modifiers.contains(KeyModifiers::CONTROL) && ev.code == code,
            Key::AnyChar => plain && matches!(ev.code, KeyCode::Char(_)),
        }
    }
}

type Pred = fn(&State) -> bool;

/// One binding: the keys, what they do, how help and the status bar say it.
pub struct Binding<C: 'static> {
    pub keys: &'static [Key],
    pub cmd: C,
    /// The keys as help shows them ("j/k ↑↓"); empty: documented by the line before.
    pub label: &'static str,
    pub help: &'static str,
    /// Status-bar hint: (keys, what).
    pub hint: Option<(&'static str, &'static str)>,
    /// The binding acts only when this holds (e.g. a selector is focused).
    pub when: Option<Pred>,
    /// The hint shows only when this holds.
    pub hint_when: Option<Pred>,
}

impl<C: Copy> Binding<C> {
    const fn new(keys: &'static [Key], cmd: C, label: &'static str, help: &'static str) -> Self {
        Binding {
            keys,
            cmd,
            label,
            help,
            hint: None,
            when: None,
            hint_when: None,
        }
    }
    /// Hinted in the status bar as `label what`.
    const fn hint(mut self, what: &'static str) -> Self {
        self.hint = Some((self.label, what));
        self
    }
    /// Hinted with a shorter key label.
    const fn hint_as(mut self, keys: &'static str, what: &'static str) -> Self {
        self.hint = Some((keys, what));
        self
    }
    const fn when(mut self, p: Pred) -> Self {
        self.when = Some(p);
        self
    }
    const fn hint_when(mut self, p: Pred) -> Self {
        self.hint_when = Some(p);
        self
    }

    fn active(&self, state: &State) -> bool {
        self.when.is_none_or(|p| p(state))
    }
}

/// The command bound to `ev` in `map`, if any: exact keys win over `AnyChar`.
pub fn lookup<C: Copy>(map: &[Binding<C>], state: &State, ev: &KeyEvent) -> Option<C> {
    let hit = |exact: bool| {
        map.iter()
            .filter(|b| b.active(state))
            .find(|b| {
                b.keys
                    .iter()
                    .any(|k| (*k != Key::AnyChar) == exact && k.matches(ev))
            })
            .map(|b| b.cmd)
    };
    hit(true).or_else(|| hit(false))
}

/// What help and the status bar need of a binding, without its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doc {
    pub label: &'static str,
    pub help: &'static str,
    pub hint: Option<(&'static str, &'static str)>,
}

fn docs<C: Copy>(map: &[Binding<C>]) -> Vec<(Doc, Option<Pred>, Option<Pred>)> {
    map.iter()
        .map(|b| {
            (
                Doc {
                    label: b.label,
                    help: b.help,
                    hint: b.hint,
                },
                b.when,
                b.hint_when,
            )
        })
        .collect()
}

// ------------------------------------------------------------------ commands

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListCmd {
    Open,
    New,
    Edit,
    Test,
    Delete,
    Filter,
    Help,
    Quit,
    Details,
    Down,
    Up,
    First,
    Last,
    PageDown,
    PageUp,
    Cancel,
    Reload,
    Discover,
    Lock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoverCmd {
    Down,
    Up,
    Toggle,
    All,
    Import,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterCmd {
    Type,
    Keep,
    Clear,
    Erase,
    /// Ctrl-U: erase to the start, as in a shell.
    EraseAll,
    /// Keep the text of a filter opened again (`/` selects it) and edit its end.
    EditEnd,
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerCmd {
    Down,
    Up,
    Jump,
    Choose,
    Back,
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormCmd {
    Next,
    Prev,
    SelectorPrev,
    SelectorNext,
    ClearStored,
    Test,
    Save,
    Back,
    Details,
    Activate,
    PickSshHost,
    Help,
    /// Line editing keys of the focused text field (documented here, done by the input).
    Edit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockCmd {
    Submit,
    Cancel,
    SwitchField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshPromptCmd {
    Answer,
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayCmd {
    Close,
    Quit,
    Yes,
    No,
    /// Scrolling a help that does not fit.
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportCmd {
    Start,
    Next,
    Prev,
    ChoicePrev,
    ChoiceNext,
    Cancel,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserCmd {
    Filter,
    Select,
    Import,
    Count,
    System,
    Refresh,
    NextPane,
    PrevPane,
    Back,
    Help,
    Quit,
    Query,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryCmd {
    Run,
    Cancel,
    Back,
    Focus,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Right,
    Left,
    First,
    Last,
    Enter,
    More,
    /// The previous (older) statement of the history.
    Older,
    /// The next (newer) one, then the text being typed.
    Newer,
    /// Tab on a word: complete it (a popup when there are several choices).
    Complete,
    CompleteNext,
    CompletePrev,
    CompleteAccept,
    CompleteClose,
    /// `x`: export the whole result (asks the format).
    Export,
    ExportTo(crate::dataset::Format),
    ExportClose,
    /// `y` / `Y`: the highlighted cell / row to the clipboard (OSC 52).
    Copy,
    CopyRow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneCmd {
    Down,
    Up,
    First,
    Last,
    PageDown,
    PageUp,
    Right,
    Left,
    Enter,
    /// `y`: the highlighted cell to the clipboard (OSC 52).
    Copy,
    /// `Y`: the highlighted row, tab-separated.
    CopyRow,
    /// Grid / the highlighted row as JSON (preview).
    Toggle,
}

// ------------------------------------------------------------------ tables

use Key::{Char, Code, Ctrl};

const ENTER: Key = Code(KeyCode::Enter);
const ESC: Key = Code(KeyCode::Esc);
const TAB: Key = Code(KeyCode::Tab);
const BACKTAB: Key = Code(KeyCode::BackTab);
const UP: Key = Code(KeyCode::Up);
const DOWN: Key = Code(KeyCode::Down);
const LEFT: Key = Code(KeyCode::Left);
const RIGHT: Key = Code(KeyCode::Right);
const HOME: Key = Code(KeyCode::Home);
const END: Key = Code(KeyCode::End);
const PGUP: Key = Code(KeyCode::PageUp);
const PGDN: Key = Code(KeyCode::PageDown);

pub const LIST: &[Binding<ListCmd>] = &[
    Binding::new(&[ENTER], ListCmd::Open, "Enter", "open (browse tables)").hint("open"),
    Binding::new(&[Char('n')], ListCmd::New, "n", "new connection").hint("new"),
    Binding::new(&[Char('e')], ListCmd::Edit, "e", "edit").hint("edit"),
    Binding::new(&[Char('t')], ListCmd::Test, "t", "test in the background").hint("test"),
    Binding::new(&[Char('d')], ListCmd::Delete, "d", "delete (asks first)").hint("delete"),
    Binding::new(&[Char('/')], ListCmd::Filter, "/", "filter by name").hint("filter"),
    Binding::new(&[Char('?')], ListCmd::Help, "?", "this help").hint("help"),
    Binding::new(&[Char('q')], ListCmd::Quit, "q", "quit").hint("quit"),
    Binding::new(&[Char('v')], ListCmd::Details, "v", "last test details").hint("details"),
    Binding::new(&[Char('j'), DOWN], ListCmd::Down, "j/k ↑↓", "move"),
    Binding::new(&[Char('k'), UP], ListCmd::Up, "", ""),
    Binding::new(
        &[Char('g'), HOME],
        ListCmd::First,
        "g/G Home/End",
        "first / last",
    ),
    Binding::new(&[Char('G'), END], ListCmd::Last, "", ""),
    Binding::new(&[PGDN], ListCmd::PageDown, "PgDn/PgUp", "page down / up"),
    Binding::new(&[PGUP], ListCmd::PageUp, "", ""),
    Binding::new(
        &[ESC],
        ListCmd::Cancel,
        "Esc",
        "cancel the test / clear the filter",
    ),
    Binding::new(&[Char('r')], ListCmd::Reload, "r", "reload the list"),
    Binding::new(
        &[Char('i')],
        ListCmd::Discover,
        "i",
        "import connections found on this machine",
    ),
    Binding::new(
        &[Char('L')],
        ListCmd::Lock,
        "L",
        "lock the vault (here and in the agent)",
    ),
];

/// The found-connections dialog (`i` on the list).
pub const DISCOVER: &[Binding<DiscoverCmd>] = &[
    Binding::new(
        &[Char(' ')],
        DiscoverCmd::Toggle,
        "Space",
        "check / uncheck",
    )
    .hint("check"),
    Binding::new(&[Char('a')], DiscoverCmd::All, "a", "check all / none").hint("all"),
    Binding::new(
        &[ENTER],
        DiscoverCmd::Import,
        "Enter",
        "import the checked ones",
    )
    .hint("import"),
    Binding::new(&[ESC], DiscoverCmd::Close, "Esc", "close, nothing imported").hint("close"),
    Binding::new(&[Char('j'), DOWN], DiscoverCmd::Down, "j/k ↑↓", "move"),
    Binding::new(&[Char('k'), UP], DiscoverCmd::Up, "", ""),
];

fn filter_selected(s: &State) -> bool {
    match s.screen {
        crate::app::state::Screen::Browser => s.browser.as_ref().is_some_and(|b| b.filter_selected),
        _ => s.filter_selected,
    }
}

/// Typing a filter (connection list and table browser).
pub const FILTER: &[Binding<FilterCmd>] = &[
    Binding::new(&[Key::AnyChar], FilterCmd::Type, "type", "filter").hint("filter"),
    Binding::new(&[ENTER], FilterCmd::Keep, "Enter", "keep the filter").hint("keep"),
    Binding::new(&[ESC], FilterCmd::Clear, "Esc", "clear the filter").hint("clear"),
    Binding::new(
        &[Code(KeyCode::Backspace)],
        FilterCmd::Erase,
        "Backspace",
        "erase",
    ),
    Binding::new(
        &[Ctrl('u')],
        FilterCmd::EraseAll,
        "Ctrl-U",
        "erase to the start",
    ),
    Binding::new(
        &[RIGHT, END],
        FilterCmd::EditEnd,
        "→ End",
        "edit the filter (`/` again selects it: typing replaces it)",
    )
    .hint_as("→", "edit")
    .hint_when(filter_selected),
    Binding::new(&[UP], FilterCmd::Up, "↑↓", "move"),
    Binding::new(&[DOWN], FilterCmd::Down, "", ""),
];

pub const PICKER: &[Binding<PickerCmd>] = &[
    Binding::new(&[Char('j'), DOWN], PickerCmd::Down, "j/k ↑↓", "move").hint_as("↑↓", "move"),
    Binding::new(&[Char('k'), UP], PickerCmd::Up, "", ""),
    Binding::new(
        &[Key::AnyChar],
        PickerCmd::Jump,
        "letter",
        "jump to an engine",
    )
    .hint("jump"),
    Binding::new(&[ENTER], PickerCmd::Choose, "Enter", "choose").hint("choose"),
    Binding::new(&[ESC], PickerCmd::Back, "Esc", "back").hint("back"),
    Binding::new(&[Char('?')], PickerCmd::Help, "?", "this help"),
];

fn selector_focused(s: &State) -> bool {
    s.form
        .as_ref()
        .and_then(|f| f.focused_field())
        .is_some_and(|id| id.is_selector())
}
fn password_focused(s: &State) -> bool {
    use crate::app::state::FieldId;
    use crate::connectors::Field;
    s.form
        .as_ref()
        .is_some_and(|f| f.focused_field() == Some(FieldId::Conn(Field::Password)))
}
fn ssh_via_focused(s: &State) -> bool {
    use crate::app::state::FieldId;
    use crate::connectors::Field;
    s.form
        .as_ref()
        .is_some_and(|f| f.focused_field() == Some(FieldId::Conn(Field::SshVia)))
}
fn stored_password_focused(s: &State) -> bool {
    password_focused(s) && s.form.as_ref().is_some_and(|f| f.had_secret)
}
fn form_testing(s: &State) -> bool {
    s.form.as_ref().is_some_and(|f| f.test.is_some())
}
fn form_idle(s: &State) -> bool {
    !form_testing(s)
}
fn form_failed(s: &State) -> bool {
    s.form
        .as_ref()
        .is_some_and(|f| matches!(f.answer, Some(TestAnswer::Failed { .. })))
}

pub const FORM: &[Binding<FormCmd>] = &[
    Binding::new(&[TAB, DOWN], FormCmd::Next, "Tab ↓", "next field").hint_as("Tab", "next"),
    Binding::new(
        &[LEFT, Char('h')],
        FormCmd::SelectorPrev,
        "←→ space",
        "change a selector",
    )
    .hint_as("←→", "change")
    .when(selector_focused),
    Binding::new(
        &[RIGHT, Char('l'), Char(' ')],
        FormCmd::SelectorNext,
        "",
        "",
    )
    .when(selector_focused),
    Binding::new(
        &[Ctrl('x')],
        FormCmd::ClearStored,
        "Ctrl-X",
        "clear the stored password",
    )
    .hint_as("^X", "clear stored")
    .when(password_focused)
    .hint_when(stored_password_focused),
    Binding::new(
        &[Ctrl('t')],
        FormCmd::Test,
        "Ctrl-T",
        "test in the background",
    )
    .hint_as("^T", "test"),
    Binding::new(&[Ctrl('s')], FormCmd::Save, "Ctrl-S", "save").hint_as("^S", "save"),
    Binding::new(
        &[ESC],
        FormCmd::Back,
        "Esc",
        "cancel the running test / back",
    )
    .hint("cancel test")
    .hint_when(form_testing),
    Binding::new(&[ESC], FormCmd::Back, "", "")
        .hint_as("Esc", "back")
        .hint_when(form_idle),
    Binding::new(
        &[Ctrl('e')],
        FormCmd::Details,
        "Ctrl-E",
        "details of the error",
    )
    .hint_as("^E", "details")
    .hint_when(form_failed),
    Binding::new(
        &[Ctrl('o')],
        FormCmd::PickSshHost,
        "Ctrl-O",
        "next Host alias of ~/.ssh/config (SSH via)",
    )
    .hint_as("^O", "ssh hosts")
    .when(ssh_via_focused),
    Binding::new(&[BACKTAB, UP], FormCmd::Prev, "S-Tab ↑", "previous field"),
    Binding::new(
        &[ENTER],
        FormCmd::Activate,
        "Enter",
        "press the button / next field",
    ),
    Binding::new(
        &[Code(KeyCode::F(1))],
        FormCmd::Help,
        "F1",
        "this help (`?` types into the field)",
    )
    .hint("help"),
    Binding::new(
        &[Ctrl('u')],
        FormCmd::Edit,
        "Ctrl-U",
        "erase to the start of the field",
    ),
    Binding::new(
        &[Ctrl('w')],
        FormCmd::Edit,
        "Ctrl-W",
        "erase the word before the cursor",
    ),
];

fn creating_vault(s: &State) -> bool {
    s.unlock.as_ref().is_some_and(|p| p.create)
}

fn unlocking_vault(s: &State) -> bool {
    s.unlock
        .as_ref()
        .is_some_and(|p| !p.create && p.connection.is_none())
}
fn asking_password(s: &State) -> bool {
    s.unlock.as_ref().is_some_and(|p| p.connection.is_some())
}
fn create_first_field(s: &State) -> bool {
    s.unlock
        .as_ref()
        .is_some_and(|p| p.create && !p.focus_confirm)
}
fn create_confirm_field(s: &State) -> bool {
    s.unlock
        .as_ref()
        .is_some_and(|p| p.create && p.focus_confirm)
}

/// The passphrase prompt; its dialog shows these same hints, so the two agree.
pub const UNLOCK: &[Binding<UnlockCmd>] = &[
    Binding::new(
        &[ENTER],
        UnlockCmd::Submit,
        "Enter",
        "unlock (creating: next field, then create)",
    )
    .hint("unlock")
    .hint_when(unlocking_vault),
    Binding::new(&[ENTER], UnlockCmd::Submit, "", "")
        .hint_as("Enter", "connect")
        .hint_when(asking_password),
    Binding::new(&[ENTER], UnlockCmd::Submit, "", "")
        .hint_as("Enter", "next field")
        .hint_when(create_first_field),
    Binding::new(&[ENTER], UnlockCmd::Submit, "", "")
        .hint_as("Enter", "create the vault")
        .hint_when(create_confirm_field),
    Binding::new(&[ESC], UnlockCmd::Cancel, "Esc", "cancel").hint("cancel"),
    Binding::new(
        &[TAB, BACKTAB],
        UnlockCmd::SwitchField,
        "Tab",
        "passphrase / confirmation",
    )
    .when(creating_vault),
];

fn ssh_asks_secret(s: &State) -> bool {
    s.ssh_prompts.front().is_some_and(|p| p.secret())
}
fn ssh_asks_yes_no(s: &State) -> bool {
    !ssh_asks_secret(s)
}

/// ssh's question (host key, passphrase, password); other keys edit the answer.
pub const SSH_PROMPT: &[Binding<SshPromptCmd>] = &[
    Binding::new(
        &[ENTER],
        SshPromptCmd::Answer,
        "Enter",
        "send the answer to ssh (a host key needs yes or no typed first)",
    )
    .hint_as("Enter", "send")
    .hint_when(ssh_asks_secret),
    Binding::new(&[ENTER], SshPromptCmd::Answer, "", "")
        .hint_as("yes/no Enter", "answer")
        .hint_when(ssh_asks_yes_no),
    Binding::new(
        &[ESC],
        SshPromptCmd::Refuse,
        "Esc",
        "refuse: ssh stops and the connection fails",
    )
    .hint("refuse"),
];

pub const POPUP: &[Binding<OverlayCmd>] = &[Binding::new(
    &[ESC, ENTER, Char('q'), Char(' ')],
    OverlayCmd::Close,
    "Esc Enter q space",
    "close",
)
.hint_as("Esc", "close")];

pub const HELP: &[Binding<OverlayCmd>] = &[
    Binding::new(
        &[ESC, Char('?'), Char('q'), ENTER],
        OverlayCmd::Close,
        "Esc ? q Enter",
        "close the help",
    ),
    Binding::new(
        &[Char('j'), DOWN],
        OverlayCmd::Down,
        "j/k ↓↑",
        "scroll a help taller than the terminal",
    ),
    Binding::new(&[Char('k'), UP], OverlayCmd::Up, "", ""),
    Binding::new(
        &[PGDN],
        OverlayCmd::PageDown,
        "PgDn/PgUp",
        "a page down / up",
    ),
    Binding::new(&[PGUP], OverlayCmd::PageUp, "", ""),
    Binding::new(
        &[HOME, Char('g')],
        OverlayCmd::Top,
        "Home/End g/G",
        "top / bottom",
    ),
    Binding::new(&[END, Char('G')], OverlayCmd::Bottom, "", ""),
];

pub const CONFIRM: &[Binding<OverlayCmd>] = &[
    Binding::new(&[Char('y'), Char('Y')], OverlayCmd::Yes, "y", "yes").hint("yes"),
    Binding::new(&[Char('n'), Char('N')], OverlayCmd::No, "n", "no").hint("no"),
    Binding::new(&[ESC], OverlayCmd::Close, "Esc", "back, nothing done"),
];

fn dialog_focus(s: &State) -> Option<usize> {
    s.import_dialog.as_ref().map(|d| d.focus)
}
fn on_format(s: &State) -> bool {
    dialog_focus(s) == Some(0)
}
fn on_table(s: &State) -> bool {
    dialog_focus(s) == Some(3)
}
fn on_choice(s: &State) -> bool {
    on_format(s) || on_table(s)
}
fn importing(s: &State) -> bool {
    s.import.as_ref().is_some_and(|i| i.running.is_some())
}
fn imported(s: &State) -> bool {
    !importing(s)
}

pub const IMPORT_DIALOG: &[Binding<ImportCmd>] = &[
    Binding::new(&[ENTER], ImportCmd::Start, "Enter", "start the import").hint("start"),
    Binding::new(&[TAB, DOWN], ImportCmd::Next, "Tab ↓", "next row").hint_as("Tab", "next"),
    Binding::new(
        &[LEFT],
        ImportCmd::ChoicePrev,
        "←→ space",
        "change the format / table",
    )
    .hint_as("←→", "format")
    .when(on_choice)
    .hint_when(on_format),
    Binding::new(&[RIGHT, Char(' ')], ImportCmd::ChoiceNext, "", "")
        .hint_as("←→", "table")
        .when(on_choice)
        .hint_when(on_table),
    Binding::new(&[ESC], ImportCmd::Cancel, "Esc", "cancel").hint("cancel"),
    Binding::new(&[BACKTAB, UP], ImportCmd::Prev, "S-Tab ↑", "previous row"),
];

pub const IMPORT_PROGRESS: &[Binding<ImportCmd>] = &[
    Binding::new(&[ESC], ImportCmd::Cancel, "Esc", "cancel the import")
        .hint("cancel import")
        .when(importing),
    Binding::new(&[ESC, ENTER], ImportCmd::Close, "Enter", "close when done")
        .hint("close")
        .when(imported),
];

fn not_preview(s: &State) -> bool {
    s.browser
        .as_ref()
        .is_none_or(|b| b.focus != BrowserFocus::Preview)
}

/// The browser's keys in every pane.
pub const BROWSER: &[Binding<BrowserCmd>] = &[
    Binding::new(&[Char('/')], BrowserCmd::Filter, "/", "fuzzy filter")
        .hint("filter")
        .hint_when(not_preview),
    Binding::new(
        &[Char(' ')],
        BrowserCmd::Select,
        "space",
        "select for import",
    )
    .hint("select")
    .hint_when(not_preview),
    Binding::new(
        &[Char('i')],
        BrowserCmd::Import,
        "i",
        "import the selected tables",
    )
    .hint("import")
    .hint_when(not_preview),
    Binding::new(
        &[Char('c')],
        BrowserCmd::Count,
        "c",
        "exact row count (Esc cancels)",
    )
    .hint("count")
    .hint_when(not_preview),
    Binding::new(&[Char('s')], BrowserCmd::System, "s", "show system schemas")
        .hint("system")
        .hint_when(not_preview),
    Binding::new(
        &[Char('r')],
        BrowserCmd::Refresh,
        "r",
        "reconnect and refresh",
    )
    .hint("refresh")
    .hint_when(not_preview),
    Binding::new(
        &[TAB],
        BrowserCmd::NextPane,
        "Tab",
        "tables / structure / preview",
    )
    .hint("pane"),
    Binding::new(&[ESC], BrowserCmd::Back, "Esc", "cancel / back").hint("back"),
    Binding::new(&[Char('?')], BrowserCmd::Help, "?", "this help")
        .hint("help")
        .hint_when(not_preview),
    Binding::new(
        &[Char('q')],
        BrowserCmd::Quit,
        "q",
        "back to the list (q there quits)",
    ),
    Binding::new(&[BACKTAB], BrowserCmd::PrevPane, "S-Tab", "previous pane"),
    Binding::new(
        &[Char('e')],
        BrowserCmd::Query,
        "e",
        "query editor (read-only SQL; MongoDB find / aggregate)",
    )
    .hint("query")
    .hint_when(not_preview),
];

fn query_running(s: &State) -> bool {
    s.query.as_ref().is_some_and(|q| q.running.is_some())
}

fn query_idle(s: &State) -> bool {
    !query_running(s)
}

fn query_has_more(s: &State) -> bool {
    s.query
        .as_ref()
        .is_some_and(|q| q.result.is_some() && !q.done && q.running.is_none())
}

const RUN_KEYS: &[Key] = &[Code(KeyCode::F(5)), Key::CtrlCode(KeyCode::Enter)];

/// The query pane's editor (every other key edits the text).
pub const QUERY_EDITOR: &[Binding<QueryCmd>] = &[
    Binding::new(
        RUN_KEYS,
        QueryCmd::Run,
        "F5 Ctrl-Enter",
        "run (one statement, read-only)",
    )
    .hint_as("F5", "run")
    .when(query_idle),
    Binding::new(&[ESC], QueryCmd::Cancel, "Esc", "cancel the running query")
        .hint("cancel")
        .when(query_running),
    Binding::new(&[ESC], QueryCmd::Back, "Esc", "back to the browser")
        .hint("back")
        .when(query_idle),
    Binding::new(
        &[TAB],
        QueryCmd::Complete,
        "Tab",
        "complete a name or keyword (after a blank: results)",
    )
    .hint("complete")
    .when(query_can_complete),
    Binding::new(&[TAB], QueryCmd::Focus, "Tab", "editor / results")
        .hint("results")
        .when(query_cannot_complete),
    Binding::new(
        &[Key::Ctrl('p')],
        QueryCmd::Older,
        "Ctrl-P/N",
        "older / newer statement (history)",
    )
    .hint_as("^P", "history"),
    Binding::new(&[Key::Ctrl('n')], QueryCmd::Newer, "", ""),
];

fn query_can_complete(s: &State) -> bool {
    crate::app::update::word_to_complete(s).is_some()
}

fn query_cannot_complete(s: &State) -> bool {
    !query_can_complete(s)
}

/// The completion popup of the query editor (any other key closes it and
/// goes on to the editor).
pub const QUERY_COMPLETION: &[Binding<QueryCmd>] = &[
    Binding::new(
        &[TAB, DOWN],
        QueryCmd::CompleteNext,
        "Tab ↓ / S-Tab ↑",
        "next / previous choice",
    )
    .hint_as("Tab", "next"),
    Binding::new(&[BACKTAB, UP], QueryCmd::CompletePrev, "", ""),
    Binding::new(
        &[ENTER],
        QueryCmd::CompleteAccept,
        "Enter",
        "insert the choice",
    )
    .hint("insert"),
    Binding::new(&[ESC], QueryCmd::CompleteClose, "Esc", "close the choices").hint("close"),
];

fn query_can_export(s: &State) -> bool {
    s.query.as_ref().is_some_and(|q| {
        q.running.is_none()
            && q.last_sql.is_some()
            && q.result.as_ref().is_some_and(|r| !r.columns.is_empty())
    })
}

/// `x` in the results: the format of the export.
pub const QUERY_EXPORT: &[Binding<QueryCmd>] = &[
    Binding::new(
        &[Char('c')],
        QueryCmd::ExportTo(crate::dataset::Format::Csv),
        "c",
        "export as CSV",
    )
    .hint("CSV"),
    Binding::new(
        &[Char('j')],
        QueryCmd::ExportTo(crate::dataset::Format::Jsonl),
        "j",
        "export as JSON Lines",
    )
    .hint("JSONL"),
    Binding::new(
        &[Char('s')],
        QueryCmd::ExportTo(crate::dataset::Format::Sqlite),
        "s",
        "export as a SQLite file",
    )
    .hint("SQLite"),
    Binding::new(
        &[Char('p')],
        QueryCmd::ExportTo(crate::dataset::Format::Parquet),
        "p",
        "export as a Parquet file",
    )
    .hint("Parquet"),
    Binding::new(&[ESC], QueryCmd::ExportClose, "Esc", "no export").hint("back"),
];

/// The query pane's results grid.
pub const QUERY_RESULTS: &[Binding<QueryCmd>] = &[
    Binding::new(
        &[Char('j'), DOWN],
        QueryCmd::Down,
        "j/k ↑↓",
        "row (past the last: more rows)",
    )
    .hint_as("j/k", "row"),
    Binding::new(&[Char('k'), UP], QueryCmd::Up, "", ""),
    Binding::new(&[PGDN], QueryCmd::PageDown, "PgDn/PgUp", "page down / up"),
    Binding::new(&[PGUP], QueryCmd::PageUp, "", ""),
    Binding::new(
        &[Char('g')],
        QueryCmd::Top,
        "g/G",
        "first / last row fetched",
    ),
    Binding::new(&[Char('G')], QueryCmd::Bottom, "", ""),
    Binding::new(
        &[Char('l'), RIGHT],
        QueryCmd::Right,
        "h/l ←→",
        "scroll columns",
    )
    .hint_as("h/l", "scroll"),
    Binding::new(&[Char('h'), LEFT], QueryCmd::Left, "", ""),
    Binding::new(
        &[Char('0'), HOME],
        QueryCmd::First,
        "0/$ Home/End",
        "first / last column",
    ),
    Binding::new(&[Char('$'), END], QueryCmd::Last, "", ""),
    Binding::new(&[ENTER], QueryCmd::Enter, "Enter", "full cell value").hint("full value"),
    Binding::new(
        &[Char('y')],
        QueryCmd::Copy,
        "y",
        "copy the highlighted cell to your clipboard (through the terminal, OSC 52)",
    )
    .hint_as("y/Y", "copy"),
    Binding::new(
        &[Char('Y')],
        QueryCmd::CopyRow,
        "Y",
        "copy the highlighted row, tab-separated",
    ),
    Binding::new(&[Char('m')], QueryCmd::More, "m", "fetch the next page")
        .hint("more")
        .hint_when(query_has_more),
    Binding::new(
        &[Char('x')],
        QueryCmd::Export,
        "x",
        "export the whole result (CSV, JSONL, SQLite, Parquet)",
    )
    .hint("export")
    .when(query_can_export),
    Binding::new(RUN_KEYS, QueryCmd::Run, "F5", "run again").when(query_idle),
    Binding::new(&[ESC], QueryCmd::Cancel, "Esc", "cancel the running query")
        .hint("cancel")
        .when(query_running),
    Binding::new(
        &[ESC, TAB],
        QueryCmd::Focus,
        "Esc Tab",
        "back to the editor",
    )
    .hint_as("Tab", "editor")
    .when(query_idle),
];

pub const BROWSER_TABLES: &[Binding<PaneCmd>] = &[
    Binding::new(&[Char('j'), DOWN], PaneCmd::Down, "j/k ↑↓", "move"),
    Binding::new(&[Char('k'), UP], PaneCmd::Up, "", ""),
    Binding::new(
        &[Char('g'), HOME],
        PaneCmd::First,
        "g/G Home/End",
        "first / last table",
    ),
    Binding::new(&[Char('G'), END], PaneCmd::Last, "", ""),
    Binding::new(&[PGDN], PaneCmd::PageDown, "PgDn/PgUp", "page down / up"),
    Binding::new(&[PGUP], PaneCmd::PageUp, "", ""),
    Binding::new(
        &[ENTER, Char('l'), RIGHT],
        PaneCmd::Enter,
        "Enter l →",
        "to the preview",
    ),
];

pub const BROWSER_STRUCTURE: &[Binding<PaneCmd>] = &[
    Binding::new(
        &[Char('j'), DOWN],
        PaneCmd::Down,
        "j/k ↑↓",
        "scroll the structure",
    ),
    Binding::new(&[Char('k'), UP], PaneCmd::Up, "", ""),
    Binding::new(&[Char('g'), HOME], PaneCmd::First, "g Home", "top"),
    Binding::new(
        &[Char('h'), LEFT],
        PaneCmd::Left,
        "h ←",
        "back to the tables",
    ),
];

pub const BROWSER_PREVIEW: &[Binding<PaneCmd>] = &[
    Binding::new(
        &[Char('l'), RIGHT],
        PaneCmd::Right,
        "h/l ←→",
        "scroll columns (JSON view: previous / next row)",
    )
    .hint_as("h/l", "scroll"),
    Binding::new(&[Char('h'), LEFT], PaneCmd::Left, "", ""),
    Binding::new(
        &[Char('j'), DOWN],
        PaneCmd::Down,
        "j/k ↑↓",
        "row (JSON view: scroll)",
    )
    .hint_as("j/k", "row"),
    Binding::new(&[Char('k'), UP], PaneCmd::Up, "", ""),
    Binding::new(
        &[Char('v')],
        PaneCmd::Toggle,
        "v",
        "grid / the highlighted row (document) whole as JSON",
    )
    .hint("JSON"),
    Binding::new(
        &[ENTER],
        PaneCmd::Enter,
        "Enter",
        "full cell value (JSON view: grid)",
    )
    .hint("full value"),
    Binding::new(
        &[Char('0'), HOME],
        PaneCmd::First,
        "0/$ Home/End",
        "first / last column (JSON view: top / bottom)",
    ),
    Binding::new(&[Char('$'), END], PaneCmd::Last, "", ""),
    Binding::new(
        &[Char('y')],
        PaneCmd::Copy,
        "y",
        "copy the highlighted cell to your clipboard (through the terminal, OSC 52)",
    )
    .hint_as("y/Y", "copy"),
    Binding::new(
        &[Char('Y')],
        PaneCmd::CopyRow,
        "Y",
        "copy the highlighted row, tab-separated",
    ),
    Binding::new(
        &[PGDN],
        PaneCmd::PageDown,
        "PgDn/PgUp",
        "JSON view: page down / up",
    ),
    Binding::new(&[PGUP], PaneCmd::PageUp, "", ""),
];

/// Keys that work everywhere (handled before any layer).
pub const EVERYWHERE: &[Doc] = &[
    Doc {
        label: "Ctrl-C",
        help: "quit from anywhere",
        hint: None,
    },
    Doc {
        label: "F1",
        help: "help, also where `?` would be typed",
        hint: None,
    },
];

// ------------------------------------------------------------------ per layer

fn focus_of(s: &State) -> BrowserFocus {
    s.browser
        .as_ref()
        .map(|b| b.focus)
        .unwrap_or(BrowserFocus::Tables)
}

/// The bindings of a layer, documented (browser: the focused pane's first).
fn layer_docs(layer: Layer, state: &State) -> Vec<(Doc, Option<Pred>, Option<Pred>)> {
    match layer {
        Layer::SshPrompt => docs(SSH_PROMPT),
        Layer::Unlock => docs(UNLOCK),
        Layer::Popup => docs(POPUP),
        Layer::Help => docs(HELP),
        Layer::Confirm => docs(CONFIRM),
        Layer::ImportDialog => docs(IMPORT_DIALOG),
        Layer::ImportProgress => docs(IMPORT_PROGRESS),
        Layer::Discover => docs(DISCOVER),
        Layer::ListFilter | Layer::BrowserFilter => docs(FILTER),
        Layer::List => docs(LIST),
        Layer::Picker => docs(PICKER),
        Layer::Form => docs(FORM),
        Layer::Query if state.query.as_ref().is_some_and(|q| q.export_prompt) => docs(QUERY_EXPORT),
        Layer::Query if state.query.as_ref().is_some_and(|q| q.completion.is_some()) => {
            docs(QUERY_COMPLETION)
        }
        Layer::Query => match state.query.as_ref().map(|q| q.focus) {
            Some(crate::app::state::QueryFocus::Results) => docs(QUERY_RESULTS),
            _ => docs(QUERY_EDITOR),
        },
        Layer::Browser => {
            let mut d = match focus_of(state) {
                BrowserFocus::Tables => docs(BROWSER_TABLES),
                BrowserFocus::Structure => docs(BROWSER_STRUCTURE),
                BrowserFocus::Preview => docs(BROWSER_PREVIEW),
            };
            // Hints: the pane's own first; help: the pane's, then the browser's.
            d.extend(docs(BROWSER));
            d
        }
    }
}

/// The status-bar hints of the layer that has the keys, in table order.
pub fn hints(state: &State) -> Vec<(&'static str, &'static str)> {
    // The help overlay leaves the status bar to the screen below it.
    let layer = match state.layer() {
        Layer::Help => state.screen_layer(),
        l => l,
    };
    layer_docs(layer, state)
        .into_iter()
        .filter(|(_, when, hint_when)| {
            when.is_none_or(|p| p(state)) && hint_when.is_none_or(|p| p(state))
        })
        .filter_map(|(d, _, _)| d.hint)
        .collect()
}

/// The layer the help describes: the topmost dialog under the help, else the screen.
pub fn help_layer(state: &State) -> Layer {
    state
        .overlays()
        .into_iter()
        .find(|l| *l != Layer::Help)
        .unwrap_or_else(|| state.screen_layer())
}

/// Lines of help that fit on a terminal `height` rows high when there are
/// `lines` of them: the box leaves 3 rows to the status bar, 2 to its border.
pub fn help_visible(height: u16, lines: usize) -> usize {
    (lines + 2)
        .min(usize::from(height.saturating_sub(3)))
        .saturating_sub(2)
}

/// The furthest the help can scroll on the terminal the app last drew on.
pub fn help_max_scroll(state: &State) -> usize {
    let lines = help(state).len();
    lines.saturating_sub(help_visible(state.screen_size.1, lines))
}

/// Every key of the layer under the help overlay, for `?` and F1.
pub fn help(state: &State) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = layer_docs(help_layer(state), state)
        .into_iter()
        .map(|(d, _, _)| (d.label, d.help))
        .filter(|(label, _)| !label.is_empty())
        .collect();
    out.extend(EVERYWHERE.iter().map(|d| (d.label, d.help)));
    out
}

/// The README's keys table, generated from the tables above.
pub fn markdown() -> String {
    fn row(out: &mut String, place: &str, docs: &[Doc]) {
        let keys: Vec<String> = docs
            .iter()
            .filter(|d| !d.label.is_empty())
            .map(|d| format!("`{}` {}", d.label, d.help))
            .collect();
        out.push_str(&format!("| {place} | {} |\n", keys.join(" · ")));
    }
    let plain = |v: Vec<(Doc, Option<Pred>, Option<Pred>)>| -> Vec<Doc> {
        v.into_iter().map(|(d, _, _)| d).collect()
    };
    let mut out = String::from("| where | keys |\n|---|---|\n");
    row(&mut out, "everywhere", EVERYWHERE);
    row(&mut out, "connection list", &plain(docs(LIST)));
    row(&mut out, "filtering (list, browser)", &plain(docs(FILTER)));
    row(&mut out, "engine picker", &plain(docs(PICKER)));
    row(&mut out, "form", &plain(docs(FORM)));
    row(&mut out, "table browser", &plain(docs(BROWSER)));
    row(&mut out, "— tables pane", &plain(docs(BROWSER_TABLES)));
    row(
        &mut out,
        "— structure pane",
        &plain(docs(BROWSER_STRUCTURE)),
    );
    row(&mut out, "— preview pane", &plain(docs(BROWSER_PREVIEW)));
    row(&mut out, "query editor", &plain(docs(QUERY_EDITOR)));
    row(&mut out, "— completion", &plain(docs(QUERY_COMPLETION)));
    row(&mut out, "— query results", &plain(docs(QUERY_RESULTS)));
    row(&mut out, "— export", &plain(docs(QUERY_EXPORT)));
    row(&mut out, "import dialog", &plain(docs(IMPORT_DIALOG)));
    row(&mut out, "import progress", &plain(docs(IMPORT_PROGRESS)));
    row(&mut out, "found connections", &plain(docs(DISCOVER)));
    row(&mut out, "passphrase prompt", &plain(docs(UNLOCK)));
    row(&mut out, "ssh asks", &plain(docs(SSH_PROMPT)));
    row(&mut out, "question", &plain(docs(CONFIRM)));
    row(&mut out, "details popup", &plain(docs(POPUP)));
    row(&mut out, "help", &plain(docs(HELP)));
    out
}
