"""verl's file-logger JSONL -> our metrics.jsonl. The JSONL is written by verl's own FileLogger
(Tracking with the `file` backend) from metrics computed by verl's own functions on known batches, so
the key names and values are the ones verl 0.9.1 logs; the parsing runs here, without verl."""

from __future__ import annotations

import json

import pytest

from rlscaling.errors import UserError
from rlscaling.train import metrics as M
import verl_harness as check
from rlscaling.train.verl import metrics as VM

PARAMS = {
    "prompts_per_step": 2,
    "rollouts_per_prompt": 2,
    "seed": 3,
    "kl_coef": 0.001,
    "verl": {"ppo_epochs": 1},
}
N = 1_000_000


def step_spec(step: int, val: bool = False) -> dict:
    spec = {
        "step": step,
        "prompt_lengths": [10, 12, 10, 12],  # 4 rollouts = 2 prompts x 2
        "response_lengths": [5, 8, 3, 16],
        "scores": [1, 0, 0, 1],
        "max_prompt": 12,
        "max_response": 16,
        "n_gpus": 2,
        "timing": {"step": 4.0, "gen": 1.5, "update_actor": 2.0},
        "actor": {"actor/entropy": 0.5, "actor/kl_loss": 0.01, "actor/pg_clipfrac": 0.02},
    }
    if val:
        spec["val"] = {"data_sources": ["math", "math", "math", "math", "gsm"], "acc": [1, 0, 1, 1, 0]}
    return spec


@pytest.fixture(scope="module")
def verl_log(tmp_path_factory):
    if check.verl_python() is None:
        pytest.skip("no verl environment (scripts/install_engines_venv.sh)")
    work = tmp_path_factory.mktemp("verl_filelog")
    path = work / "segment.jsonl"
    steps = [{"step": 0, "data": {"val-core/math/acc/mean@1": 0.25}}, step_spec(1), step_spec(2, val=True)]
    check.run("filelog", {"path": str(path), "steps": steps}, work)
    return path


@pytest.mark.verl
def test_verl_writes_one_line_per_logged_step(verl_log):
    lines = [json.loads(x) for x in verl_log.read_text().splitlines()]
    assert [x["step"] for x in lines] == [0, 1, 2]
    assert all(set(x) == {"step", "data"} for x in lines)


