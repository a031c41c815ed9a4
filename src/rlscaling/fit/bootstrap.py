"""Bootstrap confidence intervals: resample, refit, take percentiles.

Resampling units (`unit`):
- `curve`: draw as many curves as there are, with replacement (each copy is its own curve). The
  uncertainty this measures is "which sizes happened to be run": it is the honest unit for laws
  whose parameters are shared across sizes (K_max, N0, E0(N), gain exponent) when each size has
  one curve (the paper's data are 3-seed means, one curve per size).
- `seed`: curves that differ only in their `seed` (and `replicate`) column are replicates; draw seeds
  with replacement within each (size, variant) group. Used when the table has >= 2 seeds per group
  (a study with `replicates: k` gives k per size).
- `block`: within every curve, a moving-block bootstrap of its points (blocks of ceil(n^(1/3))
  consecutive steps, which keeps the step-to-step correlation of RL curves). For per-curve laws
  (sigmoid, reuse) where curves cannot be exchanged.
- `auto`: seed when replicates exist, else the law's default (curve for cross-size laws, block for
  per-curve laws).

Resamples whose fit raises (e.g. a draw with a single size) are redrawn, at most 5x the requested
number of draws in total; `n_failed` counts them. Intervals are 2.5 / 97.5 percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscaling.curves_table import REPLICATE_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet

UNITS = ("auto", "curve", "seed", "block")


def resolve_unit(cs: CurveSet, unit: str, law_default: str) -> str:
    """The unit `auto` stands for on cs (see module doc)."""
    if unit not in UNITS:
        raise UserError(f"--bootstrap-unit {unit!r}: expected one of {UNITS}")
    if unit != "auto":
        if unit == "seed" and not _seed_groups(cs):
            raise UserError(
                "--bootstrap-unit seed: the curves have no `seed` column with >= 2 seeds per group"
            )
        return unit
    return "seed" if _seed_groups(cs) else law_default


def _seed_groups(cs: CurveSet) -> list[np.ndarray]:
    """Curve indices grouped by every key but the replicate columns and run, if a group has >= 2 seeds."""
    if not cs.keys or "seed" not in cs.keys[0]:
        return []
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(cs.keys):
        g = tuple((c, str(v)) for c, v in k.items() if c not in (*REPLICATE_COLUMNS, "run"))
        groups.setdefault(g, []).append(i)
    out = [np.array(v) for v in groups.values()]
    return out if any(len(v) >= 2 for v in out) else []


def resample(cs: CurveSet, unit: str, rng: np.random.Generator) -> CurveSet:
    """One bootstrap replicate of cs."""
    if unit == "curve":
        return cs.take_curves(rng.integers(0, cs.n_curves, cs.n_curves))
    if unit == "seed":
        idx = np.concatenate([g[rng.integers(0, g.size, g.size)] for g in _seed_groups(cs)])
        return cs.take_curves(idx)
    if unit == "block":
        take = []
        for i in range(cs.n_curves):
            pts = np.flatnonzero(cs.curve == i)
            n = pts.size
            b = max(1, math.ceil(n ** (1 / 3)))
            starts = rng.integers(0, max(1, n - b + 1), math.ceil(n / b))
            sel = np.concatenate([np.arange(s, min(s + b, n)) for s in starts])[:n]
            take.append(pts[np.sort(sel)])
        idx = np.concatenate(take)
        return CurveSet(
            N=cs.N[idx],
            X=cs.X[idx],
            L=cs.L[idx],
            step=cs.step[idx],
            curve=cs.curve[idx],
            labels=cs.labels,
            curve_N=cs.curve_N,
            keys=cs.keys,
            x_name=cs.x_name,
        )
    raise UserError(f"unknown bootstrap unit {unit!r}")


@dataclass
class BootstrapResult:
    """Flat parameter samples: names (p,), values (n_ok, p) with NaN where a resample lacks a
    parameter (e.g. the E0 of a curve it did not draw)."""

    unit: str
    n_requested: int
    names: list[str]
    values: np.ndarray
    n_failed: int

    def ci95(self) -> dict[str, list[float] | None]:
        """name -> [2.5 %, 97.5 %] percentile interval (None when no sample has the parameter)."""
        out: dict[str, list[float] | None] = {}
        for j, name in enumerate(self.names):
            col = self.values[:, j]
            col = col[np.isfinite(col)]
            out[name] = (
                [float(np.percentile(col, 2.5)), float(np.percentile(col, 97.5))] if col.size else None
            )
        return out

    def to_json(self, max_samples: int = 1000) -> dict[str, Any]:
        vals = self.values[:max_samples]
        return {
            "unit": self.unit,
            "n": self.n_requested,
            "n_ok": int(self.values.shape[0]),
            "n_failed": self.n_failed,
            "names": self.names,
            "samples": [[None if not np.isfinite(v) else float(v) for v in row] for row in vals],
        }


def percentile_interval(samples: np.ndarray) -> list[float | None]:
    """[2.5 %, 97.5 %] percentiles of the finite bootstrap samples; [None, None] with fewer than 2."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return [None, None]
    lo, hi = np.percentile(s, [2.5, 97.5])
    return [float(lo), float(hi)]


def _run_chunk(args: tuple) -> tuple[list[dict[str, float]], int]:
    fit_fn, cs, unit, seeds = args
    out: list[dict[str, float]] = []
    failed = 0
    for s in seeds:
        rng = np.random.default_rng(s)
        for _ in range(5):
            try:
                out.append(fit_fn(resample(cs, unit, rng)))
                break
            except (UserError, ValueError, FloatingPointError, np.linalg.LinAlgError):
                failed += 1
    return out, failed


def bootstrap(
    fit_fn: Callable[[CurveSet], dict[str, float]],
    cs: CurveSet,
    n: int,
    *,
    seed: int = 0,
    unit: str = "curve",
    jobs: int = 1,
) -> BootstrapResult:
    """Refit `fit_fn` (CurveSet -> flat dict of parameter values; picklable when jobs > 1) on `n`
    replicates of cs. Replicate i uses the RNG seeded by (seed, i), so results do not depend on jobs.
    """
    if n <= 0:
        return BootstrapResult(unit, 0, [], np.zeros((0, 0)), 0)
    seeds = [np.random.SeedSequence([seed, i]) for i in range(n)]
    if jobs > 1:
        chunks = [seeds[j::jobs] for j in range(jobs)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            parts = list(pool.map(_run_chunk, [(fit_fn, cs, unit, c) for c in chunks]))
        # restore replicate order: chunk j holds replicates j, j+jobs, ...
        samples: list[dict[str, float]] = []
        failed = sum(p[1] for p in parts)
        lists = [p[0] for p in parts]
        for i in range(max(len(x) for x in lists)):
            for lst in lists:
                if i < len(lst):
                    samples.append(lst[i])
    else:
        samples, failed = _run_chunk((fit_fn, cs, unit, seeds))
    names: list[str] = []
    for s in samples:
        for k in s:
            if k not in names:
                names.append(k)
    values = np.array([[s.get(k, np.nan) for k in names] for s in samples], dtype=float).reshape(
        len(samples), len(names)
    )
    return BootstrapResult(unit, n, names, values, failed)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as 'a/b' -> value (strings, lists and None skipped)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """Inverse of flatten (splits keys on the first '/' levels)."""
    out: dict[str, Any] = {}
    for key, v in flat.items():
        parts = key.split("/")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return out
