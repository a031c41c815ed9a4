"""Every override set the verl engine generates composes against verl 0.9.1's own hydra config
(verl/trainer/config/ppo_trainer.yaml) in verl's environment: every key exists, every mandatory value
is set, every value has verl's type, verl's validate_config passes and the dataclass configs its
workers build (model, actor, reference, rollout, algorithm) construct. One verl process checks all sets.

Runs where a verl environment exists (scripts/install_engines_venv.sh, or RLSCALING_ENGINES_PYTHON)."""

from __future__ import annotations

import pytest

import rlscaling.config as rc
import verl_harness as check
from rlscaling.train import recipes
from rlscaling.train.verl import overrides as O
from rlscaling.train.verl import settings

from test_verl_overrides import default_verl_params, preset_config

pytestmark = [
    pytest.mark.verl,
    pytest.mark.skipif(
        check.verl_python() is None, reason="no verl environment (scripts/install_engines_venv.sh)"
    ),
]


def sets_for(cfg: dict, model: str, label: str) -> dict[str, list[str]]:
    """The first segment of one run per size (the sweep's first value), and the second segment of the
    largest size, of a study config."""
    out = {}
    runs = {}
    for run in rc.runs(cfg):
        runs.setdefault(run.size, run)
    largest = list(runs)[-1]
    for size, run in runs.items():
        p = settings.train_params(cfg, run)
        seg = int(p["segment_steps"])
        starts = ((0, None), (seg, f"/abs/ck/global_step_{seg}")) if size == largest else ((0, None),)
        for first, resume in starts:
            s = O.Segment(
                params=p,
                model_path=model,
                train_files=["/data/train.parquet"],
                val_files=["/data/heldout.parquet"],
                ckpt_dir="/abs/ck",
                first=first,
                last=first + seg,
                resume_from=resume,
                reward_path="/site/rlscaling/rewards/verl_reward.py",
                experiment=run.name,
                log_path=f"/abs/logs/segment_{first + seg:06d}.job.jsonl",
            )
            out[f"{label}/{size}/from{first}"] = O.build(s)
    return out


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    work = tmp_path_factory.mktemp("verl_compose")
    model = str(work / "tiny-qwen2")
    sets: dict[str, list[str]] = {}

    def seg(params, first=0, resume=None):
        return O.build(
            O.Segment(
                params=params,
                model_path=model,
                train_files=["/d/train.parquet"],
                val_files=["/d/heldout.parquet"],
                ckpt_dir="/abs/ck",
                first=first,
                last=first + int(params["segment_steps"]),
                resume_from=resume,
                reward_path="/site/verl_reward.py",
                log_path="/abs/logs/segment.jsonl",
            )
        )

    sets["default"] = seg(default_verl_params())
    p = default_verl_params(kl_coef=0.001, entropy_coef=0.001)
    p["verl"].update(
        use_dynamic_bsz=False,
        test_freq=2,
        validation={"n": 4, "temperature": 0.7, "top_p": 0.9},
        hf_export="merger",
        rollout_engine="sglang",
        tensor_parallel_size=2,
    )
    sets["default/kl-fixed-batches-sampled-validation"] = seg(p, first=10, resume="/abs/ck/global_step_10")
    # every recipe (rlscaling.train.recipes), and truncated importance sampling
    for name in recipes.RECIPES:
        sets[f"recipe/{name}"] = seg(default_verl_params(recipe=name))
    sets["recipe/grpo-tis"] = seg(default_verl_params(recipe_settings={"tis_cap": 2.0}))
    mp = tmp_path_factory.mktemp("paper")
    with pytest.MonkeyPatch.context() as mpatch:
        sets.update(sets_for(preset_config("tan2025-qwen25-guru", mp, mpatch), model, "paper"))
        q3 = tmp_path_factory.mktemp("qwen3")
        sets.update(sets_for(preset_config("qwen3-gsm8k", q3, mpatch), model, "qwen3"))
    # controls: the checker must catch what verl would reject
    good = sets["default"]
    sets["control/unknown-key"] = [*good, "trainer.no_such_key=1"]
    sets["control/wrong-type"] = [*good, "data.train_batch_size=many"]
    sets["control/rollout-name-unset"] = [
        o for o in good if not o.startswith("actor_rollout_ref.rollout.name=")
    ]
    answer = check.run("compose", {"make_model": model, "sets": sets}, work)
    return sets, answer


