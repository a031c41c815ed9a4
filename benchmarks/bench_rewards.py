"""Scoring throughput of rlscaling.rewards (completions/s per scorer) on realistic responses.

    .venv/bin/python benchmarks/bench_rewards.py [--n 2000] [--seed 0] [--threads]

Responses are 200-2,000 characters (uniform), built from the real benchmark rows in the shared
reference data: the row's own problem text (numbers, LaTeX, braces), a line of "reasoning", then the
answer in the scorer's format. Workloads:
- strict / flexible / custom_flexible: GSM8K rows ending in `#### <answer>`; half right, half wrong.
- boxed: MATH-500, guru held-out 500, AIME 2024, AMC 2023 rows ending in `\\boxed{...}`:
  `right` (the ground truth as written: decided by the string match), `respelled` (right, but written
  differently: `\\dfrac`, spaces, `x = ...` -> math-verify), `wrong` (another row's ground truth or
  ground truth + 1 -> numeric path or math-verify), `mixed` (1/3 each, the realistic training mix),
  and `no_box` (extraction only).
- `--threads`: boxed `mixed` again, scored from a worker thread (the verl reward-loop situation), where
  the math-verify step runs in worker subprocesses.
- With a finished study (`--study`, default results/default): its own models' responses (the held-out
  `.samples.parquet` of every evaluated checkpoint) under each scorer, with `#### N` rewritten as
  `\\boxed{N}` for boxed, and every workload's time for one training step's rollouts (the runs'
  `rollouts` per step) next to the median step time in the runs' metrics.jsonl: is scoring a bottleneck?

The caches (parsed ground truths, remembered verdicts) are cleared before each workload; in training
the n rollouts of one prompt share their ground truth and often repeat an answer, so real runs are
faster. math-verify's one-time import and warm-up is
timed separately ("cold start"). Single process, one thread: numbers are per core. The boxed sets have
1,070 rows, so --n above ~500 repeats pairs, which the verdict cache answers; --no-verdict-cache
forgets verdicts before every call (worst case: no repeated answers).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rlscaling.paths import shared_data_dir  # noqa: E402
from rlscaling.rewards import score  # noqa: E402
from rlscaling.rewards import equivalence  # noqa: E402
from rlscaling.rewards.equivalence import undouble_backslashes  # noqa: E402
from rlscaling.rewards.extract import normalize_number  # noqa: E402

BOXED_SETS = [
    "benchmarks/math__math_500.parquet",
    "guru/heldout_test_500.parquet",
    "benchmarks/aime2024.parquet",
    "benchmarks/amc2023.parquet",
]
FILLER = (
    " We check each case carefully, simplify the expression, and verify the intermediate values "
    "against the conditions given in the problem statement."
)


def load(rel: str) -> list[tuple[str, str]]:
    path = shared_data_dir() / rel
    if not path.exists():
        sys.exit(f"reference data not found: {path}")
    df = pd.read_parquet(path)
    return [
        (list(p)[-1]["content"], str(rm["ground_truth"]))
        for p, rm in zip(df["prompt"], df["reward_model"], strict=True)
    ]


def body(problem: str, rng: random.Random, tail_len: int) -> str:
    """Problem-derived text so that body + tail is 200-2,000 characters."""
    target = rng.randint(200, 2000) - tail_len
    text = "Let me restate the problem. " + problem
    while len(text) < target:
        text += FILLER
    return text[: max(0, target)] + "\n"


def wrong_of(truths: list[str], i: int) -> str:
    n = normalize_number(truths[i])
    if n is not None:
        return str(Decimal(n) + 1)
    return truths[(i + 1) % len(truths)]


def respell(gt: str) -> str:
    """The same answer written differently (forces the math-verify step)."""
    n = normalize_number(gt)
    if n is not None:
        return f"{n}.0" if "." not in n else n + "0"
    s = undouble_backslashes(gt).replace("\\frac", "\\dfrac")
    s = re.sub(r"(?<![\\a-zA-Z])\s+", "", s)  # spaces, except after a command or a word
    plain = not any(k in s for k in ("=", ",", "\\text", "\\begin", "\\geq", "\\leq", "<", ">"))
    return "x = " + s if plain else s


def gsm8k_cases(n: int, rng: random.Random) -> list[tuple[str, str]]:
    rows = load("benchmarks/gsm8k.parquet")
    truths = [gt for _, gt in rows]
    out = []
    for k in range(n):
        i = rng.randrange(len(rows))
        ans = truths[i] if k % 2 == 0 else wrong_of(truths, i)
        tail = f"So the answer is {ans}.\n#### {ans}"
        out.append((body(rows[i][0], rng, len(tail)) + tail, truths[i]))
    return out


def boxed_cases(n: int, rng: random.Random, kind: str) -> list[tuple[str, str]]:
    rows = [r for rel in BOXED_SETS for r in load(rel)]
    truths = [gt for _, gt in rows]
    out = []
    for k in range(n):
        i = rng.randrange(len(rows))
        mode = ["right", "respelled", "wrong"][k % 3] if kind == "mixed" else kind
        if mode == "no_box":
            tail = "I am not sure what the final answer is."
        else:
            ans = {"right": truths[i], "respelled": respell(truths[i]), "wrong": wrong_of(truths, i)}[mode]
            tail = f"Therefore, the final answer is $\\boxed{{{ans}}}$."
        out.append((body(rows[i][0], rng, len(tail)) + tail, truths[i]))
    return out


def study_steps(study: Path) -> tuple[int, dict[str, float]]:
    """(rollouts per step, {run: median step wall seconds}) from a study's runs/*/metrics.jsonl."""
    rollouts, steps = 0, {}
    for f in sorted(study.glob("runs/*/metrics.jsonl")):
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        walls = [r["wall_seconds"] for r in rows if isinstance(r.get("wall_seconds"), (int, float))]
        if walls:
            steps[f.parent.name] = statistics.median(walls)
            rollouts = max(rollouts, int(rows[-1].get("rollouts") or 0))
    return rollouts, steps


