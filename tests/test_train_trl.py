"""Specification of the `trl` training engine (rlscaling.train.trl.engine): GRPO in resumable segments.

A random tiny Qwen3 (hidden 16, 1 layer; rlscaling.models, through tests/helpers.py) with a
character-level tokenizer and chat template, 5 synthetic prompts, 2 prompts x 4 rollouts per step: with 5
rows a pass over the data takes 2 steps, so segments end both inside a pass and at its end. The reward
(`char_reward`) is a smooth stand-in that a random model can earn, so every step moves the weights.
Segments must equal one run bit for bit (same thread count); timing fields are the only ones allowed to
differ.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pandas as pd
import pytest

from rlscaling.errors import UserError
from rlscaling.training_health import Settings

pytestmark = pytest.mark.slow
trl_engine = pytest.importorskip("rlscaling.train.trl.engine")

PARAMS = dict(
    engine="trl",
    segment_steps=3,
    prompts_per_step=2,
    rollouts_per_prompt=4,
    lr=1e-2,
    warmup_steps=1,
    kl_coef=0.0,
    clip_ratio=0.2,
    entropy_coef=0.0,
    max_prompt_tokens=64,
    max_response_tokens=12,
    temperature=1.0,
    reward="strict",
    reuse_tau=1,
    seed=0,
    size="t",
    run="t",
    verl={},
)
TIMING = ("wall_seconds", "gen_seconds", "update_seconds", "sample_seconds")


def build_tiny_model(out: Path) -> Path:
    """A random Qwen3 causal LM (hidden 16, 1 layer, 256 positions) + char-level tokenizer, HF format."""
    return helpers.build_tiny_model(out, max_position_embeddings=256)


def write_data(path: Path, n: int = 5) -> Path:
    """n prompts in verl's RL schema, in (pretend) curriculum order: row i asks `i+i=`."""
    rows = [
        {
            "data_source": "synthetic",
            "prompt": [{"role": "user", "content": f"{i}+{i}="}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": str(2 * i)},
            "extra_info": {"index": i},
            "ground_truth": str(2 * i),
        }
        for i in range(n)
    ]
    pd.DataFrame(rows).to_parquet(path)
    return path


def char_reward(prompts, completions, ground_truth, **kwargs) -> list[float]:
    """Fraction of the answer's characters (and '=') that occur in the response."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [
        sum(ch in t for ch in gt + "=") / (len(gt) + 1) for t, gt in zip(texts, ground_truth, strict=True)
    ]


def text_reward(prompts, completions, **kwargs) -> list[float]:
    """A number in [0, 1) from the response's characters: distinct responses (almost surely) differ."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [sum((i + 1) * ord(ch) for i, ch in enumerate(t)) % 997 / 997 for t in texts]


def train(params, init, data, step, out, **kw) -> Path:
    return trl_engine.train_segment(
        params, init, data, step, 1, out, reward_func=kw.pop("reward", char_reward), **kw
    )


def records(*step_dirs: Path) -> list[dict]:
    return [json.loads(line) for d in step_dirs for line in (d / "metrics.jsonl").read_text().splitlines()]


def results(recs: list[dict]) -> list[dict]:
    """Records without their timing fields (the training result)."""
    return [{k: v for k, v in r.items() if k not in TIMING} for r in recs]


def weights(step_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(step_dir / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    assert all((wa[k] == wb[k]).all() for k in wa), "weights differ"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trl")
    base = build_tiny_model(root / "base")
    data = write_data(root / "train.parquet")
    one_run = train(dict(PARAMS, segment_steps=6), base, data, 6, root / "one" / "step_000006")
    return base, data, one_run


# --------------------------------------------------------------------------------------------------
# segments equal one run


@pytest.mark.parametrize("seg", [3, 2], ids=["boundary-inside-a-pass", "boundary-at-end-of-pass"])
def test_segments_give_the_same_metrics_and_weights_as_one_run(setup, tmp_path, seg):
    base, data, one_run = setup
    params = dict(PARAMS, segment_steps=seg)
    init, outs = base, []
    for step in range(seg, 7, seg):
        init = train(params, init, data, step, tmp_path / f"step_{step:06d}")
        outs.append(init)
    assert results(records(*outs)) == results(records(one_run))
    assert_same_weights(outs[-1], one_run)


def test_segments_with_kl_and_entropy_terms_equal_one_run(setup, tmp_path):
    """kl_coef > 0 keeps the base model as reference in every segment (not the segment's init)."""
    base, data, _ = setup
    params = dict(PARAMS, segment_steps=2, kl_coef=0.5, entropy_coef=0.01)
    whole = train(dict(params, segment_steps=4), base, data, 4, tmp_path / "one" / "step_000004")
    first = train(params, base, data, 2, tmp_path / "seg" / "step_000002")
    second = train(params, first, data, 4, tmp_path / "seg" / "step_000004")
    recs = records(first, second)
    assert results(recs) == results(records(whole))
    assert recs[-1]["kl"] > 0
    assert_same_weights(second, whole)


# --------------------------------------------------------------------------------------------------
# data order, metrics, outputs


def test_prompts_are_used_in_file_order_each_sampled_rollouts_per_prompt_times(setup, tmp_path):
    base, data, _ = setup
    seen: list[str] = []

    def recording_reward(prompts, completions, ground_truth, **kwargs):
        seen.extend(p[-1]["content"] for p in prompts)
        return char_reward(prompts, completions, ground_truth)

    train(dict(PARAMS, segment_steps=3), base, data, 3, tmp_path / "step_000003", reward=recording_reward)
    rows = [0, 1, 2, 3, 0, 1]  # 5 rows, 2 per step: the incomplete last batch is skipped, then it wraps
    assert seen == [f"{i}+{i}=" for i in rows for _ in range(4)]


def test_metrics_have_one_record_per_step_with_compute_and_cumulative_totals(setup):
    from rlscaling.compute import rl_step_flops
    from rlscaling.train.metrics import FIELDS

    *_, one_run = setup
    recs = records(one_run)
    assert [r["step"] for r in recs] == [1, 2, 3, 4, 5, 6]
    C = D = tokens = 0
    for r in recs:
        assert list(r) == list(FIELDS)
        assert (r["prompts"], r["rollouts"], r["engine"], r["seed"]) == (2, 8, "trl", 0)
        assert r["flops"] == rl_step_flops(r["N"], r["prompt_tokens"], r["response_tokens"])
        assert r["response_length_mean"] == r["response_tokens"] / 8 <= 12
        assert r["kl"] is None  # kl_coef = 0: no reference model
        C, D, tokens = C + r["flops"], D + 2, tokens + r["prompt_tokens"] + r["response_tokens"]
        assert (r["C"], r["D"], r["tokens"]) == (C, D, tokens)
        assert r["wall_seconds"] >= r["gen_seconds"] >= r["sample_seconds"] > 0


def test_output_is_a_loadable_hf_model_and_a_resumable_trainer_checkpoint(setup):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    *_, out = setup
    AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).chat_template
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "metrics.jsonl", "rlscaling_segment.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 6
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp or partial folders left


def test_a_base_model_saved_by_a_trainer_still_starts_at_step_0(setup, tmp_path):
    """Only this engine's outputs (with rlscaling_segment.json) are resumed; a pre-training Trainer's
    trainer_state.json beside a base model does not make it a segment."""
    import shutil

    base, data, one_run = setup
    pretrained = Path(shutil.copytree(base, tmp_path / "base"))
    (pretrained / "trainer_state.json").write_text(json.dumps({"global_step": 500}))
    out = train(PARAMS, pretrained, data, 3, tmp_path / "step_000003")
    assert results(records(out)) == results(records(one_run))[:3]


# --------------------------------------------------------------------------------------------------
# bad input


def test_init_at_the_wrong_step_is_a_user_error(setup, tmp_path):
    base, data, one_run = setup
    with pytest.raises(UserError, match=r"checkpoint is at step 0, but --step 6 .* trains from step 3"):
        train(PARAMS, base, data, 6, tmp_path / "step_000006")
    with pytest.raises(UserError, match="checkpoint is at step 6"):
        train(PARAMS, one_run, data, 6, tmp_path / "step_000006")
    assert not (tmp_path / "step_000006").exists()


def test_too_long_prompt_is_a_user_error_naming_the_key(setup, tmp_path):
    base, data, _ = setup
    with pytest.raises(UserError, match=r"training.max_prompt_tokens: prompt of row 0 has \d+ tokens"):
        train(dict(PARAMS, max_prompt_tokens=10), base, data, 3, tmp_path / "step_000003")


def test_metrics_carry_the_steps_loss_and_grad_norm(setup):
    _, _, one_run = setup
    recs = records(one_run)
    assert all(isinstance(r["loss"], float) and isinstance(r["grad_norm"], float) for r in recs)
    assert all(r["nonfinite"] is None for r in recs)
    # a step whose rollouts all scored 0 has no advantage and so no gradient
    assert all(r["grad_norm"] == 0 for r in recs if r["reward_mean"] == 0)


def zero_reward(prompts, completions, **kwargs) -> list[float]:
    """A run whose every rollout scores 0: no advantage, no gradient."""
    return [0.0] * len(completions)


def test_a_collapsed_run_stops_with_health_stop_and_writes_no_checkpoint(setup, tmp_path, capsys):
    base, data, _ = setup
    out = tmp_path / "step_000003"
    stop = Settings(steps=2, stop=True)
    with pytest.raises(UserError) as err:
        train(dict(PARAMS, run="t__lr-100"), base, data, 3, out, reward=zero_reward, health=stop)
    assert str(err.value).startswith(
        "run t__lr-100: training health check failed at step 2: reward_mean 0 for the last 2 steps (1-2); "
        "grad_norm 0 (at most 1e-08) for the last 2 steps (1-2)"
    )
    assert not out.exists()


def test_a_collapsed_run_trains_on_without_stop_and_says_so(setup, tmp_path, capsys):
    base, data, _ = setup
    out = train(PARAMS, base, data, 3, tmp_path / "step_000003", reward=zero_reward, health=Settings(steps=2))
    assert len(records(out)) == 3
    said = capsys.readouterr().err
    assert "training health: run t, step 3: reward_mean 0 for the last 2 steps (2-3)" in said


def test_data_without_prompts_or_answers_is_a_user_error(setup, tmp_path):
    base, *_ = setup
    pd.DataFrame({"question": ["1+1="]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UserError, match="no `prompt` column"):
        train(PARAMS, base, tmp_path / "bad.parquet", 3, tmp_path / "step_000003")
    pd.DataFrame({"prompt": [[{"role": "user", "content": "1+1="}]] * 4}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UserError, match="no `ground_truth` column"):
        train(PARAMS, base, tmp_path / "bad.parquet", 3, tmp_path / "step_000003")


# --------------------------------------------------------------------------------------------------
# kill and rerun

KILL_SCRIPT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_train_trl import PARAMS, char_reward
from rlscaling.train.trl import engine as trl_engine

def slow_reward(prompts, completions, ground_truth, **kwargs):
    with open({calls!r}, "a") as fh:
        fh.write("call\\n")
    time.sleep(0.5)  # slow steps, so the test can kill the process in the middle of the segment
    return char_reward(prompts, completions, ground_truth)

trl_engine.train_segment(PARAMS, Path({init!r}), Path({data!r}), 3, 1, Path({out!r}),
                         checkpoint_every={every}, reward_func=slow_reward)
"""


@pytest.mark.parametrize("every", [0, 1], ids=["restart", "resume-mid-segment"])
def test_sigkilled_segment_leaves_no_output_and_rerun_equals_uninterrupted_run(setup, tmp_path, every):
    base, data, one_run = setup
    out, calls = tmp_path / "run" / "step_000003", tmp_path / "calls.txt"
    script = tmp_path / "segment.py"
    script.write_text(
        KILL_SCRIPT.format(
            tests=str(Path(__file__).parent),
            calls=str(calls),
            init=str(base),
            data=str(data),
            out=str(out),
            every=every,
        )
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not (calls.is_file() and len(calls.read_text().splitlines()) >= 2):  # step 2 is under way
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "segment never reached step 2"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert not out.exists()
    partial = out.parent / f".{out.name}.partial"
    assert (partial / "checkpoint-1" / "metrics.jsonl").is_file() == bool(every)

    seen: list[str] = []

    def recording_reward(prompts, completions, ground_truth, **kwargs):
        seen.extend(p[-1]["content"] for p in prompts)
        return char_reward(prompts, completions, ground_truth)

    train(PARAMS, base, data, 3, out, checkpoint_every=every, reward=recording_reward)
    assert len(seen) == (2 if every else 3) * 8  # a mid-segment checkpoint saves step 1 from being redone
    assert results(records(out)) == results(records(one_run))[:3]
    assert not partial.exists()


def test_a_partial_folder_from_other_settings_is_discarded(setup, tmp_path):
    base, data, one_run = setup
    out = tmp_path / "step_000003"
    partial = tmp_path / f".{out.name}.partial"
    (partial / "checkpoint-2").mkdir(parents=True)
    (partial / "checkpoint-2" / "metrics.jsonl").write_text('{"step": 2}\n')
    (partial / "fingerprint.json").write_text(json.dumps({"engine": "trl", "step": 3, "sha256": "other"}))
    train(PARAMS, base, data, 3, out)
    assert results(records(out)) == results(records(one_run))[:3]
    assert not partial.exists()


def test_a_run_killed_after_its_final_checkpoint_is_finished_without_training(setup, tmp_path):
    base, data, one_run = setup
    out = tmp_path / "step_000003"
    train(PARAMS, base, data, 3, out, checkpoint_every=1)
    partial = tmp_path / f".{out.name}.partial"
    partial.mkdir()
    fingerprint = trl_engine._fingerprint(PARAMS, base, data, 3)
    (partial / "fingerprint.json").write_text(json.dumps(fingerprint))
    out.rename(partial / "checkpoint-3")  # as if killed between the final save and the rename

    def no_reward(*args, **kwargs):
        raise AssertionError("trained again")

    train(PARAMS, base, data, 3, out, reward=no_reward)
    assert results(records(out)) == results(records(one_run))[:3]


# --------------------------------------------------------------------------------------------------
# recipes (rlscaling.train.recipes)


def grpo_segment(setup, tmp_path, reward=char_reward) -> Path:
    base, data, _ = setup
    return train(PARAMS, base, data, 3, tmp_path / "grpo" / "step_000003", reward=reward)


@pytest.mark.parametrize(
    "recipe",
    [
        {"recipe": "dr_grpo"},
        {"recipe": "gspo"},
        {"recipe_settings": {"mask_truncated": True, "fp32_lm_head": True, "reward_scaling": "batch"}},
    ],
    ids=["dr_grpo", "gspo", "masked-fp32-batch"],
)
def test_a_recipe_that_changes_the_loss_trains_other_weights_than_grpo(setup, tmp_path, recipe):
    base, data, _ = setup
    grpo = grpo_segment(setup, tmp_path)
    out = train(dict(PARAMS, **recipe), base, data, 3, tmp_path / "r" / "step_000003")
    recs, ref = records(out), records(grpo)
    assert [r["step"] for r in recs] == [1, 2, 3]
    # step 1 samples the same rollouts (same weights and seed): compute counts every generated token,
    # masked ones included
    assert recs[0]["response_tokens"] == ref[0]["response_tokens"]
    wa, wb = weights(out), weights(grpo)
    assert any(not (wa[k] == wb[k]).all() for k in wa), "the recipe left the update unchanged"


@pytest.mark.parametrize("recipe", ["cispo", "dapo"])
def test_clip_ranges_are_inert_with_one_update_per_step(setup, tmp_path, recipe):
    """One optimizer update per generation batch is on-policy: every importance ratio is exactly 1, so
    clip-higher (dapo) and cispo's capped weight give grpo's gradient. (dapo's zero-variance filter has
    nothing to drop here: text_reward differs between a group's distinct rollouts.)"""
    base, data, _ = setup
    grpo = grpo_segment(setup, tmp_path, reward=text_reward)
    params = dict(PARAMS, recipe=recipe)
    out = train(params, base, data, 3, tmp_path / "r" / "step_000003", reward=text_reward)
    wa, wb = weights(out), weights(grpo)
    assert all(torch_allclose(wa[k], wb[k]) for k in wa)


def torch_allclose(a, b) -> bool:
    import torch

    return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-7))


def half_constant_reward(prompts, completions, ground_truth, **kwargs) -> list[float]:
    """1 for every rollout of an even answer's prompt (a zero-variance group), else char_reward."""
    scores = char_reward(prompts, completions, ground_truth)
    return [1.0 if int(gt) % 4 == 0 else s for s, gt in zip(scores, ground_truth, strict=True)]


def test_the_zero_variance_filter_changes_the_update_when_some_groups_agree(setup, tmp_path):
    base, data, _ = setup
    grpo = grpo_segment(setup, tmp_path, reward=half_constant_reward)
    dapo = dict(PARAMS, recipe="dapo")
    out = train(dapo, base, data, 3, tmp_path / "z" / "step_000003", reward=half_constant_reward)
    recs, ref = records(out), records(grpo)
    assert recs[0]["response_tokens"] == ref[0]["response_tokens"]
    wa, wb = weights(out), weights(grpo)
    assert any(not torch_allclose(wa[k], wb[k]) for k in wa), "dropping zero-variance groups changed nothing"
