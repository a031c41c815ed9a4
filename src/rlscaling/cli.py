"""The `rlscaling` command: one subcommand per workflow stage.

Each subcommand lives in a command module of its room: `<package>/cli.py` for a package
(rlscaling.data.cli, rlscaling.fit.cli, ...), `<module>_cli.py` beside a module (rlscaling.pretrain_cli,
rlscaling.fit.compare_cli, ...); the domain modules hold no argparse code. A command module exposes

    add_arguments(parser: argparse.ArgumentParser) -> None
    main(args: argparse.Namespace) -> int

Only the chosen subcommand's module is imported, and command modules keep heavy imports (torch,
transformers, trl) inside `main`, so light stages (fit, figures, plan) start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rlscaling.errors import UserError

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("rlscaling.config_cli", "validate a config and print the study plan (runs, steps, fits)"),
    "data": ("rlscaling.data.cli", "prepare train / held-out / benchmark parquet files (verl RL schema)"),
    "tokenizer": ("rlscaling.tokenizer_cli", "build the tiny family's tokenizer from the training corpus"),
    "prompt-lengths": (
        "rlscaling.data.prompt_lengths_cli",
        "measure the train files' prompt lengths; refuse a max_prompt_tokens that would cut a prompt",
    ),
    "pretrain": ("rlscaling.pretrain_cli", "pre-train one size of the tiny model family from scratch"),
    "train": ("rlscaling.segment_cli", "run one GRPO training segment (trl or verl engine)"),
    "evaluate": ("rlscaling.evaluate.cli", "evaluate one checkpoint on benchmarks (pass@k, format rate)"),
    "curves": ("rlscaling.curves_cli", "build the tidy curves table, or import outside logs into one"),
    "fit": ("rlscaling.fit.cli", "fit a scaling law to a curves table"),
    "predict": ("rlscaling.fit.predict_cli", "predict a size's curve with 80% / 95% prediction intervals"),
    "calibrate": ("rlscaling.fit.calibrate_cli", "out-of-sample coverage of the prediction intervals"),
    "compare": ("rlscaling.fit.compare_cli", "law tournament: out-of-sample R², MAPE, interval score"),
    "allocate": ("rlscaling.fit.allocate.cli", "compute allocation: rollouts n, reuse tau, pretrain vs RL"),
    "compare-recipes": ("rlscaling.fit.recipe_compare_cli", "which RL recipe scales better (ScaleRL)"),
    "figures": ("rlscaling.figures.cli", "draw the study's figures (PNG + PDF)"),
    "report": ("rlscaling.report.cli", "write summary.md and checks.json, or --check a study's verdicts"),
    "robustness": ("rlscaling.robustness_cli", "run the study over study seeds and tabulate every verdict"),
    "identify-power": (
        "rlscaling.identify_power_cli",
        "simulate how often a design (replicates, span of N) identifies K_max and N0",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only `command`'s module is imported (all of them when None)."""
    parser = argparse.ArgumentParser(
        prog="rlscaling", description="RL post-training scaling-law studies (one subcommand per stage)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        # argparse expands % in a help line (not in a description): a literal % is written %%
        p = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text)
        if command is None or name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in COMMANDS else "__none__"
    args = build_parser(command).parse_args(argv)
    try:
        return int(args._module.main(args) or 0)
    except UserError as err:  # bad input: one clear message, no traceback
        print(f"rlscaling {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
