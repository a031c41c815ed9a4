"""Specification of experiment tracking (rlscaling.tracking), read back offline from each backend's files.

A tiny run is trained in two TRL segments (steps 1-2, then resumed for 3-4) through `rlscaling train`
with the settings in RLSCALING_TRACKING (as the workflow exports them), one checkpoint's evaluation is
logged, and the study's end results go to the study-level run. Each backend's local store is then read
with that backend's own reader: MLflow's sqlite store through MlflowClient, TensorBoard event files
through EventAccumulator, W&B offline runs through their .wandb files (the W&B protobuf records).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

import pytest

from rlscaling import tracking
from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError

TRAIN = dict(
    engine="trl",
    segment_steps=2,
    prompts_per_step=2,
    rollouts_per_prompt=2,
    lr=1e-2,
    max_prompt_tokens=64,
    max_response_tokens=8,
    reward="flexible",
    seed=0,
    size="xs",
    run="xs",
)
EVAL = {"bench": "heldout", "pass_at_1": 0.25, "pass_at_1_stderr": 0.05, "pass_at_k": {"4": 0.5},
        "format_rate": 0.75, "mean_response_tokens": 6.0, "truncated_rate": 0.0}  # fmt: skip


def settings(tmp_path: Path, backend: str) -> tracking.Settings:
    cfg = {"study": "demo", "tracking": {"backend": backend, "project": "proj", "dir": str(tmp_path / "trk")}}
    return tracking.Settings.from_config(cfg)


def train_two_segments(tmp_path: Path, monkeypatch, track: tracking.Settings) -> None:
    """Steps 1-2 from the base model, then 3-4 resumed from step 2, as the workflow runs them."""
    from test_train_trl import build_tiny_model, write_data

    build_tiny_model(tmp_path / "base")
    write_data(tmp_path / "train.parquet", n=4)
    monkeypatch.setenv(tracking.ENV, track.to_json())
    runs = tmp_path / "runs" / "xs"
    for step, init in ((2, tmp_path / "base"), (4, runs / "step_000002")):
        out = runs / f"step_{step:06d}"
        argv = ["train", "--params-json", json.dumps(TRAIN), "--init", str(init), "--data",
                str(tmp_path / "train.parquet"), "--step", str(step), "--out", str(out)]  # fmt: skip
        assert cli_main(argv) == 0


def log_evaluation_and_study(tmp_path: Path, track: tracking.Settings) -> None:
    tracking.log_evaluation(track, "xs", 4, [EVAL])
    fit = tmp_path / "fits" / "loglinear__C__full.json"
    fit.parent.mkdir()
    fit.write_text(json.dumps({"params": {"K_max": 0.8, "N0": 3e5, "note": "x"}, "r2": 0.98, "n_points": 16}))
    figure = tmp_path / "figures" / "loss_vs_C.png"
    figure.parent.mkdir()
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    summary = tmp_path / "summary.md"
    summary.write_text("# demo\n")
    tracking.log_study(track, [fit], [figure], summary)


@pytest.fixture(autouse=True)
def _restore_environment():
    """`rlscaling train` sets the engines' tracker variables (WANDB_RUN_ID, ...) in its own environment."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# --------------------------------------------------------------------------------------------------
# settings


def test_tracking_is_off_unless_configured():
    assert not tracking.Settings.from_config({"study": "s"}).enabled
    assert not tracking.Settings.from_config({"study": "s", "tracking": {"backend": "none"}}).enabled
    assert not tracking.Settings.from_environment({}).enabled
    assert tracking.report_to(tracking.Settings()) == "none"
    assert tracking.environment(tracking.Settings(), "r") == {}


def test_settings_travel_to_the_jobs_in_one_environment_variable(tmp_path):
    env: dict[str, str] = {}
    track = settings(tmp_path, "mlflow")
    track.export(env)
    assert tracking.Settings.from_environment(env) == track
    assert track.dir == str((tmp_path / "trk").resolve()) and track.study == "demo"
    tracking.Settings().export(env)  # off again: the variable is gone
    assert tracking.ENV not in env


def test_default_store_is_inside_the_study_folder():
    track = tracking.Settings.from_config({"study": "demo", "tracking": {"backend": "tensorboard"}})
    assert track.dir == str(Path("results/demo/tracking").resolve())
    assert track.mlflow_uri() == f"sqlite:///{Path('results/demo/tracking').resolve()}/mlflow.db"


