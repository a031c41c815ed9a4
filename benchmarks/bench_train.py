"""Benchmark of the `trl` training engine: seconds per GRPO step, split into generation and update,
and the FLOP/s each achieves against this CPU's peak.

    .venv/bin/python benchmarks/bench_train.py                      # ~2M-parameter model, 1 thread
    .venv/bin/python benchmarks/bench_train.py --size l --steps 4   # a size of config.yaml
    .venv/bin/python benchmarks/bench_train.py --json out.json      # also write the numbers

It builds a random Qwen3 model (vocab 512, like the tiny family) with a character-level tokenizer and
chat template, ~30-token arithmetic prompts, and runs one segment of `--warmup + --steps` GRPO steps with
the real engine (rlscaling.train.trl.engine, 16 prompts x 8 rollouts, responses up to 48 tokens, seed 0).
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
Every phase is timed on the wall clock and in CPU time of this process; on a shared machine the wall
clock also counts time the scheduler gave to other processes, so FLOP/s are computed per CPU second
(and the peak is timed the same way). Both are printed; --json writes everything.
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

# the shared tiny-model builder (tests/helpers.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

# ~2M parameters with vocab 512 (the default study's largest size `l` has ~1.3M)
DEFAULT_ARCH = dict(
    hidden_size=160, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2, intermediate_size=480
)


def peak_flops(threads: int, n: int = 2048) -> float:
    """FLOP/s of the best of 5 float32 n x n matmuls at `threads` threads, in CPU time (so that other
    processes on the machine do not lower it)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        torch.mm(a, b)
        best = min(best, time.process_time() - t0)
    return 2.0 * n**3 / best


def build_model(out: Path, arch: dict, vocab_size: int = 512) -> Path:
    """A random Qwen3 causal LM (rlscaling.models) and a character-level tokenizer padded to `vocab_size`."""
    from helpers import build_tiny_model

    return build_tiny_model(out, vocab_size=vocab_size, max_position_embeddings=256, **arch)


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


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}  # seconds; CPU = this process's


def instrument(trl_engine, profile_step: int = 0) -> list[dict[str, float]]:
    """Time each step's phases, on the wall clock and in CPU time, by wrapping the engine's trainer and
    callback; returns the per-step list of {"wall:phase": s, "cpu:phase": s}. With profile_step > 0, also
    print torch.profiler's top operators of that step's update (loss forward + backward) to stderr."""
    steps: list[dict[str, float]] = []
    cur: dict[str, float] = collections.defaultdict(float)

    def start(key):
        for c, clock in CLOCKS.items():
            cur[f"_{c}:{key}"] = clock()

    def stop(key):
        for c, clock in CLOCKS.items():
            cur[f"{c}:{key}"] += clock() - cur[f"_{c}:{key}"]

    def wrap(cls, name, key):
        orig = getattr(cls, name)

        def timed(self, *args, **kwargs):
            start(key)
            try:
                return orig(self, *args, **kwargs)
            finally:
                stop(key)

        setattr(cls, name, timed)

    trainer, rec = trl_engine.SegmentTrainer, trl_engine._Recorder
    wrap(trainer, "_generate_single_turn", "sampling")  # model.generate over all rollouts
    wrap(trainer, "_generate_and_score_completions", "rollout")  # + tokenize, decode, rewards, advantages
    wrap(trainer, "compute_loss", "forward")  # policy log-probs, entropy, loss
    if profile_step:
        training_step = trainer.training_step

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

        trainer.training_step = profiled
    wrap(trainer, "training_step", "training_step")  # rollout + forward + backward
    rec.on_pre_optimizer_step = lambda self, *a, **k: start("optimizer")
    rec.on_optimizer_step = lambda self, *a, **k: stop("optimizer")
    begin, end = rec.on_step_begin, rec.on_step_end

    def on_step_begin(self, *args, **kwargs):
        cur.clear()
        start("step")
        return begin(self, *args, **kwargs)

    def on_step_end(self, *args, **kwargs):
        stop("step")
        steps.append({k: v for k, v in cur.items() if not k.startswith("_")})
        return end(self, *args, **kwargs)

    rec.on_step_begin, rec.on_step_end = on_step_begin, on_step_end
    return steps


