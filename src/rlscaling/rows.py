"""The row contract: what a verl-schema row must hold to be scored, and how a bad one is named.

Every reader of prepared rows uses it: the data stage (rlscaling.data.schema, which reads and writes
rows), the rewards (rlscaling.rewards: the TRL and verl adapters), training (the trl engine and
`rlscaling train`'s pre-flight check) and evaluation (rlscaling.evaluate.bench).

    BadRow                 a rejected row: file, 0-based row, field, reason, detail
    Reject                 raised by a field reader; becomes a BadRow or an UnscorableRow
    chat_messages(v, fld)  a prompt as {role, content} messages (a plain string is one user message)
    one_answer(v, fld)     one reference answer as a string
    reference_answer(ground_truth, reward_model), prompt_and_answer(prompt, ...)
                           what a reward reads from a row; UnscorableRow naming the field otherwise
    unscorable_message(bad, total, origin)
    read_training_rows(path)
                           a train parquet as a table a trainer can score
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.errors import UserError

ROLES = ("system", "user", "assistant")


# --------------------------------------------------------------------------------------------------
# bad rows


@dataclass(frozen=True)
class BadRow:
    """A rejected input row: where it is and what is wrong with it."""

    origin: str  # file path or "hf:<id>[split]" or "synthetic"
    row: int  # 0-based position in the origin
    field: str  # e.g. "reward_model.ground_truth"
    reason: str  # short machine-readable reason, e.g. "missing_ground_truth"
    detail: str  # what was found and what was expected

    def message(self) -> str:
        return f"{self.origin}: row {self.row}, field {self.field}: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.origin,
            "row": self.row,
            "field": self.field,
            "reason": self.reason,
            "message": self.message(),
        }


class Reject(Exception):
    def __init__(self, field: str, reason: str, detail: str):
        super().__init__(detail)
        self.field, self.reason, self.detail = field, reason, detail


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def as_list(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return list(value)
    return None


def chat_messages(value: Any, fld: str) -> list[dict[str, str]]:
    if is_missing(value):
        raise Reject(
            fld, "empty_prompt", "missing (expected a non-empty list of chat messages {role, content})"
        )
    if isinstance(value, str):  # a plain-text prompt: the question itself
        if not value.strip():
            raise Reject(fld, "empty_prompt", "empty string (expected a non-empty prompt)")
        return [{"role": "user", "content": value}]
    items = as_list(value)
    if items is None:
        raise Reject(
            fld,
            "bad_prompt_type",
            f"{type(value).__name__} (expected a list of chat messages {{role, content}})",
        )
    if not items:
        raise Reject(fld, "empty_prompt", "empty list (expected at least one user message)")
    out = []
    for i, m in enumerate(items):
        if not isinstance(m, Mapping):
            raise Reject(
                f"{fld}[{i}]", "bad_prompt_type", f"{type(m).__name__} (expected a {{role, content}} mapping)"
            )
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise Reject(f"{fld}[{i}].role", "bad_prompt_type", f"{role!r} (expected one of {list(ROLES)})")
        if not isinstance(content, str):
            raise Reject(
                f"{fld}[{i}].content", "bad_prompt_type", f"{type(content).__name__} (expected a string)"
            )
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" and m["content"].strip() for m in out):
        raise Reject(fld, "empty_prompt", "no user message with text (expected a non-empty question)")
    return out


def one_answer(value: Any, fld: str) -> str:
    """One reference answer as a string. A one-element list is its element; a longer list is refused:
    every scorer compares the response with one reference answer, so a row listing several would
    only ever score 0."""
    items = as_list(value)
    if items is not None:
        if len(items) != 1:
            raise Reject(
                fld,
                "bad_ground_truth_type",
                f"list of {len(items)} answers (expected one answer; the scorers compare with one)",
            )
        return one_answer(items[0], f"{fld}[0]")
    if is_missing(value):
        raise Reject(fld, "missing_ground_truth", "missing (expected a non-empty string)")
    if isinstance(value, (bool, np.bool_)):
        raise Reject(fld, "bad_ground_truth_type", f"bool {value!r} (expected a string)")
    if isinstance(value, str):
        if not value.strip():
            raise Reject(fld, "missing_ground_truth", "empty string (expected a non-empty string)")
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        v = float(value)
        return str(int(v)) if v.is_integer() else repr(v)
    raise Reject(fld, "bad_ground_truth_type", f"{type(value).__name__} (expected a string)")


# --------------------------------------------------------------------------------------------------
# rows a trainer scores (the one reader of verl-schema rows for training: the trl engine, the TRL and
# verl reward adapters and `rlscaling train`'s pre-flight check)


class UnscorableRow(UserError):
    """A row without what a reward needs (a reference answer); names the field and says why."""

    def __init__(self, field: str, reason: str, detail: str):
        super().__init__(f"{field}: {detail}")
        self.field, self.reason, self.detail = field, reason, detail


def _answer(ground_truth: Any, reward_model: Any) -> str:
    if not is_missing(ground_truth):
        return one_answer(ground_truth, "ground_truth")
    if isinstance(reward_model, Mapping):
        return one_answer(reward_model.get("ground_truth"), "reward_model.ground_truth")
    if is_missing(reward_model):
        raise Reject(
            "reward_model.ground_truth", "missing_ground_truth", "missing (expected a non-empty string)"
        )
    raise Reject(
        "reward_model",
        "bad_reward_model",
        f"{type(reward_model).__name__} (expected {{style, ground_truth}})",
    )


def prompt_and_answer(
    prompt: Any, ground_truth: Any = None, reward_model: Any = None
) -> tuple[list[dict[str, str]], str]:
    """The chat messages and the reference answer of one verl-schema row (what training and evaluation
    both read): `prompt` as {role, content} messages (a plain string is one user message), the answer
    as reference_answer gives it. Raises UnscorableRow naming the field."""
    try:
        return chat_messages(prompt, "prompt"), _answer(ground_truth, reward_model)
    except Reject as rej:
        raise UnscorableRow(rej.field, rej.reason, rej.detail) from None


def reference_answer(ground_truth: Any = None, reward_model: Any = None) -> str:
    """The reference answer of one verl-schema row as a string: the flat `ground_truth` when set, else
    `reward_model.ground_truth` (integers and finite numbers are spelled as strings). Raises
    UnscorableRow when neither holds a non-empty answer."""
    try:
        return _answer(ground_truth, reward_model)
    except Reject as rej:
        raise UnscorableRow(rej.field, rej.reason, rej.detail) from None


def unscorable_message(bad: list[BadRow], total: int, origin: str, unit: str = "rows") -> str:
    """'{origin}: N of M rows cannot be scored (counts by reason); first: row, field, detail'."""
    from collections import Counter

    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(Counter(b.reason for b in bad).items()))
    first = bad[0]
    return (
        f"{origin}: {len(bad)} of {total} {unit} cannot be scored ({counts}); first: row {first.row}, "
        f"field {first.field}: {first.detail}"
    )


def read_training_rows(path: str | Any) -> Any:
    """A train parquet (verl RL schema) as a pyarrow Table a trainer can score, rows in file order.

    Every row needs a chat prompt with user text (`prompt`) and a reference answer (a flat
    `ground_truth` column, or `reward_model.ground_truth`); the returned table's `ground_truth` column
    holds the answers as strings. Raises UserError naming the file, with the number of rows that cannot
    be scored by reason and the first one's row and field: a row without an answer would only ever
    score 0 (the data stage drops such rows; hand-made and outside files reach training directly).
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--data {path}: file does not exist")
    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad input file
        raise UserError(f"{path}: cannot be read as parquet ({type(err).__name__}: {err})") from None
    cols = table.column_names
    if "prompt" not in cols:
        raise UserError(f"{path}: no `prompt` column (chat messages, verl RL schema)")
    if "ground_truth" not in cols and "reward_model" not in cols:
        raise UserError(f"{path}: no `ground_truth` column and no `reward_model.ground_truth`")
    n = table.num_rows
    if n == 0:
        raise UserError(f"{path}: no rows")
    prompts = table.column("prompt").to_pylist()
    flat = table.column("ground_truth").to_pylist() if "ground_truth" in cols else [None] * n
    rms = table.column("reward_model").to_pylist() if "reward_model" in cols else [None] * n
    answers: list[str | None] = []
    bad: list[BadRow] = []
    for i in range(n):
        try:
            answers.append(prompt_and_answer(prompts[i], flat[i], rms[i])[1])
        except UnscorableRow as rej:
            bad.append(BadRow(str(path), i, rej.field, rej.reason, rej.detail))
            answers.append(None)
    if bad:
        raise UserError(
            unscorable_message(bad, n, str(path))
            + "; fix or drop these rows (the data stage drops them from the files it writes)"
        )
    column = pa.array(answers, pa.string())
    if "ground_truth" in cols:
        return table.set_column(cols.index("ground_truth"), "ground_truth", column)
    return table.append_column("ground_truth", column)
