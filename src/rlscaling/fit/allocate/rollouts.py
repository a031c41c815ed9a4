"""`rlscaling allocate rollouts`: the best GRPO group size n (rollouts per prompt) against compute.

See rlscaling.fit.allocate for the method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import ROLLOUT_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit.allocate import table


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
        k, e = table.loglinear(x[m], L[m])
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
    a, b = table.line_fit(lg[use], np.log2(cont_a[use]))
    half = lg <= np.median(lg)
    _, b_lo = table.line_fit(lg[half & use], np.log2(cont_a[half & use]))
    _, b_hi = table.line_fit(lg[~half & use], np.log2(cont_a[~half & use]))
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
        if ((curves.lo <= e * (1 + 1e-9)) & (curves.hi >= e * (1 - 1e-9))).sum() >= table.MIN_LEVELS
    ]
    if not covered:
        raise UserError(
            f"allocate rollouts: no compute level is covered by {table.MIN_LEVELS} or more curves "
            "(their compute ranges do not overlap); unidentifiable"
        )
    lo, hi = min(covered), max(covered)
    if hi <= lo:
        raise UserError("allocate rollouts: the curves overlap at a single compute level only")
    return np.geomspace(lo, hi, n_grid)


def analyse(
    df: pd.DataFrame,
    *,
    x: str = "C",
    n_grid: int = 12,
    bootstrap: int = table.DEFAULT_BOOTSTRAP,
    seed: int = 0,
    extrapolate: float = 1.0,
) -> dict[str, Any]:
    """Best rollouts per prompt n against compute, per group of curves (see module doc).

    x: 'C' (cumulative RL FLOPs) or 'step' (for runs compute-matched by construction).
    extrapolate: each curve's log-linear fit is used up to this factor beyond its measured x range."""
    if extrapolate < 1:
        raise UserError(f"--extrapolate {extrapolate}: must be >= 1")
    dim = table.dimension_column(df, ROLLOUT_COLUMNS, "rollouts")
    table.need_columns(df, (x,), "rollouts")
    df = df.assign(L=table.loss(df))
    df = df[(df[x] > 0) & (df["L"] > 0) & df[dim].notna()]
    table.check_levels(df[dim].to_numpy(float), dim, "rollouts")
    groups = []
    for label, g in table.curve_groups(df, dim):
        table.check_levels(g[dim].to_numpy(float), dim, "rollouts", label)
        rep = table.replicate_column(g, dim)
        lv, xv, Lv = g[dim].to_numpy(float), g[x].to_numpy(float), g["L"].to_numpy(float)
        grid = _coverage_grid(fit_level_curves(lv, xv, Lv, extrapolate), n_grid)
        est = _rollouts_point(lv, xv, Lv, grid, extrapolate)

        def fn(b: pd.DataFrame, grid=grid) -> dict[str, np.ndarray]:
            return _rollouts_point(
                b[dim].to_numpy(float), b[x].to_numpy(float), b["L"].to_numpy(float), grid, extrapolate
            )

        boots = [s for s in table.bootstrap_samples(g, dim, rep, bootstrap, seed, fn) if s is not None]
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
            "nstar": table.param(est["nstar"][j], None if nst is None else nst[:, j]),
            "censored": est["censored"][j] or None,
        }  # fmt: skip
        if best is not None:
            row["p_best"] = {f"{v:g}": float(np.mean(best[:, j] == v)) for v in curves.levels}
        levels_tab.append(row)

    def samples(key: str) -> np.ndarray | None:
        return None if not boots else np.array([b[key] for b in boots])

    law = {
        "form": f"log2 n* = a + b log10 {x}",
        "a": table.param(est["a"], samples("a")),
        "b": table.param(est["b"], samples("b")),
        "b_low": table.param(est["b_low"], samples("b_low")),
        "b_high": table.param(est["b_high"], samples("b_high")),
    }
    d = samples("b_high")
    if d is not None:
        d = d - samples("b_low")
    law["b_high_minus_low"] = table.param(est["b_high"] - est["b_low"], d)
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
