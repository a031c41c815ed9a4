"""A correct answer's reward does not depend on its neighbours in a batch (rlscaling.rewards.score_batch).

The cheap checks (extraction, spelling, numbers, rationals) run for every response before math-verify
spends any of the batch's time budget, and the math-verify checks run in an order set by the answers
alone. The property tests run on a simulated clock with a stand-in for math-verify (hostile answers use
their whole timeout, others 10 ms), so they are fast and assert no wall-clock time.
"""

from __future__ import annotations

import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlscaling.rewards import core, equivalence, score_batch

HALF = "\\frac{1}{2}"
# (response, ground truth, method, correct); the first group is decided by cheap checks
CHEAP = [
    ("\\boxed{\\frac{1}{2}}", HALF, "boxed", True),
    ("\\boxed{2/4}", HALF, "boxed", True),
    ("\\boxed{0.5}", "0.5", "boxed", True),
    ("\\boxed{3}", "4", "boxed", False),
    ("#### 18", "18", "strict", True),
    ("#### 17", "18", "strict", False),
    ("no answer here", "7", "boxed", False),
]
NEEDS_MATH_VERIFY = [
    ("\\boxed{\\sin(\\pi/6)}", HALF, "boxed", True),
    ("\\boxed{\\sqrt{18}}", "3\\sqrt{2}", "boxed", True),
    ("\\boxed{x+1}", "1+x", "boxed", True),
    ("\\boxed{\\sqrt{2}}", "\\sqrt{3}", "boxed", False),
]
HOSTILE = [(f"\\boxed{{9^{{9^{{9^{{{k}}}}}}}}}", HALF, "boxed", False) for k in range(9, 15)]
ITEMS = CHEAP + NEEDS_MATH_VERIFY + HOSTILE
TRUTH = {(equivalence.undouble_backslashes(g), r[7:-1]): ok for r, g, _, ok in NEEDS_MATH_VERIFY}
BATCH_S, CHECK_S = 4.0, 1.0


class SimulatedChecks:
    """A clock for the batch budget and a math-verify stand-in that advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[str] = []

    def monotonic(self) -> float:
        return self.now

    def math_verify_equal(self, gt, pred, timeout_s=1.0, *, isolate=None, wait_s=None):
        self.calls.append(pred)
        if equivalence.huge_number_risk(pred):
            self.now += timeout_s  # a hostile answer uses its whole timeout
            return None
        self.now += 0.01
        return TRUTH[(gt, pred)]


@pytest.fixture
def sim(monkeypatch):
    s = SimulatedChecks()
    monkeypatch.setattr(core, "time", types.SimpleNamespace(monotonic=s.monotonic))
    monkeypatch.setattr(equivalence, "math_verify_equal", s.math_verify_equal)
    monkeypatch.setattr(equivalence, "known_verdict", lambda gt, pred: None)
    return s


def run(items, sim):
    start = sim.now
    out = score_batch(
        [r for r, _, _, _ in items],
        [g for _, g, _, _ in items],
        [m for _, _, m, _ in items],
        timeout_s=CHECK_S,
        batch_timeout_s=BATCH_S,
    )
    return out, sim.now - start


def test_hostile_answers_first_do_not_take_the_reward_of_correct_answers_after_them(sim):
    hostile = [HOSTILE[k] for k in range(6) for _ in range(2)]  # 6 distinct: more than the budget
    correct = [NEEDS_MATH_VERIFY[0]] * 8  # \sin(\pi/6) for \frac{1}{2}
    out, _ = run(hostile + correct, sim)
    assert [s.score for s in out[12:]] == [1.0] * 8
    assert {s.reason for s in out[:12]} == {"timeout"}


def test_cheap_checks_run_for_every_answer_before_math_verify_spends_the_budget(sim):
    out, _ = run(HOSTILE + CHEAP, sim)
    assert [s.correct for s in out[len(HOSTILE) :]] == [ok for *_, ok in CHEAP]
    assert len(sim.calls) == 4  # hostile answers only, until the 4 s budget is spent (1 s each)


# monkeypatch is used through a context per example, so it is safe across examples
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.sampled_from(range(len(ITEMS))), min_size=1, max_size=24),
    data=st.data(),
)
def test_the_same_answers_in_any_order_get_the_same_verdicts_within_the_batch_bound(picks, data, monkeypatch):
    s = SimulatedChecks()
    with monkeypatch.context() as m:
        m.setattr(core, "time", types.SimpleNamespace(monotonic=s.monotonic))
        m.setattr(equivalence, "math_verify_equal", s.math_verify_equal)
        m.setattr(equivalence, "known_verdict", lambda gt, pred: None)
        order = data.draw(st.permutations(range(len(picks))))
        items = [ITEMS[i] for i in picks]
        first, spent_first = run(items, s)
        shuffled, spent_shuffled = run([items[j] for j in order], s)
    by_item = {j: shuffled[pos] for pos, j in enumerate(order)}
    for i, (item, verdict) in enumerate(zip(items, first, strict=True)):
        assert by_item[i] == verdict, item  # every answer: the same verdict in either order
        if item in CHEAP:
            assert verdict.correct == item[3]
    # the per-batch bound (simulated seconds): the budget plus at most one check's timeout
    assert max(spent_first, spent_shuffled) <= BATCH_S + CHECK_S


def test_a_real_batch_scores_the_correct_answers_after_hostile_ones():
    """The issue's batch with the real math-verify: 8 hostile power towers, then 8 correct answers."""
    equivalence.clear_caches()
    out = score_batch(["\\boxed{9^{9^{9^{9}}}}"] * 8 + ["\\boxed{\\sin(\\pi/6)}"] * 8, [HALF] * 16, "boxed")
    assert [s.score for s in out] == [0.0] * 8 + [1.0] * 8
