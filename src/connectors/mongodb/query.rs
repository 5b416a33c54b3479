//! MongoDB in the query pane and `varlor query`: the shell-like text a
//! person types, parsed into a `find` or an `aggregate` (nothing else can be
//! expressed), and the cursor that hands its documents out a page at a time.
//!
//! Syntax (mongosh's, for the read methods only):
//!
//! ```text
//! db.orders.find({"status": "paid"}, {"total": 1}).sort({"total": -1}).skip(10).limit(20)
//! db.orders.findOne({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})
//! db.orders.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}], {"allowDiskUse": true})
//! db.getSiblingDB("shop").getCollection("odd name").find({})
//! ```
//!
//! `db` is the connection's database. Arguments are JSON / Extended JSON;
//! as in mongosh, keys may be left unquoted, strings may use single quotes
//! and `ObjectId("…")`, `ISODate("…")`, `NumberLong("…")`, `NumberInt(…)`,
//! `NumberDecimal("…")` and `UUID("…")` are understood. A write method or
//! command is refused in words before anything is sent, and so is a pipeline
//! holding `$out` or `$merge` anywhere (also nested in `$facet`, `$lookup`,
//! `$unionWith`): [`ReadPipeline`] is the only way to an `aggregate`.

use std::collections::{HashSet, VecDeque};

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document};
use mongodb::Cursor;
use secrecy::{ExposeSecret, SecretString};

use super::super::query::QueryCursor;
use super::{map_error, Cell, ColumnMeta, ConnError, ErrorKind, Grid, Logical};

/// A typed MongoDB query, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct MongoQuery {
    /// `None`: the connection's own database.
    pub db: Option<String>,
    pub coll: String,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Find(FindSpec),
    Aggregate {
        pipeline: ReadPipeline,
        options: Document,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindSpec {
    pub filter: Document,
    pub projection: Option<Document>,
    pub sort: Option<Document>,
    pub skip: Option<i64>,
    /// `None` or 0: no limit.
    pub limit: Option<i64>,
}

/// A pipeline proven not to write: no `$out`, no `$merge`, at any depth.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPipeline(Vec<Document>);

impl ReadPipeline {
    pub fn new(stages: Vec<Document>) -> Result<ReadPipeline, ConnError> {
        for s in &stages {
            if let Some(stage) = writing_stage(s) {
                return Err(refused(format!(
                    "{stage} writes its results into a collection: refused (a query here only \
                     reads, also inside $facet, $lookup and $unionWith pipelines); nothing was sent"
                )));
            }
        }
        Ok(ReadPipeline(stages))
    }

    pub fn stages(&self) -> &[Document] {
        &self.0
    }
}

/// Aggregation stages that write, found at any depth of a document.
const WRITING_STAGES: &[&str] = &["$out", "$merge"];

fn writing_stage(d: &Document) -> Option<&'static str> {
    for (k, v) in d {
        if let Some(s) = WRITING_STAGES.iter().find(|s| **s == k) {
            return Some(s);
        }
        if let Some(s) = writing_in(v) {
            return Some(s);
        }
    }
    None
}

fn writing_in(v: &Bson) -> Option<&'static str> {
    match v {
        Bson::Document(d) => writing_stage(d),
        Bson::Array(a) => a.iter().find_map(writing_in),
        _ => None,
    }
}

/// Options an `aggregate` may carry (none of them writes).
const AGGREGATE_OPTIONS: &[&str] = &["allowDiskUse", "collation", "hint", "comment", "let"];

/// Methods that write (or run arbitrary commands), refused by name.
const WRITE_METHODS: &[&str] = &[
    "insert",
    "insertOne",
    "insertMany",
    "update",
    "updateOne",
    "updateMany",
    "replaceOne",
    "remove",
    "deleteOne",
    "deleteMany",
    "findOneAndUpdate",
    "findOneAndReplace",
    "findOneAndDelete",
    "findAndModify",
    "bulkWrite",
    "save",
    "drop",
    "dropDatabase",
    "createIndex",
    "createIndexes",
    "ensureIndex",
    "dropIndex",
    "dropIndexes",
    "renameCollection",
    "mapReduce",
    "createCollection",
    "createView",
    "runCommand",
    "adminCommand",
    "eval",
];

