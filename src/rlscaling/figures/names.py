"""Figure-name planning: which figures a study produces (the workflow's outputs) or, standalone, what
the given fits support. Imported by the Snakefile when it plans the DAG: no matplotlib here (the law
names come from rlscaling.fit.laws, which the config checks load anyway)."""

from __future__ import annotations

from typing import Any

from rlscaling.fit.laws import PAPER_LAWS

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

MAIN_BENCH = "heldout"


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
    sizes = list((config.get("models") or {}).get("sizes") or {})
    benches = list((config.get("evaluation") or {}).get("benchmarks") or [])
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


def infer_names(fits: list[dict[str, Any]], benches: list[str]) -> list[str]:
    """Figure names for a standalone call: what the given fits and curves support."""
    names = ["loss_vs_C", "loss_vs_D", "pass1_vs_step"]
    if len(benches) > 1:
        names.append("transfer")
    laws = {f.get("law") for f in fits}
    if laws & set(PAPER_LAWS):
        names.append("k_of_N")
    if "paper-parametric" in laws:
        names.append("E0_of_N")
    for sc in ("intra", "inter"):
        for x in ("C", "D"):
            if any(f.get("law") in PAPER_LAWS and f.get("scenario") == sc and f.get("x") == x for f in fits):
                names.append(f"{sc}_prediction_{x}")
    for law in ("sigmoid", "gain", "reuse"):
        if law in laws:
            names.append(law)
    return names
