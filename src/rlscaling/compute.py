"""Compute accounting, used by every stage (one definition of FLOPs for the whole project).

Conventions (units: FLOPs, tokens, parameters):
- N is the total parameter count; N_nonembed excludes the input embedding (and an untied output
  head counts as non-embedding compute, as in Kaplan et al.). Both are recorded; the paper's
  compute axis uses N.
- One RL step, the paper's convention: C_step = 6 * N * T, where T = prompt + response tokens of all
  rollouts of the step. This is what `C` means in curves.parquet, so our numbers compare with
  arXiv 2509.25300.
- The fuller count of the same step: 2*N*T_gen (sampling forward passes) + 2*N*T_ref (reference /
  old-policy log-probs) + 6*N*T_train (policy forward + backward).
- Pre-training: C_pretrain = 6 * N * D_pretrain tokens.
"""

from __future__ import annotations

from typing import Any


def rl_flops(n_params: Any, tokens: Any) -> Any:
    """Paper-convention RL FLOPs of `tokens` rollout tokens (prompt + response, of one step or
    cumulative): 6 * N * tokens. Elementwise on numpy arrays and pandas Series (imported curves)."""
    return 6.0 * n_params * tokens


def rl_step_flops(n_params: float, prompt_tokens: float, response_tokens: float) -> float:
    """Paper-convention FLOPs of one RL step: 6 * N * (prompt + response tokens of all rollouts)."""
    return rl_flops(float(n_params), float(prompt_tokens) + float(response_tokens))


def rl_step_flops_full(
    n_params: float, gen_tokens: float, ref_tokens: float, train_tokens: float
) -> float:
    """Fuller FLOPs of one RL step: 2*N*T_gen + 2*N*T_ref + 6*N*T_train (tokens processed)."""
    n = float(n_params)
    return 2.0 * n * float(gen_tokens) + 2.0 * n * float(ref_tokens) + 6.0 * n * float(train_tokens)


def pretrain_flops(n_params: float, tokens: float) -> float:
    """Pre-training FLOPs: 6 * N * D (D in tokens)."""
    return 6.0 * float(n_params) * float(tokens)


def count_parameters(model: Any) -> tuple[int, int]:
    """(N, N_nonembed) of a torch model: all parameters, and all but the input embedding.

    Tied output heads share the embedding's storage and are counted once.
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
    embed = model.get_input_embeddings().weight.numel() if hasattr(model, "get_input_embeddings") else 0
    return int(total), int(total - embed)
