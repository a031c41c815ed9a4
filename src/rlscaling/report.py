"""Stage 7 (text): summary.md, the study's tables and checks in one Markdown file.

    rlscaling report --study-dir S --curves S/curves.parquet --fits S/fits/A.json ... -o S/summary.md

Sections:
- study table: per run, size, N, N_nonembed, base pass@1 (step 0) and final pass@1 on the main
  benchmark (`heldout`, else the first one), the gain, pass@k at the final step, pre-training FLOPs
  and RL FLOPs (final cumulative C);
- per-size table: base, final pass@1, gain and final L per size as mean ± standard error over the
  size's replicates (runs of a study with `replicates` > 1; one run: the value alone);
- per-benchmark table: base vs final pass@1 of every run on every benchmark;
- fit table: one row per fit JSON (law, x, scenario, K_max and N0 with 95% intervals, R^2 linear and
  log, points, held-out error of prediction scenarios);
- checks: every claim the study makes, with a three-valued verdict (rlscaling.verdicts): pass (the
  data support it at 95%), FAIL (the data contradict it), undetermined (the data cannot decide:
  the interval straddles the line, there is none, or an optimizer bound cuts it), n/a (the study
  cannot pose it). Judged with the replicates' error where the study has replicates:
  RL gain per size: 95% interval above 0 and mean >= 0.05 (Student t with the replicates' variance
  pooled over sizes: Σ (runs per size - 1) degrees of freedom), FAIL when the interval lies wholly
  below 0.05; final loss falling with N as a trend (least-squares slope of every run's final L on
  log10 N: 95% interval below 0, FAIL above 0); k(N) rising with N (K_max's 95% interval above 0,
  k(N) = K_max·N/(N+N0); FAIL when the runs' own slopes of log10 L on log10 C fall with N at 95%);
  K_max and N0 identified (intervals clear of the fit's optimizer bounds, not of zero width: pass or
  undetermined; an undetermined one states the replicates per size that would decide it and the
  identification rate with its Wilson interval, from a small power simulation of the study's own
  noise, rlscaling.fit.power); every fit's R^2 >= 0.9 (a value without interval: FAIL below);
- design warnings, apart from the verdicts: a size's mean base pass@1 outside [0.05, 0.60], a
  benchmark whose mean final pass@1 is below 0.05, one run per size;
- the data stage's record (scalar entries of S/data/report.json), when present;
- wall time per stage, summed from Snakemake's benchmark files S/benchmarks/**/*.tsv;
- links to the figures S/figures/*.png that exist.

`--checks-json S/checks.json` writes the same verdicts as JSON (atomically): {study, summary, checks:
[{check, verdict, detail, power?}], design_warnings, counts}. `rlscaling report --check S` (a study
folder, its checks.json or its summary.md) prints every verdict and exits 1 when one is FAIL, 0
otherwise (pass, undetermined, n/a): for CI, after the study.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

from rlscaling import verdicts
from rlscaling.errors import UserError
from rlscaling.io import finite_or_none, read_json_object

BASE_RANGE = (0.05, 0.60)
MIN_GAIN = 0.05
MIN_R2 = 0.9
MAIN_BENCH = "heldout"
CONFIDENCE = 0.95
IDENTIFIED_PARAMS = verdicts.IDENTIFIED_PARAMS
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
LEGEND = (
    "pass: the data support the claim at 95%; **FAIL**: the data contradict it; undetermined: the data "
    "cannot decide (the interval straddles the line, there is no interval, or an optimizer bound cuts "
    "it); n/a: the study cannot pose the claim. `rlscaling report --check` exits 1 on a FAIL only."
)


def t_quantile(dof: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided Student t quantile for `dof` degrees of freedom (4.30 for 2 at 95%)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, dof))


def mean_se(values: Any) -> tuple[float | None, float | None, int]:
    """(mean, standard error of the mean, n) of the finite values; the error is None below 2 values."""
    vals = [float(v) for v in values if finite_or_none(v) is not None]
    if not vals:
        return None, None, 0
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, None, len(vals)
    var = sum((v - m) ** 2 for v in vals) / (len(vals) - 1)
    return m, math.sqrt(var / len(vals)), len(vals)


# --------------------------------------------------------------------------------------------------
# formatting


def fmt(x: Any, kind: str = "g") -> str:
    """A table cell: '–' for missing; kind 'p' (probability, 3 decimals), 'e' (FLOPs / counts,
    3 significant digits in scientific notation), 's' (seconds), 'g' (general, 4 significant)."""
    if isinstance(x, str):
        return x.replace("|", "\\|")
    v = finite_or_none(x)
    if v is None:
        return "–"
    if kind == "p":
        return f"{v:.3f}"
    if kind == "e":
        return f"{v:.3e}"
    if kind == "s":
        return f"{v:.1f}"
    if kind == "d":
        return f"{v:+.3f}"
    return f"{v:.4g}"


def fmt_value(x: Any, kind: str = "g") -> str:
    """A cell for a value read from a JSON file (FIT.json), where a missing value is absent or null and
    NaN / infinity is a broken number: shown as **NaN** / **inf**, never as '–' (missing)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isfinite(x):
        return "**NaN**" if math.isnan(x) else f"**{'+' if x > 0 else '-'}inf**"
    return fmt(x, kind)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# inputs


