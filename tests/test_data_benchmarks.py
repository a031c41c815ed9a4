"""Specification of rlscaling.data.benchmarks: the benchmark registry and benchmark files."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import need_file

from rlscaling.data import benchmarks as bm
from rlscaling.data.prepare import prepare
from rlscaling.errors import UserError


@pytest.mark.parametrize("name", sorted(bm.BUILTIN))
def test_builtin_benchmarks_default_to_the_reference_files_with_their_data_source(name, shared_data):
    spec = bm.resolve(name, {})
    assert spec.source == "parquet"
    path = need_file(shared_data, bm.BUILTIN[name].local_file)
    assert spec.path == str(path)
    assert set(pd.read_parquet(path)["data_source"]) == {bm.BUILTIN[name].data_source}


def test_registry_scorers_agree_with_the_reward_module():
    rewards = pytest.importorskip("rlscaling.rewards")
    for info in bm.BUILTIN.values():
        assert rewards.scorer_for_source(info.data_source) == info.scorer, info.name


def test_a_configured_scorer_overrides_the_registry():
    assert bm.resolve("gsm8k", {"scorer": "strict"}).scorer == "strict"


def test_an_unknown_scorer_is_a_user_error_naming_the_key():
    with pytest.raises(UserError, match=r"benchmarks.gsm8k.scorer: 'fuzzy' is not one of"):
        bm.resolve("gsm8k", {"scorer": "fuzzy"})


def test_a_parquet_benchmark_outside_the_registry_needs_a_path():
    with pytest.raises(UserError, match=r"benchmarks.mybench.path: a parquet benchmark needs a path"):
        bm.resolve("mybench", {"source": "parquet"})


def test_hf_source_of_a_builtin_defaults_to_its_hub_id():
    spec = bm.resolve("math500", {"source": "hf"})
    assert (spec.path, spec.hf_split) == ("HuggingFaceH4/MATH-500", "test")
    gsm = bm.resolve("gsm8k", {"source": "hf"})
    assert (gsm.path, gsm.hf_config, gsm.hf_split) == ("openai/gsm8k", "main", "test")


def test_heldout_benchmarks_take_no_path():
    with pytest.raises(UserError, match=r"benchmarks.heldout.path: not used with source heldout"):
        bm.resolve("heldout", {"source": "heldout", "path": "x.parquet"})


@pytest.fixture
def small_train(shared_data, tmp_path):
    df = pd.read_parquet(need_file(shared_data, "guru/guru_math_sample_12800.parquet")).iloc[::64]
    path = tmp_path / "train.parquet"
    df.to_parquet(path)
    return path


def params(train, benches):
    return {
        "data": {"source": "parquet", "parquet": {"train_files": [str(train)]}, "heldout_size": 20},
        "benchmarks": benches,
        "seed": 0,
    }


def test_a_plain_hf_dataset_folder_becomes_verl_rows_with_the_registry_data_source(small_train, tmp_path):
    import datasets

    plain = pd.DataFrame(
        {
            "question": ["Tom has 3 apples and buys 4. How many?", "What is 10 - 7?"],
            "answer": ["He has 3 + 4 = 7.\n#### 7", "#### 3"],
        }
    )
    datasets.DatasetDict({"test": datasets.Dataset.from_pandas(plain)}).save_to_disk(str(tmp_path / "gsm"))
    report = prepare(
        params(small_train, {"gsm8k": {"source": "hf", "path": str(tmp_path / "gsm")}}), tmp_path / "out"
    )
    rows = pd.read_parquet(tmp_path / "out" / "bench" / "gsm8k.parquet")
    assert rows["ground_truth"].tolist() == ["7", "3"]
    assert set(rows["data_source"]) == {"openai/gsm8k"}
    assert list(rows["prompt"].iloc[1]) == [{"role": "user", "content": "What is 10 - 7?"}]
    assert report["benchmarks"]["gsm8k"]["scorer"] == "custom_flexible"


def test_max_rows_takes_a_seeded_subset_of_a_benchmark(small_train, tmp_path):
    benches = {"math500": {"max_rows": 50}, "heldout": {"source": "heldout", "max_rows": 10}}
    report = prepare(params(small_train, benches), tmp_path)
    assert report["benchmarks"]["math500"]["rows"] == 50
    assert len(pd.read_parquet(tmp_path / "bench" / "math500.parquet")) == 50
    assert report["benchmarks"]["heldout"]["rows"] == 10 and report["splits"]["heldout"]["rows"] == 20


def test_benchmark_overlap_with_train_is_reported(shared_data, tmp_path):
    math500 = need_file(shared_data, "benchmarks/math__math_500.parquet")
    train = tmp_path / "train.parquet"
    pd.read_parquet(math500).head(60).to_parquet(train)
    report = prepare(params(train, {"math500": {}}), tmp_path / "out")
    assert report["benchmarks"]["math500"]["overlap_with_train"] == report["splits"]["train"]["rows"]
