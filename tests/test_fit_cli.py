"""`rlscaling fit`: the command-line contract the workflow and users rely on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlscaling.cli import main as cli

STUDY_SIZES = {"xs": 2.0e5, "s": 6.0e5, "m": 1.5e6, "l": 3.2e6}


def study_curves(seed: int = 0, steps=(0, 10, 20, 30, 40), seeds=(0,), sizes=STUDY_SIZES) -> pd.DataFrame:
    """A small study's curves.parquet (the columns `rlscaling curves build` writes), with losses
    from the paper's law (K_max 0.3, N0 1e6) plus noise; benches heldout and ood."""
    rng = np.random.default_rng(seed)
    rows = []
    for size, N in sizes.items():
        for sd in seeds:
            k = 0.3 * N / (N + 1e6)
            L0 = 0.95 - 0.1 * np.log10(N / 1e5)
            for step in steps:
                D = 16.0 * step
                tokens = D * 8 * 80
                L = L0 * (1 + step) ** (-k) * (1 + 0.01 * rng.standard_normal())
                for bench, Lb in (("heldout", L), ("ood", 1 - 0.5 * (1 - L))):
                    rows.append(
                        {
                            "study": "default",
                            "run": size if len(seeds) == 1 else f"{size}__seed-{sd}",
                            "size": size,
                            "family": "tiny",
                            "N": N,
                            "N_nonembed": 0.8 * N,
                            "seed": sd,
                            "step": step,
                            "D": D,
                            "C": 6 * N * tokens,
                            "C_full": 8 * N * tokens,
                            "C_pretrain": 6 * N * 2e6,
                            "tokens": tokens,
                            "bench": bench,
                            "pass_at_1": 1 - Lb,
                            "pass_at_2": min(1.0, 1.4 * (1 - Lb)),
                            "format_rate": 0.9,
                            "mean_response_tokens": 30.0,
                            "L": Lb,
                        }
                    )
    return pd.DataFrame(rows)


WORKFLOW_ARGS = ["--where", "bench=heldout", "--bootstrap", "20", "--seed", "0", "--min-step", "1"]


@pytest.fixture
def study_parquet(tmp_path):
    p = tmp_path / "curves.parquet"
    study_curves().to_parquet(p, index=False)
    return p


def run_fit(args):
    return cli(["fit", *map(str, args)])


def test_workflow_command_line_writes_fit_json_with_the_contract_keys(study_parquet, tmp_path):
    out = tmp_path / "fits" / "paper__C__inter.json"
    rc = run_fit(
        [
            study_parquet,
            "-o",
            out,
            "--law",
            "paper",
            "--x",
            "C",
            "--scenario",
            "inter",
            *WORKFLOW_ARGS,
            "--holdout-size",
            "l",
        ]
    )
    assert rc == 0
    fit = json.loads(out.read_text())
    assert (fit["law"], fit["x"], fit["scenario"]) == ("paper", "C", "inter")
    assert set(fit["params"]["E0"]) == {"xs", "s", "m"}
    for name in ("K_max", "N0"):
        lo, hi = fit["ci95"][name]
        assert lo <= fit["params"][name] <= hi
    assert set(fit["ci95"]["E0"]) == {"xs", "s", "m"}
    assert fit["n_points"] == 12
    assert {"r2", "r2_log"} <= set(fit)
    assert {"r2", "rmse", "mape"} <= set(fit["heldout"])
    assert fit["data"]["holdout"] == ["l"]


def test_intra_scenario_fits_early_steps_and_scores_the_rest(study_parquet, tmp_path):
    out = tmp_path / "f.json"
    assert (
        run_fit(
            [
                study_parquet,
                "-o",
                out,
                "--law",
                "paper-parametric",
                "--x",
                "D",
                "--scenario",
                "intra",
                "--fit-steps",
                "20",
                *WORKFLOW_ARGS,
            ]
        )
        == 0
    )
    fit = json.loads(out.read_text())
    assert fit["n_points"] == 8 and fit["heldout"]["n_points"] == 8
    assert fit["heldout"]["r2"] > 0.9
    assert "paper_method" in fit["baseline"]


