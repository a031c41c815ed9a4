"""Compute allocation from a curves table: rollouts per prompt, data reuse, pre-training vs RL.

`rlscaling allocate {rollouts,reuse,split} CURVES -o OUT.json [--figure OUT.png] [--where COL=VALUE]`

Each analysis reads a tidy curves table (a study's curves.parquet or `rlscaling curves import`
output), refuses a table that lacks its dimension (naming the missing column) or has fewer than
`MIN_LEVELS` levels of it (unidentifiable), and answers per group of curves (e.g. source=base and
source=instruct are separate answers; rows of other benchmarks must be filtered with --where).

rollouts
    Runs that differ in the GRPO group size n (`rollouts_per_prompt`). Every curve gets the paper's
    log-linear form in compute, log10 L = -k_n log10 C + E0_n (C in FLOPs), evaluated only inside
    the compute range the curve covers. At each compute level C (a log grid over the range that at
    least MIN_LEVELS curves cover) the best n is the argmin of L_n(C); the continuous n* is the
    vertex of the parabola in log2 n through the argmin and its neighbours, or the edge value when
    the argmin is the smallest / largest n covering C (then `censored`: 'lower' / 'upper' at the
    grid's smallest / largest n, 'coverage-lower' / 'coverage-upper' when a smaller / larger n was run
    but its curve does not reach C, so the optimum may lie there). The law
    log2 n* = a + b log10 C is fitted by least squares over the grid levels that are not
    coverage-censored; `saturates` compares the slopes over the lower and upper halves of the log C
    range (IsoCompute's finding: the best n grows with compute, then saturates). Runs compared at
    equal rollouts per step (prompts_per_step x n constant) are compute-matched at equal steps, and
    C does the same job for runs that are not (the paper's 512 prompts x n).

reuse
    Curves that differ in the data-reuse factor tau (`reuse_tau`). Loss at equal steps against
    tau = 1 in percent of L_1: (i) `fit`: the reuse law's log-linear curves in step
    (rlscaling.fit.reuse; mean over the common step range), the numbers the paper's comparison used;
    (ii) `paired`: the mean over common steps of the measured (L_tau - L_1) / L_1. The trend is
    pct = c * log10 tau (least squares through the origin, percent per decade of tau).

split
    Base models that differ in pre-training tokens (`pretrain_tokens` or `D_pretrain`, C_pretrain =
    6 N tokens when no `C_pretrain` column; a study's curves.parquet: its `C_pretrain`) per size N,
    each followed by an RL curve in C (RL FLOPs, 0 at the base model). For a total budget B (FLOPs)
    every base model with C_pretrain < B spends
    C_rl = B - C_pretrain on RL; its loss there is interpolated linearly in C along its RL curve
    (only inside it). The iso-FLOP curve is final L against the RL share s = C_rl / B; the optimal
    share s* is the vertex of the parabola of L in logit(s) through the best base model and its two
    neighbours (censored when the best is the smallest or largest share sampled; `sparse` when the
    curve has fewer than MIN_ISOFLOP_POINTS points), and the law logit(s*) = a + b log10 B, fitted on
    the budgets that are neither, states how the optimum moves with the budget.

Intervals (95%, percentile bootstrap) resample replicates (a `seed` / `replicate` column with more than
one value per level: whole curves, within each level) where present, else points within each curve
(rollouts, reuse) or the iso-FLOP residuals (split). Every parameter is reported as
{"value", "ci95": [lo, hi]}.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rlscaling.curves_table import (  # noqa: E402
    MEASUREMENT_COLUMNS,
    NEUTRAL_COLUMNS,
    PRETRAIN_COLUMNS,
    REPLICATE_COLUMNS,
    ROLLOUT_COLUMNS,
    TAU_COLUMNS,
)
from rlscaling.errors import UserError  # noqa: E402

ANALYSES = ("rollouts", "reuse", "split")
MIN_LEVELS = 3
# an iso-FLOP curve locates its optimum (for the split law) with >= this many base models on it
MIN_ISOFLOP_POINTS = 5
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
DEFAULT_BOOTSTRAP = 200


# --------------------------------------------------------------------------------------------------
# table checks


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


def _loss(df: pd.DataFrame) -> pd.Series:
    if "L" in df.columns and df["L"].notna().any():
        return df["L"].astype(float)
    if "pass_at_1" in df.columns:
        return 1.0 - df["pass_at_1"].astype(float)
    raise UserError("allocate: the curves table needs L (= 1 - pass@1) or pass_at_1")


def _groups(
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


def _replicate_column(df: pd.DataFrame, dim: str) -> str | None:
    for c in REPLICATE_COLUMNS:
        if c in df.columns and (df.groupby(dim)[c].nunique() > 1).any():
            return c
    return None


def _interval(samples: np.ndarray) -> list[float | None]:
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return [None, None]
    lo, hi = np.percentile(s, [2.5, 97.5])
    return [float(lo), float(hi)]


def _param(value: float, samples: np.ndarray | None) -> dict[str, Any]:
    return {
        "value": None if value is None or not np.isfinite(value) else float(value),
        "ci95": [None, None] if samples is None else _interval(samples),
    }


def loglinear(x: np.ndarray, L: np.ndarray) -> tuple[float, float]:
    """(k, E0) of log10 L = -k log10 x + E0 by least squares (x > 0, 0 < L)."""
    slope, icpt = np.polyfit(np.log10(x), np.log10(L), 1)
    return float(-slope), float(icpt)


def _resample_points(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, n, n)


# --------------------------------------------------------------------------------------------------
# rollouts


@dataclass
class LevelCurves:
    """Per-level log-linear curves in x: levels (n), k, E0 and the x range each covers."""

    levels: np.ndarray
    k: np.ndarray
    E0: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def L(self, x: np.ndarray) -> np.ndarray:
        """Loss matrix (levels, len(x)), NaN where a level's curve does not cover x."""
        lx = np.log10(np.asarray(x, dtype=float))[None, :]
        out = 10.0 ** (-self.k[:, None] * lx + self.E0[:, None])
        cover = (x[None, :] >= self.lo[:, None] * (1 - 1e-9)) & (x[None, :] <= self.hi[:, None] * (1 + 1e-9))
        return np.where(cover, out, np.nan)


