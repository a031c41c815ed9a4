"""The ready studies in workflow/presets/, planned through profiles/slurm with `snakemake -n`: the jobs
each preset implies (counted per rule), the GPUs, nodes and time limits each size gets, and the
evaluation groups. Local data the presets expect is replaced by empty placeholder files.

The per-size resources need the Snakefile's `resources_for(family, wildcard)` (workflow/rules/common.smk);
RLSCALING_TEST_SNAKEFILE points the tests at another Snakefile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

import rlscaling.config as rc
from rlscaling.paths import PROJECT_ROOT

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SNAKEFILE = Path(os.environ.get("RLSCALING_TEST_SNAKEFILE", PROJECT_ROOT / "Snakefile"))
PRESETS = PROJECT_ROOT / "workflow" / "presets"
PER_SIZE = (
    'resources_for("train", "run")' in (SNAKEFILE.parent / "workflow" / "rules" / "train.smk").read_text()
)

pytestmark = pytest.mark.skipif(
    not PER_SIZE,
    reason="the Snakefile does not pass per-size resources yet (resources_for(family, wildcard))",
)


def placeholders(workdir: Path, *configs: Path) -> None:
    """Empty files where the presets expect local data (the dry run never reads them)."""
    for path in configs:
        cfg = yaml.safe_load(path.read_text())
        files = list((cfg.get("data", {}).get("parquet") or {}).get("train_files", []))
        files += (cfg.get("data", {}).get("parquet") or {}).get("heldout_files", [])
        files += [b["path"] for b in (cfg.get("benchmarks") or {}).values() if "path" in b]
        for rel in files:
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            (workdir / rel).touch()


def dry_run(workdir: Path, *configs: Path) -> str:
    placeholders(workdir, *configs)
    cmd = [
        SNAKEMAKE,
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--profile",
        "profiles/slurm",
        "--configfile",
        *map(str, configs),
        "--replace-workflow-config",
        "-n",
        "all",
    ]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def job_counts(text: str) -> Counter:
    stats = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = Counter()
    for line in stats.splitlines():
        m = re.match(r"^\s*([A-Za-z_]\w*)\s+(\d+)\s*$", line)
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def job_resources(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """rule -> wildcard string -> resources, from the dry run's job blocks."""
    out: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", text):
        m = re.match(r"\s*(?:local)?rule (\w+):", block)
        if not m:
            continue
        wc = re.search(r"wildcards: (.+)", block)
        res = re.search(r"resources: (.+)", block)
        if res:
            pairs = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
            out[m.group(1)][wc.group(1) if wc else ""] = pairs
    return out


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    text = dry_run(tmp_path_factory.mktemp("paper"), PRESETS / "tan2025-qwen25-guru.yaml")
    return job_counts(text), job_resources(text), text


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    text = dry_run(tmp_path_factory.mktemp("qwen3"), PRESETS / "qwen3-gsm8k.yaml")
    return job_counts(text), job_resources(text), text


def test_paper_preset_plans_every_segment_and_evaluation(paper):
    counts, _, _ = paper
    # 7 sizes x 3 seeds = 21 runs; 105 steps in segments of 5; evaluation at 0, 10, ..., 100 and 105
    assert counts == {
        "data": 1,
        "prompt_lengths": 21,
        "train_segment": 21 * 21,
        "evaluate": 21 * 12,
        "run_metrics": 21,
        "curves": 1,
        "fit": 2 * 2 * 3,
        "compare": 1,
        "predict": 1,
        "figures": 1,
        "report": 1,
        "all": 1,
    }


def test_paper_preset_gpus_nodes_and_time_per_size(paper):
    _, res, _ = paper
    train = {wc.split(",")[0].split("=")[1].split("__")[0]: r for wc, r in res["train_segment"].items()}
    expect = {
        "0.5B": (1, "4", None, "60"),
        "1.5B": (1, "4", None, "90"),
        "3B": (1, "4", None, "120"),
        "7B": (1, "8", None, "180"),
        "14B": (1, "8", None, "480"),
        "32B": (2, None, "gpu:8", "480"),
        "72B": (4, None, "gpu:8", "720"),
    }
    for size, (nodes, gpu, gres, runtime) in expect.items():
        r = train[size]
        assert int(r["nodes"]) == nodes, size
        assert r.get("gpu") == gpu and r.get("gres") == gres, size
        assert r["runtime"] == runtime and r["slurm_partition"] == "gpu", size


