#!/usr/bin/env bash
# mariadb.sh start|stop [STATE_DIR] — throwaway MariaDB server for integration tests.
#
#   eval "$(mariadb.sh start)"   # prints VARLOR_TEST_MYSQL_* exports (+ VARLOR_TEST_CA)
#   mariadb.sh stop              # uses $VARLOR_TEST_MYSQL_STATE (or STATE_DIR)
#
# No systemd and no packaged service: mariadb-install-db + mariadbd --no-defaults
# into a mktemp dir, on a free port of 127.0.0.1, TLS on (not required, except
# for the user varlor_tls, created REQUIRE SSL for the "server requires TLS"
# test). After the sample data, tests/fixtures/mysql.sql (if present) is loaded
# as root with `USE varlor_test` first.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start() {
  local t0 state port pass tls_pass sock fixtures
  t0=$(now)
  # The image's policy-rc.d keeps the packaged service from starting; we never use it.
  apt_install openssl mariadb-server mariadb-client
  state=$(new_state mysql)
  on_fail_stop "$state" TERM
  chmod 755 "$state"  # so non-root test runners can read certs/ca.pem
  port=$(free_port)
  pass=$(openssl rand -hex 16)
  tls_pass=$(openssl rand -hex 16)
  sock=$state/mysqld.sock
  certs_into "$state"

  mariadb-install-db --no-defaults --datadir="$state/data" --user=root \
    --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
    >"$state/install.log" 2>&1 || { tail -20 "$state/install.log" >&2; die "mariadb-install-db failed"; }

  # Started in the background; $! is the server itself (no wrapper), saved for stop.
  mariadbd --no-defaults --user=root --datadir="$state/data" \
    --bind-address=127.0.0.1 --port="$port" --socket="$sock" \
    --pid-file="$state/mariadbd.pid" --log-error="$state/error.log" \
    --ssl-ca="$CERT_DIR/ca.pem" --ssl-cert="$CERT_DIR/server.pem" --ssl-key="$CERT_DIR/server.key" \
    --skip-name-resolve --max-connections=200 \
    --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M \
    </dev/null >/dev/null 2>&1 3>&- &
  echo $! >"$state/pid"

  wait_until 60 mariadb-admin --no-defaults -S "$sock" -u root ping ||
    { tail -20 "$state/error.log" >&2; die "mariadbd did not become ready"; }

  # Test user (for TCP '%' and socket 'localhost'), databases and sample data.
  # MySQL has no schemas inside a database, so "sales" is a second database.
  mariadb --no-defaults --default-character-set=utf8mb4 -S "$sock" -u root <<EOF
CREATE USER 'varlor_test'@'%' IDENTIFIED BY '$pass';
CREATE USER 'varlor_test'@'localhost' IDENTIFIED BY '$pass';
CREATE DATABASE varlor_test CHARACTER SET utf8mb4;
CREATE DATABASE sales CHARACTER SET utf8mb4;
GRANT ALL ON varlor_test.* TO 'varlor_test'@'%', 'varlor_test'@'localhost';
GRANT ALL ON sales.* TO 'varlor_test'@'%', 'varlor_test'@'localhost';
CREATE USER 'varlor_tls'@'%' IDENTIFIED BY '$tls_pass' REQUIRE SSL;
GRANT SELECT ON varlor_test.* TO 'varlor_tls'@'%';
USE varlor_test;
CREATE TABLE customers (
  id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(100), country CHAR(2),
  created_at DATETIME NOT NULL);
INSERT INTO customers
  SELECT seq, CONCAT('Customer ', seq),
         IF(seq % 10 = 0, NULL, CONCAT('customer', seq, '@example.com')),
         ELT(1 + seq % 5, 'DE', 'FR', 'US', 'JP', 'BR'),
         TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq HOUR
  FROM seq_1_to_1000;
CREATE TABLE orders (
  id BIGINT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL,
  status VARCHAR(20) NOT NULL, shipped BOOLEAN NOT NULL, ordered_at DATETIME NOT NULL,
  FOREIGN KEY (customer_id) REFERENCES customers(id));
INSERT INTO orders
  SELECT seq, 1 + seq % 1000, (seq % 500) + 0.99,
         ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled'), seq % 3 = 0,
         TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (seq * 10) MINUTE
  FROM seq_1_to_5000;
CREATE TABLE \`Weird Name\` (\`Id\` INT PRIMARY KEY, \`Mixed Case\` TEXT, \`with space\` DOUBLE);
INSERT INTO \`Weird Name\` VALUES (1, 'one', 1.5), (2, 'two', NULL), (3, 'ünïcödé ✓', -3.25);
USE sales;
CREATE TABLE regions (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL);
INSERT INTO regions VALUES (1, 'EMEA'), (2, 'AMER'), (3, 'APAC');
CREATE TABLE targets (region_id INT, year INT, target DECIMAL(12,2),
  FOREIGN KEY (region_id) REFERENCES regions(id));
INSERT INTO targets SELECT r.seq, y.seq, r.seq * 100000 + y.seq FROM seq_1_to_3 r, seq_2022_to_2024 y;
EOF

  # The project's own browsing fixtures (owned by the MySQL connector's tests).
  fixtures=$PROJECT_DIR/tests/fixtures/mysql.sql
  if [[ -f $fixtures ]]; then
    { echo "USE varlor_test;"; cat "$fixtures"; } |
      mariadb --no-defaults --default-character-set=utf8mb4 -S "$sock" -u root || die "loading $fixtures failed"
  fi

  emit VARLOR_TEST_MYSQL_HOST 127.0.0.1
  emit VARLOR_TEST_MYSQL_PORT "$port"
  emit VARLOR_TEST_MYSQL_USER varlor_test
  emit VARLOR_TEST_MYSQL_PASSWORD "$pass"
  emit VARLOR_TEST_MYSQL_DB varlor_test
  emit VARLOR_TEST_MYSQL_TLS_USER varlor_tls
  emit VARLOR_TEST_MYSQL_TLS_PASSWORD "$tls_pass"
  emit VARLOR_TEST_MYSQL_CA "$CERT_DIR/ca.pem"
  emit VARLOR_TEST_MYSQL_SOCKET "$sock"
  emit VARLOR_TEST_MYSQL_URL "mysql://varlor_test:$pass@127.0.0.1:$port/varlor_test"
  emit VARLOR_TEST_CA "$CERT_DIR/ca.pem"
  emit VARLOR_TEST_MYSQL_STATE "$state"
  log "mariadb ready on 127.0.0.1:$port in $(elapsed "$t0") s (state $state)"
}

case ${1:-} in
  start) start ;;
  stop) stop_state "${2:-${VARLOR_TEST_MYSQL_STATE:-}}" TERM ;;
  *) die "usage: $0 start|stop [STATE_DIR]" ;;
esac
