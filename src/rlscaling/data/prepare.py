"""Stage `data`: train / held-out / benchmark parquet files in verl's RL schema, from one config.

    prepare({"data": ..., "benchmarks": {...}, "seed": 0}, out_dir) -> report

Steps (every random choice is seeded by `seed` and a per-step purpose, see curriculum.rng):

1. Read the source: `parquet` (data.parquet.train_files, optional heldout_files), `hf` (a dataset id
   or local dataset folder, data.hf) or `synthetic` (rlscaling.data.synthetic.generate). Rows are
   validated (schema.read_rows); malformed ones are dropped and counted by reason, and a file with
   more than data.max_bad_fraction malformed rows stops the run with the first bad row's file, row
   and field.
2. Difficulty: real data from the pass rate at data.parquet.pass_rate_key (difficulty = 1 - pass
   rate; easy when pass rate >= easy_threshold; missing = hard, difficulty 1); synthetic data from
   extra_info.difficulty, easy when extra_info.level <= the median of the generated levels.
3. De-duplication on the normalised question text (schema.normalise_question): the first copy is
   kept; with heldout_files the held-out copy wins and train loses its copy.
4. Held-out split: heldout_files when given (all of them), else data.heldout_size problems carved
   out stratified by difficulty (balanced or proportional).
5. max_train (data.max_train when the schema has it, else data.parquet.max_train) caps the train
   pool with a stratified sample; then the curriculum order. A run reads train.parquet front to
   back, so a run that consumes fewer prompts than the file holds only ever sees its easy end: set
   max_train to total_steps x prompts_per_step for curriculum studies (the data stage cannot read
   those itself, or raising total_steps would redo the data and invalidate every segment).
6. Data reuse files train_tau{tau}.parquet (curriculum.reuse_subset), the benchmarks, the synthetic
   pre-training corpus, and report.json.
"""

from __future__ import annotations

import copy
import importlib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.data import benchmarks as bm
from rlscaling.data import curriculum as cur
from rlscaling.data import sources
from rlscaling.data.schema import (
    EASY,
    FRAME_COLUMNS,
    HARD,
    PromptTemplate,
    ReadSpec,
    normalise_question,
    read_rows,
    to_verl,
)
from rlscaling.errors import UserError
from rlscaling.io import write_json, write_parquet
from rlscaling.rows import BadRow

MAX_EXAMPLES = 10


# --------------------------------------------------------------------------------------------------
# settings


