#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for testing `taufm grid --cluster-config grids/clusters/slurm-local.yaml`
# against a real scheduler (tests/test_slurm.py, `make test` where root).
#
#   tools/slurm_local.sh install   # apt-get the Debian packages (slurmctld slurmd slurm-client munge) if missing; root only
#   tools/slurm_local.sh start     # install if needed, write the config, start munged, slurmctld, slurmd; wait for the node
#   tools/slurm_local.sh stop      # cancel its jobs, stop the daemons it started (by their pid files)
#   tools/slurm_local.sh status    # sinfo / squeue
#
# Every command is idempotent: `start` on a running cluster only checks it, `stop` on a stopped one does nothing.
# Exit status: 0 ok; 3 = cannot run here (not root, no apt-get, packages not installable, a site's own slurm.conf):
# the reason is the last line on stderr and tests skip; anything else is an error (log: $STATE/*.log).
#
# The cluster: node `localhost` (127.0.0.1) with this machine's CPUs and ~90% of its memory, one partition `local`,
# SlurmUser=root, ProctrackType=proctrack/linuxproc, TaskPlugin=task/none (no cgroups: works in containers), no
# accounting. The config is /etc/slurm/slurm.conf (where the clients look) carrying the marker line below; a
# slurm.conf without the marker is a site's and is never touched. State, spool and logs live in $STATE.
set -uo pipefail

STATE=${TAUFM_SLURM_STATE:-/var/tmp/taufm-slurm}
CONF=/etc/slurm/slurm.conf
MARKER='# taufm_nb local test cluster (tools/slurm_local.sh)'
PARTITION=local
PACKAGES=(slurmctld slurmd slurm-client munge)
APT_UPDATE_TIMEOUT=${TAUFM_SLURM_APT_UPDATE_TIMEOUT:-240}
APT_INSTALL_TIMEOUT=${TAUFM_SLURM_APT_INSTALL_TIMEOUT:-420}
START_TIMEOUT=${TAUFM_SLURM_START_TIMEOUT:-90}

say() { echo "[slurm_local] $*" >&2; }
cannot() { say "cannot run a local SLURM cluster here: $*"; exit 3; }
fail() { say "error: $*"; exit 1; }
have_all() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
             command -v scancel >/dev/null && command -v munged >/dev/null; }
alive() {   # alive PIDFILE: the daemon named like the file (slurmd.pid -> slurmd) runs with that pid (not a reused pid)
  [ -s "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ]
}

install() {
  if have_all; then return 0; fi
  [ "$(id -u)" = 0 ] || cannot "not root, and the SLURM packages (${PACKAGES[*]}) are missing"
  command -v apt-get >/dev/null || cannot "no apt-get to install ${PACKAGES[*]}"
  mkdir -p "$STATE"
  local log=$STATE/apt.log t0=$SECONDS
  say "installing ${PACKAGES[*]} with apt-get (log: $log)"
  export DEBIAN_FRONTEND=noninteractive
  # the package lists may be missing or stale on a fresh machine: update first only if a plain install fails
  if ! timeout "$APT_INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$log" 2>&1; then
    { timeout "$APT_UPDATE_TIMEOUT" apt-get update -qq &&
      timeout "$APT_INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; } >>"$log" 2>&1 \
      || cannot "apt-get install ${PACKAGES[*]} failed or timed out (log: $log)"
  fi
  have_all || cannot "the packages installed but sbatch/slurmctld/slurmd/munged are still missing (log: $log)"
  say "installed in $((SECONDS - t0)) s"
}

write_conf() {
  if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    cannot "$CONF exists and is not ours (a site's SLURM config): not touching it"
  fi
  local cpus mem
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # GNU nproc obeys OMP_NUM_THREADS (=1 under tests)
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  local tmp=$CONF.tmp.$$
  cat >"$tmp" <<EOF
$MARKER: rewritten on every start; remove this line to keep edits (the script then refuses to touch the file)
ClusterName=taufm-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
KillWait=5
MinJobAge=60
SlurmctldTimeout=30
SlurmdTimeout=30
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -e "$CONF" ] && cmp -s "$tmp" "$CONF"; then rm -f "$tmp"; else mv "$tmp" "$CONF"; CONF_CHANGED=1; fi
}

wait_for() {   # wait_for SECONDS WHAT CMD...: poll CMD every 0.5 s
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -1; }
node_ok() { case "$(node_state)" in idle*|mixed*|allocated*|completing*) return 0;; *) return 1;; esac; }

