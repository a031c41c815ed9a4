"""verl's RL row schema: reading rows from any source, validating them, writing them.

A prepared row (train / held-out / benchmark parquet) has the columns

    data_source   str                         picks the scorer (rlscaling.rewards.scorer_for_source)
    prompt        list of {role, content}     chat messages; verl and the trl engine both apply the
                                              tokenizer's chat template to exactly this list
    ability       str                         "math"
    reward_model  {style: "rule", ground_truth: str}
    extra_info    {index, split, difficulty, difficulty_bin, pass_rate, source_file, source_row,
                   source_index, ...the source's own keys}
    ground_truth  str                         a flat copy of reward_model.ground_truth (TRL hands
                                              dataset columns to reward functions as kwargs)

`extra_info.difficulty` is continuous in [0, 1], higher = harder (1 - pass rate for real data; the
generator's difficulty for synthetic data); `difficulty_bin` is "easy" / "hard" (null for benchmarks
without a difficulty signal); `pass_rate` is the reference model's pass rate or null when unknown;
`index` is unique across the train and held-out splits of a study (the source's own index is kept as
`source_index`).

Reading is lenient about representation (numpy arrays for lists, int ground truths) and strict about
content: a row with a missing ground truth, an empty prompt or a value of the wrong type is rejected
with a `BadRow` naming the file, the row (0-based position in the file) and the field.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.errors import UserError
from rlscaling.rows import BadRow, Reject, chat_messages, is_missing, one_answer

OUTPUT_COLUMNS = ["data_source", "prompt", "ability", "reward_model", "extra_info", "ground_truth"]

# canonical field -> the source column it is read from (overridable through data.parquet.columns)
CANONICAL_FIELDS = (
    "data_source",
    "prompt",
    "question",
    "ability",
    "reward_model",
    "ground_truth",
    "extra_info",
)
DEFAULT_COLUMNS = {
    "data_source": "data_source",
    "prompt": "prompt",
    "ability": "ability",
    "reward_model": "reward_model",
    "extra_info": "extra_info",
}

EASY, HARD = "easy", "hard"

# Template text that sources put around the question. Stripped when the question is extracted (for
# de-duplication and before a configured template is applied); compared verbatim.
KNOWN_PREFIXES = (
    "You are a knowledgeable math assistant. Answer the following questions and think step by step.",
)
KNOWN_INSTRUCTIONS = (
    "Please output the final answer within \\boxed{}.",
    "Let's think step by step and output the final answer within \\boxed{}.",
    'Let\'s think step by step and output the final answer after "####".',
)

# internal working-frame columns (one row per problem, before conversion to verl rows)
FRAME_COLUMNS = [
    "data_source",
    "prompt",
    "ability",
    "ground_truth",
    "extra_info",
    "question",
    "key",
    "pass_rate",
    "difficulty",
    "difficulty_bin",
    "level",
    "origin",
    "row",
]


# --------------------------------------------------------------------------------------------------
# prompt template


@dataclass(frozen=True)
class PromptTemplate:
    """The configured prompt: an optional system message and an instruction appended to the question.

    With neither set the template is inactive and a source's own prompt is kept verbatim (the paper's
    guru prompt, for instance). With either set every prompt is rebuilt from the bare question as
    `[{"role": "system", "content": system}, {"role": "user", "content": question + " " + instruction}]`
    (the system message only when `system` is set), for train, held-out and benchmark rows alike, so
    training and evaluation see the same format.
    """

    system: str | None = None
    instruction: str | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> PromptTemplate:
        cfg = cfg or {}
        return cls(system=cfg.get("system") or None, instruction=cfg.get("instruction") or None)

    @property
    def active(self) -> bool:
        return self.system is not None or self.instruction is not None

    def messages(self, question: str) -> list[dict[str, str]]:
        """The chat message list for a bare question."""
        out: list[dict[str, str]] = []
        if self.system is not None:
            out.append({"role": "system", "content": self.system})
        content = question if self.instruction is None else f"{question} {self.instruction}"
        out.append({"role": "user", "content": content})
        return out

    def strip_texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(prefixes, suffixes) removed from user text to recover the bare question."""
        suffixes = KNOWN_INSTRUCTIONS + ((self.instruction,) if self.instruction else ())
        return KNOWN_PREFIXES, tuple(sorted(set(suffixes), key=len, reverse=True))


def extract_question(messages: Sequence[Mapping[str, str]], template: PromptTemplate | None = None) -> str:
    """The bare question of a chat prompt: the user messages' text without known template text."""
    prefixes, suffixes = (template or PromptTemplate()).strip_texts()
    text = "\n\n".join(m["content"] for m in messages if m["role"] == "user").strip()
    for p in prefixes:
        if text.startswith(p):
            text = text[len(p) :].lstrip()
    for s in suffixes:
        if text.endswith(s):
            text = text[: -len(s)].rstrip()
            break
    return text


