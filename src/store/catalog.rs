//! The profile's catalog: connections, test results, audit log, settings.
//! rusqlite, WAL, foreign keys on, numbered migrations in `schema_migrations`.

use crate::connectors::{ConnSpec, Environment, PasswordSource};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("a connection named '{0}' already exists")]
    Duplicate(String),
    #[error("no connection named '{0}'")]
    NotFound(String),
    #[error("catalog error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalog is corrupt: {0}")]
    Corrupt(String),
    /// The catalog file cannot be created, opened or protected (permissions, disk).
    #[error("cannot open the catalog {path}: {source}")]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The result of a test, as recorded (never a secret).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TestOutcome {
    /// Unix seconds.
    pub at: i64,
    pub ok: bool,
    /// "ok" or the short error message ("Invalid credentials").
    pub status: String,
    /// Sanitized driver detail.
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
    pub server_version: Option<String>,
    pub tls: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SavedConnection {
    pub id: i64,
    pub name: String,
    pub spec: ConnSpec,
    pub environment: Environment,
    pub password_source: PasswordSource,
    /// Whether an encrypted secret is stored (the ciphertext itself is never exposed here).
    pub has_secret: bool,
    pub key_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_test: Option<TestOutcome>,
    /// Consecutive "Invalid credentials" results (lockout guard).
    pub auth_failures: u32,
}

/// What `add`/`edit` write (the ciphertext is produced by the vault).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    pub spec: ConnSpec,
    pub environment: Environment,
    pub password_source: PasswordSource,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// OS user running Varlor.
    pub actor: String,
    /// create, update, delete, test, unlock, rotate, import…
    pub action: String,
    /// Connection name or other subject.
    pub target: String,
    /// ok / failed / the short error.
    pub outcome: String,
    /// Free text, never a secret.
    pub detail: String,
}

pub struct Catalog {
    conn: rusqlite::Connection,
}

/// How `update` treats the stored secret.
#[derive(Debug, Clone)]
pub enum SecretUpdate {
    /// Keep the stored ciphertext (editing without typing a new password).
    Keep,
    /// Remove it (explicit action).
    Clear,
    /// Replace it with this ciphertext of the given key version.
    Set(Vec<u8>, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub connections: i64,
    pub tests: i64,
    pub audit: i64,
}

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row};

use super::paths::set_mode;
use crate::connectors::{Kind, TlsMode};

/// Numbered migrations, applied in order; each runs in its own transaction
/// and is recorded in `schema_migrations`. Never edit a released one: add a new file.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_indexes.sql")),
    (3, include_str!("migrations/0003_query_history.sql")),
];

/// Test results kept per connection (older ones are dropped as new ones arrive).
const HISTORY_PER_CONNECTION: i64 = 200;

/// Typed statements kept per connection (the oldest go as new ones arrive).
pub const QUERIES_PER_CONNECTION: i64 = 500;

/// Settings key holding the vault key version the secrets are encrypted with.
pub const SETTING_VAULT_KEY_VERSION: &str = "vault_key_version";

const SELECT_CONNECTION: &str = "SELECT id, name, kind, host, port, database, user, options, tls, \
     ca_file, connect_timeout_secs, environment, password_source, password_command, \
     secret IS NOT NULL, key_version, created_at, updated_at, last_test_at, last_test_ok, \
     last_test_status, last_test_error, last_test_latency_ms, server_version, last_test_tls, \
     auth_failures FROM connections";

fn insert_row(
    conn: &rusqlite::Connection,
    c: &NewConnection,
    secret: Option<(&[u8], i64)>,
) -> Result<(), CatalogError> {
    let cols = Columns::of(c)?;
    let t = now();
    let (blob, key_version) = match secret {
        Some((b, v)) => (Some(b), v),
        None => (None, 0),
    };
    let res = conn.execute(
        "INSERT INTO connections (name, kind, host, port, database, user, options, tls, \
         ca_file, connect_timeout_secs, environment, password_source, password_command, \
         secret, key_version, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
        params![
            c.name,
            cols.kind,
            cols.host,
            cols.port,
            cols.database,
            cols.user,
            cols.options,
            cols.tls,
            cols.ca_file,
            cols.timeout,
            cols.environment,
            cols.source,
            cols.command,
            blob,
            key_version,
            t
        ],
    );
    match res {
        Err(e) if is_unique_violation(&e) => Err(CatalogError::Duplicate(c.name.clone())),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The OS user running Varlor, for the audit log.
pub fn os_user() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            #[cfg(unix)]
            {
                // SAFETY: getuid has no preconditions and cannot fail.
                format!("uid:{}", unsafe { libc::getuid() })
            }
            #[cfg(not(unix))]
            {
                std::env::var("USERNAME").unwrap_or_else(|_| "unknown".into())
            }
        }
    }
}

