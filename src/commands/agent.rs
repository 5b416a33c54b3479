//! `varlor agent start|stop|status` (and the hidden `serve`, which is the
//! agent itself). See `crate::agent`.
//!
//! `agent status --json`:
//!
//! ```json
//! { "running": true, "pid": 1234, "socket": "/run/user/1000/varlor/agent.sock",
//!   "idle_timeout_secs": 900, "idle_secs": 12, "memory_locked": true,
//!   "profiles": ["/home/me/.local/share/varlor/profiles/default"] }
//! ```

use serde_json::json;

use super::{print_json, CliError, Ctx};
use crate::agent::{self, AgentError, Client};
use crate::cli::AgentCommand;
use crate::display::display_text;

pub fn run(ctx: &Ctx, cmd: AgentCommand) -> Result<(), CliError> {
    match cmd {
        AgentCommand::Serve { idle_timeout } => {
            agent::server::serve(idle_timeout).map_err(|e| CliError::failed(e.to_string()))
        }
        AgentCommand::Start => {
            if agent::disabled() {
                return Err(CliError::failed(
                    "agents are switched off (VARLOR_NO_AGENT)",
                ));
            }
            let timeout = ctx.open()?.config.agent_timeout_secs;
            if timeout == 0 {
                return Err(CliError::failed("agents are switched off")
                    .hint("agent_timeout_secs = 0 in config.toml"));
            }
            let client = Client::connect_or_start(timeout).map_err(failed)?;
            let status = client.status().map_err(failed)?;
            println!(
                "Agent running (pid {}) at {}.",
                status.pid,
                display_text(&client.socket().display().to_string())
            );
            Ok(())
        }
        AgentCommand::Stop => match Client::connect() {
            Ok(c) => {
                c.stop().map_err(failed)?;
                println!("Agent stopped; it forgot every identity.");
                Ok(())
            }
            Err(AgentError::NotRunning) => {
                println!("No agent is running.");
                Ok(())
            }
            Err(e) => Err(failed(e)),
        },
        AgentCommand::Status { json } => status(json),
    }
}

fn failed(e: AgentError) -> CliError {
    CliError::failed(e.to_string())
}

fn status(json: bool) -> Result<(), CliError> {
    let socket = agent::socket_path().map_err(failed)?;
    let status = match Client::connect() {
        Ok(c) => Some(c.status().map_err(failed)?),
        Err(AgentError::NotRunning) => None,
        Err(e) => return Err(failed(e)),
    };
    if json {
        return print_json(&match &status {
            Some(s) => json!({
                "running": true,
                "pid": s.pid,
                "socket": socket.display().to_string(),
                "idle_timeout_secs": s.idle_timeout_secs,
                "idle_secs": s.idle_secs,
                "memory_locked": s.memory_locked,
                "profiles": s.profiles,
            }),
            None => json!({
                "running": false,
                "socket": socket.display().to_string(),
            }),
        });
    }
    let Some(s) = status else {
        println!("No agent is running.");
        return Ok(());
    };
    println!("agent        running, pid {}", s.pid);
    println!(
        "socket       {}",
        display_text(&socket.display().to_string())
    );
    println!(
        "idle         {} s of {} s",
        s.idle_secs, s.idle_timeout_secs
    );
    println!(
        "memory       {}",
        if s.memory_locked {
            "locked (mlock)"
        } else {
            "NOT locked (RLIMIT_MEMLOCK too low)"
        }
    );
    if s.profiles.is_empty() {
        println!("holds        no identity");
    }
    for p in &s.profiles {
        println!("holds        {}", display_text(p));
    }
    Ok(())
}
