//! A TDS protocol fixture: a listener that speaks just enough of the TDS 7.4
//! wire protocol (PRELOGIN without encryption, LOGIN7, SQL batches,
//! Attention) to give fixed replies. It is NOT SQL Server and runs no SQL:
//! a batch gets the reply registered for a substring of its text, or an
//! empty DONE. It proves the connector's wire handling, row decoding and
//! error mapping — never that its SQL is right for a real server.
//!
//! Written for this project (no published mock could send login errors or
//! the full set of column types); plain blocking std I/O, one thread per
//! connection, so sync and async tests can both use it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What LOGIN7 carried (the password decoded, to check it is the right one).
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub user: String,
    pub password: String,
    pub database: String,
    pub app: String,
    /// TypeFlags bit ReadOnlyIntent (ApplicationIntent=ReadOnly).
    pub read_only_intent: bool,
}

/// A login error to send instead of LOGINACK: (number, class, message).
pub type LoginRule = Arc<dyn Fn(&Login) -> Option<(u32, u8, String)> + Send + Sync>;

pub struct Fixture {
    pub port: u16,
    pub logins: Arc<Mutex<Vec<Login>>>,
    pub batches: Arc<Mutex<Vec<String>>>,
    pub attentions: Arc<Mutex<u32>>,
}

impl Fixture {
    /// The batches received so far, in order.
    pub fn batches(&self) -> Vec<String> {
        self.batches.lock().unwrap().clone()
    }
    pub fn logins(&self) -> Vec<Login> {
        self.logins.lock().unwrap().clone()
    }
}

/// A registered reply: batches containing `needle` get `tokens`, after
/// `delay` (to outlast a timeout).
#[derive(Clone)]
pub struct Reply {
    pub needle: String,
    pub tokens: Vec<u8>,
    pub delay: std::time::Duration,
}

pub fn reply(needle: &str, tokens: Vec<u8>) -> Reply {
    Reply {
        needle: needle.into(),
        tokens,
        delay: std::time::Duration::ZERO,
    }
}

/// Starts the fixture on 127.0.0.1 (a free port).
pub fn start(login: LoginRule, replies: Vec<Reply>) -> Fixture {
    start_on("127.0.0.1", login, replies)
}

/// Starts the fixture on `ip` (any 127.x.y.z works on Linux), a free port.
pub fn start_on(ip: &str, login: LoginRule, replies: Vec<Reply>) -> Fixture {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let port = listener.local_addr().unwrap().port();
    let logins = Arc::new(Mutex::new(Vec::new()));
    let batches = Arc::new(Mutex::new(Vec::new()));
    let attentions = Arc::new(Mutex::new(0));
    let (l, b, a) = (logins.clone(), batches.clone(), attentions.clone());
    let replies = Arc::new(replies);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (login, replies, l, b, a) = (
                login.clone(),
                replies.clone(),
                l.clone(),
                b.clone(),
                a.clone(),
            );
            std::thread::spawn(move || {
                let _ = serve(stream, &login, &replies, &l, &b, &a);
            });
        }
    });
    Fixture {
        port,
        logins,
        batches,
        attentions,
    }
}

/// A login rule that accepts everyone.
pub fn accept_all() -> LoginRule {
    Arc::new(|_| None)
}

fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; 8];
        s.read_exact(&mut h)?;
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(8)];
        s.read_exact(&mut body)?;
        payload.extend_from_slice(&body);
        if h[1] & 0x01 == 0x01 {
            return Ok((h[0], payload));
        }
    }
}

fn send(s: &mut TcpStream, ptype: u8, payload: &[u8]) -> std::io::Result<()> {
    const MAX: usize = 4096 - 8;
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[]]
    } else {
        payload.chunks(MAX).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let mut p = vec![
            ptype,
            if last { 1 } else { 0 },
            0,
            0,
            0,
            52,
            (i + 1) as u8,
            0,
        ];
        let len = (c.len() + 8) as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p.extend_from_slice(c);
        s.write_all(&p)?;
    }
    s.flush()
}

