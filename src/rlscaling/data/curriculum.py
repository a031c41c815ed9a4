"""Curriculum order, held-out split, data reuse and de-duplication: pure, seeded functions.

Every function takes a table of problems and returns a new one; none reads files or global state.
The tables are either the data stage's working frames (top-level `difficulty`, `difficulty_bin` and
`pass_rate` columns) or prepared verl rows (the same values under `extra_info`); both work.

Randomness comes from `rng(seed, purpose)`: one independent, reproducible stream per purpose
("order", "heldout", "reuse", ...), so changing e.g. the held-out size does not reshuffle the ties of
the curriculum order.

Stratification uses one device throughout, `stratified_priority`: a seeded ranking of the rows in
which every prefix holds the difficulty bins in (almost exactly) the proportions of the whole table.
Taking the first k rows of one ranking gives a stratified sample of any size k, and samples of
different sizes drawn from the same ranking are nested.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.data.schema import EASY, HARD
from rlscaling.errors import UserError

ORDERS = ("curriculum", "shuffle")
HELDOUT_MODES = ("balanced", "proportional")
REUSE_MODES = ("nested", "independent")


def rng(seed: int, purpose: str) -> np.random.Generator:
    """An independent random stream for (seed, purpose)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(purpose.encode())]))


# --------------------------------------------------------------------------------------------------
# reading difficulty


def _column_or_extra(df: pd.DataFrame, name: str) -> list[Any]:
    if name in df.columns:
        return df[name].tolist()
    if "extra_info" in df.columns:
        return [e.get(name) if isinstance(e, dict) else None for e in df["extra_info"]]
    raise UserError(f"table has neither a `{name}` column nor extra_info.{name}")


def difficulty_of(df: pd.DataFrame) -> np.ndarray:
    """Continuous difficulty in [0, 1] (NaN where unknown), higher = harder."""
    vals = _column_or_extra(df, "difficulty")
    return np.array([np.nan if v is None else float(v) for v in vals], dtype=float)


def bins_of(df: pd.DataFrame) -> np.ndarray:
    """The difficulty bin of every row ("easy" / "hard"; None where unknown), as an object array."""
    return np.array(
        [b if isinstance(b, str) else None for b in _column_or_extra(df, "difficulty_bin")], dtype=object
    )


def pass_rate_missing(df: pd.DataFrame) -> np.ndarray:
    """True where the row has no pass rate (such rows count as hard and sort after pass rate 0)."""
    vals = _column_or_extra(df, "pass_rate")
    return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in vals], dtype=bool)


# --------------------------------------------------------------------------------------------------
# order


def order_curriculum(df: pd.DataFrame, seed: int, order: str = "curriculum") -> pd.DataFrame:
    """Rows in training order.

    curriculum: easy -> hard by difficulty (= 1 - pass rate for real data); rows without a pass rate
      come last (they count as hard); ties are broken by a seeded shuffle, so the many problems that
      share a pass rate (pass rates are multiples of 1/16 on guru) are not left in file order.
    shuffle: a seeded random permutation (the no-curriculum baseline).
    """
    if order not in ORDERS:
        raise UserError(f"data.order: {order!r} is not one of {list(ORDERS)}")
    n = len(df)
    r = rng(seed, "order")
    if order == "shuffle":
        idx = r.permutation(n)
    else:
        diff = difficulty_of(df)
        if np.isnan(diff).any():
            raise UserError("curriculum order needs a difficulty for every train row")
        tiebreak = r.random(n)
        missing = pass_rate_missing(df) if _has(df, "pass_rate") else np.zeros(n, dtype=bool)
        idx = np.lexsort((tiebreak, missing, diff))
    return df.iloc[idx].reset_index(drop=True)


def _has(df: pd.DataFrame, name: str) -> bool:
    return name in df.columns or "extra_info" in df.columns


def order_violations(df: pd.DataFrame) -> int:
    """How many adjacent pairs go from harder to easier (0 = monotone easy -> hard)."""
    diff = difficulty_of(df)
    bins = bins_of(df)
    rank = np.array([{EASY: 0, HARD: 1}.get(b, 1) for b in bins])
    return int(np.sum(np.diff(diff) < 0) + np.sum(np.diff(rank) < 0))


def is_monotone(df: pd.DataFrame) -> bool:
    """True when difficulty never decreases along the rows and no easy row follows a hard one."""
    return order_violations(df) == 0


# --------------------------------------------------------------------------------------------------
# stratified selection


def stratified_priority(strata: Sequence[Hashable | None], generator: np.random.Generator) -> np.ndarray:
    """A ranking (permutation of row positions) whose every prefix is stratified.

    Within each stratum of size m the rows get a random rank r = 0..m-1 and the score (r + 0.5) / m;
    rows are ranked by score (random tie-break). The first k rows then hold about k * m / n rows of
    every stratum (within one row), for every k.
    """
    labels = np.array(["" if s is None else str(s) for s in strata], dtype=object)
    n = len(labels)
    score = np.empty(n, dtype=float)
    for s in sorted(set(labels.tolist())):
        pos = np.flatnonzero(labels == s)
        m = len(pos)
        score[pos[generator.permutation(m)]] = (np.arange(m) + 0.5) / m
    return np.lexsort((generator.random(n), score))


