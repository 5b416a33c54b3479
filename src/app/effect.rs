//! Effects: the I/O `update` asks for. The runner starts each on tokio and
//! sends the outcome back as an `Action`; nothing here blocks the UI loop.
//!
//! The profile is synchronous and not `Sync`, so it lives behind a
//! `std::sync::Mutex` and is only touched inside `spawn_blocking` for quick
//! catalog work; connector calls run without the lock. Cancellable work runs
//! in its own task whose `AbortHandle` is kept by task id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use crate::connectors::{
    connector_for, ConnError, ConnSpec, Connector, ErrorKind, QueryCursor, SessionOptions, TableRef,
};
use crate::ops::{self, EnvUnlock, Need, Step};
use crate::profile::{Profile, ProfileError};
use crate::store::{NewConnection, VaultState};

use super::action::{Action, QueryPage};
use super::state::{table_key, Pending, TaskId, TestAnswer};

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
    UnlockFromEnv,
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
    /// Forgets the vault's identity here and in the agent.
    LockVault,
    /// Looks for connections in pgpass, services, option files, DBeaver, env.
    Discover,
    /// Imports the found connections at these origins.
    ImportFound {
        origins: Vec<String>,
    },
    /// Runs a typed query on the open connection and fetches its first
    /// page; the runner keeps the cursor (under `task`) for `QueryMore`.
    QueryRun {
        task: TaskId,
        sql: String,
        page: usize,
    },
    /// The next page of the query started as `cursor`; cancelling `task`
    /// drops the cursor, which stops the query on the server.
    QueryMore {
        task: TaskId,
        cursor: TaskId,
        page: usize,
    },
    /// Drops the query's cursor (its connection and transaction go with it).
    QueryClose,
    /// Asks the server what the open connection's login may do (the badge).
    LoginCheck,
    /// Reads the statements run earlier on `conn` (Ctrl-P / Ctrl-N).
    QueryHistoryLoad {
        conn: String,
    },
    /// Records a statement run on `conn` in the catalog (its text only).
    QueryRemember {
        conn: String,
        sql: String,
    },
    /// The person's answer to ssh's question `id` (`None` refuses).
    SshAnswer {
        id: u64,
        answer: Option<SecretString>,
    },
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
            Effect::UnlockFromEnv => "UnlockFromEnv",
            Effect::Cancel { .. } => "Cancel",
            Effect::OpenBrowser { .. } => "OpenBrowser",
            Effect::Reconnect { .. } => "Reconnect",
            Effect::Describe { .. } => "Describe",
            Effect::Count { .. } => "Count",
            Effect::Preview { .. } => "Preview",
            Effect::CloseBrowser => "CloseBrowser",
            Effect::LockVault => "LockVault",
            Effect::Import { .. } => "Import",
            Effect::Discover => "Discover",
            Effect::ImportFound { .. } => "ImportFound",
            Effect::QueryRun { .. } => "QueryRun",
            Effect::QueryMore { .. } => "QueryMore",
            Effect::QueryClose => "QueryClose",
            Effect::LoginCheck => "LoginCheck",
            Effect::QueryHistoryLoad { .. } => "QueryHistoryLoad",
            Effect::QueryRemember { .. } => "QueryRemember",
            Effect::SshAnswer { .. } => "SshAnswer",
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
/// The query pane's open cursor and the task that opened it.
type OpenCursor = Arc<Mutex<Option<(TaskId, Box<dyn QueryCursor>)>>>;

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
    cursor: OpenCursor,
    session: SessionOptions,
    /// `--identity` / VARLOR_PASSPHRASE_FILE, tried once per run.
    env: Arc<EnvUnlock>,
    /// Imports stop through their token (they clean up their temp files).
    tokens: Arc<Mutex<HashMap<TaskId, tokio_util::sync::CancellationToken>>>,
    /// Running imports, awaited by [`EffectRunner::shutdown`] so their
    /// partial files are removed before the process exits.
    imports: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// ssh's questions wait here for the person's answers.
    prompter: Arc<super::ssh_prompt::TuiPrompter>,
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

