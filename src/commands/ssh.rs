//! `varlor ssh-hosts`, and ssh's prompts at the terminal.
//!
//! `varlor ssh-hosts --json` prints an array of alias strings, in the order
//! of the config files (`$VARLOR_SSH_CONFIG` or `~/.ssh/config`, Include
//! followed, wildcard patterns left out).

use std::io::{BufRead, Write};
use std::sync::Arc;

use secrecy::SecretString;

use super::{interactive, print_json, prompt_secret, CliError};
use crate::cli::Command;
use crate::display::display_text;
use crate::ssh::askpass::{self, Prompter, Question};

pub fn hosts(json: bool) -> Result<(), CliError> {
    let aliases = crate::ssh::hosts::config_path()
        .map(|p| crate::ssh::hosts::aliases(&p))
        .unwrap_or_default();
    if json {
        return print_json(&serde_json::json!(aliases));
    }
    if aliases.is_empty() {
        println!("No Host aliases in ~/.ssh/config. `--ssh user@host[:port]` works too.");
    }
    for a in aliases {
        println!("{}", display_text(&a));
    }
    Ok(())
}

/// ssh's questions at the terminal: the host key question in the clear
/// (with its fingerprint), passphrases and passwords masked.
struct Terminal;

impl Prompter for Terminal {
    fn ask(&self, q: &Question) -> Option<SecretString> {
        match q {
            Question::Secret(text) => prompt_secret(text).ok(),
            Question::Confirm(text) => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "{}", display_text(text));
                let _ = err.flush();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).ok()?;
                Some(SecretString::from(line.trim().to_string()))
            }
        }
    }

    fn notify(&self, text: &str) {
        eprintln!("{}", display_text(text.trim_end()));
    }
}

/// Prompts go to the person at a terminal; `--json` and scripts (no
/// terminal) leave none registered, so ssh runs in BatchMode and fails with
/// words instead of waiting.
pub fn prompts_for(command: &Command) {
    let json = match command {
        Command::Test(a) => a.json,
        Command::Import(a) => a.json,
        Command::Tables { json, .. }
        | Command::Describe { json, .. }
        | Command::Preview { json, .. }
        | Command::Count { json, .. }
        | Command::Query { json, .. } => *json,
        _ => false,
    };
    let terminal = interactive() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    askpass::set_prompter((terminal && !json).then(|| Arc::new(Terminal) as Arc<dyn Prompter>));
}
