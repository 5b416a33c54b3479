//! The TUI's "import connections found on this machine" dialog: its state
//! (plain data, never a password: the chosen entries are found again by
//! their origin when imported) and the two operations the effect runner
//! runs for it on a blocking task.

use crate::ops::{self, EnvUnlock, Need, Step};
use crate::profile::Profile;
use crate::sources::{self, Fate, Source};
use crate::store::NewConnection;

/// One connection found, as the dialog shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverRow {
    /// The name it will be saved under (suffixed when taken).
    pub name: String,
    pub engine: &'static str,
    pub summary: String,
    pub origin: String,
    pub password: bool,
    /// A saved connection with the same target (not importable).
    pub already: Option<String>,
    pub checked: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DiscoverDialog {
    pub rows: Vec<DiscoverRow>,
    pub selected: usize,
    pub loading: bool,
    pub importing: bool,
    /// Problems and warnings, one line each.
    pub notes: Vec<String>,
}

impl DiscoverDialog {
    pub fn chosen(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.checked && r.already.is_none())
            .map(|r| r.origin.clone())
            .collect()
    }
}

fn discover(p: &Profile) -> Result<(sources::Discovery, Vec<Fate>), String> {
    let cx = sources::Context::from_process().ok_or("no home directory (HOME is not set)")?;
    let d = sources::discover(&cx, &Source::ALL);
    let existing = p.list().map_err(|e| e.to_string())?;
    let fates = sources::plan(
        d.found.iter().map(|f| (f.name.as_str(), f.spec.target())),
        &existing,
    );
    Ok((d, fates))
}

/// Looks in every source: the rows (new ones checked) and the notes.
pub fn scan(p: &Profile) -> Result<(Vec<DiscoverRow>, Vec<String>), String> {
    let (d, fates) = discover(p)?;
    let rows = d
        .found
        .iter()
        .zip(fates)
        .map(|(f, fate)| {
            let (name, already) = match fate {
                Fate::Import { name, .. } => (name, None),
                Fate::AlreadySaved(n) => (f.name.clone(), Some(n)),
            };
            DiscoverRow {
                checked: already.is_none(),
                name,
                engine: f.spec.kind.display_name(),
                summary: f.spec.summary(),
                origin: f.origin.clone(),
                password: f.password.is_some(),
                already,
            }
        })
        .collect();
    let mut notes: Vec<String> = d.problems.iter().map(|p| p.to_string()).collect();
    notes.extend(d.warnings);
    Ok((rows, notes))
}

/// Imports the entries found at `origins` through `ops::save`, each with
/// its `discover` audit row; the names saved. A missing vault comes back
/// as a [`Need`] before anything is saved.
pub fn import(
    p: &mut Profile,
    origins: &[String],
    env: &EnvUnlock,
) -> Result<Step<Vec<String>>, String> {
    let (d, fates) = discover(p)?;
    let chosen: Vec<_> = d
        .found
        .iter()
        .zip(fates)
        .filter(|(f, _)| origins.contains(&f.origin))
        .collect();
    if chosen.iter().any(|(f, _)| f.password.is_some()) && !p.vault_initialised() {
        return Ok(Step::Need(Need::Unlock {
            vault_exists: false,
        }));
    }
    let mut saved = Vec::new();
    for (f, fate) in chosen {
        let Fate::Import { name, .. } = fate else {
            continue;
        };
        let new = NewConnection {
            name: name.clone(),
            spec: f.spec.clone(),
            environment: f.environment,
            password_source: if f.spec.kind.has_password() {
                crate::connectors::PasswordSource::Vault
            } else {
                crate::connectors::PasswordSource::None
            },
        };
        let request = ops::Save {
            old_name: None,
            new,
            password: Some(f.password.clone()),
            keep_for_new_target: false,
            tested: None,
        };
        match ops::save(p, request, env).map_err(|e| e.to_string())? {
            Step::Go(c) => {
                let mut detail = format!("from {}: {}", f.source.id(), f.origin);
                if let Some(pf) = &f.password_from {
                    detail.push_str(&format!(" (password: {pf})"));
                }
                p.audit("discover", &c.name, "ok", &detail)
                    .map_err(|e| e.to_string())?;
                saved.push(c.name);
            }
            Step::Need(n) => return Ok(Step::Need(n)),
        }
    }
    Ok(Step::Go(saved))
}
