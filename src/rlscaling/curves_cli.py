"""`rlscaling curves {metrics,build,import}`: a run's metrics, a study's curves table, outside logs
as a curves table (rlscaling.curves, rlscaling.curves_import)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from rlscaling.curves import build_curves, concat_metrics
from rlscaling.curves_import import (
    FORMATS,
    SCALES,
    import_paper,
    import_seed000,
    import_verl_jsonl,
    import_wandb_csv,
)
from rlscaling.curves_table import check_table
from rlscaling.errors import UserError


def _cmd_metrics(args: argparse.Namespace) -> int:
    from rlscaling import training_health as health
    from rlscaling.io import read_params_json, write_text

    records = concat_metrics(args.step_dirs)
    if args.health_json is not None:
        settings = health.Settings.from_config(read_params_json(args.health_json, "--health-json"))
        records = health.annotate(records, settings)
        flagged = [r for r in records if r["health"]]
        if flagged:
            first = flagged[0]
            print(
                f"training health: {args.output}: {len(flagged)} of {len(records)} steps flagged, the first "
                f"at step {first['step']}: {'; '.join(f['reason'] for f in first['health'])}",
                file=sys.stderr,
            )
    write_text(args.output, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from rlscaling.io import read_params_json, write_parquet

    params = read_params_json(args.params_json)
    df = build_curves(args.study_dir, params)
    write_parquet(args.output, df)
    print(f"curves: {len(df)} rows ({df['run'].nunique()} runs) -> {args.output}")
    return 0


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="file or folder to import")
    parser.add_argument("-o", "--output", required=True, help="curves table to write (.parquet or .csv)")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--N", type=float, default=None, help="parameter count (verl-jsonl, wandb-csv)")
    parser.add_argument("--run", default=None, help="run name (verl-jsonl; default: file name)")
    parser.add_argument("--size", default=None, help="size name (verl-jsonl)")
    parser.add_argument("--bench", default="val", help="benchmark name (wandb-csv)")
    parser.add_argument("--family", default=None, help="model family name")
    parser.add_argument(
        "--scale",
        default="auto",
        choices=SCALES,
        help="wandb-csv scores: fraction (0-1), percent (0-100), or auto (percent only when every value "
        "of a column is 0 or above 1; a mixed column is refused)",
    )
    parser.add_argument("--prompts-per-step", type=float, default=None, help="for D = step * prompts")
    parser.add_argument(
        "--tokens-per-step",
        type=float,
        default=None,
        help="for C = 6 N tokens when the log has no token counts",
    )


def import_curves(args: argparse.Namespace) -> pd.DataFrame:
    fmt = args.format
    if fmt == "paper":
        return import_paper(args.src)
    if fmt == "seed000":
        return import_seed000(args.src)
    if fmt == "verl-jsonl":
        return import_verl_jsonl(
            args.src,
            N=args.N,
            run=args.run,
            size=args.size,
            prompts_per_step=args.prompts_per_step,
            tokens_per_step=args.tokens_per_step,
            family=args.family,
        )
    if fmt == "wandb-csv":
        return import_wandb_csv(
            args.src,
            N=args.N,
            bench=args.bench,
            prompts_per_step=args.prompts_per_step,
            tokens_per_step=args.tokens_per_step,
            family=args.family,
            scale=args.scale,
        )
    raise UserError(f"--format {fmt!r}: expected one of {FORMATS}")


def run_import(args: argparse.Namespace) -> int:
    from rlscaling.io import atomic_path, write_parquet

    df = check_table(import_curves(args), args.src)  # pass@k and L in [0, 1], named by file and row
    notes = list(df.attrs.get("notes") or [])
    df.attrs["notes"] = notes  # kept in the parquet file's metadata
    for note in notes:
        print(f"curves import: note: {note}", file=sys.stderr)
    out = Path(args.output)
    if out.suffix.lower() == ".csv":
        with atomic_path(out) as tmp:
            df.to_csv(tmp, index=False)
    else:
        write_parquet(out, df)
    print(f"curves import: {len(df)} rows, {df['run'].nunique()} runs -> {out}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="curves_command", required=True, metavar="SUBCOMMAND")
    m = sub.add_parser("metrics", help="concatenate a run's per-segment metrics.jsonl files in step order")
    m.add_argument("step_dirs", nargs="+", metavar="STEP_DIR", help="checkpoint folders runs/RUN/step_NNNNNN")
    m.add_argument("-o", "--output", required=True, help="output JSONL, e.g. runs/RUN/metrics.jsonl")
    m.add_argument(
        "--health-json",
        metavar="JSON",
        help="training.health settings (JSON text or file): add each step's training-health flags as "
        "`health` (null when healthy)",
    )
    m.set_defaults(_curves=_cmd_metrics)
    b = sub.add_parser("build", help="build curves.parquet from evaluations, run metrics and model records")
    b.add_argument("--study-dir", required=True, help="the study's results folder")
    b.add_argument(
        "--params-json", required=True, help="study plan: study, models, sweep, runs, eval_steps, benchmarks"
    )
    b.add_argument("-o", "--output", required=True, help="output parquet, e.g. S/curves.parquet")
    b.set_defaults(_curves=_cmd_build)
    i = sub.add_parser(
        "import", help="build a curves table from outside logs (verl JSONL, W&B CSV, paper CSV)"
    )
    add_import_arguments(i)
    i.set_defaults(_curves=run_import)


def main(args: argparse.Namespace) -> int:
    return int(args._curves(args) or 0)
