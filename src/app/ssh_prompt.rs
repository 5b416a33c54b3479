//! ssh's questions in the TUI: the `Prompter` the app registers for its
//! run. Each question becomes an `Action::SshQuestion` for the event loop
//! (the overlay of `update/ssh_prompt.rs`); the askpass thread that asked
//! waits here until the person's answer comes back as `Effect::SshAnswer`,
//! until [`PATIENCE`] has passed, or until the app quits — the last two
//! refuse, and ssh then fails with words.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use crate::ssh::askpass::{Prompter, Question};

/// How long a question waits for the person before it is refused.
pub const PATIENCE: Duration = Duration::from_secs(120);

type Reply = SyncSender<Option<SecretString>>;

/// Forwards ssh's questions to the app and waits for the answers.
pub struct TuiPrompter {
    tx: UnboundedSender<Action>,
    waiting: Mutex<HashMap<u64, Reply>>,
    next: AtomicU64,
    closed: AtomicBool,
    patience: Duration,
}

impl TuiPrompter {
    pub fn new(tx: UnboundedSender<Action>) -> TuiPrompter {
        TuiPrompter::with_patience(tx, PATIENCE)
    }

    pub fn with_patience(tx: UnboundedSender<Action>, patience: Duration) -> TuiPrompter {
        TuiPrompter {
            tx,
            waiting: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            patience,
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Reply>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The person answered (or, with `None`, refused) question `id`. An
    /// answer to a question no longer waiting is dropped (and so wiped).
    pub fn answer(&self, id: u64, answer: Option<SecretString>) {
        if let Some(reply) = self.waiting().remove(&id) {
            let _ = reply.try_send(answer);
        }
    }

    /// The app is leaving: every waiting question is refused, and so is
    /// every later one.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for (_, reply) in self.waiting().drain() {
            let _ = reply.try_send(None);
        }
    }

    /// How many questions wait for an answer.
    pub fn pending(&self) -> usize {
        self.waiting().len()
    }
}

impl Prompter for TuiPrompter {
    fn ask(&self, question: &Question) -> Option<SecretString> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (reply, answer) = sync_channel(1);
        self.waiting().insert(id, reply);
        // Closed between the check and the insert: nobody will answer.
        if self.closed.load(Ordering::SeqCst) {
            self.waiting().remove(&id);
            return None;
        }
        let sent = self.tx.send(Action::SshQuestion {
            id,
            question: question.clone(),
        });
        if sent.is_err() {
            self.waiting().remove(&id);
            return None;
        }
        match answer.recv_timeout(self.patience) {
            Ok(a) => a,
            Err(RecvTimeoutError::Timeout) => {
                // An answer may have raced the deadline: take it if so.
                let late = self.waiting().remove(&id).is_none();
                let got = if late {
                    answer.try_recv().ok().flatten()
                } else {
                    None
                };
                if got.is_none() {
                    let _ = self.tx.send(Action::SshQuestionExpired { id });
                }
                got
            }
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    fn notify(&self, text: &str) {
        let _ = self.tx.send(Action::SshNotice {
            text: text.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::Arc;

    fn question(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Action>) -> (u64, Question) {
        for _ in 0..500 {
            if let Ok(a) = rx.try_recv() {
                match a {
                    Action::SshQuestion { id, question } => return (id, question),
                    _ => panic!("another action"),
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no question reached the app");
    }

    #[test]
    fn a_question_reaches_the_app_and_its_answer_the_asker() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let p = Arc::new(TuiPrompter::new(tx));
        let asker = {
            let p = p.clone();
            std::thread::spawn(move || p.ask(&Question::Secret("Enter passphrase: ".into())))
        };
        let (id, q) = question(&mut rx);
        assert_eq!(q, Question::Secret("Enter passphrase: ".into()));
        assert_eq!(p.pending(), 1);
        p.answer(id, Some(SecretString::from("pw".to_string())));
        let got = asker.join().unwrap().expect("answered");
        assert_eq!(got.expose_secret(), "pw");
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn closing_refuses_the_waiting_question_and_the_next_ones() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let p = Arc::new(TuiPrompter::new(tx));
        let asker = {
            let p = p.clone();
            std::thread::spawn(move || p.ask(&Question::Confirm("yes/no?".into())))
        };
        question(&mut rx);
        p.close();
        assert!(asker.join().unwrap().is_none());
        assert!(p
            .ask(&Question::Confirm("again (yes/no)?".into()))
            .is_none());
        assert!(rx.try_recv().is_err(), "a closed prompter asks nobody");
    }

    #[test]
    fn an_unanswered_question_is_refused_after_the_patience_and_the_app_told() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let p = TuiPrompter::with_patience(tx, Duration::from_millis(50));
        assert!(p.ask(&Question::Secret("pw: ".into())).is_none());
        let Ok(Action::SshQuestion { id, .. }) = rx.try_recv() else {
            panic!("no question")
        };
        assert!(matches!(rx.try_recv(), Ok(Action::SshQuestionExpired { id: e }) if e == id));
        assert_eq!(p.pending(), 0);
        // An answer after the deadline goes nowhere.
        p.answer(id, Some(SecretString::from("late".to_string())));
    }

    #[test]
    fn without_an_app_the_question_is_refused_at_once() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        let p = TuiPrompter::new(tx);
        assert!(p.ask(&Question::Secret("pw: ".into())).is_none());
        assert_eq!(p.pending(), 0);
    }
}
