"""Calibrate the embedded default study's tiny model family (rerunnable).

    .venv/bin/python scripts/calibrate_tiny.py [--config config.yaml] [--work results/calibrate]
        [--sizes xs,s] [--reuse] [--override '{"pretrain": {"tokens": 1000000}}']
        [--seeds 0,1,2] [--autocast-bf16] [--data-order-seed K]

Runs what the study runs, with the config's settings, one size at a time on one thread:
1. the data stage (rlscaling.data.prepare: synthetic problems, stratified held-out split, ood benchmark,
   pre-training corpus);
2. the tokenizer and the pre-training of every size (rlscaling.tokenizer, rlscaling.pretrain);
3. the base models' pass@1 on the held-out split and the ood benchmark by sampling (the evaluation's
   hf engine: temperature / samples / max tokens from the config's `evaluation` section, strict scorer),
   overall and per level, the share of problems solved sometimes but not always (what GRPO learns
   from), and the generation throughput.
--seeds pre-trains every size once per seed (the data stage keeps the config's `seed`, as a study's
replicates do; a size's models go to {work}/{size}/seed{k}/), so base skill can be judged against the
seed-to-seed spread. --autocast-bf16 (a measurement, not a study setting) runs every pre-training
forward pass under torch.autocast(cpu, bfloat16); held-out losses are still computed in fp32.
--data-order-seed K shuffles the pre-training documents with seed K whatever the model seed (a
measurement: init seed x data-order seed designs, docs/results/tiny-calibration.md).
Every base model's held-out loss is also split by token class (`token_class_losses`): the question's
story, the operands a solution copies, the result digits it computes, the answer and the rest (nats
per token). It shows where a seed's luck lies (docs/results/tiny-calibration.md: in the result
digits), and unlike the whole held-out loss it compares corpora with different shares of
equations-only documents. Prints the table and writes {work}/calibration.json. --reuse keeps models
already pre-trained in {work} (delete a size's folder to retrain it after changing its settings).

Targets of the default study: base pass@1 of every size in [0.10, 0.50], rising with N, falling with
the level; pre-training of all sizes within about 5 CPU-minutes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rlscaling import config as rc  # noqa: E402
from rlscaling.io import write_json  # noqa: E402


def prepare_data(cfg: dict, work: Path) -> Path:
    from rlscaling.data.prepare import prepare

    data_dir = work / "data"
    benches = {b: cfg["benchmarks"][b] for b in cfg["evaluation"]["benchmarks"]}
    prepare({"data": cfg["data"], "benchmarks": benches, "seed": cfg["seed"]}, data_dir)
    return data_dir


def evaluate(model_dir: Path, bench_file: Path, ev: dict, seed: int, greedy: bool = False) -> dict:
    """pass@1 (mean over samples) overall and per level, solved-sometimes share, generation speed.
    greedy: one greedy answer per problem instead (what sharpening by RL could reach)."""
    import torch

    from rlscaling.evaluate import EvalParams, HFEngine
    from rlscaling.rewards import score

    df = pd.read_parquet(bench_file)
    prompts = [list(p) for p in df["prompt"]]
    truths = [rm["ground_truth"] for rm in df["reward_model"]]
    levels = [int(e["level"]) for e in df["extra_info"]]
    n = 1 if greedy else int(ev["n_samples"])
    params = EvalParams(
        greedy=greedy,
        n_samples=n,
        n_samples_requested=n,
        temperature=float(ev["temperature"]),
        max_response_tokens=int(ev["max_response_tokens"]),
        batch_size=int(ev["batch_size"]),
        seed=seed,
    )
    torch.manual_seed(seed)
    engine = HFEngine(str(model_dir), params, threads=1)
    t0 = time.perf_counter()
    gens = engine.generate(prompts, n, desc=bench_file.stem)
    seconds = time.perf_counter() - t0
    per_problem = [
        sum(score(g.text, gt, "strict").correct for g in gs) / n for gs, gt in zip(gens, truths, strict=False)
    ]
    by_level = defaultdict(list)
    for lv, p in zip(levels, per_problem, strict=False):
        by_level[lv].append(p)
    gen_tokens = sum(g.n_tokens for gs in gens for g in gs)
    return {
        "problems": len(df),
        "pass@1": sum(per_problem) / len(per_problem),
        "by_level": {lv: round(sum(v) / len(v), 3) for lv, v in sorted(by_level.items())},
        "sometimes": sum(0 < p < 1 for p in per_problem) / len(per_problem),
        "format_rate": sum("####" in g.text for gs in gens for g in gs) / (n * len(gens)),
        "gen_tokens": gen_tokens,
        "gen_seconds": round(seconds, 2),
        "gen_tokens_per_second": round(gen_tokens / seconds, 1),
        "example": gens[0][0].text,
    }


TOKEN_CLASSES = ("question", "operand", "result", "answer", "other")
EQUATION = re.compile(r"(\d+)[+-](\d+)=(-?\d+)")
ANSWER = re.compile(r"(?:#### |The answer is )(-?\d+)")


def char_classes(text: str) -> list[str]:
    """The token class of every character of a corpus document (question + "\\n" + solution, or a
    solution alone): "question" for the story, "operand" / "result" for an equation's two operands /
    its result, "answer" for the final answer's digits, "other" for the rest of the solution."""
    start = text.index("\n") + 1 if "\n" in text else 0
    out = ["question"] * start + ["other"] * (len(text) - start)
    for m in EQUATION.finditer(text, start):
        for group, name in ((1, "operand"), (2, "operand"), (3, "result")):
            out[m.start(group) : m.end(group)] = [name] * (m.end(group) - m.start(group))
    for m in ANSWER.finditer(text, start):
        out[m.start(1) : m.end(1)] = ["answer"] * (m.end(1) - m.start(1))
    return out


