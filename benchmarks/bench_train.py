"""Benchmark of the `trl` training engine: seconds per GRPO step, split into generation and update,
and the FLOP/s each achieves against this CPU's peak.

    .venv/bin/python benchmarks/bench_train.py                      # ~2M-parameter model, 1 thread
    .venv/bin/python benchmarks/bench_train.py --size l --steps 4   # a size of config.yaml
    .venv/bin/python benchmarks/bench_train.py --json out.json      # also write the numbers

It builds a random Qwen2 model (vocab 512, like the tiny family) with a character-level tokenizer and
chat template, ~30-token arithmetic prompts, and runs one segment of `--warmup + --steps` GRPO steps with
the real engine (rlscaling.train.trl_engine, 16 prompts x 8 rollouts, responses up to 48 tokens, seed 0).
A random model rarely samples EOS, so most responses run to the 48-token limit: the worst case for
generation. Warm-up steps are excluded (the first step of a process pays for page-faulting ~1 GB of
fresh activation memory).

Per step it reports (medians over the measured steps):
- generation: sampling (model.generate with KV cache, all 128 rollouts in one batch) and the rest of the
  rollout phase (tokenizing, decoding, rewards, advantages);
- update: loss forward (policy log-probs + entropy), backward, optimizer (AdamW), other (clipping, LR
  schedule, callbacks, metrics);
- FLOPs from rlscaling.compute: generation 2·N·(prompt + response tokens) (rl_step_flops_full with
  T_gen only), update 6·N·(prompt + response tokens) (rl_step_flops, the paper's convention), counting
  real tokens, not padding;
- peak: the best of 5 timed float32 torch.mm(2048 x 2048) (2·2048³ FLOPs) at the same thread count —
  the machine's practical float32 matmul peak, not its datasheet number.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

SPECIALS = ["<pad>", "<unk>", "<|im_end|>", "<|im_start|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# ~2M parameters with vocab 512 (the default study's largest size `l` has ~1.3M)
DEFAULT_ARCH = dict(
    hidden_size=160, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2, intermediate_size=480
)


def peak_flops(threads: int, n: int = 2048) -> float:
    """FLOP/s of the best of 5 float32 n x n matmuls at `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(5))
    return 2.0 * n**3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def build_model(out: Path, arch: dict, vocab_size: int = 512) -> Path:
    """A random Qwen2 causal LM and a character-level tokenizer padded to `vocab_size` tokens."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    chars = ["\n"] + [chr(i) for i in range(32, 127)]
    extra = [f"<x{i}>" for i in range(vocab_size - len(SPECIALS) - len(chars))]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars + extra)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"<\|im_(?:start|end)\|>|.|\n"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>"
    )
    hf_tok.chat_template = TEMPLATE
    cfg = Qwen2Config(
        vocab_size=len(vocab),
        max_position_embeddings=256,
        tie_word_embeddings=True,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<pad>"],
        **arch,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out


def write_prompts(path: Path, n: int, seed: int = 0) -> Path:
    """n arithmetic prompts (~30 tokens with the chat template) in the verl RL schema."""
    import pandas as pd

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        rows.append(
            {
                "data_source": "bench",
                "prompt": [{"role": "user", "content": f"What is {a}+{b}?"}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": {"index": i},
                "ground_truth": str(a + b),
            }
        )
    pd.DataFrame(rows).to_parquet(path)
    return path


def overlap_reward(prompts, completions, ground_truth, **kwargs) -> list[float]:
    """Cheap stand-in reward: fraction of the answer's characters present in the response."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [sum(ch in t for ch in gt) / len(gt) for t, gt in zip(texts, ground_truth, strict=True)]


def instrument(trl_engine, profile_step: int = 0) -> list[dict[str, float]]:
    """Time the update's phases by wrapping the engine's trainer and callback; returns the per-step list.
    With profile_step > 0, also print torch.profiler's top operators of that step's update."""
    steps: list[dict[str, float]] = []
    cur: dict[str, float] = collections.defaultdict(float)

    def wrap(cls, name, key):
        orig = getattr(cls, name)

        def timed(self, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return orig(self, *args, **kwargs)
            finally:
                cur[key] += time.perf_counter() - t0

        setattr(cls, name, timed)

    wrap(trl_engine.SegmentTrainer, "compute_loss", "forward")
    if profile_step:
        training_step = trl_engine.SegmentTrainer.training_step

        def profiled(self, model, inputs, *args, **kwargs):
            if len(steps) + 1 != profile_step:
                return training_step(self, model, inputs, *args, **kwargs)
            import torch.profiler

            inputs = self._prepare_inputs(inputs)  # the rollout, outside the profile
            self._prepare_inputs = lambda batch: batch
            try:
                with torch.profiler.profile() as prof:
                    out = training_step(self, model, inputs, *args, **kwargs)
            finally:
                del self._prepare_inputs
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14), file=sys.stderr)
            return out

        trl_engine.SegmentTrainer.training_step = profiled
    wrap(trl_engine.SegmentTrainer, "training_step", "training_step")  # rollout + forward + backward
    rec = trl_engine._Recorder
    rec.on_pre_optimizer_step = lambda self, *a, **k: cur.__setitem__("_opt0", time.perf_counter())
    rec.on_optimizer_step = lambda self, *a, **k: cur.__setitem__(
        "optimizer", time.perf_counter() - cur["_opt0"]
    )
    end = rec.on_step_end

    def on_step_end(self, *args, **kwargs):
        out = end(self, *args, **kwargs)
        steps.append(dict(cur))
        cur.clear()
        return out

    rec.on_step_end = on_step_end
    return steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", help="a size of config.yaml (default: a ~2M-parameter model)")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--steps", type=int, default=4, help="measured steps")
    ap.add_argument("--warmup", type=int, default=1, help="steps run first and not measured")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--max-response", type=int, default=48)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--profile", action="store_true", help="print the top operators of one update (stderr)")
    args = ap.parse_args(argv)

    import torch

    from rlscaling.compute import rl_step_flops, rl_step_flops_full
    from rlscaling.train import metrics as M
    from rlscaling.train import trl_engine

    arch = DEFAULT_ARCH
    if args.size:
        import yaml

        arch = yaml.safe_load(open(args.config))["models"]["sizes"][args.size]
        arch = {k: v for k, v in arch.items() if k != "resources"}
    peak = peak_flops(args.threads)
    phases = instrument(trl_engine, profile_step=args.warmup + args.steps if args.profile else 0)
    steps = args.warmup + args.steps
    params = dict(
        engine="trl",
        segment_steps=steps,
        prompts_per_step=args.prompts,
        rollouts_per_prompt=args.rollouts,
        lr=1e-4,
        warmup_steps=0,
        kl_coef=0.0,
        clip_ratio=0.2,
        entropy_coef=0.0,
        max_prompt_tokens=64,
        max_response_tokens=args.max_response,
        temperature=1.0,
        reward="strict",
        reuse_tau=1,
        seed=0,
        size="bench",
        run="bench",
    )
    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        tmp = Path(tmp)
        base = build_model(tmp / "base", arch)
        data = write_prompts(tmp / "train.parquet", n=args.prompts * steps)
        t0, cpu0 = time.perf_counter(), time.process_time()
        trl_engine.train_segment(
            params, base, data, steps, args.threads, tmp / "step", reward_func=overlap_reward
        )
        total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        rows = M.read(tmp / "step" / "metrics.jsonl")
    torch.set_num_threads(args.threads)

    per_step = []
    for row, ph in list(zip(rows, phases, strict=True))[args.warmup :]:
        n, tokens = row["N"], row["prompt_tokens"] + row["response_tokens"]
        backward = ph["training_step"] - row["gen_seconds"] - ph["forward"]
        update = row["update_seconds"]
        per_step.append(
            {
                "wall": row["wall_seconds"],
                "generation": row["gen_seconds"],
                "  sampling": row["sample_seconds"],
                "  rewards+other": row["gen_seconds"] - row["sample_seconds"],
                "update": update,
                "  forward": ph["forward"],
                "  backward": backward,
                "  optimizer": ph["optimizer"],
                "  other": update - ph["forward"] - backward - ph["optimizer"],
                "gen_flops": rl_step_flops_full(n, tokens, 0, 0),
                "update_flops": rl_step_flops(n, row["prompt_tokens"], row["response_tokens"]),
                "tokens": tokens,
                "response_length_mean": row["response_length_mean"],
            }
        )
    med = {k: statistics.median(s[k] for s in per_step) for k in per_step[0]}
    gen_fps = med["gen_flops"] / med["  sampling"]
    step_fps = (med["gen_flops"] + med["update_flops"]) / med["wall"]
    upd_fps = med["update_flops"] / med["update"]
    result = {
        "N": rows[0]["N"],
        "N_nonembed": rows[0]["N_nonembed"],
        "arch": arch,
        "threads": args.threads,
        "prompts_per_step": args.prompts,
        "rollouts_per_prompt": args.rollouts,
        "peak_flops": peak,
        "segment_seconds": total,
        "segment_cpu_seconds": cpu,
        "median_step": med,
        "generation_flops_per_s": gen_fps,
        "update_flops_per_s": upd_fps,
        "step_flops_per_s": step_fps,
    }

    print(f"model: N = {result['N']:,} parameters ({result['N_nonembed']:,} non-embedding), {arch}")
    print(
        f"batch: {args.prompts} prompts x {args.rollouts} rollouts, responses <= {args.max_response} tokens, "
        f"{med['tokens']:.0f} prompt+response tokens/step (mean response {med['response_length_mean']:.1f})"
    )
    print(f"peak:  {peak / 1e9:.1f} GFLOP/s (float32 torch.mm 2048x2048, {args.threads} thread(s))")
    print(
        f"segment: {steps} steps in {total:.1f} s wall, {cpu:.1f} s CPU (incl. model load and {args.warmup} "
        f"warm-up step(s); wall > CPU means other processes shared the cores)\n"
    )
    print(f"median over {len(per_step)} steps          seconds   share")
    for k in (
        "wall",
        "generation",
        "  sampling",
        "  rewards+other",
        "update",
        "  forward",
        "  backward",
        "  optimizer",
        "  other",
    ):
        print(f"  {k:30s} {med[k]:8.3f}  {med[k] / med['wall']:6.1%}")
    print(
        f"\ngeneration: {med['gen_flops'] / 1e9:7.2f} GFLOP in sampling -> {gen_fps / 1e9:6.1f} GFLOP/s "
        f"= {gen_fps / peak:5.1%} of peak"
    )
    print(
        f"update:     {med['update_flops'] / 1e9:7.2f} GFLOP             -> {upd_fps / 1e9:6.1f} GFLOP/s "
        f"= {upd_fps / peak:5.1%} of peak"
    )
    print(f"whole step: {step_fps / 1e9:6.1f} GFLOP/s = {step_fps / peak:5.1%} of peak")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
