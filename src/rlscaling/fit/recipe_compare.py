"""Which RL recipe scales better: ScaleRL's sigmoid per recipe and size, and the differences.

    rlscaling compare-recipes CURVES -o OUT.json [--figures DIR] [--where COL=VALUE] [--reference R]
                              [--bootstrap B] [--seed S]

CURVES is a curves table with a `recipe` column (a study that sweeps `recipe`; rows of one benchmark,
chosen with --where bench=...). For every size and recipe, the pass rate R = 1 - L against RL compute
C (FLOPs) gets ScaleRL's sigmoid (rlscaling.fit.sigmoid):

    R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B)

pooled over the recipe's replicates (every replicate's points in one least-squares fit). A is the
asymptotic pass rate, B the steepness, C_mid the compute at half the gain A - R0, and the efficiency
B / C_mid (per FLOP; a larger value rises sooner). Every number carries a 95% percentile-bootstrap
interval: where the table has replicates (a `replicate` / `seed` column with several values), the
resample draws replicates with replacement, the same draw for every recipe of a size (replicate k of
every recipe starts from the same base model, so differences are paired); without replicates it draws
points within each curve. An interval whose end lies on an optimizer bound (A at 0 or 1, B at its
search limits, C_mid two decades below or three above the compute range) is flagged `at_bound`: the
data do not pin that parameter. With few replicates the percentile bootstrap over replicates is
narrower than 95% (on synthetic sigmoid curves with 3 replicates it covered the true A in 8 of 10
tables, B in 6; with 8 replicates 9 and 10): read a 3-replicate interval as a lower bound on the
uncertainty.

Differences from the reference recipe (--reference; default grpo when present, else the first recipe
in the table): A (recipe - reference, in pass rate) and the efficiency (log10 of recipe / reference),
each with its paired interval and a verdict: better (interval above 0), worse (below 0) or
undetermined (it straddles 0, or either recipe's parameter is at a bound, or there is no interval).

Extrapolation (ScaleRL's check): each recipe's sigmoid is fitted on the steps up to half of the last
evaluated step and scored on the later points (RMSE of R, and the predicted against the observed mean
R at the last step). `ranking_holds` says whether the recipes' order by the early fit's predicted
final R is the order observed at the last step.

Figures (--figures DIR): recipe_curves.png (the points and fitted sigmoid of every recipe, one panel per
size) and recipe_asymptote_efficiency.png (A against efficiency, 95% intervals as error bars).
"""

from __future__ import annotations

import math
import os
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rlscaling.curves_table import REPLICATE_COLUMNS  # noqa: E402
from rlscaling.errors import UserError  # noqa: E402
from rlscaling.fit import sigmoid  # noqa: E402
from rlscaling.fit.bootstrap import percentile_interval  # noqa: E402

RECIPE_COLUMN = "recipe"
DEFAULT_REFERENCE = "grpo"
DEFAULT_BOOTSTRAP = 200
PARAMS = ("R0", "A", "B", "C_mid", "efficiency")
# a value or interval end this close to an optimizer bound is at it: A and R0 (pass rate), B and
# C_mid (decades)
BOUND_TOLERANCE = 1e-3
LOG_BOUND_TOLERANCE = 0.01
FIGURES = ("recipe_curves", "recipe_asymptote_efficiency")


# --------------------------------------------------------------------------------------------------
# the table


