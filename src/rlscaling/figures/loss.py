"""Loss and pass@1 along the run: L vs C and vs D (log-log per size, the paper law with its band,
held-out sizes dashed), pass@1 vs step, and transfer between benchmarks."""

from __future__ import annotations

from typing import Any

from rlscaling.figures.base import (
    _loss_axes,
    _Context,
    _Unavailable,
    _colors,
    _curve_groups,
    _fit_title,
    _held_out,
    _kn_band,
    _kn_line,
    _plain_log_y,
    _wheres,
)
from rlscaling.figures.names import PAPER_LAWS


def _loss_vs_x(ctx: _Context, x: str) -> Any:
    """L vs X log-log per size with the paper law (solid, 95 % band). Sizes an inter fit of the same
    x held out are drawn dashed with that fit's band: its extrapolation, nothing fitted on them."""
    import matplotlib.pyplot as plt
    import numpy as np

    fit = ctx.find_fit(PAPER_LAWS, x=x, prefer=("full", "inter", "intra"))
    inter = ctx.find_fit(("paper-parametric", "paper"), x=x, scenario="inter")
    if inter is not None and fit is not None and _wheres(fit) != _wheres(inter):
        inter = None  # fitted on another subset of the curves (e.g. the other source)
    df = ctx.table(fit)
    if x not in df.columns or not np.isfinite(df[x].astype(float)).any():
        raise _Unavailable(f"the curves have no {x} values")
    df = df[df[x].astype(float) > 0]
    groups = _curve_groups(df)
    colors = _colors([N for _, N, _ in groups])
    fig, ax = plt.subplots(figsize=(7, 5))
    held = _held_out(fit) if fit else set()
    extrapolated = _held_out(inter) if inter is not None else set()
    fitted_labels = set((fit or {}).get("params", {}).get("E0", {}) or {}) if fit else set()
    for label, N, g in groups:
        X = g[x].to_numpy(float)
        c = colors[N]
        ax.plot(X, g["L"], "o", ms=2.5, color=c, alpha=0.6, label=label)
        grid = np.geomspace(X.min(), X.max(), 100)
        is_held = fit is not None and (label in held or (bool(fitted_labels) and label not in fitted_labels))
        if fit is not None and (label not in extrapolated or fit is inter):
            ax.plot(grid, _kn_line(fit, label, N, grid), "--" if is_held else "-", color=c, lw=1.6)
            band = _kn_band(fit, label, N, grid)
            if band is not None:
                ax.fill_between(grid, *band, color=c, alpha=0.25 if is_held else 0.12, lw=0)
        if inter is not None and inter is not fit and label in extrapolated:
            ax.plot(grid, _kn_line(inter, label, N, grid), "--", color=c, lw=1.8)
            band = _kn_band(inter, label, N, grid)
            if band is not None:
                ax.fill_between(grid, *band, color=c, alpha=0.25, lw=0)
    _loss_axes(ax, x)
    _plain_log_y(ax)
    ylo = max(1e-3, float(df["L"].min()) * 0.8)
    ax.set_ylim(ylo, min(1.05, float(df["L"].max()) * 1.1))
    title = _fit_title(fit) if fit else f"L vs {x} (no fit of the paper law for x={x})"
    if inter is not None and inter is not fit and extrapolated:
        h = inter.get("heldout") or {}
        title += (
            f"\ndashed: {', '.join(sorted(extrapolated))} predicted by {inter['law']} from the other "
            f"sizes (held-out R²={h.get('r2', float('nan')):.3f}, MAPE={h.get('mape', float('nan')):.2f}%)"
        )
    ax.set_title(title, fontsize=8)
    legend_title = "size; bands: 95% bootstrap"
    if held or extrapolated:
        legend_title += "\n(dashed: extrapolated)"
    ax.legend(fontsize=7, ncol=2, title=legend_title, title_fontsize=7)
    ax.grid(True, which="both", alpha=0.2)
    return fig


