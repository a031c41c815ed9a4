"""Specification of rlscaling.rewards: extraction per method, scoring, data-source mapping, TRL adapter."""

from __future__ import annotations

import pytest

from rlscaling.errors import UserError
from rlscaling.rewards import METHODS, Score, completion_text, score, scorer_for_source, trl_reward
from rlscaling.rewards.extract import (
    extract_boxed,
    extract_custom_flexible,
    extract_flexible,
    extract_strict,
    normalize_number,
)

# ---------------------------------------------------------------------------------------------
# the public contract


def test_methods_are_the_four_documented_ones():
    assert METHODS == ("strict", "flexible", "custom_flexible", "boxed")


def test_the_config_offers_exactly_these_methods_as_reward_and_benchmark_scorer():
    """The schema lists the methods as enums (training.reward, benchmarks.*.scorer); they are these."""
    from rlscaling.schema import subschema

    assert subschema("training", "reward")["enum"] == list(METHODS)
    assert subschema("benchmarks")["additionalProperties"]["properties"]["scorer"]["enum"] == list(METHODS)


def test_score_is_a_frozen_record_of_the_verdict():
    s = score("so 18\n#### 18", "18", "strict")
    assert s == Score(score=1.0, correct=True, extracted="18", format_ok=True, reason=None)
    with pytest.raises(AttributeError):
        s.score = 0.0  # type: ignore[misc]


def test_unknown_method_is_a_user_error_naming_the_choices():
    with pytest.raises(UserError, match="reward method 'exact'.*strict, flexible, custom_flexible, boxed"):
        score("#### 1", "1", "exact")


@pytest.mark.parametrize("w", [-0.1, 1.5, float("nan")])
def test_format_weight_outside_0_1_is_a_user_error(w):
    with pytest.raises(UserError, match="format_weight"):
        score("#### 1", "1", "strict", format_weight=w)


def test_non_positive_timeout_is_a_user_error():
    with pytest.raises(UserError, match="timeout_s"):
        score("#### 1", "1", "strict", timeout_s=0)


# ---------------------------------------------------------------------------------------------
# strict


def test_strict_takes_the_last_marker():
    assert extract_strict("#### 3 first, then\n#### 5") == "5"


def test_strict_without_marker_has_no_answer():
    s = score("The answer is 18.", "18", "strict")
    assert (s.score, s.correct, s.extracted, s.format_ok, s.reason) == (0.0, False, None, False, "no_answer")


@pytest.mark.parametrize(
    "response",
    [
        "#### 1,450,000",
        "#### $1,450,000",
        "#### 1450000.",
        "####1450000",
        "#### 1450000.00",
        "#### \\$1,450,000",
    ],
)
def test_strict_compares_numbers_without_separators_dollar_or_trailing_period(response):
    assert score(response, "1450000", "strict").correct
    assert score(response, "1,450,000", "strict").correct


def test_strict_negative_integers():
    assert score("so x = -7\n#### -7", "-7", "strict").correct
    assert not score("#### 7", "-7", "strict").correct


def test_strict_wrong_number_is_a_mismatch():
    s = score("#### 17", "18", "strict")
    assert (s.score, s.extracted, s.format_ok, s.reason) == (0.0, "17", True, "mismatch")


def test_format_weight_rewards_a_well_formed_wrong_answer_only():
    assert score("#### 17", "18", "strict", format_weight=0.1).score == pytest.approx(0.1)
    assert score("17", "18", "strict", format_weight=0.1).score == 0.0
    assert score("#### 18", "18", "strict", format_weight=0.1).score == 1.0


# ---------------------------------------------------------------------------------------------
# flexible and custom_flexible


def test_flexible_takes_the_last_number():
    assert extract_flexible("3 apples and 4 pears make 7.") == "7"
    assert score("3 apples and 4 pears make 7.", "7", "flexible").correct


def test_flexible_without_any_number_has_no_answer():
    assert score("no idea", "7", "flexible").reason == "no_answer"


def test_flexible_reads_the_number_in_a_final_box():
    assert score("so \\boxed{18}", "18", "flexible").correct


def test_custom_flexible_stops_at_the_first_marker():
    response = "She has 18 eggs.\n#### 18\nQuestion: how many are 5 + 6?\n#### 11"
    assert extract_flexible(response) == "11"
    assert extract_custom_flexible(response) == "18"


def test_custom_flexible_keeps_long_numbers_whole():
    # the reference implementation cut at marker + 10 characters, losing digits of long answers
    response = "Total: 12345678901 dollars\n#### 12345678901\nQuestion: next one 3"
    assert extract_custom_flexible(response) == "12345678901"
    assert score(response, "12345678901", "custom_flexible").correct


def test_custom_flexible_with_a_marker_not_followed_by_a_number_uses_the_text_before_it():
    assert extract_custom_flexible("so 42 it is\n#### the answer\n7") == "42"


def test_custom_flexible_without_marker_is_flexible():
    assert extract_custom_flexible("1 then 2 then 3") == "3"


def test_flexible_format_ok_means_the_gsm8k_marker_is_present():
    assert score("#### 18", "18", "flexible").format_ok
    assert not score("18", "18", "flexible").format_ok


