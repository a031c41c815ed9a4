"""Fits that say what their data cannot support: too few sizes / points are refused (exit code 2,
with the reason), intervals at an optimizer bound or of zero width are flagged in FIT.json notes and
in summary.md."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rlscaling.cli import main as cli
from rlscaling.fit.identify import MIN_DATA, flag_notes, interval_flags, minimum_table
from test_fit_cli import STUDY_SIZES, WORKFLOW_ARGS, study_curves


def fit(args) -> int:
    return cli(["fit", *map(str, args)])


def write(df: pd.DataFrame, tmp_path, name: str = "c.parquet"):
    p = tmp_path / name
    df.to_parquet(p, index=False)
    return p


@pytest.mark.parametrize("law", ["paper", "paper-parametric", "gain"])
def test_two_sizes_are_refused_with_the_reason_and_exit_code_2(tmp_path, capsys, law):
    """Two sizes fix K_max and N0 (or a and b) exactly: R^2 and the bootstrap would say nothing."""
    two = {k: v for k, v in STUDY_SIZES.items() if k in ("s", "l")}
    p = write(study_curves(sizes=two), tmp_path)
    out = tmp_path / "f.json"
    assert fit([p, "-o", out, "--law", law, *WORKFLOW_ARGS]) == 2
    err = capsys.readouterr().err
    assert "at least 3 distinct model sizes" in err and "got 2 (s, l)" in err and "Why:" in err
    assert not out.exists()


def test_an_inter_fit_counts_the_sizes_left_after_holding_out(tmp_path, capsys):
    three = {k: v for k, v in STUDY_SIZES.items() if k != "xs"}
    p = write(study_curves(sizes=three), tmp_path)
    args = [p, "-o", tmp_path / "f.json", "--law", "paper", *WORKFLOW_ARGS]
    assert fit(args) == 0
    assert fit(args + ["--scenario", "inter", "--holdout-size", "l"]) == 2
    assert "after holding out the predicted sizes" in capsys.readouterr().err


def test_two_steps_per_curve_are_refused_for_the_paper_law(tmp_path, capsys):
    """2 sizes x 2 steps gave R^2 0.999 with N0 at its bound; any number of sizes with 2 points per
    curve leaves each curve's line without a degree of freedom."""
    p = write(study_curves(steps=(0, 10, 20)), tmp_path)
    assert fit([p, "-o", tmp_path / "f.json", "--law", "paper", *WORKFLOW_ARGS]) == 2
    assert "needs >= 3 points" in capsys.readouterr().err


def test_sigmoid_needs_five_points_per_curve(tmp_path, capsys):
    p = write(study_curves(), tmp_path)
    args = [p, "-o", tmp_path / "f.json", "--law", "sigmoid", "--where", "bench=heldout", "--bootstrap", "0"]
    assert fit(args + ["--min-step", "1"]) == 2  # 4 points for 4 parameters
    assert "needs >= 5 points" in capsys.readouterr().err
    assert fit(args + ["--min-step", "0"]) == 0


def test_the_minimum_table_names_every_law():
    rows = {r["law"]: r for r in minimum_table()}
    assert set(rows) == set(MIN_DATA)
    assert set(MIN_DATA) == {"paper", "paper-parametric", "sigmoid", "gain", "reuse", "chinchilla"}
    assert rows["paper"]["min_sizes"] == 3 and rows["sigmoid"]["min_points_per_curve"] == 5


# -- flags ---------------------------------------------------------------------------------------


def test_an_interval_ending_at_a_bound_is_flagged():
    """The default study's K_max interval [0.014, 2] ends at the bound 2."""
    flags = interval_flags({"K_max": 0.3}, {"K_max": [0.014, 2.0]}, {"K_max": (0.0, 2.0, False)})
    assert [(f["param"], f["kind"], f["bound"]) for f in flags] == [("K_max", "ci_at_bound", 2.0)]
    assert "ends at the optimizer bound 2" in flag_notes(flags)[0]


