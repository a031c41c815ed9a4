"""benchmarks/identify_power.py (`make identify-power`): noise measured from studies, simulated designs."""

import importlib.util
import math
import sys

import numpy as np
import pytest

from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "benchmarks" / "identify_power.py"
_spec = importlib.util.spec_from_file_location("identify_power", SCRIPT)
ip = importlib.util.module_from_spec(_spec)
sys.modules["identify_power"] = ip  # its dataclass looks its module up
_spec.loader.exec_module(ip)

SIZES = (5.6e4, 9.4e4, 5.2e5, 8.4e5)


def truth(sigma_run: float = 0.04, sigma_eps: float = 0.01) -> "ip.Noise":
    return ip.Noise(K_max=0.15, N0=1e5, e0_slope=0.8, e0_intercept=-3.8, e0_sd=0.05, sigma_k=float("nan"),
                    sigma_eps=sigma_eps, sigma_run=sigma_run, c_per_param=(6e5, 1.7e6, 2.7e6), sizes=SIZES,
                    runs=0, studies=0)  # fmt: skip


def write_studies(tmp_path, noise, studies: int, replicates: int) -> list:
    dirs = []
    for j in range(studies):
        d = tmp_path / f"study{j}"
        d.mkdir()
        ip.simulate(noise, list(SIZES), replicates, np.random.default_rng(j)).to_parquet(d / "curves.parquet")
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
    study = ip.simulate(truth(sigma_run=0.0, sigma_eps=1e-4), list(SIZES), 3, np.random.default_rng(0))
    fit = ip.run_fit(study, ip.FitRequest(law="paper", x="C", bootstrap=30, seed=0))
    verdict = ip.judge(fit)
    assert verdict["identified"] and verdict["rising"], verdict
    assert fit["params"]["K_max"] == pytest.approx(0.15, rel=0.05)
    assert fit["params"]["N0"] == pytest.approx(1e5, rel=0.15)


def test_design_sizes_are_the_measured_ones_or_log_even_from_the_smallest():
    noise = truth()
    assert ip.design_sizes(noise, 0) == list(SIZES)
    wide = ip.design_sizes(noise, 60)
    assert wide[0] == SIZES[0] and wide[-1] == pytest.approx(60 * SIZES[0])
    assert np.allclose(np.diff(np.log10(wide)), math.log10(60) / 3)
    around = ip.design_sizes(noise, 100, centre="N0")
    assert around[0] == pytest.approx(noise.N0 / 10) and around[-1] == pytest.approx(noise.N0 * 10)


def test_wilson_interval_of_a_rate():
    lo, hi = ip.wilson(20, 40)
    assert lo == pytest.approx(0.352, abs=1e-3) and hi == pytest.approx(0.648, abs=1e-3)
    assert ip.wilson(0, 10)[0] == 0.0 and ip.wilson(10, 10)[1] == 1.0


def test_studies_without_replicates_are_refused(tmp_path):
    with pytest.raises(UserError, match="sigma_k needs two runs of one size"):
        ip.measure(write_studies(tmp_path, truth(), studies=1, replicates=1))


def test_a_folder_without_a_curves_table_is_named(tmp_path):
    with pytest.raises(UserError, match=r"nostudy/curves.parquet: no curves table"):
        ip.measure([tmp_path / "nostudy"])
