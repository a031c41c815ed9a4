"""`rlscaling identify-power`: how many replicates, and which span of sizes, identify K_max and N0.

    rlscaling identify-power results/default-seed1 results/default-seed2 ...
        [--replicates 3,6,12] [--spans 0,60] [--centre smallest|N0] [--run-noise-scale 1]
        [--point-noise-scale 1] [--pooled-max 10]
        [--sims 40] [--bootstrap 200] [--jobs 2] [--out results/identify_power]

summary.md's verdict "K_max and N0 identified" passes on some study seeds and is undetermined on
others (docs/results/identifiability.md). This command asks how often a design would pass it, by
simulation (rlscaling.fit.power) from noise measured on the studies given (their curves.parquet,
main benchmark, steps >= 1), pooled as one study: study j's replicate r becomes replicate 100 j + r.
Designs: the studies' own sizes (span 0) or 4 sizes spaced evenly in log N over `span`;
--run-noise-scale s simulates steadier (s < 1) or noisier runs (sigma_run times s);
--point-noise-scale s the points' scatter times s (more evaluation samples per problem: about
1 / sqrt(samples) where the scatter is sampling).

Where sigma_k comes from (SlopeSpread): its variance split between the base model's skill (the
regression of k on the run's step-0 pass@1 within (study, size)), the evaluation's sampling (each
checkpoint's samples split in halves, from S/eval/RUN/step_STEP/BENCH.samples.parquet where the study
has them), and the rest, the RL run's own course. It names the lever: a base-model lottery is not
cured by steadier RL or more evaluation samples.

The pooled check tests the simulation on real runs: the studies pooled m at a time, each pool fitted
as one study with its studies' replicates together (--pooled-max pools per m; 0 skips it).

It writes OUT/identify_power.json, identify_power.md (the rate each design passes, with a 95% Wilson
interval, and the median interval widths) and the figure identify_power.png / .pdf, and prints the
Markdown.

Cost: sims x designs fits with `bootstrap` resamples each (about 1.5 s for 12 runs at 200 resamples on
one core of a 2-core AMD EPYC; 40 sims x 6 designs, 2 jobs: about 8 min; 12 replicates per size
take about 4x as long per fit). The pooled check adds one fit per pool: 31 pools for 5 studies,
about 1 min.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import load_curves
from rlscaling.errors import UserError
from rlscaling.fit.power import (
    L_CLIP,
    Noise,
    judge,
    measure_table,
    run_slopes,
    within_size,
)
from rlscaling.fit.run import FitRequest, run_fit
from rlscaling.report.runs import main_bench


def pooled_table(study_dirs: list[Path], min_step: int = 1) -> pd.DataFrame:
    """Every study's main-benchmark rows at steps >= min_step in one table, study j's replicate r renamed
    replicate 100 j + r (and its seed likewise) and its run RUN renamed RUN@j, so one fit sees them as
    replicates of one study."""
    frames = []
    for j, d in enumerate(study_dirs):
        path = d / "curves.parquet"
        if not path.is_file():
            raise UserError(f"{path}: no curves table (run the study first)")
        df = load_curves(path)
        df = df[(df["bench"] == main_bench(df)) & (df["step"] >= min_step)].copy()
        rep = df["replicate"] if "replicate" in df.columns else 0
        df["replicate"] = 100 * j + rep
        df["seed"] = 100000 * j + df["seed"]
        df["run"] = df["run"] + f"@{j}"
        df["study"] = "pooled"
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def measure(study_dirs: list[Path], bootstrap_seed: int = 0) -> Noise:
    """The Noise of the studies pooled (rlscaling.fit.power.measure_table)."""
    return measure_table(pooled_table(study_dirs), studies=len(study_dirs), bootstrap_seed=bootstrap_seed)


@dataclass(frozen=True)
class SlopeSpread:
    """Where a run's slope spread sigma_k comes from, its variance split in three (each an SD of k):
    - base: the base model's held-out pass@1 (step 0) moves k; sigma_base = |k_per_base| x base_sd, from
      the regression of k on base pass@1 within (study, size) groups;
    - sampling: the evaluation's finite samples per problem, measured by splitting every checkpoint's
      samples in two halves (even and odd sample index) and refitting each run's slope on each half:
      the halves' slopes differ by sampling alone, Var(k_even - k_odd) = 4 Var_sampling(k) at the full
      sample count. None where a study has no eval samples tables
      (S/eval/RUN/step_STEP/BENCH.samples.parquet) or fewer than 2 samples per problem;
    - rest: what neither explains (sigma_k^2 minus the two, floored at 0): the RL run's own course."""

    sigma_k: float
    dof: int  # runs minus (study, size) groups
    base_sd: float | None  # a run's base pass@1 around its size's mean
    k_per_base: float | None  # slope of k on base pass@1 within (study, size)
    sigma_base: float | None
    sigma_sampling: float | None
    sigma_rest: float

    def shares(self) -> dict[str, float]:
        """Each source's share of sigma_k^2 (base, sampling, rest; an unmeasured source counts 0)."""
        v = self.sigma_k**2
        parts = {"base": self.sigma_base, "sampling": self.sigma_sampling, "rest": self.sigma_rest}
        return {k: ((x or 0.0) ** 2 / v if v > 0 else 0.0) for k, x in parts.items()}


