"""summary.md (render): the study's tables, checks and design warnings, then the law tournament, the
prediction of the largest size, training health, the data stage's record, wall time per stage and
links to the figures, in one Markdown document."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlscaling import verdicts
from rlscaling.errors import UserError
from rlscaling.io import read_json_object
from rlscaling.report.checks import judge_study
from rlscaling.report.runs import main_bench, run_summary, size_stats
from rlscaling.report.tables import bench_table, fit_table, fmt, size_table, study_table, table
from rlscaling.report.timing import base_model_of_runs, critical_path, critical_path_text, stage_times

LEGEND = (
    "pass: the data support the claim at 95%; **FAIL**: the data contradict it; undetermined: the data "
    "cannot decide (the interval straddles the line, there is no interval, or an optimizer bound cuts "
    "it); n/a: the study cannot pose the claim. `rlscaling report --check` exits 1 on a FAIL only."
)


def load_fit(path: str | Path) -> dict[str, Any]:
    """A fit's JSON object (FIT.json, prediction.json), `_name` set to its file name without .json unless
    it has one. UserError when the file is missing or not a JSON object."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--fits: {path} does not exist")
    obj = read_json_object(path)
    obj.setdefault("_name", path.name.removesuffix(".json"))
    return obj


def data_rows(study_dir: Path, limit: int = 40) -> list[list[str]]:
    """Scalar entries of S/data/report.json (nested keys dotted, lists of scalars joined), if present."""
    path = study_dir / "data" / "report.json"
    if not path.is_file():
        return []
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg})") from None
    rows: list[list[str]] = []

    def walk(prefix: str, value: Any, depth: int) -> None:
        if len(rows) >= limit:
            return
        if isinstance(value, dict) and depth < 2:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v, depth + 1)
        elif isinstance(value, (str, int, float, bool)) or value is None:
            rows.append([fmt(prefix), fmt(value if isinstance(value, str) else json.dumps(value))])
        elif (
            isinstance(value, list)
            and len(value) <= 12
            and all(not isinstance(v, (dict, list)) for v in value)
        ):
            rows.append([fmt(prefix), fmt(", ".join(str(v) for v in value))])

    walk("", obj, 0)
    return rows


def _steps_text(steps: list[int]) -> str:
    if len(steps) <= 12:
        return ", ".join(map(str, steps))
    return f"{steps[0]}–{steps[-1]} ({len(steps)} steps)"