fn serve(
    mut s: TcpStream,
    rule: &LoginRule,
    replies: &[Reply],
    logins: &Mutex<Vec<Login>>,
    batches: &Mutex<Vec<String>>,
    attentions: &Mutex<u32>,
) -> std::io::Result<()> {
    loop {
        let (ptype, payload) = read_message(&mut s)?;
        match ptype {
            0x12 => send(&mut s, 0x04, &prelogin_reply())?,
            0x10 => {
                let login = parse_login7(&payload);
                logins.lock().unwrap().push(login.clone());
                match rule(&login) {
                    Some((code, class, msg)) => {
                        let mut t = error_token(code, class, &msg);
                        t.extend(done(0x02, 0));
                        send(&mut s, 0x04, &t)?;
                        return Ok(());
                    }
                    None => send(&mut s, 0x04, &login_ack(&login.database))?,
                }
            }
            0x01 => {
                let hdr = u32::from_le_bytes(payload[0..4].try_into().unwrap()) as usize;
                let text = utf16(&payload[hdr.min(payload.len())..]);
                batches.lock().unwrap().push(text.clone());
                let found = replies.iter().find(|r| text.contains(&r.needle));
                let mut t = Vec::new();
                // A batch of several statements: SET first, then the rest.
                let statements = text.matches(';').count();
                for _ in 0..statements {
                    t.extend(done(0x01, 0));
                }
                match found {
                    Some(r) => {
                        if !r.delay.is_zero() {
                            std::thread::sleep(r.delay);
                        }
                        t.extend_from_slice(&r.tokens)
                    }
                    None => t.extend(done(0x00, 0)),
                }
                send(&mut s, 0x04, &t)?;
            }
            0x06 => {
                *attentions.lock().unwrap() += 1;
                send(&mut s, 0x04, &done(0x20, 0))?;
            }
            0x0E => {
                // Transaction manager request: acknowledge.
                send(&mut s, 0x04, &done(0x00, 0))?;
            }
            _ => return Ok(()),
        }
    }
}

fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn parse_login7(p: &[u8]) -> Login {
    let field = |at: usize| -> Vec<u8> {
        let off = u16_at(p, at);
        let len = u16_at(p, at + 2) * 2;
        p.get(off..off + len).unwrap_or(&[]).to_vec()
    };
    let password: Vec<u8> = field(44)
        .into_iter()
        .map(|b| {
            let x = b ^ 0xA5;
            x.rotate_left(4)
        })
        .collect();
    Login {
        user: utf16(&field(40)),
        password: utf16(&password),
        app: utf16(&field(48)),
        database: utf16(&field(68)),
        // TypeFlags is byte 26; fReadOnlyIntent is bit 5.
        read_only_intent: p.get(26).is_some_and(|f| f & 0x20 != 0),
    }
}

fn prelogin_reply() -> Vec<u8> {
    // VERSION (6 bytes), ENCRYPTION (1: NOT_SUP), INSTOPT (1), THREADID (0), MARS (1)
    let opts: [(u8, Vec<u8>); 5] = [
        (0x00, vec![16, 0, 0x0F, 0xA0, 0, 0]),
        (0x01, vec![0x02]),
        (0x02, vec![0x00]),
        (0x03, vec![]),
        (0x04, vec![0x00]),
    ];
    let header_len = opts.len() * 5 + 1;
    let mut head = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    for (tok, d) in &opts {
        head.push(*tok);
        head.extend(((header_len + data.len()) as u16).to_be_bytes());
        head.extend((d.len() as u16).to_be_bytes());
        data.extend(d);
    }
    head.push(0xFF);
    head.extend(data);
    head
}

pub fn b_varchar(s: &str) -> Vec<u8> {
    let u: Vec<u16> = s.encode_utf16().collect();
    let mut v = vec![u.len() as u8];
    for x in u {
        v.extend(x.to_le_bytes());
    }
    v
}

fn us_varchar(s: &str) -> Vec<u8> {
    let u: Vec<u16> = s.encode_utf16().collect();
    let mut v = (u.len() as u16).to_le_bytes().to_vec();
    for x in u {
        v.extend(x.to_le_bytes());
    }
    v
}

fn login_ack(database: &str) -> Vec<u8> {
    let mut t = Vec::new();
    if !database.is_empty() {
        // ENVCHANGE type 1 (database): new, old.
        let mut body = vec![1u8];
        body.extend(b_varchar(database));
        body.extend(b_varchar("master"));
        t.push(0xE3);
        t.extend((body.len() as u16).to_le_bytes());
        t.extend(body);
    }
    let mut body = vec![1u8];
    body.extend(0x7400_0004u32.to_be_bytes());
    body.extend(b_varchar("protocol fixture"));
    body.extend([16, 0, 0, 1]);
    t.push(0xAD);
    t.extend((body.len() as u16).to_le_bytes());
    t.extend(body);
    t.extend(done(0x00, 0));
    t
}

/// An ERROR token.
pub fn error_token(code: u32, class: u8, msg: &str) -> Vec<u8> {
    let mut body = code.to_le_bytes().to_vec();
    body.push(1);
    body.push(class);
    body.extend(us_varchar(msg));
    body.extend(b_varchar("fixture"));
    body.extend(b_varchar(""));
    body.extend(1u32.to_le_bytes());
    let mut t = vec![0xAA];
    t.extend((body.len() as u16).to_le_bytes());
    t.extend(body);
    t
}

