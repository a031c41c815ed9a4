"""What every generation engine shares: the Generation record, the Engine protocol, prompt encoding
(chat template) and the tokenizer set-up (EOS ids, pad id, prompt format). The engines:
rlscaling.evaluate.hf (transformers) and rlscaling.evaluate.vllm (vLLM, GPU or its CPU build)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rlscaling.errors import UserError


# --------------------------------------------------------------------------------------------------
# generation engines


@dataclass(frozen=True)
class Generation:
    """One sampled response."""

    text: str
    n_tokens: int  # generated tokens, the EOS token excluded
    finished: bool  # ended with EOS (False: cut at max_response_tokens)


class Engine(Protocol):
    def generate(
        self, prompts: Sequence[list[dict[str, str]]], n: int, desc: str = ""
    ) -> list[list[Generation]]:
        """n samples for each chat prompt: result[i][j] is sample j of prompt i."""
        ...


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a chat prompt: the chat template with the generation prompt appended (plain
    newline-joined contents when the tokenizer has no template)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        text = "\n".join(m["content"] for m in messages) + "\n"
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def eos_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """EOS ids: the tokenizer's plus the model's generation config's (which may list several)."""
    ids: list[int] = []
    for value in (getattr(generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and int(v) not in ids:
                ids.append(int(v))
    return ids


@dataclass(frozen=True)
class TokenizerSetup:
    """What an engine takes from the model's tokenizer: the tokenizer, the EOS ids generation stops at
    (eos_token_ids), the pad id (the tokenizer's, else the first EOS id) and how prompts are rendered
    ("chat_template" when the tokenizer has one, else "plain": encode_prompt)."""

    tokenizer: Any
    eos_ids: list[int]
    pad_id: int
    prompt_format: str


def tokenizer_setup(model: str, tokenizer: Any, generation_config: Any = None) -> TokenizerSetup:
    """The tokenizer set-up of `model` (named in errors) for an engine. UserError when neither the
    tokenizer nor the generation config defines an EOS id (generation could never stop)."""
    eos_ids = eos_token_ids(tokenizer, generation_config)
    if not eos_ids:
        raise UserError(f"--model {model}: the tokenizer defines no eos_token")
    pad = tokenizer.pad_token_id
    return TokenizerSetup(
        tokenizer=tokenizer,
        eos_ids=eos_ids,
        pad_id=int(pad) if pad is not None else eos_ids[0],
        prompt_format="chat_template" if getattr(tokenizer, "chat_template", None) else "plain",
    )
