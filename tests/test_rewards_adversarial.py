"""Safety of rlscaling.rewards on adversarial model output: bounded time, valid verdicts, no code execution.

The stated bound: `score` returns within timeout_s + 0.5 s + O(len(response)) scanning (about 0.1 s
for a 100,000-character response, the longest that is read; longer ones return "too_long" at once).
Timing assertions add SLACK for a loaded 2-core machine.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlscaling.rewards import METHODS, REASONS, score
from rlscaling.rewards import equivalence
from rlscaling.rewards.extract import (
    extract_boxed,
    extract_custom_flexible,
    extract_flexible,
    extract_strict,
)

SLACK = 1.0  # seconds of scheduling noise allowed on top of the stated bound
SCAN_BOUND = 0.5  # seconds: generous bound for scanning a 100,000-character response


@pytest.fixture(autouse=True, scope="module")
def _math_verify_loaded():
    """Import and warm up math-verify first, and start a first worker (about 1 s each, once per
    process, not part of the bound)."""
    equivalence._mv()
    equivalence._POOL.check("1", "1", 5.0)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def assert_valid(s, format_weight: float = 0.0) -> None:
    assert 0.0 <= s.score <= 1.0
    assert s.score in (0.0, format_weight, 1.0)
    assert s.correct == (s.reason is None)
    assert s.correct == (s.score == 1.0) or format_weight == 1.0
    assert s.reason is None or s.reason in REASONS


# ---------------------------------------------------------------------------------------------
# huge inputs


@pytest.mark.parametrize("method", METHODS)
def test_a_1mb_response_scores_0_at_once(method):
    response = ("The answer is 18. #### 18 \\boxed{18} " * 30_000)[:1_000_000]
    s, dt = timed(score, response, "18", method)
    assert (s.score, s.reason) == (0.0, "too_long")
    assert dt < 0.01 + SLACK / 10


PATHOLOGICAL_TEXT = {
    "comma_run": "1" + ",111" * 24_999,
    "digits": "9" * 99_999,
    "markers": "####" * 24_999,
    "markers_spaced": "#### " * 19_999,
    "dollars": "$" * 99_999,
    "minus": "-" * 99_999,
    "open_boxes": "\\boxed{" * 14_000,
    "open_braces": "\\boxed{" + "{" * 99_000,
    "close_braces": "}" * 99_999,
    "sign_dollar_mix": "-$-" * 33_000,
    "dots": "1." * 49_999,
    "numbers": "1 " * 49_999,
    "backslashes": "\\" * 99_999,
    "unicode": "٣−€𝟘\u200b" * 19_000,
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(PATHOLOGICAL_TEXT))
def test_pathological_long_text_is_scanned_in_bounded_time(name, method):
    s, dt = timed(score, PATHOLOGICAL_TEXT[name], "1", method)
    assert_valid(s)
    assert dt < SCAN_BOUND + SLACK


# ---------------------------------------------------------------------------------------------
# pathological LaTeX inside the box (the math-verify step)

PATHOLOGICAL_LATEX = [
    "10^{10^{10}}",
    "2^{2^{40}}",
    "9^{9^{9}}",
    "999999999!",
    "(10^{10^{10}})!",
    "\\binom{100000000}{50000000}",
    "\\prod_{k=1}^{10^7} k",
    "10^{10^{10}} - 10^{10^{10}}",
    "{" * 400 + "1" + "}" * 400,
    "\\sqrt{" * 150 + "2" + "}" * 150,
    "\\frac{" * 100 + "1" + "}{2}" * 100,
    "x^" * 300 + "2",
    "\\left(" * 200 + "1" + "\\right)" * 200,
    "1+" * 450 + "1",
]


@pytest.mark.parametrize("latex", PATHOLOGICAL_LATEX, ids=range(len(PATHOLOGICAL_LATEX)))
def test_pathological_latex_is_cut_off_at_the_timeout(latex):
    timeout_s = 0.3
    s, dt = timed(score, f"so \\boxed{{{latex}}}", "3", "boxed", timeout_s=timeout_s)
    assert_valid(s)
    assert s.score == 0.0 and s.reason in ("timeout", "mismatch", "no_answer")
    assert dt < timeout_s + equivalence.WORKER_GRACE_S + SLACK


def test_the_main_thread_timer_and_handler_are_restored():
    calls = []
    previous = signal.signal(signal.SIGALRM, lambda *a: calls.append(a))
    try:
        score("\\boxed{10^{10^{10}}}", "3", "boxed", timeout_s=0.2)
        score("\\boxed{\\frac{1}{3}}", "0.5", "boxed")
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is not None and not calls
        assert signal.getsignal(signal.SIGALRM).__name__ == "<lambda>"
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_a_callers_armed_timer_is_left_alone():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert score("\\boxed{\\frac{2}{4}}", "0.5", "boxed").correct  # checked in a worker instead
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20.0 < remaining <= 30.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


# ---------------------------------------------------------------------------------------------
# other threads: a worker subprocess bounds the check


def in_thread(fn, *args, **kwargs):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", timed(fn, *args, **kwargs)))
    t.start()
    t.join(60)
    return box["out"]


def test_scoring_from_a_thread_gives_the_main_thread_verdicts():
    cases = [
        ("\\frac{1}{2}", "0.5"),
        ("3\\sqrt{2}", "\\sqrt{18}"),
        ("\\frac{1}{2}", "\\frac13"),
        ("p - q", "-q+p"),
    ]
    for gt, pred in cases:
        main = score(f"\\boxed{{{pred}}}", gt, "boxed")
        equivalence.clear_caches()
        (other, _) = in_thread(score, f"\\boxed{{{pred}}}", gt, "boxed")
        assert other == main


def test_a_pathological_check_in_a_thread_is_killed_at_the_deadline_and_the_next_check_works():
    equivalence._POOL.check("x^2", "x^3", 5.0)  # a running worker (starting one is not part of the bound)
    timeout_s = 0.3
    s, dt = in_thread(score, "\\boxed{10^{10^{10}}}", "3", "boxed", timeout_s=timeout_s)
    assert (s.score, s.reason) == (0.0, "timeout")
    assert dt < timeout_s + equivalence.WORKER_GRACE_S + SLACK
    s2, _ = in_thread(score, "\\boxed{\\sqrt{18}}", "3\\sqrt{2}", "boxed")
    assert s2.correct


def test_forced_process_isolation_uses_the_worker(monkeypatch):
    def no_in_process(*a, **k):
        raise AssertionError("in-process check used")

    monkeypatch.setattr(equivalence, "_in_process", no_in_process)
    monkeypatch.setenv(equivalence.ISOLATION_ENV, "process")
    assert score("\\boxed{0.5}", "\\frac{2}{4}", "boxed").correct is True  # numeric path: no math-verify
    equivalence.clear_caches()
    assert score("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", "boxed").correct is True
    assert score("\\boxed{\\frac{3}{4}}", "\\frac{1}{2}", "boxed").correct is False


def test_a_dead_worker_is_replaced():
    in_thread(score, "\\boxed{\\frac{1}{3}}", "0.5", "boxed")
    for w in list(equivalence._POOL.all):
        w.kill()
    equivalence.clear_caches()
    (s, _) = in_thread(score, "\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", "boxed")
    assert s.correct


# ---------------------------------------------------------------------------------------------
# model text is never executed


@pytest.mark.parametrize(
    "payload",
    [
        "__import__('os').system('touch {marker}')",
        "exec(\"open('{marker}','w')\")",
        "eval(\"open('{marker}','w')\")",
        "open('{marker}','w')",
        "\\text{{__import__('os').system('touch {marker}')}}",
    ],
)
@pytest.mark.parametrize("where", ["response", "ground_truth"])
def test_code_in_an_answer_is_never_run(tmp_path, payload, where):
    marker = tmp_path / "pwned"
    code = payload.format(marker=marker)
    response, gt = (f"\\boxed{{{code}}}", "3") if where == "response" else ("\\boxed{3}", code)
    for method in METHODS:
        assert_valid(score(response, gt, method, timeout_s=0.5))
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# property-based: adversarial strings

FRAGMENTS = [
    "\\boxed{",
    "\\boxed ",
    "\\fbox{",
    "{",
    "}",
    "\\{",
    "\\}",
    "####",
    "#",
    " ",
    "\n",
    "-",
    "−",
    "$",
    "\\$",
    ",",
    ".",
    "0",
    "7",
    "42",
    "1,000",
    "999999",
    "\\frac",
    "\\dfrac",
    "^",
    "_",
    "\\sqrt",
    "\\left(",
    "\\right)",
    "\\text{",
    "\\pi",
    "\\infty",
    "=",
    "x",
    "!",
    "\\\\",
    "%",
    "٣",
    "𝟘",
    "\u200b",
    "é",
    "\x00",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "&",
    "\\cdot",
    "10^{10^{",
    "\\binom{",
]
adversarial_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=60).map("".join)
ground_truths = st.sampled_from(
    ["18", "-7", "1,450,000", "0.5", "\\frac{1}{2}", "\\sqrt{2}", "(1,2)", "x"]
) | (st.integers(-(10**12), 10**12).map(str))
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@PROPERTY_SETTINGS
@given(response=adversarial_text, gt=ground_truths, method=st.sampled_from(METHODS))
def test_any_text_gets_a_valid_verdict_in_bounded_time(response, gt, method):
    timeout_s = 0.2
    s, dt = timed(score, response, gt, method, format_weight=0.25, timeout_s=timeout_s)
    assert_valid(s, format_weight=0.25)
    assert dt < timeout_s + equivalence.WORKER_GRACE_S + SLACK


@PROPERTY_SETTINGS
@given(text=st.text(max_size=300))
def test_extractors_never_raise_on_arbitrary_unicode(text):
    for extract in (extract_strict, extract_flexible, extract_custom_flexible, extract_boxed):
        out = extract(text)
        assert out is None or isinstance(out, str)


no_marker_text = st.text(alphabet=st.characters(blacklist_characters="#"), max_size=200)


@PROPERTY_SETTINGS
@given(prefix=no_marker_text, n=st.integers(-(10**15), 10**15), commas=st.booleans())
def test_strict_reads_any_integer_after_the_marker(prefix, n, commas):
    written = f"{n:,}" if commas else str(n)
    s = score(f"{prefix}\n#### {written}", str(n), "strict")
    assert s.correct, (prefix, written, s)


@PROPERTY_SETTINGS
@given(prefix=no_marker_text, n=st.integers(-(10**15), 10**15), suffix=st.text(max_size=100))
def test_custom_flexible_reads_the_first_marker_number_whatever_follows(prefix, n, suffix):
    s = score(f"{prefix}\n#### {n}\n{suffix}", str(n), "custom_flexible")
    assert s.correct, (prefix, n, suffix, s)


@PROPERTY_SETTINGS
@given(prefix=st.text(max_size=200), n=st.integers(0, 10**15))
def test_flexible_reads_a_final_integer(prefix, n):
    s = score(f"{prefix} so the answer is {n}.", str(n), "flexible")
    assert s.correct, (prefix, n, s)


balanced = st.recursive(
    st.text(alphabet="0123456789abcxyz+-*/^_=(),. \\", max_size=6),
    lambda inner: st.lists(inner | inner.map(lambda s: "{" + s + "}"), max_size=4).map("".join),
    max_leaves=20,
)


@PROPERTY_SETTINGS
@given(prefix=st.text(alphabet=st.characters(blacklist_characters="\\{}"), max_size=100), content=balanced)
def test_boxed_extracts_any_balanced_content(prefix, content):
    content = content.replace("\\", "")  # no escapes: every brace counts
    if not content.strip():
        return
    assert extract_boxed(f"{prefix}\\boxed{{{content}}} done.") == content.strip()


number_text = st.lists(
    st.sampled_from(
        ["1", "23", ",", ".", "-", "−", "$", "\\", " ", "\n", "a", "Z", "1,000", " - ", "$-", "é"]
    ),
    max_size=1500,
).map("".join)


@PROPERTY_SETTINGS
@given(text=number_text)
def test_flexible_tail_scan_equals_a_full_scan(text):
    from rlscaling.rewards.extract import _last_number_match, _token_numbers

    m = _last_number_match(text)
    assert extract_flexible(text) == (None if m is None else _token_numbers(m)[-1])


def spell(num: int, den: int, style: int) -> str:
    sign = "-" if num * den < 0 else ""
    a, b = abs(num), abs(den)
    if b == 1 and style % 2 == 0:
        return f"{sign}{a}"
    return [f"{sign}\\frac{{{a}}}{{{b}}}", f"{sign}{a}/{b}", f"{sign}\\dfrac{{{a}}}{{{b}}}"][style % 3]


@settings(max_examples=60, deadline=None, database=None)
@given(
    a=st.tuples(st.integers(-50, 50), st.integers(1, 12), st.integers(0, 5)),
    b=st.tuples(st.integers(-50, 50), st.integers(1, 12), st.integers(0, 5)),
)
def test_the_exact_fraction_path_agrees_with_math_verify(a, b):
    gt, pred = spell(*a), spell(*b)
    fast = score(f"\\boxed{{{pred}}}", gt, "boxed").correct
    assert fast == equivalence.math_verify_equal_unbounded(gt, pred), (gt, pred)


@pytest.mark.parametrize("answer", ["10^{10^{10}}", "9^9^9", "999999999!", "2^{100000}", "\\binom{10^8}{3}"])
def test_answers_that_could_build_huge_integers_are_checked_in_a_killable_worker(answer, monkeypatch):
    def in_process(*args, **kwargs):  # a signal cannot stop sympy inside one C-level bigint operation
        raise AssertionError("checked in-process")

    monkeypatch.setattr(equivalence, "_in_process", in_process)
    equivalence.clear_caches()
    assert equivalence.huge_number_risk(answer)
    assert equivalence.math_verify_equal("3", answer, timeout_s=0.3) in (False, None)


def test_ordinary_powers_and_factorials_stay_in_process():
    for answer in ("x^2", "2^{10}", "3^2+4^2", "5!", "e^{i\\pi}", "\\frac{1}{2}"):
        assert not equivalence.huge_number_risk(answer), answer


# ---------------------------------------------------------------------------------------------
# the batch bound: score_batch (and the TRL adapter) return within batch_timeout_s + timeout_s + 0.5 s


BATCH_BOUND = 4.0 + 1.0 + 0.5  # DEFAULT_BATCH_TIMEOUT_S + timeout_s + worker grace (the stated bound)


@pytest.fixture(scope="module")
def warm_worker():
    """A first worker started (its start is outside the bound), killed by a pathological check, and its
    background replacement ready."""
    score("\\boxed{(10^{99})!}", "1", "boxed")
    time.sleep(3.0)


@pytest.mark.parametrize(
    "answers",
    [
        ["\\boxed{(10^{100})!}"] * 16,  # 16 copies: 21 s without the batch bound
        [f"\\boxed{{(10^{{{100 + i}}})!}}" for i in range(16)],  # 16 different ones: 17 s without it
    ],
    ids=["16 identical", "16 distinct"],
)
def test_a_batch_of_pathological_answers_returns_within_the_batch_bound(warm_worker, answers):
    from rlscaling.rewards import DEFAULT_BATCH_TIMEOUT_S, trl_reward

    assert DEFAULT_BATCH_TIMEOUT_S + 1.0 + equivalence.WORKER_GRACE_S == BATCH_BOUND
    equivalence.clear_caches()
    out, dt = timed(trl_reward("boxed"), completions=answers, ground_truth=["42"] * len(answers))
    assert out == [0.0] * len(answers)
    assert dt < BATCH_BOUND + SLACK, dt


def test_a_spent_batch_budget_still_scores_cheap_and_remembered_answers(warm_worker):
    from rlscaling.rewards import score_batch

    score("\\boxed{\\sqrt{18}}", "3\\sqrt{2}", "boxed")  # a verdict math-verify gave before
    responses = ["\\boxed{(10^{100})!}", "#### 7", "\\boxed{14/4}", "\\boxed{\\sqrt{18}}"]
    gts = ["42", "7", "\\frac{7}{2}", "3\\sqrt{2}"]
    methods = ["boxed", "strict", "boxed", "boxed"]
    out = score_batch(responses, gts, methods, batch_timeout_s=0.01)
    assert [s.reason for s in out] == ["timeout", None, None, None]
