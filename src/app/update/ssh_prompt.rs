//! ssh's questions (unknown host key, key passphrase, password): an overlay
//! above everything, one question at a time, answered through
//! `Effect::SshAnswer`. A secret is typed masked and wiped once sent; a
//! host key is accepted only by typing yes (Enter alone does nothing).

use super::*;
use crate::ssh::askpass::Question;
use keys::SshPromptCmd;

/// A question arrived: queue it (the first one is on screen).
pub(super) fn on_question(state: &mut State, id: u64, question: Question) -> Vec<Effect> {
    let input = match question {
        Question::Secret(_) => password_input(),
        Question::Confirm(_) => {
            let mut t = text_input("");
            t.set_max_histories(0);
            t.set_placeholder_text("yes or no");
            t
        }
    };
    state.ssh_prompts.push_back(SshPrompt {
        id,
        question,
        input,
        error: None,
    });
    vec![]
}

/// Nobody answered question `id` in time: the prompter refused it.
pub(super) fn on_expired(state: &mut State, id: u64) -> Vec<Effect> {
    let before = state.ssh_prompts.len();
    state.ssh_prompts.retain(|p| p.id != id);
    if state.ssh_prompts.len() != before {
        set_status(
            state,
            StatusKind::Error,
            "ssh's question went unanswered and was refused",
        );
    }
    vec![]
}

/// What a yes/no answer sends ssh: "yes", "no", or a pasted fingerprint
/// (ssh compares it with the host's). Anything else is asked again.
fn yes_no(text: &str) -> Result<String, &'static str> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "yes" | "y" => Ok("yes".into()),
        "no" | "n" => Ok("no".into()),
        "" => Err("Type yes or no, then Enter"),
        _ if t.starts_with("SHA256:") || t.starts_with("MD5:") => Ok(t.to_string()),
        _ => Err("Answer yes or no (or paste the expected fingerprint)"),
    }
}

pub(super) fn ssh_prompt_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let cmd = lookup(keys::SSH_PROMPT, state, &key);
    let Some(p) = state.ssh_prompts.front_mut() else {
        return vec![];
    };
    match cmd {
        Some(SshPromptCmd::Refuse) => {
            let id = p.id;
            state.ssh_prompts.pop_front();
            set_status(state, StatusKind::Info, "Refused ssh's question");
            vec![Effect::SshAnswer { id, answer: None }]
        }
        Some(SshPromptCmd::Answer) => {
            // Zeroizing until it moves into a SecretString (which wipes itself).
            let typed = zeroize::Zeroizing::new(p.input.lines().join(""));
            let answer = if p.secret() {
                SecretString::from(typed.as_str())
            } else {
                match yes_no(&typed) {
                    Ok(a) => SecretString::from(a),
                    Err(e) => {
                        p.error = Some(e.to_string());
                        return vec![];
                    }
                }
            };
            let id = p.id;
            // Dropping the prompt wipes its input: the answer lives only in the effect.
            state.ssh_prompts.pop_front();
            vec![Effect::SshAnswer {
                id,
                answer: Some(answer),
            }]
        }
        None => {
            if key.modifiers.contains(KeyModifiers::CONTROL)
                && matches!(key.code, KeyCode::Char('m' | 'j'))
            {
                return vec![];
            }
            if edit_input(&mut p.input, key) {
                p.error = None;
            }
            if p.secret() {
                forget_yank(&mut p.input);
            }
            vec![]
        }
    }
}

/// A paste goes into the answer (a password manager pastes passphrases).
pub(super) fn on_paste(state: &mut State, one_line: &str) {
    if let Some(p) = state.ssh_prompts.front_mut() {
        p.input.insert_str(one_line);
        p.error = None;
    }
}
