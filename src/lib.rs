//! Varlor: connect to databases and look at production data from a terminal.

pub mod agent;
pub mod app;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod dataset;
pub mod demo;
pub mod display;
pub mod logging;
pub mod ops;
pub mod profile;
pub mod sources;
pub mod ssh;
pub mod store;
pub mod ui;

/// A crash must not write an unlocked identity or a decrypted password to a
/// core file: no core dumps, and not ptrace-attachable by other users' tools.
/// Every run calls it first; the agent again, as it holds identities for long.
pub fn forbid_core_dumps() {
    #[cfg(unix)]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscalls with valid arguments; failure leaves defaults.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
    }
}