def generated(composed):
    sets, answer = composed
    return {k: answer[k] for k in sets if not k.startswith("control/")}


def test_every_generated_set_is_checked(composed):
    names = set(generated(composed))
    assert "default" in names
    assert {n.split("/")[1] for n in names if n.startswith("paper/")} == {
        "0.5B",
        "1.5B",
        "3B",
        "7B",
        "14B",
        "32B",
        "72B",
    }
    assert {n.split("/")[1] for n in names if n.startswith("qwen3/")} == {"0.6B", "1.7B", "4B", "8B", "14B"}


def test_every_generated_key_exists_in_verls_config(composed):
    for name, ans in generated(composed).items():
        assert not [e for e in ans["errors"] if e.startswith("compose")], (name, ans["errors"])


def test_only_the_reward_kwargs_and_the_workers_environment_are_added_to_verls_config(composed):
    for name, ans in generated(composed).items():
        assert ans["added"] == [
            "reward.custom_reward_function.reward_kwargs.method",
            "ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH",
            "ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES",
        ], name


def test_no_mandatory_value_is_left_unset(composed):
    for name, ans in generated(composed).items():
        assert ans["missing"] == [], (name, ans["missing"])


def test_every_value_has_verls_type(composed):
    for name, ans in generated(composed).items():
        assert ans["type_errors"] == [], (name, ans["type_errors"])


def test_verls_validation_and_dataclass_configs_accept_every_set(composed):
    for name, ans in generated(composed).items():
        assert ans["errors"] == [], (name, ans["errors"])


def test_grpo_runs_use_no_critic_and_a_reference_only_with_kl(composed):
    ans = generated(composed)
    assert ans["default"]["use_critic"] is False and ans["default"]["use_reference_policy"] is False
    assert ans["default/kl-fixed-batches-sampled-validation"]["use_reference_policy"] is True
    assert ans["paper/72B/from0"]["use_reference_policy"] is True


def test_composed_values_are_what_we_asked_for(composed):
    ans = generated(composed)["paper/72B/from5"]["values"]
    assert ans["trainer.nnodes"] == 4 and ans["trainer.n_gpus_per_node"] == 8
    assert ans["trainer.logger"] == ["console", "file"]
    assert ans["trainer.use_v1"] is True
    assert ans["trainer.resume_from_path"] == "/abs/ck/global_step_5"
    assert ans["ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH"].startswith("/abs/logs/")
    assert ans["reward.custom_reward_function.reward_kwargs.method"] == "boxed"


def test_each_recipes_knobs_reach_verls_composed_config(composed):
    ans = generated(composed)
    a = "actor_rollout_ref.actor"
    assert ans["recipe/gspo"]["values"][f"{a}.policy_loss.loss_mode"] == "gspo"
    assert ans["recipe/cispo"]["values"][f"{a}.policy_loss.loss_mode"] == "cispo"
    assert ans["recipe/dr_grpo"]["values"]["algorithm.norm_adv_by_std_in_grpo"] is False
    assert ans["recipe/dr_grpo"]["values"][f"{a}.loss_scale_factor"] == 48
    assert ans["recipe/dapo"]["values"]["algorithm.filter_groups.enable"] is True
    assert ans["recipe/grpo-tis"]["values"]["algorithm.rollout_correction.rollout_is"] == "token"


def test_the_checker_catches_an_unknown_key(composed):
    assert any("no_such_key" in e for e in composed[1]["control/unknown-key"]["errors"])


def test_the_checker_catches_a_wrong_type(composed):
    ans = composed[1]["control/wrong-type"]
    assert ans["errors"] or ans["type_errors"]


def test_the_checker_catches_an_unset_mandatory_value(composed):
    assert "actor_rollout_ref.rollout.name" in composed[1]["control/rollout-name-unset"]["missing"]
