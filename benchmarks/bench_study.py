"""How close a finished tiny study ran to this machine's own limit: the fp32 matmul peak, each stage's
achieved FLOP/s against it, each job kind's fixed cost, and job-seconds per replicate.

    make bench-study          # the default study (runs it first if needed), then this
    .venv/bin/python benchmarks/bench_study.py results/default [--out results/bench_study]

Ratios to the peak are what travel between machines; seconds do not. Everything comes from files the
study already wrote, except the peak, which is timed here:
- peak: the best of 5 float32 matmuls on the wall clock at 1 and 2 threads, for a 1024 x 1024 x 1024
  product and for the shapes of the family's largest linear layer (rows = one pre-training batch of
  tokens). The study's jobs run one thread each, so ratios are taken to the 1-thread peak;
- job seconds: Snakemake's benchmark files (S/benchmarks/<stage>/...tsv, column s, the job's wall time;
  column cpu_time, its CPU seconds, which a busy machine inflates much less);
- useful work inside a job, and its FLOPs (rlscaling.compute's conventions):
  pretrain — models/<model>/pretrain.json: train_seconds, flops = 6·N·tokens;
  train    — each segment's metrics.jsonl: per step wall_seconds (generation + update), flops = 6·N·T
             (T = prompt + response tokens of every rollout, the paper's convention);
  evaluate — each eval/<run>/step_k/<bench>.json: generation_seconds and the generated tokens
             (problems x samples x mean response tokens), FLOPs = 2·N·generated tokens (prefill of
             the prompts not counted, so a lower bound);
- fixed cost of a job = job seconds - seconds of useful work: process start, imports, loading and
  saving models, building the trainer, scoring;
- job-seconds per replicate = all job seconds / replicates per size.
- an evaluation that a training segment (or a base model's pre-training job) made in its own process
  (rlscaling.evaluate.memo; the evaluate job's log says "from the training segment's evaluation") is
  counted as evaluation: its seconds (the summary's `seconds`) move from that job to the evaluate job,
  whose own seconds are then the copy.
Writes OUT/bench_study.md (tables) and OUT/bench_study.json, and prints the tables. The load average
is recorded: on a busy machine the study's seconds (and this peak) mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing  # noqa: E402

from rlscaling.io import read_jsonl, write_json, write_text  # noqa: E402

STAGES = ("pretrain", "train", "evaluate")


def matmul_peak(threads: int, m: int, k: int, n: int, repeat: int = 5) -> float:
    """FLOP/s of the best of `repeat` float32 (m x k) @ (k x n) products on the wall clock."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(m, k), torch.randn(k, n)
    inner = max(1, int(2e8 // (2 * m * k * n)))  # each timing holds >= 0.2 GFLOP
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t0) / inner)
    return 2.0 * m * k * n / best


def job_seconds(study: Path, column: str = "s") -> dict[str, float]:
    """{benchmark key (stage/... without .tsv): seconds} from Snakemake's benchmark files: column `s`
    (the job's wall time) or `cpu_time` (its processes' user + system CPU seconds)."""
    import pandas as pd

    root = study / "benchmarks"
    out = {}
    for tsv in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        df = pd.read_csv(tsv, sep="\t")
        out[tsv.relative_to(root).with_suffix("").as_posix()] = float(pd.to_numeric(df[column]).sum())
    return out


def jobs(study: Path) -> list[dict[str, Any]]:
    """One record per pretrain / train / evaluate job: stage, size, key, job seconds, useful seconds,
    FLOPs of the useful work (and generated tokens for evaluations)."""
    import pandas as pd

    seconds = job_seconds(study)
    cpu = job_seconds(study, "cpu_time")
    curves = pd.read_parquet(study / "curves.parquet", columns=None)
    size_of_run = dict(zip(curves["run"], curves["size"], strict=False))
    n_of_run = dict(zip(curves["run"], curves["N"], strict=False))
    out = []
    for key, s in seconds.items():
        stage, _, rest = key.partition("/")
        if stage not in STAGES:
            continue
        if stage == "pretrain":
            rec = json.loads((study / "models" / rest / "pretrain.json").read_text())
            out.append({"stage": stage, "size": rec["size"], "key": rest, "seconds": s,
                        "useful_seconds": rec["train_seconds"], "flops": rec["flops"]})  # fmt: skip
        elif stage == "train":
            run, step = rest.rsplit("/", 1)
            rows = read_jsonl(study / "runs" / run / step / "metrics.jsonl")
            seg = int(step.split("_")[1])
            first = seg - len([r for r in rows if r["step"] <= seg and r["step"] > 0])
            rows = [r for r in rows if first < r["step"] <= seg]
            out.append({"stage": stage, "size": size_of_run[run], "key": rest, "seconds": s,
                        "useful_seconds": sum(r["wall_seconds"] for r in rows),
                        "flops": sum(r["flops"] for r in rows)})  # fmt: skip
        elif stage == "evaluate":
            run = rest.rsplit("/", 1)[0]
            useful = flops = tokens = 0.0
            for f in sorted((study / "eval" / rest).glob("*.json")):
                e = json.loads(f.read_text())
                generated = e["n_problems"] * e["n_samples"] * e["mean_response_tokens"]
                useful += e["generation_seconds"]
                tokens += generated
                flops += 2.0 * float(n_of_run[run]) * generated
            out.append({"stage": stage, "size": size_of_run[run], "key": rest, "seconds": s,
                        "useful_seconds": useful, "flops": flops, "generated_tokens": tokens})  # fmt: skip
        out[-1]["cpu_seconds"] = cpu[key]
    _move_in_process_evaluations(study, out)
    return out


