//! Typed queries (the query pane and `varlor query`): one statement, run so
//! that it cannot write, its rows fetched a page at a time.
//!
//! `Connector::query` opens a [`QueryCursor`] on a connection of its own
//! (never the browsing session): the columns are known when it returns, and
//! `next_page` brings the next rows on demand, so a result of ten million
//! rows never fills memory. Dropping a `next_page` future or the cursor
//! cancels the query on the server, as `count_rows` does.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{Cell, ColumnMeta, ConnError, ErrorKind};

/// Rows in the first page (and every next one) unless configured otherwise.
pub const DEFAULT_PAGE_ROWS: usize = 500;

/// What an engine without a query dialect answers.
pub const NOT_YET: &str = "queries are not available for this engine yet";

/// An open result: its columns, and its rows on demand.
#[async_trait]
pub trait QueryCursor: Send {
    /// The result's columns (empty for a statement that returns no rows).
    fn columns(&self) -> &[ColumnMeta];
    /// Up to `max` more rows; fewer than `max` means the result is complete
    /// (and the server side is closed). Cancel by dropping the future; the
    /// server stops the query too, and the cursor is done.
    async fn next_page(&mut self, max: usize) -> Result<Vec<Vec<Cell>>, ConnError>;
    /// No more rows will come.
    fn is_done(&self) -> bool;
}

/// The words for a text holding more than one statement.
pub fn several_statements() -> ConnError {
    ConnError::new(
        ErrorKind::Other,
        "one statement at a time: this text holds more than one (a ';' followed by more); \
         nothing was run",
    )
}

/// The user's text without trailing blanks and semicolons, refused when it
/// is empty or when a `;` outside quotes and comments still separates a
/// second statement (engines whose prepare would silently drop the rest, or
/// answer with a mere syntax error).
pub fn single_statement(sql: &str) -> Result<&str, ConnError> {
    let text = sql.trim_end_matches(|c: char| c.is_whitespace() || c == ';');
    if text.trim().is_empty() {
        return Err(ConnError::new(ErrorKind::Other, "nothing to run"));
    }
    if has_statement_separator(text) {
        return Err(several_statements());
    }
    Ok(text)
}

/// The statement's first keyword, upper-cased, after blanks, comments and
/// opening parentheses ("" when there is none).
pub fn first_keyword(text: &str) -> String {
    let mut rest = text;
    loop {
        let t = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(after) = t.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = t.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return t
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect::<String>()
                .to_ascii_uppercase();
        }
    }
}

/// `LOCK` is allowed in a read-only transaction, yet an exclusive lock (even
/// one only waited for) stops every reader of the table: refused in words.
pub fn refuse_lock(text: &str) -> Result<(), ConnError> {
    if first_keyword(text) == "LOCK" {
        return Err(ConnError::new(
            ErrorKind::ReadOnly,
            "LOCK is refused: a typed query only reads, and a lock (even one waited for) \
             would stop every other reader of the table; nothing was run",
        ));
    }
    Ok(())
}

/// Whether `text` has a `;` outside string literals, quoted identifiers and
/// comments (conservative: a backslash-escaped quote may end a literal early,
/// which can only refuse more, never less).
pub fn has_statement_separator(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ';' {
            return true;
        }
        skip_quoted_or_comment(c, &mut chars, &['\'', '"', '`', '[']);
    }
    false
}

/// When `c` opens a literal or quoted name (one of `quotes`; `[` closes
/// with `]`) or a comment, consumes it from `chars` and says so. A doubled
/// closing quote is an escaped quote: the scan just re-enters the same kind
/// of literal, which is equivalent. A comment ends at the first `*/`, so a
/// nested one (SQL Server) only makes more of the text count as code.
pub(crate) fn skip_quoted_or_comment(
    c: char,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    quotes: &[char],
) -> bool {
    if quotes.contains(&c) {
        let close = if c == '[' { ']' } else { c };
        for d in chars.by_ref() {
            if d == close {
                break;
            }
        }
        return true;
    }
    if c == '-' && chars.peek() == Some(&'-') {
        for d in chars.by_ref() {
            if d == '\n' {
                break;
            }
        }
        return true;
    }
    if c == '/' && chars.peek() == Some(&'*') {
        chars.next();
        let mut prev = ' ';
        for d in chars.by_ref() {
            if prev == '*' && d == '/' {
                break;
            }
            prev = d;
        }
        return true;
    }
    false
}