/// Runs an operation on the profile off the async workers, under the lock.
async fn with_profile<T, F>(profile: &Arc<Mutex<Profile>>, f: F) -> Result<T, ProfileError>
where
    T: Send + 'static,
    F: FnOnce(&mut Profile) -> Result<T, ProfileError> + Send + 'static,
{
    let profile = profile.clone();
    match tokio::task::spawn_blocking(move || f(&mut lock(&profile))).await {
        Ok(r) => r,
        Err(_) => Err(ProfileError::Vault(crate::store::VaultError::Other(
            "the profile operation stopped unexpectedly".into(),
        ))),
    }
}

/// The action that asks a person for what an operation needs.
fn ask(need: Need, pending: Pending) -> Action {
    match need {
        Need::Unlock { vault_exists } => Action::NeedsUnlock {
            initialised: vault_exists,
            pending,
        },
        Need::Password => Action::NeedsPassword { pending },
    }
}

impl EffectRunner {
    pub fn new(
        profile: Arc<Mutex<Profile>>,
        tx: UnboundedSender<Action>,
        session: SessionOptions,
        env: EnvUnlock,
    ) -> Self {
        EffectRunner {
            profile,
            prompter: Arc::new(super::ssh_prompt::TuiPrompter::new(tx.clone())),
            tx,
            tasks: Arc::new(Mutex::new(HashMap::new())),
            open: Arc::new(Mutex::new(None)),
            cursor: Arc::new(Mutex::new(None)),
            session,
            env: Arc::new(env),
            tokens: Arc::new(Mutex::new(HashMap::new())),
            imports: Mutex::new(Vec::new()),
        }
    }

    /// Stops every running import and waits (at most `grace`, then aborts
    /// them) until each has removed its partial files: quitting the TUI by
    /// any way (q, Ctrl-C, SIGTERM, SIGHUP) must not leave one behind.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        // A tunnel waiting for the person gets a refusal and ends.
        self.prompter.close();
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

    /// The prompter that brings ssh's questions to this app (registered
    /// with `askpass::set_prompter` for the run).
    pub fn prompter(&self) -> Arc<super::ssh_prompt::TuiPrompter> {
        self.prompter.clone()
    }

    /// The connector of the open browser, if any.
    fn connector(&self) -> Option<(String, Arc<dyn Connector>)> {
        lock(&self.open).clone()
    }

