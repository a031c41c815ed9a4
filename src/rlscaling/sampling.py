"""Batched sampling from a Qwen3 causal LM with a preallocated KV cache and nothing else per token.

transformers' `generate` is general: per new token it runs the model's full module tree, mask and cache
bookkeeping, logits processors and stopping criteria. For the tiny family (widths 32-128) that Python
around a handful of small matrix products is most of the time of a rollout or an evaluation. `generate`
here computes the same distribution with the least per-token work: one prefill over the left-padded
prompts, then one step per token over a static cache, reading the weights of the transformers model in
place (a model that trains between calls is sampled with its current weights).

    sequences = generate(model, input_ids, attention_mask, generation_config)

Same contract as `model.generate(input_ids=..., attention_mask=..., generation_config=...)` for the
settings `supports` accepts: returns (B, P + n) token ids, the prompts (left-padded to P) then n <=
max_new_tokens new tokens; a row that produced an EOS is padded with pad_token_id after it; the loop ends
when every row has produced an EOS or after max_new_tokens. Sampling uses transformers' own logits
warpers (temperature, top-k, top-p) and torch.multinomial on the softmax, in the order `generate` uses
them and from the same global torch RNG; greedy decoding takes the argmax. Logits agree with
transformers' forward to float32 rounding (tests/test_sampling.py), so a sample differs from
`generate`'s only where rounding moves a draw across a boundary: same distribution, not the same bits.

`supports(model, generation_config)` is False for anything else (other architectures, sliding windows,
rotary scaling, beams, repetition penalties, ...); callers then use `model.generate`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

# GenerationConfig fields that must be at their neutral value for `generate` here to equal transformers'
_NEUTRAL = {
    "num_beams": (None, 1),
    "num_beam_groups": (None, 1),
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "min_new_tokens": (None, 0),
    "min_length": (None, 0),
    "min_p": (None,),
    "typical_p": (None, 1.0),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "top_h": (None,),
    "suppress_tokens": (None, []),
    "begin_suppress_tokens": (None, []),
    "bad_words_ids": (None,),
    "sequence_bias": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "encoder_repetition_penalty": (None, 1.0),
    "exponential_decay_length_penalty": (None,),
    "renormalize_logits": (None, False),
    "guidance_scale": (None, 1.0),
    "watermarking_config": (None,),
    "stop_strings": (None,),
    "max_length_tokens": (None,),
    "assistant_model": (None,),
}


def supports(model: Any, generation_config: Any) -> bool:
    """Whether `generate` computes what model.generate would for this model and these settings."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) != "qwen3":
        return False
    if getattr(config, "use_sliding_window", False) or getattr(config, "attention_bias", False):
        return False
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return False
    if not hasattr(model, "model") or not hasattr(model, "lm_head"):
        return False
    if generation_config.max_new_tokens is None:
        return False
    for key, neutral in _NEUTRAL.items():
        if getattr(generation_config, key, None) not in neutral:
            return False
    return True


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # as Qwen3RMSNorm, in float32
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _Qwen3:
    """The forward pass of a transformers Qwen3ForCausalLM over a static KV cache (B, KV heads, L, d)."""

    def __init__(self, model: Any, batch: int, max_len: int) -> None:
        c = model.config
        self.m, self.eps = model.model, c.rms_norm_eps
        self.lm_head = model.lm_head.weight
        self.H, self.KV, self.d = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        rope = getattr(c, "rope_parameters", None) or {}
        theta = float(rope.get("rope_theta", getattr(c, "rope_theta", 10000.0)))
        device, dtype = self.lm_head.device, self.lm_head.dtype
        self.inv_freq = 1.0 / (
            theta ** (torch.arange(0, self.d, 2, dtype=torch.int64, device=device).float() / self.d)
        )
        shape = (batch, self.KV, max_len, self.d)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.m.layers]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.m.layers]

    def rotary(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (B, 1, T, d) of positions (B, T)."""
        freqs = positions[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)[:, None]
        return emb.cos(), emb.sin()

    def forward(
        self, ids: torch.Tensor, positions: torch.Tensor, start: int, mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits (B, V) of the last of the T tokens ids (B, T) at cache slots start .. start+T-1, which
        attend to cache slots 0 .. start+T-1 where mask (B, 1, T, start+T) is True."""
        B, T = ids.shape
        H, KV, d = self.H, self.KV, self.d
        end = start + T
        cos, sin = self.rotary(positions)
        x = self.m.embed_tokens.weight[ids]  # (B, T, h)
        for i, layer in enumerate(self.m.layers):
            a = layer.self_attn
            h = _rms_norm(x, layer.input_layernorm.weight, self.eps)
            q = _rms_norm(F.linear(h, a.q_proj.weight).view(B, T, H, d), a.q_norm.weight, self.eps)
            k = _rms_norm(F.linear(h, a.k_proj.weight).view(B, T, KV, d), a.k_norm.weight, self.eps)
            v = F.linear(h, a.v_proj.weight).view(B, T, KV, d)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            self.k[i][:, :, start:end] = k * cos + _rotate_half(k) * sin
            self.v[i][:, :, start:end] = v
            if T == 1:  # one new token: (B, KV, H/KV, d) @ (B, KV, d, end) beats the fused kernel here
                qg = q.reshape(B, KV, H // KV, d)
                scores = torch.matmul(qg, self.k[i][:, :, :end].transpose(-1, -2)) * a.scaling
                scores = scores.masked_fill(~mask.view(B, 1, 1, end), float("-inf"))
                att = torch.matmul(scores.softmax(-1), self.v[i][:, :, :end]).reshape(B, H, 1, d)
            else:
                att = F.scaled_dot_product_attention(
                    q, self.k[i][:, :, :end], self.v[i][:, :, :end], attn_mask=mask, scale=a.scaling,
                    enable_gqa=H != KV,
                )  # fmt: skip
            x = x + F.linear(att.transpose(1, 2).reshape(B, T, H * d), a.o_proj.weight)
            h = _rms_norm(x, layer.post_attention_layernorm.weight, self.eps)
            mlp = layer.mlp
            x = x + F.linear(F.silu(F.linear(h, mlp.gate_proj.weight)) * F.linear(h, mlp.up_proj.weight),
                             mlp.down_proj.weight)  # fmt: skip
        x = _rms_norm(x[:, -1], self.m.norm.weight, self.eps)
        return F.linear(x, self.lm_head).float()


def _warpers(generation_config: Any) -> list[Any]:
    """transformers' logits warpers for the sampling settings, in `generate`'s order."""
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    g, out = generation_config, []
    if g.temperature is not None and g.temperature != 1.0:
        out.append(TemperatureLogitsWarper(g.temperature))
    if g.top_k is not None and g.top_k != 0:
        out.append(TopKLogitsWarper(top_k=g.top_k, min_tokens_to_keep=1))
    if g.top_p is not None and g.top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=g.top_p, min_tokens_to_keep=1))
    return out


