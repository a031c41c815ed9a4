"""RL recipes: one engine-neutral vocabulary of GRPO variants, and what it becomes in each engine.

A run's recipe is `training.recipe` (a named preset; absent means `grpo`) with any knob replaced by
`training.recipe_settings`. `resolve(params)` gives the run's knobs; `trl_kwargs(params)` turns them
into TRL 1.16 `GRPOConfig` keyword arguments, `verl_overrides(params)` into verl 0.9.1 hydra override
values. A knob an engine cannot express is refused by `check(params)` (and at config time by
rlscaling.config_checks), naming the engine and the key.

Knobs (`Knobs`; a preset fixes all of them):

    policy_loss          clip (PPO's clipped token ratio) | gspo (one clipped ratio per sequence, the
                         geometric mean of its token ratios) | cispo (a stop-gradient importance weight,
                         capped above at 1 + clip_ratio_high, times advantage x log-prob; no lower cap)
    loss_aggregation     token-mean (every response token of the batch weighs the same) |
                         seq-mean-token-mean (mean per sequence, then over sequences: the original GRPO) |
                         seq-mean-token-sum-norm (token sum per sequence / max_response_tokens, then the
                         mean over sequences: Dr. GRPO's constant normaliser) | seq-mean-token-sum
    reward_scaling       group (advantage = (r - group mean) / group std) | batch (/ the batch's std) |
                         none (r - group mean: Dr. GRPO)
    clip_ratio_low       lower clip epsilon; null = training.clip_ratio
    clip_ratio_high      upper clip epsilon ("clip-higher"); null = the lower one
    zero_variance_filter prompt groups whose rollouts all got the same reward (no learning signal) are
                         left out of the update: TRL drops them from the loss (ScaleRL's zero-variance
                         filtering; the step's other groups alone set the token-mean normaliser); verl
                         replaces them by freshly sampled groups until the batch is full (DAPO's dynamic
                         sampling, algorithm.filter_groups; the extra rollouts are counted as compute)
    mask_truncated       completions cut at max_response_tokens are left out of the loss
    fp32_lm_head         the LM head computes its logits in float32 (ScaleRL)
    tis_cap              truncated importance sampling: the token-level weight pi_trainer / pi_rollout,
                         capped at this value, corrects a rollout engine that differs from the trainer
                         (vLLM vs FSDP); null = off

The entropy bonus stays `training.entropy_coef` (TRL entropy_coef, verl actor.entropy_coeff).

The default recipe, `grpo`, is exactly what both engines ran before recipes existed (TRL
loss_type="dapo" with scale_rewards="group"; verl's vanilla policy loss with token-mean aggregation and
group-std advantages): a config without recipe keys trains bit for bit as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rlscaling.errors import UserError

POLICY_LOSSES = ("clip", "gspo", "cispo")
LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm", "seq-mean-token-sum")
REWARD_SCALINGS = ("group", "batch", "none")
ENGINES = ("trl", "verl")


@dataclass(frozen=True)
class Knobs:
    """The settings a recipe is made of (see the module docstring for each one's meaning)."""

    policy_loss: str = "clip"
    loss_aggregation: str = "token-mean"
    reward_scaling: str = "group"
    clip_ratio_low: float | None = None
    clip_ratio_high: float | None = None
    zero_variance_filter: bool = False
    mask_truncated: bool = False
    fp32_lm_head: bool = False
    tis_cap: float | None = None


KNOB_NAMES = tuple(f.name for f in dataclasses.fields(Knobs))

# the named recipes; each differs from grpo only where listed
RECIPES: dict[str, Knobs] = {
    # GRPO as verl runs it (and as the project ran it before recipes): token-mean, group-std advantages,
    # symmetric clip at training.clip_ratio
    "grpo": Knobs(),
    # Dr. GRPO (Liu et al. 2025): no std scaling, a constant length normaliser
    "dr_grpo": Knobs(loss_aggregation="seq-mean-token-sum-norm", reward_scaling="none"),
    # DAPO (Yu et al. 2025): clip-higher 0.28 and no zero-variance groups in the update
    "dapo": Knobs(clip_ratio_high=0.28, zero_variance_filter=True),
    # GSPO (Zheng et al. 2025): sequence-level ratio, per-sequence mean, the paper's clip range 3e-4 / 4e-4
    "gspo": Knobs(
        policy_loss="gspo", loss_aggregation="seq-mean-token-mean", clip_ratio_low=3e-4, clip_ratio_high=4e-4
    ),
    # CISPO (MiniMax-M1; ScaleRL's loss): importance weight capped at 1 + 4 = 5 (TRL's recommended
    # epsilon_max for CISPO), no lower cap
    "cispo": Knobs(policy_loss="cispo", clip_ratio_high=4.0),
}
DEFAULT_RECIPE = "grpo"


def recipe_name(params: dict[str, Any]) -> str:
    """The run's recipe name (`training.recipe`; absent: the default)."""
    return str(params.get("recipe") or DEFAULT_RECIPE)


def resolve(params: dict[str, Any]) -> Knobs:
    """The run's knobs: its recipe's preset with `recipe_settings` applied. A verl run without recipe
    keys takes loss aggregation and clip-higher from its `verl` pins (loss_agg_mode, clip_ratio_high),
    as it did before recipes existed. Raises UserError naming an unknown recipe or knob."""
    name = recipe_name(params)
    if name not in RECIPES:
        raise UserError(f"training.recipe: unknown recipe {name!r} (recipes: {', '.join(RECIPES)})")
    knobs = RECIPES[name]
    settings = params.get("recipe_settings") or {}
    unknown = sorted(set(settings) - set(KNOB_NAMES))
    if unknown:
        raise UserError(
            f"training.recipe_settings.{unknown[0]}: not a recipe setting (settings: {', '.join(KNOB_NAMES)})"
        )
    verl = params.get("verl") or {}
    if params.get("engine") == "verl" and not uses_recipe(params):
        knobs = dataclasses.replace(
            knobs,
            loss_aggregation=verl.get("loss_agg_mode") or knobs.loss_aggregation,
            clip_ratio_high=verl.get("clip_ratio_high"),
        )
    knobs = dataclasses.replace(knobs, **settings)
    for field, allowed in (
        ("policy_loss", POLICY_LOSSES),
        ("loss_aggregation", LOSS_AGGREGATIONS),
        ("reward_scaling", REWARD_SCALINGS),
    ):
        value = getattr(knobs, field)
        if value not in allowed:
            raise UserError(f"training.recipe_settings.{field}: {value!r} is not one of {', '.join(allowed)}")
    return knobs


def uses_recipe(params: dict[str, Any]) -> bool:
    """Whether the run names a recipe or a recipe setting (then the verl pins loss_agg_mode and
    clip_ratio_high must be unset: the recipe decides them)."""
    return params.get("recipe") is not None or bool(params.get("recipe_settings"))


def clip_range(params: dict[str, Any], knobs: Knobs) -> tuple[float, float]:
    """(low, high) clip epsilons of the run: the knobs, else training.clip_ratio."""
    low = float(knobs.clip_ratio_low if knobs.clip_ratio_low is not None else params["clip_ratio"])
    high = float(knobs.clip_ratio_high if knobs.clip_ratio_high is not None else low)
    return low, high


# --------------------------------------------------------------------------------------------------
# what an engine cannot express


def unsupported(knobs: Knobs, engine: str) -> list[tuple[str, str]]:
    """(knob, reason) for every knob value `engine` cannot run; [] when it runs them all."""
    out: list[tuple[str, str]] = []
    if engine == "trl":
        if knobs.loss_aggregation == "seq-mean-token-sum":
            out.append(("loss_aggregation", "TRL 1.16 has no seq-mean-token-sum loss_type"))
        if knobs.policy_loss == "cispo" and knobs.loss_aggregation != "token-mean":
            out.append(("loss_aggregation", "TRL's cispo loss aggregates by token-mean only"))
        if knobs.tis_cap is not None:
            out.append(
                (
                    "tis_cap",
                    "the trl engine samples with the trainer's own model, so there is no separate rollout "
                    "engine to correct",
                )
            )
    elif engine == "verl":
        if knobs.reward_scaling == "batch":
            out.append(("reward_scaling", "verl 0.9.1's GRPO normalises by the group's std or not at all"))
        if knobs.mask_truncated:
            out.append(("mask_truncated", "verl 0.9.1 has no truncated-completion loss mask"))
        if knobs.fp32_lm_head:
            out.append(("fp32_lm_head", "verl 0.9.1 has no float32 LM-head switch"))
    else:
        raise UserError(f"training.engine: unknown engine {engine!r}")
    return out


def check(params: dict[str, Any], where: str = "training.recipe_settings") -> Knobs:
    """The run's knobs, after refusing any its engine lacks. `where`: the config key of the run's
    recipe_settings, for messages. Raises UserError naming the engine and the key."""
    knobs = resolve(params)
    engine = str(params.get("engine") or "trl")
    problems = unsupported(knobs, engine)
    if problems:
        knob, reason = problems[0]
        value = getattr(knobs, knob)
        raise UserError(
            f"{where}.{knob}: {value!r} (recipe {recipe_name(params)}) is not available on the {engine} "
            f"engine: {reason}"
        )
    low, _ = clip_range(params, knobs)
    if knobs.policy_loss != "cispo" and low >= 1.0:
        raise UserError(f"{where}.clip_ratio_low: {low} leaves no lower clip (must be below 1)")
    return knobs


# --------------------------------------------------------------------------------------------------
# TRL 1.16 (trl.GRPOConfig)

_TRL_LOSS_TYPE = {"token-mean": "dapo", "seq-mean-token-mean": "grpo", "seq-mean-token-sum-norm": "dr_grpo"}


def trl_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """GRPOConfig keyword arguments of the run's recipe (and its entropy bonus).

    clip: loss_type by aggregation (token-mean "dapo", seq-mean-token-mean "grpo", seq-mean-token-sum-norm
    "dr_grpo"), epsilon / epsilon_high the clip range; gspo: the same with importance_sampling_level
    "sequence"; cispo: loss_type "cispo" with epsilon_high = the weight cap 1 + clip_ratio_high."""
    knobs = check(params)
    low, high = clip_range(params, knobs)
    if knobs.policy_loss == "cispo":
        loss_type, epsilon_high = "cispo", 1.0 + high
    else:
        # a symmetric clip leaves epsilon_high unset, as TRL's default does (the same GRPOConfig as before)
        loss_type, epsilon_high = _TRL_LOSS_TYPE[knobs.loss_aggregation], (high if high != low else None)
    return {
        "epsilon": low,
        "epsilon_high": epsilon_high,
        "entropy_coef": float(params["entropy_coef"]),
        "loss_type": loss_type,
        "importance_sampling_level": "sequence" if knobs.policy_loss == "gspo" else "token",
        "scale_rewards": knobs.reward_scaling,
        "mask_truncated_completions": knobs.mask_truncated,
        "cast_lm_head_to_fp32": knobs.fp32_lm_head,
    }


# --------------------------------------------------------------------------------------------------
# verl 0.9.1 (hydra overrides of verl.trainer.main_ppo)

ACTOR = "actor_rollout_ref.actor"
# DAPO's dynamic sampling gives up after this many extra generation batches in one step (verl's DAPO
# example scripts' value; verl's own default, 0, never gives up)
FILTER_GROUPS_MAX_GEN_BATCHES = 10


def verl_overrides(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(always, extra): override key -> value. `always` holds the keys every verl run sets (the same
    keys, and for grpo the same values, as before recipes existed); `extra` holds the keys only a
    non-default knob adds (policy_loss.loss_mode, loss_scale_factor, filter_groups, rollout_correction),
    so a grpo run's override list is unchanged."""
    knobs = check(params)
    low, high = clip_range(params, knobs)
    if knobs.policy_loss == "cispo":
        low = 1.0  # verl clips the weight to [1 - low, 1 + high]: 1 - 1 = 0 is no lower cap
    always = {
        "algorithm.norm_adv_by_std_in_grpo": knobs.reward_scaling == "group",
        f"{ACTOR}.clip_ratio": low,
        f"{ACTOR}.clip_ratio_low": low,
        f"{ACTOR}.clip_ratio_high": high,
        f"{ACTOR}.entropy_coeff": float(params.get("entropy_coef", 0.0)),
        f"{ACTOR}.loss_agg_mode": knobs.loss_aggregation,
    }
    extra: dict[str, Any] = {}
    if knobs.policy_loss != "clip":
        extra[f"{ACTOR}.policy_loss.loss_mode"] = knobs.policy_loss
    if knobs.loss_aggregation == "seq-mean-token-sum-norm":
        # Dr. GRPO's constant: the response budget (verl's default is each micro-batch's padded width)
        extra[f"{ACTOR}.loss_scale_factor"] = int(params["max_response_tokens"])
    if knobs.zero_variance_filter:
        extra["algorithm.filter_groups.enable"] = True
        extra["algorithm.filter_groups.metric"] = "reward"
        extra["algorithm.filter_groups.max_num_gen_batches"] = FILTER_GROUPS_MAX_GEN_BATCHES
    if knobs.tis_cap is not None:
        extra["algorithm.rollout_correction.rollout_is"] = "token"
        extra["algorithm.rollout_correction.rollout_is_threshold"] = float(knobs.tis_cap)
    return always, extra


def describe(params: dict[str, Any]) -> dict[str, Any]:
    """The run's recipe name and resolved knobs, as recorded beside a run's results."""
    return {"recipe": recipe_name(params), **dataclasses.asdict(resolve(params))}
