//! The Elm-style application loop (see DESIGN.md): state, actions, a pure
//! update, effects on tokio.

pub mod action;
pub mod discover;
pub mod effect;
pub mod keys;
pub mod query_complete;
pub mod ssh_prompt;
pub mod state;
pub mod update;

use std::io::{self, Stdout};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event, EventStream, KeyEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::profile::Profile;

pub use action::Action;
pub use effect::{Effect, EffectRunner};
pub use state::State;
pub use update::update;

/// Spinner and elapsed-time refresh rate.
const TICK: Duration = Duration::from_millis(100);

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The initial state for `profile`, with its connections loaded (a quick
/// catalog read, so the first frame already shows the list).
pub fn initial_state(profile: &Profile) -> State {
    let mut state = State::new(profile.paths.profile.clone());
    state.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    state.preview_rows = profile.config.preview_rows;
    state.query_page_rows = profile.config.query_page_rows;
    state.structure_cache = Duration::from_secs(profile.config.structure_cache_secs);
    state.show_system_default = profile.config.show_system_schemas;
    state.now_unix = unix_now();
    match profile.list() {
        Ok(rows) => update::set_connections(&mut state, rows, None),
        Err(e) => state.load_error = Some(e.to_string()),
    }
    state
}

/// Puts the terminal back: cooked mode, main screen, visible cursor.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, so `?` and early returns are covered.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn setup_terminal() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// How long quitting waits for running imports to remove their partial files.
const IMPORT_GRACE: Duration = Duration::from_secs(10);

/// SIGTERM and SIGHUP quit the app like Ctrl-C does (terminal restored,
/// imports cleaned up), with exit status 143 / 129.
#[cfg(unix)]
fn forward_termination(tx: tokio::sync::mpsc::UnboundedSender<Action>) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, code) in [(SignalKind::terminate(), 143), (SignalKind::hangup(), 129)] {
        if let Ok(mut sig) = signal(kind) {
            let tx = tx.clone();
            tokio::spawn(async move {
                if sig.recv().await.is_some() {
                    let _ = tx.send(Action::Terminate(code));
                }
            });
        }
    }
}

/// Runs the TUI until the user quits; returns the exit status (0 for `q`,
/// 130 for Ctrl-C, 143/129 for SIGTERM/SIGHUP). Restores the terminal on
/// every exit path. `identity` (or VARLOR_PASSPHRASE_FILE) is unlocked in
/// the background once the first frame is on screen.
pub async fn run(
    profile: Profile,
    identity: Option<std::path::PathBuf>,
    open: Option<String>,
) -> std::io::Result<i32> {
    let mut state = initial_state(&profile);
    let env_unlock = profile.vault_initialised()
        && (identity.is_some()
            || std::env::var_os("VARLOR_PASSPHRASE_FILE").is_some_and(|f| !f.is_empty()));
    let session = crate::ops::session_options(&profile.config);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    forward_termination(tx.clone());
    let env = crate::ops::EnvUnlock::new(identity);
    let runner = EffectRunner::new(Arc::new(Mutex::new(profile)), tx, session, env);
    // ssh's questions (host key, passphrase, password) come to the overlay;
    // with a prompter registered, tunnels no longer run ssh in BatchMode.
    crate::ssh::askpass::set_prompter(Some(
        runner.prompter() as Arc<dyn crate::ssh::askpass::Prompter>
    ));

    // Chain a hook that restores the terminal before the panic message prints.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));

    let _guard = TerminalGuard;
    let mut terminal = setup_terminal()?;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    if env_unlock {
        state.unlocking = true;
        terminal.draw(|f| crate::ui::draw(f, &state))?;
        runner.run(Effect::UnlockFromEnv);
    }
    // `varlor open NAME`: straight to that connection's browser.
    if let Some(name) = open {
        for effect in update::open_connection(&mut state, &name) {
            runner.run(effect);
        }
    }

    if let Ok(size) = terminal.size() {
        update(
            &mut state,
            Action::Resize {
                width: size.width,
                height: size.height,
            },
        );
    }
    let result = loop {
        if let Err(e) = terminal.draw(|f| crate::ui::draw(f, &state)) {
            break Err(e);
        }
        if let Some(text) = state.clipboard.take() {
            // Between frames, so the sequence never lands inside one.
            use std::io::Write;
            let out = terminal.backend_mut();
            let sent = zeroize::Zeroizing::new(crate::display::osc52_copy(&text));
            if let Err(e) = out.write_all(sent.as_bytes()).and_then(|_| out.flush()) {
                break Err(e);
            }
        }
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => Action::Key(k),
                Some(Ok(Event::Paste(s))) => Action::Paste(s),
                Some(Ok(Event::Resize(width, height))) => Action::Resize { width, height },
                Some(Ok(_)) => continue,
                Some(Err(e)) => break Err(e),
                None => break Ok(state.exit_code),
            },
            Some(a) = rx.recv() => a,
            _ = tick.tick() => Action::Tick { now: Instant::now(), now_unix: unix_now() },
        };
        for effect in update(&mut state, action) {
            runner.run(effect);
        }
        if state.quit {
            break Ok(state.exit_code);
        }
    };
    crate::ssh::askpass::set_prompter(None);
    // Imports remove their partial files before the process exits; ssh's
    // waiting questions are refused.
    runner.shutdown(IMPORT_GRACE).await;
    result
}
