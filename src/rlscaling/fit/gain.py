"""RL gain versus model size: gain = a * N^b.

gain(N) = pass@1 after RL - pass@1 of the base model (absolute, fraction of problems), per size:
the base score is the curve's first evaluated step (step 0 = the base model; --min-step does not
apply to this law) and the post-RL score its last step. Curves of the same N (seeds) are averaged.
Fitted by least squares on log10 gain vs log10 N (every gain must be > 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet


def size_gains(cs: CurveSet) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per distinct N (sorted): N (m,), base pass@1 (m,), final pass@1 (m,), gain (m,), labels."""
    from rlscaling.fit.identify import size_key

    base, final, Ns, labs = [], [], [], []
    for i in range(cs.n_curves):
        m = cs.curve == i
        steps = cs.step[m]
        if steps.size < 2:
            raise UserError(
                f"law 'gain': curve {cs.labels[i]} has a single step; needs the base model "
                "(first step) and a post-RL step"
            )
        base.append(1.0 - cs.L[m][np.argmin(steps)])
        final.append(1.0 - cs.L[m][np.argmax(steps)])
        Ns.append(cs.curve_N[i])
        labs.append(size_key(cs, i))  # one spelling of a size everywhere: its `size` column, else '7B'
    Ns_a = np.array(Ns)
    uniq = np.unique(Ns_a)
    b = np.array([np.mean(np.array(base)[Ns_a == n]) for n in uniq])
    f = np.array([np.mean(np.array(final)[Ns_a == n]) for n in uniq])
    lab = [labs[int(np.flatnonzero(Ns_a == n)[0])] for n in uniq]
    return uniq, b, f, f - b, lab


@dataclass
class GainFit:
    """gain = a N^b; per-size observations kept for reporting."""

    a: float
    b: float
    N: np.ndarray
    base: np.ndarray
    final: np.ndarray
    gain: np.ndarray
    labels: list[str]

    def gain_at(self, N: np.ndarray | float) -> np.ndarray:
        return self.a * np.asarray(N, dtype=float) ** self.b

    def params_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "form": "gain = a * N^b (gain in pass@1 fraction, N in parameters)",
            "gain": {lab: float(g) for lab, g in zip(self.labels, self.gain, strict=True)},
            "base_pass_at_1": {lab: float(v) for lab, v in zip(self.labels, self.base, strict=True)},
            "final_pass_at_1": {lab: float(v) for lab, v in zip(self.labels, self.final, strict=True)},
        }


def fit_gain(cs: CurveSet) -> GainFit:
    N, base, final, gain, labels = size_gains(cs)
    if N.size < 2:
        raise UserError(f"law 'gain' needs at least 2 model sizes; got {N.size}")
    bad = [lab for lab, g in zip(labels, gain, strict=True) if not g > 0]
    if bad:
        raise UserError(f"law 'gain': RL gain <= 0 for size(s) {bad}; a power law a*N^b needs positive gains")
    b, la = np.polyfit(np.log10(N), np.log10(gain), 1)
    return GainFit(float(10.0**la), float(b), N, base, final, gain, labels)
