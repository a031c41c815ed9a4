"""How often a study design would identify K_max and N0: a simulation from a study's own noise.

The model (measured by `measure`, simulated by `simulate`):
- the law's truth: K_max, N0 and every run's intercept E0, one fit of the paper law on x = C of the
  table's runs (no bootstrap);
- sigma_k, the spread of a run's slope of log10 L on log10 C around its size's mean, pooled over
  (study, size) groups, and sigma_eps, the scatter of log10 L around each run's own line. A run's
  slope is simulated as k(N) + Normal(0, sigma_run), pivoting at the middle of its evaluated steps (a
  run's slope error tilts its curve, it does not move its level), where
  sigma_run^2 = sigma_k^2 - sigma_eps^2 / Sxx (the point scatter's share of the measured spread is
  added back by the simulated points);
- a design: the table's own sizes (span 0) or 4 sizes spaced evenly in log N from the smallest size
  up to `span` times it (or centred on N0), each with r replicates, evaluated at the table's RL steps
  (C scaled with N). Intercepts: the fitted E0's line in log10 N plus its residual scatter.

Each simulated study is fitted as the workflow fits it (rlscaling.fit.run.run_fit: law paper, x C, the
default objective, bootstrap over seeds) and judged as summary.md judges it (rlscaling.verdicts:
K_max and N0 identified; K_max above 0). `run_designs` gives each design's identification rate with
its 95% Wilson interval; `identification_power` asks it of one study for summary.md: the rate at
the study's replicates and at larger counts, and the smallest count that reaches DECIDE_RATE.

The table: one row per (run, step >= 1) of one benchmark, columns run, size, N, replicate, seed, step,
C and L (a study's curves.parquet rows; `rlscaling identify-power` pools several studies into one,
study j's replicates renumbered 100 j + r so replicate // 100 names the study).
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from rlscaling import verdicts
from rlscaling.errors import UserError
from rlscaling.fit.kn import k_of_N
from rlscaling.fit.run import FitRequest, run_fit

L_CLIP = (1e-3, 1 - 1e-3)  # L = 1 - pass@1 of a simulated point stays a fraction
CENTRES = ("smallest", "N0")
# summary.md: the identification rate a design must reach to count as deciding the claim
DECIDE_RATE = 0.8


@dataclass(frozen=True)
class Noise:
    """What the studies measured: the law's truth and the two noise levels (log10 L units)."""

    K_max: float
    N0: float
    e0_slope: float  # E0 of a run against log10 N: a line ...
    e0_intercept: float
    e0_sd: float  # ... and the scatter around it
    sigma_k: float  # spread of a run's slope around its size's mean, within a study
    sigma_eps: float  # scatter of log10 L around a run's own line
    sigma_run: float  # sigma_k with the points' share removed: the runs' own spread
    c_per_param: tuple[float, ...]  # RL FLOPs per parameter at each evaluated step >= 1
    sizes: tuple[float, ...]  # the studies' N
    runs: int  # runs measured
    studies: int


def run_slopes(df: pd.DataFrame) -> pd.DataFrame:
    """Per run: size, N, study (replicate // 100), slope k of log10 L on log10 C, and the residual
    sum of squares and degrees of freedom of that line."""
    rows = []
    for run, g in df.groupby("run"):
        x, y = np.log10(g["C"].to_numpy(float)), np.log10(g["L"].to_numpy(float))
        if len(x) < 3:
            raise UserError(f"run {run}: {len(x)} evaluated steps >= 1; a slope and its scatter need 3")
        b, a = np.polyfit(x, y, 1)
        rows.append({"run": run, "size": g["size"].iloc[0], "N": float(g["N"].iloc[0]),
                     "study": int(g["replicate"].iloc[0]) // 100, "k": -b,
                     "rss": float(((y - (a + b * x)) ** 2).sum()), "dof": len(x) - 2,
                     "sxx": float(((x - x.mean()) ** 2).sum())})  # fmt: skip
    return pd.DataFrame(rows)


def within_size(slopes: pd.DataFrame, col: str) -> tuple[pd.Series, int]:
    """slopes[col] centred on its (study, size) group's mean, and the degrees of freedom left
    (runs minus groups); refused when no group has two runs."""
    groups = slopes.groupby(["study", "size"])[col]
    dof = len(slopes) - groups.ngroups
    if dof < 1:
        raise UserError("sigma_k needs two runs of one size in one study (replicates: 2 or more)")
    return slopes[col] - groups.transform("mean"), dof


