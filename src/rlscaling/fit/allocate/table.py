"""What the three allocation analyses share: table checks, groups of curves, the bootstrap and the
intervals it gives (every parameter as {"value", "ci95": [lo, hi]}, 95% percentile bootstrap)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import MEASUREMENT_COLUMNS, NEUTRAL_COLUMNS, PRETRAIN_COLUMNS, REPLICATE_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit.bootstrap import percentile_interval

MIN_LEVELS = 3
DEFAULT_BOOTSTRAP = 200
# columns that never separate groups of an analysis: the curve names and replicates, the per-point
# measurements (`reward` aside: a text `reward` column names a sweep's reward function), the RL compute,
# the pre-training columns and the paper import's `experiment` tag
_NEUTRAL = {
    *NEUTRAL_COLUMNS,
    *(MEASUREMENT_COLUMNS - {"reward"}),
    *PRETRAIN_COLUMNS,
    "pass_at_1",
    "C_rl",
    "experiment",
}


def dimension_column(df: pd.DataFrame, candidates: tuple[str, ...], analysis: str) -> str:
    """The first of `candidates` present in df; UserError naming the missing column otherwise."""
    for c in candidates:
        if c in df.columns and df[c].notna().any():
            return c
    raise UserError(
        f"allocate {analysis}: the curves table has no {candidates[0]!r} column"
        + (f" (nor {', '.join(repr(c) for c in candidates[1:])})" if len(candidates) > 1 else "")
        + f"; columns: {sorted(map(str, df.columns))}"
    )


def need_columns(df: pd.DataFrame, cols: tuple[str, ...], analysis: str) -> None:
    missing = [c for c in cols if c not in df.columns or not df[c].notna().any()]
    if missing:
        raise UserError(
            f"allocate {analysis}: the curves table has no {missing} column(s) with values; "
            f"columns: {sorted(map(str, df.columns))}"
        )


def check_levels(levels: np.ndarray, column: str, analysis: str, group: str = "") -> None:
    """UserError when fewer than MIN_LEVELS distinct values: a best level cannot be located."""
    u = np.unique(levels)
    if u.size < MIN_LEVELS:
        where = f" in {group}" if group else ""
        raise UserError(
            f"allocate {analysis}: {column} has {u.size} level(s){where} ({u.tolist()}); at least "
            f"{MIN_LEVELS} are needed to locate an optimum (unidentifiable with fewer)"
        )


def loss(df: pd.DataFrame) -> pd.Series:
    if "L" in df.columns and df["L"].notna().any():
        return df["L"].astype(float)
    if "pass_at_1" in df.columns:
        return 1.0 - df["pass_at_1"].astype(float)
    raise UserError("allocate: the curves table needs L (= 1 - pass@1) or pass_at_1")


def curve_groups(
    df: pd.DataFrame, dim: str, extra: tuple[str, ...] = (), by_N: bool = True
) -> list[tuple[str, pd.DataFrame]]:
    """Split df by its non-neutral key columns other than dim (e.g. source, bench) and, with by_N, by
    model size N; label 'col=value, ...'."""
    keys = [
        c
        for c in df.columns
        if c not in _NEUTRAL
        and c != dim
        and c not in REPLICATE_COLUMNS
        and c not in extra
        and not pd.api.types.is_float_dtype(df[c])
        and df[c].nunique(dropna=False) > 1
        # a key names whole curves: constant along each run (an integer measurement is not a key)
        and ("run" not in df.columns or bool((df.groupby("run")[c].nunique(dropna=False) <= 1).all()))
    ]
    if by_N and "N" in df.columns and df["N"].nunique() > 1:
        keys.insert(0, "N")
    if not keys:
        return [("all", df)]
    out = []
    for vals, g in df.groupby(keys, dropna=False, sort=True):
        vals = vals if isinstance(vals, tuple) else (vals,)
        out.append(
            (", ".join(f"{k}={v:g}" if k == "N" else f"{k}={v}" for k, v in zip(keys, vals, strict=True)), g)
        )
    return out


def replicate_column(df: pd.DataFrame, dim: str) -> str | None:
    for c in REPLICATE_COLUMNS:
        if c in df.columns and (df.groupby(dim)[c].nunique() > 1).any():
            return c
    return None


def param(value: float, samples: np.ndarray | None) -> dict[str, Any]:
    return {
        "value": None if value is None or not np.isfinite(value) else float(value),
        "ci95": [None, None] if samples is None else percentile_interval(samples),
    }


def loglinear(x: np.ndarray, L: np.ndarray) -> tuple[float, float]:
    """(k, E0) of log10 L = -k log10 x + E0 by least squares (x > 0, 0 < L)."""
    slope, icpt = np.polyfit(np.log10(x), np.log10(L), 1)
    return float(-slope), float(icpt)


def resample_points(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, n, n)


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return math.nan, math.nan
    b, a = np.polyfit(x[ok], y[ok], 1)
    return float(a), float(b)


def bootstrap_samples(
    g: pd.DataFrame, dim: str, rep: str | None, nboot: int, seed: int, fn: Callable[[pd.DataFrame], Any]
) -> list[Any]:
    """fn on nboot resampled copies of g: replicates within each level, else points within each curve."""
    rng = np.random.default_rng(seed)
    out = []
    parts = {v: sub for v, sub in g.groupby(dim)}
    for _ in range(nboot):
        pieces = []
        for _, sub in parts.items():
            if rep is not None:
                reps = sub[rep].unique()
                pick = rng.choice(reps, reps.size, replace=True)
                for j, r in enumerate(pick):
                    pieces.append(sub[sub[rep] == r].assign(_boot_rep=j))
            else:
                pieces.append(sub.iloc[resample_points(rng, len(sub))])
        try:
            out.append(fn(pd.concat(pieces, ignore_index=True)))
        except (UserError, np.linalg.LinAlgError, ValueError):
            out.append(None)
    return out
