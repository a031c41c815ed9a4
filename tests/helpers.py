"""Builders shared by the tests and benchmarks/ (which import this file by path).

    build_tiny_model(out)                       the tests' model: hidden 16, 1 layer, 99-token vocab
    build_tiny_model(out, vocab_size=512, hidden_size=128, num_hidden_layers=6, ...)   a benchmark's
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
# the tiny family's smallest test architecture (rlscaling.models; 2 layers of width 16), pre-trained in a
# couple of seconds on ~20k tokens by the pre-training and base-model-cache tests
FAMILY_TEST_ARCH = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 32,
}


def build_tiny_model(
    out: Path, *, vocab_size: int | None = None, max_position_embeddings: int = 512, **arch: Any
) -> Path:
    """A random Qwen2 causal LM (torch seed 0, tied embeddings) and a character-level tokenizer (the
    specials, newline and printable ASCII; with the ChatML chat template) saved in HF format to `out`.

    `vocab_size` pads the vocabulary with unused tokens `<x0>`, `<x1>`, ... (None: the 99 real tokens);
    `arch` is Qwen2Config keys over TESTS_ARCH, intermediate_size defaulting to 2 x hidden_size.
    """
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

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
    arch = {**TESTS_ARCH, **arch}
    arch.setdefault("intermediate_size", 2 * arch["hidden_size"])
    cfg = Qwen2Config(
        vocab_size=len(vocab),
        max_position_embeddings=max_position_embeddings,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=True,
        **arch,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out
