"""`rlscaling data`: prepare a study's train / held-out / benchmark files (stage 1).

    rlscaling data --params-json '{"data": {...}, "benchmarks": {...}, "seed": 0}' --out-dir results/S/data

--params-json is the JSON object itself or the path of a file holding it (the Snakemake rule passes
the config's data section, the evaluated benchmarks and the seed). Writes train.parquet,
heldout.parquet, train_tau{tau}.parquet, bench/{name}.parquet, pretrain_corpus.parquet (synthetic)
and report.json; prints a short summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rlscaling.io import read_params_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-json", required=True, help="JSON object {data, benchmarks, seed}, or a file containing it"
    )
    parser.add_argument("--out-dir", required=True, help="output folder, e.g. results/STUDY/data")


def summary(report: dict[str, Any]) -> str:
    """A few human-readable lines about a data report."""
    lines = [f"source {report['source']}, seed {report['seed']}"]
    for name, s in report["splits"].items():
        lines.append(
            f"{name:8s} {s['rows']:6d} rows  easy {s['easy']:6d}  hard {s['hard']:6d}  "
            f"easy fraction {s['easy_fraction']}"
        )
    o = report["order"]
    lines.append(f"order    {o['mode']}, monotone {o['monotone']} ({o['violations']} violations)")
    m, d = report["malformed"], report["duplicates"]
    lines.append(f"malformed {m['total']} {m['by_reason']}")
    lines.append(
        f"duplicates dropped {d['total_dropped']} (within train {d['within_train']}, within held-out "
        f"{d['within_heldout']}, train vs held-out {d['train_vs_heldout']}; conflicting ground truth "
        f"{d['conflicting_ground_truth']})"
    )
    for tau, r in report["reuse"]["taus"].items():
        lines.append(
            f"tau {tau:>3s}  {r['unique']} unique x {tau} = {r['rows']} rows ({report['reuse']['mode']})"
        )
    for name, b in report["benchmarks"].items():
        lines.append(
            f"bench {name}: {b['rows']} rows, scorer {b['scorer']}, malformed {b['malformed']['total']}, "
            f"overlap with train {b['overlap_with_train']}"
        )
    lines.append(f"wall {report['wall_s']} s")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from rlscaling.data.prepare import prepare

    report = prepare(read_params_json(args.params_json), Path(args.out_dir))
    print(summary(report))
    return 0
