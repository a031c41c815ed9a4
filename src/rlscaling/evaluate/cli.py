"""`rlscaling evaluate`: one checkpoint on every benchmark, one engine (model loaded once)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rlscaling.errors import UserError
from rlscaling.evaluate.bench import _load_scoring, load_bench, resolve_scorers
from rlscaling.evaluate.engines import Engine
from rlscaling.evaluate.hf import HFEngine
from rlscaling.evaluate.params import EvalParams, parse_params
from rlscaling.evaluate.summary import evaluate_bench, step_from_dir


def make_engine(params: EvalParams, model: str, threads: int) -> Engine:
    """The engine `params.engine` names: HFEngine here, or rlscaling.evaluate_vllm.VLLMEngine."""
    if params.engine == "vllm":
        from rlscaling.evaluate.vllm import VLLMEngine

        return VLLMEngine(model, params, threads)
    return HFEngine(model, params, threads)


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
    if params.engine == "vllm":
        _run_in_engines_python(args)
    benches = [load_bench(p) for p in args.bench]
    names = [b.name for b in benches]
    if len(set(names)) != len(names):
        raise UserError(f"--bench: two files share a name (file stem): {names}")
    score_fn, scorer_for_source = _load_scoring()
    methods = {b.name: resolve_scorers(b, params.scorers.get(b.name), scorer_for_source) for b in benches}

    import torch

    from rlscaling.io import write_json, write_parquet

    threads = max(1, int(args.threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    torch.manual_seed(params.seed)
    engine = make_engine(params, args.model, threads)
    out_dir = Path(args.out_dir)
    summaries = []
    for bench in benches:
        summary, samples = evaluate_bench(
            engine, bench, params, methods[bench.name], score_fn, model=str(args.model), step=step
        )
        write_parquet(out_dir / f"{bench.name}.samples.parquet", samples)
        write_json(out_dir / f"{bench.name}.json", summary)
        summaries.append(summary)
        print(
            f"{bench.name}: pass@1 {summary['pass_at_1']:.4f} (+- {summary['pass_at_1_stderr'] or 0:.4f}), "
            f"format {summary['format_rate']:.3f}, {summary['n_problems']} problems x {params.n_samples}, "
            f"{summary['seconds']:.1f} s",
            file=sys.stderr,
        )
    _track(out_dir, step, summaries)
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
