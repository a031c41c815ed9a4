"""Benchmark files (verl's RL schema) as problems: chat prompt, ground truth, data source, difficulty;
and the scoring method of each problem (rlscaling.rewards)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlscaling.rows import BadRow, UnscorableRow, prompt_and_answer, unscorable_message
from rlscaling.errors import UserError


# --------------------------------------------------------------------------------------------------
# benchmarks


@dataclass(frozen=True)
class Problem:
    """One benchmark problem."""

    index: Any  # extra_info.index (else the row number)
    data_source: str
    messages: list[dict[str, str]]  # chat messages, each {role, content}
    ground_truth: str
    difficulty: Any = None  # extra_info.level / extra_info.difficulty / a flat column, when present


@dataclass(frozen=True)
class Bench:
    name: str  # the parquet's file stem
    path: Path
    problems: list[Problem]


def _plain(value: Any) -> Any:
    """numpy / pyarrow containers and scalars -> plain Python (lists, dicts, str, int, float, None)."""
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def load_bench(path: str | Path, max_rows: int | None = None) -> Bench:
    """Read a benchmark parquet (verl RL schema). Raises UserError naming the file and field."""

    from rlscaling.io import read_parquet

    path = Path(path)
    df = read_parquet(path, "benchmark file")
    if "prompt" not in df.columns:
        raise UserError(f"benchmark file {path}: missing field `prompt` (chat messages)")
    has_flat = "ground_truth" in df.columns
    has_nested = "reward_model" in df.columns
    if not has_flat and not has_nested:
        raise UserError(
            f"benchmark file {path}: missing field `ground_truth` (neither a `ground_truth` column nor "
            "`reward_model.ground_truth`)"
        )
    if max_rows is not None:
        df = df.iloc[:max_rows]
    problems, bad = [], []
    for row_no, row in enumerate(df.to_dict("records")):
        try:
            messages, gt = prompt_and_answer(
                _plain(row["prompt"]),
                _plain(row.get("ground_truth")) if has_flat else None,
                _plain(row.get("reward_model")) if has_nested else None,
            )
        except UnscorableRow as rej:
            bad.append(BadRow(str(path), row_no, rej.field, rej.reason, rej.detail))
            continue
        extra = _plain(row.get("extra_info")) or {}
        if not isinstance(extra, dict):
            extra = {}
        index = extra.get("index", row_no)
        difficulty = None
        for key in ("level", "difficulty"):
            if extra.get(key) is not None:
                difficulty = extra[key]
                break
            if _plain(row.get(key)) is not None:
                difficulty = _plain(row.get(key))
                break
        source = _plain(row.get("data_source"))
        problems.append(
            Problem(
                index=index if isinstance(index, (int, str)) else str(index),
                data_source="" if source is None else str(source),
                messages=messages,
                ground_truth=gt,
                difficulty=difficulty,
            )
        )
    if bad:
        raise UserError(unscorable_message(bad, len(df), f"benchmark file {path}"))
    if not problems:
        raise UserError(f"benchmark file {path}: has no rows")
    return Bench(name=path.name.removesuffix(".parquet"), path=path, problems=problems)


# --------------------------------------------------------------------------------------------------
# scoring


def _load_scoring() -> tuple[Callable[..., Any], Callable[[str], str]]:
    """(score, scorer_for_source) from rlscaling.rewards (imported lazily; tests may replace this)."""
    from rlscaling.rewards import score, scorer_for_source

    return score, scorer_for_source


def resolve_scorers(
    bench: Bench, configured: str | None, scorer_for_source: Callable[[str], str]
) -> list[str]:
    """The scoring method of each problem: the configured one, else the rewards default of its source."""
    if configured:
        return [configured] * len(bench.problems)
    methods: dict[str, str] = {}
    for p in bench.problems:
        if p.data_source not in methods:
            try:
                method = scorer_for_source(p.data_source)
                if not method:
                    raise ValueError("no default scorer")
                methods[p.data_source] = method
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001
                raise UserError(
                    f"benchmark file {bench.path}: no scorer for data_source {p.data_source!r} ({err}); "
                    f"set benchmarks.{bench.name}.scorer"
                ) from None
    return [methods[p.data_source] for p in bench.problems]
