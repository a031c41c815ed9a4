"""The fitting functions recover known parameters, carry honest intervals, and refuse bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlscaling.errors import UserError
from rlscaling.fit.bootstrap import bootstrap, resample
from rlscaling.fit.data import apply_where, to_curveset
from rlscaling.fit.gain import fit_gain
from rlscaling.fit.kn import E0_FORMS, fit_kn, k_of_N
from rlscaling.fit.laws import FitOptions, Refit, fit_law
from rlscaling.fit.reuse import fit_reuse
from rlscaling.fit.sigmoid import fit_sigmoid, sigmoid_R

SIZES = [0.5e9, 1.5e9, 3e9, 7e9, 14e9, 32e9]


def law_table(K_max=0.14, N0=12e9, noise=0.0, seed=0, sizes=SIZES, steps=range(1, 61), e0=None):
    """Curves that follow the paper's law exactly (plus optional relative noise): X = D = 512 step,
    C = 6 N 512*8*600 step; E0 = -0.05 + 1.5 k(N) (a pivot in D) unless e0 gives one per size."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, N in enumerate(sizes):
        k = float(k_of_N(N, K_max, N0))
        E0 = e0[i] if e0 is not None else -0.05 + 1.5 * k
        for s in steps:
            D = 512.0 * s
            L = 10 ** (-k * np.log10(D) + E0) * (1 + noise * rng.standard_normal())
            rows.append({"N": N, "step": s, "D": D, "C": 6 * N * 512 * 8 * 600 * s, "L": min(L, 1.0)})
    return pd.DataFrame(rows)


# -- the paper law ---------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["paper", "log-mse", "log-huber"])
def test_paper_law_recovers_known_parameters_from_exact_curves(objective):
    cs = to_curveset(law_table(), "D")
    fit = fit_kn(cs, objective=objective)
    assert fit.K_max == pytest.approx(0.14, rel=1e-4)
    assert fit.N0 == pytest.approx(12e9, rel=1e-3)
    assert fit.E0["7B"] == pytest.approx(-0.05 + 1.5 * float(k_of_N(7e9, 0.14, 12e9)), abs=1e-5)


def test_parametric_law_recovers_pivot_parameters_and_predicts_an_unseen_size():
    cs = to_curveset(law_table(sizes=SIZES + [72e9]), "D")
    train = cs.subset(cs.N < 50e9)
    fit = fit_kn(train, law="paper-parametric", e0_form="pivot")
    assert fit.theta["e_a"] == pytest.approx(-0.05, abs=1e-5)
    assert fit.theta["e_b"] == pytest.approx(1.5, abs=1e-4)
    test = cs.subset(cs.N > 50e9)
    assert np.allclose(fit.predict(test), test.L, rtol=1e-4)


def test_parametric_default_form_depends_on_x():
    cs = to_curveset(law_table(), "C")
    assert fit_kn(cs, law="paper-parametric").e0_form == "pivot-tokens"
    assert fit_kn(to_curveset(law_table(), "D"), law="paper-parametric").e0_form == "pivot"


def test_every_E0_form_fits_without_error():
    cs = to_curveset(law_table(noise=0.01), "D")
    for form in E0_FORMS:
        fit = fit_kn(cs, law="paper-parametric", e0_form=form)
        assert np.isfinite(fit.predict(cs)).all()


def test_huber_objective_resists_a_corrupted_point_better_than_mse():
    df = law_table(noise=0.005)
    df.loc[(df.N == 32e9) & (df.step == 60), "L"] *= 1.6  # one bad evaluation at the end of a curve
    cs = to_curveset(df, "D")
    huber = fit_kn(cs, objective="log-huber")
    mse = fit_kn(cs, objective="log-mse")
    assert abs(huber.K_max - 0.14) < abs(mse.K_max - 0.14)


# -- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_interval_covers_truth_and_is_reproducible_by_seed():
    cs = to_curveset(law_table(noise=0.02, seed=3), "D")
    fit = fit_kn(cs)
    refit = Refit("paper", FitOptions(), (fit.K_max, float(np.log10(fit.N0))))
    a = bootstrap(refit, cs, 40, seed=7, unit="block")
    b = bootstrap(refit, cs, 40, seed=7, unit="block")
    lo, hi = a.ci95()["K_max"]
    assert lo < 0.14 < hi
    assert np.array_equal(a.values, b.values, equal_nan=True)


def test_curve_resample_draws_whole_curves_with_replacement():
    cs = to_curveset(law_table(), "D")
    r = resample(cs, "curve", np.random.default_rng(0))
    assert r.n_curves == cs.n_curves
    for i in range(r.n_curves):
        assert np.sum(r.curve == i) == 60


