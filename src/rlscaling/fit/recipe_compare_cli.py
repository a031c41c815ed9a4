"""`rlscaling compare-recipes`: ScaleRL's sigmoid per recipe and size, the differences from a reference
recipe with their verdicts, and the early-fit check (rlscaling.fit.recipe_compare)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlscaling.fit.recipe_compare import DEFAULT_BOOTSTRAP, compare, prepare, summary_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("curves", help="curves table (CSV or parquet) with a recipe column")
    parser.add_argument("-o", "--output", required=True, help="JSON to write")
    parser.add_argument("--figures", default=None, metavar="DIR", help="write the figures (PNG) to DIR")
    parser.add_argument(
        "--where", action="append", default=[], metavar="COL=VALUE", help="keep rows (repeatable)"
    )
    parser.add_argument("--reference", default=None, help="reference recipe (default grpo, else the first)")
    parser.add_argument(
        "--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="resamples (0: no intervals)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.fit.data import apply_where, parse_where
    from rlscaling.io import write_json

    df = apply_where(read_table(args.curves), parse_where(args.where))
    result = compare(df, reference=args.reference, bootstrap=args.bootstrap, seed=args.seed)
    result["source"] = str(args.curves)
    result["where"] = list(args.where)
    write_json(args.output, result)
    if args.figures:
        from rlscaling.fit.recipe_compare_plot import plot

        plot(result, prepare(df)[0], Path(args.figures))
    for line in summary_lines(result):
        print(line, file=sys.stderr)
    return 0
