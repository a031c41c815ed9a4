"""No process of a verl segment outlives its job.

verl's trainer starts a Ray cluster (GCS, raylet, dashboard and runtime-env agents, workers) and vLLM
servers with engine-core processes of their own; some start new sessions, and when the job is killed
they are re-parented to init, out of reach of a process-group kill. Ray's own fate-sharing takes most of
them down with the driver, but its agents first try to flush logs to a dead GCS and linger for minutes.

Every process of a segment therefore carries a marker in its environment (RLSCALING_VERL_SEGMENT=<token>,
inherited by everything the trainer starts, Ray workers included), and:

- `kill_marked(token)` SIGKILLs every process of this user whose environment holds the marker (read
  from /proc/<pid>/environ; Linux);
- the engine calls it when the trainer exits, whatever the reason;
- a reaper (`python -m rlscaling.train.verl.processes PARENT_PID TOKEN`, in a session of its own so that
  a SIGKILL of the job does not reach it) waits for the job's process to die and then calls it: a job
  killed with SIGKILL still leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

SEGMENT_ENV = "RLSCALING_VERL_SEGMENT"


def new_token() -> str:
    """A marker value unique to one trainer start."""
    return uuid.uuid4().hex


def marked_pids(token: str) -> list[int]:
    """pids of this user's processes whose environment holds RLSCALING_VERL_SEGMENT=token."""
    needle = f"{SEGMENT_ENV}={token}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read()
        except OSError:  # gone, or another user's
            continue
        if needle in env.split(b"\0"):
            found.append(int(entry))
    return found


def kill_marked(token: str, rounds: int = 3) -> int:
    """SIGKILL every marked process (a few rounds: a dying parent may still start one). Returns how
    many were signalled."""
    killed = 0
    for _ in range(rounds):
        pids = marked_pids(token)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.2)
    return killed


def start_reaper(token: str, parent: int | None = None) -> subprocess.Popen:
    """Start the reaper of `token`'s processes, watching `parent` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    return subprocess.Popen(
        [sys.executable, "-m", "rlscaling.train.verl.processes", str(parent), token],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != SEGMENT_ENV},  # never marked itself
    )


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet waited for by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not os.path.isdir("/proc")


def reap_when_gone(parent: int, token: str, poll_s: float = 0.5) -> None:
    """Wait until `parent` has exited, then kill every process marked with `token`."""
    while _alive(parent):
        time.sleep(poll_s)
    kill_marked(token)


if __name__ == "__main__":
    reap_when_gone(int(sys.argv[1]), sys.argv[2])
