"""Prediction figures: the law fitted on early steps (intra) or on the smaller sizes (inter), drawn
against what the held-out part measured."""

from __future__ import annotations

from typing import Any

from rlscaling.figures.base import (
    _loss_axes,
    _Context,
    _Unavailable,
    _colors,
    _curve_groups,
    _kn_band,
    _kn_line,
    _plain_log_y,
)


def _prediction(ctx: _Context, scenario: str, x: str) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    fit = ctx.find_fit(("paper-parametric", "paper"), x=x, scenario=scenario)
    if fit is None:
        raise _Unavailable(f"no {scenario} fit of the paper law for x={x}")
    df = ctx.table(fit)
    min_step = fit["data"].get("min_step") or 0
    df = df[(df["step"] >= min_step) & (df[x].astype(float) > 0)]
    groups = _curve_groups(df)
    colors = _colors([N for _, N, _ in groups])
    held_names = set(fit["data"].get("holdout") or [])
    K = fit["data"].get("fit_steps")
    base = (fit.get("baseline") or {}).get("paper_method", {})
    paper_min = np.inf
    fig, ax = plt.subplots(figsize=(7.2, 5.2))
    for label, N, g in groups:
        X = g[x].to_numpy(float)
        c = colors[N]
        if scenario == "intra":
            fitted = g["step"].to_numpy() <= K
            ax.plot(X[fitted], g["L"][fitted], "o", ms=2.5, color=c, alpha=0.9, label=label)
            ax.plot(X[~fitted], g["L"][~fitted], "o", ms=2.5, mfc="none", color=c, alpha=0.6)
            xf = X[fitted].max() if fitted.any() else X.min()
            g1 = np.geomspace(X.min(), xf, 50)
            g2 = np.geomspace(xf, X.max(), 80)
            ax.plot(g1, _kn_line(fit, label, N, g1), "-", color=c, lw=1.6, zorder=3)
            ax.plot(g2, _kn_line(fit, label, N, g2), "--", color=c, lw=1.8, zorder=3)
            band = _kn_band(fit, label, N, g2)
        else:
            is_held = label in held_names
            gx = np.geomspace(X.min(), X.max(), 100)
            ax.plot(
                X,
                g["L"],
                "o",
                ms=2.5,
                color=c,
                mfc="none" if is_held else None,
                alpha=0.8,
                label=label + (" (held out)" if is_held else ""),
            )
            ax.plot(gx, _kn_line(fit, label, N, gx), "--" if is_held else "-", color=c, lw=1.8)
            band = _kn_band(fit, label, N, gx) if is_held else None
            if is_held and base.get("params"):
                from rlscaling.fit.laws import predict_from_params

                pm = predict_from_params("paper", base["params"], label, N, gx, fit["data"]["curves"])
                paper_min = min(paper_min, float(np.min(pm)))
                ax.plot(gx, pm, ":", color="gray", lw=1.5, label="paper method, extrapolated E0")
            g2 = gx
        if band is not None:
            ax.fill_between(g2, *band, color=c, alpha=0.25, lw=0)
    _loss_axes(ax, x)
    h = fit.get("heldout") or {}
    msg = f"held-out R²={h.get('r2', float('nan')):.3f}, MAPE={h.get('mape', float('nan')):.2f}%"
    if base.get("heldout"):
        msg += f" | paper method: R²={base['heldout']['r2']:.3f}, MAPE={base['heldout']['mape']:.2f}%"
    what = (
        f"fit steps ≤ {K} (solid, filled), predict the rest (dashed, open)"
        if scenario == "intra"
        else f"fit other sizes, predict {', '.join(sorted(held_names))} (dashed, band)"
    )
    ax.set_title(f"{fit['law']}, X={x}: {what}\n{msg}", fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for hd, lb in zip(handles, labels, strict=True):
        seen.setdefault(lb, hd)
    ymin = max(1e-3, float(df["L"].min()) * (0.6 if scenario == "inter" else 0.85))
    ax.set_ylim(ymin, min(1.05, float(df["L"].max()) * 1.1))
    if paper_min < ymin:  # say so rather than squash the data to show a line that far off
        key = "paper method, extrapolated E0"
        seen[f"{key}\n(leaves the axes: down to L = {paper_min:.2g})"] = seen.pop(key)
    ax.legend(seen.values(), seen.keys(), fontsize=7, ncol=2)
    _plain_log_y(ax)
    ax.grid(True, which="both", alpha=0.2)
    return fig
