-- Statements typed in the query pane and `varlor query`, per connection
-- (Ctrl-P / Ctrl-N walk them). Only the SQL text: never a secret, never a
-- result. Capped per connection when a statement is recorded.
CREATE TABLE query_history (
    id             INTEGER PRIMARY KEY,
    connection_id  INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    at             INTEGER NOT NULL,
    sql            TEXT    NOT NULL
);
CREATE INDEX query_history_by_connection ON query_history(connection_id, id);
