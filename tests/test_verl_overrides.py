"""The verl engine's settings and hydra overrides, as pure functions of the config (no verl needed):
what each training setting becomes in `python -m verl.trainer.main_ppo`, per size, per segment.
Composition against verl's real config is in test_verl_compose.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

import rlscaling.config as rc
from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT
from rlscaling.train.verl import overrides as O
from rlscaling.train.verl import settings
from rlscaling.resources import ClusterShape

PRESETS = PROJECT_ROOT / "workflow" / "presets"


def preset_config(name: str, workdir: Path, monkeypatch, *overlays: str) -> dict:
    """A preset validated in `workdir`, with placeholder files where it expects local data."""
    cfg = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    for overlay in overlays:
        cfg = rc.deep_merge(cfg, yaml.safe_load((PRESETS / f"{overlay}.yaml").read_text()))
    for rel in [
        *cfg["data"]["parquet"]["train_files"],
        *cfg["data"]["parquet"]["heldout_files"],
        *(b["path"] for b in cfg["benchmarks"].values() if "path" in b),
    ]:
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).touch()
    monkeypatch.chdir(workdir)
    return rc.validate(cfg)


def segment(
    params: dict, first: int = 0, last: int | None = None, resume: str | None = None, **kw
) -> O.Segment:
    last = first + int(params["segment_steps"]) if last is None else last
    base = dict(
        params=params,
        model_path="/models/base",
        train_files=["/data/train.parquet"],
        val_files=["/data/heldout.parquet"],
        ckpt_dir="/abs/runs/r/.verl/f/checkpoints",
        first=first,
        last=last,
        resume_from=resume,
        reward_path="/site/rlscaling/rewards/verl_reward.py",
        experiment="r",
    )
    base.update(kw)
    return O.Segment(**base)


def default_verl_params(**training) -> dict:
    """The embedded default study, one replicate, switched to the verl engine on one 8-GPU node."""
    cfg = rc.load(
        PROJECT_ROOT / "config.yaml",
        {
            "replicates": 1,
            "training": {"engine": "verl", **training},
            "resources": {"train": {"gpus_per_node": 8, "cpus_per_task": 16}},
            # checkpoints (segment ends) must include every evaluated step
            **(
                {"evaluation": {"every_steps": training["segment_steps"]}}
                if "segment_steps" in training
                else {}
            ),
        },
    )
    cfg["training"].pop("sizes", None)  # the settings above, not the default study's per-size lr
    return settings.train_params(cfg, rc.runs(cfg)[0])


def test_grpo_with_the_run_batch_and_optimiser_settings():
    ov = O.as_dict(O.build(segment(default_verl_params(lr=3e-6, prompts_per_step=32, rollouts_per_prompt=4))))
    assert ov["algorithm.adv_estimator"] == "grpo"
    assert ov["data.train_batch_size"] == "32"
    assert ov["actor_rollout_ref.rollout.n"] == "4"
    assert ov["actor_rollout_ref.actor.ppo_mini_batch_size"] == "32"  # one update per RL step
    assert ov["actor_rollout_ref.actor.optim.lr"] == "3e-06"
    assert ov["actor_rollout_ref.actor.optim.lr_scheduler_type"] == "constant"


def test_kl_is_a_loss_term_with_coefficient_and_type():
    ov = O.as_dict(O.build(segment(default_verl_params(kl_coef=0.001))))
    assert ov["actor_rollout_ref.actor.use_kl_loss"] == "true"
    assert ov["actor_rollout_ref.actor.kl_loss_coef"] == "0.001"
    assert ov["actor_rollout_ref.actor.kl_loss_type"] == "low_var_kl"
    assert ov["algorithm.use_kl_in_reward"] == "false"


def test_no_kl_loss_without_a_kl_coefficient():
    ov = O.as_dict(O.build(segment(default_verl_params(kl_coef=0.0))))
    assert ov["actor_rollout_ref.actor.use_kl_loss"] == "false"


def test_clip_ratios_entropy_and_lengths():
    p = default_verl_params(
        clip_ratio=0.25, entropy_coef=0.001, max_prompt_tokens=100, max_response_tokens=200
    )
    p["verl"]["clip_ratio_high"] = 0.28
    ov = O.as_dict(O.build(segment(p)))
    assert ov["actor_rollout_ref.actor.clip_ratio_low"] == "0.25"
    assert ov["actor_rollout_ref.actor.clip_ratio_high"] == "0.28"
    assert ov["actor_rollout_ref.actor.entropy_coeff"] == "0.001"
    assert ov["data.max_prompt_length"] == "100" and ov["data.max_response_length"] == "200"


def test_dynamic_batch_size_gets_a_token_budget_that_fits_a_sequence():
    ov = O.as_dict(O.build(segment(default_verl_params(max_prompt_tokens=2048, max_response_tokens=4096))))
    assert ov["actor_rollout_ref.actor.use_dynamic_bsz"] == "true"
    assert int(ov["actor_rollout_ref.actor.ppo_max_token_len_per_gpu"]) >= 2048 + 4096


def test_fixed_micro_batches_set_every_micro_batch_key_verl_requires():
    p = default_verl_params()
    p["verl"]["use_dynamic_bsz"] = False
    ov = O.as_dict(O.build(segment(p)))
    for key in (
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu",
    ):
        assert ov[key] == "4"


def test_rollout_engine_tensor_parallel_and_memory():
    p = default_verl_params()
    p["verl"].update(rollout_engine="sglang", tensor_parallel_size=4, gpu_memory_utilization=0.7)
    ov = O.as_dict(O.build(segment(p)))
    assert ov["actor_rollout_ref.rollout.name"] == "sglang"
    assert ov["actor_rollout_ref.rollout.tensor_model_parallel_size"] == "4"
    assert ov["actor_rollout_ref.rollout.gpu_memory_utilization"] == "0.7"


def test_greedy_validation_sampling_by_default_and_sampled_when_asked():
    p = default_verl_params()
    ov = O.as_dict(O.build(segment(p)))
    assert ov["actor_rollout_ref.rollout.val_kwargs.do_sample"] == "false"
    assert ov["actor_rollout_ref.rollout.val_kwargs.n"] == "1"
    p["verl"]["validation"] = {"n": 4, "temperature": 0.7, "top_p": 0.95}
    ov = O.as_dict(O.build(segment(p)))
    assert ov["actor_rollout_ref.rollout.val_kwargs.do_sample"] == "true"
    assert ov["actor_rollout_ref.rollout.val_kwargs.n"] == "4"
    assert ov["actor_rollout_ref.rollout.val_kwargs.temperature"] == "0.7"


def test_cluster_shape_seed_and_ray_cpus():
    ov = O.as_dict(O.build(segment(default_verl_params(seed=7))))
    assert ov["trainer.n_gpus_per_node"] == "8" and ov["trainer.nnodes"] == "1"
    assert ov["ray_kwargs.ray_init.num_cpus"] == "16"
    for key in ("data.seed", "actor_rollout_ref.rollout.seed", "actor_rollout_ref.actor.data_loader_seed"):
        assert ov[key] == "7"


def test_cpu_mode_starts_ray_without_its_dashboard_and_a_gpu_node_keeps_it():
    cpu = O.as_dict(O.build(segment(default_verl_params(verl={"device": "cpu"}))))
    assert cpu["+ray_kwargs.ray_init.include_dashboard"] == "false"
    gpu = O.as_dict(O.build(segment(default_verl_params())))
    assert "+ray_kwargs.ray_init.include_dashboard" not in gpu


def test_reward_goes_through_the_reward_section_never_the_legacy_key():
    p = default_verl_params(reward="flexible")
    ovs = O.build(segment(p))
    ov = O.as_dict(ovs)
    assert ov["reward.custom_reward_function.path"] == "/site/rlscaling/rewards/verl_reward.py"
    assert ov["reward.custom_reward_function.name"] == "compute_score"
    assert ov["+reward.custom_reward_function.reward_kwargs.method"] == "flexible"
    assert not any(o.startswith(("custom_reward_function.", "+custom_reward_function.")) for o in ovs)


def test_file_logger_always_and_wandb_never_by_default():
    p = default_verl_params()
    assert O.as_dict(O.build(segment(p)))["trainer.logger"] == "[console,file]"
    p["verl"]["logger"] = ["console"]
    assert O.as_dict(O.build(segment(p)))["trainer.logger"] == "[console,file]"


def test_v1_trainer_is_set_explicitly_and_checkpoint_dir_is_absolute():
    ov = O.as_dict(O.build(segment(default_verl_params())))
    assert ov["trainer.use_v1"] == "true"
    assert Path(ov["trainer.default_local_dir"]).is_absolute()


def test_first_segment_starts_fresh_and_validates_the_base_model():
    p = default_verl_params(segment_steps=5)
    p["verl"]["test_freq"] = 1
    ov = O.as_dict(O.build(segment(p, first=0)))
    assert ov["trainer.resume_mode"] == "disable"
    assert "trainer.resume_from_path" not in ov
    assert ov["trainer.total_training_steps"] == "5"
    assert ov["trainer.val_before_train"] == "true"
    assert ov["trainer.test_freq"] == "1"


def test_later_segment_resumes_from_the_previous_global_step_and_ends_at_its_own_step():
    p = default_verl_params()
    p["verl"]["test_freq"] = 1
    ov = O.as_dict(O.build(segment(p, first=10, last=20, resume="/abs/ck/global_step_10")))
    assert ov["trainer.resume_mode"] == "resume_path"
    assert ov["trainer.resume_from_path"] == "/abs/ck/global_step_10"
    assert ov["trainer.total_training_steps"] == "20"
    assert ov["trainer.val_before_train"] == "false"  # step 10 was validated by the previous segment


def test_segment_saves_a_resumable_checkpoint_with_the_hf_model_at_its_end():
    ov = O.as_dict(O.build(segment(default_verl_params(segment_steps=5))))
    assert ov["trainer.save_freq"] == "5"  # the segment length: the last step always saves
    assert ov["actor_rollout_ref.actor.checkpoint.save_contents"] == "[model,optimizer,extra,hf_model]"
    assert ov["actor_rollout_ref.actor.checkpoint.load_contents"] == "[model,optimizer,extra]"


def test_merger_export_leaves_hf_model_out_of_the_checkpoint():
    p = default_verl_params()
    p["verl"]["hf_export"] = "merger"
    ov = O.as_dict(O.build(segment(p)))
    assert ov["actor_rollout_ref.actor.checkpoint.save_contents"] == "[model,optimizer,extra]"
    assert O.merger_command("py", "/ck/global_step_5/actor", "/out")[:5] == [
        "py",
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
    ]


def test_curriculum_order_is_kept():
    ov = O.as_dict(O.build(segment(default_verl_params())))
    assert ov["data.shuffle"] == "false" and ov["actor_rollout_ref.actor.shuffle"] == "false"


def test_raw_overrides_come_last():
    p = default_verl_params()
    p["verl"]["overrides"] = ["trainer.balance_batch=false"]
    assert O.build(segment(p))[-1] == "trainer.balance_batch=false"


def test_values_are_quoted_only_when_hydra_needs_it():
    assert O.value("/a/b-c_d.parquet") == "/a/b-c_d.parquet"
    assert O.value("Qwen/Qwen2.5-7B") == "Qwen/Qwen2.5-7B"
    assert O.value("has space") == "'has space'"
    assert O.value("true") == "'true'" and O.value("1e3") == "'1e3'"
    assert O.value(["a", "b"]) == "[a,b]"
    assert O.value(None) == "null" and O.value(False) == "false"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"tensor_parallel_size": 3}, "tensor_parallel_size"),
        ({"ppo_mini_batch_size": 5}, "ppo_mini_batch_size"),
    ],
)
def test_shapes_verl_would_reject_are_user_errors_naming_the_key(change, key):
    p = default_verl_params()
    p["verl"].update(change)
    with pytest.raises(UserError, match=key):
        O.build(segment(p))


def test_rollouts_that_do_not_split_over_the_gpus_are_a_user_error():
    p = default_verl_params(prompts_per_step=3, rollouts_per_prompt=3)
    with pytest.raises(UserError, match="rollouts per step"):
        O.build(segment(p))


def test_settings_fill_defaults_then_study_then_size():
    v = settings.resolve(
        {"gpu_memory_utilization": 0.5, "sizes": {"big": {"tensor_parallel_size": 8}}},
        "big",
        ClusterShape(nodes=4, gpus_per_node=8, cpus_per_task=96),
    )
    assert v["gpu_memory_utilization"] == 0.5 and v["tensor_parallel_size"] == 8
    assert v["rollout_engine"] == "vllm"
    assert (v["nnodes"], v["n_gpus_per_node"], v["ray_num_cpus"]) == (4, 8, 96)
    assert "sizes" not in v


def test_unknown_verl_setting_is_a_user_error_naming_it():
    with pytest.raises(UserError, match=r"training\.verl\.sizes\.big\.tensor_parallel"):
        settings.resolve({"sizes": {"big": {"tensor_parallel": 8}}}, "big")


def test_trl_runs_keep_their_params_unchanged():
    cfg = rc.load(PROJECT_ROOT / "config.yaml")
    run = rc.runs(cfg)[0]
    assert settings.train_params(cfg, run) == run.train_params()


def test_a_size_sees_only_its_own_verl_overrides(tmp_path, monkeypatch):
    cfg = preset_config("tan2025-qwen25-guru", tmp_path, monkeypatch)
    runs = {r.name: r for r in rc.runs(cfg)}
    small = settings.train_params(cfg, runs["0.5B__seed-0"])
    changed = copy.deepcopy(cfg)
    changed["training"]["verl"]["sizes"]["72B"]["gpu_memory_utilization"] = 0.5
    assert settings.train_params(changed, runs["0.5B__seed-0"]) == small


def test_paper_preset_72b_runs_on_four_nodes_with_tensor_parallel_8(tmp_path, monkeypatch):
    cfg = preset_config("tan2025-qwen25-guru", tmp_path, monkeypatch)
    run = next(r for r in rc.runs(cfg) if r.size == "72B")
    ov = O.as_dict(O.build(segment(settings.train_params(cfg, run))))
    assert ov["trainer.nnodes"] == "4" and ov["trainer.n_gpus_per_node"] == "8"
    assert ov["actor_rollout_ref.rollout.tensor_model_parallel_size"] == "8"
    assert ov["data.train_batch_size"] == "512" and ov["actor_rollout_ref.rollout.n"] == "8"
    assert ov["data.max_prompt_length"] == "2048" and ov["data.max_response_length"] == "4096"
    assert ov["trainer.test_freq"] == "1"


def test_multi_node_runs_leave_the_ray_cpu_count_to_the_launcher(tmp_path, monkeypatch):
    cfg = preset_config("tan2025-qwen25-guru", tmp_path, monkeypatch)
    run = next(r for r in rc.runs(cfg) if r.size == "72B")
    ov = O.as_dict(O.build(segment(settings.train_params(cfg, run))))
    assert "ray_kwargs.ray_init.num_cpus" not in ov


def test_resolved_params_pass_the_train_commands_own_check(tmp_path, monkeypatch):
    import json

    from rlscaling.train.cli import parse_params

    cfg = preset_config("tan2025-qwen25-guru", tmp_path, monkeypatch)
    run = next(r for r in rc.runs(cfg) if r.size == "72B")
    params = parse_params(json.dumps(settings.train_params(cfg, run)))
    assert params["verl"]["nnodes"] == 4 and params["engine"] == "verl"


def test_config_check_names_a_per_size_section_of_an_unknown_size(tmp_path, monkeypatch):
    cfg = preset_config("qwen3-gsm8k", tmp_path, monkeypatch)
    cfg["training"]["verl"].setdefault("sizes", {})["70B"] = {"tensor_parallel_size": 8}
    with pytest.raises(UserError, match=r"training\.verl\.sizes\.70B"):
        settings.check(cfg)