    /// Starts an effect; its outcome comes back as an `Action`.
    pub fn run(&self, effect: Effect) {
        match effect {
            Effect::LoadConnections { select } => self.load_connections(select),
            Effect::Discover => self.blocking(|p, tx| {
                let _ = tx.send(Action::Discovered(super::discover::scan(p)));
            }),
            Effect::ImportFound { origins } => {
                let env = self.env.clone();
                self.blocking(move |p, tx| {
                    let result = match super::discover::import(p, &origins, &env) {
                        Ok(Step::Go(names)) => Ok(names),
                        Ok(Step::Need(_)) => Err("no vault yet: create it first \
                             (save a connection with a password, or `varlor vault init`)"
                            .to_string()),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Action::FoundImported(result));
                });
            }
            Effect::TestSaved {
                task,
                name,
                force,
                prompted,
            } => self.test_saved(task, name, force, prompted),
            Effect::TestForm {
                task,
                spec,
                password,
            } => self.test_form(task, spec, password),
            Effect::Save {
                old_name,
                new,
                password,
                tested,
                keep_for_new_target,
            } => self.save(ops::Save {
                old_name,
                new,
                password,
                keep_for_new_target,
                tested: tested.and_then(|t| t.outcome(super::unix_now())),
            }),
            Effect::Delete { name } => self.blocking(move |p, tx| {
                let result = p.remove(&name).map(|_| name).map_err(|e| e.to_string());
                let _ = tx.send(Action::Deleted(result));
            }),
            Effect::Unlock { passphrase, create } => self.blocking(move |p, tx| {
                let result = unlock_or_create(p, &passphrase, create);
                let _ = tx.send(Action::Unlocked(result.map_err(|e| e.to_string())));
            }),
            Effect::UnlockFromEnv => self.unlock_from_env(),
            Effect::Cancel { task } => self.cancel(task),
            Effect::OpenBrowser {
                task,
                name,
                prompted,
            } => self.open_browser(task, name, prompted),
            Effect::Reconnect { task } => self.reconnect(task),
            Effect::Describe { task, table } => {
                self.on_open(move |conn, c, tasks, tx| async move {
                    let key = table_key(&table);
                    let result =
                        cancellable(&tasks, task, async move { c.describe(&table).await }).await;
                    let at = Instant::now();
                    let _ = tx.send(Action::Described {
                        conn,
                        table: key,
                        result,
                        at,
                    });
                })
            }
            Effect::Count { task, table } => self.on_open(move |conn, c, tasks, tx| async move {
                let key = table_key(&table);
                let result =
                    cancellable(&tasks, task, async move { c.count_rows(&table).await }).await;
                let _ = tx.send(Action::Counted {
                    task,
                    conn,
                    table: key,
                    result,
                });
            }),
            Effect::Preview { task, table, limit } => {
                self.on_open(move |_, c, tasks, tx| async move {
                    let key = table_key(&table);
                    let result =
                        cancellable(&tasks, task, async move { c.preview(&table, limit).await })
                            .await;
                    let _ = tx.send(Action::Previewed {
                        task,
                        table: key,
                        result,
                    });
                })
            }
            Effect::Import {
                task,
                conn,
                kind,
                tables,
                format,
                destination,
            } => self.import(task, conn, kind, tables, format, destination),
            Effect::CloseBrowser => {
                // Dropping the last Arc closes the pooled session.
                *lock(&self.open) = None;
                *lock(&self.cursor) = None;
            }
            Effect::LockVault => self.blocking(|p, tx| {
                let result = p.lock_all().map_err(|e| e.to_string());
                let _ = tx.send(Action::Locked(result));
            }),
            Effect::QueryRun { task, sql, page } => self.query_run(task, sql, page),
            Effect::QueryMore { task, cursor, page } => self.query_more(task, cursor, page),
            Effect::QueryClose => {
                // Dropped outside the lock: a cursor's drop may talk to the server.
                let old = lock(&self.cursor).take();
                drop(old);
            }
            Effect::LoginCheck => self.on_open(|conn, c, _, tx| async move {
                let result = c.login_writes().await;
                let _ = tx.send(Action::LoginWrites { conn, result });
            }),
            Effect::QueryHistoryLoad { conn } => self.blocking(move |p, tx| {
                let result = p.query_history(&conn).map_err(|e| e.to_string());
                let _ = tx.send(Action::QueryHistory { conn, result });
            }),
            Effect::QueryRemember { conn, sql } => self.blocking(move |p, _| {
                if let Err(e) = p.record_query(&conn, &sql) {
                    tracing::warn!(error = %e, "could not record the query in the history");
                }
            }),
            Effect::SshAnswer { id, answer } => self.prompter.answer(id, answer),
        }
    }

    /// Opens a typed query's cursor and fetches its first page; the cursor
    /// stays here for the next pages unless the result is complete.
    fn query_run(&self, task: TaskId, sql: String, page: usize) {
        let slot = self.cursor.clone();
        self.on_open(move |_, c, tasks, tx| async move {
            let started = Instant::now();
            let result = cancellable(&tasks, task, async move {
                let mut cursor = c.query(&sql).await?;
                let rows = cursor.next_page(page).await?;
                let columns = Some(cursor.columns().to_vec());
                let done = cursor.is_done();
                if !done {
                    *lock(&slot) = Some((task, cursor));
                }
                Ok(QueryPage {
                    columns,
                    rows,
                    done,
                    elapsed: started.elapsed(),
                })
            })
            .await;
            let _ = tx.send(Action::QueryPage { task, result });
        })
    }

