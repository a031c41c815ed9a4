"""`rlscaling calibrate`: out-of-sample coverage of the prediction intervals
(rlscaling.fit.calibrate)."""

from __future__ import annotations

import argparse
import sys

from rlscaling.fit.calibrate import SCENARIOS, calibrate
from rlscaling.fit.interval import IntervalOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("curves", help="curves table (CSV or parquet): columns N, step, C, D, L, ...")
    parser.add_argument("-o", "--output", required=True, help="CAL.json to write")
    parser.add_argument("--figure", default=None, help="also draw nominal vs empirical coverage (PNG / PDF)")
    parser.add_argument("--x", default="C", choices=["C", "D"])
    parser.add_argument("--where", action="append", default=[], metavar="COL=VALUE")
    parser.add_argument("--min-step", type=int, default=1, help="drop steps below this (X must be > 0)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument(
        "--anchor-points", type=int, default=1, help="inter: anchor points of the held-out size"
    )
    parser.add_argument("--fraction", type=float, default=0.25, help="intra: the share of steps fitted")
    parser.add_argument("--bootstrap", type=int, default=200, help="refits per fold (parameter uncertainty)")
    parser.add_argument("--trials", type=float, default=None, help="samples x problems: binomial point noise")
    parser.add_argument("--seed", type=int, default=0)


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.fit.data import apply_where, parse_where, to_curveset
    from rlscaling.fit.interval_plot import plot_calibration
    from rlscaling.fit.predict_cli import trials_from_table
    from rlscaling.fit.run import _clean
    from rlscaling.io import write_json

    df = apply_where(read_table(args.curves), parse_where(args.where))
    cs = to_curveset(df, args.x, min_step=args.min_step)
    trials = args.trials if args.trials is not None else trials_from_table(df)
    opts = IntervalOptions(n_boot=args.bootstrap, seed=args.seed, n_trials=trials)
    res = calibrate(
        cs, opts, anchor_points=args.anchor_points, fraction=args.fraction, scenarios=tuple(args.scenarios)
    )
    res["source"] = str(args.curves)
    res["where"] = list(args.where)
    write_json(args.output, _clean(res))
    if args.figure:
        plot_calibration(res, args.figure)
    for sc in args.scenarios:
        if sc in res["na"]:
            print(f"calibrate {sc}: {res['na'][sc]}", file=sys.stderr)
            continue
        cov = res["coverage"][sc]
        print(
            f"calibrate {sc}: coverage 80% {cov['0.8']:.2f}, 95% {cov['0.95']:.2f}; median 95% width "
            f"{res['width95_rel_median'][sc]:.1%} of L; {res['n_folds'][sc]} curves, {res['seconds']:.1f} s",
            file=sys.stderr,
        )
    return 0
