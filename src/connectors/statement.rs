//! What a typed query may be on engines whose server cannot refuse every
//! write by itself.
//!
//! PostgreSQL and MySQL run the text as one prepared statement inside a
//! read-only transaction, and the server refuses any write. SQL Server has no
//! read-only transaction: a batch may hold several statements without any
//! `;` (`SELECT 1 DELETE FROM t`), and `COMMIT` inside the text would end the
//! transaction that Varlor rolls back. Oracle's `SET TRANSACTION READ ONLY`
//! is ended by any DDL (an implicit commit comes first). So on those engines
//! the text is checked before anything is sent: it must start as a query
//! (`SELECT`, `WITH`) and hold none of the words that change state, outside
//! string literals, quoted names and comments. The server's own guard (a
//! rolled-back transaction, a read-only one) still stands behind this check.

use super::query::skip_quoted_or_comment;
use super::{ConnError, ErrorKind};

/// How an engine's text is scanned.
#[derive(Debug, Clone, Copy)]
pub struct Lexicon {
    /// `[name]` is a quoted name (SQL Server).
    pub brackets: bool,
    /// Words that refuse the statement wherever they appear.
    pub refused: &'static [&'static str],
    /// Word sequences that refuse it (e.g. `NEXT VALUE FOR`).
    pub refused_runs: &'static [&'static [&'static str]],
}

/// T-SQL: every statement that changes data, schema, transactions, the
/// session or the server, dynamic SQL, and reads that are writes
/// (`RECEIVE` dequeues, `NEXT VALUE FOR` advances a sequence, `SELECT … INTO`
/// creates a table).
pub const TSQL: Lexicon = Lexicon {
    brackets: true,
    refused: &[
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "TRUNCATE",
        "DROP",
        "CREATE",
        "ALTER",
        "GRANT",
        "REVOKE",
        "DENY",
        "INTO",
        "COMMIT",
        "ROLLBACK",
        "SAVE",
        "BEGIN",
        "EXEC",
        "EXECUTE",
        "SET",
        "USE",
        "DBCC",
        "KILL",
        "SHUTDOWN",
        "BACKUP",
        "RESTORE",
        "BULK",
        "OPENROWSET",
        "OPENQUERY",
        "OPENDATASOURCE",
        "RECONFIGURE",
        "CHECKPOINT",
        "WRITETEXT",
        "UPDATETEXT",
        "RECEIVE",
        "SEND",
        "CONVERSATION",
        "ENABLE",
        "DISABLE",
        "GO",
        "DECLARE",
        "OPENXML",
        "SP_EXECUTESQL",
        "MOVE",
        "GET",
    ],
    refused_runs: &[&["NEXT", "VALUE", "FOR"]],
};

/// Oracle: one statement per call, and the read-only transaction refuses
/// DML; what remains is what would end it or write beside it.
pub const ORACLE: Lexicon = Lexicon {
    brackets: false,
    refused: &["NEXTVAL", "INTO"],
    refused_runs: &[
        &["WITH", "FUNCTION"],
        &["WITH", "PROCEDURE"],
        &["FOR", "UPDATE"],
    ],
};

/// The words of `text`, upper-cased, outside literals, quoted names and
/// comments (the scanner of the `;` check). A comment ends at its first
/// `*/`: SQL Server nests comments, so there the scan only counts more of
/// the text as code, which refuses more, never less. An unclosed literal or
/// comment swallows the rest, which the server would refuse anyway.
pub fn words(text: &str, lex: &Lexicon) -> Vec<String> {
    let quotes: &[char] = if lex.brackets {
        &['\'', '"', '[']
    } else {
        &['\'', '"']
    };
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || matches!(c, '_' | '$' | '#' | '@') {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word).to_ascii_uppercase());
        }
        skip_quoted_or_comment(c, &mut chars, quotes);
    }
    if !word.is_empty() {
        out.push(word.to_ascii_uppercase());
    }
    out
}

