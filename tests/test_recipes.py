"""RL recipes (rlscaling.train.recipes): one vocabulary, what each recipe becomes in TRL 1.16's
GRPOConfig and in verl 0.9.1's hydra overrides, what an engine lacks, and the default recipe leaving
every existing study's params and overrides as they were. Composition of the verl overrides against
verl's own config is in test_verl_compose.py (marked verl)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

import rlscaling.config as rc
from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT
from rlscaling.schema import load_schema
from rlscaling.train import recipes
from rlscaling.train.verl import overrides as O
from rlscaling.train.verl import settings

from test_verl_overrides import default_verl_params, preset_config, segment

A = "actor_rollout_ref.actor"
FIXTURES = Path(__file__).parent / "fixtures"


def trl_params(**training) -> dict:
    """The default study's first run's training params (trl engine), with `training` applied."""
    cfg = rc.load(PROJECT_ROOT / "config.yaml")
    params = settings.train_params(cfg, rc.runs(cfg)[0])
    params.update(training)
    return params


def grpo_config(**kwargs):
    from trl import GRPOConfig

    return GRPOConfig(output_dir="/tmp/unused", report_to="none", bf16=False, **kwargs)


# --------------------------------------------------------------------------------------------------
# the vocabulary


def test_the_schema_names_every_recipe_and_knob_value_the_module_knows():
    training = load_schema()["properties"]["training"]["properties"]
    assert training["recipe"]["enum"] == list(recipes.RECIPES)
    knobs = training["recipe_settings"]["properties"]
    assert tuple(knobs) == recipes.KNOB_NAMES
    assert tuple(knobs["policy_loss"]["enum"]) == recipes.POLICY_LOSSES
    assert tuple(knobs["loss_aggregation"]["enum"]) == recipes.LOSS_AGGREGATIONS
    assert tuple(knobs["reward_scaling"]["enum"]) == recipes.REWARD_SCALINGS


def test_recipe_settings_replace_the_recipes_own_knobs():
    knobs = recipes.resolve(
        {"recipe": "dapo", "recipe_settings": {"clip_ratio_high": 0.3, "fp32_lm_head": True}}
    )
    assert knobs.clip_ratio_high == 0.3 and knobs.fp32_lm_head and knobs.zero_variance_filter


def test_no_recipe_is_grpo():
    assert recipes.resolve({}) == recipes.RECIPES["grpo"] == recipes.Knobs()


def test_an_unknown_recipe_setting_is_refused_by_name():
    with pytest.raises(UserError, match=r"training.recipe_settings.clip_higher: not a recipe setting"):
        recipes.resolve({"recipe_settings": {"clip_higher": 0.28}})


# --------------------------------------------------------------------------------------------------
# TRL: each recipe's GRPOConfig (constructing it fails on a key TRL does not have)

# (loss_type, scale_rewards, epsilon, epsilon_high, importance_sampling_level)
TRL_EXPECTED = {
    "grpo": ("dapo", "group", 0.2, 0.2, "token"),
    "dr_grpo": ("dr_grpo", "none", 0.2, 0.2, "token"),
    "dapo": ("dapo", "group", 0.2, 0.28, "token"),
    "gspo": ("grpo", "group", 3e-4, 4e-4, "sequence"),
    "cispo": ("cispo", "group", 0.2, 5.0, "token"),
}
TRL_KEYS = ("loss_type", "scale_rewards", "epsilon", "epsilon_high", "importance_sampling_level")


@pytest.mark.parametrize("recipe", list(recipes.RECIPES))
def test_each_recipe_is_a_valid_grpo_config_with_the_recipes_settings(recipe):
    args = grpo_config(**recipes.trl_kwargs(trl_params(recipe=recipe)))
    got = {k: getattr(args, k) for k in TRL_KEYS}
    # GRPOConfig keeps epsilon_high None for a symmetric clip; GRPOTrainer then uses epsilon
    got["epsilon_high"] = got["epsilon_high"] if got["epsilon_high"] is not None else args.epsilon
    assert got == dict(zip(TRL_KEYS, TRL_EXPECTED[recipe], strict=True))
    assert args.mask_truncated_completions is False and args.cast_lm_head_to_fp32 is False


def test_the_individual_knobs_reach_grpo_config():
    args = grpo_config(
        **recipes.trl_kwargs(
            trl_params(
                recipe_settings={
                    "mask_truncated": True,
                    "fp32_lm_head": True,
                    "reward_scaling": "batch",
                    "loss_aggregation": "seq-mean-token-mean",
                },
                entropy_coef=0.01,
            )
        )
    )
    assert args.mask_truncated_completions and args.cast_lm_head_to_fp32
    assert (args.scale_rewards, args.loss_type, args.entropy_coef) == ("batch", "grpo", 0.01)


def test_the_default_recipe_is_the_grpo_config_trl_ran_before_recipes():
    p = trl_params()
    before = grpo_config(
        epsilon=float(p["clip_ratio"]),
        entropy_coef=float(p["entropy_coef"]),
        loss_type="dapo",
        scale_rewards="group",
    )
    assert grpo_config(**recipes.trl_kwargs(p)).to_dict() == before.to_dict()


# --------------------------------------------------------------------------------------------------
# verl: the override strings of each recipe

VERL_EXPECTED = {
    "grpo": {
        "algorithm.norm_adv_by_std_in_grpo": "true",
        f"{A}.clip_ratio_low": "0.2",
        f"{A}.clip_ratio_high": "0.2",
        f"{A}.loss_agg_mode": "token-mean",
    },
    "dr_grpo": {
        "algorithm.norm_adv_by_std_in_grpo": "false",
        f"{A}.loss_agg_mode": "seq-mean-token-sum-norm",
        f"{A}.loss_scale_factor": "48",
    },
    "dapo": {
        f"{A}.clip_ratio_low": "0.2",
        f"{A}.clip_ratio_high": "0.28",
        "algorithm.filter_groups.enable": "true",
        "algorithm.filter_groups.metric": "reward",
        "algorithm.filter_groups.max_num_gen_batches": "10",
    },
    "gspo": {
        f"{A}.policy_loss.loss_mode": "gspo",
        f"{A}.clip_ratio": "0.0003",
        f"{A}.clip_ratio_low": "0.0003",
        f"{A}.clip_ratio_high": "0.0004",
        f"{A}.loss_agg_mode": "seq-mean-token-mean",
    },
    "cispo": {
        f"{A}.policy_loss.loss_mode": "cispo",
        f"{A}.clip_ratio_low": "1.0",
        f"{A}.clip_ratio_high": "4.0",
        f"{A}.loss_agg_mode": "token-mean",
    },
}
# keys only a non-default knob adds
VERL_EXTRA_KEYS = {
    f"{A}.policy_loss.loss_mode",
    f"{A}.loss_scale_factor",
    "algorithm.filter_groups.enable",
    "algorithm.filter_groups.metric",
    "algorithm.filter_groups.max_num_gen_batches",
    "algorithm.rollout_correction.rollout_is",
    "algorithm.rollout_correction.rollout_is_threshold",
}


@pytest.mark.parametrize("recipe", list(recipes.RECIPES))
def test_each_recipe_becomes_its_verl_overrides(recipe):
    ov = O.as_dict(O.build(segment(default_verl_params(recipe=recipe))))
    assert {k: ov.get(k) for k in VERL_EXPECTED[recipe]} == VERL_EXPECTED[recipe]
    absent = VERL_EXTRA_KEYS - set(VERL_EXPECTED[recipe])
    assert not absent & set(ov), absent & set(ov)


def test_tis_becomes_verls_token_level_rollout_correction():
    ov = O.as_dict(O.build(segment(default_verl_params(recipe_settings={"tis_cap": 2.0}))))
    assert ov["algorithm.rollout_correction.rollout_is"] == "token"
    assert ov["algorithm.rollout_correction.rollout_is_threshold"] == "2.0"


def test_a_verl_run_without_a_recipe_keeps_its_verl_pins():
    p = default_verl_params()
    p["verl"].update(loss_agg_mode="seq-mean-token-sum", clip_ratio_high=0.28)
    ov = O.as_dict(O.build(segment(p)))
    assert (ov[f"{A}.loss_agg_mode"], ov[f"{A}.clip_ratio_high"]) == ("seq-mean-token-sum", "0.28")


def test_the_gpu_presets_compose_exactly_the_overrides_they_had_before_recipes(tmp_path, monkeypatch):
    """The paper's vanilla GRPO (tan2025, base and instruct) and the Qwen3 study: every size's first
    segment, override for override, as generated before recipes existed."""
    before = json.loads((FIXTURES / "verl_grpo_preset_overrides.json").read_text())
    seen = 0
    for label in {k.rsplit("/", 1)[0] for k in before}:
        name, *overlays = label.split("+")
        cfg = preset_config(name, tmp_path / label, monkeypatch, *overlays)
        for run in rc.runs(cfg):
            key = f"{label}/{run.name}"
            if key in before and not run.replicate and run.variant.get("seed", 0) == 0:
                assert O.build(segment(settings.train_params(cfg, run))) == before[key], key
                seen += 1
    assert seen == len(before)


def test_a_gpu_preset_takes_a_recipe(tmp_path, monkeypatch):
    cfg = preset_config("tan2025-qwen25-guru", tmp_path, monkeypatch)
    cfg = rc.validate(rc.deep_merge(cfg, {"sweep": {"recipe": ["grpo", "dapo"]}}))
    run = next(r for r in rc.runs(cfg) if r.size == "7B" and r.variant["recipe"] == "dapo")
    ov = O.as_dict(O.build(segment(settings.train_params(cfg, run))))
    assert ov[f"{A}.clip_ratio_high"] == "0.28" and ov["algorithm.filter_groups.enable"] == "true"


# --------------------------------------------------------------------------------------------------
# what an engine lacks is refused when the config is checked, naming the engine and the key


def default_config(**training) -> dict:
    cfg = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    cfg["training"].update(training)
    return cfg


@pytest.mark.parametrize(
    "knob, value, engine",
    [
        ("tis_cap", 2.0, "trl"),
        ("loss_aggregation", "seq-mean-token-sum", "trl"),
        ("mask_truncated", True, "verl"),
        ("fp32_lm_head", True, "verl"),
        ("reward_scaling", "batch", "verl"),
    ],
)
def test_a_knob_the_engine_lacks_is_refused_naming_engine_and_key(knob, value, engine):
    cfg = default_config(engine=engine, recipe_settings={knob: value})
    if engine == "verl":
        cfg["training"]["verl"] = {"n_gpus_per_node": 1}
    message = rf"training.recipe_settings.{knob}: .* not available on the {engine} engine"
    with pytest.raises(UserError, match=message):
        rc.validate(cfg)


def test_trls_cispo_aggregates_by_token_mean_only():
    cfg = default_config(recipe="cispo", recipe_settings={"loss_aggregation": "seq-mean-token-mean"})
    with pytest.raises(UserError, match=r"recipe_settings.loss_aggregation: .* trl engine"):
        rc.validate(cfg)


def test_a_verl_pin_the_recipe_decides_is_refused_with_a_recipe():
    cfg = default_config(engine="verl", recipe="dapo")
    cfg["training"]["verl"] = {"n_gpus_per_node": 1, "clip_ratio_high": 0.2}
    with pytest.raises(UserError, match=r"training.verl.clip_ratio_high: set together with a recipe"):
        rc.validate(cfg)


def test_a_sweep_value_that_is_no_recipe_is_refused():
    cfg = default_config()
    cfg["sweep"] = {"recipe": ["grpo", "ppo"]}
    with pytest.raises(UserError, match=r"sweep.recipe\[1\]"):
        rc.validate(cfg)


# --------------------------------------------------------------------------------------------------
# sweeps, and the default study's params


def test_a_recipe_sweep_keys_runs_by_recipe_and_shares_base_models():
    cfg = default_config()
    cfg["replicates"] = 2
    cfg["sweep"] = {"recipe": ["grpo", "dapo", "gspo"]}
    cfg = rc.validate(cfg)
    runs = rc.runs(cfg)
    size = runs[0].size
    mine = [r for r in runs if r.size == size]
    assert [r.name for r in mine] == [
        f"{size}__recipe-{rec}__rep-{k}" for rec in ("grpo", "dapo", "gspo") for k in (0, 1)
    ]
    assert {r.model for r in mine} == {f"{size}/rep0", f"{size}/rep1"}
    assert len(rc.base_models(cfg)) == 2 * len(cfg["models"]["sizes"])
    assert [recipes.recipe_name(r.training) for r in mine[::2]] == ["grpo", "dapo", "gspo"]


def test_the_default_study_passes_no_recipe_key_to_its_segments():
    cfg = rc.load(PROJECT_ROOT / "config.yaml")
    for run in rc.runs(cfg):
        params = settings.train_params(cfg, run)
        assert "recipe" not in params and "recipe_settings" not in params, run.name


# --------------------------------------------------------------------------------------------------
# the trl engine's zero-variance filter


def test_zero_variance_groups_leave_the_loss_and_its_normaliser():
    torch = pytest.importorskip("torch")
    from rlscaling.train.trl.engine import drop_zero_variance_groups

    batch = {
        # 3 groups of 2 rollouts: the middle one's rewards agreed (advantages 0)
        "advantages": torch.tensor([0.7, -0.7, 0.0, 0.0, -1.0, 1.0]),
        "completion_mask": torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]]),
        "num_items_in_batch": torch.tensor(12),
    }
    original = copy.deepcopy(batch)
    assert drop_zero_variance_groups(batch, group_size=2) == 1
    assert batch["completion_mask"][2:4].sum() == 0
    assert (batch["completion_mask"][[0, 1, 4, 5]] == original["completion_mask"][[0, 1, 4, 5]]).all()
    assert int(batch["num_items_in_batch"]) == 12 - 5


# --------------------------------------------------------------------------------------------------
# the tiny-recipes preset

PRESETS = PROJECT_ROOT / "workflow" / "presets"


def test_tiny_recipes_base_models_are_the_tiny_split_studys_2m_token_models():
    """Both presets keep the single-budget family (one 2M-token budget, no equations-only corpus), the
    one their results were measured on: the recipes' base models are the split study's 2M-token ones
    (cache hits), and only the recipe differs between the recipes' runs."""
    recipes_cfg = rc.validate(yaml.safe_load((PRESETS / "tiny-recipes.yaml").read_text()))
    split = rc.validate(yaml.safe_load((PRESETS / "tiny-split.yaml").read_text()))
    assert 2_000_000 in split["sweep"]["pretrain_tokens"]
    for size, arch in recipes_cfg["models"]["sizes"].items():
        assert arch == split["models"]["sizes"][size], size
        assert rc.pretrain_settings(recipes_cfg, size) == rc.pretrain_settings(split, size), size
        assert recipes_cfg["training"]["sizes"][size] == split["training"]["sizes"][size], size
    assert recipes_cfg["data"] == split["data"]
    assert {k: v for k, v in recipes_cfg["training"].items() if k != "recipe"} == {
        k: v for k, v in split["training"].items() if k != "recipe"
    }
    assert len(recipes_cfg["sweep"]["recipe"]) >= 4 and recipes_cfg["replicates"] >= 3
    assert len(rc.eval_steps(recipes_cfg)) >= 8  # a sigmoid per replicate, and 4 points in its first half


def test_tiny_recipes_plans_the_recipe_comparison(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"),
         "--directory", str(tmp_path), "-n", "-p", "all",
         "--configfile", str(PRESETS / "tiny-recipes.yaml"), "--replace-workflow-config"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if "compare-recipes" in x)
    assert "--where bench=heldout" in line and "--reference grpo" in line
    assert "--figures" in line and "--where recipe=" not in line
