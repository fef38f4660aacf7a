#!/usr/bin/env bash
# A real one-node SLURM on this machine, to test the pipeline's cluster modes against (issue 14).
#
#   bench/slurm/local_slurm.sh start    install SLURM and MUNGE from the distribution's packages if
#                                        missing, write a one-node configuration (this machine's cores
#                                        and memory, KillWait 5 s, OverTimeLimit 0), start munged,
#                                        slurmctld and slurmd without systemd, wait until sinfo shows
#                                        the node idle; prints `export SLURM_CONF=...`
#   bench/slurm/local_slurm.sh stop     stop the daemons it started (by their pid files)
#   bench/slurm/local_slurm.sh status   sinfo and squeue
#
# Root only (or a user with sudo: run it with sudo): the daemons run as root.
# Everything lives in $DEEPSIF_SLURM_DIR (default /tmp/deepsif-slurm): the configuration
# (slurm.conf; commands find it through SLURM_CONF), state, spool, logs and pid files. Nothing is
# written to /etc/slurm, so a machine's own SLURM configuration is never touched; a slurmctld
# already running that this script did not start makes it stop with an error.
#
# Works in a container without systemd or cgroups: processes are tracked through their parent
# pids (ProctrackType=proctrack/linuxproc), no task confinement (TaskPlugin=task/none), no
# accounting (no slurmdbd: sacct does not work, `scontrol show job` does for MinJobAge seconds).
set -euo pipefail

DIR="${DEEPSIF_SLURM_DIR:-/tmp/deepsif-slurm}"
CONF="$DIR/slurm.conf"
KILL_WAIT="${DEEPSIF_SLURM_KILL_WAIT:-5}"
PACKAGES=(slurmctld slurmd slurm-client munge)

die() { echo "local_slurm: $*" >&2; exit 1; }

sudo_prefix() { if [ "$(id -u)" -ne 0 ]; then die "run as root (or with sudo): the SLURM daemons run as root"; fi; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install ${missing[*]} by hand"
    echo "local_slurm: installing ${missing[*]} from the distribution's packages"
    apt-get update -qq
    # policy-rc.d may refuse to start the services (containers): that is fine, they are started below
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

write_conf() {
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc --all)"
  # what slurmd itself detects (RealMemory in MB), less 512 MB for the system
  mem="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)"
  mem=$(( mem > 1024 ? mem - 512 : mem ))
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/jobs"
  cat > "$CONF" <<EOF
# Written by bench/slurm/local_slurm.sh: one node, this machine.
ClusterName=deepsif
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again after the credential lifetime (default 120 s)
AuthInfo=cred_expire=10
CryptoType=crypto/munge
MpiDefault=none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=debug2
MailProg=/bin/true
SlurmdDebug=info
SlurmctldPort=6817
SlurmdPort=6818
# no systemd, no cgroups in a container: track a job's processes by their parent pids
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# a job over its time limit gets SIGTERM at once, SIGKILL $KILL_WAIT s later
KillWait=$KILL_WAIT
OverTimeLimit=0
# finished jobs stay visible to scontrol for 10 minutes
MinJobAge=600
ReturnToService=2
InactiveLimit=0
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0  # a munged is running
  fi
  [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force 2>/dev/null || \
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  touch "$DIR/munged.started"  # so that stop stops it
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged did not start (see /var/log/munge/munged.log)"
}

start() {
  sudo_prefix
  install_packages
  if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid"; then
    echo "local_slurm: already running ($CONF)"
  else
    if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
      die "a slurmctld or slurmd not started by this script is running: stop it first"
    fi
    mkdir -p "$DIR"
    # fresh logs: the tests read slurmctld's (its time-limit checks)
    for log in "$DIR/slurmctld.log" "$DIR/slurmd.log"; do [ -f "$log" ] && mv "$log" "$log.old"; done
    write_conf
    start_munge
    # -i: ignore state left by an earlier run of this script; -c: clear the job state
    /usr/sbin/slurmctld -f "$CONF" -i -c || die "slurmctld did not start (see $DIR/slurmctld.log)"
    /usr/sbin/slurmd -f "$CONF" || die "slurmd did not start (see $DIR/slurmd.log)"
  fi
  local state=""
  for _ in $(seq 300); do
    state="$(SLURM_CONF="$CONF" sinfo -h -o %t 2>/dev/null | head -1 || true)"
    [ "$state" = "idle" ] && break
    sleep 0.1
  done
  [ "$state" = "idle" ] || die "the node is not idle after 30 s (state '${state:-none}'; see $DIR/slurmctld.log and $DIR/slurmd.log)"
  echo "local_slurm: node $(hostname -s) idle; export SLURM_CONF=$CONF"
}

stop() {
  sudo_prefix
  local pidfile pid
  for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
    if pid_alive "$pidfile"; then
      pid="$(cat "$pidfile")"
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  done
  if [ -f "$DIR/munged.started" ]; then
    [ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    rm -f "$DIR/munged.started"
  fi
  echo "local_slurm: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF="$CONF" sinfo && SLURM_CONF="$CONF" squeue ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
