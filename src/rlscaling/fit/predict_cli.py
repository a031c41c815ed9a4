"""`rlscaling predict CURVES --target-n N [--anchor X:L ...] -o PRED.json [--figure F.png]`: the
curve of a size not yet run (or not yet finished), with 80% and 95% prediction intervals
(rlscaling.fit.interval).

The target is a size N (or a size name of the table). When the table has curves of that size, they
are the truth: nothing of them is fitted, their first --anchor-points point(s) set the level, and
every later point is predicted and compared. Otherwise the target is predicted at --at X values
(default: the x values of the largest size in the table; for X = C scaled by N / N_largest, the
same tokens per step), with anchors given as --anchor X:L.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet, apply_where, parse_where, to_curveset
from rlscaling.fit.interval import IntervalOptions, Target, interval_score, predict_curves

DEFAULT_BOOTSTRAP = 200


def parse_anchor(item: str) -> tuple[float, float]:
    """'X:L' -> (x, L); UserError naming the item otherwise."""
    try:
        x, L = (float(v) for v in item.split(":"))
    except ValueError as err:
        raise UserError(f"--anchor {item!r}: expected X:L, e.g. 1.2e18:0.69") from err
    if not (x > 0 and 0 < L <= 1):
        raise UserError(f"--anchor {item!r}: X must be > 0 and L in (0, 1]")
    return x, L


def trials_from_table(df: pd.DataFrame) -> float | None:
    """samples x problems of one evaluation from the table's n_samples and n_problems columns (the
    median over rows), or None when the table lacks them."""
    if not {"n_samples", "n_problems"} <= set(df.columns):
        return None
    prod = pd.to_numeric(df["n_samples"], errors="coerce") * pd.to_numeric(df["n_problems"], errors="coerce")
    prod = prod[np.isfinite(prod) & (prod >= 1)]
    return float(prod.median()) if len(prod) else None


def resolve_target(cs: CurveSet, target_n: float | None, target_size: str | None) -> float:
    """The target's N: --target-n, or the N of the curves named --target-size (or 'largest')."""
    if (target_n is None) == (target_size is None):
        raise UserError("give exactly one of --target-n N and --target-size NAME")
    if target_n is not None:
        if not target_n > 0:
            raise UserError(f"--target-n {target_n}: must be > 0 parameters")
        return float(target_n)
    if target_size == "largest":
        return float(cs.curve_N.max())
    names = [str(k.get("size", lab)) for k, lab in zip(cs.keys or [{}] * cs.n_curves, cs.labels, strict=True)]
    hits = [i for i, (nm, lab) in enumerate(zip(names, cs.labels, strict=True)) if target_size in (nm, lab)]
    if not hits:
        raise UserError(f"--target-size {target_size}: no curve of that size (sizes: {sorted(set(names))})")
    return float(cs.curve_N[hits[0]])


