"""The benchmark registry: evaluation sets by name, where their rows come from and how they are scored.

Built-in names (their files are the reference data's verl-format copies; see ../shared/data/README.md):

    name      local file (shared data dir)       data_source   scorer           hub id, split
    gsm8k     benchmarks/gsm8k.parquet           openai/gsm8k  custom_flexible  openai/gsm8k (main), test
    math500   benchmarks/math__math_500.parquet  math__math    boxed            HuggingFaceH4/MATH-500, test
    aime2024  benchmarks/aime2024.parquet        aime2024      boxed            HuggingFaceH4/aime_2024, train
    amc2023   benchmarks/amc2023.parquet         aimeamc2023   boxed            math-ai/amc23, test

The scorers are those rlscaling.rewards.scorer_for_source gives the data_sources (a test keeps the
two in step): the local files ask for the answer in \\boxed{}, so `boxed` (math-verify equivalence);
GSM8K gets `custom_flexible`, which reads both a `#### N` answer and a final \\boxed{N}. A study that
insists on the `#### N` format sets `benchmarks.gsm8k.scorer: strict`.

A config entry `benchmarks.<name>` has `source`:
  heldout        the study's own held-out split (heldout.parquet);
  synthetic_ood  the synthetic generator's harder levels (source synthetic only);
  parquet        a local verl-format parquet file: `path`, or the built-in default for a built-in name;
  hf             datasets.load_dataset(`path` or the built-in hub id); verl-format datasets are read
                 as they are, plain ones (question / problem + answer columns) are turned into verl
                 rows with the study's prompt template and the registry's data_source.
`scorer` overrides the registry; without either, rlscaling.rewards.scorer_for_source(data_source)
decides (at evaluation time; the data report records what it would pick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError
from rlscaling.paths import shared_data_dir
from rlscaling.rewards import METHODS as SCORERS  # a benchmark is scored by a reward method

SOURCES = ("heldout", "synthetic_ood", "parquet", "hf")


@dataclass(frozen=True)
class BenchmarkInfo:
    """A built-in benchmark: default local file, data_source, scorer and hub coordinates."""

    name: str
    local_file: str  # relative to the shared data dir
    data_source: str
    scorer: str
    hub_id: str
    hub_config: str | None
    hub_split: str

    def local_path(self) -> Path:
        return shared_data_dir() / self.local_file


BUILTIN: dict[str, BenchmarkInfo] = {
    b.name: b
    for b in (
        BenchmarkInfo(
            "gsm8k",
            "benchmarks/gsm8k.parquet",
            "openai/gsm8k",
            "custom_flexible",
            "openai/gsm8k",
            "main",
            "test",
        ),
        BenchmarkInfo(
            "math500",
            "benchmarks/math__math_500.parquet",
            "math__math",
            "boxed",
            "HuggingFaceH4/MATH-500",
            None,
            "test",
        ),
        BenchmarkInfo(
            "aime2024",
            "benchmarks/aime2024.parquet",
            "aime2024",
            "boxed",
            "HuggingFaceH4/aime_2024",
            None,
            "train",
        ),
        BenchmarkInfo(
            "amc2023", "benchmarks/amc2023.parquet", "aimeamc2023", "boxed", "math-ai/amc23", None, "test"
        ),
    )
}

# data_source -> scorer of the built-ins (used when a row's data_source is one of theirs)
SCORER_BY_SOURCE = {b.data_source: b.scorer for b in BUILTIN.values()}


@dataclass(frozen=True)
class BenchSpec:
    """One configured benchmark with the registry's defaults filled in."""

    name: str
    source: str
    path: str | None  # local file / dataset dir, or hub id (hf); None for heldout / synthetic_ood
    scorer: str | None  # None: decided by data_source at evaluation time
    max_rows: int | None
    data_source: str | None  # for plain hf datasets (rows without a data_source)
    hf_config: str | None = None
    hf_split: str | None = None

    @property
    def builtin(self) -> BenchmarkInfo | None:
        return BUILTIN.get(self.name)


def resolve(name: str, spec: Mapping[str, Any] | None) -> BenchSpec:
    """The config entry `benchmarks.<name>` with registry defaults; UserError when incomplete."""
    spec = dict(spec or {})
    source = spec.get("source", "parquet")
    if source not in SOURCES:
        raise UserError(f"benchmarks.{name}.source: {source!r} is not one of {list(SOURCES)}")
    info = BUILTIN.get(name)
    path = spec.get("path")
    hf_config = spec.get("config_name")
    hf_split = spec.get("split")
    if source == "parquet" and not path:
        if info is None:
            raise UserError(
                f"benchmarks.{name}.path: a parquet benchmark needs a path (built-in names with a default "
                f"file: {sorted(BUILTIN)})"
            )
        path = str(info.local_path())
    if source == "hf" and not path:
        if info is None:
            raise UserError(
                f"benchmarks.{name}.path: an hf benchmark needs a dataset id or local dataset folder"
            )
        path, hf_config, hf_split = info.hub_id, hf_config or info.hub_config, hf_split or info.hub_split
    if source in ("heldout", "synthetic_ood") and path:
        raise UserError(f"benchmarks.{name}.path: not used with source {source} (remove it)")
    scorer = spec.get("scorer") or (info.scorer if info else None)
    if scorer is not None and scorer not in SCORERS:
        raise UserError(f"benchmarks.{name}.scorer: {scorer!r} is not one of {list(SCORERS)}")
    max_rows = spec.get("max_rows")
    if max_rows is not None and (int(max_rows) != max_rows or max_rows < 1):
        raise UserError(f"benchmarks.{name}.max_rows: {max_rows!r} is not an integer >= 1")
    return BenchSpec(
        name=name,
        source=source,
        path=path,
        scorer=scorer,
        max_rows=None if max_rows is None else int(max_rows),
        data_source=info.data_source if info else None,
        hf_config=hf_config,
        hf_split=hf_split,
    )


def scorer_for(spec: BenchSpec, data_sources: list[str]) -> str | None:
    """The scorer a benchmark is evaluated with: configured / built-in, else the one the registry or
    rlscaling.rewards gives its data_source (None when neither knows it)."""
    if spec.scorer:
        return spec.scorer
    if data_sources:
        ds = data_sources[0]
        if ds in SCORER_BY_SOURCE:
            return SCORER_BY_SOURCE[ds]
        try:
            from rlscaling.rewards import scorer_for_source
        except ImportError:
            return None
        try:
            return scorer_for_source(ds)
        except Exception:  # noqa: BLE001 - an unknown source is reported as null, not fatal here
            return None
    return None
