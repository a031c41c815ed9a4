"""Goodness-of-fit and prediction-error metrics (pure functions over arrays)."""

from __future__ import annotations

import numpy as np


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (unweighted; can be < 0). NaN if y is constant."""
    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot <= 0:
        return float("nan")
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root mean squared error, in the units of y."""
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(pred, float)) ** 2)))


def mape(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error, in percent (y must be non-zero)."""
    y = np.asarray(y, dtype=float)
    return float(100.0 * np.mean(np.abs(np.asarray(pred, float) - y) / np.abs(y)))


def summary(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """r2 (linear), r2_log (on log10), rmse, mape (%) and n_points for positive y / pred."""
    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    out = {
        "r2": r2(y, pred),
        "r2_log": r2(np.log10(y), np.log10(np.maximum(pred, 1e-300))),
        "rmse": rmse(y, pred),
        "mape": mape(y, pred),
        "n_points": int(y.size),
    }
    return out
