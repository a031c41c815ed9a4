"""`rlscaling allocate {rollouts,reuse,split}`: compute-allocation answers from curves tables.

Specifications: the split analysis recovers a known optimum from a synthetic table; rollouts and
reuse give the documented answers on the paper's 7B curves (skipped without ../shared/data); tables
without the needed dimension, or with fewer than 3 levels of it, are refused (exit code 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from rlscaling.cli import main as cli_main
from rlscaling.curves_import import import_paper
from rlscaling.errors import UserError
from rlscaling.fit import allocate
from rlscaling.fit.allocate import cli as allocate_cli
from conftest import need_file

# --------------------------------------------------------------------------------------------------
# synthetic split table with a known optimum

E, A, ALPHA, G, BETA, U = 0.05, 0.6, 0.45, 0.5, 0.2, 1e12
N = 1e6


def true_loss(c_pre: float, c_rl: float) -> float:
    """L after pre-training with c_pre FLOPs then RL with c_rl FLOPs (additive power laws)."""
    return E + A * (c_pre / U) ** -ALPHA + G * ((c_rl + U) / U) ** -BETA


def true_share(budget: float) -> float:
    """The RL share of budget that minimises true_loss (numerically)."""
    r = minimize_scalar(
        lambda z: true_loss(budget / (1 + np.exp(z)), budget - budget / (1 + np.exp(z))),
        bounds=(-8, 8),
        method="bounded",
    )
    return float(1 / (1 + np.exp(-r.x)))


def synthetic_split_table(replicates: int = 3, noise: float = 0.004, seed: int = 1) -> pd.DataFrame:
    """13 pre-training token budgets (1e6 .. 64e6, factor sqrt 2) of one size, each RL'd 100 steps of
    1e13 FLOPs, with Gaussian noise on L per replicate."""
    rng = np.random.default_rng(seed)
    rows = []
    for tokens in 1e6 * 2.0 ** (np.arange(13) / 2):
        c_pre = 6 * N * tokens
        for rep in range(replicates):
            for step in range(101):
                c_rl = step * 1e13
                L = true_loss(c_pre, c_rl) + rng.normal(0, noise)
                rows.append(
                    {"run": f"t{tokens:.3g}__rep-{rep}", "N": N, "pretrain_tokens": tokens, "replicate": rep,
                     "step": step, "C": c_rl, "L": L}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_split_recovers_known_optimum_and_its_law():
    res = allocate.split.analyse(synthetic_split_table(), n_budgets=8, bootstrap=100)
    (g,) = res["groups"]
    assert g["bootstrap_unit"] == "replicate"
    located = [b for b in g["budgets"] if b["censored"] is None]
    assert len(located) >= 4
    covered = 0
    for b in located:
        truth, est = true_share(b["budget"]), b["share_star"]
        assert abs(est["value"] - truth) < 0.06, b["budget"]
        covered += est["ci95"][0] - 1e-3 <= truth <= est["ci95"][1] + 1e-3
    assert covered >= len(located) - 1  # 95% intervals: at most one miss
    # the law over the same budgets: the true optimum's logit grows ~0.5 per decade of budget
    B = np.array([b["budget"] for b in located])
    t = np.array([true_share(x) for x in B])
    true_b = np.polyfit(np.log10(B), np.log(t / (1 - t)), 1)[0]
    law_b = g["law"]["b"]
    assert law_b["ci95"][0] < true_b < law_b["ci95"][1]
    assert law_b["value"] == pytest.approx(true_b, abs=0.15)
    assert law_b["ci95"][0] > 0  # the optimum moves towards RL as the budget grows
    mid = float(np.sqrt(B[0] * B[-1]))
    assert allocate.split.split_law_share(g["law"], mid) == pytest.approx(true_share(mid), abs=0.04)


def test_split_without_replicates_bootstraps_the_isoflop_residuals():
    df = synthetic_split_table(replicates=1)
    (g,) = allocate.split.analyse(df, n_budgets=6, bootstrap=20)["groups"]
    assert g["bootstrap_unit"] == "isoflop-residual"
    assert any(b["share_star"]["ci95"][0] is not None for b in g["budgets"])


def test_split_cli_writes_json_and_figure(tmp_path):
    src = tmp_path / "split.csv"
    synthetic_split_table(replicates=2).to_csv(src, index=False)
    out, fig = tmp_path / "split.json", tmp_path / "split.png"
    assert (
        cli_main(["allocate", "split", str(src), "-o", str(out), "--figure", str(fig), "--bootstrap", "5"])
        == 0
    )
    res = json.loads(out.read_text())
    assert res["analysis"] == "split" and res["groups"][0]["law"]["b"]["value"] > 0
    assert fig.stat().st_size > 10_000


# --------------------------------------------------------------------------------------------------
# bad input


def _rollout_table(levels: list[int]) -> pd.DataFrame:
    rows = []
    for n in levels:
        for step in range(1, 21):
            C = 1e15 * n * step
            rows.append({"run": f"n{n}", "N": 1e6, "rollouts_per_prompt": n, "step": step, "C": C,
                         "L": 0.8 * C ** -0.01 * (1 + 0.01 * abs(np.log2(n) - 3))})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("analysis", "column"),
    [("rollouts", "rollouts_per_prompt"), ("reuse", "reuse_tau"), ("split", "pretrain_tokens")],
)
def test_a_table_without_the_dimension_is_refused_naming_the_column(tmp_path, capsys, analysis, column):
    df = _rollout_table([2, 4, 8]).drop(columns="rollouts_per_prompt")
    with pytest.raises(UserError, match=column):
        allocate.run(df, analysis, bootstrap=0)
    src = tmp_path / "c.csv"
    df.to_csv(src, index=False)
    assert cli_main(["allocate", analysis, str(src), "-o", str(tmp_path / "o.json")]) == 2
    assert column in capsys.readouterr().err


def test_fewer_than_three_levels_is_unidentifiable():
    with pytest.raises(UserError, match="rollouts_per_prompt has 2 level"):
        allocate.rollouts.analyse(_rollout_table([4, 8]), bootstrap=0)
    df = synthetic_split_table(replicates=1)
    two = df[df["pretrain_tokens"].isin(sorted(df["pretrain_tokens"].unique())[:2])]
    with pytest.raises(UserError, match="pretrain_tokens has 2 level"):
        allocate.split.analyse(two, bootstrap=0)


def test_sizes_are_separate_answers():
    df = pd.concat([_rollout_table([2, 4, 8]), _rollout_table([2, 4, 8]).assign(N=2e6)], ignore_index=True)
    res = allocate.rollouts.analyse(df, bootstrap=0)
    assert [g["group"] for g in res["groups"]] == ["N=1e+06", "N=2e+06"]


def test_integer_measurements_along_a_run_do_not_split_groups():
    df = _rollout_table([2, 4, 8]).assign(bench="heldout")
    df["response_tokens"] = (df["step"] * 7).astype(int)  # varies along each run
    res = allocate.rollouts.analyse(df, bootstrap=0)
    assert [g["group"] for g in res["groups"]] == ["all"]


def test_rollouts_at_equal_rollouts_per_step_compare_at_equal_steps():
    # compute-matched runs: the same C per step for every n, best n = 8 by construction
    df = _rollout_table([2, 4, 8, 16, 32])
    df["C"] = 1e15 * df["step"]
    df["L"] = 0.8 * df["step"] ** -0.05 * (1 + 0.01 * (np.log2(df["rollouts_per_prompt"]) - 3) ** 2)
    (g,) = allocate.rollouts.analyse(df, x="step", bootstrap=0)["groups"]
    assert {r["best"] for r in g["levels"]} == {8.0}
    assert all(r["nstar"]["value"] == pytest.approx(8.0, rel=0.05) for r in g["levels"])


# --------------------------------------------------------------------------------------------------
# the paper's 7B curves


@pytest.fixture(scope="module")
def paper_rollouts(shared_data):
    return import_paper(need_file(shared_data, "paper/grpo_rollout_n_7B.csv"))


@pytest.fixture(scope="module")
def paper_reuse(shared_data):
    return import_paper(need_file(shared_data, "paper/data_reuse_tau_7B.csv"))


def test_paper_import_names_the_dimensions(paper_rollouts, paper_reuse):
    assert sorted(paper_rollouts["rollouts_per_prompt"].unique()) == [4, 8, 16, 32]
    assert sorted(paper_reuse["reuse_tau"].unique()) == [1, 2, 5, 20, 25, 50, 100]


def test_paper_rollouts_best_n_grows_on_base_but_does_not_saturate(paper_rollouts):
    res = allocate.rollouts.analyse(paper_rollouts, bootstrap=40, extrapolate=2.0)
    groups = {g["group"]: g for g in res["groups"]}
    assert set(groups) == {"source=base", "source=instruct"}
    base, inst = groups["source=base"], groups["source=instruct"]
    # base: n = 4 is best up to ~1e19 FLOPs, n = 16 from ~2e19; n = 32 is never best
    assert base["levels"][0]["best"] == 4 and base["levels"][-1]["best"] == 16
    assert base["verdict"]["grows"] and not base["verdict"]["saturates"]
    assert base["law"]["b"]["value"] == pytest.approx(1.6, abs=0.4)
    # instruct: the best n stays at 4-8 over the whole range
    assert {r["best"] for r in inst["levels"]} <= {4.0, 8.0}
    assert not inst["verdict"]["isocompute_holds"]
    for g in (base, inst):
        assert all(r["best"] != 32 for r in g["levels"])


def test_paper_reuse_cost_matches_the_reuse_fit(paper_reuse):
    res = allocate.reuse.analyse(paper_reuse, bootstrap=40)
    base = next(g for g in res["groups"] if g["group"] == "source=base")
    tau25, tau100 = base["vs_tau1"]["25"]["fit_pct"], base["vs_tau1"]["100"]["fit_pct"]
    # the reuse law's numbers (+1.45 % and +3.31 % loss at equal steps)
    assert tau25["value"] == pytest.approx(1.45, abs=0.05)
    assert tau100["value"] == pytest.approx(3.31, abs=0.05)
    assert tau25["ci95"][0] < tau25["value"] < tau25["ci95"][1]
    assert tau100["ci95"][0] > tau25["ci95"][0]  # more reuse costs more
    assert base["pct_per_decade_of_tau"]["fit_pct"]["ci95"][0] > 0


# --------------------------------------------------------------------------------------------------
# presets

PRESETS = Path(__file__).resolve().parents[1] / "workflow" / "presets"


def load_preset(name: str) -> dict:
    """A study preset is an overlay on config.yaml (the default study), as Snakemake merges it."""
    import yaml

    from rlscaling import config

    overlay = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    return config.load(PRESETS.parents[1] / "config.yaml", overlay)


@pytest.mark.parametrize("name", ["tiny-rollouts", "tiny-reuse"])
def test_allocation_presets_change_only_their_sweep_on_the_default_study(name):
    from rlscaling import config

    cfg, default = load_preset(name), config.load(PRESETS.parents[1] / "config.yaml")
    assert cfg["models"] == default["models"] and cfg["pretrain"] == default["pretrain"]
    assert cfg["study"] == name and set(cfg["sweep"]) <= {"rollouts_per_prompt", "reuse_tau"}


def test_tiny_rollouts_preset_holds_rollouts_per_step_constant():
    from rlscaling import config

    cfg = load_preset("tiny-rollouts")
    runs = config.runs(cfg)
    assert sorted({r.training["rollouts_per_prompt"] for r in runs}) == [2, 4, 8, 16]
    assert {r.training["prompts_per_step"] * r.training["rollouts_per_prompt"] for r in runs} == {64}
    assert all("rollouts_per_step" not in r.training for r in runs)


def test_rollouts_per_step_must_be_a_multiple_of_every_n(tmp_path):
    import yaml

    from rlscaling import config

    overlay = yaml.safe_load((PRESETS / "tiny-rollouts.yaml").read_text())
    overlay["sweep"]["rollouts_per_prompt"] = [2, 3, 4]
    with pytest.raises(UserError, match="rollouts_per_step: 64 is not a multiple of rollouts_per_prompt 3"):
        config.load(PRESETS.parents[1] / "config.yaml", overlay)


def test_tiny_reuse_preset_sweeps_tau():
    from rlscaling import config

    cfg = load_preset("tiny-reuse")
    assert sorted({r.training["reuse_tau"] for r in config.runs(cfg)}) == [1, 4, 16, 64]


def test_split_reads_a_study_curves_table_by_its_c_pretrain_column():
    df = synthetic_split_table(replicates=1)
    df["C_pretrain"] = 6 * df["N"] * df["pretrain_tokens"]
    res = allocate.split.analyse(df.drop(columns="pretrain_tokens"), n_budgets=6, bootstrap=0)
    assert res["dimension"] == "C_pretrain"
    assert res["groups"][0]["law"]["b"]["value"] > 0


def test_tiny_split_preset_pretrains_every_size_at_every_token_budget():
    import yaml

    from rlscaling import config

    cfg = config.validate(yaml.safe_load((PRESETS / "tiny-split.yaml").read_text()))
    budgets = cfg["sweep"]["pretrain_tokens"]
    assert len(budgets) >= 4 and max(budgets) / min(budgets) >= 8
    models = config.base_models(cfg)
    assert len(models) == len(cfg["models"]["sizes"]) * len(budgets)
    assert {(m["size"], m["pretrain"]["tokens"]) for m in models.values()} == {
        (s, t) for s in cfg["models"]["sizes"] for t in budgets
    }


@pytest.mark.parametrize(("preset", "command"), [
    ("tiny-rollouts", "allocate rollouts"),
    ("tiny-reuse", "allocate reuse"),
    ("tiny-split", "allocate split"),
])  # fmt: skip
def test_presets_plan_their_allocation_answer(tmp_path, preset, command):
    import subprocess
    import sys

    root = PRESETS.parents[1]
    # tiny-split is a study of its own (2 sizes); the others are overlays on config.yaml
    configs = ["--replace-workflow-config"] if preset == "tiny-split" else [str(root / "config.yaml")]
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory", str(tmp_path),
         "-n", "-p", "all", "--configfile", str(PRESETS / f"{preset}.yaml"), *configs],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if command in x)
    assert "--where bench=heldout" in line
    assert ("--x step" in line) == (preset == "tiny-rollouts")  # compute-matched: equal steps


def test_an_optimum_at_the_edge_of_the_isoflop_curve_is_stated_as_a_bound():
    row = {"share_star": {"value": 0.09, "ci95": [0.09, 0.09]}, "censored": "lower"}
    assert allocate_cli._share_text(row) == "<= 0.09 (lower edge)"
    row = {"share_star": {"value": 0.7, "ci95": [0.7, 0.7]}, "censored": "upper"}
    assert allocate_cli._share_text(row) == ">= 0.70 (upper edge)"
    row = {"share_star": {"value": 0.4, "ci95": [0.3, 0.5]}, "censored": None}
    assert allocate_cli._share_text(row) == "0.40 [0.30, 0.50]"
