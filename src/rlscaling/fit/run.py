"""One fit end to end: curves table -> split -> fit -> metrics -> bootstrap -> the FIT.json dict."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import NEUTRAL_COLUMNS, TAU_COLUMNS
from rlscaling.errors import UserError
from rlscaling.fit import identify, kn, predict
from rlscaling.fit.bootstrap import bootstrap, flatten, resolve_unit, unflatten
from rlscaling.fit.data import CurveSet, apply_where, note, to_curveset
from rlscaling.fit.laws import LAW_INFO, LAWS, PAPER_LAWS, FitOptions, Refit, fit_law, gain_observed
from rlscaling.fit.metrics import summary
from rlscaling.fit.scenarios import Split, anchor_mask, split


@dataclass
class FitRequest:
    """Everything `rlscaling fit` needs besides the table (see cli.add_arguments for meanings)."""

    law: str
    x: str = "C"
    scenario: str = "full"
    objective: str = "default"
    e0_form: str = "auto"
    where: list[tuple[str, str]] = field(default_factory=list)
    min_step: int = 0
    fit_steps: int | None = None
    fit_fraction: float | None = None
    holdout_N: list[float] = field(default_factory=list)
    holdout_size: list[str] = field(default_factory=list)
    anchor_points: int = 0
    anchor_method: str = predict.CHOSEN
    bootstrap: int = 0
    bootstrap_unit: str = "auto"
    seed: int = 0
    jobs: int = 1


def prepare(df: pd.DataFrame, req: FitRequest) -> CurveSet:
    """Filter and validate the table into the law's CurveSet."""
    if req.law not in LAWS:
        raise UserError(f"--law {req.law!r}: expected one of {LAWS}")
    info = LAW_INFO[req.law]
    df = apply_where(df, req.where)
    x = "step" if info.x_from == "step" else req.x
    min_step = req.min_step if info.uses_min_step else 0
    if req.law == "sigmoid" and x in df.columns and (pd.to_numeric(df[x], errors="coerce") < 0).any():
        raise UserError(f"column {x!r} must be >= 0")
    return to_curveset(df, x, min_step=min_step, require_positive_x=info.positive_x)


