"""Compute allocation from a curves table: rollouts per prompt, data reuse, pre-training vs RL.

`rlscaling allocate {rollouts,reuse,split} CURVES -o OUT.json [--figure OUT.png] [--where COL=VALUE]`

Each analysis reads a tidy curves table (a study's curves.parquet or `rlscaling curves import`
output), refuses a table that lacks its dimension (naming the missing column) or has fewer than
`MIN_LEVELS` levels of it (unidentifiable), and answers per group of curves (e.g. source=base and
source=instruct are separate answers; rows of other benchmarks must be filtered with --where).

rollouts
    Runs that differ in the GRPO group size n (`rollouts_per_prompt`). Every curve gets the paper's
    log-linear form in compute, log10 L = -k_n log10 C + E0_n (C in FLOPs), evaluated only inside
    the compute range the curve covers. At each compute level C (a log grid over the range that at
    least MIN_LEVELS curves cover) the best n is the argmin of L_n(C); the continuous n* is the
    vertex of the parabola in log2 n through the argmin and its neighbours, or the edge value when
    the argmin is the smallest / largest n covering C (then `censored`: 'lower' / 'upper' at the
    grid's smallest / largest n, 'coverage-lower' / 'coverage-upper' when a smaller / larger n was run
    but its curve does not reach C, so the optimum may lie there). The law
    log2 n* = a + b log10 C is fitted by least squares over the grid levels that are not
    coverage-censored; `saturates` compares the slopes over the lower and upper halves of the log C
    range (IsoCompute's finding: the best n grows with compute, then saturates). Runs compared at
    equal rollouts per step (prompts_per_step x n constant) are compute-matched at equal steps, and
    C does the same job for runs that are not (the paper's 512 prompts x n).

reuse
    Curves that differ in the data-reuse factor tau (`reuse_tau`). Loss at equal steps against
    tau = 1 in percent of L_1: (i) `fit`: the reuse law's log-linear curves in step
    (rlscaling.fit.reuse; mean over the common step range), the numbers the paper's comparison used;
    (ii) `paired`: the mean over common steps of the measured (L_tau - L_1) / L_1. The trend is
    pct = c * log10 tau (least squares through the origin, percent per decade of tau).

split
    Base models that differ in pre-training tokens (`pretrain_tokens` or `D_pretrain`, C_pretrain =
    6 N tokens when no `C_pretrain` column; a study's curves.parquet: its `C_pretrain`) per size N,
    each followed by an RL curve in C (RL FLOPs, 0 at the base model). For a total budget B (FLOPs)
    every base model with C_pretrain < B spends
    C_rl = B - C_pretrain on RL; its loss there is interpolated linearly in C along its RL curve
    (only inside it). The iso-FLOP curve is final L against the RL share s = C_rl / B; the optimal
    share s* is the vertex of the parabola of L in logit(s) through the best base model and its two
    neighbours (censored when the best is the smallest or largest share sampled; `sparse` when the
    curve has fewer than MIN_ISOFLOP_POINTS points), and the law logit(s*) = a + b log10 B, fitted on
    the budgets that are neither, states how the optimum moves with the budget.

Intervals (95%, percentile bootstrap) resample replicates (a `seed` / `replicate` column with more than
one value per level: whole curves, within each level) where present, else points within each curve
(rollouts, reuse) or the iso-FLOP residuals (split). Every parameter is reported as
{"value", "ci95": [lo, hi]}.

The package: `table` (what the analyses share: table checks, groups of curves, bootstrap, intervals),
one module per analysis (`rollouts`, `reuse`, `split`, each with `analyse(df, ...)`), `plot` (the
figures) and `cli` (the command); `run` dispatches one analysis by name.
"""

from __future__ import annotations

import os
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402

from rlscaling.errors import UserError  # noqa: E402
from rlscaling.fit.allocate import reuse, rollouts, split  # noqa: E402
from rlscaling.fit.allocate.table import DEFAULT_BOOTSTRAP  # noqa: E402

ANALYSES = ("rollouts", "reuse", "split")


def run(df: pd.DataFrame, analysis: str, *, x: str = "C", grid: int = 12, bootstrap: int = DEFAULT_BOOTSTRAP,
        seed: int = 0, extrapolate: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """Dispatch one analysis on a curves DataFrame."""
    if bootstrap < 0:
        raise UserError(f"--bootstrap {bootstrap}: must be >= 0")
    if grid < 2:
        raise UserError(f"--grid {grid}: must be >= 2")
    if analysis == "rollouts":
        return rollouts.analyse(df, x=x, n_grid=grid, bootstrap=bootstrap, seed=seed, extrapolate=extrapolate)
    if analysis == "reuse":
        return reuse.analyse(df, bootstrap=bootstrap, seed=seed)
    if analysis == "split":
        return split.analyse(df, n_budgets=grid, bootstrap=bootstrap, seed=seed)
    raise UserError(f"allocate: unknown analysis {analysis!r} (expected one of {ANALYSES})")
