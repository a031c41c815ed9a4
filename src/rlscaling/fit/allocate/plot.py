"""Figures of `rlscaling allocate`: one row per group of curves.

rollouts: L(C) per n (fitted log-linear curves over their ranges) | n*(C) with its 95% band and law.
reuse:    loss change at equal steps vs tau = 1 (%), fitted and paired, with 95% intervals, log tau.
split:    iso-FLOP curves L vs RL share per budget (with each optimum) | s*(B) with band and law.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np


def _band(ax, x, params, **kw) -> None:
    lo = np.array([np.nan if p["ci95"][0] is None else p["ci95"][0] for p in params], dtype=float)
    hi = np.array([np.nan if p["ci95"][1] is None else p["ci95"][1] for p in params], dtype=float)
    if np.isfinite(lo).any():
        ax.fill_between(x, lo, hi, alpha=0.25, **kw)


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Draw an allocate result to path (PNG / PDF by suffix; matplotlib Agg); returns path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = result["groups"]
    n = max(len(groups), 1)
    analysis = result["analysis"]
    ncols = 1 if analysis == "reuse" else 2
    fig, axes = plt.subplots(n, ncols, figsize=(6 * ncols, 3.6 * n), squeeze=False)
    for row, g in zip(axes, groups, strict=False):
        if analysis == "rollouts":
            _rollouts(row, g, result)
        elif analysis == "reuse":
            _reuse(row[0], g)
        else:
            _split(row, g)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _rollouts(row, g: dict[str, Any], result: dict[str, Any]) -> None:
    x = result["x"]
    ax, ax2 = row
    for lvl, c in g["curves"].items():
        lo, hi = c[f"{x}_range"]
        xs = np.geomspace(lo, hi, 50)
        ax.plot(xs, 10 ** (-c["k"] * np.log10(xs) + c["E0"]), label=f"n={lvl}")
    grid = np.array([r[x] for r in g["levels"]])
    ax.axvspan(grid.min(), grid.max(), color="0.9", zorder=0)
    ax.set(
        xscale="log", yscale="log", xlabel=x, ylabel="L = 1 - pass@1", title=f"{g['group']}: fitted curves"
    )
    ax.legend(fontsize=8)
    ns = [r["nstar"]["value"] for r in g["levels"]]
    ax2.plot(grid, ns, "o-", label="n* (parabola in log2 n)")
    ax2.plot(grid, [r["best"] for r in g["levels"]], "s", mfc="none", label="best n run")
    _band(ax2, grid, [r["nstar"] for r in g["levels"]])
    law = g["law"]
    if law["a"]["value"] is not None:
        ax2.plot(grid, 2 ** (law["a"]["value"] + law["b"]["value"] * np.log10(grid)), "k--",
                 label=f"log2 n* = a + b log10 {x}, b = {law['b']['value']:.2f}")  # fmt: skip
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel=x,
        ylabel="best rollouts per prompt n*",
        title=textwrap.fill(g["verdict"]["text"], 60),  # the whole verdict, on as many lines as it needs
    )
    ax2.title.set_fontsize(8)
    ax2.legend(fontsize=8)


def _reuse(ax, g: dict[str, Any]) -> None:
    taus = np.array([float(t) for t in g["vs_tau1"]])
    for key, mk, lab in (("fit_pct", "o-", "log-linear fits"), ("paired_pct", "s--", "paired points")):
        v = np.array([g["vs_tau1"][t][key]["value"] for t in g["vs_tau1"]], dtype=float)
        ci = [g["vs_tau1"][t][key]["ci95"] for t in g["vs_tau1"]]
        lo = np.array([np.nan if c[0] is None else c[0] for c in ci], dtype=float)
        hi = np.array([np.nan if c[1] is None else c[1] for c in ci], dtype=float)
        ax.errorbar(
            taus, v, yerr=[v - lo, hi - v] if np.isfinite(lo).all() else None, fmt=mk, capsize=3, label=lab
        )
    ax.axhline(0, color="k", lw=0.5)
    ax.set(
        xscale="log", xlabel="reuse factor tau", ylabel="loss vs tau=1 at equal steps (%)", title=g["group"]
    )
    ax.legend(fontsize=8)


def _split(row, g: dict[str, Any]) -> None:
    ax, ax2 = row
    cmap = __import__("matplotlib").colormaps["viridis"]
    nb = len(g["budgets"])
    for j, b in enumerate(g["budgets"]):
        pts = sorted((p["share"], p["L"]) for p in b["isoflop"])
        if not pts:
            continue
        s, L = np.array(pts).T
        col = cmap(j / max(nb - 1, 1))
        ax.plot(s, L, "o-", color=col, ms=3, label=f"B={b['budget']:.2g}")
        if b["share_star"]["value"] is not None:
            ax.axvline(b["share_star"]["value"], color=col, lw=0.6, ls=":")
    ax.set(
        xscale="logit",
        xlabel="RL share of total compute",
        ylabel="final L",
        title=f"{g['group']}: iso-FLOP curves",
    )
    ax.legend(fontsize=7)
    B = np.array([b["budget"] for b in g["budgets"]])
    star = np.array([b["share_star"]["value"] for b in g["budgets"]], dtype=float)  # None -> nan
    cens = np.array([b["censored"] or "" for b in g["budgets"]])
    located = cens == ""
    ax2.plot(B[located], star[located], "o-", label="s* (vertex in logit s)")
    _band(ax2, B[located], [b["share_star"] for b, ok in zip(g["budgets"], located, strict=True) if ok])
    # an optimum at an edge of the iso-FLOP curve is a bound, not an estimate: the least RL share a
    # budget's base models offer ("lower": s* is at most this) or the most ("upper": at least this)
    edges = (
        ("lower", "v", "s* ≤ (best: least RL)"),
        ("upper", "^", "s* ≥ (best: most RL)"),
        ("sparse", "x", "sparse (< 5 base models)"),
    )
    for kind, marker, text in edges:
        m = cens == kind
        if m.any():
            ax2.plot(B[m], star[m], marker, color="grey" if kind == "sparse" else "C3", ls="none", label=text)
    law = g["law"]
    if law["a"]["value"] is not None:
        z = law["a"]["value"] + law["b"]["value"] * np.log10(B)
        ax2.plot(
            B, 1 / (1 + np.exp(-z)), "k--", label=f"logit s* = a + b log10 B, b = {law['b']['value']:.2f}"
        )
    ax2.set(xscale="log", xlabel="total budget B (FLOPs)", ylabel="optimal RL share s*", title=g["group"])
    ax2.legend(fontsize=8)
