"""No process of a verl segment outlives its job (rlscaling.train.verl.processes), with stand-in
processes: detached daemons under the supervisor, whose job is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from rlscaling.train.verl import processes as P

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_supervisor_returns_the_trainers_exit_status_and_kills_what_it_left(tmp_path):
    """A detached daemon without the marker (as Ray's dashboard processes are) stays the supervisor's
    descendant (child subreaper) and dies when the trainer exits."""
    trainer = "setsid env -i bash -c 'sleep 300 & echo $! > daemon.pid; sleep 0.5; exit 3'"
    pid_file = tmp_path / "daemon.pid"
    proc = subprocess.run(P.supervised(["bash", "-c", trainer]), cwd=tmp_path)
    assert proc.returncode == 3
    daemon = int(pid_file.read_text())
    pid_file.unlink()
    assert wait_for(lambda: not os.path.exists(f"/proc/{daemon}") or _zombie(daemon), 10)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_sigkilled_job_takes_the_supervised_trainer_and_its_daemons_down():
    # a sleep length no other process on the machine uses, and only the sleepers this job started are
    # watched; the waits allow a loaded machine (CI runs the default study beside the tests)
    job = textwrap.dedent(
        """
        import subprocess, sys, time
        from rlscaling.train.verl import processes as P
        trainer = "setsid env -i bash -c 'sleep 317 & sleep 317' & sleep 317"
        subprocess.Popen(P.supervised(["bash", "-c", trainer]), start_new_session=True)
        time.sleep(317)
        """
    )
    before = set(_sleepers())
    proc = subprocess.Popen([sys.executable, "-c", job])
    assert wait_for(lambda: len(set(_sleepers()) - before) >= 3, 60)
    mine = set(_sleepers()) - before
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_for(lambda: not (set(_sleepers()) & mine), 60), sorted(set(_sleepers()) & mine)


def _sleepers() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "^sleep 317$"], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]