_LATEX_NOISE = re.compile(r"\\(?:left|right)(?![a-z])|\\displaystyle|\\[,;:! ]|\$")
_FRAC = re.compile(r"\\[dt]frac(?![a-z])")
_SPACE = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """The de-duplication key of a question: NFKC, lower case, no whitespace, no `$`, no LaTeX sizing
    / spacing commands (`\\left`, `\\right`, `\\,` ...), `\\dfrac` / `\\tfrac` as `\\frac`.

    Two problems with the same key are the same problem. On the guru sample this finds copies that
    differ only in spacing or `$` placement (e.g. `$5\\times5$` vs `$5 \\times 5$`), which plain
    whitespace folding misses.
    """
    t = unicodedata.normalize("NFKC", text).lower()
    t = _LATEX_NOISE.sub("", t)
    t = _FRAC.sub(r"\\frac", t)
    return _SPACE.sub("", t)


# --------------------------------------------------------------------------------------------------
# reading rows


@dataclass
class ReadSpec:
    """How to read one source's rows.

    columns: canonical field -> source column (defaults: verl's names). A `question` column (plain
      text) may replace `prompt` (it becomes the user message, verbatim unless the template is
      active); a `ground_truth` column may replace `reward_model.ground_truth`.
    pass_rate_key: key of the reference pass rate in extra_info (a leading "extra_info." is allowed),
      else a top-level column of that name; None when the source has no pass rate.
    easy_threshold: pass rate at or above which a problem is easy (missing pass rate = hard).
    difficulty_from: "pass_rate" (real data) or "extra_info" (synthetic: extra_info.difficulty and
      extra_info.level; the bin is set later, at the median level).
    default_data_source: used when the source has no data_source column at all.
    require_difficulty: benchmarks set this False (no pass rate -> difficulty null, not "hard").
    """

    columns: dict[str, str] = field(default_factory=dict)
    pass_rate_key: str | None = "qwen2.5_7b_pass_rate"
    easy_threshold: float = 0.3
    difficulty_from: str = "pass_rate"
    default_data_source: str | None = None
    template: PromptTemplate = field(default_factory=PromptTemplate)
    require_difficulty: bool = True

    def column_map(self, available: Sequence[str], origin: str) -> dict[str, str]:
        """canonical -> source column for this file; raises UserError for a mapped column it lacks."""
        for key in self.columns:
            if key not in CANONICAL_FIELDS:
                raise UserError(
                    f"data.parquet.columns.{key}: unknown field (expected one of {list(CANONICAL_FIELDS)})"
                )
        mapping = {k: v for k, v in DEFAULT_COLUMNS.items() if v in available}
        for key, col in self.columns.items():
            if col not in available:
                raise UserError(
                    f"{origin}: column {col!r} (data.parquet.columns.{key}) not found; "
                    f"the file has columns {list(available)}"
                )
            mapping[key] = col
        if "question" in self.columns:
            mapping.pop("prompt", None)
        if "prompt" not in mapping and "question" not in mapping:
            raise UserError(
                f"{origin}: no prompt column (expected `prompt`, a list of chat messages, or a plain-text "
                "question column named through data.parquet.columns.question); the file has "
                f"{list(available)}"
            )
        if "ground_truth" not in mapping and "reward_model" not in mapping:
            if "ground_truth" in available:
                mapping["ground_truth"] = "ground_truth"
            else:
                raise UserError(
                    f"{origin}: no ground-truth column (expected `reward_model` with a `ground_truth` key, "
                    f"a `ground_truth` column, or data.parquet.columns.ground_truth); the file has "
                    f"{list(available)}"
                )
        return mapping


def _unit_number(value: Any, fld: str, reason: str) -> float | None:
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise Reject(fld, reason, f"{type(value).__name__} {value!r} (expected a number in [0, 1] or null)")
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise Reject(fld, reason, f"{v} (expected a number in [0, 1] or null)")
    return v


def _lookup_pass_rate(key: str, extra: Mapping[str, Any], row: Mapping[str, Any]) -> tuple[Any, str]:
    if key in extra:
        return extra[key], f"extra_info.{key}"
    if key.startswith("extra_info.") and key[len("extra_info.") :] in extra:
        k = key[len("extra_info.") :]
        return extra[k], f"extra_info.{k}"
    if key in row:
        return row[key], key
    return None, f"extra_info.{key}"