@torch.inference_mode()
def generate(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, generation_config: Any
) -> torch.Tensor:
    """Sample continuations of the left-padded prompts input_ids (B, P) whose real tokens are where
    attention_mask (B, P) is 1; see the module docstring. Returns (B, P + n) token ids."""
    if not supports(model, generation_config):
        raise ValueError("rlscaling.sampling.generate: unsupported model or settings (see supports())")
    g = generation_config
    device = model.lm_head.weight.device
    ids, keep = input_ids.to(device), attention_mask.to(device).bool()
    B, P = ids.shape
    n_new = int(g.max_new_tokens)
    eos = g.eos_token_id if isinstance(g.eos_token_id, (list, tuple)) else [g.eos_token_id]
    eos = torch.tensor([e for e in eos if e is not None], device=device, dtype=torch.long)
    pad = g.pad_token_id if g.pad_token_id is not None else (int(eos[0]) if len(eos) else 0)
    sample = bool(g.do_sample)
    warpers = _warpers(g) if sample else []

    net = _Qwen3(model, B, P + n_new)
    positions = (keep.long().cumsum(-1) - 1).clamp(min=0)  # as generate: position ids count real tokens
    causal = torch.ones(P, P, dtype=torch.bool, device=device).tril()
    # a padding query attends to itself only (else its row would be all masked and NaN)
    mask = (causal & keep[:, None, :]) | torch.eye(P, dtype=torch.bool, device=device)
    logits = net.forward(ids, positions, 0, mask[:, None])
    out = torch.full((B, n_new), pad, dtype=torch.long, device=device)
    unfinished = torch.ones(B, dtype=torch.bool, device=device)
    key_ok = torch.cat([keep, torch.ones(B, n_new, dtype=torch.bool, device=device)], dim=1)
    position = positions[:, -1:]
    n = 0
    while True:
        if sample:
            scores = logits
            for w in warpers:
                scores = w(None, scores)
            token = torch.multinomial(F.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            token = logits.argmax(dim=-1)
        token = torch.where(unfinished, token, torch.full_like(token, pad))
        out[:, n] = token
        n += 1
        if len(eos):
            unfinished &= ~torch.isin(token, eos)
        if n == n_new or not bool(unfinished.any()):
            break
        position = position + 1
        logits = net.forward(token[:, None], position, P + n - 1, key_ok[:, None, None, : P + n])
    return torch.cat([ids, out[:, :n]], dim=1)


def _fast_generate(model: Any, input_ids=None, attention_mask=None, generation_config=None, **kwargs):
    """model.generate as `use_for` installs it: a method of the model, so a deep copy samples its own
    weights."""
    if (
        not kwargs
        and input_ids is not None
        and attention_mask is not None
        and generation_config is not None
        and supports(model, generation_config)
    ):
        return generate(model, input_ids, attention_mask, generation_config)
    return type(model).generate(
        model,
        input_ids=input_ids,
        attention_mask=attention_mask,
        generation_config=generation_config,
        **kwargs,
    )


def use_for(model: Any) -> Any:
    """Make model.generate sample through `generate` whenever `supports` it (the call passes the prompts,
    their mask and a generation config only), and through transformers' generate otherwise: for code that
    calls model.generate itself (TRL's GRPOTrainer, the hf evaluation engine). Returns the model."""
    import types

    model.generate = types.MethodType(_fast_generate, model)
    return model
