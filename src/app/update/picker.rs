//! The engine picker.

use super::*;

pub(super) fn picker_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let n = Kind::ALL.len();
    match key.code {
        KeyCode::Esc => state.screen = Screen::List,
        KeyCode::Char('j') | KeyCode::Down => move_sel(&mut state.picker, n, 1),
        KeyCode::Char('k') | KeyCode::Up => move_sel(&mut state.picker, n, -1),
        KeyCode::Char('?') => state.help = true,
        KeyCode::Enter => {
            let kind = Kind::ALL[state.picker.min(n - 1)];
            state.form = Some(new_form(kind, state.no_color));
            state.screen = Screen::Form;
            validate_form(state);
        }
        KeyCode::Char(c) if plain(&key) => {
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
        _ => {}
    }
    vec![]
}
