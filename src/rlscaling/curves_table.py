"""The curves table's contract: its columns, their roles, and the checks every reader applies.

A curves table (parquet or CSV: a study's curves.parquet, `rlscaling curves import` output, or a
hand-made table) has one row per (curve, step[, bench]). Every reader (the fitters, the allocation
analyses, the figures, the report, the importers) takes the column roles from here:

    REQUIRED_COLUMNS      N, step, C, D, L: what a table every law can be fitted to holds
    STUDY_COLUMNS         what a study's curves.parquet always holds (the report reads them)
    MEASUREMENT_COLUMNS   vary along a curve (with is_measurement: pass_at_<k>, pass@<k>, mean@<k>,
                          score...); never identify a curve
    DERIVED_KEY_COLUMNS   derived from a run's other keys (`model`); never identify a curve on their own
    NEUTRAL_COLUMNS       identify a curve without setting it apart from the other curves of its size
                          (names, parameter counts, replicates)
    REPLICATE_COLUMNS     repeats of one experiment (seed, replicate)
    ROLLOUT_COLUMNS, TAU_COLUMNS, PRETRAIN_COLUMNS
                          the sweep dimensions the allocation analyses and the reuse law read: GRPO
                          group size n, data-reuse factor tau, pre-training tokens or compute

and its readers from:

    read_table(path)             CSV or parquet; `step` whole numbers >= 0
    whole_steps(values, ...)     a step column as int64, refused where a value is not a whole number
    check_columns(df, cols)      UserError naming the missing columns
    check_table(df, source)      pass@k and L in [0, 1], pass@k non-decreasing in k
    load_curves(path)            a study's curves.parquet: read, STUDY_COLUMNS present, rows, check_table
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.errors import UserError

REQUIRED_COLUMNS = ("N", "step", "C", "D", "L")
STUDY_COLUMNS = ("run", "size", "N", "step", "bench", "pass_at_1")

# columns that vary along a curve (never grouping keys)
MEASUREMENT_COLUMNS = frozenset(
    {
        "step",
        "C",
        "D",
        "L",
        "C_full",
        "C_pretrain",
        "C_raw",
        "E",
        "tokens",
        "ErrRate",
        "ErrRate_from_C_plot",
        "format_rate",
        "mean_response_tokens",
        "wall_seconds",
        "reward",
        "reward_mean",
        "reward_std",
        "value",
        "metric",
    }
)
MEASUREMENT_PATTERN = re.compile(r"^(pass_at_\d+|pass@\d+|mean@\d+|score.*)$")
PASS_AT_K_PATTERN = re.compile(r"pass_at_\d+")
# rounding allowed when pass@k is checked to be non-decreasing in k (rates written with ~15 digits)
PASS_AT_K_TOLERANCE = 1e-9

# a study's curves name each run's base model (`model`: size, pre-training sweep values, replicate); it
# is derived from the run's other keys, so it never identifies a curve on its own
DERIVED_KEY_COLUMNS = ("model",)
# columns that name a curve without setting it apart from others of its size: never a reason to keep
# curves of one size apart
NEUTRAL_COLUMNS = ("N", "size", "run", "N_nonembed", "seed", "replicate", "study", *DERIVED_KEY_COLUMNS)
REPLICATE_COLUMNS = ("replicate", "seed")

# sweep dimensions, each with its alternative spellings in order of preference
ROLLOUT_COLUMNS = ("rollouts_per_prompt", "rollout_n")
TAU_COLUMNS = ("reuse_tau", "tau")
PRETRAIN_COLUMNS = ("pretrain_tokens", "D_pretrain", "C_pretrain")  # a study's curves: C_pretrain


def is_measurement(column: Any) -> bool:
    """Whether `column` is named as a per-step measurement (MEASUREMENT_COLUMNS or a pass@k / mean@k /
    score name). A text column of such a name that is constant along every curve is a variant all the
    same (fit.data.grouping_columns decides that from the values)."""
    return column in MEASUREMENT_COLUMNS or bool(MEASUREMENT_PATTERN.match(str(column)))


# --------------------------------------------------------------------------------------------------
# reading


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or parquet curves table. Raises UserError when missing or unreadable, or when a `step`
    is not a whole number >= 0 (naming the file, the line of a CSV or the row of a parquet file)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"curves file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv", ".txt"):
        raise UserError(f"curves file {path}: unknown format {path.suffix!r} (expected .csv or .parquet)")
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as err:  # pyarrow / parser errors: name the file
        raise UserError(f"curves file {path}: cannot read it ({type(err).__name__}: {err})") from err
    if "step" in df.columns:
        df["step"] = whole_steps(df["step"], path, "step", csv=suffix not in (".parquet", ".pq"))
    return df


def whole_steps(values: pd.Series, source: str | Path, col: str, *, csv: bool = True) -> np.ndarray:
    """`values` (a step column) as int64. UserError naming `source`, the line (csv: data row i is line
    i + 2) or row, and the value when one is blank, not a number, negative or not a whole number (a NaN
    step is never cast to an integer nor dropped)."""
    nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(nums) | (nums < 0) | (nums != np.round(nums))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = values.iloc[i]
        shown = "a blank cell" if pd.isna(raw) else repr(raw.item() if hasattr(raw, "item") else raw)
        where = f"line {i + 2}" if csv else f"row {i}"
        raise UserError(
            f"{source}, {where}: column {col!r} is {shown}; expected a whole number >= 0 "
            f"({int(bad.sum())} such row(s))"
        )
    return nums.astype(np.int64)


def load_curves(path: str | Path, required: tuple[str, ...] = STUDY_COLUMNS) -> pd.DataFrame:
    """A study's curves table (parquet): read, checked to hold the `required` columns and at least one
    row, then check_table. Raises UserError naming the file otherwise."""
    from rlscaling.io import read_parquet

    path = Path(path)
    df = read_parquet(path, "--curves")
    for col in required:
        if col not in df.columns:
            raise UserError(f"{path}: missing column `{col}`")
    if df.empty:
        raise UserError(f"{path}: has no rows")
    return check_table(df, path)  # pass@1 and L in [0, 1] on every row (NaN too is refused)


# --------------------------------------------------------------------------------------------------
# checks


def check_columns(df: pd.DataFrame, columns: list[str] | tuple[str, ...], what: str = "curves table") -> None:
    """UserError naming the `columns` that df lacks (and the columns it has)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{what}: missing column(s) {missing} (columns: {sorted(map(str, df.columns))})")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (for messages)."""
    return value.item() if hasattr(value, "item") else value


