"""Stage 5: the tidy curves table, and a run's per-step metrics.

    rlscaling curves metrics STEP_DIR [STEP_DIR ...] [--health-json JSON] -o runs/RUN/metrics.jsonl
    rlscaling curves build --study-dir S --params-json JSON -o S/curves.parquet
    rlscaling curves import ...      (outside logs -> curves; rlscaling.curves_import)

`metrics` concatenates the per-segment `STEP_DIR/metrics.jsonl` files of one run in step order,
checking that the steps are unique and contiguous across segments; with --health-json (the config's
`training.health`) each record gets its training-health flags (`health`, null when healthy;
rlscaling.training_health), judged on the whole run.

`build` joins, for every (run, evaluated step, benchmark), the evaluation summary
`S/eval/{run}/step_{k:06d}/{bench}.json`, the run's cumulative data / compute at that step
(`S/runs/{run}/metrics.jsonl`) and the model size's parameter counts and pre-training compute
(`S/models/{model}/pretrain.json` for the tiny family, {model} = the size, then
`/pretrain_tokens-{T}`, then `/rep{k}`; the config's n_params / pretrain_tokens for hub models) into one
row. Columns (units):

    study, run, size, family ("tiny" | "hub"), N, N_nonembed (parameters), <one column per sweep key>,
    replicate (only when the runs carry one: the study has replicates > 1; one row per replicate, never
    averaged here), model (only when some run's base model is not its size: the key under models/),
    seed (training seed: the sweep's, else the run metrics', else the evaluation's),
    step (RL steps),
    D (cumulative prompts; 0 at step 0), C (cumulative RL FLOPs, paper convention 6·N·tokens; 0 at
    step 0), C_full (fuller FLOP count, when the trainer records it),
    C_pretrain (FLOPs), tokens (cumulative RL prompt + response tokens), bench, pass_at_1,
    pass_at_<k> for each k evaluated, format_rate, mean_response_tokens, n_samples and n_problems (of
    the evaluation), L = 1 - pass_at_1.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from rlscaling.curves_table import PASS_AT_K_TOLERANCE
from rlscaling.errors import UserError
from rlscaling.io import finite_or_none, read_json_object, read_jsonl

_STEP_DIR_RE = re.compile(r"step_(\d+)$")

# metrics.jsonl keys read by `build` (the trainer's schema; alternatives in order of preference)
_CUMULATIVE_KEYS = {"C": ("C", "C_rl"), "D": ("D",), "C_full": ("C_full", "C_rl_full")}
_PER_STEP_KEYS = {"C": ("flops", "C_step"), "D": ("prompts",), "C_full": ("flops_full", "C_full_step")}
# every metrics.jsonl key `build` reads a number from: a finite number >= 0 or null
_NUMBER_KEYS = (
    "prompt_tokens",
    "response_tokens",
    "tokens",
    *(k for keys in (*_CUMULATIVE_KEYS.values(), *_PER_STEP_KEYS.values()) for k in keys),
)


# --------------------------------------------------------------------------------------------------
# metrics: one run's per-step metrics from its segments


def _step_of(rec: dict[str, Any], path: Path, line: int) -> int:
    step = rec.get("step")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or int(step) != step:
        raise UserError(f"{path}, record {line}: field `step` must be an integer, got {step!r}")
    return int(step)


def concat_metrics(step_dirs: list[str | Path]) -> list[dict[str, Any]]:
    """The records of every `STEP_DIR/metrics.jsonl`, segments ordered by their step, checked to hold
    unique, contiguous steps. Raises UserError naming the file where the sequence breaks."""
    dirs = [Path(d) for d in step_dirs]

    def dir_step(d: Path) -> int:
        m = _STEP_DIR_RE.search(d.name)
        if m is None:
            raise UserError(f"{d}: expected a checkpoint folder named step_NNNNNN")
        return int(m.group(1))

    dirs.sort(key=dir_step)
    out: list[dict[str, Any]] = []
    previous: int | None = None
    for d in dirs:
        path = d / "metrics.jsonl"
        records = read_jsonl(path)
        if not records:
            raise UserError(f"{path}: has no metrics records")
        for i, rec in enumerate(records, start=1):
            step = _step_of(rec, path, i)
            if previous is not None and step <= previous:
                raise UserError(
                    f"{path}, record {i}: step {step} repeats or goes back (previous step {previous})"
                )
            if previous is not None and step != previous + 1:
                raise UserError(f"{path}, record {i}: step {step} leaves a gap (previous step {previous})")
            if step > dir_step(d):
                raise UserError(
                    f"{path}, record {i}: step {step} is past its checkpoint's step {dir_step(d)}"
                )
            previous = step
            out.append(rec)
    return out


# --------------------------------------------------------------------------------------------------
# build


def _rate(value: Any, path: Path, field: str) -> float:
    """A probability read from an evaluation file: a finite number in [0, 1], else UserError naming the
    file and the field (json reads NaN / Infinity literals, and a hand-made file can hold anything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{path}: field `{field}` is {value!r}; expected a number in [0, 1]")
    f = float(value)
    if not math.isfinite(f) or not 0.0 <= f <= 1.0:
        raise UserError(f"{path}: field `{field}` is {value!r}; expected a number in [0, 1]")
    return f


def _checked_number(rec: dict[str, Any], key: str, path: Path, record: int) -> None:
    """UserError when a metrics record holds `key` with a value that is not a finite number >= 0 (null
    is allowed: the trainer did not record it)."""
    value = rec.get(key)
    if value is None:
        return
    f = finite_or_none(value)
    if f is None or f < 0:
        raise UserError(
            f"{path}, record {record}: field `{key}` is {value!r}; expected a finite number >= 0 (or null)"
        )


def cumulative_by_step(
    records: list[dict[str, Any]], n_params: float | None, path: Path
) -> dict[int, dict[str, float | None]]:
    """step -> {D, C, C_full, tokens} cumulative through that step (step 0: all zeros).

    Uses the trainer's cumulative `C`, `D`, `C_full`, `tokens` when recorded, else sums the per-step
    `flops`, `prompts`, `flops_full`, prompt_tokens + response_tokens; C falls back to 6·N·tokens when
    no FLOPs are recorded at all.
    """
    from rlscaling.compute import rl_step_flops

    out: dict[int, dict[str, float | None]] = {0: {"D": 0.0, "C": 0.0, "C_full": 0.0, "tokens": 0.0}}
    sums: dict[str, float | None] = {"D": 0.0, "C": 0.0, "C_full": 0.0, "tokens": 0.0}
    for i, rec in enumerate(records, start=1):
        step = _step_of(rec, path, i)
        for key in _NUMBER_KEYS:
            _checked_number(rec, key, path, i)
        pt, rt = finite_or_none(rec.get("prompt_tokens")), finite_or_none(rec.get("response_tokens"))
        step_tokens = (pt or 0.0) + (rt or 0.0) if (pt is not None or rt is not None) else None
        cum_tokens = finite_or_none(rec.get("tokens"))
        if cum_tokens is None and sums["tokens"] is not None and step_tokens is not None:
            cum_tokens = sums["tokens"] + step_tokens
        sums["tokens"] = cum_tokens
        row: dict[str, float | None] = {}
        for col in ("D", "C", "C_full"):
            cum = next(
                (
                    finite_or_none(rec[k])
                    for k in _CUMULATIVE_KEYS[col]
                    if finite_or_none(rec.get(k)) is not None
                ),
                None,
            )
            if cum is None:
                per = next(
                    (
                        finite_or_none(rec[k])
                        for k in _PER_STEP_KEYS[col]
                        if finite_or_none(rec.get(k)) is not None
                    ),
                    None,
                )
                if per is None and col == "C" and step_tokens is not None and n_params:
                    per = rl_step_flops(n_params, pt or 0.0, rt or 0.0)
                cum = None if per is None or sums[col] is None else sums[col] + per
            sums[col] = cum
            row[col] = cum
        row["tokens"] = sums["tokens"]
        out[step] = row
    return out


def size_record(
    study_dir: Path, size: str, models: dict[str, Any], model: str | None = None
) -> dict[str, Any]:
    """{N, N_nonembed, C_pretrain} of a model size (tiny: the pretrain.json of its base model `model`,
    models/{model}/, default the size itself; hub: the config)."""
    from rlscaling.compute import pretrain_flops

    family = models.get("family", "tiny")
    spec = (models.get("sizes") or {}).get(size) or {}
    if family == "hub":
        n = finite_or_none(spec.get("n_params"))
        if n is None:
            raise UserError(f"models.sizes.{size}.n_params: needed for a hub model's N (curves build)")
        tokens = finite_or_none(spec.get("pretrain_tokens"))
        return {
            "N": n,
            "N_nonembed": None,
            "C_pretrain": pretrain_flops(n, tokens) if tokens is not None else None,
        }
    path = study_dir / "models" / (model or size) / "pretrain.json"
    if not path.is_file():
        raise UserError(f"{path} does not exist (pre-training record of size {size})")
    rec = read_json_object(path)
    n = next(
        (finite_or_none(rec[k]) for k in ("N", "n_params") if finite_or_none(rec.get(k)) is not None), None
    )
    if n is None:
        raise UserError(f"{path}: missing field `N` (parameter count)")
    n_ne = next(
        (
            finite_or_none(rec[k])
            for k in ("N_nonembed", "n_params_nonembed", "non_embedding_params")
            if finite_or_none(rec.get(k)) is not None
        ),
        None,
    )
    c_pre = next(
        (
            finite_or_none(rec[k])
            for k in ("C_pretrain", "flops", "FLOPs")
            if finite_or_none(rec.get(k)) is not None
        ),
        None,
    )
    if c_pre is None and finite_or_none(rec.get("tokens")) is not None:
        c_pre = pretrain_flops(n, float(rec["tokens"]))
    return {"N": n, "N_nonembed": n_ne, "C_pretrain": c_pre}


def build_curves(study_dir: str | Path, params: dict[str, Any]) -> Any:
    """The curves table (pandas DataFrame), one row per (run, eval step, bench); see module doc.

    Raises UserError listing every missing input file.
    """
    import pandas as pd

    study_dir = Path(study_dir)
    for key in ("runs", "eval_steps", "benchmarks"):
        if key not in params:
            raise UserError(f"--params-json: missing field `{key}`")
    models = params.get("models") or {}
    family = models.get("family", "tiny")
    sweep_keys = list(params.get("sweep") or {})
    steps = sorted(int(s) for s in params["eval_steps"])
    benches = list(params["benchmarks"])

    missing = []
    for run in params["runs"]:
        if any(s > 0 for s in steps) and not (study_dir / "runs" / run / "metrics.jsonl").is_file():
            missing.append(study_dir / "runs" / run / "metrics.jsonl")
        for step in steps:
            for bench in benches:
                p = study_dir / "eval" / run / f"step_{step:06d}" / f"{bench}.json"
                if not p.is_file():
                    missing.append(p)
    if family == "tiny":
        for model in {spec.get("model") or spec["size"] for spec in params["runs"].values()}:
            p = study_dir / "models" / model / "pretrain.json"
            if not p.is_file():
                missing.append(p)
    if missing:
        shown = "\n  ".join(str(p) for p in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise UserError(f"curves build: {len(missing)} input file(s) missing:\n  {shown}{more}")

    sizes: dict[str, dict[str, Any]] = {}  # base model key -> its record
    replicated = any("replicate" in spec for spec in params["runs"].values())
    keyed = any("model" in spec for spec in params["runs"].values())
    rows = []
    for run, spec in params["runs"].items():
        size = spec["size"]
        variant = spec.get("variant") or {}
        model = spec.get("model") or size
        if model not in sizes:
            sizes[model] = size_record(study_dir, size, models, model)
        sz = sizes[model]
        metrics_path = study_dir / "runs" / run / "metrics.jsonl"
        records = read_jsonl(metrics_path) if metrics_path.is_file() else []
        cumulative = cumulative_by_step(records, sz["N"], metrics_path)
        train_seed = next((r["seed"] for r in records if isinstance(r.get("seed"), int)), None)
        for step in steps:
            if step not in cumulative:
                raise UserError(f"{metrics_path}: no record for evaluated step {step}")
            acc = cumulative[step]
            for bench in benches:
                path = study_dir / "eval" / run / f"step_{step:06d}" / f"{bench}.json"
                ev = read_json_object(path)
                if "pass_at_1" not in ev:
                    raise UserError(f"{path}: missing field `pass_at_1`")
                p1 = _rate(ev["pass_at_1"], path, "pass_at_1")
                row: dict[str, Any] = {
                    "study": params.get("study"),
                    "run": run,
                    "size": size,
                    "family": family,
                    "N": sz["N"],
                    "N_nonembed": sz["N_nonembed"],
                }
                for key in sweep_keys:
                    row[key] = variant.get(key)
                if replicated:
                    row["replicate"] = int(spec.get("replicate") or 0)
                if keyed:
                    row["model"] = model
                row["seed"] = variant.get("seed", ev.get("seed") if train_seed is None else train_seed)
                row.update(
                    step=step,
                    D=acc["D"],
                    C=acc["C"],
                    C_full=acc["C_full"],
                    C_pretrain=sz["C_pretrain"],
                    tokens=acc["tokens"],
                    bench=bench,
                    pass_at_1=p1,
                )
                pass_at_k = ev.get("pass_at_k") or {}
                if not isinstance(pass_at_k, dict) or not all(str(k).isdigit() for k in pass_at_k):
                    raise UserError(f"{path}: field `pass_at_k` must map k (an integer) to a rate")
                prev_k, prev = 1, p1
                for k, v in sorted(pass_at_k.items(), key=lambda kv: int(kv[0])):
                    rate = _rate(v, path, f"pass_at_k.{k}")
                    if rate < prev - PASS_AT_K_TOLERANCE:  # pass@k of one sample set never falls with k
                        raise UserError(
                            f"{path}: pass@{k} = {rate:g} is below pass@{prev_k} = {prev:g}; pass@k cannot "
                            "decrease with k (the evaluation is damaged or mixes sample sets)"
                        )
                    if rate >= prev:
                        prev_k, prev = int(k), rate
                    if str(k) != "1":
                        row[f"pass_at_{k}"] = rate
                fr = ev.get("format_rate")
                row["format_rate"] = None if fr is None else _rate(fr, path, "format_rate")
                mrt = ev.get("mean_response_tokens")
                if mrt is not None and (finite_or_none(mrt) is None or finite_or_none(mrt) < 0):
                    raise UserError(
                        f"{path}: field `mean_response_tokens` is {mrt!r}; expected a finite number >= 0"
                    )
                row["mean_response_tokens"] = finite_or_none(mrt)
                # samples x problems of the evaluation: the binomial point noise of a prediction
                # interval (rlscaling predict / calibrate read these two columns)
                for key in ("n_samples", "n_problems"):
                    value = ev.get(key)
                    row[key] = int(value) if isinstance(value, int) and value > 0 else None
                row["L"] = 1.0 - p1
                rows.append(row)
    df = pd.DataFrame(rows)
    # pass@k columns after pass_at_1, in k order, whichever benches have them
    k_cols = sorted(
        {c for c in df.columns if c.startswith("pass_at_") and c != "pass_at_1"}, key=lambda c: int(c[8:])
    )
    base = [c for c in df.columns if not (c.startswith("pass_at_") and c != "pass_at_1")]
    at = base.index("pass_at_1") + 1
    df = df[base[:at] + k_cols + base[at:]]
    for col in ("N", "N_nonembed", "D", "C", "C_full", "C_pretrain", "tokens"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    return df
