#!/usr/bin/env bash
# CI step: the workflow on a real Slurm cluster.
#
#  1. installs Debian's slurm-wlm, slurmdbd + MariaDB and munge (scripts/local_slurm.sh install) and
#     starts a cluster of 2 nodes (two slurmd on this machine, each with 2 fake GPUs) under
#     $SLURM_CI_DIR, on non-default ports;
#  2. runs a reduced tiny study (tests/fixtures/mini_study.yaml, its 3 sizes pre-trained on 200k tokens
#     here, not 500k; 6 RL steps in segments of 2; ~2 min of compute; training and evaluation ask for
#     a GPU, so they are scheduled through GRES) with the README's cluster command, `snakemake --profile slurm all`, typed
#     in a copy of the project after `make slurm-profile`: every non-local job goes through sbatch, and
#     sacct must show each of them COMPLETED;
#  3. runs the same study with profiles/local and checks both produced the same outputs (same files;
#     same metrics, evaluations, curves and fits up to timing fields);
#  4. launches scripts/ray_slurm_launch.sh inside a 2-node allocation with a stand-in trainer that joins
#     the Ray cluster (head on the first node, a worker on the second) and checks the nodes, CPUs and
#     GPUs Ray was given, then that no Ray process is left; once with sbatch, once as a 2-node rule
#     submitted through profiles/slurm (needs .venv-engines; skipped without it);
#  5. stops every daemon it started, by PID, on success or failure.
#
#   .ci/slurm_study.sh            SLURM_CI_DIR (default /tmp/rlscaling-slurm-ci), SLURM_CI_KEEP=1 keeps it,
#                                 RLSCALING_SNAKEFILE another Snakefile
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
ROOT=$(pwd)
CLUSTER=${SLURM_CI_DIR:-/tmp/rlscaling-slurm-ci}
WORK="$CLUSTER/work"
SNAKEMAKE="$ROOT/.venv/bin/snakemake"
SNAKEFILE=${RLSCALING_SNAKEFILE:-$ROOT/Snakefile}
PY="$ROOT/.venv/bin/python"

[ -x "$SNAKEMAKE" ] || make setup
"$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
  || "$PY" -m pip install --quiet -e ".[cluster]"

scripts/local_slurm.sh install
cleanup() {
  local status=$?
  scripts/local_slurm.sh stop "$CLUSTER" || true
  [ "${SLURM_CI_KEEP:-0}" = 1 ] || rm -rf "$CLUSTER"
  exit "$status"
}
trap cleanup EXIT
rm -rf "$WORK"
SLURM_CI_NODES=${SLURM_CI_NODES:-2} scripts/local_slurm.sh start "$CLUSTER"
# shellcheck disable=SC1091
source "$CLUSTER/env.sh"
mkdir -p "$WORK"

start_time=$(date +%Y-%m-%dT%H:%M:%S)
if [ "${SLURM_CI_SKIP_STUDY:-0}" != 1 ]; then  # (SLURM_CI_SKIP_STUDY=1: launcher checks only, for development)
echo "== reduced study"
# the study is tests/fixtures/mini_study.yaml (3 sizes: the paper law's minimum, which config checks
# enforce before any job), renamed, with Slurm resources: training and evaluation ask for a GPU
"$PY" - "$ROOT/tests/fixtures/mini_study.yaml" "$WORK/study.yaml" <<'PYEOF'
import sys
import yaml
study = yaml.safe_load(open(sys.argv[1]))
study["study"] = "slurm-ci"
# base models pre-trained on 200k tokens, not 500k: what this step checks is the cluster path (every
# job through sbatch, the same outputs as the local profile), and CI runs it beside the engine tests
study["pretrain"]["tokens"] = 200000
study["figures"] = {"formats": ["png"]}
study["resources"] = {
    "default": {"partition": "debug", "cpus_per_task": 1, "mem_mb": 1500, "runtime": 30},
    "train": {"gpus_per_node": 1},
    "evaluate": {"gpus_per_node": 1},
}
yaml.safe_dump(study, open(sys.argv[2], "w"), sort_keys=False)
PYEOF

# the cluster command as a user types it (README): `make slurm-profile` links profiles/slurm as the
# named profile `slurm` (here under a private XDG_CONFIG_HOME), then `snakemake --profile slurm all` runs
# from a project checkout whose config.yaml is this study (CI's flags only shorten the polling)
export XDG_CONFIG_HOME="$CLUSTER/xdg"
make --no-print-directory slurm-profile
mkdir -p "$WORK/slurm"
git ls-files -co --exclude-standard -z | grep -zv '^results/' | tar -cf - --null -T - | tar -C "$WORK/slurm" -xf -
cp "$WORK/study.yaml" "$WORK/slurm/config.yaml"
SNAKEFILE_ARG=()
[ -z "${RLSCALING_SNAKEFILE:-}" ] || SNAKEFILE_ARG=(-s "$RLSCALING_SNAKEFILE")
t0=$SECONDS
(cd "$WORK/slurm" && PATH="$ROOT/.venv/bin:$PATH" \
  snakemake --profile slurm all "${SNAKEFILE_ARG[@]}" --jobs 4 --local-cores 1 --latency-wait 10 \
    --slurm-init-seconds-before-status-checks 5 --seconds-between-status-checks 3 \
    --slurm-keep-successful-logs) 2>&1 | tee "$WORK/slurm.log"
