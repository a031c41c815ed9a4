"""`rlscaling train`: one GRPO training segment (rlscaling.train.cli), then, for the trl engine, the
evaluation of the checkpoint it wrote, in the same process.

The workflow exports its evaluation plan ($RLSCALING_EVALUATE_AFTER) when training.engine is trl and
evaluation.engine is hf. The segment has imported torch and the model code already, so evaluating here
costs the sampling alone; the evaluate job then copies the result instead of starting a process that
loads everything again (rlscaling.evaluate.memo). Training and evaluation stay apart as rooms: this
command module, above both, is where they meet.
"""

from __future__ import annotations

import argparse

from rlscaling.train import cli as train_cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    train_cli.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    status = train_cli.main(args)
    if status == 0 and train_cli.parse_params(args.params_json)["engine"] == "trl":
        from rlscaling.evaluate import memo

        memo.evaluate_after_training(args.out, args.step, args.threads)
    return status