@pytest.mark.verl
def test_token_counts_come_from_verls_lengths(verl_log):
    rec = VM.to_records(VM.read_jsonl([verl_log]), PARAMS, first=0, last=2, n_params=N, n_nonembed=N // 2)[0]
    assert rec["rollouts"] == 4 and rec["prompts"] == 2
    assert rec["prompt_tokens"] == 10 + 12 + 10 + 12
    assert rec["response_tokens"] == 5 + 8 + 3 + 16
    assert rec["response_length_mean"] == pytest.approx(8.0)


@pytest.mark.verl
def test_compute_and_data_accumulate_over_steps(verl_log):
    recs = VM.to_records(VM.read_jsonl([verl_log]), PARAMS, first=0, last=2, n_params=N, n_nonembed=N // 2)
    tokens = 44 + 32
    assert recs[0]["flops"] == pytest.approx(6 * N * tokens)
    assert recs[1]["C"] == pytest.approx(2 * 6 * N * tokens)
    assert [r["D"] for r in recs] == [2, 4]
    assert recs[1]["tokens"] == 2 * tokens


@pytest.mark.verl
def test_rewards_entropy_kl_clip_and_times(verl_log):
    rec = VM.to_records(VM.read_jsonl([verl_log]), PARAMS, first=0, last=2, n_params=N, n_nonembed=N)[0]
    assert rec["reward_mean"] == pytest.approx(0.5)
    assert rec["reward_std"] is None  # verl logs no spread
    assert (rec["entropy"], rec["kl"], rec["clip_ratio"]) == pytest.approx((0.5, 0.01, 0.02))
    assert (rec["wall_seconds"], rec["gen_seconds"], rec["update_seconds"]) == pytest.approx((4.0, 1.5, 2.5))
    assert rec["engine"] == "verl" and rec["seed"] == 3


@pytest.mark.verl
def test_throughput_is_verls_tokens_per_second_per_gpu(verl_log):
    rec = VM.to_records(VM.read_jsonl([verl_log]), PARAMS, first=0, last=2, n_params=N, n_nonembed=N)[0]
    assert rec["throughput_per_gpu"] == pytest.approx(76 / (4.0 * 2))


@pytest.mark.verl
def test_in_training_validation_scores_per_data_source(verl_log):
    recs = VM.to_records(VM.read_jsonl([verl_log]), PARAMS, first=0, last=2, n_params=N, n_nonembed=N)
    assert recs[0]["val_scores"] is None
    assert recs[1]["val_scores"] == {"gsm": pytest.approx(0.0), "math": pytest.approx(0.75)}


@pytest.mark.verl
def test_validation_before_training_is_kept_apart(verl_log):
    assert VM.initial_validation(VM.read_jsonl([verl_log]), 0) == {"math": 0.25}


@pytest.mark.verl
def test_records_have_every_common_metrics_field(verl_log):
    rec = VM.to_records(VM.read_jsonl([verl_log]), PARAMS, first=0, last=2, n_params=N, n_nonembed=N)[0]
    assert set(M.FIELDS) <= set(rec)


def test_a_later_segment_continues_the_cumulative_totals(tmp_path):
    line = {
        "step": 6,
        "data": {
            "critic/score/mean": 1.0,
            "response_length/mean": 5.0,
            "prompt_length/mean": 10.0,
            "timing_s/step": 1.0,
        },
    }
    path = tmp_path / "seg.jsonl"
    path.write_text(json.dumps(line) + "\n")
    prev = {"step": 5, "C": 100.0, "C_full": 200.0, "D": 10, "tokens": 50}
    rec = VM.to_records(
        VM.read_jsonl([path]), PARAMS, first=5, last=6, n_params=1, n_nonembed=1, previous=prev
    )[0]
    assert rec["D"] == 12 and rec["tokens"] == 50 + 4 * 15 and rec["C"] == pytest.approx(100 + 6 * 60)


def test_a_retried_job_overrides_earlier_attempts_step_by_step(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    base = {"response_length/mean": 1.0, "prompt_length/mean": 1.0, "timing_s/step": 1.0}
    first.write_text(
        "".join(json.dumps({"step": s, "data": {**base, "critic/score/mean": 0.0}}) + "\n" for s in (1, 2))
    )
    second.write_text(json.dumps({"step": 2, "data": {**base, "critic/score/mean": 1.0}}) + "\n")
    recs = VM.to_records(VM.read_jsonl([first, second]), PARAMS, first=0, last=2, n_params=1, n_nonembed=1)
    assert [r["reward_mean"] for r in recs] == [0.0, 1.0]


def test_a_truncated_last_line_of_a_killed_job_is_skipped(tmp_path):
    path = tmp_path / "killed.jsonl"
    path.write_text(json.dumps({"step": 1, "data": {"x": 1}}) + "\n" + '{"step": 2, "da')
    assert list(VM.read_jsonl([path])) == [1]


def test_a_missing_step_is_a_user_error(tmp_path):
    path = tmp_path / "short.jsonl"
    path.write_text(json.dumps({"step": 1, "data": {"critic/score/mean": 1.0}}) + "\n")
    with pytest.raises(UserError, match=r"step\(s\) \[2\]"):
        VM.to_records(VM.read_jsonl([path]), PARAMS, first=0, last=2, n_params=1, n_nonembed=1)


def test_older_verl_validation_names_are_understood():
    assert VM.val_scores({"val-core/a/reward/mean@1": 0.5, "val/test_score/b": 0.25}) == {"a": 0.5, "b": 0.25}
    assert VM.val_scores({"val-core/a/reward/mean@1": 0.5, "val-core/a/acc/mean@1": 0.75}) == {"a": 0.75}


def test_grad_norm_and_loss_come_from_the_actor_and_a_nan_is_named(tmp_path):
    """verl's FileLogger writes a NaN as `NaN`: the record holds null there and names it."""
    base = {"critic/score/mean": 0.5, "response_length/mean": 5.0, "prompt_length/mean": 10.0}
    path = tmp_path / "seg.jsonl"
    steps = [
        {**base, "timing_s/step": 1.0, "actor/grad_norm": 0.7, "actor/pg_loss": -0.1},
        {**base, "timing_s/step": 1.0, "actor/grad_norm": float("nan")},
    ]
    path.write_text("".join(json.dumps({"step": i, "data": d}) + "\n" for i, d in enumerate(steps, start=1)))
    recs = VM.to_records(VM.read_jsonl([path]), PARAMS, first=0, last=2, n_params=1, n_nonembed=1)
    assert [(r["grad_norm"], r["loss"], r["nonfinite"]) for r in recs] == [
        (0.7, -0.1, None),
        (None, None, {"grad_norm": "nan"}),
    ]
