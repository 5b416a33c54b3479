-- Lookups by connection and time: the history panel and `varlor audit --since`.
CREATE INDEX test_history_by_connection ON test_history(connection_id, at);
CREATE INDEX audit_log_by_time ON audit_log(at);
