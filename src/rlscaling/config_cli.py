"""`rlscaling plan`: validate a config and print the study plan (rlscaling.config)."""

from __future__ import annotations

import argparse
import json
import sys

from rlscaling.config import (
    base_models,
    checkpoint_steps,
    eval_steps,
    fit_targets,
    load,
    n_replicates,
    runs,
    study_dir,
    warnings,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config.yaml", help="study config (YAML)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


def main(args: argparse.Namespace) -> int:
    config = load(args.config)
    for message in warnings(config):
        print(f"config: warning: {message}", file=sys.stderr)
    plan = {
        "study": config["study"],
        "study_dir": study_dir(config),
        "sizes": list(config["models"]["sizes"]),
        "replicates": n_replicates(config),
        "base_models": list(base_models(config)),
        "runs": [r.name for r in runs(config)],
        "checkpoint_steps": checkpoint_steps(config),
        "eval_steps": eval_steps(config),
        "benchmarks": config["evaluation"]["benchmarks"],
        "fits": fit_targets(config),
    }
    if args.json:
        print(json.dumps(plan, indent=2))
    else:
        for k, v in plan.items():
            print(f"{k:18s} {v}")
    return 0
