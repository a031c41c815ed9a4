"""Do the prediction intervals hold? Out-of-sample coverage of fit.interval's intervals.

    rlscaling calibrate CURVES -o CAL.json [--figure F.png] [--x C] [--where COL=VALUE] ...

Two kinds of fold, each predicted only from what it would have had before the run:

- `inter`: every size with at least MIN_BELOW smaller sizes, predicted from those smaller sizes'
  curves, with its first `anchor_points` point(s) (default 1: its pre-RL evaluation or first logged
  step) as anchors; scored on its points after the anchors.
- `intra`: every curve's steps after its first `fraction` (default 25%) of steps (steps <= fraction x
  its last step), predicted from the early steps of every curve (the law fitted on those), the
  curve's own early steps as anchors.

Per scenario and interval level: coverage (the fraction of scored points inside the interval),
the median relative width of the 95% interval ((hi - lo) / L at each scored point), and the mean
interval score of Gneiting & Raftery (2007) in L units (width + 2 / alpha x the miss; lower is
better). Points of one fold are correlated (one curve), so each fold's own coverage is listed too.
A scenario the data cannot support (too few sizes, too few steps) is flagged with the reason.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rlscaling.errors import UserError
from rlscaling.fit.data import CurveSet
from rlscaling.fit.interval import IntervalOptions, Target, interval_score, predict_curves

MIN_BELOW = 3  # smaller sizes an inter fold is fitted on (the paper laws' minimum, identify.MIN_DATA)
MIN_EARLY = 3  # points of a curve an intra fold fits on
MIN_LATE = 2  # points left to score
SCENARIOS = ("inter", "intra")


def _first_k(cs: CurveSet, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of curve i's first k points (by step) and of the rest."""
    idx = np.flatnonzero(cs.curve == i)
    idx = idx[np.argsort(cs.step[idx], kind="stable")]
    return idx[:k], idx[k:]


def inter_folds(cs: CurveSet, anchor_points: int = 1) -> tuple[list[dict[str, Any]], list[str]]:
    """The inter folds of cs: [{'N', 'train', 'targets': [(label, Target, scored idx)]}] and the
    reasons for sizes that get no fold."""
    if anchor_points < 0:
        raise UserError(f"--anchor-points {anchor_points}: must be >= 0")
    sizes = np.unique(cs.curve_N)
    folds, skipped = [], []
    for j, N in enumerate(sizes):
        name = cs.labels[int(np.flatnonzero(cs.curve_N == N)[0])]
        if j < MIN_BELOW:
            skipped.append(f"{name}: {j} smaller size(s), an inter fold needs {MIN_BELOW}")
            continue
        train = cs.subset(cs.curve_N[cs.curve] < N)
        targets = []
        for i in np.flatnonzero(cs.curve_N == N):
            a, rest = _first_k(cs, int(i), anchor_points)
            if rest.size < MIN_LATE:
                skipped.append(
                    f"{cs.labels[i]}: {rest.size + a.size} point(s); {anchor_points} anchor(s) leave "
                    f"fewer than {MIN_LATE} to score"
                )
                continue
            t = Target(float(N), cs.X[rest], cs.X[a] if a.size else None, cs.L[a] if a.size else None)
            targets.append((cs.labels[i], t, rest))
        if targets:
            folds.append({"N": float(N), "train": train, "targets": targets})
    return folds, skipped


def intra_folds(cs: CurveSet, fraction: float = 0.25) -> tuple[list[dict[str, Any]], list[str]]:
    """The intra fold of cs (one fit on every curve's early steps): same shape as inter_folds."""
    if not 0 < fraction < 1:
        raise UserError(f"--fraction {fraction}: expected a number in (0, 1)")
    early = np.zeros(cs.n_points, dtype=bool)
    skipped, keep = [], []
    for i in range(cs.n_curves):
        idx = np.flatnonzero(cs.curve == i)
        last = float(cs.step[idx].max())
        e = idx[cs.step[idx] <= fraction * last]
        n_late = idx.size - e.size
        if e.size < MIN_EARLY or n_late < MIN_LATE:
            skipped.append(
                f"{cs.labels[i]}: {e.size} step(s) in its first {fraction:.0%} and {n_late} after; an "
                f"intra fold needs >= {MIN_EARLY} and >= {MIN_LATE}"
            )
            continue
        early[e] = True
        keep.append(i)
    if not keep:
        return [], skipped
    train = cs.subset(early & np.isin(cs.curve, keep))
    targets = []
    for i in keep:
        idx = np.flatnonzero(cs.curve == i)
        e, late = idx[early[idx]], idx[~early[idx]]
        targets.append((cs.labels[i], Target(float(cs.curve_N[i]), cs.X[late], cs.X[e], cs.L[e]), late))
    return [{"N": None, "train": train, "targets": targets}], skipped


