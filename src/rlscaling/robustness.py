"""`rlscaling robustness`: the default study's verdicts over study seeds (`make robustness`).

    rlscaling robustness [--seeds 0,1,2] [--configfile workflow/presets/X.yaml] [--cores 2]
        [--results-dir results] [--directory .] [--table-only] [--dry-run]

Run from the project folder (the one with Snakefile and config.yaml; --directory names another). For
every study seed k it runs the whole study (`snakemake --profile profiles/local all`) with a config
overlay {study: <study>-seed<k>, seed: k} written to <results-dir>/robustness/seed<k>.yaml, so each
seed has its own results folder <results-dir>/<study>-seed<k>/ (data, pre-training, RL, evaluation
and fits all follow the seed). Then it tabulates, per seed:
- the verdict of every check (pass / FAIL / undetermined / n/a) and the design warnings, read from
  the study's checks.json (else its summary.md) with rlscaling.report.checks_file.read_checks;
- the fitted K_max and N0 with their 95% intervals, R² and K_max / N0 interval flags of every fit
  (fits/*.json);
- per size, base and final held-out pass@1 and the gain, mean ± standard error over replicates;
- per size, pre-training tokens per parameter and the base models' held-out pre-training loss (nats
  per token), mean ± standard error over replicates (models/**/pretrain.json);
- the study's wall time (this command's clock around snakemake);
and over all seeds, the trend in N pooled: the slope of every run's base and final L on log10 N with
one intercept per seed and its 95% interval (pooled_trends).
It writes <results-dir>/robustness/robustness.md, robustness.json and pooled_trend.json, the figure
robustness.png / .pdf (every run's final loss and RL gain against N, per seed), prints the Markdown,
and exits 1 when a verdict is FAIL for any seed (undetermined is no failure), 2 when a study could not
be run or read.

Cost: one full study per seed (about 30 idle-machine minutes each for config.yaml's three replicates
on 2 cores). --table-only tabulates the studies already on disk; --dry-run
prints the planned job counts (snakemake -n) and runs nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from rlscaling.errors import UserError
from rlscaling.io import read_json_object
from rlscaling.report.runs import main_bench, run_summary, size_stats
from rlscaling.report.stats import pooled_slope
from rlscaling.report.tables import fmt_value
from rlscaling.verdicts import FAIL, UNDETERMINED


def base_study(root: Path, configfiles: list[str]) -> str:
    """The study name root/config.yaml, then each --configfile, give (later files win)."""
    name = "default"
    for f in [root / "config.yaml", *(root / c for c in configfiles)]:
        if not f.is_file():
            raise UserError(f"{f} does not exist")
        try:
            loaded = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as err:
            raise UserError(f"{f}: not valid YAML ({err})") from None
        if not isinstance(loaded, dict):
            raise UserError(f"{f}: expected a mapping of config keys")
        name = loaded.get("study", name)
    return str(name)


def design_warnings(study_dir: Path) -> list[str]:
    """The design warnings of a study's checks.json ([] without one: an older summary.md)."""
    path = study_dir / "checks.json"
    if not path.is_file():
        return []
    warnings = read_json_object(path).get("design_warnings")
    return [w for w in warnings if isinstance(w, str)] if isinstance(warnings, list) else []


def snakemake_cmd(configfiles: list[str], overlay: Path, cores: int, *extra: str) -> list[str]:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    return [snakemake, "--profile", "profiles/local", "--cores", str(cores), "all", *extra,
            "--configfile", *configfiles, str(overlay)]  # fmt: skip


def fit_rows(study_dir: Path) -> list[dict[str, Any]]:
    """K_max, N0 (value and 95% interval), R² and interval flags of every fit of a study."""
    rows = []
    for path in sorted((study_dir / "fits").glob("*.json")):
        fit = json.loads(path.read_text())
        params, ci = fit.get("params") or {}, fit.get("ci95") or {}
        rows.append(
            {
                "fit": path.stem,
                "K_max": params.get("K_max"),
                "K_max_ci": ci.get("K_max"),
                "N0": params.get("N0"),
                "N0_ci": ci.get("N0"),
                "r2": fit.get("r2"),
                "flags": [
                    f"{f.get('param')} {f.get('kind')}"
                    for f in fit.get("interval_flags") or []
                    if f.get("param") in ("K_max", "N0")
                ],
            }
        )
    return rows


def size_rows(study_dir: Path) -> list[dict[str, Any]]:
    """Per size on the main benchmark (ordered by N): runs, and base / final pass@1 and gain as mean and
    standard error over the size's replicates (None without replicates): summary.md's per-size table,
    recomputed from curves.parquet."""
    from rlscaling.curves_table import load_curves  # pandas, imported when used

    df = load_curves(study_dir / "curves.parquet")
    stats = size_stats(run_summary(df, main_bench(df)))
    return [
        {"size": str(size), "runs": int(r["n"]),
         **{k: None if r[k] is None or r[k] != r[k] else float(r[k])
            for k in ("base", "base_se", "final", "final_se", "gain", "gain_se")}}
        for size, r in stats.iterrows()
    ]  # fmt: skip


