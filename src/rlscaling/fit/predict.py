"""One pre-declared method to predict the curve of an unseen (larger) model size.

The paper laws give an unseen size two estimates of its intercept E0 (log10 L at X = 1, with the
slope k(N) of the fit on the other sizes):

- `E0_ext`: the fitted E0(N) extrapolated to the new N (paper-parametric's E0 form);
- `E0_anc`: the anchor, from the size's own first K points (its pre-RL evaluation, its first logged
  step): mean of log10 L + k(N) log10 X over them (kn.anchor_E0).

Plain anchoring replaces one with the other; here they can be combined by their uncertainties,

    E0 = E0_ext + w (E0_anc - E0_ext),   w = var_ext / (var_ext + var_anc),

a precision-weighted (shrinkage) estimate; var_ext and var_anc are the squared errors (log10
units^2) each estimate makes on the sizes that were run. VARIANTS says how they are estimated; the
error of an estimate is its distance to E0*, the intercept that best fits the size's *scored* points
(its points after the K anchors) with the same k(N):

- `extrapolate`: w = 0 (E0(N) only: what a fit without anchors does).
- `anchor`: w = 1 (the anchor replaces E0(N): `--anchor-points` before this module).
- `shrink`: hierarchical, in-sample. var_ext = tau^2, the mean square of the fitted sizes' own
  intercepts around E0(N); var_anc = s^2 / K, s the residual scatter (log10 L) of the largest fitted
  size around its line (scatter grows with N on the paper's curves).
- `precision`: out-of-sample. Every fitted size that has at least MIN_BELOW smaller fitted sizes is
  predicted from those smaller sizes alone (extrapolation folds, as for the unseen size); var_ext
  and var_anc are the mean squared errors of E0_ext and E0_anc over these folds. Falls back to
  `shrink` when no fold exists.

The choice among them (CHOSEN) was made by `select_variant` on the paper's Qwen2.5 curves with
sizes <= 32B only (72B never used to choose): each of 7B, 14B and 32B predicted from the sizes
below it, base and instruct, X = C and D, 1 anchor point, mean MAPE on the scored points
(benchmarks/bench_fit.py --select prints that table). See CHOSEN's comment for the numbers: the
out-of-sample weights say the anchor, so `precision`'s combination is not the default, but stays
available (`rlscaling fit --anchor-method`) and is what `select_variant` re-decides on other data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscaling.errors import UserError
from rlscaling.fit import kn
from rlscaling.fit.data import CurveSet
from rlscaling.fit.metrics import summary
from rlscaling.fit.scenarios import anchor_mask

VARIANTS = ("extrapolate", "anchor", "shrink", "precision")
MIN_BELOW = 3  # sizes a scoring fold fits on (the paper-parametric minimum, identify.MIN_DATA)
# sizes a variance fold of `precision` fits on: 2 determine k(N) and E0(N) exactly, enough to
# measure how far that extrapolates (the folds' errors are what is used, not their parameters)
MIN_BELOW_VAR = 2

# Chosen by select_variant on sizes <= 32B of the paper's Qwen2.5 curves (72B not used; the
# criterion, mean MAPE over the folds 7B, 14B, 32B, fixed before scoring). R^2 / MAPE (means over
# the 3 folds), 1 anchor point (benchmarks/bench_fit.py --select):
#
#     variant       base C         base D         instruct C     instruct D     mean MAPE
#     extrapolate  -0.586 / 6.31% -0.578 / 6.34% -1.797 / 5.39% -1.900 / 5.57%  5.90%
#     anchor        0.599 / 3.50%  0.601 / 3.51% -0.340 / 3.94% -0.298 / 3.84%  3.70%
#     shrink       -0.355 / 5.84% -0.407 / 5.98% -1.644 / 5.11% -1.708 / 5.21%  5.53%
#     precision    -0.441 / 5.96% -0.479 / 6.09% -0.382 / 3.91% -0.356 / 3.87%  4.96%
#
# (3 anchor points: the same order, anchor 3.37%, precision 4.72%.) The fold that decides it is 14B
# predicted from <= 7B: E0(N) misses 14B's level by 0.05-0.07 decades (14B beats the trend of the
# smaller sizes), which its own first point shows at once. Out-of-sample, the anchor was worth more
# than any weight the smaller folds could justify for E0(N), so the weight on the anchor is 1.
CHOSEN = "anchor"


@dataclass
class LevelEstimate:
    """The combined intercept of one unseen curve and its parts (log10 units; variances in
    log10 units^2)."""

    E0: float
    E0_ext: float
    E0_anc: float | None
    weight: float
    var_ext: float | None
    var_anc: float | None
    variant: str

    def to_json(self) -> dict[str, Any]:
        return {
            "E0": self.E0,
            "E0_ext": self.E0_ext,
            "E0_anchor": self.E0_anc,
            "weight_anchor": self.weight,
            "var_ext": self.var_ext,
            "var_anchor": self.var_anc,
        }


def _fit(train: CurveSet, objective: str = kn.DEFAULT_OBJECTIVE, law: str = "paper-parametric") -> kn.KnFit:
    return kn.fit_kn(train, law=law, objective=objective)


def best_E0(model: kn.KnFit, cs: CurveSet) -> float:
    """E0* of a single-curve cs: the log-space least-squares intercept with k(N) from model."""
    return float(np.mean(np.log10(cs.L) + model.k(cs.N) * np.log10(cs.X)))


def _one_curve(cs: CurveSet, i: int) -> CurveSet:
    return cs.subset(cs.curve == i)


def in_sample_variances(model: kn.KnFit, train: CurveSet, k: int) -> tuple[float, float]:
    """(tau^2, s^2 / k) of the `shrink` variant (see module doc)."""
    z = np.log10(train.L) + model.k(train.N) * np.log10(train.X)
    e0 = np.bincount(train.curve, z, train.n_curves) / np.bincount(train.curve, minlength=train.n_curves)
    u = e0 - model.E0_of_N(train.curve_N)
    tau2 = float(np.mean(u**2))
    res = z - e0[train.curve]
    largest = int(np.argmax(train.curve_N))
    r = res[train.curve == largest]
    s2 = float(np.sum(r**2) / max(r.size - 2, 1))
    return tau2, s2 / max(k, 1)


def fold_errors(
    train: CurveSet, k: int, objective: str = kn.DEFAULT_OBJECTIVE, law: str = "paper-parametric"
) -> dict[str, np.ndarray]:
    """Extrapolation folds within `train`: every size with >= MIN_BELOW_VAR smaller sizes is predicted
    from those; returns the errors E0_ext - E0* and E0_anc - E0* per fold (arrays, log10 units) and
    the fold sizes `N`. Folds whose curve is too short to anchor on k points are skipped."""
    sizes = np.unique(train.curve_N)
    ext, anc, Ns = [], [], []
    for j in range(MIN_BELOW_VAR, sizes.size):
        target = sizes[j]
        below = train.subset(train.curve_N[train.curve] < target)
        held = train.subset(np.isclose(train.curve_N[train.curve], target))
        model = _fit(below, objective, law)
        for i in range(held.n_curves):
            c = _one_curve(held, i)
            if c.n_points < k + 2:
                continue
            m = anchor_mask(c, k) if k > 0 else np.zeros(c.n_points, bool)
            rest = c.subset(~m)
            star = best_E0(model, rest)
            ext.append(float(model.E0_of_N(target)) - star)
            anc.append(float(kn.anchor_E0(model, c.subset(m))[c.labels[0]]) - star if k > 0 else np.nan)
            Ns.append(float(target))
    return {"ext": np.array(ext), "anc": np.array(anc), "N": np.array(Ns)}


def combine(
    model: kn.KnFit,
    train: CurveSet,
    anchors: CurveSet | None,
    N: float,
    label: str,
    k: int,
    variant: str = CHOSEN,
    *,
    objective: str = kn.DEFAULT_OBJECTIVE,
    folds: dict[str, np.ndarray] | None = None,
) -> LevelEstimate:
    """The intercept of the unseen curve `label` (size N): E0(N) and, with k > 0 anchor points
    (anchors: that curve's first k points), their precision-weighted combination (module doc)."""
    if variant not in VARIANTS:
        raise UserError(f"--anchor-method {variant!r}: expected one of {VARIANTS}")
    e_ext = float(model.E0_of_N(N))
    if k == 0 or anchors is None or variant == "extrapolate":
        return LevelEstimate(e_ext, e_ext, None, 0.0, None, None, variant)
    e_anc = float(kn.anchor_E0(model, anchors)[label])
    if variant == "anchor":
        return LevelEstimate(e_anc, e_ext, e_anc, 1.0, None, None, variant)
    var_ext = var_anc = None
    if variant == "precision":
        folds = folds if folds is not None else fold_errors(train, k, objective, model.law)
        if folds["ext"].size:
            var_ext = float(np.mean(folds["ext"] ** 2))
            var_anc = float(np.mean(folds["anc"] ** 2))
    if var_ext is None:  # shrink, or precision without folds
        var_ext, var_anc = in_sample_variances(model, train, k)
    w = var_ext / (var_ext + var_anc) if var_ext + var_anc > 0 else 0.5
    return LevelEstimate(e_ext + w * (e_anc - e_ext), e_ext, e_anc, float(w), var_ext, var_anc, variant)


def predict_heldout(
    train: CurveSet,
    test: CurveSet,
    k: int,
    variant: str = CHOSEN,
    *,
    model: kn.KnFit | None = None,
    objective: str = kn.DEFAULT_OBJECTIVE,
) -> dict[str, Any]:
    """Predict every curve of test (sizes not in train) from a paper-parametric fit on train and
    each curve's first k points. Returns {'heldout': summary on the points after the anchors,
    'by_curve', 'levels': label -> LevelEstimate.to_json(), 'pred' (array over the scored points),
    'scored' (the scored CurveSet)}."""
    model = model or _fit(train, objective)
    amask = anchor_mask(test, k) if k > 0 else np.zeros(test.n_points, bool)
    anchors, rest = test.subset(amask), test.subset(~amask)
    folds = fold_errors(train, k, objective, model.law) if (variant == "precision" and k > 0) else None
    levels: dict[str, LevelEstimate] = {}
    for i, lab in enumerate(test.labels):
        a = anchors.subset(anchors.curve == anchors.labels.index(lab)) if lab in anchors.labels else None
        levels[lab] = combine(
            model, train, a, float(test.curve_N[i]), lab, k, variant, objective=objective, folds=folds
        )
    e0 = {lab: lv.E0 for lab, lv in levels.items()}
    pred = kn.predict_with_E0(model, rest, e0)
    by_curve = {}
    for i, lab in enumerate(rest.labels):
        m = rest.curve == i
        by_curve[lab] = summary(rest.L[m], pred[m])
    return {
        "heldout": summary(rest.L, pred),
        "by_curve": by_curve,
        "levels": {lab: lv.to_json() for lab, lv in levels.items()},
        "pred": pred,
        "scored": rest,
        "model": model,
    }


def select_variant(
    cs: CurveSet, k: int, max_N: float | None = None, objective: str = kn.DEFAULT_OBJECTIVE
) -> dict[str, dict[str, float]]:
    """Scores of every variant on the extrapolation folds of cs's sizes <= max_N (each size with
    >= MIN_BELOW smaller sizes predicted from those, with k anchor points): variant ->
    {mape, r2 (means over folds), n_folds}. Sizes above max_N are dropped first (never seen)."""
    if max_N is not None:
        cs = cs.subset(cs.curve_N[cs.curve] <= max_N * (1 + 1e-9))
    sizes = np.unique(cs.curve_N)
    scores: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for j in range(MIN_BELOW, sizes.size):
        train = cs.subset(cs.curve_N[cs.curve] < sizes[j])
        test = cs.subset(np.isclose(cs.curve_N[cs.curve], sizes[j]))
        model = _fit(train, objective)
        for v in VARIANTS:
            h = predict_heldout(train, test, k, v, model=model, objective=objective)["heldout"]
            scores[v].append((h["mape"], h["r2"]))
    return {
        v: {
            "mape": float(np.mean([s[0] for s in sc])) if sc else float("nan"),
            "r2": float(np.mean([s[1] for s in sc])) if sc else float("nan"),
            "n_folds": len(sc),
        }
        for v, sc in scores.items()
    }
