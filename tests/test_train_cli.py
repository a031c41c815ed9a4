"""Specification of `rlscaling train` (rlscaling.train.cli): params checked against the config schema,
explicit dispatch to the engine named by training.engine, one-line errors."""

from __future__ import annotations

import json
import sys
import types

import pytest

from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError
from rlscaling.train import cli

PARAMS = {"engine": "trl", "segment_steps": 2, "seed": 0, "size": "xs", "run": "xs"}


def argv(tmp_path, params=PARAMS, step=2, *extra):
    return [
        "train",
        "--params-json",
        json.dumps(params),
        "--init",
        str(tmp_path / "base"),
        "--data",
        str(tmp_path / "train.parquet"),
        "--step",
        str(step),
        "--out",
        str(tmp_path / "runs" / "xs" / f"step_{step:06d}"),
        *extra,
    ]


def test_params_get_the_config_schemas_defaults():
    params = cli.parse_params(json.dumps(PARAMS))
    assert params["prompts_per_step"] == 16 and params["rollouts_per_prompt"] == 8
    assert params["kl_coef"] == 0.0 and params["reward"] == "strict"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (PARAMS | {"lr": -1}, r"training.lr: -1 is less than or equal to the minimum of 0"),
        (PARAMS | {"rewrad": "strict"}, r"training: Additional properties are not allowed \('rewrad'"),
        (PARAMS | {"engine": "jax"}, r"training.engine: 'jax' is not one of"),
        (PARAMS | {"total_steps": 40}, r"total_steps must not be passed"),
        ({"engine": "trl", "seed": 0}, r"training: 'segment_steps' is a required property"),
    ],
)
def test_bad_params_are_a_user_error_naming_the_key(params, message):
    with pytest.raises(UserError, match=message):
        cli.parse_params(json.dumps(params))


def test_params_can_come_from_a_json_file(tmp_path):
    (tmp_path / "params.json").write_text(json.dumps(PARAMS))
    assert cli.parse_params(str(tmp_path / "params.json"))["segment_steps"] == 2


def test_params_that_are_not_json_are_a_user_error():
    with pytest.raises(UserError, match="--params-json: not valid JSON"):
        cli.parse_params("{engine: trl}")


def fake_engine(monkeypatch, engine):
    """Replace rlscaling.train.{engine}.engine with a recorder of its train_segment calls."""
    import importlib

    calls = []
    package = importlib.import_module(f"rlscaling.train.{engine}")
    module = types.ModuleType(f"rlscaling.train.{engine}.engine")
    module.train_segment = lambda params, **kw: calls.append((params, kw))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(package, "engine", module, raising=False)
    return calls


@pytest.mark.parametrize("engine", ["trl", "verl"])
def test_the_run_is_handed_to_the_engine_it_names(monkeypatch, tmp_path, engine):
    from test_train_trl import write_data

    write_data(tmp_path / "train.parquet")  # the pre-flight check reads it before the engine starts
    calls = fake_engine(monkeypatch, engine)
    assert cli_main(argv(tmp_path, PARAMS | {"engine": engine}, 4, "--threads", "2")) == 0
    ((params, kw),) = calls
    assert params["engine"] == engine and params["lr"] == 0.0001
    assert (kw["step"], kw["threads"], kw["out"].name) == (4, 2, "step_000004")


def test_a_cli_error_is_one_line_and_exit_status_2(tmp_path, capsys):
    assert cli_main(argv(tmp_path, PARAMS | {"clip_ratio": 0})) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("rlscaling train: error: --params-json: training.clip_ratio") and err.count("\n") == 1
    )


@pytest.mark.slow
def test_cli_trains_a_segment_with_the_project_reward(tmp_path):
    """End to end with rlscaling.rewards.trl_reward: the output is an HF model with per-step metrics."""
    pytest.importorskip("rlscaling.rewards")
    from test_train_trl import build_tiny_model, write_data
    from transformers import AutoModelForCausalLM

    build_tiny_model(tmp_path / "base")
    write_data(tmp_path / "train.parquet", n=4)
    params = PARAMS | {
        "prompts_per_step": 2,
        "rollouts_per_prompt": 2,
        "max_response_tokens": 8,
        "reward": "flexible",
    }
    assert cli_main(argv(tmp_path, params)) == 0
    out = tmp_path / "runs" / "xs" / "step_000002"
    AutoModelForCausalLM.from_pretrained(out)
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2] and all(0 <= r["reward_mean"] <= 1 for r in recs)


def test_a_job_that_crashes_in_native_code_leaves_its_python_stack_in_the_log():
    """`python -m rlscaling` (every workflow job) enables faulthandler: a segfault writes the Python
    stack to stderr, which the rule sends to the job's log, instead of a bare exit status 139."""
    import subprocess

    crash = (
        "import faulthandler, runpy, rlscaling.cli as cli\n"
        "cli.main = lambda argv=None: faulthandler._sigsegv()\n"
        "runpy.run_module('rlscaling', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "Segmentation fault" in proc.stderr and "File " in proc.stderr, proc.stderr[-2000:]
