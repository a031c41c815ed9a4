"""Scaling-law fitting suite: the paper's law (exact reproduction), a parametric extension that
predicts unseen sizes, ScaleRL's sigmoid, RL gain vs size, and data reuse; bootstrap intervals.

Pure functions over arrays (see kn, sigmoid, gain, reuse); `run.run_fit` ties a curves table to one
FIT.json; `cli` is `rlscaling fit`.
"""

from rlscaling.fit.kn import KnFit, fit_kn, k_of_N

__all__ = ["KnFit", "fit_kn", "k_of_N"]
