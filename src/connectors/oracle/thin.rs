//! The thin driver: `oracledb`, Oracle's own pure-Rust client (TNS + TTC
//! over TCP or TCPS with rustls). Nothing to install.

use std::time::Duration;

use oracledb::{
    Config, Connection, ErrorKind as OErr, Metadata, OracleIntervalDS, OracleIntervalYM,
    OracleNumber, OracleTimestamp, Row, ToDbValue,
};

use super::parse::build_descriptor;
use super::{logical_of, number_cell, Fail, Failure, OraSession};
use crate::connectors::{Cell, ColumnMeta, ConnError, ConnSpec, TlsMode};

/// Rows fetched per round trip.
const FETCH_ARRAY: u32 = 500;

pub struct ThinSession {
    conn: Connection,
    major: u32,
}

/// Reduces an `oracledb` error to what classification needs.
pub fn failure_of(e: &oracledb::Error) -> Failure {
    match e.kind() {
        OErr::DbError(db) => Failure::Ora {
            code: db.code(),
            message: db.message().to_string(),
        },
        OErr::InvalidServiceName(_, _, host, port) => Failure::Refused {
            code: 12514,
            host: host.clone(),
            port: *port,
        },
        OErr::InvalidSid(_, _, host, port) => Failure::Refused {
            code: 12505,
            host: host.clone(),
            port: *port,
        },
        OErr::ListenerRefusedConnection(_, host, port, code) => Failure::Refused {
            code: *code,
            host: host.clone(),
            port: *port,
        },
        OErr::UnexpectedRefuse(_) => Failure::Refused {
            code: 0,
            host: String::new(),
            port: 0,
        },
        OErr::StreamOperation => {
            // rustls errors reach the driver as io errors of the stream.
            let text = e.to_string();
            let lower = text.to_ascii_lowercase();
            if lower.contains("corrupt message")
                || lower.contains("certificate")
                || lower.contains("handshake")
                || lower.contains("peer sent no certificates")
            {
                Failure::Tls(text)
            } else {
                Failure::Io(text)
            }
        }
        OErr::TlsOperation | OErr::PemFileOperation => Failure::Tls(e.to_string()),
        OErr::DeadConnection | OErr::NotConnected => Failure::Dead(e.to_string()),
        OErr::CallTimeoutExceeded => Failure::CallTimeout,
        OErr::InvalidConnectString(..)
        | OErr::InvalidDescriptorNode(..)
        | OErr::ParseError(..)
        | OErr::NoConnectString
        | OErr::NoCredentials
        | OErr::WalletUnreadable(_) => Failure::BadConnectString(e.to_string()),
        _ => super::failure_from_text(&e.to_string()),
    }
}

fn f(e: oracledb::Error) -> Failure {
    failure_of(&e)
}

/// Opens a thin session: the spec's descriptor, the CA file as the wallet's
/// trusted certificates for TCPS.
pub fn open(spec: &ConnSpec, password: &str) -> Result<ThinSession, Failure> {
    let descriptor =
        build_descriptor(spec).map_err(|e| Failure::BadConnectString(e.to_string()))?;
    let mut config = Config::default()
        .set_credentials(spec.user.trim(), password)
        .set_connect_string(&descriptor)
        .map_err(f)?
        .set_transport_connect_timeout(Some(spec.connect_timeout()))
        .set_program("varlor")
        .map_err(f)?;
    // The driver reads trusted certificates from <dir>/ewallet.pem; a CA file
    // is a public certificate, copied into a private temporary directory that
    // lives until the handshake is done.
    let mut _wallet = None;
    if matches!(spec.tls, TlsMode::Require | TlsMode::VerifyFull) {
        if let Some(ca) = &spec.ca_file {
            crate::connectors::tls::load_ca_file(ca)
                .map_err(|e| Failure::BadConnectString(e.detail))?;
            let dir = tempfile::tempdir()
                .map_err(|e| Failure::BadConnectString(format!("CA file: {e}")))?;
            std::fs::copy(ca, dir.path().join("ewallet.pem"))
                .map_err(|e| Failure::BadConnectString(format!("CA file {}: {e}", ca.display())))?;
            config = config.set_wallet_location(dir.path().display().to_string());
            _wallet = Some(dir);
        } else if let Some(w) = spec.options.get("wallet_location") {
            config = config.set_wallet_location(w.clone());
        }
    }
    let conn = oracledb::connect(config).map_err(f)?;
    let major = conn.version().map(|v| v.0 as u32).unwrap_or(12);
    Ok(ThinSession { conn, major })
}

impl OraSession for ThinSession {
    fn execute(&mut self, sql: &str) -> Result<(), Failure> {
        self.conn.execute(sql, &[]).map(|_| ()).map_err(f)
    }

    fn rollback(&mut self) -> Result<(), Failure> {
        self.conn.rollback().map_err(f)
    }

