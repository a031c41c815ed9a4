"""Scoring of sampled responses and the per-benchmark summary: pass@1, unbiased pass@k, format rate,
lengths, per-difficulty rates, with the sampling settings that produced them."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError
from rlscaling.evaluate.bench import Bench
from rlscaling.evaluate.engines import Engine, Generation
from rlscaling.evaluate.params import EvalParams

_STEP_RE = re.compile(r"^step_(\d+)$")


# --------------------------------------------------------------------------------------------------
# one benchmark


def score_samples(
    bench: Bench,
    generations: list[list[Generation]],
    methods: list[str],
    score_fn: Callable[..., Any],
) -> Any:
    """The per-sample table (pandas DataFrame, one row per (problem, sample), problem order kept)."""
    import pandas as pd

    rows = []
    for pos, (p, gens, method) in enumerate(zip(bench.problems, generations, methods, strict=True)):
        for j, g in enumerate(gens):
            try:
                s = score_fn(g.text, p.ground_truth, method)
                value, correct = float(getattr(s, "score", 0.0)), bool(getattr(s, "correct", False))
                extracted, format_ok = getattr(s, "extracted", None), bool(getattr(s, "format_ok", False))
                reason = str(getattr(s, "reason", None) or "")  # "" when correct, as the verl adapter
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001 - a checker failure on one answer scores it 0
                value, correct, extracted, format_ok = 0.0, False, None, False
                reason = f"scorer_error: {type(err).__name__}"
            rows.append(
                {
                    "problem": pos,
                    "index": p.index,
                    "data_source": p.data_source,
                    "ground_truth": p.ground_truth,
                    "sample": j,
                    "response": g.text,
                    "response_tokens": int(g.n_tokens),
                    "finished": bool(g.finished),
                    "extracted": None if extracted is None else str(extracted),
                    "score": value,
                    "correct": correct,
                    "format_ok": format_ok,
                    "reason": reason,
                    "scorer": method,
                }
            )
    df = pd.DataFrame(rows)
    if len({type(v) for v in df["index"]}) > 1:  # mixed int / str ids: one parquet type
        df["index"] = df["index"].astype(str)
    return df.astype({"extracted": "object"})


def difficulty_bins(values: Sequence[Any], max_levels: int = 12, n_bins: int = 5) -> list[str | None]:
    """A label per problem for per-difficulty metrics: the value itself when there are few distinct
    values (levels), else quantile bins of numeric scores labelled "[lo, hi]"."""
    import numpy as np

    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    distinct = sorted({str(v) for v in present})
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if len(distinct) <= max_levels or not numeric:
        return [None if v is None else str(v) for v in values]
    arr = np.array([float(v) for v in present])
    edges = np.unique(np.quantile(arr, np.linspace(0, 1, n_bins + 1)))
    labels = []
    for v in values:
        if v is None:
            labels.append(None)
            continue
        b = min(int(np.searchsorted(edges, float(v), side="right")) - 1, len(edges) - 2)
        b = max(b, 0)
        labels.append(f"[{edges[b]:.3g}, {edges[b + 1]:.3g}]")
    return labels


def summarize(
    bench: Bench,
    samples: Any,
    params: EvalParams,
    *,
    model: str,
    step: int | None,
    seconds: float,
    generation_seconds: float,
    prompt_format: str = "chat_template",
) -> dict[str, Any]:
    """The {bench}.json summary from the per-sample table."""
    import numpy as np

    from rlscaling.passk import counts_from_correct, mean_pass_at_k

    _, n, c = counts_from_correct(samples["problem"].to_numpy(), samples["correct"].to_numpy())
    per_problem = c / n  # problems in bench order (samples are grouped by problem)
    if params.greedy:  # every further sample would repeat the first: pass@k = pass@1
        pass_k = {str(k): float(per_problem.mean()) for k in params.pass_k}
    else:
        pass_k = {str(k): v for k, v in mean_pass_at_k(n, c, params.pass_k).items()}
    n_problems = len(per_problem)
    stderr = float(per_problem.std(ddof=1) / math.sqrt(n_problems)) if n_problems > 1 else None
    per_difficulty: dict[str, float] = {}
    labels = difficulty_bins([p.difficulty for p in bench.problems])
    groups: dict[str, list[float]] = {}
    for value, label in zip(per_problem, labels, strict=True):
        if label is not None:
            groups.setdefault(label, []).append(float(value))
    for label, vals in groups.items():
        per_difficulty[label] = float(np.mean(vals))
    methods = sorted(set(samples["scorer"]))
    n_total = int(len(samples))
    tokens = samples["response_tokens"].to_numpy()
    summary = {
        "bench": bench.name,
        "model": model,
        "step": step,
        "engine": params.engine,
        "n_problems": n_problems,
        "n_samples": params.n_samples,
        "n_samples_requested": params.n_samples_requested,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "greedy": params.greedy,
        "max_response_tokens": params.max_response_tokens,
        "seed": params.seed,
        "scorer": methods[0] if len(methods) == 1 else methods,
        "prompt_format": prompt_format,
        "pass_at_1": float(per_problem.mean()),
        "pass_at_k": pass_k,
        "pass_at_1_stderr": stderr,
        "format_rate": float(samples["format_ok"].mean()),
        "mean_response_tokens": float(tokens.mean()),
        "mean_response_chars": float(samples["response"].str.len().mean()),
        "truncated_rate": float((~samples["finished"].astype(bool)).mean()),
        "scorer_errors": int(samples["reason"].str.startswith("scorer_error").sum()),
        "seconds": round(float(seconds), 3),
        "generation_seconds": round(float(generation_seconds), 3),
        "samples_per_second": n_total / seconds if seconds > 0 else None,
        "tokens_per_second": float(tokens.sum()) / generation_seconds if generation_seconds > 0 else None,
        "per_difficulty": dict(sorted(per_difficulty.items())),
        "notes": list(params.notes),
    }
    return summary


def evaluate_bench(
    engine: Engine,
    bench: Bench,
    params: EvalParams,
    methods: list[str],
    score_fn: Callable[..., Any],
    *,
    model: str,
    step: int | None,
) -> tuple[dict[str, Any], Any]:
    """Generate, score and summarize one benchmark. Returns (summary dict, per-sample DataFrame)."""
    t0 = time.perf_counter()
    gens = engine.generate([p.messages for p in bench.problems], params.n_samples, desc=bench.name)
    t_gen = time.perf_counter() - t0
    samples = score_samples(bench, gens, methods, score_fn)
    seconds = time.perf_counter() - t0
    summary = summarize(
        bench,
        samples,
        params,
        model=model,
        step=step,
        seconds=seconds,
        generation_seconds=t_gen,
        prompt_format=getattr(engine, "prompt_format", "chat_template"),
    )
    return summary, samples


def step_from_dir(out_dir: str | Path) -> int | None:
    """The checkpoint step from an out-dir named step_NNNNNN, else None."""
    m = _STEP_RE.match(Path(out_dir).name)
    return int(m.group(1)) if m else None