def load_curves(path: str | Path) -> Any:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--curves: {path} does not exist")
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad input file
        raise UserError(f"{path}: cannot be read as parquet ({err})") from None
    for col in ("run", "size", "N", "step", "bench", "pass_at_1"):
        if col not in df.columns:
            raise UserError(f"{path}: missing column `{col}`")
    if df.empty:
        raise UserError(f"{path}: has no rows")
    from rlscaling.curves import check_table

    return check_table(df, path)  # pass@1 and L in [0, 1] on every row (NaN too is refused)


def load_fit(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--fits: {path} does not exist")
    obj = read_json_object(path)
    obj.setdefault("_name", path.name.removesuffix(".json"))
    return obj


def stage_times(study_dir: Path) -> list[dict[str, Any]]:
    """Per stage (first folder / file stem under S/benchmarks): jobs, summed seconds, max RSS (MB)."""
    import pandas as pd

    root = study_dir / "benchmarks"
    stages: dict[str, dict[str, Any]] = {}
    for tsv in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rel = tsv.relative_to(root)
        stage = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        try:
            df = pd.read_csv(tsv, sep="\t")
        except Exception as err:  # noqa: BLE001
            raise UserError(f"{tsv}: cannot be read as a Snakemake benchmark file ({err})") from None
        if "s" not in df.columns:
            raise UserError(f"{tsv}: missing column `s` (Snakemake benchmark file)")
        st = stages.setdefault(stage, {"stage": stage, "jobs": 0, "seconds": 0.0, "max_rss": None})
        st["jobs"] += 1
        st["seconds"] += float(pd.to_numeric(df["s"], errors="coerce").fillna(0).sum())
        if "max_rss" in df.columns:
            rss = pd.to_numeric(df["max_rss"], errors="coerce").max()
            if finite_or_none(rss) is not None:
                st["max_rss"] = max(st["max_rss"] or 0.0, float(rss))
    return sorted(stages.values(), key=lambda s: -s["seconds"])


def _job_seconds(tsv: Path) -> float:
    import pandas as pd

    return float(pd.to_numeric(pd.read_csv(tsv, sep="\t")["s"], errors="coerce").fillna(0).sum())


def base_model_of_runs(df: Any) -> dict[str, str]:
    """run -> the key of its base model under models/ (curves' `model` column, else the run's size)."""
    col = "model" if "model" in df.columns else "size"
    return dict(zip(df["run"], df[col], strict=True))


def critical_path(study_dir: Path, runs: dict[str, str]) -> dict[str, Any] | None:
    """The longest chain of jobs (seconds, from the Snakemake benchmark files): data, tokenizer, one run's
    pre-training, its training segments up to an evaluated step, that evaluation, then curves, the longest
    fit (or compare / allocate), figures and the report. runs: run name -> base model key
    (base_model_of_runs). None without benchmarks.
    Returns {seconds, run, step, chain: [(job, seconds)], total_job_seconds}."""
    root = study_dir / "benchmarks"
    if not root.is_dir():
        return None
    sec = {tsv.relative_to(root).with_suffix("").as_posix(): _job_seconds(tsv) for tsv in root.rglob("*.tsv")}
    head = [(k, sec[k]) for k in ("data", "tokenizer") if k in sec]
    analyses = [k for k in sec if k.startswith(("fit/", "allocate/")) or k == "compare"]
    tail = [("curves", sec.get("curves", 0.0))]
    if analyses:
        longest = max(analyses, key=lambda k: sec[k])
        tail.append((longest, sec[longest]))
    tail += [(k, sec[k]) for k in ("figures",) if k in sec]
    best: tuple[float, list[tuple[str, float]], str, int] | None = None
    for run, model in runs.items():
        chain = [(k, sec[k]) for k in [f"pretrain/{model}"] if k in sec]  # none for hub base models
        steps = sorted(int(k.rsplit("_", 1)[1]) for k in sec if k.startswith(f"train/{run}/step_"))
        evals = {int(k.rsplit("_", 1)[1]): sec[k] for k in sec if k.startswith(f"evaluate/{run}/step_")}
        for step in sorted(evals):
            segs = [(key, sec[key]) for t in steps if t <= step for key in [f"train/{run}/step_{t:06d}"]]
            path = head + chain + segs + [(f"evaluate/{run}/step_{step:06d}", evals[step])] + tail
            total = sum(t for _, t in path)
            if best is None or total > best[0]:
                best = (total, path, run, step)
    if best is None:
        return None
    return {"seconds": best[0], "run": best[2], "step": best[3], "chain": best[1],
            "total_job_seconds": sum(sec.values())}  # fmt: skip


def critical_path_text(cp: dict[str, Any]) -> str:
    """summary.md's lines on the critical path: its length, the jobs on it grouped by stage."""
    stages: dict[str, list[float]] = {}
    for job, t in cp["chain"]:
        stages.setdefault(job.split("/")[0], []).append(t)
    parts = []
    for st, ts in stages.items():
        parts.append(f"{st} {fmt(sum(ts), 's')} s" + (f" ({len(ts)} jobs)" if len(ts) > 1 else ""))
    return (
        f"Critical path: {fmt(cp['seconds'], 's')} s, run `{cp['run']}` to its evaluation at step "
        f"{cp['step']}: "
        + ", ".join(parts)
        + f". All jobs sum to {fmt(cp['total_job_seconds'], 's')} s, so the study needs at least "
        f"max(critical path, job seconds / cores) of wall time."
    )


# --------------------------------------------------------------------------------------------------
# the tables


def main_bench(df: Any) -> str:
    benches = sorted(set(df["bench"]))
    return MAIN_BENCH if MAIN_BENCH in benches else benches[0]


def run_summary(df: Any, bench: str) -> Any:
    """Per run on `bench`: size, N, N_nonembed, base / final pass@1, gain, final pass@k, C_pretrain,
    final C (pandas DataFrame, runs ordered by N then name)."""
    import pandas as pd

    d = df[df["bench"] == bench]
    k_cols = sorted(
        (c for c in d.columns if c.startswith("pass_at_") and c != "pass_at_1"), key=lambda c: int(c[8:])
    )
    rows = []
    for run, g in d.groupby("run", sort=False):
        g = g.sort_values("step")
        first, last = g.iloc[0], g.iloc[-1]
        base = first["pass_at_1"] if int(first["step"]) == 0 else float("nan")
        row = {
            "run": run,
            "size": last["size"],
            "N": last["N"],
            "N_nonembed": last.get("N_nonembed"),
            "base": base,
            "final": last["pass_at_1"],
            "final_step": int(last["step"]),
            "gain": last["pass_at_1"] - base,
            "C_pretrain": last.get("C_pretrain"),
            "C": last.get("C"),
        }
        if "replicate" in g.columns:
            row["replicate"] = int(last["replicate"])
        for c in k_cols:
            row[c] = last[c]
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["N", "run"], kind="stable").reset_index(drop=True)


