"""The verl engine's segment logic without a GPU: a stand-in for `python -m verl.trainer.main_ppo` reads
the generated overrides and behaves like verl on disk (global_step_k checkpoints with the HF model, the
file-logger JSONL at $VERL_FILE_LOGGER_PATH, resume from resume_from_path), so segments, resume,
export and metrics conversion run for real."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from rlscaling.errors import UserError
from rlscaling.train.verl import engine as E

from test_verl_overrides import default_verl_params

FAKE_VERL = r'''#!PYTHON
"""Stand-in for verl.trainer.main_ppo: same overrides in, same files out."""
import json, os, shutil, sys
args = dict(a.lstrip("+").split("=", 1) for a in sys.argv[3:])
assert sys.argv[1:3] == ["-m", "verl.trainer.main_ppo"], sys.argv
calls = os.environ["FAKE_VERL_CALLS"]
with open(calls, "a") as fh:
    fh.write(json.dumps(args) + "\n")
ckpt = args["trainer.default_local_dir"]
last = int(args["trainer.total_training_steps"])
save = int(args["trainer.save_freq"])
start = 0
if args["trainer.resume_mode"] == "resume_path":
    start = int(args["trainer.resume_from_path"].rsplit("global_step_", 1)[1])
    assert os.path.isfile(os.path.join(args["trainer.resume_from_path"], "data.pt"))
fail_at = int(os.environ.get("FAKE_VERL_FAIL_AFTER", "0"))
log = open(os.environ["VERL_FILE_LOGGER_PATH"], "wb")
if args["trainer.val_before_train"] == "true":
    log.write((json.dumps({"step": start, "data": {"val-core/src/acc/mean@1": 0.1}}) + "\n").encode())
n = int(args["data.train_batch_size"]) * int(args["actor_rollout_ref.rollout.n"])
for step in range(start + 1, last + 1):
    data = {"critic/score/mean": step / 100, "prompt_length/mean": 10.0, "response_length/mean": 6.0,
            "perf/total_num_tokens": 16 * n, "timing_s/step": 2.0, "timing_s/gen": 1.0,
            "perf/throughput": 123.0, "actor/entropy": 0.3, "actor/pg_clipfrac": 0.0,
            "val-core/src/acc/mean@1": step / 10}
    log.write((json.dumps({"step": step, "data": data}) + "\n").encode())
    if step % save == 0 or step == last:
        d = os.path.join(ckpt, f"global_step_{step}")
        os.makedirs(os.path.join(d, "actor"), exist_ok=True)
        hf = os.path.join(d, "actor", "huggingface")
        shutil.copytree(os.environ["FAKE_VERL_MODEL"], hf, dirs_exist_ok=True)
        open(os.path.join(d, "data.pt"), "w").write("dataloader")
    if fail_at and step == fail_at:
        sys.exit(3)
'''


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from helpers import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def fake_verl(tmp_path, tiny_model, monkeypatch):
    script = tmp_path / "fake_python"
    script.write_text(FAKE_VERL.replace("PYTHON", sys.executable, 1))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_VERL_CALLS", str(calls))
    monkeypatch.setenv("FAKE_VERL_MODEL", str(tiny_model))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.parquet").write_text("rows")
    (tmp_path / "data" / "heldout.parquet").write_text("rows")
    return script, calls


def params(script: Path, **verl) -> dict:
    p = default_verl_params(prompts_per_step=4, rollouts_per_prompt=2, segment_steps=2, kl_coef=0.0)
    p["verl"].update(
        # a GPU node's settings (this machine has none: device auto would pick verl's CPU mode)
        {
            "python": str(script),
            "n_gpus_per_node": 1,
            "test_freq": 1,
            "ray_num_cpus": None,
            "device": "cuda",
            **verl,
        }
    )
    return p


def calls_of(calls: Path) -> list[dict]:
    return [json.loads(x) for x in calls.read_text().splitlines()]


def run_two_segments(tmp_path, script, **verl):
    runs = tmp_path / "runs" / "r"
    base = tmp_path / "base"
    base.mkdir(exist_ok=True)
    p = params(script, **verl)
    s2 = E.train_segment(p, base, tmp_path / "data" / "train.parquet", 2, 1, runs / "step_000002")
    s4 = E.train_segment(p, s2, tmp_path / "data" / "train.parquet", 4, 1, runs / "step_000004")
    return base, s2, s4


def test_a_segment_exports_the_hf_model_metrics_and_its_record(tmp_path, fake_verl):
    script, _ = fake_verl
    base, s2, _ = run_two_segments(tmp_path, script)
    assert (s2 / "config.json").is_file() and (s2 / "model.safetensors").is_file()
    recs = [json.loads(x) for x in (s2 / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2]
    info = json.loads((s2 / E.SEGMENT_FILE).read_text())
    assert info["engine"] == "verl" and info["step"] == 2 and info["reference_model"] == str(base)
    assert info["initial_validation"] == {"src": 0.1}


def test_the_next_segment_resumes_verls_state_and_keeps_the_base_model(tmp_path, fake_verl):
    script, calls = fake_verl
    base, s2, s4 = run_two_segments(tmp_path, script)
    first, second = calls_of(calls)
    assert first["trainer.resume_mode"] == "disable"
    assert second["trainer.resume_mode"] == "resume_path"
    assert second["trainer.resume_from_path"].endswith("/global_step_2")
    assert second["trainer.total_training_steps"] == "4"
    assert first["actor_rollout_ref.model.path"] == second["actor_rollout_ref.model.path"] == str(base)
    assert first["trainer.default_local_dir"] == second["trainer.default_local_dir"]


def test_metrics_continue_across_segments(tmp_path, fake_verl):
    script, _ = fake_verl
    _, s2, s4 = run_two_segments(tmp_path, script)
    r2 = [json.loads(x) for x in (s2 / "metrics.jsonl").read_text().splitlines()]
    r4 = [json.loads(x) for x in (s4 / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in r4] == [3, 4]
    assert [r["D"] for r in r2 + r4] == [4, 8, 12, 16]
    assert r4[-1]["C"] == pytest.approx(2 * r2[-1]["C"])
    assert r4[-1]["val_scores"] == {"src": pytest.approx(0.4)}
    assert r2[0]["N"] > 0


def test_every_job_gets_its_own_file_logger_path(tmp_path, fake_verl):
    script, calls = fake_verl
    run_two_segments(tmp_path, script)
    logs = list((tmp_path / "runs" / "r" / ".verl").glob("*/logs/segment_*.jsonl"))
    assert sorted(p.name.split(".")[0] for p in logs) == ["segment_000002", "segment_000004"]
    ray_env = [c["ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH"] for c in calls_of(calls)]
    assert sorted(ray_env) == sorted(str(p) for p in logs)  # the Ray actors get the same path


def test_a_retried_segment_resumes_from_its_last_save_not_from_its_start(tmp_path, fake_verl, monkeypatch):
    script, calls = fake_verl
    base = tmp_path / "base"
    base.mkdir()
    p = params(script, save_freq=1)
    p["segment_steps"] = 4
    data = tmp_path / "data" / "train.parquet"
    out = tmp_path / "runs" / "r" / "step_000004"
    monkeypatch.setenv("FAKE_VERL_FAIL_AFTER", "3")
    with pytest.raises(RuntimeError, match="status 3"):
        E.train_segment(p, base, data, 4, 1, out)
    assert not out.exists()  # nothing under the final name
    monkeypatch.delenv("FAKE_VERL_FAIL_AFTER")
    E.train_segment(p, base, data, 4, 1, out)
    retry = calls_of(calls)[-1]
    assert retry["trainer.resume_from_path"].endswith("/global_step_3")
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2, 3, 4]  # steps 1-3 from the first attempt's log


def test_a_changed_setting_never_resumes_a_stale_state(tmp_path, fake_verl):
    script, _ = fake_verl
    base = tmp_path / "base"
    base.mkdir()
    data = tmp_path / "data" / "train.parquet"
    runs = tmp_path / "runs" / "r"
    E.train_segment(params(script), base, data, 2, 1, runs / "step_000002")
    changed = params(script)
    changed["lr"] = 5e-6
    with pytest.raises(UserError, match="no verl checkpoint global_step_2"):
        E.plan(changed, runs / "step_000002", data, 4, runs / "step_000004")


def test_init_from_another_engine_is_a_user_error(tmp_path, fake_verl):
    script, _ = fake_verl
    init = tmp_path / "trl_step"
    init.mkdir()
    (init / E.SEGMENT_FILE).write_text(json.dumps({"engine": "trl", "step": 2}))
    with pytest.raises(UserError, match="trl"):
        E.plan(
            params(script),
            init,
            tmp_path / "data" / "train.parquet",
            4,
            tmp_path / "runs" / "r" / "step_000004",
        )


def test_multi_node_sizes_run_the_trainer_through_the_ray_launcher(tmp_path, fake_verl):
    script, _ = fake_verl
    p = params(script, nnodes=4, n_gpus_per_node=8, ray_num_cpus=64)
    p["prompts_per_step"] = 16
    (tmp_path / "base").mkdir()
    plan = E.plan(
        p, tmp_path / "base", tmp_path / "data" / "train.parquet", 2, tmp_path / "runs" / "r" / "step_000002"
    )
    cmd = plan["command"]
    sep = cmd.index("--")
    assert cmd[0] == str(E.DEFAULT_LAUNCHER) and os.access(cmd[0], os.X_OK)
    assert cmd[1:sep] == ["--gpus-per-node", "8", "--num-cpus", "64"]
    assert cmd[sep + 1 : sep + 4] == [str(script), "-m", "verl.trainer.main_ppo"]


def test_gpus_and_nodes_come_from_the_slurm_allocation_when_params_lack_them():
    shape = E.shape_from_environment(
        {"SLURM_JOB_NUM_NODES": "2", "SLURM_GPUS_ON_NODE": "4", "SLURM_CPUS_PER_TASK": "32"}
    )
    assert (shape.nodes, shape.gpus_per_node, shape.cpus_per_task) == (2, 4, 32)
    assert E.shape_from_environment({"CUDA_VISIBLE_DEVICES": "0,1"}).gpus_per_node == 2
