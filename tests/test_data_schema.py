"""Specification of rlscaling.data.schema: reading, validating and writing verl RL rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlscaling.data.schema import (
    OUTPUT_COLUMNS,
    PromptTemplate,
    ReadSpec,
    extract_question,
    normalise_question,
    read_rows,
    to_verl,
    validate_rows,
)
from rlscaling.errors import UserError
from conftest import need_file

GURU_PREFIX = (
    "You are a knowledgeable math assistant. Answer the following questions and think step by step. "
)
BOXED = " Please output the final answer within \\boxed{}."


def verl_row(question: str = "What is 2+3?", gt: object = "5", pass_rate: object = 0.5, **extra) -> dict:
    return {
        "data_source": "math__test",
        "prompt": [{"role": "user", "content": GURU_PREFIX + question + BOXED}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": gt},
        "extra_info": {"index": 7, "split": "train", "qwen2.5_7b_pass_rate": pass_rate, **extra},
    }


def read(rows: list[dict], **spec) -> tuple[pd.DataFrame, list]:
    return read_rows(pd.DataFrame(rows), "mem.parquet", ReadSpec(**spec))


# --------------------------------------------------------------------------------------------------
# question text


def test_normalise_question_ignores_spacing_dollars_and_latex_sizing():
    a = "Paula rolls $3$ dice; the probability is $\\tfrac{m}{n}$ , find $\\left| m+n \\right|$."
    b = "Paula  rolls 3 dice; the probability is $\\frac{m}{n}$, find $|m + n|$."
    assert normalise_question(a) == normalise_question(b)


def test_normalise_question_keeps_different_problems_apart():
    assert normalise_question("What is 2+3?") != normalise_question("What is 2+4?")
    assert normalise_question("\\rightarrow x") != normalise_question("x")


def test_extract_question_strips_the_guru_template():
    msgs = [{"role": "user", "content": GURU_PREFIX + "What is 2+3?" + BOXED}]
    assert extract_question(msgs) == "What is 2+3?"


def test_extract_question_ignores_system_messages():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 1+1?"}]
    assert extract_question(msgs) == "What is 1+1?"


# --------------------------------------------------------------------------------------------------
# prompt template


def test_inactive_template_keeps_the_source_prompt_verbatim():
    frame, bad = read([verl_row()])
    assert not bad
    assert frame["prompt"][0] == [{"role": "user", "content": GURU_PREFIX + "What is 2+3?" + BOXED}]


def test_template_rebuilds_the_prompt_as_system_plus_question_and_instruction():
    tpl = PromptTemplate(system="You are a math tutor.", instruction="Put the final answer in \\boxed{}.")
    frame, _ = read([verl_row()], template=tpl)
    assert frame["prompt"][0] == [
        {"role": "system", "content": "You are a math tutor."},
        {"role": "user", "content": "What is 2+3? Put the final answer in \\boxed{}."},
    ]


def test_template_with_instruction_only_has_no_system_message():
    frame, _ = read([verl_row()], template=PromptTemplate(instruction="Answer after ####."))
    assert frame["prompt"][0] == [{"role": "user", "content": "What is 2+3? Answer after ####."}]


# --------------------------------------------------------------------------------------------------
# difficulty


def test_difficulty_is_one_minus_pass_rate_and_easy_at_threshold():
    frame, _ = read([verl_row(pass_rate=0.3), verl_row("Q2", pass_rate=0.25)], easy_threshold=0.3)
    assert frame["difficulty"].tolist() == pytest.approx([0.7, 0.75])
    assert frame["difficulty_bin"].tolist() == ["easy", "hard"]


def test_missing_pass_rate_counts_as_hard_with_difficulty_one():
    frame, bad = read([verl_row(pass_rate=None)])
    assert not bad
    assert (frame["pass_rate"][0] is None or np.isnan(frame["pass_rate"][0])) and frame["difficulty"][
        0
    ] == 1.0
    assert frame["difficulty_bin"][0] == "hard"


def test_pass_rate_key_may_be_written_with_an_extra_info_prefix():
    frame, _ = read([verl_row(pass_rate=0.0, other_rate=0.9)], pass_rate_key="extra_info.other_rate")
    assert frame["pass_rate"][0] == pytest.approx(0.9)


# --------------------------------------------------------------------------------------------------
# malformed rows


@pytest.mark.parametrize(
    ("row", "reason", "field"),
    [
        (verl_row(gt=None), "missing_ground_truth", "reward_model.ground_truth"),
        (verl_row(gt="  "), "missing_ground_truth", "reward_model.ground_truth"),
        (verl_row(gt={"a": 1}), "bad_ground_truth_type", "reward_model.ground_truth"),
        ({**verl_row(), "prompt": []}, "empty_prompt", "prompt"),
        ({**verl_row(), "prompt": [{"role": "user", "content": "   "}]}, "empty_prompt", "prompt"),
        ({**verl_row(), "prompt": 42}, "bad_prompt_type", "prompt"),
        ({**verl_row(), "prompt": [{"role": "user", "content": 3}]}, "bad_prompt_type", "prompt[0].content"),
        (verl_row(pass_rate="high"), "bad_pass_rate", "extra_info.qwen2.5_7b_pass_rate"),
        (verl_row(pass_rate=1.5), "bad_pass_rate", "extra_info.qwen2.5_7b_pass_rate"),
        ({**verl_row(), "extra_info": "oops"}, "bad_extra_info", "extra_info"),
    ],
)
def test_malformed_rows_are_rejected_naming_file_row_and_field(row, reason, field):
    frame, bad = read([verl_row("fine"), row])
    assert len(frame) == 1 and len(bad) == 1
    assert (bad[0].reason, bad[0].row, bad[0].field) == (reason, 1, field)
    assert bad[0].message().startswith(f"mem.parquet: row 1, field {field}: ")


def test_integer_ground_truths_are_read_as_strings():
    frame, bad = read([verl_row(gt=18), verl_row("Q2", gt=np.int64(7)), verl_row("Q3", gt=2.0)])
    assert not bad
    assert frame["ground_truth"].tolist() == ["18", "7", "2"]


def test_a_missing_prompt_column_is_a_user_error_naming_the_file():
    with pytest.raises(UserError, match=r"mem.parquet: no prompt column"):
        read_rows(pd.DataFrame({"reward_model": [{"ground_truth": "1"}]}), "mem.parquet", ReadSpec())


def test_plain_question_and_answer_columns_are_read_through_the_column_mapping():
    df = pd.DataFrame({"problem": ["What is 6*7?"], "answer": ["42"], "data_source": ["toy"]})
    frame, bad = read_rows(
        df, "toy.parquet", ReadSpec(columns={"question": "problem", "ground_truth": "answer"})
    )
    assert not bad
    assert frame["prompt"][0] == [{"role": "user", "content": "What is 6*7?"}]
    assert frame["ground_truth"][0] == "42"


def test_a_plain_question_keeps_its_own_instruction_without_a_template():
    # as with a prompt column, known template text is stripped only for the de-duplication key (and
    # before a configured template is applied), not from the prompt the model sees
    text = GURU_PREFIX + "What is 6*7?" + BOXED
    df = pd.DataFrame({"problem": [text], "answer": ["42"]})
    cols = {"question": "problem", "ground_truth": "answer"}
    frame, _ = read_rows(df, "toy.parquet", ReadSpec(columns=cols))
    assert frame["prompt"][0] == [{"role": "user", "content": text}]
    assert frame["question"][0] == "What is 6*7?"
    tpl = PromptTemplate(instruction="Answer in \\boxed{}.")
    frame, _ = read_rows(df, "toy.parquet", ReadSpec(columns=cols, template=tpl))
    assert frame["prompt"][0] == [{"role": "user", "content": "What is 6*7? Answer in \\boxed{}."}]


def test_an_unknown_column_mapping_key_is_a_user_error_naming_the_config_key():
    with pytest.raises(UserError, match=r"data.parquet.columns.answer_text: unknown field"):
        read([verl_row()], columns={"answer_text": "x"})


# --------------------------------------------------------------------------------------------------
# writing


def test_written_rows_follow_the_verl_schema_with_a_flat_ground_truth():
    frame, _ = read([verl_row()])
    frame["uid"] = [3]
    rows = to_verl(frame, "train")
    assert list(rows.columns) == OUTPUT_COLUMNS
    r = rows.iloc[0]
    assert r["reward_model"] == {"style": "rule", "ground_truth": "5"} and r["ground_truth"] == "5"
    info = r["extra_info"]
    assert (info["index"], info["split"], info["source_index"]) == (3, "train", 7)
    assert (info["difficulty"], info["difficulty_bin"], info["pass_rate"]) == (0.5, "easy", 0.5)
    assert info["qwen2.5_7b_pass_rate"] == 0.5  # source keys are kept
    assert validate_rows(rows) == []


def test_validate_rows_reports_a_flat_ground_truth_that_disagrees(shared_data, tmp_path):
    df = pd.read_parquet(need_file(shared_data, "guru/heldout_test_500.parquet")).head(3)
    frame, _ = read_rows(df, "heldout", ReadSpec())
    frame["uid"] = range(3)
    rows = to_verl(frame, "heldout")
    rows.loc[1, "ground_truth"] = "something else"
    rows.to_parquet(tmp_path / "x.parquet")
    bad = validate_rows(pd.read_parquet(tmp_path / "x.parquet"), "x.parquet")
    assert [(b.row, b.field) for b in bad] == [(1, "ground_truth")]


def test_every_guru_row_reads_without_rejection(shared_data):
    df = pd.read_parquet(need_file(shared_data, "guru/heldout_test_500.parquet"))
    frame, bad = read_rows(df, "heldout_test_500.parquet", ReadSpec())
    assert bad == [] and len(frame) == 500
    assert frame["difficulty_bin"].value_counts().to_dict() == {"easy": 250, "hard": 250}