# ---------------------------------------------------------------------------------------------
# numbers


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("18", "18"),
        ("-7", "-7"),
        ("1,450,000", "1450000"),
        ("$18", "18"),
        ("18.", "18"),
        ("18.00", "18"),
        ("3.50", "3.5"),
        (".5", "0.5"),
        ("−3", "-3"),
        ("-0", "0"),
        ("007", "7"),
    ],
)
def test_number_normalisation(text, canonical):
    assert normalize_number(text) == canonical


@pytest.mark.parametrize("text", ["1,00", "1e5", "x", "", "1/2", "1 2"])
def test_non_numbers_do_not_normalise(text):
    assert normalize_number(text) is None


def test_a_number_after_a_lone_comma_counts():
    assert extract_flexible("so,5") == "5"


def test_a_comma_run_that_is_not_thousands_groups_is_not_one_number():
    assert extract_flexible("digits 1,0000") != "10000"


# ---------------------------------------------------------------------------------------------
# boxed


def test_boxed_takes_the_last_box_with_nested_braces():
    assert extract_boxed("\\boxed{1} then \\boxed{\\frac{1}{\\sqrt{2}}}") == "\\frac{1}{\\sqrt{2}}"


def test_boxed_skips_an_unclosed_last_box():
    assert extract_boxed("\\boxed{5} and finally \\boxed{6") == "5"


def test_boxed_skips_an_empty_box():
    assert extract_boxed("\\boxed{5} put it in \\boxed{}") == "5"


def test_boxed_ignores_escaped_braces():
    assert extract_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"


def test_boxed_space_form_and_fbox():
    assert extract_boxed("so \\boxed 5.") == "5"
    assert extract_boxed("so \\fbox{7}") == "7"


def test_boxed_without_box_has_no_answer():
    s = score("the answer is 5", "5", "boxed")
    assert (s.score, s.format_ok, s.reason) == (0.0, False, "no_answer")


@pytest.mark.parametrize("pred", ["\\frac{1}{2}", "0.5", "\\dfrac12", "\\tfrac{1}{2}", "1/2", "\\frac12"])
def test_boxed_accepts_equivalent_forms_of_a_half(pred):
    assert score(f"so \\boxed{{{pred}}}", "\\frac{1}{2}", "boxed").correct
    assert score(f"so \\boxed{{{pred}}}", "0.5", "boxed").correct


def test_boxed_rejects_a_different_value():
    s = score("\\boxed{\\frac{1}{3}}", "\\frac{1}{2}", "boxed")
    assert (s.correct, s.reason) == (False, "mismatch")


def test_boxed_matches_a_doubled_backslash_ground_truth():
    # guru ground truths are written with doubled backslashes, e.g. "\\\\frac{1}{8}"
    assert score("\\boxed{\\frac{1}{8}}", "\\\\frac{1}{8}", "boxed").correct


def test_too_long_response_scores_zero_without_being_read():
    s = score("#### 1" + " " * 200_000, "1", "strict")
    assert (s.score, s.reason) == (0.0, "too_long")


# ---------------------------------------------------------------------------------------------
# data sources


@pytest.mark.parametrize(
    ("source", "method"),
    [
        ("rlscaling/arith", "strict"),
        ("openai/gsm8k", "custom_flexible"),
        ("math__math", "boxed"),
        ("math__deepscaler_preview", "boxed"),
        ("math__merged_deduped_dapo_or1_dataset", "boxed"),
        ("aime2024", "boxed"),
        ("aimeamc2023", "boxed"),
        ("amc2023", "boxed"),
        ("HuggingFaceH4/MATH-500", "boxed"),
    ],
)
def test_scorer_for_source(source, method):
    assert scorer_for_source(source) == method


def test_unknown_source_is_a_user_error_naming_it():
    with pytest.raises(UserError, match="data_source 'codeforces'"):
        scorer_for_source("codeforces")


# ---------------------------------------------------------------------------------------------
# TRL adapter


def test_trl_reward_scores_string_completions():
    f = trl_reward("strict")
    assert f.__name__ == "reward_strict"
    assert f(prompts=["p", "p"], completions=["#### 3", "#### 4"], ground_truth=["3", "3"]) == [1.0, 0.0]


def test_trl_reward_scores_chat_completions():
    f = trl_reward("boxed")
    completions = [
        [{"role": "assistant", "content": "\\boxed{\\frac{1}{2}}"}],
        [{"role": "assistant", "content": "x"}],
    ]
    assert f(prompts=[[], []], completions=completions, ground_truth=["0.5", "0.5"]) == [1.0, 0.0]


def test_trl_reward_accepts_extra_columns_and_logs_format_rate():
    logged = {}
    f = trl_reward("strict", format_weight=0.2)
    out = f(
        prompts=["p"] * 2,
        completions=["#### 5", "no answer"],
        ground_truth=["3", "3"],
        completion_ids=[[1], [2]],
        trainer_state=None,
        log_metric=lambda k, v: logged.__setitem__(k, v),
        data_source=["rlscaling/arith"] * 2,
    )
    assert out == [pytest.approx(0.2), 0.0]
    assert logged["reward_strict/format_ok"] == 0.5


