//! CLI definitions (clap). Every TUI capability has a scriptable twin; data
//! commands take `--json` (shapes documented in `src/commands/*.rs`).
//!
//! There is deliberately no `--password` flag anywhere: argv is visible to
//! every user of the machine (`ps`). Passwords come from a masked prompt,
//! `--password-stdin`, a URL (moved into the vault) or a password command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "varlor",
    version,
    about = "Connect to databases and look at production data safely",
    long_about = "Connect to databases and look at production data safely.\n\n\
        With no subcommand, opens the terminal UI.\n\n\
        Exit codes: 0 ok, 1 the operation failed (test failed, server refused…), 2 usage error."
)]
pub struct Cli {
    /// Profile (tenant) to use; each has its own catalog and vault.
    #[arg(
        long,
        global = true,
        env = "VARLOR_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub profile: String,

    /// Unlock the vault with this age identity file or SSH private key.
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Print more detail (sanitized driver messages) and log at debug level.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List saved connections with their last test.
    List {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Save a new connection.
    Add(AddArgs),
    /// Change a saved connection.
    Edit(EditArgs),
    /// Remove a saved connection (and its stored secret).
    #[command(alias = "remove")]
    Rm {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Test a saved connection, or a URL without saving it.
    Test(TestArgs),
    /// List the Host aliases of ~/.ssh/config (wildcards left out, Include followed).
    SshHosts {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Manage the profile's age vault.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// The agent that holds unlocked vault identities, so later commands
    /// need no passphrase (started by the first unlock).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Open the terminal UI straight on this connection's table browser
    /// (`varlor NAME` does the same when NAME is no subcommand).
    Open { name: String },
    /// `varlor NAME`: a word that is no subcommand names a connection to open.
    #[command(external_subcommand)]
    Bare(Vec<String>),
    /// Print a shell completion script: `varlor completions bash > /etc/bash_completion.d/varlor`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Check directories, permissions, catalog, vault and counts.
    Doctor {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show or prune the audit log.
    Audit {
        /// Only entries newer than a duration (30m, 24h, 7d, 2w) or a date (2026-11-01).
        #[arg(long, value_name = "DURATION|DATE")]
        since: Option<String>,
        /// Delete entries older than DAYS days.
        #[arg(long, value_name = "DAYS")]
        prune: Option<u32>,
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List the tables and views of a saved connection.
    Tables {
        name: String,
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
        /// Include system schemas.
        #[arg(long)]
        all: bool,
    },
    /// Show the columns of a table.
    Describe {
        name: String,
        /// `schema.name`, `name`, or quoted: `"sales"."Weird Name"`.
        table: String,
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
        /// MongoDB: documents sampled to infer the structure (default:
        /// sample_documents from the config, 1,000; at most 100,000).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        sample: Option<u32>,
    },
    /// Show the first rows of a table.
    Preview {
        name: String,
        table: String,
        /// Rows to show (default: preview_rows from the config, 10).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Machine-readable JSON output.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV output (RFC 4180; NULL is an empty field).
        #[arg(long)]
        csv: bool,
    },
    /// Count the rows of a table exactly (COUNT(*)).
    Count {
        name: String,
        table: String,
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Copy tables into a local dataset (SQLite file, CSV or JSONL directory).
    Import(ImportArgs),
    /// Bring connections in from other tools, or share them encrypted.
    Connections {
        #[command(subcommand)]
        command: ConnectionsCommand,
    },
    /// Run one read-only SQL statement (it can never write; a second
    /// statement is refused). SQL `-` reads it from stdin. On MongoDB:
    /// db.COLL.find({…}, {…}).sort({…}).limit(N) or db.COLL.aggregate([…])
    /// ($out, $merge and write methods are refused).
    Query {
        name: String,
        sql: String,
        /// At most N rows (human output: default 500; --csv/--json: all).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Machine-readable JSON output, streamed.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV output (RFC 4180; NULL is an empty field), streamed.
        #[arg(long)]
        csv: bool,
    },
}

/// Connection fields shared by `add` and `edit`.
#[derive(Debug, Args, Clone, Default)]
pub struct SpecArgs {
    /// A connection URL, e.g. postgres://user@host:5432/db?sslmode=require.
    /// A password inside it is moved into the vault, never stored in clear.
    #[arg(long, value_name = "URL", conflicts_with_all = ["kind", "host", "port", "database", "user"])]
    pub url: Option<String>,
    /// Engine: postgres, mysql, mongodb, oracle, sqlserver, sqlite.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// 1-65535 (default: the engine's port).
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Database (service name for Oracle, the file for SQLite).
    #[arg(long, visible_alias = "path", value_name = "DB")]
    pub database: Option<String>,
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// disable, prefer, require, verify-full.
    #[arg(long, value_name = "MODE")]
    pub tls: Option<String>,
    /// CA certificate (PEM) for verify-full.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// production, staging, development, none.
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Connect timeout in seconds (default 30).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Reach the database through this SSH host: an alias of ~/.ssh/config
    /// (see `varlor ssh-hosts`) or user@host[:port]; "" removes it.
    #[arg(long, value_name = "HOST")]
    pub ssh: Option<String>,
}

/// How the password is had.
#[derive(Debug, Args, Clone, Default)]
#[group(multiple = false)]
pub struct PasswordArgs {
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Never store the password; ask for it at every connect.
    #[arg(long)]
    pub ask_password_every_time: bool,
    /// Run this shell command to get the password (its output is never stored).
    #[arg(long, value_name = "CMD")]
    pub password_command: Option<String>,
    /// The connection needs no password (trust auth).
    #[arg(long)]
    pub no_password: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    pub name: String,
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    pub name: String,
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// New name.
    #[arg(long, value_name = "NEW")]
    pub rename: Option<String>,
    /// Remove the stored password.
    #[arg(long, conflicts_with_all = ["password_stdin", "password_prompt"])]
    pub clear_password: bool,
    /// Ask for a new password (masked prompt).
    #[arg(long, conflicts_with_all = ["password_stdin", "ask_password_every_time", "password_command", "no_password"])]
    pub password_prompt: bool,
    /// When the edit changes where the password goes (engine, host, port,
    /// user, database), send the stored password to the new target too
    /// (needs the vault unlocked). Without it, the stored password is dropped.
    #[arg(long, conflicts_with_all = ["password_stdin", "password_prompt", "clear_password"])]
    pub keep_password: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// A saved connection name, or a URL to test without saving.
    pub target: String,
    /// Machine-readable JSON output (shapes in the docs of src/commands).
    #[arg(long)]
    pub json: bool,
    /// Test even after repeated failed logins (may lock the account).
    #[arg(long)]
    pub force: bool,
    /// Read the password from stdin (URL tests, or connections that ask every time).
    #[arg(long)]
    pub password_stdin: bool,
    /// Test through this SSH host (alias or user@host[:port]) this time,
    /// instead of the saved one; "" tests without SSH.
    #[arg(long, value_name = "HOST")]
    pub ssh: Option<String>,
    /// Connect timeout in seconds for this test only (1..=3600; a saved
    /// connection keeps its own).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault (asks a new passphrase, or VARLOR_PASSPHRASE_FILE).
    Init {
        /// Also let this SSH (or age) public key unlock the vault, e.g.
        /// ~/.ssh/id_ed25519.pub; then `--identity ~/.ssh/id_ed25519`
        /// unlocks without the passphrase. Repeatable.
        #[arg(long, value_name = "FILE.pub")]
        ssh_recipient: Vec<PathBuf>,
        /// scrypt work factor log2(N), 10..=22 (default 18: 256 MiB to unlock).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(10..=22))]
        work_factor: Option<u8>,
    },
    /// Let another public key unlock the vault: an SSH key (ssh-ed25519 or
    /// ssh-rsa, e.g. ~/.ssh/id_ed25519.pub) or an age key (age1…). Every
    /// stored secret is re-encrypted to it; needs the vault unlocked.
    AddRecipient {
        /// The public key file.
        #[arg(value_name = "FILE.pub")]
        file: PathBuf,
    },
    /// New identity and passphrase; re-encrypts every secret.
    Rotate {
        /// Read the new passphrase from this file (else VARLOR_NEW_PASSPHRASE_FILE, else a prompt).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Change the passphrase (and the scrypt work factor) without changing
    /// the key: only identity.age is rewritten. Asks the current passphrase.
    Passwd {
        /// Read the new passphrase from this file (else VARLOR_NEW_PASSPHRASE_FILE, else a prompt).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        /// scrypt work factor log2(N), 10..=22 (default 18: 256 MiB to unlock).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(10..=22))]
        work_factor: Option<u8>,
    },
    /// Make the agent forget every unlocked identity (all profiles).
    Lock,
    /// Rebuild a missing or damaged recipients.txt from identity.age
    /// (asks the passphrase); no secret changes.
    Repair,
    /// For a vault whose identity.age is missing or damaged: set the vault
    /// files aside (renamed, not deleted) and drop the stored secrets, which
    /// cannot be read any more. Connections are kept. Then `vault init`.
    Reset {
        /// Confirm dropping the stored secrets.
        #[arg(long)]
        yes: bool,
    },
    /// Show whether the vault exists, its key version and secrets.
    Status {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start the agent if it is not running.
    Start,
    /// Make the agent forget every identity and exit.
    Stop,
    /// Whether the agent runs, and which profiles it holds.
    Status {
        /// Machine-readable JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Run the agent in the foreground (what `start` launches, detached).
    #[command(hide = true)]
    Serve {
        /// Forget everything and exit after this many idle seconds.
        #[arg(long, value_name = "SECS", default_value_t = 900)]
        idle_timeout: u64,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub name: String,
    /// Tables: `schema.name`, `name`, or quoted `"sales"."Weird Name"`.
    #[arg(required = true, value_name = "TABLE")]
    pub tables: Vec<String>,
    /// Destination file (sqlite) or directory (csv, jsonl); default
    /// `<data dir>/datasets/<connection>-<date>.sqlite` (or `-csv`/`-jsonl`).
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,
    /// sqlite, csv, jsonl or parquet (default sqlite).
    #[arg(long, default_value = "sqlite", value_name = "FORMAT")]
    pub format: String,
    /// At most N rows per table.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// A row filter for one table: TABLE=CONDITION, split at the first `=`
    /// outside double quotes, e.g. --where "orders=status = 'paid'".
    /// TABLE is one of the TABLE arguments (any spelling naming the same
    /// table). For SQL engines CONDITION is SQL without the WHERE keyword
    /// and runs only inside the read-only session; for MongoDB it is a JSON
    /// query document, not SQL, e.g. --where 'orders={"status": "paid"}'
    /// (Extended JSON such as {"$oid": "…"} understood; anything else is
    /// refused). Repeat for other tables, one per table.
    #[arg(long = "where", value_name = "TABLE=CONDITION")]
    pub filters: Vec<String>,
    /// Machine-readable JSON output (shapes in the docs of src/commands).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Find connections in ~/.pgpass, pg_service.conf, MySQL option files,
    /// ~/.mylogin.cnf, DBeaver workspaces and the environment and save them
    /// (passwords into the vault); or read a bundle (--bundle).
    Import(ConnImportArgs),
    /// Write connections and their passwords into a file encrypted to a
    /// teammate's age or SSH public key.
    Export(ConnExportArgs),
}

#[derive(Debug, Args)]
pub struct ConnImportArgs {
    /// pgpass, pgservice, mycnf, mylogin, dbeaver, env or all (default all);
    /// repeatable or comma-separated.
    #[arg(
        long,
        value_name = "SOURCE",
        value_delimiter = ',',
        conflicts_with = "bundle"
    )]
    pub from: Vec<String>,
    /// Read a bundle made by `varlor connections export` (decrypted with the
    /// unlocked vault, or the key given with --identity).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Show what would be imported; save nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConnExportArgs {
    /// Connections to export.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// The bundle file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Who can open it: `age1…`, `ssh-ed25519 …`, `ssh-rsa …`, or @FILE
    /// (a .pub file or a recipients.txt). Repeatable.
    #[arg(long = "recipient", required = true, value_name = "KEY|@FILE")]
    pub recipients: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn password_sources_are_exclusive() {
        let r = Cli::try_parse_from([
            "varlor",
            "add",
            "x",
            "--url",
            "postgres://u@h/d",
            "--password-stdin",
            "--ask-password-every-time",
        ]);
        assert!(r.is_err());
    }

    #[test]
    fn there_is_no_password_flag() {
        let r = Cli::try_parse_from(["varlor", "add", "x", "--password", "secret"]);
        assert!(r.is_err());
    }
}