def _move_in_process_evaluations(study: Path, records: list[dict[str, Any]]) -> None:
    """Evaluations made inside a training segment or a pre-training job (the evaluate job copied them):
    their seconds move from that job's record to the evaluate job's, so each stage keeps its own work."""
    from rlscaling.evaluate.memo import memo_dir

    by_key = {(r["stage"], r["key"]): r for r in records}
    for r in records:
        if r["stage"] != "evaluate":
            continue
        log = study / "logs" / "evaluate" / f"{r['key']}.log"
        if not (log.is_file() and "from the training segment's evaluation" in log.read_text()):
            continue
        run, step = r["key"].rsplit("/", 1)
        summaries = [json.loads(f.read_text()) for f in sorted((study / "eval" / r["key"]).glob("*.json"))]
        moved = sum(float(e["seconds"]) for e in summaries)
        model = Path(summaries[0]["model"]) if summaries else None
        if int(step.split("_")[1]) == 0 and model is not None:
            owner = ("pretrain", str(model.parent.relative_to(study / "models")))
        else:
            owner = ("train", r["key"])
        if owner not in by_key or model is None or not memo_dir(model).is_dir():
            continue
        for field in ("seconds", "cpu_seconds"):
            by_key[owner][field] -= moved
            r[field] += moved


