"""A study's curves table digested on one benchmark: one row per run (base and final pass@1, gain,
pass@k, FLOPs) and one per size (mean and standard error over the size's replicates), as pandas
DataFrames; what summary.md's tables and the checks read."""

from __future__ import annotations

from typing import Any

from rlscaling.report.stats import mean_se

MAIN_BENCH = "heldout"


def main_bench(df: Any) -> str:
    """The benchmark summary.md and the checks judge: MAIN_BENCH when df has it, else the first by name."""
    benches = sorted(set(df["bench"]))
    return MAIN_BENCH if MAIN_BENCH in benches else benches[0]


def run_summary(df: Any, bench: str) -> Any:
    """Per run on `bench`: size, N, N_nonembed, base / final pass@1, gain, final pass@k, C_pretrain,
    final C (pandas DataFrame, runs ordered by N then name)."""
    import pandas as pd

    d = df[df["bench"] == bench]
    k_cols = sorted(
        (c for c in d.columns if c.startswith("pass_at_") and c != "pass_at_1"), key=lambda c: int(c[8:])
    )
    rows = []
    for run, g in d.groupby("run", sort=False):
        g = g.sort_values("step")
        first, last = g.iloc[0], g.iloc[-1]
        base = first["pass_at_1"] if int(first["step"]) == 0 else float("nan")
        row = {
            "run": run,
            "size": last["size"],
            "N": last["N"],
            "N_nonembed": last.get("N_nonembed"),
            "base": base,
            "final": last["pass_at_1"],
            "final_step": int(last["step"]),
            "gain": last["pass_at_1"] - base,
            "C_pretrain": last.get("C_pretrain"),
            "C": last.get("C"),
        }
        if "replicate" in g.columns:
            row["replicate"] = int(last["replicate"])
        for c in k_cols:
            row[c] = last[c]
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["N", "run"], kind="stable").reset_index(drop=True)


def size_stats(summary: Any) -> Any:
    """Per size (ordered by N): N, runs (n), and mean / standard error over the size's runs of base,
    final, gain and final L (= 1 - final). The error is kept only when the runs are replicates (the
    table has a `replicate` column: a study with replicates > 1); otherwise it is None."""
    import pandas as pd

    replicated = "replicate" in summary.columns
    rows = []
    for size, g in summary.groupby("size", sort=False):
        row: dict[str, Any] = {"size": size, "N": g["N"].iloc[0], "n": len(g)}
        for col in ("base", "final", "gain"):
            m, se, _ = mean_se(g[col])
            row[col], row[f"{col}_se"] = m, se if replicated else None
        row["L"] = None if row["final"] is None else 1.0 - row["final"]
        row["L_se"] = row["final_se"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("N", kind="stable").set_index("size")
