"""Figures of `rlscaling compare-recipes` (rlscaling.fit.recipe_compare):

recipe_curves.png                 pass rate R against RL compute C (log x), the points of every recipe
                                  and its fitted sigmoid, one panel per size
recipe_asymptote_efficiency.png   A against efficiency B / C_mid (log x) per recipe and size, 95%
                                  intervals as error bars (hollow markers: a parameter at its bound)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.fit import sigmoid


def plot(result: dict[str, Any], table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write both figures into out_dir (created); `table` is recipe_compare.prepare's. Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlscaling.io import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    recipes = result["recipes"]
    colors = {r: plt.get_cmap("tab10")(i % 10) for i, r in enumerate(recipes)}
    sizes = list(result["sizes"])
    paths = []

    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        g = table[table["size"] == size]
        for r, e in result["sizes"][size]["recipes"].items():
            rows = g[(g["recipe"] == r) & (g["C"] > 0)]
            ax.scatter(rows["C"], rows["R"], s=8, alpha=0.4, color=colors[r])
            if e["A"]["value"] is not None and len(rows):
                C = np.logspace(np.log10(rows["C"].min()), np.log10(rows["C"].max()), 100)
                R = sigmoid.sigmoid_R(
                    C, e["R0"]["value"], e["A"]["value"], e["B"]["value"], e["C_mid"]["value"]
                )
                ax.plot(C, R, color=colors[r], label=f"{r} (A={e['A']['value']:.2f})")
        ax.set_xscale("log")
        ax.set_xlabel("RL compute C (FLOPs)")
        ax.set_ylabel("pass rate R = 1 - L")
        ax.set_title(f"size {size}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "recipe_curves.png", atomic_path))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    markers = "osD^v<>p*h"
    for j, size in enumerate(sizes):
        for r, e in result["sizes"][size]["recipes"].items():
            A, eff = e["A"], e["efficiency"]
            if A["value"] is None or eff["value"] is None:
                continue
            xerr = _err(eff)
            yerr = _err(A)
            hollow = A.get("at_bound") or e["B"].get("at_bound") or e["C_mid"].get("at_bound")
            ax.errorbar(
                eff["value"],
                A["value"],
                xerr=xerr,
                yerr=yerr,
                fmt=markers[j % len(markers)],
                color=colors[r],
                mfc="none" if hollow else colors[r],
                capsize=3,
                label=f"{r}, {size}",
            )
    ax.set_xscale("log")
    ax.set_xlabel("efficiency B / C_mid (1/FLOP)")
    ax.set_ylabel("asymptote A (pass rate)")
    ax.set_title("recipes: asymptote vs efficiency (95% CI)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "recipe_asymptote_efficiency.png", atomic_path))
    plt.close(fig)
    return paths


def _err(p: dict[str, Any]) -> np.ndarray | None:
    lo, hi = p["ci95"]
    if lo is None or hi is None:
        return None
    v = p["value"]
    return np.array([[max(v - lo, 0.0)], [max(hi - v, 0.0)]])


def _save(fig, path: Path, atomic_path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    return path
