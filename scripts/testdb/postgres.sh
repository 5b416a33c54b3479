#!/usr/bin/env bash
# postgres.sh start|stop [STATE_DIR] — throwaway PostgreSQL 15 for integration tests.
#
#   eval "$(postgres.sh start)"   # prints VARLOR_TEST_PG_* exports (+ VARLOR_TEST_CA)
#   postgres.sh stop              # uses $VARLOR_TEST_PG_STATE (or STATE_DIR)
#
# No systemd: initdb + pg_ctl as the postgres user into a mktemp dir, on a free
# port of 127.0.0.1. TCP logins use scram-sha-256; TLS is on but not required,
# except for the role varlor_tls, which pg_hba only lets in over TLS (for the
# "server requires TLS" test). After the sample data, tests/fixtures/postgres.sql
# (if present) is loaded into varlor_test as the varlor_test role.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Debian bookworm ships PostgreSQL 15; take the newest installed major version.
pgbin() { find /usr/lib/postgresql -path '*/bin/postgres' 2>/dev/null | sort -V | tail -1 | xargs -r dirname; }

start() {
  local t0 state port pass tls_pass PGBIN fixtures
  t0=$(now)
  apt_install openssl
  [[ -n $(pgbin) ]] || apt_install postgresql
  PGBIN=$(pgbin)
  state=$(new_state pg)
  on_fail_stop "$state" INT
  port=$(free_port)
  pass=$(openssl rand -hex 16)
  tls_pass=$(openssl rand -hex 16)
  certs_into "$state"
  # The server key must belong to the postgres user, mode 0600.
  install -o postgres -g postgres -m 600 "$CERT_DIR/server.key" "$state/server.key"
  install -o postgres -g postgres -m 644 "$CERT_DIR/server.pem" "$state/server.pem"
  chown postgres:postgres "$state"
  chmod 755 "$state"  # so non-root test runners can read certs/ca.pem
  cd "$state"  # runuser keeps the cwd; postgres cannot read root's

  runuser -u postgres -- "$PGBIN/initdb" -D "$state/data" -U postgres -E UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
  cat >>"$state/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$state'
ssl = on
ssl_cert_file = '$state/server.pem'
ssl_key_file = '$state/server.key'
max_connections = 200
# Room for tests that create and drop thousands of tables in one transaction.
max_locks_per_transaction = 256
# Throwaway data: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
# Sessions show timestamptz in UTC whatever the machine's zone (tests/timestamp_form.rs).
timezone = 'UTC'
EOF
  # First match wins: varlor_tls is rejected on any unencrypted TCP connection.
  cat >"$state/data/pg_hba.conf" <<EOF
local     all all                     trust
hostnossl all varlor_tls 127.0.0.1/32 reject
hostnossl all varlor_tls ::1/128      reject
host      all all        127.0.0.1/32 scram-sha-256
host      all all        ::1/128      scram-sha-256
EOF
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$state/data" -l "$state/postgres.log" \
    -w -t 60 start >/dev/null 3>&- || { tail -20 "$state/postgres.log" >&2; die "postgres did not start"; }
  head -1 "$state/data/postmaster.pid" >"$state/pid"

  # Test user, database and sample data; objects are owned by varlor_test.
  runuser -u postgres -- "$PGBIN/psql" -h "$state" -p "$port" -U postgres -d postgres \
    -q -v ON_ERROR_STOP=1 >/dev/null <<EOF
CREATE ROLE varlor_test LOGIN PASSWORD '$pass';
CREATE ROLE varlor_tls LOGIN PASSWORD '$tls_pass';
CREATE DATABASE varlor_test OWNER varlor_test;
\connect varlor_test
SET ROLE varlor_test;
CREATE TABLE customers (
  id integer PRIMARY KEY, name text NOT NULL, email text, country text,
  created_at timestamp NOT NULL);
INSERT INTO customers
  SELECT i, 'Customer ' || i,
         CASE WHEN i % 10 = 0 THEN NULL ELSE 'customer' || i || '@example.com' END,
         (ARRAY['DE','FR','US','JP','BR'])[1 + i % 5],
         timestamp '2024-01-01' + i * interval '1 hour'
  FROM generate_series(1, 1000) AS i;
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id),
  amount numeric(10,2) NOT NULL, status text NOT NULL, shipped boolean NOT NULL,
  ordered_at timestamptz NOT NULL);
INSERT INTO orders
  SELECT i, 1 + i % 1000, (i % 500) + 0.99,
         (ARRAY['new','paid','shipped','cancelled'])[1 + i % 4], i % 3 = 0,
         timestamptz '2024-01-01 00:00:00+00' + i * interval '10 minutes'
  FROM generate_series(1, 5000) AS i;
CREATE TABLE "Weird Name" ("Id" integer PRIMARY KEY, "Mixed Case" text, "with space" double precision);
INSERT INTO "Weird Name" VALUES (1, 'one', 1.5), (2, 'two', NULL), (3, 'ünïcödé ✓', -3.25);
CREATE SCHEMA sales;
CREATE TABLE sales.regions (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO sales.regions VALUES (1, 'EMEA'), (2, 'AMER'), (3, 'APAC');
CREATE TABLE sales.targets (region_id integer REFERENCES sales.regions(id), year integer, target numeric(12,2));
INSERT INTO sales.targets SELECT r, y, r * 100000 + y FROM generate_series(1, 3) r, generate_series(2022, 2024) y;
RESET ROLE;
ANALYZE;
EOF

  # The project's own browsing fixtures, owned by varlor_test (fed on stdin:
  # the postgres user may not be able to read the checkout).
  fixtures=$PROJECT_DIR/tests/fixtures/postgres.sql
  if [[ -f $fixtures ]]; then
    { echo "SET ROLE varlor_test;"; cat "$fixtures"; echo "RESET ROLE; ANALYZE;"; } |
      runuser -u postgres -- "$PGBIN/psql" -h "$state" -p "$port" -U postgres -d varlor_test \
        -q -v ON_ERROR_STOP=1 >/dev/null || die "loading $fixtures failed"
  fi

  emit VARLOR_TEST_PG_HOST 127.0.0.1
  emit VARLOR_TEST_PG_PORT "$port"
  emit VARLOR_TEST_PG_USER varlor_test
  emit VARLOR_TEST_PG_PASSWORD "$pass"
  emit VARLOR_TEST_PG_DB varlor_test
  emit VARLOR_TEST_PG_TLS_USER varlor_tls
  emit VARLOR_TEST_PG_TLS_PASSWORD "$tls_pass"
  emit VARLOR_TEST_PG_CA "$CERT_DIR/ca.pem"
  emit VARLOR_TEST_PG_URL "postgres://varlor_test:$pass@127.0.0.1:$port/varlor_test?sslmode=verify-full&sslrootcert=$CERT_DIR/ca.pem"
  emit VARLOR_TEST_CA "$CERT_DIR/ca.pem"
  emit VARLOR_TEST_PG_STATE "$state"
  log "postgres ready on 127.0.0.1:$port in $(elapsed "$t0") s (state $state)"
}

case ${1:-} in
  start) start ;;
  # SIGINT = PostgreSQL's "fast" shutdown (SIGTERM would wait for clients).
  stop) stop_state "${2:-${VARLOR_TEST_PG_STATE:-}}" INT ;;
  *) die "usage: $0 start|stop [STATE_DIR]" ;;
esac
