"""Evaluation memo: a training segment evaluates the checkpoint it has just written, in its own process.

An evaluation job spends most of its time starting (importing torch and transformers, loading the
model: 5-8 s for the tiny family) and a few seconds sampling. A trl training segment (and a tiny
base model's pre-training job, for step 0) has paid that start already, so with an evaluation plan in
its environment it evaluates the checkpoint it has just written and keeps the results beside it:

    runs/{run}/.eval_memo/step_{K:06d}/key.json            what was evaluated, and how
    runs/{run}/.eval_memo/step_{K:06d}/{bench}.json         the summary `rlscaling evaluate` writes
    runs/{run}/.eval_memo/step_{K:06d}/{bench}.samples.parquet
    models/{model}/.eval_memo/base/...                      the same for a base model (step 0)

The `evaluate` rule stays the one owner of eval/{run}/step_{K}/: `rlscaling evaluate` computes the key
of what it was asked (the sampling settings, each benchmark file's sha256, the checkpoint's manifest,
the step and the thread count) and, when the memo holds that key, copies its files instead of
evaluating. Anything else (other settings, another benchmark file, a checkpoint redone) misses and
evaluates as before, so changing an evaluation setting never retrains, and a memo is never trusted
beyond the inputs it was computed from. The memo's evaluation is the same code on the same inputs as
the job's, so its files hold the same samples and pass@k a separate `rlscaling evaluate` would write
(a test checks this); only the summary's `seconds` differ.

The workflow exports the plan as $RLSCALING_EVALUATE_AFTER (JSON {"params": the evaluate rule's
params, "bench": [benchmark parquet files]}) when training.engine is trl and evaluation.engine is hf.
It is not a training input: the checkpoint does not depend on it, and setting or changing it reruns
nothing. RLSCALING_EVAL_MEMO=off makes `rlscaling evaluate` ignore memos.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rlscaling.checkpoint import MANIFEST
from rlscaling.errors import UserError

PLAN_ENV = "RLSCALING_EVALUATE_AFTER"
SWITCH_ENV = "RLSCALING_EVAL_MEMO"
FORMAT = 1
MEMO = ".eval_memo"
KEY = "key.json"


def memo_dir(model: str | Path) -> Path:
    """Where the memo of checkpoint folder `model` (runs/{run}/step_K) lives: runs/{run}/.eval_memo/step_K."""
    model = Path(model)
    return model.parent / MEMO / model.name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def key(
    model: str | Path, bench: list[str | Path], params: dict[str, Any], step: int | None, threads: int
) -> dict[str, Any] | None:
    """What an evaluation of `model` computes from: the params (the --params-json object), each
    benchmark's name and sha256, the checkpoint's manifest sha256 (which binds every file of it), the
    step and the thread count. None when the model folder has no manifest (a hub id, an outside
    checkpoint): no memo then."""
    manifest = Path(model) / MANIFEST
    if not manifest.is_file():
        return None
    return {
        "format": FORMAT,
        "params": json.loads(json.dumps(params, sort_keys=True)),
        "bench": {Path(b).stem: _sha256(Path(b)) for b in bench},
        "manifest_sha256": _sha256(manifest),
        "step": step,
        "threads": int(threads),
    }


def lookup(
    model: str | Path, bench: list[str | Path], params: dict[str, Any], step: int | None, threads: int
) -> dict[str, tuple[Path, Path]] | None:
    """The memo's (summary json, samples parquet) per benchmark name when it holds exactly this
    evaluation; None on any difference, a missing file or a damaged key (then the caller evaluates)."""
    if os.environ.get(SWITCH_ENV, "on").lower() in ("off", "0", "false", "no"):
        return None
    where = memo_dir(model)
    if not (where / KEY).is_file():
        return None
    wanted = key(model, bench, params, step, threads)
    try:
        stored = json.loads((where / KEY).read_text())
    except (OSError, ValueError):
        return None
    if wanted is None or stored != wanted:
        return None
    files = {n: (where / f"{n}.json", where / f"{n}.samples.parquet") for n in wanted["bench"]}
    if not all(a.is_file() and b.is_file() for a, b in files.values()):
        return None
    return files


def copy_out(files: dict[str, tuple[Path, Path]], out_dir: str | Path) -> list[dict[str, Any]]:
    """Copy the memo's files to `out_dir` (each atomically) and return the summaries."""
    from rlscaling.io import atomic_path

    out_dir = Path(out_dir)
    summaries = []
    for name, (summary, samples) in files.items():
        for src, dst in ((samples, out_dir / f"{name}.samples.parquet"), (summary, out_dir / f"{name}.json")):
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        summaries.append(json.loads(summary.read_text()))
    return summaries


def plan_from_environment() -> dict[str, Any] | None:
    """The evaluation plan the workflow exported ($RLSCALING_EVALUATE_AFTER), or None. UserError when
    it is set but not {"params": {...}, "bench": [...]}."""
    text = os.environ.get(PLAN_ENV, "").strip()
    if not text:
        return None
    try:
        plan = json.loads(text)
        ok = isinstance(plan["params"], dict) and isinstance(plan["bench"], list)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(f'${PLAN_ENV}: expected JSON {{"params": {{...}}, "bench": [parquet files]}}')
    return plan


def evaluate_after_training(model: str | Path, step: int, threads: int) -> Path | None:
    """Evaluate the checkpoint `model` (just written by this process) as $RLSCALING_EVALUATE_AFTER
    plans and store the memo (atomically). Returns the memo folder, or None without a plan or when a
    benchmark file is not there yet. The checkpoint is already complete: a failure here is printed and
    left to the evaluate job, which then evaluates on its own."""
    plan = plan_from_environment()
    if plan is None:
        return None
    bench = [Path(b) for b in plan["bench"]]
    if not all(b.is_file() for b in bench):
        return None
    try:
        from rlscaling.evaluate.run import evaluate_checkpoint
        from rlscaling.io import atomic_dir, write_json

        memo_key = key(model, bench, plan["params"], step, threads)
        if memo_key is None:
            return None
        with atomic_dir(memo_dir(model)) as tmp:
            evaluate_checkpoint(str(model), bench, json.dumps(plan["params"]), threads, tmp, step)
            write_json(tmp / KEY, memo_key)
        print(f"evaluate: step {step} evaluated in the training process ({memo_dir(model)})", file=sys.stderr)
        return memo_dir(model)
    except Exception as err:  # noqa: BLE001 - the evaluate job evaluates on its own and reports it
        print(
            f"evaluate: the in-process evaluation of {model} failed ({type(err).__name__}: {err}); "
            "the evaluate job will evaluate it",
            file=sys.stderr,
        )
        return None
