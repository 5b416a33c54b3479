-- Varlor catalog, version 1. Secrets live only in connections.secret, as age ciphertext.
CREATE TABLE connections (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT    NOT NULL UNIQUE,
    kind                  TEXT    NOT NULL,
    host                  TEXT    NOT NULL DEFAULT '',
    port                  INTEGER CHECK (port IS NULL OR (port BETWEEN 1 AND 65535)),
    database              TEXT    NOT NULL DEFAULT '',
    user                  TEXT    NOT NULL DEFAULT '',
    options               TEXT    NOT NULL DEFAULT '{}',
    tls                   TEXT    NOT NULL DEFAULT 'prefer',
    ca_file               TEXT,
    connect_timeout_secs  INTEGER NOT NULL DEFAULT 30,
    environment           TEXT    NOT NULL DEFAULT 'none',
    password_source       TEXT    NOT NULL DEFAULT 'vault',
    password_command      TEXT,
    secret                BLOB,
    key_version           INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    last_test_at          INTEGER,
    last_test_ok          INTEGER,
    last_test_status      TEXT,
    last_test_error       TEXT,
    last_test_latency_ms  INTEGER,
    server_version        TEXT,
    last_test_tls         INTEGER,
    auth_failures         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE test_history (
    id             INTEGER PRIMARY KEY,
    connection_id  INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    at             INTEGER NOT NULL,
    ok             INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    latency_ms     INTEGER
);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    detail   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