def fit_level_curves(
    levels: np.ndarray, x: np.ndarray, L: np.ndarray, extrapolate: float = 1.0
) -> LevelCurves:
    """One log-linear curve per distinct level (points of one level pooled), used over its measured x
    range widened by the factor `extrapolate` at both ends (1: interpolation only)."""
    u = np.unique(levels)
    ks, es, lo, hi = [], [], [], []
    for v in u:
        m = levels == v
        if np.unique(x[m]).size < 2:
            raise UserError(f"allocate: level {v:g} has < 2 distinct x values")
        k, e = loglinear(x[m], L[m])
        ks.append(k)
        es.append(e)
        lo.append(x[m].min() / extrapolate)
        hi.append(x[m].max() * extrapolate)
    return LevelCurves(u.astype(float), np.array(ks), np.array(es), np.array(lo), np.array(hi))


def best_level(levels: np.ndarray, Lcol: np.ndarray) -> tuple[float, float, str | None]:
    """(discrete best level, continuous optimum, censored) from the losses of the levels at one x.

    The continuous optimum is the vertex of the parabola in log2(level) through the argmin and its
    two neighbours among the levels with a loss (NaN = not covered); at an edge it is the edge level
    and censored is 'lower' / 'upper' (the optimum may lie beyond the grid) or 'coverage-lower' /
    'coverage-upper' (a level beyond the edge exists but has no loss here)."""
    ok = np.isfinite(Lcol)
    lv, Lv = levels[ok], Lcol[ok]
    if lv.size == 0:
        return math.nan, math.nan, None
    i = int(np.argmin(Lv))
    if i == 0 or i == lv.size - 1:
        if lv.size == 1:
            return float(lv[i]), float(lv[i]), None
        low = i == 0
        # the argmin is the smallest / largest n of the grid (the optimum may lie beyond it), or the
        # curves of smaller / larger n do not reach this x (the optimum may lie among them: coverage)
        beyond = (levels[~ok] < lv[i]).any() if low else (levels[~ok] > lv[i]).any()
        kind = ("coverage-" if beyond else "") + ("lower" if low else "upper")
        return float(lv[i]), float(lv[i]), kind
    t = np.log2(lv[i - 1 : i + 2])
    c2, c1, _ = np.polyfit(t, Lv[i - 1 : i + 2], 2)
    vertex = -c1 / (2 * c2) if c2 > 0 else t[1]
    vertex = float(np.clip(vertex, t[0], t[2]))
    return float(lv[i]), float(2.0**vertex), None


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return math.nan, math.nan
    b, a = np.polyfit(x[ok], y[ok], 1)
    return float(a), float(b)