grep -q "Using profiles slurm and workflow specific profile profiles/default" "$WORK/slurm.log"
echo "slurm study wall time: $((SECONDS - t0)) s"

echo "== every non-local job went through sbatch and completed"
submitted=$(grep -cE "has been submitted with SLURM jobid" "$WORK/slurm.log" || true)
states=$(sacct -X -n -P -S "$start_time" -o JobID,JobName,State)
echo "$states" | sed 's/^/  /'
n_sacct=$(echo "$states" | grep -c . || true)
n_done=$(echo "$states" | grep -c '|COMPLETED$' || true)
echo "submitted by snakemake: $submitted, in sacct: $n_sacct, completed: $n_done"
test "$submitted" -ge 10
test "$n_sacct" -eq "$submitted"
test "$n_done" -eq "$n_sacct"
# the GPU jobs got a (fake) GPU through GRES
sacct -X -n -P -S "$start_time" -o JobID,AllocTRES | grep -q "gres/gpu=1"

echo "== the same study with the local profile"
t0=$SECONDS
"$SNAKEMAKE" -s "$SNAKEFILE" --profile profiles/local --directory "$WORK/local" --configfile "$WORK/study.yaml" \
  --replace-workflow-config --cores 2 --resources gpu=2 2>&1 | tail -n 5
echo "local study wall time: $((SECONDS - t0)) s"
"$PY" - "$WORK/slurm/results/slurm-ci" "$WORK/local/results/slurm-ci" <<'PYEOF'
"""Same outputs from both profiles: the same files, and equal contents up to timing fields (floats to a
relative 1e-6). Every difference is listed before failing."""
import json, math, sys
from pathlib import Path
import pandas as pd

a, b = Path(sys.argv[1]), Path(sys.argv[2])
wa, wb = a.parents[1], b.parents[1]  # the two snakemake working directories
SKIP_DIRS = {"logs", "benchmarks"}
TIMING = ("second", "time", "throughput", "per_second", "wall")

def files(root):
    out = []
    for p in root.rglob("*"):
        parts = p.relative_to(root).parts
        if p.is_file() and not SKIP_DIRS & set(parts) and not any(x.startswith(".") for x in parts):
            out.append(str(p.relative_to(root)))
    return sorted(out)

def timing(key):
    return any(t in str(key).lower() for t in TIMING)

def strip(obj, root):
    """Drop timing fields; absolute paths inside each run's working directory become relative."""
    if isinstance(obj, dict):
        return {k: strip(v, root) for k, v in obj.items() if not timing(k)}
    if isinstance(obj, list):
        return [strip(v, root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(str(root), "<workdir>")
    return obj

def untimed(files):
    """A manifest's file entries without the JSON / JSONL files (they hold wall times)."""
    return {k: v for k, v in files.items() if not k.endswith((".json", ".jsonl"))}

def diff(x, y, path=""):
    """Paths where two JSON values differ (floats to a relative 1e-6)."""
    if isinstance(x, dict) and isinstance(y, dict):
        return [d for k in sorted(set(x) | set(y)) for d in diff(x.get(k), y.get(k), f"{path}.{k}")]
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in diff(u, v, f"{path}[{i}]")]
    if isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12):
        return []
    return [] if x == y else [f"{path}: {x!r} != {y!r}"]

fa, fb = files(a), files(b)
assert fa == fb, f"different files: only slurm {sorted(set(fa) - set(fb))}, only local {sorted(set(fb) - set(fa))}"
problems, compared = {}, 0
for rel in fa:
    pa, pb = a / rel, b / rel
    if rel.endswith(".json"):
        ja, jb = json.loads(pa.read_text()), json.loads(pb.read_text())
        if rel.endswith("rlscaling_manifest.json"):
            # a checkpoint manifest hashes every file of the segment; the JSON / JSONL ones carry timing
            # fields and are compared above without them, so only the other files' hashes must agree
            ja, jb = ({**j, "files": untimed(j["files"])} for j in (ja, jb))
        d = diff(strip(ja, wa), strip(jb, wb))
    elif rel.endswith(".jsonl"):
        la = [strip(json.loads(x), wa) for x in pa.read_text().splitlines()]
        lb = [strip(json.loads(x), wb) for x in pb.read_text().splitlines()]
        d = diff(la, lb)
    elif rel.endswith(".parquet"):
        da, db = pd.read_parquet(pa), pd.read_parquet(pb)
        keep = [c for c in da.columns if not timing(c)]
        try:
            pd.testing.assert_frame_equal(da[keep], db[keep], check_exact=False, rtol=1e-6)
            d = []
        except AssertionError as err:
            d = [str(err).splitlines()[0]]
    else:
        continue
    compared += 1
    if d:
        problems[rel] = d[:5]
