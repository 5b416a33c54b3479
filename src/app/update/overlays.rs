//! Overlays over any screen: the details popup, the help, a yes/no question.

use super::*;
use keys::OverlayCmd;

pub(super) fn popup_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if lookup(keys::POPUP, state, &key) == Some(OverlayCmd::Close) {
        state.popup = None;
    }
    vec![]
}

pub(super) fn help_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match lookup(keys::HELP, state, &key) {
        Some(OverlayCmd::Close) => state.help = false,
        Some(OverlayCmd::Quit) => state.quit = true,
        _ => {}
    }
    vec![]
}

pub(super) fn confirm_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(confirm) = state.confirm.clone() else {
        return vec![];
    };
    let cmd = lookup(keys::CONFIRM, state, &key);
    if cmd.is_some() {
        state.confirm = None;
    }
    match (cmd, confirm) {
        (Some(OverlayCmd::Yes), Confirm::Delete(name)) => vec![Effect::Delete { name }],
        (Some(OverlayCmd::Yes), Confirm::ForceTest(name)) => start_list_test(state, name, true),
        (Some(OverlayCmd::Yes), Confirm::KeepPassword { .. }) => answer_keep_password(state, true),
        // "No" to keeping a password is an answer (drop it and save); Esc goes back.
        (Some(OverlayCmd::No), Confirm::KeepPassword { .. }) => answer_keep_password(state, false),
        (Some(OverlayCmd::Yes), Confirm::DiscardForm) => {
            discard_form(state);
            vec![]
        }
        _ => vec![],
    }
}
