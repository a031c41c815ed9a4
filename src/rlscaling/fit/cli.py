"""`rlscaling fit CURVES -o FIT.json --law LAW --x {C,D} --scenario {full,intra,inter} [options]`."""

from __future__ import annotations

import argparse
import os
import sys

# Fits do tiny linear algebra (2-parameter profiles, 2x2 solves); multi-threaded BLAS only adds
# contention (measured: 4x slower on a loaded 2-core machine). Set before numpy is first imported;
# an explicit user setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from rlscaling.errors import UserError  # noqa: E402

# The FIT.json contract has a ci95 for every parameter, so a plain `rlscaling fit` bootstraps too
# (the workflow's default fit.bootstrap; a few seconds on the paper's 732 points).
DEFAULT_BOOTSTRAP = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlscaling.fit.bootstrap import UNITS
    from rlscaling.fit.kn import E0_FORMS, OBJECTIVES
    from rlscaling.fit.laws import LAWS
    from rlscaling.fit.predict import CHOSEN, VARIANTS

    parser.add_argument("curves", help="curves table (CSV or parquet): columns N, step, C, D, L, ...")
    parser.add_argument("-o", "--output", required=True, help="FIT.json to write")
    parser.add_argument(
        "--law",
        required=True,
        choices=LAWS,
        help="law to fit; minimum data (else exit code 2 with the reason): paper and gain 3 sizes, "
        "paper-parametric 3 (4 with a 3-parameter E0 form), sigmoid 5 points per curve (and 3 sizes "
        "for inter), reuse 2 tau values with 3 steps each (rlscaling.fit.identify.MIN_DATA)",
    )
    parser.add_argument("--x", default="C", choices=["C", "D"], help="x variable: C (FLOPs) or D (prompts)")
    parser.add_argument("--scenario", default="full", choices=["full", "intra", "inter"])
    parser.add_argument(
        "--objective",
        default="default",
        choices=("default",) + OBJECTIVES,
        help="paper / paper-parametric objective (default: log-huber; 'paper' = the "
        "paper's linear-space MSE with equal weight per size)",
    )
    parser.add_argument(
        "--e0-form",
        default="auto",
        choices=("auto",) + tuple(E0_FORMS),
        help="paper-parametric: form of E0(N) (auto: pivot-tokens for C, pivot for D)",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="keep rows with COL == VALUE (repeatable)",
    )
    parser.add_argument(
        "--min-step",
        type=int,
        default=0,
        help="drop steps below this (step 0 has C = D = 0; not applied to law gain)",
    )
    parser.add_argument("--fit-steps", type=int, default=None, help="intra: fit steps <= K")
    parser.add_argument(
        "--fit-fraction", type=float, default=None, help="intra: fit steps <= F * (largest step), F in (0, 1)"
    )
    parser.add_argument("--holdout-N", type=float, nargs="+", default=[], help="inter: N values to hold out")
    parser.add_argument("--holdout-size", nargs="+", default=[], help="inter: size names to hold out")
    parser.add_argument(
        "--anchor-points",
        type=int,
        default=0,
        metavar="K",
        help="inter, laws paper / paper-parametric: set each held-out size's intercept E0 from its "
        "first K points (e.g. its pre-RL evaluation; k(N) still from the other sizes) and score the "
        "prediction on its remaining points (default 0: nothing of the held-out size is used)",
    )
    parser.add_argument(
        "--anchor-method",
        default=None,
        choices=VARIANTS,
        help=f"with --anchor-points: how the anchor and the extrapolated E0(N) are combined "
        f"(default {CHOSEN}, the method chosen by leave-one-size-out on the paper's sizes <= 32B; "
        "see rlscaling.fit.predict)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_BOOTSTRAP,
        help="bootstrap resamples for the 95%% intervals (ci95) of every parameter "
        f"(default {DEFAULT_BOOTSTRAP}, as the workflow's fit.bootstrap; 0: no intervals, ci95 null)",
    )
    parser.add_argument("--bootstrap-unit", default="auto", choices=UNITS)
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the bootstrap")


def request_from_args(args: argparse.Namespace):
    from rlscaling.fit.data import parse_where
    from rlscaling.fit.predict import CHOSEN
    from rlscaling.fit.run import FitRequest

    if args.bootstrap < 0:
        raise UserError(f"--bootstrap {args.bootstrap}: must be >= 0")
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be >= 1")
    return FitRequest(
        law=args.law,
        x=args.x,
        scenario=args.scenario,
        objective=args.objective,
        e0_form=args.e0_form,
        where=parse_where(args.where),
        min_step=args.min_step,
        fit_steps=args.fit_steps,
        fit_fraction=args.fit_fraction,
        holdout_N=list(args.holdout_N),
        holdout_size=list(args.holdout_size),
        anchor_points=args.anchor_points,
        anchor_method=args.anchor_method or CHOSEN,
        bootstrap=args.bootstrap,
        bootstrap_unit=args.bootstrap_unit,
        seed=args.seed,
        jobs=args.jobs,
    )


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.fit.run import run_fit
    from rlscaling.io import write_json

    req = request_from_args(args)
    df = read_table(args.curves)
    result = run_fit(df, req, source=str(args.curves))
    write_json(args.output, result)
    p = result["params"]
    head = ", ".join(f"{k}={p[k]:.4g}" for k in ("K_max", "N0", "a", "b") if isinstance(p.get(k), float))
    x = result.get("x", args.x)  # reuse fits loss against step whatever --x says
    line = f"{args.law} x={x} {args.scenario}: {head} r2={result['r2']:.4f} n={result['n_points']}"
    if result.get("heldout"):
        h = result["heldout"]
        r2 = "nan" if h.get("r2") is None else f"{h['r2']:.4f}"
        line += f"; held-out r2={r2} mape={h['mape']:.2f}%"
        if result.get("anchor"):
            line += f" (E0 anchored on {result['anchor']['points']} point(s) per held-out size)"
    print(line, file=sys.stderr)
    return 0
