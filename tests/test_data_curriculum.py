"""Specification of rlscaling.data.curriculum: order, held-out split, data reuse, de-duplication.

Pure functions on small tables: `toy(n)` is a working frame with guru-like pass rates (multiples of
1/16, so many ties) and the 0.3 easy threshold; the real-data behaviour is in test_data_prepare.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlscaling.data import curriculum as cur
from rlscaling.errors import UserError


def toy(n: int = 200, seed: int = 0, missing: int = 0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    pr = r.integers(0, 12, size=n) / 16.0
    pass_rate = [None] * missing + pr[missing:].tolist()
    return pd.DataFrame(
        {
            "uid": np.arange(n),
            "pass_rate": pass_rate,
            "difficulty": [1.0 if p is None else 1.0 - p for p in pass_rate],
            "difficulty_bin": ["easy" if p is not None and p >= 0.3 else "hard" for p in pass_rate],
        }
    )


# --------------------------------------------------------------------------------------------------
# order


def test_curriculum_order_goes_from_easy_to_hard():
    out = cur.order_curriculum(toy(), seed=0)
    assert cur.is_monotone(out)
    assert out["difficulty"].is_monotonic_increasing
    assert sorted(out["uid"]) == list(range(200))


def test_ties_are_broken_by_a_seeded_shuffle_not_file_order():
    a = cur.order_curriculum(toy(), seed=0)["uid"].tolist()
    b = cur.order_curriculum(toy(), seed=0)["uid"].tolist()
    c = cur.order_curriculum(toy(), seed=1)["uid"].tolist()
    assert a == b
    assert a != c
    hardest = cur.order_curriculum(toy(), seed=0)
    ties = hardest[hardest["difficulty"] == 1.0]["uid"].tolist()
    assert ties != sorted(ties)


def test_rows_without_pass_rate_come_after_pass_rate_zero():
    out = cur.order_curriculum(toy(missing=10), seed=0)
    assert out["pass_rate"].tail(10).isna().all()
    assert cur.is_monotone(out)


def test_shuffle_order_is_a_seeded_permutation():
    a = cur.order_curriculum(toy(), seed=3, order="shuffle")
    assert sorted(a["uid"]) == list(range(200))
    assert a["uid"].tolist() == cur.order_curriculum(toy(), seed=3, order="shuffle")["uid"].tolist()
    assert not cur.is_monotone(a)


def test_order_violations_counts_descents():
    df = pd.DataFrame(
        {"difficulty": [0.1, 0.5, 0.2, 0.9], "difficulty_bin": ["easy", "hard", "easy", "hard"]}
    )
    assert cur.order_violations(df) == 2  # 0.5 -> 0.2, and hard -> easy


def test_an_unknown_order_is_a_user_error_naming_the_key():
    with pytest.raises(UserError, match="data.order"):
        cur.order_curriculum(toy(), seed=0, order="reverse")


# --------------------------------------------------------------------------------------------------
# held-out split


def test_balanced_heldout_is_half_easy_half_hard_and_disjoint_from_train():
    df = toy(400)
    train, held = cur.stratified_heldout(df, 50, "balanced", seed=0)
    assert held["difficulty_bin"].value_counts().to_dict() == {"easy": 25, "hard": 25}
    assert set(train["uid"]).isdisjoint(held["uid"])
    assert len(train) + len(held) == 400


def test_proportional_heldout_keeps_the_easy_fraction_within_one_row():
    df = toy(400)
    _, held = cur.stratified_heldout(df, 60, "proportional", seed=0)
    expected_easy = 60 * (df["difficulty_bin"] == "easy").mean()
    assert abs((held["difficulty_bin"] == "easy").sum() - expected_easy) <= 1


def test_balanced_heldout_needs_enough_problems_of_each_bin():
    df = toy(100)
    df["difficulty_bin"] = ["easy"] * 5 + ["hard"] * 95
    with pytest.raises(UserError, match=r"data.heldout_size: a balanced held-out split of 20 needs 10 easy"):
        cur.stratified_heldout(df, 20, "balanced", seed=0)


def test_heldout_size_must_leave_training_problems():
    with pytest.raises(UserError, match="data.heldout_size"):
        cur.stratified_heldout(toy(10), 10, "proportional", seed=0)


def test_heldout_split_depends_on_the_seed_only():
    a = cur.stratified_heldout(toy(300), 40, "balanced", seed=5)[1]["uid"].tolist()
    b = cur.stratified_heldout(toy(300), 40, "balanced", seed=5)[1]["uid"].tolist()
    assert a == b


# --------------------------------------------------------------------------------------------------
# data reuse


def test_reuse_subset_repeats_d_over_tau_problems_tau_times():
    train = cur.order_curriculum(toy(203), seed=0)
    out = cur.reuse_subset(train, 4, "nested", seed=0)
    assert len(out) == 4 * (203 // 4)
    assert out["uid"].value_counts().eq(4).all()
    assert out.groupby("reuse_epoch")["uid"].apply(list).map(tuple).nunique() == 1  # same pass each time


def test_each_reuse_pass_keeps_the_curriculum_order():
    train = cur.order_curriculum(toy(200), seed=0)
    out = cur.reuse_subset(train, 5, "nested", seed=0)
    for _, part in out.groupby("reuse_epoch"):
        assert cur.is_monotone(part)


def test_reuse_subset_is_stratified_like_the_full_set():
    train = cur.order_curriculum(toy(400), seed=0)
    unique = cur.reuse_subset(train, 8, "nested", seed=0).query("reuse_epoch == 0")
    expected = len(unique) * (train["difficulty_bin"] == "easy").mean()
    assert abs((unique["difficulty_bin"] == "easy").sum() - expected) <= 1


def test_nested_subsets_are_contained_in_those_of_smaller_tau():
    train = cur.order_curriculum(toy(400), seed=0)
    sets = {t: set(cur.reuse_subset(train, t, "nested", seed=0)["uid"]) for t in (2, 4, 8, 25)}
    assert sets[25] <= sets[8] <= sets[4] <= sets[2]


def test_independent_subsets_are_fresh_draws():
    train = cur.order_curriculum(toy(400), seed=0)
    s4 = set(cur.reuse_subset(train, 4, "independent", seed=0)["uid"])
    s8 = set(cur.reuse_subset(train, 8, "independent", seed=0)["uid"])
    assert not s8 <= s4


def test_tau_larger_than_the_data_is_a_user_error():
    with pytest.raises(UserError, match="data.reuse_taus"):
        cur.reuse_subset(toy(5), 10, "nested", seed=0)


@settings(max_examples=40, deadline=None)
@given(
    bins=st.lists(st.sampled_from(["easy", "hard"]), min_size=1, max_size=120),
    seed=st.integers(0, 2**16),
)
def test_every_prefix_of_the_stratified_ranking_is_stratified(bins, seed):
    ranking = cur.stratified_priority(bins, np.random.default_rng(seed))
    assert sorted(ranking.tolist()) == list(range(len(bins)))
    easy = np.array(bins) == "easy"
    share = easy.mean()
    taken = np.cumsum(easy[ranking])
    k = np.arange(1, len(bins) + 1)
    assert np.all(np.abs(taken - k * share) <= 1 + 1e-9)


# --------------------------------------------------------------------------------------------------
# de-duplication and counts


def test_duplicate_mask_keeps_first_copies_and_drops_keys_of_the_other_split():
    within, against = cur.duplicate_mask(["a", "b", "a", "c", "c"], against={"b"})
    assert within.tolist() == [False, False, True, False, True]
    assert against.tolist() == [False, True, False, False, False]


def test_split_counts_report_bins_and_easy_fraction():
    df = toy(10, missing=2)
    c = cur.split_counts(df)
    assert c["rows"] == 10 and c["easy"] + c["hard"] == 10
    assert c["easy_fraction"] == pytest.approx(c["easy"] / 10)
    assert c["pass_rate_missing"] == 2
