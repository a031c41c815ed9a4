"""Per-step training metrics: one schema for every engine, FLOPs from rlscaling.compute.

A segment writes `step_{k:06d}/metrics.jsonl`, one JSON object per RL step it trained, in step order:

    step                 RL step (1-based, global across segments)
    prompts, rollouts    distinct prompts of the step, and completions (prompts x rollouts_per_prompt)
    prompt_tokens        prompt tokens of all rollouts of the step (a prompt counts once per rollout)
    response_tokens      response tokens of all rollouts (up to and including EOS, padding excluded)
    reward_mean/_std     over all rollouts of the step (std over the whole batch, not per group)
    response_length_mean response tokens per rollout
    entropy              mean per-token policy entropy over response tokens (nats)
    kl                   mean per-token KL(policy || reference) (k3 estimator); null when kl_coef = 0,
                         because no reference model is kept then
    clip_ratio           fraction of response tokens whose probability ratio was clipped
    grad_norm            norm of the policy gradient before clipping; null when the engine logs none
    loss                 the policy loss of the step (trl: the GRPO loss; verl: actor/pg_loss)
    nonfinite            measured field -> "nan" / "inf" / "-inf" for a value that was not finite (the
                         field itself holds null); null when every measured value was finite
    wall_seconds         wall time of the step; gen_seconds (rollouts: sampling, decoding, rewards,
                         advantages) + update_seconds (loss forward/backward, optimizer step, rest)
    sample_seconds       the part of gen_seconds spent in the model's generate() call
    flops                paper convention 6·N·(prompt + response tokens)          [FLOPs]
    flops_full           2·N·T_gen + 2·N·T_ref + 6·N·T_train                     [FLOPs]
    N, N_nonembed        parameters (all; all but the input embedding)
    C, C_full, D, tokens cumulative through this step: flops, flops_full, prompts, prompt + response tokens
    engine, seed

Cumulative values continue across segments: a segment starts from the last record of the segment it
resumes (`Cumulative.from_record`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlscaling.compute import rl_step_flops, rl_step_flops_full
from rlscaling.io import finite_or_none, read_jsonl, write_text

FIELDS = (
    "step",
    "prompts",
    "rollouts",
    "prompt_tokens",
    "response_tokens",
    "reward_mean",
    "reward_std",
    "response_length_mean",
    "entropy",
    "kl",
    "clip_ratio",
    "grad_norm",
    "loss",
    "nonfinite",
    "wall_seconds",
    "gen_seconds",
    "update_seconds",
    "sample_seconds",
    "flops",
    "flops_full",
    "N",
    "N_nonembed",
    "C",
    "C_full",
    "D",
    "tokens",
    "engine",
    "seed",
)

# fields that measure time, not the training result (they differ between two runs of the same seed)
TIMING_FIELDS = ("wall_seconds", "gen_seconds", "update_seconds", "sample_seconds")


def rollouts_per_step(params: dict[str, Any]) -> int:
    """Completions sampled in one RL step (rollouts): training.prompts_per_step x rollouts_per_prompt."""
    return int(params["prompts_per_step"]) * int(params["rollouts_per_prompt"])


def no_grad_pass_tokens(tokens: int, *, reference: bool, old_policy: bool) -> int:
    """Tokens of one step's extra no-grad forward passes (for the fuller FLOP count), one rule for every
    engine: the whole rollout batch (prompt + response tokens) once through the reference model when a
    KL term needs it, and once through the policy before the update when the engine recomputes the
    old policy's log-probs (verl always does; TRL when its loss needs them)."""
    return int(tokens) * (int(bool(reference)) + int(bool(old_policy)))


@dataclass(frozen=True)
class StepStats:
    """What an engine measured during one RL step (token counts in tokens, times in seconds)."""

    step: int
    prompts: int
    rollouts: int
    prompt_tokens: int
    response_tokens: int
    gen_tokens: int  # tokens through sampling forward passes (prompt prefill + generated)
    ref_tokens: int  # tokens through extra no-grad passes (reference / old-policy log-probs)
    train_tokens: int  # tokens through the policy's forward + backward
    reward_mean: float
    reward_std: float | None
    entropy: float | None
    kl: float | None
    clip_ratio: float | None
    wall_seconds: float
    gen_seconds: float
    sample_seconds: float
    grad_norm: float | None = None
    loss: float | None = None


@dataclass(frozen=True)
class Cumulative:
    """Running totals through some step: C and C_full (FLOPs), D (prompts), tokens."""

    step: int = 0
    C: float = 0.0
    C_full: float = 0.0
    D: int = 0
    tokens: int = 0

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Cumulative:
        return cls(
            step=int(rec["step"]),
            C=float(rec["C"]),
            C_full=float(rec.get("C_full", 0.0)),
            D=int(rec["D"]),
            tokens=int(rec["tokens"]),
        )


# measured values that are written as null when not finite, and named in the record's `nonfinite`
MEASURED_FIELDS = ("reward_mean", "reward_std", "entropy", "kl", "clip_ratio", "grad_norm", "loss")


def nonfinite(stats: StepStats) -> dict[str, str] | None:
    """Measured field -> "nan" / "inf" / "-inf" for each value of `stats` that is a number but not a
    finite one (a value the engine did not measure, None, is not listed); None when there is none."""
    out = {}
    for field in MEASURED_FIELDS:
        value = getattr(stats, field)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value):
            out[field] = str(float(value))
    return out or None


def step_record(
    stats: StepStats, cum: Cumulative, n_params: int, n_nonembed: int, engine: str, seed: int
) -> tuple[dict[str, Any], Cumulative]:
    """The metrics.jsonl record of one step, and the running totals through it."""
    tokens = stats.prompt_tokens + stats.response_tokens
    flops = rl_step_flops(n_params, stats.prompt_tokens, stats.response_tokens)
    flops_full = rl_step_flops_full(n_params, stats.gen_tokens, stats.ref_tokens, stats.train_tokens)
    cum = Cumulative(
        step=stats.step,
        C=cum.C + flops,
        C_full=cum.C_full + flops_full,
        D=cum.D + stats.prompts,
        tokens=cum.tokens + tokens,
    )
    rec = {
        "step": stats.step,
        "prompts": stats.prompts,
        "rollouts": stats.rollouts,
        "prompt_tokens": stats.prompt_tokens,
        "response_tokens": stats.response_tokens,
        "reward_mean": finite_or_none(stats.reward_mean),
        "reward_std": finite_or_none(stats.reward_std),
        "response_length_mean": stats.response_tokens / max(stats.rollouts, 1),
        "entropy": finite_or_none(stats.entropy),
        "kl": finite_or_none(stats.kl),
        "clip_ratio": finite_or_none(stats.clip_ratio),
        "grad_norm": finite_or_none(stats.grad_norm),
        "loss": finite_or_none(stats.loss),
        "nonfinite": nonfinite(stats),
        "wall_seconds": stats.wall_seconds,
        "gen_seconds": stats.gen_seconds,
        "update_seconds": max(stats.wall_seconds - stats.gen_seconds, 0.0),
        "sample_seconds": stats.sample_seconds,
        "flops": flops,
        "flops_full": flops_full,
        "N": n_params,
        "N_nonembed": n_nonembed,
        "C": cum.C,
        "C_full": cum.C_full,
        "D": cum.D,
        "tokens": cum.tokens,
        "engine": engine,
        "seed": seed,
    }
    return rec, cum


def read(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl. Raises UserError naming the file and line."""
    return read_jsonl(path)


def write(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write records as JSONL, atomically."""
    write_text(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
