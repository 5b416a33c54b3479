#!/usr/bin/env bash
# mongo.sh start|stop [STATE_DIR] — throwaway MongoDB-compatible server for tests.
#
#   eval "$(mongo.sh start)"   # prints VARLOR_TEST_MONGO_* exports (+ VARLOR_TEST_CA)
#   mongo.sh stop              # uses $VARLOR_TEST_MONGO_STATE (or STATE_DIR)
#
# No real mongod is installable here, so this runs SecantusDB (PyPI, a pure-Python
# server speaking the MongoDB wire protocol on WiredTiger) from a venv cached in
# ${XDG_CACHE_HOME:-~/.cache}/varlor-testdb. Users can only be created without
# --auth, so: start plain, create user + sample data, stop, restart with --auth
# and TLS (TLS is then required), and check the login with pymongo.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECANTUS_PIN='SecantusDB==0.7.0b3'
CACHE=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/varlor-testdb
VENV=$CACHE/venv
PY=$VENV/bin/python

# Create the venv once; a stamp file marks a complete install of the pinned version.
ensure_venv() {
  [[ $(cat "$VENV/.stamp" 2>/dev/null) == "$SECANTUS_PIN" ]] && return 0
  mkdir -p "$CACHE"
  (
    flock 9  # two concurrent starts must not build the venv at once
    [[ $(cat "$VENV/.stamp" 2>/dev/null) == "$SECANTUS_PIN" ]] && exit 0
    log "creating $VENV with $SECANTUS_PIN"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3 python3-venv
      /usr/bin/python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check "$SECANTUS_PIN" pymongo >&2
    echo "$SECANTUS_PIN" >"$VENV/.stamp"
  ) 9>"$CACHE/lock"
}

# launch STATE PORT [EXTRA_ARGS...] — run secantusd-py in the background, save its PID.
launch() {
  local state=$1 port=$2; shift 2
  "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$state/data" \
    --log-level WARNING "$@" </dev/null >>"$state/secantusd.log" 2>&1 3>&- &
  echo $! >"$state/pid"
}

# pyrun SCRIPT ARGS... — run a Python snippet in the venv (pymongo available).
pyrun() { local code=$1; shift; "$PY" -c "$code" "$@"; }

start() {
  local t0 state port pass admin_pass uri
  t0=$(now)
  ensure_venv
  state=$(new_state mongo)
  on_fail_stop "$state" TERM
  chmod 755 "$state"  # so non-root test runners can read certs/ca.pem
  port=$(free_port)
  pass=$(openssl rand -hex 16)
  admin_pass=$(openssl rand -hex 16)
  certs_into "$state"

  # 1. Without auth: create the user and the sample data.
  launch "$state" "$port"
  pyrun '
import sys, time, datetime, pymongo
port, pw, admin_pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=60000)
c.admin.command("ping")
# An admin (root) for tests that set up other databases and list them all.
c.admin.command("createUser", "varlor_admin", pwd=admin_pw, roles=["root"],
                mechanisms=["SCRAM-SHA-256", "SCRAM-SHA-1"])
db = c.varlor_test
# Both SCRAM mechanisms, as real mongod does (SecantusDB defaults to SHA-256 only).
db.command("createUser", "varlor_test", pwd=pw, roles=[{"role": "readWrite", "db": "varlor_test"}],
           mechanisms=["SCRAM-SHA-256", "SCRAM-SHA-1"])
t0 = datetime.datetime(2024, 1, 1)
countries = ["DE", "FR", "US", "JP", "BR"]
db.customers.insert_many([dict(
    {"_id": i, "name": f"Customer {i}", "country": countries[i % 5],
     "created_at": t0 + datetime.timedelta(hours=i), "tags": ["t%d" % (i % 3)],
     "address": {"city": f"City {i % 50}", "zip": f"{10000 + i}"}},
    **({} if i % 10 == 0 else {"email": f"customer{i}@example.com"})) for i in range(1, 1001)])
statuses = ["new", "paid", "shipped", "cancelled"]
db.orders.insert_many([{"_id": i, "customer_id": 1 + i % 1000, "amount": (i % 500) + 0.99,
    "status": statuses[i % 4], "shipped": i % 3 == 0,
    "ordered_at": t0 + datetime.timedelta(minutes=10 * i)} for i in range(1, 5001)])
db["Weird Name"].insert_many([{"_id": 1, "Mixed Case": "one"}, {"_id": 2, "Mixed Case": None},
    {"_id": 3, "Mixed Case": "ünïcödé ✓"}])
db["sales.regions"].insert_many([{"_id": 1, "name": "EMEA"}, {"_id": 2, "name": "AMER"},
    {"_id": 3, "name": "APAC"}])
' "$port" "$pass" "$admin_pass" || { tail -20 "$state/secantusd.log" >&2; die "seeding failed"; }
  stop_pid "$state"

  # 2. Restart with --auth and TLS; check the login works and a wrong one fails.
  launch "$state" "$port" --auth --tls-cert-file "$CERT_DIR/server.pem" --tls-key-file "$CERT_DIR/server.key"
  uri="mongodb://varlor_test:$pass@127.0.0.1:$port/varlor_test?tls=true&tlsCAFile=$CERT_DIR/ca.pem&directConnection=true"
  pyrun '
import sys, pymongo
uri = sys.argv[1]
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=60000)
assert c.varlor_test.customers.count_documents({}) == 1000
bad = pymongo.MongoClient(uri.replace(sys.argv[2], "wrong"), serverSelectionTimeoutMS=10000)
try:
    bad.varlor_test.customers.find_one()
except pymongo.errors.OperationFailure:
    pass
else:
    sys.exit("a wrong password was accepted")
' "$uri" "$pass" || { tail -20 "$state/secantusd.log" >&2; die "auth check failed"; }

  emit VARLOR_TEST_MONGO_HOST 127.0.0.1
  emit VARLOR_TEST_MONGO_PORT "$port"
  emit VARLOR_TEST_MONGO_USER varlor_test
  emit VARLOR_TEST_MONGO_PASSWORD "$pass"
  emit VARLOR_TEST_MONGO_DB varlor_test
  emit VARLOR_TEST_MONGO_ADMIN_USER varlor_admin
  emit VARLOR_TEST_MONGO_ADMIN_PASSWORD "$admin_pass"
  emit VARLOR_TEST_MONGO_URI "$uri"
  emit VARLOR_TEST_MONGO_CA "$CERT_DIR/ca.pem"
  emit VARLOR_TEST_CA "$CERT_DIR/ca.pem"
  emit VARLOR_TEST_MONGO_STATE "$state"
  log "mongo (SecantusDB) ready on 127.0.0.1:$port in $(elapsed "$t0") s (state $state)"
}

# stop_pid STATE — stop the server but keep STATE (used between the two launches).
stop_pid() {
  local pid
  pid=$(cat "$1/pid")
  kill -TERM "$pid"
  for _ in $(seq 150); do alive "$pid" || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}

case ${1:-} in
  start) start ;;
  stop) stop_state "${2:-${VARLOR_TEST_MONGO_STATE:-}}" TERM ;;
  *) die "usage: $0 start|stop [STATE_DIR]" ;;
esac
