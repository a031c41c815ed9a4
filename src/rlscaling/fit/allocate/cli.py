"""`rlscaling allocate {rollouts,reuse,split} CURVES -o OUT.json [--figure OUT.png] [--where COL=VALUE]`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rlscaling.fit.allocate import ANALYSES, run
from rlscaling.fit.allocate.table import DEFAULT_BOOTSTRAP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", choices=ANALYSES, help="rollouts | reuse | split")
    parser.add_argument("curves", help="curves table (CSV or parquet; a study's curves.parquet or an import)")
    parser.add_argument("-o", "--output", required=True, help="JSON to write")
    parser.add_argument("--figure", default=None, help="figure to draw (PNG or PDF by suffix)")
    parser.add_argument(
        "--where", action="append", default=[], metavar="COL=VALUE", help="keep rows (repeatable)"
    )
    parser.add_argument("--x", default="C", choices=["C", "step"], help="rollouts: compute axis (default C)")
    parser.add_argument("--grid", type=int, default=12, help="rollouts: compute levels; split: budgets")
    parser.add_argument(
        "--extrapolate",
        type=float,
        default=1.0,
        help="rollouts: use each curve's log-linear fit up to this factor beyond its measured compute "
        "range (default 1: interpolation only)",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="resamples (0: no intervals)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.fit.data import apply_where, parse_where
    from rlscaling.io import write_json

    df = apply_where(read_table(args.curves), parse_where(args.where))
    result = run(
        df,
        args.analysis,
        x=args.x,
        grid=args.grid,
        bootstrap=args.bootstrap,
        seed=args.seed,
        extrapolate=args.extrapolate,
    )
    result["source"] = str(args.curves)
    result["where"] = list(args.where)
    write_json(args.output, result)
    if args.figure:
        from rlscaling.fit.allocate.plot import plot

        plot(result, args.figure)
    for line in summary_lines(result):
        print(line, file=sys.stderr)
    return 0


def _fmt_p(p: dict[str, Any], f: str = "{:.3g}") -> str:
    lo, hi = p["ci95"]
    v = "n/a" if p["value"] is None else f.format(p["value"])
    return v if lo is None else f"{v} [{f.format(lo)}, {f.format(hi)}]"


def _share_text(row: dict[str, Any]) -> str:
    """A budget's optimal RL share as text: an estimate with its interval, or the bound that an optimum at
    the edge of the iso-FLOP curve is (`lower`: at most the least RL share offered; `upper`: at least the
    most)."""
    value, kind = row["share_star"]["value"], row["censored"]
    if kind == "lower" and value is not None:
        return f"<= {value:.2f} (lower edge)"
    if kind == "upper" and value is not None:
        return f">= {value:.2f} (upper edge)"
    return _fmt_p(row["share_star"], "{:.2f}") + (f" ({kind})" if kind else "")


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per group: the answer with its interval."""
    out = []
    for g in result["groups"]:
        if result["analysis"] == "rollouts":
            out.append(
                f"rollouts {g['group']}: b = {_fmt_p(g['law']['b'])} (log2 n* per decade); "
                + g["verdict"]["text"]
            )
        elif result["analysis"] == "reuse":
            parts = [
                f"tau={t}: {_fmt_p(v['fit_pct'], '{:+.2f}')}%" for t, v in g["vs_tau1"].items() if t != "1"
            ]
            out.append(f"reuse {g['group']}: " + "; ".join(parts))
        else:
            out.append(f"split {g['group']}: law b = {_fmt_p(g['law']['b'])}; s* at budgets " + ", ".join(
                _share_text(r) for r in g["budgets"]))  # fmt: skip
    return out