def test_seed_unit_resamples_within_size():
    df = pd.concat([law_table(noise=0.01, seed=s).assign(seed=s) for s in range(3)])
    cs = to_curveset(df, "D")
    r = resample(cs, "seed", np.random.default_rng(1))
    assert sorted(r.curve_N.tolist()) == sorted(cs.curve_N.tolist())


# -- other laws -------------------------------------------------------------------------------------


def test_sigmoid_recovers_asymptote_and_efficiency():
    X = np.geomspace(1e17, 1e20, 80)
    rows = [
        {"N": N, "step": i + 1, "C": x, "D": i + 1.0, "L": 1 - sigmoid_R(x, 0.1, A, B, 3e18)}
        for N, A, B in [(1e9, 0.4, 1.2), (8e9, 0.6, 0.9)]
        for i, x in enumerate(X)
    ]
    fit = fit_sigmoid(to_curveset(pd.DataFrame(rows), "C"))
    p = fit.params_json()
    assert p["A"]["1B"] == pytest.approx(0.4, abs=2e-3)
    assert p["B"]["8B"] == pytest.approx(0.9, rel=0.02)
    assert "scaling" in p


def test_sigmoid_bootstrap_refit_warm_starts_from_the_full_fit_and_finds_the_same_optimum():
    rng = np.random.default_rng(0)
    X = np.geomspace(1e17, 1e20, 60)
    rows = [
        {
            "N": N,
            "step": i + 1,
            "C": x,
            "D": i + 1.0,
            "L": 1 - sigmoid_R(x, 0.1, A, B, 3e18) + 0.005 * rng.standard_normal(),
        }
        for N, A, B in [(1e9, 0.4, 1.2), (8e9, 0.6, 0.9)]
        for i, x in enumerate(X)
    ]
    cs = to_curveset(pd.DataFrame(rows), "C")
    full = fit_law("sigmoid", cs, FitOptions())
    assert set(full.start) == {"1B", "8B"}
    warm = Refit("sigmoid", FitOptions(), full.start)(cs)
    cold = Refit("sigmoid", FitOptions())(cs)
    for k, v in cold.items():
        assert warm[k] == pytest.approx(v, rel=1e-4), k
    a = bootstrap(Refit("sigmoid", FitOptions(), full.start), cs, 8, seed=1, unit="block")
    assert a.n_failed == 0 and a.ci95()["A/8B"][0] < 0.6 < a.ci95()["A/8B"][1]


def test_gain_power_law_recovers_exponent_from_base_and_final_scores():
    rows = []
    for N in [0.6e9, 1.7e9, 4e9, 14e9]:
        base = 0.2
        gain = 2e3 * N**-0.4
        rows += [
            {"N": N, "step": 0, "C": 0.0, "D": 0.0, "L": 1 - base},
            {"N": N, "step": 50, "C": 1e18, "D": 2e4, "L": 1 - base - gain},
        ]
    fit = fit_gain(to_curveset(pd.DataFrame(rows), "C", require_positive_x=False))
    assert fit.b == pytest.approx(-0.4, abs=1e-9)
    assert fit.a == pytest.approx(2e3, rel=1e-6)


def test_reuse_penalty_is_zero_for_identical_curves_and_positive_for_worse_ones():
    base = law_table(sizes=[7e9])
    df = pd.concat(
        [base.assign(reuse_tau=1), base.assign(reuse_tau=4), base.assign(reuse_tau=20, L=base["L"] * 1.05)]
    )
    fit = fit_reuse(to_curveset(df, "step"))
    pen = fit.params_json()["vs_tau1"]
    assert pen["tau=4"]["penalty_mean_pct"] == pytest.approx(0.0, abs=1e-8)
    assert pen["tau=20"]["penalty_mean_pct"] == pytest.approx(5.0, rel=1e-6)
    assert "tau=1" not in pen  # the reference: no zero-width interval to flag


# -- bad input ------------------------------------------------------------------------------------


def test_single_size_is_refused_by_laws_that_need_several():
    with pytest.raises(UserError, match="at least 2 model sizes"):
        fit_kn(to_curveset(law_table(sizes=[7e9]), "D"))


def test_fewer_points_than_parameters_is_refused():
    with pytest.raises(UserError, match="fewer points than parameters"):
        fit_kn(to_curveset(law_table(steps=[1]), "D"))


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("L", 0.0, "must lie in"),
        ("L", -0.1, "must lie in"),
        ("D", 0.0, "must be > 0"),
        ("L", np.nan, "NaN"),
        ("D", np.nan, "NaN"),
    ],
)
def test_bad_values_raise_a_clear_error_naming_the_column(column, value, message):
    df = law_table()
    df.loc[5, column] = value
    with pytest.raises(UserError, match=message) as err:
        to_curveset(df, "D")
    assert repr(column) in str(err.value)