def _row_place(df: pd.DataFrame, i: int) -> str:
    return ", ".join(f"{k}={_plain(df[k].iloc[i])!r}" for k in ("run", "step", "bench") if k in df.columns)


def check_table(df: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """UserError unless every pass@k and L of a curves table (built, imported or hand-made) is a
    number in [0, 1]: pass_at_1 and L on every row, pass_at_<k> where present (a benchmark evaluated
    without that k leaves it empty), and pass@k does not fall with k on any row. Names the file, the
    column and the first bad row. Returns `df`."""
    cols = [c for c in df.columns if c == "L" or PASS_AT_K_PATTERN.fullmatch(str(c))]
    for col in cols:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        raw_missing = df[col].isna().to_numpy()
        required = col in ("pass_at_1", "L")
        nan = np.isnan(values)  # empty, NaN or not a number
        # inf is out of range; an empty pass_at_<k> cell is allowed, a non-number never
        bad = (nan & (required | ~raw_missing)) | (~nan & ((values < 0) | (values > 1)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = _row_place(df, i)
            raise UserError(
                f"{source}: column `{col}` has {int(bad.sum())} value(s) that are not a number in [0, 1] "
                f"(first: {_plain(df[col].iloc[i])!r} at row {i}{', ' + where if where else ''})"
            )
    k_cols = sorted((c for c in cols if c != "L"), key=lambda c: int(str(c)[8:]))
    best = np.full(len(df), -np.inf)  # the highest pass@j so far on each row (j < k)
    best_col = np.array([""] * len(df), dtype=object)
    for col in k_cols:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        falls = values < best - PASS_AT_K_TOLERANCE  # NaN (not evaluated at this k) compares False
        if falls.any():
            i = int(np.flatnonzero(falls)[0])
            where = _row_place(df, i)
            raise UserError(
                f"{source}: row {i}{', ' + where if where else ''}: `{col}` = {values[i]:g} is below "
                f"`{best_col[i]}` = {best[i]:g}; pass@k cannot decrease with k"
            )
        up = values >= best
        best_col[up] = col
        best = np.where(up, values, best)
    return df
