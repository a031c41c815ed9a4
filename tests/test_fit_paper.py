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


@pytest.mark.parametrize("x,config", [("C", "Instruct L(N,C)"), ("D", "Instruct L(N,D)")])
def test_instruct_inter_fit_is_close_to_paper_table(paper_table, reported, x, config):
    """Beyond the base fits, checked against the paper's table: the paper fitted instruct 0.5B-32B on all
    steps with no warm-up clip, including steps 1-3 that the camera-ready figures do not let us
    recover, so our fit lands further off: K_max +8 % (C) / +10 % (D), N0 -10 % / -10 %."""
    row = table_row(reported, config, "Inter")
    sp = split(curves(paper_table, "instruct", x), "inter", holdout_N=[72e9])
    fit = fit_kn(sp.train, objective="paper")
    assert fit.K_max == pytest.approx(row["K_max"], rel=0.12)
    assert fit.N0 / 1e9 == pytest.approx(row["N0_B"], rel=0.12)


def test_the_command_line_reproduces_the_full_fit_and_beats_the_paper_on_72B(paper_table, tmp_path):
    """The same numbers through `rlscaling fit` on the imported table (what a user runs)."""
    from rlscaling.cli import main as cli

    curves_file = tmp_path / "paper.parquet"
    paper_table.to_parquet(curves_file)
    common = ["--where", "source=base", "--min-step", "1", "--bootstrap", "20"]
    full, inter = tmp_path / "full.json", tmp_path / "inter.json"
    assert (
        cli(["fit", str(curves_file), "-o", str(full), "--law", "paper", "--objective", "paper", *common])
        == 0
    )
    f = json.loads(full.read_text())
    assert f["n_points"] == 732 and f["r2"] >= 0.995
    assert f["params"]["K_max"] == pytest.approx(0.1330, abs=0.002)
    assert f["params"]["N0"] == pytest.approx(13.8e9, abs=0.5e9)
    lo, hi = f["ci95"]["K_max"]
    assert lo < f["params"]["K_max"] < hi
    args = ["--law", "paper-parametric", "--scenario", "inter", "--holdout-N", "72e9", *common]
    assert cli(["fit", str(curves_file), "-o", str(inter), *args]) == 0
    i = json.loads(inter.read_text())
    assert i["data"]["holdout"] == ["72B"] and "72B" not in i["params"]["E0"]
    assert i["heldout"]["r2"] >= 0.8 and i["heldout"]["n_points"] == 103
    assert i["baseline"]["paper_method"]["heldout"]["r2"] < -5


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


@pytest.mark.parametrize("fraction", [0.10, 0.25, 0.50])
@pytest.mark.parametrize("source,x", [("base", "C"), ("base", "D"), ("instruct", "C"), ("instruct", "D")])
def test_intra_prediction_from_early_steps_matches_the_paper_method(paper_table, source, x, fraction):
    """Predicting the later steps of every curve from the first 10 / 25 / 50 % is a tie: our
    default objective is within 10 % of the paper method's MAPE on the same points everywhere
    (better at 10 %, up to 6 % worse at 50 % of base D; benchmarks/bench_fit.py --predictions)."""
    sp = split(curves(paper_table, source, x), "intra", fit_fraction=fraction)
    ours = summary(sp.test.L, fit_kn(sp.train).predict(sp.test))
    paper = summary(sp.test.L, fit_kn(sp.train, objective="paper").predict(sp.test))
    assert ours["mape"] <= paper["mape"] * 1.10
    assert ours["r2"] > 0.95 and paper["r2"] > 0.95


def test_gain_shrinks_with_size_on_the_seed000_study(shared_data):
    """Qwen3-Base 0.6B-14B on GSM8K (base vs RL checkpoint, flexible answer extraction): the
    larger the model the less RL adds, gain = a N^b with b < 0."""
    from rlscaling.curves_import import import_seed000
    from rlscaling.fit.gain import fit_gain

    need_file(shared_data, "seed000/0.6b.json")
    df = import_seed000(shared_data / "seed000")
    df = df[(df.bench == "gsm8k") & (df.reward == "custom_flexible")]
    fit = fit_gain(to_curveset(df, "C", require_positive_x=False))
    assert fit.N.size == 5 and (fit.gain > 0).all()
    assert -0.8 < fit.b < -0.3


