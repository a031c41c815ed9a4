"""Builders shared by the tests and benchmarks/ (which import this file by path).

    build_tiny_model(out)                       the tests' model: hidden 16, 1 layer, 100-token vocab
    build_tiny_model(out, vocab_size=512, hidden_size=128, num_hidden_layers=6, ...)   a benchmark's
    char_tokenizer(vocab_size)                  the character-level tokenizer alone

Models are the product's: Qwen3 causal LMs built by rlscaling.models, so the tests run the architecture
the study trains and evaluates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPECIALS = ["<pad>", "<unk>", "<|im_end|>", "<|im_start|>"]
# ChatML, as the tiny family's tokenizer writes it (rlscaling.tokenizer)
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TESTS_ARCH = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}
# vLLM's CPU attention serves head sizes of 32 and more (rlscaling.evaluate.vllm.CPU_HEAD_SIZES): a head
# size the width would make smaller is set to this, so every test model can also be served by vLLM
MIN_HEAD_DIM = 32
# the tiny family's smallest test architecture (rlscaling.models; 2 layers of width 16), pre-trained in a
# couple of seconds on ~20k tokens by the pre-training and base-model-cache tests
FAMILY_TEST_ARCH = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 32,
}


def char_tokenizer(vocab_size: int | None = None) -> Any:
    """A character-level tokenizer (the specials, newline and printable ASCII; with the ChatML chat
    template). `vocab_size` pads the vocabulary with unused tokens `<x0>`, `<x1>`, ... (None: the 100
    real tokens)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = ["\n"] + [chr(i) for i in range(32, 127)]
    filler = [f"<x{i}>" for i in range((vocab_size or 0) - len(SPECIALS) - len(chars))]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars + filler)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"<\|im_(?:start|end)\|>|.|\n"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>"
    )
    hf_tok.chat_template = TEMPLATE
    return hf_tok


def build_tiny_model(
    out: Path, *, vocab_size: int | None = None, max_position_embeddings: int = 512, **arch: Any
) -> Path:
    """A random Qwen3 causal LM (rlscaling.models.build: seed 0, tied embeddings) and char_tokenizer's
    tokenizer, saved in HF format to `out`.

    `arch` is rlscaling.models architecture keys over TESTS_ARCH; intermediate_size defaults to
    2 x hidden_size and head_dim to hidden_size / num_attention_heads, at least MIN_HEAD_DIM.
    """
    from rlscaling import models

    tok = char_tokenizer(vocab_size)
    arch = {**TESTS_ARCH, **arch}
    arch.setdefault("intermediate_size", 2 * arch["hidden_size"])
    arch.setdefault("head_dim", max(MIN_HEAD_DIM, arch["hidden_size"] // arch["num_attention_heads"]))
    model = models.build(arch, tok, seed=0, where="build_tiny_model", max_positions=max_position_embeddings)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
