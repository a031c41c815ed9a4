"""`rlscaling report`: write summary.md (and checks.json) from a study's curves and fits, or `--check` a
study's verdicts (exit 1 when one is FAIL).

    rlscaling report --study-dir S --curves S/curves.parquet --fits S/fits/A.json ... -o S/summary.md
        [--where COLUMN=VALUE ...] [--checks-json S/checks.json]
    rlscaling report --check S
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlscaling import verdicts
from rlscaling.errors import UserError
from rlscaling.report.checks import judge_study
from rlscaling.report.checks_file import read_checks, verdicts_file
from rlscaling.report.summary import load_fit, render
from rlscaling.report.timing import base_model_of_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study-dir", help="the study's results folder (required to write)")
    parser.add_argument("--curves", help="curves.parquet (required to write)")
    parser.add_argument("--fits", nargs="*", default=[], help="fit JSON files")
    parser.add_argument("-o", "--output", help="output Markdown, e.g. S/summary.md (required to write)")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="judge the study on these rows only (repeatable; the workflow passes a sweep's first value, "
        "as it does to the fits: checks pooled over a sweep's variants would mix different studies)",
    )
    parser.add_argument(
        "--checks-json",
        metavar="PATH",
        help="also write the verdicts, design warnings and counts as JSON (the workflow: S/checks.json)",
    )
    from rlscaling.fit.power import PowerSettings

    default = PowerSettings()
    parser.add_argument(
        "--power-sims",
        type=int,
        default=default.sims,
        help="an undetermined identification: simulated studies per design (default %(default)s)",
    )
    parser.add_argument(
        "--power-bootstrap",
        type=int,
        default=default.bootstrap,
        help="an undetermined identification: bootstrap resamples per simulated fit (default %(default)s)",
    )
    parser.add_argument(
        "--check",
        metavar="SUMMARY_OR_STUDY_DIR",
        help="instead of writing: print the verdicts of a study (its folder, checks.json or summary.md) "
        "and exit 1 when one is FAIL (0 on pass, undetermined and n/a)",
    )


def check_summary(path: str | Path) -> int:
    """Exit status of `--check`: 1 when a verdict is FAIL, else 0. Prints every verdict, with its
    detail where it is not pass, and the counts."""
    path = verdicts_file(path)
    rows = read_checks(path)
    for check, verdict, detail in rows:
        print(f"{verdict:12s}  {check}" + ("" if verdict == verdicts.PASS else f": {detail}"))
    counts = {v: sum(r[1] == v for r in rows) for v in (*verdicts.VERDICTS, verdicts.NOT_APPLICABLE)}
    print(f"{path}: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    if counts[verdicts.FAIL]:
        print(f"{path}: {counts[verdicts.FAIL]} of {len(rows)} checks FAIL: the data contradict them")
        return 1
    return 0


def main(args: argparse.Namespace) -> int:
    from rlscaling.io import write_json, write_text

    if args.check:
        return check_summary(args.check)
    for flag, value in (
        ("--study-dir", args.study_dir),
        ("--curves", args.curves),
        ("-o/--output", args.output),
    ):
        if not value:
            raise UserError(f"{flag} is required (or give --check SUMMARY_MD)")
    from rlscaling.curves_table import load_curves
    from rlscaling.fit.data import apply_where, parse_where

    study_dir = Path(args.study_dir)
    everything = load_curves(args.curves)
    df = apply_where(everything, parse_where(args.where))
    if df.empty:
        raise UserError(f"{args.curves}: no rows with {' and '.join(args.where)}")
    fits = [load_fit(p) for p in args.fits]
    out = Path(args.output)
    from rlscaling.fit.power import PowerSettings

    settings = PowerSettings(sims=args.power_sims, bootstrap=args.power_bootstrap)
    judged = judge_study(df, fits, settings)
    text = render(study_dir, df, fits, out, where=args.where, all_runs=base_model_of_runs(everything),
                  judged=judged)  # fmt: skip
    if args.checks_json:
        write_json(args.checks_json, {"study": str(df["study"].iloc[0]) if "study" in df.columns
                                      else study_dir.name, "summary": out.name, **judged})  # fmt: skip
    write_text(out, text)
    from rlscaling import tracking  # opt-in: the fits, figures and summary.md to the study's tracked run

    if (track := tracking.Settings.from_environment()).enabled:
        tracking.log_study(track, args.fits, sorted((study_dir / "figures").glob("*.png")), out)
    return 0
