"""The verl adapter (rlscaling/rewards/verl_reward.py), called the way verl calls a custom reward function.

verl is not installed here; the loading and calling code below mirrors verl (snapshot 0.8.0.dev,
commit b178a3c, Jan 2026):
- verl.utils.import_utils.load_module: `spec_from_file_location(f"custom_module_{hash(abspath)}", path)`,
  `exec_module`, then `getattr(module, name)`;
- verl.trainer.ppo.reward.get_custom_reward_fn: `partial(_call_with_kwargs, raw_fn, reward_kwargs)`,
  which merges `custom_reward_function.reward_kwargs` into the call's keyword arguments;
- verl.workers.reward_manager.naive.NaiveRewardManager.__call__: one keyword call per sample in the
  main thread, extra_info gaining `num_turns` and `rollout_reward_scores`, every key of a dict result
  appended to `reward_extra_info[key]`;
- verl.experimental.reward_loop.reward_manager.naive.NaiveRewardManager.run_single: the same call
  through `loop.run_in_executor(None, ...)` (a worker thread), possibly with `reward_router_address`
  and `reward_model_tokenizer` keyword arguments.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections import defaultdict
from functools import partial

import numpy as np
import pytest

import rlscaling.rewards.verl_reward as verl_reward_module
from rlscaling.errors import UserError

KEYS = {"score", "acc", "format_ok", "pred", "reason"}


def load_like_verl(module_path: str, object_name: str = "compute_score"):
    spec_name = f"custom_module_{hash(os.path.abspath(module_path))}"
    spec = importlib.util.spec_from_file_location(spec_name, module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, object_name)


def _call_with_kwargs(raw_fn, extra_kwargs, *args, **kwargs):  # verl.trainer.ppo.reward
    merged_kwargs = {**kwargs, **extra_kwargs}
    return raw_fn(*args, **merged_kwargs)


@pytest.fixture(scope="module")
def compute_score():
    return load_like_verl(verl_reward_module.__file__)


def call_like_naive_manager(fn, data_source, response, ground_truth, extra_info=None):
    extra_info = dict(extra_info or {})
    extra_info["num_turns"] = None
    extra_info["rollout_reward_scores"] = {}
    return fn(
        data_source=data_source, solution_str=response, ground_truth=ground_truth, extra_info=extra_info
    )


def test_loads_by_file_path_outside_the_package(compute_score):
    assert callable(compute_score)
    assert compute_score.__module__.startswith("custom_module_")


def test_returns_the_keys_verl_stacks_with_stable_types(compute_score):
    right = call_like_naive_manager(compute_score, "rlscaling/arith", "so\n#### -12", "-12")
    wrong = call_like_naive_manager(compute_score, "rlscaling/arith", "no answer", "-12")
    assert set(right) == set(wrong) == KEYS
    assert right == {"score": 1.0, "acc": 1.0, "format_ok": 1.0, "pred": "-12", "reason": ""}
    assert wrong == {"score": 0.0, "acc": 0.0, "format_ok": 0.0, "pred": "", "reason": "no_answer"}
    for r in (right, wrong):
        assert type(r["score"]) is float and isinstance(r["pred"], str) and isinstance(r["reason"], str)


def test_method_defaults_by_data_source(compute_score):
    assert call_like_naive_manager(compute_score, "math__math", "\\boxed{\\dfrac12}", "0.5")["acc"] == 1.0
    # custom_flexible for GSM8K: a boxed final answer counts too
    assert call_like_naive_manager(compute_score, "openai/gsm8k", "\\boxed{18}", "18")["acc"] == 1.0


def test_reward_kwargs_choose_method_and_format_weight(compute_score):
    fn = partial(_call_with_kwargs, compute_score, {"method": "strict", "format_weight": 0.1})
    r = call_like_naive_manager(fn, "openai/gsm8k", "#### 17", "18")
    assert (r["score"], r["acc"], r["reason"]) == (pytest.approx(0.1), 0.0, "mismatch")
    assert call_like_naive_manager(fn, "openai/gsm8k", "\\boxed{18}", "18")["score"] == 0.0  # strict


def test_extra_info_reward_method_overrides_the_source_default(compute_score):
    r = call_like_naive_manager(compute_score, "openai/gsm8k", "18", "18", {"reward_method": "strict"})
    assert r["reason"] == "no_answer"


def test_unknown_source_without_method_is_a_user_error(compute_score):
    with pytest.raises(UserError, match="data_source 'codeforces'"):
        call_like_naive_manager(compute_score, "codeforces", "#### 1", "1")


def test_a_batch_through_the_naive_manager_loop_gives_one_value_per_key(compute_score):
    batch = [
        ("openai/gsm8k", "#### 1,450,000", "1450000"),
        ("math__math", "\\boxed{\\frac{14}{3}}", "\\frac{14}{3}"),
        ("aime2024", "\\boxed{25}", "025"),
        ("math__deepscaler_preview", "I give up", "\\\\frac{1}{8}"),
    ]
    reward_extra_info = defaultdict(list)
    rewards = []
    for data_source, response, gt in batch:
        score = call_like_naive_manager(
            compute_score, data_source, response, gt, {"index": 0, "split": "test"}
        )
        rewards.append(score["score"])
        for key, value in score.items():
            reward_extra_info[key].append(value)
    assert rewards == [1.0, 1.0, 1.0, 0.0]
    assert all(len(v) == len(batch) for v in reward_extra_info.values())
    # verl's validation metrics average the numeric keys and skip keys whose first value is a string
    assert np.mean(reward_extra_info["acc"]) == 0.75
    assert isinstance(reward_extra_info["pred"][0], str) and isinstance(reward_extra_info["reason"][0], str)


def test_reward_loop_calls_from_executor_threads(compute_score):
    async def run_single(data_source, response, gt):
        loop = asyncio.get_running_loop()
        extra = {"reward_router_address": "127.0.0.1:1", "reward_model_tokenizer": None}
        return await loop.run_in_executor(
            None,
            lambda: compute_score(
                data_source=data_source,
                solution_str=response,
                ground_truth=gt,
                extra_info={"num_turns": None, "rollout_reward_scores": {}},
                **extra,
            ),
        )

    async def batch():
        return await asyncio.gather(
            run_single("math__math", "\\boxed{\\sqrt{18}}", "3\\sqrt{2}"),
            run_single("math__math", "\\boxed{\\frac{1}{3}}", "\\frac{1}{2}"),
            run_single("rlscaling/arith", "#### 7", "7"),
            run_single("math__math", "\\boxed{(3,\\pi/2)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        )

    results = asyncio.run(batch())
    assert [r["acc"] for r in results] == [1.0, 0.0, 1.0, 1.0]


def test_the_batch_function_scores_like_the_per_sample_one_when_called_like_the_batch_manager():
    batch = load_like_verl(verl_reward_module.__file__, "compute_score_batch")
    responses = ["#### 18", "so \\boxed{\\frac{1}{2}}", "#### 5"]
    out = batch(
        data_sources=np.array(["openai/gsm8k", "math__math", "openai/gsm8k"], dtype=object),
        solution_strs=responses,
        ground_truths=["18", "0.5", "6"],
        extra_infos=np.array([{"index": i, "rollout_reward_scores": {}} for i in range(3)], dtype=object),
    )
    assert [r["score"] for r in out] == [1.0, 1.0, 0.0]
    assert out[2] == call_like_naive_manager(
        load_like_verl(verl_reward_module.__file__), "openai/gsm8k", "#### 5", "6"
    )


def test_the_batch_function_keeps_a_pathological_batch_within_its_budget():
    import time

    batch = load_like_verl(verl_reward_module.__file__, "compute_score_batch")
    t0 = time.perf_counter()
    out = batch(
        data_sources=["math__math"] * 16,
        solution_strs=[f"\\boxed{{(10^{{{100 + i}}})!}}" for i in range(16)],
        ground_truths=["42"] * 16,
        extra_infos=[{}] * 16,
        batch_timeout_s=1.0,
    )
    # budget 1 s + one check (1 s + 0.5 s grace) + a worker start (~1.5 s, not counted in the bound)
    assert time.perf_counter() - t0 < 1.0 + 1.5 + 1.5 + 1.0
    assert {r["reason"] for r in out} == {"timeout"}
