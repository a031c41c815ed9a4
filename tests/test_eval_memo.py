"""Specification of the evaluation memo (rlscaling.evaluate.memo): a trl segment evaluates the checkpoint it
has just written, and `rlscaling evaluate` copies that result only when it was asked exactly the same
evaluation; anything else evaluates as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_evaluate import EVAL_PARAMS, fake_score, run_eval, write_bench

from rlscaling.checkpoint import write_manifest
from rlscaling.errors import UserError
from rlscaling.evaluate import memo

PARAMS = {"engine": "hf", "n_samples": 4, "pass_k": [1, 2], "seed": 0}


def fake_checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    write_manifest(folder)
    return folder


def store(model: Path, bench: Path, params=PARAMS, step=25, threads=1) -> None:
    where = memo.memo_dir(model)
    where.mkdir(parents=True)
    (where / "heldout.json").write_text(json.dumps({"bench": "heldout", "pass_at_1": 0.5}))
    (where / "heldout.samples.parquet").write_bytes(b"parquet")
    (where / memo.KEY).write_text(json.dumps(memo.key(model, [bench], params, step, threads)))


@pytest.fixture
def stored(tmp_path):
    model = fake_checkpoint(tmp_path / "runs" / "xs" / "step_000025")
    bench = write_bench(tmp_path / "heldout.parquet")
    store(model, bench)
    return model, bench


def test_the_memo_lives_beside_the_checkpoint_not_inside_it(tmp_path):
    where = memo.memo_dir(tmp_path / "runs" / "xs" / "step_000025")
    assert where == tmp_path / "runs" / "xs" / ".eval_memo" / "step_000025"


def test_the_same_evaluation_finds_the_memo(stored):
    model, bench = stored
    files = memo.lookup(model, [bench], dict(PARAMS), 25, 1)
    assert files is not None and set(files) == {"heldout"}


def test_key_order_of_the_params_does_not_matter(stored):
    model, bench = stored
    assert memo.lookup(model, [bench], dict(reversed(list(PARAMS.items()))), 25, 1) is not None


@pytest.mark.parametrize(
    "change",
    [
        {"params": dict(PARAMS, n_samples=8)},
        {"step": 50},
        {"threads": 2},
    ],
    ids=["other-settings", "other-step", "other-thread-count"],
)
def test_any_other_evaluation_misses(stored, change):
    model, bench = stored
    args = {"params": PARAMS, "step": 25, "threads": 1} | change
    assert memo.lookup(model, [bench], args["params"], args["step"], args["threads"]) is None


def test_a_changed_benchmark_file_misses(stored):
    model, bench = stored
    write_bench(bench, n=3)
    assert memo.lookup(model, [bench], PARAMS, 25, 1) is None


def test_a_redone_checkpoint_misses(stored):
    model, bench = stored
    (model / "model.safetensors").write_bytes(b"other weights")
    write_manifest(model)
    assert memo.lookup(model, [bench], PARAMS, 25, 1) is None


def test_a_missing_file_or_a_damaged_key_misses(stored):
    model, bench = stored
    (memo.memo_dir(model) / memo.KEY).write_text("{not json")
    assert memo.lookup(model, [bench], PARAMS, 25, 1) is None


def test_a_checkpoint_without_manifest_has_no_memo(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    assert memo.key(folder, [], PARAMS, 0, 1) is None


def test_the_switch_turns_memos_off(stored, monkeypatch):
    model, bench = stored
    monkeypatch.setenv(memo.SWITCH_ENV, "off")
    assert memo.lookup(model, [bench], PARAMS, 25, 1) is None


def test_a_malformed_plan_is_a_user_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(memo.PLAN_ENV, '{"bench": "x"}')
    with pytest.raises(UserError, match=memo.PLAN_ENV):
        memo.plan_from_environment()


def test_no_plan_no_evaluation(tmp_path, monkeypatch):
    monkeypatch.delenv(memo.PLAN_ENV, raising=False)
    assert memo.evaluate_after_training(tmp_path / "step_000025", 25, 1) is None


@pytest.mark.slow
def test_a_memo_hit_writes_what_a_fresh_evaluation_writes(tmp_path, monkeypatch):
    """The real thing end to end: the in-process evaluation of a checkpoint, then `rlscaling evaluate`
    with the memo and without it. Same samples bit for bit, same summary but for its timing fields."""
    from helpers import build_tiny_model

    monkeypatch.setattr("rlscaling.evaluate.bench._load_scoring", lambda: (fake_score, lambda s: "fake"))
    model = build_tiny_model(tmp_path / "runs" / "xs" / "step_000025")
    write_manifest(model)
    bench = write_bench(tmp_path / "heldout.parquet")
    params = EVAL_PARAMS
    monkeypatch.setenv(memo.PLAN_ENV, json.dumps({"params": params, "bench": [str(bench)]}))
    assert memo.evaluate_after_training(model, 25, 1) == memo.memo_dir(model)

    assert run_eval(model, [bench], tmp_path / "with" / "step_000025", ("--step", "25")) == 0
    monkeypatch.setenv(memo.SWITCH_ENV, "off")
    assert run_eval(model, [bench], tmp_path / "without" / "step_000025", ("--step", "25")) == 0
    a, b = tmp_path / "with" / "step_000025", tmp_path / "without" / "step_000025"
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "heldout.samples.parquet"), pd.read_parquet(b / "heldout.samples.parquet")
    )
    timing = ("seconds", "generation_seconds", "samples_per_second", "tokens_per_second")
    sa, sb = (json.loads((d / "heldout.json").read_text()) for d in (a, b))
    assert {k: v for k, v in sa.items() if k not in timing} == {
        k: v for k, v in sb.items() if k not in timing
    }