def test_multi_node_training_runs_its_command_in_the_allocation(paper):
    _, res, _ = paper
    r = next(r for wc, r in res["train_segment"].items() if "72B" in wc)
    assert (r["mpi"], r["tasks"], r["tasks_per_gpu"]) == ("srun", "4", "0")


def test_evaluation_gpus_follow_the_size_and_stay_on_one_node(paper):
    _, res, _ = paper
    ev = {wc.split(",")[0].split("=")[1].split("__")[0]: r for wc, r in res["evaluate"].items()}
    assert {s: ev[s]["gpu"] for s in ("0.5B", "7B", "14B", "32B", "72B")} == {
        "0.5B": "1",
        "7B": "1",
        "14B": "2",
        "32B": "4",
        "72B": "8",
    }
    assert all(r["nodes"] == "1" for r in ev.values())


def test_evaluations_are_submitted_in_groups_of_four(paper):
    counts, res, text = paper
    groups = text.count("Group job evaluation")
    assert groups == -(-counts["evaluate"] // 4)
    assert all(r["eval_lane"] == "1" for r in res["evaluate"].values())


def test_data_runs_on_the_cpu_partition_and_analysis_on_the_submitting_host(paper):
    _, res, text = paper
    assert res["data"][""]["slurm_partition"] == "cpu" and "gpu" not in res["data"][""]
    # `localrules: a, b` on one line, or snakefmt's one rule per indented line
    local = re.search(r"^localrules:((?:[^\n]*)(?:\n[ \t]+[^\n]*)*)", SNAKEFILE.read_text(), re.M).group(1)
    for rule in ("curves", "fit", "figures", "report", "run_metrics"):
        assert rule in {x.strip() for x in local.split(",")}, rule
        assert all("slurm_partition" not in r for r in res[rule].values()), rule


def test_instruct_overlay_is_the_same_plan_under_its_own_study(tmp_path):
    text = dry_run(
        tmp_path, PRESETS / "tan2025-qwen25-guru.yaml", PRESETS / "tan2025-qwen25-guru-instruct.yaml"
    )
    assert sum(job_counts(text).values()) == 754
    assert "results/tan2025-qwen25-guru-instruct/runs/72B__seed-0/step_000105" in text
    assert "--init models/Qwen2.5-72B-Instruct" in text


def test_qwen3_preset_sweeps_the_three_gsm8k_rewards(qwen3):
    counts, res, text = qwen3
    # 5 sizes x 3 rewards = 15 runs; 56 steps in segments of 8; evaluation at 0, 8, ..., 56
    assert counts == {
        "data": 1,
        "prompt_lengths": 15,
        "train_segment": 15 * 7,
        "evaluate": 15 * 8,
        "run_metrics": 15,
        "curves": 1,
        "fit": 2,
        "compare": 1,
        "predict": 1,
        "figures": 1,
        "report": 1,
        "all": 1,
    }
    runs = {wc.split(",")[0].split("=")[1] for wc in res["train_segment"]}
    assert {r.split("__")[1] for r in runs} == {"reward-strict", "reward-flexible", "reward-custom_flexible"}
    assert '"reward":"flexible"' in text and '"rollouts_per_prompt":3' in text


def test_qwen3_sizes_fit_on_one_node(qwen3):
    _, res, _ = qwen3
    train = {wc.split(",")[0].split("=")[1].split("__")[0]: r for wc, r in res["train_segment"].items()}
    assert {s: (r["nodes"], r["gpu"]) for s, r in train.items()} == {
        "0.6B": ("1", "8"),
        "1.7B": ("1", "8"),
        "4B": ("1", "8"),
        "8B": ("1", "8"),
        "14B": ("1", "8"),
    }


def test_qwen3_compute_axis_uses_36t_pretraining_tokens(tmp_path, monkeypatch):
    placeholders(tmp_path, PRESETS / "qwen3-gsm8k.yaml")
    monkeypatch.chdir(tmp_path)
    cfg = rc.load(PRESETS / "qwen3-gsm8k.yaml")
    assert {s["pretrain_tokens"] for s in cfg["models"]["sizes"].values()} == {3.6e13}
