"""Atomic file output: nothing half-written is ever left under a final name. Plus the one JSONL reader
and the one JSON-safe number (`finite_or_none`) every stage shares.

Every stage writes through these helpers: content goes to a temporary name in the same folder and
is renamed into place (os.replace, atomic on POSIX), so a killed job leaves either the old state or
the complete new file, and Snakemake never trusts a partial output.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; on success rename it to `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask())  # mkstemp makes 0600; outputs are shared on clusters
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def umask() -> int:
    """The process' file-mode creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success rename it to `path` (replacing an old
    one), else delete it. For checkpoints and model folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (indent 2, keys in insertion order, NaN refused)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_parquet(path: str | Path, df: Any) -> None:
    """Write a pandas DataFrame to parquet atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_params_json(text: str, option: str = "--params-json") -> dict[str, Any]:
    """The JSON object a stage's `--params-json` passes: JSON text, or the path of a JSON file.

    Raises UserError naming `option` when it is neither, is not valid JSON, or is not an object.
    """
    from rlscaling.errors import UserError

    stripped = text.strip()
    if not stripped.startswith("{"):
        path = Path(stripped)
        if not path.is_file():
            raise UserError(f"{option}: neither a JSON object nor an existing file: {text[:80]!r}")
        stripped = path.read_text()
    try:
        params = json.loads(stripped)
    except json.JSONDecodeError as err:
        raise UserError(f"{option}: not valid JSON ({err.msg})") from None
    if not isinstance(params, dict):
        raise UserError(f"{option}: expected a JSON object")
    return params


def read_parquet(path: str | Path, label: str) -> Any:
    """A parquet file as a pandas DataFrame; UserError naming it (`label`, e.g. "--curves" or "benchmark
    file") when it is missing or cannot be read."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{label} {path} does not exist")
    try:
        return pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad input file
        raise UserError(f"{label} {path}: cannot be read as parquet ({err})") from None


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in a file. Raises UserError naming the file (missing, not valid JSON, not an
    object)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        obj = json.loads(read_text_file(path))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object")
    return obj


def read_text_file(path: str | Path, what: str = "a UTF-8 text file") -> str:
    """The text of `path`. Raises UserError naming the file when it is missing, unreadable, binary (a
    NUL byte) or not UTF-8; `what` names the expected content in the message."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read it ({err.strerror or err})") from None
    if b"\0" in data[:65536]:
        raise UserError(f"{path}: a binary file; expected {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start}); expected {what}") from None


def read_jsonl_numbered(
    path: str | Path, truncated_tail_ok: bool = False
) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) of every record (JSON object) of a JSONL file, blank lines skipped. Raises
    UserError naming the file (missing, binary, not UTF-8) or the file and line (not valid JSON, not an
    object). truncated_tail_ok: a last line that is not valid JSON is skipped (a log another program
    appends to, killed mid-line)."""
    path = Path(path)
    records = []
    lines = read_text_file(path, "JSON lines").splitlines()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            if truncated_tail_ok and line_no == len(lines):
                continue
            raise UserError(f"{path}, line {line_no}: not valid JSON ({err.msg})") from None
        if not isinstance(rec, dict):
            raise UserError(f"{path}, line {line_no}: expected a JSON object")
        records.append((line_no, rec))
    return records


def read_jsonl(path: str | Path, truncated_tail_ok: bool = False) -> list[dict[str, Any]]:
    """The records (JSON objects) of a JSONL file (see `read_jsonl_numbered` for the errors)."""
    return [rec for _, rec in read_jsonl_numbered(path, truncated_tail_ok)]


def finite_or_none(value: Any) -> float | None:
    """`value` as a float; None when it is missing, a bool, not a number, NaN or infinite (JSON has no
    NaN: unmeasured or undefined values are written as null)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
