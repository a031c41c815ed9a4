"""The Snakemake workflow end to end on a reduced study (3 sizes, 6 steps in segments of 2), and the
behaviours users rely on: nothing reruns without a reason, settings invalidate only what they
affect, longer training reuses earlier segments, targets build only their ancestors, and a killed
training segment leaves nothing Snakemake would trust.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from rlscaling.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
MINI = PROJECT_ROOT / "tests" / "fixtures" / "mini_study.yaml"
S = "results/mini"


def smk(workdir: Path, *args: str, check: bool = True, **popen) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(PROJECT_ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, **popen)
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{tail}")
    return proc


def planned_jobs(workdir: Path, *targets: str) -> Counter:
    """Rule -> number of jobs Snakemake would run now (from a dry run's job stats)."""
    out = smk(workdir, *targets, "-n", "--quiet", "rules")  # targets first: --quiet takes several values
    text = out.stdout + out.stderr
    counts: Counter = Counter()
    if "Nothing to be done" in text:
        return counts
    stats = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]  # the first table only
    for line in stats.splitlines():
        m = re.match(r"^\s*([A-Za-z_]\w*)\s+(\d+)\s*$", line)
        if m and m.group(1) != "total":
            counts[m.group(1)] += int(m.group(2))
    return counts


def planned_outputs(workdir: Path, rule: str, *targets: str) -> list[str]:
    """Output paths of the planned jobs of one rule (from a dry run)."""
    out = smk(workdir, *targets, "-n")
    text = out.stdout + out.stderr
    outs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        if re.match(rf"(?:local)?rule {rule}:", block.strip()):
            m = re.search(r"output: (.+)", block)
            if m:
                outs.extend(p.strip() for p in m.group(1).split(","))
    return outs