def _rollouts_point(levels_pts, x, L, grid, extrapolate: float = 1.0) -> dict[str, np.ndarray]:
    curves = fit_level_curves(levels_pts, x, L, extrapolate)
    M = curves.L(grid)
    disc, cont, cens = [], [], []
    for j in range(grid.size):
        d, c, s = best_level(curves.levels, M[:, j])
        disc.append(d)
        cont.append(c)
        cens.append(s or "")
    cont_a = np.array(cont)
    use = np.array([not c.startswith("coverage") for c in cens])  # bounds of unknown side: left out
    lg = np.log10(grid)
    a, b = _slope(lg[use], np.log2(cont_a[use]))
    half = lg <= np.median(lg)
    _, b_lo = _slope(lg[half & use], np.log2(cont_a[half & use]))
    _, b_hi = _slope(lg[~half & use], np.log2(cont_a[~half & use]))
    return {
        "curves": curves,
        "L": M,
        "best": np.array(disc),
        "nstar": cont_a,
        "censored": np.array(cens, dtype=object),
        "a": a,
        "b": b,
        "b_low": b_lo,
        "b_high": b_hi,
    }


def _coverage_grid(curves: LevelCurves, n_grid: int) -> np.ndarray:
    """Log grid over the x range covered by at least MIN_LEVELS curves."""
    edges = np.unique(np.concatenate([curves.lo, curves.hi]))
    covered = [
        e
        for e in edges
        if ((curves.lo <= e * (1 + 1e-9)) & (curves.hi >= e * (1 - 1e-9))).sum() >= MIN_LEVELS
    ]
    if not covered:
        raise UserError(
            f"allocate rollouts: no compute level is covered by {MIN_LEVELS} or more curves "
            "(their compute ranges do not overlap); unidentifiable"
        )
    lo, hi = min(covered), max(covered)
    if hi <= lo:
        raise UserError("allocate rollouts: the curves overlap at a single compute level only")
    return np.geomspace(lo, hi, n_grid)


def _bootstrap_samples(
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
                pieces.append(sub.iloc[_resample_points(rng, len(sub))])
        try:
            out.append(fn(pd.concat(pieces, ignore_index=True)))
        except (UserError, np.linalg.LinAlgError, ValueError):
            out.append(None)
    return out


def rollouts(
    df: pd.DataFrame,
    *,
    x: str = "C",
    n_grid: int = 12,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    extrapolate: float = 1.0,
) -> dict[str, Any]:
    """Best rollouts per prompt n against compute, per group of curves (see module doc).

    x: 'C' (cumulative RL FLOPs) or 'step' (for runs compute-matched by construction).
    extrapolate: each curve's log-linear fit is used up to this factor beyond its measured x range."""
    if extrapolate < 1:
        raise UserError(f"--extrapolate {extrapolate}: must be >= 1")
    dim = dimension_column(df, ROLLOUT_COLUMNS, "rollouts")
    need_columns(df, (x,), "rollouts")
    df = df.assign(L=_loss(df))
    df = df[(df[x] > 0) & (df["L"] > 0) & df[dim].notna()]
    check_levels(df[dim].to_numpy(float), dim, "rollouts")
    groups = []
    for label, g in _groups(df, dim):
        check_levels(g[dim].to_numpy(float), dim, "rollouts", label)
        rep = _replicate_column(g, dim)
        lv, xv, Lv = g[dim].to_numpy(float), g[x].to_numpy(float), g["L"].to_numpy(float)
        grid = _coverage_grid(fit_level_curves(lv, xv, Lv, extrapolate), n_grid)
        est = _rollouts_point(lv, xv, Lv, grid, extrapolate)

        def fn(b: pd.DataFrame, grid=grid) -> dict[str, np.ndarray]:
            return _rollouts_point(
                b[dim].to_numpy(float), b[x].to_numpy(float), b["L"].to_numpy(float), grid, extrapolate
            )

        boots = [s for s in _bootstrap_samples(g, dim, rep, bootstrap, seed, fn) if s is not None]
        groups.append(_rollouts_json(label, dim, x, grid, est, boots, rep))
    return {
        "analysis": "rollouts",
        "dimension": dim,
        "x": x,
        "extrapolate": extrapolate,
        "bootstrap": {"resamples": bootstrap, "unit": groups[0]["bootstrap_unit"] if groups else None},
        "groups": groups,
    }


def _rollouts_json(label, dim, x, grid, est, boots, rep) -> dict[str, Any]:
    curves: LevelCurves = est["curves"]
    nst = np.array([b["nstar"] for b in boots]) if boots else None
    best = np.array([b["best"] for b in boots]) if boots else None
    levels_tab = []
    for j, c in enumerate(grid):
        pairs = list(zip(curves.levels, est["L"][:, j], strict=True))
        row: dict[str, Any] = {
            x: float(c),
            "levels_covering": [float(v) for v, L in pairs if np.isfinite(L)],
            "L": {f"{v:g}": (None if not np.isfinite(L) else float(L)) for v, L in pairs},
            "best": float(est["best"][j]),
            "nstar": _param(est["nstar"][j], None if nst is None else nst[:, j]),
            "censored": est["censored"][j] or None,
        }  # fmt: skip
        if best is not None:
            row["p_best"] = {f"{v:g}": float(np.mean(best[:, j] == v)) for v in curves.levels}
        levels_tab.append(row)

    def samples(key: str) -> np.ndarray | None:
        return None if not boots else np.array([b[key] for b in boots])

    law = {
        "form": f"log2 n* = a + b log10 {x}",
        "a": _param(est["a"], samples("a")),
        "b": _param(est["b"], samples("b")),
        "b_low": _param(est["b_low"], samples("b_low")),
        "b_high": _param(est["b_high"], samples("b_high")),
    }
    d = samples("b_high")
    if d is not None:
        d = d - samples("b_low")
    law["b_high_minus_low"] = _param(est["b_high"] - est["b_low"], d)
    return {
        "group": label,
        "bootstrap_unit": "replicate" if rep else "point",
        "curves": {
            f"{v:g}": {"k": float(k), "E0": float(e), f"{x}_range": [float(lo), float(hi)]}
            for v, k, e, lo, hi in zip(curves.levels, curves.k, curves.E0, curves.lo, curves.hi, strict=True)
        },
        "levels": levels_tab,
        "law": law,
        "verdict": rollouts_verdict(law, [r["censored"] for r in levels_tab]),
    }


def rollouts_verdict(law: dict[str, Any], censored: list[str | None]) -> dict[str, Any]:
    """Does the best n grow with compute (b's interval above 0), and does it then saturate (the upper
    half's slope below the lower half's, interval of the difference below 0)?"""
    lo_b = law["b"]["ci95"][0]
    hi_d = law["b_high_minus_low"]["ci95"][1]
    grows = lo_b is not None and lo_b > 0
    saturates = hi_d is not None and hi_d < 0
    upper = sum(c == "upper" for c in censored)
    cover = sum(bool(c) and c.startswith("coverage") for c in censored)
    words = (
        ("best n grows with compute" if grows else "no significant growth of the best n with compute")
        + (
            "; its growth slows in the upper half of the compute range"
            if saturates
            else "; no sign of saturation"
        )
        + (f"; at {upper} of {len(censored)} compute levels the best n is the largest n run" if upper else "")
        + (
            f"; {cover} level(s) left out of the law: a better n there has no curve reaching them"
            if cover
            else ""
        )
    )
    return {
        "grows": bool(grows),
        "saturates": bool(saturates),
        "censored_upper_levels": int(upper),
        "coverage_censored_levels": int(cover),
        "isocompute_holds": bool(grows and saturates),
        "text": words,
    }


# --------------------------------------------------------------------------------------------------
# reuse


def _reuse_point(g: pd.DataFrame, dim: str) -> dict[str, dict[str, float]]:
    from rlscaling.fit.reuse import _loglin_fit

    out: dict[str, dict[str, float]] = {}
    base = g[np.isclose(g[dim].astype(float), 1.0)]
    b_by_step = base.groupby("step")["L"].mean()
    k1, e1 = _loglin_fit(base["step"].to_numpy(float), base["L"].to_numpy(float))
    for tau, sub in g.groupby(dim):
        k, e = _loglin_fit(sub["step"].to_numpy(float), sub["L"].to_numpy(float))
        lo = max(sub["step"].min(), base["step"].min())
        hi = min(sub["step"].max(), base["step"].max())
        s = np.linspace(lo, hi, 200)
        L1 = 10.0 ** (-k1 * np.log10(s) + e1)
        Lt = 10.0 ** (-k * np.log10(s) + e)
        t_by_step = sub.groupby("step")["L"].mean()
        common = b_by_step.index.intersection(t_by_step.index)
        rel = (t_by_step[common] - b_by_step[common]) / b_by_step[common]
        out[f"{float(tau):g}"] = {
            "fit_pct": float(100 * np.mean((Lt - L1) / L1)),
            "fit_final_pct": float(100 * (Lt[-1] - L1[-1]) / L1[-1]),
            "paired_pct": float(100 * rel.mean()) if len(common) else math.nan,
            "common_steps": int(len(common)),
        }
    return out


def _per_decade(res: dict[str, dict[str, float]], key: str) -> float:
    t = np.array([float(k) for k in res])
    y = np.array([res[k][key] for k in res])
    lt = np.log10(t)
    ok = np.isfinite(y)
    return float(np.sum(lt[ok] * y[ok]) / np.sum(lt[ok] ** 2))


def reuse(df: pd.DataFrame, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Loss at equal steps against tau = 1, per tau and group, with intervals (see module doc)."""
    dim = dimension_column(df, TAU_COLUMNS, "reuse")
    need_columns(df, ("step",), "reuse")
    df = df.assign(L=_loss(df))
    df = df[(df["step"] > 0) & (df["L"] > 0) & df[dim].notna()]
    check_levels(df[dim].to_numpy(float), dim, "reuse")
    groups = []
    for label, g in _groups(df, dim):
        check_levels(g[dim].to_numpy(float), dim, "reuse", label)
        if not np.isclose(g[dim].astype(float), 1.0).any():
            raise UserError(f"allocate reuse: no tau = 1 curve in {label} (the reference)")
        rep = _replicate_column(g, dim)
        est = _reuse_point(g, dim)
        boots = [
            b for b in _bootstrap_samples(g, dim, rep, bootstrap, seed, lambda b: _reuse_point(b, dim)) if b
        ]
        rows = {}
        for tau, v in est.items():
            rows[tau] = {
                key: _param(v[key], np.array([b[tau][key] for b in boots]) if boots else None)
                for key in ("fit_pct", "fit_final_pct", "paired_pct")
            }
            rows[tau]["common_steps"] = v["common_steps"]
        trend = {
            key: _param(
                _per_decade(est, key), np.array([_per_decade(b, key) for b in boots]) if boots else None
            )
            for key in ("fit_pct", "paired_pct")
        }
        groups.append(
            {
                "group": label,
                "bootstrap_unit": "replicate" if rep else "point",
                "vs_tau1": rows,
                "pct_per_decade_of_tau": trend,
            }
        )
    return {
        "analysis": "reuse",
        "dimension": dim,
        "sign": "positive = higher loss than tau = 1 at equal steps (worse)",
        "bootstrap": {"resamples": bootstrap},
        "groups": groups,
    }


# --------------------------------------------------------------------------------------------------
# split


def _logit(s: np.ndarray) -> np.ndarray:
    return np.log(s / (1 - s))


def _expit(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def isoflop_points(models: list[dict[str, Any]], budget: float) -> tuple[np.ndarray, np.ndarray]:
    """(RL share, L) of every base model at total budget B (FLOPs), where its RL curve reaches it.

    models: dicts with C_pretrain (float) and the RL curve C (ascending, from 0) and L arrays."""
    shares, losses = [], []
    for m in models:
        c_rl = budget - m["C_pretrain"]
        if c_rl <= 0 or c_rl > m["C"][-1] * (1 + 1e-9) or c_rl < m["C"][0]:
            continue
        shares.append(c_rl / budget)
        losses.append(float(np.interp(c_rl, m["C"], m["L"])))
    return np.array(shares), np.array(losses)


def optimal_share(s: np.ndarray, L: np.ndarray) -> tuple[float, str | None, np.ndarray | None]:
    """(s*, censored, coefficients) of an iso-FLOP curve (RL shares s, losses L).

    s* is the vertex of the parabola in z = logit(s) through the argmin of L and its two neighbours
    (censored 'lower' / 'upper' with s* the edge share when the argmin is the smallest / largest
    share sampled). The coefficients are those of a parabola through all points (c2, c1, c0), for
    the residual bootstrap."""
    order = np.argsort(s)
    s, L = s[order], L[order]
    if s.size < MIN_LEVELS:
        return math.nan, None, None
    z = _logit(np.clip(s, 1e-9, 1 - 1e-9))
    coef = np.polyfit(z, L, 2)
    i = int(np.argmin(L))
    if i == 0:
        return float(s[0]), "lower", coef
    if i == s.size - 1:
        return float(s[-1]), "upper", coef
    c2, c1, _ = np.polyfit(z[i - 1 : i + 2], L[i - 1 : i + 2], 2)
    zv = -c1 / (2 * c2) if c2 > 0 else z[i]
    return float(_expit(np.clip(zv, z[i - 1], z[i + 1]))), None, coef


def _split_models(g: pd.DataFrame, key_cols: list[str]) -> list[dict[str, Any]]:
    out = []
    for keys, sub in g.groupby(key_cols, sort=True):
        per = sub.groupby("C")["L"].mean().sort_index()
        keys = keys if isinstance(keys, tuple) else (keys,)
        out.append(
            {
                "key": dict(zip(key_cols, keys, strict=True)),
                "C_pretrain": float(sub["C_pretrain"].iloc[0]),
                "C": per.index.to_numpy(float),
                "L": per.to_numpy(float),
            }
        )
    return out


def _split_point(models: list[dict[str, Any]], budgets: np.ndarray) -> dict[str, Any]:
    stars, cens, curves = [], [], []
    for B in budgets:
        s, L = isoflop_points(models, B)
        st, c, coef = optimal_share(s, L)
        stars.append(st)
        cens.append(c or ("sparse" if s.size < MIN_ISOFLOP_POINTS else ""))
        curves.append((s, L, coef))
    stars_a = np.array(stars)
    ok = np.isfinite(stars_a) & (stars_a > 0) & (stars_a < 1) & (np.array(cens) == "")
    a, b = _slope(np.log10(budgets[ok]), _logit(stars_a[ok])) if ok.sum() >= 2 else (math.nan, math.nan)
    return {"sstar": stars_a, "censored": np.array(cens, dtype=object), "curves": curves, "a": a, "b": b}


def split(
    df: pd.DataFrame, *, n_budgets: int = 8, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> dict[str, Any]:
    """Iso-FLOP curves of final L against the RL share, the optimal share per budget and its law, per
    size N and group (see module doc)."""
    dim = dimension_column(df, PRETRAIN_COLUMNS, "split")
    need_columns(df, ("N", "C"), "split")
    df = df.assign(L=_loss(df))
    if dim != "C_pretrain" and ("C_pretrain" not in df.columns or not df["C_pretrain"].notna().all()):
        from rlscaling.compute import pretrain_flops

        cpre = [
            pretrain_flops(n, t) for n, t in zip(df["N"].astype(float), df[dim].astype(float), strict=True)
        ]
        df = df.assign(C_pretrain=cpre)
    df = df[df["C"].notna() & df[dim].notna()]
    check_levels(df[dim].to_numpy(float), dim, "split")
    groups = []
    for label, g0 in _groups(df, dim, by_N=False):
        for N, g in g0.groupby("N"):
            glabel = f"{label}, N={N:g}" if label != "all" else f"N={N:g}"
            check_levels(g[dim].to_numpy(float), dim, "split", glabel)
            rep = _replicate_column(g, dim)
            models = _split_models(g, [dim])
            budgets = _split_budgets(models, n_budgets)
            est = _split_point(models, budgets)
            if rep is not None:
                boots = _bootstrap_samples(
                    g,
                    dim,
                    rep,
                    bootstrap,
                    seed,
                    lambda b, budgets=budgets: _split_point(_split_models(b, [dim]), budgets),
                )
            else:
                boots = _split_residual_boot(est, budgets, bootstrap, seed)
            boots = [b for b in boots if b is not None]
            groups.append(_split_json(glabel, float(N), dim, models, budgets, est, boots, rep))
    return {
        "analysis": "split",
        "dimension": dim,
        "share": "C_rl / (C_pretrain + C_rl)",
        "bootstrap": {"resamples": bootstrap},
        "groups": groups,
    }


def _split_budgets(models: list[dict[str, Any]], n: int) -> np.ndarray:
    """Log grid of budgets at which at least MIN_LEVELS base models reach (C_pre < B <= C_pre + C_rl_max)."""
    cand = np.geomspace(
        min(m["C_pretrain"] for m in models) * 1.01, max(m["C_pretrain"] + m["C"][-1] for m in models), 400
    )
    ok = [B for B in cand if isoflop_points(models, B)[0].size >= MIN_LEVELS]
    if not ok:
        raise UserError(
            f"allocate split: no budget is reached by {MIN_LEVELS} or more base models (their RL curves are "
            "too short to compare pre-training variants at equal total compute); unidentifiable"
        )
    return np.geomspace(min(ok), max(ok), n)


def _split_residual_boot(
    est: dict[str, Any], budgets: np.ndarray, nboot: int, seed: int
) -> list[dict[str, Any]]:
    """Without replicates: resample each iso-FLOP parabola's residuals (per budget) and refit."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(nboot):
        stars, cens = [], []
        for s, L, coef in est["curves"]:
            if coef is None:
                stars.append(math.nan)
                cens.append("")
                continue
            fit = np.polyval(coef, _logit(np.clip(s, 1e-9, 1 - 1e-9)))
            res = L - fit
            st, c, _ = optimal_share(s, fit + rng.choice(res, res.size, replace=True))
            stars.append(st)
            cens.append(c or ("sparse" if s.size < MIN_ISOFLOP_POINTS else ""))
        st_a = np.array(stars)
        ok = np.isfinite(st_a) & (st_a > 0) & (st_a < 1) & (np.array(cens) == "")
        a, b = _slope(np.log10(budgets[ok]), _logit(st_a[ok])) if ok.sum() >= 2 else (math.nan, math.nan)
        out.append({"sstar": st_a, "censored": np.array(cens, dtype=object), "a": a, "b": b})
    return out


def _split_json(label, N, dim, models, budgets, est, boots, rep) -> dict[str, Any]:
    ss = np.array([b["sstar"] for b in boots]) if boots else None
    rows = []
    for j, B in enumerate(budgets):
        s, L, _ = est["curves"][j]
        rows.append(
            {
                "budget": float(B),
                "isoflop": [{"share": float(a), "L": float(b)} for a, b in zip(s, L, strict=True)],
                "share_star": _param(est["sstar"][j], None if ss is None else ss[:, j]),
                "censored": est["censored"][j] or None,
            }
        )

    def samples(key: str) -> np.ndarray | None:
        return None if not boots else np.array([b[key] for b in boots])

    return {
        "group": label,
        "N": N,
        "bootstrap_unit": "replicate" if rep else "isoflop-residual",
        "base_models": [
            {dim: float(m["key"][dim]), "C_pretrain": m["C_pretrain"], "C_rl_max": float(m["C"][-1])}
            for m in models
        ],
        "budgets": rows,
        "law": {
            "form": "logit(s*) = a + b log10 B",
            "a": _param(est["a"], samples("a")),
            "b": _param(est["b"], samples("b")),
        },
    }


def split_law_share(law: dict[str, Any], budget: float) -> float:
    """s*(B) of a fitted split law."""
    return float(_expit(law["a"]["value"] + law["b"]["value"] * math.log10(budget)))


# --------------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", choices=ANALYSES, help="rollouts | reuse | split")
    parser.add_argument("curves", help="curves table (CSV or parquet; a study's curves.parquet or an import)")
    parser.add_argument("-o", "--output", required=True, help="JSON to write")
    parser.add_argument("--figure", default=None, help="figure to draw (PNG or PDF by suffix)")
    parser.add_argument(
        "--where", action="append", default=[], metavar="COL=VALUE", help="keep rows (repeatable)"
    )
    parser.add_argument("--x", default="C", choices=["C", "step"], help="rollouts: compute axis (default C)")
    parser.add_argument("--grid", type=int, default=12, help="rollouts: compute levels; split: budgets")
    parser.add_argument(
        "--extrapolate",
        type=float,
        default=1.0,
        help="rollouts: use each curve's log-linear fit up to this factor beyond its measured compute "
        "range (default 1: interpolation only)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="resamples (0: no intervals)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def run(df: pd.DataFrame, analysis: str, *, x: str = "C", grid: int = 12, bootstrap: int = DEFAULT_BOOTSTRAP,
        seed: int = 0, extrapolate: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """Dispatch one analysis on a curves DataFrame."""
    if bootstrap < 0:
        raise UserError(f"--bootstrap {bootstrap}: must be >= 0")
    if grid < 2:
        raise UserError(f"--grid {grid}: must be >= 2")
    if analysis == "rollouts":
        return rollouts(df, x=x, n_grid=grid, bootstrap=bootstrap, seed=seed, extrapolate=extrapolate)
    if analysis == "reuse":
        return reuse(df, bootstrap=bootstrap, seed=seed)
    if analysis == "split":
        return split(df, n_budgets=grid, bootstrap=bootstrap, seed=seed)
    raise UserError(f"allocate: unknown analysis {analysis!r} (expected one of {ANALYSES})")


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.fit.data import apply_where, parse_where
    from rlscaling.io import write_json

    df = apply_where(read_table(args.curves), parse_where(args.where))
    result = run(
        df,
        args.analysis,
        x=args.x,
        grid=args.grid,
        bootstrap=args.bootstrap,
        seed=args.seed,
        extrapolate=args.extrapolate,
    )
    result["source"] = str(args.curves)
    result["where"] = list(args.where)
    write_json(args.output, result)
    if args.figure:
        from rlscaling.fit.allocate_plot import plot

        plot(result, args.figure)
    for line in summary_lines(result):
        print(line, file=sys.stderr)
    return 0


def _fmt_p(p: dict[str, Any], f: str = "{:.3g}") -> str:
    lo, hi = p["ci95"]
    v = "n/a" if p["value"] is None else f.format(p["value"])
    return v if lo is None else f"{v} [{f.format(lo)}, {f.format(hi)}]"


def _share_text(row: dict[str, Any]) -> str:
    """A budget's optimal RL share as text: an estimate with its interval, or the bound that an optimum at
    the edge of the iso-FLOP curve is (`lower`: at most the least RL share offered; `upper`: at least the
    most)."""
    value, kind = row["share_star"]["value"], row["censored"]
    if kind == "lower" and value is not None:
        return f"<= {value:.2f} (lower edge)"
    if kind == "upper" and value is not None:
        return f">= {value:.2f} (upper edge)"
    return _fmt_p(row["share_star"], "{:.2f}") + (f" ({kind})" if kind else "")


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per group: the answer with its interval."""
    out = []
    for g in result["groups"]:
        if result["analysis"] == "rollouts":
            out.append(
                f"rollouts {g['group']}: b = {_fmt_p(g['law']['b'])} (log2 n* per decade); "
                + g["verdict"]["text"]
            )
        elif result["analysis"] == "reuse":
            parts = [
                f"tau={t}: {_fmt_p(v['fit_pct'], '{:+.2f}')}%" for t, v in g["vs_tau1"].items() if t != "1"
            ]
            out.append(f"reuse {g['group']}: " + "; ".join(parts))
        else:
            out.append(f"split {g['group']}: law b = {_fmt_p(g['law']['b'])}; s* at budgets " + ", ".join(
                _share_text(r) for r in g["budgets"]))  # fmt: skip
    return out