/// What the login of a connection may do, whatever Varlor does with it (the
/// query pane's badge): Varlor keeps every session read-only either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginWrites {
    /// No write privilege found.
    ReadOnly,
    /// The login can write; `why` names one reason ("superuser",
    /// "INSERT, UPDATE… on public.orders", "ALL PRIVILEGES ON `shop`.*").
    CanWrite { why: String },
    /// The engine cannot tell (no check for it yet).
    Unknown,
}

impl LoginWrites {
    /// The badge's words.
    pub fn badge(&self) -> Option<&'static str> {
        match self {
            LoginWrites::ReadOnly => Some("read-only login"),
            LoginWrites::CanWrite { .. } => {
                Some("login can write — Varlor keeps this session read-only")
            }
            LoginWrites::Unknown => None,
        }
    }

    /// The badge where the full words do not fit.
    pub fn short_badge(&self) -> Option<&'static str> {
        match self {
            LoginWrites::ReadOnly => Some("read-only login"),
            LoginWrites::CanWrite { .. } => Some("login can write"),
            LoginWrites::Unknown => None,
        }
    }
}

/// MySQL/MariaDB privileges that do not change data or schema.
const MYSQL_READ_PRIVILEGES: &[&str] = &[
    "USAGE",
    "SELECT",
    "SHOW VIEW",
    "SHOW DATABASES",
    "PROCESS",
    "REPLICATION CLIENT",
    "BINLOG MONITOR",
    "SLAVE MONITOR",
    "REPLICA MONITOR",
    "LOCK TABLES",
    "REFERENCES",
    "PROXY",
];

/// The first write privilege in the lines of `SHOW GRANTS` (`GRANT <privs>
/// ON <what> TO …`), as "<privilege> ON <what>"; `None` when every grant
/// only reads. A privilege that is not known to only read counts as a write
/// (a new server's privilege is not assumed harmless).
pub fn mysql_write_grant(grants: &[String]) -> Option<String> {
    for line in grants {
        let Some(rest) = line.trim().strip_prefix("GRANT ") else {
            continue;
        };
        // A role granted (`GRANT role TO user`) has no ON: its own grants
        // are listed under the role, not here.
        let Some((privs, on)) = rest.split_once(" ON ") else {
            continue;
        };
        let what = on.split(" TO ").next().unwrap_or(on).trim();
        for p in privs.split(',') {
            // Column privileges: `UPDATE (`a`, `b`)` → UPDATE.
            let name = p.split('(').next().unwrap_or(p).trim().to_ascii_uppercase();
            if name.is_empty() || MYSQL_READ_PRIVILEGES.contains(&name.as_str()) {
                continue;
            }
            return Some(format!("{name} ON {what}"));
        }
    }
    None
}

/// Rows asked of the cursor at a time by [`drain`].
const DRAIN_PAGE: usize = 5_000;

/// Hands the cursor's columns and then every row to `sink` (the query
/// pane's export through the dataset sinks); how many rows. A sink that
/// gives up stops the query (the cursor is dropped, the server stops too).
pub async fn drain(
    mut cursor: Box<dyn QueryCursor>,
    sink: &mut dyn super::RowSink,
) -> Result<u64, ConnError> {
    sink.columns(cursor.columns())?;
    let mut n = 0u64;
    loop {
        let page = cursor.next_page(DRAIN_PAGE).await?;
        let got = page.len();
        for row in page {
            sink.row(row)?;
            n += 1;
        }
        if got < DRAIN_PAGE || cursor.is_done() {
            return Ok(n);
        }
    }
}

/// Rows read ahead by a producer while the person looks at the last page.
pub(crate) const READ_AHEAD: usize = 256;

