"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

For a problem with n samples of which c are correct, the probability that at least one of k samples
drawn without replacement from those n is correct is

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

The product form never builds a binomial coefficient, so it stays exact-ish (relative error ~1e-16 per
factor) for any n, where C(n, k) would overflow float64 already for n ~ 1030. pass@1 reduces to c / n,
the mean correct fraction. A benchmark's pass@k is the mean over problems of the per-problem values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def pass_at_k(n: int | Sequence[int] | np.ndarray, c: int | Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    """Per-problem unbiased pass@k.

    Args:
        n: samples per problem, shape (P,) or a scalar (broadcast against `c`); every n >= k.
        c: correct samples per problem, shape (P,) or a scalar; 0 <= c <= n.
        k: the k of pass@k, >= 1.

    Returns:
        float64 array of shape (P,) (shape () for scalar inputs), each in [0, 1].

    Raises:
        ValueError: k < 1, c outside [0, n], or k > n for some problem (the estimator is undefined).
    """
    n_arr, c_arr = np.broadcast_arrays(np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64))
    if int(k) != k or k < 1:
        raise ValueError(f"pass@k needs an integer k >= 1, got k={k}")
    k = int(k)
    if n_arr.size == 0:
        return np.zeros(n_arr.shape, dtype=np.float64)
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError("pass@k needs 0 <= c <= n for every problem")
    if np.any(n_arr < k):
        raise ValueError(
            f"pass@{k} needs at least k={k} samples per problem (smallest n is {int(n_arr.min())})"
        )
    flat_n = n_arr.reshape(-1).astype(np.float64)
    flat_c = c_arr.reshape(-1)
    width = int(flat_c.max())
    if width == 0:
        return np.zeros(n_arr.shape, dtype=np.float64)
    # factor j of problem p is (1 - k / i) with i = n - c + 1 + j, for j < c; padded with 1 beyond c
    j = np.arange(width, dtype=np.float64)[None, :]
    i = (flat_n - flat_c + 1)[:, None] + j
    active = j < flat_c[:, None]
    factors = np.where(active, 1.0 - k / np.where(active, i, 1.0), 1.0)
    result = 1.0 - np.prod(np.clip(factors, 0.0, 1.0), axis=1)
    # n - c < k: every k-subset holds a correct sample (some factor above is exactly 0 then too)
    result = np.where(flat_n - flat_c < k, 1.0, result)
    return result.reshape(n_arr.shape)


def pass_at_1(n: int | Sequence[int] | np.ndarray, c: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """Per-problem pass@1 = c / n (the mean correct fraction), shape like the inputs."""
    n_arr, c_arr = np.broadcast_arrays(np.asarray(n, dtype=np.float64), np.asarray(c, dtype=np.float64))
    if np.any(n_arr < 1):
        raise ValueError("pass@1 needs n >= 1 samples per problem")
    return c_arr / n_arr


def mean_pass_at_k(
    n: Sequence[int] | np.ndarray, c: Sequence[int] | np.ndarray, ks: Iterable[int]
) -> dict[int, float]:
    """Benchmark-level pass@k for each k in `ks`: the mean over problems. NaN when there are no problems."""
    out: dict[int, float] = {}
    for k in ks:
        values = pass_at_k(n, c, k)
        out[int(k)] = float(values.mean()) if values.size else float("nan")
    return out


def counts_from_correct(
    problem_ids: Sequence | np.ndarray, correct: Sequence[bool] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group per-sample correctness into per-problem counts.

    Args:
        problem_ids: one id per sample, shape (S,) (any hashable values).
        correct: one bool per sample, shape (S,).

    Returns:
        (ids, n, c): unique problem ids in first-seen order, samples per problem, correct per problem,
        each of shape (P,).
    """
    ids: dict = {}
    n: list[int] = []
    c: list[int] = []
    for pid, ok in zip(problem_ids, correct, strict=True):
        key = pid.item() if hasattr(pid, "item") else pid
        slot = ids.setdefault(key, len(ids))
        if slot == len(n):
            n.append(0)
            c.append(0)
        n[slot] += 1
        c[slot] += bool(ok)
    return np.array(list(ids), dtype=object), np.array(n, dtype=np.int64), np.array(c, dtype=np.int64)
