"""Stage `pretrain`: pre-train one size of the tiny model family from scratch.

    rlscaling pretrain --corpus pretrain_corpus.parquet --tokenizer DIR --params-json JSON \\
        --threads 1 --out models/{size}/base --record models/{size}/pretrain.json [--cache DIR]

JSON = {"arch": {hidden_size, num_hidden_layers, ...}, "pretrain": {tokens, seq_len, batch_size, lr,
warmup_steps, weight_decay, vocab_size}, "seed": int, "size": name}.

A plain training loop, readable top to bottom:
- documents are BOS + text + EOS; the last HELDOUT_FRACTION of them (at most HELDOUT_MAX_DOCS) are
  kept out of training for the held-out loss;
- every epoch shuffles the training documents (seeded), concatenates them and cuts the stream into
  rows of seq_len tokens (packed; the loss is on every token). Position ids restart at every BOS, which
  makes transformers attend block-diagonally: a document sees only itself, as a prompt does at RL /
  evaluation time (tiny models also learn to copy numbers from the question sooner that way);
- AdamW (weight decay on matrices only), linear warmup then cosine decay to MIN_LR_RATIO * lr,
  gradient clipping at 1.0, float32. With `lr_base_width` set, a size of hidden_size h trains at
  lr * lr_base_width / h (narrow models need larger steps, wide ones smaller);
- `pretrain.tokens` is rounded up to whole optimizer steps of batch_size x seq_len tokens;
- with `seed_candidates` k > 1, k runs (seeds seed, seed+1, ..., seed+k-1) train side by side for the
  first `probe_fraction` of the steps; the one with the lowest held-out loss then trains to the end
  and the others are dropped. The kept model is the same as a single run with its seed. Why: at this
  scale a multi-step skill appears suddenly and at a seed-dependent point (the same size ends at a
  held-out loss of 0.51 or 0.57 depending on the seed), and the loss gap shows early (0.665 vs 0.73 at
  30% of the tokens). Cost: (1 + probe_fraction (k - 1)) times one run.
Deterministic for a given seed and thread count. Writes the Hugging Face model folder (config,
safetensors, tokenizer files, generation_config with bos / eos / pad) atomically, and pretrain.json
(N, N_nonembed, tokens, FLOPs = 6 N tokens of the kept run, FLOPs of the dropped candidates' probes,
seconds, tokens/s, final training loss, held-out loss, loss curve as [tokens, loss] pairs, the
candidates' probe losses, architecture, settings).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError

DEFAULTS: dict[str, Any] = {
    "tokens": 2_000_000,
    "seq_len": 128,
    "batch_size": 32,
    "lr": 3e-3,
    "warmup_steps": 50,
    "weight_decay": 0.1,
    "vocab_size": 512,
    "lr_base_width": None,
    "seed_candidates": 1,
    "probe_fraction": 0.3,
}
HELDOUT_FRACTION = 0.02
HELDOUT_MAX_DOCS = 500
MIN_LR_RATIO = 0.1
CURVE_POINTS = 100  # about this many [tokens, loss] points in the loss curve


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """The pre-training settings of `params["pretrain"]` with defaults; UserError naming a bad key."""
    s = {**DEFAULTS, **(params.get("pretrain") or {})}
    for key in ("tokens", "seq_len", "batch_size"):
        if not isinstance(s[key], int) or s[key] < 1:
            raise UserError(f"pretrain.{key}: expected a positive integer, got {s[key]!r}")
    if not isinstance(s["warmup_steps"], int) or s["warmup_steps"] < 0:
        raise UserError(f"pretrain.warmup_steps: expected a non-negative integer, got {s['warmup_steps']!r}")
    for key in ("lr", "weight_decay"):
        if not isinstance(s[key], (int, float)) or s[key] < 0 or (key == "lr" and s[key] == 0):
            raise UserError(f"pretrain.{key}: expected a positive number, got {s[key]!r}")
    if not isinstance(s["seed_candidates"], int) or s["seed_candidates"] < 1:
        raise UserError(
            f"pretrain.seed_candidates: expected a positive integer, got {s['seed_candidates']!r}"
        )
    if not isinstance(s["probe_fraction"], (int, float)) or not 0 < s["probe_fraction"] < 1:
        raise UserError(f"pretrain.probe_fraction: expected a number in (0, 1), got {s['probe_fraction']!r}")
    base = s["lr_base_width"]
    if base is not None and (not isinstance(base, int) or base < 1):
        raise UserError(f"pretrain.lr_base_width: expected a positive integer or null, got {base!r}")
    return s


def size_lr(s: dict[str, Any], hidden_size: int) -> float:
    """Peak learning rate of a size: pretrain.lr, or with pretrain.lr_base_width set, lr scaled by
    lr_base_width / hidden_size (muP-style 1/width: narrow models need a larger step to learn in the
    few thousand steps of the tiny study, wide ones a smaller one to learn at all)."""
    if s["lr_base_width"] is None:
        return float(s["lr"])
    return float(s["lr"]) * s["lr_base_width"] / hidden_size


def lr_at(step: int, total: int, lr: float, warmup: int) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup, then cosine to MIN_LR_RATIO*lr."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * (MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def encode_documents(texts: list[str], tokenizer: Any) -> list[list[int]]:
    """Token ids of each document: BOS + text + EOS (how the chat template frames a prompt)."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[tokenizer.bos_token_id, *x, tokenizer.eos_token_id] for x in ids]