def read_rows(df: pd.DataFrame, origin: str, spec: ReadSpec) -> tuple[pd.DataFrame, list[BadRow]]:
    """Parse a source table into a working frame (FRAME_COLUMNS) and the list of rejected rows."""
    mapping = spec.column_map(list(df.columns), origin)
    template = spec.template
    default_source = spec.default_data_source or origin
    records = df.to_dict("records")
    good: list[dict[str, Any]] = []
    bad: list[BadRow] = []
    for i, raw in enumerate(records):
        try:
            good.append(_read_one(raw, i, origin, mapping, spec, template, default_source))
        except Reject as rej:
            bad.append(BadRow(origin, i, rej.field, rej.reason, rej.detail))
    frame = pd.DataFrame(good, columns=FRAME_COLUMNS)
    return frame, bad


def _read_one(
    raw: Mapping[str, Any],
    i: int,
    origin: str,
    mapping: Mapping[str, str],
    spec: ReadSpec,
    template: PromptTemplate,
    default_source: str,
) -> dict[str, Any]:
    # extra_info
    extra_raw = raw.get(mapping["extra_info"]) if "extra_info" in mapping else None
    if is_missing(extra_raw):
        extra: dict[str, Any] = {}
    elif isinstance(extra_raw, Mapping):
        extra = dict(extra_raw)
    else:
        raise Reject(
            mapping["extra_info"], "bad_extra_info", f"{type(extra_raw).__name__} (expected a mapping)"
        )

    # prompt / question
    if "question" in mapping:
        col = mapping["question"]
        q = raw.get(col)
        if is_missing(q) or (isinstance(q, str) and not q.strip()):
            raise Reject(col, "empty_prompt", "missing or empty (expected a non-empty question string)")
        if not isinstance(q, str):
            raise Reject(col, "bad_prompt_type", f"{type(q).__name__} (expected a string)")
        question = extract_question([{"role": "user", "content": q}], template)
        # like a prompt column: the source's own text verbatim unless a template is configured
        messages = template.messages(question) if template.active else [{"role": "user", "content": q}]
    else:
        col = mapping["prompt"]
        messages = chat_messages(raw.get(col), col)
        given = extra.get("question")
        question = given if isinstance(given, str) and given.strip() else extract_question(messages, template)
        if template.active:
            messages = template.messages(question)
    if not question.strip():
        raise Reject(
            mapping.get("question", mapping.get("prompt", "prompt")),
            "empty_prompt",
            "only template text, no question",
        )

    # ground truth
    if "ground_truth" in mapping:  # a flat column (mapped, or the source has no reward_model)
        gt = one_answer(raw.get(mapping["ground_truth"]), mapping["ground_truth"])
    else:
        col = mapping["reward_model"]
        rm = raw.get(col)
        if is_missing(rm):
            raise Reject(
                f"{col}.ground_truth", "missing_ground_truth", f"{col} is null (expected {{ground_truth}})"
            )
        if not isinstance(rm, Mapping):
            raise Reject(
                col, "bad_ground_truth_type", f"{type(rm).__name__} (expected a mapping with ground_truth)"
            )
        gt = one_answer(rm.get("ground_truth"), f"{col}.ground_truth")

    # data source, ability
    if "data_source" in mapping:
        col = mapping["data_source"]
        ds = raw.get(col)
        if not isinstance(ds, str) or not ds.strip():
            raise Reject(col, "bad_data_source", f"{ds!r} (expected a non-empty string)")
    else:
        ds = default_source
    ability = raw.get(mapping["ability"]) if "ability" in mapping else None
    if is_missing(ability):
        ability = "math"
    elif not isinstance(ability, str):
        raise Reject(mapping["ability"], "bad_ability", f"{type(ability).__name__} (expected a string)")

    # difficulty
    pass_rate: float | None = None
    difficulty: float | None = None
    bin_: str | None = None
    level: float | None = None
    if spec.difficulty_from == "extra_info":
        difficulty = _unit_number(extra.get("difficulty"), "extra_info.difficulty", "bad_difficulty")
        if difficulty is None:
            raise Reject("extra_info.difficulty", "bad_difficulty", "missing (expected a number in [0, 1])")
        lv = extra.get("level")
        if not is_missing(lv):
            if isinstance(lv, (bool, np.bool_)) or not isinstance(lv, numbers.Real):
                raise Reject("extra_info.level", "bad_level", f"{type(lv).__name__} (expected an integer)")
            level = float(lv)
        pass_rate = _unit_number(extra.get("pass_rate"), "extra_info.pass_rate", "bad_pass_rate")
    elif spec.pass_rate_key:
        value, fld = _lookup_pass_rate(spec.pass_rate_key, extra, raw)
        pass_rate = _unit_number(value, fld, "bad_pass_rate")
        if pass_rate is not None or spec.require_difficulty:
            difficulty = 1.0 if pass_rate is None else 1.0 - pass_rate
            bin_ = EASY if pass_rate is not None and pass_rate >= spec.easy_threshold else HARD

    return {
        "data_source": ds,
        "prompt": messages,
        "ability": ability,
        "ground_truth": gt,
        "extra_info": extra,
        "question": question,
        "key": normalise_question(question),
        "pass_rate": pass_rate,
        "difficulty": difficulty,
        "difficulty_bin": bin_,
        "level": level,
        "origin": origin,
        "row": i,
    }