    /// The next page of the open cursor. The cursor travels with the task:
    /// cancelling the task drops it, which stops the query on the server.
    fn query_more(&self, task: TaskId, cursor: TaskId, page: usize) {
        let slot = self.cursor.clone();
        let tasks = self.tasks.clone();
        let tx = self.tx.clone();
        let taken = {
            let mut s = lock(&slot);
            match s.take() {
                Some((t, c)) if t == cursor => Some(c),
                other => {
                    *s = other;
                    None
                }
            }
        };
        tokio::spawn(async move {
            let result = match taken {
                None => Err(ConnError::new(
                    ErrorKind::Other,
                    "the result is closed: run the query again",
                )),
                Some(mut c) => {
                    let slot = slot.clone();
                    let started = Instant::now();
                    cancellable(&tasks, task, async move {
                        let rows = c.next_page(page).await?;
                        let done = c.is_done();
                        if !done {
                            *lock(&slot) = Some((cursor, c));
                        }
                        Ok(QueryPage {
                            columns: None,
                            rows,
                            done,
                            elapsed: started.elapsed(),
                        })
                    })
                    .await
                }
            };
            let _ = tx.send(Action::QueryPage { task, result });
        });
    }

    /// Quick profile work on a blocking thread, under the profile lock.
    fn blocking<F>(&self, f: F)
    where
        F: FnOnce(&mut Profile, &UnboundedSender<Action>) + Send + 'static,
    {
        let (profile, tx) = (self.profile.clone(), self.tx.clone());
        tokio::task::spawn_blocking(move || f(&mut lock(&profile), &tx));
    }

    /// Work on the open browser's connector; nothing when none is open.
    fn on_open<F, Fut>(&self, f: F)
    where
        F: FnOnce(String, Arc<dyn Connector>, Tasks, UnboundedSender<Action>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some((conn, c)) = self.connector() {
            tokio::spawn(f(conn, c, self.tasks.clone(), self.tx.clone()));
        }
    }

    fn load_connections(&self, select: Option<String>) {
        self.blocking(move |p, tx| {
            let result = p.list().map_err(|e| e.to_string());
            let _ = tx.send(Action::ConnectionsLoaded { result, select });
        });
    }

