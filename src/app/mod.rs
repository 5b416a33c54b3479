//! The Elm-style application loop (see DESIGN.md): state, actions, a pure
//! update, effects on tokio.

use crate::profile::Profile;

/// Runs the TUI until the user quits. Restores the terminal on every exit path.
pub async fn run(_profile: Profile) -> std::io::Result<()> {
    todo!()
}