def _clean(obj: Any) -> Any:
    """JSON-safe: non-finite floats -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


def _metrics(law: str, lf_predict, cs: CurveSet) -> dict[str, Any]:
    if law == "gain":
        return summary(gain_observed(cs), lf_predict(cs))
    return summary(cs.L, lf_predict(cs))


def _by_curve(predict, cs: CurveSet) -> dict[str, dict[str, Any]]:
    pred = predict(cs)
    out = {}
    for i, lab in enumerate(cs.labels):
        m = cs.curve == i
        out[lab] = summary(cs.L[m], pred[m])
    return out


def run_fit(df: pd.DataFrame, req: FitRequest, source: str | None = None) -> dict[str, Any]:
    """Fit one law / x / scenario to a curves table; returns the FIT.json content."""
    t0 = time.perf_counter()
    cs = prepare(df, req)
    info = LAW_INFO[req.law]
    scenario = req.scenario
    check_anchor(req)
    notes: list[str] = []
    if scenario not in info.scenarios:
        notes.append(
            f"scenario {scenario!r} does not apply to law {req.law!r}; fitted on all data "
            "(as 'full') with no held-out block"
        )
        sp = Split(scenario, cs, None)
    else:
        sp = split(
            cs,
            scenario,
            fit_steps=req.fit_steps,
            fit_fraction=req.fit_fraction,
            holdout_N=req.holdout_N,
            holdout_size=req.holdout_size,
        )
    if req.law == "reuse" and scenario == "inter":
        notes.append("reuse/inter holds out the curves named by --holdout-size / --holdout-N")
    opts = FitOptions(objective=req.objective, e0_form=req.e0_form)
    # grouping, never pooling: curves of one size that differ in a column (reward, rollout n, bench,
    # base vs instruct) are refused, naming the column to choose with --where; for reuse the tau
    # column is what the curves should differ in. Columns that differ only *between* sizes (e.g. a
    # per-size learning rate) are said, on stderr and in FIT.json.
    skip = TAU_COLUMNS if req.law == "reuse" else ()
    identify.refuse_pooling(cs, skip=skip)
    notes += _group_note(sp.train, skip=skip)
    identify.check_data(req.law, sp.train, scenario=sp.scenario, e0_params=_e0_params(req, cs))
    lf = fit_law(req.law, sp.train, opts)
    out: dict[str, Any] = {
        "law": req.law,
        "x": cs.x_name if req.law != "gain" else req.x,
        "scenario": scenario,
        "law_form": info.doc,
    }
    if req.law in PAPER_LAWS:
        out["objective"] = opts.kn_objective()
    out["params"] = lf.params
    fit_m = _metrics(req.law, lf.predict, sp.train)
    out["r2"] = fit_m["r2"]
    out["r2_log"] = fit_m["r2_log"]
    out["n_points"] = fit_m["n_points"] if req.law == "gain" else sp.train.n_points
    out["rmse"] = fit_m["rmse"]

    if sp.test is not None:
        held = _metrics(req.law, lf.predict, sp.test)
        if req.law != "gain":
            held["by_curve"] = _by_curve(lf.predict, sp.test)
        out["heldout"] = held
        if req.law == "paper" and scenario == "inter":
            out["heldout"]["E0_source"] = "extrapolated: straight line of the fitted E0 vs log10 N"
        if req.law in PAPER_LAWS:
            out["baseline"] = _paper_baselines(sp, req.law, lf)
        if req.anchor_points > 0:
            anchored = anchored_heldout(
                lf.model, sp.test, req.anchor_points, req.anchor_method, sp.train, opts.kn_objective()
            )
            out["heldout_unanchored"] = anchored["heldout_unanchored"]
            out["heldout"] = anchored["heldout"]
            out["anchor"] = anchored["anchor"]
            out["baseline"]["anchored"] = _paper_anchored_baselines(sp, req.anchor_points)
    # bootstrap
    if req.bootstrap > 0:
        unit = resolve_unit(sp.train, req.bootstrap_unit, info.boot)
        x0 = tuple(float(v) for v in lf.start) if isinstance(lf.start, np.ndarray) else lf.start
        bs = bootstrap(
            Refit(req.law, opts, x0), sp.train, req.bootstrap, seed=req.seed, unit=unit, jobs=req.jobs
        )
        ci_flat = bs.ci95()
        out["ci95"] = unflatten(ci_flat)
        out["bootstrap"] = bs.to_json()
        out["bootstrap"]["doc"] = _BOOT_DOC[unit]
    else:
        ci_flat = None
        out["ci95"] = None
        out["bootstrap"] = {"n": 0}
    # honest intervals: an estimate or interval at an optimizer bound, or of zero width, is flagged
    flags = identify.interval_flags(flatten(lf.params), ci_flat, lf.bounds)
    out["interval_flags"] = flags
    notes += identify.flag_notes(flags)
    for n_ in identify.flag_notes(flags):
        note(n_)
    out["data"] = {
        "source": source,
        "where": [f"{c}={v}" for c, v in req.where],
        "x_column": cs.x_name,
        "min_step": req.min_step if info.uses_min_step else None,
        "fit_steps": sp.fit_steps,
        "holdout": sp.holdout,
        "n_curves": cs.n_curves,
        "curves": [
            {
                "label": lab,
                "N": float(n),
                "n_points": int(np.sum(cs.curve == i)),
                "n_fit": _n_fit(sp.train, lab),
                "steps": [float(cs.step[cs.curve == i].min()), float(cs.step[cs.curve == i].max())],
                **{k: v for k, v in (cs.keys[i] if cs.keys else {}).items() if k != "N"},
            }
            for i, (lab, n) in enumerate(zip(cs.labels, cs.curve_N, strict=True))
        ],
    }
    out["seed"] = req.seed
    out["notes"] = notes
    out["seconds"] = time.perf_counter() - t0
    return _clean(out)


ANCHOR_LAWS = PAPER_LAWS  # anchoring sets a held-out size's E0: the k(N) laws


def _e0_params(req: FitRequest, cs: CurveSet) -> int:
    """Parameters of paper-parametric's E0(N) form (2 for other laws; unknown forms are refused later)."""
    if req.law != "paper-parametric":
        return 2
    form = kn.default_e0_form(cs.x_name) if req.e0_form in (None, "auto") else req.e0_form
    return len(kn.E0_FORMS[form].names) if form in kn.E0_FORMS else 2


