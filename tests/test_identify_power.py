"""`rlscaling identify-power` (rlscaling.identify_power, `make identify-power`) and its simulation
(rlscaling.fit.power): noise measured from studies, simulated designs."""

import math
from dataclasses import replace

import numpy as np
import pytest

from rlscaling import identify_power as ip
from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError
from rlscaling.fit import power
from rlscaling.fit.kn import k_of_N
from rlscaling.fit.run import FitRequest, run_fit

SIZES = (5.6e4, 9.4e4, 5.2e5, 8.4e5)


def truth(sigma_run: float = 0.04, sigma_eps: float = 0.01) -> "power.Noise":
    return power.Noise(K_max=0.15, N0=1e5, e0_slope=0.8, e0_intercept=-3.8, e0_sd=0.05, sigma_k=float("nan"),
                    sigma_eps=sigma_eps, sigma_run=sigma_run, c_per_param=(6e5, 1.7e6, 2.7e6), sizes=SIZES,
                    runs=0, studies=0)  # fmt: skip


def write_studies(tmp_path, noise, studies: int, replicates: int) -> list:
    dirs = []
    for j in range(studies):
        d = tmp_path / f"study{j}"
        d.mkdir()
        study = power.simulate(noise, list(SIZES), replicates, np.random.default_rng(j))
        study.to_parquet(d / "curves.parquet")
        dirs.append(d)
    return dirs


def test_measure_recovers_the_simulated_noise_and_law(tmp_path):
    noise = truth()
    measured = ip.measure(write_studies(tmp_path, noise, studies=4, replicates=6))
    assert measured.runs == 96 and measured.studies == 4
    assert abs(measured.sigma_eps - noise.sigma_eps) < 0.25 * noise.sigma_eps
    assert abs(measured.sigma_run - noise.sigma_run) < 0.25 * noise.sigma_run
    # sigma_k holds both the runs' spread and the points' share of it
    sxx = float(np.var(np.log10(noise.c_per_param)) * 3)
    expected = math.hypot(noise.sigma_run, noise.sigma_eps / math.sqrt(sxx))
    assert measured.sigma_k == pytest.approx(expected, rel=0.25)
    assert abs(measured.K_max - noise.K_max) < 0.05
    assert measured.c_per_param == pytest.approx(noise.c_per_param)


def test_a_noiseless_study_of_the_law_is_identified_and_recovers_it():
    study = power.simulate(truth(sigma_run=0.0, sigma_eps=1e-4), list(SIZES), 3, np.random.default_rng(0))
    fit = run_fit(study, FitRequest(law="paper", x="C", bootstrap=30, seed=0))
    verdict = power.judge(fit)
    assert verdict["identified"] and verdict["rising"], verdict
    assert fit["params"]["K_max"] == pytest.approx(0.15, rel=0.05)
    assert fit["params"]["N0"] == pytest.approx(1e5, rel=0.15)


def test_design_sizes_are_the_measured_ones_or_log_even_from_the_smallest():
    noise = truth()
    assert power.design_sizes(noise, 0) == list(SIZES)
    wide = power.design_sizes(noise, 60)
    assert wide[0] == SIZES[0] and wide[-1] == pytest.approx(60 * SIZES[0])
    assert np.allclose(np.diff(np.log10(wide)), math.log10(60) / 3)
    around = power.design_sizes(noise, 100, centre="N0")
    assert around[0] == pytest.approx(noise.N0 / 10) and around[-1] == pytest.approx(noise.N0 * 10)


def test_wilson_interval_of_a_rate():
    lo, hi = power.wilson(20, 40)
    assert lo == pytest.approx(0.352, abs=1e-3) and hi == pytest.approx(0.648, abs=1e-3)
    assert power.wilson(0, 10)[0] == 0.0 and power.wilson(10, 10)[1] == 1.0


def test_studies_without_replicates_are_refused(tmp_path):
    with pytest.raises(UserError, match="sigma_k needs two runs of one size"):
        ip.measure(write_studies(tmp_path, truth(), studies=1, replicates=1))


def test_a_folder_without_a_curves_table_is_named(tmp_path):
    with pytest.raises(UserError, match=r"nostudy/curves.parquet: no curves table"):
        ip.measure([tmp_path / "nostudy"])