def summarize(records: list[dict[str, Any]], peak1: float, replicates: int) -> list[dict[str, Any]]:
    """Per stage and size: jobs, job seconds, fixed seconds per job, FLOP/s inside the work and over the
    whole job, and their ratio to the 1-thread peak."""
    import pandas as pd

    df = pd.DataFrame(records)
    rows = []
    for (stage, size), g in df.groupby(["stage", "size"], sort=False):
        work, job, flops = g["useful_seconds"].sum(), g["seconds"].sum(), g["flops"].sum()
        row = {
            "stage": stage,
            "size": size,
            "jobs": len(g),
            "job_seconds_per_replicate": job / replicates,
            "cpu_seconds_per_replicate": g["cpu_seconds"].sum() / replicates,
            "fixed_seconds_per_job": float((g["seconds"] - g["useful_seconds"]).mean()),
            "flops_per_s_work": flops / work if work > 0 else None,
            "flops_per_s_job": flops / job if job > 0 else None,
        }
        row["work_to_peak"] = row["flops_per_s_work"] / peak1 if row["flops_per_s_work"] else None
        row["job_to_peak"] = row["flops_per_s_job"] / peak1 if row["flops_per_s_job"] else None
        if "generated_tokens" in g and g["generated_tokens"].notna().any():
            row["generated_tokens_per_s"] = g["generated_tokens"].sum() / work if work > 0 else None
        rows.append(row)
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted(rows, key=lambda r: (order.get(r["stage"], 9), r["flops_per_s_job"] or 0))


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _g(x: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "–" if x is None else f"{x / scale:.{digits}f}"


def render(result: dict[str, Any]) -> str:
    peaks = result["peak"]
    lines = [
        f"# Study cost against this machine's limit: `{result['study']}`",
        "",
        f"{result['date']}, commit {result['commit']}, {result['machine']}; command: `{result['command']}`. "
        f"Load average at the start: {result['load_average']:.2f}.",
        "",
        "## fp32 matmul peak (GFLOP/s, wall clock, best of 5)",
        "",
        _table(
            ["shape (m x k x n)", "1 thread", "2 threads"],
            [[p["shape"], _g(p["threads_1"], 1e9), _g(p["threads_2"], 1e9)] for p in peaks],
        ),
        "",
        f"Ratios below are to the 1-thread peak of the 1024 product, {result['peak1'] / 1e9:.1f} GFLOP/s "
        "(the study's jobs run one thread each).",
        "",
        "## Per stage and size",
        "",
        _table(
            ["stage", "size", "jobs", "job-s / replicate", "CPU-s / replicate", "fixed s / job",
             "GFLOP/s in work", "work / peak", "GFLOP/s over job", "job / peak"],  # fmt: skip
            [
                [r["stage"], str(r["size"]), str(r["jobs"]), _g(r["job_seconds_per_replicate"]),
                 _g(r["cpu_seconds_per_replicate"]),
                 _g(r["fixed_seconds_per_job"]), _g(r["flops_per_s_work"], 1e9),
                 _g(r["work_to_peak"], 0.01, 0) + "%", _g(r["flops_per_s_job"], 1e9),
                 _g(r["job_to_peak"], 0.01, 0) + "%"]  # fmt: skip
                for r in result["per_stage_size"]
            ],
        ),
        "",
        "## Per stage",
        "",
        _table(
            ["stage", "jobs", "job-s / replicate", "CPU-s / replicate", "fixed s / job", "fixed share"],
            [[s["stage"], str(s["jobs"]), _g(s["job_seconds_per_replicate"]),
              _g(s["cpu_seconds_per_replicate"]), _g(s["fixed_seconds_per_job"]),
              _g(s["fixed_share"], 0.01, 0) + "%"] for s in result["per_stage"]],  # fmt: skip
        ),
        "",
        f"**Job-seconds per replicate: {result['job_seconds_per_replicate']:.0f}** (wall; CPU-seconds "
        f"{result['cpu_seconds_per_replicate']:.0f}); {result['replicates']} replicate(s) per size; every "
        f"job of the study, data and analysis included: {result['job_seconds_total']:.0f} job-seconds, "
        f"{result['cpu_seconds_total']:.0f} CPU-seconds in all. On a shared machine the wall seconds "
        "grow with the load and the CPU-seconds much less: compare CPU-seconds across runs that did not "
        "have the machine to themselves.",
        "",
    ]
    return "\n".join(lines)


def bench_study(study: Path, command: str, commit: str | None = None) -> dict[str, Any]:
    """Everything the tables show, as a JSON-ready dict."""
    import subprocess

    import pandas as pd

    load = os.getloadavg()[0]
    if not (study / "curves.parquet").is_file():
        raise SystemExit(f"{study}: no curves.parquet; run the study first (make bench-study does)")
    biggest = max(
        (json.loads(p.read_text()) for p in (study / "models").rglob("pretrain.json")),
        key=lambda r: r["N"],
        default=None,
    )
    shapes = [(1024, 1024, 1024)]
    if biggest:
        a, p = biggest["arch"], biggest["pretrain"]
        shapes.append((p["seq_len"] * p["batch_size"], a["hidden_size"], a["intermediate_size"]))
    peaks = [
        {"shape": " x ".join(map(str, s)), "threads_1": matmul_peak(1, *s), "threads_2": matmul_peak(2, *s)}
        for s in shapes
    ]
    peak1 = peaks[0]["threads_1"]
    curves = pd.read_parquet(study / "curves.parquet")
    replicates = int(curves["replicate"].nunique()) if "replicate" in curves else 1
    records = jobs(study)
    per_stage = []
    df = pd.DataFrame(records)
    for stage in STAGES:
        g = df[df["stage"] == stage]
        if len(g):
            per_stage.append({
                "stage": stage, "jobs": len(g), "job_seconds_per_replicate": g["seconds"].sum() / replicates,
                "cpu_seconds_per_replicate": g["cpu_seconds"].sum() / replicates,
                "fixed_seconds_per_job": float((g["seconds"] - g["useful_seconds"]).mean()),
                "fixed_share": float((g["seconds"] - g["useful_seconds"]).sum() / g["seconds"].sum()),
            })  # fmt: skip
    total = sum(job_seconds(study).values())
    total_cpu = sum(job_seconds(study, "cpu_time").values())
    if commit is None:
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout.strip()  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "study": str(study),
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit,
        "machine": f"{cpu}, {os.cpu_count()} cores",
        "command": command,
        "load_average": load,
        "peak": peaks,
        "peak1": peak1,
        "replicates": replicates,
        "per_stage_size": summarize(records, peak1, replicates),
        "per_stage": per_stage,
        "job_seconds_total": total,
        "job_seconds_per_replicate": total / replicates,
        "cpu_seconds_total": total_cpu,
        "cpu_seconds_per_replicate": total_cpu / replicates,
        "jobs": records,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", nargs="?", default="results/default", help="a finished tiny study's folder")
    ap.add_argument("--out", default="results/bench_study", help="folder for bench_study.md / .json")
    ap.add_argument(
        "--commit", default=None, help="the commit that ran the study (default: this checkout's HEAD)"
    )
    args = ap.parse_args(argv)
    study = Path(args.study)
    result = bench_study(study, "benchmarks/bench_study.py " + " ".join(argv or sys.argv[1:]), args.commit)
    text = render(result)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bench_study.md", text)
    write_json(out / "bench_study.json", result)
    print(text)
    if result["load_average"] > 0.5:
        print(
            f"warning: load average {result['load_average']:.2f} at the start: other processes were "
            "running, so the peak and ratios are lower than an idle machine's",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
