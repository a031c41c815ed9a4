"""scripts/ray_slurm_launch.sh against stand-in Slurm and Ray commands on PATH: a 4-node allocation,
where the real `srun` / `scontrol` / `ray` are replaced by scripts that record their arguments. The
launcher is also run on a real local Slurm cluster by .ci/slurm_study.sh."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from rlscaling.paths import PROJECT_ROOT

LAUNCHER = PROJECT_ROOT / "scripts" / "ray_slurm_launch.sh"

SCONTROL = """#!/bin/bash
# scontrol show hostnames LIST: one name per line (the real one expands n[1-4])
[ "$1 $2" = "show hostnames" ] || exit 9
printf 'gpu-a1\\ngpu-a2\\ngpu-b7\\ngpu-b8\\n'
"""
SRUN = """#!/bin/bash
# record the call, then run the command that follows srun's options on this machine
echo "$*" >> "$CALLS/srun"
while [ $# -gt 0 ]; do
  case "$1" in
    -w) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
exec "$@"
"""
RAY = """#!/bin/bash
echo "$*" >> "$CALLS/ray"
echo $$ >> "$CALLS/ray_pids"
exec sleep 300   # `ray start --block` stays up until the launcher stops it
"""
PYTHON_UP = """#!/bin/bash
# the launcher's probe, like the real one: one look, exit 0 once as many `ray start` processes run as
# there are nodes (the last argument)
status=${CLUSTER_UP_STATUS:-0}
[ "$status" = 0 ] || exit "$status"
alive=0
for pid in $(cat "$CALLS/ray_pids" 2>/dev/null); do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
[ "$alive" -ge "${@: -1}" ]
"""
# a `ray start --head` that fails during start-up the first time, as Ray's does when its raylet misses
# the fixed 30 s to register on a loaded node
RAY_HEAD_FAILS_ONCE = """#!/bin/bash
if [[ "$*" == *--head* ]] && [ ! -e "$CALLS/head_failed" ]; then
  touch "$CALLS/head_failed"
  echo "$*" >> "$CALLS/failed"
  exit 1
