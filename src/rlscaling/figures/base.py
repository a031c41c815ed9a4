"""What the figure drawers share: the curves and fits of a figure (`_Context`), the curve groups and
their labels (as the fitters name them), the fit's line and 95 % bootstrap band, and axis helpers.
matplotlib and numpy are imported inside the functions."""

from __future__ import annotations

from typing import Any


class _Unavailable(Exception):
    """A figure's inputs are missing; the message says which."""


class _Context:
    """The curves table and the fits, with lookups the drawers share."""

    def __init__(self, curves: Any, fits: list[dict[str, Any]], bench: str):
        self.curves = curves
        self.fits = fits
        self.bench = bench

    def find_fit(
        self,
        laws: tuple[str, ...],
        x: str | None = None,
        scenario: str | None = None,
        prefer: tuple[str, ...] = ("full",),
    ) -> dict[str, Any] | None:
        cands = [
            f
            for f in self.fits
            if f.get("law") in laws
            and (x is None or f.get("x") == x)
            and (scenario is None or f.get("scenario") == scenario)
        ]
        if not cands:
            return None
        cands.sort(key=lambda f: (f.get("scenario") not in prefer, laws.index(f["law"])))
        return cands[0]

    def table(self, fit: dict[str, Any] | None = None, bench: str | None = None) -> Any:
        """Curves rows of the figure: the fit's --where filters, else the main benchmark."""
        df = self.curves
        wheres = (fit.get("data") or {}).get("where") if fit else None
        if wheres:
            for w in wheres:
                col, val = w.split("=", 1)
                if col in df.columns:
                    df = (
                        df[df[col].astype(str) == val]
                        if df[col].dtype == object
                        else df[_isclose(df[col], val)]
                    )
        elif "bench" in df.columns:
            b = bench or self.bench
            if b in set(df["bench"].astype(str)):
                df = df[df["bench"].astype(str) == b]
            else:
                df = df[df["bench"].astype(str) == sorted(df["bench"].astype(str).unique())[0]]
        if df.empty:
            raise _Unavailable("no curve rows match the fit's filters")
        return df


def _isclose(series: Any, val: str) -> Any:
    import numpy as np

    try:
        return np.isclose(series.astype(float), float(val), rtol=1e-9, atol=0)
    except ValueError:
        return series.astype(str) == val


def _curve_groups(df: Any) -> list[tuple[str, float, Any]]:
    """(label, N, rows sorted by step) per curve, in N order; labels as the fits name them."""
    from rlscaling.fit.data import to_curveset  # noqa: F401  (same grouping rules)
    from rlscaling.fit.data import grouping_columns

    cols = grouping_columns(df)
    out = []
    for _key, g in df.groupby(cols, dropna=False, sort=False) if cols else [((), df)]:
        g = g.sort_values("step")
        N = float(g["N"].iloc[0])
        out.append((None, N, g))
    labels = _labels_for(out, cols)
    res = [(lab, N, g) for lab, (_, N, g) in zip(labels, out, strict=True)]
    res.sort(key=lambda t: t[1])
    return res


def _labels_for(groups: list, cols: list[str]) -> list[str]:
    from rlscaling.fit.data import _labels  # shared with the fitters, so labels match FIT.json

    keys = [{c: g[c].iloc[0] for c in cols} for _, _, g in groups]
    import numpy as np

    return _labels(keys, np.array([N for _, N, _ in groups]), None)


def _colors(Ns: list[float]) -> dict[float, Any]:
    import matplotlib.pyplot as plt
    import numpy as np

    u = sorted(set(Ns))
    cmap = plt.get_cmap("viridis")
    if len(u) == 1:
        return {u[0]: cmap(0.4)}
    lg = np.log10(u)
    return {n: cmap(0.9 * (v - lg.min()) / (lg.max() - lg.min())) for n, v in zip(u, lg, strict=True)}


def _samples(fit: dict[str, Any]) -> list[dict[str, Any]]:
    """Bootstrap samples as params dicts (nested like FIT.json params)."""
    from rlscaling.fit.bootstrap import unflatten

    bs = fit.get("bootstrap") or {}
    names = bs.get("names") or []
    out = []
    for row in bs.get("samples") or []:
        flat = {n: v for n, v in zip(names, row, strict=True) if v is not None}
        p = unflatten(flat)
        if "E0_form" in fit["params"]:
            p["E0_form"] = fit["params"]["E0_form"]
        out.append(p)
    return out


def _fill_band(ax: Any, grid: Any, curves: Any, label: str) -> None:
    """The 95 % percentile band of `curves` (one row per bootstrap sample, along `grid`), in C0."""
    import numpy as np

    ax.fill_between(
        grid,
        np.percentile(curves, 2.5, 0),
        np.percentile(curves, 97.5, 0),
        color="C0",
        alpha=0.2,
        lw=0,
        label=label,
    )