def pack(docs: list[list[int]], seq_len: int) -> Any:
    """The documents concatenated and cut into rows of seq_len tokens (the remainder is dropped)."""
    import torch

    stream = torch.tensor([t for d in docs for t in d], dtype=torch.long)
    rows = len(stream) // seq_len
    return stream[: rows * seq_len].view(rows, seq_len)


def batches(docs: list[list[int]], seq_len: int, batch_size: int, steps: int, seed: int):
    """`steps` batches of (batch_size, seq_len) token ids; each epoch reshuffles the documents."""
    import torch

    g = torch.Generator().manual_seed(seed)
    done, epoch = 0, 0
    while done < steps:
        order = torch.randperm(len(docs), generator=g).tolist()
        rows = pack([docs[i] for i in order], seq_len)
        if len(rows) < batch_size:
            raise UserError(
                f"--corpus: {len(rows)} rows of pretrain.seq_len tokens, fewer than pretrain.batch_size "
                f"({batch_size}); use a larger corpus (data.synthetic.n_pretrain)"
            )
        for start in range(0, len(rows) - batch_size + 1, batch_size):
            if done == steps:
                return
            yield epoch, rows[start : start + batch_size]
            done += 1
        epoch += 1


def document_positions(x: Any, bos_id: int) -> Any:
    """Position ids that restart at 0 at every BOS. Given with attention_mask=None, transformers turns
    them into a block-diagonal causal mask: a packed document attends only to itself, as a prompt
    does at RL / evaluation time (it starts at position 0 with BOS and nothing before it)."""
    import torch

    steps = torch.arange(x.shape[1]).expand_as(x)
    last_bos = torch.where(x == bos_id, steps, torch.zeros_like(steps)).cummax(dim=1).values
    return steps - last_bos


def forward_loss(model: Any, x: Any, bos_id: int) -> Any:
    """Mean next-token loss on every token of the packed rows x (documents attend only to themselves)."""
    return model(input_ids=x, labels=x, position_ids=document_positions(x, bos_id), use_cache=False).loss


