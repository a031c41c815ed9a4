"""`rlscaling evaluate`: one checkpoint on every benchmark, one engine (model loaded once)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rlscaling.errors import UserError
from rlscaling.evaluate.params import parse_params
from rlscaling.evaluate.run import evaluate_checkpoint, make_engine, print_summary

__all__ = ["add_arguments", "main", "make_engine"]


# --------------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint folder (HF format) or hub id")
    parser.add_argument("--bench", required=True, nargs="+", help="benchmark parquet files (verl RL schema)")
    parser.add_argument("--params-json", required=True, help="sampling settings (JSON object or a JSON file)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    parser.add_argument("--out-dir", required=True, help="output folder, e.g. eval/RUN/step_000010")
    parser.add_argument(
        "--step",
        type=int,
        default=None,
        help="the checkpoint's RL step (default: from an out-dir named step_NNNNNN, else none); must "
        "agree with such an out-dir",
    )


def checkpoint_step(step: int | None, out_dir: str | Path) -> int | None:
    """The step a summary records: `step` (--step) when given, else the one an out-dir named
    step_NNNNNN carries, else None. UserError when `step` is negative or disagrees with the out-dir."""
    from rlscaling.evaluate.summary import step_from_dir

    from_dir = step_from_dir(out_dir)
    if step is None:
        return from_dir
    if step < 0:
        raise UserError(f"--step {step}: expected a whole number >= 0")
    if from_dir is not None and from_dir != step:
        raise UserError(
            f"--step {step} disagrees with --out-dir {out_dir} (a folder of step {from_dir}); "
            "the summaries would record the wrong step"
        )
    return step


def _run_in_engines_python(args: argparse.Namespace) -> None:
    """evaluation.engine vllm where this interpreter has no vLLM: re-run this command in the engines'
    interpreter (rlscaling.environments.engines_python: .venv-engines, or RLSCALING_ENGINES_PYTHON),
    replacing this process (same pid, so the job's signals and time limits reach it)."""
    import importlib.util

    from rlscaling.environments import engines_python

    if importlib.util.find_spec("vllm") is not None:
        return
    python = engines_python(module="vllm")
    # venv interpreters are symlinks to one base interpreter: compare the environments, not the binaries
    if Path(os.path.abspath(python)).parent.parent == Path(sys.prefix):
        raise UserError(
            "evaluation engine 'vllm' needs the vllm package, which this environment lacks: install the "
            "engines environment (make engines-venv; GPU nodes: envs/verl-gpu.yaml), set "
            "RLSCALING_ENGINES_PYTHON, or set evaluation.engine: hf"
        )
    argv = [python, "-m", "rlscaling", "evaluate", "--model", str(args.model)]
    argv += ["--bench", *map(str, args.bench), "--params-json", args.params_json]
    argv += ["--threads", str(args.threads), "--out-dir", str(args.out_dir)]
    argv += [] if args.step is None else ["--step", str(args.step)]
    print(f"evaluate: vllm runs in {python}", file=sys.stderr, flush=True)
    os.execv(python, argv)


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    params = parse_params(args.params_json)
    step = checkpoint_step(args.step, args.out_dir)
    _track(Path(args.out_dir), None, [])  # tracking on and its package missing: stop before evaluating
    names = [Path(b).stem for b in args.bench]
    if len(set(names)) != len(names):
        raise UserError(f"--bench: two files share a name (file stem): {names}")
    threads = max(1, int(args.threads))
    if params.engine == "hf":  # what the training segment already evaluated in its own process
        from rlscaling.evaluate import memo
        from rlscaling.io import read_params_json

        files = memo.lookup(args.model, args.bench, read_params_json(args.params_json), step, threads)
        if files is not None:
            summaries = memo.copy_out(files, args.out_dir)
            for summary in summaries:
                print_summary(summary, "from the training segment's evaluation")
            _track(Path(args.out_dir), step, summaries)
            return 0
    if params.engine == "vllm":
        _run_in_engines_python(args)
    summaries = evaluate_checkpoint(args.model, args.bench, args.params_json, threads, args.out_dir, step)
    _track(Path(args.out_dir), step, summaries)
    return 0


def _track(out_dir: Path, step: int | None, summaries: list[dict]) -> None:
    """With tracking on (rlscaling.tracking, settings from the workflow's environment): the checkpoint's
    results to its run's tracked run, against the RL step (the run is the folder above step_K)."""
    from rlscaling import tracking

    settings = tracking.Settings.from_environment()
    if settings.enabled:
        tracking.require(settings.backend)
    if settings.enabled and step is not None and summaries:
        tracking.log_evaluation(settings, out_dir.resolve().parent.name, step, summaries)