def write_config(workdir: Path, **changes) -> dict:
    cfg = yaml.safe_load(MINI.read_text())
    for dotted, value in changes.items():
        node = cfg
        *path, last = dotted.split(".")
        for key in path:
            node = node[key]
        node[last] = value
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    return cfg


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The mini study, run once to completion."""
    workdir = tmp_path_factory.mktemp("mini")
    write_config(workdir)
    smk(workdir, "all")
    return workdir


def test_study_writes_every_stage_output(study: Path):
    s = study / S
    for rel in ["data/train.parquet", "data/heldout.parquet", "data/bench/ood.parquet",
                "models/xs/base/config.json", "models/s/pretrain.json",
                "runs/xs/step_000006/config.json", "runs/s/metrics.jsonl",
                "eval/s/step_000000/heldout.json", "eval/xs/step_000006/ood.samples.parquet",
                "curves.parquet", "fits/paper__C__full.json", "fits/paper__D__full.json",
                "figures/loss_vs_C.png", "figures/loss_vs_C.pdf", "summary.md", "checks.json",
                "compare.json", "compare.md", "figures/compare.png", "prediction.json",
                "figures/prediction.png"]:
        assert (s / rel).exists(), rel


def test_summary_says_why_the_largest_size_has_no_prediction_from_two_smaller_ones(study: Path):
    summary = (study / S / "summary.md").read_text()
    section = summary.split("## Prediction of the largest size (prediction.json)", 1)[1].split("\n## ", 1)[0]
    assert "Undetermined:" in section and "at least 3 sizes" in section


def test_summary_includes_the_law_tournament(study: Path):
    summary = (study / S / "summary.md").read_text()
    assert "## Law tournament (compare.md)" in summary
    assert "paper-parametric" in summary.split("## Law tournament")[1]


def test_curves_cover_every_run_step_and_bench(study: Path):
    import pandas as pd

    curves = pd.read_parquet(study / S / "curves.parquet")
    assert set(curves["run"]) == {"xs", "s", "m"}
    assert sorted(set(curves["step"])) == [0, 2, 4, 6]
    assert set(curves["bench"]) == {"heldout", "ood"}
    assert len(curves) == 3 * 4 * 2
    final = curves[curves.step == 6]
    assert (final["C"] > 0).all() and (final["D"] == 6 * 4).all()


def test_second_invocation_does_nothing(study: Path):
    assert planned_jobs(study, "all") == Counter()


def test_fit_setting_change_reruns_only_fits_predictions_figures_and_report(study: Path):
    write_config(study, **{"fit.bootstrap": 30})
    try:
        jobs = planned_jobs(study, "all")
        assert jobs and set(jobs) <= {"fit", "predict", "figures", "report", "all"}, jobs
    finally:
        write_config(study)


def test_scheduling_keys_are_not_evaluation_params(study: Path):
    # the final step named again as an extra evaluation step changes no checkpoint and no evaluation:
    # nothing reruns (an evaluation's params hold only what changes its result)
    write_config(study, **{"evaluation.extra_steps": [6]})
    try:
        assert planned_jobs(study, "all") == Counter()
    finally:
        write_config(study)


def test_every_evaluation_was_made_in_the_process_that_wrote_its_checkpoint(study: Path):
    # trl + hf: segments and pre-training jobs evaluate their checkpoints; the evaluate jobs copy
    logs = sorted((study / S / "logs" / "evaluate").rglob("*.log"))
    assert logs and all("from the training segment's evaluation" in p.read_text() for p in logs), logs


def test_an_evaluation_setting_change_reevaluates_without_retraining(study: Path):
    cfg = yaml.safe_load(MINI.read_text())
    write_config(study, **{"evaluation.n_samples": int(cfg["evaluation"]["n_samples"]) + 1})
    try:
        jobs = planned_jobs(study, "all")
        assert jobs["evaluate"] > 0 and not {"pretrain", "train_segment"} & set(jobs), jobs
    finally:
        write_config(study)


def test_raising_total_steps_trains_only_the_new_segments(study: Path):
    write_config(study, **{"training.total_steps": 8})
    try:
        jobs = planned_jobs(study, "all")
        assert jobs["train_segment"] == 3 and jobs["evaluate"] == 3, jobs  # one per size
        assert "pretrain" not in jobs and "data" not in jobs
        trained = planned_outputs(study, "train_segment", "all")
        assert sorted(Path(p).name for p in trained) == ["step_000008"] * 3
    finally:
        write_config(study)


def test_the_base_model_cache_holds_every_base_model_of_the_study(study: Path):
    entries = sorted(p for p in (study / "results" / "base_models").iterdir() if not p.name.startswith("."))
    assert len(entries) == 3  # xs, s, m
    records = {json.loads((e / "pretrain.json").read_text())["size"] for e in entries}
    assert records == {"xs", "s", "m"}


def test_another_study_with_the_same_pre_training_copies_the_base_model_instead_of_training(
    study: Path, tmp_path: Path
):
    cfg = write_config(tmp_path)
    cfg.update(study="mini-again", base_model_cache=str(study / "results" / "base_models"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    smk(tmp_path, "results/mini-again/models/m/pretrain.json")
    again, first = tmp_path / "results/mini-again/models/m", study / S / "models" / "m"
    assert (again / "pretrain.json").read_bytes() == (first / "pretrain.json").read_bytes()
    assert (again / "base/model.safetensors").read_bytes() == (first / "base/model.safetensors").read_bytes()
    assert "base-model cache hit" in (tmp_path / "results/mini-again/logs/pretrain/m.log").read_text()


def test_an_extra_eval_step_adds_a_checkpoint_without_changing_the_others(study: Path, tmp_path: Path):
    # evaluation.extra_steps: [1] cuts xs's first segment (0, 2] into (0, 1] and (1, 2]; segments equal
    # one run, so step 2 is bit for bit the uniform study's, and step 1 is evaluated
    cfg = write_config(tmp_path)
    cfg.update(study="mini-extra", base_model_cache=str(study / "results" / "base_models"))
    cfg["evaluation"]["extra_steps"] = [1]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs(tmp_path, "results/mini-extra/eval/xs/step_000002/heldout.json")
    assert jobs["train_segment"] == 2, jobs
    smk(tmp_path, "results/mini-extra/eval/xs/step_000001/heldout.json",
        "results/mini-extra/runs/xs/step_000002")
    extra = tmp_path / "results/mini-extra"
    segment = json.loads((extra / "runs/xs/step_000002/rlscaling_segment.json").read_text())
    assert segment["params"]["segment_steps"] == 1
    weights = "runs/xs/step_000002/model.safetensors"
    assert (extra / weights).read_bytes() == (study / S / weights).read_bytes()
    assert json.loads((extra / "eval/xs/step_000001/heldout.json").read_text())["step"] == 1


def test_one_evaluation_file_builds_only_its_ancestors(tmp_path: Path):
    write_config(tmp_path)
    target = f"{S}/eval/xs/step_000004/heldout.json"
    jobs = planned_jobs(tmp_path, target)
    assert jobs == Counter(
        {"data": 1, "tokenizer": 1, "pretrain": 1, "prompt_lengths": 1, "train_segment": 2, "evaluate": 1}
    )


def planned_inputs(workdir: Path, rule: str, *targets: str) -> dict[str, list[str]]:
    """Output -> input paths of the planned jobs of one rule (from a dry run)."""
    out = smk(workdir, *targets, "-n")
    found = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out.stdout + out.stderr):
        if re.match(rf"(?:local)?rule {rule}:", block.strip()):
            inputs = re.search(r"input: (.+)", block)
            output = re.search(r"output: (.+)", block)
            found[output.group(1).split(",")[0].strip()] = [p.strip() for p in inputs.group(1).split(",")]
    return found


def test_the_first_segment_of_every_run_waits_for_its_prompt_length_check(tmp_path: Path):
    cfg = write_config(tmp_path)
    segments = planned_inputs(tmp_path, "train_segment", "all")
    for run in cfg["models"]["sizes"]:
        first = segments[f"{S}/runs/{run}/step_000002"]
        assert f"{S}/data/prompt_lengths/{run}.json" in first
        assert not any("prompt_lengths" in p for p in segments[f"{S}/runs/{run}/step_000004"])
    for inputs in planned_inputs(tmp_path, "pretrain", "all").values():
        assert not any("prompt_lengths" in p for p in inputs)


def test_the_largest_sizes_chain_is_scheduled_first(tmp_path: Path):
    # the critical path is the largest size's pre-training and segments: its jobs outrank every other
    # size's, and a chain job outranks an evaluation of its own size
    write_config(tmp_path)
    out = smk(tmp_path, "all", "-n")
    priority = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out.stdout + out.stderr):
        rule = re.match(r"\s*(?:local)?rule (\w+):", block)
        wildcards = re.search(r"wildcards: (.+)", block)
        level = re.search(r"priority: (\d+)", block)
        if rule and wildcards and level:
            priority[(rule.group(1), wildcards.group(1).strip())] = int(level.group(1))
    sizes = list(yaml.safe_load(MINI.read_text())["models"]["sizes"])  # the mini study lists them by N
    pretrain = [priority[("pretrain", f"model={s}")] for s in sizes]
    assert pretrain == sorted(pretrain) and len(set(pretrain)) == len(sizes)
    segment = priority[("train_segment", f"run={sizes[-1]}, step=000004")]
    base_eval = priority[("evaluate", f"run={sizes[-1]}, step=000000")]
    assert segment > base_eval > priority[("pretrain", f"model={sizes[-2]}")]


def test_killed_training_segment_leaves_no_trusted_output_and_rerun_matches(study: Path):
    run_dir = study / S / "runs" / "xs"
    final = run_dir / "step_000006"
    reference = [json.loads(x) for x in (final / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(final)

    proc = subprocess.Popen(
        [SNAKEMAKE, "-s", str(PROJECT_ROOT / "Snakefile"), "--directory", str(study), "--configfile",
         str(study / "config.yaml"), "--cores", "1", str(final.relative_to(study))],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    killed = _kill_training_process_midway(proc.pid, study / S / "logs" / "train" / "xs" / "step_000006.log")
    proc.wait(timeout=300)
    assert killed, "never saw the training segment start"
    assert proc.returncode != 0
    assert not final.exists(), "a killed segment left its final checkpoint folder"

    smk(study, str(final.relative_to(study)))
    rerun = [json.loads(x) for x in (final / "metrics.jsonl").read_text().splitlines()]
    keys = ["step", "prompts", "rollouts", "prompt_tokens", "response_tokens", "reward_mean", "C", "D"]
    assert [{k: r[k] for k in keys} for r in rerun] == [{k: r[k] for k in keys} for r in reference]


def _kill_training_process_midway(snakemake_pid: int, log: Path, timeout: float = 240.0) -> bool:
    """SIGKILL the `rlscaling train` process under Snakemake once its log shows training progress."""
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            children = psutil.Process(snakemake_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return False
        trainers = [c for c in children if _is_trainer(c)]
        if trainers and log.exists() and re.search(r"it/s|s/it|step", log.read_text(errors="replace")):
            for c in trainers:
                c.send_signal(signal.SIGKILL)
            return True
        time.sleep(0.2)
    return False


def _is_trainer(proc) -> bool:
    try:
        cmd = proc.cmdline()
    except Exception:
        return False
    return "rlscaling" in cmd and "train" in cmd
