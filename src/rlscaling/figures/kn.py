"""The paper law across sizes: k(N) = K_max·N/(N+N0) saturation and the intercept E0(N)."""

from __future__ import annotations

from typing import Any

from rlscaling.figures.base import (
    _fill_band,
    _Context,
    _Unavailable,
    _curve_groups,
    _fit_title,
    _samples,
    _size,
)
from rlscaling.figures.names import PAPER_LAWS


def _k_of_N(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    fits = [f for x in ("C", "D") if (f := ctx.find_fit(PAPER_LAWS, x=x, prefer=("full", "intra", "inter")))]
    if not fits:
        raise _Unavailable("no fit of the paper law")
    fig, axes = plt.subplots(1, len(fits), figsize=(5.6 * len(fits), 4.4), squeeze=False)
    for ax, fit in zip(axes[0], fits, strict=True):
        p = fit["params"]
        curves = {c["label"]: c["N"] for c in fit["data"]["curves"]}
        labs = [lab for lab in p.get("k", {}) if lab in curves]
        Ns = np.array([curves[lab] for lab in labs])
        ks = np.array([p["k"][lab] for lab in labs])
        if Ns.size == 0:
            raise _Unavailable("the fit has no per-size k")
        grid = np.geomspace(Ns.min() / 2, Ns.max() * 10, 200)
        ax.plot(grid, p["K_max"] * grid / (grid + p["N0"]), "-", color="C0", label="k(N) = K_max N/(N+N0)")
        sm = _samples(fit)
        if len(sm) >= 10:
            arr = np.array([s["K_max"] * grid / (grid + s["N0"]) for s in sm if "K_max" in s and "N0" in s])
            _fill_band(ax, grid, arr, "95% band (bootstrap)")
        # free per-size slopes (no saturation constraint) from the data, for comparison
        free = _free_slopes(ctx, fit, labs)
        ax.plot(Ns, ks, "o", color="C0", label="k(N) at the fitted sizes")
        if free:
            ax.plot(
                [curves[lab] for lab in free],
                list(free.values()),
                "x",
                color="C3",
                label="per-size free slope (data)",
            )
        ax.axhline(p["K_max"], ls="--", color="gray", lw=1, label=f"K_max = {p['K_max']:.3f}")
        ax.axvline(p["N0"], ls=":", color="gray", lw=1, label=f"N0 = {_size(p['N0'])}")
        ax.set_xscale("log")
        ax.set_xlabel("parameters N")
        ax.set_ylabel("slope k(N)")
        ax.set_title(f"X = {fit['x']}: " + _fit_title(fit), fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    return fig


def _free_slopes(ctx: _Context, fit: dict[str, Any], labels: list[str]) -> dict[str, float]:
    """Least-squares slope -d log10 L / d log10 X of every curve on its own."""
    import numpy as np

    try:
        df = ctx.table(fit)
    except _Unavailable:
        return {}
    x = fit["x"]
    min_step = (fit.get("data") or {}).get("min_step") or 0
    df = df[(df["step"] >= min_step) & (df[x].astype(float) > 0)]
    out = {}
    for label, _N, g in _curve_groups(df):
        if label in labels and len(g) >= 3:
            out[label] = float(-np.polyfit(np.log10(g[x].astype(float)), np.log10(g["L"]), 1)[0])
    return out


def _E0_of_N(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    from rlscaling.fit.laws import kn_from_params

    fit = ctx.find_fit(("paper-parametric",), prefer=("full", "inter", "intra"))
    if fit is None:
        raise _Unavailable("no paper-parametric fit")
    free = ctx.find_fit(("paper",), x=fit["x"], prefer=("full",))
    p = fit["params"]
    curves = {c["label"]: c["N"] for c in fit["data"]["curves"]}
    Ns = np.array(list(curves.values()))
    grid = np.geomspace(Ns.min() / 2, Ns.max() * 4, 200)
    model = kn_from_params(p)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(grid, model.E0_of_N(grid), "-", color="C0", label=f"E0(N), form {p['E0_form']}")
    sm = _samples(fit)
    shown = [model.E0_of_N(grid)]  # what the y range must hold
    if len(sm) >= 10:
        arr = np.array([kn_from_params(s).E0_of_N(grid) for s in sm if "K_max" in s])
        lo, hi = np.percentile(arr, 2.5, 0), np.percentile(arr, 97.5, 0)
        ax.fill_between(grid, lo, hi, color="C0", alpha=0.2, lw=0, label="95% band (bootstrap)")
        # the band far beyond the largest size can fan out by decades: keep it out of the y range
        near = grid <= Ns.max() * 1.5
        shown += [lo[near], hi[near]]
    held = set(fit["data"].get("holdout") or [])
    for lab, N in curves.items():
        is_held = lab in held
        ax.plot(
            N,
            model.E0_of_N(N),
            "s" if is_held else "o",
            color="C1" if is_held else "C0",
            mfc="none" if is_held else None,
            ms=7 if is_held else 5,
        )
    if free is not None:
        fN = {c["label"]: c["N"] for c in free["data"]["curves"]}
        e0 = free["params"]["E0"]
        ax.plot(
            [fN[k] for k in e0 if k in fN],
            [v for k, v in e0.items() if k in fN],
            "x",
            color="C3",
            label=f"free per-size E0 (paper law, {free['scenario']} fit)",
        )
    vals = np.concatenate([np.ravel(v) for v in shown])
    vals = vals[np.isfinite(vals)]
    pad = 0.1 * max(float(np.ptp(vals)), 0.1)
    ax.set_ylim(float(vals.min()) - pad, float(vals.max()) + pad)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("intercept E0 (log10 L at X = 1)")
    ax.set_title(
        f"X = {fit['x']}: " + _fit_title(fit) + ("  (open square: held out)" if held else ""), fontsize=8
    )
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.2)
    return fig
