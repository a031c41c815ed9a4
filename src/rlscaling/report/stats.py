"""The statistics behind summary.md's checks: a two-sided Student t quantile, a mean with its standard
error, the gain's standard error pooled over sizes, and a least-squares slope pooled over groups with
its 95% interval."""

from __future__ import annotations

import math
from typing import Any

from rlscaling.io import finite_or_none

CONFIDENCE = 0.95


def t_quantile(dof: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student t quantile for `dof` degrees of freedom (4.30 for 2 at 95%)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, dof))


def mean_se(values: Any) -> tuple[float | None, float | None, int]:
    """(mean, standard error of the mean, n) of the finite values; the error is None below 2 values."""
    vals = [float(v) for v in values if finite_or_none(v) is not None]
    if not vals:
        return None, None, 0
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, None, len(vals)
    var = sum((v - m) ** 2 for v in vals) / (len(vals) - 1)
    return m, math.sqrt(var / len(vals)), len(vals)


def pooled_gain_se(per_size: Any) -> tuple[dict[Any, float], int] | None:
    """Standard error of every size's mean gain from the replicates' variance pooled over sizes (the
    residual variance of a one-way model, gain ~ size): s² = Σ (n_s - 1)·var_s / Σ (n_s - 1), and
    SE_s = sqrt(s² / n_s), with Σ (n_s - 1) degrees of freedom (8 for 4 sizes × 3 replicates, where
    each size alone has 2). Assumes the seed-to-seed spread of the gain is alike across sizes.
    Returns ({size: SE_s}, dof), or None without replicates (no size has two runs with an error)."""
    num, dof = 0.0, 0
    for _, r in per_size.iterrows():
        se, n = finite_or_none(r["gain_se"]), int(r["n"])
        if se is not None and n >= 2:
            num += (n - 1) * se**2 * n
            dof += n - 1
    if dof == 0:
        return None
    pooled_var = num / dof
    return {s: math.sqrt(pooled_var / int(r["n"])) for s, r in per_size.iterrows()}, dof


def pooled_slope(groups: list[tuple[Any, Any]], min_dof: int = 1) -> dict[str, Any] | None:
    """Least-squares slope of y on x over one or more groups with one intercept per group (x and y
    centred within each group), and its 95% interval (Student t on the residual degrees of freedom,
    points - groups - 1): {slope, se, ci95 [lo, hi], points, groups, dof}. None when fewer than
    `min_dof` degrees of freedom are left or x does not vary within any group."""
    import numpy as np

    xs, ys = [], []
    for x, y in groups:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x):
            xs.append(x - x.mean())
            ys.append(y - y.mean())
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    dof = len(x) - len(xs) - 1
    sxx = float((x**2).sum())
    if dof < max(min_dof, 1) or sxx == 0:
        return None
    slope = float((x * y).sum() / sxx)
    se = math.sqrt(float(((y - slope * x) ** 2).sum()) / dof / sxx)
    half = t_quantile(dof) * se
    return {"slope": slope, "se": se, "ci95": [slope - half, slope + half], "points": len(x),
            "groups": len(xs), "dof": dof}  # fmt: skip
