"""The tiny model family: Qwen3-architecture causal LMs built from an architecture dict.

An architecture is a `models.sizes.<name>` entry of the config: hidden_size, num_hidden_layers,
num_attention_heads, num_key_value_heads, intermediate_size, and optionally head_dim (default
hidden_size / num_attention_heads). Everything else is fixed here: the vocabulary is the tokenizer's,
input and output embeddings are tied (as in the small Qwen3 models), no dropout, and initial weights
scaled to the width (init_std). Parameter counts (N, N_nonembed) come from
rlscaling.compute.count_parameters.

Why Qwen3 and not Qwen2: Qwen3 sets the head size apart from the width (every Qwen3 model uses 128),
and vLLM's Qwen3 reads it from config.json, where vLLM's Qwen2 always takes hidden_size / heads. vLLM's
CPU attention serves only head sizes of 32 and more (rlscaling.evaluate.vllm.CPU_HEAD_SIZES), so a
narrow tiny model with several heads (width 48, 4 heads) can only be served with head_dim set apart
from its width. Qwen3's per-head RMSNorm on queries and keys (QK-norm) comes with it.
"""

from __future__ import annotations

import math
from typing import Any

from rlscaling.errors import UserError

ARCH_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
)
OPTIONAL_ARCH_KEYS = ("head_dim",)


def check_arch(arch: dict[str, Any], where: str = "models.sizes") -> dict[str, int]:
    """The architecture's integer settings, head_dim always included; UserError naming the key when
    one is missing or bad."""
    out = {}
    for key in ARCH_KEYS + OPTIONAL_ARCH_KEYS:
        value = arch.get(key)
        if value is None and key in OPTIONAL_ARCH_KEYS:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"{where}.{key}: expected a positive integer, got {value!r}")
        out[key] = value
    if "head_dim" in out:
        if out["head_dim"] % 2:
            raise UserError(
                f"{where}.head_dim: {out['head_dim']} is odd; rotary position embeddings need an even "
                "head size"
            )
    else:
        if out["hidden_size"] % out["num_attention_heads"]:
            raise UserError(
                f"{where}.hidden_size: {out['hidden_size']} is not a multiple of num_attention_heads "
                f"({out['num_attention_heads']}); set head_dim to choose the head size apart from the width"
            )
        out["head_dim"] = out["hidden_size"] // out["num_attention_heads"]
        if out["head_dim"] % 2:
            raise UserError(
                f"{where}.hidden_size: {out['hidden_size']} / num_attention_heads "
                f"({out['num_attention_heads']}) gives an odd head size {out['head_dim']}; rotary position "
                "embeddings need an even one (or set head_dim)"
            )
    if out["num_attention_heads"] % out["num_key_value_heads"]:
        raise UserError(
            f"{where}.num_key_value_heads: {out['num_key_value_heads']} does not divide num_attention_heads "
            f"({out['num_attention_heads']})"
        )
    return out


def init_std(hidden_size: int) -> float:
    """Standard deviation of the random initial weights: GPT-2's 0.02 at width 768, scaled as
    1/sqrt(width), so every width starts with activations of the same scale (0.02 at width 32 leaves
    tiny models on a long initial plateau: measured, the width-32 model's loss after 1M tokens is 0.92
    with 0.02 and 0.73 with this 0.098)."""
    return 0.02 * math.sqrt(768 / hidden_size)


def model_config(
    arch: dict[str, Any], tokenizer: Any, max_position_embeddings: int = 512, where: str = "models.sizes"
) -> Any:
    """A transformers Qwen3Config for `arch` with the tokenizer's vocabulary and special tokens.
    `where` names the architecture in errors (e.g. models.sizes.xs)."""
    from transformers import Qwen3Config

    arch = check_arch(arch, where)
    return Qwen3Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        initializer_range=init_std(arch["hidden_size"]),
        attention_dropout=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **arch,
    )


def build(
    arch: dict[str, Any], tokenizer: Any, seed: int = 0, where: str = "models.sizes", max_positions: int = 512
) -> Any:
    """A randomly initialised Qwen3ForCausalLM (float32), deterministic for `seed`, for sequences of up
    to `max_positions` tokens."""
    import torch
    from transformers import Qwen3ForCausalLM

    config = model_config(arch, tokenizer, max_positions, where)
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(config)


def count(model: Any) -> dict[str, int]:
    """{"N": all parameters, "N_nonembed": all but the (tied) embedding}."""
    from rlscaling.compute import count_parameters

    n, n_nonembed = count_parameters(model)
    return {"N": n, "N_nonembed": n_nonembed}
