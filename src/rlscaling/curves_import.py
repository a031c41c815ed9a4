"""`rlscaling curves import`: turn outside logs into a curves table that `rlscaling fit` reads.

Output columns (a subset of a study's curves.parquet, same names): study, run, size, family, N,
<variant columns>, step, D (cumulative prompts), C (cumulative RL FLOPs, 6 N tokens, from
rlscaling.compute.rl_flops), bench, pass_at_1, L (= 1 - pass_at_1), plus format-specific extras
(source, tokens, ...).

Formats
- `paper`: the CSVs of arXiv 2509.25300 (../shared/data/paper). holdout_per_step_qwen_llama.csv ->
  C = C_raw, D = E, L = ErrRate, grouping columns family / source, size e.g. "72B", bench "heldout".
  data_reuse_tau_7B.csv -> reuse_tau, D = 512 * step (the paper's 512 prompts per step), C unknown
  (NaN). grpo_rollout_n_7B.csv -> rollouts_per_prompt (its rollout_n column: the GRPO group size, as
  our curves name it). A folder imports all three with an `experiment` column.
- `seed000`: the Qwen3-Base GSM8K study (josancamon19/rl-scaling-laws). export.csv (in-training GSM8K
  validation mean@1 per step) -> bench "gsm8k_val", one run per size; {size}.json -> bench "gsm8k"
  (greedy 0-shot accuracy) with the base model at step 0 and every RL checkpoint at its global step,
  one run per reward method, the base scored with the matching answer extraction. D = 512 * step;
  C = 6 N * step * 512 prompts * 3 rollouts * 1024 tokens: an upper bound (max prompt + response
  length), since the logs do not record token counts.
- `verl-jsonl`: verl's file logger ({"step": k, "data": {metric: value}} per line). Validation
  scores `val-core/<source>/<var>/mean@1`, `val/test_score/<source>` (and val-aux) give one bench per
  data source; tokens from `perf/total_num_tokens` (cumulative sum). Needs --N; D needs
  --prompts-per-step.
- `wandb-csv`: a W&B chart export (a Step column, then "<run> - <metric>" columns, __MIN / __MAX
  ignored) or any wide CSV with a step column and one score column per run. N from --N or from the
  run name ("qwen3-0.6b" -> 0.6e9). `--scale` says whether scores are fractions or percent; `auto`
  (the default) reads a column as percent only when every value in it is 0 or above 1, and refuses a
  column on a mixed scale (fractions and values above 1), naming the cell.

Nothing is changed silently. Every step must be a whole number >= 0 and every score a finite number
(a blank or non-numeric one is refused, naming the file and the line or cell), except the empty cells
of a W&B export (a run without a value at that step) and null verl scores, which are skipped and
counted. What was skipped or converted is listed in the table's notes (`df.attrs["notes"]`, kept in
the parquet file's metadata, and printed by `rlscaling curves import`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.compute import rl_flops
from rlscaling.errors import UserError
from rlscaling.curves_table import whole_steps
from rlscaling.io import read_jsonl_numbered, read_text_file

FORMATS = ("paper", "seed000", "verl-jsonl", "wandb-csv")
SCALES = ("auto", "fraction", "percent")
PAPER_PROMPTS_PER_STEP = 512
SEED000_PROMPTS_PER_STEP = 512
SEED000_ROLLOUTS = 3
SEED000_MAX_TOKENS = 1024
SEED000_N = {"0.6b": 0.6e9, "1.7b": 1.7e9, "4b": 4e9, "8b": 8e9, "14b": 14e9}
COLUMN_ORDER = [
    "study",
    "experiment",
    "run",
    "size",
    "family",
    "source",
    "N",
    "reuse_tau",
    "rollouts_per_prompt",
    "reward",
    "step",
    "D",
    "C",
    "tokens",
    "bench",
    "pass_at_1",
    "L",
]


def size_name(N: float) -> str:
    """'72B', '0.5B', '1.7B' for a parameter count."""
    if N >= 1e8:
        return f"{N / 1e9:g}B"
    return f"{N / 1e6:g}M"


def _order(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in COLUMN_ORDER if c in df.columns] + [c for c in df.columns if c not in COLUMN_ORDER]
    return df[cols].reset_index(drop=True)


def _need(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {missing} (columns: {list(df.columns)})")


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV file as a DataFrame; UserError naming the file when it is binary, not UTF-8 text, empty or
    not parseable as CSV."""
    import io

    text = read_text_file(path, "a CSV text file")
    try:
        return pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise UserError(f"{path}: not a readable CSV file ({type(err).__name__}: {err})") from None


