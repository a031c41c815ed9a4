#!/usr/bin/env bash
# Run a command on a Ray cluster spanning the current Slurm allocation (multi-node verl training).
#
#   ray_slurm_launch.sh [--gpus-per-node G] [--num-cpus C] [--port P] [--timeout S]
#                       [--python PY] [--ray RAY] -- COMMAND [ARGS...]
#
# Inside one allocation (sbatch --nodes=N --ntasks=N; profiles/slurm submits multi-node sizes that
# way and runs the job's command in the batch step, on the first node):
#   1. lists the allocation's hosts, one per array element (`scontrol show hostnames`; the official
#      verl recipe's `nodes_array=("$nodes")` makes ONE element holding every name, so its
#      `srun -w "$head_node"` addresses all nodes at once);
#   2. starts the Ray head on the first host and one Ray worker on each other host, each in its own
#      `srun --nodes=1 --ntasks=1 -w HOST` job step, with a fixed CPU count (--num-cpus, default
#      $SLURM_CPUS_PER_TASK: Ray must not claim every core of a shared node) and the node's GPUs;
#   3. waits until all N nodes have joined (or fails after --timeout seconds), starting the head again
#      (on the next port) when it exits during start-up: a loaded node can miss Ray's fixed 30 s for
#      its raylet to register;
#   4. runs COMMAND with RAY_ADDRESS set (verl's ray.init() then joins this cluster), and a token of
#      this job that every process of the cluster authenticates with (RAY_AUTH_MODE=token);
#   5. on exit, failure or signal, stops the Ray job steps (TERM, then KILL) and cleans its temp dir.
# The exit status is COMMAND's (or 1 when the cluster never came up).
set -euo pipefail

log() { echo "[ray_slurm_launch] $*" >&2; }

GPUS=${SLURM_GPUS_ON_NODE:-0}
CPUS=${SLURM_CPUS_PER_TASK:-1}
PORT=""
TIMEOUT=300
PY=""
RAY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus-per-node) GPUS=$2; shift 2 ;;
    --num-cpus) CPUS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --ray) RAY=$2; shift 2 ;;
    --) shift; break ;;
    *) log "unknown option $1 (the command follows --)"; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { log "no command given after --"; exit 2; }
[ -n "${SLURM_JOB_ID:-}" ] || { log "not inside a Slurm allocation (SLURM_JOB_ID unset)"; exit 2; }
GPUS=${GPUS##*:}  # SLURM_GPUS_ON_NODE may read "gpu:8" on some sites

# the interpreter and ray CLI of the trainer's environment
if [ -z "$PY" ]; then
  case "$(basename "$1")" in python*) PY=$1 ;; *) PY=$(command -v python3) ;; esac
fi
if [ -z "$RAY" ]; then
  if [ -x "$(dirname "$PY")/ray" ]; then RAY="$(dirname "$PY")/ray"; else RAY=ray; fi
fi

