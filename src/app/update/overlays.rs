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
    let max = keys::help_max_scroll(state);
    let page = keys::help_visible(state.screen_size.1, keys::help(state).len()).max(1);
    let top = state.help_scroll.min(max);
    state.help_scroll = match lookup(keys::HELP, state, &key) {
        Some(OverlayCmd::Close) => {
            state.help = false;
            0
        }
        Some(OverlayCmd::Quit) => {
            state.quit = true;
            top
        }
        Some(OverlayCmd::Down) => (top + 1).min(max),
        Some(OverlayCmd::Up) => top.saturating_sub(1),
        Some(OverlayCmd::PageDown) => (top + page).min(max),
        Some(OverlayCmd::PageUp) => top.saturating_sub(page),
        Some(OverlayCmd::Top) => 0,
        Some(OverlayCmd::Bottom) => max,
        _ => top,
    };
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