/// A cursor fed by a producer (a task or a thread owning its connection)
/// through a bounded channel: the producer stops reading the server while
/// the channel is full, so memory stays flat. `guard` is dropped when the
/// cursor is (or when a page times out) and stops the query on the server.
pub(crate) struct ChannelCursor {
    columns: Vec<ColumnMeta>,
    rx: mpsc::Receiver<Result<Vec<Cell>, ConnError>>,
    /// Rows received but not yet handed out.
    held: VecDeque<Vec<Cell>>,
    done: bool,
    /// Longest wait for a page (zero: none).
    timeout: Duration,
    guard: Option<Box<dyn Send>>,
}

impl ChannelCursor {
    /// Waits for the producer's columns (or its first error) within
    /// `timeout`; dropping this future drops `guard`, which stops the query.
    pub(crate) async fn start(
        columns: oneshot::Receiver<Result<Vec<ColumnMeta>, ConnError>>,
        rx: mpsc::Receiver<Result<Vec<Cell>, ConnError>>,
        guard: Box<dyn Send>,
        timeout: Duration,
    ) -> Result<ChannelCursor, ConnError> {
        let got = within(timeout, async {
            columns.await.unwrap_or_else(|_| {
                Err(ConnError::new(
                    ErrorKind::ConnectionLost,
                    "the query ended before its columns were known",
                ))
            })
        })
        .await;
        // On error `guard` is dropped here and stops the server side.
        let columns = got??;
        Ok(ChannelCursor {
            columns,
            rx,
            held: VecDeque::new(),
            done: false,
            timeout,
            guard: Some(guard),
        })
    }
}

/// `fut` within `timeout` (zero: no limit); `Err` is the timeout error.
async fn within<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ConnError> {
    if timeout.is_zero() {
        return Ok(fut.await);
    }
    tokio::time::timeout(timeout, fut).await.map_err(|_| {
        ConnError::new(
            ErrorKind::StatementTimeout,
            format!(
                "no answer within the statement timeout ({} s); the query was stopped",
                timeout.as_secs()
            ),
        )
    })
}

#[async_trait]
impl QueryCursor for ChannelCursor {
    fn columns(&self) -> &[ColumnMeta] {
        &self.columns
    }

    async fn next_page(&mut self, max: usize) -> Result<Vec<Vec<Cell>>, ConnError> {
        let max = max.max(1);
        if self.done && self.held.is_empty() {
            return Ok(Vec::new());
        }
        let mut page: Vec<Vec<Cell>> = Vec::with_capacity(max.min(self.held.len() + READ_AHEAD));
        while page.len() < max {
            if let Some(r) = self.held.pop_front() {
                page.push(r);
                continue;
            }
            if self.done {
                break;
            }
            let next = match within(self.timeout, self.rx.recv()).await {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    self.guard = None;
                    return Err(e);
                }
            };
            match next {
                Some(Ok(row)) => page.push(row),
                Some(Err(e)) => {
                    self.done = true;
                    self.guard = None;
                    return Err(e);
                }
                None => {
                    self.done = true;
                    self.guard = None;
                }
            }
        }
        if !self.done && page.len() == max {
            // Peek whether the result ended exactly at the page boundary, so
            // a complete result is reported complete without another round.
            match self.rx.try_recv() {
                Ok(Ok(row)) => self.held.push_back(row),
                Ok(Err(e)) => {
                    self.done = true;
                    self.guard = None;
                    return Err(e);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.done = true;
                    self.guard = None;
                }
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
        }
        Ok(page)
    }

    fn is_done(&self) -> bool {
        self.done && self.held.is_empty()
    }
}

/// A result already complete in memory (statements that return no rows or
/// a small answer such as `SHOW`/`EXPLAIN`).
pub(crate) struct BufferedCursor {
    pub(crate) columns: Vec<ColumnMeta>,
    pub(crate) rows: VecDeque<Vec<Cell>>,
}

#[async_trait]
impl QueryCursor for BufferedCursor {
    fn columns(&self) -> &[ColumnMeta] {
        &self.columns
    }