    fn test_saved(&self, task: TaskId, name: String, force: bool, prompted: Option<SecretString>) {
        let (profile, tx, tasks) = (self.profile.clone(), self.tx.clone(), self.tasks.clone());
        let (env, session) = (self.env.clone(), self.session.clone());
        tokio::spawn(async move {
            let n = name.clone();
            let prep = with_profile(&profile, move |p| {
                ops::prepare_test(p, &n, force, prompted, &env)
            })
            .await;
            let job = match prep {
                Ok(Step::Go(job)) => job,
                Ok(Step::Need(need)) => {
                    let _ = tx.send(ask(need, Pending::TestConnection { name }));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Action::TestRefused {
                        task,
                        name: Some(name),
                        lockout: matches!(e, ProfileError::LockoutGuard(_)),
                        message: e.to_string(),
                    });
                    return;
                }
            };
            let spec = job.connection.spec.clone();
            let result = cancellable(&tasks, task, async move {
                connector_for(&spec, job.password, session)?.test().await
            })
            .await;
            // Always hand the outcome back: it also releases the in-flight guard.
            let (n, r) = (name.clone(), result.clone());
            let _ = with_profile(&profile, move |p| ops::finish_test(p, &n, &r)).await;
            let _ = tx.send(Action::TestDone {
                task,
                name: Some(name),
                result,
            });
        });
    }

    fn test_form(&self, task: TaskId, spec: ConnSpec, password: FormPassword) {
        let (profile, tx, tasks) = (self.profile.clone(), self.tx.clone(), self.tasks.clone());
        let (env, session) = (self.env.clone(), self.session.clone());
        tokio::spawn(async move {
            let refuse = |message: String| Action::TestRefused {
                task,
                name: None,
                message,
                lockout: false,
            };
            let password = match password {
                FormPassword::Typed(p) => Some(p),
                FormPassword::None => None,
                FormPassword::Stored(name) => {
                    // Only for the target it was saved for.
                    let target = spec.target();
                    let prep = with_profile(&profile, move |p| {
                        ops::stored_password_for(p, &name, &target, &env)
                    })
                    .await;
                    match prep {
                        Ok(Step::Go(pw)) => pw,
                        Ok(Step::Need(Need::Password)) => {
                            let _ = tx.send(refuse("this connection asks for its password every time: type it in the Password field".into()));
                            return;
                        }
                        Ok(Step::Need(need)) => {
                            let _ = tx.send(ask(need, Pending::TestForm));
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(refuse(e.to_string()));
                            return;
                        }
                    }
                }
            };
            // Hop by hop (SSH → tunnel → engine, or resolve → TCP → engine),
            // so the form can say which one failed.
            let result = cancellable(&tasks, task, async move {
                let staged = crate::ssh::staged_test(&spec, password, session).await;
                Ok((staged.line(), staged.result))
            })
            .await;
            let result = match result {
                Ok((line, result)) => {
                    let _ = tx.send(Action::TestStages { task, line });
                    result
                }
                Err(e) => Err(e),
            };
            let _ = tx.send(Action::TestDone {
                task,
                name: None,
                result,
            });
        });
    }

    fn save(&self, save: ops::Save) {
        let env = self.env.clone();
        self.blocking(move |p, tx| {
            let action = match ops::save(p, save, &env) {
                Ok(Step::Go(saved)) => Action::Saved(Ok(saved)),
                Ok(Step::Need(need)) => ask(need, Pending::SaveForm),
                Err(e) => Action::Saved(Err(e.to_string())),
            };
            let _ = tx.send(action);
        });
    }

    fn unlock_from_env(&self) {
        // Tried here, not again by the operations. The profile stays locked
        // (mutex) while scrypt runs, so work that needs the vault waits.
        self.env.mark_tried();
        let identity = self.env.identity().map(std::path::Path::to_path_buf);
        self.blocking(move |p, tx| {
            let result = p
                .unlock_from_env(identity.as_deref())
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(Action::EnvUnlocked(result));
        });
    }

    fn cancel(&self, task: TaskId) {
        if let Some(token) = lock(&self.tokens).remove(&task) {
            token.cancel();
            return;
        }
        let mut map = lock(&self.tasks);
        match map.remove(&task) {
            Some(Slot::Running(h)) => h.abort(),
            _ => {
                map.insert(task, Slot::Cancelled);
            }
        }
    }

    fn open_browser(&self, task: TaskId, name: String, prompted: Option<SecretString>) {
        let (profile, tx, tasks) = (self.profile.clone(), self.tx.clone(), self.tasks.clone());
        let (env, session, open) = (self.env.clone(), self.session.clone(), self.open.clone());
        tokio::spawn(async move {
            let n = name.clone();
            let prep = with_profile(&profile, move |p| {
                ops::prepare_connection(p, &n, prompted, &env)
            })
            .await;
            let (conn, password) = match prep {
                Ok(Step::Go(x)) => x,
                Ok(Step::Need(need)) => {
                    let _ = tx.send(ask(need, Pending::OpenBrowser { name }));
                    return;
                }
                Err(e) => {
                    let message = e.to_string();
                    let _ = tx.send(Action::BrowserFailed { task, message });
                    return;
                }
            };
            let connector: Arc<dyn Connector> = match connector_for(&conn.spec, password, session) {
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
                cancellable(&tasks, task, async move { connector.list_tables().await }).await;
            let _ = tx.send(Action::TablesLoaded {
                task,
                conn: name,
                result,
            });
        });
    }

    fn reconnect(&self, task: TaskId) {
        let Some((conn, c)) = self.connector() else {
            let _ = self.tx.send(Action::BrowserFailed {
                task,
                message: "not connected".into(),
            });
            return;
        };
        let (tasks, tx) = (self.tasks.clone(), self.tx.clone());
        tokio::spawn(async move {
            let result = cancellable(&tasks, task, async move {
                c.reset().await;
                c.list_tables().await
            })
            .await;
            let _ = tx.send(Action::TablesLoaded { task, conn, result });
        });
    }

    fn import(
        &self,
        task: TaskId,
        conn: String,
        kind: crate::connectors::Kind,
        tables: Vec<crate::dataset::TablePlan>,
        format: crate::dataset::Format,
        destination: Option<std::path::PathBuf>,
    ) {
        let Some((_, c)) = self.connector() else {
            return;
        };
        let token = tokio_util::sync::CancellationToken::new();
        lock(&self.tokens).insert(task, token.clone());
        let (profile, tx, tokens) = (self.profile.clone(), self.tx.clone(), self.tokens.clone());
        let handle = tokio::spawn(async move {
            let destination = match destination {
                Some(d) => d,
                None => {
                    let name = conn.clone();
                    with_profile(&profile, move |p| {
                        Ok(crate::dataset::default_destination(
                            &p.paths.datasets_dir(),
                            &name,
                            format,
                        ))
                    })
                    .await
                    .unwrap_or_else(|_| format!("{conn}.{}", format.extension()).into())
                }
            };
            let plan = crate::dataset::ImportPlan {
                connection: conn.clone(),
                kind,
                tables,
                destination,
                format,
            };
            let summary = run_import_task(task, c, plan, token, &tx).await;
            lock(&tokens).remove(&task);
            let s = summary.clone();
            let _ = with_profile(&profile, move |p| ops::audit_import(p, &conn, &s)).await;
            let _ = tx.send(Action::ImportDone {
                task,
                summary: Box::new(summary),
            });
        });
        let mut imports = lock(&self.imports);
        imports.retain(|h| !h.is_finished());
        imports.push(handle);
    }
}