def settings(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(data, benchmarks, seed) from the stage's params, validated against the config schema's `data`
    and `benchmarks` sections with their defaults filled in (so prepare() can be called with a
    partial data section)."""
    from rlscaling.schema import load_schema, validate_section

    if not isinstance(params, dict) or "data" not in params:
        raise UserError("--params-json: expected an object with `data` (and `benchmarks`, `seed`)")
    schema = load_schema()["properties"]
    data = copy.deepcopy(params["data"])
    benches = copy.deepcopy(params.get("benchmarks") or {})
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"seed: {seed!r} is not an integer >= 0")
    for key, sub, value in (("data", schema["data"], data), ("benchmarks", schema["benchmarks"], benches)):
        validate_section(value, sub, key, defaults=True)
    return data, benches, int(seed)


def _source_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Reading settings of a real-data source: data.parquet's, overridden for source hf by the same
    keys under data.hf where those are set (not null / empty)."""
    base = {k: data["parquet"].get(k) for k in ("pass_rate_key", "easy_threshold", "max_train", "columns")}
    if data["source"] == "hf":
        for k in base:
            if data["hf"].get(k) not in (None, {}):
                base[k] = data["hf"][k]
    return base


# --------------------------------------------------------------------------------------------------
# reading


class _Inputs:
    """Reads tables into working frames and keeps the malformed-row accounting."""

    def __init__(self, max_bad_fraction: float):
        self.max_bad_fraction = max_bad_fraction
        self.files: list[dict[str, Any]] = []
        self.bad: list[BadRow] = []

    def read(
        self, df: pd.DataFrame, origin: str, spec: ReadSpec, record: bool = True
    ) -> tuple[pd.DataFrame, list[BadRow]]:
        if len(df) == 0:
            raise UserError(f"{origin}: no rows")
        frame, bad = read_rows(df, origin, spec)
        fraction = len(bad) / len(df)
        if fraction > self.max_bad_fraction:
            raise UserError(
                f"{bad[0].message()}; {len(bad)} of {len(df)} rows of {origin} are malformed "
                f"({fraction:.1%}, more than data.max_bad_fraction = {self.max_bad_fraction}); "
                f"by reason: {dict(Counter(b.reason for b in bad))}"
            )
        if record:
            self.files.append({"file": origin, "rows": len(df), "malformed": len(bad)})
            self.bad.extend(bad)
        return frame, bad


def _unscorable(
    train: pd.DataFrame, methods: list[str], limit: float, inputs: _Inputs
) -> dict[str, Any]:
    """Train rows that a run's reward can never score (rlscaling.rewards.can_score: e.g. ground truth
    "N/A" with the strict reward), counted per reward method; UserError naming the input files, the
    method and the count when more than `limit` (data.max_unscorable_fraction) of the rows are."""
    from rlscaling.rewards import can_score

    out: dict[str, Any] = {"max_fraction": limit, "by_reward": {}}
    answers = train["ground_truth"].tolist()
    origin = ", ".join(f["file"] for f in inputs.files) or "the train rows"
    for method in sorted(set(methods)):
        rows = [i for i, gt in enumerate(answers) if not can_score(gt, method)]
        fraction = len(rows) / max(len(answers), 1)
        out["by_reward"][method] = {
            "total": len(rows),
            "fraction": round(fraction, 6),
            "examples": [{"row": i, "ground_truth": answers[i]} for i in rows[:MAX_EXAMPLES]],
        }
        if fraction > limit:
            first = rows[0]
            raise UserError(
                f"{origin}: {len(rows)} of {len(answers)} train rows ({fraction:.1%}) can never score with "
                f"the {method!r} reward (first: train row {first}, ground truth {answers[first]!r}); more "
                f"than data.max_unscorable_fraction = {limit}. Fix or drop those rows, choose a reward that "
                "reads their answers (e.g. boxed), or raise the limit"
            )
    return out


def _malformed_summary(bad: list[BadRow]) -> dict[str, Any]:
    return {
        "total": len(bad),
        "by_reason": dict(sorted(Counter(b.reason for b in bad).items())),
        "examples": [b.as_dict() for b in bad[:MAX_EXAMPLES]],
    }


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def _generate_synthetic(cfg: dict[str, Any], seed: int) -> Any:
    try:
        module = importlib.import_module("rlscaling.data.synthetic")
    except ImportError as err:
        raise UserError(
            f"data.source synthetic: the generator rlscaling.data.synthetic is unavailable ({err})"
        ) from err
    return module.generate(cfg, seed)


def _bin_synthetic(frame: pd.DataFrame, median_level: float | None, median_difficulty: float) -> pd.DataFrame:
    """easy when level <= the median level (rows without a level: difficulty <= the median difficulty)."""
    frame = frame.copy()
    bins = []
    for lv, d in zip(frame["level"], frame["difficulty"], strict=True):
        if median_level is not None and lv is not None and not np.isnan(lv):
            bins.append(EASY if lv <= median_level else HARD)
        else:
            bins.append(EASY if d <= median_difficulty else HARD)
    frame["difficulty_bin"] = bins
    return frame


def _medians(frame: pd.DataFrame) -> tuple[float | None, float]:
    levels = sorted({float(v) for v in frame["level"] if v is not None and not np.isnan(v)})
    median_level = float(np.median(levels)) if levels else None
    median_difficulty = float(np.median(frame["difficulty"].astype(float))) if len(frame) else 0.5
    return median_level, median_difficulty


# --------------------------------------------------------------------------------------------------
# de-duplication


def _duplicate_examples(kept: pd.DataFrame, dropped: pd.DataFrame) -> list[dict[str, Any]]:
    first = {}
    for r in kept.itertuples(index=False):
        first.setdefault(r.key, r)
    out = []
    for r in dropped.head(MAX_EXAMPLES).itertuples(index=False):
        k = first.get(r.key)
        out.append(
            {
                "dropped": f"{r.origin}:{r.row}",
                "kept": f"{k.origin}:{k.row}" if k is not None else None,
                "same_ground_truth": bool(k is not None and k.ground_truth == r.ground_truth),
                "question": r.question[:160],
            }
        )
    return out


def _conflicts(frame: pd.DataFrame) -> int:
    """Problems (normalised questions) that occur with more than one ground truth."""
    if not len(frame):
        return 0
    g = frame.groupby("key")["ground_truth"].nunique()
    return int((g > 1).sum())


# --------------------------------------------------------------------------------------------------
# steps 1-2: read the source, score difficulty


@dataclass
class _Source:
    """What the source gave: the train pool (difficulty scored), the held-out rows given as files or
    a split (None: carve them out of the pool), the synthetic generator's output (None for real data),
    the train cap, the synthetic difficulty medians (for the OOD benchmark) and the report's
    `difficulty` block."""

    pool: pd.DataFrame
    given_heldout: pd.DataFrame | None
    syn: Any
    cap: int | None
    medians: tuple[float | None, float]
    difficulty: dict[str, str]


def _read_synthetic(data: dict[str, Any], seed: int, template: PromptTemplate, inputs: _Inputs) -> _Source:
    """Generated problems; easy when the level is at most the median generated level."""
    syn = _generate_synthetic(data["synthetic"], seed)
    spec = ReadSpec(difficulty_from="extra_info", template=template, default_data_source="synthetic")
    pool, _ = inputs.read(syn.problems, "synthetic:problems", spec)
    median_level, median_difficulty = _medians(pool)
    pool = _bin_synthetic(pool, median_level, median_difficulty)
    difficulty = {
        "signal": "extra_info.difficulty (generator)",
        "easy_rule": f"level <= {median_level} (median level)"
        if median_level is not None
        else f"difficulty <= {median_difficulty} (median)",
    }
    return _Source(pool, None, syn, data.get("max_train"), (median_level, median_difficulty), difficulty)


def _read_real(data: dict[str, Any], template: PromptTemplate, inputs: _Inputs) -> _Source:
    """Rows of a parquet or hf source; difficulty = 1 - the pass rate at pass_rate_key."""
    ss = _source_settings(data)
    spec = ReadSpec(
        columns=dict(ss["columns"] or {}),
        pass_rate_key=ss["pass_rate_key"],
        easy_threshold=float(ss["easy_threshold"]),
        template=template,
    )
    difficulty = {
        "signal": f"1 - pass rate ({ss['pass_rate_key']})",
        "easy_rule": f"pass rate >= {ss['easy_threshold']}; missing pass rate = hard",
    }
    cap = data.get("max_train") if data.get("max_train") is not None else ss["max_train"]
    if data["source"] == "parquet":
        frames, held = _read_parquet_files(data["parquet"], spec, inputs)
    else:
        frames, held = _read_hf_splits(data["hf"], spec, inputs)
    pool = _concat(frames)
    given_heldout = _concat(held) if held else None
    return _Source(pool, given_heldout, None, cap, (None, 0.5), difficulty)


def _read_parquet_files(
    cfg: dict[str, Any], spec: ReadSpec, inputs: _Inputs
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """(train frames, held-out frames) of data.parquet's train_files and heldout_files."""
    files = cfg["train_files"]
    if not files:
        raise UserError("data.parquet.train_files: empty (source parquet needs at least one file)")
    frames, held = [], []
    for i, f in enumerate(files):
        df = sources.read_parquet(f, f"data.parquet.train_files[{i}]")
        spec.default_data_source = Path(f).stem
        frames.append(inputs.read(df, str(f), spec)[0])
    for i, f in enumerate(cfg.get("heldout_files") or []):
        df = sources.read_parquet(f, f"data.parquet.heldout_files[{i}]")
        spec.default_data_source = Path(f).stem
        held.append(inputs.read(df, str(f), spec)[0])
    return frames, held


def _read_hf_splits(
    hf: dict[str, Any], spec: ReadSpec, inputs: _Inputs
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """(train frames, held-out frames) of data.hf's split and heldout_split."""
    if not hf.get("dataset"):
        raise UserError("data.hf.dataset: required for source hf (a hub id or a local dataset folder)")
    df = sources.read_hf(hf["dataset"], hf.get("config_name"), hf["split"], "data.hf.dataset")
    spec.default_data_source = hf["dataset"]
    frames = [inputs.read(df, sources.hf_origin(hf["dataset"], hf["split"]), spec)[0]]
    held = []
    if hf.get("heldout_split"):
        df = sources.read_hf(
            hf["dataset"], hf.get("config_name"), hf["heldout_split"], "data.hf.heldout_split"
        )
        held.append(inputs.read(df, sources.hf_origin(hf["dataset"], hf["heldout_split"]), spec)[0])
    return frames, held


# --------------------------------------------------------------------------------------------------
# steps 3-4: de-duplicate, split


@dataclass
class _Split:
    """The train pool and the held-out split after de-duplication, with their report blocks."""

    train_pool: pd.DataFrame
    heldout: pd.DataFrame
    duplicates: dict[str, Any]
    heldout_info: dict[str, Any]


def _dedup_and_split(src: _Source, data: dict[str, Any], seed: int) -> _Split:
    """Drop repeated problems (first copy kept; a given held-out copy wins over train's) and take the
    held-out split: the given rows, else data.heldout_size problems carved out by difficulty."""
    pool, given_heldout = src.pool, src.given_heldout
    # unique problem ids in reading order (train inputs, then held-out inputs)
    pool["uid"] = np.arange(len(pool))
    if given_heldout is not None:
        given_heldout["uid"] = np.arange(len(pool), len(pool) + len(given_heldout))

    everything = _concat([pool] + ([given_heldout] if given_heldout is not None else []))
    dup: dict[str, Any] = {"key": "normalised question text (schema.normalise_question)"}
    if given_heldout is not None:
        w_h, _ = cur.duplicate_mask(given_heldout["key"].tolist())
        heldout = given_heldout[~w_h].reset_index(drop=True)
        w_t, a_t = cur.duplicate_mask(pool["key"].tolist(), set(heldout["key"]))
        dropped = pd.concat([given_heldout[w_h], pool[w_t | a_t]])
        train_pool = pool[~(w_t | a_t)].reset_index(drop=True)
        dup.update(
            within_heldout=int(w_h.sum()), within_train=int(w_t.sum()), train_vs_heldout=int(a_t.sum())
        )
        heldout_info = {
            "from": "files",
            "rows": len(heldout),
            "note": "data.heldout_size and heldout_stratify are not used when held-out files are given",
        }
    else:
        w_t, _ = cur.duplicate_mask(pool["key"].tolist())
        dropped = pool[w_t]
        deduped = pool[~w_t].reset_index(drop=True)
        dup.update(within_train=int(w_t.sum()), within_heldout=0, train_vs_heldout=0)
        size, mode = int(data["heldout_size"]), data["heldout_stratify"]
        train_pool, heldout = cur.stratified_heldout(deduped, size, mode, seed)
        heldout_info = {"from": "carved", "size": size, "stratify": mode}
    dup["total_dropped"] = int(len(dropped))
    dup["conflicting_ground_truth"] = _conflicts(everything)
    dup["examples"] = _duplicate_examples(_concat([heldout, train_pool]), dropped)
    if not len(train_pool):
        raise UserError(
            "data: no training problems left after removing malformed rows, duplicates and the held-out split"
        )
    overlap = set(train_pool["key"]) & set(heldout["key"])
    assert not overlap, "a problem is in both splits"  # guaranteed by construction
    return _Split(train_pool, heldout, dup, heldout_info)


# --------------------------------------------------------------------------------------------------
# step 6: write


class _Writer:
    """Writes frames as verl-schema parquet files under `out` and counts the rows of each file."""

    def __init__(self, out: Path):
        self.out = out
        self.written: dict[str, int] = {}

    def __call__(self, name: str, frame: pd.DataFrame, split: str) -> pd.DataFrame:
        import pyarrow as pa

        rows = to_verl(frame, split)
        try:
            write_parquet(self.out / name, rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise UserError(
                f"cannot write {self.out / name}: a field has values of different types across rows "
                f"(typically an extra_info key that differs between input files): {err}"
            ) from err
        self.written[name] = len(rows)
        return rows


def _write_reuse(train: pd.DataFrame, data: dict[str, Any], seed: int, put: _Writer) -> dict[str, Any]:
    """train_tau{tau}.parquet for every tau > 1 (a subset of size D/tau repeated tau times); the report's
    `reuse` block (`nested`: each larger tau's subset lies inside the smaller tau's)."""
    reuse: dict[str, Any] = {"mode": data["reuse_mode"], "taus": {}}
    subsets: dict[int, set[int]] = {}
    for tau in sorted(set(data["reuse_taus"])):
        if tau == 1:
            continue
        rep = cur.reuse_subset(train, tau, data["reuse_mode"], seed)
        put(f"train_tau{tau}.parquet", rep, "train")
        unique = rep[rep["reuse_epoch"] == 0]
        subsets[tau] = set(unique["uid"].tolist())
        reuse["taus"][str(tau)] = {
            "file": f"train_tau{tau}.parquet",
            "unique": len(unique),
            "rows": len(rep),
            **{k: v for k, v in cur.split_counts(unique).items() if k in ("easy", "hard", "easy_fraction")},
        }
    taus = sorted(subsets)
    reuse["nested"] = (
        all(subsets[b] <= subsets[a] for a, b in zip(taus, taus[1:], strict=False)) if taus else None
    )
    return reuse


def _write_corpus(syn: Any, heldout: pd.DataFrame, put: _Writer) -> dict[str, int]:
    """The synthetic pre-training corpus; the report's `corpus` block."""
    corpus = syn.corpus
    if not isinstance(corpus, pd.DataFrame) or "text" not in corpus.columns:
        raise UserError("data.source synthetic: the generator's corpus has no `text` column")
    write_parquet(put.out / "pretrain_corpus.parquet", corpus)
    put.written["pretrain_corpus.parquet"] = len(corpus)
    return {"rows": len(corpus), "contains_heldout": _corpus_overlap(corpus, heldout)}


# --------------------------------------------------------------------------------------------------
# the stage


def prepare(params: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Write train / held-out / reuse / benchmark parquet files and report.json to `out_dir`.

    `params` = {"data": <config data section>, "benchmarks": {name: spec}, "seed": int, "rewards":
    [the runs' reward methods]}; missing keys take the config schema's defaults. Train rows that a
    reward in `rewards` can never score are counted in the report (`unscorable`) and refused past
    data.max_unscorable_fraction. Returns the report (also written to report.json).
    """
    t0 = time.perf_counter()
    data, benches, seed = settings(params)
    template = PromptTemplate.from_config(data["prompt"])
    inputs = _Inputs(float(data["max_bad_fraction"]))
    report: dict[str, Any] = {"source": data["source"], "seed": seed}

    # 1-2. read and score difficulty
    if data["source"] == "synthetic":
        src = _read_synthetic(data, seed, template, inputs)
    else:
        src = _read_real(data, template, inputs)
    report["difficulty"] = src.difficulty
    # 3-4. de-duplicate, split
    split = _dedup_and_split(src, data, seed)
    # 5. cap, order
    train_pool = split.train_pool
    if src.cap is not None and src.cap < len(train_pool):
        train_pool = cur.stratified_sample(train_pool, int(src.cap), seed, "max_train")
    train = cur.order_curriculum(train_pool, seed, data["order"])
    limit = float(data["max_unscorable_fraction"])
    unscorable = _unscorable(train, params.get("rewards") or [], limit, inputs)
    # 6. write
    put = _Writer(Path(out_dir))
    put.out.mkdir(parents=True, exist_ok=True)
    put("train.parquet", train, "train")
    put("heldout.parquet", split.heldout, "heldout")
    reuse = _write_reuse(train, data, seed, put)
    bench_report = _write_benchmarks(
        benches, put.out, put, split.heldout, train, src.syn, inputs, template, seed, src.medians, data
    )
    if src.syn is not None:
        report["corpus"] = _write_corpus(src.syn, split.heldout, put)

    violations = cur.order_violations(train)
    report.update(
        {
            "inputs": inputs.files,
            "malformed": _malformed_summary(inputs.bad),
            "unscorable": unscorable,
            "duplicates": split.duplicates,
            "heldout": split.heldout_info,
            "splits": {"train": cur.split_counts(train), "heldout": cur.split_counts(split.heldout)},
            "order": {
                "mode": data["order"],
                "monotone": violations == 0,
                "violations": violations,
                "first_difficulty": float(cur.difficulty_of(train)[0]),
                "last_difficulty": float(cur.difficulty_of(train)[-1]),
            },
            "max_train": src.cap,
            "reuse": reuse,
            "prompt": {
                "system": template.system,
                "instruction": template.instruction,
                "applied": template.active,
            },
            "benchmarks": bench_report,
            "files": put.written,
            "wall_s": round(time.perf_counter() - t0, 3),
        }
    )
    write_json(put.out / "report.json", report)
    return report


def _write_benchmarks(
    benches: dict[str, Any],
    out: Path,
    put: Any,
    heldout: pd.DataFrame,
    train: pd.DataFrame,
    syn: Any,
    inputs: _Inputs,
    template: PromptTemplate,
    seed: int,
    medians: tuple[float | None, float],
    data: dict[str, Any],
) -> dict[str, Any]:
    train_keys = set(train["key"])
    result: dict[str, Any] = {}
    ss = (
        _source_settings(data)
        if data["source"] != "synthetic"
        else {"pass_rate_key": None, "easy_threshold": 0.3}
    )
    for name, raw in benches.items():
        spec = bm.resolve(name, raw)
        bad: list[BadRow] = []
        split = "test"
        if spec.source == "heldout":
            frame, split = heldout, "heldout"
        elif spec.source == "synthetic_ood":
            if syn is None:
                raise UserError(f"benchmarks.{name}.source: synthetic_ood needs data.source synthetic")
            rs = ReadSpec(difficulty_from="extra_info", template=template, default_data_source="synthetic")
            frame, bad = inputs.read(syn.ood, "synthetic:ood", rs, record=False)
            frame = _bin_synthetic(frame, *medians)
        else:
            if spec.source == "parquet":
                df = sources.read_parquet(spec.path, f"benchmarks.{name}.path")
                origin = str(spec.path)
            else:
                df = sources.read_hf(spec.path, spec.hf_config, spec.hf_split, f"benchmarks.{name}.path")
                origin = sources.hf_origin(spec.path, spec.hf_split)
            columns: dict[str, str] = {}
            if not sources.is_verl(df):
                df, columns = sources.plain_to_verl_columns(df, origin)
            rs = ReadSpec(
                columns=columns,
                pass_rate_key=ss["pass_rate_key"],
                easy_threshold=float(ss["easy_threshold"]),
                template=template,
                default_data_source=spec.data_source or name,
                require_difficulty=False,
            )
            frame, bad = inputs.read(df, origin, rs, record=False)
        if spec.source != "heldout":
            frame = frame.copy()
            frame["uid"] = np.arange(len(frame))
        if spec.max_rows is not None and spec.max_rows < len(frame):
            frame = cur.stratified_sample(frame, spec.max_rows, seed, f"bench-{name}")
        put(f"bench/{name}.parquet", frame, split)
        sources_seen = sorted(set(frame["data_source"]))
        within, _ = cur.duplicate_mask(frame["key"].tolist())
        result[name] = {
            "source": spec.source,
            "path": spec.path,
            "file": f"bench/{name}.parquet",
            "rows": len(frame),
            "malformed": _malformed_summary(bad) if bad else {"total": 0},
            "data_sources": sources_seen,
            "scorer": bm.scorer_for(spec, sources_seen),
            "duplicates_within": int(within.sum()),
            "overlap_with_train": int(frame["key"].isin(train_keys).sum()),
        }
    return result


def _corpus_overlap(corpus: pd.DataFrame, heldout: pd.DataFrame) -> int:
    """Held-out questions whose normalised text occurs inside the pre-training corpus."""
    big = "\x00".join(normalise_question(t) for t in corpus["text"].astype(str))
    return int(sum(1 for k in heldout["key"] if k and k in big))
