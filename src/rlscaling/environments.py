"""Which Python runs the cluster engines (verl training, vLLM evaluation).

verl 0.9.1 and vLLM pin transformers below what TRL (the project's .venv) needs, so on a laptop or CI
they live in a second environment, `.venv-engines` (`make engines-venv`). On a GPU cluster the engines'
environment (envs/verl-gpu.yaml) runs every rule, and the current interpreter is the right one.

    engines_python()   $RLSCALING_ENGINES_PYTHON, else the current interpreter where it has the engine,
                       else PROJECT_ROOT/.venv-engines/bin/python where it exists, else the current one
    visible_gpus()     the GPUs this process may use (CUDA_VISIBLE_DEVICES, Slurm, torch)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rlscaling.paths import PROJECT_ROOT

ENGINES_PYTHON_ENV = "RLSCALING_ENGINES_PYTHON"
ENGINES_VENV = PROJECT_ROOT / ".venv-engines"


def engines_venv_python() -> Path | None:
    """The project's engines environment's interpreter (`make engines-venv`), None where it is absent."""
    python = ENGINES_VENV / "bin" / "python"
    return python if python.is_file() and os.access(python, os.X_OK) else None


def engines_python(env: dict[str, str] | None = None, module: str = "verl") -> str:
    """The interpreter that runs verl and vLLM: $RLSCALING_ENGINES_PYTHON; else this interpreter where it
    can import `module` (a GPU node's engines environment running the rule); else .venv-engines where it
    exists; else this interpreter (which then reports the missing package)."""
    import importlib.util

    env = os.environ if env is None else env
    if env.get(ENGINES_PYTHON_ENV):
        return env[ENGINES_PYTHON_ENV]
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    venv = engines_venv_python()
    return str(venv) if venv else sys.executable


def visible_gpus(env: dict[str, str] | None = None) -> int:
    """GPUs this process may use: CUDA_VISIBLE_DEVICES, else Slurm's count, else torch's (0 without)."""
    env = dict(os.environ if env is None else env)
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([d for d in cvd.split(",") if d.strip() and d.strip() != "-1"])
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS"):
        v = env.get(key, "").rsplit(":", 1)[-1]
        if v.isdigit():
            return int(v)
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # pragma: no cover - torch missing or broken
        return 0
