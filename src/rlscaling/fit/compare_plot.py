"""The law tournament as a figure: one row per group (data set), out-of-sample R^2 (left, clipped
at -1: below that a law predicts worse than the held-out mean by a lot, the value is printed) and
MAPE (right, log scale) per scenario, one bar per law; each scenario's winner starred."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

R2_FLOOR = -1.0
_LABELS = {
    "intra10": "intra\n10%",
    "intra25": "intra\n25%",
    "intra50": "intra\n50%",
    "inter": "inter",
    "inter_anchored": "inter\n1 anchor",
}


def group_name(g: dict[str, Any]) -> str:
    """A tournament group's label: its column=value pairs, or "all curves"."""
    return ", ".join(f"{k}={v}" for k, v in g.get("group", {}).items()) or "all curves"


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Draw COMPARE.json `result` to path (PNG or PDF by suffix; matplotlib Agg); returns path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT_OF_SAMPLE = result["out_of_sample"]  # noqa: N806 - the scenarios' order, from compare()

    groups = [g for g in result["groups"] if "scores" in g] or result["groups"]
    laws = list(result["laws"])
    n = max(len(groups), 1)
    fig, axes = plt.subplots(n, 2, figsize=(12, 3.2 * n), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / max(len(laws), 1)
    xs = np.arange(len(OUT_OF_SAMPLE))
    for row, g in zip(axes, groups, strict=False):
        ax_r, ax_m = row
        title = f"{group_name(g)} (x = {g.get('x')})"
        if "scores" not in g:
            for ax in row:
                ax.text(0.5, 0.5, g.get("error", "no result"), ha="center", va="center", wrap=True)
                ax.set_axis_off()
            ax_r.set_title(title, fontsize=9)
            continue
        for j, law in enumerate(laws):
            sc = g["scores"].get(law, {})
            r2 = [_val(sc.get(s), "r2") for s in OUT_OF_SAMPLE]
            mape = [_val(sc.get(s), "mape") for s in OUT_OF_SAMPLE]
            off = xs - 0.4 + width * (j + 0.5)
            lab = f"{law} ★" if law == g.get("overall") else law
            shown = [max(v, R2_FLOOR) if math.isfinite(v) else np.nan for v in r2]
            ax_r.bar(off, shown, width, color=colors[j % len(colors)], label=lab)
            ax_m.bar(off, mape, width, color=colors[j % len(colors)], label=lab)
            for x, v, s in zip(off, r2, OUT_OF_SAMPLE, strict=True):
                won = g["winners"].get(s) == law
                if math.isfinite(v) and v < R2_FLOOR:
                    ax_r.text(x, R2_FLOOR, f"{v:.0f}", ha="center", va="top", fontsize=6, rotation=90)
                if won and math.isfinite(v):
                    ax_r.text(x, max(v, R2_FLOOR) + 0.03, "★", ha="center", va="bottom", fontsize=9)
                if won and not math.isfinite(v):
                    m = mape[OUT_OF_SAMPLE.index(s)]
                    ax_m.text(x, m, "★", ha="center", va="bottom", fontsize=9)
        ax_r.set_ylim(R2_FLOOR - 0.15, 1.12)
        ax_r.axhline(0, color="0.6", lw=0.6)
        ax_r.set_ylabel("R² (held-out points)")
        ax_r.set_title(title + f"; overall ★ {g.get('overall')}", fontsize=9)
        ax_m.set_yscale("log")
        ax_m.set_ylabel("MAPE (%)")
        ax_m.set_title(f"held out: {g.get('held_out')}; n/a bars are missing", fontsize=9)
        for ax in row:
            ax.set_xticks(xs, [_LABELS[s] for s in OUT_OF_SAMPLE], fontsize=8)
        ax_m.legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle("Law tournament: out-of-sample R² and MAPE (★ winner of a scenario)", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _val(s: dict | None, key: str) -> float:
    if not s or "na" in s or s.get(key) is None:
        return float("nan")
    return float(s[key])