def _line(i: int) -> int:
    """The CSV line of data row `i` (line 1 is the header)."""
    return i + 2


def _numbers(values: pd.Series, path: Path, col: str) -> np.ndarray:
    """`values` as float; UserError naming the line when one is blank or not a finite number."""
    nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(nums)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = values.iloc[i]
        shown = "a blank cell" if pd.isna(raw) else repr(_plain(raw))
        raise UserError(
            f"{path}, line {_line(i)}: column {col!r} is {shown}; expected a finite number "
            f"({int(bad.sum())} such row(s))"
        )
    return nums


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _family_source(src: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'exp2-base' / 'grpo-instruct' -> ('qwen2.5', 'base' / 'instruct')."""
    source = src.astype(str).str.replace(r"^(exp\d+|grpo)-", "", regex=True)
    return pd.Series("qwen2.5", index=src.index), source


# --------------------------------------------------------------------------------------------------
# paper


def import_paper(src: str | Path) -> pd.DataFrame:
    """The paper's CSVs (one file, or the folder with all three) as a curves table."""
    src = Path(src)
    if src.is_dir():
        parts = []
        for name, exp in (
            ("holdout_per_step_qwen_llama.csv", "holdout"),
            ("data_reuse_tau_7B.csv", "data_reuse"),
            ("grpo_rollout_n_7B.csv", "rollout_n"),
        ):
            if (src / name).is_file():
                df = import_paper(src / name)
                df.insert(1, "experiment", exp)
                parts.append(df)
        if not parts:
            raise UserError(f"{src}: no paper CSV found (holdout_per_step_qwen_llama.csv, ...)")
        return _order(pd.concat(parts, ignore_index=True))
    if not src.is_file():
        raise UserError(f"{src} does not exist")
    raw = _read_csv(src)
    _need(raw, ["N", "step", "ErrRate"], src)
    out = pd.DataFrame({"study": "paper-2509.25300"}, index=raw.index)
    if "family" in raw.columns:
        out["family"] = raw["family"]
        out["source"] = raw["source"]
    else:
        _need(raw, ["source"], src)
        out["family"], out["source"] = _family_source(raw["source"])
    out["N"] = _numbers(raw["N"], src, "N")
    out["size"] = out["N"].map(size_name)
    for col, new in (("tau", "reuse_tau"), ("rollout_n", "rollouts_per_prompt")):
        if col in raw.columns:
            out[new] = whole_steps(raw[col], src, col)
    out["step"] = whole_steps(raw["step"], src, "step")
    per_step = float(PAPER_PROMPTS_PER_STEP)
    out["D"] = _numbers(raw["E"], src, "E") if "E" in raw.columns else out["step"] * per_step
    out["C"] = _numbers(raw["C_raw"], src, "C_raw") if "C_raw" in raw.columns else np.nan
    out["bench"] = "heldout"
    out["L"] = _numbers(raw["ErrRate"], src, "ErrRate")
    out["pass_at_1"] = 1.0 - out["L"]
    out["run"] = _run_names(out)
    return _order(out)


def _run_names(df: pd.DataFrame) -> pd.Series:
    parts = [df["source"].astype(str), df["size"].astype(str)]
    for c in ("reuse_tau", "rollouts_per_prompt"):
        if c in df.columns:
            parts.append(c + "-" + df[c].astype(str))
    name = parts[0]
    for p in parts[1:]:
        name = name + "__" + p
    return name


# --------------------------------------------------------------------------------------------------
# wandb-csv / seed000


_STEP_COLUMNS = ("Step", "step", "_step", "global_step", "train/global_step", "trainer/global_step")


def parse_N(name: str) -> float | None:
    """Parameter count from a run / model name: 'qwen3-0.6b' -> 0.6e9, '125M' -> 1.25e8."""
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", name)
    if not m:
        return None
    return float(m.group(1)) * (1e9 if m.group(2).lower() == "b" else 1e6)


def import_wandb_csv(
    src: str | Path,
    *,
    N: float | None = None,
    bench: str = "val",
    prompts_per_step: float | None = None,
    tokens_per_step: float | None = None,
    family: str | None = None,
    study: str = "imported",
    scale: str = "auto",
) -> pd.DataFrame:
    """A wide W&B / spreadsheet export: one step column, one score column per run.

    scale: `fraction` (scores in [0, 1]), `percent` (scores in [0, 100], divided by 100) or `auto`
    (percent when every value of a column is 0 or above 1; a column mixing fractions and values above 1
    is refused, naming the cell). Empty score cells are skipped and counted in `attrs["notes"]`; a score
    cell that is not a number, and a row with scores but no whole-number step, are refused.
    """
    src = Path(src)
    if scale not in SCALES:
        raise UserError(f"--scale {scale!r}: expected one of {SCALES}")
    if not src.is_file():
        raise UserError(f"{src} does not exist")
    raw = _read_csv(src)
    step_col = next((c for c in _STEP_COLUMNS if c in raw.columns), None)
    if step_col is None:
        raise UserError(f"{src}: no step column (expected one of {list(_STEP_COLUMNS)})")
    score_cols = [
        c
        for c in raw.columns
        if c != step_col and not str(c).endswith(("__MIN", "__MAX")) and not str(c).startswith("_")
    ]
    has_score = raw[score_cols].notna().any(axis=1) if score_cols else pd.Series(False, index=raw.index)
    notes: list[str] = []
    empty_rows = int((~has_score & raw[step_col].isna()).sum())
    if empty_rows:
        notes.append(f"{src}: {empty_rows} row(s) without a step or any score skipped")
    scored = raw[has_score]
    steps_all = whole_steps(scored[step_col], src, step_col) if len(scored) else np.array([], dtype=np.int64)
    step_of = pd.Series(steps_all, index=scored.index)
    rows = []
    for col in score_cols:
        run = str(col).split(" - ")[0].strip()
        n = N if N is not None else parse_N(run)
        if n is None:
            raise UserError(f"{src}: cannot tell N for run {run!r} (column {col!r}); pass --N")
        cells = scored[col]
        vals = pd.to_numeric(cells, errors="coerce")
        not_number = cells.notna() & ~np.isfinite(vals.to_numpy(dtype=float))
        if not_number.any():
            i = raw.index.get_loc(not_number[not_number].index[0])
            raise UserError(
                f"{src}, line {_line(i)}, column {col!r}: {_plain(raw[col].iloc[i])!r} is not a number "
                "(leave the cell empty for a step without a value)"
            )
        ok = vals.notna()
        blank = int(len(raw) - ok.sum() - empty_rows)
        if not ok.any():
            notes.append(f"{src}: column {col!r} has no values; skipped")
            continue
        if blank:
            notes.append(f"{src}: column {col!r}: {blank} empty cell(s) skipped (no value at that step)")
        v = _to_fraction(vals[ok], src, col, scale, raw.index, notes)
        rows.append(pd.DataFrame({"run": run, "N": float(n), "step": step_of[ok].to_numpy(), "pass_at_1": v}))
    if not rows:
        raise UserError(f"{src}: no score columns with values")
    out = pd.concat(rows, ignore_index=True)
    out.insert(0, "study", study)
    out["size"] = out["N"].map(size_name)
    out["family"] = family or "unknown"
    out["bench"] = bench
    _add_x(out, prompts_per_step, tokens_per_step)
    out["L"] = 1.0 - out["pass_at_1"]
    out = _order(out)
    out.attrs["notes"] = notes
    return out


def _to_fraction(
    vals: pd.Series, src: Path, col: str, scale: str, index: pd.Index, notes: list[str]
) -> np.ndarray:
    """A score column's values (finite numbers) as fractions in [0, 1] (see import_wandb_csv's scale);
    UserError naming the first cell out of range for the scale."""
    v = vals.to_numpy(dtype=float)

    def refuse(mask: np.ndarray, why: str) -> None:
        i = index.get_loc(vals.index[int(np.flatnonzero(mask)[0])])
        raise UserError(
            f"{src}, line {_line(i)}, column {col!r}: score {v[np.flatnonzero(mask)[0]]:g} {why} "
            f"({int(mask.sum())} such cell(s))"
        )

    if (v < 0).any():
        refuse(v < 0, "is negative; expected a fraction in [0, 1] or a percent in [0, 100]")
    if scale == "auto":
        above = v > 1.0
        if not above.any():
            return v
        small = (v > 0) & ~above
        if small.any():
            refuse(
                above,
                "is above 1 in a column whose other values are fractions in [0, 1] (a mixed scale); fix "
                "the cell, or pass --scale percent if the column is in percent",
            )
        scale = "percent"
        notes.append(f"{src}: column {col!r} read as percent (every value is 0 or above 1): divided by 100")
    if scale == "percent":
        if (v > 100).any():
            refuse(v > 100, "is above 100; expected a percent in [0, 100]")
        return v / 100.0
    if (v > 1).any():
        refuse(v > 1, "is above 1; expected a fraction in [0, 1] (--scale fraction)")
    return v


def _add_x(df: pd.DataFrame, prompts_per_step: float | None, tokens_per_step: float | None) -> None:
    """D = step * prompts_per_step, C = 6 N step tokens_per_step (NaN where not given)."""
    df["D"] = df["step"] * float(prompts_per_step) if prompts_per_step else np.nan
    if tokens_per_step:
        df["tokens"] = df["step"] * float(tokens_per_step)
        df["C"] = rl_flops(df["N"], df["tokens"])
    elif "C" not in df.columns:
        df["C"] = np.nan


def import_seed000(src: str | Path) -> pd.DataFrame:
    """josancamon19/rl-scaling-laws results folder (export.csv + {size}.json)."""
    src = Path(src)
    if not src.is_dir():
        raise UserError(f"{src}: expected the seed000 folder (export.csv, 0.6b.json, ...)")
    tokens_per_step = SEED000_PROMPTS_PER_STEP * SEED000_ROLLOUTS * SEED000_MAX_TOKENS
    parts = []
    if (src / "export.csv").is_file():
        val = import_wandb_csv(
            src / "export.csv",
            bench="gsm8k_val",
            prompts_per_step=SEED000_PROMPTS_PER_STEP,
            tokens_per_step=tokens_per_step,
            family="qwen3-base",
            study="seed000",
        )
        val["N"] = val["run"].map(lambda r: SEED000_N.get(r.lower(), parse_N(r)))
        val["C"] = rl_flops(val["N"], val["tokens"])
        val["size"] = val["N"].map(size_name)
        val["reward"] = "strict"
        parts.append(val)
    for key, n in SEED000_N.items():
        p = src / f"{key}.json"
        if p.is_file():
            parts.append(_seed000_json(p, n, tokens_per_step))
    if not parts:
        raise UserError(f"{src}: no export.csv or {{size}}.json found")
    out = pd.concat(parts, ignore_index=True)
    return _order(out)


def _seed000_json(path: Path, N: float, tokens_per_step: float) -> pd.DataFrame:
    try:
        doc = json.loads(read_text_file(path, "a JSON file"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from err
    base: dict[str, float] = {}
    rl: list[tuple[str, int, float]] = []
    for m in doc.get("models", []):
        meta = m.get("metadata", {})
        acc = ((m.get("benchmarks", {}).get("gsm8k") or {}).get("by_shot") or {}).get("0", {}).get("accuracy")
        if acc is None:
            continue
        if "evaluation_method" in meta:
            base[meta["evaluation_method"]] = acc / 100.0
        elif "checkpoint" in meta:
            step = int(re.sub(r"\D", "", meta["checkpoint"]) or 0)
            rl.append((meta.get("reward_method", "unknown"), step, acc / 100.0))
    rows = []
    for reward, step, acc in rl:
        method = (
            reward
            if reward in base
            else (
                "custom_flexible" if "custom_flexible" in reward and "custom_flexible" in base else "flexible"
            )
        )
        b = base.get(method)
        if b is not None:
            rows.append({"reward": reward, "step": 0, "pass_at_1": b})
        rows.append({"reward": reward, "step": step, "pass_at_1": acc})
    df = pd.DataFrame(rows).drop_duplicates(["reward", "step"])
    df.insert(0, "study", "seed000")
    df["N"] = N
    df["size"] = size_name(N)
    df["family"] = "qwen3-base"
    df["run"] = df["size"] + "__reward-" + df["reward"]
    df["bench"] = "gsm8k"
    _add_x(df, SEED000_PROMPTS_PER_STEP, tokens_per_step)
    df["L"] = 1.0 - df["pass_at_1"]
    return df


# --------------------------------------------------------------------------------------------------
# verl-jsonl

_VERL_SCORE = [
    re.compile(r"^val(?:-core|-aux)?/(?P<bench>.+)/(?:reward|acc|score)/mean@1$"),
    re.compile(r"^val/test_score/(?P<bench>.+)$"),
]


def import_verl_jsonl(
    src: str | Path,
    *,
    N: float | None,
    run: str | None = None,
    size: str | None = None,
    prompts_per_step: float | None = None,
    tokens_per_step: float | None = None,
    family: str | None = None,
) -> pd.DataFrame:
    """verl file-logger JSONL -> one curve per validation data source."""
    src = Path(src)
    if not src.is_file():
        raise UserError(f"{src} does not exist")
    if N is None:
        N = parse_N(run or src.stem)
        if N is None:
            raise UserError(f"{src}: pass --N (parameter count); it is not in the file name")
    rows, tok = [], {}
    no_step = null_scores = 0
    for line, rec in read_jsonl_numbered(src):
        step = rec.get("step")
        data = rec.get("data", rec)
        if not isinstance(data, dict):
            raise UserError(f"{src}, line {line}: field 'data' is {type(data).__name__}; expected an object")
        if step is None:
            step = data.get("training/global_step")
        scores = [(m.group("bench"), key, value) for key, value in data.items() for m in _score_match(key)]
        if step is None:
            no_step += bool(scores)
            continue
        step = _json_step(step, src, line)
        if "perf/total_num_tokens" in data:
            tok[step] = _json_number(data["perf/total_num_tokens"], src, line, "perf/total_num_tokens")
        for bench, key, value in scores:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                null_scores += 1
                continue
            rows.append({"step": step, "bench": bench, "pass_at_1": _json_number(value, src, line, key)})
    if no_step:
        raise UserError(
            f"{src}: {no_step} record(s) with validation scores but no step (neither 'step' nor "
            "'data.training/global_step'); expected the step of every score"
        )
    notes = [f"{src}: {null_scores} null / NaN validation score(s) skipped"] if null_scores else []
    if not rows:
        raise UserError(
            f"{src}: no validation scores (val-core/<source>/.../mean@1 or val/test_score/<source>)"
        )
    df = pd.DataFrame(rows).drop_duplicates(["bench", "step"], keep="last").sort_values(["bench", "step"])
    df.insert(0, "study", "imported")
    df["run"] = run or src.stem
    df["N"] = float(N)
    df["size"] = size or size_name(float(N))
    df["family"] = family or "unknown"
    df["D"] = df["step"] * float(prompts_per_step) if prompts_per_step else np.nan
    if tok:
        steps = np.array(sorted(tok))
        cum = np.cumsum([tok[s] for s in steps])
        df["tokens"] = [float(cum[steps <= s][-1]) if (steps <= s).any() else 0.0 for s in df["step"]]
        df["C"] = rl_flops(df["N"], df["tokens"])
    elif tokens_per_step:
        df["tokens"] = df["step"] * float(tokens_per_step)
        df["C"] = rl_flops(df["N"], df["tokens"])
    else:
        df["C"] = np.nan
    df["L"] = 1.0 - df["pass_at_1"]
    df = _order(df)
    df.attrs["notes"] = notes
    return df


def _score_match(key: str) -> list[re.Match[str]]:
    """The first _VERL_SCORE pattern's match of a metric name, as a list (empty: not a score)."""
    for pat in _VERL_SCORE:
        m = pat.match(key)
        if m:
            return [m]
    return []


def _json_step(value: Any, src: Path, line: int) -> int:
    """A JSONL record's step as an int; UserError naming the line unless it is a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{src}, line {line}: step {value!r} is not a number; expected a whole number >= 0")
    if not (math.isfinite(value) and value >= 0 and value == int(value)):
        raise UserError(f"{src}, line {line}: step {value!r}; expected a whole number >= 0")
    return int(value)


def _json_number(value: Any, src: Path, line: int, key: str) -> float:
    """A JSONL value as a finite float; UserError naming the line and the key otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{src}, line {line}: {key!r} is {value!r}; expected a finite number")
    return float(value)


def describe(df: pd.DataFrame) -> dict[str, Any]:
    """Counts for messages and tests."""
    return {"rows": len(df), "runs": int(df["run"].nunique()), "benches": sorted(df["bench"].unique())}
