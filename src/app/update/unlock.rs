//! The passphrase / password prompt and what resumes after it.

use super::*;
use keys::UnlockCmd;

pub fn new_unlock_prompt(create: bool, pending: Pending) -> UnlockPrompt {
    UnlockPrompt {
        create,
        connection: None,
        input: password_input(),
        confirm: password_input(),
        focus_confirm: false,
        error: None,
        busy: false,
        pending,
    }
}

pub(super) fn unlock_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if state.unlock.as_ref().is_none_or(|p| p.busy) {
        return vec![];
    }
    match lookup(keys::UNLOCK, state, &key) {
        Some(UnlockCmd::Cancel) => {
            let Some(p) = &mut state.unlock else {
                return vec![];
            };
            let pending = p.pending.clone();
            state.unlock = None;
            if let Pending::OpenBrowser { .. } = pending {
                state.browser = None;
                state.screen = Screen::List;
            }
            set_status(state, StatusKind::Info, "Vault still locked");
            vec![]
        }
        Some(UnlockCmd::SwitchField) => {
            if let Some(p) = &mut state.unlock {
                p.focus_confirm = !p.focus_confirm;
            }
            vec![]
        }
        Some(UnlockCmd::Submit) => {
            let Some(p) = &mut state.unlock else {
                return vec![];
            };
            // Zeroizing until it moves into a SecretString (which wipes itself).
            let pass = zeroize::Zeroizing::new(p.input.lines().join(""));
            if pass.is_empty() {
                p.error = Some("Type the passphrase first".into());
                return vec![];
            }
            if p.create {
                if !p.focus_confirm {
                    p.focus_confirm = true;
                    return vec![];
                }
                let confirm = zeroize::Zeroizing::new(p.confirm.lines().join(""));
                if *confirm != *pass {
                    p.error = Some("The two passphrases differ: type them again".into());
                    reset_secret(&mut p.input);
                    reset_secret(&mut p.confirm);
                    p.focus_confirm = false;
                    return vec![];
                }
            }
            let pass = SecretString::from(pass.as_str());
            if p.connection.is_some() {
                // A connection password goes straight to the pending operation.
                let pending = p.pending.clone();
                state.unlock = None;
                return resume_with(state, pending, Some(pass));
            }
            p.busy = true;
            p.error = None;
            let create = p.create;
            // Clear the inputs at once: the secret now lives only in the effect.
            reset_secret(&mut p.input);
            reset_secret(&mut p.confirm);
            vec![Effect::Unlock {
                passphrase: pass,
                create,
            }]
        }
        None => {
            let Some(p) = &mut state.unlock else {
                return vec![];
            };
            if key.modifiers.contains(KeyModifiers::CONTROL)
                && matches!(key.code, KeyCode::Char('m' | 'j'))
            {
                return vec![];
            }
            let t = if p.focus_confirm {
                &mut p.confirm
            } else {
                &mut p.input
            };
            edit_input(t, key);
            forget_yank(t);
            vec![]
        }
    }
}

pub(super) fn resume(state: &mut State, pending: Pending) -> Vec<Effect> {
    resume_with(state, pending, None)
}

pub(super) fn resume_with(
    state: &mut State,
    pending: Pending,
    prompted: Option<SecretString>,
) -> Vec<Effect> {
    match pending {
        Pending::TestConnection { name } => start_list_test_with(state, name, false, prompted),
        Pending::TestForm => start_form_test(state),
        Pending::SaveForm => {
            if let Some(f) = &mut state.form {
                f.saving = false;
            }
            start_save(state)
        }
        Pending::OpenBrowser { name } => {
            let task = state.task();
            let now = state.now;
            match &mut state.browser {
                Some(b) if b.conn == name => {
                    b.loading = Some(Running::new(task, now));
                    b.error = None;
                    vec![Effect::OpenBrowser {
                        task,
                        name,
                        prompted,
                    }]
                }
                _ => vec![],
            }
        }
    }
}

/// An operation needs the vault: ask for the passphrase (or create it).
pub(super) fn on_needs_unlock(
    state: &mut State,
    initialised: bool,
    pending: Pending,
) -> Vec<Effect> {
    match &pending {
        Pending::TestConnection { name } => {
            state.tests.remove(name);
        }
        Pending::TestForm => {
            if let Some(f) = &mut state.form {
                f.test = None;
            }
        }
        Pending::SaveForm => {
            if let Some(f) = &mut state.form {
                f.saving = false;
            }
        }
        Pending::OpenBrowser { .. } => {
            if let Some(b) = &mut state.browser {
                b.loading = None;
            }
        }
    }
    state.unlock = Some(new_unlock_prompt(!initialised, pending));
    vec![]
}

/// The connection asks for its password every time: prompt for it.
pub(super) fn on_needs_password(state: &mut State, pending: Pending) -> Vec<Effect> {
    let name = match &pending {
        Pending::TestConnection { name } | Pending::OpenBrowser { name } => name.clone(),
        _ => String::new(),
    };
    match &pending {
        Pending::TestConnection { name } => {
            state.tests.remove(name);
        }
        Pending::OpenBrowser { .. } => {
            if let Some(b) = &mut state.browser {
                b.loading = None;
            }
        }
        _ => {}
    }
    let mut prompt = new_unlock_prompt(false, pending);
    prompt.connection = Some(name);
    state.unlock = Some(prompt);
    vec![]
}

/// An unlock finished: resume what waited, or show the error on the prompt.
pub(super) fn on_unlocked(state: &mut State, result: Result<(), String>) -> Vec<Effect> {
    let Some(prompt) = &mut state.unlock else {
        return vec![];
    };
    match result {
        Ok(()) => {
            let pending = prompt.pending.clone();
            let created = prompt.create;
            state.unlock = None;
            set_status(
                state,
                StatusKind::Info,
                if created {
                    "Vault created and unlocked"
                } else {
                    "Vault unlocked"
                },
            );
            resume(state, pending)
        }
        Err(e) => {
            prompt.busy = false;
            prompt.error = Some(e);
            reset_secret(&mut prompt.input);
            reset_secret(&mut prompt.confirm);
            prompt.focus_confirm = false;
            vec![]
        }
    }
}

/// The background unlock from `--identity` / VARLOR_PASSPHRASE_FILE, started
/// after the first frame, finished.
pub(super) fn on_env_unlocked(state: &mut State, result: Result<(), String>) -> Vec<Effect> {
    state.unlocking = false;
    match result {
        Ok(()) => set_status(state, StatusKind::Info, "Vault unlocked"),
        Err(e) => set_status(
            state,
            StatusKind::Error,
            format!("cannot unlock the vault: {e} (check --identity / VARLOR_PASSPHRASE_FILE)"),
        ),
    }
    vec![]
}
