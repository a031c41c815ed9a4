"""The `hf` engine: transformers `generate` with KV cache, left padding, prompts sorted by length and
batched (`batch_size` sequences per batch; the n samples of a problem are n copies of its prompt).
CPU or GPU."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rlscaling import sampling
from rlscaling.checkpoint import load_tokenizer
from rlscaling.errors import UserError
from rlscaling.evaluate.engines import Generation, encode_prompt, tokenizer_setup
from rlscaling.evaluate.params import EvalParams


def hf_generation_kwargs(params: EvalParams, pad_token_id: int, eos_ids: list[int]) -> dict[str, Any]:
    """Arguments of transformers.GenerationConfig for `params` (pure; no model defaults leak in:
    top_k is disabled and no repetition penalty applies, so sampling is plain temperature / top-p)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": params.max_response_tokens,
        "pad_token_id": pad_token_id,
        "eos_token_id": eos_ids,
        "use_cache": True,
        "num_beams": 1,
    }
    if params.greedy:
        kwargs.update(do_sample=False)
    else:
        kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
    return kwargs


def batch_plan(lengths: Sequence[int], n: int, batch_size: int) -> list[list[tuple[int, int]]]:
    """Batches of (prompt, sample) jobs: prompts sorted by token length (stable), each repeated n
    times, cut into batches of `batch_size` sequences, so a batch holds prompts of similar length."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    jobs = [(i, j) for i in order for j in range(n)]
    return [jobs[s : s + batch_size] for s in range(0, len(jobs), batch_size)]


class HFEngine:
    """transformers generate: batched, left-padded, KV-cached; CUDA when available, else CPU."""

    def __init__(self, model: str, params: EvalParams, threads: int = 1) -> None:
        import torch
        from transformers import AutoModelForCausalLM, GenerationConfig

        self.torch = torch
        self.params = params
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = (
            torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        )
        try:
            tokenizer = load_tokenizer(model)
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
            sampling.use_for(self.model)  # Qwen3 (the tiny family): the same tokens, less work per token
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - OSError, ValueError, safetensors' SafetensorError (a
            # truncated weights file in a folder without a manifest), ...: name the folder, no traceback
            raise UserError(
                f"--model {model}: cannot load a causal LM and tokenizer ({type(err).__name__}: {err})"
            ) from None
        setup = tokenizer_setup(model, tokenizer, getattr(self.model, "generation_config", None))
        self.tokenizer, self.eos_ids, self.pad_id = setup.tokenizer, setup.eos_ids, setup.pad_id
        self.prompt_format = setup.prompt_format
        kwargs = hf_generation_kwargs(params, self.pad_id, self.eos_ids)
        if self.device.type == "cpu":
            # a preallocated KV cache saves the per-token torch.cat of the dynamic cache: ~10% faster
            # on CPU (benchmarks/bench_evaluate.py), same tokens
            kwargs["cache_implementation"] = "static"
        self.generation_config = GenerationConfig(**kwargs)

    def generate(
        self, prompts: Sequence[list[dict[str, str]]], n: int, desc: str = ""
    ) -> list[list[Generation]]:
        from tqdm import tqdm

        torch = self.torch
        encoded = [encode_prompt(self.tokenizer, m) for m in prompts]
        out: list[list[Generation | None]] = [[None] * n for _ in prompts]
        eos = torch.tensor(self.eos_ids, device=self.device)
        with tqdm(total=len(prompts) * n, desc=desc, unit="sample", file=sys.stderr, mininterval=5.0) as bar:
            for batch in batch_plan([len(e) for e in encoded], n, self.params.batch_size):
                width = max(len(encoded[i]) for i, _ in batch)
                ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, (i, _) in enumerate(batch):
                    seq = encoded[i]
                    ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
                    mask[row, width - len(seq) :] = 1
                with torch.inference_mode():
                    seqs = self.model.generate(
                        input_ids=ids.to(self.device),
                        attention_mask=mask.to(self.device),
                        generation_config=self.generation_config,
                    )
                new = seqs[:, width:]
                is_eos = torch.isin(new, eos)
                has_eos = is_eos.any(dim=1)
                first = torch.where(
                    has_eos,
                    is_eos.int().argmax(dim=1),
                    torch.full_like(has_eos, new.shape[1], dtype=torch.long),
                )
                token_lists = [new[r, : int(first[r])].tolist() for r in range(len(batch))]
                texts = self.tokenizer.batch_decode(token_lists, skip_special_tokens=True)
                for row, (i, j) in enumerate(batch):
                    out[i][j] = Generation(
                        text=texts[row], n_tokens=len(token_lists[row]), finished=bool(has_eos[row])
                    )
                bar.update(len(batch))
        return out  # type: ignore[return-value]
