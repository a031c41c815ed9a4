"""Evaluate one checkpoint on benchmark files, in this process: the work of `rlscaling evaluate`, also
done by a training segment for the checkpoint it has just written (rlscaling.evaluate.memo). Torch and
the engines are imported only when a checkpoint is really evaluated."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlscaling.evaluate.params import EvalParams, parse_params

if TYPE_CHECKING:
    from rlscaling.evaluate.engines import Engine


def make_engine(params: EvalParams, model: str, threads: int) -> Engine:
    """The engine `params.engine` names: HFEngine here, or rlscaling.evaluate_vllm.VLLMEngine."""
    if params.engine == "vllm":
        from rlscaling.evaluate.vllm import VLLMEngine

        return VLLMEngine(model, params, threads)
    from rlscaling.evaluate.hf import HFEngine

    return HFEngine(model, params, threads)


def evaluate_checkpoint(
    model: str,
    bench_paths: list[str | Path],
    params_json: str,
    threads: int,
    out_dir: str | Path,
    step: int | None,
) -> list[dict[str, Any]]:
    """Evaluate checkpoint `model` on every benchmark file; write `{out_dir}/{bench}.json` and
    `{bench}.samples.parquet` (each atomically) and return the summaries. Seeds torch once with the
    params' seed, so the same inputs and thread count give the same samples in any process."""
    from rlscaling.evaluate import bench as B
    from rlscaling.evaluate.summary import evaluate_bench

    params = parse_params(params_json)
    benches = [B.load_bench(p) for p in bench_paths]
    score_fn, scorer_for_source = B._load_scoring()
    methods = {b.name: B.resolve_scorers(b, params.scorers.get(b.name), scorer_for_source) for b in benches}

    import torch

    from rlscaling.io import write_json, write_parquet

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    torch.manual_seed(params.seed)
    engine = make_engine(params, model, threads)
    out_dir = Path(out_dir)
    summaries = []
    for bench in benches:
        summary, samples = evaluate_bench(
            engine, bench, params, methods[bench.name], score_fn, model=str(model), step=step
        )
        write_parquet(out_dir / f"{bench.name}.samples.parquet", samples)
        write_json(out_dir / f"{bench.name}.json", summary)
        summaries.append(summary)
        print_summary(summary, f"{summary['seconds']:.1f} s")
    return summaries


def print_summary(summary: dict[str, Any], note: str) -> None:
    print(
        f"{summary['bench']}: pass@1 {summary['pass_at_1']:.4f} (+- {summary['pass_at_1_stderr'] or 0:.4f}), "
        f"format {summary['format_rate']:.3f}, {summary['n_problems']} problems x {summary['n_samples']}, "
        f"{note}",
        file=sys.stderr,
    )
