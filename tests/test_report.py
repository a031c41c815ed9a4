"""Specification of `rlscaling report` (rlscaling.report): summary.md's tables, checks, times, figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlscaling.cli import main as cli_main

SIZES = {"xs": 1e5, "s": 4e5, "m": 1.6e6}


def curves_frame(base=None, final=None) -> pd.DataFrame:
    """A curves table: 3 sizes, steps 0/10/20, benches heldout + ood; pass@1 from base to final."""
    base = base or {"xs": 0.10, "s": 0.20, "m": 0.30}
    final = final or {"xs": 0.20, "s": 0.35, "m": 0.50}
    rows = []
    for size, n in SIZES.items():
        for step in (0, 10, 20):
            for bench, shift in (("heldout", 0.0), ("ood", -0.05)):
                p1 = max(0.0, base[size] + (final[size] - base[size]) * step / 20 + shift)  # a rate
                rows.append(
                    {
                        "study": "t",
                        "run": size,
                        "size": size,
                        "family": "tiny",
                        "N": n,
                        "N_nonembed": n / 2,
                        "step": step,
                        "D": 16.0 * step,
                        "C": 6 * n * 1000 * step,
                        "C_pretrain": 6 * n * 1e6,
                        "bench": bench,
                        "pass_at_1": p1,
                        "pass_at_2": p1 + 0.05,
                        "L": 1 - p1,
                    }
                )
    return pd.DataFrame(rows)


def fit(name: str, r2: float = 0.97, heldout: dict | None = None) -> dict:
    law, x, scenario = name.split("__")
    out = {
        "law": law,
        "x": x,
        "scenario": scenario,
        "params": {"K_max": 0.133, "N0": 1.38e10, "E0": [0.1, 0.2]},
        "ci95": {"K_max": [0.12, 0.15], "N0": [1e10, 2e10]},
        "r2": r2,
        "r2_log": 0.95,
        "n_points": 60,
    }
    if heldout is not None:
        out["heldout"] = heldout
    return out


@pytest.fixture
def study(tmp_path) -> Path:
    s = tmp_path / "results" / "t"
    (s / "fits").mkdir(parents=True)
    curves_frame().to_parquet(s / "curves.parquet")
    (s / "fits" / "paper__C__full.json").write_text(json.dumps(fit("paper__C__full")))
    (s / "fits" / "paper__C__intra.json").write_text(
        json.dumps(fit("paper__C__intra", heldout={"r2": 0.8, "rmse": 0.02, "mape": 0.03}))
    )
    bench = s / "benchmarks"
    (bench / "evaluate" / "xs").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "data.tsv").write_text(header + "12.5\t0:00:12\t300.1\t1\t1\t1\t0\t0\t90\t11\n")
    (bench / "evaluate" / "xs" / "step_000000.tsv").write_text(
        header + "30.0\t0:00:30\t500\t1\t1\t1\t0\t0\t90\t29\n"
    )
    (bench / "evaluate" / "xs" / "step_000010.tsv").write_text(
        header + "40.0\t0:00:40\t700\t1\t1\t1\t0\t0\t90\t39\n"
    )
    (s / "figures").mkdir()
    (s / "figures" / "loss_vs_C.png").write_bytes(b"png")
    (s / "figures" / "loss_vs_C.pdf").write_bytes(b"pdf")
    return s


def run_report(s: Path, fits: list[str] | None = None) -> str:
    fits = fits if fits is not None else ["paper__C__full", "paper__C__intra"]
    argv = [
        "report",
        "--study-dir",
        str(s),
        "--curves",
        str(s / "curves.parquet"),
        "--fits",
        *[str(s / "fits" / f"{f}.json") for f in fits],
        "-o",
        str(s / "summary.md"),
    ]
    assert cli_main(argv) == 0
    return (s / "summary.md").read_text()


def section(text: str, title: str) -> str:
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def check_result(text: str, name: str) -> str:
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith(f"| {name}"))
    return line.split("|")[2].strip()


def test_study_table_has_base_final_gain_and_compute_per_size(study):
    text = section(run_report(study), "Study")
    row = next(x for x in text.splitlines() if x.startswith("| s |"))
    assert "0.200" in row and "0.350" in row and "+0.150" in row
    assert f"{6 * 4e5 * 1e6:.3e}" in row and f"{6 * 4e5 * 1000 * 20:.3e}" in row
    assert "pass@2 (final)" in text
    assert [x.split("|")[1].strip() for x in text.splitlines() if x.startswith("| ") and "---" not in x][
        1:
    ] == ["xs", "s", "m"]


def test_per_benchmark_table_shows_every_bench(study):
    text = section(run_report(study), "Per benchmark")
    assert "heldout base → final" in text and "ood base → final" in text
    row = next(x for x in text.splitlines() if x.startswith("| m |"))
    assert "0.300 → 0.500" in row and "0.250 → 0.450" in row


def test_fit_table_reads_parameters_intervals_and_heldout_metrics(study):
    text = section(run_report(study), "Fits")
    full = next(x for x in text.splitlines() if "paper__C__full" in x)
    assert "0.133 [0.12, 0.15]" in full and "1.380e+10 [1.000e+10, 2.000e+10]" in full and "| 60 |" in full
    intra = next(x for x in text.splitlines() if "paper__C__intra" in x)
    assert "0.800" in intra and "0.02" in intra


def test_a_good_replicated_study_passes_every_check(study):
    replicated_frame({"xs": [0.10, 0.11, 0.12], "s": [0.2, 0.21, 0.22], "m": [0.3, 0.31, 0.32]}).to_parquet(
        study / "curves.parquet"
    )
    text = run_report(study)
    for name in ("RL gain", "final loss decreasing", "k(N) rising", "K_max and N0", "fit R²"):
        assert check_result(text, name) == "pass", name
    assert "None." in section(text, "Design warnings")


def test_a_base_pass_at_1_outside_its_band_is_a_design_warning_not_a_verdict(study):
    curves_frame(base={"xs": 0.01, "s": 0.2, "m": 0.7}, final={"xs": 0.2, "s": 0.5, "m": 0.8}).to_parquet(
        study / "curves.parquet"
    )
    text = run_report(study)
    warnings = section(text, "Design warnings")
    assert "base pass@1 outside [0.05, 0.60]" in warnings and "xs 0.010, m 0.700" in warnings
    assert "base pass@1" not in section(text, "Checks")


def test_a_benchmark_at_its_floor_is_a_design_warning(study):
    df = curves_frame()
    df.loc[df["bench"] == "ood", "pass_at_1"] = 0.01
    df.loc[df["bench"] == "ood", "L"] = 0.99
    df.to_parquet(study / "curves.parquet")
    warnings = section(run_report(study), "Design warnings")
    assert "at their floor, mean final pass@1 below 0.05: ood 0.010" in warnings


def test_one_run_per_size_leaves_the_gain_undetermined_and_says_so(study):
    text = run_report(study)
    assert check_result(text, "RL gain") == "undetermined"
    assert "xs +0.100 undetermined (one run: no interval)" in section(text, "Checks")
    assert "one run per size: no replicate spread" in section(text, "Design warnings")


def test_a_weak_fit_fails_the_r2_check(study):
    (study / "fits" / "paper__C__full.json").write_text(json.dumps(fit("paper__C__full", r2=0.5)))
    text = run_report(study)
    assert check_result(text, "fit R²") == "**FAIL**"
    assert "below: paper__C__full 0.500" in section(text, "Checks")


def test_a_gain_of_exactly_the_threshold_passes_despite_float_rounding(study):
    # xs's mean gain is 0.05, computed as 0.04999... in floating point
    replicated_frame({"xs": [0.04, 0.05, 0.06], "s": [0.2, 0.21, 0.22], "m": [0.3, 0.31, 0.32]}).to_parquet(
        study / "curves.parquet"
    )
    assert check_result(run_report(study), "RL gain") == "pass"


def test_fit_check_is_not_applicable_without_fits(study):
    assert check_result(run_report(study, fits=[]), "fit R²") == "n/a"


def test_wall_time_is_summed_per_stage(study):
    text = section(run_report(study), "Wall time per stage")
    evaluate = next(x for x in text.splitlines() if x.startswith("| evaluate |"))
    assert "| 2 | 70.0 |" in evaluate and "700.0" in evaluate
    assert "| data | 1 | 12.5 |" in text
    assert "| **total** | 3 | 82.5 |" in text


def test_links_only_figures_that_exist(study):
    text = section(run_report(study), "Figures")
    assert "[loss_vs_C](figures/loss_vs_C.png)" in text
    assert "pdf" not in text and text.count("](") == 1


def test_fit_files_with_unexpected_keys_are_read_defensively(study):
    (study / "fits" / "odd.json").write_text(
        json.dumps({"law": "sigmoid", "params": {"A": 1}, "heldout": None})
    )
    text = section(run_report(study, fits=["odd"]), "Fits")
    assert "| odd | sigmoid |" in text


def test_missing_curves_is_a_user_error(tmp_path, capsys):
    argv = [
        "report",
        "--study-dir",
        str(tmp_path),
        "--curves",
        str(tmp_path / "curves.parquet"),
        "-o",
        str(tmp_path / "x.md"),
    ]
    assert cli_main(argv) == 2
    assert "curves.parquet does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_sizes_with_several_runs_are_judged_on_their_mean(study):
    df = curves_frame()
    twin = df.copy()
    twin["run"] = twin["run"] + "__seed-1"
    pd.concat([df, twin]).to_parquet(study / "curves.parquet")
    text = run_report(study)
    assert "xs__seed-1" in section(text, "Study")
    assert check_result(text, "final loss decreasing") == "pass"


def test_data_report_entries_are_listed_when_present(study):
    (study / "data").mkdir()
    record = {
        "n_train": 4000,
        "levels": [1, 2, 3],
        "heldout": {"n": 200, "by_level": {"1": 30}},
        "rows": [{}],
    }
    (study / "data" / "report.json").write_text(json.dumps(record))
    text = section(run_report(study), "Data")
    assert "| n_train | 4000 |" in text and "| levels | 1, 2, 3 |" in text and "| heldout.n | 200 |" in text


def test_final_loss_that_rises_with_N_fails_naming_the_pair(study):
    # every replicate of m ends below s (final L rises s -> m) and s far above xs: a rising trend
    replicated_frame({"xs": [0.40, 0.41, 0.42], "s": [0.2, 0.21, 0.22], "m": [0.0, 0.01, 0.02]}).to_parquet(
        study / "curves.parquet"
    )
    text = run_report(study)
    assert check_result(text, "final loss decreasing") == "**FAIL**"
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith("| final loss"))
    assert "wholly above 0" in line and "rises: xs → s +0.190, s → m +0.190" in line


# -- numbers are validated where they enter ---------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [("pass_at_1", 1.7), ("pass_at_1", float("nan")), ("L", -0.7)])
def test_a_curves_table_with_a_pass_at_1_or_loss_outside_0_1_is_refused_naming_it(
    study, capsys, column, value
):
    df = curves_frame()
    df.loc[4, column] = value
    df.to_parquet(study / "curves.parquet")
    argv = [
        "report",
        "--study-dir",
        str(study),
        "--curves",
        str(study / "curves.parquet"),
        "-o",
        str(study / "x.md"),
    ]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"curves.parquet: column `{column}`" in err and "run='xs', step=20" in err, err
    assert not (study / "x.md").exists()


def test_a_fit_with_a_nan_r2_is_shown_as_nan_and_fails_the_fit_check(study):
    (study / "fits" / "paper__C__full.json").write_text(json.dumps(fit("paper__C__full", r2=float("nan"))))
    text = run_report(study)
    row = next(x for x in section(text, "Fits").splitlines() if x.startswith("| paper__C__full"))
    assert "**NaN**" in row
    assert check_result(text, "fit R²") == "**FAIL**"


# -- replicates: means ± standard errors, checks judged with the replicates' error --------------------


def replicated_frame(gains: dict[str, list[float]], base: float = 0.2) -> pd.DataFrame:
    """Replicates of every size: replicate k of size s gains gains[s][k] from `base` (held-out)."""
    parts = []
    for k in range(len(next(iter(gains.values())))):
        df = curves_frame(
            base={s: base for s in SIZES},
            final={s: base + gains[s][k] + 0.01 * i for i, s in enumerate(SIZES)},
        )
        df["replicate"] = k
        df["run"] = df["run"] + f"__rep-{k}"
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def test_per_size_table_shows_mean_and_standard_error_over_replicates(study):
    replicated_frame({"xs": [0.10, 0.12, 0.14], "s": [0.2] * 3, "m": [0.3] * 3}).to_parquet(
        study / "curves.parquet"
    )
    row = next(x for x in section(run_report(study), "Per size").splitlines() if x.startswith("| xs"))
    # gains 0.10, 0.12, 0.14: mean 0.12, sd 0.02, standard error 0.02 / sqrt(3) = 0.012
    assert "| 3 |" in row and "+0.120 ± 0.012" in row


def test_without_replicates_the_per_size_table_shows_values_alone(study):
    row = next(x for x in section(run_report(study), "Per size").splitlines() if x.startswith("| xs"))
    assert "±" not in row and "0.100" in row


def test_a_gain_whose_replicates_straddle_zero_is_undetermined_despite_a_mean_above_the_threshold(study):
    # xs: mean +0.067 over -0.10, +0.10, +0.20: its 95% interval reaches below 0 and above 0.05
    replicated_frame({"xs": [-0.10, 0.10, 0.20], "s": [0.2] * 3, "m": [0.3] * 3}).to_parquet(
        study / "curves.parquet"
    )
    text = run_report(study)
    assert check_result(text, "RL gain") == "undetermined"
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith("| RL gain"))
    assert "xs +0.067 ±" in line and "undetermined (95% interval" in line and "straddles 0" in line
    assert "s +0.210 ± 0.000" in line


def test_consistent_replicated_gains_pass_with_their_lower_bound_shown(study):
    replicated_frame({"xs": [0.10, 0.11, 0.12], "s": [0.2, 0.21, 0.22], "m": [0.3, 0.31, 0.32]}).to_parquet(
        study / "curves.parquet"
    )
    text = run_report(study)
    assert check_result(text, "RL gain") == "pass"
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith("| RL gain"))
    assert "xs +0.110 ± 0.006 [+0.096, +0.124] pass" in line


def test_the_gain_interval_pools_the_replicates_variance_over_sizes(study):
    # the three-replicate default study's gains (docs/results/default-study.md): xs alone,
    # t(0.975, 2) = 4.30 and SE 0.023 put its 95% low at -0.006; pooled over the 3 sizes the variance
    # has 6 dof (t = 2.45): low +0.022
    replicated_frame(
        {"xs": [0.054, 0.132, 0.087], "s": [0.120, 0.173, 0.050], "m": [0.123, 0.188, 0.205]}
    ).to_parquet(study / "curves.parquet")
    text = run_report(study)
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith("| RL gain"))
    assert check_result(text, "RL gain") == "pass"
    assert "xs +0.091 ± 0.023 [+0.022, +0.160] pass" in line and "Student t on 6 dof" in line


def test_final_loss_is_judged_as_a_trend_with_its_interval_not_pair_by_pair(study):
    # one pair rises (s -> m by 0.005) but the fitted slope over log10 N is clearly below 0
    final = {"xs": 0.20, "s": 0.505, "m": 0.50}
    curves_frame(final=final).to_parquet(study / "curves.parquet")
    # 3 points: t(1 dof) = 12.7, the interval straddles 0
    assert check_result(run_report(study), "final loss decreasing") == "undetermined"
    replicated_frame({"xs": [0.0, 0.01, 0.02], "s": [0.30, 0.31, 0.32], "m": [0.29, 0.30, 0.31]}).to_parquet(
        study / "curves.parquet"
    )
    text = run_report(study)
    assert check_result(text, "final loss decreasing") == "pass"
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith("| final loss"))
    assert "per decade of N over 9 runs" in line and "rises: s → m" in line


def test_a_flat_final_loss_within_replicate_noise_is_undetermined(study):
    replicated_frame({"xs": [0.1, 0.3, 0.2], "s": [0.3, 0.1, 0.2], "m": [0.2, 0.1, 0.3]}).to_parquet(
        study / "curves.parquet"
    )
    assert check_result(run_report(study), "final loss decreasing") == "undetermined"


def test_kn_checks_pass_for_an_identified_saturation(study):
    text = run_report(study)
    assert check_result(text, "k(N) rising") == "pass"
    assert check_result(text, "K_max and N0 identified") == "pass"


def test_a_k_max_interval_at_the_optimizer_bound_is_undetermined_naming_the_fit(study):
    bad = fit("paper__C__full")
    bad["ci95"]["K_max"] = [0.014, 2.0]
    bad["interval_flags"] = [
        {"param": "K_max", "kind": "ci_at_bound", "value": 0.1, "ci": [0.014, 2.0], "bound": 2.0}
    ]
    (study / "fits" / "paper__C__full.json").write_text(json.dumps(bad))
    text = run_report(study)
    assert check_result(text, "K_max and N0") == "undetermined"
    assert "paper__C__full undetermined: K_max ci_at_bound (bound 2)" in section(text, "Checks")
    assert check_result(text, "k(N) rising") == "pass"  # its lower end, the data's, is above 0


def test_a_k_max_interval_reaching_zero_leaves_the_rising_check_undetermined(study):
    flat = fit("paper__C__full")
    flat["ci95"]["K_max"] = [0.0, 0.2]
    (study / "fits" / "paper__C__full.json").write_text(json.dumps(flat))
    assert check_result(run_report(study), "k(N) rising") == "undetermined"


def test_kn_checks_are_not_applicable_without_a_k_max_fit(study):
    assert check_result(run_report(study, fits=[]), "k(N) rising") == "n/a"


# -- rlscaling report --check: CI fails when summary.md does ------------------------------------------


def test_check_exits_0_when_no_check_fails(study, capsys):
    run_report(study)  # one run per size: the gain is undetermined, and that is no failure
    assert cli_main(["report", "--check", str(study / "summary.md")]) == 0
    out = capsys.readouterr().out
    assert "\nFAIL" not in out and "undetermined  RL gain" in out and "4 pass, 1 undetermined" in out


def test_check_exits_1_and_names_the_failed_check(study, capsys):
    # xs gains +0.01 to +0.03 over three replicates: wholly below 0.05
    replicated_frame({"xs": [0.01, 0.02, 0.03], "s": [0.2, 0.21, 0.22], "m": [0.3, 0.31, 0.32]}).to_parquet(
        study / "curves.parquet"
    )
    run_report(study)
    capsys.readouterr()
    assert cli_main(["report", "--check", str(study / "summary.md")]) == 1
    out = capsys.readouterr().out
    assert "FAIL          RL gain" in out and "xs +0.020 ± 0.006" in out and "1 of 5 checks FAIL" in out


def test_check_of_a_file_without_checks_is_a_user_error(tmp_path, capsys):
    (tmp_path / "x.md").write_text("# not a summary\n")
    assert cli_main(["report", "--check", str(tmp_path / "x.md")]) == 2
    assert "no '## Checks' section" in capsys.readouterr().err


def test_writing_needs_the_study_dir_curves_and_output(tmp_path, capsys):
    assert cli_main(["report", "--curves", str(tmp_path / "c.parquet")]) == 2
    assert "--study-dir is required" in capsys.readouterr().err


def test_critical_path_follows_the_longest_pretrain_train_evaluate_chain(tmp_path):
    from rlscaling.report.timing import critical_path

    bench = tmp_path / "benchmarks"
    header = "s\th:m:s\n"

    def job(rel: str, seconds: float) -> None:
        (bench / rel).parent.mkdir(parents=True, exist_ok=True)
        (bench / rel).write_text(header + f"{seconds}\t0:00:00\n")

    job("data.tsv", 5)
    job("pretrain/xs/pretrain_tokens-500000.tsv", 50)
    job("pretrain/xs/pretrain_tokens-2000000.tsv", 200)
    for run, seg in (("xs__pretrain_tokens-500000", 30), ("xs__pretrain_tokens-2000000", 10)):
        job(f"train/{run}/step_000010.tsv", seg)
        job(f"train/{run}/step_000020.tsv", seg)
        job(f"evaluate/{run}/step_000010.tsv", 100)  # evaluations after 1 and 2 segments
        job(f"evaluate/{run}/step_000020.tsv", 4)
    job("curves.tsv", 1)
    job("fit/paper__C__full.tsv", 3)
    runs = {f"xs__pretrain_tokens-{t}": f"xs/pretrain_tokens-{t}" for t in (500000, 2000000)}  # run -> model
    cp = critical_path(tmp_path, runs)
    # 5 + 200 + 10 + 100 + 1 + 3: the long pre-training, one segment, the slow evaluation of step 10
    assert (cp["run"], cp["step"], cp["seconds"]) == ("xs__pretrain_tokens-2000000", 10, 319.0)
    assert [j for j, _ in cp["chain"]][1] == "pretrain/xs/pretrain_tokens-2000000"


def test_summary_states_the_critical_path(study):
    text = section(run_report(study), "Wall time per stage")
    assert "Critical path: 52.5 s, run `xs` to its evaluation at step 10" in text


def test_where_judges_the_study_on_one_value_of_a_sweep(study):
    """Checks pooled over a sweep's variants would mix studies: the workflow passes its first value."""
    weak = curves_frame(base={"xs": 0.01, "s": 0.01, "m": 0.01}, final={"xs": 0.01, "s": 0.01, "m": 0.01})
    df = pd.concat([curves_frame().assign(pretrain_tokens=2e6), weak.assign(pretrain_tokens=2.5e5)])
    df["run"] = df["size"] + "__pretrain_tokens-" + df["pretrain_tokens"].astype(int).astype(str)
    df.to_parquet(study / "curves.parquet")
    out = study / "summary.md"
    argv = ["report", "--study-dir", str(study), "--curves", str(study / "curves.parquet"),
            "--where", "pretrain_tokens=2000000", "-o", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    text = out.read_text()
    assert "Tables and checks on the runs with `pretrain_tokens=2000000`" in text
    assert "xs +0.100 undetermined" in section(text, "Checks")  # the weak variant's 0.000 is not judged
    assert "base pass@1 outside" not in section(text, "Design warnings")


# -- a check that cannot FAIL is a defect: studies built to contradict a claim ------------------------


def test_rl_that_lowers_pass_at_1_fails_the_gain_check(study):
    # every replicate of xs loses 0.08 to 0.12 of pass@1 under RL (a reward that punishes the answer)
    gains = {"xs": [-0.12, -0.10, -0.08], "s": [0.2, 0.21, 0.22], "m": [0.3, 0.31, 0.32]}
    replicated_frame(gains).to_parquet(study / "curves.parquet")
    text = run_report(study)
    assert check_result(text, "RL gain") == "**FAIL**"
    line = next(x for x in section(text, "Checks").splitlines() if x.startswith("| RL gain"))
    assert "xs -0.100 ± 0.012 [-0.120, -0.080] FAIL (95% interval" in line and "wholly below 0.05" in line


def kn_curves(k_of_size: dict[str, float], replicates: int = 3) -> pd.DataFrame:
    """Held-out curves whose runs fall as L = 0.8 (C / C_1)^-k at steps 10, 20, 40 (C_1: step 10's C),
    k per size, each replicate's level shifted a little; base pass@1 0.2 at step 0."""
    rng = np.random.default_rng(0)
    rows = []
    for size, n in SIZES.items():
        for rep in range(replicates):
            level = 0.8 + rng.normal(0, 0.01)
            for step in (0, 10, 20, 40):
                L = 0.8 if step == 0 else level * (step / 10) ** -(k_of_size[size] + rng.normal(0, 0.005))
                rows.append({"study": "t", "run": f"{size}__rep-{rep}", "size": size, "family": "tiny",
                             "N": n, "N_nonembed": n / 2, "replicate": rep, "seed": 1000 * rep, "step": step,
                             "D": 16.0 * step, "C": 6 * n * 1000 * step, "C_pretrain": 6 * n * 1e6,
                             "bench": "heldout", "pass_at_1": 1 - L, "L": L})  # fmt: skip
    return pd.DataFrame(rows)


def test_runs_whose_own_k_falls_with_n_fail_k_of_n_rising_whatever_the_law_says(study):
    # the fit claims K_max 0.133 [0.12, 0.15]; the runs' own slopes say k falls from 0.3 (xs) to 0.1 (m)
    kn_curves({"xs": 0.3, "s": 0.2, "m": 0.1}).to_parquet(study / "curves.parquet")
    text = run_report(study)
    assert check_result(text, "k(N) rising") == "**FAIL**"
    assert "the runs' own slopes of log10 L on log10 C fall with N" in section(text, "Checks")
    kn_curves({"xs": 0.1, "s": 0.2, "m": 0.3}).to_parquet(study / "curves.parquet")
    assert check_result(run_report(study), "k(N) rising") == "pass"


def report_argv(study: Path, *extra: str) -> list[str]:
    """`rlscaling report` on the study's curves and its paper__C__full fit."""
    return ["report", "--study-dir", str(study), "--curves", str(study / "curves.parquet"), "--fits",
            str(study / "fits" / "paper__C__full.json"), "-o", str(study / "summary.md"), *extra]  # fmt: skip


def test_a_contradicted_study_fails_check_in_ci_and_its_verdicts_are_in_checks_json(study, capsys):
    # RL lowers pass@1 more at larger N: the gain, the loss trend and k(N) rising are all contradicted
    gains = {"xs": [0.10, 0.11, 0.12], "s": [-0.1, -0.09, -0.08], "m": [-0.3, -0.29, -0.28]}
    replicated_frame(gains).to_parquet(study / "curves.parquet")
    out = study / "checks.json"
    assert cli_main(report_argv(study, "--checks-json", str(out))) == 0
    record = json.loads(out.read_text())
    verdict = {e["check"].split(" (")[0].split(":")[0]: e["verdict"] for e in record["checks"]}
    assert verdict["RL gain for every size"] == "FAIL" and verdict["final loss decreasing with N"] == "FAIL"
    assert verdict["k(N) rising with N"] == "FAIL"
    assert record["counts"]["FAIL"] == 3 and record["summary"] == "summary.md"
    capsys.readouterr()
    assert cli_main(["report", "--check", str(study)]) == 1  # the folder: its checks.json
    printed = capsys.readouterr().out
    assert "checks.json: 3 of 5 checks FAIL" in printed and "FAIL          final loss decreasing" in printed
    out.unlink()
    assert cli_main(["report", "--check", str(study)]) == 1  # without checks.json: summary.md's table


def test_check_of_a_folder_without_verdicts_or_an_unknown_verdict_is_a_user_error(tmp_path, capsys):
    assert cli_main(["report", "--check", str(tmp_path)]) == 2
    assert "has neither checks.json nor summary.md" in capsys.readouterr().err
    record = {"checks": [{"check": "c", "verdict": "ok", "detail": ""}]}
    (tmp_path / "checks.json").write_text(json.dumps(record))
    assert cli_main(["report", "--check", str(tmp_path)]) == 2
    assert "check 'c' has verdict 'ok'" in capsys.readouterr().err


# -- an undetermined identification says what would decide it ------------------------------------------


def flagged_fit() -> dict:
    f = fit("paper__C__full")
    f["ci95"]["N0"] = [563.0, 2e10]
    f["interval_flags"] = [{"param": "N0", "kind": "ci_at_bound", "value": 1.38e10, "ci": [563.0, 2e10],
                            "bound": 563.0}]  # fmt: skip
    return f


def test_an_undetermined_identification_with_one_run_per_size_says_the_estimate_is_impossible(study):
    (study / "fits" / "paper__C__full.json").write_text(json.dumps(flagged_fit()))
    text = run_report(study)
    assert check_result(text, "K_max and N0 identified") == "undetermined"
    assert "cannot be estimated: one run per size leaves no run-to-run noise" in section(text, "Checks")


def test_an_undetermined_identification_states_the_replicates_that_would_decide_it(study):
    from rlscaling.fit import power

    noise = power.Noise(K_max=0.15, N0=1e5, e0_slope=0.8, e0_intercept=-3.8, e0_sd=0.05, sigma_k=0.05,
                        sigma_eps=0.01, sigma_run=0.04, c_per_param=(6e5, 1.7e6, 2.7e6),
                        sizes=(5.6e4, 9.4e4, 5.2e5, 8.4e5), runs=0, studies=0)  # fmt: skip
    power.simulate(noise, list(noise.sizes), 3, np.random.default_rng(0)).to_parquet(study / "curves.parquet")
    (study / "fits" / "paper__C__full.json").write_text(json.dumps(flagged_fit()))
    out = study / "checks.json"
    argv = report_argv(study, "--checks-json", str(out), "--power-sims", "3", "--power-bootstrap", "8")
    assert cli_main(argv) == 0
    checks_text = section((study / "summary.md").read_text(), "Checks")
    line = next(x for x in checks_text.splitlines() if "identified" in x)
    assert "replicates per size would" in line and "3 per size (this study): " in line
    assert "Wilson interval" in line
    assert "6 per size: " in line
    assert "3 simulated studies per design, 8 bootstrap resamples per fit, seed 0" in line
    entry = next(e for e in json.loads(out.read_text())["checks"] if "identified" in e["check"])
    rates = [(d["replicates"], d["sims"]) for d in entry["power"]["designs"]]
    assert rates[:2] == [(3, 3), (6, 3)] and entry["power"]["replicates"] == 3
    lo, hi = entry["power"]["designs"][0]["identified_ci95"]
    assert 0 <= lo <= entry["power"]["designs"][0]["identified"] <= hi <= 1


def test_the_prediction_of_the_largest_size_is_shown_with_its_interval_against_the_truth(study):
    pred = {
        "x": "C",
        "target_N": 3.2e6,
        "train_sizes": ["xs", "s", "m"],
        "anchor_points": 1,
        "settings": {"law": "paper-parametric"},
        "curves": [
            {
                "label": "l",
                "L": [0.5, 0.45],
                "check": {
                    "mape": 3.1,
                    "coverage": {"0.8": 0.75, "0.95": 1.0},
                    "final": {"step": 40, "observed": 0.47, "predicted": 0.45,
                              "interval0.8": [0.43, 0.48], "interval0.95": [0.41, 0.5]},
                },
            }
        ],
    }  # fmt: skip
    (study / "prediction.json").write_text(json.dumps(pred))
    text = section(run_report(study), "Prediction of the largest size (prediction.json)")
    assert "predicted from xs, s, m" in text
    row = "| l | 40 | 0.4700 | 0.4500 | [0.4300, 0.4800] | [0.4100, 0.5000] | yes | 0.75 / 1.00 | 3.10% |"
    assert row in text


def test_without_a_prediction_file_the_summary_has_no_prediction_section(study):
    assert "## Prediction of the largest size" not in run_report(study)


def write_run_metrics(s: Path, run: str, flagged_from: int | None = None) -> None:
    """runs/{run}/metrics.jsonl as run_metrics writes it: steps 1-20, `health` flags from a step on."""
    path = s / "runs" / run / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    flag = [{"check": "nonfinite", "reason": "loss nan at step 17"}]
    recs = [
        {"step": k, "health": flag if flagged_from is not None and k >= flagged_from else None}
        for k in range(1, 21)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_training_health_lists_each_flagged_run_with_its_first_flagged_step(study):
    write_run_metrics(study, "xs", flagged_from=17)
    for run in ("s", "m"):
        write_run_metrics(study, run)
    text = section(run_report(study), "Training health")
    assert "| xs | 4 | 17 | loss nan at step 17 |" in text
    assert "| s |" not in text and "| m |" not in text


def test_training_health_says_no_run_flagged_when_every_run_is_healthy(study):
    for run in ("xs", "s", "m"):
        write_run_metrics(study, run)
    assert "No run flagged (3 runs checked)." in section(run_report(study), "Training health")
