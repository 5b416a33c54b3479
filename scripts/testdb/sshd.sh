#!/usr/bin/env bash
# sshd.sh start|stop [STATE_DIR] — throwaway OpenSSH servers for the SSH tunnel tests.
#
#   eval "$(sshd.sh start)"   # prints VARLOR_TEST_SSH_* exports
#   sshd.sh stop              # uses $VARLOR_TEST_SSH_STATE (or STATE_DIR)
#
# Three sshd processes of Debian's openssh-server, each on a free port of
# 127.0.0.1, each with its own config and host key, running unprivileged as
# the user `varlor-sshd` (created if missing; a non-root sshd can only log in its own user, which is
# all the tests need), no PAM, StrictModes off (the files live in a mktemp
# dir), public-key authentication only, with an authorized_keys holding a key
# generated here:
#   bastion  AllowTcpForwarding yes      (VARLOR_TEST_SSH_PORT)
#   jump     AllowTcpForwarding yes      (VARLOR_TEST_SSH_JUMP_PORT, for ProxyJump)
#   nofwd    AllowTcpForwarding no       (VARLOR_TEST_SSH_NOFWD_PORT)
# VARLOR_TEST_SSH_KNOWN_HOSTS lists all three host keys; VARLOR_TEST_SSH_KEY is
# the client's private key (no passphrase); VARLOR_TEST_SSH_USER the login.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SSHD=/usr/sbin/sshd
# A system user of its own: `nobody` is a locked account, which sshd refuses
# without PAM. Its password field is a string no crypt() output can match.
RUN_AS=varlor-sshd
INSTANCES=(bastion jump nofwd)

# start_one STATE NAME FORWARDING — write NAME's config and host key, launch it,
# wait until it answers with its banner; prints its port.
start_one() {
  local state=$1 name=$2 fwd=$3 dir port
  dir=$state/$name
  mkdir -p "$dir"
  port=$(free_port)
  ssh-keygen -q -t ed25519 -N '' -C "varlor-test-$name" -f "$dir/host_key" >/dev/null
  cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $state/authorized_keys
AllowUsers $RUN_AS
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowTcpForwarding $fwd
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
LogLevel VERBOSE
MaxStartups 100:30:200
EOF
  chown -R "$RUN_AS" "$dir"
  chmod 600 "$dir/host_key"
  # -D: stay in the foreground (we hold its PID); -e: log to stderr (our file).
  runuser -u "$RUN_AS" -- "$SSHD" -D -e -f "$dir/sshd_config" \
    </dev/null >>"$dir/sshd.log" 2>&1 3>&- &
  # The banner is the first thing it says: ready when it answers.
  if ! wait_until 20 bash -c "exec 9<>/dev/tcp/127.0.0.1/$port; head -c 4 <&9 | grep -q SSH-"; then
    tail -20 "$dir/sshd.log" >&2
    die "sshd $name did not start"
  fi
  # sshd -D writes its own PID (runuser's child), which `stop` checks and kills.
  cp "$dir/sshd.pid" "$dir/pid"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_key.pub")" >>"$state/known_hosts"
  echo "$port"
}

start() {
  local t0 state port jump_port nofwd_port
  t0=$(now)
  apt_install openssh-server openssh-client python3
  [[ -x $SSHD ]] || die "$SSHD missing after installing openssh-server"
  if ! id -u "$RUN_AS" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_AS"
  fi
  usermod -p 'no-password-can-match-this' "$RUN_AS"
  state=$(new_state sshd)
  # shellcheck disable=SC2064  # expand now
  trap "rc=\$?; ((rc == 0)) || stop '$state'" EXIT
  chmod 755 "$state"  # so non-root test runners can read the keys and known_hosts
  ssh-keygen -q -t ed25519 -N '' -C varlor-test-client -f "$state/client_key" >/dev/null
  cp "$state/client_key.pub" "$state/authorized_keys"
  : >"$state/known_hosts"
  # ssh wants its own key 0600; tests copy it into a throwaway HOME.
  chmod 600 "$state/client_key"
  chmod 644 "$state/authorized_keys" "$state/known_hosts"
  chown "$RUN_AS" "$state/authorized_keys"

  port=$(start_one "$state" bastion yes)
  jump_port=$(start_one "$state" jump yes)
  nofwd_port=$(start_one "$state" nofwd no)
  # Check that a login really works (key, user, config) before saying ready.
  timeout 20 ssh -F /dev/null -i "$state/client_key" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$state/known_hosts" -o StrictHostKeyChecking=yes \
    -p "$port" -W 127.0.0.1:"$port" "$RUN_AS@127.0.0.1" </dev/null 2>"$state/check.log" |
    head -c 4 | grep -q SSH- ||
    { cat "$state/check.log" >&2; tail -20 "$state/bastion/sshd.log" >&2; die "login to the test sshd failed"; }

  emit VARLOR_TEST_SSH_HOST 127.0.0.1
  emit VARLOR_TEST_SSH_PORT "$port"
  emit VARLOR_TEST_SSH_JUMP_PORT "$jump_port"
  emit VARLOR_TEST_SSH_NOFWD_PORT "$nofwd_port"
  emit VARLOR_TEST_SSH_USER "$RUN_AS"
  emit VARLOR_TEST_SSH_KEY "$state/client_key"
  emit VARLOR_TEST_SSH_KNOWN_HOSTS "$state/known_hosts"
  emit VARLOR_TEST_SSH_STATE "$state"
  log "sshd ready on 127.0.0.1:$port (jump $jump_port, no forwarding $nofwd_port) in $(elapsed "$t0") s (state $state)"
}

# stop STATE — stop every instance whose PID file names STATE, then remove STATE.
stop() {
  local state=$1 name pid
  [[ -n $state ]] || die "no state dir given (pass it or eval the start output first)"
  [[ -f $state/.varlor-testdb ]] || { log "no state at $state (already stopped?)"; return 0; }
  for name in "${INSTANCES[@]}"; do
    pid=$(cat "$state/$name/pid" 2>/dev/null || true)
    [[ -n $pid ]] || continue
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$state"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
      alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$state"
  log "stopped and removed $state"
}

case ${1:-} in
  start) start ;;
  stop) stop "${2:-${VARLOR_TEST_SSH_STATE:-}}" ;;
  *) die "usage: $0 start|stop [STATE_DIR]" ;;
esac