def test_a_run_id_is_stable_and_safe():
    assert tracking.run_id("demo", "xs") == "demo-xs"
    assert tracking.run_id("demo", "xs") == tracking.run_id("demo", "xs")
    odd = tracking.run_id("demo", "xs/rep1 lr=1e-3")
    assert odd != tracking.run_id("demo", "xs_rep1_lr_1e-3") and len(odd) <= 64
    assert all(c.isalnum() or c in "_.-" for c in odd)
    assert len(tracking.run_id("s" * 80, "r")) == 64


def test_bad_settings_name_the_key():
    with pytest.raises(UserError, match="tracking.backend"):
        tracking.Settings(backend="neptune")
    with pytest.raises(UserError, match="tracking.mode"):
        tracking.Settings(backend="wandb", mode="sometimes")


@pytest.mark.parametrize("backend,package", [("wandb", "wandb"), ("mlflow", "mlflow-skinny"),
                                             ("tensorboard", "tensorboard")])  # fmt: skip
def test_a_missing_package_names_the_extra_to_install(monkeypatch, tmp_path, backend, package):
    monkeypatch.setitem(sys.modules, backend, None)  # import fails
    extra = r"pip install -e '\.\[tracking\]'"
    with pytest.raises(UserError, match=rf"{package} package is not installed.*{extra}"):
        tracking.Tracker.open(settings(tmp_path, backend), "xs")


def test_the_config_schema_accepts_the_section_and_keeps_it_optional():
    import rlscaling.config as rc
    from rlscaling.paths import PROJECT_ROOT

    plain = rc.load(PROJECT_ROOT / "config.yaml")
    assert "tracking" not in plain  # absent: no study's config (and so no job's params) changes
    cfg = rc.load(PROJECT_ROOT / "config.yaml", {"tracking": {"backend": "wandb", "project": "p"}})
    assert cfg["tracking"] == {"backend": "wandb", "project": "p", "mode": "offline", "dir": None,
                               "uri": None, "entity": None}  # fmt: skip
    with pytest.raises(UserError, match="tracking"):
        rc.load(PROJECT_ROOT / "config.yaml", {"tracking": {"backend": "neptune"}})


@pytest.mark.slow
def test_the_workflow_hands_the_settings_to_its_jobs_and_off_means_absent(tmp_path):
    """A job of the real Snakefile (its command replaced by one that records its environment)."""
    import shutil
    import subprocess

    import yaml

    from rlscaling.paths import PROJECT_ROOT

    fake = tmp_path / "fake_rlscaling.sh"
    fake.write_text('#!/bin/sh\nprintf "%s" "$RLSCALING_TRACKING" > "$(dirname "$0")/job_env.txt"\nexit 1\n')
    fake.chmod(0o755)
    cfg = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    seen = {}
    for backend in ("mlflow", "none"):
        work = tmp_path / backend
        work.mkdir()
        (work / "config.yaml").write_text(yaml.safe_dump(cfg | {"tracking": {"backend": backend}}))
        cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(PROJECT_ROOT / "Snakefile"),
               "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "1",
               "results/default/data/train.parquet"]  # fmt: skip
        env = {k: x for k, x in os.environ.items() if k != tracking.ENV} | {"RLSCALING_CMD": str(fake)}
        (tmp_path / "job_env.txt").unlink(missing_ok=True)
        subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        seen[backend] = (tmp_path / "job_env.txt").read_text()
        shutil.rmtree(work / ".snakemake", ignore_errors=True)
    track = tracking.Settings.from_json(seen["mlflow"])
    assert (track.backend, track.study) == ("mlflow", "default")
    assert track.dir == str(tmp_path / "mlflow" / "results" / "default" / "tracking")  # absolute, per study
    assert seen["none"] == ""


# --------------------------------------------------------------------------------------------------
# verl: the engine's own logger, through its overrides and environment (verl itself does not run)


