//! The subcommands: one file per group. Shared here: the error type that
//! carries an exit code, output helpers (colour, aligned tables) and how
//! secrets are had (prompt, stdin, VARLOR_PASSPHRASE_FILE).

pub mod agent;
pub mod audit;
pub mod browse;
pub mod connections;
pub mod doctor;
pub mod import;
pub mod query;
pub mod sources;
pub mod ssh;
pub mod table_arg;
pub mod test;
pub mod vault;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use unicode_width::UnicodeWidthStr;

use crate::cli::{Cli, Command};
use crate::connectors::{ConnError, SessionOptions};
use crate::display::display_text;
use crate::ops::{Need, Step};
use crate::profile::{Profile, ProfileError};
use crate::store::{CatalogError, VaultError, VaultState};

/// Exit code for a failed operation (test failed, server refused…).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for bad input (unknown kind, port out of range, duplicate name…).
pub const EXIT_USAGE: i32 = 2;

/// An error for a person: one line, a hint, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
        }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_FAILED,
            message: message.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        let h = hint.into();
        if !h.is_empty() {
            self.hint = Some(h);
        }
        self
    }
    /// An error already printed (e.g. a failed test result): only the code.
    pub fn silent(code: i32) -> Self {
        CliError {
            code,
            message: String::new(),
            hint: None,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ProfileError> for CliError {
    fn from(e: ProfileError) -> Self {
        match &e {
            ProfileError::Spec(s) => CliError::usage(s.to_string()),
            ProfileError::Catalog(CatalogError::Duplicate(_)) => CliError::usage(e.to_string())
                .hint("choose another name, or `varlor edit` the existing one"),
            ProfileError::Catalog(CatalogError::NotFound(_)) => {
                CliError::usage(e.to_string()).hint("`varlor list` shows the saved connections")
            }
            ProfileError::Paths(_) => CliError::usage(e.to_string()),
            ProfileError::Locked => CliError::failed(e.to_string()).hint(UNLOCK_HINT),
            ProfileError::Vault(VaultError::NotInitialised) => CliError::failed(e.to_string()),
            ProfileError::PasswordNeeded => CliError::failed(e.to_string())
                .hint("pass --password-stdin, or run on a terminal to be asked"),
            ProfileError::LockoutGuard(_) => CliError::failed(e.to_string())
                .hint("check the password first (`varlor edit`), then pass --force to test anyway"),
            _ => CliError::failed(e.to_string()),
        }
    }
}

impl From<crate::connectors::SpecError> for CliError {
    fn from(e: crate::connectors::SpecError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<ConnError> for CliError {
    fn from(e: ConnError) -> Self {
        CliError::failed(e.to_string()).hint(e.hint())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::failed(e.to_string())
    }
}

pub const UNLOCK_HINT: &str =
    "set VARLOR_PASSPHRASE_FILE=FILE or pass --identity FILE, or run on a terminal to be asked";

/// What every command gets besides its own arguments.
pub struct Ctx {
    pub profile: String,
    pub identity: Option<PathBuf>,
    pub verbose: bool,
}

impl Ctx {
    pub fn open(&self) -> Result<Profile, CliError> {
        Profile::open(&self.profile).map_err(|e| match e {
            // A broken config or catalog is not the user's command line.
            ProfileError::Paths(p) => CliError::usage(p.to_string()),
            other => CliError::failed(format!("cannot open profile '{}': {other}", self.profile)),
        })
    }

    /// A command's calls run one after another: one session is enough.
    pub fn session_options(&self, profile: &Profile) -> SessionOptions {
        SessionOptions {
            two_sessions: false,
            ..crate::ops::session_options(&profile.config)
        }
    }
}

/// Runs a subcommand; Ok(()) is exit 0.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx {
        profile: cli.profile,
        identity: cli.identity,
        verbose: cli.verbose,
    };
    let Some(command) = cli.command else {
        return Err(CliError::usage("no subcommand"));
    };
    ssh::prompts_for(&command);
    match command {
        Command::List { json } => connections::list(&ctx, json),
        Command::Add(a) => connections::add(&ctx, a),
        Command::Edit(a) => connections::edit(&ctx, a),
        Command::Rm { name, yes } => connections::remove(&ctx, &name, yes),
        Command::Test(a) => test::run(&ctx, a).await,
        Command::SshHosts { json } => ssh::hosts(json),
        Command::Vault { command } => vault::run(&ctx, command),
        Command::Agent { command } => agent::run(&ctx, command),
        Command::Doctor { json } => doctor::run(&ctx, json),
        // main.rs opens the TUI for `open`; reaching here is a wiring bug.
        Command::Open { .. } | Command::Bare(_) => {
            Err(CliError::failed("open runs the terminal UI"))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::cli::Cli::command();
            clap_complete::generate(shell, &mut cmd, "varlor", &mut std::io::stdout());
            Ok(())
        }
        Command::Audit { since, prune, json } => audit::run(&ctx, since.as_deref(), prune, json),
        Command::Tables { name, json, all } => browse::tables(&ctx, &name, json, all).await,
        Command::Describe {
            name,
            table,
            json,
            sample,
        } => browse::describe(&ctx, &name, &table, json, sample).await,
        Command::Preview {
            name,
            table,
            limit,
            json,
            csv,
        } => browse::preview(&ctx, &name, &table, limit, json, csv).await,
        Command::Count { name, table, json } => browse::count(&ctx, &name, &table, json).await,
        Command::Import(a) => import::run(&ctx, a).await,
        Command::Connections { command } => sources::run(&ctx, command),
        Command::Query {
            name,
            sql,
            limit,
            json,
            csv,
        } => query::run(&ctx, &name, &sql, limit, json, csv).await,
    }
}

// ---------------------------------------------------------------- terminal

/// Lets SIGPIPE end the process quietly (`varlor preview … | head -1`), as
/// it does `cat`: Rust starts with it ignored, which turns a closed stdout
/// into a `println!` panic (exit 101).
pub fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether a person is at the keyboard (prompts are allowed).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Colour only on a terminal and never with NO_COLOR (https://no-color.org).
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[derive(Clone, Copy)]
pub enum Style {
    Green,
    Red,
    Yellow,
    Dim,
    Bold,
}

pub fn paint(on: bool, style: Style, text: &str) -> String {
    if !on {
        return text.to_string();
    }
    let code = match style {
        Style::Green => "32",
        Style::Red => "31",
        Style::Yellow => "33",
        Style::Dim => "2",
        Style::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Prints rows as aligned columns (unicode display width; ANSI codes in
/// cells are not counted). The last column is not padded. Headers are passed
/// through `display_text` here; cells must already be (callers escape the
/// external part before painting it).
pub fn print_table(header: &[&str], rows: &[Vec<String>], colour: bool) {
    let mut out = std::io::stdout().lock();
    let _ = write_table(&mut out, header, rows, colour);
}

pub fn write_table(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    colour: bool,
) -> std::io::Result<()> {
    let n = header.len();
    let header: Vec<std::borrow::Cow<str>> = header.iter().map(|h| display_text(h)).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(visible_width(c));
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i].saturating_sub(visible_width(c))));
            }
        }
        s.trim_end().to_string()
    };
    let head: Vec<String> = header
        .iter()
        .map(|h| paint(colour, Style::Bold, h))
        .collect();
    writeln!(out, "{}", line(head))?;
    for r in rows {
        writeln!(out, "{}", line(r.clone()))?;
    }
    Ok(())
}