def _score_fold(
    cs: CurveSet, fold: dict[str, Any], opts: IntervalOptions, scenario: str
) -> list[dict[str, Any]]:
    preds = predict_curves(fold["train"], [t for _, t, _ in fold["targets"]], opts)
    out = []
    for (label, t, idx), p in zip(fold["targets"], preds, strict=True):
        y = cs.L[idx]
        rec: dict[str, Any] = {
            "scenario": scenario,
            "target": label,
            "N": t.N,
            "train_sizes": sorted(set(fold["train"].labels), key=lambda lab: fold["train"].labels.index(lab)),
            "n_anchors": 0 if t.anchor_x is None else int(np.size(t.anchor_x)),
            "step": cs.step[idx].tolist(),
            "L": y.tolist(),
            "pred": p.L.tolist(),
            "mape": float(100 * np.mean(np.abs(p.L - y) / y)),
            "coverage": {},
            "interval_score": {},
            "intervals": {},
            "sd_log10_end": {k: float(v[-1]) for k, v in p.sd_log10.items()},
            "noise": p.noise.to_json(),
            "slope_sd": p.slope_sd,
            "level_sd": p.level_sd,
        }
        for lv, (lo, hi) in p.bands.items():
            key = f"{lv:g}"
            rec["coverage"][key] = float(np.mean((y >= lo) & (y <= hi)))
            rec["interval_score"][key] = float(np.mean(interval_score(y, lo, hi, lv)))
            rec["intervals"][key] = {"lo": lo.tolist(), "hi": hi.tolist()}
        lo95, hi95 = p.bands[0.95] if 0.95 in p.bands else p.bands[max(p.bands)]
        rec["width95_rel"] = ((hi95 - lo95) / y).tolist()
        out.append(rec)
    return out


def calibrate(
    cs: CurveSet,
    opts: IntervalOptions | None = None,
    *,
    anchor_points: int = 1,
    fraction: float = 0.25,
    scenarios: tuple[str, ...] = SCENARIOS,
    intra_law: str = "paper",
) -> dict[str, Any]:
    """The CAL.json content for one curve set (module doc). opts.law is the inter law; intra_law
    the law of intra folds (every curve is in its own fit there, so its E0 is free per curve)."""
    opts = opts or IntervalOptions()
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad:
        raise UserError(f"--scenarios {bad}: expected some of {SCENARIOS}")
    t0 = time.perf_counter()
    folds: list[dict[str, Any]] = []
    flags: dict[str, list[str]] = {}
    for sc in scenarios:
        if sc == "inter":
            fl, skipped = inter_folds(cs, anchor_points)
            o = opts
        else:
            fl, skipped = intra_folds(cs, fraction)
            o = IntervalOptions(**{**opts.__dict__, "law": intra_law})
        flags[sc] = skipped
        for f in fl:
            try:
                folds += _score_fold(cs, f, o, sc)
            except UserError as err:
                flags[sc].append(f"fold {f['N']}: {err}")
    levels = [f"{lv:g}" for lv in opts.levels]
    out: dict[str, Any] = {
        "coverage": {},
        "width95_rel_median": {},
        "interval_score": {},
        "mape": {},
        "n_folds": {},
        "n_points": {},
        "na": {},
        "skipped": flags,
    }
    for sc in scenarios:
        fs = [f for f in folds if f["scenario"] == sc]
        if not fs:
            reason = "; ".join(flags[sc]) or "no fold"
            out["na"][sc] = f"no {sc} fold: {reason}"
            out["coverage"][sc] = dict.fromkeys(levels)
            out["width95_rel_median"][sc] = None
            out["interval_score"][sc] = dict.fromkeys(levels)
            continue
        y = np.concatenate([f["L"] for f in fs])
        out["coverage"][sc] = {}
        out["interval_score"][sc] = {}
        for lv, key in zip(opts.levels, levels, strict=True):
            lo = np.concatenate([f["intervals"][key]["lo"] for f in fs])
            hi = np.concatenate([f["intervals"][key]["hi"] for f in fs])
            out["coverage"][sc][key] = float(np.mean((y >= lo) & (y <= hi)))
            out["interval_score"][sc][key] = float(np.mean(interval_score(y, lo, hi, lv)))
        out["width95_rel_median"][sc] = float(np.median(np.concatenate([f["width95_rel"] for f in fs])))
        pred = np.concatenate([f["pred"] for f in fs])
        out["mape"][sc] = float(100 * np.mean(np.abs(pred - y) / y))
        out["n_folds"][sc] = len(fs)
        out["n_points"][sc] = int(y.size)
    if not any(out["n_folds"].values()):
        raise UserError("calibrate: no fold in any scenario: " + "; ".join(out["na"].values()))
    out["folds"] = folds
    out["settings"] = {
        "x": cs.x_name,
        "law_inter": opts.law,
        "law_intra": intra_law,
        "objective": opts.objective,
        "anchor_points": anchor_points,
        "intra_fraction": fraction,
        "bootstrap": opts.n_boot,
        "noise_draws": opts.n_noise,
        "trials": opts.n_trials,
        "seed": opts.seed,
        "levels": list(opts.levels),
    }
    out["seconds"] = time.perf_counter() - t0
    return out
