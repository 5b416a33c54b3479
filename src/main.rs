//! The `varlor` binary: parse the command line, set up logging and the panic
//! hook, run a subcommand or the TUI. Nothing else lives here.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use varlor::cli::Cli;
use varlor::commands::{self, CliError, EXIT_FAILED, EXIT_USAGE};
use varlor::config::Config;
use varlor::display::display_text;
use varlor::store::Paths;

fn main() -> ExitCode {
    varlor::forbid_core_dumps();
    // Started by ssh as its SSH_ASKPASS: ask the parent Varlor, nothing else.
    if let Some(code) = varlor::ssh::askpass::main_if_askpass() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    // The agent is this same binary (`varlor agent serve`).
    if let Ok(exe) = std::env::current_exe() {
        varlor::agent::set_launcher(exe);
    }
    varlor::dataset::mark_process_start();
    if cli.command.as_ref().is_some_and(quiet_on_closed_pipe) {
        restore_default_sigpipe();
    }
    install_panic_hook();
    setup_logging(&cli);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(CliError::failed(format!("cannot start the runtime: {e}"))),
    };
    let result = runtime.block_on(async move {
        if let Some(varlor::cli::Command::Open { name }) = &cli.command {
            let name = name.clone();
            run_tui(cli, Some(name)).await
        } else if let Some(varlor::cli::Command::Bare(words)) = &cli.command {
            // `varlor NAME`: one word naming a saved connection.
            match &words[..] {
                [name] => {
                    let name = name.clone();
                    run_tui(cli, Some(name)).await
                }
                _ => Err(CliError::usage(format!(
                    "unknown command '{}'",
                    display_text(&words.join(" "))
                ))
                .hint(
                    "`varlor --help` lists the commands; `varlor NAME` opens a saved connection",
                )),
            }
        } else if cli.command.is_none() {
            run_tui(cli, None).await
        } else {
            commands::run(cli).await.map(|()| 0)
        }
    });
    // Drop pending work (e.g. a cancelled connect) without waiting for it.
    // (The TUI has already waited for its imports, so no partial file is left.)
    runtime.shutdown_background();
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILED as u8)),
        Err(e) => report(e),
    }
}

/// The TUI's exit status: 0 for `q`, 130 for Ctrl-C, 143/129 for SIGTERM/SIGHUP.
async fn run_tui(cli: Cli, open: Option<String>) -> Result<i32, CliError> {
    let profile = varlor::profile::Profile::open(&cli.profile)
        .map_err(|e| CliError::failed(format!("cannot open profile '{}': {e}", cli.profile)))?;
    if let Some(name) = &open {
        // Before the terminal is taken: a typo is an ordinary usage error.
        if profile.get(name).is_err() {
            return Err(CliError::usage(format!(
                "no command or connection named '{}'",
                display_text(name)
            ))
            .hint("`varlor list` shows the saved connections, `varlor --help` the commands"));
        }
    }
    // `--identity` / VARLOR_PASSPHRASE_FILE work for the TUI too (no prompt
    // then), but the unlock (scrypt, seconds) runs inside the app after the
    // first frame, in raw mode, so nothing typed meanwhile is echoed.
    tracing::info!(profile = %cli.profile, "starting the TUI");
    varlor::app::run(profile, cli.identity, open)
        .await
        .map_err(|e| CliError::failed(format!("terminal error: {e}")))
}

/// Subcommands end quietly on a closed stdout (`varlor preview … | head -1`),
/// as `cat` does. Not the TUI, and not `import`: it writes files and streams
/// from a server for a long time, and keeps EPIPE as an error so its cleanup
/// runs (it restores the default itself before printing its summary).
fn quiet_on_closed_pipe(command: &varlor::cli::Command) -> bool {
    !matches!(command, varlor::cli::Command::Import(_))
}

/// Rust starts with SIGPIPE ignored, so `println!` into a closed pipe panics
/// (exit 101). The default disposition ends the process quietly instead.
fn restore_default_sigpipe() {
    varlor::commands::restore_default_sigpipe();
}

/// "error: <message>" and an optional hint on stderr; the exit code.
fn report(e: CliError) -> ExitCode {
    if !e.message.is_empty() {
        // Messages carry table names, paths and server text: shown escaped.
        eprintln!("error: {}", display_text(&e.message));
        if let Some(h) = &e.hint {
            eprintln!("hint: {}", display_text(h));
        }
    }
    tracing::info!(code = e.code, "exit with error");
    let code = if e.code == EXIT_USAGE {
        EXIT_USAGE
    } else {
        e.code.clamp(1, 255)
    };
    ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILED as u8))
}

/// Logging never stops the program: a broken log dir is a warning.
fn setup_logging(cli: &Cli) {
    let Ok(paths) = Paths::resolve(&cli.profile) else {
        return; // Profile::open reports the same problem properly.
    };
    let level = Config::load(&paths.config_file())
        .map(|c| c.log_level)
        .unwrap_or_else(|_| "info".into());
    if let Err(e) = varlor::logging::init(&paths.log_dir(), &level, cli.verbose) {
        eprintln!("warning: logging disabled: {e}");
    }
}

/// Restores the terminal before the panic message is printed, so a crash in
/// the TUI never leaves the shell in raw mode on the alternate screen.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::io::stdout().is_terminal() {
            let _ = crossterm::terminal::disable_raw_mode();
            let _ = crossterm::execute!(
                std::io::stdout(),
                crossterm::terminal::LeaveAlternateScreen,
                crossterm::event::DisableMouseCapture,
                crossterm::cursor::Show
            );
        }
        tracing::error!("panic: {info}");
        default(info);
    }));
}
