"""What a fit's data can and cannot support: minimum data per law, pooled groups, flagged intervals.

Three pure checks, used by `run.run_fit` (and `compare`):

- `check_data(law, cs)`: refuse (UserError, exit code 2) a fit whose data cannot identify the law's
  parameters with at least one degree of freedom left over. The minimum per law (MIN_DATA):

  ================  ==============  ====================================================
  law               distinct sizes  points
  ================  ==============  ====================================================
  paper             3               >= 3 per curve (2 distinct X), > parameters in all
  paper-parametric  3 (4 for a      >= 2 per curve (2 distinct X), > parameters in all
                    3-parameter
                    E0 form)
  sigmoid           1 (3 for inter) >= 5 per curve (4 distinct X > 0)
  gain              3               >= 2 steps per curve (base and post-RL)
  reuse             (2 tau values)  >= 3 distinct steps per tau curve
  chinchilla        3               >= 2 per curve (2 distinct X), > 5 in all
  ================  ==============  ====================================================

  (chinchilla: `rlscaling compare` only, fit.chinchilla.)

  Why: k(N) = K_max N / (N + N0) has two parameters, so two sizes give two slopes that fix K_max
  and N0 exactly (zero degrees of freedom: R^2 says nothing, and a curve bootstrap that must draw
  both sizes returns the same fit every time, a zero-width "interval"). A per-curve line (slope,
  intercept) needs a third point for the same reason; a sigmoid has 4 parameters per curve; a power
  law a N^b two. Predicting an unseen size from per-curve sigmoids extrapolates 4 trends in N,
  each a line, which needs 3 sizes.

- `pooled_columns(cs, skip)`: grouping columns whose values differ between curves of the *same*
  size (reward, rollout n, bench, source...). `run_fit` refuses such a table and names the column to
  choose with --where: pooling them would mix different experiments into one size's curve.

- `interval_flags(...)`: parameters whose point estimate or 95 % interval ends at an optimizer
  bound, and intervals of zero width. Such an interval is not a statement about the data: the
  bound or the resampling scheme made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscaling.errors import UserError
from rlscaling.curves_table import NEUTRAL_COLUMNS
from rlscaling.fit.data import CurveSet


@dataclass(frozen=True)
class Requirement:
    """Minimum data for a law: distinct sizes N (inter: the sizes left to fit), points per curve and
    distinct x values per curve; the points in all must exceed params_per_curve x curves +
    shared_params (gain: the sizes must exceed its 2 parameters)."""

    sizes: int
    points_per_curve: int
    distinct_x_per_curve: int
    params_per_curve: int
    shared_params: int
    why: str


MIN_DATA: dict[str, Requirement] = {
    "paper": Requirement(
        3, 3, 2, 1, 2, "k(N) = K_max N/(N+N0) has 2 parameters: 2 sizes fix them exactly, 3 test them"
    ),
    "paper-parametric": Requirement(
        3, 2, 2, 0, 4, "k(N) has 2 parameters and E0(N) 2-3 more, all shared across sizes"
    ),
    "sigmoid": Requirement(1, 5, 4, 4, 0, "4 parameters per curve (R0, A, B, X_mid) and one to spare"),
    "gain": Requirement(3, 2, 2, 0, 2, "gain = a N^b has 2 parameters: 2 sizes fit any power law exactly"),
    "reuse": Requirement(1, 3, 3, 2, 0, "a line in log-log per tau curve (2 parameters) and one to spare"),
    # `rlscaling compare` only (fit.chinchilla)
    "chinchilla": Requirement(
        3, 2, 2, 0, 5, "E + A N^-alpha needs 3 sizes to separate E, A and alpha; B X^-beta a slope per curve"
    ),
}

# inter predictions of a per-curve law extrapolate trends in N (sigmoid: 4 lines in log10 N)
MIN_SIZES_INTER = {"sigmoid": 3}


def minimum_table() -> list[dict[str, Any]]:
    """MIN_DATA as rows (for docs and `rlscaling compare` output)."""
    return [
        {
            "law": law,
            "min_sizes": r.sizes,
            "min_sizes_inter": MIN_SIZES_INTER.get(law, r.sizes),
            "min_points_per_curve": r.points_per_curve,
            "min_distinct_x_per_curve": r.distinct_x_per_curve,
            "why": r.why,
        }
        for law, r in MIN_DATA.items()
    ]


def check_data(law: str, cs: CurveSet, *, scenario: str = "full", e0_params: int = 2) -> None:
    """UserError (exit code 2) naming what is missing when cs cannot identify `law`'s parameters
    with a degree of freedom to spare (see MIN_DATA). e0_params: parameters of paper-parametric's
    E0(N) form (2 or 3)."""
    req = MIN_DATA.get(law)
    if req is None:
        return
    sizes = np.unique(cs.curve_N)
    need_sizes = req.sizes
    if scenario == "inter":
        need_sizes = max(need_sizes, MIN_SIZES_INTER.get(law, 0))
    if law == "paper-parametric":
        need_sizes = max(need_sizes, e0_params + 1)
    if law != "reuse" and sizes.size < need_sizes:
        names = ", ".join(_size_names(cs))
        where = " (after holding out the predicted sizes)" if scenario == "inter" else ""
        raise UserError(
            f"law {law!r} needs curves of at least {need_sizes} distinct model sizes{where}; got "
            f"{sizes.size} ({names}). Why: {req.why}"
        )
    short = []
    for i, lab in enumerate(cs.labels):
        m = cs.curve == i
        x = cs.X[m]
        nx = np.unique(x[x > 0]).size if law == "sigmoid" else np.unique(x).size
        if int(m.sum()) < req.points_per_curve or nx < req.distinct_x_per_curve:
            short.append(f"{lab} ({int(m.sum())} points, {nx} distinct {cs.x_name})")
    if short:
        what = "fitted part of each curve" if scenario == "intra" else "each curve"
        raise UserError(
            f"law {law!r} needs >= {req.points_per_curve} points with >= {req.distinct_x_per_curve} "
            f"distinct {cs.x_name} values in {what}; too few in: {', '.join(short[:8])}"
            + (f" and {len(short) - 8} more" if len(short) > 8 else "")
            + f". Why: {req.why}"
        )
    n_params = req.shared_params + (e0_params - 2 if law == "paper-parametric" else 0)
    n_params += req.params_per_curve * cs.n_curves
    n_obs = sizes.size if law == "gain" else cs.n_points
    if n_obs <= n_params:
        raise UserError(
            f"law {law!r}: {n_obs} {'sizes' if law == 'gain' else 'points'} for {n_params} parameters "
            "leaves no degree of freedom to test the fit"
        )


def _size_names(cs: CurveSet) -> list[str]:
    out: list[str] = []
    for i in np.argsort(cs.curve_N, kind="stable"):
        name = size_key(cs, int(i))
        if name not in out:
            out.append(name)
    return out


def size_key(cs: CurveSet, i: int) -> str:
    """The one spelling of curve i's size: its `size` column when the table has one, else the
    parameter count as '7B' / '85M' (data.size_label)."""
    from rlscaling.fit.data import size_label

    k = cs.keys[i] if cs.keys else {}
    s = k.get("size")
    return str(s) if s not in (None, "") else size_label(float(cs.curve_N[i]))


def pooled_columns(cs: CurveSet, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Grouping columns (other than NEUTRAL_COLUMNS and `skip`) whose values differ between curves
    of the same size N: column -> sorted distinct values over those sizes."""
    out: dict[str, set[str]] = {}
    if not cs.keys:
        return {}
    for n in np.unique(cs.curve_N):
        idx = np.flatnonzero(np.isclose(cs.curve_N, n))
        if idx.size < 2:
            continue
        for col in cs.keys[idx[0]]:
            if col in NEUTRAL_COLUMNS or col in skip:
                continue
            vals = {str(cs.keys[i].get(col)) for i in idx}
            if len(vals) > 1:
                out.setdefault(col, set()).update(vals)
    return {c: sorted(v) for c, v in out.items()}


