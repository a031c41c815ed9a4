"""`rlscaling compare`: the law tournament on a curves table (rlscaling.fit.compare)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rlscaling.fit.compare import LAWS, compare, markdown
from rlscaling.fit.compare_plot import group_name, plot
from rlscaling.fit.data import parse_where


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("curves", help="curves table (CSV or parquet): columns N, step, C, D, L, ...")
    parser.add_argument("-o", "--output", required=True, help="COMPARE.json to write")
    parser.add_argument("--laws", nargs="+", default=list(LAWS), choices=LAWS, metavar="LAW")
    parser.add_argument("--x", nargs="+", default=["C"], choices=["C", "D"], help="x variable(s)")
    parser.add_argument("--where", action="append", default=[], metavar="COL=VALUE")
    parser.add_argument("--min-step", type=int, default=1, help="drop steps below this (not for gain)")
    parser.add_argument("--figure", default=None, help="also draw the tournament (PNG / PDF path)")
    parser.add_argument("--markdown", default=None, help="also write the tables as markdown")


def main(args: argparse.Namespace) -> int:
    from rlscaling.curves_table import read_table
    from rlscaling.io import write_json, write_text

    df = read_table(args.curves)
    res = compare(
        df,
        laws=tuple(args.laws),
        xs=tuple(args.x),
        where=parse_where(args.where),
        min_step=args.min_step,
        source=str(args.curves),
    )
    write_json(args.output, _clean(res))
    if args.markdown:
        write_text(args.markdown, markdown(res) + "\n")
    if args.figure:
        plot(res, args.figure)
    for g in res["groups"]:
        winner = g.get("overall") or "none"
        print(f"compare {group_name(g)} x={g['x']}: overall winner {winner}", file=sys.stderr)
    return 0


def _clean(obj: Any) -> Any:
    from rlscaling.fit.run import _clean as clean

    return clean(obj)