def study_cases(study: Path, method: str) -> list[tuple[str, str]]:
    """The study's own held-out responses and ground truths (`#### N` -> `\\boxed{N}` for boxed)."""
    files = sorted(study.glob("eval/*/step_*/heldout.samples.parquet"))
    df = pd.concat([pd.read_parquet(f, columns=["response", "ground_truth"]) for f in files])
    responses = [str(r) for r in df["response"]]
    if method == "boxed":
        responses = [re.sub(r"####\s*(\S+)", lambda m: "\\boxed{" + m.group(1) + "}", r) for r in responses]
    return list(zip(responses, [str(g) for g in df["ground_truth"]], strict=True))


FORGET_VERDICTS = False  # --no-verdict-cache: every pair is checked afresh (parsed ground truths kept)


def run(cases: list[tuple[str, str]], method: str) -> tuple[float, float, dict[str, int], float]:
    """(seconds, completions/s, reasons, 99th percentile seconds) scoring every case once."""
    equivalence.clear_caches()
    reasons: dict[str, int] = {}
    times = []
    t0 = time.perf_counter()
    for response, gt in cases:
        if FORGET_VERDICTS:
            with equivalence._VERDICTS_LOCK:
                equivalence._VERDICTS.clear()
        t = time.perf_counter()
        s = score(response, gt, method)
        times.append(time.perf_counter() - t)
        key = s.reason or "correct"
        reasons[key] = reasons.get(key, 0) + 1
    dt = time.perf_counter() - t0
    p99 = statistics.quantiles(times, n=100)[98] if len(times) >= 100 else max(times)
    return dt, len(cases) / dt, reasons, p99


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="completions per workload")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", action="store_true", help="also time boxed scoring from a worker thread")
    ap.add_argument(
        "--no-verdict-cache", action="store_true", help="check repeated (answer, ground truth) pairs afresh"
    )
    ap.add_argument(
        "--study",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "results" / "default",
        help="a finished study folder: its responses and step times (skipped when it has none)",
    )
    args = ap.parse_args()
    global FORGET_VERDICTS
    FORGET_VERDICTS = args.no_verdict_cache
    rng = random.Random(args.seed)

    t = time.perf_counter()
    equivalence._mv()
    print(f"cold start (math-verify import + warm-up, once per process): {time.perf_counter() - t:.2f} s")

    gsm = gsm8k_cases(args.n, rng)
    workloads = [(m, "gsm8k right/wrong", gsm) for m in ("strict", "flexible", "custom_flexible")]
    for kind in ("right", "respelled", "wrong", "mixed", "no_box"):
        workloads.append(("boxed", kind, boxed_cases(args.n, rng, kind)))

    lengths = [len(r) for _, _, cases in workloads for r, _ in cases]
    mean = statistics.mean(lengths)
    print(f"responses: {len(lengths)}, length {min(lengths)}-{max(lengths)} chars, mean {mean:.0f}")
    rollouts, steps = study_steps(args.study)
    if steps and list(args.study.glob("eval/*/step_*/heldout.samples.parquet")):
        for method in ("strict", "flexible", "custom_flexible", "boxed"):
            workloads.append((method, f"study {args.study.name}", study_cases(args.study, method)))
    per_step = f"ms/{rollouts}" if steps else ""
    print(
        f"{'scorer':16} {'workload':18} {'n':>6} {'seconds':>8} {'compl/s':>9} {'p99 ms':>8} "
        f"{per_step:>8}  verdicts"
    )
    for method, kind, cases in workloads:
        dt, rate, reasons, p99 = run(cases, method)
        batch = f"{rollouts / rate * 1e3:8.1f}" if steps else ""
        print(
            f"{method:16} {kind:18} {len(cases):6d} {dt:8.2f} {rate:9.0f} {p99 * 1e3:8.2f} {batch}  {reasons}"
        )
    if steps:
        runs = ", ".join(f"{run} {sec:.2f} s" for run, sec in steps.items())
        print(f"study {args.study}: {rollouts} rollouts per step; median step wall time per run: {runs}")

    if args.threads:
        cases = boxed_cases(args.n, rng, "mixed")
        box: dict[str, tuple[float, float, dict[str, int], float]] = {}
        score("\\boxed{1}", "2", "boxed")  # not timed: see below
        th = threading.Thread(target=lambda: box.setdefault("r", run(cases[:1], "boxed")))
        th.start()
        th.join()  # starts a worker subprocess (not timed)
        th = threading.Thread(target=lambda: box.setdefault("out", run(cases, "boxed")))
        th.start()
        th.join()
        dt, rate, reasons, p99 = box["out"]
        name = "boxed (thread)"
        batch = f"{rollouts / rate * 1e3:8.1f}" if steps else ""
        row = f"{name:16} {'mixed':18} {len(cases):6d} {dt:8.2f} {rate:9.0f} {p99 * 1e3:8.2f} {batch}"
        print(f"{row}  {reasons}")


if __name__ == "__main__":
    main()