def test_trl_reward_reads_verl_reward_model_column():
    f = trl_reward("auto")
    out = f(
        prompts=["p", "p"],
        completions=["#### 3", "\\boxed{3}"],
        reward_model=[{"ground_truth": "3", "style": "rule"}] * 2,
        data_source=["rlscaling/arith", "math__math"],
    )
    assert out == [1.0, 1.0]


def test_trl_reward_without_ground_truth_is_a_user_error():
    with pytest.raises(UserError, match="ground_truth"):
        trl_reward("strict")(prompts=["p"], completions=["#### 3"])


def test_completion_text_uses_the_last_assistant_message_and_text_parts():
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    assert (
        completion_text([{"role": "assistant", "content": [{"type": "text", "text": "#### 1"}]}]) == "#### 1"
    )


# ---------------------------------------------------------------------------------------------
# equivalent forms (boxed): what math-verify accepts, and what it does not

ACCEPTED = [
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{1}{2}", "\\dfrac12"),
    ("0.5", "\\frac12"),
    ("\\frac{1}{2}", "1/2"),
    ("\\frac{1}{2}", "\\frac{2}{4}"),
    ("\\frac{1}{2}", "2^{-1}"),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"),
    ("3\\sqrt{2}", "\\sqrt{18}"),
    ("-\\frac{1}{4} + \\frac{\\sqrt{3}}{2}", "\\frac{2\\sqrt3-1}{4}"),
    ("\\frac{14}{3}", "4\\frac{2}{3}"),  # mixed number
    ("90^\\circ", "90"),
    ("x=3", "3"),
    ("3", "x=3"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("(1,2)", "1,2"),
    ("(-\\infty,3]", "(-\\infty, 3]"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"),
    ("x^2+2x+1", "(x+1)^2"),
    ("p - q", "-q+p"),
    ("\\text{Evelyn}", "Evelyn"),
    ("C", "\\text{(C)}"),
    ("1000", "10^3"),
    ("1000", "1,000"),
    ("1000", "1\\,000"),
    ("1000", "1000.0"),
    ("025", "25"),
    ("18", "\\$18"),
    ("18", "18 \\text{ dollars}"),
    ("5\\text{ cm}", "5"),
    ("50\\%", "0.5"),  # math-verify reads a percentage as its fraction ...
    ("50", "50\\%"),  # ... and also accepts the bare number: lenient
    ("0.333333", "\\frac13"),  # numbers agree to 6 decimals (math-verify's float_rounding)
    ("0.333333", "0.3333333"),
    ("\\sqrt{2}", "1.41421356"),
    ("\\\\ln2", "\\ln 2"),  # guru's doubled backslashes
    ("\\pm 2", "2,-2"),
]

NOT_ACCEPTED = [
    ("\\frac{\\pi}{2}", "90^\\circ"),  # degrees are dropped, not converted to radians
    ("(1,2)", "(2,1)"),  # ordered pairs are ordered
    ("(1,2]", "[1,2]"),  # interval ends matter
    ("1000", "1e3"),  # scientific e-notation is not parsed as LaTeX
    ("\\frac13", "0.33"),  # too few decimals
    ("3.14", "\\pi"),
    ("3", "3.0000001"),  # an integer is not rounded to meet a float
    ("i", "\\sqrt{-1}"),
    ("10", "ten"),  # number words
    ("2", "\\pm 2"),
    ("\\text{even}", "\\text{odd}"),
]


@pytest.mark.parametrize(("gt", "pred"), ACCEPTED)
def test_boxed_accepts_equivalent_form(gt, pred):
    assert score(f"so \\boxed{{{pred}}}", gt, "boxed").correct


@pytest.mark.parametrize(("gt", "pred"), NOT_ACCEPTED)
def test_boxed_does_not_accept(gt, pred):
    s = score(f"so \\boxed{{{pred}}}", gt, "boxed")
    assert (s.correct, s.reason) == (False, "mismatch")


def test_missing_ground_truth_is_a_user_error():
    with pytest.raises(UserError, match="ground_truth is missing"):
        score("#### 1", None, "strict")  # type: ignore[arg-type]


def test_non_string_ground_truth_is_read_as_text():
    assert score("#### 42", 42, "strict").correct  # type: ignore[arg-type]


def test_numbers_compare_exactly_at_any_length():
    big = "1" + "0" * 60
    assert score(f"#### {big}", big, "strict").correct
    assert not score(f"#### {big[:-1]}1", big, "strict").correct


@pytest.mark.parametrize(
    ("gt", "pred", "equal"),
    [("\\frac{2}{4}", "\\dfrac12", True), ("-3/4", "-\\frac{3}{4}", True), ("\\frac{1}{3}", "1/2", False)],
)
def test_simple_fractions_compare_exactly_without_math_verify(monkeypatch, gt, pred, equal):
    from rlscaling.rewards import equivalence

    monkeypatch.setattr(equivalence, "math_verify_equal", lambda *a, **k: pytest.fail("math-verify used"))
    assert score(f"\\boxed{{{pred}}}", gt, "boxed").correct is equal
