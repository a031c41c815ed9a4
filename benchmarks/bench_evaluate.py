"""Generation throughput of the hf evaluation engine (rlscaling.evaluate.HFEngine).

    .venv/bin/python benchmarks/bench_evaluate.py [--batch-sizes 32 64 128 256 512] [--threads 1]

Workload (the default study's largest tiny size): a random ~2M-parameter Qwen2 (hidden 128, 6 layers,
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

SPECIALS = ["<pad>", "<unk>", "<|im_end|>", "<|im_start|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_model(out: Path, vocab_size: int = 512) -> tuple[Path, int]:
    """Random Qwen2 (hidden 128, 6 layers) + char-level tokenizer padded to `vocab_size`; returns
    (folder, parameter count)."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    chars = ["\n"] + [chr(i) for i in range(32, 127)]
    filler = [f"<x{i}>" for i in range(vocab_size - len(SPECIALS) - len(chars))]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars + filler)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"<\|im_(?:start|end)\|>|.|\n"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>"
    )
    hf_tok.chat_template = TEMPLATE
    cfg = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=128,
        num_hidden_layers=6,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=384,
        max_position_embeddings=512,
        eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out, sum(p.numel() for p in model.parameters())


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