def half_slopes(study: Path, run: str, bench: str, steps: list[int], C: np.ndarray,
                ) -> tuple[float, float] | None:  # fmt: skip
    """A run's slope k of log10 L on log10 C from the even-index and from the odd-index samples of each
    checkpoint (L clipped to L_CLIP); None without a samples table or with fewer than 2 samples."""
    L = np.empty((2, len(steps)))
    for j, step in enumerate(steps):
        path = study / "eval" / run / f"step_{step:06d}" / f"{bench}.samples.parquet"
        if not path.is_file():
            return None
        t = pd.read_parquet(path, columns=["sample", "correct"])
        for h in (0, 1):
            half = t.loc[t["sample"] % 2 == h, "correct"]
            if half.empty:
                return None
            L[h, j] = np.clip(1.0 - float(half.mean()), *L_CLIP)
    x = np.log10(C)
    return (-float(np.polyfit(x, np.log10(L[0]), 1)[0]), -float(np.polyfit(x, np.log10(L[1]), 1)[0]))


def spread_sources(study_dirs: list[Path]) -> SlopeSpread:
    """The SlopeSpread of the studies' runs (main benchmark; slopes over steps >= 1, base at step 0)."""
    df = pooled_table(study_dirs, min_step=0)
    later = df[df["step"] >= 1].sort_values("step")
    slopes = run_slopes(later)
    slopes["base"] = slopes["run"].map(df[df["step"] == 0].set_index("run")["pass_at_1"])
    kc, dof = within_size(slopes, "k")
    var_k = float((kc**2).sum()) / dof
    base_sd = k_per_base = sigma_base = None
    if slopes["base"].notna().all():
        bc, _ = within_size(slopes, "base")
        sbb = float((bc**2).sum())
        if sbb > 0:
            k_per_base = float((kc * bc).sum()) / sbb
            base_sd = math.sqrt(sbb / dof)
            sigma_base = abs(k_per_base) * base_sd
    bench = later["bench"].iloc[0]
    halves = []
    for run, g in later.groupby("run"):
        study = study_dirs[int(g["replicate"].iloc[0]) // 100]
        halves.append(half_slopes(study, str(run).rsplit("@", 1)[0], bench, [int(s) for s in g["step"]],
                                  g["C"].to_numpy(float)))  # fmt: skip
    sigma_sampling = None
    if all(h is not None for h in halves):
        sigma_sampling = math.sqrt(float(np.mean([(a - b) ** 2 for a, b in halves])) / 4)
    rest = var_k - (sigma_base or 0.0) ** 2 - (sigma_sampling or 0.0) ** 2
    return SlopeSpread(sigma_k=math.sqrt(var_k), dof=dof, base_sd=base_sd, k_per_base=k_per_base,
                       sigma_base=sigma_base, sigma_sampling=sigma_sampling,
                       sigma_rest=math.sqrt(max(rest, 0.0)))  # fmt: skip


def spread_text(sp: SlopeSpread) -> str:
    """One Markdown paragraph: sigma_k and its three sources with their shares of the variance."""
    sh = sp.shares()
    if sp.sigma_base is not None:
        base = (f"the base model's skill {sp.sigma_base:.3f} ({sh['base']:.0%}; k moves {sp.k_per_base:+.2f} "
                f"per unit of base pass@1, which spreads by {sp.base_sd:.3f} within a size)")  # fmt: skip
    else:
        base = "the base model's skill not measured (no step-0 evaluations)"
    if sp.sigma_sampling is not None:
        sampling = (f"the evaluation's sampling {sp.sigma_sampling:.3f} ({sh['sampling']:.0%}; measured by "
                    "splitting each checkpoint's samples in halves; more samples per problem shrink "
                    "it)")  # fmt: skip
    else:
        sampling = "the evaluation's sampling not measured (no eval samples tables)"
    rest = f"the rest, the RL run's own course, {sp.sigma_rest:.3f} ({sh['rest']:.0%})"
    return (f"Where sigma_k {sp.sigma_k:.3f} comes from ({sp.dof} degrees of freedom; SDs of k, shares of "
            f"its variance): {base}; {sampling}; {rest}.\n\n")  # fmt: skip


def pooled_check(study_dirs: list[Path], n_boot: int, jobs: int, seed: int = 0,
                 max_combos: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """The simulation checked on real runs: the studies pooled m at a time (every combination, at most
    max_combos of them drawn at random), each pool fitted as one study whose replicates per size are its
    studies' together, and judged as summary.md judges a study. One row per m: replicates per size,
    pools identified out of pools fitted, and the pools. Pools of different study seeds also differ
    in their data, so a pool is a harder test than a study with as many replicates of one seed."""
    rng = np.random.default_rng(seed)
    tasks = []
    for m in range(1, len(study_dirs) + 1):
        combos = list(itertools.combinations(range(len(study_dirs)), m))
        if len(combos) > max_combos:
            combos = [combos[i] for i in sorted(rng.choice(len(combos), max_combos, replace=False))]
        tasks += [(m, c) for c in combos]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        verdicts = list(pool.map(_fit_pool, [([study_dirs[i] for i in c], n_boot, seed) for _, c in tasks]))
    out = []
    for m in sorted({m for m, _ in tasks}):
        mine = [(c, v) for (mm, c), v in zip(tasks, verdicts, strict=True) if mm == m]
        names = [([study_dirs[i].name for i in c], v["identified"]) for c, v in mine]
        out.append({"studies": m, "replicates": min(v["replicates"] for _, v in mine),
                    "identified": sum(ok for _, ok in names), "pools": len(mine),
                    "identified_pools": [n for n, ok in names if ok],
                    "failed_pools": [n for n, ok in names if not ok]})  # fmt: skip
    return out


def _fit_pool(args: tuple[list[Path], int, int]) -> dict[str, Any]:
    dirs, n_boot, seed = args
    df = pooled_table(dirs)
    with contextlib.redirect_stderr(io.StringIO()):
        verdict = judge(run_fit(df, FitRequest(law="paper", x="C", bootstrap=n_boot, seed=seed)))
    return verdict | {"replicates": int(df.drop_duplicates("run").groupby("size").size().min())}


def pooled_text(rows: list[dict[str, Any]]) -> str:
    """The pooled check as a Markdown table."""
    lines = ["Checked on the real runs: the studies pooled m at a time, each pool fitted and judged as one "
             "study.\n", "| studies pooled | replicates per size | pools identified |",
             "|---|---|---|"]  # fmt: skip
    lines += [f"| {r['studies']} | {r['replicates']} | {r['identified']} of {r['pools']} |" for r in rows]
    return "\n".join(lines) + "\n"


def design_label(row: dict[str, Any]) -> str:
    if row["span"] == 0:
        return "measured sizes"
    return "log-even sizes " + ("from the smallest" if row["centre"] == "smallest" else "centred on N0")


def markdown(noise: Noise, rows: list[dict[str, Any]], study_dirs: list[Path], scale: float = 1.0,
             spread: SlopeSpread | None = None, point_scale: float = 1.0) -> str:  # fmt: skip
    head = (
        f"Measured on {noise.studies} studies ({noise.runs} runs: "
        + ", ".join(d.name for d in study_dirs)
        + f"): pooled fit K_max {noise.K_max:.3f}, N0 {noise.N0:.3g}; a run's slope k spreads by "
        f"sigma_k {noise.sigma_k:.3f} around its size's mean (sigma_run {noise.sigma_run:.3f} after the "
        f"points' share{'' if scale == 1 else f', simulated at {scale:g} x the measured'}), points "
        f"scatter by sigma_eps {noise.sigma_eps:.4f} (log10 L"
        f"{'' if point_scale == 1 else f', simulated at {point_scale:g} x the measured'}).\n\n"
    ) + (spread_text(spread) if spread is not None else "")
    lines = ["| design (N span) | replicates | runs | identified (95% interval) | K_max above 0 | "
             "median N0 interval (decades) | flags |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lo, hi = r["identified_ci95"]
        sizes = design_label(r)
        flags = ", ".join(f"{k} {v}" for k, v in sorted(r["flags"].items())) or "–"
        n0w = "–" if r["N0_ci_decades_median"] is None else f"{r['N0_ci_decades_median']:.2f}"
        lines.append(f"| {sizes} ({r['N_span']:.0f}x) | {r['replicates']} | {r['runs']} | "
                     f"{r['identified']:.2f} [{lo:.2f}, {hi:.2f}] | {r['rising']:.2f} | {n0w} | "
                     f"{flags} |")  # fmt: skip
    return head + "\n".join(lines) + f"\n\n{rows[0]['sims'] if rows else 0} simulated studies per design.\n"


def figure(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for span in sorted({r["span"] for r in rows}):
        rs = [r for r in rows if r["span"] == span]
        x = [r["replicates"] for r in rs]
        y = [r["identified"] for r in rs]
        err = np.array([[r["identified"] - r["identified_ci95"][0], r["identified_ci95"][1] - r["identified"]]
                        for r in rs]).T  # fmt: skip
        label = f"{design_label(rs[0])}, N span {rs[0]['N_span']:.0f}x"
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xlabel("replicates per size")
    ax.set_ylabel("studies with K_max and N0 identified")
    ax.set_ylim(0, 1.02)
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["replicates"] for r in rows}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"identify_power.{ext}", dpi=150)
    plt.close(fig)