/// Deletes all but the newest `keep` rows of a per-connection history
/// table (`table` is one of this module's own names, never outside text).
fn keep_newest(
    tx: &rusqlite::Transaction<'_>,
    table: &'static str,
    connection_id: i64,
    keep: i64,
) -> Result<(), CatalogError> {
    tx.execute(
        &format!(
            "DELETE FROM {table} WHERE connection_id = ?1 AND id NOT IN \
             (SELECT id FROM {table} WHERE connection_id = ?1 ORDER BY id DESC LIMIT ?2)"
        ),
        params![connection_id, keep],
    )?;
    Ok(())
}

/// The row id of the connection named `name`.
fn connection_id(conn: &rusqlite::Connection, name: &str) -> Result<i64, CatalogError> {
    conn.query_row("SELECT id FROM connections WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| CatalogError::NotFound(name.to_string()))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn corrupt(column: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {column} '{value}'").into(),
    )
}

fn row_to_connection(r: &Row<'_>) -> rusqlite::Result<SavedConnection> {
    let kind_s: String = r.get(2)?;
    let kind = Kind::parse(&kind_s).ok_or_else(|| corrupt("kind", &kind_s))?;
    let port: Option<i64> = r.get(4)?;
    let options_s: String = r.get(7)?;
    let options = serde_json::from_str(&options_s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let tls_s: String = r.get(8)?;
    let tls = TlsMode::parse(&tls_s).ok_or_else(|| corrupt("tls", &tls_s))?;
    let ca_file: Option<String> = r.get(9)?;
    let timeout: i64 = r.get(10)?;
    let env_s: String = r.get(11)?;
    let environment = Environment::parse(&env_s).ok_or_else(|| corrupt("environment", &env_s))?;
    let source_s: String = r.get(12)?;
    let command: Option<String> = r.get(13)?;
    let password_source = match source_s.as_str() {
        "vault" => PasswordSource::Vault,
        "prompt" => PasswordSource::Prompt,
        "none" => PasswordSource::None,
        "command" => PasswordSource::Command(command.unwrap_or_default()),
        other => return Err(corrupt("password_source", other)),
    };
    let last_test_at: Option<i64> = r.get(18)?;
    let last_test = match last_test_at {
        None => None,
        Some(at) => Some(TestOutcome {
            at,
            ok: r.get::<_, Option<bool>>(19)?.unwrap_or(false),
            status: r.get::<_, Option<String>>(20)?.unwrap_or_default(),
            error: r.get(21)?,
            latency_ms: r.get::<_, Option<i64>>(22)?.map(|v| v.max(0) as u64),
            server_version: r.get(23)?,
            tls: r.get(24)?,
        }),
    };
    Ok(SavedConnection {
        id: r.get(0)?,
        name: r.get(1)?,
        spec: ConnSpec {
            kind,
            host: r.get(3)?,
            port: port.and_then(|p| u16::try_from(p).ok()),
            database: r.get(5)?,
            user: r.get(6)?,
            tls,
            ca_file: ca_file.map(Into::into),
            connect_timeout_secs: timeout.max(0) as u64,
            options,
        },
        environment,
        password_source,
        has_secret: r.get(14)?,
        key_version: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
        last_test,
        auth_failures: r.get::<_, i64>(25)?.clamp(0, u32::MAX as i64) as u32,
    })
}

/// The non-secret columns of a connection, in the order of the INSERT/UPDATE statements.
struct Columns {
    kind: &'static str,
    host: String,
    port: Option<i64>,
    database: String,
    user: String,
    options: String,
    tls: &'static str,
    ca_file: Option<String>,
    timeout: i64,
    environment: &'static str,
    source: &'static str,
    command: Option<String>,
}

impl Columns {
    fn of(c: &NewConnection) -> Result<Columns, CatalogError> {
        Ok(Columns {
            kind: c.spec.kind.id(),
            host: c.spec.host.clone(),
            port: c.spec.port.map(i64::from),
            database: c.spec.database.clone(),
            user: c.spec.user.clone(),
            options: serde_json::to_string(&c.spec.options)
                .map_err(|e| CatalogError::Corrupt(e.to_string()))?,
            tls: c.spec.tls.id(),
            ca_file: c
                .spec
                .ca_file
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            timeout: i64::try_from(c.spec.connect_timeout_secs).unwrap_or(i64::MAX),
            environment: c.environment.id(),
            source: c.password_source.id(),
            command: match &c.password_source {
                PasswordSource::Command(cmd) => Some(cmd.clone()),
                _ => None,
            },
        })
    }
}

impl Catalog {
    /// Opens (creating if needed) with migrations, WAL, foreign keys; file 0600.
    pub fn open(path: &Path) -> Result<Catalog, CatalogError> {
        // Create the file ourselves so it is 0600 from its first byte, whatever the umask.
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            opts.open(path).map_err(|source| CatalogError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let conn = rusqlite::Connection::open(path)?;
        let mut cat = Catalog::setup(conn, true)?;
        cat.migrate()?;
        // SQLite creates -wal/-shm with the database's mode, but tighten them
        // anyway (a file restored from a backup may have been looser).
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            if p.exists() {
                set_mode(&p, 0o600).map_err(|source| CatalogError::Open {
                    path: p.clone(),
                    source,
                })?;
            }
        }
        Ok(cat)
    }

    pub fn open_in_memory() -> Result<Catalog, CatalogError> {
        let conn = rusqlite::Connection::open_in_memory()?;
        let mut cat = Catalog::setup(conn, false)?;
        cat.migrate()?;
        Ok(cat)
    }

    fn setup(conn: rusqlite::Connection, wal: bool) -> Result<Catalog, CatalogError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", true)?;
        if wal {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(CatalogError::Corrupt(format!(
                    "cannot switch the catalog to WAL (journal_mode is {mode})"
                )));
            }
            // FULL: a committed transaction survives even a power loss. Key
            // rotation depends on it: the key files are renamed only after
            // the catalog commit, which must not be undone afterwards.
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        Ok(Catalog { conn })
    }

    fn migrate(&mut self) -> Result<(), CatalogError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at INTEGER NOT NULL
             );",
        )?;
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        let current = self.schema_version()?;
        if current > known {
            return Err(CatalogError::Corrupt(format!(
                "catalog schema version {current} is newer than this Varlor understands ({known}); \
                 upgrade Varlor"
            )));
        }
        if current == known {
            return Ok(());
        }
        for (version, sql) in MIGRATIONS {
            // IMMEDIATE: two processes opening a fresh catalog at once must not
            // both apply the same migration.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let applied: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )?;
            if !applied {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                    params![version, now()],
                )?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, CatalogError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?)
    }

    /// Versions recorded in `schema_migrations`, in order.
    pub fn applied_migrations(&self) -> Result<Vec<(i64, i64)>, CatalogError> {
        let mut st = self
            .conn
            .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ordered by name.
    pub fn list(&self) -> Result<Vec<SavedConnection>, CatalogError> {
        let mut st = self.conn.prepare(&format!(
            "{SELECT_CONNECTION} ORDER BY name COLLATE NOCASE, name"
        ))?;
        let rows = st.query_map([], row_to_connection)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, name: &str) -> Result<SavedConnection, CatalogError> {
        self.conn
            .query_row(
                &format!("{SELECT_CONNECTION} WHERE name = ?1"),
                [name],
                row_to_connection,
            )
            .optional()?
            .ok_or_else(|| CatalogError::NotFound(name.to_string()))
    }

    /// `secret`: ciphertext and the key version it was made with.
    pub fn insert(
        &mut self,
        c: &NewConnection,
        secret: Option<(&[u8], i64)>,
    ) -> Result<SavedConnection, CatalogError> {
        insert_row(&self.conn, c, secret)?;
        self.get(&c.name)
    }

    /// Inserts `c` and, in the same transaction, the secret `make` encrypts
    /// for the new row's id (secrets are bound to their connection).
    pub fn insert_with_secret<E: From<CatalogError>>(
        &mut self,
        c: &NewConnection,
        make: impl FnOnce(i64) -> Result<(Vec<u8>, i64), E>,
    ) -> Result<SavedConnection, E> {
        let tx = self.conn.transaction().map_err(CatalogError::from)?;
        insert_row(&tx, c, None).map_err(E::from)?;
        let id = tx.last_insert_rowid();
        let (blob, version) = make(id)?;
        tx.execute(
            "UPDATE connections SET secret = ?2, key_version = ?3 WHERE id = ?1",
            params![id, blob, version],
        )
        .map_err(CatalogError::from)?;
        tx.commit().map_err(CatalogError::from)?;
        Ok(self.get(&c.name)?)
    }

    /// Replaces the ciphertext of the named connections (binding old
    /// secrets), in one transaction; the key is unchanged.
    pub fn rebind_secrets(
        &mut self,
        secrets: &[(String, Vec<u8>)],
        key_version: i64,
    ) -> Result<(), CatalogError> {
        let tx = self.conn.transaction()?;
        for (name, blob) in secrets {
            tx.execute(
                "UPDATE connections SET secret = ?2, key_version = ?3 \
                 WHERE name = ?1 AND secret IS NOT NULL",
                params![name, blob, key_version],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The setting's value, or a fresh random hex id stored under `key`.
    pub fn setting_or_random(&mut self, key: &str) -> Result<String, CatalogError> {
        if let Some(v) = self.setting(key)? {
            return Ok(v);
        }
        let v: String = self
            .conn
            .query_row("SELECT lower(hex(randomblob(16)))", [], |r| r.get(0))?;
        self.conn.execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
            params![key, v],
        )?;
        // Another process may have won the race: its value is the one.
        Ok(self.setting(key)?.unwrap_or(v))
    }

    pub fn update(
        &mut self,
        old_name: &str,
        c: &NewConnection,
        secret: SecretUpdate,
    ) -> Result<SavedConnection, CatalogError> {
        let cols = Columns::of(c)?;
        let tx = self.conn.transaction()?;
        let old = tx
            .query_row(
                &format!("{SELECT_CONNECTION} WHERE name = ?1"),
                [old_name],
                row_to_connection,
            )
            .optional()?
            .ok_or_else(|| CatalogError::NotFound(old_name.to_string()))?;
        let res = tx.execute(
            "UPDATE connections SET name = ?2, kind = ?3, host = ?4, port = ?5, database = ?6, \
             user = ?7, options = ?8, tls = ?9, ca_file = ?10, connect_timeout_secs = ?11, \
             environment = ?12, password_source = ?13, password_command = ?14, updated_at = ?15 \
             WHERE id = ?1",
            params![
                old.id,
                c.name,
                cols.kind,
                cols.host,
                cols.port,
                cols.database,
                cols.user,
                cols.options,
                cols.tls,
                cols.ca_file,
                cols.timeout,
                cols.environment,
                cols.source,
                cols.command,
                now()
            ],
        );
        match res {
            Err(e) if is_unique_violation(&e) => {
                return Err(CatalogError::Duplicate(c.name.clone()))
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let secret_changed = match secret {
            SecretUpdate::Keep => false,
            SecretUpdate::Clear => {
                tx.execute(
                    "UPDATE connections SET secret = NULL, key_version = 0 WHERE id = ?1",
                    [old.id],
                )?;
                true
            }
            SecretUpdate::Set(blob, version) => {
                tx.execute(
                    "UPDATE connections SET secret = ?2, key_version = ?3 WHERE id = ?1",
                    params![old.id, blob, version],
                )?;
                true
            }
        };
        // New credentials or a new target: earlier failed logins no longer count.
        if secret_changed || old.spec != c.spec {
            tx.execute(
                "UPDATE connections SET auth_failures = 0 WHERE id = ?1",
                [old.id],
            )?;
        }
        // The last test spoke of the old settings: it no longer says anything.
        if old.spec != c.spec {
            tx.execute(
                "UPDATE connections SET last_test_at = NULL, last_test_ok = NULL, \
                 last_test_status = NULL, last_test_error = NULL, last_test_latency_ms = NULL, \
                 last_test_tls = NULL WHERE id = ?1",
                [old.id],
            )?;
        }
        tx.commit()?;
        self.get(&c.name)
    }

    pub fn delete(&mut self, name: &str) -> Result<(), CatalogError> {
        let n = self
            .conn
            .execute("DELETE FROM connections WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(CatalogError::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// The stored ciphertext and its key version.
    pub fn secret(&self, name: &str) -> Result<Option<(Vec<u8>, i64)>, CatalogError> {
        let row: Option<(Option<Vec<u8>>, i64)> = self
            .conn
            .query_row(
                "SELECT secret, key_version FROM connections WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Err(CatalogError::NotFound(name.to_string())),
            Some((blob, v)) => Ok(blob.map(|b| (b, v))),
        }
    }

    /// Every stored ciphertext: (connection name, ciphertext, key version).
    pub fn secrets(&self) -> Result<Vec<(String, Vec<u8>, i64)>, CatalogError> {
        let mut st = self.conn.prepare(
            "SELECT name, secret, key_version FROM connections WHERE secret IS NOT NULL ORDER BY id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Key rotation, in one transaction: every (name, new ciphertext) is
    /// stored with `key_version`, and `vault_key_version` is set to it. If a
    /// connection holds a secret not in `secrets`, nothing changes (Corrupt):
    /// a secret saved meanwhile by another process must not be orphaned.
    pub fn rotate_secrets(
        &mut self,
        secrets: &[(String, Vec<u8>)],
        key_version: i64,
    ) -> Result<(), CatalogError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let stored: i64 = tx.query_row(
            "SELECT COUNT(*) FROM connections WHERE secret IS NOT NULL",
            [],
            |r| r.get(0),
        )?;
        if stored != secrets.len() as i64 {
            return Err(CatalogError::Corrupt(
                "the secrets changed during the rotation; nothing was changed, try again".into(),
            ));
        }
        for (name, blob) in secrets {
            let n = tx.execute(
                "UPDATE connections SET secret = ?2, key_version = ?3 \
                 WHERE name = ?1 AND secret IS NOT NULL",
                params![name, blob, key_version],
            )?;
            if n != 1 {
                return Err(CatalogError::NotFound(name.clone()));
            }
        }
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![SETTING_VAULT_KEY_VERSION, key_version.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a test. `auth_failure` bumps the consecutive counter and a
    /// success resets it; other failures (refused, timeout, cancelled) leave
    /// it as is, since they say nothing about the credentials.
    pub fn record_test(
        &mut self,
        name: &str,
        outcome: &TestOutcome,
        auth_failure: bool,
    ) -> Result<(), CatalogError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = connection_id(&tx, name)?;
        let latency = outcome.latency_ms.map(|l| l.min(i64::MAX as u64) as i64);
        tx.execute(
            "UPDATE connections SET last_test_at = ?2, last_test_ok = ?3, last_test_status = ?4, \
             last_test_error = ?5, last_test_latency_ms = ?6, \
             server_version = COALESCE(?7, server_version), last_test_tls = ?8, \
             auth_failures = CASE WHEN ?9 THEN auth_failures + 1 \
                                  WHEN ?3 THEN 0 ELSE auth_failures END \
             WHERE id = ?1",
            params![
                id,
                outcome.at,
                outcome.ok,
                outcome.status,
                outcome.error,
                latency,
                outcome.server_version,
                outcome.tls,
                auth_failure
            ],
        )?;
        tx.execute(
            "INSERT INTO test_history (connection_id, at, ok, status, latency_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, outcome.at, outcome.ok, outcome.status, latency],
        )?;
        keep_newest(&tx, "test_history", id, HISTORY_PER_CONNECTION)?;
        tx.commit()?;
        Ok(())
    }

    /// The recorded tests of a connection, newest first.
    pub fn test_history(&self, name: &str) -> Result<Vec<TestOutcome>, CatalogError> {
        let conn = self.get(name)?;
        let mut st = self.conn.prepare(
            "SELECT at, ok, status, latency_ms FROM test_history \
             WHERE connection_id = ?1 ORDER BY id DESC",
        )?;
        let rows = st.query_map([conn.id], |r| {
            Ok(TestOutcome {
                at: r.get(0)?,
                ok: r.get(1)?,
                status: r.get(2)?,
                error: None,
                latency_ms: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u64),
                server_version: None,
                tls: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a statement run on `name` (its text only), unless it is the
    /// same as the newest one, and keeps the newest
    /// [`QUERIES_PER_CONNECTION`].
    pub fn record_query(&mut self, name: &str, sql: &str) -> Result<(), CatalogError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = connection_id(&tx, name)?;
        let newest: Option<String> = tx
            .query_row(
                "SELECT sql FROM query_history WHERE connection_id = ?1 ORDER BY id DESC LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if newest.as_deref() != Some(sql) {
            tx.execute(
                "INSERT INTO query_history (connection_id, at, sql) VALUES (?1, ?2, ?3)",
                params![id, now(), sql],
            )?;
            keep_newest(&tx, "query_history", id, QUERIES_PER_CONNECTION)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The statements run on `name`, newest first.
    pub fn query_history(&self, name: &str) -> Result<Vec<String>, CatalogError> {
        let conn = self.get(name)?;
        let mut st = self
            .conn
            .prepare("SELECT sql FROM query_history WHERE connection_id = ?1 ORDER BY id DESC")?;
        let rows = st.query_map([conn.id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn audit(
        &mut self,
        action: &str,
        target: &str,
        outcome: &str,
        detail: &str,
    ) -> Result<(), CatalogError> {
        self.conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, outcome, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now(), os_user(), action, target, outcome, detail],
        )?;
        Ok(())
    }

    /// Oldest first; `since` in Unix seconds (inclusive).
    pub fn audit_list(&self, since: Option<i64>) -> Result<Vec<AuditEntry>, CatalogError> {
        let mut st = self.conn.prepare(
            "SELECT id, at, actor, action, target, outcome, detail FROM audit_log \
             WHERE at >= ?1 ORDER BY at, id",
        )?;
        let rows = st.query_map([since.unwrap_or(i64::MIN)], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                outcome: r.get(5)?,
                detail: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes audit rows older than `older_than_days` days; returns how many.
    pub fn audit_prune(&mut self, older_than_days: u32) -> Result<usize, CatalogError> {
        let cutoff = now() - i64::from(older_than_days) * 86_400;
        Ok(self
            .conn
            .execute("DELETE FROM audit_log WHERE at < ?1", [cutoff])?)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, CatalogError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), CatalogError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The vault key version recorded by the last rotation (or init), if any.
    pub fn vault_key_version(&self) -> Result<Option<i64>, CatalogError> {
        match self.setting(SETTING_VAULT_KEY_VERSION)? {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                CatalogError::Corrupt(format!("setting {SETTING_VAULT_KEY_VERSION} is '{v}'"))
            }),
        }
    }

    /// `vault reset`: forgets every stored secret (they can no longer be
    /// decrypted) and the vault key version, in one transaction; connections
    /// stay. Returns how many secrets were dropped.
    pub fn drop_all_secrets(&mut self) -> Result<usize, CatalogError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE connections SET secret = NULL WHERE secret IS NOT NULL",
            [],
        )?;
        tx.execute(
            "DELETE FROM settings WHERE key = ?1",
            [SETTING_VAULT_KEY_VERSION],
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn counts(&self) -> Result<Counts, CatalogError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM connections), (SELECT COUNT(*) FROM test_history), \
             (SELECT COUNT(*) FROM audit_log)",
            [],
            |r| {
                Ok(Counts {
                    connections: r.get(0)?,
                    tests: r.get(1)?,
                    audit: r.get(2)?,
                })
            },
        )?)
    }

    /// `PRAGMA journal_mode` (diagnostics and tests: "wal").
    pub fn journal_mode(&self) -> Result<String, CatalogError> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` == "ok" (for `varlor doctor` and the crash tests).
    pub fn integrity_ok(&self) -> Result<bool, CatalogError> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }

    /// Raw SQL access for diagnostics and tests (never for secrets).
    #[doc(hidden)]
    pub fn connection(&self) -> &rusqlite::Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_conn(name: &str) -> NewConnection {
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.user = "app".into();
        spec.database = "shop".into();
        spec.options
            .insert("application_name".into(), "varlor".into());
        NewConnection {
            name: name.into(),
            spec,
            environment: Environment::Production,
            password_source: PasswordSource::Command("echo x".into()),
        }
    }

    #[test]
    fn round_trips_every_field() {
        let mut c = Catalog::open_in_memory().unwrap();
        let n = new_conn("a");
        let saved = c.insert(&n, Some((b"ct", 3))).unwrap();
        assert_eq!(saved.spec, n.spec);
        assert_eq!(saved.environment, Environment::Production);
        assert_eq!(saved.password_source, n.password_source);
        assert!(saved.has_secret);
        assert_eq!(saved.key_version, 3);
        assert_eq!(c.secret("a").unwrap(), Some((b"ct".to_vec(), 3)));
    }

    #[test]
    fn cancelled_tests_do_not_reset_the_auth_counter() {
        let mut c = Catalog::open_in_memory().unwrap();
        c.insert(&new_conn("a"), None).unwrap();
        let fail = TestOutcome {
            at: 1,
            ok: false,
            status: "Invalid credentials".into(),
            error: None,
            latency_ms: None,
            server_version: None,
            tls: None,
        };
        c.record_test("a", &fail, true).unwrap();
        let other = TestOutcome {
            status: "Cancelled".into(),
            ..fail.clone()
        };
        c.record_test("a", &other, false).unwrap();
        assert_eq!(c.get("a").unwrap().auth_failures, 1);
    }
}
