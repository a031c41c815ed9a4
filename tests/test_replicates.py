"""Specification of replicates across the stages that read them: fits of a study with
`replicates: k` bootstrap over seeds (replicates), never note the replicate column as pooled
experiments, and the workflow plans one base model per size and replicate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rlscaling.cli import main as cli_main
from rlscaling.paths import PROJECT_ROOT

SIZES = {"xs": 7e4, "s": 2e5, "m": 6e5, "l": 2e6}


def replicated_curves(path, replicates: int = 3) -> None:
    """Paper-law curves (K_max 0.3, N0 3e5) for 4 sizes x `replicates`, each replicate with its own
    E0 and a little noise per point, as `rlscaling curves build` writes them for a replicated study."""
    rng = np.random.default_rng(0)
    rows = []
    for size, n in SIZES.items():
        k = 0.3 * n / (n + 3e5)
        for rep in range(replicates):
            e0 = 0.8 - 0.1 * np.log10(n / 7e4) + rng.normal(0, 0.02)
            for step in (25, 50, 75, 100):
                c = 6 * n * 3e4 * step
                loss = e0 * (c / 1e12) ** -k * (1 + rng.normal(0, 0.01))
                rows.append(
                    {"study": "t", "run": f"{size}__rep-{rep}", "size": size, "family": "tiny", "N": n,
                     "N_nonembed": n / 2, "replicate": rep, "model": f"{size}/rep{rep}", "seed": 1000 * rep,
                     "step": step,
                     "D": 16.0 * step, "C": c, "C_pretrain": 6 * n * 1e6, "bench": "heldout",
                     "pass_at_1": 1 - loss, "L": loss}
                )  # fmt: skip
    pd.DataFrame(rows).to_parquet(path)


def test_a_fit_of_replicated_curves_bootstraps_over_seeds(tmp_path, capsys):
    replicated_curves(tmp_path / "curves.parquet")
    out = tmp_path / "fit.json"
    argv = ["fit", str(tmp_path / "curves.parquet"), "-o", str(out), "--law", "paper", "--x", "C"]
    assert cli_main(argv + ["--where", "bench=heldout", "--bootstrap", "30"]) == 0
    fit = json.loads(out.read_text())
    assert fit["bootstrap"]["unit"] == "seed"
    lo, hi = fit["ci95"]["K_max"]
    assert lo < fit["params"]["K_max"] < hi and hi > lo
    assert not any("fitting curves across" in n for n in fit["notes"])  # neither replicate nor model
    assert "fitting curves across" not in capsys.readouterr().err


def dry_run(tmp_path: Path, cfg: dict) -> str:
    """The text of `snakemake all -n` on `cfg` (a config written to tmp_path); it must succeed."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(PROJECT_ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "1",
           "all", "-n"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    return text


def job_counts(text: str) -> dict[str, int]:
    """Rule -> jobs, from a dry run's first job-stats table."""
    stats = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


@pytest.mark.slow
def test_the_workflow_plans_a_full_chain_per_replicate(tmp_path):
    cfg = yaml.safe_load((PROJECT_ROOT / "tests" / "fixtures" / "mini_study.yaml").read_text())
    cfg["replicates"] = 2
    text = dry_run(tmp_path, cfg)
    sizes = list(cfg["models"]["sizes"])
    counts = job_counts(text)
    assert counts["pretrain"] == 2 * len(sizes)
    assert counts["run_metrics"] == 2 * len(sizes)
    for size in sizes:
        for k in (0, 1):
            assert f"results/mini/models/{size}/rep{k}/base" in text
            assert f"results/mini/runs/{size}__rep-{k}/" in text


def test_shared_base_models_pretrain_once_per_size_and_train_each_replicate_from_it():
    import rlscaling.config as rc

    cfg = yaml.safe_load((PROJECT_ROOT / "tests" / "fixtures" / "mini_study.yaml").read_text())
    cfg = rc.validate(cfg | {"replicates": 3, "replicate_base_models": "shared"})
    sizes = list(cfg["models"]["sizes"])
    models = rc.base_models(cfg)
    assert list(models) == sizes and all(m["seed"] == cfg["seed"] for m in models.values())
    runs = rc.runs(cfg)
    assert len(runs) == 3 * len(sizes)
    for size in sizes:
        mine = [r for r in runs if r.size == size]
        assert {r.model for r in mine} == {size}
        assert sorted(r.training["seed"] for r in mine) == [cfg["seed"] + 1000 * k for k in range(3)]


@pytest.mark.slow
def test_the_workflow_pretrains_shared_base_models_once(tmp_path):
    cfg = yaml.safe_load((PROJECT_ROOT / "tests" / "fixtures" / "mini_study.yaml").read_text())
    cfg.update(replicates=2, replicate_base_models="shared")
    text = dry_run(tmp_path, cfg)
    counts = job_counts(text)
    sizes = list(cfg["models"]["sizes"])
    assert counts["pretrain"] == len(sizes) and counts["run_metrics"] == 2 * len(sizes)
    assert "/rep0/base" not in text and "/rep1/base" not in text


def test_the_step_figure_draws_each_size_as_its_replicates_mean_with_error_bars(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from rlscaling.figures.base import _Context
    from rlscaling.figures.loss import _pass1_vs_step

    replicated_curves(tmp_path / "curves.parquet")
    fig = _pass1_vs_step(_Context(pd.read_parquet(tmp_path / "curves.parquet"), [], "heldout"))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"{s} (mean ± s.e., 3 replicates)" for s in SIZES]
    assert len(fig.axes[0].containers) == len(SIZES)  # one errorbar container per size


def test_the_default_study_pretrains_three_replicates_on_token_budgets_that_grow_with_n():
    # and on a corpus with half its documents equations-only (docs/results/tiny-calibration.md)
    from rlscaling import config as rc

    cfg = rc.load(PROJECT_ROOT / "config.yaml")
    models = rc.base_models(cfg)
    assert rc.n_replicates(cfg) == 3 and len(models) == 12
    assert {m["seed"] for m in models.values()} == {0, 1000, 2000}
    tokens = [models[f"{size}/rep0"]["pretrain"]["tokens"] for size in cfg["models"]["sizes"]]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]
    assert cfg["data"]["synthetic"]["corpus_equations_only_rate"] == 0.5
    # l trains at 5e-5, half xs's and s's RL learning rate (docs/results/identifiability.md: at 1e-4
    # l's gain was as large but its RL seed moved it twice as much; at 2.5e-5 it gained the least)
    lr = {r.size: r.training["lr"] for r in rc.runs(cfg)}
    assert lr["xs"] == lr["s"] == 1e-4 and lr["l"] == 5e-5
    # the curriculum spans every level within the run: max_train = total_steps x prompts_per_step
    assert cfg["data"]["max_train"] == cfg["training"]["total_steps"] * cfg["training"]["prompts_per_step"]