def test_unknown_where_column_is_named():
    with pytest.raises(UserError, match="unknown column 'bench'"):
        apply_where(law_table(), [("bench", "heldout")])


def test_missing_required_column_is_named():
    with pytest.raises(UserError, match=r"missing column\(s\) \['D'\]"):
        to_curveset(law_table().drop(columns=["D"]), "D")


def test_duplicate_steps_within_a_curve_are_refused():
    df = pd.concat([law_table(), law_table().head(3)])
    with pytest.raises(UserError, match="share step"):
        to_curveset(df, "D")


# -- anchored inter prediction (--anchor-points) ----------------------------------------------------


def test_anchored_E0_recovers_a_known_intercept_exactly_on_noiseless_curves():
    """A held-out size off the E0(N) trend: k(N) from the other sizes, its E0 from its first points
    (closed form), recovered to rounding; the anchored curve is then exact."""
    from rlscaling.fit.kn import KnFit, anchor_E0, predict_with_E0
    from rlscaling.fit.scenarios import anchor_mask

    sizes = SIZES + [72e9]
    e0 = [-0.05 + 1.5 * float(k_of_N(N, 0.14, 12e9)) for N in sizes]
    e0[-1] += 0.04  # the held-out size starts 10 % worse than the trend says
    cs = to_curveset(law_table(sizes=sizes, e0=e0), "D")
    held = cs.subset(cs.curve_N[cs.curve] == 72e9)
    exact = KnFit(law="paper", objective="", K_max=0.14, N0=12e9)
    for k in (1, 3):
        mask = anchor_mask(held, k)
        assert held.step[mask].tolist() == list(range(1, k + 1))
        assert anchor_E0(exact, held.subset(mask))["72B"] == pytest.approx(e0[-1], abs=1e-12)
    fit = fit_kn(cs.subset(cs.curve_N[cs.curve] < 72e9), law="paper-parametric", e0_form="pivot")
    anchored = anchor_E0(fit, held.subset(anchor_mask(held, 1)))
    assert anchored["72B"] == pytest.approx(e0[-1], abs=1e-6)
    np.testing.assert_allclose(predict_with_E0(fit, held, anchored), held.L, rtol=1e-5)
    assert abs(float(fit.E0_of_N(72e9)) - e0[-1]) > 0.03  # unanchored: the trend's E0


def test_anchor_points_are_excluded_from_the_heldout_score_and_recorded():
    from rlscaling.fit.run import FitRequest, run_fit

    sizes = SIZES + [72e9]
    e0 = [-0.05 + 1.5 * float(k_of_N(N, 0.14, 12e9)) for N in sizes]
    e0[-1] += 0.04
    df = law_table(sizes=sizes, e0=e0)
    req = FitRequest(
        law="paper-parametric", x="D", scenario="inter", e0_form="pivot", holdout_N=[72e9], anchor_points=2
    )
    out = run_fit(df, req)
    assert out["heldout"]["n_points"] == 58 and out["anchor"]["n_anchor_points"] == 2
    assert out["anchor"]["points"] == 2 and out["anchor"]["steps"] == {"72B": [1.0, 2.0]}
    assert out["anchor"]["E0"]["72B"] == pytest.approx(e0[-1], abs=1e-6)
    assert out["heldout"]["r2"] > 0.99999 and out["heldout"]["mape"] < 1e-3
    unanchored = out["heldout_unanchored"]
    assert unanchored["n_points"] == 58 and unanchored["all_points"]["n_points"] == 60
    assert unanchored["mape"] > 5.0  # E0(N) from the trend misses the 0.04-decade break
    assert out["baseline"]["anchored"]["paper_method_anchored"]["n_points"] == 58


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"anchor_points": 59}, "--anchor-points 59: held-out curve '72B' has 60 points; at most 58"),
        ({"anchor_points": -1}, "--anchor-points -1: must be >= 0"),
        ({"anchor_points": 1, "scenario": "full"}, "--anchor-points 1 applies to --scenario inter only"),
        ({"anchor_points": 1, "law": "sigmoid"}, "law 'sigmoid' has no per-size intercept"),
    ],
)
def test_bad_anchor_points_is_a_user_error_naming_the_option(changes, message):
    from rlscaling.fit.run import FitRequest, run_fit

    df = law_table(sizes=SIZES + [72e9])
    kw = {"law": "paper-parametric", "x": "D", "scenario": "inter", "holdout_N": [72e9]} | changes
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        run_fit(df, FitRequest(**kw))