def phases(t: dict[str, float], clock: str) -> dict[str, float]:
    """Seconds of each phase of one step on `clock` ("wall" or "cpu")."""
    g = {k.split(":", 1)[1]: v for k, v in t.items() if k.startswith(clock + ":")}
    update = g["step"] - g["rollout"]
    backward = g["training_step"] - g["rollout"] - g["forward"]
    return {
        "step": g["step"],
        "generation": g["rollout"],
        "  sampling": g["sampling"],
        "  rewards+other": g["rollout"] - g["sampling"],
        "update": update,
        "  forward": g["forward"],
        "  backward": backward,
        "  optimizer": g["optimizer"],
        "  other": update - g["forward"] - backward - g["optimizer"],
    }


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
    from rlscaling.train.trl import engine as trl_engine

    arch = DEFAULT_ARCH
    if args.size:
        import yaml

        arch = yaml.safe_load(open(args.config))["models"]["sizes"][args.size]
        arch = {k: v for k, v in arch.items() if k != "resources"}
    peak = peak_flops(args.threads)
    timings = instrument(trl_engine, profile_step=args.warmup + args.steps if args.profile else 0)
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
        t0, c0 = time.perf_counter(), time.process_time()
        trl_engine.train_segment(
            params, base, data, steps, args.threads, tmp / "step", reward_func=overlap_reward
        )
        seg_wall, seg_cpu = time.perf_counter() - t0, time.process_time() - c0
        rows = M.read(tmp / "step" / "metrics.jsonl")
    torch.set_num_threads(args.threads)

    measured = list(zip(rows, timings, strict=True))[args.warmup :]
    wall = {
        k: statistics.median(phases(t, "wall")[k] for _, t in measured)
        for k in phases(measured[0][1], "wall")
    }
    cpu = {k: statistics.median(phases(t, "cpu")[k] for _, t in measured) for k in wall}
    n = rows[0]["N"]
    prompt_tokens = statistics.median(r["prompt_tokens"] for r, _ in measured)
    response_tokens = statistics.median(r["response_tokens"] for r, _ in measured)
    gen_flops = rl_step_flops_full(n, prompt_tokens + response_tokens, 0, 0)  # 2·N·T
    update_flops = rl_step_flops(n, prompt_tokens, response_tokens)  # 6·N·T
    fps = {
        clock: {
            "generation": gen_flops / t["  sampling"],
            "update": update_flops / t["update"],
            "step": (gen_flops + update_flops) / t["step"],
        }
        for clock, t in (("wall", wall), ("cpu", cpu))
    }
    result = {
        "N": n,
        "N_nonembed": rows[0]["N_nonembed"],
        "arch": arch,
        "threads": args.threads,
        "prompts_per_step": args.prompts,
        "rollouts_per_prompt": args.rollouts,
        "prompt_tokens": prompt_tokens,
        "response_tokens": response_tokens,
        "peak_flops": peak,
        "segment_seconds": {"wall": seg_wall, "cpu": seg_cpu},
        "median_step_seconds": {"wall": wall, "cpu": cpu},
        "generation_flops": gen_flops,
        "update_flops": update_flops,
        "flops_per_s": fps,
    }

    print(f"model: N = {n:,} parameters ({rows[0]['N_nonembed']:,} non-embedding), {arch}")
    print(
        f"batch: {args.prompts} prompts x {args.rollouts} rollouts, responses <= {args.max_response} tokens: "
        f"{prompt_tokens:.0f} prompt + {response_tokens:.0f} response tokens per step"
    )
    print(f"peak:  {peak / 1e9:.1f} GFLOP/s (float32 torch.mm 2048x2048, {args.threads} thread(s))")
    print(
        f"segment: {steps} steps in {seg_wall:.1f} s wall, {seg_cpu:.1f} s CPU (incl. model load and "
        f"{args.warmup} warm-up step(s); wall > CPU: other processes shared the cores)\n"
    )
    print(f"median of {len(measured)} steps        wall s    CPU s  share (CPU)")
    for k in wall:
        print(f"  {k:28s} {wall[k]:7.3f}  {cpu[k]:7.3f}  {cpu[k] / cpu['step']:6.1%}")
    print()
    for name, flops, key in (("generation", gen_flops, "generation"), ("update", update_flops, "update")):
        print(
            f"{name:10s} {flops / 1e9:7.2f} GFLOP: {fps['cpu'][key] / 1e9:6.1f} GFLOP/s per CPU second "
            f"= {fps['cpu'][key] / peak:5.1%} of peak (wall clock: {fps['wall'][key] / 1e9:.1f} GFLOP/s)"
        )
    print(
        f"whole step {(gen_flops + update_flops) / 1e9:7.2f} GFLOP: {fps['cpu']['step'] / 1e9:6.1f} GFLOP/s "
        f"per CPU second = {fps['cpu']['step'] / peak:5.1%} of peak"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
