"""Specification of rlscaling.data.synthetic: seeded arithmetic word problems with worked solutions.

A small config (`CFG`) keeps every test well under a second.
"""

from __future__ import annotations

import re

import pytest

from rlscaling.data import synthetic as syn
from rlscaling.data.schema import normalise_question
from rlscaling.errors import UserError
from rlscaling.rewards import score

CFG = {"n_train": 120, "n_pool_heldout": 30, "n_pretrain": 300, "levels": [1, 2, 3, 4, 5, 6],
       "ood_levels": [7, 8], "n_ood": 20}


@pytest.fixture(scope="module")
def data() -> syn.SyntheticData:
    return syn.generate(CFG, seed=0)


def _check_solution(solution: str) -> int:
    """Recompute every equation of a worked solution; return the answer after ####."""
    body, answer = solution.split(" #### ")
    equations = re.findall(r"(\d+)([+-])(\d+)=(\d+)\.", body)
    assert " ".join(f"{a}{op}{b}={c}." for a, op, b, c in equations) == body
    value = None
    for a, op, b, c in equations:
        assert value is None or int(a) == value  # each step starts from the previous result
        assert int(c) == (int(a) + int(b) if op == "+" else int(a) - int(b))
        assert int(c) >= 0
        value = int(c)
    assert int(answer) == value
    return value


def test_sizes_follow_the_config(data):
    assert len(data.problems) == CFG["n_train"] + CFG["n_pool_heldout"]
    assert len(data.ood) == CFG["n_ood"]
    assert len(data.corpus) == CFG["n_pretrain"]


def test_problems_are_rows_of_verls_rl_schema(data):
    row = data.problems.iloc[0]
    assert row["data_source"] == "rlscaling/arith"
    assert row["ability"] == "math"
    assert list(row["prompt"]) == [{"role": "user", "content": row["prompt"][0]["content"]}]
    assert row["reward_model"]["style"] == "rule"
    assert set(row["extra_info"]) == {"index", "level", "difficulty", "solution"}
    assert list(data.problems["extra_info"].map(lambda e: e["index"])) == list(range(len(data.problems)))


def test_worked_solutions_are_correct_and_end_with_the_ground_truth(data):
    for frame in (data.problems, data.ood):
        for rm, info in zip(frame["reward_model"], frame["extra_info"], strict=False):
            assert str(_check_solution(info["solution"])) == rm["ground_truth"]


def test_the_strict_scorer_accepts_the_worked_solution(data):
    row = data.problems.iloc[5]
    assert score(row["extra_info"]["solution"], row["reward_model"]["ground_truth"], "strict").correct


def test_levels_are_equally_common_and_ood_uses_the_ood_levels(data):
    counts = data.problems["extra_info"].map(lambda e: e["level"]).value_counts()
    assert sorted(counts.index) == CFG["levels"]
    assert counts.max() - counts.min() <= 1
    assert set(data.ood["extra_info"].map(lambda e: e["level"])) == set(CFG["ood_levels"])
    assert set(data.corpus["level"]) == set(CFG["levels"])


def test_a_level_listed_twice_is_twice_as_common():
    d = syn.generate({**CFG, "levels": [1, 1, 2]}, seed=0)
    problems = d.problems["extra_info"].map(lambda e: e["level"]).value_counts()
    assert problems[1] == 2 * problems[2]
    assert d.corpus["level"].value_counts()[1] == 2 * d.corpus["level"].value_counts()[2]


def test_level_sets_the_number_of_operations_and_digits():
    import random

    rng = random.Random(0)
    for level, (ops, d_start, _) in syn.LEVELS.items():
        p = syn.make_problem(rng, level)
        assert p.solution.count("=") == ops
        assert len(re.search(r"has (\d+)", p.question).group(1)) == d_start


def test_difficulty_is_in_unit_interval_and_grows_with_level(data):
    def difficulty(frame):
        return [(e["level"], e["difficulty"]) for e in frame["extra_info"]]

    pairs = difficulty(data.problems) + difficulty(data.ood)
    assert all(0 <= d < 1 for _, d in pairs)
    for (la, da) in pairs:
        for (lb, db) in pairs[:50]:
            if la < lb:
                assert da < db


def test_corpus_documents_are_question_newline_solution(data):
    for text in data.corpus["text"][:50]:
        question, solution = text.split("\n")
        assert question.endswith("?")
        _check_solution(solution)


def test_no_question_is_in_two_tables_or_twice_in_the_problems(data):
    keys = [normalise_question(p[0]["content"]) for p in data.problems["prompt"]]
    ood = {normalise_question(p[0]["content"]) for p in data.ood["prompt"]}
    corpus = {normalise_question(t.split("\n")[0]) for t in data.corpus["text"]}
    assert len(set(keys)) == len(keys)
    assert not set(keys) & corpus
    assert not ood & corpus
    assert not set(keys) & ood


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = syn.generate(CFG, 1), syn.generate(CFG, 1), syn.generate(CFG, 2)
    assert a.corpus.equals(b.corpus)
    assert a.problems["prompt"].tolist() == b.problems["prompt"].tolist()
    assert a.problems["prompt"].tolist() != c.problems["prompt"].tolist()


