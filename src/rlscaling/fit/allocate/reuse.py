"""`rlscaling allocate reuse`: the loss at equal steps of data reuse tau against tau = 1.

See rlscaling.fit.allocate for the method.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import TAU_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit.allocate import table


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


def analyse(df: pd.DataFrame, *, bootstrap: int = table.DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Loss at equal steps against tau = 1, per tau and group, with intervals (see module doc)."""
    dim = table.dimension_column(df, TAU_COLUMNS, "reuse")
    table.need_columns(df, ("step",), "reuse")
    df = df.assign(L=table.loss(df))
    df = df[(df["step"] > 0) & (df["L"] > 0) & df[dim].notna()]
    table.check_levels(df[dim].to_numpy(float), dim, "reuse")
    groups = []
    for label, g in table.curve_groups(df, dim):
        table.check_levels(g[dim].to_numpy(float), dim, "reuse", label)
        if not np.isclose(g[dim].astype(float), 1.0).any():
            raise UserError(f"allocate reuse: no tau = 1 curve in {label} (the reference)")
        rep = table.replicate_column(g, dim)
        est = _reuse_point(g, dim)
        samples = table.bootstrap_samples(g, dim, rep, bootstrap, seed, lambda b: _reuse_point(b, dim))
        boots = [b for b in samples if b]
        rows = {}
        for tau, v in est.items():
            rows[tau] = {
                key: table.param(v[key], np.array([b[tau][key] for b in boots]) if boots else None)
                for key in ("fit_pct", "fit_final_pct", "paired_pct")
            }
            rows[tau]["common_steps"] = v["common_steps"]
        trend = {
            key: table.param(
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
