"""The study's figures (PNG + PDF): the paper's set, drawn from curves.parquet and the fit JSONs.

    rlscaling figures --curves curves.parquet --fits FIT.json [...] [--params-json JSON] --out-dir DIR

`figure_names(config)` is imported by the Snakefile to know its outputs, so this module must not
import matplotlib (or anything heavy) at import time; drawing code imports it inside functions.
Without --params-json the names are inferred from the fits and the curves (`infer_names`), so the
command also works standalone on imported data (e.g. the paper's CSVs).

Every requested name is written in every format; a figure whose inputs are missing (no fit for it,
one benchmark only, ...) is drawn as a labelled placeholder saying why, so a workflow never loses an
output. Bands are 95 % percentile bands over the fit's bootstrap samples.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Every name figure_names can return; workflow/report/{name}.rst must exist for each.
ALL_FIGURE_NAMES: tuple[str, ...] = (
    "loss_vs_C",
    "loss_vs_D",
    "pass1_vs_step",
    "transfer",
    "k_of_N",
    "E0_of_N",
    "intra_prediction_C",
    "intra_prediction_D",
    "inter_prediction_C",
    "inter_prediction_D",
    "sigmoid",
    "gain",
    "reuse",
)

PAPER_LAWS = ("paper", "paper-parametric")
MAIN_BENCH = "heldout"


def figure_names(config: dict[str, Any]) -> list[str]:
    """Names (no extension) of the figures a study with this config produces, in a fixed order.

    Always: loss_vs_C, loss_vs_D (log-log per size, with the paper law where fitted) and
    pass1_vs_step. `transfer` when more than one benchmark is evaluated. Per configured law and
    scenario: k_of_N (paper law, >= 2 sizes), E0_of_N (paper-parametric, >= 2 sizes),
    intra_/inter_prediction_{x} (paper law with that scenario), sigmoid, gain (>= 2 sizes), reuse
    (reuse law or a reuse_tau sweep).
    """
    fit = config.get("fit") or {}
    laws = list(fit.get("laws") or ["paper"])
    xs = list(fit.get("x") or ["C", "D"])
    scenarios = list(fit.get("scenarios") or ["full"])
    sizes = list((config.get("models") or {}).get("sizes") or {})
    benches = list((config.get("evaluation") or {}).get("benchmarks") or [])
    sweep = config.get("sweep") or {}
    multi_size = len(sizes) >= 2
    paper_law = any(law in PAPER_LAWS for law in laws)

    names = ["loss_vs_C", "loss_vs_D", "pass1_vs_step"]
    if len(benches) > 1:
        names.append("transfer")
    if paper_law and multi_size:
        names.append("k_of_N")
    if "paper-parametric" in laws and multi_size:
        names.append("E0_of_N")
    if paper_law:
        for sc in ("intra", "inter"):
            if sc in scenarios and (sc != "inter" or multi_size):
                names.extend(f"{sc}_prediction_{x}" for x in ("C", "D") if x in xs)
    if "sigmoid" in laws:
        names.append("sigmoid")
    if "gain" in laws and multi_size:
        names.append("gain")
    if "reuse" in laws or "reuse_tau" in sweep:
        names.append("reuse")
    return names


def infer_names(fits: list[dict[str, Any]], benches: list[str]) -> list[str]:
    """Figure names for a standalone call: what the given fits and curves support."""
    names = ["loss_vs_C", "loss_vs_D", "pass1_vs_step"]
    if len(benches) > 1:
        names.append("transfer")
    laws = {f.get("law") for f in fits}
    if laws & set(PAPER_LAWS):
        names.append("k_of_N")
    if "paper-parametric" in laws:
        names.append("E0_of_N")
    for sc in ("intra", "inter"):
        for x in ("C", "D"):
            if any(f.get("law") in PAPER_LAWS and f.get("scenario") == sc and f.get("x") == x for f in fits):
                names.append(f"{sc}_prediction_{x}")
    for law in ("sigmoid", "gain", "reuse"):
        if law in laws:
            names.append(law)
    return names


# --------------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--curves", required=True, help="curves table (parquet or CSV)")
    parser.add_argument("--fits", nargs="*", default=[], help="fit JSON files from `rlscaling fit`")
    parser.add_argument(
        "--params-json",
        default=None,
        help='{"figures": {"formats": [...], "dpi": N}, "fit": {...}, "names": [...]}',
    )
    parser.add_argument("--out-dir", required=True, help="folder for {name}.{png,pdf}")
    parser.add_argument("--names", nargs="*", default=None, help="only these figures")


def main(args: argparse.Namespace) -> int:
    from rlscaling.errors import UserError
    from rlscaling.fit.data import read_table

    params: dict[str, Any] = {}
    if args.params_json:
        from rlscaling.io import read_params_json

        params = read_params_json(args.params_json)
    fits = []
    for path in args.fits:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"--fits: {p} does not exist")
        try:
            fits.append(json.loads(p.read_text()))
        except json.JSONDecodeError as err:
            raise UserError(f"--fits: {p} is not valid JSON ({err})") from err
    curves = read_table(args.curves)
    fig_cfg = params.get("figures") or {}
    formats = list(fig_cfg.get("formats") or ["png", "pdf"])
    dpi = int(fig_cfg.get("dpi") or 150)
    bench = (params.get("fit") or {}).get("bench") or _fit_bench(fits) or MAIN_BENCH
    benches = sorted(map(str, curves["bench"].unique())) if "bench" in curves.columns else []
    names = args.names or params.get("names") or infer_names(fits, benches)
    unknown = [n for n in names if n not in ALL_FIGURE_NAMES]
    if unknown:
        raise UserError(f"unknown figure name(s) {unknown} (known: {list(ALL_FIGURE_NAMES)})")
    written = draw_all(curves, fits, names, Path(args.out_dir), formats=formats, dpi=dpi, bench=bench)
    print(f"figures: wrote {len(written)} files to {args.out_dir}", file=sys.stderr)
    return 0


def _fit_bench(fits: list[dict[str, Any]]) -> str | None:
    for f in fits:
        for w in (f.get("data") or {}).get("where") or []:
            if w.startswith("bench="):
                return w.split("=", 1)[1]
    return None


# --------------------------------------------------------------------------------------------------
# drawing


def draw_all(
    curves: Any,
    fits: list[dict[str, Any]],
    names: list[str],
    out_dir: Path,
    *,
    formats: list[str],
    dpi: int = 150,
    bench: str = MAIN_BENCH,
) -> list[Path]:
    """Draw `names` into out_dir in every format; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlscaling.io import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Context(curves, fits, bench)
    written = []
    for name in names:
        try:
            fig = DRAWERS[name](ctx)
        except _Unavailable as why:
            fig = _placeholder(name, str(why))
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


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