def study_table(summary: Any) -> str:
    k_cols = [c for c in summary.columns if c.startswith("pass_at_")]
    header = ["run", "size", "N", "N_nonembed", "base pass@1", "final pass@1", "gain"]
    header += [f"pass@{c[8:]} (final)" for c in k_cols] + ["pretrain FLOPs", "RL FLOPs (final C)"]
    rows = []
    for _, r in summary.iterrows():
        cells = [
            fmt(r["run"]),
            fmt(str(r["size"])),
            fmt(r["N"], "e"),
            fmt(r["N_nonembed"], "e"),
            fmt(r["base"], "p"),
            fmt(r["final"], "p"),
            fmt(r["gain"], "d"),
        ]
        cells += [fmt(r[c], "p") for c in k_cols] + [fmt(r["C_pretrain"], "e"), fmt(r["C"], "e")]
        rows.append(cells)
    return table(header, rows)


def size_stats(summary: Any) -> Any:
    """Per size (ordered by N): N, runs (n), and mean / standard error over the size's runs of base,
    final, gain and final L (= 1 - final). The error is kept only when the runs are replicates (the
    table has a `replicate` column: a study with replicates > 1); otherwise it is None."""
    import pandas as pd

    replicated = "replicate" in summary.columns
    rows = []
    for size, g in summary.groupby("size", sort=False):
        row: dict[str, Any] = {"size": size, "N": g["N"].iloc[0], "n": len(g)}
        for col in ("base", "final", "gain"):
            m, se, _ = mean_se(g[col])
            row[col], row[f"{col}_se"] = m, se if replicated else None
        row["L"] = None if row["final"] is None else 1.0 - row["final"]
        row["L_se"] = row["final_se"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("N", kind="stable").set_index("size")


def _pm(value: Any, se: Any, kind: str) -> str:
    """'0.329 ± 0.020' (or the value alone without an error)."""
    text = fmt(value, kind)
    return text if finite_or_none(se) is None else f"{text} ± {fmt(se, 'p')}"


def size_table(stats: Any) -> str:
    header = ["size", "N", "runs", "base pass@1", "final pass@1", "gain", "final L"]
    rows = [
        [
            fmt(str(size)),
            fmt(r["N"], "e"),
            str(int(r["n"])),
            _pm(r["base"], r["base_se"], "p"),
            _pm(r["final"], r["final_se"], "p"),
            _pm(r["gain"], r["gain_se"], "d"),
            _pm(r["L"], r["L_se"], "p"),
        ]
        for size, r in stats.iterrows()
    ]
    return table(header, rows)


def bench_table(df: Any) -> str:
    benches = sorted(set(df["bench"]))
    header = ["run", "size"] + [f"{b} base → final" for b in benches]
    rows = []
    per_bench = {b: run_summary(df, b).set_index("run") for b in benches}
    order = run_summary(df, benches[0])
    for _, r in order.iterrows():
        cells = [fmt(r["run"]), fmt(str(r["size"]))]
        for b in benches:
            s = per_bench[b]
            if r["run"] in s.index:
                x = s.loc[r["run"]]
                cells.append(f"{fmt(x['base'], 'p')} → {fmt(x['final'], 'p')} ({fmt(x['gain'], 'd')})")
            else:
                cells.append("–")
        rows.append(cells)
    return table(header, rows)


def _with_ci(value: Any, ci: Any, kind: str) -> str:
    text = fmt_value(value, kind)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(v is not None for v in ci):
        text += f" [{fmt_value(ci[0], kind)}, {fmt_value(ci[1], kind)}]"
    return text


def fit_table(fits: list[dict[str, Any]]) -> str:
    header = [
        "fit",
        "law",
        "x",
        "scenario",
        "K_max [95% CI]",
        "N0 [95% CI]",
        "R²",
        "R² (log)",
        "points",
        "held-out R²",
        "held-out RMSE",
        "held-out MAPE (%)",
    ]
    rows = []
    for f in fits:
        k, k_ci = verdicts.fit_param(f, "K_max", "k_max", "Kmax")
        n0, n0_ci = verdicts.fit_param(f, "N0", "n0")
        held = f.get("heldout") if isinstance(f.get("heldout"), dict) else {}
        rows.append(
            [
                fmt(str(f.get("_name"))),
                fmt(str(f.get("law", "–"))),
                fmt(str(f.get("x", "–"))),
                fmt(str(f.get("scenario", "–"))),
                _with_ci(k, k_ci, "g"),
                _with_ci(n0, n0_ci, "e"),
                fmt_value(f.get("r2"), "p"),
                fmt_value(f.get("r2_log"), "p"),
                fmt_value(f.get("n_points")),
                fmt_value(held.get("r2"), "p"),
                fmt_value(held.get("rmse"), "g"),
                fmt_value(held.get("mape"), "g"),
            ]
        )
    return table(header, rows) + _flag_lines(fits)


def _flag_lines(fits: list[dict[str, Any]]) -> str:
    """Intervals a fit flagged (at an optimizer bound, zero width: FIT.json notes), listed under the
    table so an interval the data cannot support is not read as one they do."""
    lines = [
        f"- ⚠ `{f.get('_name')}`: {n}"
        for f in fits
        for n in (f.get("notes") if isinstance(f.get("notes"), list) else [])
        if isinstance(n, str) and n.startswith("interval flag:")
    ]
    return "\n\n**Flagged intervals**\n\n" + "\n".join(lines) if lines else ""


def checks(summary: Any, fits: list[dict[str, Any]], curves: Any = None) -> list[tuple[str, str, str]]:
    """(check, verdict, detail) for every claim the study makes (see the module doc): verdict pass /
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


def pooled_gain_se(per_size: Any) -> tuple[dict[Any, float], int] | None:
    """Standard error of every size's mean gain from the replicates' variance pooled over sizes (the
    residual variance of a one-way model, gain ~ size): s² = Σ (n_s - 1)·var_s / Σ (n_s - 1), and
    SE_s = sqrt(s² / n_s), with Σ (n_s - 1) degrees of freedom (8 for 4 sizes × 3 replicates, where
    each size alone has 2). Assumes the seed-to-seed spread of the gain is alike across sizes.
    Returns ({size: SE_s}, dof), or None without replicates (no size has two runs with an error)."""
    num, dof = 0.0, 0
    for _, r in per_size.iterrows():
        se, n = finite_or_none(r["gain_se"]), int(r["n"])
        if se is not None and n >= 2:
            num += (n - 1) * se**2 * n
            dof += n - 1
    if dof == 0:
        return None
    pooled_var = num / dof
    return {s: math.sqrt(pooled_var / int(r["n"])) for s, r in per_size.iterrows()}, dof


def _gain_check(per_size: Any) -> tuple[str, str, str]:
    """GAIN_CLAIM per size on the size's mean gain and its 95% interval, the interval from the
    replicates' variance pooled over sizes (pooled_gain_se: Student t on sum (n_s - 1) dof); one run
    per size has no interval: undetermined."""
    pooled = pooled_gain_se(per_size)
    t = None if pooled is None else t_quantile(pooled[1])
    cells, results = [], []
    for s, r in per_size.iterrows():
        gain, se = finite_or_none(r["gain"]), finite_or_none(r["gain_se"])
        text = f"{s} {_pm(gain, se, 'd')}"
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
        note = (f" (95% interval: Student t on {pooled[1]} dof, the replicates' variance pooled over sizes;"
                f" pooled SE per size {min(pooled[0].values()):.3f}–{max(pooled[0].values()):.3f})")
    return (GAIN_CHECK, verdicts.combine(results), "; ".join(cells) + note)


def pooled_slope(groups: list[tuple[Any, Any]], min_dof: int = 1) -> dict[str, Any] | None:
    """Least-squares slope of y on x over one or more groups with one intercept per group (x and y
    centred within each group), and its 95% interval (Student t on the residual degrees of freedom,
    points - groups - 1): {slope, se, ci95 [lo, hi], points, groups, dof}. None when fewer than
    `min_dof` degrees of freedom are left or x does not vary within any group."""
    import numpy as np

    xs, ys = [], []
    for x, y in groups:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if len(x):
            xs.append(x - x.mean())
            ys.append(y - y.mean())
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    dof = len(x) - len(xs) - 1
    sxx = float((x**2).sum())
    if dof < max(min_dof, 1) or sxx == 0:
        return None
    slope = float((x * y).sum() / sxx)
    se = math.sqrt(float(((y - slope * x) ** 2).sum()) / dof / sxx)
    half = t_quantile(dof) * se
    return {"slope": slope, "se": se, "ci95": [slope - half, slope + half], "points": len(x),
            "groups": len(xs), "dof": dof}  # fmt: skip


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
            + ", ".join(f"{s} {_pm(r['L'], r['L_se'], 'p')}" for s, r in per_size.iterrows())
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
        text = f"{n} {_with_ci(*verdicts.fit_param(f, 'K_max'), 'g')}: {v.verdict}"
        if v.verdict != verdicts.PASS:
            text += f" ({v.reason})"
        if trend is not None:
            t = verdicts.judge(K_TREND_CLAIM, trend["slope"], trend["ci95"])
            lo, hi = trend["ci95"]
            if t.verdict == verdicts.FAIL:
                v = verdicts.Verdict(verdicts.FAIL, t.reason)
                text += (f"; FAIL: the runs' own slopes of log10 L on log10 {x} fall with N, "
                         f"{trend['slope']:+.3f} [{lo:+.3f}, {hi:+.3f}] per decade of N over "
                         f"{trend['points']} runs")
        rising.append(text)
        rising_v.append(v.verdict)
        idv = verdicts.fit_identified(f)
        ident_v.append(idv.verdict)
        ident.append(f"{n} {idv.verdict}: {idv.reason}")
    return [
        (RISING_CHECK, verdicts.combine(rising_v), "; ".join(rising)),
        (IDENTIFIED_CHECK, verdicts.combine(ident_v), "; ".join(ident)),
    ]


def data_rows(study_dir: Path, limit: int = 40) -> list[list[str]]:
    """Scalar entries of S/data/report.json (nested keys dotted, lists of scalars joined), if present."""
    path = study_dir / "data" / "report.json"
    if not path.is_file():
        return []
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg})") from None
    rows: list[list[str]] = []

    def walk(prefix: str, value: Any, depth: int) -> None:
        if len(rows) >= limit:
            return
        if isinstance(value, dict) and depth < 2:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v, depth + 1)
        elif isinstance(value, (str, int, float, bool)) or value is None:
            rows.append([fmt(prefix), fmt(value if isinstance(value, str) else json.dumps(value))])
        elif (
            isinstance(value, list)
            and len(value) <= 12
            and all(not isinstance(v, (dict, list)) for v in value)
        ):
            rows.append([fmt(prefix), fmt(", ".join(str(v) for v in value))])

    walk("", obj, 0)
    return rows


def _steps_text(steps: list[int]) -> str:
    if len(steps) <= 12:
        return ", ".join(map(str, steps))
    return f"{steps[0]}–{steps[-1]} ({len(steps)} steps)"


def _demote_headings(markdown: str) -> str:
    """Markdown headings one level deeper, so an included document nests under its section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


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


def _verdict_cell(verdict: str) -> str:
    return f"**{verdict}**" if verdict == verdicts.FAIL else verdict


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


def _prediction_section(study_dir: Path) -> list[str]:
    """summary.md's lines on prediction.json (rule predict): the largest size predicted from the
    smaller ones, its interval against the truth; none when the file is absent."""
    path = study_dir / "prediction.json"
    if not path.is_file():
        return []
    from rlscaling.fit.predict_cli import markdown as prediction_markdown

    text = prediction_markdown(load_fit(path))
    return ["## Prediction of the largest size (prediction.json)", "", text, ""]


def _health_section(study_dir: Path, runs: list[str]) -> list[str]:
    """summary.md's lines on training health: each run whose runs/{run}/metrics.jsonl has flagged steps
    (`health`, rlscaling.training_health), with its first flagged step and reasons; "no run flagged" when
    none; a note on runs whose metrics carry no health field."""
    from rlscaling.io import read_jsonl

    flagged, unchecked = [], []
    for run in sorted(runs):
        path = study_dir / "runs" / run / "metrics.jsonl"
        records = read_jsonl(path) if path.is_file() else []
        if not records or any("health" not in r for r in records):
            unchecked.append(run)
            continue
        bad = [r for r in records if r["health"]]
        if bad:
            reasons = "; ".join(f["reason"] for f in bad[0]["health"])
            flagged.append([fmt(run), str(len(bad)), str(bad[0]["step"]), fmt(reasons)])
    lines = ["## Training health (runs/{run}/metrics.jsonl)", ""]
    if flagged:
        lines += [table(["run", "flagged steps", "first flagged step", "reason"], flagged), ""]
    elif len(unchecked) < len(runs):
        lines += [f"No run flagged ({len(runs) - len(unchecked)} runs checked).", ""]
    if unchecked:
        lines += [f"Not checked (metrics without `health`): {', '.join(unchecked)}.", ""]
    return lines


def render(
    study_dir: Path,
    df: Any,
    fits: list[dict[str, Any]],
    out_path: Path,
    where: list[str] | None = None,
    all_runs: dict[str, str] | None = None,
    judged: dict[str, Any] | None = None,
) -> str:
    """The summary.md text; `where` (COLUMN=VALUE filters already applied to df) is stated under the title;
    all_runs (run -> base model key, default df's runs) are the runs the critical path is sought among;
    judged: judge_study's record (default: judged here, with the default power simulation)."""
    judged = judged if judged is not None else judge_study(df, fits)
    bench = main_bench(df)
    summary = run_summary(df, bench)
    study = str(df["study"].iloc[0]) if "study" in df.columns else study_dir.name
    steps = sorted(int(s) for s in set(df["step"]))
    parts = [
        f"# Study `{study}`",
        "",
        f"{df['run'].nunique()} runs, {df['size'].nunique()} sizes, evaluated at steps {_steps_text(steps)}, "
        f"benchmarks {sorted(set(df['bench']))}. Main benchmark: `{bench}`. L = 1 − pass@1; "
        "FLOPs: RL C = 6·N·(prompt + response tokens), cumulative; pre-training 6·N·tokens.",
        "",
        *(
            [
                f"Tables and checks on the runs with {', '.join(f'`{w}`' for w in where)} (the sweep's first "
                "value, as the fits); every run is in curves.parquet, and the sweep's answer in allocate/.",
                "",
            ]
            if where
            else []
        ),
        f"## Study (benchmark `{bench}`)",
        "",
        study_table(summary),
        "",
        f"## Per size (benchmark `{bench}`; mean ± standard error over replicates)",
        "",
        size_table(size_stats(summary)),
        "",
        "## Per benchmark: base → final pass@1 (gain)",
        "",
        bench_table(df),
        "",
        "## Fits",
        "",
        fit_table(fits) if fits else "No fits given.",
        "",
        "## Checks",
        "",
        LEGEND,
        "",
        table(
            ["check", "verdict", "detail"],
            [[e["check"], _verdict_cell(e["verdict"]), fmt(e["detail"])] for e in judged["checks"]],
        ),
        "",
        "## Design warnings",
        "",
        "Properties of the study's design that weaken what it can show; no verdict.",
        "",
        *([f"- ⚠ {w}" for w in judged["design_warnings"]] or ["None."]),
        "",
    ]
    tournament = study_dir / "compare.md"
    if tournament.is_file():  # rlscaling compare's tables (rule compare): out-of-sample R² / MAPE per law
        parts += ["## Law tournament (compare.md)", "", _demote_headings(tournament.read_text()).strip(), ""]
    parts += _prediction_section(study_dir)
    parts += _health_section(study_dir, sorted(all_runs or set(df["run"])))  # every run, sweep or not
    data = data_rows(study_dir)
    if data:
        parts += ["## Data (data/report.json)", "", table(["key", "value"], data), ""]
    times = stage_times(study_dir)
    parts += ["## Wall time per stage", ""]
    if times:
        rows = [
            [
                t["stage"],
                str(t["jobs"]),
                fmt(t["seconds"], "s"),
                fmt(t["seconds"] / 60, "s"),
                fmt(t["max_rss"], "s"),
            ]
            for t in times
        ]
        total = sum(t["seconds"] for t in times)
        rows.append(
            ["**total**", str(sum(t["jobs"] for t in times)), fmt(total, "s"), fmt(total / 60, "s"), ""]
        )
        parts += [table(["stage", "jobs", "seconds (sum)", "minutes", "max RSS (MB)"], rows), ""]
        cp = critical_path(study_dir, all_runs or base_model_of_runs(df))
        if cp is not None:
            parts += [critical_path_text(cp), ""]
    else:
        parts += [f"No benchmark files under {study_dir / 'benchmarks'}.", ""]
    figures = sorted((study_dir / "figures").glob("*.png")) if (study_dir / "figures").is_dir() else []
    parts += ["## Figures", ""]
    if figures:
        base = out_path.resolve().parent
        for f in figures:
            rel = Path(os.path.relpath(f.resolve(), base)).as_posix()
            parts.append(f"- [{f.stem}]({rel})")
    else:
        parts.append("No figures yet.")
    parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study-dir", help="the study's results folder (required to write)")
    parser.add_argument("--curves", help="curves.parquet (required to write)")
    parser.add_argument("--fits", nargs="*", default=[], help="fit JSON files")
    parser.add_argument("-o", "--output", help="output Markdown, e.g. S/summary.md (required to write)")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="judge the study on these rows only (repeatable; the workflow passes a sweep's first value, "
        "as it does to the fits: checks pooled over a sweep's variants would mix different studies)",
    )
    parser.add_argument(
        "--checks-json",
        metavar="PATH",
        help="also write the verdicts, design warnings and counts as JSON (the workflow: S/checks.json)",
    )
    from rlscaling.fit.power import PowerSettings

    default = PowerSettings()
    parser.add_argument(
        "--power-sims",
        type=int,
        default=default.sims,
        help="an undetermined identification: simulated studies per design (default %(default)s)",
    )
    parser.add_argument(
        "--power-bootstrap",
        type=int,
        default=default.bootstrap,
        help="an undetermined identification: bootstrap resamples per simulated fit (default %(default)s)",
    )
    parser.add_argument(
        "--check",
        metavar="SUMMARY_OR_STUDY_DIR",
        help="instead of writing: print the verdicts of a study (its folder, checks.json or summary.md) "
        "and exit 1 when one is FAIL (0 on pass, undetermined and n/a)",
    )


