"""A trainer never outlives the job that started it.

`rlscaling train` runs under a job's shell wrapper (Snakemake's `bash -c '...'`, a Slurm batch
script). When that wrapper is killed (a cancelled job, a node-local kill, Snakemake stopping), the
trainer must not go on and write `runs/{run}/step_k` after Snakemake has recorded the job as failed:
the next run would trust that output. Two guards:

1. `die_with_parent()` (called first thing by `rlscaling train`): on Linux, prctl(PR_SET_PDEATHSIG,
   SIGKILL) through ctypes, so the kernel kills the trainer when its parent process exits; if the
   parent is already gone when the signal is armed, the trainer kills itself at once. Elsewhere (no
   prctl) only the second guard applies.
2. `check_parent(what)` (the trl engine calls it right before renaming a finished segment to its final
   name): UserError when the parent that started the trainer is gone (the process was re-parented),
   so no output appears under the name Snakemake trusts.

The signal goes to the trainer process only; processes it started (verl's Ray workers) are the verl
engine's to stop (its process group). The reward workers exit on their own when their pipe closes.
"""

from __future__ import annotations

import os
import signal
import sys

from rlscaling.errors import UserError

PR_SET_PDEATHSIG = 1  # linux/prctl.h

_parent: int | None = None  # the pid of the process that started us, recorded by die_with_parent


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Arm the kernel to send `sig` to this process when its parent exits (Linux); record the parent for
    `check_parent`. Returns whether the signal is armed. Kills this process at once when the parent
    is already gone."""
    global _parent
    _parent = os.getppid()
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            armed = False
    if os.getppid() != _parent:  # the parent exited before the signal was armed
        os.kill(os.getpid(), sig)
    return armed


def parent_alive() -> bool:
    """False when the parent recorded by die_with_parent has exited (this process was re-parented)."""
    return _parent is None or os.getppid() == _parent


def check_parent(what: str) -> None:
    """UserError when the job that started this process is gone: `what` (e.g. an output folder) must
    not be written."""
    if not parent_alive():
        raise UserError(
            f"the job that started this trainer is gone (its parent process {_parent} exited); "
            f"{what} is not written"
        )