@pytest.mark.parametrize("backend,logged", [("wandb", True), ("tensorboard", True), ("mlflow", False)])
def test_verl_logs_to_the_tracker_without_changing_its_state(monkeypatch, tmp_path, backend, logged):
    from test_verl_overrides import default_verl_params

    from rlscaling.train import cli as train_cli
    from rlscaling.train.verl import engine as E
    from rlscaling.train.verl import overrides as O

    params = default_verl_params(segment_steps=10)
    track = settings(tmp_path, backend)
    monkeypatch.setenv(tracking.ENV, track.to_json())
    monkeypatch.setattr(E, "visible_gpus", lambda env=None: 8)
    (tmp_path / "base").mkdir()
    data = tmp_path / "train.parquet"
    data.touch()
    tracked = train_cli._with_verl_tracking(params, track)
    plain = E.plan(params, tmp_path / "base", data, 10, tmp_path / "runs" / "xs" / "step_000010")
    plan = E.plan(tracked, tmp_path / "base", data, 10, tmp_path / "runs" / "xs" / "step_000010")
    assert plan["work"] == plain["work"]  # same verl state folder: switching tracking on restarts nothing
    ov = O.as_dict(plan["overrides"])
    loggers = ov["trainer.logger"].strip("[]").split(",")
    assert (backend in loggers) == logged and loggers[:2] == ["console", "file"]
    env_key = "+ray_kwargs.ray_init.runtime_env.env_vars."
    if backend == "wandb":
        assert ov[env_key + "WANDB_RUN_ID"] == "demo-xs" and ov[env_key + "WANDB_RESUME"] == "allow"
        assert ov[env_key + "WANDB_MODE"] == "offline"  # not verl engine's default "disabled"
        assert ov["trainer.project_name"] == "proj"  # verl gives it to wandb.init, over WANDB_PROJECT
        assert E._environment(plan["params"]["verl"], Path("log.jsonl"))["WANDB_MODE"] == "offline"
    elif backend == "tensorboard":
        assert ov[env_key + "TENSORBOARD_DIR"] == str(tmp_path / "trk" / "tensorboard" / "demo-xs")
    else:  # verl 0.9.1 cannot continue an MLflow run: its segments go in as metrics.jsonl records
        assert not any(k.startswith(env_key + "MLFLOW") for k in ov)
    assert O.as_dict(plain["overrides"])["trainer.logger"] == "[console,file]"
    if backend != "wandb":
        assert ov["trainer.project_name"] == O.as_dict(plain["overrides"])["trainer.project_name"]


# --------------------------------------------------------------------------------------------------
# the TRL engine, end to end, read back offline


def steps_of(points) -> list[int]:
    return sorted(int(p.step) for p in points)


