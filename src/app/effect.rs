//! Effects: the I/O `update` asks for. The runner starts each on tokio and
//! sends the outcome back as an `Action`; nothing here blocks the UI loop.
//!
//! The profile is synchronous and not `Sync`, so it lives behind a
//! `std::sync::Mutex` and is only touched inside `spawn_blocking` for quick
//! catalog work; connector calls run without the lock. Cancellable work runs
//! in its own task whose `AbortHandle` is kept by task id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use crate::connectors::{
    connector_for, ConnError, ConnSpec, Connector, ErrorKind, SessionOptions, TableRef,
};
use crate::profile::{Profile, ProfileError};
use crate::store::{NewConnection, SavedConnection, VaultState};

use super::action::Action;
use super::state::{table_key, Pending, TaskId, TestAnswer};
use crate::store::TestOutcome;

/// Where the form's test takes its password from.
pub enum FormPassword {
    Typed(SecretString),
    /// The stored secret of the connection being edited.
    Stored(String),
    None,
}

pub enum Effect {
    LoadConnections {
        select: Option<String>,
    },
    TestSaved {
        task: TaskId,
        name: String,
        force: bool,
        /// The password typed for a connection that asks every time.
        prompted: Option<SecretString>,
    },
    TestForm {
        task: TaskId,
        spec: ConnSpec,
        password: FormPassword,
    },
    /// `old_name` is set when editing. `password`: None keeps the stored
    /// secret, Some(None) clears it, Some(Some(p)) sets it.
    Save {
        old_name: Option<String>,
        new: NewConnection,
        password: Option<Option<SecretString>>,
        /// A successful test of exactly these settings, recorded with the save.
        tested: Option<TestAnswer>,
        /// The person chose to keep the stored password for a changed target.
        keep_for_new_target: bool,
    },
    Delete {
        name: String,
    },
    Unlock {
        passphrase: SecretString,
        create: bool,
    },
    /// Unlocks from `--identity` or VARLOR_PASSPHRASE_FILE (the TUI starts
    /// it after its first frame: scrypt takes seconds).
    UnlockFromEnv {
        identity: Option<std::path::PathBuf>,
    },
    Cancel {
        task: TaskId,
    },
    OpenBrowser {
        task: TaskId,
        name: String,
        prompted: Option<SecretString>,
    },
    /// Drops the pooled session and lists the tables again.
    Reconnect {
        task: TaskId,
    },
    Describe {
        task: TaskId,
        table: TableRef,
    },
    Count {
        task: TaskId,
        table: TableRef,
    },
    Preview {
        task: TaskId,
        table: TableRef,
        limit: usize,
    },
    /// Imports tables of the open connection; `destination: None` = the default.
    Import {
        task: TaskId,
        conn: String,
        kind: crate::connectors::Kind,
        tables: Vec<crate::dataset::TablePlan>,
        format: crate::dataset::Format,
        destination: Option<std::path::PathBuf>,
    },
    CloseBrowser,
}

impl std::fmt::Debug for Effect {
    // Hand-written so no variant can ever print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Effect::LoadConnections { .. } => "LoadConnections",
            Effect::TestSaved { .. } => "TestSaved",
            Effect::TestForm { .. } => "TestForm",
            Effect::Save { .. } => "Save",
            Effect::Delete { .. } => "Delete",
            Effect::Unlock { .. } => "Unlock",
            Effect::UnlockFromEnv { .. } => "UnlockFromEnv",
            Effect::Cancel { .. } => "Cancel",
            Effect::OpenBrowser { .. } => "OpenBrowser",
            Effect::Reconnect { .. } => "Reconnect",
            Effect::Describe { .. } => "Describe",
            Effect::Count { .. } => "Count",
            Effect::Preview { .. } => "Preview",
            Effect::CloseBrowser => "CloseBrowser",
            Effect::Import { .. } => "Import",
        };
        f.write_str(name)
    }
}

enum Slot {
    Running(AbortHandle),
    /// Cancel arrived before the task registered.
    Cancelled,
}

