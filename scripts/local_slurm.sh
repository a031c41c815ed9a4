#!/usr/bin/env bash
# A real single-machine Slurm cluster for tests: Debian's slurm-wlm 22.05 (slurmctld + slurmd), slurmdbd
# with MariaDB (snakemake-executor-plugin-slurm reads job states with sacct, which needs accounting),
# munge, and fake GPUs registered as GRES. Everything (config, sockets, state, logs, database) lives
# under one directory, on non-default ports, so it never touches the system's Slurm or MySQL.
#
#   scripts/local_slurm.sh install           apt-get install the Debian packages (root)
#   scripts/local_slurm.sh start DIR         write the configs, start the daemons, wait until the node
#                                            is idle; DIR/env.sh exports SLURM_CONF for clients
#   scripts/local_slurm.sh stop DIR          stop the daemons this script started (by their PID files)
#   scripts/local_slurm.sh status DIR        sinfo / squeue of the cluster
#
# Environment: SLURM_CI_PORT (first of 4 ports, default 16817: slurmctld, slurmd, slurmdbd, mariadb+?),
# SLURM_CI_GPUS (fake GPUs per node, default 2), SLURM_CI_CPUS (CPUs declared per node, default 8 — more
# than the machine may have, so light test jobs run side by side; slurmd takes the configured values),
# SLURM_CI_NODES (default 1; more starts one slurmd per node on this host, each on its own port, for
# multi-node allocations).
#
# Fake GPUs: gres.conf names one character device per GPU (made with `mknod DIR/dev/gpuN c 1 3`, the
# /dev/null device) with AutoDetect=off; a GRES with only a Count and no File registers 0 GPUs and
# drains the node. Jobs asking for GPUs (--gpus / --gres=gpu:N) are then scheduled like on a GPU node
# (CUDA_VISIBLE_DEVICES is set), while the programs themselves run on the CPU.
set -euo pipefail

log() { echo "[local_slurm] $*" >&2; }
die() { log "$*"; exit 1; }

PKGS=(slurm-wlm slurmdbd munge mariadb-server)

install() {
  if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v munged >/dev/null \
    && command -v mariadbd >/dev/null; then
    log "Slurm, slurmdbd, munge and MariaDB are installed"
    return
  fi
  [ "$(id -u)" = 0 ] || die "installing ${PKGS[*]} needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting
  apt-get install -y -qq "${PKGS[@]}" >/dev/null
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  local deadline=$((SECONDS + t))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "timed out after ${t}s waiting for $what"
}

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  local port=${SLURM_CI_PORT:-16817}
  local ctld_port=$port slurmd_port=$((port + 1)) dbd_port=$((port + 2)) db_port=$((port + 3))
  local gpus=${SLURM_CI_GPUS:-2} cpus=${SLURM_CI_CPUS:-8} n_nodes=${SLURM_CI_NODES:-1}
  local node host
  host=$(hostname -s)
  node=$host
  # several nodes: one slurmd per node on this host, each on its own port (NodeHostname = this host)
  local nodes=("$host")
  if [ "$n_nodes" -gt 1 ]; then
    nodes=()
    for ((i = 1; i <= n_nodes; i++)); do nodes+=("ci$i"); done
  fi
  local mem_mb
  mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  mkdir -p "$dir"/{etc,run,log,state,spool,munge,mysql,dev,tmp}
  chmod 700 "$dir/munge"

  # --- munge
  if ! pid_alive "$dir/run/munged.pid"; then
    [ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; }
    chmod 400 "$dir/munge/munge.key"
    munged --force --socket="$dir/run/munge.sock" --key-file="$dir/munge/munge.key" \
      --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
    wait_for 20 munged test -S "$dir/run/munge.sock"
  fi

  # --- MariaDB for slurmdbd
  if ! pid_alive "$dir/run/mariadbd.pid"; then
    if [ ! -d "$dir/mysql/mysql" ]; then
      mariadb-install-db --datadir="$dir/mysql" --user=root --auth-root-authentication-method=socket \
        --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $dir/log)"
    fi
    mariadbd --no-defaults --datadir="$dir/mysql" --socket="$dir/run/mysql.sock" --port="$db_port" \
      --bind-address=127.0.0.1 --pid-file="$dir/run/mariadbd.pid" --log-error="$dir/log/mariadb.log" \
      --user=root --innodb-buffer-pool-size=64M --skip-name-resolve >/dev/null 2>&1 &
    wait_for 60 MariaDB mariadb --no-defaults --socket="$dir/run/mysql.sock" -uroot -e "select 1"
    mariadb --no-defaults --socket="$dir/run/mysql.sock" -uroot <<SQL
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-ci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
  fi

  # --- fake GPU devices and the configs
  for ((i = 0; i < gpus; i++)); do
    [ -c "$dir/dev/gpu$i" ] || mknod "$dir/dev/gpu$i" c 1 3
  done
  local gpu_files="$dir/dev/gpu[0-$((gpus - 1))]"
  [ "$gpus" = 1 ] && gpu_files="$dir/dev/gpu0"
  cat >"$dir/etc/slurm.conf" <<EOF
