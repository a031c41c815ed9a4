"""Every setting that would fail a later job is refused before the first one: by `snakemake -n` (the
Snakefile's config check) and by `rlscaling plan`, with a message naming the key.

Each case is the default study (config.yaml) with one bad setting merged in, as a user would add it
with a second --configfile. The first nine are the common mistakes; the rest are settings like them. The
Snakefile and `rlscaling plan` run the same checks (the schema, then rlscaling.config.check), so every
case goes through `plan` (milliseconds) and the first nine, which exercise both the schema and the
cross-key checks, also through `snakemake -n` (seconds each: a Snakemake start per case)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rlscaling import config as rc
from rlscaling.cli import main as cli_main
from rlscaling.paths import PROJECT_ROOT

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

# a tiny-family size without head_dim: its width must divide into its heads
NO_HEAD_DIM = {
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 64,
}

# (bad setting, the key the message must name)
CASES = [
    ({"fit": {"bench": "nope"}}, "fit.bench"),
    ({"fit": {"objective": "nonsense"}}, "fit.objective"),
    ({"data": {"max_train": 3}}, "data.max_train"),
    ({"data": {"synthetic": {"n_train": 10}}}, "data.synthetic.n_train"),
    ({"training": {"prompts_per_step": 100000}}, "training.prompts_per_step"),
    ({"benchmarks": {"heldout": {"source": "heldout", "scorer": "nonsense"}}}, "benchmarks.heldout.scorer"),
    ({"data": {"heldout_size": 5000}}, "data.heldout_size"),
    # (config.yaml's sizes set head_dim, so any width is legal there: a size without it must divide)
    ({"models": {"sizes": {"xxs": {**NO_HEAD_DIM, "hidden_size": 50}}}}, "models.sizes.xxs.hidden_size"),
    ({"models": {"sizes": {"xs": {"num_key_value_heads": 3}}}}, "models.sizes.xs.num_key_value_heads"),
]
ISSUE_IDS = [key for _, key in CASES]
CASES += [
    ({"models": {"sizes": {"xxs": {**NO_HEAD_DIM, "hidden_size": 36}}}}, "models.sizes.xxs.hidden_size"),  # 9
    ({"models": {"sizes": {"xs": {"head_dim": 31}}}}, "models.sizes.xs.head_dim"),  # odd head size
    ({"sweep": {"lr": [0.0001, -1]}}, r"sweep.lr\[1\]"),
    ({"training": {"sizes": {"l": {"prompts_per_step": 5000}}}}, "training.sizes.l.prompts_per_step"),
    ({"training": {"reuse_tau": 2000}}, "training.reuse_tau"),
    ({"data": {"synthetic": {"n_ood": 0}}}, "benchmarks.ood.source"),
    ({"data": {"synthetic": {"levels": [9]}}}, "data.synthetic.levels"),
    (
        {"pretrain": {"seed_candidates": 2}, "data": {"synthetic": {"n_pretrain": 40}}},
        "pretrain.seed_candidates",
    ),
    (  # a size with overrides of other keys still takes seed_candidates from `pretrain`
        {
            "pretrain": {"seed_candidates": 2, "sizes": {s: {"tokens": 1000000} for s in ("xs", "s", "l")}},
            "data": {"synthetic": {"n_pretrain": 40}},
        },
        r"error: pretrain\.seed_candidates",
    ),
    ({"fit": {"holdout_N": ["xl"], "scenarios": ["inter"]}}, "fit.holdout_N"),
    ({"fit": {"scenarios": ["intra"]}}, "fit.fit_steps"),
    ({"fit": {"scenarios": ["intra"], "fit_steps": 100}}, "fit.fit_steps"),
    ({"fit": {"laws": ["reuse"]}}, "fit.laws"),
    ({"fit": {"min_step": 90}}, "fit.laws"),  # one evaluated step left per curve
    ({"fit": {"min_step": 0}}, "fit.min_step"),  # step 0 has C = D = 0
    ({"fit": {"scenarios": ["inter"], "holdout_N": ["m", "l"]}}, "fit.laws"),  # 2 sizes left to fit
]
IDS = [key for _, key in CASES]


@pytest.mark.parametrize(("bad", "key"), CASES[: len(ISSUE_IDS)], ids=ISSUE_IDS)
def test_snakemake_dry_run_refuses_the_bad_setting_naming_its_key(tmp_path: Path, bad: dict, key: str):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    cmd = [
        SNAKEMAKE,
        "-s",
        str(PROJECT_ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
        "--configfile",
        str(PROJECT_ROOT / "config.yaml"),
        str(tmp_path / "bad.yaml"),
        "-n",
        "all",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-2000:]
    assert "Job stats" not in text, text[-2000:]  # refused while the workflow is read, before any job
    # the Snakefile's config check says "config: KEY: ..."; Snakemake's own schema validation names
    # the key as instance['a']['b']
    assert re.search(key, re.sub(r"\['([^']*)'\]", r".\1", text)), text[-2000:]


@pytest.mark.parametrize(("bad", "key"), CASES, ids=IDS)
def test_plan_refuses_the_bad_setting_naming_its_key(tmp_path: Path, bad: dict, key: str, capsys):
    default = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(rc.deep_merge(default, bad)))
    assert cli_main(["plan", "--config", str(tmp_path / "config.yaml")]) != 0
    err = capsys.readouterr().err
    assert re.search(key, err), err


# --------------------------------------------------------------------------------------------------
# warnings: valid but implausible settings are said, never refused

LR_WARNINGS = [
    ({"training": {"lr": 100}}, "training.lr: 100 is far outside the usual range"),
    ({"training": {"sizes": {"xs": {"lr": 1e-9}}}}, "training.sizes.xs.lr: 1e-09 is far outside"),
    ({"sweep": {"lr": [1e-4, 0.5]}}, "sweep.lr: 0.5 is far outside"),
    ({"pretrain": {"lr": 3.0}}, "pretrain.lr: 3 is far outside the usual range of pretrain learning rates"),
]


@pytest.mark.parametrize(("setting", "message"), LR_WARNINGS, ids=[m.split(":")[0] for _, m in LR_WARNINGS])
def test_a_learning_rate_far_outside_the_usual_range_is_a_warning(tmp_path: Path, setting, message, capsys):
    default = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(rc.deep_merge(default, setting)))
    assert cli_main(["plan", "--config", str(tmp_path / "config.yaml")]) == 0
    err = capsys.readouterr().err
    assert f"config: warning: {message}" in err, err


def test_the_default_study_has_no_warning():
    assert rc.warnings(rc.load(PROJECT_ROOT / "config.yaml")) == []


def test_snakemake_prints_the_warning_when_it_reads_the_config(tmp_path: Path):
    (tmp_path / "lr.yaml").write_text(yaml.safe_dump({"training": {"lr": 100}}))
    cmd = [SNAKEMAKE, "-s", str(PROJECT_ROOT / "Snakefile"), "--directory", str(tmp_path), "--cores", "1"]
    cmd += ["--configfile", str(PROJECT_ROOT / "config.yaml"), str(tmp_path / "lr.yaml"), "-n", "all"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "config: warning: training.lr: 100 is far outside" in proc.stdout + proc.stderr
