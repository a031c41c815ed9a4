"""`rlscaling figures` and `figure_names`: every promised figure exists in every format, captioned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import need_file
from test_fit_cli import study_curves

from rlscaling.cli import main as cli
from rlscaling.figures import ALL_FIGURE_NAMES, figure_names
from rlscaling.paths import PROJECT_ROOT

REPORT_DIR = PROJECT_ROOT / "workflow" / "report"


def default_config() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())


def test_figure_names_does_not_import_matplotlib():
    code = (
        "import sys, yaml; from rlscaling.figures import figure_names; "
        "figure_names(yaml.safe_load(open('config.yaml'))); print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_default_study_figures_include_the_paper_set():
    names = figure_names(default_config())
    assert {"loss_vs_C", "loss_vs_D", "pass1_vs_step", "k_of_N"} <= set(names)


def test_a_study_with_two_benchmarks_draws_the_transfer_figure():
    cfg = default_config()
    assert "transfer" not in figure_names(cfg)  # the default evaluates one benchmark
    cfg["evaluation"]["benchmarks"] = ["heldout", "ood"]
    assert "transfer" in figure_names(cfg)


@pytest.mark.parametrize(
    "fit",
    [
        {
            "laws": ["paper", "paper-parametric", "sigmoid", "gain", "reuse"],
            "x": ["C", "D"],
            "scenarios": ["full", "intra", "inter"],
        },
        {"laws": ["sigmoid"], "x": ["C"], "scenarios": ["full"]},
    ],
)
def test_every_possible_name_is_known_and_captioned(fit):
    cfg = default_config()
    cfg["fit"] = fit
    cfg["sweep"] = {"reuse_tau": [1, 4]}
    names = figure_names(cfg)
    assert len(names) == len(set(names))
    assert set(names) <= set(ALL_FIGURE_NAMES)
    for name in names:
        assert (REPORT_DIR / f"{name}.rst").is_file(), name


def test_every_figure_name_and_the_summary_have_a_caption():
    for name in (*ALL_FIGURE_NAMES, "summary"):
        text = (REPORT_DIR / f"{name}.rst").read_text().strip()
        assert len(text) > 40, name


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    curves = d / "curves.parquet"
    study_curves().to_parquet(curves, index=False)
    fits = []
    for law, x, sc, extra in [
        ("paper", "C", "full", []),
        ("paper", "D", "full", []),
        ("paper-parametric", "C", "inter", ["--holdout-size", "l"]),
        ("paper-parametric", "D", "intra", ["--fit-steps", "20"]),
        ("sigmoid", "C", "full", ["--min-step", "0"]),  # 4 parameters per curve: keeps step 0 for 5 points
    ]:
        out = d / "fits" / f"{law}__{x}__{sc}.json"
        assert (
            cli(
                [
                    "fit",
                    str(curves),
                    "-o",
                    str(out),
                    "--law",
                    law,
                    "--x",
                    x,
                    "--scenario",
                    sc,
                    "--where",
                    "bench=heldout",
                    "--bootstrap",
                    "20",
                    "--min-step",
                    "1",
                    *extra,
                ]
            )
            == 0
        )
        fits.append(str(out))
    return d, curves, fits


def test_study_figures_exist_in_every_configured_format(study):
    d, curves, fits = study
    cfg = default_config()
    cfg["fit"] = {
        "laws": ["paper", "paper-parametric", "sigmoid"],
        "x": ["C", "D"],
        "scenarios": ["full", "intra", "inter"],
        "bench": "heldout",
    }
    names = figure_names(cfg)
    params = {"figures": {"formats": ["png", "pdf"], "dpi": 60}, "fit": cfg["fit"], "names": names}
    out = d / "figures"
    assert (
        cli(
            [
                "figures",
                "--curves",
                str(curves),
                "--fits",
                *fits,
                "--params-json",
                json.dumps(params),
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    for name in names:
        for fmt in ("png", "pdf"):
            f = out / f"{name}.{fmt}"
            assert f.is_file() and f.stat().st_size > 1000, f


def test_a_figure_without_its_inputs_is_a_labelled_placeholder(study, tmp_path):
    _d, curves, fits = study
    params = {"figures": {"formats": ["png"], "dpi": 50}, "names": ["gain", "reuse"]}
    assert (
        cli(
            [
                "figures",
                "--curves",
                str(curves),
                "--fits",
                fits[0],
                "--params-json",
                json.dumps(params),
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gain.png", "reuse.png"]


def test_standalone_on_imported_paper_data_draws_the_paper_set(shared_data, tmp_path):
    from rlscaling.curves_import import import_paper

    curves = tmp_path / "paper.parquet"
    import_paper(need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv")).to_parquet(curves)
    fits = []
    for law, x, sc, extra in [
        ("paper", "C", "full", ["--objective", "paper"]),
        ("paper-parametric", "C", "inter", ["--holdout-N", "72e9"]),
    ]:
        out = tmp_path / f"{law}_{x}_{sc}.json"
        assert (
            cli(
                [
                    "fit",
                    str(curves),
                    "-o",
                    str(out),
                    "--law",
                    law,
                    "--x",
                    x,
                    "--scenario",
                    sc,
                    "--where",
                    "source=base",
                    "--bootstrap",
                    "20",
                    "--min-step",
                    "1",
                    *extra,
                ]
            )
            == 0
        )
        fits.append(str(out))
    out_dir = tmp_path / "figs"
    assert cli(["figures", "--curves", str(curves), "--fits", *fits, "--out-dir", str(out_dir)]) == 0
    made = {p.stem for p in Path(out_dir).glob("*.png")}
    assert {"loss_vs_C", "loss_vs_D", "k_of_N", "E0_of_N", "inter_prediction_C"} <= made
    assert {p.stem for p in Path(out_dir).glob("*.pdf")} == made


def _context(curves_path, fit_paths):
    import pandas as pd

    from rlscaling.figures.base import _Context

    fits = [json.loads(Path(f).read_text()) for f in fit_paths]
    return _Context(pd.read_parquet(curves_path), fits, "heldout")


def test_loss_vs_x_draws_the_sizes_an_inter_fit_held_out_dashed_with_its_band(study):
    """Full fit solid for the fitted sizes; the held-out size dashed, from the inter fit."""
    from rlscaling.figures.loss import _loss_vs_x

    _d, curves, fits = study
    ctx = _context(curves, [fits[0], fits[2]])  # paper C full, paper-parametric C inter (l held out)
    fig = _loss_vs_x(ctx, "C")
    ax = fig.axes[0]
    assert "dashed: l predicted by paper-parametric" in ax.get_title()
    styles = [line.get_linestyle() for line in ax.get_lines() if line.get_marker() in ("None", "", None)]
    assert styles.count("--") == 1 and styles.count("-") == 3  # l dashed; xs, s, m solid
    assert len(ax.collections) == 4  # a band per size


def test_sigmoid_figure_of_a_fit_made_on_other_curves_is_a_placeholder_not_a_crash(study, tmp_path):
    import pandas as pd

    _d, curves, fits = study
    other = tmp_path / "other.parquet"
    df = pd.read_parquet(curves)
    df.assign(size=df["size"] + "-v2").to_parquet(other)
    params = {"figures": {"formats": ["png"], "dpi": 40}, "names": ["sigmoid"]}
    args = ["figures", "--curves", str(other), "--fits", fits[4], "--params-json", json.dumps(params)]
    assert cli([*args, "--out-dir", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "sigmoid.png").is_file()


def test_pass1_vs_step_shows_the_curves_the_laws_were_fitted_to(shared_data, tmp_path):
    """On the paper's folder (base, instruct, Llama, reuse and rollout sweeps: 40 curves) with fits
    of the base curves, the step plot shows those 7 curves, not all 40."""
    from rlscaling.curves_import import import_paper
    from rlscaling.figures.loss import _pass1_vs_step

    need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv")
    curves = tmp_path / "paper.parquet"
    import_paper(shared_data / "paper").to_parquet(curves)
    out = tmp_path / "full.json"
    where = ["--where", "experiment=holdout", "--where", "source=base"]
    assert cli(["fit", str(curves), "-o", str(out), "--law", "paper", *where, "--bootstrap", "0"]) == 0
    fig = _pass1_vs_step(_context(curves, [out]))
    assert len(fig.axes[0].get_legend().get_texts()) == 7


@pytest.mark.parametrize(("column", "value"), [("L", float("nan")), ("pass_at_1", 1.7)])
def test_a_curves_table_with_a_nan_or_out_of_range_loss_is_refused_naming_it(
    study, tmp_path, capsys, column, value
):
    import pandas as pd

    _d, curves, fits = study
    df = pd.read_parquet(curves)
    df.loc[3, column] = value
    bad = tmp_path / "curves.parquet"
    df.to_parquet(bad)
    argv = ["figures", "--curves", str(bad), "--fits", *fits, "--out-dir", str(tmp_path / "figs")]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert f"{bad}: column `{column}`" in err and "row 3" in err, err
    assert not (tmp_path / "figs").exists()