type Tasks = Arc<Mutex<HashMap<TaskId, Slot>>>;
type OpenConnector = Arc<Mutex<Option<(String, Arc<dyn Connector>)>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock must not take the whole UI down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct EffectRunner {
    profile: Arc<Mutex<Profile>>,
    tx: UnboundedSender<Action>,
    tasks: Tasks,
    /// The connector of the connection open in the browser.
    open: OpenConnector,
    session: SessionOptions,
    /// VARLOR_PASSPHRASE_FILE / identity is tried once, before the first prompt.
    env_unlock_tried: Arc<AtomicBool>,
    /// Imports stop through their token (they clean up their temp files).
    tokens: Arc<Mutex<HashMap<TaskId, tokio_util::sync::CancellationToken>>>,
    /// Running imports, awaited by [`EffectRunner::shutdown`] so their
    /// partial files are removed before the process exits.
    imports: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn register(tasks: &Tasks, task: TaskId, handle: AbortHandle) {
    let mut map = lock(tasks);
    if let Some(Slot::Cancelled) = map.get(&task) {
        handle.abort();
        map.remove(&task);
    } else {
        map.insert(task, Slot::Running(handle));
    }
}

/// Runs `fut` in its own task, abortable by `Effect::Cancel { task }`;
/// an abort becomes `ErrorKind::Cancelled`, a panic becomes `Other`.
async fn cancellable<T, F>(tasks: &Tasks, task: TaskId, fut: F) -> Result<T, ConnError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ConnError>> + Send + 'static,
{
    let handle = tokio::spawn(fut);
    register(tasks, task, handle.abort_handle());
    let out = match handle.await {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Err(ConnError::new(ErrorKind::Cancelled, "cancelled")),
        Err(_) => Err(ConnError::new(
            ErrorKind::Other,
            "the driver task stopped unexpectedly",
        )),
    };
    lock(tasks).remove(&task);
    out
}

/// Whether `conn` can be used now; tries the environment unlock once.
fn ready(p: &mut Profile, conn: &SavedConnection, env_tried: &AtomicBool) -> bool {
    !p.needs_unlock(conn) || (unlocked_or_env(p, env_tried) && !p.needs_unlock(conn))
}

/// Unlocked already, or now from VARLOR_PASSPHRASE_FILE (tried once per run).
fn unlocked_or_env(p: &mut Profile, env_tried: &AtomicBool) -> bool {
    p.is_unlocked()
        || (!env_tried.swap(true, Ordering::SeqCst)
            && p.vault_initialised()
            && matches!(p.unlock_from_env(None), Ok(true)))
}

/// Whether the vault's files exist, even broken: then the prompt unlocks
/// (or reports the broken file) and never offers to create a new vault over it.
fn vault_exists(p: &Profile) -> bool {
    p.vault.state() != VaultState::Absent
}

/// What the profile side of an operation decided.
enum Prep<T> {
    Go(T),
    Locked {
        initialised: bool,
    },
    /// The connection asks for its password every time.
    NeedPassword,
    Refused {
        message: String,
        lockout: bool,
    },
}

fn refused<T>(e: ProfileError) -> Prep<T> {
    let lockout = matches!(e, ProfileError::LockoutGuard(_));
    match e {
        ProfileError::Locked => Prep::Locked { initialised: true },
        ProfileError::PasswordNeeded => Prep::NeedPassword,
        e => Prep::Refused {
            message: e.to_string(),
            lockout,
        },
    }
}

/// Runs quick profile work off the async workers, under the lock.
async fn with_profile<T, F>(profile: &Arc<Mutex<Profile>>, f: F) -> Prep<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Profile) -> Prep<T> + Send + 'static,
{
    let profile = profile.clone();
    match tokio::task::spawn_blocking(move || f(&mut lock(&profile))).await {
        Ok(p) => p,
        Err(_) => Prep::Refused {
            message: "the profile operation stopped unexpectedly".into(),
            lockout: false,
        },
    }
}