@pytest.mark.slow
def test_mlflow_one_run_per_training_run_read_back_from_the_sqlite_store(monkeypatch, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    track = settings(tmp_path, "mlflow")
    train_two_segments(tmp_path, monkeypatch, track)
    log_evaluation_and_study(tmp_path, track)

    client = MlflowClient(track.mlflow_uri())
    exp = client.get_experiment_by_name("proj")
    runs = {r.data.tags[tracking.RUN_TAG]: r for r in client.search_runs([exp.experiment_id])}
    assert sorted(runs) == ["demo-study", "demo-xs"]  # one run for both segments, one for the study
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    xs = runs["demo-xs"].info.run_id
    assert steps_of(client.get_metric_history(xs, "reward")) == [1, 2, 3, 4]  # TRL's own, per step
    C = client.get_metric_history(xs, "rl/C")  # our metrics.jsonl, one schema for both engines
    assert steps_of(C) == [1, 2, 3, 4]
    C_by_step = [p.value for p in sorted(C, key=lambda p: p.step)]
    assert C_by_step == sorted(C_by_step) and C_by_step[0] > 0  # cumulative FLOPs, continued by segment 2
    (p1,) = client.get_metric_history(xs, "eval/heldout/pass_at_1")
    assert (p1.step, p1.value) == (4, 0.25)
    assert client.get_metric_history(xs, "eval/heldout/pass_at_4")[0].value == 0.5
    study = runs["demo-study"]
    assert study.data.metrics["fit/loglinear__C__full/K_max"] == 0.8
    assert study.data.metrics["fit/loglinear__C__full/r2"] == 0.98
    arts = {a.path for a in client.list_artifacts(study.info.run_id)}
    assert arts == {"fits", "figures", "summary.md"}
    stored = tmp_path / "trk" / "mlflow-artifacts" / study.info.run_id / "artifacts"
    assert (stored / "figures" / "loss_vs_C.png").is_file()  # beside the store
    assert list((tmp_path / "cwd").iterdir()) == []  # not in the job's working directory (./mlruns)


@pytest.mark.slow
def test_tensorboard_one_log_folder_per_run_appended_by_every_segment(monkeypatch, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    track = settings(tmp_path, "tensorboard")
    train_two_segments(tmp_path, monkeypatch, track)
    log_evaluation_and_study(tmp_path, track)

    folder = tmp_path / "trk" / "tensorboard" / "demo-xs"
    assert sorted(p.name for p in (tmp_path / "trk" / "tensorboard").iterdir()) == ["demo-study", "demo-xs"]
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    tags = set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("train/reward")] == [1, 2, 3, 4]  # TRL's own, both segments
    assert [e.step for e in acc.Scalars("rl/C")] == [1, 2, 3, 4]
    assert [(e.step, e.value) for e in acc.Scalars("eval/heldout/pass@1")] == [(4, 0.25)]
    assert {"rl/reward_mean", "rl/D", "rl/flops", "eval/heldout/format_rate"} <= tags
    study = EventAccumulator(str(tmp_path / "trk" / "tensorboard" / "demo-study")).Reload()
    assert study.Scalars("fit/loglinear__C__full/N0")[0].value == pytest.approx(3e5)
    assert (tmp_path / "trk/tensorboard/demo-study/artifacts/figures/loss_vs_C.png").is_file()


# W&B 0.31 reads its .wandb files in Go only; the format is LevelDB's log (32 KiB blocks of
# crc32 | length | type records after a 7-byte ":W&B" header) of W&B's protobuf Record messages.
def wandb_records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, buf = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _crc, n, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + n], pos + 7 + n
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            yield record


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def wandb_offline(folder: Path) -> dict[str, dict]:
    """run id -> {"segments": offline-run folders, "history": rows, "summary": values} of every run."""
    runs: dict[str, dict] = {}
    for f in sorted(folder.glob("wandb/offline-run-*/run-*.wandb")):
        for r in wandb_records(f):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                run = runs.setdefault(r.run.run_id, {"segments": set(), "history": [], "summary": {}})
                run["segments"].add(f.parent.name)
            elif kind == "history":
                run["history"].append({_key(i): json.loads(i.value_json) for i in r.history.item})
            elif kind == "summary":
                run["summary"].update({_key(i): json.loads(i.value_json) for i in r.summary.update})
    return runs


