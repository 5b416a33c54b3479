//! The environment: `DATABASE_URL` (any URL Varlor parses), the libpq
//! variables (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`,
//! `PGSSLMODE`, `PGSSLROOTCERT`) and the MySQL ones (`MYSQL_HOST`,
//! `MYSQL_TCP_PORT`/`MYSQL_PORT`, `MYSQL_DATABASE`, `MYSQL_USER`,
//! `MYSQL_PWD`/`MYSQL_PASSWORD`). Each set is one connection named `host/db`.

use secrecy::SecretString;

use super::{Context, Discovery, Found, Source};
use crate::connectors::{ConnSpec, Environment, Kind, TlsMode};

pub fn discover(cx: &Context, d: &mut Discovery) {
    if let Some(url) = cx.var("DATABASE_URL") {
        match ConnSpec::from_url(url) {
            Ok((spec, password)) => d.found.push(Found {
                name: super::derived_name(&spec),
                spec,
                environment: Environment::None,
                password,
                password_from: None,
                source: Source::Env,
                origin: "$DATABASE_URL".into(),
                notes: vec![],
            }),
            // The message names the field, never the URL (it may hold a password).
            Err(e) => d.warnings.push(format!("$DATABASE_URL not imported: {e}")),
        }
    }
    let pg = ["PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"];
    if pg.iter().any(|v| cx.var(v).is_some()) {
        let mut notes = Vec::new();
        let mut spec = ConnSpec::new(Kind::Postgres);
        spec.host = super::first_host(cx.var("PGHOST").unwrap_or(""), &mut notes);
        spec.host = super::tcp_host(&spec.host, &mut notes);
        let mut used: Vec<&str> = pg.iter().copied().filter(|v| cx.var(v).is_some()).collect();
        if let Some(p) = cx.var("PGPORT") {
            match ConnSpec::parse_port(p) {
                Ok(p) => spec.port = Some(p),
                Err(e) => notes.push(format!("PGPORT: {e}")),
            }
        }
        spec.user = cx
            .var("PGUSER")
            .or_else(|| cx.os_user())
            .unwrap_or_default()
            .to_string();
        spec.database = cx.var("PGDATABASE").unwrap_or(&spec.user).to_string();
        if let Some(m) = cx.var("PGSSLMODE") {
            used.push("PGSSLMODE");
            match TlsMode::parse(m) {
                Some(t) => spec.tls = t,
                None => notes.push(format!("PGSSLMODE {m} not understood")),
            }
        }
        if let Some(ca) = cx.var("PGSSLROOTCERT") {
            used.push("PGSSLROOTCERT");
            if spec.tls != TlsMode::Disable {
                spec.ca_file = super::ca_file(ca, None, &mut notes);
            }
        }
        if cx.var("PGSERVICE").is_some() {
            notes.push("PGSERVICE is set: its service is imported from the service file".into());
        }
        push(d, spec, cx.var("PGPASSWORD"), &used, notes);
    }
    let my = [
        "MYSQL_HOST",
        "MYSQL_TCP_PORT",
        "MYSQL_PORT",
        "MYSQL_DATABASE",
        "MYSQL_USER",
        "MYSQL_PWD",
        "MYSQL_PASSWORD",
    ];
    if my.iter().any(|v| cx.var(v).is_some()) {
        let mut notes = Vec::new();
        let mut spec = ConnSpec::new(Kind::Mysql);
        spec.host = super::tcp_host(cx.var("MYSQL_HOST").unwrap_or(""), &mut notes);
        if let Some(p) = cx.var("MYSQL_TCP_PORT").or(cx.var("MYSQL_PORT")) {
            match ConnSpec::parse_port(p) {
                Ok(p) => spec.port = Some(p),
                Err(e) => notes.push(format!("port: {e}")),
            }
        }
        spec.database = cx.var("MYSQL_DATABASE").unwrap_or("").to_string();
        spec.user = cx
            .var("MYSQL_USER")
            .or_else(|| cx.os_user())
            .unwrap_or_default()
            .to_string();
        let used: Vec<&str> = my.iter().copied().filter(|v| cx.var(v).is_some()).collect();
        let pw = cx.var("MYSQL_PWD").or(cx.var("MYSQL_PASSWORD"));
        push(d, spec, pw, &used, notes);
    }
}

fn push(
    d: &mut Discovery,
    spec: ConnSpec,
    password: Option<&str>,
    used: &[&str],
    notes: Vec<String>,
) {
    let origin = used
        .iter()
        .map(|v| format!("${v}"))
        .collect::<Vec<_>>()
        .join(" ");
    if let Err(e) = spec.validate() {
        d.warnings.push(format!("{origin}: {e}; not imported"));
        return;
    }
    d.found.push(Found {
        name: super::derived_name(&spec),
        spec,
        environment: Environment::None,
        password: password.map(|p| SecretString::from(p.to_string())),
        password_from: None,
        source: Source::Env,
        origin,
        notes,
    });
}