impl EffectRunner {
    pub fn new(
        profile: Arc<Mutex<Profile>>,
        tx: UnboundedSender<Action>,
        session: SessionOptions,
    ) -> Self {
        EffectRunner {
            profile,
            tx,
            tasks: Arc::new(Mutex::new(HashMap::new())),
            open: Arc::new(Mutex::new(None)),
            session,
            env_unlock_tried: Arc::new(AtomicBool::new(false)),
            tokens: Arc::new(Mutex::new(HashMap::new())),
            imports: Mutex::new(Vec::new()),
        }
    }

    /// Stops every running import and waits (at most `grace`, then aborts
    /// them) until each has removed its partial files: quitting the TUI by
    /// any way (q, Ctrl-C, SIGTERM, SIGHUP) must not leave one behind.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        for (_, token) in lock(&self.tokens).drain() {
            token.cancel();
        }
        let handles: Vec<_> = lock(&self.imports).drain(..).collect();
        let deadline = tokio::time::Instant::now() + grace;
        for mut h in handles {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                // Dropping the import's future drops its guards too.
                h.abort();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), h).await;
            }
        }
    }

    /// The connector of the open browser, if any.
    fn connector(&self) -> Option<(String, Arc<dyn Connector>)> {
        lock(&self.open).clone()
    }

    pub fn run(&self, effect: Effect) {
        let profile = self.profile.clone();
        let tx = self.tx.clone();
        let tasks = self.tasks.clone();
        let session = self.session.clone();
        let env_tried = self.env_unlock_tried.clone();
        match effect {
            Effect::LoadConnections { select } => {
                tokio::task::spawn_blocking(move || {
                    let result = lock(&profile).list().map_err(|e| e.to_string());
                    let _ = tx.send(Action::ConnectionsLoaded { result, select });
                });
            }
            Effect::TestSaved {
                task,
                name,
                force,
                prompted,
            } => {
                tokio::spawn(async move {
                    let n = name.clone();
                    let prep = with_profile(&profile, move |p| {
                        let conn = match p.get(&n) {
                            Ok(c) => c,
                            Err(e) => return refused(e),
                        };
                        if !ready(p, &conn, &env_tried) {
                            return Prep::Locked {
                                initialised: vault_exists(p),
                            };
                        }
                        match p.begin_test(&n, force, prompted) {
                            Ok(job) => Prep::Go(job),
                            Err(ProfileError::Locked) => Prep::Locked {
                                initialised: vault_exists(p),
                            },
                            Err(e) => refused(e),
                        }
                    })
                    .await;
                    let job = match prep {
                        Prep::Go(job) => job,
                        Prep::Locked { initialised } => {
                            let _ = tx.send(Action::NeedsUnlock {
                                initialised,
                                pending: Pending::TestConnection { name },
                            });
                            return;
                        }
                        Prep::NeedPassword => {
                            let _ = tx.send(Action::NeedsPassword {
                                pending: Pending::TestConnection { name },
                            });
                            return;
                        }
                        Prep::Refused { message, lockout } => {
                            let _ = tx.send(Action::TestRefused {
                                task,
                                name: Some(name),
                                message,
                                lockout,
                            });
                            return;
                        }
                    };
                    let spec = job.connection.spec.clone();
                    let result = cancellable(&tasks, task, async move {
                        let c = connector_for(&spec, job.password, session)?;
                        c.test().await
                    })
                    .await;
                    // Always hand the outcome back: it also releases the in-flight guard.
                    let n = name.clone();
                    let r = result.clone();
                    let _ = with_profile(&profile, move |p| {
                        let _ = p.finish_test(&n, &r);
                        Prep::Go(())
                    })
                    .await;
                    let _ = tx.send(Action::TestDone {
                        task,
                        name: Some(name),
                        result,
                    });
                });
            }
            Effect::TestForm {
                task,
                spec,
                password,
            } => {
                tokio::spawn(async move {
                    let password = match password {
                        FormPassword::Typed(p) => Some(p),
                        FormPassword::None => None,
                        FormPassword::Stored(name) => {
                            let target = spec.target();
                            let prep = with_profile(&profile, move |p| {
                                let conn = match p.get(&name) {
                                    Ok(c) => c,
                                    Err(e) => return refused(e),
                                };
                                if !ready(p, &conn, &env_tried) {
                                    return Prep::Locked {
                                        initialised: vault_exists(p),
                                    };
                                }
                                // Only for the target it was saved for.
                                match p.stored_password_for(&conn, &target) {
                                    Ok(pw) => Prep::Go(pw),
                                    Err(ProfileError::Locked) => Prep::Locked {
                                        initialised: vault_exists(p),
                                    },
                                    Err(e) => refused(e),
                                }
                            })
                            .await;
                            match prep {
                                Prep::Go(pw) => pw,
                                Prep::Locked { initialised } => {
                                    let _ = tx.send(Action::NeedsUnlock {
                                        initialised,
                                        pending: Pending::TestForm,
                                    });
                                    return;
                                }
                                Prep::Refused { message, lockout } => {
                                    let _ = tx.send(Action::TestRefused {
                                        task,
                                        name: None,
                                        message,
                                        lockout,
                                    });
                                    return;
                                }
                                Prep::NeedPassword => {
                                    let _ = tx.send(Action::TestRefused {
                                        task,
                                        name: None,
                                        message: "this connection asks for its password every time: type it in the Password field".into(),
                                        lockout: false,
                                    });
                                    return;
                                }
                            }
                        }
                    };
                    let result = cancellable(&tasks, task, async move {
                        let c = connector_for(&spec, password, session)?;
                        c.test().await
                    })
                    .await;
                    let _ = tx.send(Action::TestDone {
                        task,
                        name: None,
                        result,
                    });
                });
            }
            Effect::Save {
                old_name,
                new,
                password,
                tested,
                keep_for_new_target,
            } => {
                tokio::task::spawn_blocking(move || {
                    let mut p = lock(&profile);
                    // A secret can only be stored once the vault exists.
                    if matches!(password, Some(Some(_))) && !p.vault_initialised() {
                        let _ = tx.send(Action::NeedsUnlock {
                            initialised: false,
                            pending: Pending::SaveForm,
                        });
                        return;
                    }
                    // Keeping a secret for a new target re-binds it: it is opened first.
                    if keep_for_new_target && !unlocked_or_env(&mut p, &env_tried) {
                        let _ = tx.send(Action::NeedsUnlock {
                            initialised: true,
                            pending: Pending::SaveForm,
                        });
                        return;
                    }
                    let mut result = match old_name {
                        None => p.add(new, password.flatten()),
                        Some(old) => p.edit_keeping(&old, new, password, keep_for_new_target),
                    };
                    if let (
                        Ok(saved),
                        Some(TestAnswer::Ok {
                            version,
                            latency_ms,
                            tls,
                        }),
                    ) = (&result, tested)
                    {
                        let outcome = TestOutcome {
                            at: super::unix_now(),
                            ok: true,
                            status: "ok".into(),
                            error: None,
                            latency_ms: Some(latency_ms),
                            server_version: Some(version),
                            tls: Some(tls),
                        };
                        let name = saved.name.clone();
                        if p.catalog.record_test(&name, &outcome, false).is_ok() {
                            if let Ok(updated) = p.get(&name) {
                                result = Ok(updated);
                            }
                        }
                    }
                    let _ = tx.send(Action::Saved(result.map_err(|e| e.to_string())));
                });
            }
            Effect::Delete { name } => {
                tokio::task::spawn_blocking(move || {
                    let result = lock(&profile)
                        .remove(&name)
                        .map(|_| name)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Action::Deleted(result));
                });
            }
            Effect::Unlock { passphrase, create } => {
                // scrypt is slow on purpose: keep it off the async workers.
                tokio::task::spawn_blocking(move || {
                    let mut p = lock(&profile);
                    let state = p.vault.state();
                    let leftover = state == VaultState::RecipientsMissing
                        && p.catalog.secrets().map(|s| s.is_empty()).unwrap_or(false);
                    let result = if create && state != VaultState::Absent && !leftover {
                        Err(ProfileError::Vault(crate::store::VaultError::Other(
                            format!(
                            "the vault files exist but are broken ({}): see `varlor vault status`",
                            state.id().replace('_', " ")
                        ),
                        )))
                    } else if create {
                        p.init_vault(&passphrase).and_then(|_| {
                            if p.is_unlocked() {
                                Ok(())
                            } else {
                                p.unlock(&passphrase)
                            }
                        })
                    } else {
                        p.unlock(&passphrase)
                    };
                    let _ = tx.send(Action::Unlocked(result.map_err(|e| e.to_string())));
                });
            }
            Effect::UnlockFromEnv { identity } => {
                // The env unlock is tried here, not again by `ready`. The
                // profile stays locked (mutex) while scrypt runs, so work
                // that needs the vault waits for the outcome.
                env_tried.store(true, Ordering::SeqCst);
                tokio::task::spawn_blocking(move || {
                    let mut p = lock(&profile);
                    let result = match p.unlock_from_env(identity.as_deref()) {
                        Ok(_) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Action::EnvUnlocked(result));
                });
            }
            Effect::Cancel { task } => {
                if let Some(token) = lock(&self.tokens).remove(&task) {
                    token.cancel();
                    return;
                }
                let mut map = lock(&tasks);
                match map.remove(&task) {
                    Some(Slot::Running(h)) => h.abort(),
                    _ => {
                        map.insert(task, Slot::Cancelled);
                    }
                }
            }
            Effect::OpenBrowser {
                task,
                name,
                prompted,
            } => {
                let open = self.open.clone();
                tokio::spawn(async move {
                    let n = name.clone();
                    let prep = with_profile(&profile, move |p| {
                        let conn = match p.get(&n) {
                            Ok(c) => c,
                            Err(e) => return refused(e),
                        };
                        if !ready(p, &conn, &env_tried) {
                            return Prep::Locked {
                                initialised: vault_exists(p),
                            };
                        }
                        match p.resolve_password(&conn, prompted) {
                            Ok(pw) => Prep::Go((conn, pw)),
                            Err(ProfileError::Locked) => Prep::Locked {
                                initialised: vault_exists(p),
                            },
                            Err(e) => refused(e),
                        }
                    })
                    .await;
                    let (conn, password) = match prep {
                        Prep::Go(x) => x,
                        Prep::Locked { initialised } => {
                            let _ = tx.send(Action::NeedsUnlock {
                                initialised,
                                pending: Pending::OpenBrowser { name },
                            });
                            return;
                        }
                        Prep::Refused { message, .. } => {
                            let _ = tx.send(Action::BrowserFailed { task, message });
                            return;
                        }
                        Prep::NeedPassword => {
                            let _ = tx.send(Action::NeedsPassword {
                                pending: Pending::OpenBrowser { name },
                            });
                            return;
                        }
                    };
                    let connector: Arc<dyn Connector> =
                        match connector_for(&conn.spec, password, session) {
                            Ok(c) => Arc::from(c),
                            Err(e) => {
                                let _ = tx.send(Action::TablesLoaded {
                                    task,
                                    conn: name,
                                    result: Err(e),
                                });
                                return;
                            }
                        };
                    *lock(&open) = Some((name.clone(), connector.clone()));
                    let result =
                        cancellable(&tasks, task, async move { connector.list_tables().await })
                            .await;
                    let _ = tx.send(Action::TablesLoaded {
                        task,
                        conn: name,
                        result,
                    });
                });
            }
            Effect::Reconnect { task } => {
                let Some((conn, c)) = self.connector() else {
                    let _ = tx.send(Action::BrowserFailed {
                        task,
                        message: "not connected".into(),
                    });
                    return;
                };
                tokio::spawn(async move {
                    let result = cancellable(&tasks, task, async move {
                        c.reset().await;
                        c.list_tables().await
                    })
                    .await;
                    let _ = tx.send(Action::TablesLoaded { task, conn, result });
                });
            }
            Effect::Describe { task, table } => {
                let Some((conn, c)) = self.connector() else {
                    return;
                };
                tokio::spawn(async move {
                    let key = table_key(&table);
                    let result =
                        cancellable(&tasks, task, async move { c.describe(&table).await }).await;
                    let _ = tx.send(Action::Described {
                        conn,
                        table: key,
                        result,
                        at: Instant::now(),
                    });
                });
            }
            Effect::Count { task, table } => {
                let Some((conn, c)) = self.connector() else {
                    return;
                };
                tokio::spawn(async move {
                    let key = table_key(&table);
                    let result =
                        cancellable(&tasks, task, async move { c.count_rows(&table).await }).await;
                    let _ = tx.send(Action::Counted {
                        task,
                        conn,
                        table: key,
                        result,
                    });
                });
            }
            Effect::Preview { task, table, limit } => {
                let Some((_, c)) = self.connector() else {
                    return;
                };
                tokio::spawn(async move {
                    let key = table_key(&table);
                    let result =
                        cancellable(&tasks, task, async move { c.preview(&table, limit).await })
                            .await;
                    let _ = tx.send(Action::Previewed {
                        task,
                        table: key,
                        result,
                    });
                });
            }
            Effect::Import {
                task,
                conn,
                kind,
                tables,
                format,
                destination,
            } => {
                let Some((_, c)) = self.connector() else {
                    return;
                };
                let token = tokio_util::sync::CancellationToken::new();
                lock(&self.tokens).insert(task, token.clone());
                let tokens = self.tokens.clone();
                let handle = tokio::spawn(async move {
                    let conn2 = conn.clone();
                    let destination = match destination {
                        Some(d) => d,
                        None => {
                            match with_profile(&profile, move |p| {
                                Prep::Go(crate::dataset::default_destination(
                                    &p.paths.datasets_dir(),
                                    &conn2,
                                    format,
                                ))
                            })
                            .await
                            {
                                Prep::Go(d) => d,
                                _ => std::path::PathBuf::from(format!(
                                    "{conn}.{}",
                                    format.extension()
                                )),
                            }
                        }
                    };
                    let plan = crate::dataset::ImportPlan {
                        connection: conn.clone(),
                        kind,
                        tables,
                        destination,
                        format,
                    };
                    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
                    let fwd = tx.clone();
                    tokio::spawn(async move {
                        while let Some(event) = ev_rx.recv().await {
                            let _ = fwd.send(Action::ImportEvent { task, event });
                        }
                    });
                    let failed = crate::dataset::ImportSummary {
                        connection: plan.connection.clone(),
                        kind: plan.kind,
                        format: plan.format,
                        destination: plan.destination.clone(),
                        written: false,
                        tables: Vec::new(),
                        elapsed: std::time::Duration::ZERO,
                        cancelled: false,
                        error: Some(crate::dataset::ImportError::write(
                            "the import stopped unexpectedly (see the log)",
                        )),
                    };
                    // A panic unwinds through the import, whose guards remove
                    // its partial files; the dialog still gets an outcome.
                    let summary = {
                        use futures::FutureExt;
                        std::panic::AssertUnwindSafe(crate::dataset::run_import(
                            c, plan, ev_tx, token,
                        ))
                        .catch_unwind()
                        .await
                        .unwrap_or(failed)
                    };
                    lock(&tokens).remove(&task);
                    let outcome = summary.outcome().id().to_string();
                    let detail = summary.audit_detail();
                    let _ = with_profile(&profile, move |p| {
                        let _ = p.catalog.audit("import", &conn, &outcome, &detail);
                        Prep::Go(())
                    })
                    .await;
                    let _ = tx.send(Action::ImportDone {
                        task,
                        summary: Box::new(summary),
                    });
                });
                let mut imports = lock(&self.imports);
                imports.retain(|h| !h.is_finished());
                imports.push(handle);
            }
            Effect::CloseBrowser => {
                // Dropping the last Arc closes the pooled session.
                *lock(&self.open) = None;
            }
        }
    }
}
