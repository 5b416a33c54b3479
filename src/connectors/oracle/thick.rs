//! The thick driver (feature `oracle-thick`): the `oracle` crate over ODPI-C,
//! which loads Oracle Instant Client (`libclntsh`) at run time. For servers
//! older than 12c and wallets the thin driver cannot read. Without the
//! library every connect fails with DPI-1047, reported in words.

use std::time::Duration;

use oracle::sql_type::{OracleType, Timestamp, ToSql};
use oracle::{Connection, Row};

use super::parse::build_descriptor;
use super::{failure_from_text, logical_of, number_cell, Fail, Failure, OraSession};
use crate::connectors::{Cell, ColumnMeta, ConnError, ConnSpec};

pub struct ThickSession {
    conn: Connection,
    major: u32,
    version: String,
}

fn f(e: oracle::Error) -> Failure {
    failure_from_text(&e.to_string())
}

pub fn open(spec: &ConnSpec, password: &str) -> Result<ThickSession, Failure> {
    let descriptor =
        build_descriptor(spec).map_err(|e| Failure::BadConnectString(e.to_string()))?;
    let conn = Connection::connect(spec.user.trim(), password, descriptor).map_err(f)?;
    let (major, version) = match conn.server_version() {
        Ok((v, _)) => (v.major().max(0) as u32, v.to_string()),
        Err(_) => (12, "unknown".into()),
    };
    Ok(ThickSession {
        conn,
        major,
        version,
    })
}

impl OraSession for ThickSession {
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
        let params: Vec<&dyn ToSql> = binds.iter().map(|b| b as &dyn ToSql).collect();
        let rows = self.conn.query(sql, &params).map_err(f)?;
        let types: Vec<OracleType> = rows
            .column_info()
            .iter()
            .map(|c| c.oracle_type().clone())
            .collect();
        let metas: Vec<ColumnMeta> = rows
            .column_info()
            .iter()
            .map(|c| {
                let type_name = c.oracle_type().to_string();
                ColumnMeta {
                    name: c.name().to_string(),
                    logical: logical_of(&type_name),
                    type_name,
                }
            })
            .collect();
        columns(&metas).map_err(Fail::Stop)?;
        for r in rows {
            let r = r.map_err(f)?;
            let cells = types
                .iter()
                .enumerate()
                .map(|(i, t)| cell_of(&r, i, t))
                .collect();
            row(cells).map_err(Fail::Stop)?;
        }
        Ok(())
    }

    fn major_version(&self) -> u32 {
        self.major
    }

    fn version_text(&self) -> String {
        self.version.clone()
    }

    fn set_call_timeout(&mut self, t: Option<Duration>) -> Result<(), Failure> {
        self.conn.set_call_timeout(t).map_err(f)
    }
}

fn cell_of(r: &Row, i: usize, t: &OracleType) -> Cell {
    let v = &r.sql_values()[i];
    if v.is_null().unwrap_or(false) {
        return Cell::Null;
    }
    let out = match t {
        OracleType::Number(..) | OracleType::Float(_) | OracleType::Int64 => {
            v.get::<String>().map(|s| number_cell(&s))
        }
        OracleType::BinaryFloat | OracleType::BinaryDouble => v.get::<f64>().map(Cell::Float),
        OracleType::Date
        | OracleType::Timestamp(_)
        | OracleType::TimestampTZ(_)
        | OracleType::TimestampLTZ(_) => v.get::<Timestamp>().map(|ts| {
            let mut s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                ts.year(),
                ts.month(),
                ts.day(),
                ts.hour(),
                ts.minute(),
                ts.second()
            );
            if ts.nanosecond() > 0 {
                s.push('.');
                s.push_str(format!("{:09}", ts.nanosecond()).trim_end_matches('0'));
            }
            if matches!(t, OracleType::TimestampTZ(_) | OracleType::TimestampLTZ(_)) {
                let m = ts.tz_offset();
                s.push_str(&format!(
                    "{}{:02}:{:02}",
                    if m < 0 { '-' } else { '+' },
                    m.abs() / 3600,
                    m.abs() % 3600 / 60
                ));
            }
            Cell::Text(s)
        }),
        OracleType::Raw(_) | OracleType::LongRaw | OracleType::BLOB => {
            v.get::<Vec<u8>>().map(Cell::Bytes)
        }
        OracleType::Boolean => v.get::<bool>().map(Cell::Bool),
        _ => v.get::<String>().map(Cell::Text),
    };
    out.unwrap_or_else(|_| Cell::Text(format!("<{t}>")))
}