def check_anchor(req: FitRequest) -> None:
    """UserError unless req.anchor_points is 0, or > 0 with --scenario inter and a law whose
    intercept E0 is per size (paper, paper-parametric). The per-curve size limit (K <= points - 2)
    is checked by scenarios.anchor_mask once the held-out curves are known."""
    k = req.anchor_points
    if k < 0:
        raise UserError(f"--anchor-points {k}: must be >= 0 (0: no anchoring)")
    if k == 0:
        return
    if req.scenario != "inter":
        raise UserError(
            f"--anchor-points {k} applies to --scenario inter only (it anchors a held-out size's "
            f"intercept on its first points); got --scenario {req.scenario}"
        )
    if req.law not in ANCHOR_LAWS:
        raise UserError(
            f"--anchor-points {k}: law {req.law!r} has no per-size intercept E0 to anchor "
            f"(laws: {', '.join(ANCHOR_LAWS)})"
        )


def anchored_heldout(
    model: kn.KnFit,
    test: CurveSet,
    k: int,
    method: str = "anchor",
    train: CurveSet | None = None,
    objective: str = kn.DEFAULT_OBJECTIVE,
) -> dict[str, Any]:
    """Inter prediction with each held-out curve's intercept anchored on its first k points.

    k(N) (K_max, N0) stays the fit's; E0 of each held-out curve = mean of log10 L + k(N) log10 X over
    its first k points (kn.anchor_E0). Returns `heldout` (the anchored prediction scored on the
    remaining points only), `heldout_unanchored` (the fit's own E0(N) on the same scored points, with
    `all_points` its score on every held-out point) and `anchor` (setting, E0 per curve, counts)."""
    amask = anchor_mask(test, k)
    anchors, rest = test.subset(amask), test.subset(~amask)
    levels = {}
    if method == "anchor":
        e0 = kn.anchor_E0(model, anchors)
    else:  # the anchor combined with E0(N) by their uncertainties (fit.predict)
        folds = predict.fold_errors(train, k, objective, model.law) if method == "precision" else None
        for i, lab in enumerate(test.labels):
            a = anchors.subset(anchors.curve == anchors.labels.index(lab))
            lv = predict.combine(
                model, train, a, float(test.curve_N[i]), lab, k, method, objective=objective, folds=folds
            )
            levels[lab] = lv.to_json()
        e0 = {lab: lv["E0"] for lab, lv in levels.items()}

    def predict_e0(cs: CurveSet) -> np.ndarray:
        return kn.predict_with_E0(model, cs, e0)

    held = summary(rest.L, predict_e0(rest))
    held["by_curve"] = _by_curve(predict_e0, rest)
    held["E0_source"] = (
        f"anchored: mean of log10 L + k(N) log10 X over the first {k} point(s) of each held-out curve "
        "(k(N) from the fit on the other sizes); those points are not scored"
        if method == "anchor"
        else f"method {method!r} (fit.predict): E0(N) and the anchor on the first {k} point(s) combined "
        "by their uncertainties (anchor.levels); the anchor points are not scored"
    )
    unanchored = summary(rest.L, model.predict(rest))
    unanchored["by_curve"] = _by_curve(model.predict, rest)
    unanchored["all_points"] = summary(test.L, model.predict(test))
    unanchored["E0_source"] = (
        "the fit's E0 for an unseen size (E0(N), or for law paper the straight line of E0 vs "
        "log10 N), scored on the same points as `heldout`; all_points: on every held-out point"
    )
    steps = {lab: anchors.step[anchors.curve == i].tolist() for i, lab in enumerate(anchors.labels)}
    anchor = {
        "points": k,
        "method": method,
        "E0": e0,
        "E0_unanchored": {
            lab: float(model.E0_of_N(n)) for lab, n in zip(test.labels, test.curve_N, strict=True)
        },
        "n_anchor_points": int(anchors.n_points),
        "n_scored_points": int(rest.n_points),
        "steps": steps,
    }
    if levels:
        anchor["levels"] = levels
    return {"heldout": held, "heldout_unanchored": unanchored, "anchor": anchor}