/// Display width without ANSI escape sequences.
pub fn visible_width(s: &str) -> usize {
    let mut plain = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain.width()
}

/// Truncates to `max` display columns with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

pub fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::failed(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// "3 min ago" / "2 h ago" / "5 d ago" for list columns.
pub fn ago(at: i64) -> String {
    let d = now_unix() - at;
    match d {
        i64::MIN..=4 => "just now".into(),
        5..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} d ago", d / 86_400),
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "2026-11-23 23:48:49 UTC".
pub fn format_time(at: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .map(|s| format!("{s} UTC"))
        .unwrap_or_else(|| at.to_string())
}

// ---------------------------------------------------------------- secrets

/// Reads one line from stdin as a secret (newline stripped).
pub fn read_stdin_secret() -> Result<SecretString, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::failed(format!("cannot read stdin: {e}")))?;
    strip_newline(&mut line);
    Ok(SecretString::from(line))
}

fn strip_newline(s: &mut String) {
    while s.ends_with('\n') || s.ends_with('\r') {
        s.pop();
    }
}

/// A masked prompt on the terminal (the prompt text is escaped here).
pub fn prompt_secret(prompt: &str) -> Result<SecretString, CliError> {
    // Prompts name hosts and databases from pasted URLs.
    let prompt = display_text(prompt);
    let prompt = prompt.as_ref();
    let read = {
        #[cfg(unix)]
        {
            tty::prompt_no_echo(prompt)
        }
        #[cfg(not(unix))]
        {
            rpassword::prompt_password(prompt)
        }
    };
    read.map(SecretString::from)
        .map_err(|e| CliError::failed(format!("cannot read from the terminal: {e}")))
}