def test_csv_input_and_no_bootstrap(study_parquet, tmp_path):
    csv = tmp_path / "c.csv"
    pd.read_parquet(study_parquet).to_csv(csv, index=False)
    out = tmp_path / "f.json"
    args = [csv, "-o", out, "--law", "paper", "--x", "D", "--where", "bench=heldout", "--min-step", "1"]
    assert run_fit(args + ["--bootstrap", "0"]) == 0
    fit = json.loads(out.read_text())
    assert fit["ci95"] is None and fit["r2"] > 0.99


def params_without_ci(params: dict, ci: dict | None, path: str = "") -> list[str]:
    """Numeric leaves of a FIT.json params block that have no [lo, hi] interval in ci95."""
    out = []
    for k, v in params.items():
        sub = (ci or {}).get(k) if isinstance(ci, dict) else None
        if isinstance(v, dict):
            out += params_without_ci(v, sub, f"{path}{k}/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if not (isinstance(sub, list) and len(sub) == 2 and sub[0] <= sub[1]):
                out.append(path + k)
    return out


def reuse_curves() -> pd.DataFrame:
    """One size at three data-reuse factors (tau 4 and 20 lose 2 % and 6 % against tau 1)."""
    df = study_curves(sizes={"m": 1.5e6})
    df = df[df.bench == "heldout"]
    return pd.concat(
        [
            df.assign(reuse_tau=t, run=f"m__tau-{t}", L=df["L"] * f)
            for t, f in ((1, 1.0), (4, 1.02), (20, 1.06))
        ]
    )


@pytest.mark.parametrize("law", ["paper", "paper-parametric", "sigmoid", "gain", "reuse"])
def test_a_plain_fit_gives_a_95_interval_for_every_parameter(study_parquet, tmp_path, law):
    """The contract: FIT.json has ci95 for every parameter, without asking for a bootstrap."""
    src = study_parquet
    if law == "reuse":
        src = tmp_path / "reuse.parquet"
        reuse_curves().to_parquet(src, index=False)
    out = tmp_path / "f.json"
    # sigmoid has 4 parameters per curve: it keeps step 0 (X = 0 is its R0) to have 5 points
    min_step = "0" if law == "sigmoid" else "1"
    assert run_fit([src, "-o", out, "--law", law, "--where", "bench=heldout", "--min-step", min_step]) == 0
    fit = json.loads(out.read_text())
    assert fit["bootstrap"]["n"] == 200 and fit["bootstrap"]["doc"]
    assert params_without_ci(fit["params"], fit["ci95"]) == []


def test_where_is_repeatable_and_every_filter_applies(tmp_path):
    p = tmp_path / "c.parquet"
    df = pd.concat([study_curves().assign(family="tiny"), study_curves(seed=1).assign(family="other")])
    df.to_parquet(p, index=False)
    out = tmp_path / "f.json"
    args = [p, "-o", out, "--law", "paper", "--min-step", "1", "--bootstrap", "0"]
    assert run_fit(args + ["--where", "bench=heldout", "--where", "family=tiny"]) == 0
    fit = json.loads(out.read_text())
    assert fit["n_points"] == 16 and fit["data"]["where"] == ["bench=heldout", "family=tiny"]
    assert fit["notes"] == []


def test_curves_of_one_size_that_differ_in_a_column_are_refused_naming_the_column(tmp_path, capsys):
    """Grouping, never pooling: base and instruct tau curves of one size are two experiments."""
    p = tmp_path / "c.parquet"
    base = reuse_curves()
    pd.concat([base.assign(source="base"), base.assign(source="instruct", L=base["L"] * 0.9)]).to_parquet(p)
    out = tmp_path / "f.json"
    assert run_fit([p, "-o", out, "--law", "reuse", "--min-step", "1", "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "differ in source (base, instruct)" in err and "--where source=base" in err
    assert not out.exists()
    assert run_fit([p, "-o", out, "--law", "reuse", "--min-step", "1", "--where", "source=base"]) == 0


def test_a_text_variant_column_named_like_a_metric_still_groups(tmp_path, capsys):
    """A sweep's `reward` column (the reward function's name) is a variant, not the reward metric:
    runs of one size with different rewards are refused, not pooled into one size's gain."""
    p = tmp_path / "c.parquet"
    df = study_curves()
    pd.concat([df.assign(reward="strict"), df.assign(reward="flexible", L=df["L"] * 0.95)]).assign(
        run=lambda d: d["size"] + "__" + d["reward"]
    ).to_parquet(p)
    out = tmp_path / "f.json"
    assert run_fit([p, "-o", out, "--law", "gain", "--where", "bench=heldout"]) == 2
    assert "differ in reward (flexible, strict)" in capsys.readouterr().err
    assert (
        run_fit([p, "-o", out, "--law", "gain", "--where", "bench=heldout", "--where", "reward=strict"]) == 0
    )
    fit = json.loads(out.read_text())
    assert sorted(fit["params"]["gain"]) == sorted(STUDY_SIZES)  # one spelling: the size column
    assert sorted(fit["ci95"]["gain"]) == sorted(STUDY_SIZES)


def test_fit_is_deterministic_for_a_given_seed(study_parquet, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        run_fit([study_parquet, "-o", out, "--law", "paper", "--x", "C", *WORKFLOW_ARGS])
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    ja.pop("seconds"), jb.pop("seconds")
    assert ja == jb


def test_seed_replicates_are_bootstrapped_by_seed(tmp_path):
    p = tmp_path / "c.parquet"
    study_curves(seeds=(0, 1, 2)).to_parquet(p, index=False)
    out = tmp_path / "f.json"
    assert run_fit([p, "-o", out, "--law", "paper", "--x", "C", *WORKFLOW_ARGS]) == 0
    assert json.loads(out.read_text())["bootstrap"]["unit"] == "seed"


@pytest.mark.parametrize("law", ["sigmoid", "gain"])
def test_other_laws_run_from_a_study_table(study_parquet, tmp_path, law):
    out = tmp_path / "f.json"
    assert (
        run_fit(
            [
                study_parquet,
                "-o",
                out,
                "--law",
                law,
                "--x",
                "C",
                "--scenario",
                "full",
                "--where",
                "bench=heldout",
                "--bootstrap",
                "5",
                "--min-step",
                "0" if law == "sigmoid" else "1",  # sigmoid: 4 parameters per curve, 5 points
            ]
        )
        == 0
    )
    fit = json.loads(out.read_text())
    assert fit["law"] == law and fit["ci95"]


def test_a_scenario_a_law_cannot_predict_still_writes_a_fit(study_parquet, tmp_path):
    out = tmp_path / "f.json"
    assert (
        run_fit(
            [
                study_parquet,
                "-o",
                out,
                "--law",
                "gain",
                "--x",
                "D",
                "--scenario",
                "intra",
                "--fit-steps",
                "20",
                "--where",
                "bench=heldout",
            ]
        )
        == 0
    )
    fit = json.loads(out.read_text())
    assert "heldout" not in fit and fit["notes"]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--where", "benchmark=heldout"], "unknown column 'benchmark'"),
        (["--scenario", "inter", "--holdout-size", "xl"], "no curve with that size"),
        (["--scenario", "intra"], "needs --fit-steps"),
        (["--min-step", "0"], "must be > 0"),
        (["--where", "size=l"], "at least 3 distinct model sizes"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_the_problem(study_parquet, tmp_path, capsys, extra, message):
    args = [study_parquet, "-o", tmp_path / "f.json", "--law", "paper", "--x", "C"]
    if "--min-step" not in extra:
        args += ["--min-step", "1"]
    if not any(e.startswith("bench") for e in extra):
        args += ["--where", "bench=heldout"]
    assert run_fit(args + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "f.json").exists()


def test_missing_curves_file_is_named(tmp_path, capsys):
    assert run_fit([tmp_path / "nope.parquet", "-o", tmp_path / "f.json", "--law", "paper"]) == 2
    assert "nope.parquet does not exist" in capsys.readouterr().err


def test_constant_loss_is_refused_not_fitted_with_a_perfect_r2(study_parquet, tmp_path, capsys):
    df = pd.read_parquet(study_parquet)
    df["L"] = 0.9875
    flat = tmp_path / "flat.parquet"
    df.to_parquet(flat)
    args = [
        flat,
        "-o",
        tmp_path / "f.json",
        "--law",
        "paper",
        "--x",
        "C",
        "--min-step",
        "1",
        "--where",
        "bench=heldout",
    ]
    assert run_fit(args) == 2
    assert "is constant" in capsys.readouterr().err
    assert not (tmp_path / "f.json").exists()


def test_anchor_points_set_the_held_out_intercept_and_score_the_rest(study_parquet, tmp_path, capsys):
    """--anchor-points 1: the held-out size 'l' (4 points at steps 10-40) has its E0 from step 10 and
    is scored on steps 20-40; the unanchored numbers are kept; K > points - 2 is refused."""
    out = tmp_path / "a.json"
    args = [study_parquet, "-o", out, "--law", "paper", "--scenario", "inter", "--holdout-size", "l"]
    assert run_fit([*args, *WORKFLOW_ARGS, "--anchor-points", "1"]) == 0
    fit = json.loads(out.read_text())
    assert fit["anchor"]["points"] == 1 and fit["anchor"]["steps"] == {"l": [10.0]}
    assert set(fit["anchor"]["E0"]) == {"l"} and "l" not in fit["params"]["E0"]
    assert fit["heldout"]["n_points"] == 3 and fit["heldout"]["E0_source"].startswith("anchored")
    assert fit["heldout_unanchored"]["n_points"] == 3
    assert fit["heldout_unanchored"]["all_points"]["n_points"] == 4
    assert "anchored on 1 point" in capsys.readouterr().err
    assert run_fit([*args, *WORKFLOW_ARGS, "--anchor-points", "3"]) == 2
    assert "--anchor-points 3: held-out curve 'l' has 4 points" in capsys.readouterr().err


def test_figures_draw_an_anchored_held_out_size_through_its_anchored_intercept(study_parquet, tmp_path):
    """The dashed line of an anchored held-out size is the law with k(N) from the other sizes and
    the anchored E0: at the anchor point (one point, so E0 fits it exactly) it passes through it."""
    import numpy as np
    import pandas as pd

    from rlscaling.figures import base as figures

    out = tmp_path / "a.json"
    args = [study_parquet, "-o", out, "--law", "paper", "--scenario", "inter", "--holdout-size", "l"]
    assert run_fit([*args, *WORKFLOW_ARGS, "--anchor-points", "1"]) == 0
    fit = json.loads(out.read_text())
    df = pd.read_parquet(study_parquet)
    held = df[(df["size"] == "l") & (df["bench"] == "heldout") & (df["step"] >= 1)]
    first = held.sort_values("step").iloc[0]
    N = float(first["N"])
    X, L = np.array([float(first["C"])]), float(first["L"])
    assert figures._kn_line(fit, "l", N, X)[0] == pytest.approx(L, rel=1e-9)
    assert figures._kn_line({**fit, "anchor": None}, "l", N, X)[0] != pytest.approx(L)


@pytest.mark.parametrize("step, shown", [("four", "'four'"), ("", "a blank cell"), ("2.5", "2.5")])
def test_a_step_that_is_not_a_whole_number_is_refused_naming_the_file_and_line(tmp_path, capsys, step, shown):
    df = study_curves().astype({"step": object})
    df.loc[3, "step"] = step
    path = tmp_path / "curves.csv"
    df.to_csv(path, index=False)
    assert run_fit([path, "-o", tmp_path / "f.json", "--law", "paper", "--x", "C", *WORKFLOW_ARGS]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 5: column 'step' is {shown}; expected a whole number >= 0" in err
