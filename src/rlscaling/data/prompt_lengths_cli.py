"""`rlscaling prompt-lengths`: measure a run's train prompts and refuse a max_prompt_tokens that would
cut one (rlscaling.data.prompt_lengths)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlscaling.data.prompt_lengths import measure, read_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-json",
        required=True,
        help='JSON text or file: {"checks": [{file, tokenizer, limit, key}, ...]} (train parquet, tokenizer '
        "folder or hub id, a run's max_prompt_tokens and the config key that sets it)",
    )
    parser.add_argument("-o", "--output", required=True, help="output JSON, e.g. S/data/prompt_lengths.json")


def main(args: argparse.Namespace) -> int:
    from rlscaling.io import write_text

    report = measure(read_checks(args.params_json))
    write_text(Path(args.output), json.dumps(report, indent=2) + "\n")
    for file, by_tok in report["files"].items():
        for tok, s in by_tok.items():
            lengths = f"{s['prompts']} prompts, max {s['max']}, p99 {s['p99']} tokens"
            print(f"prompt lengths: {file} ({tok}): {lengths}")
    return 0
