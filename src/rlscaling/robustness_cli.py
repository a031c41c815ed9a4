"""`rlscaling robustness`: the study per study seed, then every verdict per seed (rlscaling.robustness)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from rlscaling.errors import UserError
from rlscaling.io import write_json, write_text
from rlscaling.report.checks_file import read_checks, verdicts_file
from rlscaling.robustness import (
    base_study,
    design_warnings,
    figure,
    fit_rows,
    markdown,
    pooled_trends,
    pretrain_rows,
    size_rows,
    snakemake_cmd,
)
from rlscaling.verdicts import FAIL


def run_study(cmd: list[str], cwd: Path, log: Path, grace: float = 30.0) -> int:
    """Run one seed's Snakemake, its output to `log`, and return its exit status.

    Snakemake and its jobs run in a process group of their own. A SIGTERM or SIGINT to this command
    sends SIGTERM to the whole group: the jobs stop (their outputs are written atomically, so nothing
    half-written is left) and Snakemake, seeing them fail, releases its lock and exits. After `grace`
    seconds whatever of the group is left is killed, and this command exits 128 + the signal, so no
    study job outlives it. (SIGINT to Snakemake alone leaves a running local job alive.)"""
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    received: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    handlers = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    deadline = None
    try:
        while True:
            try:
                returncode = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + grace
                if deadline is not None and time.monotonic() > deadline:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    if received:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a job Snakemake left behind
        except ProcessLookupError:
            pass
        raise SystemExit(128 + received[0])
    return returncode


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated study seeds")
    ap.add_argument("--configfile", action="append", default=[],
                    help="config overlay(s) after config.yaml (relative to --directory)")  # fmt: skip
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--results-dir", default="results", help="relative to --directory")
    ap.add_argument("--directory", type=Path, default=Path("."),
                    help="the project folder: its Snakefile, config.yaml and profiles/local (default: .)")
    ap.add_argument("--table-only", action="store_true", help="tabulate the studies on disk, run nothing")
    ap.add_argument("--dry-run", action="store_true", help="print the planned jobs per seed, run nothing")


def main(args: argparse.Namespace) -> int:
    """Run (or tabulate) the study per seed; see the module doc for the outputs and exit status."""
    root = args.directory.resolve()
    if not (root / "Snakefile").is_file():
        raise UserError(f"--directory {root}: no Snakefile (run from the project folder, or name it)")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise UserError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    study = base_study(root, args.configfile)
    out_dir = root / args.results_dir / "robustness"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    status = 0
    # --table-only keeps the wall times an earlier run of this command recorded
    earlier_json = out_dir / "robustness.json"
    earlier = {r["seed"]: r for r in json.loads(earlier_json.read_text())} if earlier_json.is_file() else {}
    for seed in seeds:
        name = f"{study}-seed{seed}"
        overlay = out_dir / f"seed{seed}.yaml"
        write_text(overlay, yaml.safe_dump({"study": name, "seed": seed, "results_dir": args.results_dir}))
        study_dir = root / args.results_dir / name
        row: dict[str, Any] = {"seed": seed, "study": name, "study_dir": str(study_dir)}
        if args.dry_run:
            proc = subprocess.run(
                snakemake_cmd(args.configfile, overlay, args.cores, "-n", "--quiet", "rules"),
                cwd=root, capture_output=True, text=True, check=False,
            )  # fmt: skip
            print(f"## seed {seed}: {name}\n{(proc.stdout + proc.stderr)[-1500:]}")
            status = max(status, 0 if proc.returncode == 0 else 2)
            continue
        if args.table_only and earlier.get(seed, {}).get("minutes") is not None:
            row["minutes"] = earlier[seed]["minutes"]
        if not args.table_only:
            t0 = time.perf_counter()
            log = out_dir / f"seed{seed}.log"
            returncode = run_study(snakemake_cmd(args.configfile, overlay, args.cores), root, log)
            row["minutes"] = (time.perf_counter() - t0) / 60
            if returncode != 0:
                row["error"] = f"snakemake exited {returncode} (log: {log})"
        try:
            row["checks"] = read_checks(study_dir)
            row["verdicts_from"] = verdicts_file(study_dir).name
            row["design_warnings"] = design_warnings(study_dir)
            row["fits"] = fit_rows(study_dir)
            row["sizes"] = size_rows(study_dir)
            row["pretraining"] = pretrain_rows(study_dir)
        except Exception as err:  # noqa: BLE001 - a study that did not finish is reported, not fatal
            row.setdefault("error", f"{study_dir}: {err}")
        results.append(row)
    if args.dry_run:
        return status
    pooled = pooled_trends([Path(r["study_dir"]) for r in results])
    write_json(out_dir / "robustness.json", results)
    write_json(out_dir / "pooled_trend.json", pooled)
    text = markdown(results, pooled)
    write_text(out_dir / "robustness.md", text)
    for path in figure(results, out_dir / "robustness"):
        print(f"figure: {path}")
    print(text)
    if any(r.get("error") for r in results):
        return 2
    return 1 if any(res == FAIL for r in results for _, res, _ in r["checks"]) else 0