fn refused(detail: String) -> ConnError {
    ConnError::new(ErrorKind::ReadOnly, detail)
}

fn syntax(detail: impl Into<String>) -> ConnError {
    ConnError::new(
        ErrorKind::Other,
        format!(
            "MongoDB query: {}; write db.<collection>.find({{…}}) or \
             db.<collection>.aggregate([…])",
            detail.into()
        ),
    )
}

/// The starter text for a collection (`db` when it is in the connection's
/// own database).
pub fn starter(table: Option<&super::TableRef>, own_db: Option<&str>) -> String {
    let Some(t) = table else {
        return "db.".into();
    };
    let mut s = String::from("db");
    if let Some(db) = t.schema.as_deref().filter(|d| Some(*d) != own_db) {
        s.push_str(&format!(".getSiblingDB({})", json_string(db)));
    }
    if is_identifier(&t.name) && !WRITE_METHODS.contains(&t.name.as_str()) {
        s.push('.');
        s.push_str(&t.name);
    } else {
        s.push_str(&format!(".getCollection({})", json_string(&t.name)));
    }
    s.push_str(".find({}).limit(100)");
    s
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.into()).to_string()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(s, "getSiblingDB" | "getCollection")
}

// --- parsing --------------------------------------------------------------------

/// Parses the typed text (one query; a trailing `;` is allowed).
pub fn parse(text: &str) -> Result<MongoQuery, ConnError> {
    let text = text
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if text.is_empty() {
        return Err(ConnError::new(ErrorKind::Other, "nothing to run"));
    }
    let mut p = Parser { s: text, pos: 0 };
    p.blank();
    if p.word() != "db" {
        return Err(syntax("it starts with `db.`"));
    }
    let mut db = None;
    let mut coll: Option<String> = None;
    // db[.getSiblingDB("x")](.name | .getCollection("x") | ["x"])
    loop {
        p.blank();
        if coll.is_none() && p.eat('[') {
            coll = Some(p.string_arg()?);
            p.expect(']')?;
            continue;
        }
        if !p.eat('.') {
            break;
        }
        p.blank();
        let w = p.word();
        if w.is_empty() {
            return Err(syntax(format!("a name expected at {}", p.here())));
        }
        p.blank();
        let call = p.peek() == Some('(');
        match (w, call, &coll) {
            ("getSiblingDB", true, None) if db.is_none() => {
                p.expect('(')?;
                db = Some(p.string_arg()?);
                p.expect(')')?;
            }
            ("getCollection", true, None) => {
                p.expect('(')?;
                coll = Some(p.string_arg()?);
                p.expect(')')?;
            }
            (name, false, None) => coll = Some(name.to_string()),
            (method, true, Some(c)) => {
                let c = c.clone();
                return finish(&mut p, db, c, method);
            }
            (method, true, None) => return Err(method_refusal(method, true)),
            (other, false, Some(_)) => {
                return Err(syntax(format!("`.{other}` is not a method call")))
            }
        }
    }
    match coll {
        None => Err(syntax("no collection named")),
        Some(c) => Err(syntax(format!(
            "no method called on `{c}`; only find, findOne and aggregate are run"
        ))),
    }
}

fn method_refusal(method: &str, on_db: bool) -> ConnError {
    if WRITE_METHODS.contains(&method) {
        refused(format!(
            "`{method}` writes or runs a command: refused (a query here only reads, with find, \
             findOne and aggregate); nothing was sent"
        ))
    } else if on_db {
        syntax(format!("`db.{method}(…)` is not run here"))
    } else {
        syntax(format!(
            "`{method}` is not run here; only find, findOne and aggregate"
        ))
    }
}