def mean_loss(model: Any, rows: Any, batch_size: int, bos_id: int) -> float:
    """Mean next-token loss (nats per token) of the model on packed rows."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            x = rows[start : start + batch_size]
            n = x.shape[0] * (x.shape[1] - 1)
            total += float(forward_loss(model, x, bos_id)) * n
            count += n
    model.train()
    return total / max(1, count)


class _Run:
    """One seed's model, AdamW optimizer and batch stream, trained a step at a time (see pretrain)."""

    def __init__(
        self, arch: dict, tokenizer: Any, seed: int, where: str, s: dict, steps: int, docs: list
    ) -> None:
        import torch

        from rlscaling import models

        self.seed, self.steps, self.s, self.bos_id = seed, steps, s, tokenizer.bos_token_id
        self.model = models.build(arch, tokenizer, seed, where, max_positions=max(512, s["seq_len"]))
        self.model.train()
        self.lr = size_lr(s, arch["hidden_size"])
        matrices = [p for p in self.model.parameters() if p.dim() >= 2]
        vectors = [p for p in self.model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": matrices, "weight_decay": s["weight_decay"]},
                {"params": vectors, "weight_decay": 0.0},
            ],
            lr=self.lr,
            betas=(0.9, 0.95),
            eps=1e-8,
        )
        self.stream = batches(docs, s["seq_len"], s["batch_size"], steps, seed)
        self.step = 0
        self.curve: list[list[float]] = []  # [tokens, mean training loss since the last point]
        self.window: list[float] = []

    def train_to(self, until: int, bar: Any) -> None:
        """Optimizer steps self.step .. until-1 (linear warmup, cosine decay over all `steps`)."""
        import torch

        every = max(1, self.steps // CURVE_POINTS)
        tokens_per_step = self.s["seq_len"] * self.s["batch_size"]
        for step in range(self.step, until):
            _, x = next(self.stream)
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(step, self.steps, self.lr, self.s["warmup_steps"])
            loss = forward_loss(self.model, x, self.bos_id)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.window.append(loss.item())
            if (step + 1) % every == 0 or step + 1 == self.steps:
                self.curve.append([(step + 1) * tokens_per_step, sum(self.window) / len(self.window)])
                bar.set_postfix(seed=self.seed, loss=f"{self.curve[-1][1]:.3f}", refresh=False)
                self.window = []
            bar.update(1)
        self.step = until


def pretrain(
    texts: list[str], tokenizer: Any, params: dict[str, Any], out: str | Path, threads: int = 1
) -> dict[str, Any]:
    """Pre-train `params["arch"]` on the documents `texts`, save the model folder to `out` and return
    the record (see the module docstring)."""
    import torch
    from tqdm import tqdm

    from rlscaling import compute, models
    from rlscaling.checkpoint import write_manifest
    from rlscaling.io import atomic_dir

    s = settings(params)
    seed = int(params.get("seed", 0))
    torch.set_num_threads(max(1, int(threads)))
    t0 = time.perf_counter()

    # data: BOS + text + EOS documents, the last few held out
    docs = encode_documents(texts, tokenizer)
    n_held = min(HELDOUT_MAX_DOCS, int(len(docs) * HELDOUT_FRACTION))
    train_docs, held_docs = docs[: len(docs) - n_held], docs[len(docs) - n_held :]
    if not train_docs:
        raise UserError("--corpus: no documents")
    seq_len, batch_size = s["seq_len"], s["batch_size"]
    tokens_per_step = seq_len * batch_size
    steps = math.ceil(s["tokens"] / tokens_per_step)
    held_rows = pack(held_docs, seq_len) if held_docs else None

    def heldout_loss(run: _Run) -> float | None:
        if held_rows is None or not len(held_rows):
            return None
        loss = mean_loss(run.model, held_rows, batch_size, tokenizer.bos_token_id)
        run.model.train()
        return loss

    # candidates: k seeds for the probe steps, then the best one to the end
    where = f"models.sizes.{params.get('size')}"
    arch = models.check_arch(params.get("arch") or {}, where)
    k = s["seed_candidates"]
    probe = max(1, min(steps, round(s["probe_fraction"] * steps))) if k > 1 else 0
    t_train = time.perf_counter()
    bar = tqdm(
        total=steps + probe * (k - 1),
        desc=f"pretrain {params.get('size', '')}",
        file=sys.stderr,
        mininterval=5.0,
    )
    candidates = []
    if k > 1:
        if held_rows is None or not len(held_rows):
            raise UserError("pretrain.seed_candidates > 1 needs held-out documents: use a larger corpus")
        for j in range(k):
            run = _Run(arch, tokenizer, seed + j, where, s, steps, train_docs)
            run.train_to(probe, bar)
            candidates.append((heldout_loss(run), run))
        candidates.sort(key=lambda c: c[0])
        best = candidates[0][1]
    else:
        best = _Run(arch, tokenizer, seed, where, s, steps, train_docs)
    best.train_to(steps, bar)
    bar.close()
    model = best.model
    counts = models.count(model)
    train_seconds = time.perf_counter() - t_train
    tokens = steps * tokens_per_step
    probe_tokens = probe * tokens_per_step * (k - 1)

    # save: model, tokenizer, generation config
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_manifest(tmp)  # sizes and sha256 of every file, checked by whoever loads the base model

    return {
        "size": params.get("size"),
        "N": counts["N"],
        "N_nonembed": counts["N_nonembed"],
        "tokens": tokens,
        "flops": compute.pretrain_flops(counts["N"], tokens),
        "flops_dropped_candidates": compute.pretrain_flops(counts["N"], probe_tokens),
        "seconds": round(time.perf_counter() - t0, 3),
        "train_seconds": round(train_seconds, 3),
        "tokens_per_second": round((tokens + probe_tokens) / train_seconds, 1),
        "final_loss": best.curve[-1][1],
        "heldout_loss": heldout_loss(best),
        "heldout_documents": len(held_docs),
        "steps": steps,
        "lr": best.lr,
        "loss_curve": best.curve,
        "candidates": [
            {"seed": run.seed, "probe_steps": probe, "probe_heldout_loss": loss} for loss, run in candidates
        ],
        "arch": dict(params.get("arch") or {}),
        "pretrain": s,
        "seed": best.seed,
        "threads": int(threads),
    }
