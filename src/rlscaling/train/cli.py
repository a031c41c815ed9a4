"""`rlscaling train`: one GRPO training segment.

    rlscaling train --params-json JSON --init CKPT_DIR --data TRAIN_PARQUET --step K --threads T
                    --out runs/{run}/step_{K:06d} [--checkpoint-every N]

JSON is the run's `training` config section with sweep overrides applied and `total_steps` removed
(raising total_steps must not change earlier segments), plus `size` and `run`. It is checked against the
config schema's `training` section, whose defaults fill in missing keys. The segment trains RL steps
(K - segment_steps, K] from CKPT_DIR (a base model folder, step 0, or the previous segment's output) and
writes OUT atomically: an HF model folder that is also a resumable Trainer checkpoint, with metrics.jsonl.

The training-health checks (rlscaling.training_health) take their settings from $RLSCALING_HEALTH (JSON of the
config's `training.health`, exported by the workflow; the defaults when unset): flagged steps are printed,
and with `stop` the first one fails the segment, naming the run, the step and the reason.

With tracking on (RLSCALING_TRACKING, exported by the workflow; rlscaling.tracking), the engine's own
logger continues the run's tracked run (TRL report_to, verl trainer.logger), and the segment's
metrics.jsonl records follow as rl/* when it ends.

The `rlscaling train` command itself is rlscaling.segment_cli: this module's main, then (trl) an
evaluation of the new checkpoint in the same process when the workflow plans one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-json", required=True, help="the run's training settings: JSON text, or a file holding it"
    )
    parser.add_argument("--init", required=True, help="base model folder, or the previous segment's output")
    parser.add_argument("--data", required=True, help="train parquet (verl RL schema, curriculum order)")
    parser.add_argument("--step", required=True, type=int, help="the segment's last RL step K")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", required=True, help="output checkpoint folder, runs/{run}/step_{K:06d}")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="also keep a checkpoint every N steps in OUT's .partial folder, so a killed segment resumes "
        "mid-way on rerun (default 0: only segment boundaries)",
    )


def params_schema() -> dict[str, Any]:
    """JSON schema of the params: the config's `training` section without total_steps, plus size and run."""
    from rlscaling.schema import subschema

    schema = subschema("training")
    del schema["properties"]["total_steps"]
    del schema["properties"]["health"]  # from the environment: rlscaling.training_health.ENVIRONMENT
    schema["properties"]["size"] = {"type": "string"}
    schema["properties"]["run"] = {"type": "string"}
    schema["required"] = ["segment_steps", "seed"]
    return schema


def parse_params(text: str) -> dict[str, Any]:
    """Parse and check --params-json (JSON text or a JSON file's path); fill in the schema's defaults.
    Raises UserError naming the key."""
    from rlscaling.io import read_params_json
    from rlscaling.schema import errors as schema_errors

    params = read_params_json(text)
    if "total_steps" in params:
        raise UserError("--params-json: total_steps must not be passed (a segment must not depend on it)")
    errors = schema_errors(params, params_schema(), defaults=True)
    if errors:
        path, message = errors[0]
        key = ".".join(p for p in ("training", path) if p)
        raise UserError(f"--params-json: {key}: {message}")
    return params


def main(args: argparse.Namespace) -> int:
    from rlscaling import lifecycle

    lifecycle.die_with_parent()  # killed with the job's shell wrapper, never writing step_k after it
    params = parse_params(args.params_json)
    if args.threads < 1:
        raise UserError(f"--threads: must be at least 1, got {args.threads}")
    if args.checkpoint_every < 0:
        raise UserError(f"--checkpoint-every: must be >= 0, got {args.checkpoint_every}")
    common = dict(
        init=Path(args.init), data=Path(args.data), step=args.step, threads=args.threads, out=Path(args.out)
    )
    # pre-flight, before any engine starts: every train row has a prompt and a reference answer (a row
    # without one would only ever score 0; verl would train on it silently)
    from rlscaling.rows import read_training_rows

    read_training_rows(args.data)
    from rlscaling.training_health import Settings as HealthSettings

    common["health"] = HealthSettings.from_environment()
    engine = params["engine"]
    track = _tracking(params)
    if engine == "trl":
        if track.backend != "mlflow":
            # TRL imports mlflow whenever it is installed (1.4 s per segment); transformers' own switch
            os.environ.setdefault("DISABLE_MLFLOW_INTEGRATION", "TRUE")
        from rlscaling import tracking
        from rlscaling.train.trl import engine as trl_engine

        trl_engine.train_segment(
            params, **common, checkpoint_every=args.checkpoint_every, report_to=tracking.report_to(track)
        )
    elif engine == "verl":
        try:
            from rlscaling.train.verl import engine as verl_engine
        except ModuleNotFoundError as err:
            if err.name != "rlscaling.train.verl.engine":
                raise
            raise UserError("training.engine: verl is not available in this installation") from None
        verl_engine.train_segment(_with_verl_tracking(params, track), **common)
    else:  # the schema allows only the engines above
        raise UserError(f"training.engine: unknown engine {engine!r}")
    if track.enabled:
        _log_segment(track, params, Path(args.out), args.step)
    return 0


def _tracking(params: dict[str, Any]):
    """The tracking settings the workflow exported (rlscaling.tracking; backend none when unset). When on,
    the engines' own loggers get the run's tracked-run id through this process's environment."""
    from rlscaling import tracking

    track = tracking.Settings.from_environment()
    if track.enabled:
        os.environ.update(tracking.environment(track, str(params.get("run") or "run")))
    return track


def _with_verl_tracking(params: dict[str, Any], track) -> dict[str, Any]:
    """verl params with the tracking backend in training.verl.logger (wandb, tensorboard) and its
    environment in training.verl.env (so it reaches verl's Ray workers too). Both keys are outside the
    fingerprint of verl's resumable state: switching tracking on never restarts a run."""
    from rlscaling import tracking

    loggers = tracking.verl_loggers(track)
    if not loggers:
        return params
    params = dict(params)
    v = dict(params["verl"])
    v["logger"] = list(dict.fromkeys([*v.get("logger", []), *loggers]))
    v["env"] = {**(v.get("env") or {}), **tracking.environment(track, str(params.get("run") or "run"))}
    params["verl"] = v
    return params


def _log_segment(track, params: dict[str, Any], out: Path, step: int) -> None:
    """The segment's metrics.jsonl records (one schema for both engines) to the run's tracked run."""
    from rlscaling import tracking
    from rlscaling.train import metrics as M

    first = step - int(params["segment_steps"])
    records = [r for r in M.read(out / "metrics.jsonl") if first < int(r["step"]) <= step]
    tracking.log_segment(track, str(params.get("run") or "run"), records)
