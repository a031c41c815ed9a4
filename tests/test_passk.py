"""Specification of the unbiased pass@k estimator (rlscaling.passk)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlscaling.passk import counts_from_correct, mean_pass_at_k, pass_at_1, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (c of them correct) holding at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_brute_force_enumeration_for_every_small_case(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_known_values():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(200, 1, 100) == pytest.approx(0.5)


def test_pass_at_1_is_the_correct_fraction():
    n = np.array([4, 4, 8, 3])
    c = np.array([0, 1, 8, 2])
    np.testing.assert_allclose(pass_at_k(n, c, 1), c / n)
    np.testing.assert_allclose(pass_at_1(n, c), c / n)


def test_vectorised_over_problems_with_different_n():
    n = np.array([3, 5, 8, 8])
    c = np.array([1, 2, 0, 7])
    expected = [brute_force(int(a), int(b), 3) for a, b in zip(n, c, strict=True)]
    np.testing.assert_allclose(pass_at_k(n, c, 3), expected, atol=1e-12)


def test_stable_where_binomials_overflow():
    # C(2000, 1000) overflows float64; the product form does not
    value = pass_at_k(2000, 3, 1000)
    exact = 1 - math.comb(1997, 1000) / math.comb(2000, 1000)
    assert value == pytest.approx(exact, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_agrees_with_the_exact_combinatorial_formula(nck):
    n, c, k = nck
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_monotone_non_decreasing_in_k(nc):
    n, c = nc
    values = [float(pass_at_k(n, c, k)) for k in range(1, n + 1)]
    assert all(b >= a - 1e-12 for a, b in zip(values[:-1], values[1:], strict=True))


def test_k_larger_than_n_is_refused():
    with pytest.raises(ValueError, match="at least k=5"):
        pass_at_k([4, 8], [1, 1], 5)


def test_invalid_counts_are_refused():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 0)


def test_mean_over_problems_per_k():
    out = mean_pass_at_k([4, 4], [1, 0], [1, 2])
    assert out == {1: pytest.approx(0.125), 2: pytest.approx(0.25)}


def test_counts_grouped_per_problem_in_first_seen_order():
    ids, n, c = counts_from_correct([7, 7, 3, 7, 3], [True, False, False, True, False])
    assert list(ids) == [7, 3]
    assert list(n) == [3, 2]
    assert list(c) == [2, 0]
