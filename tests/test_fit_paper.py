"""The paper's fits, reproduced on the paper's own curves (../shared/data/paper), and the predictions
our parametric law makes where the paper's method cannot.

Tolerance for the paper's table: its rounding (half a unit of the last printed digit) + 3 %.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlscaling.curves_import import import_paper
from rlscaling.fit.data import to_curveset
from rlscaling.fit.kn import fit_kn
from rlscaling.fit.metrics import r2, summary
from rlscaling.fit.scenarios import split
from conftest import need_file


@pytest.fixture(scope="module")
def paper_table(shared_data):
    return import_paper(need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv"))


@pytest.fixture(scope="module")
def reported(shared_data):
    return json.loads(need_file(shared_data, "paper/reported_params.json").read_text())


@pytest.fixture(scope="module")
def repo_fits(shared_data):
    fits = json.loads(need_file(shared_data, "paper/repo_fits_exp1.json").read_text())["fits"]
    return {(f["context"]["data_source"], "C" if f["context"]["fit_x"] == "C_raw" else "D"): f for f in fits}


def curves(table, source, x, min_step=1):
    return to_curveset(table[table["source"] == source], x, min_step=min_step)


def table_row(reported, config, scenario):
    rows = reported["paper_tab_kn_parameters"]
    return next(
        r for r in rows if r["family"] == "Qwen2.5" and r["config"] == config and r["scenario"] == scenario
    )


def close_to_table(value, printed, decimals):
    """|value - printed| <= half a unit of the printed precision + 3 %."""
    return abs(value - printed) <= 0.5 * 10.0**-decimals + 0.03 * abs(printed)


# -- full fits --------------------------------------------------------------------------------------


def test_base_C_full_fit_reproduces_paper_within_stated_tolerance(paper_table):
    cs = curves(paper_table, "base", "C")
    fit = fit_kn(cs, objective="paper")
    assert cs.n_points == 732
    assert fit.K_max == pytest.approx(0.1330, abs=0.002)
    assert fit.N0 == pytest.approx(13.8e9, abs=0.5e9)
    assert r2(cs.L, fit.predict(cs)) >= 0.995


@pytest.mark.parametrize("x", ["C", "D"])
def test_base_full_fit_matches_authors_repo_fit_parameter_by_parameter(paper_table, repo_fits, x):
    ref = repo_fits[("base", x)]
    cs = curves(paper_table, "base", x)
    fit = fit_kn(cs, objective="paper")
    assert cs.n_points == ref["info"]["n_points"]
    assert fit.K_max == pytest.approx(ref["params"]["k_max"], rel=0.005)
    assert fit.N0 == pytest.approx(ref["params"]["N0"], rel=0.01)
    for label, key in [("0.5B", "E0_0_5"), ("7B", "E0_7"), ("72B", "E0_72")]:
        assert fit.E0[label] == pytest.approx(ref["params"][key], abs=0.003)
    assert r2(cs.L, fit.predict(cs)) == pytest.approx(ref["info"]["r2"], abs=2e-4)


@pytest.mark.parametrize("x", ["C", "D"])
def test_instruct_full_fit_is_close_to_authors_repo_fit(paper_table, repo_fits, x):
    """The repo's instruct fit (Nov 2025) used an earlier data version than the camera-ready figures
    our curves come from (703 points after clipping vs our 705, steps 1-3 unrecoverable), so the
    agreement is looser than for the base curves: K_max within 6 %, N0 within 12 %."""
    ref = repo_fits[("instruct", x)]
    cs = curves(paper_table, "instruct", x, min_step=5)  # the repo's warmup clip of 4 steps
    fit = fit_kn(cs, objective="paper")
    assert fit.K_max == pytest.approx(ref["params"]["k_max"], rel=0.06)
    assert fit.N0 == pytest.approx(ref["params"]["N0"], rel=0.12)
    assert r2(cs.L, fit.predict(cs)) >= 0.995


# -- the paper's table: intra and inter -------------------------------------------------------------


@pytest.mark.parametrize(
    "source,x,config,fit_steps",
    [
        ("base", "C", "Base L(N,C)", 25),
        ("base", "D", "Base L(N,D)", 25),
        ("instruct", "C", "Instruct L(N,C)", 43),
        ("instruct", "D", "Instruct L(N,D)", 43),
    ],
)
def test_intra_fit_reproduces_paper_table(paper_table, reported, source, x, config, fit_steps):
    """Intra: base fits steps 1-25, instruct steps 4-43 (the paper's first 40 points after clipping)."""
    row = table_row(reported, config, "Intra")
    sp = split(curves(paper_table, source, x), "intra", fit_steps=fit_steps)
    fit = fit_kn(sp.train, objective="paper")
    assert close_to_table(fit.K_max, row["K_max"], 3)
    assert close_to_table(fit.N0 / 1e9, row["N0_B"], 1)


@pytest.mark.parametrize("x,config", [("C", "Base L(N,C)"), ("D", "Base L(N,D)")])
def test_inter_fit_on_sizes_up_to_32B_reproduces_paper_table(paper_table, reported, x, config):
    row = table_row(reported, config, "Inter")
    sp = split(curves(paper_table, "base", x), "inter", holdout_N=[72e9])
    fit = fit_kn(sp.train, objective="paper")
    assert close_to_table(fit.K_max, row["K_max"], 3)
    assert close_to_table(fit.N0 / 1e9, row["N0_B"], 1)


# -- must beat: predicting 72B with nothing fitted on 72B -------------------------------------------


def test_paper_method_with_extrapolated_intercept_cannot_predict_72B(paper_table):
    sp = split(curves(paper_table, "base", "C"), "inter", holdout_N=[72e9])
    fit = fit_kn(sp.train, objective="paper")
    assert summary(sp.test.L, fit.predict(sp.test))["r2"] < -5


@pytest.mark.parametrize("x", ["C", "D"])
def test_parametric_law_predicts_base_72B_curve_from_smaller_sizes(paper_table, x):
    sp = split(curves(paper_table, "base", x), "inter", holdout_N=[72e9])
    fit = fit_kn(sp.train, law="paper-parametric")
    assert "72B" not in sp.train.labels
    m = summary(sp.test.L, fit.predict(sp.test))
    assert m["r2"] >= 0.8
    assert m["mape"] < 4.0


@pytest.mark.parametrize("x", ["C", "D"])
def test_parametric_law_beats_extrapolated_paper_method_on_instruct_72B(paper_table, x):
    """Instruct 72B barely improves on 32B (final loss 0.432 vs 0.458), which no law smooth in N
    extrapolates well; the parametric law still cuts the paper method's error by more than 2x."""
    sp = split(curves(paper_table, "instruct", x), "inter", holdout_N=[72e9])
    ours = summary(sp.test.L, fit_kn(sp.train, law="paper-parametric").predict(sp.test))
    paper = summary(sp.test.L, fit_kn(sp.train, objective="paper").predict(sp.test))
    assert ours["mape"] < paper["mape"] / 2
    assert ours["mape"] < 10.0


@pytest.mark.parametrize("fit_steps", [10, 25, 52])
def test_intra_prediction_of_default_objective_is_as_good_as_paper_objective(paper_table, fit_steps):
    cs = curves(paper_table, "base", "C")
    sp = split(cs, "intra", fit_steps=fit_steps)
    ours = summary(sp.test.L, fit_kn(sp.train).predict(sp.test))
    paper = summary(sp.test.L, fit_kn(sp.train, objective="paper").predict(sp.test))
    assert ours["mape"] <= paper["mape"] * 1.05
    assert ours["r2"] > 0.95


def test_fit_is_deterministic(paper_table):
    cs = curves(paper_table, "base", "D")
    a, b = fit_kn(cs), fit_kn(cs)
    assert (a.K_max, a.N0) == (b.K_max, b.N0)
    assert np.array_equal(a.predict(cs), b.predict(cs))
