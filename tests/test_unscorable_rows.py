"""Training refuses rows it cannot score (no reference answer, no prompt), with counts, in every place a
train row reaches a reward: the one reader (rlscaling.rows.read_training_rows), `rlscaling
train`'s pre-flight check (before either engine starts), the trl engine's prompts, the TRL reward
adapter and verl's compute_score. Before: a None ground truth became "" (TRL) or "None" (verl) and
scored 0 on every rollout, and the segment exited 0."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rlscaling.cli import main as cli_main
from rlscaling.rows import read_training_rows, reference_answer
from rlscaling.errors import UserError
from rlscaling.rewards import trl_reward
from rlscaling.rewards.verl_reward import compute_score


def write_rows(path: Path, answers: list) -> Path:
    """verl-schema rows asking `i+i=`; reward_model.ground_truth from `answers` (None: missing)."""
    rows = [
        {
            "data_source": "synthetic",
            "prompt": [{"role": "user", "content": f"{i}+{i}="}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": a},
            "extra_info": {"index": i},
        }
        for i, a in enumerate(answers)
    ]
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_the_reader_gives_every_rows_answer_as_a_string(tmp_path):
    table = read_training_rows(write_rows(tmp_path / "t.parquet", ["0", "2", "4"]))
    assert table.column("ground_truth").to_pylist() == ["0", "2", "4"]


def test_the_reader_refuses_rows_without_an_answer_with_counts_by_reason_and_the_first_row(tmp_path):
    path = write_rows(tmp_path / "t.parquet", ["0", None, "4", "  ", None])
    with pytest.raises(UserError) as err:
        read_training_rows(path)
    msg = str(err.value)
    assert f"{path}: 3 of 5 rows cannot be scored (3 missing_ground_truth)" in msg
    assert "first: row 1, field reward_model.ground_truth" in msg


def test_the_reader_refuses_a_row_without_a_user_prompt(tmp_path):
    path = write_rows(tmp_path / "t.parquet", ["0", "2"])
    df = pd.read_parquet(path)
    df.at[1, "prompt"] = [{"role": "system", "content": "hi"}]
    df.to_parquet(path)
    with pytest.raises(UserError, match=r"1 of 2 rows cannot be scored \(1 empty_prompt\); first: row 1"):
        read_training_rows(path)


def test_a_flat_ground_truth_column_wins_and_numbers_are_spelled_as_strings():
    assert reference_answer(18, {"ground_truth": "x"}) == "18"
    assert reference_answer(None, {"ground_truth": 2.5}) == "2.5"


@pytest.mark.parametrize("engine", ["trl", "verl"])
def test_train_refuses_the_file_before_any_engine_starts(tmp_path, capsys, engine, monkeypatch):
    import sys

    path = write_rows(tmp_path / "train.parquet", ["0", None, "4", None])
    for name in ("rlscaling.train.trl.engine", "rlscaling.train.verl.engine"):
        monkeypatch.setitem(sys.modules, name, None)  # importing an engine would fail the test
    params = {"engine": engine, "segment_steps": 2, "seed": 0, "size": "xs", "run": "xs"}
    argv = ["train", "--params-json", json.dumps(params), "--init", str(tmp_path / "base"), "--data",
            str(path), "--step", "2", "--out", str(tmp_path / "step_000002")]  # fmt: skip
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "2 of 4 rows cannot be scored (2 missing_ground_truth)" in err, err
    assert not (tmp_path / "step_000002").exists()


def test_the_trl_engines_prompts_refuse_rows_without_an_answer(tmp_path):
    from rlscaling.train.trl.engine import load_prompts

    path = write_rows(tmp_path / "t.parquet", [None, "2", "4"])
    with pytest.raises(UserError, match=r"1 of 3 rows cannot be scored"):
        load_prompts(path, {"prompts_per_step": 2})


def test_the_trl_reward_refuses_a_batch_with_rows_without_an_answer_with_counts():
    reward = trl_reward("strict")
    completions = ["#### 0", "#### 2", "#### 4", "#### 6"]
    rm = [{"ground_truth": "0"}, {"ground_truth": None}, {"ground_truth": ""}, {"ground_truth": "6"}]
    with pytest.raises(UserError, match=r"2 of 4 completions cannot be scored \(2 missing_ground_truth\)"):
        reward(completions=completions, reward_model=rm)
    assert reward(completions=completions, ground_truth=["0", "1", "4", "6"]) == [1.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("ground_truth", [None, "", "   ", float("nan")])
def test_verl_compute_score_refuses_a_row_without_an_answer_instead_of_scoring_0(ground_truth):
    with pytest.raises(UserError, match=r"verl reward: reward_model.ground_truth .*cannot be scored"):
        compute_score("openai/gsm8k", "#### 18", ground_truth, extra_info={"index": 7})
    assert compute_score("openai/gsm8k", "#### 18", 18)["score"] == 1.0  # a number is still an answer


def test_training_and_evaluation_read_a_row_alike(tmp_path):
    """One reader of verl-schema rows: the benchmark loader gives the answers the training reader gives."""
    from rlscaling.evaluate.bench import load_bench

    for answers in (["0", "2"], [0, 2], [["0"], ["2"]]):  # strings, numbers, one-answer lists
        path = write_rows(tmp_path / "t.parquet", answers)
        trained = read_training_rows(path).column("ground_truth").to_pylist()
        evaluated = [p.ground_truth for p in load_bench(path).problems]
        assert trained == evaluated == ["0", "2"], answers


def test_a_benchmark_with_unscorable_rows_is_refused_with_counts(tmp_path):
    from rlscaling.evaluate.bench import load_bench

    path = write_rows(tmp_path / "b.parquet", [["1"], None, None, ["3", "three"]])
    with pytest.raises(UserError) as err:
        load_bench(path)
    msg = str(err.value)
    assert "b.parquet: 3 of 4 rows cannot be scored" in msg
    assert "1 bad_ground_truth_type, 2 missing_ground_truth" in msg


def test_a_list_of_several_answers_is_refused_not_scored_zero():
    with pytest.raises(UserError, match="list of 2 answers"):
        reference_answer(None, {"style": "rule", "ground_truth": ["3", "three"]})