start() {
  [ "$(id -u)" = 0 ] || { ctld_ok && node_ok && { say "a local cluster is already up"; return 0; }; cannot "not root (needed to start munged, slurmctld, slurmd)"; }
  install
  local t0=$SECONDS was_up=
  ctld_ok && node_ok && alive "$STATE/slurmd.pid" && was_up=1
  mkdir -p "$STATE"
  write_conf
  # munge: the authentication of every SLURM message
  if ! munge_ok; then
    mkdir -p /run/munge /var/lib/munge /var/log/munge && chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
      mkdir -p /etc/munge && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
      chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid >>"$STATE/munged.start.log" 2>&1 9>&- ||
      fail "munged did not start (see $STATE/munged.start.log, /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$STATE/munged.pid" 2>/dev/null    # ours: `stop` ends it
    wait_for 20 munged munge_ok || fail "munged is not answering (see /var/log/munge/munged.log)"
  fi
  if ! ctld_ok; then
    alive "$STATE/slurmctld.pid" && { kill "$(cat "$STATE/slurmctld.pid")"; sleep 1; }
    slurmctld -i >>"$STATE/slurmctld.start.log" 2>&1 9>&- </dev/null || fail "slurmctld did not start (see $STATE/slurmctld.log)"
    wait_for 30 slurmctld ctld_ok || fail "slurmctld is not answering (see $STATE/slurmctld.log)"
  elif [ -n "${CONF_CHANGED:-}" ]; then
    scontrol reconfigure >/dev/null 2>&1 || true        # a running slurmctld picks up the rewritten slurm.conf
  fi
  if ! alive "$STATE/slurmd.pid"; then
    slurmd -N localhost >>"$STATE/slurmd.start.log" 2>&1 9>&- </dev/null || fail "slurmd did not start (see $STATE/slurmd.log)"
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until node_ok; do
    case "$(node_state)" in
      down*|drain*|drained*|fail*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 ;;
    esac
    [ $SECONDS -lt $deadline ] || fail "node localhost is '$(node_state)' after ${START_TIMEOUT} s (see $STATE/slurmd.log, $STATE/slurmctld.log)"
    sleep 0.5
  done
  [ -n "$was_up" ] && [ -z "${CONF_CHANGED:-}" ] && { say "already up: partition '$PARTITION', node localhost"; return 0; }
  say "up in $((SECONDS - t0)) s: partition '$PARTITION', node localhost ($(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) CPUs); stop with: $0 stop"
}

stop() {
  if command -v scancel >/dev/null && ctld_ok; then
    scancel --partition "$PARTITION" >/dev/null 2>&1 || true
  fi
  local name pidf pid
  for name in slurmd slurmctld munged; do
    pidf=$STATE/$name.pid
    if alive "$pidf"; then
      pid=$(cat "$pidf"); kill "$pid" 2>/dev/null
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
      say "stopped $name (pid $pid)"
    fi
    rm -f "$pidf"
  done
}

status() {
  command -v sinfo >/dev/null || { say "not installed"; return 1; }
  ctld_ok || { say "slurmctld is not running"; return 1; }
  sinfo; squeue
}

cmd=${1:-}
case "$cmd" in
  install|start|stop|status)
    mkdir -p "$STATE" 2>/dev/null || [ "$cmd" = status ] || cannot "cannot create $STATE"
    if [ -d "$STATE" ] && [ -w "$STATE" ]; then
      exec 9>"$STATE/.lock"; flock -w 600 9 || fail "another tools/slurm_local.sh holds $STATE/.lock"   # one at a time
    fi
    "$cmd" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