/// The vault prompt's answer: unlock, or create the vault (never over files
/// that exist, even broken ones, except an interrupted empty init).
fn unlock_or_create(
    p: &mut Profile,
    passphrase: &SecretString,
    create: bool,
) -> Result<(), ProfileError> {
    let state = p.vault().state();
    let leftover = state == VaultState::RecipientsMissing
        && p.catalog().secrets().map(|s| s.is_empty()).unwrap_or(false);
    if create && state != VaultState::Absent && !leftover {
        return Err(ProfileError::Vault(crate::store::VaultError::Other(
            format!(
                "the vault files exist but are broken ({}): see `varlor vault status`",
                state.id().replace('_', " ")
            ),
        )));
    }
    if create {
        p.init_vault(passphrase)?;
        if p.is_unlocked() {
            return Ok(());
        }
    }
    p.unlock(passphrase)
}

/// Runs one import, forwarding its progress as actions. A panic unwinds
/// through the import, whose guards remove its partial files; the dialog
/// still gets an outcome.
async fn run_import_task(
    task: TaskId,
    c: Arc<dyn Connector>,
    plan: crate::dataset::ImportPlan,
    token: tokio_util::sync::CancellationToken,
    tx: &UnboundedSender<Action>,
) -> crate::dataset::ImportSummary {
    use futures::FutureExt;
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
    std::panic::AssertUnwindSafe(crate::dataset::run_import(c, plan, ev_tx, token))
        .catch_unwind()
        .await
        .unwrap_or(failed)
}