def _loss_axes(ax: Any, x: str) -> None:
    """Log-log axes of test loss L against x (C, D or step)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_XLABEL[x])
    ax.set_ylabel("test loss L = 1 − pass@1")


def _kn_band(fit: dict[str, Any], label: str, N: float, X: Any) -> tuple[Any, Any] | None:
    """95 % band of the law's L along X for curve (label, N) from the bootstrap samples."""
    import numpy as np

    from rlscaling.fit.laws import predict_from_params

    curves = (fit.get("data") or {}).get("curves")
    preds = []
    for p in _samples(fit):
        if (
            fit["law"] == "paper"
            and label in fit["params"].get("E0", {})
            and label not in (p.get("E0") or {})
        ):
            continue
        try:
            preds.append(predict_from_params(fit["law"], p, label, N, X, curves))
        except (KeyError, ValueError, TypeError):
            continue
    if len(preds) < 10:
        return None
    arr = np.array(preds) * _anchor_shift(fit, label)
    return np.percentile(arr, 2.5, axis=0), np.percentile(arr, 97.5, axis=0)


def _anchor_shift(fit: dict[str, Any], label: str) -> float:
    """Factor on L that moves a held-out curve's line from the fit's E0 to its anchored E0 (an inter
    fit with --anchor-points: k(N) unchanged, the intercept set from the curve's first points); 1 for
    every other curve or fit. The band is the bootstrap's k(N) band shifted the same way."""
    anchor = fit.get("anchor") or {}
    e0, e0_plain = (anchor.get("E0") or {}), (anchor.get("E0_unanchored") or {})
    if label in e0 and label in e0_plain:
        return float(10.0 ** (e0[label] - e0_plain[label]))
    return 1.0


def _kn_line(fit: dict[str, Any], label: str, N: float, X: Any) -> Any:
    from rlscaling.fit.laws import predict_from_params

    curves = (fit.get("data") or {}).get("curves")
    return predict_from_params(fit["law"], fit["params"], label, N, X, curves) * _anchor_shift(fit, label)


def _fit_title(fit: dict[str, Any]) -> str:
    p = fit["params"]
    s = f"{fit['law']} ({fit.get('objective', '')}, {fit['scenario']})"
    if "K_max" in p:
        s += f": K_max={p['K_max']:.3f}, N0={_size(p['N0'])}"
    if fit.get("r2") is not None:
        s += f", R²={fit['r2']:.4f}"
    return s + _flag_text(fit)


_FLAG_SHORT = {
    "estimate_at_bound": "at optimizer bound",
    "ci_at_bound": "CI ends at bound",
    "zero_width": "zero-width CI",
}


def _flag_text(fit: dict[str, Any]) -> str:
    """'\n⚠ N0 at optimizer bound; K_max CI ends at bound' for the fit's interval_flags (FIT.json;
    fit.identify): an interval the data cannot support is not drawn as if they did."""
    flags = [
        f for f in fit.get("interval_flags") or [] if isinstance(f, dict) and f.get("kind") in _FLAG_SHORT
    ]
    if not flags:
        return ""
    items = list(dict.fromkeys(f"{f.get('param')} {_FLAG_SHORT[f['kind']]}" for f in flags))
    more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
    return "\n⚠ " + "; ".join(items[:3]) + more


_XLABEL = {"C": "RL compute C (FLOPs)", "D": "data D (prompts)", "step": "RL step"}


def _plain_log_y(ax: Any) -> None:
    """Log-scale y tick labels as plain decimals (0.4, 0.6, 1) instead of 6x10^-1; matplotlib still
    decides which minor ticks get a label, so many decades do not crowd the axis."""
    from matplotlib.ticker import LogFormatter

    class _Plain(LogFormatter):
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:.3g}"

    ax.yaxis.set_major_formatter(_Plain(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(_Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _size(N: float) -> str:
    """A parameter count for a label: '13.8B', '659K' (N0 of a tiny-model study is not '0.0B')."""
    from rlscaling.fit.data import size_label

    return size_label(float(N))


def _size_axis(ax: Any, Ns: Any, labels: list[str]) -> None:
    """A log N axis spanning little more than a decade: ticks at the fitted sizes, named, instead of
    matplotlib's minor-tick labels (2x10^5 3x10^5 ... collide)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(
        list(Ns),
        [f"{lab}\n{_size(n)}" if lab != _size(n) else lab for lab, n in zip(labels, Ns, strict=True)],
    )
    ax.xaxis.set_minor_formatter(NullFormatter())


def _wheres(fit: dict[str, Any]) -> list[str]:
    return sorted((fit.get("data") or {}).get("where") or [])


def _held_out(fit: dict[str, Any]) -> set[str]:
    """Labels of the curves an inter fit predicted without fitting them."""
    return set((fit.get("data") or {}).get("holdout") or []) if fit.get("scenario") == "inter" else set()
