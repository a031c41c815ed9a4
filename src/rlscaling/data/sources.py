"""Reading source tables: local parquet files and Hugging Face datasets (hub id or local folder).

Both return a pandas DataFrame with the source's own columns; rlscaling.data.schema.read_rows turns
it into problems. Relative paths are taken from the working directory (the Snakemake workflow root),
as rlscaling.config.check does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rlscaling.errors import UserError


def resolve_path(p: str | Path) -> Path:
    p = Path(p).expanduser()
    return p if p.is_absolute() else Path.cwd() / p


def read_parquet(path: str | Path, key: str) -> pd.DataFrame:
    """A parquet file as a DataFrame; UserError naming `key` (the config key) and the file otherwise."""
    from rlscaling.io import read_parquet as read

    return read(resolve_path(path), f"{key}: file")


def _is_saved_dataset(p: Path) -> bool:
    return (p / "dataset_dict.json").is_file() or (p / "state.json").is_file()


def read_hf(dataset: str, config_name: str | None, split: str | None, key: str) -> pd.DataFrame:
    """One split of a Hugging Face dataset as a DataFrame.

    `dataset` is a hub id (needs a reachable hub), a folder written by `Dataset(Dict).save_to_disk`,
    or a folder of data files that `datasets.load_dataset` understands (parquet, json, csv). `split`
    None picks "test" when present, else the only split.
    """
    import datasets

    local = resolve_path(dataset)
    try:
        if local.is_dir() and _is_saved_dataset(local):
            obj: Any = datasets.load_from_disk(str(local))
        else:
            target = str(local) if local.is_dir() else dataset
            obj = datasets.load_dataset(target, config_name) if config_name else datasets.load_dataset(target)
    except Exception as err:  # noqa: BLE001 - hub unreachable, unknown id, unreadable folder
        raise UserError(f"{key}: cannot load dataset {dataset!r} ({type(err).__name__}: {err})") from err
    if isinstance(obj, datasets.DatasetDict):
        names = list(obj.keys())
        if split is None:
            split = "test" if "test" in names else (names[0] if len(names) == 1 else None)
            if split is None:
                raise UserError(f"{key}: dataset {dataset!r} has splits {names}; name one")
        if split not in obj:
            raise UserError(f"{key}: dataset {dataset!r} has no split {split!r} (it has {names})")
        obj = obj[split]
    return obj.to_pandas()


def hf_origin(dataset: str, split: str | None) -> str:
    """How rows of a dataset are named in messages: `hf:<id or folder>[<split>]`."""
    return f"hf:{dataset}[{split}]" if split else f"hf:{dataset}"


# answer / question columns of plain (non-verl) benchmark datasets, tried in this order
QUESTION_COLUMNS = ("problem", "question", "Problem", "Question")
ANSWER_COLUMNS = ("answer", "Answer", "final_answer", "target")


def plain_to_verl_columns(df: pd.DataFrame, origin: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """For a dataset without verl columns: the (question, ground_truth) column mapping, with GSM8K-style
    answers ("reasoning #### 42") cut to the part after the last ####."""
    q = next((c for c in QUESTION_COLUMNS if c in df.columns), None)
    a = next((c for c in ANSWER_COLUMNS if c in df.columns), None)
    if q is None or a is None:
        raise UserError(
            f"{origin}: neither verl columns (prompt, reward_model) nor a question column "
            f"{list(QUESTION_COLUMNS)} and an answer column {list(ANSWER_COLUMNS)}; the dataset has "
            f"{list(df.columns)}"
        )
    df = df.copy()
    df[a] = [
        v.rsplit("####", 1)[1].strip().replace(",", "") if isinstance(v, str) and "####" in v else v
        for v in df[a]
    ]
    return df, {"question": q, "ground_truth": a}


def is_verl(df: pd.DataFrame) -> bool:
    return "prompt" in df.columns and ("reward_model" in df.columns or "ground_truth" in df.columns)