def _pass1_vs_step(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt

    # the curves the laws were fitted to (the paper law's --where filters), else the main benchmark
    main = ctx.find_fit(PAPER_LAWS, prefer=("full", "inter", "intra")) or next(
        (f for f in ctx.fits if f.get("law") in ("sigmoid", "gain")), None
    )
    df = ctx.table(main)
    col = "pass_at_1" if "pass_at_1" in df.columns else None
    groups = _curve_groups(df)
    colors = _colors([N for _, N, _ in groups])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    replicated = "replicate" in df.columns and df["replicate"].nunique() > 1
    for label, N, g in groups:
        y = g[col] if col else 1.0 - g["L"]
        if replicated:  # each replicate faint, their mean ± standard error per size below
            ax.plot(g["step"], y, "-", lw=0.6, alpha=0.35, color=colors[N])
        else:
            ax.plot(g["step"], y, "-o", ms=2.5, lw=1.2, color=colors[N], label=label)
    if replicated:
        groups = _replicate_means(df, col)
        for label, N, g in groups:
            reps = int(g["n"].max())
            ax.errorbar(g["step"], g["mean"], yerr=g["se"], fmt="-o", ms=2.5, lw=1.2, capsize=2,
                        color=colors[N], label=f"{label} (mean ± s.e., {reps} replicates)")  # fmt: skip
    ax.set_xlabel("RL step")
    ax.set_ylabel("pass@1")
    bench = df["bench"].iloc[0] if "bench" in df.columns else ""
    where = ", ".join(w for w in _wheres(main) if not w.startswith("bench=")) if main else ""
    ax.set_title(f"pass@1 on {bench} vs RL step, per size" + (f" ({where})" if where else ""), fontsize=10)
    if len(groups) > 14:  # many curves: legend beside the axes, not over the data
        ax.legend(fontsize=6, ncol=1 + len(groups) // 30, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(True, alpha=0.2)
    return fig


def _replicate_means(df: Any, col: str | None) -> list[tuple[str, float, Any]]:
    """(size label, N, per-step table of mean, se (standard error over replicates), n) per size."""
    d = df.assign(_y=df[col] if col else 1.0 - df["L"])
    label_col = "size" if "size" in d.columns else "N"
    out = []
    for (label, N), g in d.groupby([label_col, "N"], sort=False):
        t = g.groupby("step")["_y"].agg(["mean", "std", "count"]).reset_index()
        t["se"] = (t["std"] / t["count"] ** 0.5).fillna(0.0)
        out.append((str(label), float(N), t.rename(columns={"count": "n"})))
    return sorted(out, key=lambda x: x[1])


def _transfer(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt

    df = ctx.curves
    if "bench" not in df.columns or df["bench"].nunique() < 2:
        raise _Unavailable("the curves have a single benchmark")
    benches = sorted(map(str, df["bench"].unique()))
    main = ctx.bench if ctx.bench in benches else benches[0]
    others = [b for b in benches if b != main]
    key = [c for c in ("run", "N", "step") if c in df.columns]
    col = "pass_at_1" if "pass_at_1" in df.columns else None
    val = df.assign(_p=df[col] if col else 1.0 - df["L"])
    wide = val.pivot_table(index=key, columns="bench", values="_p", aggfunc="mean").reset_index()
    fig, axes = plt.subplots(1, len(others), figsize=(5.2 * len(others), 4.6), squeeze=False)
    colors = _colors(list(wide["N"].astype(float)))
    for ax, b in zip(axes[0], others, strict=True):
        lim = [0, 0]
        by = "run" if "run" in wide.columns else "N"
        groups = sorted(wide.groupby(by, sort=False), key=lambda t: (float(t[1]["N"].iloc[0]), str(t[0])))
        for run, g in groups:
            g = g.sort_values("step").dropna(subset=[main, b])
            if g.empty:
                continue
            N = float(g["N"].iloc[0])
            ax.plot(g[main], g[b], "-", color=colors[N], lw=1, alpha=0.7)
            ax.scatter(
                g[main],
                g[b],
                c=[colors[N]],
                s=8 + 30 * g["step"] / max(1, wide["step"].max()),
                label=str(run),
            )
            lim[1] = max(lim[1], g[main].max(), g[b].max())
        ax.plot([0, lim[1]], [0, lim[1]], ":", color="gray", lw=1)
        ax.set_xlabel(f"pass@1 on {main}")
        ax.set_ylabel(f"pass@1 on {b}")
        ax.set_title(f"transfer {main} → {b} (marker size: step)", fontsize=9)
        ax.grid(True, alpha=0.2)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig
