"""The study's checks: every claim summary.md makes, judged pass / FAIL / undetermined
(rlscaling.verdicts) or n/a, the design warnings apart from the verdicts, and the power estimate an
undetermined identification carries (see rlscaling.report for each claim and its line)."""

from __future__ import annotations

import math
from typing import Any

from rlscaling import verdicts
from rlscaling.errors import UserError
from rlscaling.io import finite_or_none
from rlscaling.report.runs import main_bench, run_summary, size_stats
from rlscaling.report.stats import pooled_gain_se, pooled_slope, t_quantile
from rlscaling.report.tables import fmt, fmt_value, with_ci, with_se

BASE_RANGE = (0.05, 0.60)
MIN_GAIN = 0.05
MIN_R2 = 0.9
# the claims (rlscaling.verdicts): pass when the 95% interval lies on the claimed side of the line,
# FAIL when it lies wholly beyond fail_line on the other side
GAIN_CLAIM = verdicts.Claim("RL gain", "above", 0.0, fail_line=MIN_GAIN, estimate_line=MIN_GAIN)
LOSS_TREND_CLAIM = verdicts.Claim("slope of final L on log10 N", "below", 0.0)
K_TREND_CLAIM = verdicts.Claim("slope of the runs' k on log10 N", "above", 0.0)
GAIN_CHECK = (
    f"RL gain for every size: 95% interval above 0 and mean >= {MIN_GAIN:.2f} "
    f"(FAIL: interval wholly below {MIN_GAIN:.2f})"
)
LOSS_CHECK = "final loss decreasing with N (slope of final L on log10 N: 95% interval below 0; FAIL: above 0)"
RISING_CHECK = "k(N) rising with N (K_max 95% interval above 0; FAIL: the runs' own k falls with N)"
IDENTIFIED_CHECK = "K_max and N0 identified (intervals clear of the fit's bounds, not of zero width)"
R2_CHECK = f"fit R² >= {MIN_R2} for every fit"


def checks(summary: Any, fits: list[dict[str, Any]], curves: Any = None) -> list[tuple[str, str, str]]:
    """(check, verdict, detail) for every claim the study makes (see rlscaling.report): verdict pass /
    FAIL / undetermined (rlscaling.verdicts), or n/a when the study cannot pose the claim. Sizes with
    several runs are judged on their mean, with replicates on its 95% interval. curves (the table the
    summary was made from): the runs' own slopes, which can contradict k(N) rising."""
    per_size = size_stats(summary)
    out = []
    if per_size["base"].isna().all():  # e.g. imported curves that start after step 0
        out.append((GAIN_CHECK, verdicts.NOT_APPLICABLE, "no step-0 evaluations"))
    else:
        out.append(_gain_check(per_size))
    return out + _later_checks(summary, per_size, fits, curves)


def design_warnings(summary: Any, curves: Any) -> list[str]:
    """Warnings about the study's design, apart from its verdicts: a size whose mean base pass@1 lies
    outside BASE_RANGE (too weak to learn from, or too strong to leave room for RL), a benchmark whose
    mean final pass@1 is below its floor (BASE_RANGE's low end: it cannot show a gain), and a study
    with one run per size (no interval for a gain: those verdicts stay undetermined)."""
    lo, hi = BASE_RANGE
    per_size = size_stats(summary)
    out = []
    if per_size["base"].isna().all():
        out.append("no step-0 evaluations: the base models' pass@1 is unknown")
    else:
        outside = [
            f"{s} {fmt(r['base'], 'p')}"
            for s, r in per_size.iterrows()
            if finite_or_none(r["base"]) is None or not lo <= r["base"] <= hi
        ]
        if outside:
            out.append(
                f"base pass@1 outside [{lo:.2f}, {hi:.2f}] (mean over replicates): {', '.join(outside)}; "
                "below it a model has too little skill for RL to build on, above it too little room to gain"
            )
    if curves is not None:
        floor = []
        for bench in sorted(set(curves["bench"])):
            final = run_summary(curves, bench)["final"]
            m = finite_or_none(final.mean())
            if m is not None and m < lo:
                floor.append(f"{bench} {m:.3f}")
        if floor:
            out.append(
                f"benchmark(s) at their floor, mean final pass@1 below {lo:.2f}: {', '.join(floor)}; "
                "such a benchmark cannot show what RL changed"
            )
    if "replicate" not in summary.columns or int(per_size["n"].min()) < 2:
        out.append(
            "one run per size: no replicate spread, so the RL gain has no interval and stays undetermined; "
            "`replicates: 2` or more decide it"
        )
    return out


def _gain_check(per_size: Any) -> tuple[str, str, str]:
    """GAIN_CLAIM per size on the size's mean gain and its 95% interval, the interval from the
    replicates' variance pooled over sizes (pooled_gain_se: Student t on sum (n_s - 1) dof); one run
    per size has no interval: undetermined."""
    pooled = pooled_gain_se(per_size)
    t = None if pooled is None else t_quantile(pooled[1])
    cells, results = [], []
    for s, r in per_size.iterrows():
        gain, se = finite_or_none(r["gain"]), finite_or_none(r["gain_se"])
        text = f"{s} {with_se(gain, se, 'd')}"
        if gain is None:
            v = verdicts.Verdict(verdicts.UNDETERMINED, "no gain")
        elif pooled is None or t is None:
            v = verdicts.Verdict(verdicts.UNDETERMINED, "one run: no interval")
        else:
            half = t * pooled[0][s]
            interval = (gain - half, gain + half)
            text += f" [{interval[0]:+.3f}, {interval[1]:+.3f}]"
            v = verdicts.judge(GAIN_CLAIM, gain, interval)
        results.append(v.verdict)
        cells.append(f"{text} {v.verdict}" + ("" if v.verdict == verdicts.PASS else f" ({v.reason})"))
    if pooled is None:
        note = " (one run per size: no replicate spread, no interval)"
    else:
        note = (
            f" (95% interval: Student t on {pooled[1]} dof, the replicates' variance pooled over sizes;"
            f" pooled SE per size {min(pooled[0].values()):.3f}–{max(pooled[0].values()):.3f})"
        )
    return (GAIN_CHECK, verdicts.combine(results), "; ".join(cells) + note)


def loss_trend(summary: Any) -> dict[str, Any] | None:
    """Least-squares line of every run's final L (= 1 - final pass@1) on log10 N: pooled_slope's
    {slope (per decade of N), se, ci95 [lo, hi], points, ...} plus sizes; None with fewer than 3
    points or 2 sizes."""
    import numpy as np

    d = summary[summary["final"].notna() & summary["N"].notna()]
    x = np.log10(d["N"].to_numpy(dtype=float))
    trend = pooled_slope([(x, 1.0 - d["final"].to_numpy(dtype=float))], min_dof=1)
    return None if trend is None else {**trend, "sizes": len(set(x))}


def _later_checks(
    summary: Any, per_size: Any, fits: list[dict[str, Any]], curves: Any = None
) -> list[tuple[str, str, str]]:
    out = []
    losses = [(s, r["L"]) for s, r in per_size.iterrows()]
    trend = loss_trend(summary)
    if trend is None:
        out.append((LOSS_CHECK, verdicts.NOT_APPLICABLE, "needs two sizes and three runs or more"))
    else:
        rises = [
            f"{a[0]} → {b[0]} {b[1] - a[1]:+.3f}"
            for a, b in zip(losses[:-1], losses[1:], strict=True)
            if b[1] >= a[1]
        ]
        v = verdicts.judge(LOSS_TREND_CLAIM, trend["slope"], trend["ci95"])
        lo, hi = trend["ci95"]
        detail = (
            f"slope {trend['slope']:+.3f} [{lo:+.3f}, {hi:+.3f}] per decade of N "
            f"over {trend['points']} runs{'' if v.verdict == verdicts.PASS else f' ({v.reason})'}; "
            + ", ".join(f"{s} {with_se(r['L'], r['L_se'], 'p')}" for s, r in per_size.iterrows())
        )
        if rises:
            detail += f"; rises: {', '.join(rises)}"
        out.append((LOSS_CHECK, v.verdict, detail))
    out += kn_checks(fits, curves)
    if not fits:
        out.append((R2_CHECK, verdicts.NOT_APPLICABLE, "no fits given"))
    else:
        r2 = [(str(f.get("_name")), f.get("r2")) for f in fits]
        bad = [f"{n} {fmt_value(v, 'p')}" for n, v in r2 if finite_or_none(v) is None or v < MIN_R2]
        out.append(
            (
                R2_CHECK,
                verdicts.FAIL if bad else verdicts.PASS,
                "below: " + ", ".join(bad) if bad else ", ".join(f"{n} {fmt_value(v, 'p')}" for n, v in r2),
            )
        )
    return out


def k_trend(curves: Any, x: str = "C") -> dict[str, Any] | None:
    """The runs' own k against N, free of the law: every run's slope k of log10 L on log10 x (steps
    >= 1, main benchmark, L in (0, 1)), then the least-squares slope of k on log10 N with its 95%
    interval (pooled_slope: {slope, se, ci95, points, ...} plus sizes). None with fewer than 3 runs
    of 2 evaluated points, 2 sizes, or without column x."""
    import numpy as np

    if curves is None or x not in curves.columns or "L" not in curves.columns:
        return None
    d = curves[(curves["bench"] == main_bench(curves)) & (curves["step"] >= 1)]
    d = d[(d["L"] > 0) & (d["L"] < 1) & (d[x] > 0)]
    ns, ks = [], []
    for _, g in d.groupby("run"):
        lx = np.log10(g[x].to_numpy(dtype=float))
        if len(g) < 2 or np.ptp(lx) == 0:
            continue
        ns.append(math.log10(float(g["N"].iloc[0])))
        ks.append(-float(np.polyfit(lx, np.log10(g["L"].to_numpy(dtype=float)), 1)[0]))
    if len(set(ns)) < 2:
        return None
    trend = pooled_slope([(np.array(ns), np.array(ks))], min_dof=1)
    return None if trend is None else {**trend, "sizes": len(set(ns)), "x": x}