#[cfg(unix)]
mod tty {
    //! Echo is switched off *before* the prompt is shown (rpassword shows the
    //! prompt first), so nothing typed after the prompt appears can be echoed.

    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    use zeroize::Zeroize;

    use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

    /// The terminal whose echo is off (-1: none) and its saved local flags,
    /// read by the signal handler: atomics only, as a handler may touch.
    static ECHO_OFF_FD: AtomicI32 = AtomicI32::new(-1);
    static SAVED_LFLAG: AtomicU64 = AtomicU64::new(0);

    /// Signals that would end the process while echo is off.
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// Ctrl-C (SIGINT), SIGTERM or SIGHUP at the prompt: echo back on, then
    /// die of the same signal (exit status 130/143/129 in a shell), so the
    /// terminal is never left without echo.
    extern "C" fn on_signal(sig: libc::c_int) {
        let fd = ECHO_OFF_FD.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: tcgetattr/tcsetattr/write/signal/raise are
            // async-signal-safe; the termios lives on this stack.
            unsafe {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(fd, &mut t) == 0 {
                    t.c_lflag = SAVED_LFLAG.load(Ordering::SeqCst) as libc::tcflag_t;
                    libc::tcsetattr(fd, libc::TCSANOW, &t);
                }
                libc::write(fd, b"\n".as_ptr().cast(), 1);
            }
        }
        // SAFETY: as above.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    /// Echo off for one prompt; restores the terminal (and the previous
    /// signal handlers) when dropped, on every path: return, `?`, panic, and
    /// through `on_signal` for the signals that would skip the drop.
    struct Restore {
        fd: i32,
        saved: libc::termios,
        previous: Vec<(libc::c_int, libc::sigaction)>,
    }

    impl Restore {
        fn arm(fd: i32, saved: libc::termios) -> Restore {
            SAVED_LFLAG.store(u64::from(saved.c_lflag), Ordering::SeqCst);
            ECHO_OFF_FD.store(fd, Ordering::SeqCst);
            let mut previous = Vec::with_capacity(SIGNALS.len());
            for sig in SIGNALS {
                // SAFETY: sigaction with a zeroed struct, an empty mask and
                // a plain handler; the old action is kept to be put back.
                unsafe {
                    let mut act: libc::sigaction = std::mem::zeroed();
                    act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                    libc::sigemptyset(&mut act.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, &act, &mut old) == 0 {
                        previous.push((sig, old));
                    }
                }
            }
            Restore {
                fd,
                saved,
                previous,
            }
        }
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            ECHO_OFF_FD.store(-1, Ordering::SeqCst);
            // SAFETY: fd is the open /dev/tty; saved came from tcgetattr on
            // it; the old actions came from sigaction.
            unsafe {
                libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
                for (sig, old) in &self.previous {
                    libc::sigaction(*sig, old, std::ptr::null_mut());
                }
            }
        }
    }

    pub fn prompt_no_echo(prompt: &str) -> std::io::Result<String> {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")?;
        let fd = tty.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
        let mut term: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let restore = Restore::arm(fd, term);
        term.c_lflag &= !libc::ECHO;
        term.c_lflag |= libc::ECHONL;
        // SAFETY: valid fd and a termios derived from the current one.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut out = &tty;
        out.write_all(prompt.as_bytes())?;
        out.flush()?;
        // Byte by byte, so no reader buffer keeps a copy of the secret.
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(64));
        let mut one = [0u8; 1];
        let mut input = &tty;
        let read = loop {
            match input.read(&mut one) {
                Ok(0) => break Ok(()),
                Ok(_) if one[0] == b'\n' => break Ok(()),
                Ok(_) => bytes.push(one[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        one.zeroize();
        drop(restore);
        read?;
        while bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "the input is not UTF-8")
        })
    }
}