def _paper_anchored_baselines(sp: Split, k: int) -> dict[str, Any]:
    """The paper's method (paper law, paper objective) on the anchored split, scored on the same
    points as the anchored `heldout`: E0 anchored on the first k points, and E0 fitted on the whole
    held-out curve (the paper's compensation, which uses every held-out point)."""
    paper = kn.fit_kn(sp.train, law="paper", objective="paper")
    res = anchored_heldout(paper, sp.test, k)
    amask = anchor_mask(sp.test, k)
    rest = sp.test.subset(~amask)
    refit = kn.refit_E0(paper, sp.test, "paper")
    return {
        "paper_method_anchored": {k_: v for k_, v in res["heldout"].items() if k_ != "by_curve"}
        | {"E0": res["anchor"]["E0"]},
        "paper_method_E0_refit": summary(rest.L, kn.predict_with_E0(paper, rest, refit))
        | {"E0": refit, "E0_source": "fitted on the whole held-out curves (uses all their points)"},
    }


def _n_fit(train: CurveSet, label: str) -> int:
    return int(np.sum(train.curve == train.labels.index(label))) if label in train.labels else 0


_BOOT_DOC = {
    "curve": "curves resampled with replacement (one curve per size: the sizes that were run)",
    "seed": "seed replicates resampled with replacement within each size / variant",
    "block": "moving-block bootstrap of consecutive steps within every curve",
}


def _group_note(cs: CurveSet, skip: tuple[str, ...] = ()) -> list[str]:
    """Notes (also printed) for grouping columns, other than NEUTRAL_COLUMNS (size, run,
    seed, replicate, ...) and `skip`, whose values differ between the fitted curves."""
    out: list[str] = []
    if not cs.keys:
        return out
    for col in cs.keys[0]:
        if col in NEUTRAL_COLUMNS or col in skip:
            continue
        vals = sorted({str(k.get(col)) for k in cs.keys})
        if len(vals) > 1:
            msg = f"fitting curves across {col} = {vals} (filter with --where {col}=VALUE)"
            note(msg)
            out.append(msg)
    return out


def _paper_baselines(sp: Split, law: str, lf) -> dict[str, Any]:
    """The paper's method on the same split: paper law, paper objective; for inter both with the
    E0 extrapolated in log10 N and with the paper's 'compensation' (E0 of the held-out curve fitted on
    its own losses, k(N) from the fit)."""
    out: dict[str, Any] = {}
    paper = kn.fit_kn(sp.train, law="paper", objective="paper")
    out["paper_method"] = {"K_max": paper.K_max, "N0": paper.N0, "params": kn.params_json(paper)}
    if sp.test is not None:
        out["paper_method"]["heldout"] = summary(sp.test.L, paper.predict(sp.test))
        if sp.scenario == "inter":
            out["paper_method"]["heldout"]["E0_source"] = "extrapolated: straight line of E0 vs log10 N"
            refit = kn.refit_E0(paper, sp.test, "paper")
            paper.E0.update(refit)
            out["paper_method_E0_refit"] = summary(sp.test.L, paper.predict(sp.test))
            out["paper_method_E0_refit"]["E0_source"] = (
                "fitted on the held-out curves' own losses (k(N) from the fit): uses held-out data"
            )
    return out