def test_fit_is_deterministic(paper_table):
    cs = curves(paper_table, "base", "D")
    a, b = fit_kn(cs), fit_kn(cs)
    assert (a.K_max, a.N0) == (b.K_max, b.N0)
    assert np.array_equal(a.predict(cs), b.predict(cs))


# -- anchored inter prediction: the held-out size's first point sets its intercept ------------------


def anchored_72B(paper_table, source, x, law, k=1):
    """(anchored, unanchored on the same points, paper's whole-curve E0 refit on the same points)
    summaries for the 72B curve, k(N) fitted on 0.5B-32B."""
    from rlscaling.fit.kn import predict_with_E0, refit_E0
    from rlscaling.fit.run import anchored_heldout
    from rlscaling.fit.scenarios import anchor_mask

    sp = split(curves(paper_table, source, x), "inter", holdout_N=[72e9])
    fit = fit_kn(sp.train, law=law)
    res = anchored_heldout(fit, sp.test, k)
    paper = fit_kn(sp.train, objective="paper")
    rest = sp.test.subset(~anchor_mask(sp.test, k))
    refit = summary(rest.L, predict_with_E0(paper, rest, refit_E0(paper, sp.test, "paper")))
    return res["heldout"], res["heldout_unanchored"], refit


@pytest.mark.parametrize("x", ["C", "D"])
def test_anchoring_on_the_first_point_predicts_instruct_72B_as_well_as_fitting_its_whole_curve(
    paper_table, x
):
    """Instruct 72B starts almost where 32B does, a break no law smooth in N foresees (R^2 -0.34 /
    0.09 unanchored). Its first point alone (step 4, what a user has before spending RL compute)
    fixes the level: R^2 0.87 / 0.87, MAPE 2.5 %, within 0.03 of the paper's method with E0 fitted
    on all 101 points of the 72B curve (0.87 / 0.90)."""
    anchored, unanchored, refit = anchored_72B(paper_table, "instruct", x, "paper-parametric")
    assert anchored["n_points"] == 100 and unanchored["n_points"] == 100
    assert anchored["r2"] >= 0.85 and anchored["mape"] < 2.6
    assert unanchored["r2"] < 0.1 and unanchored["mape"] > 7.0
    assert anchored["r2"] >= refit["r2"] - 0.03


@pytest.mark.parametrize("x", ["C", "D"])
def test_anchoring_base_72B_needs_the_parametric_slope_and_loses_to_E0_of_N_on_D(paper_table, x):
    """With the paper law (E0 free per size) k(72B) extrapolates too steep, and a line pinned at the
    first point drifts: anchored R^2 0.44 / 0.06 (base C / D) against 0.81 / 0.57 for
    paper-parametric. On base the unanchored E0(N) was already right (0.865 / 0.932) and step 1 of
    72B base sits 0.03 decades below its own line in D, so anchoring there is a loss for D."""
    ours, unanchored, _ = anchored_72B(paper_table, "base", x, "paper-parametric")
    paper_law, _, _ = anchored_72B(paper_table, "base", x, "paper")
    assert ours["r2"] > paper_law["r2"] + 0.3
    assert ours["r2"] >= (0.8 if x == "C" else 0.55)
    assert unanchored["r2"] >= 0.8


def test_the_command_line_anchors_instruct_72B(shared_data, tmp_path):
    """What a user runs: the imported paper directory, the holdout experiment's instruct curves."""
    from rlscaling.cli import main as cli

    need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv")
    table = tmp_path / "paper_all.parquet"
    assert cli(["curves", "import", "--format", "paper", str(shared_data / "paper"), "-o", str(table)]) == 0
    out = tmp_path / "anchored.json"
    args = ["--law", "paper-parametric", "--x", "C", "--scenario", "inter", "--holdout-N", "72e9"]
    args += ["--where", "experiment=holdout", "--where", "source=instruct", "--min-step", "1"]
    assert cli(["fit", str(table), "-o", str(out), *args, "--bootstrap", "0", "--anchor-points", "1"]) == 0
    f = json.loads(out.read_text())
    assert f["anchor"]["points"] == 1 and f["anchor"]["steps"] == {"72B": [4.0]}
    assert f["anchor"]["E0"]["72B"] > f["anchor"]["E0_unanchored"]["72B"] + 0.02
    assert f["heldout"]["n_points"] == 100 and f["heldout"]["r2"] >= 0.85
    assert f["heldout_unanchored"]["all_points"]["r2"] < 0
