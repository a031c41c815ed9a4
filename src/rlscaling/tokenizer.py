"""Stage `tokenizer`: the tiny family's tokenizer, trained on the pre-training corpus.

    rlscaling tokenizer --corpus pretrain_corpus.parquet --params-json '{"vocab_size": 512}' --out DIR

A byte-level BPE trained with exactly Qwen2's text pipeline (NFC, Qwen2's pre-tokenizer regex, which
isolates every digit, then byte-level), saved as a transformers Qwen2Tokenizer with a small vocabulary.
Digits are single tokens, so numbers are sequences of digits and arithmetic is learnable digit by digit.

Why Qwen2Tokenizer: AutoTokenizer on a folder whose config.json says `model_type: qwen2` builds a
Qwen2Tokenizer from the folder's vocabulary and merges whatever tokenizer_config.json declares, with
Qwen2's own pre-tokenizer. Training with that same pipeline makes the tokenizer folder, every model
folder, TRL (AutoTokenizer) and evaluation encode identically.

Special tokens: PAD (id 0), BOS (id 1), EOS (id 2), no UNK (byte-level covers every text). There is no
post-processor; special tokens are added explicitly, by pre-training (BOS + document + EOS) and by the
chat template, which renders BOS and then each message's content followed by "\\n" (the generation
prompt adds nothing). A user message of question Q therefore becomes "<BOS>Q\\n", exactly how a
pre-training document (rlscaling.data.synthetic.document) starts, and the model answers with the
solution and EOS. TRL (GRPO rollouts) and evaluation both call `apply_chat_template(...,
add_generation_prompt=True)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
CHAT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{{ message['content'] }}\n{% endfor %}"
MIN_VOCAB = 256 + 3  # the byte alphabet and the special tokens


def build(texts: Iterable[str], vocab_size: int = 512) -> Any:
    """A transformers Qwen2Tokenizer trained on `texts` (at most `vocab_size` tokens; fewer when the
    corpus has fewer distinct words to merge)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    if vocab_size < MIN_VOCAB:
        raise UserError(
            f"pretrain.vocab_size: {vocab_size} is below {MIN_VOCAB} (256 bytes + 3 special tokens)"
        )
    # the same pipeline as Qwen2Tokenizer.__init__, so the merges learnt here are the merges it applies
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    merges = [tuple(m) for m in json.loads(tok.to_str())["model"]["merges"]]
    return Qwen2Tokenizer(
        vocab=tok.get_vocab(),
        merges=merges,
        unk_token=None,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=2048,
    )


def save(tokenizer: Any, out: str | Path) -> None:
    """Save the tokenizer files to the folder `out` atomically (replacing an old one)."""
    from rlscaling.io import atomic_dir

    with atomic_dir(out) as tmp:
        tokenizer.save_pretrained(tmp)