def measure_table(df: pd.DataFrame, studies: int = 1, bootstrap_seed: int = 0) -> Noise:
    """The Noise of a table of runs (see the module doc); UserError when it cannot be measured (a run
    with fewer than 3 evaluated steps >= 1, no size with two replicates, no column C or L, L outside
    (0, 1), fewer than 3 runs matched to the fit's intercepts)."""
    missing = [c for c in ("run", "size", "N", "replicate", "step", "C", "L") if c not in df.columns]
    if missing:
        raise UserError(f"the curves table lacks column(s) {missing}")
    df = df[df["step"] >= 1]
    if df.empty:
        raise UserError("no evaluated steps >= 1")
    if not ((df["L"] > 0) & (df["L"] < 1)).all() or not (df["C"] > 0).all():
        raise UserError("the noise in log10 L needs every L in (0, 1) and every C > 0")
    slopes = run_slopes(df)
    dev, dof_k = within_size(slopes, "k")
    with contextlib.redirect_stderr(io.StringIO()):  # the fit's notes
        fit = run_fit(df, FitRequest(law="paper", x="C", seed=bootstrap_seed))
    K, N0 = float(fit["params"]["K_max"]), float(fit["params"]["N0"])
    sigma_k = math.sqrt(float((dev**2).sum()) / dof_k)
    sigma_eps = math.sqrt(slopes["rss"].sum() / slopes["dof"].sum())
    sigma_run = math.sqrt(max(sigma_k**2 - sigma_eps**2 / slopes["sxx"].mean(), 0.0))
    e0 = fit["params"]["E0"]
    pairs = [(math.log10(c["N"]), float(e0[c["label"]])) for c in fit["data"]["curves"] if c["label"] in e0]
    if len(pairs) < 3:
        raise UserError("the pooled fit's intercepts could not be matched to runs")
    lx, ly = np.array(pairs).T
    e0_slope, e0_intercept = np.polyfit(lx, ly, 1)
    e0_sd = float(np.std(ly - (e0_intercept + e0_slope * lx), ddof=2))
    steps = sorted(df["step"].unique())
    c_per_param = tuple(float((df[df["step"] == s]["C"] / df[df["step"] == s]["N"]).median()) for s in steps)
    return Noise(K_max=K, N0=N0, e0_slope=float(e0_slope), e0_intercept=float(e0_intercept), e0_sd=e0_sd,
                 sigma_k=sigma_k, sigma_eps=sigma_eps, sigma_run=sigma_run, c_per_param=c_per_param,
                 sizes=tuple(sorted(float(n) for n in df["N"].unique())), runs=len(slopes),
                 studies=studies)  # fmt: skip


def design_sizes(noise: Noise, span: float, centre: str = "smallest") -> list[float]:
    """N of a design's 4 sizes: the studies' own (span 0), else evenly spaced in log N over `span`,
    from the smallest measured size up (centre "smallest": what a family can add, larger models) or
    centred on the pooled fit's N0 (centre "N0": where k(N) bends, the sizes that pin N0 best)."""
    if span == 0:
        return list(noise.sizes)
    if centre not in CENTRES:
        raise UserError(f"--centre {centre!r}: expected one of {CENTRES}")
    lo = noise.sizes[0] if centre == "smallest" else noise.N0 / math.sqrt(span)
    return [lo * span ** (i / 3) for i in range(4)]