def test_an_estimate_at_a_log_bound_is_flagged_in_log_space():
    b = {"N0": (1e8, 1e11, True)}
    assert interval_flags({"N0": 1.0001e11}, None, b)[0]["kind"] == "estimate_at_bound"
    assert interval_flags({"N0": 9e10}, None, b) == []  # 0.05 decades inside: not at the bound


def test_a_zero_width_interval_is_flagged_but_observations_are_not():
    flags = interval_flags(
        {"K_max": 0.0801, "gain/1B": 0.2}, {"K_max": [0.0801, 0.0801], "gain/1B": [0.2, 0.2]}, {}
    )
    assert [(f["param"], f["kind"]) for f in flags] == [("K_max", "zero_width")]


def test_per_curve_flags_share_one_note():
    flags = interval_flags({"A/1B": 1.0, "A/2B": 1.0}, None, {"A/1B": (0, 1, False), "A/2B": (0, 1, False)})
    notes = flag_notes(flags)
    assert len(notes) == 1 and "A of 2 curves (A/1B, A/2B)" in notes[0]


def test_a_fit_whose_N0_runs_into_its_bound_says_so_in_notes(tmp_path):
    """Slopes that do not saturate with N (k the same for every size): N0 -> its lower bound."""
    df = study_curves()
    k = 0.2
    df["L"] = np.where(
        df["bench"] == "heldout", (0.95 - 0.1 * np.log10(df["N"] / 1e5)) * (1 + df["step"]) ** (-k), df["L"]
    )
    p = write(df, tmp_path)
    out = tmp_path / "f.json"
    assert fit([p, "-o", out, "--law", "paper", *WORKFLOW_ARGS]) == 0
    res = json.loads(out.read_text())
    kinds = {(f["param"], f["kind"]) for f in res["interval_flags"]}
    assert ("N0", "estimate_at_bound") in kinds
    assert any(n.startswith("interval flag: N0 estimate sits at the optimizer bound") for n in res["notes"])


def test_a_clean_fit_has_no_flags(tmp_path):
    p = write(study_curves(), tmp_path)
    out = tmp_path / "f.json"
    assert fit([p, "-o", out, "--law", "paper", *WORKFLOW_ARGS]) == 0
    assert json.loads(out.read_text())["interval_flags"] == []


def test_summary_md_lists_flagged_intervals(tmp_path):
    from rlscaling.report.tables import fit_table

    f = {"_name": "paper__C__full", "law": "paper", "params": {"K_max": 0.3}, "ci95": {"K_max": [0.014, 2.0]}}
    f["notes"] = flag_notes(interval_flags({"K_max": 0.3}, f["ci95"], {"K_max": (0.0, 2.0, False)}))
    text = fit_table([f])
    assert "**Flagged intervals**" in text
    assert (
        "⚠ `paper__C__full`: interval flag: K_max 95% interval [0.014, 2] ends at the optimizer bound 2"
        in text
    )
    assert "Flagged" not in fit_table([{"_name": "x", "notes": []}])


def test_the_figure_title_carries_the_flags(tmp_path):
    """The L vs C figure of a fit whose N0 ran into its bound says so under its parameters."""
    import pandas as pd

    from rlscaling.figures.base import _Context
    from rlscaling.figures.loss import _loss_vs_x

    df = study_curves()
    df["L"] = np.where(
        df["bench"] == "heldout", (0.95 - 0.1 * np.log10(df["N"] / 1e5)) * (1 + df["step"]) ** (-0.2), df["L"]
    )
    p = write(df, tmp_path)
    out = tmp_path / "f.json"
    assert fit([p, "-o", out, "--law", "paper", *WORKFLOW_ARGS]) == 0
    ctx = _Context(pd.read_parquet(p), [json.loads(out.read_text())], "heldout")
    title = _loss_vs_x(ctx, "C").axes[0].get_title()
    assert "\n⚠ N0 at optimizer bound" in title
