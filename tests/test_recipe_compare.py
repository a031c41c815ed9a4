"""`rlscaling compare-recipes` (rlscaling.fit.recipe_compare) on synthetic curves with known sigmoid
parameters: it recovers A, B and C_mid, calls a clearly better recipe better (and the reference worse
in turn), leaves identical recipes undetermined, flags parameters the data do not pin, and checks
whether an early fit's ranking holds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlscaling.cli import main as cli
from rlscaling.errors import UserError
from rlscaling.fit import recipe_compare as RC
from rlscaling.fit.sigmoid import sigmoid_R

FLOPS_PER_STEP = 1e12
STEPS = np.arange(0, 101, 5)


def curves(
    recipes: dict[str, dict], replicates: int = 3, noise: float = 0.0, seed: int = 0, sizes=None, shift=0.0
):
    """A curves table: recipe -> {R0, A, B, C_mid}; every replicate's pass rate is the sigmoid at
    C = FLOPS_PER_STEP x step plus N(0, noise) per point, and with `shift` a whole-curve offset
    N(0, shift) per replicate (as seeds give)."""
    rng = np.random.default_rng(seed)
    rows = []
    for size, N in (sizes or {"s": 1e6}).items():
        for recipe, p in recipes.items():
            for k in range(replicates):
                offset = rng.normal(0, shift) if shift else 0.0
                C = FLOPS_PER_STEP * STEPS
                R = sigmoid_R(C, p["R0"], p["A"], p["B"], p["C_mid"]) + offset + rng.normal(0, noise, C.size)
                for step, c, r in zip(STEPS, C, R, strict=True):
                    rows.append(
                        dict(size=size, N=N, recipe=recipe, replicate=k, step=int(step), C=c, bench="heldout",
                             L=1.0 - float(np.clip(r, 0, 1)))
                    )  # fmt: skip
    return pd.DataFrame(rows)


BASE = {"R0": 0.1, "A": 0.6, "B": 2.0, "C_mid": 3e13}


def test_recovers_the_parameters_of_a_noise_free_curve():
    df = curves({"grpo": BASE, "dapo": {**BASE, "A": 0.8}}, replicates=1)
    res = RC.compare(df, bootstrap=0)
    for recipe, A in (("grpo", 0.6), ("dapo", 0.8)):
        e = res["sizes"]["s"]["recipes"][recipe]
        assert e["A"]["value"] == pytest.approx(A, abs=1e-4)
        assert e["B"]["value"] == pytest.approx(2.0, rel=1e-3)
        assert e["C_mid"]["value"] == pytest.approx(3e13, rel=1e-3)
        assert e["efficiency"]["value"] == pytest.approx(2.0 / 3e13, rel=2e-3)


def test_the_intervals_cover_the_true_parameters_with_noisy_replicates():
    """8 replicates: with 3, the percentile bootstrap over replicates is narrower than 95% (it covered
    A in 8, B in 6 and C_mid in 8 of 10 such tables; with 8 replicates 9, 10 and 9)."""
    df = curves({"grpo": BASE, "dapo": BASE}, replicates=8, noise=0.01, seed=1)
    e = RC.compare(df, bootstrap=100, seed=0)["sizes"]["s"]["recipes"]["grpo"]
    for k in ("A", "B", "C_mid"):
        lo, hi = e[k]["ci95"]
        assert lo <= BASE[k] <= hi, (k, e[k])
        assert not e[k]["at_bound"]


def test_a_clearly_better_recipe_is_better_and_the_reference_worse_against_it():
    df = curves({"grpo": BASE, "dapo": {**BASE, "A": 0.8}}, replicates=3, noise=0.01, seed=2)
    better = RC.compare(df, bootstrap=100)["sizes"]["s"]["differences"]["dapo"]["A"]
    assert better["verdict"] == "better" and better["value"] == pytest.approx(0.2, abs=0.03)
    worse = RC.compare(df, reference="dapo", bootstrap=100)["sizes"]["s"]["differences"]["grpo"]["A"]
    assert worse["verdict"] == "worse"


def test_a_faster_recipe_is_more_efficient():
    df = curves({"grpo": BASE, "gspo": {**BASE, "C_mid": 1e13}}, replicates=3, noise=0.005, seed=3)
    d = RC.compare(df, bootstrap=100)["sizes"]["s"]["differences"]["gspo"]
    assert d["efficiency"]["verdict"] == "better"
    assert d["efficiency"]["value"] == pytest.approx(np.log10(3.0), abs=0.1)


def test_identical_recipes_are_undetermined():
    df = curves({"grpo": BASE, "cispo": BASE}, replicates=3, noise=0.02, seed=4, shift=0.02)
    d = RC.compare(df, bootstrap=100)["sizes"]["s"]["differences"]["cispo"]
    assert d["A"]["verdict"] == "undetermined" and d["efficiency"]["verdict"] == "undetermined"


def test_a_curve_that_has_not_bent_leaves_its_parameters_at_a_bound_and_the_verdict_undetermined():
    late = {**BASE, "A": 0.95, "C_mid": 5e15}  # the midpoint lies far beyond the runs
    df = curves({"grpo": BASE, "dapo": late}, replicates=3, noise=0.01, seed=5)
    res = RC.compare(df, bootstrap=50)["sizes"]["s"]
    e = res["recipes"]["dapo"]
    assert e["A"]["at_bound"] or e["C_mid"]["at_bound"] or e["B"]["at_bound"]
    assert res["differences"]["dapo"]["efficiency"]["verdict"] == "undetermined"


def test_the_early_fit_ranking_holds_for_clearly_different_recipes():
    df = curves({"grpo": BASE, "dapo": {**BASE, "A": 0.8}}, replicates=2, noise=0.005, seed=6)
    ex = RC.compare(df, bootstrap=0)["sizes"]["s"]["extrapolation"]
    assert ex["predicted_ranking"] == ["dapo", "grpo"] and ex["ranking_holds"] is True
    assert ex["recipes"]["grpo"]["rmse_late"] < 0.03


def test_without_replicates_the_bootstrap_resamples_points():
    df = curves({"grpo": BASE, "dapo": {**BASE, "A": 0.8}}, replicates=1, noise=0.01, seed=7)
    res = RC.compare(df, bootstrap=50)
    assert res["bootstrap"]["unit"] == "points" and res["replicate_column"] is None
    assert res["sizes"]["s"]["differences"]["dapo"]["A"]["verdict"] == "better"


def test_every_size_is_compared_on_its_own():
    df = curves({"grpo": BASE, "dapo": {**BASE, "A": 0.8}}, replicates=2, sizes={"s": 1e6, "m": 4e6})
    assert list(RC.compare(df, bootstrap=0)["sizes"]) == ["s", "m"]


def test_a_table_without_a_recipe_column_is_refused_by_name():
    df = curves({"grpo": BASE, "dapo": BASE}).drop(columns="recipe")
    with pytest.raises(UserError, match=r"no 'recipe' column"):
        RC.compare(df)


def test_one_recipe_is_nothing_to_compare():
    with pytest.raises(UserError, match=r"one recipe"):
        RC.compare(curves({"grpo": BASE}))


def test_an_unknown_reference_is_refused_naming_the_recipes():
    with pytest.raises(
        UserError, match=r"--reference ppo: not a recipe of the table \(recipes: grpo, dapo\)"
    ):
        RC.compare(curves({"grpo": BASE, "dapo": BASE}), reference="ppo")


def test_the_command_writes_the_json_and_both_figures(tmp_path):
    path = tmp_path / "curves.parquet"
    curves({"grpo": BASE, "dapo": {**BASE, "A": 0.8}}, replicates=2, noise=0.01).to_parquet(path)
    out = tmp_path / "recipes.json"
    rc = cli(["compare-recipes", str(path), "-o", str(out), "--figures", str(tmp_path / "fig"),
              "--where", "bench=heldout", "--bootstrap", "20"])  # fmt: skip
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["reference"] == "grpo" and res["where"] == ["bench=heldout"]
    for name in RC.FIGURES:
        assert (tmp_path / "fig" / f"{name}.png").stat().st_size > 0
