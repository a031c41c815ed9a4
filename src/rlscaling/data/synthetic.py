"""Seeded synthetic arithmetic word problems with worked solutions (data source `synthetic`).

A problem is a short story of additions and subtractions on one count of things:

    question: "Tom has 23 apples. He buys 9 more. Then he gives away 7. How many apples does Tom have now?"
    solution: "23+9=32. 32-7=25. #### 25"

The solution is one equation per operation, then the answer after `####` (what the `strict` scorer
reads). Counts never go below zero. A problem's level fixes how many operations it has and how many
digits its numbers have (LEVELS); its `difficulty` in [0, 1) orders problems by level, then within a
level by the fraction of digit columns that carry or borrow.

Why most operands have one digit: the tiny models copy the first digit of a number from the question
easily, but copying its second digit (an induction-head skill) appears suddenly and at a random point
of their short pre-training, which made the base models' scores a lottery. One-digit operands keep the
copying easy, and the difficulty comes from the arithmetic: longer chains of steps, longer counts with
carries that run further (199+5=204). Only level 6 (and ood level 8) asks for two-digit operands.

`generate(cfg, seed)` returns three tables, all from one seeded generator:
- problems: rows in verl's RL schema from `levels` (n_train + n_pool_heldout; the levels are drawn in
  turn, so a level listed twice is twice as common);
  the data stage orders them into a curriculum and carves the held-out split from them.
- ood: the same from `ood_levels` (n_ood rows), harder problems for a transfer benchmark.
- corpus: n_pretrain pre-training documents, `text` = question + "\\n" + solution, from `levels`,
  with no question in common with problems or ood. A share `corpus_equations_only_rate` of them is the
  solution alone, without its story, as worksheets and drill pages are in web text.

Why equations-only documents: the tiny models' base skill is a lottery in one place, the result digits.
Two xs models of the same data that ended at base pass@1 0.43 and 0.13 had the same loss on question
tokens (0.72 nats), copied operands (0.001-0.02) and answers, and differed on result digits: 0.18 vs
0.97 nats per token. A story is about half a document's tokens and carries no arithmetic; solution-only
documents put two to three times as many result digits in each pre-training token, so the arithmetic
is learnt sooner and on more seeds (docs/results/tiny-calibration.md, "Equations-only documents").

The model sees at RL / evaluation time exactly what pre-training showed it: the tokenizer's chat
template (rlscaling.tokenizer) renders the user message as its content plus "\\n" after a BOS token,
and the model answers with the solution and EOS. Pre-training documents are BOS + text + EOS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rlscaling.data.schema import normalise_question
from rlscaling.errors import UserError

DATA_SOURCE = "rlscaling/arith"

# level -> (operations, digits of the starting count, digits of each operand). Every level's worked
# solution fits in 48 tokens of the tiny family's tokenizer (the default max_response_tokens).
LEVELS: dict[int, tuple[int, int, int]] = {
    1: (1, 1, 1),  # 7+5=12: one-digit facts
    2: (2, 1, 1),  # two steps; the count grows past 9
    3: (3, 2, 1),  # three steps from a two-digit count
    4: (4, 2, 1),  # four steps
    5: (3, 3, 1),  # three steps from a three-digit count (carries run further: 199+5=204)
    6: (2, 2, 2),  # two-digit operands, copied digit by digit from the question
    7: (5, 1, 1),  # ood: a longer chain than any trained
    8: (2, 3, 2),  # ood: two-digit operands on a three-digit count
}

DEFAULTS: dict[str, Any] = {
    "n_train": 4000,
    "n_pool_heldout": 0,
    "n_pretrain": 40000,
    "levels": [1, 2, 3, 4, 5, 6],
    "ood_levels": [7, 8],
    "n_ood": 100,
    "corpus_plain_answer_rate": 0.0,
    "corpus_slip_rate": 0.0,
    "corpus_equations_only_rate": 0.0,
}

NAMES = [
    ("Tom", "he"), ("Anna", "she"), ("Ben", "he"), ("Mia", "she"), ("Sam", "he"), ("Lily", "she"),
    ("Max", "he"), ("Emma", "she"), ("Leo", "he"), ("Zoe", "she"), ("Jack", "he"), ("Ella", "she"),
]
ITEMS = ["apples", "pens", "coins", "books", "cards", "stickers", "marbles", "shells", "stamps", "cookies"]
ADD = ["{p} buys {n} more.", "{p} finds {n} more.", "{p} gets {n} more.", "{p} wins {n} more."]
SUB = ["{p} gives away {n}.", "{p} sells {n}.", "{p} loses {n}.", "{p} uses {n}."]


@dataclass
class SyntheticData:
    """The generator's output: problems and ood in verl's RL schema, corpus with a `text` column."""

    problems: pd.DataFrame
    ood: pd.DataFrame
    corpus: pd.DataFrame


@dataclass
class Problem:
    question: str
    solution: str
    answer: int
    level: int
    difficulty: float


def _number(rng: random.Random, digits: int) -> int:
    """A random integer with exactly `digits` digits (1 digit: 1..9)."""
    return rng.randint(10 ** (digits - 1), 10**digits - 1)


def _carries(a: int, b: int, op: str) -> tuple[int, int]:
    """(digit columns that carry (+) or borrow (-), digit columns) of a op b, a >= b for '-'."""
    carry, count, columns = 0, 0, max(len(str(a)), len(str(b)))
    for _ in range(columns):
        da, db = a % 10, b % 10
        if op == "+":
            carry = int(da + db + carry >= 10)
        else:
            carry = int(da - db - carry < 0)
        count += carry
        a, b = a // 10, b // 10
    return count, columns


def make_problem(rng: random.Random, level: int) -> Problem:
    """One problem of `level` (see LEVELS)."""
    n_ops, d_start, d_operand = LEVELS[level]
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    value = _number(rng, d_start)
    sentences = [f"{name} has {value} {item}."]
    equations = []
    carries = columns = 0
    for i in range(n_ops):
        n = _number(rng, d_operand)
        op = "-" if (n <= value and rng.random() < 0.5) else "+"
        subject = pronoun.capitalize() if i == 0 else f"Then {pronoun}"
        sentences.append(rng.choice(ADD if op == "+" else SUB).format(p=subject, n=n))
        c, k = _carries(value, n, op)
        carries, columns = carries + c, columns + k
        new = value + n if op == "+" else value - n
        equations.append(f"{value}{op}{n}={new}.")
        value = new
    sentences.append(f"How many {item} does {name} have now?")
    difficulty = (level - 1 + 0.9 * carries / columns) / len(LEVELS)  # in [0, 1), by level first
    return Problem(
        question=" ".join(sentences),
        solution=" ".join(equations) + f" #### {value}",
        answer=value,
        level=level,
        difficulty=round(difficulty, 6),
    )


def corpus_solution(p: Problem, rng: random.Random, plain_rate: float, slip_rate: float) -> str:
    """The worked solution a pre-training document shows for `p`: like web text, not always the
    strict `#### N` form and not always right.

    - with probability `slip_rate`, one step's result is off by one (at a random step; the following
      steps carry the wrong count on, so the final answer is wrong too);
    - with probability `plain_rate`, the answer line reads "The answer is N." instead of "#### N".

    The base model learns both habits at about these rates; RL with the strict reward can unlearn them
    (the format and the slips are decisions at a few tokens, shared by every problem), which is the
    sharpening that RL post-training of real models shows. 0 and 0 give the problem's own solution.
    """
    slip = rng.random() < slip_rate
    plain = rng.random() < plain_rate
    if not slip and not plain:
        return p.solution
    equations = [e.rstrip(".") for e in p.solution.split(" #### ")[0].split(" ")]
    value = None
    if slip:
        at = rng.randrange(len(equations))
        out = []
        for i, eq in enumerate(equations):
            lhs, _ = eq.split("=")
            op = "+" if "+" in lhs else "-"
            a, b = (int(x) for x in lhs.split(op))
            if value is not None:
                a = value
            value = a + b if op == "+" else a - b
            if i == at:
                value = value + 1 if value == 0 or rng.random() < 0.5 else value - 1
            out.append(f"{a}{op}{b}={value}")
        equations = out
    answer = p.answer if value is None else value
    tail = f"The answer is {answer}." if plain else f"#### {answer}"
    return " ".join(f"{e}." for e in equations) + f" {tail}"


def document(question: str, solution: str) -> str:
    """A pre-training document: the question line, then the solution line (BOS / EOS are added by
    pre-training, as the chat template adds BOS at RL / evaluation time)."""
    return f"{question}\n{solution}"


def _settings(cfg: dict[str, Any] | None) -> dict[str, Any]:
    s = {**DEFAULTS, **(cfg or {})}
    for key in ("levels", "ood_levels"):
        bad = [lv for lv in s[key] if lv not in LEVELS]
        if bad:
            raise UserError(f"data.synthetic.{key}: levels {bad} are not defined (defined: 1..{len(LEVELS)})")
    if not s["levels"]:
        raise UserError("data.synthetic.levels: needs at least one level")
    for key in ("n_train", "n_pool_heldout", "n_pretrain", "n_ood"):
        if not isinstance(s[key], int) or s[key] < 0:
            raise UserError(f"data.synthetic.{key}: expected a non-negative integer, got {s[key]!r}")
    for key in ("corpus_plain_answer_rate", "corpus_slip_rate", "corpus_equations_only_rate"):
        if not isinstance(s[key], (int, float)) or not 0 <= s[key] <= 1:
            raise UserError(f"data.synthetic.{key}: expected a fraction in [0, 1], got {s[key]!r}")
    if s["n_ood"] > 0 and not s["ood_levels"]:
        raise UserError("data.synthetic.ood_levels: empty but n_ood > 0")
    return s


def capacity(level: int) -> int:
    """An upper bound on the number of distinct questions of `level` (names x items x numbers x
    phrasings)."""
    n_ops, d_start, d_operand = LEVELS[level]
    numbers = lambda d: 9 * 10 ** (d - 1)  # noqa: E731 - integers with d digits
    return len(NAMES) * len(ITEMS) * numbers(d_start) * ((len(ADD) + len(SUB)) * numbers(d_operand)) ** n_ops


def _check_capacity(s: dict[str, Any]) -> None:
    """UserError when a level is asked for more than a quarter of its distinct questions (drawing
    distinct questions would slow down, and a model would see mostly repeats)."""
    demand: dict[int, float] = {}
    for key, levels, n in (
        ("n_train", s["levels"], s["n_train"] + s["n_pool_heldout"] + s["n_pretrain"]),
        ("n_ood", s["ood_levels"], s["n_ood"]),
    ):
        for lv in levels:  # a level listed k times takes k shares
            demand[lv] = demand.get(lv, 0) + n / len(levels)
            if demand[lv] > capacity(lv) / 4:
                raise UserError(
                    f"data.synthetic.{key}: level {lv} has about {capacity(lv)} distinct questions; "
                    f"{int(demand[lv])} asked of it (n_train + n_pool_heldout + n_pretrain, n_ood) is "
                    "more than a quarter of them; add levels or ask for fewer problems"
                )


def _draw(rng: random.Random, levels: list[int], n: int, seen: set[str]) -> list[Problem]:
    """n problems with questions not in `seen` (updated), drawn from the levels in turn."""
    out: list[Problem] = []
    while len(out) < n:
        p = make_problem(rng, levels[len(out) % len(levels)])
        k = normalise_question(p.question)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def _verl_rows(problems: list[Problem]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "data_source": [DATA_SOURCE] * len(problems),
            "prompt": [[{"role": "user", "content": p.question}] for p in problems],
            "ability": ["math"] * len(problems),
            "reward_model": [{"style": "rule", "ground_truth": str(p.answer)} for p in problems],
            "extra_info": [
                {"index": i, "level": p.level, "difficulty": p.difficulty, "solution": p.solution}
                for i, p in enumerate(problems)
            ],
        }
    )


def generate(cfg: dict[str, Any] | None, seed: int) -> SyntheticData:
    """Problems, ood problems and the pre-training corpus for the config's `data.synthetic` section.

    Deterministic in (cfg, seed). Questions are distinct across all three tables (by the data stage's
    normalised question text), so no pre-training document is an RL or held-out problem.
    """
    s = _settings(cfg)
    _check_capacity(s)
    rng = random.Random(f"rlscaling-synthetic-{seed}")
    seen: set[str] = set()
    problems = _draw(rng, list(s["levels"]), s["n_train"] + s["n_pool_heldout"], seen)
    ood = _draw(rng, list(s["ood_levels"]), s["n_ood"], seen)
    corpus = _draw(rng, list(s["levels"]), s["n_pretrain"], seen)
    rng.shuffle(corpus)
    # a stream of its own: the noise rates change the corpus' solutions, never which problems are drawn
    noise = random.Random(f"rlscaling-synthetic-corpus-noise-{seed}")
    plain, slip = float(s["corpus_plain_answer_rate"]), float(s["corpus_slip_rate"])
    solutions = [corpus_solution(p, noise, plain, slip) for p in corpus]
    # and one more: which documents drop their story changes neither the problems nor the solutions
    worksheet = random.Random(f"rlscaling-synthetic-corpus-equations-only-{seed}")
    rate = float(s["corpus_equations_only_rate"])
    texts = [
        sol if worksheet.random() < rate else document(p.question, sol)
        for p, sol in zip(corpus, solutions, strict=True)
    ]
    return SyntheticData(
        problems=_verl_rows(problems),
        ood=_verl_rows(ood),
        corpus=pd.DataFrame({"text": texts, "level": [p.level for p in corpus]}),
    )
