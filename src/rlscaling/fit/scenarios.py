"""Fit / predict splits of a CurveSet.

- full: fit every point, no prediction.
- intra: fit steps <= K of every curve (K = --fit-steps, or a fraction of the largest step), predict
  the later steps of the same curves.
- inter: fit every curve except the held-out sizes, predict the held-out curves entirely; with
  --anchor-points K (laws paper / paper-parametric) each held-out curve's first K points set its
  intercept E0 and only its remaining points are scored (anchor_mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet

SCENARIOS = ("full", "intra", "inter")


@dataclass
class Split:
    """Training and held-out points; `test` is None for the full scenario."""

    scenario: str
    train: CurveSet
    test: CurveSet | None
    fit_steps: int | None = None
    holdout: list[str] | None = None


def split(
    cs: CurveSet,
    scenario: str,
    *,
    fit_steps: int | None = None,
    fit_fraction: float | None = None,
    holdout_N: list[float] | None = None,
    holdout_size: list[str] | None = None,
) -> Split:
    """Split cs for `scenario`. Raises UserError for missing / inconsistent scenario options."""
    if scenario not in SCENARIOS:
        raise UserError(f"--scenario {scenario!r}: expected one of {SCENARIOS}")
    if scenario == "full":
        return Split("full", cs, None)
    if scenario == "intra":
        if fit_steps is None and fit_fraction is None:
            raise UserError("--scenario intra needs --fit-steps K (or --fit-fraction F)")
        if fit_steps is None:
            if not 0 < fit_fraction < 1:
                raise UserError(f"--fit-fraction {fit_fraction}: expected a number in (0, 1)")
            fit_steps = int(round(fit_fraction * float(cs.step.max())))
        mask = cs.step <= fit_steps
        no_train = [cs.labels[i] for i in range(cs.n_curves) if not mask[cs.curve == i].any()]
        if no_train:
            raise UserError(
                f"--fit-steps {fit_steps}: curve(s) {no_train} have no points at steps <= "
                f"{fit_steps} (first step {int(cs.step.min())})"
            )
        if mask.all():
            raise UserError(
                f"--fit-steps {fit_steps}: every point is at a step <= {fit_steps}; nothing left to predict"
            )
        return Split("intra", cs.subset(mask), cs.subset(~mask), fit_steps=int(fit_steps))
    # inter
    held = np.zeros(cs.n_curves, dtype=bool)
    for n in holdout_N or []:
        m = np.isclose(cs.curve_N, float(n), rtol=1e-6)
        if not m.any():
            raise UserError(
                f"--holdout-N {n:g}: no curve with that N (sizes: {sorted({f'{v:.4g}' for v in cs.curve_N})})"
            )
        held |= m
    for s in holdout_size or []:
        m = np.array(
            [
                str(k.get("size", lab)) == s or lab == s
                for k, lab in zip(cs.keys or [{}] * cs.n_curves, cs.labels, strict=True)
            ]
        )
        if not m.any():
            known = sorted(
                {
                    str(k.get("size", lab))
                    for k, lab in zip(cs.keys or [{}] * cs.n_curves, cs.labels, strict=True)
                }
            )
            raise UserError(f"--holdout-size {s}: no curve with that size (sizes: {known})")
        held |= m
    names = [cs.labels[i] for i in np.flatnonzero(held)]
    if not names:
        raise UserError("--scenario inter needs --holdout-N N [N ...] or --holdout-size NAME [NAME ...]")
    if held.all():
        raise UserError(f"--scenario inter: holding out {names} leaves no curve to fit")
    # `holdout` names the held-out curves by label (e.g. '72B')
    point_held = held[cs.curve]
    return Split("inter", cs.subset(~point_held), cs.subset(point_held), holdout=names)


def anchor_mask(cs: CurveSet, k: int, option: str = "--anchor-points") -> np.ndarray:
    """True for the first k points (smallest steps) of every curve of cs, shape (n,).

    Raises UserError when k < 0, or when a curve has fewer than k + 2 points (at least two must be
    left to score the prediction on)."""
    if k < 0:
        raise UserError(f"{option} {k}: must be >= 0")
    mask = np.zeros(cs.n_points, dtype=bool)
    for i, lab in enumerate(cs.labels):
        idx = np.flatnonzero(cs.curve == i)
        if idx.size < k + 2:
            raise UserError(
                f"{option} {k}: held-out curve {lab!r} has {idx.size} points; at most {idx.size - 2} "
                "can anchor its intercept (at least 2 must be left to score the prediction)"
            )
        mask[idx[np.argsort(cs.step[idx], kind="stable")[:k]]] = True
    return mask