/// Refuses, in words and before anything is sent, a typed text that is not a
/// plain query for an engine scanned with `lex`.
pub fn only_query(text: &str, engine: &str, lex: &Lexicon) -> Result<(), ConnError> {
    let w = words(text, lex);
    let refuse = |what: &str| {
        Err(ConnError::new(
            ErrorKind::ReadOnly,
            format!(
                "{what}: on {engine} a typed query may only read (SELECT or WITH … SELECT); \
                 nothing was run"
            ),
        ))
    };
    match w.first().map(String::as_str) {
        None => return Err(ConnError::new(ErrorKind::Other, "nothing to run")),
        Some("SELECT" | "WITH") => {}
        Some(first) => return refuse(&format!("{first} is refused")),
    }
    if let Some(bad) = w.iter().find(|x| lex.refused.contains(&x.as_str())) {
        return refuse(&format!("{bad} is refused"));
    }
    for run in lex.refused_runs {
        if w.windows(run.len())
            .any(|win| win.iter().zip(*run).all(|(a, b)| a == b))
        {
            return refuse(&format!("{} is refused", run.join(" ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsql(t: &str) -> Result<(), ConnError> {
        only_query(t, "SQL Server", &TSQL)
    }

    #[test]
    fn plain_queries_pass() {
        for ok in [
            "SELECT * FROM [dbo].[orders]",
            "select top (10) * from t where note = 'DELETE FROM t; COMMIT'",
            "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
            "SELECT [insert], \"update\" FROM [drop table]",
            "SELECT 1 -- DELETE FROM t\n",
            "  select 'DELETE FROM t; COMMIT' AS [update], [exec] FROM t -- drop\n",
            "(SELECT 1)",
            "SELECT * FROM t ORDER BY id OFFSET 0 ROWS FETCH NEXT 10 ROWS ONLY",
        ] {
            tsql(ok).unwrap_or_else(|e| panic!("{ok}: {}", e.full()));
        }
    }

    #[test]
    fn writes_and_their_disguises_are_refused_before_sending() {
        for bad in [
            "DELETE FROM t",
            "SELECT 1 DELETE FROM t",
            "SELECT 1 COMMIT DELETE FROM t",
            "SELECT * INTO copy FROM t",
            "WITH x AS (SELECT 1 a) UPDATE t SET a = 1",
            "SELECT 1; EXEC('DROP TABLE t')",
            "SELECT NEXT VALUE FOR dbo.seq",
            "SELECT 1 /* a */ TRUNCATE TABLE t",
            "SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'EXEC sp_who')",
            "SELECT 1 /* /* */ DELETE FROM t */ DELETE FROM t",
            "sp_configure 'show advanced options', 1",
            "BEGIN TRAN",
            "SET IMPLICIT_TRANSACTIONS OFF",
            "SELECT 1\nGO\nDROP TABLE t",
            "WAITFOR RECEIVE TOP (1) * FROM q",
            "SELECT 1 EXEC('COMMIT; DELETE FROM t')",
            "SELECT 1 SHUTDOWN WITH NOWAIT",
            "SELECT 1 waitfor delay '0:0:1' truncate table t",
        ] {
            let e = tsql(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::ReadOnly, "{bad}");
            assert!(e.detail.ends_with("nothing was run"), "{}", e.detail);
        }
    }

    #[test]
    fn a_comment_ends_at_its_first_close_so_nesting_only_refuses_more() {
        // SQL Server nests comments (DELETE is commented out there); the scan
        // counts it as code, which can only refuse more.
        let t = "SELECT 1 /* /* */ DELETE */";
        assert!(words(t, &TSQL).contains(&"DELETE".to_string()));
        assert!(words(t, &ORACLE).contains(&"DELETE".to_string()));
        // No backtick quotes in T-SQL.
        assert!(tsql("SELECT 1 `x DELETE FROM t`").is_err());
    }

    #[test]
    fn oracle_refuses_what_would_end_or_escape_the_read_only_transaction() {
        for bad in [
            "CREATE TABLE t (a NUMBER)",
            "BEGIN NULL; END;",
            "SELECT s.NEXTVAL FROM DUAL",
            "WITH FUNCTION f RETURN NUMBER IS BEGIN RETURN 1; END; SELECT f FROM DUAL",
            "SELECT * FROM t FOR UPDATE",
            "CALL p()",
        ] {
            let e = only_query(bad, "Oracle", &ORACLE).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::ReadOnly, "{bad}");
        }
        only_query(
            "SELECT \"for\", 'NEXTVAL' FROM \"update\" FETCH FIRST 10 ROWS ONLY",
            "Oracle",
            &ORACLE,
        )
        .unwrap();
    }
}