/// The method call on the collection and its chain.
fn finish(
    p: &mut Parser<'_>,
    db: Option<String>,
    coll: String,
    method: &str,
) -> Result<MongoQuery, ConnError> {
    if coll.is_empty() {
        return Err(syntax("an empty collection name"));
    }
    if db.as_deref() == Some("") {
        return Err(syntax("an empty database name"));
    }
    if !matches!(method, "find" | "findOne" | "aggregate") {
        // Refused by its name: not even its arguments are read.
        return Err(method_refusal(method, false));
    }
    p.expect('(')?;
    let args = p.args()?;
    let op = match method {
        "find" | "findOne" => {
            if args.len() > 2 {
                return Err(syntax(format!(
                    "{method} takes a filter and a projection, not {} arguments",
                    args.len()
                )));
            }
            let mut spec = FindSpec::default();
            if let Some(f) = args.first() {
                spec.filter = document(f, "the filter")?;
            }
            if let Some(pr) = args.get(1) {
                spec.projection = Some(document(pr, "the projection")?);
            }
            if method == "findOne" {
                spec.limit = Some(1);
            }
            loop {
                p.blank();
                if !p.eat('.') {
                    break;
                }
                p.blank();
                let m = p.word().to_string();
                p.blank();
                p.expect('(')?;
                let a = p.args()?;
                let one = |what: &str| -> Result<&Bson, ConnError> {
                    match a.as_slice() {
                        [x] => Ok(x),
                        _ => Err(syntax(format!(".{m}(…) takes one argument ({what})"))),
                    }
                };
                match m.as_str() {
                    _ if method == "findOne" => {
                        return Err(syntax(format!("findOne(…) takes no .{m}(…)")))
                    }
                    "sort" => spec.sort = Some(document(one("a sort document")?, "the sort")?),
                    "projection" => {
                        spec.projection =
                            Some(document(one("a projection document")?, "the projection")?)
                    }
                    "limit" => spec.limit = Some(count(one("a number")?, "limit")?),
                    "skip" => spec.skip = Some(count(one("a number")?, "skip")?),
                    other => {
                        return Err(syntax(format!(
                            "`.{other}(…)` is not understood after find; use .sort, .projection, \
                             .skip or .limit"
                        )))
                    }
                }
            }
            Op::Find(spec)
        }
        "aggregate" => {
            let stages = match args.first() {
                Some(Bson::Array(a)) => a
                    .iter()
                    .map(|s| match s {
                        Bson::Document(d) => Ok(d.clone()),
                        _ => Err(syntax("each pipeline stage is a document")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err(syntax("aggregate takes an array of stages")),
                None => Vec::new(),
            };
            // Refused before the options are even looked at.
            let pipeline = ReadPipeline::new(stages)?;
            let options = match args.get(1) {
                None => Document::new(),
                Some(o) => document(o, "the aggregate options")?,
            };
            for k in options.keys() {
                if !AGGREGATE_OPTIONS.contains(&k.as_str()) {
                    return Err(syntax(format!(
                        "aggregate option `{k}` is not accepted (allowed: {})",
                        AGGREGATE_OPTIONS.join(", ")
                    )));
                }
            }
            if let Some(s) = writing_stage(&options) {
                return Err(refused(format!(
                    "{s} in the options: refused; nothing was sent"
                )));
            }
            if args.len() > 2 {
                return Err(syntax("aggregate takes a pipeline and options"));
            }
            p.blank();
            if p.peek() == Some('.') {
                return Err(syntax(
                    "nothing may follow aggregate(…); put $sort/$skip/$limit stages in the \
                     pipeline",
                ));
            }
            Op::Aggregate { pipeline, options }
        }
        other => return Err(method_refusal(other, false)),
    };
    p.blank();
    if p.pos < p.s.len() {
        if p.peek() == Some(';') {
            return Err(super::super::query::several_statements());
        }
        return Err(syntax(format!("unexpected text at {}", p.here())));
    }
    Ok(MongoQuery { db, coll, op })
}

fn document(b: &Bson, what: &str) -> Result<Document, ConnError> {
    match b {
        Bson::Document(d) => Ok(d.clone()),
        _ => Err(syntax(format!("{what} must be a document {{…}}"))),
    }
}

fn count(b: &Bson, what: &str) -> Result<i64, ConnError> {
    let n = match b {
        Bson::Int32(i) => *i as i64,
        Bson::Int64(i) => *i,
        Bson::Double(f) if f.fract() == 0.0 && f.is_finite() => *f as i64,
        _ => return Err(syntax(format!("{what} takes a whole number"))),
    };
    if n < 0 {
        return Err(syntax(format!("{what} cannot be negative")));
    }
    Ok(n)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn here(&self) -> String {
        let r: String = self.rest().chars().take(20).collect();
        if r.is_empty() {
            "the end".into()
        } else {
            format!("`{r}`")
        }
    }

    fn blank(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ConnError> {
        self.blank();
        if self.eat(c) {
            Ok(())
        } else {
            Err(syntax(format!("`{c}` expected at {}", self.here())))
        }
    }

    fn word(&mut self) -> &'a str {
        let r = self.rest();
        let n = r
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(r.len());
        self.pos += n;
        &r[..n]
    }

    fn string_arg(&mut self) -> Result<String, ConnError> {
        self.blank();
        let start = self.pos;
        let end = self.value_end()?;
        match value(&self.s[start..end])? {
            Bson::String(s) => Ok(s),
            _ => Err(syntax("a name in quotes expected")),
        }
    }

    /// The comma-separated arguments up to the closing `)`.
    fn args(&mut self) -> Result<Vec<Bson>, ConnError> {
        let mut out = Vec::new();
        self.blank();
        if self.eat(')') {
            return Ok(out);
        }
        loop {
            self.blank();
            let start = self.pos;
            let end = self.value_end()?;
            out.push(value(&self.s[start..end])?);
            self.blank();
            if self.eat(')') {
                return Ok(out);
            }
            if !self.eat(',') {
                return Err(syntax(format!("`,` or `)` expected at {}", self.here())));
            }
        }
    }

    /// Where the value starting here ends: brackets balanced, strings
    /// skipped; stops at a `,` or `)` outside them.
    fn value_end(&mut self) -> Result<usize, ConnError> {
        let mut depth: Vec<char> = Vec::new();
        let mut chars = self.rest().char_indices().peekable();
        let base = self.pos;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' | '\'' => {
                    let mut closed = false;
                    while let Some((_, d)) = chars.next() {
                        if d == '\\' {
                            chars.next();
                        } else if d == c {
                            closed = true;
                            break;
                        }
                    }
                    if !closed {
                        return Err(syntax("a string is not closed"));
                    }
                }
                '{' | '[' | '(' => depth.push(c),
                '}' | ']' | ')' => {
                    let open = match c {
                        '}' => '{',
                        ']' => '[',
                        _ => '(',
                    };
                    match depth.pop() {
                        Some(o) if o == open => {}
                        None if c == ')' || c == ']' => {
                            self.pos = base + i;
                            return Ok(base + i);
                        }
                        _ => return Err(syntax(format!("`{c}` does not close anything"))),
                    }
                }
                ',' if depth.is_empty() => {
                    self.pos = base + i;
                    return Ok(base + i);
                }
                _ => {}
            }
        }
        if !depth.is_empty() {
            return Err(syntax("brackets are not closed"));
        }
        self.pos = self.s.len();
        Ok(self.s.len())
    }
}

/// One argument, mongosh-relaxed, as BSON (Extended JSON understood; key
/// order kept, which a sort needs).
pub fn value(text: &str) -> Result<Bson, ConnError> {
    let json = to_json(text)?;
    serde_json::from_str::<Bson>(&json).map_err(|e| syntax(format!("not valid JSON: {e}")))
}

/// Rewrites mongosh's relaxed notation into strict JSON: unquoted keys
/// quoted, single-quoted strings double-quoted, shell helpers turned into
/// Extended JSON. Anything else unknown is an error naming it.
fn to_json(text: &str) -> Result<String, ConnError> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '\'' => {
                let mut s = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => match chars.next() {
                            Some('\'') => s.push('\''),
                            Some(e) => {
                                s.push('\\');
                                s.push(e);
                            }
                            None => {}
                        },
                        '\'' => break,
                        '"' => s.push_str("\\\""),
                        other => s.push(other),
                    }
                }
                out.push('"');
                out.push_str(&s);
                out.push('"');
            }
            // An exponent (`1e5`) belongs to its number.
            'e' | 'E' if out.ends_with(|d: char| d.is_ascii_digit() || d == '.') => out.push(c),
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let mut w = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '$' || d == '.' {
                        w.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                while chars.peek().is_some_and(|d| d.is_whitespace()) {
                    chars.next();
                }
                match chars.peek() {
                    Some(':') => {
                        out.push_str(&json_string(&w));
                    }
                    Some('(') => {
                        chars.next();
                        let mut inner = String::new();
                        let mut depth = 1;
                        for d in chars.by_ref() {
                            match d {
                                '(' => depth += 1,
                                ')' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            inner.push(d);
                        }
                        out.push_str(&helper(&w, inner.trim())?);
                    }
                    _ if matches!(w.as_str(), "true" | "false" | "null") => out.push_str(&w),
                    _ => {
                        return Err(syntax(format!(
                            "`{w}` is not a value (strings go in quotes; Extended JSON such as \
                             {{\"$oid\": \"…\"}} or ObjectId(\"…\") for other types)"
                        )))
                    }
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// mongosh's constructors as Extended JSON.
fn helper(name: &str, arg: &str) -> Result<String, ConnError> {
    let text = match value(arg) {
        Ok(Bson::String(s)) => s,
        Ok(Bson::Int32(i)) => i.to_string(),
        Ok(Bson::Int64(i)) => i.to_string(),
        Ok(Bson::Double(f)) => f.to_string(),
        _ if arg.is_empty() && name == "ISODate" => {
            return Err(syntax(
                "ISODate() needs a date: ISODate(\"2024-01-31T00:00:00Z\")",
            ))
        }
        _ => return Err(syntax(format!("{name}(…) takes one value in quotes"))),
    };
    let key = match name {
        "ObjectId" => "$oid",
        "ISODate" | "Date" => {
            return Ok(format!("{{\"$date\": {}}}", json_string(&text)));
        }
        "NumberLong" => "$numberLong",
        "NumberInt" => "$numberInt",
        "NumberDecimal" => "$numberDecimal",
        "UUID" => "$uuid",
        other => {
            return Err(syntax(format!(
                "`{other}(…)` is not understood (known: ObjectId, ISODate, NumberLong, \
                 NumberInt, NumberDecimal, UUID)"
            )))
        }
    };
    Ok(format!("{{{}: {}}}", json_string(key), json_string(&text)))
}

// --- the cursor -----------------------------------------------------------------

/// Name of the last column when documents may come with fields the first
/// page did not have (they are kept there, as one document).
pub const OTHER_FIELDS: &str = "…other fields";

/// Documents read before the columns are fixed (the first page).
pub const FIRST_PAGE: usize = crate::connectors::query::DEFAULT_PAGE_ROWS;

/// A query's documents as rows: the columns are the top-level fields of the
/// first page (`_id` first); when more documents follow, fields first seen
/// later go into [`OTHER_FIELDS`], so nothing is lost. Dropping it closes
/// the server cursor (the driver sends `killCursors`).
pub struct DocCursor {
    columns: Vec<ColumnMeta>,
    grid: Grid,
    known: HashSet<String>,
    other: bool,
    held: VecDeque<Document>,
    cursor: Option<Cursor<Document>>,
    secret: Option<SecretString>,
}

impl DocCursor {
    pub(super) async fn start(
        mut cursor: Cursor<Document>,
        secret: Option<SecretString>,
    ) -> Result<DocCursor, ConnError> {
        let err = |e: mongodb::error::Error| {
            map_error(&e).scrub(secret.as_ref().map(|s| s.expose_secret()))
        };
        let mut held = VecDeque::new();
        let mut open = true;
        while held.len() < FIRST_PAGE {
            match cursor.try_next().await.map_err(err)? {
                Some(d) => held.push_back(d),
                None => {
                    open = false;
                    break;
                }
            }
        }
        let mut grid = Grid::default();
        for d in &held {
            grid.observe(d);
        }
        let mut columns = grid.columns();
        if open {
            columns.push(ColumnMeta {
                name: OTHER_FIELDS.into(),
                type_name: "object".into(),
                logical: Logical::Json,
            });
        }
        Ok(DocCursor {
            known: grid.order.iter().cloned().collect(),
            columns,
            grid,
            other: open,
            held,
            cursor: open.then_some(cursor),
            secret,
        })
    }

    fn row(&self, d: &Document) -> Vec<Cell> {
        let mut row = self.grid.row(d);
        if self.other {
            let rest: Document = d
                .iter()
                .filter(|(k, _)| !self.known.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            row.push(if rest.is_empty() {
                Cell::Null
            } else {
                Cell::Json(Bson::Document(rest).into_relaxed_extjson())
            });
        }
        row
    }
}

#[async_trait]
impl QueryCursor for DocCursor {
    fn columns(&self) -> &[ColumnMeta] {
        &self.columns
    }

    async fn next_page(&mut self, max: usize) -> Result<Vec<Vec<Cell>>, ConnError> {
        let max = max.max(1);
        let mut page = Vec::with_capacity(max.min(FIRST_PAGE));
        while page.len() < max {
            if let Some(d) = self.held.pop_front() {
                page.push(self.row(&d));
                continue;
            }
            let Some(c) = self.cursor.as_mut() else { break };
            match c.try_next().await {
                Ok(Some(d)) => page.push(self.row(&d)),
                Ok(None) => self.cursor = None,
                Err(e) => {
                    self.cursor = None;
                    return Err(
                        map_error(&e).scrub(self.secret.as_ref().map(|s| s.expose_secret()))
                    );
                }
            }
        }
        Ok(page)
    }

    fn is_done(&self) -> bool {
        self.cursor.is_none() && self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    fn find(text: &str) -> FindSpec {
        match parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}")).op {
            Op::Find(f) => f,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn find_with_projection_sort_skip_and_limit() {
        let q = parse(
            r#"db.orders.find({"status": "paid"}, {"total": 1}).sort({"total": -1, "_id": 1}).skip(5).limit(20);"#,
        )
        .unwrap();
        assert_eq!(q.db, None);
        assert_eq!(q.coll, "orders");
        let Op::Find(f) = q.op else { panic!() };
        assert_eq!(f.filter, doc! {"status": "paid"});
        assert_eq!(f.projection, Some(doc! {"total": 1}));
        // Key order kept: the sort is by total, then _id.
        let keys: Vec<_> = f.sort.as_ref().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["total", "_id"]);
        assert_eq!(f.skip, Some(5));
        assert_eq!(f.limit, Some(20));
        assert_eq!(find("db.orders.find()"), FindSpec::default());
        assert_eq!(find("db.orders.findOne({})").limit, Some(1));
    }

    #[test]
    fn relaxed_keys_quotes_and_shell_helpers() {
        let f = find(
            "db.o.find({status: 'pa\"id', _id: ObjectId('65a1b2c3d4e5f60718293a4b'), \
             at: {$gte: ISODate(\"2024-01-01T00:00:00Z\")}, n: NumberLong(\"7\"), \
             'a.b': {\"$in\": [1, 2.5, true, null]}})",
        );
        let oid = mongodb::bson::oid::ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(f.filter.get_str("status").unwrap(), "pa\"id");
        assert_eq!(f.filter.get_object_id("_id").unwrap(), oid);
        assert!(matches!(
            f.filter.get_document("at").unwrap().get("$gte"),
            Some(Bson::DateTime(_))
        ));
        assert_eq!(f.filter.get("n"), Some(&Bson::Int64(7)));
        assert!(f.filter.contains_key("a.b"));
        let f = find(r#"db.o.find({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})"#);
        assert_eq!(f.filter.get_object_id("_id").unwrap(), oid);
    }

    #[test]
    fn collections_and_databases_by_name() {
        let q = parse(r#"db.getSiblingDB("shop").getCollection("odd name.x ü").find({})"#).unwrap();
        assert_eq!(q.db.as_deref(), Some("shop"));
        assert_eq!(q.coll, "odd name.x ü");
        let q = parse(r#"db["a,b"].aggregate([])"#).unwrap();
        assert_eq!(q.coll, "a,b");
        assert!(matches!(q.op, Op::Aggregate { .. }));
        for t in [
            TableRefLite("shop", "orders", Some("shop")),
            TableRefLite("other", "odd name", Some("shop")),
            TableRefLite("shop", "drop", Some("shop")),
        ] {
            let table = super::super::TableRef {
                schema: Some(t.0.into()),
                name: t.1.into(),
                kind: super::super::TableKind::Collection,
                estimated_rows: None,
                system: false,
            };
            let text = starter(Some(&table), t.2);
            let q = parse(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(q.coll, t.1, "{text}");
            let db = q.db.or(t.2.map(str::to_string));
            assert_eq!(db.as_deref(), Some(t.0), "{text}");
            assert_eq!(
                q.op,
                Op::Find(FindSpec {
                    limit: Some(100),
                    ..FindSpec::default()
                })
            );
        }
    }

    struct TableRefLite(&'static str, &'static str, Option<&'static str>);

    #[test]
    fn out_and_merge_are_refused_at_any_depth() {
        for text in [
            r#"db.o.aggregate([{"$match": {}}, {"$out": "copy"}])"#,
            r#"db.o.aggregate([{"$merge": {"into": "copy"}}])"#,
            r#"db.o.aggregate([{"$facet": {"a": [{"$match": {}}, {"$out": "x"}]}}])"#,
            r#"db.o.aggregate([{"$lookup": {"from": "p", "pipeline": [{"$merge": "x"}], "as": "p"}}])"#,
            r#"db.o.aggregate([{"$unionWith": {"coll": "p", "pipeline": [{"$facet": {"z": [{"$out": "y"}]}}]}}])"#,
            "db.o.aggregate([{$out: 'copy'}])",
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.kind, ErrorKind::ReadOnly, "{text}: {e:?}");
            assert!(e.detail.contains("nothing was sent"), "{text}: {e:?}");
            assert!(
                e.detail.contains("$out") || e.detail.contains("$merge"),
                "{e:?}"
            );
        }
        assert!(
            ReadPipeline::new(vec![doc! {"$project": {"x": {"$literal": {"$out": 1}}}}]).is_err()
        );
        assert!(ReadPipeline::new(vec![doc! {"$match": {"out": 1}}]).is_ok());
    }

    #[test]
    fn write_methods_and_commands_are_refused_in_words() {
        for (text, word) in [
            ("db.o.insertOne({\"a\": 1})", "insertOne"),
            ("db.o.deleteMany({})", "deleteMany"),
            ("db.o.updateMany({}, {\"$set\": {\"a\": 1}})", "updateMany"),
            ("db.o.drop()", "drop"),
            ("db.o.findOneAndUpdate({}, {})", "findOneAndUpdate"),
            ("db.runCommand({\"drop\": \"o\"})", "runCommand"),
            ("db.dropDatabase()", "dropDatabase"),
            ("db.o.createIndex({\"a\": 1})", "createIndex"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.kind, ErrorKind::ReadOnly, "{text}: {e:?}");
            assert!(e.detail.contains(word), "{text}: {e:?}");
        }
        let e = parse(r#"db.o.aggregate([], {"writeConcern": {"w": 1}})"#).unwrap_err();
        assert!(e.detail.contains("writeConcern"), "{e:?}");
    }

    #[test]
    fn bad_text_gets_words() {
        for (text, says) in [
            ("SELECT 1", "starts with `db.`"),
            ("db.o", "no method called"),
            ("db.o.find({a: 1}", "expected at the end"),
            ("db.o.find({\"a\": 1})).limit(1)", "unexpected text"),
            ("db.o.find({a: foo})", "`foo` is not a value"),
            ("db.o.find(5)", "must be a document"),
            ("db.o.find({}).limit(-1)", "negative"),
            ("db.o.find({}).explain()", "explain"),
            ("db.o.count()", "only find"),
            ("db.o.aggregate({})", "array of stages"),
            ("db.o.aggregate([]).sort({})", "nothing may follow"),
            ("db.o.find({'a': 1)", "does not close"),
            ("db.o.find({\"a\": 1}); db.o.drop()", "one statement"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.detail.contains(says), "{text}: {}", e.detail);
        }
        assert_eq!(parse(" ;").unwrap_err().detail, "nothing to run");
    }
}
