"""The law registry: one uniform interface over the five laws, used by the CLI, the bootstrap and
the figures.

    fit_law(law, cs, opts) -> LawFit      (params: the FIT.json `params` block; predict(cs) -> L)
    predict_from_params(law, params, label, N, X) -> L   (rebuild a prediction from FIT.json)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlscaling.errors import UserError
from rlscaling.fit import gain as gain_mod
from rlscaling.fit import kn
from rlscaling.fit import reuse as reuse_mod
from rlscaling.fit import sigmoid as sigmoid_mod
from rlscaling.fit.bootstrap import flatten
from rlscaling.fit.data import CurveSet

LAWS = ("paper", "paper-parametric", "sigmoid", "gain", "reuse")
PAPER_LAWS = ("paper", "paper-parametric")  # the k(N) laws: E0 per size, E0(N)


@dataclass(frozen=True)
class LawInfo:
    """uses_min_step: --min-step applies; x_from: 'x' (the --x column) or 'step'; boot: the
    bootstrap unit `auto` means when no seed replicates exist; scenarios: those with a prediction."""

    uses_min_step: bool
    x_from: str
    positive_x: bool
    boot: str
    scenarios: tuple[str, ...]
    doc: str


LAW_INFO: dict[str, LawInfo] = {
    "paper": LawInfo(
        True,
        "x",
        True,
        "curve",
        ("full", "intra", "inter"),
        "log10 L = -k(N) log10 X + E0 per curve, k(N) = K_max N / (N + N0)",
    ),
    "paper-parametric": LawInfo(
        True,
        "x",
        True,
        "curve",
        ("full", "intra", "inter"),
        "log10 L = -k(N) log10 X + E0(N), k(N) = K_max N / (N + N0)",
    ),
    "sigmoid": LawInfo(
        True,
        "x",
        False,
        "block",
        ("full", "intra", "inter"),
        "R = 1 - L = R0 + (A - R0) / (1 + (X_mid / X)^B) per curve",
    ),
    "gain": LawInfo(
        False,
        "x",
        False,
        "curve",
        ("full", "inter"),
        "gain = pass@1(final step) - pass@1(first step) = a N^b",
    ),
    "reuse": LawInfo(
        True,
        "step",
        True,
        "block",
        ("full", "intra", "inter"),
        "log10 L = -k_tau log10 step + E0_tau per reuse factor tau; penalty vs tau = 1",
    ),
}


@dataclass(frozen=True)
class FitOptions:
    """objective: for paper / paper-parametric (kn.OBJECTIVES, or 'default'); e0_form: for
    paper-parametric (kn.E0_FORMS or 'auto')."""

    objective: str = "default"
    e0_form: str = "auto"

    def kn_objective(self) -> str:
        return kn.DEFAULT_OBJECTIVE if self.objective in ("default", None) else self.objective


@dataclass
class LawFit:
    law: str
    model: Any
    params: dict[str, Any]
    predict: Callable[[CurveSet], np.ndarray]
    start: Any = None  # warm start for bootstrap refits (see Refit); None: always a full search
    # optimizer bounds of the fitted parameters, flat name (bootstrap.flatten) -> (lo, hi, log10?)
    bounds: dict[str, tuple[float, float, bool]] = field(default_factory=dict)


def fit_law(
    law: str, cs: CurveSet, opts: FitOptions, *, x0: np.ndarray | None = None, fast: bool = False
) -> LawFit:
    """Fit `law` to cs. fast=True with x0: warm-started single local search (bootstrap); x0 is the
    `start` of an earlier LawFit of the same law: (K_max, log10 N0) for the paper laws, per-curve
    parameters (label -> dict) for sigmoid."""
    if law in PAPER_LAWS:
        m = kn.fit_kn(cs, law=law, objective=opts.kn_objective(), e0_form=opts.e0_form, x0=x0, grid=not fast)
        return LawFit(
            law, m, kn.params_json(m), m.predict, np.array([m.K_max, np.log10(m.N0)]), kn.bounds(m, cs)
        )
    if law == "sigmoid":
        m = sigmoid_mod.fit_sigmoid(cs, starts=x0 if fast else None)
        return LawFit(law, m, m.params_json(), m.predict, m.per_curve, sigmoid_mod.bounds(cs))
    if law == "gain":
        m = gain_mod.fit_gain(cs)
        return LawFit(law, m, m.params_json(), lambda c: _gain_predict(m, c))
    if law == "reuse":
        m = reuse_mod.fit_reuse(cs)
        return LawFit(law, m, m.params_json(), m.predict)
    raise UserError(f"--law {law!r}: expected one of {LAWS}")


def _gain_predict(m: gain_mod.GainFit, cs: CurveSet) -> np.ndarray:
    """Predicted final-step L of cs's sizes: 1 - (base pass@1 + a N^b); one value per size."""
    N, base, _final, _g, _ = gain_mod.size_gains(cs)
    return 1.0 - (base + m.gain_at(N))