def run_predict(
    df: pd.DataFrame,
    *,
    x: str,
    target_n: float | None = None,
    target_size: str | None = None,
    anchors: list[tuple[float, float]] | None = None,
    anchor_points: int = 1,
    at: list[float] | None = None,
    min_step: int = 1,
    opts: IntervalOptions | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The PRED.json content (module doc)."""
    opts = opts or IntervalOptions()
    cs = to_curveset(df, x, min_step=min_step)
    N = resolve_target(cs, target_n, target_size)
    in_table = np.isclose(cs.curve_N, N, rtol=1e-6)
    train = cs.subset(~in_table[cs.curve])
    if not (~in_table).any():
        raise UserError("every curve of the table is of the target size; nothing is left to fit from")
    if opts.n_trials is None:
        trials = trials_from_table(df)
        if trials is not None:
            opts = IntervalOptions(**{**opts.__dict__, "n_trials": trials})
    targets: list[tuple[str, Target, np.ndarray | None]] = []
    if in_table.any():
        if anchors:
            raise UserError(
                "--anchor X:L is for a size not in the table; its own curve gives --anchor-points"
            )
        for i in np.flatnonzero(in_table):
            idx = np.flatnonzero(cs.curve == i)
            idx = idx[np.argsort(cs.step[idx], kind="stable")]
            a, rest = idx[:anchor_points], idx[anchor_points:]
            if rest.size < 1:
                raise UserError(
                    f"--anchor-points {anchor_points}: curve {cs.labels[i]!r} has {idx.size} point(s), none "
                    "left to predict"
                )
            t = Target(N, cs.X[rest], cs.X[a] if a.size else None, cs.L[a] if a.size else None)
            targets.append((cs.labels[i], t, rest))
    else:
        if at:
            xs = np.array(sorted(at), dtype=float)
        else:
            big = int(np.argmax(train.curve_N))
            xs = train.X[train.curve == big] * (N / train.curve_N[big] if x == "C" else 1.0)
        ax = np.array([a[0] for a in anchors or []], dtype=float)
        aL = np.array([a[1] for a in anchors or []], dtype=float)
        targets.append(("target", Target(N, xs, ax if ax.size else None, aL if aL.size else None), None))
    preds = predict_curves(train, [t for _, t, _ in targets], opts)
    curves = []
    for (label, _t, idx), p in zip(targets, preds, strict=True):
        rec: dict[str, Any] = {"label": label, **p.to_json()}
        if idx is not None:
            y = cs.L[idx]
            rec["step"] = cs.step[idx].tolist()
            rec["observed"] = y.tolist()
            rec["check"] = {
                "mape": float(100 * np.mean(np.abs(p.L - y) / y)),
                "coverage": {
                    f"{lv:g}": float(np.mean((y >= lo) & (y <= hi))) for lv, (lo, hi) in p.bands.items()
                },
                "interval_score": {
                    f"{lv:g}": float(np.mean(interval_score(y, lo, hi, lv)))
                    for lv, (lo, hi) in p.bands.items()
                },
                "final": {
                    "step": float(cs.step[idx][-1]),
                    "observed": float(y[-1]),
                    "predicted": float(p.L[-1]),
                    **{f"interval{lv:g}": [float(lo[-1]), float(hi[-1])] for lv, (lo, hi) in p.bands.items()},
                },
            }
        curves.append(rec)
    return {
        "source": source,
        "x": x,
        "target_N": N,
        "train_sizes": sorted(set(train.labels), key=lambda lab: train.curve_N[train.labels.index(lab)]),
        "anchor_points": anchor_points if in_table.any() else len(anchors or []),
        "settings": {
            "law": opts.law,
            "objective": opts.objective,
            "bootstrap": opts.n_boot,
            "trials": opts.n_trials,
            "seed": opts.seed,
            "levels": list(opts.levels),
            "min_step": min_step,
        },
        "curves": curves,
    }


def _row(c: dict[str, Any]) -> str:
    f = c["check"]["final"]
    lo8, hi8 = f["interval0.8"]
    lo95, hi95 = f["interval0.95"]
    inside = "yes" if lo95 <= f["observed"] <= hi95 else "**no**"
    cov = c["check"]["coverage"]
    cells = [
        c["label"],
        f"{f['step']:g}",
        f"{f['observed']:.4f}",
        f"{f['predicted']:.4f}",
        f"[{lo8:.4f}, {hi8:.4f}]",
        f"[{lo95:.4f}, {hi95:.4f}]",
        inside,
        f"{cov['0.8']:.2f} / {cov['0.95']:.2f}",
        f"{c['check']['mape']:.2f}%",
    ]
    return "| " + " | ".join(cells) + " |"


def markdown(pred: dict[str, Any]) -> str:
    """summary.md's prediction section: one row per target curve, the last point's interval
    against the truth."""
    if "undetermined" in pred:
        return f"Undetermined: {pred['undetermined']}"
    lines = [
        f"Size N = {pred['target_N']:.4g} predicted from {', '.join(pred['train_sizes'])} "
        f"(x = {pred['x']}, law {pred['settings']['law']}, "
        f"{pred['anchor_points']} anchor point(s) of its own).",
        "",
    ]
    rows = [_row(c) for c in pred["curves"] if "check" in c]
    if rows:
        lines += [
            "| curve | final step | observed L | predicted L | 80% interval | 95% interval | inside 95% | "
            "coverage 80% / 95% (all points) | MAPE |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    else:
        c = pred["curves"][0]
        lines.append(
            f"Predicted final L {c['L'][-1]:.4f}, 95% interval [{c['intervals']['0.95']['lo'][-1]:.4f}, "
            f"{c['intervals']['0.95']['hi'][-1]:.4f}] (no run of this size to compare with)."
        )
    flagged = [
        (c.get("label") or f"N = {c['N']:.4g}", note) for c in pred["curves"] for note in c.get("notes") or []
    ]
    if flagged:
        lines += ["", "**Flagged intervals**", "", *(f"- ⚠ {label}: {note}" for label, note in flagged)]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("curves", help="curves table (CSV or parquet): columns N, step, C, D, L, ...")
    parser.add_argument("-o", "--output", required=True, help="PRED.json to write")
    parser.add_argument("--target-n", type=float, default=None, help="the target size N (parameters)")
    parser.add_argument(
        "--target-size", default=None, help="the target by size name of the table, or 'largest'"
    )
    parser.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="X:L",
        help="a known point of a target not in the table (repeatable), e.g. its pre-RL evaluation",
    )
    parser.add_argument(
        "--anchor-points",
        type=int,
        default=1,
        help="a target in the table: its first K points set its level (default 1; 0: from E0(N))",
    )
    parser.add_argument("--at", type=float, nargs="+", default=None, help="x values to predict at")
    parser.add_argument("--x", default="C", choices=["C", "D"])
    parser.add_argument("--where", action="append", default=[], metavar="COL=VALUE")
    parser.add_argument("--min-step", type=int, default=1, help="drop steps below this (X must be > 0)")
    parser.add_argument("--law", default="paper-parametric", choices=["paper-parametric", "paper"])
    parser.add_argument(
        "--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="refits for parameter uncertainty"
    )
    parser.add_argument(
        "--trials",
        type=float,
        default=None,
        help="samples x problems of one evaluation: binomial point noise (default: the table's n_samples "
        "x n_problems, else fitted to the residuals)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None, help="also draw the prediction (PNG / PDF)")
    parser.add_argument(
        "--undetermined-ok",
        action="store_true",
        help="when the data cannot support a prediction, write the reason to PRED.json and exit 0 "
        "(the workflow's summary reports it as undetermined)",
    )


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.fit.interval_plot import plot_prediction, plot_undetermined
    from rlscaling.fit.run import _clean
    from rlscaling.io import write_json

    if args.bootstrap < 20:
        raise UserError(f"--bootstrap {args.bootstrap}: at least 20 refits are needed")
    anchors = [parse_anchor(a) for a in args.anchor]
    df = apply_where(read_table(args.curves), parse_where(args.where))
    opts = IntervalOptions(law=args.law, n_boot=args.bootstrap, seed=args.seed, n_trials=args.trials)
    try:
        pred = run_predict(
            df,
            x=args.x,
            target_n=args.target_n,
            target_size=args.target_size,
            anchors=anchors,
            anchor_points=args.anchor_points,
            at=args.at,
            min_step=args.min_step,
            opts=opts,
            source=str(args.curves),
        )
    except UserError as err:
        if not args.undetermined_ok:
            raise
        write_json(args.output, {"source": str(args.curves), "undetermined": str(err)})
        if args.figure:
            plot_undetermined(str(err), args.figure)
        print(f"rlscaling predict: undetermined: {err}", file=sys.stderr)
        return 0
    write_json(args.output, _clean(pred))
    if args.figure:
        plot_prediction(pred, args.figure, df=df)
    for c in pred["curves"]:
        msg = f"predict {c['label']} N={pred['target_N']:.4g}: final L {c['L'][-1]:.4f}"
        msg += f" 95% [{c['intervals']['0.95']['lo'][-1]:.4f}, {c['intervals']['0.95']['hi'][-1]:.4f}]"
        if "check" in c:
            msg += f", observed {c['check']['final']['observed']:.4f}; MAPE {c['check']['mape']:.2f}%"
        print(msg, file=sys.stderr)
    return 0


__all__ = ["markdown", "run_predict"]
