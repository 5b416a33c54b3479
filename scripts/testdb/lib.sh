# lib.sh — helpers sourced by postgres.sh, mariadb.sh and mongo.sh (not run directly).
# shellcheck shell=bash
#
# Convention: a sourcing script's stdout carries only `export` lines (for
# `eval`); everything else goes to stderr. lib.sh saves the real stdout as fd 3
# and points fd 1 at stderr, so stray output can never corrupt the eval.
# Daemons must be started with `3>&-` so they do not hold the caller's
# $(...) pipe open.

exec 3>&1 1>&2

TESTDB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The checkout these scripts belong to (scripts/testdb/ -> ../..), for fixtures.
PROJECT_DIR=$(cd "$TESTDB_DIR/../.." && pwd)

log() { printf '[testdb] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root"

# emit NAME VALUE — print one `export` line on the real stdout, shell-quoted.
emit() { printf 'export %s=%q\n' "$1" "$2" >&3; }

# now — seconds since the epoch with fractions, for timings.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# apt_install PKG... — install the packages that are not installed yet.
# Runs `apt-get update` only when the first install attempt fails (no lists).
apt_install() {
  local p missing=()
  for p in "$@"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local install=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
  "${install[@]}" "${missing[@]}" >&2 ||
    { apt-get update -q -o DPkg::Lock::Timeout=300 >&2 && "${install[@]}" "${missing[@]}" >&2; }
}

# free_port — print a TCP port on 127.0.0.1 that is free right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
  local p  # fallback without python: random ports until one refuses connections
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port found"
}

# new_state NAME — make a fresh state dir /tmp/varlor-NAME.XXXXXX with a marker
# file, so that `stop` only ever deletes directories that `start` made.
new_state() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/varlor-$1.XXXXXX")
  touch "$d/.varlor-testdb"
  echo "$d"
}

# on_fail_stop STATE SIGNAL — if `start` exits non-zero from here on, stop what
# it launched and remove STATE, so a failed start leaks no server.
on_fail_stop() {
  # shellcheck disable=SC2064  # expand now: STATE is local to the caller
  trap "rc=\$?; ((rc == 0)) || stop_state '$1' $2" EXIT
}

# certs_into STATE — set CERT_DIR: $VARLOR_TEST_CERT_DIR when given (all.sh shares
# one CA across servers), else STATE/certs. Creates the certificates if needed.
certs_into() {
  CERT_DIR=${VARLOR_TEST_CERT_DIR:-$1/certs}
  bash "$TESTDB_DIR/certs.sh" "$CERT_DIR" 3>&-
}

# wait_until SECONDS CMD... — retry CMD every 0.2 s until it succeeds or time is up.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# alive PID — true while PID runs (a zombie left for an absent reaper counts as gone).
alive() { [[ -r /proc/$1/stat ]] && [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) != Z ]]; }

# stop_state STATE SIGNAL — stop the server whose PID `start` saved in STATE/pid
# (only if its command line still names STATE, so a recycled PID is never hit),
# escalate to SIGKILL after 30 s, then delete STATE.
stop_state() {
  local state=$1 sig=$2 pid
  [[ -n $state ]] || die "no state dir given (pass it or eval the start output first)"
  [[ -f $state/.varlor-testdb ]] || { log "no state at $state (already stopped?)"; return 0; }
  pid=$(cat "$state/pid" 2>/dev/null || true)
  if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$state"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 150); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then
      log "pid $pid did not stop in 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$state"
  log "stopped and removed $state"
}
