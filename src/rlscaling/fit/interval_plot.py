"""Figures of prediction intervals: a predicted curve with its 80% / 95% bands against the truth
(PRED.json), and the calibration figure (CAL.json): nominal against empirical coverage per
scenario, each fold a faint point, the pooled coverage a marker on the diagonal's scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_prediction(pred: dict[str, Any], path: str | Path, df: Any = None) -> Path:
    """Draw PRED.json `pred`: L against x (log-log), point prediction, 80% and 95% bands, the
    observed points where the target was run, and its anchors."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for c in pred["curves"]:
        x = np.array(c["x"])
        ax.fill_between(
            x,
            c["intervals"]["0.95"]["lo"],
            c["intervals"]["0.95"]["hi"],
            alpha=0.18,
            color="C0",
            label="95% interval",
        )
        ax.fill_between(
            x,
            c["intervals"]["0.8"]["lo"],
            c["intervals"]["0.8"]["hi"],
            alpha=0.3,
            color="C0",
            label="80% interval",
        )
        ax.plot(x, c["L"], color="C0", lw=1.5, label="predicted")
        if "observed" in c:
            ax.plot(x, c["observed"], ".", color="k", ms=3, label="observed (not fitted)")
        if c.get("anchors"):
            ax.plot(c["anchors"]["x"], c["anchors"]["L"], "o", mfc="none", color="C3", label="anchor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(pred["x"] + (" (FLOPs)" if pred["x"] == "C" else " (prompts)"))
    ax.set_ylabel("L = 1 - pass@1")
    ax.set_title(f"N = {pred['target_N']:.3g} from {', '.join(pred['train_sizes'])}", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    ax.legend(seen.values(), seen.keys(), fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_undetermined(reason: str, path: str | Path) -> Path:
    """The prediction figure when the data cannot support one: the reason, as text."""
    import textwrap

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 2.5))
    ax.axis("off")
    ax.text(0.02, 0.5, "No prediction (undetermined):\n" + textwrap.fill(reason, 80), va="center", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_calibration(cal: dict[str, Any], path: str | Path) -> Path:
    """Draw CAL.json `cal`: per scenario, empirical coverage against nominal level (pooled over
    folds, and each fold faint), with the diagonal."""
    plt = _plt()
    scenarios = [s for s in cal["coverage"] if cal["n_folds"].get(s)]
    fig, axes = plt.subplots(
        1, max(len(scenarios), 1), figsize=(4.2 * max(len(scenarios), 1), 4), squeeze=False
    )
    for ax, sc in zip(axes[0], scenarios, strict=False):
        levels = sorted(float(k) for k in cal["coverage"][sc])
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for f in cal["folds"]:
            if f["scenario"] == sc:
                ax.plot(
                    levels, [f["coverage"][f"{lv:g}"] for lv in levels], "-", color="C0", alpha=0.25, lw=1
                )
        ax.plot(
            levels,
            [cal["coverage"][sc][f"{lv:g}"] for lv in levels],
            "o-",
            color="C3",
            lw=2,
            label="pooled over folds",
        )
        ax.set_xlim(0.5, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("nominal coverage")
        ax.set_ylabel("empirical coverage")
        w = cal["width95_rel_median"][sc]
        ax.set_title(f"{sc}: {cal['n_folds'][sc]} curves, median 95% width {w:.0%} of L", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
