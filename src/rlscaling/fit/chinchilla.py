"""The additive power law of Hoffmann et al. 2022 ("Chinchilla", arXiv 2203.15556), with RL compute
or data in place of pre-training tokens:

    L(N, X) = E + A (N / N_ref)^-alpha + B (X / X_ref)^-beta

L: test loss 1 - pass@1; N: parameters; X: cumulative RL compute C (FLOPs) or data D (prompts);
E >= 0 the loss no size and no amount of RL removes, A, B >= 0, alpha, beta in [0, 3]. N_ref and
X_ref (geometric means of the fitted data) only scale A and B. Five parameters shared by every
size, so an unseen size is predicted from N alone, and unlike the paper's law the loss saturates
(at E + A N^-alpha) instead of falling as a power of X for ever.

Fit: variable projection. For fixed (alpha, beta) the law is linear in (E, A, B), solved by
non-negative least squares on relative errors (L_pred / L - 1, every curve the same total weight);
(alpha, beta) by L-BFGS-B from the best points of a fixed grid. Deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize, nnls

from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet

EXP_BOUNDS = (0.0, 3.0)
_GRID = np.array([0.05, 0.15, 0.3, 0.6, 1.0, 1.6])


@dataclass
class ChinchillaFit:
    """Fitted E, A, B (loss units), alpha, beta (dimensionless); N_ref (parameters), X_ref (x units)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    N_ref: float
    X_ref: float
    loss: float

    def L(self, N: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Predicted loss at (N, X), shapes (n,)."""
        N = np.asarray(N, float)
        X = np.asarray(X, float)
        return self.E + self.A * (N / self.N_ref) ** -self.alpha + self.B * (X / self.X_ref) ** -self.beta

    def predict(self, cs: CurveSet) -> np.ndarray:
        return self.L(cs.N, cs.X)

    def params_json(self) -> dict[str, Any]:
        return {
            "E": self.E,
            "A": self.A,
            "B": self.B,
            "alpha": self.alpha,
            "beta": self.beta,
            "N_ref": self.N_ref,
            "X_ref": self.X_ref,
            "form": "L = E + A (N/N_ref)^-alpha + B (X/X_ref)^-beta",
        }


def _design(n: np.ndarray, x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.stack([np.ones_like(n), n**-alpha, x**-beta], axis=1)


def fit_chinchilla(cs: CurveSet) -> ChinchillaFit:
    """Fit the additive law to cs (X > 0). Needs >= 2 sizes and >= 6 points."""
    if (cs.X <= 0).any():
        raise UserError("law 'chinchilla': x must be > 0 (drop step 0 with --min-step 1)")
    if np.unique(cs.curve_N).size < 2 or cs.n_points < 6:
        raise UserError("law 'chinchilla' needs >= 2 sizes and >= 6 points (5 parameters)")
    N_ref = float(np.exp(np.mean(np.log(cs.curve_N))))
    X_ref = float(np.exp(np.mean(np.log(cs.X))))
    n, x, L = cs.N / N_ref, cs.X / X_ref, cs.L
    counts = np.bincount(cs.curve, minlength=cs.n_curves).astype(float)
    sw = np.sqrt(1.0 / (counts[cs.curve] * cs.n_curves)) / L  # relative error, equal weight per curve

    def solve(p: np.ndarray) -> tuple[float, np.ndarray]:
        G = _design(n, x, float(p[0]), float(p[1]))
        coef, rnorm = nnls(G * sw[:, None], L * sw)
        return float(rnorm**2), coef

    def obj(p: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            v = solve(p)[0]
        return v if np.isfinite(v) else 1e30

    pts = sorted((obj(np.array([a, b])), a, b) for a in _GRID for b in _GRID)
    best = None
    for _, a, b in pts[:3]:
        res = minimize(obj, np.array([a, b]), method="L-BFGS-B", bounds=[EXP_BOUNDS, EXP_BOUNDS])
        if best is None or res.fun < best.fun:
            best = res
    alpha, beta = (float(v) for v in best.x)
    loss, (E, A, B) = solve(best.x)
    return ChinchillaFit(float(E), float(A), float(B), alpha, beta, N_ref, X_ref, loss)
