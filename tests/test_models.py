"""Specification of rlscaling.models: Qwen3 causal LMs of the tiny family from an architecture dict."""

from __future__ import annotations

import pytest
import yaml
from helpers import FAMILY_TEST_ARCH

from rlscaling import models
from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT

ARCH = FAMILY_TEST_ARCH


class Tok:
    """The tokenizer attributes a model needs: vocabulary size and special token ids."""

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def __len__(self) -> int:
        return 300


def test_builds_a_qwen3_causal_lm_with_the_given_shape():
    model = models.build(ARCH, Tok())
    assert type(model).__name__ == "Qwen3ForCausalLM"
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads) == (16, 2, 2, 1)
    assert c.head_dim == 8  # hidden_size / num_attention_heads when head_dim is not set
    assert c.intermediate_size == 32 and c.vocab_size == 300
    assert (c.pad_token_id, c.bos_token_id, c.eos_token_id) == (0, 1, 2)


def test_head_dim_is_set_apart_from_the_width():
    """Width 48 with 4 heads of 32 (what vLLM's CPU attention serves): the projections are 48 -> 128."""
    model = models.build({**ARCH, "hidden_size": 48, "num_attention_heads": 4, "head_dim": 32}, Tok())
    attn = model.model.layers[0].self_attn
    assert model.config.head_dim == 32
    assert tuple(attn.q_proj.weight.shape) == (4 * 32, 48)
    assert tuple(attn.k_proj.weight.shape) == (1 * 32, 48)
    assert tuple(attn.o_proj.weight.shape) == (48, 4 * 32)


def test_every_size_of_the_default_family_has_head_dim_of_at_least_32():
    """vLLM's CPU attention rejects smaller heads (rlscaling.evaluate.vllm.CPU_HEAD_SIZES)."""
    from rlscaling.evaluate.vllm import CPU_HEAD_SIZES

    cfg = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    for name, arch in cfg["models"]["sizes"].items():
        assert models.check_arch(arch)["head_dim"] in CPU_HEAD_SIZES, name


def test_embeddings_are_tied_and_counted_once():
    model = models.build(ARCH, Tok())
    assert model.lm_head.weight is model.get_input_embeddings().weight
    n = models.count(model)
    assert n["N"] == sum(p.numel() for p in model.parameters())
    assert n["N"] - n["N_nonembed"] == 300 * 16


def test_same_seed_same_weights():
    import torch

    a, b, c = (
        models.build(ARCH, Tok(), seed=3),
        models.build(ARCH, Tok(), seed=3),
        models.build(ARCH, Tok(), seed=4),
    )
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=False))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters(), strict=False))


def test_the_default_family_spans_at_least_15x_in_parameters():
    """xs 5.3e4 .. l 8.3e5 (tied embeddings counted once): l has 4 layers, not 6, so that its base
    pass@1 stays below 0.60 (docs/results/tiny-calibration.md)."""
    cfg = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    counts = [models.count(models.build(a, Tok()))["N"] for a in cfg["models"]["sizes"].values()]
    assert counts == sorted(counts)
    assert counts[-1] >= 15 * counts[0]


@pytest.mark.parametrize(
    "change, key",
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_hidden_layers": "2"}, "num_hidden_layers"),
        ({"hidden_size": 15}, "hidden_size"),
        ({"num_key_value_heads": 3}, "num_key_value_heads"),
        ({"head_dim": 31}, "head_dim"),
        ({"head_dim": 0}, "head_dim"),
    ],
)
def test_bad_architecture_is_a_user_error_naming_the_key(change, key):
    with pytest.raises(UserError, match=f"models.sizes.xs.{key}"):
        models.check_arch({**ARCH, **change}, "models.sizes.xs")


def test_missing_key_is_a_user_error():
    arch = dict(ARCH)
    del arch["intermediate_size"]
    with pytest.raises(UserError, match="intermediate_size"):
        models.build(arch, Tok())
