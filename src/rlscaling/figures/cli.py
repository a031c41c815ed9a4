"""`rlscaling figures`: read the curves table and the fit JSONs, pick the figure names (--names,
--params-json's names, or what the fits support) and draw them (rlscaling.figures.draw)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rlscaling.figures.draw import draw_all
from rlscaling.figures.names import ALL_FIGURE_NAMES, MAIN_BENCH, infer_names


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
    from rlscaling.curves_table import check_table, read_table
    from rlscaling.errors import UserError

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
    curves = check_table(read_table(args.curves), args.curves)  # pass@k and L in [0, 1], no NaN
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