def verdicts_file(path: str | Path) -> Path:
    """The file holding a study's verdicts: `path` itself, or in a study folder its checks.json, else
    its summary.md. UserError when there is none."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "checks.json", path / "summary.md") if p.is_file()]
        if not found:
            raise UserError(f"--check: {path} has neither checks.json nor summary.md (run the study first)")
        return found[0]
    if not path.is_file():
        raise UserError(f"--check: {path} does not exist")
    return path


def read_checks(path: str | Path) -> list[tuple[str, str, str]]:
    """(check, verdict, detail) rows of a study's verdicts. path: a study folder (its checks.json,
    else its summary.md), a checks.json, or a summary.md (its Checks table). UserError when there is
    none or a verdict is not one of pass / FAIL / undetermined / n/a."""
    path = verdicts_file(path)
    rows = _read_checks_json(path) if path.suffix == ".json" else _read_checks_md(path)
    known = (*verdicts.VERDICTS, verdicts.NOT_APPLICABLE)
    for check, verdict, _ in rows:
        if verdict not in known:
            raise UserError(f"{path}: check {check!r} has verdict {verdict!r}, expected one of {known}")
    return rows


def _read_checks_json(path: Path) -> list[tuple[str, str, str]]:
    obj = read_json_object(path)
    entries = obj.get("checks")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: no `checks` list (not a checks.json written by rlscaling report?)")
    rows = []
    for i, e in enumerate(entries):
        fields = ("check", "verdict", "detail")
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in fields):
            raise UserError(f"{path}: checks[{i}] needs string fields check, verdict and detail")
        rows.append((e["check"], e["verdict"], e["detail"]))
    return rows


def _read_checks_md(path: Path) -> list[tuple[str, str, str]]:
    text = path.read_text()
    if "\n## Checks\n" not in text:
        raise UserError(f"{path}: no '## Checks' section (not a summary.md written by rlscaling report?)")
    body = text.split("\n## Checks\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("check", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append((cells[0], cells[1].strip("*"), " | ".join(cells[2:])))
    if not rows:
        raise UserError(f"{path}: the Checks table has no rows")
    return rows


def check_summary(path: str | Path) -> int:
    """Exit status of `--check`: 1 when a verdict is FAIL, else 0. Prints every verdict, with its
    detail where it is not pass, and the counts."""
    path = verdicts_file(path)
    rows = read_checks(path)
    for check, verdict, detail in rows:
        print(f"{verdict:12s}  {check}" + ("" if verdict == verdicts.PASS else f": {detail}"))
    counts = {v: sum(r[1] == v for r in rows) for v in (*verdicts.VERDICTS, verdicts.NOT_APPLICABLE)}
    print(f"{path}: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    if counts[verdicts.FAIL]:
        print(f"{path}: {counts[verdicts.FAIL]} of {len(rows)} checks FAIL: the data contradict them")
        return 1
    return 0


def main(args: argparse.Namespace) -> int:
    from rlscaling.io import write_json, write_text

    if args.check:
        return check_summary(args.check)
    for flag, value in (
        ("--study-dir", args.study_dir),
        ("--curves", args.curves),
        ("-o/--output", args.output),
    ):
        if not value:
            raise UserError(f"{flag} is required (or give --check SUMMARY_MD)")
    from rlscaling.fit.data import apply_where, parse_where

    study_dir = Path(args.study_dir)
    everything = load_curves(args.curves)
    df = apply_where(everything, parse_where(args.where))
    if df.empty:
        raise UserError(f"{args.curves}: no rows with {' and '.join(args.where)}")
    fits = [load_fit(p) for p in args.fits]
    out = Path(args.output)
    from rlscaling.fit.power import PowerSettings

    settings = PowerSettings(sims=args.power_sims, bootstrap=args.power_bootstrap)
    judged = judge_study(df, fits, settings)
    text = render(study_dir, df, fits, out, where=args.where, all_runs=base_model_of_runs(everything),
                  judged=judged)  # fmt: skip
    if args.checks_json:
        write_json(args.checks_json, {"study": str(df["study"].iloc[0]) if "study" in df.columns
                                      else study_dir.name, "summary": out.name, **judged})  # fmt: skip
    write_text(out, text)
    from rlscaling import tracking  # opt-in: the fits, figures and summary.md to the study's tracked run

    if (track := tracking.Settings.from_environment()).enabled:
        tracking.log_study(track, args.fits, sorted((study_dir / "figures").glob("*.png")), out)
    return 0
