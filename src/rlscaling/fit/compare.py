"""A law tournament: which scaling law predicts what it has not seen, on a given curves table.

    rlscaling compare CURVES -o COMPARE.json [--laws ...] [--x C] [--where COL=VALUE] [--figure F.png]

Every law is fitted on part of the data and scored out of sample (R^2 in linear L and MAPE, %):

- `full`: in-sample fit on every point (reported, never decides a winner);
- `intra10` / `intra25` / `intra50`: fit every curve's steps <= 10 / 25 / 50 % of the largest step,
  predict their later steps (scenarios.split intra);
- `inter`: hold out the largest size, fit the others, predict its whole curve from N alone; scored
  on the held-out points after its first ANCHOR_POINTS (the same points as `inter_anchored`);
- `inter_anchored`: the same, with the held-out curve's first ANCHOR_POINTS point(s) (its pre-RL
  evaluation) setting its level: the law's prediction shifted in log L to pass through them (for
  the paper laws that is exactly `rlscaling fit --anchor-points 1`, fit.predict's chosen method).
  For the paper laws it also scores the 95% prediction interval of `rlscaling predict`
  (fit.interval) by its interval score (Gneiting & Raftery 2007; L units, lower is better) and
  coverage, beside R^2 and MAPE.

Laws (LAWS): `paper` (E0 per size; for an unseen size E0 is extrapolated by a line in log10 N),
`paper-parametric` (E0(N)), `sigmoid` (ScaleRL's per-curve sigmoid in X; an unseen size from its
parameters' trends in N), `chinchilla` (Hoffmann et al.'s additive power law in N and X,
fit.chinchilla), and `gain` (a N^b on the RL gain; it predicts only the final point of a curve from
its first, so it enters `inter_anchored` only, scored by MAPE on that one point, R^2 undefined).
A law whose data are below its minimum (fit.identify.MIN_DATA) gets the reason instead of a score.

Curves of one size that differ in a column (base / instruct, reward, ...) are never pooled: the
table is split into one *group* per combination of those columns, and each group is a tournament.
Winner of a scenario: the highest R^2 (MAPE breaks ties and decides where R^2 is undefined);
overall winner: the best mean rank over the out-of-sample scenarios among the laws scored in all of
them (a tie goes to the law listed first in --laws).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.errors import UserError
from rlscaling.fit import chinchilla as chin
from rlscaling.fit import gain as gain_mod
from rlscaling.fit import identify, kn
from rlscaling.fit import sigmoid as sig
from rlscaling.fit.compare_plot import group_name
from rlscaling.fit.laws import PAPER_LAWS
from rlscaling.fit.data import CurveSet, apply_where, to_curveset
from rlscaling.fit.interval import IntervalOptions, Target, interval_score, predict_curves
from rlscaling.fit.metrics import summary
from rlscaling.fit.scenarios import anchor_mask, split

LAWS = ("paper", "paper-parametric", "sigmoid", "chinchilla", "gain")
INTRA = {"intra10": 0.10, "intra25": 0.25, "intra50": 0.50}
SCENARIOS = ("full", *INTRA, "inter", "inter_anchored")
OUT_OF_SAMPLE = SCENARIOS[1:]
ANCHOR_POINTS = 1
INTERVAL_BOOTSTRAP = 100  # refits behind the anchored inter scenario's 95% interval (paper laws)

Predictor = Callable[[CurveSet], np.ndarray]


def fit_predictor(law: str, train: CurveSet, scenario: str = "full") -> Predictor:
    """Fit a curve law to train and return CurveSet -> predicted L (curves unseen in train get the
    law's prediction from N). Raises UserError when the data are below the law's minimum."""
    if law in identify.MIN_DATA:
        identify.check_data(law, train, scenario=scenario)
    if law in PAPER_LAWS:
        return kn.fit_kn(train, law=law).predict
    if law == "sigmoid":
        return sig.fit_sigmoid(train).predict
    if law == "chinchilla":
        return chin.fit_chinchilla(train).predict
    raise UserError(f"law {law!r} does not predict curves")


def _score(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    s = summary(y, np.clip(pred, 1e-9, None))
    return {"r2": s["r2"], "mape": s["mape"], "n_points": s["n_points"]}


def _na(err: Exception) -> dict[str, Any]:
    return {"na": str(err)}


def _log_shift(pred_anchor: np.ndarray, obs_anchor: np.ndarray) -> float:
    """Mean log10 ratio observed / predicted over the anchor points (the level correction)."""
    return float(np.mean(np.log10(obs_anchor) - np.log10(np.clip(pred_anchor, 1e-9, None))))


def score_curve_law(law: str, cs: CurveSet, anchor_points: int = ANCHOR_POINTS) -> dict[str, dict]:
    """Scores of one curve law on cs (one group, X > 0) in every scenario."""
    out: dict[str, dict] = {}
    try:
        out["full"] = _score(cs.L, fit_predictor(law, cs)(cs))
    except (UserError, ValueError, np.linalg.LinAlgError) as err:
        out["full"] = _na(err)
    for name, frac in INTRA.items():
        try:
            sp = split(cs, "intra", fit_fraction=frac)
            out[name] = _score(sp.test.L, fit_predictor(law, sp.train, "intra")(sp.test))
        except (UserError, ValueError, np.linalg.LinAlgError) as err:
            out[name] = _na(err)
    try:
        sp = split(cs, "inter", holdout_N=[float(cs.curve_N.max())])
        amask = anchor_mask(sp.test, anchor_points)
        rest, anchors = sp.test.subset(~amask), sp.test.subset(amask)
        f = fit_predictor(law, sp.train, "inter")
        out["inter"] = _score(rest.L, f(rest))
        shift = {
            lab: _log_shift(f(anchors.subset(anchors.curve == i)), anchors.L[anchors.curve == i])
            for i, lab in enumerate(anchors.labels)
        }
        pred = f(rest) * 10.0 ** np.array([shift[lab] for lab in rest.labels])[rest.curve]
        out["inter_anchored"] = _score(rest.L, pred)
        if law in PAPER_LAWS:
            out["inter_anchored"].update(_interval(law, sp.train, anchors, rest))
    except (UserError, ValueError, np.linalg.LinAlgError) as err:
        out["inter"] = out["inter_anchored"] = _na(err)
    return out


def _interval(law: str, train: CurveSet, anchors: CurveSet, rest: CurveSet) -> dict[str, Any]:
    """The 95% prediction interval of the anchored held-out curves (fit.interval): its mean interval
    score (Gneiting-Raftery, L units, lower is better) and coverage on the scored points; empty
    when the training data cannot support an interval."""
    targets, ys = [], []
    for i, lab in enumerate(rest.labels):
        a = anchors.subset(anchors.curve == anchors.labels.index(lab))
        m = rest.curve == i
        targets.append(Target(float(rest.curve_N[i]), rest.X[m], a.X, a.L))
        ys.append(rest.L[m])
    try:
        preds = predict_curves(train, targets, IntervalOptions(law=law, n_boot=INTERVAL_BOOTSTRAP))
    except UserError:
        return {}
    y = np.concatenate(ys)
    lo = np.concatenate([p.bands[0.95][0] for p in preds])
    hi = np.concatenate([p.bands[0.95][1] for p in preds])
    return {
        "interval_score95": float(np.mean(interval_score(y, lo, hi, 0.95))),
        "coverage95": float(np.mean((y >= lo) & (y <= hi))),
    }


def score_gain(cs0: CurveSet) -> dict[str, dict]:
    """gain = a N^b on cs0 (curves with their first step, e.g. step 0 = the base model): in-sample
    over sizes (`full`), and `inter_anchored`: the largest size's final L from its first step and
    a N^b fitted on the other sizes (one point: MAPE only)."""
    na = {"na": "gain predicts a curve's final point from its first, not later steps of a curve"}
    out: dict[str, dict] = dict.fromkeys(OUT_OF_SAMPLE, na)
    out["inter"] = {"na": "gain needs the held-out size's first point (see inter_anchored)"}
    try:
        identify.check_data("gain", cs0)
        g = gain_mod.fit_gain(cs0)
        pred = 1.0 - (g.base + g.gain_at(g.N))
        out["full"] = _score(1.0 - g.final, pred)
    except (UserError, ValueError) as err:
        out["full"] = _na(err)
    try:
        top = float(cs0.curve_N.max())
        sp = split(cs0, "inter", holdout_N=[top])
        identify.check_data("gain", sp.train, scenario="inter")
        g = gain_mod.fit_gain(sp.train)
        Nh, base, final, _gain, _ = gain_mod.size_gains(sp.test)
        pred = 1.0 - (base + g.gain_at(Nh))
        s = _score(1.0 - final, pred)
        s["r2"] = None  # one point
        out["inter_anchored"] = s
    except (UserError, ValueError) as err:
        out["inter_anchored"] = _na(err)
    return out


def _key(s: dict) -> tuple[float, float]:
    r2 = s.get("r2")
    r2 = -math.inf if r2 is None or not math.isfinite(r2) else r2
    mape = s.get("mape")
    return (r2, -(mape if mape is not None and math.isfinite(mape) else math.inf))


def winners(scores: dict[str, dict[str, dict]]) -> tuple[dict[str, str | None], str | None]:
    """(scenario -> winning law, overall winner); see module doc."""
    win: dict[str, str | None] = {}
    ranks: dict[str, list[int]] = {law: [] for law in scores}
    for sc in OUT_OF_SAMPLE:
        cand = [(law, s[sc]) for law, s in scores.items() if "na" not in s.get(sc, {"na": 1})]
        if not cand:
            win[sc] = None
            continue
        cand.sort(key=lambda t: _key(t[1]), reverse=True)
        win[sc] = cand[0][0]
        for r, (law, _) in enumerate(cand):
            ranks[law].append(r + 1)
    n_sc = sum(1 for w in win.values() if w is not None)
    full = {law: float(np.mean(r)) for law, r in ranks.items() if len(r) == n_sc and n_sc}
    overall = min(full, key=full.get) if full else None
    return win, overall


def _natural_key(values: tuple[str, ...]) -> tuple[tuple[int, float, str], ...]:
    """Sort key of a group's values: numbers by value (n = 2 before n = 16), then text."""
    out = []
    for v in values:
        try:
            out.append((0, float(v), ""))
        except ValueError:
            out.append((1, 0.0, v))
    return tuple(out)


def group_frames(df: pd.DataFrame, x: str) -> list[tuple[dict[str, str], pd.DataFrame]]:
    """Split df into groups that are never pooled: one per combination of the columns in which
    curves of one size differ (identify.pooled_columns); [({}, df)] when there are none."""
    cs = to_curveset(df, x, min_step=0, require_positive_x=False)
    cols = list(identify.pooled_columns(cs))
    if not cols:
        return [({}, df)]
    out = []
    keys = df[cols].astype(str)
    for vals in sorted(set(map(tuple, keys.to_numpy())), key=_natural_key):
        mask = np.all(keys.to_numpy() == np.array(vals, dtype=object), axis=1)
        out.append((dict(zip(cols, vals, strict=True)), df[mask]))
    return out


def compare_group(df: pd.DataFrame, x: str, laws: tuple[str, ...], min_step: int = 1) -> dict[str, Any]:
    """The tournament on one group's table (see module doc)."""
    t0 = time.perf_counter()
    cs = to_curveset(df, x, min_step=max(min_step, 0))
    if (cs.X <= 0).any():
        cs = cs.subset(cs.X > 0)
    scores: dict[str, dict[str, dict]] = {}
    for law in laws:
        if law == "gain":
            try:
                cs0 = to_curveset(df, x, min_step=0, require_positive_x=False)
                scores[law] = score_gain(cs0)
            except UserError as err:
                scores[law] = dict.fromkeys(SCENARIOS, _na(err))
        else:
            scores[law] = score_curve_law(law, cs)
    win, overall = winners(scores)
    sizes = sorted({float(n) for n in cs.curve_N})
    return {
        "x": x,
        "n_curves": cs.n_curves,
        "n_points": cs.n_points,
        "sizes": [identify.size_key(cs, int(np.flatnonzero(cs.curve_N == n)[0])) for n in sizes],
        "N": sizes,
        "held_out": identify.size_key(cs, int(np.argmax(cs.curve_N))),
        "scores": scores,
        "winners": win,
        "overall": overall,
        "seconds": time.perf_counter() - t0,
    }


def compare(
    df: pd.DataFrame,
    *,
    laws: tuple[str, ...] = LAWS,
    xs: tuple[str, ...] = ("C",),
    where: list[tuple[str, str]] | None = None,
    min_step: int = 1,
    source: str | None = None,
) -> dict[str, Any]:
    """The COMPARE.json content: one tournament per group and x."""
    bad = [law for law in laws if law not in LAWS]
    if bad:
        raise UserError(f"--laws {bad}: expected some of {LAWS}")
    t0 = time.perf_counter()
    df = apply_where(df, where or [])
    groups = []
    for x in xs:
        for gkey, gdf in group_frames(df, x):
            try:
                res = compare_group(gdf, x, laws, min_step)
            except UserError as err:
                res = {"x": x, "error": str(err)}
            groups.append({"group": gkey, **res})
    return {
        "source": source,
        "where": [f"{c}={v}" for c, v in where or []],
        "laws": list(laws),
        "out_of_sample": list(OUT_OF_SAMPLE),
        "scenarios": list(SCENARIOS),
        "anchor_points": ANCHOR_POINTS,
        "doc": __doc__.split("\n\n")[1].strip() if __doc__ else "",
        "minimum_data": identify.minimum_table(),
        "groups": groups,
        "seconds": time.perf_counter() - t0,
    }


def _cell(s: dict | None, won: bool) -> str:
    if not s or "na" in s:
        return "n/a"
    r2 = s.get("r2")
    text = ("–" if r2 is None or not math.isfinite(r2) else f"{r2:.3f}") + f" / {s['mape']:.1f}%"
    if s.get("interval_score95") is not None:
        text += f" / IS {s['interval_score95']:.3f} ({s['coverage95']:.0%} in)"
    return f"**{text}** ★" if won else text


def markdown(result: dict[str, Any], title: str | None = None) -> str:
    """One table per group: laws x scenarios, R^2 / MAPE, the winner of each scenario in bold with
    a star and the overall winner's row marked."""
    parts = []
    for g in result["groups"]:
        head = f"**{title or group_name(g)}** (x = {g['x']}"
        if "error" in g:
            parts.append(head + f"): {g['error']}")
            continue
        winner = f"**{g['overall']}**" if g["overall"] else "none (no law has an out-of-sample score)"
        sizes = ", ".join(g["sizes"])
        parts.append(head + f"; sizes {sizes}; inter holds out {g['held_out']}; overall winner: {winner})")
        parts.append("")
        cols = ["law", "full (in-sample)", "intra 10%", "intra 25%", "intra 50%", "inter", "inter, 1 anchor"]
        parts.append("| " + " | ".join(cols) + " |")
        parts.append("|" + "---|" * len(cols))
        for law, sc in g["scores"].items():
            name = f"**{law}** ★" if law == g["overall"] else law
            cells = [_cell(sc.get("full"), False)]
            cells += [_cell(sc.get(s), g["winners"].get(s) == law) for s in OUT_OF_SAMPLE]
            parts.append("| " + " | ".join([name, *cells]) + " |")
        parts.append("")
    parts.append(
        "R² (linear L) / MAPE on the points each scenario predicts; for the paper laws the anchored inter "
        "column adds IS, the mean interval score of the 95% prediction interval (Gneiting-Raftery, L units, "
        "lower is better: width plus 40x any miss) and the share of points inside it (rlscaling predict); "
        "★ bold: the scenario's winner "
        "(highest R²), ★ law: best mean rank over the out-of-sample scenarios; n/a: below the law's "
        "minimum data or not a curve prediction (COMPARE.json says why)."
    )
    return "\n".join(parts)


__all__ = ["LAWS", "SCENARIOS", "compare", "compare_group", "markdown", "winners"]