@pytest.mark.slow
def test_wandb_offline_one_run_id_continued_by_every_segment(monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    track = settings(tmp_path, "wandb")
    train_two_segments(tmp_path, monkeypatch, track)
    log_evaluation_and_study(tmp_path, track)

    runs = wandb_offline(tmp_path / "trk")
    assert sorted(runs) == ["demo-study", "demo-xs"]
    xs = runs["demo-xs"]
    assert len(xs["segments"]) >= 3  # two segments and an evaluation, each resuming the one id
    trl_steps = [h["train/global_step"] for h in xs["history"] if "train/reward" in h]
    assert trl_steps == [1, 2, 3, 4]  # TRL's own, per step, both segments
    ours = [(h["rl_step"], h["rl/D"]) for h in xs["history"] if "rl/D" in h]
    assert ours == [(1, 2), (2, 4), (3, 6), (4, 8)]  # metrics.jsonl: 2 prompts per step, cumulative D
    (ev,) = [h for h in xs["history"] if "eval/heldout/pass@1" in h]
    assert (ev["rl_step"], ev["eval/heldout/pass@1"]) == (4, 0.25)
    study = runs["demo-study"]
    assert study["summary"]["fit/loglinear__C__full/K_max"] == 0.8
    files = {p.name for p in (tmp_path / "trk").glob("wandb/offline-run-*-demo-study/files/*")}
    assert {"loglinear__C__full.json", "loss_vs_C.png", "summary.md"} <= files


def test_wandb_a_closed_tracker_has_written_its_run_out(monkeypatch, tmp_path):
    """finish() alone returns before W&B's service writes the run's records (seen: a 7-byte file on a busy
    machine); closing a tracker shuts the service down, which waits until everything is written."""
    wandb = pytest.importorskip("wandb")
    from wandb.sdk import wandb_setup

    monkeypatch.setenv("WANDB_SILENT", "true")
    track = settings(tmp_path, "wandb")
    with tracking.Tracker.open(track, tracking.STUDY_RUN) as t:
        t.log_summary({"fit/loglinear__C__full/K_max": 0.8})
    assert wandb_setup._singleton is None and wandb.run is None  # no service left holding records
    runs = wandb_offline(tmp_path / "trk")
    assert runs["demo-study"]["summary"]["fit/loglinear__C__full/K_max"] == 0.8


def test_rlscaling_evaluate_logs_each_checkpoint_against_its_step(monkeypatch, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from test_evaluate import fake_score, run_eval, write_bench

    from helpers import build_tiny_model

    monkeypatch.setattr("rlscaling.evaluate.bench._load_scoring", lambda: (fake_score, lambda s: "fake"))
    track = settings(tmp_path, "tensorboard")
    monkeypatch.setenv(tracking.ENV, track.to_json())
    model = build_tiny_model(tmp_path / "model")
    bench = write_bench(tmp_path / "bench" / "heldout.parquet")
    assert run_eval(model, [bench], tmp_path / "eval" / "xs" / "step_000010") == 0
    written = json.loads((tmp_path / "eval" / "xs" / "step_000010" / "heldout.json").read_text())

    acc = EventAccumulator(str(tmp_path / "trk" / "tensorboard" / "demo-xs")).Reload()
    (point,) = acc.Scalars("eval/heldout/pass@1")
    assert (point.step, point.value) == (10, pytest.approx(written["pass_at_1"]))
    assert acc.Scalars("eval/heldout/pass@4")[0].value == pytest.approx(written["pass_at_k"]["4"])


def test_rlscaling_evaluate_stops_first_when_the_package_is_missing(monkeypatch, tmp_path, capsys):
    from test_evaluate import run_eval

    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setenv(tracking.ENV, settings(tmp_path, "mlflow").to_json())
    out_dir = tmp_path / "eval" / "xs" / "step_000010"
    assert run_eval(tmp_path / "no-model", [tmp_path / "no-bench.parquet"], out_dir) == 2
    assert "mlflow-skinny package is not installed" in capsys.readouterr().err  # not the missing model


def test_rlscaling_train_stops_before_training_when_the_package_is_missing(monkeypatch, tmp_path, capsys):
    from test_train_cli import argv, fake_engine
    from test_train_trl import write_data

    write_data(tmp_path / "train.parquet")
    calls = fake_engine(monkeypatch, "trl")
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.setenv(tracking.ENV, settings(tmp_path, "wandb").to_json())
    assert cli_main(argv(tmp_path, TRAIN | {"verl": {}}, 2)) == 2
    assert calls == [] and "pip install -e '.[tracking]'" in capsys.readouterr().err


# verl's own logger (verl.utils.tracking.Tracking, what main_ppo's trainer logs through), run in the engines
# environment for two "segments" with the environment `rlscaling train` gives verl: both go to one run
VERL_SEGMENT = """
import sys
from verl.utils.tracking import Tracking

first = int(sys.argv[1])
resume = "resume_path" if first else "disable"  # the config differs between segments
config = {"trainer": {"total_training_steps": first + 2, "resume_mode": resume}}
t = Tracking("proj", "xs", default_backend=["console", "file", "wandb", "tensorboard"], config=config)
for step in (first + 1, first + 2):
    t.log({"critic/score/mean": step / 10}, step=step)
t.finish()
"""


@pytest.mark.slow
@pytest.mark.verl
def test_verls_own_logger_continues_one_run_across_segments(tmp_path):
    import subprocess

    import verl_harness

    pytest.importorskip("wandb")
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    python = verl_harness.verl_python()
    if python is None:
        pytest.skip("no verl environment (make engines-venv)")
    script = tmp_path / "segment.py"
    script.write_text(VERL_SEGMENT)
    env = dict(os.environ, VERL_FILE_LOGGER_PATH=str(tmp_path / "verl.jsonl"))
    for backend in ("wandb", "tensorboard"):  # what _with_verl_tracking puts in training.verl.env
        env.update(tracking.environment(settings(tmp_path, backend), "xs"))
    for first in (0, 2):
        done = subprocess.run([str(python), str(script), str(first)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]

    runs = wandb_offline(tmp_path / "trk")
    assert list(runs) == ["demo-xs"] and len(runs["demo-xs"]["segments"]) == 2
    scores = [(h["_step"], h["critic/score/mean"]) for h in runs["demo-xs"]["history"]]
    assert scores == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    acc = EventAccumulator(str(tmp_path / "trk" / "tensorboard" / "demo-xs")).Reload()
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars("critic/score/mean")] == scores