def gain_observed(cs: CurveSet) -> np.ndarray:
    """Observed final-step L per size (the target _gain_predict predicts)."""
    _N, _base, final, _g, _ = gain_mod.size_gains(cs)
    return 1.0 - final


@dataclass(frozen=True)
class Refit:
    """Picklable bootstrap refit: CurveSet -> flat parameter dict. x0: the full fit's `start`
    (a tuple of floats for the paper laws, label -> parameter dict for sigmoid), or None."""

    law: str
    opts: FitOptions
    x0: Any = None

    def __call__(self, cs: CurveSet) -> dict[str, float]:
        x0 = self.x0
        if x0 is not None and self.law in PAPER_LAWS:
            x0 = np.array(x0, dtype=float)
        return flatten(fit_law(self.law, cs, self.opts, x0=x0, fast=x0 is not None).params)


# --------------------------------------------------------------------------------------------------
# predictions rebuilt from FIT.json params (figures, report)


def kn_from_params(params: dict[str, Any], curves: list[dict[str, Any]] | None = None) -> kn.KnFit:
    """A KnFit from a FIT.json `params` block (paper or paper-parametric); `curves` (FIT.json
    data.curves: label, N) restores the per-curve sizes used to extrapolate E0 for the paper law."""
    form = params.get("E0_form")
    fit = kn.KnFit(
        law="paper-parametric" if form else "paper",
        objective="",
        K_max=float(params["K_max"]),
        N0=float(params["N0"]),
        e0_form=form,
    )
    if form:
        fit.theta = {n: float(params[n]) for n in kn.E0_FORMS[form].names}
    e0 = {k: float(v) for k, v in (params.get("E0") or {}).items() if v is not None}
    fit.E0 = {} if form else e0
    Ns = {c["label"]: float(c["N"]) for c in curves or []}
    fit.labels = [lab for lab in e0 if lab in Ns] or list(e0)
    fit.curve_N = np.array([Ns.get(lab, np.nan) for lab in fit.labels])
    if not form and np.isnan(fit.curve_N).any():
        keep = np.isfinite(fit.curve_N)
        fit.labels = [lab for lab, k in zip(fit.labels, keep, strict=True) if k]
        fit.curve_N = fit.curve_N[keep]
    return fit


def predict_from_params(
    law: str,
    params: dict[str, Any],
    label: str,
    N: float,
    X: np.ndarray,
    curves: list[dict[str, Any]] | None = None,
) -> np.ndarray:
    """Predicted L along X for one curve (label, N) from a FIT.json params block."""
    X = np.asarray(X, dtype=float)
    if law in PAPER_LAWS:
        fit = kn_from_params(params, curves)
        e0 = fit.E0.get(label) if not fit.e0_form else None
        if e0 is None:
            e0 = float(fit.E0_of_N(N))
        return 10.0 ** (-fit.k(N) * np.log10(X) + e0)
    if law == "sigmoid":
        p = {k: params[k].get(label) for k in sigmoid_mod.PARAMS}
        if any(v is None for v in p.values()):
            raise KeyError(label)
        return 1.0 - sigmoid_mod.sigmoid_R(X, p["R0"], p["A"], p["B"], p["X_mid"])
    raise UserError(f"no curve prediction for law {law!r}")
