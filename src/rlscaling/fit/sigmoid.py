"""ScaleRL's sigmoidal compute curve, fitted per curve on the pass rate R = 1 - L:

    R(X) = R0 + (A - R0) / (1 + (X_mid / X)^B)

R0: pass rate at X -> 0, A: asymptotic pass rate (both in [0, 1]), B > 0: compute efficiency
(steepness), X_mid: the X (FLOPs for C, prompts for D) at which half of the gain A - R0 is reached.
Least squares in linear R per curve (scipy least_squares, multi-start in (B, X_mid); the bootstrap
warm-starts every resample from the full fit's parameters instead, one local search per curve).

Across sizes, `scaling` reports 1 - A = c N^p (how the unreachable part shrinks with size) and
B = c N^p, each by least squares in log-log over the fitted curves. An unseen size is predicted from
these trends (and log-linear trends of R0 and X_mid in log10 N); that is crude and flagged as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet

PARAMS = ("R0", "A", "B", "X_mid")


def sigmoid_R(X: np.ndarray, R0: float, A: float, B: float, X_mid: float) -> np.ndarray:
    """Pass rate at X (X >= 0; X = 0 gives R0)."""
    X = np.asarray(X, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        s = 1.0 / (1.0 + (X_mid / X) ** B)
    return R0 + (A - R0) * np.where(X > 0, s, 0.0)


def fit_curve(X: np.ndarray, R: np.ndarray, start: dict[str, float] | None = None) -> dict[str, float]:
    """Fit one curve; X (n,) >= 0, R (n,) in [0, 1]. Needs >= 4 points with >= 2 distinct X > 0.

    start: parameters (as returned) to run a single local search from (the bootstrap's warm start);
    without it, 9 starts over (B, X_mid)."""
    pos = X > 0
    if R.size < 4 or np.unique(X[pos]).size < 2:
        raise UserError(f"law 'sigmoid': a curve has {R.size} points; needs >= 4 (4 parameters)")
    lo_u, hi_u = _log_xmid_bounds(X)
    lx = np.log10(X[pos])

    def resid(p: np.ndarray) -> np.ndarray:
        return sigmoid_R(X, p[0], p[1], 10.0 ** p[2], 10.0 ** p[3]) - R

    lo, hi = np.array([0, 0, LOG_B_BOUNDS[0], lo_u]), np.array([1, 1, LOG_B_BOUNDS[1], hi_u])
    if start is not None:
        p = [start["R0"], start["A"], np.log10(start["B"]), np.log10(start["X_mid"])]
        starts = [np.clip(np.array(p, dtype=float), lo + 1e-9, hi - 1e-9)]
    else:
        r0 = float(np.mean(R[: max(1, R.size // 10)]))
        starts = [
            np.array([np.clip(r0, 1e-3, 1 - 1e-3), np.clip(R.max() + 0.02, 1e-3, 1 - 1e-3), lb, u])
            for lb in (-0.5, 0.0, 0.5)
            for u in (np.quantile(lx, 0.5), lx.max(), lx.max() + 1.0)
        ]
    best = None
    for p0 in starts:
        res = least_squares(resid, p0, bounds=(lo, hi), x_scale=[0.1, 0.1, 0.3, 1])
        if best is None or res.cost < best.cost:
            best = res
    R0, A, lb, u = best.x
    return {"R0": float(R0), "A": float(A), "B": float(10.0**lb), "X_mid": float(10.0**u)}


LOG_B_BOUNDS = (-1.3, 1.3)  # B in [0.05, 20]


def _log_xmid_bounds(X: np.ndarray) -> tuple[float, float]:
    """Search range of log10 X_mid: two decades below the smallest X > 0, three above the largest."""
    lx = np.log10(np.asarray(X, float)[np.asarray(X) > 0])
    return float(lx.min() - 2.0), float(lx.max() + 3.0)


def bounds(cs: CurveSet) -> dict[str, tuple[float, float, bool]]:
    """Optimizer bounds per curve parameter (flat FIT.json names 'A/7B' -> (lo, hi, log10?)):
    R0 and A in [0, 1], B in 10^LOG_B_BOUNDS, X_mid in 10^_log_xmid_bounds(curve's X)."""
    out: dict[str, tuple[float, float, bool]] = {}
    for i, lab in enumerate(cs.labels):
        X = cs.X[cs.curve == i]
        if not (X > 0).any():
            continue
        lo, hi = _log_xmid_bounds(X)
        out[f"R0/{lab}"] = (0.0, 1.0, False)
        out[f"A/{lab}"] = (0.0, 1.0, False)
        out[f"B/{lab}"] = (10.0 ** LOG_B_BOUNDS[0], 10.0 ** LOG_B_BOUNDS[1], True)
        out[f"X_mid/{lab}"] = (10.0**lo, 10.0**hi, True)
    return out


def _loglin(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line y = a + b x; (a, b)."""
    if np.unique(x).size < 2:
        return float(np.mean(y)), 0.0
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


@dataclass
class SigmoidFit:
    """Per-curve parameters (label -> value for each of PARAMS) and their trends in N."""

    per_curve: dict[str, dict[str, float]]
    labels: list[str]
    curve_N: np.ndarray
    trends: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _trend_params(self, N: float) -> dict[str, float]:
        lg = np.log10(N)
        t = self.trends
        out = {}
        out["A"] = float(1.0 - 10.0 ** (t["1-A"][0] + t["1-A"][1] * lg))
        out["B"] = float(10.0 ** (t["B"][0] + t["B"][1] * lg))
        out["R0"] = float(np.clip(t["R0"][0] + t["R0"][1] * lg, 0, 1))
        out["X_mid"] = float(10.0 ** (t["X_mid"][0] + t["X_mid"][1] * lg))
        return out

    def predict(self, cs: CurveSet) -> np.ndarray:
        """Predicted L for cs's points; curves not fitted here use the N trends."""
        out = np.empty(cs.n_points)
        for i, lab in enumerate(cs.labels):
            m = cs.curve == i
            p = self.per_curve.get(lab) or self._trend_params(float(cs.curve_N[i]))
            out[m] = 1.0 - sigmoid_R(cs.X[m], p["R0"], p["A"], p["B"], p["X_mid"])
        return np.clip(out, 1e-9, 1.0)

    def params_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {p: {lab: self.per_curve[lab][p] for lab in self.per_curve} for p in PARAMS}
        if len(set(self.curve_N.tolist())) >= 2:
            out["scaling"] = {
                "one_minus_A": {
                    "form": "1 - A = c * N^p",
                    "c": 10.0 ** self.trends["1-A"][0],
                    "p": self.trends["1-A"][1],
                },
                "B": {"form": "B = c * N^p", "c": 10.0 ** self.trends["B"][0], "p": self.trends["B"][1]},
            }
        return out


def fit_sigmoid(cs: CurveSet, starts: dict[str, dict[str, float]] | None = None) -> SigmoidFit:
    """Fit every curve of cs (X >= 0; R = 1 - L). starts: label -> parameters of a previous fit to
    warm-start that curve from (see fit_curve); curves without one get the multi-start."""
    per: dict[str, dict[str, float]] = {}
    for i, lab in enumerate(cs.labels):
        m = cs.curve == i
        if lab not in per:
            per[lab] = fit_curve(cs.X[m], 1.0 - cs.L[m], (starts or {}).get(lab))
    labs = list(per)
    Ns = np.array([cs.curve_N[cs.labels.index(lab)] for lab in labs])
    lg = np.log10(Ns)
    trends = {
        "1-A": _loglin(lg, np.log10(np.clip([1 - per[lab]["A"] for lab in labs], 1e-6, None))),
        "B": _loglin(lg, np.log10([per[lab]["B"] for lab in labs])),
        "R0": _loglin(lg, np.array([per[lab]["R0"] for lab in labs])),
        "X_mid": _loglin(lg, np.log10([per[lab]["X_mid"] for lab in labs])),
    }
    return SigmoidFit(per, list(cs.labels), np.asarray(cs.curve_N, float), trends)