def write_base_driven_study(tmp_path, k_per_base: float, rng):
    """A study whose runs' slopes are k(N) + k_per_base x (base pass@1 - its size's mean), exactly,
    with a step-0 row carrying each run's base pass@1 and tiny point scatter."""
    import pandas as pd

    noise, rows = truth(), []
    for i, n in enumerate(SIZES):
        bases = 0.3 + 0.1 * rng.standard_normal(4)
        for r, base in enumerate(bases):
            k = float(k_of_N(n, noise.K_max, noise.N0)) + k_per_base * (base - bases.mean())
            row = {"study": "s", "run": f"z{i}__rep-{r}", "size": f"z{i}", "family": "f", "N": n,
                   "replicate": r, "seed": 1000 * r, "bench": "heldout"}  # fmt: skip
            rows.append(row | {"step": 0, "C": 0.0, "D": 0.0, "pass_at_1": base, "L": 1 - base})
            for j, cpp in enumerate(noise.c_per_param):
                L = 10 ** (-0.2 - k * math.log10(cpp * n / 1e10) + 1e-4 * rng.standard_normal())
                point = {"step": j + 1, "C": cpp * n, "D": float(j + 1), "pass_at_1": 1 - L, "L": L}
                rows.append(row | point)
    d = tmp_path / "study"
    d.mkdir()
    pd.DataFrame(rows).to_parquet(d / "curves.parquet")
    return d


def test_a_slope_spread_made_by_the_base_models_is_attributed_to_them(tmp_path):
    spread = ip.spread_sources([write_base_driven_study(tmp_path, 0.3, np.random.default_rng(0))])
    assert spread.dof == 12
    assert spread.k_per_base == pytest.approx(0.3, rel=1e-2)
    assert spread.shares()["base"] > 0.99 and spread.sigma_rest < 0.1 * spread.sigma_k
    assert spread.sigma_sampling is None  # the study has no eval samples tables
    assert f"the base model's skill {spread.sigma_base:.3f}" in ip.spread_text(spread)


def test_a_slope_spread_unrelated_to_the_base_models_is_the_runs_own(tmp_path):
    studies = write_studies(tmp_path, truth(sigma_run=0.05, sigma_eps=1e-3), studies=2, replicates=4)
    spread = ip.spread_sources(studies)  # simulated studies have no step 0: the base is not measured
    assert spread.sigma_base is None and spread.shares()["base"] == 0
    assert spread.shares()["rest"] > 0.9
    assert "base model's skill not measured" in ip.spread_text(spread)


def write_samples(study, rng, identical_halves: bool, problems: int = 200, n: int = 4) -> float:
    """Eval samples tables for every checkpoint >= 1 of a study: each problem's samples are Bernoulli
    draws at the checkpoint's pass@1 (or, with identical_halves, odd samples repeat the even ones).
    Returns the binomial SD of a run's slope k this sampling gives (delta method, draws independent)."""
    import pandas as pd

    curves = pd.read_parquet(study / "curves.parquet")
    var_k = []
    for run, g in curves[curves["step"] >= 1].groupby("run"):
        x = np.log10(g["C"].to_numpy(float))
        w = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
        var_log_l = []
        for step, p1 in zip(g["step"], g["pass_at_1"], strict=True):
            draws = rng.random((problems, n)) < p1
            if identical_halves:
                draws[:, 1::2] = draws[:, 0::2]
            index = {"problem": np.repeat(np.arange(problems), n), "sample": np.tile(np.arange(n), problems)}
            t = pd.DataFrame(index | {"correct": draws.ravel()})
            out = study / "eval" / run / f"step_{int(step):06d}"
            out.mkdir(parents=True, exist_ok=True)
            t.to_parquet(out / "heldout.samples.parquet")
            var_log_l.append(p1 * (1 - p1) / (problems * n) / ((1 - p1) * math.log(10)) ** 2)
        var_k.append(float(np.sum(np.array(var_log_l) * w**2)))
    return math.sqrt(float(np.mean(var_k)))


def test_the_evaluations_sampling_share_is_measured_from_split_halves_of_the_samples(tmp_path):
    d = write_base_driven_study(tmp_path, 0.3, np.random.default_rng(1))
    binomial_sd = write_samples(d, np.random.default_rng(2), identical_halves=False)
    spread = ip.spread_sources([d])
    assert spread.sigma_sampling == pytest.approx(binomial_sd, rel=0.35)
    assert "the evaluation's sampling 0." in ip.spread_text(spread)


def test_halves_that_agree_leave_no_sampling_share(tmp_path):
    d = write_base_driven_study(tmp_path, 0.3, np.random.default_rng(1))
    write_samples(d, np.random.default_rng(2), identical_halves=True)
    assert ip.spread_sources([d]).sigma_sampling == 0.0