ClusterName=rlci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/run/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd.%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.%n.log
TmpFS=$dir/tmp
PlugStackConfig=$dir/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
KillWait=10
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$dir/run/munge.sock
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
GresTypes=gpu
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  echo "AutoDetect=off" >"$dir/etc/gres.conf"
  local k=0
  for n in "${nodes[@]}"; do
    if [ "$n_nodes" -gt 1 ]; then
      echo "NodeName=$n NodeHostname=$host NodeAddr=127.0.0.1 Port=$((slurmd_port + 10 + k)) CPUs=$cpus RealMemory=$((mem_mb / n_nodes)) Gres=gpu:$gpus State=UNKNOWN" >>"$dir/etc/slurm.conf"
    else
      echo "NodeName=$n NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$gpus State=UNKNOWN" >>"$dir/etc/slurm.conf"
    fi
    echo "NodeName=$n Name=gpu File=$gpu_files" >>"$dir/etc/gres.conf"
    k=$((k + 1))
  done
  : >"$dir/etc/plugstack.conf"
  cat >"$dir/etc/slurmdbd.conf" <<EOF
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/run/munge.sock
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"
  # client commands that find this cluster's config even where SLURM_* variables are scrubbed (the
  # executor plugin's job step drops them before its nested srun; real clusters read /etc/slurm)
  mkdir -p "$dir/bin"
  for c in srun sbatch salloc squeue sacct sacctmgr scontrol sinfo scancel sstat; do
    local real
    real=$(type -ap "$c" | grep -v "^$dir/bin/" | head -n 1)
    [ -n "$real" ] || die "$c not found"
    printf '#!/bin/sh\nSLURM_CONF=%s/etc/slurm.conf exec %s "$@"\n' "$dir" "$real" >"$dir/bin/$c"
    chmod 755 "$dir/bin/$c"
  done
  cat >"$dir/env.sh" <<EOF
export SLURM_CONF=$dir/etc/slurm.conf
export PATH=$dir/bin:\$PATH
EOF
  export SLURM_CONF="$dir/etc/slurm.conf"

  # --- slurmdbd, the cluster's accounts, slurmctld, slurmd
  if ! pid_alive "$dir/run/slurmdbd.pid"; then
    slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
    wait_for 60 slurmdbd sacctmgr -n list cluster
  fi
  sacctmgr -i add cluster rlci >/dev/null 2>&1 || true
  sacctmgr -i add account rlci-ci Description=ci Organization=ci >/dev/null 2>&1 || true
  sacctmgr -i add user "$(id -un)" account=rlci-ci DefaultAccount=rlci-ci >/dev/null 2>&1 || true
  if ! pid_alive "$dir/run/slurmctld.pid"; then
    slurmctld -f "$dir/etc/slurm.conf"
    wait_for 60 slurmctld scontrol ping
  fi
  for n in "${nodes[@]}"; do
    pid_alive "$dir/run/slurmd.$n.pid" || slurmd -f "$dir/etc/slurm.conf" -N "$n"
  done
  wait_for 60 "${#nodes[@]} node(s) to register" sh -c \
    "[ \$(sinfo -h -N -o '%t' | grep -cvE 'unk|down|drain|fail|inval|n/a') -ge ${#nodes[@]} ]"
  for n in "${nodes[@]}"; do scontrol update nodename="$n" state=resume >/dev/null 2>&1 || true; done
  wait_for 30 "the node(s) to be idle" sh -c \
    "[ \$(sinfo -h -N -o '%t' | grep -cE 'idle|mix|alloc') -ge ${#nodes[@]} ]"
  log "cluster up: $(sinfo -h -N -o '%N %t cpus=%c gres=%G')"
  log "clients: source $dir/env.sh"
}

stop() {
  local dir=$1 status=0
  [ -d "$dir" ] || return 0
  local slurmds=()
  for f in "$dir"/run/slurmd.*.pid; do [ -e "$f" ] && slurmds+=("$(basename "$f" .pid)"); done
  for name in "${slurmds[@]}" slurmctld slurmdbd mariadbd munged; do
    local pidfile="$dir/run/$name.pid"
    if pid_alive "$pidfile"; then
      local pid
      pid=$(cat "$pidfile")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then
        log "$name ($pid) ignored TERM; killing"
        kill -KILL "$pid" 2>/dev/null || status=1
      fi
      log "stopped $name ($pid)"
    fi
  done
  return $status
}

cmd=${1:-}
case "$cmd" in
  install) install ;;
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  status) [ $# -eq 2 ] || die "usage: $0 status DIR"; export SLURM_CONF="$2/etc/slurm.conf"; sinfo; squeue ;;
  *) die "usage: $0 {install|start DIR|stop DIR|status DIR}" ;;
esac
