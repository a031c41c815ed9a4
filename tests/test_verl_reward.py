"""Our reward function called the way verl 0.9.1's v1 trainer calls it: a RewardLoopWorker built from
the composed config (reward.custom_reward_function path / name / reward_kwargs), scoring a DataProto of
decoded responses with the naive reward manager. One verl process scores every case."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import need_file

import verl_harness as check
from rlscaling.train.verl import overrides as O
from rlscaling.train.verl.engine import reward_path

from test_verl_overrides import default_verl_params

pytestmark = [
    pytest.mark.verl,
    pytest.mark.skipif(
        check.verl_python() is None, reason="no verl environment (scripts/install_engines_venv.sh)"
    ),
]

GSM = [
    {
        "data_source": "openai/gsm8k",
        "response": "3 + 4 = 7 so the answer is\n#### 7",
        "ground_truth": "7",
        "extra_info": {"index": 3, "split": "train"},
    },
    {"data_source": "openai/gsm8k", "response": "#### 8", "ground_truth": "7", "extra_info": {}},
    {"data_source": "openai/gsm8k", "response": "The answer is 7.", "ground_truth": "7", "extra_info": {}},
]


def overrides(model: str, reward: str) -> list[str]:
    return O.build(
        O.Segment(
            params=default_verl_params(reward=reward),
            model_path=model,
            train_files=["/d/t.parquet"],
            val_files=["/d/h.parquet"],
            ckpt_dir="/abs/ck",
            first=0,
            last=10,
            resume_from=None,
            reward_path=reward_path(),
        )
    )


@pytest.fixture(scope="module")
def scored(tmp_path_factory, shared_data):
    work = tmp_path_factory.mktemp("verl_reward")
    model = str(work / "tiny-qwen2")
    guru = pd.read_parquet(need_file(shared_data, "guru/heldout_test_500.parquet")).head(2)
    guru_samples = []
    for _, row in guru.iterrows():
        gt = str(row["reward_model"]["ground_truth"])
        guru_samples.append(
            {
                "data_source": row["data_source"],
                "response": f"Thus \\boxed{{{gt}}}",
                "ground_truth": gt,
                "extra_info": {"index": int(row["extra_info"]["index"])},
            }
        )
        guru_samples.append(
            {
                "data_source": row["data_source"],
                "response": "Thus \\boxed{-12345}",
                "ground_truth": gt,
                "extra_info": {},
            }
        )
    strict = overrides(model, "strict")
    legacy = [
        o.replace("reward.custom_reward_function.", "custom_reward_function.", 1)
        for o in strict
        if o.startswith("reward.custom_reward_function.")
    ]
    cases = {
        "strict": {"overrides": strict, "samples": GSM},
        "flexible": {"overrides": overrides(model, "flexible"), "samples": GSM},
        "boxed-guru": {"overrides": overrides(model, "boxed"), "samples": guru_samples},
        "legacy-key-only": {
            "overrides": [o for o in strict if not o.startswith(("reward.custom", "+reward.custom"))]
            + legacy,
            "samples": GSM[:1],
        },
    }
    return check.run("reward", {"make_model": model, "cases": cases}, work)


def test_verl_decodes_the_responses_we_sent(scored):
    assert [r["decoded"] for r in scored["strict"]] == [s["response"] for s in GSM]


def test_verl_loads_our_function_through_the_reward_section(scored):
    for r in scored["strict"]:
        assert set(r["reward_extra_info"]) == {"score", "acc", "format_ok", "pred", "reason"}
        assert r["manager"] == "NaiveRewardManager"


def test_strict_rewards_only_a_correct_marked_answer(scored):
    assert [r["reward_score"] for r in scored["strict"]] == [1.0, 0.0, 0.0]
    assert scored["strict"][1]["reward_extra_info"]["pred"] == "8"


def test_reward_kwargs_select_the_method(scored):
    assert [r["reward_score"] for r in scored["flexible"]] == [1.0, 0.0, 1.0]


def test_boxed_answers_of_real_guru_problems_are_checked_by_equivalence(scored):
    scores = [r["reward_score"] for r in scored["boxed-guru"]]
    assert scores == [1.0, 0.0, 1.0, 0.0]


def test_extra_info_fields_are_stacked_with_one_type_per_key(scored):
    infos = [r["reward_extra_info"] for case in ("strict", "flexible", "boxed-guru") for r in scored[case]]
    for key in ("score", "acc", "format_ok"):
        assert all(isinstance(i[key], float) for i in infos)
    for key in ("pred", "reason"):
        assert all(isinstance(i[key], str) for i in infos)


def test_the_legacy_top_level_key_is_ignored_by_verl_0_9_1(scored):
    # verl falls back to its own default scorer: none of our keys come back
    assert "format_ok" not in scored["legacy-key-only"][0]["reward_extra_info"]
