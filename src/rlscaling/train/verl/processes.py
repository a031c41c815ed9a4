"""No process of a verl segment outlives its job.

verl's trainer starts a Ray cluster (GCS, raylet, dashboard processes and agents, workers) and vLLM
servers with engine-core processes of their own; some start new sessions or are spawned with a fresh
environment, and when the job is killed they are re-parented to init, out of reach of a process-group
kill. Ray's fate-sharing takes most of them down with the driver, but its agents first try to flush
logs to a dead GCS and linger for minutes (seen: > 60 s after a SIGKILL of the job).

So the trainer runs under a supervisor (`supervise`, started by the engine in a session of its own, so
that a SIGKILL of the job does not reach it). The supervisor is a child subreaper (Linux
PR_SET_CHILD_SUBREAPER): every process the trainer starts, however detached, stays its descendant. It
returns the trainer's exit status, and when the trainer exits, or the job's process dies (SIGKILL
included), it kills every descendant still alive before it exits itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _children_map() -> dict[int, list[int]]:
    """ppid -> child pids, from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid` (children, their children, ...)."""
    children = _children_map()
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _reap_zombies() -> dict[int, int]:
    """Wait for every exited child (a subreaper inherits orphans): pid -> exit status."""
    statuses = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        statuses[pid] = os.waitstatus_to_exitcode(status)
    return statuses


def kill_descendants(rounds: int = 20) -> None:
    """SIGKILL every descendant of this process until none is left (reaping them as they exit)."""
    me = os.getpid()
    for _ in range(rounds):
        _reap_zombies()
        pids = descendants(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.2)
    _reap_zombies()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: this child gets SIGKILL when the process that started it dies (PR_SET_PDEATHSIG)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def supervise(parent: int, argv: list[str], poll_s: float = 0.2) -> int:
    """Run `argv` as a child subreaper's child; return its exit status (128 + 9 when `parent` died
    first). Every descendant still alive when it exits, or when `parent` dies, is killed."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: only direct children are tracked
        pass
    proc = subprocess.Popen(argv, preexec_fn=_die_with_parent)
    status: int | None = None
    forward = lambda signum, frame: proc.send_signal(signum)  # noqa: E731
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while status is None:
        exited = _reap_zombies()
        if proc.pid in exited:
            status = exited[proc.pid]
        elif not _alive(parent):
            status = 128 + signal.SIGKILL
        else:
            time.sleep(poll_s)
    kill_descendants()
    return status if status >= 0 else 128 - status


def supervised(argv: list[str], parent: int | None = None) -> list[str]:
    """The argv that runs `argv` under the supervisor, watching `parent` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    return [sys.executable, "-m", "rlscaling.train.verl.processes", "supervise", str(parent), "--", *argv]


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


if __name__ == "__main__":  # supervise PARENT -- ARGV...
    raise SystemExit(supervise(int(sys.argv[2]), sys.argv[4:]))