def token_class_losses(model_dir: Path, texts: list[str], tok) -> dict[str, float]:
    """Mean next-token loss (nats per token) of the model on the documents `texts` by TOKEN_CLASSES;
    a token's class is its last character's (see char_classes), EOS counts as "other"."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    total = dict.fromkeys(TOKEN_CLASSES, 0.0)
    count = dict.fromkeys(TOKEN_CLASSES, 0)
    for text in texts:
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        chars = char_classes(text)
        classes = [chars[end - 1] if end > begin else "other" for begin, end in enc["offset_mapping"]]
        ids = torch.tensor([[tok.bos_token_id, *enc["input_ids"], tok.eos_token_id]])
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, :-1]
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none").tolist()
        for cls, loss in zip([*classes, "other"], nll, strict=True):
            total[cls] += loss
            count[cls] += 1
    return {c: round(total[c] / count[c], 4) for c in TOKEN_CLASSES if count[c]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--work", default=str(ROOT / "results" / "calibrate"))
    ap.add_argument("--sizes", default=None, help="comma-separated sizes (default: all)")
    ap.add_argument("--reuse", action="store_true", help="keep data, tokenizer and models already in --work")
    ap.add_argument("--override", default=None, help="JSON merged into the config")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument(
        "--seeds", default=None, help="comma-separated pre-training seeds (default: the config's seed)"
    )
    ap.add_argument(
        "--autocast-bf16", action="store_true", help="pre-train under bf16 autocast (measurement)"
    )
    ap.add_argument(
        "--data-order-seed",
        type=int,
        default=None,
        help="shuffle the pre-training documents with this seed, whatever the model seed (measurement)",
    )
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    cfg = rc.load(args.config, json.loads(args.override) if args.override else None)
    work = Path(args.work)
    sizes = args.sizes.split(",") if args.sizes else list(cfg["models"]["sizes"])

    t0 = time.perf_counter()
    data_dir = work / "data"
    if not (args.reuse and (data_dir / "pretrain_corpus.parquet").is_file()):
        prepare_data(cfg, work)
    corpus = pd.read_parquet(data_dir / "pretrain_corpus.parquet")["text"].tolist()
    print(f"data: {time.perf_counter() - t0:.1f}s, corpus {len(corpus)} documents", file=sys.stderr)

    from transformers import AutoTokenizer

    from rlscaling import pretrain, tokenizer

    tok_dir = work / "tokenizer"
    if not (args.reuse and tok_dir.is_dir()):
        tokenizer.save(tokenizer.build(corpus, cfg["pretrain"]["vocab_size"]), tok_dir)
    tok = AutoTokenizer.from_pretrained(tok_dir)

    if args.autocast_bf16:
        _autocast_training_forward(pretrain)
    if args.data_order_seed is not None:
        _fixed_data_order(pretrain, args.data_order_seed)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
    results = {}
    for size, seed in [(sz, sd) for sz in sizes for sd in (seeds or [None])]:
        key = size if seed is None else f"{size}/seed{seed}"
        model_dir, record_file = work / key / "base", work / key / "pretrain.json"
        if not (args.reuse and record_file.is_file()):
            params = {
                "arch": cfg["models"]["sizes"][size],
                "pretrain": rc.pretrain_settings(cfg, size),
                "seed": cfg["seed"] if seed is None else seed,
                "size": size,
            }
            write_json(record_file, pretrain.pretrain(corpus, tok, params, model_dir, threads=1))
        rec = json.loads(record_file.read_text())
        row = {
            k: rec[k]
            for k in (
                "N",
                "N_nonembed",
                "tokens",
                "flops",
                "seconds",
                "tokens_per_second",
                "final_loss",
                "heldout_loss",
            )
        }
        # the documents pre-training held out (rlscaling.pretrain: the corpus' last ones)
        n_held = min(pretrain.HELDOUT_MAX_DOCS, int(len(corpus) * pretrain.HELDOUT_FRACTION))
        row["heldout_loss_by_class"] = token_class_losses(model_dir, corpus[len(corpus) - n_held :], tok)
        if not args.skip_eval:
            for bench in cfg["evaluation"]["benchmarks"]:
                f = data_dir / ("heldout.parquet" if bench == "heldout" else f"bench/{bench}.parquet")
                row[bench] = evaluate(model_dir, f, cfg["evaluation"], cfg["seed"])
                if bench == "heldout":
                    g = evaluate(model_dir, f, cfg["evaluation"], cfg["seed"], greedy=True)
                    row["heldout_greedy"] = {k: g[k] for k in ("pass@1", "by_level")}
        results[key] = row
        print(json.dumps({key: row}), file=sys.stderr, flush=True)

    write_json(
        work / "calibration.json",
        {"config": {k: cfg[k] for k in ("data", "models", "pretrain")}, "results": results},
    )
    print(
        f"\n{'size':11s} {'N':>9s} {'N_ne':>9s} {'tokens':>9s} {'FLOPs':>9s} {'sec':>6s} {'tok/s':>7s} "
        f"{'loss':>6s} {'held':>6s} {'result':>6s}  "
        "pass@1 heldout (by level) | ood | sometimes | gen tok/s | greedy"
    )
    for size, r in results.items():
        line = (
            f"{size:11s} {r['N']:9d} {r['N_nonembed']:9d} {r['tokens']:9d} {r['flops']:9.2e} "
            f"{r['seconds']:6.1f} {r['tokens_per_second']:7.0f} "
            f"{r['final_loss']:6.3f} {r['heldout_loss']:6.3f} {r['heldout_loss_by_class']['result']:6.3f}"
        )
        if "heldout" in r:
            h = r["heldout"]
            line += f"  {h['pass@1']:.3f} {h['by_level']} | "
            line += f"{r['ood']['pass@1']:.3f} {r['ood']['by_level']} | " if "ood" in r else "- | "
            line += f"{h['sometimes']:.2f} | {h['gen_tokens_per_second']:.0f}"
            line += f" | greedy {r['heldout_greedy']['pass@1']:.3f}"
        print(line)
    print(
        f"pre-training total: {sum(r['seconds'] for r in results.values()):.0f} s; "
        f"whole calibration {time.perf_counter() - t0:.0f} s"
    )
    return 0


def _autocast_training_forward(pretrain_module) -> None:
    """Make rlscaling.pretrain's training forward passes run under bf16 autocast (inference-mode
    passes, the held-out losses, stay fp32)."""
    import torch

    plain = pretrain_module.forward_loss

    def forward_loss(model, x, bos_id):
        if torch.is_inference_mode_enabled():
            return plain(model, x, bos_id)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return plain(model, x, bos_id)

    pretrain_module.forward_loss = forward_loss


def _fixed_data_order(pretrain_module, order_seed: int) -> None:
    """Make rlscaling.pretrain shuffle its documents with `order_seed` while the model is initialised
    with its own seed, so the two sources of seed-to-seed spread can be set apart."""
    plain = pretrain_module.batches

    def batches(docs, seq_len, batch_size, steps, seed):
        return plain(docs, seq_len, batch_size, steps, order_seed)

    pretrain_module.batches = batches


if __name__ == "__main__":
    raise SystemExit(main())
