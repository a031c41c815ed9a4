"""Data reuse: loss vs step for several reuse factors tau (each unique prompt seen tau times).

Every tau curve gets the paper's log-linear form in steps, log10 L = -k_tau log10 step + E0_tau
(least squares in log10 L). At equal steps the cost of reuse is the fitted loss difference
L_tau(step) - L_1(step) against tau = 1, reported as its mean over the steps both curves cover
(`penalty_mean`, loss units) and at the last common step (`penalty_final`), plus the same in
percent of L_1, for every tau but the reference tau = 1 itself. The tau column is `reuse_tau` (a
study's sweep) or `tau` (the paper's CSV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscaling.curves_table import TAU_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet


def curve_taus(cs: CurveSet) -> np.ndarray:
    """tau of every curve, shape (n_curves,). UserError when no tau column exists."""
    col = next((c for c in TAU_COLUMNS if cs.keys and c in cs.keys[0]), None)
    if col is None:
        raise UserError(f"law 'reuse' needs a data-reuse column ({' or '.join(TAU_COLUMNS)}) in the curves")
    return np.array([float(k[col]) for k in cs.keys])


def _loglin_fit(step: np.ndarray, L: np.ndarray) -> tuple[float, float]:
    if np.unique(step).size < 2:
        raise UserError("law 'reuse': a tau curve needs >= 2 distinct steps")
    slope, icpt = np.polyfit(np.log10(step), np.log10(L), 1)
    return float(-slope), float(icpt)


@dataclass
class ReuseFit:
    """Per-tau (k, E0) and penalties against tau = 1."""

    taus: np.ndarray
    k: np.ndarray
    E0: np.ndarray
    step_range: dict[float, tuple[float, float]]
    labels: list[str]

    def L_at(self, tau: float, step: np.ndarray) -> np.ndarray:
        i = int(np.flatnonzero(np.isclose(self.taus, tau))[0])
        return 10.0 ** (-self.k[i] * np.log10(step) + self.E0[i])

    def predict(self, cs: CurveSet) -> np.ndarray:
        """L at cs's points; an unseen tau uses k and E0 linear in log10 tau."""
        taus = curve_taus(cs)
        out = np.empty(cs.n_points)
        lt = np.log10(self.taus)
        for i, tau in enumerate(taus):
            m = cs.curve == i
            j = np.flatnonzero(np.isclose(self.taus, tau))
            if j.size:
                k, e0 = self.k[j[0]], self.E0[j[0]]
            else:
                kb, ka = np.polyfit(lt, self.k, 1) if lt.size > 1 else (0.0, self.k[0])
                eb, ea = np.polyfit(lt, self.E0, 1) if lt.size > 1 else (0.0, self.E0[0])
                k, e0 = ka + kb * np.log10(tau), ea + eb * np.log10(tau)
            out[m] = 10.0 ** (-k * np.log10(cs.X[m]) + e0)
        return out

    def penalties(self) -> dict[str, dict[str, float]]:
        if not np.isclose(self.taus, 1.0).any():
            return {}
        lo1, hi1 = self.step_range[1.0]
        out = {}
        for tau in self.taus:
            if np.isclose(tau, 1.0):
                continue  # the reference: 0 by definition, no interval to report (or to flag)
            lo, hi = self.step_range[float(tau)]
            s = np.linspace(max(lo, lo1), min(hi, hi1), 200)
            if s[0] >= s[-1]:
                continue
            d = self.L_at(tau, s) - self.L_at(1.0, s)
            rel = 100.0 * d / self.L_at(1.0, s)
            out[_tau_key(tau)] = {
                "penalty_mean": float(d.mean()),
                "penalty_final": float(d[-1]),
                "penalty_mean_pct": float(rel.mean()),
                "penalty_final_pct": float(rel[-1]),
            }
        return out

    def params_json(self) -> dict[str, Any]:
        return {
            "k": {_tau_key(t): float(k) for t, k in zip(self.taus, self.k, strict=True)},
            "E0": {_tau_key(t): float(e) for t, e in zip(self.taus, self.E0, strict=True)},
            "vs_tau1": self.penalties(),
        }


def _tau_key(tau: float) -> str:
    return f"tau={tau:g}"


def fit_reuse(cs: CurveSet) -> ReuseFit:
    """Fit every tau curve of cs (x = step or D; one curve per tau, curves of one tau pooled)."""
    taus = curve_taus(cs)
    uniq = np.unique(taus)
    if uniq.size < 2:
        raise UserError(f"law 'reuse' needs curves for at least 2 reuse factors tau; got {uniq.tolist()}")
    ks, es, ranges = [], [], {}
    for tau in uniq:
        m = np.isin(cs.curve, np.flatnonzero(taus == tau))
        k, e = _loglin_fit(cs.X[m], cs.L[m])
        ks.append(k)
        es.append(e)
        ranges[float(tau)] = (float(cs.X[m].min()), float(cs.X[m].max()))
    return ReuseFit(uniq, np.array(ks), np.array(es), ranges, [_tau_key(t) for t in uniq])