def refuse_pooling(cs: CurveSet, skip: tuple[str, ...] = ()) -> None:
    """UserError naming the column(s) to choose with --where when curves of one size differ in them."""
    cols = pooled_columns(cs, skip)
    if not cols:
        return
    parts = [f"{c} ({', '.join(v[:8])}{', ...' if len(v) > 8 else ''})" for c, v in cols.items()]
    hint = " ".join(f"--where {c}={v[0]}" for c, v in cols.items())
    raise UserError(
        f"curves of the same model size differ in {'; '.join(parts)}: pooling them would mix "
        f"experiments into one size. Fit one group at a time, e.g. {hint}"
    )


# --------------------------------------------------------------------------------------------------
# intervals

# FIT.json `params` entries that are observations, not estimates (their bootstrap spread is the data)
OBSERVED_PREFIXES = ("gain/", "base_pass_at_1/", "final_pass_at_1/")


def interval_flags(
    params: dict[str, float],
    ci95: dict[str, list[float] | None] | None,
    bounds: dict[str, tuple[float, float, bool]],
    *,
    rtol: float = 1e-6,
) -> list[dict[str, Any]]:
    """Flags for parameters (flat names, as bootstrap.flatten) whose estimate or 95 % interval ends
    at an optimizer bound, or whose interval has zero width.

    bounds: name -> (lo, hi, log) where log says the optimizer works in log10 of the parameter
    (N0, B, X_mid): closeness is judged there, relative to the width of the bounded range. Returns
    dicts {param, kind: 'estimate_at_bound' | 'ci_at_bound' | 'zero_width', value, ci, bound}."""
    out: list[dict[str, Any]] = []
    ci95 = ci95 or {}
    for name, value in params.items():
        if name.startswith(OBSERVED_PREFIXES) or not np.isfinite(value):
            continue
        ci = ci95.get(name)
        b = bounds.get(name)
        if b is not None:
            lo, hi, log = b
            t = np.log10 if log else (lambda v: v)

            def at(v: float, edge: float, t=t, lo=lo, hi=hi) -> bool:
                if not (np.isfinite(v) and np.isfinite(edge)) or (t is np.log10 and v <= 0):
                    return False
                return abs(float(t(v)) - float(t(edge))) <= 1e-3 * abs(float(t(hi)) - float(t(lo)))

            hit = [e for e in (lo, hi) if at(value, e)]
            if hit:
                out.append(_flag(name, "estimate_at_bound", value, ci, hit[0]))
            elif ci is not None and (at(ci[0], lo) or at(ci[1], hi)):
                out.append(_flag(name, "ci_at_bound", value, ci, lo if at(ci[0], lo) else hi))
        if ci is not None and abs(ci[1] - ci[0]) <= rtol * max(abs(value), 1e-12):
            out.append(_flag(name, "zero_width", value, ci, None))
    return out


