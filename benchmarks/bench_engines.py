"""Where the time of the cluster engines goes, on this machine (CPU: verl's CPU mode and vLLM's CPU build).

    .venv/bin/python benchmarks/bench_engines.py [--size m] [--work /tmp/bench_engines] [--out FILE.json]

1. Prepares the engines study's data and the size's base model (tests/fixtures/engines_study.yaml,
   through Snakemake; reused when present).
2. One verl training segment (2 GRPO steps from the base model, `rlscaling train`), timed from its
   log: Ray start (until "Started a local Ray instance"), worker + vLLM start (until verl's training
   loop begins), then per step verl's own timers (generation, old log-probs, actor update, weight sync
   to vLLM, checkpoint), and the export of the HF checkpoint after the trainer exits.
3. Evaluation of that base model on both benchmarks (held-out, OOD) with the hf and the vllm engine:
   wall time per engine and per benchmark, and the number of vLLM engine starts in the log (one
   engine serves every benchmark of a checkpoint).
4. Agreement of the two engines on that model: greedy decoding in fp32 (the share of held-out prompts
   with the same text) and sampled pass@1 at temperature 1 (difference in standard errors).

Prints a table and writes the numbers as JSON. Needs the engines environment (make engines-venv).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

STUDY = ROOT / "tests" / "fixtures" / "engines_study.yaml"
S = "results/engines"
STEP_TIMERS = ("gen", "old_log_prob", "update_actor", "update_weights", "save_checkpoint", "step")


def run_timed(cmd: list[str], cwd: Path, markers: dict[str, str]) -> tuple[float, dict[str, float], str]:
    """Run `cmd`, return (wall seconds, {marker: seconds from start to the first line matching it}, log)."""
    t0 = time.time()
    seen: dict[str, float] = {}
    lines = []
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        for name, pattern in markers.items():
            if name not in seen and re.search(pattern, line):
                seen[name] = time.time() - t0
    if proc.wait() != 0:
        sys.stderr.write("".join(lines[-60:]))
        raise SystemExit(f"failed: {' '.join(cmd[:6])} ...")
    return time.time() - t0, seen, "".join(lines)


def prepare(work: Path, size: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(STUDY, work / "config.yaml")
    targets = [f"{S}/models/{size}/base", f"{S}/data/train.parquet"]
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(work),
    ]
    cmd += ["--configfile", str(work / "config.yaml"), "--replace-workflow-config", "--cores", "2", *targets]
    subprocess.run(cmd, check=True, capture_output=True)


def train_params(size: str) -> dict:
    import rlscaling.config as rc
    from rlscaling.train.verl.settings import train_params as params_of

    cfg = rc.load(STUDY)
    run = next(r for r in rc.runs(cfg) if r.size == size)
    return params_of(cfg, run)


def bench_verl(work: Path, size: str) -> dict:
    out = work / "bench" / size / "step_000002"
    shutil.rmtree(out.parent, ignore_errors=True)
    out.parent.mkdir(parents=True)
    params = out.parent / "params.json"
    params.write_text(json.dumps(train_params(size)))
    cmd = [
        sys.executable,
        "-m",
        "rlscaling",
        "train",
        "--params-json",
        str(params),
        "--init",
        f"{S}/models/{size}/base",
        "--data",
        f"{S}/data/train.parquet",
        "--step",
        "2",
        "--threads",
        "2",
        "--out",
        str(out),
    ]
    markers = {
        "ray_started": r"Started a local Ray instance",
        "training_loop": r"Training Progress:\s+0%",
        "trainer_exit": r"verl trainer: exit status",
    }
    wall, seen, _ = run_timed(cmd, work, markers)
    logs = sorted((out.parent / ".verl").glob("*/logs/segment_000002.*.jsonl"))
    steps = []
    for line in logs[-1].read_text().splitlines():
        rec = json.loads(line)
        data = rec.get("data", rec)
        steps.append(
            {k: round(float(data[f"timing_s/{k}"]), 2) for k in STEP_TIMERS if f"timing_s/{k}" in data}
        )
    return {
        "wall_s": round(wall, 1),
        "ray_start_s": round(seen.get("ray_started", float("nan")), 1),
        "workers_and_vllm_start_s": round(seen["training_loop"] - seen.get("ray_started", 0.0), 1),
        "steps": steps,
        "after_last_step_until_trainer_exit_s": round(
            seen["trainer_exit"] - seen["training_loop"] - sum(s.get("step", 0.0) for s in steps), 1
        ),
        "export_s": round(wall - seen["trainer_exit"], 1),
    }


def bench_eval(work: Path, size: str, engine: str, tag: str = "", **sampling: object) -> dict:
    out = work / "bench" / f"eval_{engine}{tag}"
    shutil.rmtree(out, ignore_errors=True)
    params = {
        "engine": engine,
        "n_samples": 8,
        "pass_k": [1],
        "max_response_tokens": 24,
        "seed": 0,
        "scorers": {"heldout": "strict", "ood": "strict"},
        **sampling,
    }
    benches = [f"{S}/data/bench/heldout.parquet", f"{S}/data/bench/ood.parquet"]
    cmd = [
        sys.executable,
        "-m",
        "rlscaling",
        "evaluate",
        "--model",
        f"{S}/models/{size}/base",
        "--bench",
        *benches,
        "--params-json",
        json.dumps(params),
        "--threads",
        "2",
        "--out-dir",
        str(out),
    ]
    wall, _, log = run_timed(cmd, work, {})
    per_bench = {}
    for name in ("heldout", "ood"):
        summary = json.loads((out / f"{name}.json").read_text())
        per_bench[name] = {
            "seconds": round(summary["seconds"], 2),
            "samples": summary["n_problems"] * 8,
            "pass_at_1": round(summary["pass_at_1"], 4),
            "stderr": summary["pass_at_1_stderr"],
        }
    return {
        "out": str(out),
        "wall_s": round(wall, 1),
        "benchmarks": per_bench,
        "start_and_load_s": round(wall - sum(b["seconds"] for b in per_bench.values()), 1),
        "vllm_engine_starts": len(re.findall(r"Initializing a V1 LLM engine", log)),
    }


def engines_agree(work: Path, size: str, sampled: dict) -> dict:
    """Greedy fp32 text agreement on the held-out prompts, and the sampled pass@1 difference."""
    import pandas as pd

    greedy = {e: bench_eval(work, size, e, tag="_greedy", greedy=True) for e in ("hf", "vllm")}
    texts = {
        e: pd.read_parquet(Path(g["out"]) / "heldout.samples.parquet").sort_values(["index", "sample"])[
            "response"
        ]
        for e, g in greedy.items()
    }
    same = float((texts["hf"].to_numpy() == texts["vllm"].to_numpy()).mean())
    hf, vl = sampled["hf"]["benchmarks"]["heldout"], sampled["vllm"]["benchmarks"]["heldout"]
    se = (hf["stderr"] ** 2 + vl["stderr"] ** 2) ** 0.5
    return {
        "greedy_same_text": same,
        "greedy_prompts": int(len(texts["hf"])),
        "hf_pass_at_1": hf["pass_at_1"],
        "vllm_pass_at_1": vl["pass_at_1"],
        "difference_in_standard_errors": abs(hf["pass_at_1"] - vl["pass_at_1"]) / se if se else 0.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="m", help="a size of tests/fixtures/engines_study.yaml")
    ap.add_argument("--work", default="/tmp/bench_engines", help="working folder (kept for reruns)")
    ap.add_argument("--out", default=None, help="JSON results file")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    prepare(work, args.size)
    verl = bench_verl(work, args.size)
    evals = {engine: bench_eval(work, args.size, engine) for engine in ("hf", "vllm")}
    agreement = engines_agree(work, args.size, evals)
    result = {
        "size": args.size,
        "load_average": os.getloadavg(),
        "verl_segment": verl,
        "evaluate": evals,
        "agreement": agreement,
    }
    print(f"verl segment (2 steps, size {args.size}): {verl['wall_s']} s in all")
    print(f"  Ray start               {verl['ray_start_s']:>7} s")
    print(f"  workers + vLLM start    {verl['workers_and_vllm_start_s']:>7} s")
    for i, s in enumerate(verl["steps"], 1):
        print(f"  step {i}: " + ", ".join(f"{k} {v} s" for k, v in s.items()))
    print(f"  after the steps         {verl['after_last_step_until_trainer_exit_s']:>7} s (shutdown)")
    print(f"  HF export               {verl['export_s']:>7} s")
    for engine, e in evals.items():
        b = ", ".join(f"{n} {x['seconds']} s ({x['samples']} samples)" for n, x in e["benchmarks"].items())
        starts = f", vLLM engine starts: {e['vllm_engine_starts']}" if engine == "vllm" else ""
        head = f"evaluate with {engine}: {e['wall_s']} s in all: start + load {e['start_and_load_s']} s"
        print(f"{head}; {b}{starts}")
    print(
        f"greedy fp32, same text on {agreement['greedy_same_text']:.3f} of {agreement['greedy_prompts']} "
        f"held-out prompts; sampled pass@1 hf {agreement['hf_pass_at_1']:.4f} vs vllm "
        f"{agreement['vllm_pass_at_1']:.4f}: {agreement['difference_in_standard_errors']:.2f} standard errors"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