# Snakemake's Slurm job step scrubs most SLURM_* variables before running the rule: ask the controller
NODELIST=${SLURM_JOB_NODELIST:-$(squeue -h -j "$SLURM_JOB_ID" -o %N 2>/dev/null || true)}
[ -n "$NODELIST" ] || { log "cannot find the allocation's nodes (SLURM_JOB_NODELIST unset, squeue failed)"; exit 2; }
mapfile -t NODES < <(scontrol show hostnames "$NODELIST")
N=${#NODES[@]}
[ "$N" -ge 1 ] || { log "empty node list"; exit 2; }
HEAD=${NODES[0]}
[ -n "$PORT" ] || PORT=$(( 20000 + SLURM_JOB_ID % 20000 ))
TMP_DIR="/tmp/ray_${SLURM_JOB_ID}"
log "job $SLURM_JOB_ID: $N node(s): ${NODES[*]}; head $HEAD; $CPUS CPUs and $GPUS GPUs per node"

# one IPv4 address of the head (hostname --ip-address may print several, or IPv6 first); a loopback
# address only when the head has no other
ADDRS=$(srun --nodes=1 --ntasks=1 --overlap -w "$HEAD" hostname --ip-address | tr ' ' '\n' \
  | grep -E '^[0-9]+(\.[0-9]+){3}$' || true)
HEAD_IP=$(echo "$ADDRS" | grep -v '^127\.' | head -n 1 || true)
[ -n "$HEAD_IP" ] || HEAD_IP=$(echo "$ADDRS" | head -n 1)
[ -n "$HEAD_IP" ] || { log "no IPv4 address for $HEAD"; exit 1; }
# Ray >= 2.52 authenticates every connection with a token when a head starts with RAY_AUTH_MODE unset
# and ~/.ray/auth_token exists (or is created on first use), and a client that read no token, or an
# older one, is refused ("InvalidAuthToken"). Every process of this cluster (head, workers, COMMAND)
# gets one fresh token of this job through the environment srun passes on: token authentication stays
# on, and no shared home-directory file decides it. (Older Ray ignores both variables.)
export RAY_AUTH_MODE=token
RAY_AUTH_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export RAY_AUTH_TOKEN

STEP_PIDS=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ ${#STEP_PIDS[@]} -gt 0 ]; then
    log "stopping ${#STEP_PIDS[@]} Ray job step(s)"
    stop_steps
  fi
  rm -rf "$TMP_DIR" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

GRES=()
[ "$GPUS" -gt 0 ] 2>/dev/null && GRES=(--gres="gpu:$GPUS")

stop_steps() {  # TERM, then KILL, the Ray job steps started so far
  [ ${#STEP_PIDS[@]} -gt 0 ] || return 0
  kill -TERM "${STEP_PIDS[@]}" 2>/dev/null || true
  for _ in $(seq 1 20); do
    local alive=0
    for pid in "${STEP_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  kill -KILL "${STEP_PIDS[@]}" 2>/dev/null || true
  wait "${STEP_PIDS[@]}" 2>/dev/null || true
  STEP_PIDS=()
}

start_cluster() {  # start_cluster PORT: the head's job step, then one per worker
  export RAY_ADDRESS="$HEAD_IP:$1"
  log "starting the Ray head on $HEAD ($RAY_ADDRESS)"
  srun --nodes=1 --ntasks=1 --overlap -w "$HEAD" "${GRES[@]}" \
    "$RAY" start --head --node-ip-address="$HEAD_IP" --port="$1" --num-cpus="$CPUS" --num-gpus="$GPUS" \
    --temp-dir="$TMP_DIR" --include-dashboard=false --disable-usage-stats --block &
  STEP_PIDS=($!)
  for ((i = 1; i < N; i++)); do
    node=${NODES[$i]}
    log "starting Ray worker $i on $node"
    srun --nodes=1 --ntasks=1 --overlap -w "$node" "${GRES[@]}" \
      "$RAY" start --address="$RAY_ADDRESS" --num-cpus="$CPUS" --num-gpus="$GPUS" --disable-usage-stats --block &
    STEP_PIDS+=($!)
  done
}

# one probe: join the cluster, count its live nodes (exit 0 once all N have joined)
PROBE='
import os, sys
import ray
try:
    ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    alive = sum(1 for n in ray.nodes() if n.get("Alive"))
    ray.shutdown()
except Exception as err:  # the head is still starting
    print(f"[ray_slurm_launch] not up yet ({type(err).__name__})", file=sys.stderr)
    sys.exit(1)
print(f"[ray_slurm_launch] {alive}/{sys.argv[1]} node(s) up", file=sys.stderr)
sys.exit(0 if alive >= int(sys.argv[1]) else 1)
'

# The head is started again, on the next port, when its `ray start` exits before the cluster is up:
# Ray gives its raylet a fixed 30 s to register with the GCS, which a loaded node can miss ("The
# current node timed out during startup"). Each probe is bounded in time (ray.init can wait on an
# unreachable GCS for minutes); the whole wait by --timeout.
log "waiting up to ${TIMEOUT}s for $N node(s)"
deadline=$((SECONDS + TIMEOUT))
attempt=0
up=0
start_cluster "$PORT"
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "${STEP_PIDS[0]}" 2>/dev/null; then
    status=0
    wait "${STEP_PIDS[0]}" || status=$?
    attempt=$((attempt + 1))
    log "the Ray head exited (status $status) before the cluster came up; starting it again (attempt $((attempt + 1)))"
    stop_steps
    start_cluster $((PORT + attempt))
  fi
  left=$((deadline - SECONDS))
  if [ "$left" -gt 0 ] && timeout "$(( left < 60 ? left : 60 ))" "$PY" -c "$PROBE" "$N"; then
    up=1
    break
  fi
  sleep 2
done
[ "$up" = 1 ] || { log "the Ray cluster did not come up within ${TIMEOUT}s"; exit 1; }

log "running: $*"
set +e
"$@"
status=$?
set -e
log "command exited with status $status"
exit "$status"
