//! The engine picker.

use super::*;
use keys::PickerCmd;

pub(super) fn picker_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let n = Kind::ALL.len();
    match lookup(keys::PICKER, state, &key) {
        Some(PickerCmd::Back) => state.screen = Screen::List,
        Some(PickerCmd::Down) => move_sel(&mut state.picker, n, 1),
        Some(PickerCmd::Up) => move_sel(&mut state.picker, n, -1),
        Some(PickerCmd::Help) => state.help = true,
        Some(PickerCmd::Choose) => {
            let kind = Kind::ALL[state.picker.min(n - 1)];
            state.form = Some(new_form(kind, state.no_color));
            state.screen = Screen::Form;
            validate_form(state);
        }
        Some(PickerCmd::Jump) => {
            let KeyCode::Char(c) = key.code else {
                return vec![];
            };
            // First letter: cycle among the kinds starting with it.
            let c = c.to_ascii_lowercase();
            let matches: Vec<usize> = (0..n)
                .filter(|&i| {
                    Kind::ALL[i]
                        .display_name()
                        .to_ascii_lowercase()
                        .starts_with(c)
                })
                .collect();
            if let Some(&next) = matches
                .iter()
                .find(|&&i| i > state.picker)
                .or(matches.first())
            {
                state.picker = next;
            }
        }
        None => {}
    }
    vec![]
}
