"""How long Snakemake takes to build (and print) the DAG of the full paper preset through profiles/slurm:
tan2025-qwen25-guru, 7 sizes x 3 seeds, 732 jobs (441 training segments, 252 evaluations in 63 groups).

    .venv/bin/python benchmarks/bench_dag.py [--repeat 3] [--preset tan2025-qwen25-guru] [--snakefile PATH]

Target: at most 30 s on 2 cores. Runs `snakemake -n` in a temporary working directory with
empty placeholder files where the preset expects its local data; prints each run's wall time, the job
count and the best time, and exits 1 when the best time misses the target.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 30.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--preset", default="tan2025-qwen25-guru")
    ap.add_argument("--snakefile", default=str(ROOT / "Snakefile"))
    args = ap.parse_args(argv)
    preset = ROOT / "workflow" / "presets" / f"{args.preset}.yaml"
    cfg = yaml.safe_load(preset.read_text())
    snakemake = str(Path(sys.executable).parent / "snakemake")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parquet = cfg["data"].get("parquet") or {}
        files = [*parquet.get("train_files", []), *parquet.get("heldout_files", [])]
        files += [b["path"] for b in cfg["benchmarks"].values() if "path" in b]
        for rel in files:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).touch()
        cmd = [
            snakemake,
            "-s",
            args.snakefile,
            "--directory",
            str(work),
            "--profile",
            "profiles/slurm",
            "--configfile",
            str(preset),
            "--replace-workflow-config",
            "-n",
            "all",
        ]
        for i in range(args.repeat):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 2
            m = re.search(r"^total\s+(\d+)\s*$", proc.stdout + proc.stderr, re.M)
            jobs = int(m.group(1)) if m else -1
            print(f"run {i + 1}: {dt:6.2f} s, {jobs} jobs")
            times.append(dt)
    best = min(times)
    verdict = "ok" if best <= TARGET_S else "MISSED"
    print(f"best {best:.2f} s (target {TARGET_S:.0f} s): {verdict}")
    return 0 if best <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
