"""The study's figures (PNG + PDF): the paper's set, drawn from curves.parquet and the fit JSONs.

`figure_names(config)` is imported by the Snakefile to know its outputs, so this module must not
import matplotlib (or anything heavy) at import time; drawing code imports it inside functions.
"""

from __future__ import annotations

import argparse
from typing import Any

# Every name figure_names can return; workflow/report/{name}.rst must exist for each.
ALL_FIGURE_NAMES: tuple[str, ...] = (
    "loss_vs_C",
    "loss_vs_D",
    "pass1_vs_step",
    "transfer",
    "k_of_N",
    "E0_of_N",
    "intra_prediction_C",
    "intra_prediction_D",
    "inter_prediction_C",
    "inter_prediction_D",
    "sigmoid",
    "gain",
    "reuse",
)

PAPER_LAWS = ("paper", "paper-parametric")


def figure_names(config: dict[str, Any]) -> list[str]:
    """Names (no extension) of the figures a study with this config produces, in a fixed order.

    Always: loss_vs_C, loss_vs_D (log-log per size, with the paper law where fitted) and
    pass1_vs_step. `transfer` when more than one benchmark is evaluated. Per configured law and
    scenario: k_of_N (paper law, >= 2 sizes), E0_of_N (paper-parametric, >= 2 sizes),
    intra_/inter_prediction_{x} (paper law with that scenario), sigmoid, gain (>= 2 sizes), reuse
    (reuse law or a reuse_tau sweep).
    """
    fit = config.get("fit") or {}
    laws = list(fit.get("laws") or ["paper"])
    xs = list(fit.get("x") or ["C", "D"])
    scenarios = list(fit.get("scenarios") or ["full"])
    sizes = list(((config.get("models") or {}).get("sizes") or {}))
    benches = list(((config.get("evaluation") or {}).get("benchmarks") or []))
    sweep = config.get("sweep") or {}
    multi_size = len(sizes) >= 2
    paper_law = any(law in PAPER_LAWS for law in laws)

    names = ["loss_vs_C", "loss_vs_D", "pass1_vs_step"]
    if len(benches) > 1:
        names.append("transfer")
    if paper_law and multi_size:
        names.append("k_of_N")
    if "paper-parametric" in laws and multi_size:
        names.append("E0_of_N")
    if paper_law:
        for sc in ("intra", "inter"):
            if sc in scenarios and (sc != "inter" or multi_size):
                names.extend(f"{sc}_prediction_{x}" for x in ("C", "D") if x in xs)
    if "sigmoid" in laws:
        names.append("sigmoid")
    if "gain" in laws and multi_size:
        names.append("gain")
    if "reuse" in laws or "reuse_tau" in sweep:
        names.append("reuse")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--curves", required=True, help="curves table (parquet or CSV)")
    parser.add_argument("--fits", nargs="*", default=[], help="fit JSON files from `rlscaling fit`")
    parser.add_argument("--params-json", default=None, help='{"figures": {...}, "fit": {...}, "names": [...]}')
    parser.add_argument("--out-dir", required=True, help="folder for {name}.{png,pdf}")


def main(args: argparse.Namespace) -> int:
    raise NotImplementedError("figures: drawing not implemented yet")
