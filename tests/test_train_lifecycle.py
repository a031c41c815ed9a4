"""A trainer never outlives its job (rlscaling.lifecycle): killing the job's shell wrapper kills
`python -m rlscaling train`, and no step folder appears. Before: the trainer ran on as an orphan and
wrote step_k after Snakemake had recorded the job as failed."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlscaling import lifecycle
from rlscaling.errors import UserError


def children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for(cond, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux-only")
def test_killing_the_jobs_shell_wrapper_kills_the_trainer_and_no_step_dir_appears(tmp_path):
    from test_train_trl import build_tiny_model, write_data

    build_tiny_model(tmp_path / "base")
    write_data(tmp_path / "train.parquet", n=8)
    params = {"engine": "trl", "segment_steps": 30, "seed": 0, "size": "xs", "run": "xs",
              "prompts_per_step": 2, "rollouts_per_prompt": 2, "max_response_tokens": 8,
              "reward": "flexible"}  # fmt: skip
    out = tmp_path / "runs" / "xs" / "step_000030"
    train = [sys.executable, "-m", "rlscaling", "train", "--params-json", json.dumps(params),
             "--init", str(tmp_path / "base"), "--data", str(tmp_path / "train.parquet"),
             "--step", "30", "--out", str(out)]  # fmt: skip
    # as Snakemake runs a job: a shell wrapper with more than one command (so bash does not exec)
    wrapper = subprocess.Popen(
        ["bash", "-c", f"set -e; {shlex.join(train)} > {tmp_path / 'train.log'} 2>&1; echo done"],
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: children(wrapper.pid), 30), "the trainer did not start"
        (trainer,) = children(wrapper.pid)
        # the trainer is at work: its segment's .partial folder exists (made once the engine starts)
        partial = out.parent / f".{out.name}.partial"
        assert wait_for(partial.exists, 240), (tmp_path / "train.log").read_text()[-3000:]
        os.kill(wrapper.pid, signal.SIGKILL)
        wrapper.wait()
        assert wait_for(lambda: not running(trainer), 10), "the trainer outlived its job's wrapper"
    finally:
        for pid in [wrapper.pid, *children(wrapper.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(2)
    assert not out.exists()


def test_a_trainer_whose_parent_is_gone_refuses_to_write_its_output(monkeypatch):
    monkeypatch.setattr(lifecycle, "_parent", os.getppid() + 1_000_000)  # a parent that is not ours
    assert not lifecycle.parent_alive()
    with pytest.raises(
        UserError, match=r"the job that started this trainer is gone .*runs/xs/step_000002 is not"
    ):
        lifecycle.check_parent("runs/xs/step_000002")


def test_the_parent_death_signal_is_armed_in_a_child(tmp_path):
    code = (
        "import signal, ctypes; from rlscaling import lifecycle; "
        "assert lifecycle.die_with_parent(); "
        "libc = ctypes.CDLL(None); v = ctypes.c_int(); libc.prctl(2, ctypes.byref(v), 0, 0, 0); "
        "print(v.value == signal.SIGKILL, lifecycle.parent_alive())"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("prctl is Linux-only")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