def stratified_sample(df: pd.DataFrame, n: int, seed: int, purpose: str = "sample") -> pd.DataFrame:
    """n rows stratified by difficulty bin, in their original order (all rows when n >= len(df))."""
    if n >= len(df):
        return df.reset_index(drop=True)
    ranking = stratified_priority(bins_of(df), rng(seed, purpose))
    return df.iloc[np.sort(ranking[:n])].reset_index(drop=True)


def stratified_heldout(
    df: pd.DataFrame, size: int, mode: str = "proportional", seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off `size` held-out rows stratified by difficulty bin; returns (train, heldout).

    balanced: size // 2 easy rows and the rest hard (the paper's 250 + 250 held-out set);
    proportional: the bins in the proportions of the whole table (within one row).
    Both parts keep the input order. Raises UserError when the table cannot supply the split.
    """
    if mode not in HELDOUT_MODES:
        raise UserError(f"data.heldout_stratify: {mode!r} is not one of {list(HELDOUT_MODES)}")
    n = len(df)
    if size >= n:
        raise UserError(
            f"data.heldout_size: {size} held-out problems leave none of the {n} problems for training"
        )
    r = rng(seed, "heldout")
    if mode == "proportional":
        chosen = stratified_priority(bins_of(df), r)[:size]
    else:
        bins = bins_of(df)
        want = {EASY: size // 2, HARD: size - size // 2}
        chosen_parts = []
        for b, k in want.items():
            pos = np.flatnonzero(bins == b)
            if len(pos) < k:
                raise UserError(
                    f"data.heldout_size: a balanced held-out split of {size} needs {k} {b} problems but "
                    f"only {len(pos)} are available; lower data.heldout_size or use "
                    "data.heldout_stratify: proportional"
                )
            chosen_parts.append(r.choice(pos, size=k, replace=False))
        chosen = np.concatenate(chosen_parts)
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# data reuse


def reuse_subset(df: pd.DataFrame, tau: int, mode: str = "nested", seed: int = 0) -> pd.DataFrame:
    """Data reuse: D // tau rows of the ordered train table, repeated tau times.

    The subset is stratified like the full table (easy / hard proportions within one row) and keeps
    the full table's order; the result is tau consecutive passes over it (a `reuse_epoch` column,
    0..tau-1, tells them apart), which is what a trainer reading the file front to back, or verl with
    total_epochs = tau and no shuffling, sees. So every pass runs the curriculum easy -> hard, and a
    run of S steps sees the same number of prompts for every tau.

    nested: one ranking for all tau, so the subset for a larger tau is contained in the subset for
      every smaller tau (the paper's released subsets are nested this way); differences between
      tau are then due to reuse, not to which problems were drawn.
    independent: a fresh draw per tau (subsets overlap only by chance), to separate the effect of
      reuse from that of one particular subset.
    """
    if mode not in REUSE_MODES:
        raise UserError(f"data.reuse_mode: {mode!r} is not one of {list(REUSE_MODES)}")
    if int(tau) != tau or tau < 1:
        raise UserError(f"data.reuse_taus: {tau!r} is not an integer >= 1")
    tau = int(tau)
    n = len(df)
    k = n // tau
    if k < 1:
        raise UserError(f"data.reuse_taus: tau={tau} leaves no problem of the {n} train problems")
    purpose = "reuse" if mode == "nested" else f"reuse-tau{tau}"
    ranking = stratified_priority(bins_of(df), rng(seed, purpose))
    subset = df.iloc[np.sort(ranking[:k])].reset_index(drop=True)
    passes = []
    for epoch in range(tau):
        part = subset.copy()
        part["reuse_epoch"] = epoch
        passes.append(part)
    return pd.concat(passes, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# de-duplication


def duplicate_mask(keys: Sequence[str], against: set[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dup_within, dup_against): rows whose key occurred earlier in `keys`, and rows whose key is in
    `against` (and not already a within-duplicate). Keeping ~(dup_within | dup_against) leaves the
    first copy of every problem that is not in `against`."""
    s = pd.Series(list(keys), dtype=object)
    within = s.duplicated(keep="first").to_numpy()
    if against:
        other = s.isin(against).to_numpy() & ~within
    else:
        other = np.zeros(len(s), dtype=bool)
    return within, other


def split_counts(df: pd.DataFrame) -> dict[str, Any]:
    """Counts per difficulty bin, easy fraction, pass-rate coverage and mean difficulty of a table."""
    bins = bins_of(df) if len(df) else np.array([], dtype=object)
    n = len(df)
    easy = int(np.sum(bins == EASY))
    hard = int(np.sum(bins == HARD))
    out: dict[str, Any] = {
        "rows": n,
        "easy": easy,
        "hard": hard,
        "easy_fraction": round(easy / n, 6) if n else None,
    }
    if n:
        diff = difficulty_of(df)
        known = diff[~np.isnan(diff)]
        out["difficulty_mean"] = round(float(known.mean()), 6) if len(known) else None
        if _has(df, "pass_rate"):
            out["pass_rate_missing"] = int(pass_rate_missing(df).sum())
    return out
