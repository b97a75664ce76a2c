#!/usr/bin/env bash
# A real Slurm cluster of N nodes on this one machine, to try the kit's sbatch scripts and submitter without a
# cluster, and for the integration tests.
#
#   sudo scripts/local_slurm.sh up       # install (Debian/Ubuntu apt), configure, start; idempotent
#   sudo scripts/local_slurm.sh status   # daemons and nodes
#   sudo scripts/local_slurm.sh down     # stop the daemons this script started
#
# Nodes n1..nN are N slurmd processes on 127.0.0.1 (Debian's slurm-wlm is built with multiple-slurmd), each
# with its own port; the names resolve through a marked line in /etc/hosts (torch's MASTER_ADDR is a node
# name). Accounting (slurmdbd + MariaDB) is on, because submitit asks `sacct` for job states.
#
# Knobs: WILSS_SLURM_NODES (2), WILSS_SLURM_CPUS (CPUs declared per node, default nproc),
#        WILSS_SLURM_REQUEUE_DELAY (seconds a requeued job waits before it may start again, default 10;
#        Slurm's default is 120 s through AuthInfo cred_expire).
# It also adds a QOS and a node feature, both named wilss-test, for the tests of sbatch options, and QOS
# preemption as scavenger queues have it: jobs of wilss-urgent preempt those of wilss-scavenger (cancelled, no
# grace time: Slurm's default), wilss-scavenger-grace (cancelled after a 30 s grace time) and
# wilss-scavenger-requeue (requeued).
set -euo pipefail

NODES="${WILSS_SLURM_NODES:-2}"
CPUS="${WILSS_SLURM_CPUS:-$(nproc)}"
REQUEUE_DELAY="${WILSS_SLURM_REQUEUE_DELAY:-10}"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
DB_PASSWORD=wilss-local-slurm
HOSTS_TAG="# wilss local slurm"
PORT0=17100
TEST_TAG=wilss-test  # the QOS and node feature the tests ask for