    fn query(
        &mut self,
        sql: &str,
        binds: &[&str],
        columns: &mut dyn FnMut(&[ColumnMeta]) -> Result<(), ConnError>,
        row: &mut dyn FnMut(Vec<Cell>) -> Result<(), ConnError>,
    ) -> Result<(), Fail> {
        let params: Vec<&dyn ToDbValue> = binds.iter().map(|b| b as &dyn ToDbValue).collect();
        let cursor = self
            .conn
            .statement(sql)
            .map_err(f)?
            .fetch_array_size(FETCH_ARRAY)
            .build()
            .map_err(f)?
            .query(&params)
            .map_err(f)?;
        let metas: Vec<ColumnMeta> = cursor.columns().iter().map(column_meta).collect();
        let kinds: Vec<&'static str> = cursor
            .columns()
            .iter()
            .map(|m| m.db_type().name())
            .collect();
        columns(&metas).map_err(Fail::Stop)?;
        for r in cursor {
            let r = r.map_err(f)?;
            let cells = (0..kinds.len()).map(|i| cell_of(&r, i, kinds[i])).collect();
            row(cells).map_err(Fail::Stop)?;
        }
        Ok(())
    }

    fn major_version(&self) -> u32 {
        self.major
    }

    fn version_text(&self) -> String {
        self.conn
            .version()
            .map(|v| v.to_string())
            .unwrap_or_else(|_| "unknown".into())
    }

    fn set_call_timeout(&mut self, t: Option<Duration>) -> Result<(), Failure> {
        self.conn.set_call_timeout(t).map_err(f)
    }
}

fn column_meta(m: &Metadata) -> ColumnMeta {
    let type_name = m.data_type();
    ColumnMeta {
        name: m.name().to_string(),
        logical: logical_of(&type_name),
        type_name,
    }
}

/// One value as a cell, by the column's driver type.
fn cell_of(r: &Row, i: usize, kind: &str) -> Cell {
    let out = match kind {
        "DB_TYPE_NUMBER" | "DB_TYPE_BINARY_INTEGER" => r
            .get::<Option<OracleNumber>>(i)
            .map(|v| v.map(|n| number_cell(&n.to_string()))),
        "DB_TYPE_BINARY_FLOAT" => r
            .get::<Option<f32>>(i)
            // Through its shortest text, so 0.1f32 stays 0.1.
            .map(|v| v.map(|x| Cell::Float(x.to_string().parse().unwrap_or(f64::from(x))))),
        "DB_TYPE_BINARY_DOUBLE" => r.get::<Option<f64>>(i).map(|v| v.map(Cell::Float)),
        "DB_TYPE_DATE" => r
            .get::<Option<OracleTimestamp>>(i)
            .map(|v| v.map(|t| Cell::Text(date_text(&t)))),
        "DB_TYPE_TIMESTAMP" | "DB_TYPE_TIMESTAMP_TZ" | "DB_TYPE_TIMESTAMP_LTZ" => r
            .get::<Option<OracleTimestamp>>(i)
            .map(|v| v.map(|t| Cell::Text(timestamp_text(&t)))),
        "DB_TYPE_INTERVAL_DS" => r
            .get::<Option<OracleIntervalDS>>(i)
            .map(|v| v.map(|x| Cell::Text(x.to_string()))),
        "DB_TYPE_INTERVAL_YM" => r
            .get::<Option<OracleIntervalYM>>(i)
            .map(|v| v.map(|x| Cell::Text(x.to_string()))),
        "DB_TYPE_RAW" | "DB_TYPE_LONG_RAW" | "DB_TYPE_BLOB" => {
            r.get::<Option<Vec<u8>>>(i).map(|v| v.map(Cell::Bytes))
        }
        "DB_TYPE_BOOLEAN" => r.get::<Option<bool>>(i).map(|v| v.map(Cell::Bool)),
        _ => r.get::<Option<String>>(i).map(|v| v.map(Cell::Text)),
    };
    match out {
        Ok(Some(c)) => c,
        Ok(None) => Cell::Null,
        // A type this client cannot turn into a value: say so in the cell
        // rather than failing the whole result.
        Err(_) => Cell::Text(format!("<{}>", kind.trim_start_matches("DB_TYPE_"))),
    }
}

/// DATE: to the second, ISO 8601.
fn date_text(t: &OracleTimestamp) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// TIMESTAMP: ISO 8601 with the fraction, trailing zeros dropped; `Z` when
/// the driver gave it in UTC (WITH TIME ZONE / LOCAL TIME ZONE).
fn timestamp_text(t: &OracleTimestamp) -> String {
    let mut s = date_text(t);
    if t.nanoseconds() > 0 {
        let frac = format!("{:09}", t.nanoseconds());
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    if t.is_utc() {
        s.push('Z');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601() {
        let d = OracleTimestamp::new_date(2024, 2, 29);
        assert_eq!(date_text(&d), "2024-02-29T00:00:00");
        let ts = OracleTimestamp::new_timestamp(1999, 12, 31, 23, 59, 58, 120_000_000);
        assert_eq!(timestamp_text(&ts), "1999-12-31T23:59:58.12");
        let utc = OracleTimestamp::new_utc_timestamp(2020, 1, 2, 3, 4, 5, 0);
        assert_eq!(timestamp_text(&utc), "2020-01-02T03:04:05Z");
    }

    #[test]
    fn intervals_are_iso_8601_durations() {
        assert_eq!(OracleIntervalYM::new(2, 3).to_string(), "P2Y3M");
        let ds = OracleIntervalDS::new(1, 2, 3, 4, 500_000_000);
        assert_eq!(ds.to_string(), "P1DT2H3M4.500000000S");
    }
}
