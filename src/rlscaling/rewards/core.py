"""One answer checker for training rewards and evaluation.

Methods (`METHODS`):
- `strict`: the number after the last `#### ` marker (the GSM8K answer format).
- `flexible`: the last number anywhere in the response.
- `custom_flexible`: the response cut right after the number following the first `####` marker
  (at the marker when no number follows it; not cut when there is no marker), then flexible.
  Long numbers are never truncated (6+ digit answers work).
- `boxed`: the content of the last `\\boxed{...}` (nested braces handled), compared to the ground
  truth by a normalised string match, then as plain numbers, then by math-verify equivalence.

Numbers (all methods) compare numerically after removing thousands separators, `$` and a trailing
period (`$1,450,000.` equals `1450000`; `18.00` equals `18`).

Score (`score`): 1.0 when correct; otherwise `format_weight` when the response has the method's answer
format (`format_ok`), else 0.0 (verl's GSM8K convention: `format_score` for a well-formed wrong
answer). `format_ok` means: strict - a `#### <number>` is present; flexible / custom_flexible - a
`#### <number>` is present (the GSM8K answer format, though these methods do not need it);
boxed - a non-empty `\\boxed{...}` is present.

Reasons (`Score.reason`, None when correct): `no_answer` (nothing to extract), `mismatch`,
`timeout` (the equivalence check ran out of time; scored as wrong), `too_long` (the response is longer
than `max_chars`; scored 0 without being read).

Time bound: `score` returns within timeout_s + 0.5 s + the string scan of the response. The scan is
linear: at most ~60 ms for the worst 100,000-character inputs found (tests/test_rewards_adversarial.py:
`####` repeated, digit runs, open braces; ~100 ms on a loaded machine), ~0.01-0.2 ms for typical
200-2,000-character responses; longer responses than `max_chars` (100,000) return "too_long" without
a scan (a 1 MB response: < 0.1 ms). Only the boxed method's math-verify step can take long;
rlscaling.rewards.equivalence bounds it in the main thread (SIGALRM interval timer) and elsewhere (a
worker subprocess killed at the deadline). Not in the bound: math-verify's one-time import and
warm-up (~0.5-1.3 s per process), starting a worker (~0.5-1.5 s, on first use and after a kill: off
the main thread, and in the main thread for answers that could build a huge integer, such as
`10^{10^{10}}`, which always go to a worker) and waiting for a free one.
Batch bound (`score_batch`, and the TRL adapter, which scores each generation batch with it): a batch
of responses returns within batch_timeout_s (default DEFAULT_BATCH_TIMEOUT_S = 4 s) + timeout_s + 0.5 s
+ the string scans, whatever the answers. A response's verdict does not depend on its neighbours in
the batch: the cheap checks (extraction, spelling, plain numbers, rationals) run for every response
first and spend no budget; then each distinct (ground truth, answer) pair left undecided is checked
once by math-verify (the rollouts of one prompt often repeat an answer), in an order set by the pairs
alone (`check_order`: answers that could build a huge integer last, then shorter first). Each check
gets min(timeout_s, what is left of the batch budget), and waits for a free worker no longer than
that; once the budget is spent, the pairs left score as "timeout" at once (remembered verdicts still
count).
A killed worker's replacement starts in the background. Measured (tests/test_rewards_adversarial.py):
16 copies of `\boxed{(10^{100})!}` take 1.0-2.9 s with this bound (21 s without); 16 distinct such
answers (10^{100}, 10^{101}, ...) 4.0 s (the budget; the bound is 5.5 s; 17 s without).
Not in the bound: a worker's first start in a process (see above).
Model text is only ever scanned by regular expressions / brace matching and parsed by math-verify's
LaTeX parser (not its sympy `parse_expr` path, which uses eval); it is never evaluated as code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rlscaling.errors import UserError
from rlscaling.rewards import equivalence
from rlscaling.rewards.extract import (
    extract_boxed,
    extract_custom_flexible,
    extract_flexible,
    extract_strict,
    has_marker_answer,
)

METHODS: tuple[str, ...] = ("strict", "flexible", "custom_flexible", "boxed")
DEFAULT_BATCH_TIMEOUT_S = 4.0  # equivalence-check time of one batch (score_batch, the TRL adapter)
MIN_CHECK_S = 0.05  # a check is not started with less budget than this left
MAX_RESPONSE_CHARS = 100_000  # longer responses score 0 with reason "too_long" (about 25k tokens)
REASONS = ("no_answer", "mismatch", "timeout", "too_long")


@dataclass(frozen=True)
class Score:
    """The verdict on one response.

    score: the reward in [0, 1] (1.0 correct; format_weight for a well-formed wrong answer; else 0.0).
    correct: the extracted answer equals the ground truth.
    extracted: the extracted answer as written in the response (None: nothing extracted).
    format_ok: the response has the method's answer format (see the module docstring).
    reason: None when correct, else one of REASONS.
    """

    score: float
    correct: bool
    extracted: str | None
    format_ok: bool
    reason: str | None


class BatchBudget:
    """The time budget of one batch's equivalence checks (see the module docstring): a deadline, and
    the (ground truth, answer) pairs that already timed out in this batch."""

    def __init__(self, seconds: float):
        if not isinstance(seconds, (int, float)) or not (seconds > 0 and math.isfinite(seconds)):
            raise UserError(f"reward batch_timeout_s must be a positive number of seconds, got {seconds!r}")
        self.deadline = time.monotonic() + float(seconds)
        self.timed_out: set[tuple[str, str]] = set()

    def left(self) -> float:
        return self.deadline - time.monotonic()


def _check_args(method: str, format_weight: float, timeout_s: float) -> None:
    if method not in METHODS:
        raise UserError(f"reward method {method!r} is not known; expected one of {', '.join(METHODS)}")
    if not isinstance(format_weight, (int, float)) or not 0.0 <= float(format_weight) <= 1.0:
        raise UserError(f"reward format_weight must be a number in [0, 1], got {format_weight!r}")
    if not isinstance(timeout_s, (int, float)) or not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise UserError(f"reward timeout_s must be a positive number of seconds, got {timeout_s!r}")


def _numeric_match(extracted: str, ground_truth: str) -> bool:
    eq = equivalence.numbers_equal(extracted, ground_truth)
    if eq is None:  # a non-numeric ground truth: compare spellings
        return equivalence.normalize_latex(extracted) == equivalence.normalize_latex(ground_truth)
    return eq


@dataclass(frozen=True)
class _Pending:
    """A boxed answer that no cheap check decided: math-verify must compare `pred` with `gt` (both with
    doubled backslashes undone); `extracted` and `format_ok` as in Score."""

    extracted: str
    format_ok: bool
    gt: str
    pred: str


def _cheap(
    response: Any, ground_truth: Any, method: str, format_weight: float, max_chars: int
) -> Score | _Pending:
    """The verdict of every check that costs no math-verify call (extraction, exact spelling, numbers,
    rationals); a _Pending when only math-verify can decide."""
    if ground_truth is None:
        raise UserError("reward ground_truth is missing (None); expected the reference answer as a string")
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    gt = ground_truth if isinstance(ground_truth, str) else str(ground_truth)
    gt = gt.strip()
    if len(response) > max_chars:
        return Score(0.0, False, None, False, "too_long")

    if method == "boxed":
        extracted = extract_boxed(response)
        format_ok = extracted is not None
    elif method == "strict":
        extracted = extract_strict(response)
        format_ok = extracted is not None
    else:
        extracted = extract_flexible(response) if method == "flexible" else extract_custom_flexible(response)
        format_ok = has_marker_answer(response)

    if extracted is None:
        return Score(format_weight if format_ok else 0.0, False, None, format_ok, "no_answer")
    if method == "boxed":
        correct = _boxed_cheap(extracted, gt)
        if correct is None:
            g, p = equivalence.undouble_backslashes(gt), equivalence.undouble_backslashes(extracted)
            return _Pending(extracted, format_ok, g, p)
    else:
        correct = _numeric_match(extracted, gt)
    return _verdict(correct, extracted, format_ok, format_weight)


def _verdict(correct: bool | None, extracted: str, format_ok: bool, format_weight: float) -> Score:
    """The Score of an extracted answer: correct, wrong ("mismatch") or undecided in time ("timeout")."""
    if correct:
        return Score(1.0, True, extracted, format_ok, None)
    reason = "timeout" if correct is None else "mismatch"
    return Score(float(format_weight) if format_ok else 0.0, False, extracted, format_ok, reason)


def score(
    response: str,
    ground_truth: str,
    method: str = "strict",
    *,
    format_weight: float = 0.0,
    timeout_s: float = 1.0,
    max_chars: int = MAX_RESPONSE_CHARS,
    budget: BatchBudget | None = None,
) -> Score:
    """Score one response against its ground truth (see the module docstring for the methods).

    response: model output text (untrusted; never evaluated). ground_truth: the reference answer, a
    number (`"18"`, `"1,450,000"`) or LaTeX (`"\\frac{14}{3}"`); non-strings are converted with str().
    timeout_s: seconds allowed for the equivalence check (boxed). max_chars: longer responses score 0.
    budget: a batch's time budget, when the check is to share one.
    Raises UserError for an unknown method, an out-of-range format_weight / timeout_s, or a missing
    (None) ground truth.
    """
    _check_args(method, format_weight, timeout_s)
    out = _cheap(response, ground_truth, method, format_weight, max_chars)
    if isinstance(out, Score):
        return out
    if budget is None:
        equal = equivalence.math_verify_equal(out.gt, out.pred, timeout_s)
    else:
        equal = _budgeted_check(out.gt, out.pred, timeout_s, budget)
    return _verdict(equal, out.extracted, out.format_ok, format_weight)


def _boxed_cheap(extracted: str, gt: str) -> bool | None:
    """The cheap checks of a boxed answer: exact spelling, plain numbers, rationals (None: undecided)."""
    if equivalence.normalize_latex(extracted) == equivalence.normalize_latex(gt):
        return True
    eq = equivalence.numbers_equal(extracted, gt)
    if eq is not None and (eq or ("." not in extracted and "." not in gt)):
        return eq  # equal numbers, or unequal integers
    a, b = equivalence.rational_value(extracted), equivalence.rational_value(gt)
    if a is not None and b is not None:
        return a == b  # integers and simple fractions, exactly
    return None


def _budgeted_check(g: str, p: str, timeout_s: float, budget: BatchBudget) -> bool | None:
    """math-verify on (g, p) within what is left of the batch budget (None: timed out or no time left)."""
    known = equivalence.known_verdict(g, p)
    if known is not None:
        return known
    left = budget.left()
    if (g, p) in budget.timed_out or left < MIN_CHECK_S:
        return None
    equal = equivalence.math_verify_equal(g, p, min(timeout_s, left), wait_s=left)
    if equal is None:
        budget.timed_out.add((g, p))
    return equal


def check_order(pair: tuple[str, str]) -> tuple[bool, int, str, str]:
    """The order in which a batch's math-verify checks run: answers that could build a huge integer
    (rlscaling.rewards.equivalence.huge_number_risk; they often use a whole timeout) last, then shorter
    answers first, ties by text. It depends on the pairs only, never on their places in the batch."""
    g, p = pair
    risky = equivalence.huge_number_risk(g) or equivalence.huge_number_risk(p)
    return (risky, len(g) + len(p), g, p)


def score_batch(
    responses: Sequence[Any],
    ground_truths: Sequence[Any],
    methods: str | Sequence[str],
    *,
    format_weight: float = 0.0,
    timeout_s: float = 1.0,
    batch_timeout_s: float = DEFAULT_BATCH_TIMEOUT_S,
    max_chars: int = MAX_RESPONSE_CHARS,
) -> list[Score]:
    """Score a batch of responses within one time budget: the call returns within batch_timeout_s +
    timeout_s + 0.5 s + the string scans (see the module docstring). `methods`: one method for all, or
    one per response.

    A response's verdict does not depend on its neighbours: first every response gets the cheap checks
    (extraction, spelling, numbers, rationals), which spend no budget; then each distinct (ground
    truth, answer) pair left undecided is checked once by math-verify, in `check_order` (which depends
    on the pairs, not on the batch order), and its verdict goes to every response that gave it. The
    budget starts when the math-verify checks do."""
    if isinstance(methods, str):
        methods = [methods] * len(responses)
    if not (len(responses) == len(ground_truths) == len(methods)):
        raise UserError(
            f"score_batch: {len(responses)} responses, {len(ground_truths)} ground truths and "
            f"{len(methods)} methods; expected one of each per response"
        )
    BatchBudget(batch_timeout_s)  # checks the number before any work
    for m in set(methods):
        _check_args(m, format_weight, timeout_s)
    first = [
        _cheap(r, g, m, format_weight, max_chars)
        for r, g, m in zip(responses, ground_truths, methods, strict=True)
    ]
    pairs = sorted({(x.gt, x.pred) for x in first if isinstance(x, _Pending)}, key=check_order)
    verdicts: dict[tuple[str, str], bool | None] = {}
    if pairs:
        budget = BatchBudget(batch_timeout_s)
        for pair in pairs:
            verdicts[pair] = _budgeted_check(*pair, timeout_s, budget)
    return [
        x
        if isinstance(x, Score)
        else _verdict(verdicts[(x.gt, x.pred)], x.extracted, x.format_ok, format_weight)
        for x in first
    ]


# the ground truth written in each method's own answer format: if even that does not score, no answer can
_OWN_FORMAT = {"strict": "#### {}", "flexible": "{}", "custom_flexible": "#### {}", "boxed": "\\boxed{{{}}}"}


def can_score(ground_truth: Any, method: str) -> bool:
    """True when some response can score 1 against `ground_truth` under `method`: the ground truth written
    in the method's own answer format (`#### 18`, `\\boxed{...}`) does. False e.g. for "N/A" with the
    number-reading methods (strict, flexible, custom_flexible), or an empty / missing ground truth.
    Cheap checks only (no math-verify call)."""
    _check_args(method, 0.0, 1.0)
    if ground_truth is None:
        return False
    gt = (ground_truth if isinstance(ground_truth, str) else str(ground_truth)).strip()
    if not gt:
        return False
    out = _cheap(_OWN_FORMAT[method].format(gt), gt, method, 0.0, MAX_RESPONSE_CHARS)
    return isinstance(out, _Pending) or out.correct


# ------------------------------------------------------------------------------------------------
# data source -> default method

# (substring of the lower-cased data_source, method); the first match wins.
SOURCE_METHODS: tuple[tuple[str, str], ...] = (
    ("rlscaling/", "strict"),  # our synthetic tasks, e.g. rlscaling/arith: "#### <integer>"
    ("synthetic", "strict"),
    ("gsm8k", "custom_flexible"),  # openai/gsm8k: reads "#### 18" and a final "\boxed{18}" alike
    ("math", "boxed"),  # math__math (MATH-500), guru math__*, lighteval/MATH, HuggingFaceH4/MATH-500
    ("aime", "boxed"),  # aime2024, aime2025, aimeamc2023
    ("amc", "boxed"),  # amc2023
    ("deepscaler", "boxed"),
    ("olympiad", "boxed"),
    ("minerva", "boxed"),
    ("dapo", "boxed"),
)


def scorer_for_source(data_source: str) -> str:
    """The default method for a verl `data_source` (case-insensitive substring rules, first match wins).

    `rlscaling/*` (e.g. `rlscaling/arith`) and `*synthetic*` -> strict; `*gsm8k*` (`openai/gsm8k`) ->
    custom_flexible (reads both a `#### 18` answer and a final `\\boxed{18}`, which the benchmark's
    prompt asks for; it is the method the Qwen3 GSM8K study reports); `*math*` (MATH-500 `math__math`,
    guru `math__deepscaler_preview`, ...), `*aime*`, `*amc*`, `*deepscaler*`, `*olympiad*`, `*minerva*`,
    `*dapo*` -> boxed. Raises UserError for any other source.
    """
    if not isinstance(data_source, str) or not data_source.strip():
        raise UserError(f"data_source must be a non-empty string, got {data_source!r}")
    low = data_source.lower()
    for key, method in SOURCE_METHODS:
        if key in low:
            return method
    known = ", ".join(f"*{k}*" for k, _ in SOURCE_METHODS)
    raise UserError(
        f"data_source {data_source!r} has no default reward method (known: {known}); "
        f"name one of {', '.join(METHODS)} explicitly"
    )


# ------------------------------------------------------------------------------------------------
# TRL adapter


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a chat list whose last assistant message is used.

    Message content may be a string or a list of parts ({"type": "text", "text": ...}).
    """
    if isinstance(completion, str):
        return completion
    if completion is None:
        return ""
    if isinstance(completion, dict):
        completion = [completion]
    messages = list(completion)
    chosen = None
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role", "assistant") == "assistant":
            chosen = m
            break
    if chosen is None:
        return ""
    content = chosen.get("content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _ground_truths(n: int, ground_truth: Sequence[Any] | None, kwargs: dict[str, Any]) -> list[str]:
    """The batch's reference answers (rlscaling.rows.reference_answer: the flat `ground_truth`
    column, else verl's `reward_model` {ground_truth}); UserError with the counts when a row has none."""
    from rlscaling.rows import BadRow, UnscorableRow, reference_answer, unscorable_message

    rm = kwargs.get("reward_model")
    if ground_truth is None and rm is None:
        raise UserError(
            "TRL reward: the dataset has no `ground_truth` column (nor verl's `reward_model` "
            "{ground_truth} column)"
        )
    flat = list(ground_truth) if ground_truth is not None else [None] * n
    rms = list(rm) if rm is not None else [None] * n
    if len(flat) != n or len(rms) != n:
        raise UserError(f"TRL reward: {n} completions but {max(len(flat), len(rms))} ground_truth values")
    out, bad = [], []
    for i, (g, r) in enumerate(zip(flat, rms, strict=True)):
        try:
            out.append(reference_answer(g, r))
        except UnscorableRow as err:
            bad.append(BadRow("batch", i, err.field, err.reason, err.detail))
    if bad:
        raise UserError(
            "TRL reward: "
            + unscorable_message(bad, n, "this batch", "completions")
            + " (a row without a reference answer would score 0; rlscaling train refuses such train files)"
        )
    return out


def trl_reward(
    method: str,
    format_weight: float = 0.0,
    timeout_s: float = 1.0,
    batch_timeout_s: float = DEFAULT_BATCH_TIMEOUT_S,
) -> Callable[..., list[float]]:
    """A reward function for TRL's GRPOTrainer (`reward_funcs=[trl_reward("strict")]`).

    The function is `f(prompts, completions, ground_truth, **kwargs) -> list[float]`, one score per
    completion (see `score`). `ground_truth` is a dataset column (verl-schema datasets with a
    `reward_model` {ground_truth} column work too); completions are strings or chat lists. `method`
    may also be "auto": per row, `scorer_for_source` of the `data_source` column. When TRL passes
    `log_metric`, the batch's format rate, no-answer rate and timeouts are logged as
    `{name}/format_ok`, `{name}/no_answer`, `{name}/timeouts`. Its __name__ is `reward_<method>`.
    Each call (one generation batch) is scored by `score_batch` within batch_timeout_s (+ one check).
    """
    if method != "auto":
        _check_args(method, format_weight, timeout_s)
    else:
        _check_args("strict", format_weight, timeout_s)
    BatchBudget(batch_timeout_s)  # checks the number
    name = f"reward_{method}"

    def reward(
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        ground_truth: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if completions is None:
            raise UserError("TRL reward: called without `completions`")
        gts = _ground_truths(len(completions), ground_truth, kwargs)
        if method == "auto":
            sources = kwargs.get("data_source")
            if sources is None:
                raise UserError("TRL reward 'auto': the dataset has no `data_source` column")
            methods = [scorer_for_source(s) for s in sources]
        else:
            methods = [method] * len(completions)
        results = score_batch(
            [completion_text(c) for c in completions],
            gts,
            methods,
            format_weight=format_weight,
            timeout_s=timeout_s,
            batch_timeout_s=batch_timeout_s,
        )
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and results:
            n = len(results)
            log_metric(f"{name}/format_ok", sum(r.format_ok for r in results) / n)
            log_metric(f"{name}/no_answer", sum(r.reason == "no_answer" for r in results) / n)
            log_metric(f"{name}/timeouts", float(sum(r.reason == "timeout" for r in results)))
        return [r.score for r in results]

    reward.__name__ = name
    reward.__qualname__ = name
    return reward