fi
echo "$*" >> "$CALLS/ray"
echo $$ >> "$CALLS/ray_pids"
exec sleep 300
"""


@pytest.fixture
def fake_slurm(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("scontrol", SCONTROL), ("srun", SRUN), ("ray", RAY), ("python-up", PYTHON_UP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NODELIST": "gpu-a[1-2],gpu-b[7-8]",
        "SLURM_CPUS_PER_TASK": "96",
    }
    return bin_dir, calls, env


def launch(bin_dir: Path, env: dict, command: list[str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(LAUNCHER),
            "--gpus-per-node",
            "8",
            "--num-cpus",
            "64",
            "--timeout",
            "5",
            "--python",
            str(bin_dir / "python-up"),
            "--ray",
            str(bin_dir / "ray"),
            *extra,
            "--",
            *command,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_srun_addresses_exactly_one_host(fake_slurm):
    bin_dir, calls, env = fake_slurm
    proc = launch(bin_dir, env, ["true"])
    assert proc.returncode == 0, proc.stderr
    hosts = []
    for line in (calls / "srun").read_text().splitlines():
        args = line.split()
        assert args.count("-w") == 1
        host = args[args.index("-w") + 1]
        assert "," not in host and " " not in host
        hosts.append(host)
    assert hosts.count("gpu-a1") >= 2  # address lookup + head
    assert sorted(set(hosts) - {"gpu-a1"}) == ["gpu-a2", "gpu-b7", "gpu-b8"]


def test_head_on_the_first_node_and_one_worker_on_each_other(fake_slurm):
    bin_dir, calls, env = fake_slurm
    assert launch(bin_dir, env, ["true"]).returncode == 0
    ray_calls = (calls / "ray").read_text().splitlines()
    heads = [c for c in ray_calls if "--head" in c]
    workers = [c for c in ray_calls if "--head" not in c]
    assert len(heads) == 1 and len(workers) == 3
    assert all("--block" in c for c in ray_calls)


def test_ray_gets_a_fixed_cpu_count_and_the_nodes_gpus(fake_slurm):
    bin_dir, calls, env = fake_slurm
    assert launch(bin_dir, env, ["true"]).returncode == 0
    for call in (calls / "ray").read_text().splitlines():
        assert "--num-cpus=64" in call and "--num-gpus=8" in call
    assert all("--gres=gpu:8" in c for c in (calls / "srun").read_text().splitlines() if " start " in c)


def test_the_command_runs_with_the_head_address(fake_slurm, tmp_path):
    bin_dir, calls, env = fake_slurm
    out = tmp_path / "address"
    assert launch(bin_dir, env, ["bash", "-c", f'echo "$RAY_ADDRESS" > {out}']).returncode == 0
    address = out.read_text().strip()
    host, port = address.rsplit(":", 1)
    assert host.count(".") == 3 and int(port) == 20000 + 4242
    assert f"--address={address}" in (calls / "ray").read_text()


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def test_ray_is_stopped_when_the_command_fails_and_its_status_is_returned(fake_slurm):
    bin_dir, calls, env = fake_slurm
    proc = launch(bin_dir, env, ["bash", "-c", "exit 7"])
    assert proc.returncode == 7
    pids = [int(x) for x in (calls / "ray_pids").read_text().split()]
    time.sleep(0.2)
    assert _alive(pids) == []


def test_a_cluster_that_never_comes_up_fails_without_running_the_command(fake_slurm, tmp_path):
    bin_dir, calls, env = fake_slurm
    marker = tmp_path / "ran"
    proc = launch(bin_dir, {**env, "CLUSTER_UP_STATUS": "1"}, ["touch", str(marker)])
    assert proc.returncode == 1
    assert not marker.exists()
    assert _alive([int(x) for x in (calls / "ray_pids").read_text().split()]) == []


def test_outside_an_allocation_it_refuses_to_start(fake_slurm):
    bin_dir, calls, env = fake_slurm
    env = {k: v for k, v in env.items() if k != "SLURM_JOB_ID"}
    proc = launch(bin_dir, env, ["true"])
    assert proc.returncode == 2 and "SLURM_JOB_ID" in proc.stderr


def test_the_node_list_comes_from_the_controller_when_the_environment_lacks_it(fake_slurm):
    bin_dir, calls, env = fake_slurm
    squeue = '#!/bin/bash\necho "$*" >> "$CALLS/squeue"\necho "gpu-a[1-2],gpu-b[7-8]"\n'
    (bin_dir / "squeue").write_text(squeue)
    (bin_dir / "squeue").chmod(0o755)
    env = {k: v for k, v in env.items() if k != "SLURM_JOB_NODELIST"}  # scrubbed by Snakemake's job step
    assert launch(bin_dir, env, ["true"]).returncode == 0
    assert "-j 4242" in (calls / "squeue").read_text()
    assert len((calls / "ray").read_text().splitlines()) == 4


def test_a_head_that_fails_during_start_up_is_started_again_on_the_next_port(fake_slurm, tmp_path):
    bin_dir, calls, env = fake_slurm
    (bin_dir / "ray").write_text(RAY_HEAD_FAILS_ONCE)
    out = tmp_path / "address"
    proc = launch(bin_dir, env, ["bash", "-c", f'echo "$RAY_ADDRESS" > {out}'], "--timeout", "20")
    assert proc.returncode == 0, proc.stderr
    assert "the Ray head exited (status 1) before the cluster came up" in proc.stderr
    assert "--port=24242" in (calls / "failed").read_text()
    assert out.read_text().strip().endswith(":24243")
    # the second attempt: a head on the next port, and every worker started again to join it
    last = (calls / "ray").read_text().splitlines()[-4:]
    (head,) = [c for c in last if "--head" in c]
    workers = [c for c in last if "--head" not in c]
    assert "--port=24243" in head and len(workers) == 3
    assert all(w.split("--address=")[1].split()[0].endswith(":24243") for w in workers)