def prepare(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Rows with a recipe, C >= 0 and a pass rate, as columns size, N, recipe, rep, step, C, R; and the
    replicate column (None without replicates). Raises UserError naming a missing column."""
    for col in (RECIPE_COLUMN, "C", "step"):
        if col not in df.columns or not df[col].notna().any():
            raise UserError(
                f"compare-recipes: the curves table has no {col!r} column with values (a study that sweeps "
                f"recipe has one); columns: {sorted(map(str, df.columns))}"
            )
    if "L" in df.columns and df["L"].notna().any():
        R = 1.0 - df["L"].astype(float)
    elif "pass_at_1" in df.columns:
        R = df["pass_at_1"].astype(float)
    else:
        raise UserError("compare-recipes: the curves table has neither an 'L' nor a 'pass_at_1' column")
    if "bench" in df.columns and df["bench"].nunique() > 1:
        raise UserError(
            f"compare-recipes: the table holds several benchmarks ({sorted(df['bench'].unique())}); "
            "choose one with --where bench=NAME"
        )
    size = df["size"].astype(str) if "size" in df.columns else df["N"].map(lambda n: f"{float(n):.3g}")
    N = df["N"].astype(float) if "N" in df.columns else pd.Series(np.nan, index=df.index)
    rep_col = next(
        (
            c
            for c in REPLICATE_COLUMNS
            if c in df.columns and df.groupby([size, df[RECIPE_COLUMN]])[c].nunique().max() > 1
        ),
        None,
    )
    out = pd.DataFrame(
        {
            "size": size,
            "N": N,
            "recipe": df[RECIPE_COLUMN].astype(str),
            "rep": df[rep_col].astype(str) if rep_col else "0",
            "step": df["step"].astype(float),
            "C": df["C"].astype(float),
            "R": R,
        }
    )
    out = out[np.isfinite(out["C"]) & (out["C"] >= 0) & np.isfinite(out["R"])]
    if out.empty:
        raise UserError("compare-recipes: no row has a finite C >= 0 and a pass rate")
    if out["recipe"].nunique() < 2:
        raise UserError(
            f"compare-recipes: one recipe in the table ({out['recipe'].unique().tolist()}); "
            "at least 2 to compare"
        )
    return out, rep_col


# --------------------------------------------------------------------------------------------------
# fits


def fit(C: np.ndarray, R: np.ndarray, start: dict[str, float] | None = None) -> dict[str, float] | None:
    """The sigmoid of one (pooled) curve as {R0, A, B, C_mid, efficiency}; None when it has too few
    points (fewer than 4, or fewer than 2 distinct C > 0)."""
    try:
        p = sigmoid.fit_curve(C, R, None if start is None else {**start, "X_mid": start["C_mid"]})
    except UserError:
        return None
    return {"R0": p["R0"], "A": p["A"], "B": p["B"], "C_mid": p["X_mid"], "efficiency": p["B"] / p["X_mid"]}


def _bounds(C: np.ndarray) -> dict[str, tuple[float, float, bool]]:
    lo, hi = sigmoid._log_xmid_bounds(C)
    return {
        "R0": (0.0, 1.0, False),
        "A": (0.0, 1.0, False),
        "B": (10.0 ** sigmoid.LOG_B_BOUNDS[0], 10.0 ** sigmoid.LOG_B_BOUNDS[1], True),
        "C_mid": (10.0**lo, 10.0**hi, True),
    }


def _at_bound(values: list[float], bound: tuple[float, float, bool]) -> bool:
    lo, hi, log = bound
    for v in values:
        if v is None or not np.isfinite(v):
            continue
        if log:
            if min(math.log10(v / lo), math.log10(hi / v)) < LOG_BOUND_TOLERANCE:
                return True
        elif min(v - lo, hi - v) < BOUND_TOLERANCE:
            return True
    return False


def _param(
    value: float | None, samples: np.ndarray, bound: tuple[float, float, bool] | None
) -> dict[str, Any]:
    ci = percentile_interval(samples) if samples.size else [None, None]
    out: dict[str, Any] = {"value": value, "ci95": ci}
    if bound is not None:
        out["at_bound"] = _at_bound([value, *ci], bound)
    return out


def _verdict(ci: list[float | None], blocked: bool) -> str:
    lo, hi = ci
    if blocked or lo is None or hi is None:
        return "undetermined"
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "undetermined"


def _draws(
    g: pd.DataFrame, rng: np.random.Generator, n: int, by_replicate: bool
) -> list[dict[str, pd.DataFrame]]:
    """n bootstrap versions of one size's curves, recipe -> its rows. With replicates: one draw of
    replicate labels per resample, shared by every recipe (paired); else points within each recipe."""
    recipes = list(dict.fromkeys(g["recipe"]))
    out = []
    reps = sorted(g["rep"].unique())
    for _ in range(n):
        if by_replicate:
            pick = rng.choice(reps, size=len(reps), replace=True)
            out.append(
                {r: pd.concat([g[(g["recipe"] == r) & (g["rep"] == k)] for k in pick]) for r in recipes}
            )
        else:
            d = {}
            for r in recipes:
                rows = g[g["recipe"] == r]
                d[r] = rows.iloc[rng.integers(0, len(rows), len(rows))]
            out.append(d)
    return out


def compare(
    df: pd.DataFrame, *, reference: str | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> dict[str, Any]:
    """The comparison of every recipe in a curves DataFrame (see the module doc). Returns a JSON-able dict."""
    if bootstrap < 0:
        raise UserError(f"--bootstrap {bootstrap}: must be >= 0")
    t, rep_col = prepare(df)
    recipes = list(dict.fromkeys(t["recipe"]))
    if reference is None:
        reference = DEFAULT_REFERENCE if DEFAULT_REFERENCE in recipes else recipes[0]
    if reference not in recipes:
        raise UserError(f"--reference {reference}: not a recipe of the table (recipes: {', '.join(recipes)})")
    rng = np.random.default_rng(seed)
    sizes: dict[str, Any] = {}
    for size, g in sorted(
        t.groupby("size", sort=False),
        key=lambda kv: float(kv[1]["N"].iloc[0]) if kv[1]["N"].notna().any() else 0,
    ):
        sizes[str(size)] = _compare_size(g, recipes, reference, bootstrap, rng, rep_col is not None)
    return {
        "law": "R(C) = R0 + (A - R0) / (1 + (C_mid / C)^B); efficiency = B / C_mid",
        "x": "C",
        "reference": reference,
        "recipes": recipes,
        "replicate_column": rep_col,
        "bootstrap": {"resamples": bootstrap, "unit": "replicates" if rep_col else "points", "seed": seed},
        "sizes": sizes,
    }


def _compare_size(
    g: pd.DataFrame,
    recipes: list[str],
    reference: str,
    bootstrap: int,
    rng: np.random.Generator,
    by_rep: bool,
) -> dict[str, Any]:
    present = [r for r in recipes if (g["recipe"] == r).any()]
    bounds = _bounds(g["C"].to_numpy())
    full: dict[str, dict[str, float] | None] = {}
    for r in present:
        rows = g[g["recipe"] == r]
        full[r] = fit(rows["C"].to_numpy(), rows["R"].to_numpy())
    samples: dict[str, dict[str, list[float]]] = {r: {p: [] for p in PARAMS} for r in present}
    for draw in _draws(g, rng, bootstrap, by_rep):
        for r in present:
            p = fit(draw[r]["C"].to_numpy(), draw[r]["R"].to_numpy(), full[r]) if full[r] else None
            for k in PARAMS:
                samples[r][k].append(np.nan if p is None else p[k])
    last = g["step"].max()
    out_recipes: dict[str, Any] = {}
    for r in present:
        rows = g[g["recipe"] == r]
        entry: dict[str, Any] = {
            "replicates": int(rows["rep"].nunique()),
            "points": len(rows),
            "observed_final_R": _mean_at(rows, rows["step"].max()),
        }
        if full[r] is None:
            entry["fit"] = "too few points (a sigmoid needs 4, with 2 distinct C > 0)"
        for k in PARAMS:
            value = None if full[r] is None else float(full[r][k])
            entry[k] = _param(value, np.asarray(samples[r][k], float), bounds.get(k))
        out_recipes[r] = entry
    diffs: dict[str, Any] = {}
    ref = out_recipes.get(reference)
    for r in present:
        if r == reference or ref is None:
            continue
        d: dict[str, Any] = {}
        for k, log in (("A", False), ("efficiency", True)):
            a, b = out_recipes[r][k]["value"], ref[k]["value"]
            sa, sb = np.asarray(samples[r][k], float), np.asarray(samples[reference][k], float)
            if log:
                value = None if a is None or b is None else float(math.log10(a / b))
                with np.errstate(divide="ignore", invalid="ignore"):
                    s = np.log10(sa / sb)
            else:
                value = None if a is None or b is None else float(a - b)
                s = sa - sb
            ci = percentile_interval(s) if s.size else [None, None]
            at = bool(out_recipes[r][k if k != "efficiency" else "B"].get("at_bound")) or bool(
                ref[k if k != "efficiency" else "B"].get("at_bound")
            )
            if k == "efficiency":
                at = at or bool(out_recipes[r]["C_mid"].get("at_bound")) or bool(ref["C_mid"].get("at_bound"))
            d[k] = {
                "value": value,
                "ci95": ci,
                "scale": "log10 ratio" if log else "difference",
                "verdict": _verdict(ci, at),
            }
        diffs[r] = d
    return {
        "N": None if not g["N"].notna().any() else float(g["N"].iloc[0]),
        "recipes": out_recipes,
        "differences": {"reference": reference, **diffs},
        "extrapolation": _extrapolation(g, present, last),
    }


def _mean_at(rows: pd.DataFrame, step: float) -> float | None:
    at = rows[rows["step"] == step]["R"]
    return None if at.empty else float(at.mean())


def _extrapolation(g: pd.DataFrame, present: list[str], last: float) -> dict[str, Any]:
    """Fit each recipe on steps <= last / 2, score on the later points and the last step."""
    cut = last / 2.0
    per: dict[str, Any] = {}
    for r in present:
        rows = g[g["recipe"] == r]
        early, late = rows[rows["step"] <= cut], rows[rows["step"] > cut]
        p = fit(early["C"].to_numpy(), early["R"].to_numpy())
        final = rows[rows["step"] == rows["step"].max()]
        if p is None or late.empty:
            per[r] = {
                "fit": "too few early points",
                "predicted_final_R": None,
                "observed_final_R": _mean_at(rows, rows["step"].max()),
            }
            continue
        pred_late = sigmoid.sigmoid_R(late["C"].to_numpy(), p["R0"], p["A"], p["B"], p["C_mid"])
        pred_final = sigmoid.sigmoid_R(final["C"].to_numpy(), p["R0"], p["A"], p["B"], p["C_mid"])
        per[r] = {
            "A": p["A"],
            "efficiency": p["efficiency"],
            "rmse_late": float(np.sqrt(np.mean((pred_late - late["R"].to_numpy()) ** 2))),
            "predicted_final_R": float(np.mean(pred_final)),
            "observed_final_R": float(final["R"].mean()),
        }
    ranked = [r for r in present if per[r].get("predicted_final_R") is not None]
    predicted = sorted(ranked, key=lambda r: -per[r]["predicted_final_R"])
    observed = sorted(ranked, key=lambda r: -per[r]["observed_final_R"])
    return {
        "fit_steps": f"<= {cut:g}",
        "scored_steps": f"> {cut:g}",
        "recipes": per,
        "predicted_ranking": predicted,
        "observed_ranking": observed,
        "ranking_holds": None if len(ranked) < 2 else predicted == observed,
    }


def _fmt(p: dict[str, Any], f: str = "{:.3g}") -> str:
    lo, hi = p["ci95"]
    v = "n/a" if p["value"] is None else f.format(p["value"])
    flag = " (at bound)" if p.get("at_bound") else ""
    return (v if lo is None else f"{v} [{f.format(lo)}, {f.format(hi)}]") + flag


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per size and recipe, and the differences' verdicts."""
    lines = []
    for size, s in result["sizes"].items():
        for r, e in s["recipes"].items():
            lines.append(f"{size} {r}: A {_fmt(e['A'])}, B {_fmt(e['B'])}, C_mid {_fmt(e['C_mid'])}")
        for r, d in s["differences"].items():
            if r == "reference":
                continue
            lines.append(
                f"{size} {r} vs {result['reference']}: A {d['A']['verdict']} ({_fmt(d['A'])}), "
                f"efficiency {d['efficiency']['verdict']} ({_fmt(d['efficiency'])} log10)"
            )
        ex = s["extrapolation"]
        lines.append(
            f"{size} early-fit ranking holds: {ex['ranking_holds']} (predicted {ex['predicted_ranking']})"
        )
    return lines
