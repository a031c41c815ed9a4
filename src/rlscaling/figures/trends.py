"""The other laws: the sigmoid compute curve R(C), the RL gain vs N (a·N^b) and data reuse over tau."""

from __future__ import annotations

from typing import Any

from rlscaling.figures.base import (
    _fill_band,
    _Context,
    _Unavailable,
    _XLABEL,
    _colors,
    _curve_groups,
    _plain_log_y,
    _samples,
    _size_axis,
)


def _sigmoid(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    from rlscaling.fit.sigmoid import sigmoid_R

    fit = ctx.find_fit(("sigmoid",), prefer=("full", "intra", "inter"))
    if fit is None:
        raise _Unavailable("no sigmoid fit")
    x = fit["x"]
    df = ctx.table(fit)
    df = df[df["step"] >= (fit["data"].get("min_step") or 0)]
    p = fit["params"]
    groups = [(lab, N, g) for lab, N, g in _curve_groups(df) if lab in p["A"]]
    if not groups:
        raise _Unavailable("no curve of the table matches the sigmoid fit's curves (other --curves?)")
    colors = _colors([N for _, N, _ in groups])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.5, 1]})
    for lab, N, g in groups:
        X = g[x].to_numpy(float)
        c = colors[N]
        ax.plot(np.where(X > 0, X, np.nan), 1 - g["L"], "o", ms=2.5, color=c, alpha=0.6)
        pos = X[X > 0]
        grid = np.geomspace(pos.min(), pos.max() * 30, 200)
        ax.plot(
            grid,
            sigmoid_R(grid, p["R0"][lab], p["A"][lab], p["B"][lab], p["X_mid"][lab]),
            "-",
            color=c,
            lw=1.5,
            label=f"{lab}: A={p['A'][lab]:.2f}, B={p['B'][lab]:.2f}",
        )
        ax.axhline(p["A"][lab], color=c, ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel(_XLABEL[x] + " (fit extended 30x past the data)")
    ax.set_ylabel("pass@1 R = 1 − L")
    ax.set_title("R = R0 + (A − R0) / (1 + (X_mid/X)^B) per size; dotted: asymptote A", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.2)
    ci = fit.get("ci95") or {}
    labs = [lab for lab, _, _ in groups]
    Ns = np.array([N for _, N, _ in groups])
    axes_AB = []
    for key, color, mk in (("A", "C0", "o"), ("B", "C3", "s")):
        vals = np.array([p[key][lab] for lab in labs])
        lo = np.array([(ci.get(key) or {}).get(lab, [v, v])[0] for lab, v in zip(labs, vals, strict=True)])
        hi = np.array([(ci.get(key) or {}).get(lab, [v, v])[1] for lab, v in zip(labs, vals, strict=True)])
        axk = ax2 if key == "A" else ax2.twinx()
        axes_AB.append(axk)
        axk.errorbar(
            Ns,
            vals,
            yerr=[np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)],
            fmt=mk,
            color=color,
            capsize=3,
            label=f"{key} (95% CI)",
        )
        axk.set_ylabel("asymptote A" if key == "A" else "efficiency B", color=color)
        if key == "B":
            axk.set_yscale("log")
            _plain_log_y(axk)
    sc = p.get("scaling") or {}
    if sc:
        grid = np.geomspace(Ns.min(), Ns.max(), 100)
        a = sc["one_minus_A"]
        ax2.plot(
            grid,
            np.clip(1 - a["c"] * grid ** a["p"], 0, 1),
            "-",
            color="C0",
            lw=1,
            label=f"1−A = {a['c']:.3g}·N^{a['p']:.3f}",
        )
        b = sc["B"]
        axes_AB[-1].plot(
            grid, b["c"] * grid ** b["p"], "--", color="C3", lw=1, label=f"B = {b['c']:.3g}·N^{b['p']:.3f}"
        )
    ax2.set_xscale("log")
    _size_axis(ax2, Ns, labs)
    ax2.set_xlabel("parameters N")
    ax2.set_title("asymptote A and efficiency B vs N", fontsize=9)
    hs, ls = [], []
    for a in axes_AB:  # one legend for both y axes
        h, lb = a.get_legend_handles_labels()
        hs += h
        ls += lb
    # below the panel: inside it would hide error bars of one axis or the other
    two_line = any("\n" in t.get_text() for t in ax2.get_xticklabels())  # below the axis label
    axes_AB[-1].legend(
        hs, ls, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.21 if two_line else -0.14)
    )
    ax2.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    return fig