# --------------------------------------------------------------------------------------------------
# writing rows

RESERVED_EXTRA = ("index", "split", "difficulty", "difficulty_bin", "pass_rate", "source_file", "source_row")


def _plain(value: Any) -> Any:
    """numpy scalars / arrays -> Python values (parquet writes them either way; JSON needs this)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_verl(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """Working frame -> verl RL rows (OUTPUT_COLUMNS), with extra_info.split = `split`.

    The frame must carry a `uid` column (the problem's unique id, written as extra_info.index).
    Source keys of extra_info are kept; its `index` becomes `source_index` unless the source already
    has one.
    """
    rows = []
    for r in frame.itertuples(index=False):
        extra = {k: _plain(v) for k, v in r.extra_info.items() if k not in RESERVED_EXTRA}
        if "index" in r.extra_info and "source_index" not in extra:
            extra["source_index"] = _plain(r.extra_info["index"])
        pass_rate = None if is_missing(r.pass_rate) else float(r.pass_rate)
        difficulty = None if is_missing(r.difficulty) else float(r.difficulty)
        info = {
            "index": int(r.uid),
            "split": split,
            "difficulty": difficulty,
            "difficulty_bin": r.difficulty_bin if isinstance(r.difficulty_bin, str) else None,
            "pass_rate": pass_rate,
            "source_file": str(r.origin),
            "source_row": int(r.row),
        }
        info.update(extra)
        if "reuse_epoch" in frame.columns:
            info["reuse_epoch"] = int(r.reuse_epoch)
        rows.append(
            {
                "data_source": r.data_source,
                "prompt": [dict(m) for m in r.prompt],
                "ability": r.ability,
                "reward_model": {"style": "rule", "ground_truth": r.ground_truth},
                "extra_info": info,
                "ground_truth": r.ground_truth,
            }
        )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def validate_rows(df: pd.DataFrame, origin: str = "rows") -> list[BadRow]:
    """Check prepared verl rows (e.g. a written train.parquet) against the schema; [] when all good.

    Checks what consumers rely on: the columns, a non-empty chat prompt, reward_model.style "rule",
    a non-empty ground truth equal to the flat `ground_truth`, extra_info.index / split, difficulty in
    [0, 1] or null and difficulty_bin easy / hard / null.
    """
    missing = [c for c in OUTPUT_COLUMNS if c not in df.columns]
    if missing:
        return [BadRow(origin, -1, c, "missing_column", "column missing") for c in missing]
    bad: list[BadRow] = []
    for i, r in enumerate(df.itertuples(index=False)):
        try:
            chat_messages(r.prompt, "prompt")
            if not isinstance(r.data_source, str) or not r.data_source:
                raise Reject("data_source", "bad_data_source", f"{r.data_source!r} (expected a string)")
            rm = r.reward_model
            if not isinstance(rm, Mapping) or rm.get("style") != "rule":
                raise Reject(
                    "reward_model", "bad_reward_model", f"{rm!r} (expected {{style: rule, ground_truth}})"
                )
            gt = one_answer(rm.get("ground_truth"), "reward_model.ground_truth")
            if not isinstance(r.ground_truth, str) or r.ground_truth != gt:
                raise Reject(
                    "ground_truth", "bad_ground_truth_type", "differs from reward_model.ground_truth"
                )
            info = r.extra_info
            if not isinstance(info, Mapping):
                raise Reject("extra_info", "bad_extra_info", f"{type(info).__name__} (expected a mapping)")
            if not isinstance(info.get("index"), numbers.Integral) or not isinstance(info.get("split"), str):
                raise Reject("extra_info.index", "bad_extra_info", "index (int) and split (str) required")
            _unit_number(info.get("difficulty"), "extra_info.difficulty", "bad_difficulty")
            if info.get("difficulty_bin") not in (EASY, HARD, None):
                raise Reject(
                    "extra_info.difficulty_bin", "bad_difficulty", f"{info.get('difficulty_bin')!r}"
                )
        except Reject as rej:
            bad.append(BadRow(origin, i, rej.field, rej.reason, rej.detail))
    return bad
