"""Wall time from Snakemake's benchmark files (S/benchmarks/**/*.tsv, seconds per job): the summed
seconds per stage, and the study's critical path, the longest chain of jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlscaling.errors import UserError
from rlscaling.io import finite_or_none
from rlscaling.report.tables import fmt


def stage_times(study_dir: Path) -> list[dict[str, Any]]:
    """Per stage (first folder / file stem under S/benchmarks): jobs, summed seconds, max RSS (MB)."""
    import pandas as pd

    root = study_dir / "benchmarks"
    stages: dict[str, dict[str, Any]] = {}
    for tsv in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rel = tsv.relative_to(root)
        stage = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        try:
            df = pd.read_csv(tsv, sep="\t")
        except Exception as err:  # noqa: BLE001
            raise UserError(f"{tsv}: cannot be read as a Snakemake benchmark file ({err})") from None
        if "s" not in df.columns:
            raise UserError(f"{tsv}: missing column `s` (Snakemake benchmark file)")
        st = stages.setdefault(stage, {"stage": stage, "jobs": 0, "seconds": 0.0, "max_rss": None})
        st["jobs"] += 1
        st["seconds"] += float(pd.to_numeric(df["s"], errors="coerce").fillna(0).sum())
        if "max_rss" in df.columns:
            rss = pd.to_numeric(df["max_rss"], errors="coerce").max()
            if finite_or_none(rss) is not None:
                st["max_rss"] = max(st["max_rss"] or 0.0, float(rss))
    return sorted(stages.values(), key=lambda s: -s["seconds"])


def _job_seconds(tsv: Path) -> float:
    import pandas as pd

    return float(pd.to_numeric(pd.read_csv(tsv, sep="\t")["s"], errors="coerce").fillna(0).sum())


def base_model_of_runs(df: Any) -> dict[str, str]:
    """run -> the key of its base model under models/ (curves' `model` column, else the run's size)."""
    col = "model" if "model" in df.columns else "size"
    return dict(zip(df["run"], df[col], strict=True))


def critical_path(study_dir: Path, runs: dict[str, str]) -> dict[str, Any] | None:
    """The longest chain of jobs (seconds, from the Snakemake benchmark files): data, tokenizer, one run's
    pre-training, its training segments up to an evaluated step, that evaluation, then curves, the longest
    fit (or compare / allocate), figures and the report. runs: run name -> base model key
    (base_model_of_runs). None without benchmarks.
    Returns {seconds, run, step, chain: [(job, seconds)], total_job_seconds}."""
    root = study_dir / "benchmarks"
    if not root.is_dir():
        return None
    sec = {tsv.relative_to(root).with_suffix("").as_posix(): _job_seconds(tsv) for tsv in root.rglob("*.tsv")}
    head = [(k, sec[k]) for k in ("data", "tokenizer") if k in sec]
    analyses = [k for k in sec if k.startswith(("fit/", "allocate/")) or k == "compare"]
    tail = [("curves", sec.get("curves", 0.0))]
    if analyses:
        longest = max(analyses, key=lambda k: sec[k])
        tail.append((longest, sec[longest]))
    tail += [(k, sec[k]) for k in ("figures",) if k in sec]
    best: tuple[float, list[tuple[str, float]], str, int] | None = None
    for run, model in runs.items():
        chain = [(k, sec[k]) for k in [f"pretrain/{model}"] if k in sec]  # none for hub base models
        steps = sorted(int(k.rsplit("_", 1)[1]) for k in sec if k.startswith(f"train/{run}/step_"))
        evals = {int(k.rsplit("_", 1)[1]): sec[k] for k in sec if k.startswith(f"evaluate/{run}/step_")}
        for step in sorted(evals):
            segs = [(key, sec[key]) for t in steps if t <= step for key in [f"train/{run}/step_{t:06d}"]]
            path = head + chain + segs + [(f"evaluate/{run}/step_{step:06d}", evals[step])] + tail
            total = sum(t for _, t in path)
            if best is None or total > best[0]:
                best = (total, path, run, step)
    if best is None:
        return None
    return {"seconds": best[0], "run": best[2], "step": best[3], "chain": best[1],
            "total_job_seconds": sum(sec.values())}  # fmt: skip


def critical_path_text(cp: dict[str, Any]) -> str:
    """summary.md's lines on the critical path: its length, the jobs on it grouped by stage."""
    stages: dict[str, list[float]] = {}
    for job, t in cp["chain"]:
        stages.setdefault(job.split("/")[0], []).append(t)
    parts = []
    for st, ts in stages.items():
        parts.append(f"{st} {fmt(sum(ts), 's')} s" + (f" ({len(ts)} jobs)" if len(ts) > 1 else ""))
    return (
        f"Critical path: {fmt(cp['seconds'], 's')} s, run `{cp['run']}` to its evaluation at step "
        f"{cp['step']}: "
        + ", ".join(parts)
        + f". All jobs sum to {fmt(cp['total_job_seconds'], 's')} s, so the study needs at least "
        f"max(critical path, job seconds / cores) of wall time."
    )