/// Reads a passphrase file (first line, newline stripped).
pub fn read_passphrase_file(path: &Path) -> Result<SecretString, CliError> {
    let mut text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!(
            "cannot read passphrase file {}: {e}",
            path.display()
        ))
    })?;
    if let Some(pos) = text.find('\n') {
        text.truncate(pos);
    }
    strip_newline(&mut text);
    if text.is_empty() {
        return Err(CliError::usage(format!(
            "passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(text))
}

/// A new passphrase: from `file`, else `env_var`'s file, else asked twice on a terminal.
pub fn new_passphrase(file: Option<&Path>, env_var: &str) -> Result<SecretString, CliError> {
    use secrecy::ExposeSecret;
    if let Some(f) = file {
        return read_passphrase_file(f);
    }
    if let Some(f) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        return read_passphrase_file(Path::new(&f));
    }
    if !interactive() {
        return Err(
            CliError::usage("a new vault passphrase is needed").hint(format!(
                "set {env_var}=FILE, or run on a terminal to be asked"
            )),
        );
    }
    for _ in 0..3 {
        let a = prompt_secret("New vault passphrase: ")?;
        if a.expose_secret().chars().count() < 8 {
            eprintln!("The passphrase needs at least 8 characters.");
            continue;
        }
        let b = prompt_secret("Repeat the passphrase: ")?;
        if a.expose_secret() == b.expose_secret() {
            return Ok(a);
        }
        eprintln!("The passphrases differ; try again.");
    }
    Err(CliError::failed("no passphrase set"))
}

/// How many connections have a stored secret (0 if the catalog cannot say).
pub fn stored_secrets(profile: &Profile) -> usize {
    profile.catalog().secrets().map(|s| s.len()).unwrap_or(0)
}

/// The one diagnosis of a broken vault for a person, with the way out that
/// loses the least and the full path of the file really at fault. `None`
/// when the vault is ready or simply absent. Shared by `vault status`,
/// `doctor`, `vault init` and every command that needs the vault.
pub fn vault_problem(profile: &Profile, state: &VaultState) -> Option<CliError> {
    let identity = profile.paths.identity();
    let recipients = profile.paths.recipients();
    let n = stored_secrets(profile);
    let secrets = match n {
        1 => "1 stored secret".to_string(),
        n => format!("{n} stored secrets"),
    };
    let reset = if n == 0 {
        "`varlor vault reset --yes` sets the vault files aside (no secret is stored, nothing is lost), then `varlor vault init`".to_string()
    } else {
        format!(
            "restore it from a backup to keep the {secrets}; otherwise `varlor vault reset --yes` drops them (connections are kept, their files set aside), then `varlor vault init` and set the passwords again"
        )
    };
    let e = match state {
        VaultState::Absent | VaultState::Ready { .. } => return None,
        VaultState::IdentityMissing => CliError::failed(format!(
            "the vault identity {} is missing ({secrets} cannot be read without it)",
            identity.display()
        ))
        .hint(reset),
        VaultState::IdentityDamaged(why) => CliError::failed(format!(
            "the vault identity {} is damaged: {why} ({secrets} cannot be read without it)",
            identity.display()
        ))
        .hint(reset),
        VaultState::RecipientsMissing => CliError::failed(format!(
            "the vault public key file {} is missing",
            recipients.display()
        ))
        .hint(format!(
            "`varlor vault repair` rebuilds it from {} (asks the passphrase){}",
            identity.display(),
            if n == 0 {
                "; or `varlor vault init` starts a new vault (no secret is stored)"
            } else {
                ""
            }
        )),
        VaultState::RecipientsDamaged(why) => CliError::failed(format!(
            "the vault public key file {} is damaged: {why}",
            recipients.display()
        ))
        .hint(format!(
            "`varlor vault repair` rebuilds it from {} (asks the passphrase; the damaged file is kept aside)",
            identity.display()
        )),
    };
    Some(e)
}

/// VARLOR_PASSPHRASE_FILE is set but names a file that cannot be used.
pub fn passphrase_file_problem() -> Option<CliError> {
    let file = std::env::var_os("VARLOR_PASSPHRASE_FILE").filter(|f| !f.is_empty())?;
    read_passphrase_file(Path::new(&file)).err().map(|e| {
        CliError::failed(format!("VARLOR_PASSPHRASE_FILE: {}", e.message))
            .hint("fix that file, or unset VARLOR_PASSPHRASE_FILE to be asked on a terminal")
    })
}

/// Unlocks the vault: `--identity`, VARLOR_PASSPHRASE_FILE, else a masked
/// prompt on a terminal (3 tries), else a clear error.
/// Runs an operation of `crate::ops`, answering what it needs at the
/// terminal (unlock or create the vault, a masked password prompt) and
/// running it again; without a terminal a need is an error in words.
/// `password_for` names the target in the password prompt; `no_terminal`
/// is the hint when there is no terminal to ask on.
pub fn fulfil<T>(
    ctx: &Ctx,
    profile: &mut Profile,
    password_for: &str,
    no_terminal: &str,
    mut prompted: Option<SecretString>,
    mut op: impl FnMut(&mut Profile, Option<SecretString>) -> Result<Step<T>, CliError>,
) -> Result<T, CliError> {
    // Each need is answered once: a second time means it was not met.
    let mut answered = Vec::new();
    loop {
        let need = match op(profile, prompted.take())? {
            Step::Go(v) => return Ok(v),
            Step::Need(need) => need,
        };
        if answered.contains(&need) {
            return Err(CliError::failed(
                "the operation still needs what it asked for",
            ));
        }
        answered.push(need);
        match need {
            Need::Unlock { vault_exists: true } => ensure_unlocked(profile, ctx)?,
            Need::Unlock {
                vault_exists: false,
            } => ensure_vault(profile)?,
            Need::Password if interactive() => {
                prompted = Some(prompt_secret(&format!("Password for {password_for}: "))?)
            }
            Need::Password => {
                return Err(CliError::failed(format!(
                    "{password_for} asks for its password every time"
                ))
                .hint(no_terminal))
            }
        }
    }
}

pub fn ensure_unlocked(profile: &mut Profile, ctx: &Ctx) -> Result<(), CliError> {
    if profile.is_unlocked() {
        return Ok(());
    }
    let state = profile.vault().state();
    if let Some(problem) = vault_problem(profile, &state) {
        // Identity present, public key file not: reading still works.
        if !matches!(
            state,
            VaultState::RecipientsMissing | VaultState::RecipientsDamaged(_)
        ) {
            return Err(problem);
        }
        eprintln!("warning: {}", problem.message);
        if let Some(h) = &problem.hint {
            eprintln!("hint: {h}");
        }
    } else if state == VaultState::Absent {
        return Err(CliError::failed("the vault is not initialised")
            .hint("run `varlor vault init`, or add a connection with a password"));
    }
    let damaged = |profile: &Profile| {
        vault_problem(
            profile,
            &VaultState::IdentityDamaged("its content fails authentication".into()),
        )
        .unwrap_or_else(|| CliError::failed("the vault identity is damaged"))
    };
    let from_env = profile
        .unlock_from_env(ctx.identity.as_deref())
        .map_err(|e| {
            if ctx.identity.is_none() && matches!(e, ProfileError::Vault(VaultError::Tampered)) {
                return damaged(profile);
            }
            if matches!(e, ProfileError::Vault(VaultError::NotEnoughMemory { .. })) {
                return not_enough_memory(e);
            }
            let hint = if ctx.identity.is_some() {
                "check the file given with --identity"
            } else {
                "check the file named by VARLOR_PASSPHRASE_FILE"
            };
            CliError::from(e).hint(hint)
        })?;
    if from_env {
        tracing::info!(profile = %ctx.profile, "vault unlocked non-interactively");
        return Ok(());
    }
    if !interactive() {
        return Err(CliError::failed("the vault is locked").hint(UNLOCK_HINT));
    }
    // Refused before asking: no passphrase is typed for an unlock that cannot run.
    if let Err(e) = profile.vault().check_unlock_memory() {
        return Err(not_enough_memory(e.into()));
    }
    let mut last = None;
    for _ in 0..3 {
        let p = prompt_secret(&format!("Vault passphrase (profile {}): ", ctx.profile))?;
        match profile.unlock(&p) {
            Ok(()) => return Ok(()),
            Err(ProfileError::Vault(VaultError::WrongPassphrase)) => {
                eprintln!("Wrong passphrase.");
                last = Some(ProfileError::Vault(VaultError::WrongPassphrase));
            }
            Err(ProfileError::Vault(VaultError::Tampered)) => return Err(damaged(profile)),
            Err(e @ ProfileError::Vault(VaultError::NotEnoughMemory { .. })) => {
                return Err(not_enough_memory(e))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(CliError::from)
        .unwrap_or_else(|| CliError::failed("vault locked")))
}

fn not_enough_memory(e: ProfileError) -> CliError {
    CliError::failed(e.to_string()).hint(
        "free memory, or on a machine with enough memory lower the cost with \
         `varlor vault passwd --work-factor 18` (or less)",
    )
}

/// Creates the vault when a secret is about to be saved and none exists.
pub fn ensure_vault(profile: &mut Profile) -> Result<(), CliError> {
    let state = profile.vault().state();
    if state.is_ready() {
        return Ok(());
    }
    // A leftover identity of an interrupted init (no public key file, no
    // secret encrypted to it) is replaced; anything else is diagnosed.
    let leftover = state == VaultState::RecipientsMissing && stored_secrets(profile) == 0;
    if !leftover {
        if let Some(problem) = vault_problem(profile, &state) {
            return Err(problem);
        }
    }
    let passphrase = new_passphrase(None, "VARLOR_PASSPHRASE_FILE").map_err(|e| {
        CliError {
            code: e.code,
            message: format!("no vault yet: {}", e.message),
            hint: Some(
                "set VARLOR_PASSPHRASE_FILE=FILE (or run `varlor vault init` on a terminal) to create it"
                    .into(),
            ),
        }
    })?;
    profile.init_vault(&passphrase)?;
    eprintln!("Vault created for profile '{}'.", profile.paths.profile);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_align_by_display_width() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &["A", "B"],
            &[
                vec!["ü✓".into(), "x".into()],
                vec!["long text".into(), "y".into()],
            ],
            false,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "ü✓         x");
        assert_eq!(lines[2], "long text  y");
    }

    #[test]
    fn headers_are_escaped_and_aligned_on_what_is_shown() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &["col\x1b[2J", "B"],
            &[vec![crate::display::display_string("a\tb"), "x".into()]],
            false,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "col␛[2J  B");
        assert_eq!(lines[1], "a\\tb     x");
    }

    #[test]
    fn ansi_is_not_counted() {
        assert_eq!(visible_width(&paint(true, Style::Red, "abc")), 3);
    }

    #[test]
    fn truncation_respects_width() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn cli_errors_keep_exit_codes() {
        let e: CliError = ProfileError::Catalog(CatalogError::Duplicate("x".into())).into();
        assert_eq!(e.code, EXIT_USAGE);
        let e: CliError = ProfileError::LockoutGuard(3).into();
        assert_eq!(e.code, EXIT_FAILED);
        assert!(e.hint.unwrap().contains("--force"));
    }
}