def _placeholder(name: str, why: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.axis("off")
    ax.text(0.5, 0.6, name, ha="center", va="center", fontsize=13, weight="bold")
    ax.text(0.5, 0.3, f"not available: {why}", ha="center", va="center", fontsize=10, wrap=True)
    return fig


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
    return s


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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_XLABEL[x])
    ax.set_ylabel("test loss L = 1 − pass@1")
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
    for label, N, g in groups:
        y = g[col] if col else 1.0 - g["L"]
        ax.plot(g["step"], y, "-o", ms=2.5, lw=1.2, color=colors[N], label=label)
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
            ax.fill_between(
                grid,
                np.percentile(arr, 2.5, 0),
                np.percentile(arr, 97.5, 0),
                color="C0",
                alpha=0.2,
                lw=0,
                label="95% band (bootstrap)",
            )
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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_XLABEL[x])
    ax.set_ylabel("test loss L = 1 − pass@1")
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
        ax.fill_between(
            grid,
            np.percentile(arr, 2.5, 0),
            np.percentile(arr, 97.5, 0),
            color="C0",
            alpha=0.2,
            lw=0,
            label="95% band (bootstrap over sizes)",
        )
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


DRAWERS = {
    "loss_vs_C": lambda ctx: _loss_vs_x(ctx, "C"),
    "loss_vs_D": lambda ctx: _loss_vs_x(ctx, "D"),
    "pass1_vs_step": _pass1_vs_step,
    "transfer": _transfer,
    "k_of_N": _k_of_N,
    "E0_of_N": _E0_of_N,
    "intra_prediction_C": lambda ctx: _prediction(ctx, "intra", "C"),
    "intra_prediction_D": lambda ctx: _prediction(ctx, "intra", "D"),
    "inter_prediction_C": lambda ctx: _prediction(ctx, "inter", "C"),
    "inter_prediction_D": lambda ctx: _prediction(ctx, "inter", "D"),
    "sigmoid": _sigmoid,
    "gain": _gain,
    "reuse": _reuse,
}