for rel, d in problems.items():
    print(f"DIFFERENT {rel}:", *d, sep="\n    ")
assert not problems, f"{len(problems)} of {compared} files differ"
print(f"same outputs: {len(fa)} files, {compared} compared by content")
PYEOF
fi

echo "== Ray launcher inside an allocation"
if [ -x .venv-engines/bin/python ]; then
  cat >"$WORK/standin_trainer.py" <<'EOF'
"""Stand-in for the verl trainer: join the Ray cluster the launcher started and report its resources.
The expected node count is the argument (Snakemake's job step scrubs SLURM_JOB_NUM_NODES)."""
import os
import sys

import ray

ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR")
res = ray.cluster_resources()
alive = [n for n in ray.nodes() if n["Alive"]]
print(f"STANDIN nodes={len(alive)} cpus={res.get('CPU')} gpus={res.get('GPU')}")
assert len(alive) == int(sys.argv[1])
EOF
  # (a) straight through sbatch
  # (the job's whole output is printed when it fails: a failure must say why)
  launcher_start=$(date +%s)
  job=$(sbatch --wait --parsable --nodes=2 --ntasks=2 --cpus-per-task=2 --gres=gpu:1 --mem=3000 \
    -o "$WORK/launcher.out" --wrap "scripts/ray_slurm_launch.sh --num-cpus 2 --gpus-per-node 1 \
      --python $ROOT/.venv-engines/bin/python --timeout 300 -- $ROOT/.venv-engines/bin/python $WORK/standin_trainer.py 2") \
    || { cat "$WORK/launcher.out"; echo "the launcher job failed"; exit 1; }
  grep -E "^\[ray_slurm_launch\]|^STANDIN" "$WORK/launcher.out"
  echo "launcher job: $(( $(date +%s) - launcher_start )) s"
  grep -q "STANDIN nodes=2 cpus=4.0 gpus=2.0" "$WORK/launcher.out"
  grep -q "command exited with status 0" "$WORK/launcher.out"
  sacct -j "$job" -X -n -o State | grep -q COMPLETED
  sleep 2
  if pgrep -f "ray_${job}" >/dev/null; then echo "Ray processes of job $job are still running"; exit 1; fi

  # (b) as a multi-node training job of a workflow goes: a rule with the resources rlscaling gives a
  #     2-node size (gres per node, mpi=srun: the command runs in the batch step, which Snakemake's
  #     job step has scrubbed of most SLURM_* variables), submitted through profiles/slurm
  mkdir -p "$WORK/multinode"
  cat >"$WORK/multinode/Snakefile" <<EOF
from rlscaling.resources import job_resources

SPEC = {"models": {"sizes": {"big": {"resources": {"train": {"nodes": 2}}}}},
        "resources": {"train": {"partition": "debug", "gpus_per_node": 1, "cpus_per_task": 2,
                                "mem_mb": 3000, "runtime": 10}}}

rule all:
    input: "ray.txt"

rule train_segment:
    output: "ray.txt"
    resources: **job_resources(SPEC, "train", "big")
    shell:
        "$ROOT/scripts/ray_slurm_launch.sh --num-cpus 2 --gpus-per-node 1 --python $ROOT/.venv-engines/bin/python"
        " --timeout 300 -- $ROOT/.venv-engines/bin/python $WORK/standin_trainer.py 2 > {output}"
EOF
  "$SNAKEMAKE" -s "$WORK/multinode/Snakefile" --directory "$WORK/multinode" --profile profiles/slurm --jobs 1 \
    --slurm-init-seconds-before-status-checks 5 --seconds-between-status-checks 3 2>&1 | tee "$WORK/multinode.log" \
    | grep -E "submitted|Finished|Error" || true
  if ! grep -q STANDIN "$WORK/multinode/ray.txt" 2>/dev/null; then
    cat "$WORK/multinode.log"
    find "$WORK/multinode/logs/slurm" -name "*.log" -exec tail -n 80 {} + 2>/dev/null || true
    echo "the 2-node rule through profiles/slurm failed"; exit 1
  fi
  cat "$WORK/multinode/ray.txt"
  grep -q "STANDIN nodes=2 cpus=4.0 gpus=2.0" "$WORK/multinode/ray.txt"
  mjob=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9]*\).*/\1/p' "$WORK/multinode.log" | head -n 1)
  sacct -j "$mjob" -X -n -P -o JobID,NNodes,State,AllocTRES
  test "$(sacct -j "$mjob" -X -n -P -o NNodes,State)" = "2|COMPLETED"
else
  echo "no .venv-engines (scripts/install_engines_venv.sh): launcher run skipped"
fi
echo "slurm CI: ok"