def _gain(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    fit = ctx.find_fit(("gain",), prefer=("full", "inter"))
    if fit is None:
        raise _Unavailable("no gain fit")
    p = fit["params"]
    curves = {c["label"].split(" [")[0]: c["N"] for c in fit["data"]["curves"]}
    labs = list(p["gain"])
    Ns = np.array([curves.get(lab, np.nan) for lab in labs])
    if np.isnan(Ns).any():  # sizes are averaged over curves: recover N from the size label
        from rlscaling.curves_import import parse_N

        Ns = np.array([curves.get(lab) or parse_N(lab) or np.nan for lab in labs])
    g = np.array([p["gain"][lab] for lab in labs])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(Ns, g, "o", color="C0", label="observed gain (final − base pass@1)")
    for lab, N, v in zip(labs, Ns, g, strict=True):
        ax.annotate(lab, (N, v), textcoords="offset points", xytext=(4, 4), fontsize=7)
    grid = np.geomspace(np.nanmin(Ns) / 2, np.nanmax(Ns) * 4, 200)
    ax.plot(grid, p["a"] * grid ** p["b"], "-", color="C0", label=f"gain = {p['a']:.3g}·N^{p['b']:.3f}")
    sm = [s for s in _samples(fit) if "a" in s and "b" in s]
    if len(sm) >= 10:
        arr = np.array([s["a"] * grid ** s["b"] for s in sm])
        _fill_band(ax, grid, arr, "95% band (bootstrap over sizes)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("RL gain in pass@1")
    _plain_log_y(ax)
    ci = (fit.get("ci95") or {}).get("b")
    ax.set_title(
        "RL gain vs model size" + (f", b 95% CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""), fontsize=9
    )
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.2)
    return fig


def _reuse(ctx: _Context) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    fit = ctx.find_fit(("reuse",), prefer=("full", "intra", "inter"))
    df_all = ctx.curves
    tau_col = next((c for c in ("reuse_tau", "tau") if c in df_all.columns), None)
    if tau_col is None:
        raise _Unavailable("the curves have no reuse_tau column")
    df = ctx.table(fit)
    taus = sorted(df[tau_col].dropna().unique())
    cmap = plt.get_cmap("plasma")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.5, 1]})
    for i, tau in enumerate(taus):
        c = cmap(0.85 * i / max(1, len(taus) - 1))
        g = df[df[tau_col] == tau].groupby("step", as_index=False)["L"].mean().sort_values("step")
        g = g[g["step"] > 0]
        ax.plot(g["step"], g["L"], "o", ms=2.5, color=c, alpha=0.5)
        if fit is not None:
            key = f"tau={tau:g}"
            k, e0 = fit["params"]["k"].get(key), fit["params"]["E0"].get(key)
            if k is not None:
                s = np.geomspace(g["step"].min(), g["step"].max(), 100)
                ax.plot(
                    s, 10 ** (-k * np.log10(s) + e0), "-", color=c, lw=1.6, label=f"τ={tau:g} (k={k:.3f})"
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("RL step")
    ax.set_ylabel("test loss L")
    _plain_log_y(ax)
    ax.set_title("loss vs step per data-reuse factor τ (log-linear fit per τ)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.2)
    if fit is not None:
        pen = fit["params"]["vs_tau1"]
        ci = (fit.get("ci95") or {}).get("vs_tau1") or {}
        ts = [float(k.split("=")[1]) for k in pen]
        m = np.array([pen[k]["penalty_mean_pct"] for k in pen])
        lo = np.array(
            [(ci.get(k) or {}).get("penalty_mean_pct", [v, v])[0] for k, v in zip(pen, m, strict=True)]
        )
        hi = np.array(
            [(ci.get(k) or {}).get("penalty_mean_pct", [v, v])[1] for k, v in zip(pen, m, strict=True)]
        )
        ax2.errorbar(
            ts,
            m,
            yerr=[np.maximum(m - lo, 0), np.maximum(hi - m, 0)],
            fmt="o-",
            capsize=3,
            label="mean over common steps",
        )
        mf = np.array([pen[k]["penalty_final_pct"] for k in pen])
        ax2.plot(ts, mf, "s--", color="C3", label="at the last common step")
        ax2.axhline(0, color="gray", lw=1)
        ax2.set_xscale("log")
        ax2.set_xlabel("reuse factor τ")
        ax2.set_ylabel("loss penalty vs τ = 1 at equal steps (%)")
        ax2.set_title("cost of reusing data (95% CI: block bootstrap)", fontsize=9)
        ax2.legend(fontsize=7)
        ax2.grid(True, which="both", alpha=0.2)
    else:
        ax2.axis("off")
        ax2.text(0.5, 0.5, "no reuse fit", ha="center")
    fig.tight_layout()
    return fig