say() { echo "[local_slurm] $*"; }
fail() { echo "[local_slurm] error: $*" >&2; exit 1; }

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {  # stop the daemon whose pid file is $1, by pid only
  local pid
  if running "$1"; then
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# Slurm clients retry for minutes while slurmctld is down: every probe is time-boxed.
until_true() {  # until_true SECONDS COMMAND...
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}
controller_up() { timeout 10 scontrol ping | grep -q 'is UP'; }
nodes_ready() {
  [ "$(timeout 10 sinfo -h -t idle,mixed,allocated -o '%D' | awk '{n += $1} END {print n + 0}')" -ge "$NODES" ]
}
dbd_listening() { (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null; }

install_packages() {
  local missing=() package
  for package in munge slurmctld slurmd slurm-client slurmdbd mariadb-server; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  command -v apt-get >/dev/null || fail "apt-get not found: install ${missing[*]} with your package manager"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

slurm_conf() {
  local memory host
  memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
  host="$(hostname -s)"
  cat <<EOF
# written by wilss scripts/local_slurm.sh
ClusterName=wilss
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=$REQUEUE_DELAY
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmdTimeout=300
KillWait=10
MinJobAge=300
JobRequeue=1
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd/%n
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
PreemptType=preempt/qos
PreemptMode=REQUEUE
EOF
  for i in $(seq "$NODES"); do
    echo "NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((PORT0 + i)) CPUs=$CPUS" \
      "RealMemory=$((memory * 9 / 10 / NODES)) State=UNKNOWN"
  done
  echo "PartitionName=debug Nodes=n[1-$NODES] Default=YES MaxTime=INFINITE State=UP"
}

dbd_conf() {
  cat <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
}

write_if_changed() {  # write_if_changed FILE MODE CONTENT; returns 0 when the file changed
  [ -f "$1" ] && [ "$(cat "$1")" = "$3" ] && return 1
  printf '%s\n' "$3" >"$1"
  chmod "$2" "$1"
}

start_munge() {
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  running /run/munge/munged.pid && return
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged
  until_true 10 sh -c 'munge -n | unmunge' || fail "munge does not work"
}

start_accounting() {
  if ! mysqladmin ping >/dev/null 2>&1; then
    say "starting mariadb"
    /etc/init.d/mariadb start >/dev/null
    until_true 30 mysqladmin ping || fail "mariadb did not start"
  fi
  mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  if write_if_changed "$DBD_CONF" 600 "$(dbd_conf)"; then stop /run/slurmdbd.pid; fi
  chown slurm:slurm "$DBD_CONF"
  running /run/slurmdbd.pid && return
  say "starting slurmdbd"
  slurmdbd
  until_true 60 dbd_listening || fail "slurmdbd is not listening (see /var/log/slurm/slurmdbd.log)"
}

start_slurm() {
  local i changed=0
  mkdir -p /var/lib/slurm/slurmctld /var/log/slurm
  chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
  for i in $(seq "$NODES"); do mkdir -p "/var/lib/slurm/slurmd/n$i"; done
  write_if_changed "$CONF" 644 "$(slurm_conf)" && changed=1
  if [ "$changed" = 1 ]; then
    say "configuration changed: restarting the Slurm daemons"
    for pidfile in /run/slurmd-n*.pid; do [ -e "$pidfile" ] && stop "$pidfile"; done
    stop /run/slurmctld.pid
  fi
  if running /run/slurmctld.pid && ! until_true 15 controller_up; then stop /run/slurmctld.pid; fi
  if ! running /run/slurmctld.pid; then
    say "starting slurmctld"
    slurmctld
    until_true 30 controller_up || fail "slurmctld is not up (see /var/log/slurm/slurmctld.log)"
  fi
  for i in $(seq "$NODES"); do
    running "/run/slurmd-n$i.pid" || { say "starting slurmd n$i"; slurmd -N "n$i"; }
  done
  for i in $(seq "$NODES"); do  # nodes left down by an earlier run
    case "$(timeout 10 sinfo -h -n "n$i" -o '%T' || true)" in
      *down* | *drain* | *fail*) scontrol update NodeName="n$i" State=RESUME || true ;;
    esac
  done
  until_true 60 nodes_ready || { timeout 10 sinfo -N; fail "the nodes did not become ready"; }
}

# A QOS and a node feature that the tests request (sbatch --qos / --constraint must reach later steps of a
# chain). Added at run time, through the accounting database and scontrol, so that slurm.conf, and with it
# every running job, stays as it is.
test_qos_and_feature() {
  timeout 30 sacctmgr -n -P show qos format=name | grep -qx "$TEST_TAG" || timeout 30 sacctmgr -i add qos "$TEST_TAG" >/dev/null
  timeout 30 sacctmgr -i modify user root set qos+="$TEST_TAG" >/dev/null || true  # "nothing modified" when set
  timeout 10 scontrol update NodeName="n[1-$NODES]" AvailableFeatures="$TEST_TAG" ActiveFeatures="$TEST_TAG"
}

# QOS preemption (the QOS live in the accounting database; slurm.conf only names the preempt/qos plugin).
preemption_qos() {
  local existing
  existing="$(timeout 30 sacctmgr -n -P show qos format=name)"
  add_qos() {
    grep -qx "$1" <<<"$existing" || timeout 30 sacctmgr -i add qos "$1" >/dev/null
    timeout 30 sacctmgr -i modify qos "$1" set "${@:2}" >/dev/null || true  # "nothing modified" when set
  }
  add_qos wilss-scavenger PreemptMode=cancel GraceTime=0
  add_qos wilss-scavenger-grace PreemptMode=cancel GraceTime=30
  add_qos wilss-scavenger-requeue PreemptMode=requeue GraceTime=0
  add_qos wilss-urgent Priority=1000 Preempt=wilss-scavenger,wilss-scavenger-grace,wilss-scavenger-requeue
  timeout 30 sacctmgr -i modify user root \
    set qos+=wilss-scavenger,wilss-scavenger-grace,wilss-scavenger-requeue,wilss-urgent >/dev/null || true
}

resolve_node_names() {
  local line
  line="127.0.0.1 $(seq -f 'n%g' -s ' ' 1 "$NODES") $HOSTS_TAG"
  grep -qxF "$line" /etc/hosts && return
  sed -i "/$HOSTS_TAG/d" /etc/hosts
  echo "$line" >>/etc/hosts
}

up() {
  local start=$SECONDS
  install_packages
  resolve_node_names
  start_munge
  start_accounting
  start_slurm
  test_qos_and_feature
  preemption_qos
  say "ready in $((SECONDS - start)) s: $NODES nodes, partition debug"
  timeout 10 sinfo -N -o '%N %T %c %m'
}

status() {
  local pidfile
  for pidfile in /run/munge/munged.pid /run/mysqld/mysqld.pid /run/slurmdbd.pid /run/slurmctld.pid /run/slurmd-n*.pid; do
    [ -e "$pidfile" ] || continue
    if running "$pidfile"; then echo "up    $pidfile"; else echo "DEAD  $pidfile"; fi
  done
  timeout 10 sinfo -N -o '%N %T %c %m' || true
}

down() {
  local pidfile
  for pidfile in /run/slurmd-n*.pid /run/slurmctld.pid /run/slurmdbd.pid; do [ -e "$pidfile" ] && stop "$pidfile"; done
  if [ -s /run/mysqld/mysqld.pid ]; then /etc/init.d/mariadb stop >/dev/null 2>&1 || true; fi
  stop /run/munge/munged.pid
  say "stopped"
}

case "${1:-}" in
  up) [ "$(id -u)" = 0 ] || fail "run as root (it installs packages and starts daemons)"; up ;;
  status) status ;;
  down) [ "$(id -u)" = 0 ] || fail "run as root"; down ;;
  *) fail "usage: $0 up|status|down" ;;
esac