def test_missing_keys_take_the_schema_defaults():
    d = syn.generate({"n_train": 12, "n_pretrain": 10, "n_ood": 4}, 0)
    assert len(d.problems) == 12
    assert sorted(d.problems["extra_info"].map(lambda e: e["level"]).unique()) == [1, 2, 3, 4, 5, 6]


def test_undefined_level_is_a_user_error_naming_the_key():
    with pytest.raises(UserError, match="data.synthetic.levels"):
        syn.generate({**CFG, "levels": [1, 99]}, 0)


def test_more_problems_than_a_level_can_hold_is_a_user_error():
    with pytest.raises(UserError, match="data.synthetic.n_train"):
        syn.generate({**CFG, "levels": [1], "n_train": 10**5}, 0)


# the noisy pre-training corpus (data.synthetic.corpus_plain_answer_rate, corpus_slip_rate)

NOISY = {**CFG, "n_pretrain": 2000, "corpus_plain_answer_rate": 0.4, "corpus_slip_rate": 0.25}


def _equations_chain(solution_body: str) -> list[tuple[int, str, int, int]]:
    found = re.findall(r"(\d+)([+-])(\d+)=(-?\d+)\.", solution_body)
    equations = [(int(a), op, int(b), int(c)) for a, op, b, c in found]
    for (_, _, _, c), (a, _, _, _) in zip(equations, equations[1:], strict=False):
        assert a == c  # a wrong step's result is carried on
    return equations


def test_corpus_answer_styles_follow_the_plain_answer_rate():
    texts = syn.generate(NOISY, 0).corpus["text"]
    plain = sum("The answer is" in t for t in texts) / len(texts)
    assert abs(plain - 0.4) < 0.05
    assert all(("#### " in t) != ("The answer is" in t) for t in texts)


def test_slipped_solutions_have_one_step_off_by_one_and_a_consistent_wrong_answer():
    texts = syn.generate(NOISY, 0).corpus["text"]
    slipped = 0
    for text in texts:
        solution = text.split("\n")[1]
        body, answer = re.split(r" #### | The answer is ", solution)
        equations = _equations_chain(body)
        errors = [c - (a + b if op == "+" else a - b) for a, op, b, c in equations]
        assert sum(e != 0 for e in errors) <= 1 and all(abs(e) <= 1 for e in errors)
        assert int(answer.rstrip(".")) == equations[-1][3]
        slipped += any(errors)
    assert abs(slipped / len(texts) - 0.25) < 0.05


def test_noise_rates_change_only_the_corpus_solutions():
    clean, noisy = syn.generate(CFG, 0), syn.generate(NOISY | {"n_pretrain": CFG["n_pretrain"]}, 0)
    assert clean.problems["prompt"].tolist() == noisy.problems["prompt"].tolist()
    questions = [[t.split("\n")[0] for t in d.corpus["text"]] for d in (clean, noisy)]
    assert questions[0] == questions[1]
    assert clean.corpus["text"].tolist() != noisy.corpus["text"].tolist()


def test_noise_rate_outside_the_unit_interval_is_a_user_error_naming_the_key():
    with pytest.raises(UserError, match="data.synthetic.corpus_slip_rate"):
        syn.generate({**CFG, "corpus_slip_rate": 1.5}, 0)


# equations-only documents (data.synthetic.corpus_equations_only_rate): worksheet text in the corpus

WORKSHEET = {**CFG, "n_pretrain": 2000, "corpus_equations_only_rate": 0.5, "corpus_plain_answer_rate": 0.3}


def test_equations_only_documents_follow_their_rate_and_are_the_full_documents_solutions():
    full = syn.generate({**WORKSHEET, "corpus_equations_only_rate": 0.0}, 0).corpus["text"].tolist()
    mixed = syn.generate(WORKSHEET, 0).corpus["text"].tolist()
    alone = [m for m in mixed if "\n" not in m]
    assert abs(len(alone) / len(mixed) - 0.5) < 0.05
    for f, m in zip(full, mixed, strict=True):
        assert m in (f, f.split("\n")[1])  # the same document, or its solution line alone
    assert all(re.match(r"^\d+[+-]\d+=\d+\.", m) for m in alone)


def test_equations_only_rate_changes_neither_the_problems_nor_which_documents_are_drawn():
    plain = syn.generate({**WORKSHEET, "corpus_equations_only_rate": 0.0}, 0)
    mixed = syn.generate(WORKSHEET, 0)
    assert plain.problems["prompt"].tolist() == mixed.problems["prompt"].tolist()
    assert plain.corpus["level"].tolist() == mixed.corpus["level"].tolist()


def test_equations_only_rate_outside_the_unit_interval_is_a_user_error_naming_the_key():
    with pytest.raises(UserError, match="data.synthetic.corpus_equations_only_rate"):
        syn.generate({**CFG, "corpus_equations_only_rate": -0.1}, 0)