def _demote_headings(markdown: str) -> str:
    """Markdown headings one level deeper, so an included document nests under its section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _verdict_cell(verdict: str) -> str:
    return f"**{verdict}**" if verdict == verdicts.FAIL else verdict


def _prediction_section(study_dir: Path) -> list[str]:
    """summary.md's lines on prediction.json (rule predict): the largest size predicted from the
    smaller ones, its interval against the truth; none when the file is absent."""
    path = study_dir / "prediction.json"
    if not path.is_file():
        return []
    from rlscaling.fit.predict_cli import markdown as prediction_markdown

    text = prediction_markdown(load_fit(path))
    return ["## Prediction of the largest size (prediction.json)", "", text, ""]


def _health_section(study_dir: Path, runs: list[str]) -> list[str]:
    """summary.md's lines on training health: each run whose runs/{run}/metrics.jsonl has flagged steps
    (`health`, rlscaling.training_health), with its first flagged step and reasons; "no run flagged" when
    none; a note on runs whose metrics carry no health field."""
    from rlscaling.io import read_jsonl

    flagged, unchecked = [], []
    for run in sorted(runs):
        path = study_dir / "runs" / run / "metrics.jsonl"
        records = read_jsonl(path) if path.is_file() else []
        if not records or any("health" not in r for r in records):
            unchecked.append(run)
            continue
        bad = [r for r in records if r["health"]]
        if bad:
            reasons = "; ".join(f["reason"] for f in bad[0]["health"])
            flagged.append([fmt(run), str(len(bad)), str(bad[0]["step"]), fmt(reasons)])
    lines = ["## Training health (runs/{run}/metrics.jsonl)", ""]
    if flagged:
        lines += [table(["run", "flagged steps", "first flagged step", "reason"], flagged), ""]
    elif len(unchecked) < len(runs):
        lines += [f"No run flagged ({len(runs) - len(unchecked)} runs checked).", ""]
    if unchecked:
        lines += [f"Not checked (metrics without `health`): {', '.join(unchecked)}.", ""]
    return lines


def render(
    study_dir: Path,
    df: Any,
    fits: list[dict[str, Any]],
    out_path: Path,
    where: list[str] | None = None,
    all_runs: dict[str, str] | None = None,
    judged: dict[str, Any] | None = None,
) -> str:
    """The summary.md text; `where` (COLUMN=VALUE filters already applied to df) is stated under the title;
    all_runs (run -> base model key, default df's runs) are the runs the critical path is sought among;
    judged: judge_study's record (default: judged here, with the default power simulation)."""
    judged = judged if judged is not None else judge_study(df, fits)
    bench = main_bench(df)
    summary = run_summary(df, bench)
    study = str(df["study"].iloc[0]) if "study" in df.columns else study_dir.name
    steps = sorted(int(s) for s in set(df["step"]))
    parts = [
        f"# Study `{study}`",
        "",
        f"{df['run'].nunique()} runs, {df['size'].nunique()} sizes, evaluated at steps {_steps_text(steps)}, "
        f"benchmarks {sorted(set(df['bench']))}. Main benchmark: `{bench}`. L = 1 − pass@1; "
        "FLOPs: RL C = 6·N·(prompt + response tokens), cumulative; pre-training 6·N·tokens.",
        "",
        *(
            [
                f"Tables and checks on the runs with {', '.join(f'`{w}`' for w in where)} (the sweep's first "
                "value, as the fits); every run is in curves.parquet, and the sweep's answer in allocate/.",
                "",
            ]
            if where
            else []
        ),
        f"## Study (benchmark `{bench}`)",
        "",
        study_table(summary),
        "",
        f"## Per size (benchmark `{bench}`; mean ± standard error over replicates)",
        "",
        size_table(size_stats(summary)),
        "",
        "## Per benchmark: base → final pass@1 (gain)",
        "",
        bench_table(df),
        "",
        "## Fits",
        "",
        fit_table(fits) if fits else "No fits given.",
        "",
        "## Checks",
        "",
        LEGEND,
        "",
        table(
            ["check", "verdict", "detail"],
            [[e["check"], _verdict_cell(e["verdict"]), fmt(e["detail"])] for e in judged["checks"]],
        ),
        "",
        "## Design warnings",
        "",
        "Properties of the study's design that weaken what it can show; no verdict.",
        "",
        *([f"- ⚠ {w}" for w in judged["design_warnings"]] or ["None."]),
        "",
    ]
    tournament = study_dir / "compare.md"
    if tournament.is_file():  # rlscaling compare's tables (rule compare): out-of-sample R² / MAPE per law
        parts += ["## Law tournament (compare.md)", "", _demote_headings(tournament.read_text()).strip(), ""]
    parts += _prediction_section(study_dir)
    parts += _health_section(study_dir, sorted(all_runs or set(df["run"])))  # every run, sweep or not
    data = data_rows(study_dir)
    if data:
        parts += ["## Data (data/report.json)", "", table(["key", "value"], data), ""]
    times = stage_times(study_dir)
    parts += ["## Wall time per stage", ""]
    if times:
        rows = [
            [
                t["stage"],
                str(t["jobs"]),
                fmt(t["seconds"], "s"),
                fmt(t["seconds"] / 60, "s"),
                fmt(t["max_rss"], "s"),
            ]
            for t in times
        ]
        total = sum(t["seconds"] for t in times)
        rows.append(
            ["**total**", str(sum(t["jobs"] for t in times)), fmt(total, "s"), fmt(total / 60, "s"), ""]
        )
        parts += [table(["stage", "jobs", "seconds (sum)", "minutes", "max RSS (MB)"], rows), ""]
        cp = critical_path(study_dir, all_runs or base_model_of_runs(df))
        if cp is not None:
            parts += [critical_path_text(cp), ""]
    else:
        parts += [f"No benchmark files under {study_dir / 'benchmarks'}.", ""]
    figures = sorted((study_dir / "figures").glob("*.png")) if (study_dir / "figures").is_dir() else []
    parts += ["## Figures", ""]
    if figures:
        base = out_path.resolve().parent
        for f in figures:
            rel = Path(os.path.relpath(f.resolve(), base)).as_posix()
            parts.append(f"- [{f.stem}]({rel})")
    else:
        parts.append("No figures yet.")
    parts.append("")
    return "\n".join(parts)