def test_noise_scales_are_applied_and_reported(tmp_path, monkeypatch):
    studies = write_studies(tmp_path, truth(), studies=2, replicates=3)
    seen = {}

    def fake_designs(noise, *args, **kwargs):
        seen["noise"] = noise
        return []

    from rlscaling import identify_power_cli

    monkeypatch.setattr(identify_power_cli, "run_designs", fake_designs)
    monkeypatch.setattr(identify_power_cli, "figure", lambda rows, out: None)
    measured = ip.measure(studies)
    out = tmp_path / "out"
    scales = ["--run-noise-scale", "0.5", "--point-noise-scale", "0.25"]
    args = ["identify-power", *[str(d) for d in studies], "--out", str(out), *scales]
    assert cli_main(args) == 0
    assert seen["noise"].sigma_run == pytest.approx(0.5 * measured.sigma_run)
    assert seen["noise"].sigma_eps == pytest.approx(0.25 * measured.sigma_eps)
    text = (out / "identify_power.md").read_text()
    assert "simulated at 0.5 x the measured" in text and "simulated at 0.25 x the measured" in text
    assert "Where sigma_k" in text


def test_a_runs_own_slope_tilts_its_curve_without_moving_its_level():
    noise = replace(truth(sigma_run=0.05, sigma_eps=0.0), e0_sd=0.0)
    study = power.simulate(noise, list(SIZES), 40, np.random.default_rng(0))
    for _, g in study.groupby("size"):
        # every run of a size passes through one point at the middle of its steps (mean log10 C) ...
        middle = np.log10(g["C"]).mean()
        lines = [np.polyfit(np.log10(r["C"]), np.log10(r["L"]), 1) for _, r in g.groupby("run")]
        levels = [np.polyval(line, middle) for line in lines]
        assert np.ptp(levels) < 1e-9
    # ... while the slopes spread as sigma_run says, and no point is clipped to the edge of (0, 1)
    slopes = power.run_slopes(study)
    assert slopes.groupby("size")["k"].std().mean() == pytest.approx(0.05, rel=0.25)
    assert (study["L"] > power.L_CLIP[0]).all() and (study["L"] < power.L_CLIP[1]).all()


def test_the_pooled_check_fits_the_studies_pooled_m_at_a_time(tmp_path):
    # noiseless studies of the law: every pool is identified, and pooling adds the replicates up
    dirs = write_studies(tmp_path, truth(sigma_run=0.0, sigma_eps=1e-4), studies=3, replicates=2)
    rows = ip.pooled_check(dirs, n_boot=20, jobs=1)
    assert [(r["studies"], r["replicates"], r["pools"]) for r in rows] == [(1, 2, 3), (2, 4, 3), (3, 6, 1)]
    assert all(r["identified"] == r["pools"] for r in rows)
    assert "| 2 | 4 | 3 of 3 |" in ip.pooled_text(rows)


def test_the_pooled_check_draws_at_most_max_combos_pools(tmp_path):
    dirs = write_studies(tmp_path, truth(sigma_run=0.0, sigma_eps=1e-4), studies=4, replicates=2)
    rows = ip.pooled_check(dirs, n_boot=10, jobs=1, max_combos=2)
    assert [r["pools"] for r in rows] == [2, 2, 2, 1]


def test_the_reports_power_estimate_is_refused_without_replicates_and_settings_are_validated():
    one = power.simulate(truth(), list(SIZES), 1, np.random.default_rng(0))
    with pytest.raises(UserError, match="sigma_k needs two runs of one size"):
        power.identification_power(one, power.PowerSettings(sims=2, bootstrap=5))
    with pytest.raises(UserError, match="sims >= 1"):
        power.PowerSettings(sims=0)
    with pytest.raises(UserError, match="factors in `more` >= 2"):
        power.PowerSettings(more=(1,))


def test_the_reports_power_estimate_tries_this_design_then_larger_ones_until_one_decides():
    study = power.simulate(truth(sigma_run=0.0, sigma_eps=1e-4), list(SIZES), 2, np.random.default_rng(0))
    record = power.identification_power(study, power.PowerSettings(sims=2, bootstrap=10))
    assert record["replicates"] == 2 and [d["replicates"] for d in record["designs"]] == [2, 4]
    assert record["decided_at"] == 4  # a noiseless law: identified at 4 per size, the first larger count
    text = power.power_text(record)
    assert text.startswith("About 4 replicates per size would decide it")
    assert "2 per size (this study): 1.00" in text
