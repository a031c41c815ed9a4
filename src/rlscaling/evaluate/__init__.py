"""Stage 4: evaluate one checkpoint on benchmarks (pass@1, unbiased pass@k, format rate, lengths).

    rlscaling evaluate --model DIR_OR_HUB_ID --bench B1.parquet [B2.parquet ...] \
        --params-json '{"engine": "hf", "n_samples": 4, "pass_k": [1, 2, 4], ...}' \
        --threads 1 --out-dir results/S/eval/RUN/step_000010

For each benchmark (named by the parquet's file stem) it writes, atomically:
- `{out_dir}/{bench}.json`: the summary (metrics with the sampling settings that produced them);
- `{out_dir}/{bench}.samples.parquet`: one row per (problem, sample) with the response, its token count,
  whether it ended with EOS, and the scorer's verdict.

Benchmarks are in verl's RL schema: `prompt` (chat messages {role, content}), `data_source`,
`reward_model.ground_truth` (or a flat `ground_truth` column), `extra_info.index` / `.difficulty`.
Answers are checked with rlscaling.rewards (the same checker as the training reward); model output is
untrusted text and is only ever parsed, never executed.

Engines:
- `hf`: transformers `generate` with KV cache, left padding, prompts sorted by length and batched
  (`batch_size` sequences per batch; the n samples of a problem are n copies of its prompt). CPU or GPU.
- `vllm`: vllm.LLM, in rlscaling.evaluate.vllm: on GPUs, or on the CPU with vLLM's CPU build (the
  engines environment; `rlscaling evaluate` re-runs itself there when this environment has no vLLM).
  Its arguments are built by pure functions, tested without vllm; vllm is imported only when it runs.

The package: params (EvalParams), bench (benchmark files, scorer per problem), engines (what every
engine shares), hf, vllm, summary (scoring, pass@k, the summary JSON), run (one checkpoint on its
benchmarks), memo (a training segment's evaluation of its own checkpoint), cli.

Sampling is seeded once (`torch.manual_seed(seed)` before the first benchmark): the same inputs give
the same samples. `greedy: true` decodes greedily and forces n_samples to 1 (the json says so); pass@k
for k > 1 then equals pass@1, since every further sample would be the same.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it. Imported on first use (PEP 562), so that `rlscaling evaluate`
# copying a memo (rlscaling.evaluate.memo) starts without torch.
_WHERE = {
    "Bench": "bench",
    "Problem": "bench",
    "load_bench": "bench",
    "resolve_scorers": "bench",
    "add_arguments": "cli",
    "main": "cli",
    "make_engine": "run",
    "evaluate_checkpoint": "run",
    "Engine": "engines",
    "Generation": "engines",
    "TokenizerSetup": "engines",
    "encode_prompt": "engines",
    "eos_token_ids": "engines",
    "tokenizer_setup": "engines",
    "HFEngine": "hf",
    "batch_plan": "hf",
    "hf_generation_kwargs": "hf",
    "DEFAULT_BATCH_SIZE": "params",
    "ENGINES": "params",
    "EvalParams": "params",
    "parse_params": "params",
    "difficulty_bins": "summary",
    "evaluate_bench": "summary",
    "score_samples": "summary",
    "step_from_dir": "summary",
    "summarize": "summary",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'rlscaling.evaluate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rlscaling.evaluate.{_WHERE[name]}"), name)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ENGINES",
    "Bench",
    "Engine",
    "EvalParams",
    "Generation",
    "HFEngine",
    "Problem",
    "TokenizerSetup",
    "add_arguments",
    "batch_plan",
    "difficulty_bins",
    "encode_prompt",
    "eos_token_ids",
    "evaluate_bench",
    "evaluate_checkpoint",
    "hf_generation_kwargs",
    "load_bench",
    "main",
    "make_engine",
    "parse_params",
    "resolve_scorers",
    "score_samples",
    "step_from_dir",
    "summarize",
    "tokenizer_setup",
]