def _flag(name: str, kind: str, value: float, ci: list[float] | None, bound: float | None) -> dict[str, Any]:
    return {"param": name, "kind": kind, "value": float(value), "ci": ci, "bound": bound}


_KIND_TEXT = {
    "estimate_at_bound": "estimate sits at the optimizer bound {bound:.4g}: the data do not pin it "
    "(the true value may lie beyond)",
    "ci_at_bound": "95% interval [{lo:.4g}, {hi:.4g}] ends at the optimizer bound {bound:.4g}: "
    "it is cut by the bound, not by the data",
    "zero_width": "95% interval [{lo:.4g}, {hi:.4g}] has zero width: every resample gave the same "
    "value (too few units to resample), not a certainty",
}


def flag_notes(flags: list[dict[str, Any]]) -> list[str]:
    """One note per (kind, parameter family), e.g. 'interval flag: N0 estimate sits at ...';
    per-curve parameters of one family ('A/7B', 'A/14B') share a note listing the curves."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in flags:
        fam = f["param"].split("/")[0].split("[")[0]
        groups.setdefault((f["kind"], fam), []).append(f)
    out = []
    for (kind, fam), fs in groups.items():
        f = fs[0]
        ci = f["ci"] or [float("nan"), float("nan")]
        text = _KIND_TEXT[kind].format(
            bound=f["bound"] if f["bound"] is not None else float("nan"), lo=ci[0], hi=ci[1]
        )
        if len(fs) == 1:
            out.append(f"interval flag: {f['param']} {text}")
        else:
            names = ", ".join(x["param"] for x in fs[:6]) + (", ..." if len(fs) > 6 else "")
            out.append(f"interval flag: {fam} of {len(fs)} curves ({names}): {text.split(':')[0]}")
    return out