def kn_checks(fits: list[dict[str, Any]], curves: Any = None) -> list[tuple[str, str, str]]:
    """k(N) rising with N, and K_max / N0 identified, over the fits that estimate K_max (n/a when none
    does). Rising: K_max's 95% interval above 0 (verdicts.fit_k_max_above_zero; an end at the bound
    never decides), FAIL when the runs' own slopes fall with N (k_trend's interval wholly below 0:
    the law, bounded at K_max = 0, cannot say so itself). Identified: verdicts.fit_identified, pass or
    undetermined."""
    kn = [f for f in fits if verdicts.fit_param(f, "K_max")[0] is not None]
    if not kn:
        return [
            (RISING_CHECK, verdicts.NOT_APPLICABLE, "no fit estimates K_max"),
            (IDENTIFIED_CHECK, verdicts.NOT_APPLICABLE, "no fit estimates K_max"),
        ]
    rising, rising_v, ident, ident_v = [], [], [], []
    trends: dict[str, dict[str, Any] | None] = {}
    for f in kn:
        n = str(f.get("_name"))
        v = verdicts.fit_k_max_above_zero(f)
        x = str(f.get("x") or "C")
        if x not in trends:
            trends[x] = k_trend(curves, x)
        trend = trends[x]
        text = f"{n} {with_ci(*verdicts.fit_param(f, 'K_max'), 'g')}: {v.verdict}"
        if v.verdict != verdicts.PASS:
            text += f" ({v.reason})"
        if trend is not None:
            t = verdicts.judge(K_TREND_CLAIM, trend["slope"], trend["ci95"])
            lo, hi = trend["ci95"]
            if t.verdict == verdicts.FAIL:
                v = verdicts.Verdict(verdicts.FAIL, t.reason)
                text += (
                    f"; FAIL: the runs' own slopes of log10 L on log10 {x} fall with N, "
                    f"{trend['slope']:+.3f} [{lo:+.3f}, {hi:+.3f}] per decade of N over "
                    f"{trend['points']} runs"
                )
        rising.append(text)
        rising_v.append(v.verdict)
        idv = verdicts.fit_identified(f)
        ident_v.append(idv.verdict)
        ident.append(f"{n} {idv.verdict}: {idv.reason}")
    return [
        (RISING_CHECK, verdicts.combine(rising_v), "; ".join(rising)),
        (IDENTIFIED_CHECK, verdicts.combine(ident_v), "; ".join(ident)),
    ]


def identification_power(df: Any, settings: Any = None) -> tuple[str, dict[str, Any] | None]:
    """For an undetermined identification: the replicates per size that would decide it and the
    identification rate at this design and larger ones (rlscaling.fit.power.identification_power on
    the main benchmark's steps >= 1), as a sentence and its record; or a sentence saying why it cannot
    be estimated (one run per size, too few evaluated steps, ...) and None."""
    from rlscaling.fit import power

    d = df[df["bench"] == main_bench(df)]
    if "replicate" not in d.columns or int(d.drop_duplicates("run").groupby("size").size().min()) < 2:
        return (
            "The replicates that would decide it cannot be estimated: one run per size leaves no "
            "run-to-run noise to simulate from (replicates: 2 or more measure it).",
            None,
        )
    try:
        record = power.identification_power(d, settings)
    except UserError as err:
        return f"The replicates that would decide it cannot be estimated: {err}.", None
    return power.power_text(record) + ".", record


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def judge_study(df: Any, fits: list[dict[str, Any]], power_settings: Any = None) -> dict[str, Any]:
    """The study's verdicts as summary.md and checks.json state them: {checks: [{check, verdict,
    detail, power?}], design_warnings: [text], counts: {verdict: n}}. An undetermined identification
    carries the power simulation's estimate (identification_power) in its detail and `power`."""
    summary = run_summary(df, main_bench(df))
    entries = [{"check": c, "verdict": v, "detail": d} for c, v, d in checks(summary, fits, df)]
    for e in entries:
        if e["check"] == IDENTIFIED_CHECK and e["verdict"] == verdicts.UNDETERMINED:
            text, record = identification_power(df, power_settings)
            e["detail"] += f". {text}"
            e["power"] = _json_safe(record)
    kinds = (*verdicts.VERDICTS, verdicts.NOT_APPLICABLE)
    counts = {v: sum(e["verdict"] == v for e in entries) for v in kinds}
    return {"checks": entries, "design_warnings": design_warnings(summary, df), "counts": counts}
