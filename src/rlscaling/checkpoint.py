"""Loading checkpoints the same way in every stage (training, evaluation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_tokenizer(model: str) -> Any:
    """The model's tokenizer.

    AutoTokenizer picks the tokenizer class from the model's `model_type` when tokenizer_config.json
    names a generic class, so a custom tokenizers-library tokenizer saved beside a Qwen2 model would be
    rebuilt as a Qwen2 byte-level tokenizer and encode differently. A local folder whose tokenizer
    declares `TokenizersBackend` / `PreTrainedTokenizerFast` is therefore loaded with that class as is.
    """
    from transformers import AutoTokenizer

    cfg_path = Path(model) / "tokenizer_config.json"
    if cfg_path.is_file():
        try:
            declared = json.loads(cfg_path.read_text()).get("tokenizer_class")
        except (json.JSONDecodeError, OSError):
            declared = None
        if declared in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(model)
    return AutoTokenizer.from_pretrained(model)
