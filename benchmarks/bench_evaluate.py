"""Generation throughput of the hf evaluation engine (rlscaling.evaluate.hf.HFEngine).

    .venv/bin/python benchmarks/bench_evaluate.py [--batch-sizes 32 64 128 256 512] [--threads 1]

Workload (the default study's largest tiny size): a random ~2M-parameter Qwen3 (hidden 128, 6 layers,
4 heads / 2 KV heads, MLP 384, vocab 512, tied embeddings), 200 arithmetic prompts of 25-45 tokens,
4 samples each, 48 new tokens, temperature 1, one CPU thread. The random model draws EOS about once
in 512 tokens, so ~90% of samples run the full 48 tokens; tokens/s counts the tokens actually generated.

Prints one row per batch size: seconds, samples/s, generated tokens/s, and peak RSS growth.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

# the shared tiny-model builder (tests/helpers.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build_model(out: Path, vocab_size: int = 512) -> tuple[Path, int]:
    """Random Qwen3 (rlscaling.models; hidden 128, 6 layers) + char-level tokenizer padded to
    `vocab_size`; returns (folder, parameter count)."""
    from helpers import build_tiny_model
    from transformers import AutoModelForCausalLM

    arch = dict(hidden_size=128, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2)
    build_tiny_model(out, vocab_size=vocab_size, intermediate_size=384, **arch)
    return out, sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(out).parameters())


def prompts(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(1, 999), rng.randint(1, 999)
        words = rng.choice(["apples", "coins", "books", "marbles"])
        out.append([{"role": "user", "content": f"Tom has {a} {words} and gets {b} more. How many now?"}])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=48)
    args = parser.parse_args()

    import torch

    from rlscaling.evaluate import HFEngine, parse_params

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder, n_params = build_model(Path(tmp) / "model")
        work = prompts(args.prompts)
        print(
            f"model {n_params / 1e6:.2f}M params; {args.prompts} prompts x {args.samples} samples x "
            f"{args.new_tokens} new tokens; {args.threads} thread(s); torch {torch.__version__}",
            file=sys.stderr,
        )
        print("batch_size  seconds  samples/s  tokens/s  rss_MB")
        for bs in args.batch_sizes:
            params = parse_params(
                f'{{"n_samples": {args.samples}, "max_response_tokens": {args.new_tokens}, '
                f'"batch_size": {bs}, "temperature": 1.0, "seed": 0}}'
            )
            engine = HFEngine(str(folder), params, threads=args.threads)
            torch.manual_seed(0)
            engine.generate(work[:2], 1)  # warm-up
            t0 = time.perf_counter()
            gens = engine.generate(work, args.samples, desc=f"bs{bs}")
            dt = time.perf_counter() - t0
            n_samples = sum(len(g) for g in gens)
            n_tokens = sum(s.n_tokens for g in gens for s in g)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{bs:10d}  {dt:7.1f}  {n_samples / dt:9.1f}  {n_tokens / dt:8.0f}  {rss:6.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
