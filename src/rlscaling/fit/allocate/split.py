"""`rlscaling allocate split`: pre-training against RL at equal total compute (iso-FLOP curves).

See rlscaling.fit.allocate for the method.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import PRETRAIN_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit.allocate import table

# an iso-FLOP curve locates its optimum (for the split law) with >= this many base models on it
MIN_ISOFLOP_POINTS = 5


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
    if s.size < table.MIN_LEVELS:
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
    a, b = (math.nan, math.nan)
    if ok.sum() >= 2:
        a, b = table.line_fit(np.log10(budgets[ok]), _logit(stars_a[ok]))
    return {"sstar": stars_a, "censored": np.array(cens, dtype=object), "curves": curves, "a": a, "b": b}


def analyse(
    df: pd.DataFrame, *, n_budgets: int = 8, bootstrap: int = table.DEFAULT_BOOTSTRAP, seed: int = 0
) -> dict[str, Any]:
    """Iso-FLOP curves of final L against the RL share, the optimal share per budget and its law, per
    size N and group (see module doc)."""
    dim = table.dimension_column(df, PRETRAIN_COLUMNS, "split")
    table.need_columns(df, ("N", "C"), "split")
    df = df.assign(L=table.loss(df))
    if dim != "C_pretrain" and ("C_pretrain" not in df.columns or not df["C_pretrain"].notna().all()):
        from rlscaling.compute import pretrain_flops

        cpre = [
            pretrain_flops(n, t) for n, t in zip(df["N"].astype(float), df[dim].astype(float), strict=True)
        ]
        df = df.assign(C_pretrain=cpre)
    df = df[df["C"].notna() & df[dim].notna()]
    table.check_levels(df[dim].to_numpy(float), dim, "split")
    groups = []
    for label, g0 in table.curve_groups(df, dim, by_N=False):
        for N, g in g0.groupby("N"):
            glabel = f"{label}, N={N:g}" if label != "all" else f"N={N:g}"
            table.check_levels(g[dim].to_numpy(float), dim, "split", glabel)
            rep = table.replicate_column(g, dim)
            models = _split_models(g, [dim])
            budgets = _split_budgets(models, n_budgets)
            est = _split_point(models, budgets)
            if rep is not None:
                boots = table.bootstrap_samples(
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
    ok = [B for B in cand if isoflop_points(models, B)[0].size >= table.MIN_LEVELS]
    if not ok:
        raise UserError(
            f"allocate split: no budget is reached by {table.MIN_LEVELS} or more base models (their RL "
            "curves are too short to compare pre-training variants at equal total compute); unidentifiable"
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
        a, b = (math.nan, math.nan)
        if ok.sum() >= 2:
            a, b = table.line_fit(np.log10(budgets[ok]), _logit(st_a[ok]))
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
                "share_star": table.param(est["sstar"][j], None if ss is None else ss[:, j]),
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
            "a": table.param(est["a"], samples("a")),
            "b": table.param(est["b"], samples("b")),
        },
    }


def split_law_share(law: dict[str, Any], budget: float) -> float:
    """s*(B) of a fitted split law."""
    return float(_expit(law["a"]["value"] + law["b"]["value"] * math.log10(budget)))
