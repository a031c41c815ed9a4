"""Specification of the prompt-length check (rlscaling.data.prompt_lengths, rule prompt_lengths): the
train file's prompts measured as the trainers encode them, and a max_prompt_tokens that would cut one
refused before training, naming the key, the file, the longest prompt and how many are too long."""

from __future__ import annotations

import json
from pathlib import Path

import helpers
import pandas as pd
import pytest

from rlscaling.checkpoint import load_tokenizer
from rlscaling.cli import main as cli_main
from rlscaling.data import prompt_lengths as PL


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A character-level tokenizer (ChatML template) and 5 prompts; row 3 is the longest."""
    root = tmp_path_factory.mktemp("lengths")
    model = helpers.build_tiny_model(root / "model")
    questions = ["1+1=", "12+12=", "2+2=", "what is 123+456?", "3+3="]
    rows = [
        {"prompt": [{"role": "user", "content": q}], "ground_truth": "0", "data_source": "synthetic"}
        for q in questions
    ]
    pd.DataFrame(rows).to_parquet(root / "train.parquet")
    return model, root / "train.parquet"


def run(model: Path, data: Path, limit: int, out: Path, key: str = "training.max_prompt_tokens") -> int:
    check = {"file": str(data), "tokenizer": str(model), "limit": limit, "key": key}
    return cli_main(["prompt-lengths", "--params-json", json.dumps({"checks": [check]}), "-o", str(out)])


def test_lengths_are_the_tokens_the_trainer_encodes(files):
    model, data = files
    tok = load_tokenizer(model)
    prompts = pd.read_parquet(data)["prompt"].map(list).tolist()
    expected = [
        len(tok.apply_chat_template(p, add_generation_prompt=True, return_dict=True)["input_ids"])
        for p in prompts
    ]  # as rlscaling.train.trl.engine.check_prompt_lengths measures them
    assert PL.prompt_lengths(prompts, tok) == expected


def test_the_report_has_the_max_percentiles_and_the_longest_row(files, tmp_path):
    model, data = files
    assert run(model, data, 512, tmp_path / "lengths.json") == 0
    report = json.loads((tmp_path / "lengths.json").read_text())
    stats = report["files"][str(data)][str(model)]
    assert stats["prompts"] == 5 and stats["longest_row"] == 3
    assert stats["p50"] <= stats["p90"] <= stats["p99"] == stats["max"]
    assert report["checks"][0]["longer"] == 0


def test_a_limit_that_would_cut_prompts_is_refused_naming_key_file_longest_and_count(files, tmp_path, capsys):
    model, data = files
    tok = load_tokenizer(model)
    lengths = PL.prompt_lengths(pd.read_parquet(data)["prompt"].map(list).tolist(), tok)
    limit = sorted(lengths)[2]  # two prompts are longer
    out = tmp_path / "lengths.json"
    assert run(model, data, limit, out, key="training.sizes.xs.max_prompt_tokens") == 2
    err = capsys.readouterr().err
    assert (
        f"training.sizes.xs.max_prompt_tokens: {limit} tokens would cut prompts of {data}: the longest has "
        f"{max(lengths)} tokens (row 3), and 2 of 5 prompts are longer than {limit}"
    ) in err
    assert not out.exists()


def test_a_limit_equal_to_the_longest_prompt_passes(files, tmp_path):
    model, data = files
    tok = load_tokenizer(model)
    longest = max(PL.prompt_lengths(pd.read_parquet(data)["prompt"].map(list).tolist(), tok))
    assert run(model, data, longest, tmp_path / "lengths.json") == 0