/// A DONE token.
pub fn done(status: u16, rows: u64) -> Vec<u8> {
    let mut t = vec![0xFD];
    t.extend(status.to_le_bytes());
    t.extend(0xC1u16.to_le_bytes());
    t.extend(rows.to_le_bytes());
    t
}

/// A server error reply to a batch (ERROR then DONE with the error bit).
pub fn error_reply(code: u32, class: u8, msg: &str) -> Vec<u8> {
    let mut t = error_token(code, class, msg);
    t.extend(done(0x02, 0));
    t
}

const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// A column type the fixture can send, with its TYPE_INFO.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Bit,
    Real,
    Float,
    Money,
    /// precision, scale
    Decimal(u8, u8),
    NVarChar,
    VarChar,
    VarBinary,
    Guid,
    Date,
    /// scale
    Time(u8),
    DateTime2(u8),
    DateTimeOffset(u8),
    DateTime,
    Xml,
    SqlVariant,
}

/// A value to send; `Null` for any type.
#[derive(Clone, Debug)]
pub enum V {
    Null,
    I(i64),
    F(f64),
    B(bool),
    /// Decimal mantissa (scale from the column).
    Dec(i128),
    /// Money in 1/10000 units.
    Money(i64),
    S(String),
    Bytes(Vec<u8>),
    /// GUID in wire order.
    Guid([u8; 16]),
    /// days since 0001-01-01
    Date(u32),
    /// increments at the column's scale
    Time(u64),
    /// (days since 0001-01-01, increments), UTC for datetimeoffset
    Dt2(u32, u64),
    /// (days, increments, offset minutes)
    Dto(u32, u64, i16),
    /// datetime: days since 1900, 1/300 s ticks
    Dt(i32, u32),
}

fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// COLMETADATA for `cols` (all nullable).
pub fn colmetadata(cols: &[(&str, Ty)]) -> Vec<u8> {
    let mut t = vec![0x81];
    t.extend((cols.len() as u16).to_le_bytes());
    for (name, ty) in cols {
        t.extend(0u32.to_le_bytes()); // user type
        t.extend(0x0009u16.to_le_bytes()); // nullable, updatable unknown
        match ty {
            Ty::TinyInt => t.extend([0x26, 1]),
            Ty::SmallInt => t.extend([0x26, 2]),
            Ty::Int => t.extend([0x26, 4]),
            Ty::BigInt => t.extend([0x26, 8]),
            Ty::Bit => t.extend([0x68, 1]),
            Ty::Real => t.extend([0x6D, 4]),
            Ty::Float => t.extend([0x6D, 8]),
            Ty::Money => t.extend([0x6E, 8]),
            Ty::Decimal(p, s) => t.extend([0x6A, 17, *p, *s]),
            Ty::NVarChar => {
                t.push(0xE7);
                t.extend(8000u16.to_le_bytes());
                t.extend(COLLATION);
            }
            Ty::VarChar => {
                t.push(0xA7);
                t.extend(8000u16.to_le_bytes());
                t.extend(COLLATION);
            }
            Ty::VarBinary => {
                t.push(0xA5);
                t.extend(8000u16.to_le_bytes());
            }
            Ty::Guid => t.extend([0x24, 16]),
            Ty::Date => t.push(0x28),
            Ty::Time(s) => t.extend([0x29, *s]),
            Ty::DateTime2(s) => t.extend([0x2A, *s]),
            Ty::DateTimeOffset(s) => t.extend([0x2B, *s]),
            Ty::DateTime => t.extend([0x6F, 8]),
            Ty::Xml => t.extend([0xF1, 0]),
            Ty::SqlVariant => {
                t.push(0x62);
                t.extend(8016u32.to_le_bytes());
            }
        }
        t.extend(b_varchar(name));
    }
    t
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn time_bytes(incr: u64, scale: u8) -> Vec<u8> {
    incr.to_le_bytes()[..time_len(scale)].to_vec()
}

/// One ROW token.
pub fn row(cols: &[(&str, Ty)], values: &[V]) -> Vec<u8> {
    let mut t = vec![0xD1];
    for ((_, ty), v) in cols.iter().zip(values) {
        let plp = matches!(ty, Ty::Xml);
        let u16len = matches!(ty, Ty::NVarChar | Ty::VarChar | Ty::VarBinary);
        let u32len = matches!(ty, Ty::SqlVariant);
        if let V::Null = v {
            if plp {
                t.extend(u64::MAX.to_le_bytes());
            } else if u16len {
                t.extend(0xFFFFu16.to_le_bytes());
            } else if u32len {
                t.extend(0u32.to_le_bytes());
            } else {
                t.push(0);
            }
            continue;
        }
        let data: Vec<u8> = match (ty, v) {
            (Ty::TinyInt, V::I(i)) => vec![*i as u8],
            (Ty::SmallInt, V::I(i)) => (*i as i16).to_le_bytes().to_vec(),
            (Ty::Int, V::I(i)) => (*i as i32).to_le_bytes().to_vec(),
            (Ty::BigInt, V::I(i)) => i.to_le_bytes().to_vec(),
            (Ty::Bit, V::B(b)) => vec![*b as u8],
            (Ty::Real, V::F(f)) => (*f as f32).to_le_bytes().to_vec(),
            (Ty::Float, V::F(f)) => f.to_le_bytes().to_vec(),
            (Ty::Money, V::Money(m)) => {
                let mut d = ((*m >> 32) as i32).to_le_bytes().to_vec();
                d.extend((*m as u32).to_le_bytes());
                d
            }
            (Ty::Decimal(..), V::Dec(m)) => {
                let mut d = vec![if *m < 0 { 0 } else { 1 }];
                d.extend(&m.unsigned_abs().to_le_bytes()[..16]);
                d
            }
            (Ty::NVarChar, V::S(s)) => utf16le(s),
            (Ty::VarChar, V::S(s)) => s.as_bytes().to_vec(),
            (Ty::VarBinary, V::Bytes(b)) => b.clone(),
            (Ty::Guid, V::Guid(g)) => g.to_vec(),
            (Ty::Date, V::Date(d)) => d.to_le_bytes()[..3].to_vec(),
            (Ty::Time(s), V::Time(i)) => time_bytes(*i, *s),
            (Ty::DateTime2(s), V::Dt2(d, i)) => {
                let mut b = time_bytes(*i, *s);
                b.extend(&d.to_le_bytes()[..3]);
                b
            }
            (Ty::DateTimeOffset(s), V::Dto(d, i, o)) => {
                let mut b = time_bytes(*i, *s);
                b.extend(&d.to_le_bytes()[..3]);
                b.extend(o.to_le_bytes());
                b
            }
            (Ty::DateTime, V::Dt(d, ticks)) => {
                let mut b = d.to_le_bytes().to_vec();
                b.extend(ticks.to_le_bytes());
                b
            }
            (Ty::Xml, V::S(s)) => utf16le(s),
            (Ty::SqlVariant, V::S(s)) => {
                // base type NVARCHAR, 7 property bytes (collation, max length)
                let text = utf16le(s);
                let mut b = vec![0xE7, 7];
                b.extend(COLLATION);
                b.extend(8000u16.to_le_bytes());
                b.extend(text);
                b
            }
            (Ty::SqlVariant, V::I(i)) => {
                let mut b = vec![0x38, 0];
                b.extend((*i as i32).to_le_bytes());
                b
            }
            (ty, v) => panic!("fixture: {v:?} is not a {ty:?} value"),
        };
        if plp {
            t.extend((data.len() as u64).to_le_bytes());
            t.extend((data.len() as u32).to_le_bytes());
            t.extend(&data);
            t.extend(0u32.to_le_bytes());
        } else if u16len {
            t.extend((data.len() as u16).to_le_bytes());
            t.extend(data);
        } else if u32len {
            t.extend((data.len() as u32).to_le_bytes());
            t.extend(data);
        } else {
            t.push(data.len() as u8);
            t.extend(data);
        }
    }
    t
}

/// A whole result set: metadata, rows, DONE with the count.
pub fn result_set(cols: &[(&str, Ty)], rows: &[Vec<V>]) -> Vec<u8> {
    let mut t = colmetadata(cols);
    for r in rows {
        t.extend(row(cols, r));
    }
    t.extend(done(0x10, rows.len() as u64));
    t
}

/// A SQL Browser (SSRP, UDP 1434 on `ip`) that answers a unicast instance
/// query for `instance` with `tcp_port`, and ignores other instances.
pub fn browser(ip: &str, instance: &str, tcp_port: u16) -> std::io::Result<()> {
    let sock = std::net::UdpSocket::bind((ip, 1434))?;
    let instance = instance.to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 1 || buf[0] != 0x04 {
                continue;
            }
            let asked = String::from_utf8_lossy(&buf[1..n])
                .trim_end_matches('\0')
                .to_string();
            if !asked.eq_ignore_ascii_case(&instance) {
                continue;
            }
            let data = format!(
                "ServerName;FIXTURE;InstanceName;{instance};IsClustered;No;Version;16.0.1000.6;tcp;{tcp_port};;"
            );
            let mut reply = vec![0x05];
            reply.extend((data.len() as u16).to_le_bytes());
            reply.extend(data.as_bytes());
            let _ = sock.send_to(&reply, from);
        }
    });
    Ok(())
}