    async fn next_page(&mut self, max: usize) -> Result<Vec<Vec<Cell>>, ConnError> {
        let n = max.max(1).min(self.rows.len());
        Ok(self.rows.drain(..n).collect())
    }

    fn is_done(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_is_kept_and_a_second_refused() {
        assert_eq!(single_statement("SELECT 1 ;\n ").unwrap(), "SELECT 1");
        assert_eq!(
            single_statement("SELECT ';' AS x;;").unwrap(),
            "SELECT ';' AS x"
        );
        assert!(single_statement("SELECT 1 -- a; b\n").is_ok());
        assert!(single_statement("SELECT /* ; */ 1").is_ok());
        for bad in [
            "COMMIT; DELETE FROM t",
            "SELECT 1; SELECT 2;",
            "SELECT 1;--x\nDROP t",
        ] {
            let e = single_statement(bad).unwrap_err();
            assert!(e.detail.contains("one statement at a time"), "{bad}: {e:?}");
        }
        assert_eq!(
            single_statement(" ; ").unwrap_err().detail,
            "nothing to run"
        );
    }

    #[test]
    fn mysql_grants_that_write_are_found_and_reads_are_not() {
        let g = |lines: &[&str]| {
            mysql_write_grant(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            g(&[
                "GRANT USAGE ON *.* TO `ro`@`%`",
                "GRANT SELECT, SHOW VIEW ON `shop`.* TO `ro`@`%`",
                "GRANT `reporting` TO `ro`@`%`",
            ]),
            None
        );
        assert_eq!(
            g(&[
                "GRANT USAGE ON *.* TO `w`@`%` IDENTIFIED BY PASSWORD '*AB'",
                "GRANT ALL PRIVILEGES ON `shop`.* TO `w`@`%`",
            ])
            .as_deref(),
            Some("ALL PRIVILEGES ON `shop`.*")
        );
        assert_eq!(
            g(&["GRANT SELECT, UPDATE (`note`) ON `shop`.`orders` TO `w`@`%`"]).as_deref(),
            Some("UPDATE ON `shop`.`orders`")
        );
        assert!(g(&["GRANT DELETE HISTORY ON *.* TO `w`@`%`"]).is_some());
    }

    #[test]
    fn the_first_keyword_skips_comments_and_parentheses() {
        assert_eq!(first_keyword("  -- hi\n/* x */ (lock table t"), "LOCK");
        assert_eq!(first_keyword("select 1"), "SELECT");
        assert_eq!(first_keyword("-- only a comment"), "");
        assert!(refuse_lock("/**/ LOCK TABLE t").is_err());
        assert!(refuse_lock("SELECT 'LOCK'").is_ok());
    }

    #[tokio::test]
    async fn channel_cursor_pages_and_knows_when_it_is_complete() {
        let (ctx, crx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        ctx.send(Ok(vec![])).unwrap();
        tokio::spawn(async move {
            for i in 0..5 {
                tx.send(Ok(vec![Cell::Int(i)])).await.unwrap();
            }
        });
        let mut c = ChannelCursor::start(crx, rx, Box::new(()), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(c.next_page(2).await.unwrap().len(), 2);
        assert!(!c.is_done());
        let rest = c.next_page(10).await.unwrap();
        assert_eq!(
            rest,
            vec![vec![Cell::Int(2)], vec![Cell::Int(3)], vec![Cell::Int(4)]]
        );
        assert!(c.is_done());
    }

    #[tokio::test]
    async fn a_page_that_never_comes_times_out_and_drops_the_guard() {
        struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ctx, crx) = oneshot::channel();
        let (_tx, rx) = mpsc::channel(1);
        ctx.send(Ok(vec![])).unwrap();
        let mut c = ChannelCursor::start(
            crx,
            rx,
            Box::new(Flag(dropped.clone())),
            Duration::from_millis(50),
        )
        .await
        .unwrap();
        let e = c.next_page(5).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::StatementTimeout);
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        assert!(c.is_done());
    }
}