def simulate(noise: Noise, sizes: list[float], replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated study's curves table: per size and replicate, at C = c_per_param x N,
    log10 L = E0 - k(N) log10 C - dk (log10 C - its mean over the run's steps) + eps, with E0 on the
    measured line in log10 N plus its scatter, dk ~ Normal(0, sigma_run) and eps ~ Normal(0, sigma_eps).
    A run's own slope dk pivots at the middle of its evaluated steps, so it tilts the run's curve
    without moving its level: the law's E0 is its value at log10 C = 0, some 10 decades away, where a
    slope error of 0.04 would move the level by 0.4 in log10 L (a factor 2.5 in L) and push L past 1."""
    rows = []
    for i, n in enumerate(sizes):
        x = np.log10(np.asarray(noise.c_per_param) * n)
        for r in range(replicates):
            k = float(k_of_N(n, noise.K_max, noise.N0))
            dk = rng.normal(0.0, noise.sigma_run)
            e0 = noise.e0_intercept + noise.e0_slope * math.log10(n) + rng.normal(0.0, noise.e0_sd)
            for j, xj in enumerate(x):
                log_l = e0 - k * xj - dk * (xj - x.mean()) + rng.normal(0.0, noise.sigma_eps)
                L = float(np.clip(10**log_l, *L_CLIP))
                rows.append({"study": "sim", "run": f"z{i}__rep-{r}", "size": f"z{i}", "family": "sim",
                             "N": n, "replicate": r, "seed": 1000 * r, "step": j + 1, "C": float(10**xj),
                             "D": float(j + 1),
                             "bench": "heldout", "pass_at_1": 1.0 - L, "L": L})  # fmt: skip
    return pd.DataFrame(rows)


def judge(fit: dict[str, Any]) -> dict[str, Any]:
    """summary.md's two k(N) verdicts (rlscaling.verdicts) on one fit: identified (K_max and N0
    intervals clear of the bounds, not of zero width) and rising (K_max's 95% interval above 0, its
    lower end the data's), each True when it passes, with the flags and intervals."""
    flags = [f for f in fit.get("interval_flags") or [] if f.get("param") in verdicts.IDENTIFIED_PARAMS]
    ci = fit.get("ci95") or {}
    return {
        "identified": verdicts.fit_identified(fit).verdict == verdicts.PASS,
        "rising": verdicts.fit_k_max_above_zero(fit).verdict == verdicts.PASS,
        "flags": sorted({f"{f['param']} {f['kind']}" for f in flags}),
        "K_max_ci": ci.get("K_max"),
        "N0_ci": ci.get("N0"),
    }


def one_sim(args: tuple[Noise, list[float], int, int, int]) -> dict[str, Any]:
    """Simulate, fit and judge one study: args (noise, sizes, replicates, seed, bootstrap resamples)."""
    noise, sizes, replicates, seed, n_boot = args
    df = simulate(noise, sizes, replicates, np.random.default_rng(seed))
    with contextlib.redirect_stderr(io.StringIO()):  # the fit's notes, once per simulated study
        return judge(run_fit(df, FitRequest(law="paper", x="C", bootstrap=n_boot, seed=seed)))


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a rate (scipy.stats.binomtest); (0, 1) without trials."""
    from scipy.stats import binomtest

    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def design_rates(noise: Noise, sizes: list[float], replicates: int, sims: int, n_boot: int, seed: int,
                 pool: ProcessPoolExecutor | None = None) -> dict[str, Any]:  # fmt: skip
    """One design simulated `sims` times: its identification and rising rates with Wilson intervals,
    the median N0 interval width (decades) and the flags met."""
    tasks = [(noise, sizes, replicates, seed + 1000 * replicates + 7 * s, n_boot) for s in range(sims)]
    res = list(pool.map(one_sim, tasks)) if pool is not None else [one_sim(t) for t in tasks]
    ident = sum(x["identified"] for x in res)
    rising = sum(x["rising"] for x in res)
    n0w = [math.log10(x["N0_ci"][1] / x["N0_ci"][0]) for x in res if x["N0_ci"] and x["N0_ci"][0]]
    flags: dict[str, int] = {}
    for x in res:
        for f in x["flags"]:
            flags[f] = flags.get(f, 0) + 1
    return {"replicates": replicates, "runs": len(sizes) * replicates, "sims": sims,
            "identified": ident / sims, "identified_ci95": wilson(ident, sims),
            "rising": rising / sims, "rising_ci95": wilson(rising, sims),
            "N0_ci_decades_median": float(np.median(n0w)) if n0w else None, "flags": flags}  # fmt: skip


def run_designs(noise: Noise, replicates: list[int], spans: list[float], sims: int, n_boot: int,
                jobs: int, seed: int = 0, centre: str = "smallest") -> list[dict[str, Any]]:  # fmt: skip
    """Every (span, replicates) design simulated `sims` times (design_rates), with its span and sizes."""
    out = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for span in spans:
            sizes = design_sizes(noise, span, centre)
            for r in replicates:
                row = design_rates(noise, sizes, r, sims, n_boot, seed, pool)
                out.append({"span": span, "centre": None if span == 0 else centre,
                            "N_span": sizes[-1] / sizes[0], "sizes": sizes} | row)  # fmt: skip
                print(f"span {sizes[-1] / sizes[0]:.0f}x, {r} replicates: identified "
                      f"{round(row['identified'] * sims)}/{sims}, "
                      f"rising {round(row['rising'] * sims)}/{sims}",
                      file=sys.stderr, flush=True)  # fmt: skip
    return out


@dataclass(frozen=True)
class PowerSettings:
    """summary.md's power simulation: `sims` simulated studies per design, each fitted with `bootstrap`
    resamples (seed `seed`). Designs: the study's own sizes at its r replicates per size (its rate),
    then at r times each of `more` in order, stopping at the first whose identification rate
    reaches `decide_rate`: the replicates per size that would decide the claim."""

    sims: int = 10
    bootstrap: int = 20
    seed: int = 0
    more: tuple[int, ...] = (2, 4)
    decide_rate: float = DECIDE_RATE

    def __post_init__(self) -> None:
        if self.sims < 1 or self.bootstrap < 2 or not self.more or min(self.more) < 2:
            raise UserError("power simulation: sims >= 1, bootstrap >= 2 and factors in `more` >= 2 expected")
        if not 0 < self.decide_rate <= 1:
            raise UserError(f"power simulation: decide_rate {self.decide_rate} outside (0, 1]")


def identification_power(df: pd.DataFrame, settings: PowerSettings | None = None) -> dict[str, Any]:
    """The identification claim's power for one study (its table: see the module doc): the noise it
    measures, then its own sizes at r replicates per size (r: the study's fewest runs per size) and at
    r x each factor of settings.more until one reaches decide_rate. Returns {replicates (r), noise,
    settings, designs: [design_rates rows], decided_at (the smallest larger count whose rate reaches
    decide_rate, or None), tried_up_to}. UserError (from measure_table) when the noise cannot be
    measured."""
    settings = settings or PowerSettings()
    r = int(df.drop_duplicates("run").groupby("size").size().min())
    noise = measure_table(df, bootstrap_seed=settings.seed)
    sizes = list(noise.sizes)
    designs, decided = [], None
    for factor in (1, *settings.more):
        row = design_rates(noise, sizes, r * factor, settings.sims, settings.bootstrap, settings.seed)
        designs.append(row)
        if factor > 1 and row["identified"] >= settings.decide_rate:
            decided = r * factor
            break
    return {"replicates": r, "noise": asdict(noise), "settings": asdict(settings), "designs": designs,
            "decided_at": decided, "tried_up_to": designs[-1]["replicates"]}  # fmt: skip


def power_text(power: dict[str, Any]) -> str:
    """Sentences for summary.md: the replicates per size that would decide identification, and the
    rate with its Wilson interval at this design and the larger ones tried."""
    s = power["settings"]
    rates = "; ".join(
        f"{d['replicates']} per size{' (this study)' if d['replicates'] == power['replicates'] else ''}: "
        f"{d['identified']:.2f} [{d['identified_ci95'][0]:.2f}, {d['identified_ci95'][1]:.2f}]"
        for d in power["designs"]
    )
    decided = (
        f"About {power['decided_at']} replicates per size would decide it (the first larger count whose "
        f"simulated studies are identified at a rate >= {s['decide_rate']:.0%})"
        if power["decided_at"] is not None
        else f"More than {power['tried_up_to']} replicates per size would be needed to decide it (no count "
        f"tried reaches an identification rate of {s['decide_rate']:.0%})"
    )
    noise = power["noise"]
    return (
        f"{decided}. Identification rate (95% Wilson interval) at this study's sizes: {rates}. "
        f"Simulated from this study's own noise (sigma_k {noise['sigma_k']:.3f}, sigma_eps "
        f"{noise['sigma_eps']:.4f}, K_max {noise['K_max']:.3g}, N0 {noise['N0']:.3g}); "
        f"{s['sims']} simulated studies per design, {s['bootstrap']} bootstrap resamples per fit, "
        f"seed {s['seed']}"
    )