def pretrain_rows(study_dir: Path) -> list[dict[str, Any]]:
    """Per pre-trained size and token budget (ordered by N, then tokens): the base models' count, N,
    tokens per parameter, and held-out pre-training loss (nats per token) as mean and standard error
    over the replicates (None with one model), from every models/<size>/**/pretrain.json."""
    import numpy as np

    groups: dict[tuple[float, int, str], list[float]] = {}
    for path in sorted((study_dir / "models").glob("*/**/pretrain.json")):
        rec = json.loads(path.read_text())
        if rec.get("heldout_loss") is None:
            continue
        size = path.relative_to(study_dir / "models").parts[0]
        groups.setdefault((float(rec["N"]), int(rec["tokens"]), size), []).append(float(rec["heldout_loss"]))
    rows = []
    for (n, tokens, size), losses in sorted(groups.items()):
        x = np.asarray(losses)
        se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else None
        rows.append({"size": size, "models": int(x.size), "N": n, "tokens": tokens,
                     "tokens_per_param": tokens / n, "heldout_loss": float(x.mean()),
                     "heldout_loss_se": se})  # fmt: skip
    return rows


def figure(results: list[dict[str, Any]], out: Path) -> list[Path]:
    """robustness.png / .pdf: per study seed, every run's final held-out loss L (left) and RL gain
    (right) against N (log axis), each size's replicate mean ± standard error joined by a line; seeds
    side by side in colour. Nothing is drawn (and [] returned) when no seed has its curves on disk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from rlscaling.curves_table import load_curves

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    drawn = False
    for i, r in enumerate(results):
        curves = Path(r.get("study_dir", "")) / "curves.parquet"
        if not curves.is_file():
            continue
        df = load_curves(curves)
        runs = run_summary(df, main_bench(df))
        color = f"C{i}"
        shift = 1.0 + 0.04 * (i - (len(results) - 1) / 2)  # seeds side by side on the log N axis
        for ax, col in zip(axes, ("L", "gain"), strict=True):
            values = 1.0 - runs["final"] if col == "L" else runs["gain"]
            ax.scatter(runs["N"] * shift, values, s=12, color=color, alpha=0.5)
            means = values.groupby(runs["N"]).agg(["mean", "sem", "count"])
            label = f"seed {r['seed']} ({int(means['count'].max())} per size)"
            ax.errorbar(means.index * shift, means["mean"], yerr=means["sem"].fillna(0), color=color,
                        marker="o", capsize=3, label=label)  # fmt: skip
        drawn = True
    if not drawn:
        plt.close(fig)
        return []
    ylabels = ("final held-out L = 1 - pass@1", "RL gain in pass@1 (final - base)")
    for ax, ylabel in zip(axes, ylabels, strict=True):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("N (parameters)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.05, color="grey", ls="--", lw=1)
    axes[0].legend(fontsize=8)
    fig.suptitle("The default study over study seeds: every run (dots), replicate mean ± SE (lines)")
    fig.tight_layout()
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return paths


def _pm(value: Any, se: Any, kind: str) -> str:
    text = fmt_value(value, kind)
    return text if se is None else f"{text} ± {fmt_value(se, 'p')}"


def _ci(value: Any, ci: Any, kind: str) -> str:
    text = fmt_value(value, kind)
    if isinstance(ci, list) and len(ci) == 2:
        text += f" [{fmt_value(ci[0], kind)}, {fmt_value(ci[1], kind)}]"
    return text


def pooled_trends(study_dirs: list[Path]) -> dict[str, Any]:
    """The trend in N pooled over studies (seeds): the slope of every run's base and final L (= 1 -
    pass@1 on the main benchmark) on log10 N, one intercept per study ({"base": ..., "final": ...},
    pooled_slope's dicts or None). Studies without curves.parquet are left out."""
    import numpy as np

    from rlscaling.curves_table import load_curves

    groups: dict[str, list[tuple[Any, Any]]] = {"base": [], "final": []}
    for study_dir in study_dirs:
        if not (study_dir / "curves.parquet").is_file():
            continue
        df = load_curves(study_dir / "curves.parquet")
        runs = run_summary(df, main_bench(df))
        for key in groups:
            d = runs[runs[key].notna()]
            groups[key].append((np.log10(d["N"].to_numpy(dtype=float)), 1.0 - d[key].to_numpy(dtype=float)))
    return {key: pooled_slope(g, min_dof=2) for key, g in groups.items()}


def markdown(results: list[dict[str, Any]], pooled: dict[str, Any] | None = None) -> str:
    """The robustness tables: the verdict of every check (rows) per seed (columns) with the FAIL count,
    then the fits, the per-size and pre-training tables per seed, the pooled trend, the design
    warnings and every verdict that is not pass, in detail."""
    seeds = [r["seed"] for r in results]
    names: list[str] = []
    for r in results:
        for check, _, _ in r.get("checks") or []:
            if check not in names:
                names.append(check)
    lines = ["| check | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---" * (len(seeds) + 1) + "|"]
    for name in names:
        cells = []
        for r in results:
            res = {c: v for c, v, _ in r.get("checks") or []}.get(name, "–")
            cells.append(f"**{res}**" if res == FAIL else res)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| FAIL verdicts | "
        + " | ".join(str(sum(v == FAIL for _, v, _ in r.get("checks") or [])) for r in results)
        + " |"
    )
    lines.append(
        "| wall time (min) | " + " | ".join(fmt_value(r.get("minutes"), "s") for r in results) + " |"
    )
    lines += [
        "",
        "| seed | fit | K_max [95% CI] | N0 [95% CI] | R² | flagged intervals |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for f in r.get("fits") or []:
            flags = ", ".join(f["flags"]) or "–"
            lines.append(
                f"| {r['seed']} | {f['fit']} | {_ci(f['K_max'], f['K_max_ci'], 'g')} | "
                f"{_ci(f['N0'], f['N0_ci'], 'e')} | {fmt_value(f['r2'], 'p')} | {flags} |"
            )
    sizes: list[str] = []
    for r in results:
        sizes += [x["size"] for x in r.get("sizes") or [] if x["size"] not in sizes]
    if sizes:
        lines += [
            "",
            "Per size, held-out pass@1 (mean ± standard error over replicates): base → final (gain)",
            "",
            "| size | " + " | ".join(f"seed {s}" for s in seeds) + " |",
            "|---" * (len(seeds) + 1) + "|",
        ]
        for size in sizes:
            cells = []
            for r in results:
                x = next((x for x in r.get("sizes") or [] if x["size"] == size), None)
                cells.append(
                    "–" if x is None else f"{_pm(x['base'], x['base_se'], 'p')} → "
                    f"{_pm(x['final'], x['final_se'], 'p')} ({_pm(x['gain'], x['gain_se'], 'd')})"
                )
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
    if any(r.get("pretraining") for r in results):
        lines += [
            "",
            "Per size, pre-training: tokens per parameter; held-out pre-training loss of the base models "
            "(nats per token, mean ± standard error over replicates)",
            "",
            "| size | tokens / N | " + " | ".join(f"seed {s}" for s in seeds) + " |",
            "|---" * (len(seeds) + 2) + "|",
        ]
        def key(x: dict[str, Any]) -> tuple[str, int]:
            return x["size"], x["tokens"]

        keys: list[tuple[str, int]] = []
        for r in results:
            keys += [key(x) for x in r.get("pretraining") or [] if key(x) not in keys]
        for size, tokens in keys:
            found = [
                next((x for x in r.get("pretraining") or [] if key(x) == (size, tokens)), None)
                for r in results
            ]
            ratio = next(x["tokens_per_param"] for x in found if x is not None)
            cells = ["–" if x is None else _pm(x["heldout_loss"], x["heldout_loss_se"], "p") for x in found]
            label = size if len({t for s, t in keys if s == size}) == 1 else f"{size} ({tokens:,} tokens)"
            lines.append(f"| {label} | {ratio:.1f} | " + " | ".join(cells) + " |")
    if pooled and any(pooled.values()):
        lines += ["", f"Pooled over the {len(seeds)} seeds (one intercept per seed), slope of L = 1 − pass@1 "
                  "on log10 N per decade of N [95% interval]:", ""]  # fmt: skip
        for key, label in (("base", "base L"), ("final", "final L")):
            t = pooled.get(key)
            if t:
                lo, hi = t["ci95"]
                lines.append(f"- {label}: {t['slope']:+.3f} [{lo:+.3f}, {hi:+.3f}] over {t['points']} runs")
    if any(r.get("design_warnings") for r in results):
        lines += ["", "Design warnings (no verdict):", ""]
        lines += [f"- seed {r['seed']}: {w}" for r in results for w in r.get("design_warnings") or []]
    lines += ["", "FAIL and undetermined verdicts in detail:", ""]
    for r in results:
        for check, res, detail in r.get("checks") or []:
            if res in (FAIL, UNDETERMINED):
                lines.append(f"- seed {r['seed']}, {res}, {check}: {detail}")
        if r.get("error"):
            lines.append(f"- seed {r['seed']}: {r['error']}")
    return "\n".join(lines) + "\n"
