"""summary.md's cells and tables (Markdown): a number formatted by its kind, a value with its standard
error or its 95% interval, and the study, per-size, per-benchmark and fit tables."""

from __future__ import annotations

import math
from typing import Any

from rlscaling import verdicts
from rlscaling.io import finite_or_none
from rlscaling.report.runs import run_summary


def fmt(x: Any, kind: str = "g") -> str:
    """A table cell: '–' for missing; kind 'p' (probability, 3 decimals), 'e' (FLOPs / counts,
    3 significant digits in scientific notation), 's' (seconds), 'g' (general, 4 significant)."""
    if isinstance(x, str):
        return x.replace("|", "\\|")
    v = finite_or_none(x)
    if v is None:
        return "–"
    if kind == "p":
        return f"{v:.3f}"
    if kind == "e":
        return f"{v:.3e}"
    if kind == "s":
        return f"{v:.1f}"
    if kind == "d":
        return f"{v:+.3f}"
    return f"{v:.4g}"


def fmt_value(x: Any, kind: str = "g") -> str:
    """A cell for a value read from a JSON file (FIT.json), where a missing value is absent or null and
    NaN / infinity is a broken number: shown as **NaN** / **inf**, never as '–' (missing)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isfinite(x):
        return "**NaN**" if math.isnan(x) else f"**{'+' if x > 0 else '-'}inf**"
    return fmt(x, kind)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the header row, its rule, then one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def with_se(value: Any, se: Any, kind: str) -> str:
    """'0.329 ± 0.020' (or the value alone without an error)."""
    text = fmt(value, kind)
    return text if finite_or_none(se) is None else f"{text} ± {fmt(se, 'p')}"


def with_ci(value: Any, ci: Any, kind: str) -> str:
    """'0.12 [0.08, 0.16]' (a value read from a JSON file and its interval; the value alone without one)."""
    text = fmt_value(value, kind)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(v is not None for v in ci):
        text += f" [{fmt_value(ci[0], kind)}, {fmt_value(ci[1], kind)}]"
    return text


def study_table(summary: Any) -> str:
    k_cols = [c for c in summary.columns if c.startswith("pass_at_")]
    header = ["run", "size", "N", "N_nonembed", "base pass@1", "final pass@1", "gain"]
    header += [f"pass@{c[8:]} (final)" for c in k_cols] + ["pretrain FLOPs", "RL FLOPs (final C)"]
    rows = []
    for _, r in summary.iterrows():
        cells = [
            fmt(r["run"]),
            fmt(str(r["size"])),
            fmt(r["N"], "e"),
            fmt(r["N_nonembed"], "e"),
            fmt(r["base"], "p"),
            fmt(r["final"], "p"),
            fmt(r["gain"], "d"),
        ]
        cells += [fmt(r[c], "p") for c in k_cols] + [fmt(r["C_pretrain"], "e"), fmt(r["C"], "e")]
        rows.append(cells)
    return table(header, rows)


def size_table(stats: Any) -> str:
    header = ["size", "N", "runs", "base pass@1", "final pass@1", "gain", "final L"]
    rows = [
        [
            fmt(str(size)),
            fmt(r["N"], "e"),
            str(int(r["n"])),
            with_se(r["base"], r["base_se"], "p"),
            with_se(r["final"], r["final_se"], "p"),
            with_se(r["gain"], r["gain_se"], "d"),
            with_se(r["L"], r["L_se"], "p"),
        ]
        for size, r in stats.iterrows()
    ]
    return table(header, rows)


def bench_table(df: Any) -> str:
    benches = sorted(set(df["bench"]))
    header = ["run", "size"] + [f"{b} base → final" for b in benches]
    rows = []
    per_bench = {b: run_summary(df, b).set_index("run") for b in benches}
    order = run_summary(df, benches[0])
    for _, r in order.iterrows():
        cells = [fmt(r["run"]), fmt(str(r["size"]))]
        for b in benches:
            s = per_bench[b]
            if r["run"] in s.index:
                x = s.loc[r["run"]]
                cells.append(f"{fmt(x['base'], 'p')} → {fmt(x['final'], 'p')} ({fmt(x['gain'], 'd')})")
            else:
                cells.append("–")
        rows.append(cells)
    return table(header, rows)


def fit_table(fits: list[dict[str, Any]]) -> str:
    header = [
        "fit",
        "law",
        "x",
        "scenario",
        "K_max [95% CI]",
        "N0 [95% CI]",
        "R²",
        "R² (log)",
        "points",
        "held-out R²",
        "held-out RMSE",
        "held-out MAPE (%)",
    ]
    rows = []
    for f in fits:
        k, k_ci = verdicts.fit_param(f, "K_max", "k_max", "Kmax")
        n0, n0_ci = verdicts.fit_param(f, "N0", "n0")
        held = f.get("heldout") if isinstance(f.get("heldout"), dict) else {}
        rows.append(
            [
                fmt(str(f.get("_name"))),
                fmt(str(f.get("law", "–"))),
                fmt(str(f.get("x", "–"))),
                fmt(str(f.get("scenario", "–"))),
                with_ci(k, k_ci, "g"),
                with_ci(n0, n0_ci, "e"),
                fmt_value(f.get("r2"), "p"),
                fmt_value(f.get("r2_log"), "p"),
                fmt_value(f.get("n_points")),
                fmt_value(held.get("r2"), "p"),
                fmt_value(held.get("rmse"), "g"),
                fmt_value(held.get("mape"), "g"),
            ]
        )
    return table(header, rows) + _flag_lines(fits)


def _flag_lines(fits: list[dict[str, Any]]) -> str:
    """Intervals a fit flagged (at an optimizer bound, zero width: FIT.json notes), listed under the
    table so an interval the data cannot support is not read as one they do."""
    lines = [
        f"- ⚠ `{f.get('_name')}`: {n}"
        for f in fits
        for n in (f.get("notes") if isinstance(f.get("notes"), list) else [])
        if isinstance(n, str) and n.startswith("interval flag:")
    ]
    return "\n\n**Flagged intervals**\n\n" + "\n".join(lines) if lines else ""
