"""Specification of stage 1, `rlscaling data` (rlscaling.data.prepare / rlscaling.data.cli).

The main fixture prepares the shared guru sample the way the paper does (its 500-problem held-out
file, taus 1 / 4, the four reference benchmarks) once per module; smaller tests cut 400-row files out
of the guru sample into tmp_path. The synthetic source is driven by a small fake generator that follows
the rlscaling.data.synthetic contract.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import need_file

from rlscaling.cli import main as cli_main
from rlscaling.data import curriculum as cur
from rlscaling.data.prepare import prepare
from rlscaling.data.schema import extract_question, normalise_question, validate_rows
from rlscaling.errors import UserError

GURU = "guru/guru_math_sample_12800.parquet"
HELDOUT = "guru/heldout_test_500.parquet"
BENCHES = {"heldout": {"source": "heldout"}, "gsm8k": {}, "math500": {}, "aime2024": {}, "amc2023": {}}


def keys(df: pd.DataFrame) -> set[str]:
    return {normalise_question(extract_question(list(p))) for p in df["prompt"]}


@pytest.fixture(scope="module")
def guru(shared_data, tmp_path_factory):
    """The paper's setting: guru sample as train, its 500 held-out problems, tau 1 and 4."""
    out = tmp_path_factory.mktemp("guru") / "data"
    params = {
        "data": {
            "source": "parquet",
            "parquet": {
                "train_files": [str(need_file(shared_data, GURU))],
                "heldout_files": [str(need_file(shared_data, HELDOUT))],
            },
            "reuse_taus": [1, 4],
        },
        "benchmarks": BENCHES,
        "seed": 0,
    }
    report = prepare(params, out)
    return out, report


@pytest.fixture(scope="module")
def small_guru(shared_data, tmp_path_factory) -> Path:
    """400 guru problems (every 32nd row: all pass-rate levels) as a parquet file."""
    df = pd.read_parquet(need_file(shared_data, GURU)).iloc[::32].reset_index(drop=True)
    path = tmp_path_factory.mktemp("small") / "small.parquet"
    df.to_parquet(path)
    return path


def small_params(path: Path, **data) -> dict:
    return {
        "data": {"source": "parquet", "parquet": {"train_files": [str(path)]}, "heldout_size": 40, **data},
        "benchmarks": {"heldout": {"source": "heldout"}},
        "seed": 0,
    }


# --------------------------------------------------------------------------------------------------
# the guru sample


def test_guru_outputs_are_all_written_in_the_verl_schema(guru):
    out, _ = guru
    names = ["train", "heldout", "train_tau4"] + [f"bench/{b}" for b in BENCHES]
    for name in names:
        df = pd.read_parquet(out / f"{name}.parquet")
        assert validate_rows(df, name) == [], name
    assert (out / "report.json").is_file()
    assert not (out / "train_tau1.parquet").exists()  # tau 1 is train.parquet


def test_guru_split_counts_and_easy_fraction(guru):
    _, report = guru
    train, held = report["splits"]["train"], report["splits"]["heldout"]
    assert (held["rows"], held["easy"], held["hard"]) == (500, 250, 250)
    assert train["rows"] == 12800 - report["duplicates"]["total_dropped"]
    assert train["easy"] + train["hard"] == train["rows"]
    assert 0.2 < train["easy_fraction"] < 0.25  # 2888 / 12800 = 0.226 before de-duplication


def test_guru_train_order_is_monotone_easy_to_hard(guru):
    out, report = guru
    train = pd.read_parquet(out / "train.parquet")
    assert report["order"]["monotone"] and cur.is_monotone(train)
    pass_rates = [e["pass_rate"] for e in train["extra_info"]]
    assert pass_rates == sorted(pass_rates, reverse=True)
    assert train["extra_info"].iloc[0]["difficulty_bin"] == "easy"
    assert train["extra_info"].iloc[-1]["difficulty_bin"] == "hard"


def test_no_guru_problem_is_in_both_splits(guru):
    out, report = guru
    train, held = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "heldout.parquet")
    assert keys(train).isdisjoint(keys(held))
    # the paper's own files share 11 problems (up to spacing / $ placement); train loses its copy
    assert report["duplicates"]["train_vs_heldout"] == 11
    assert report["duplicates"]["within_train"] > 0
    assert len(keys(train)) == len(train)


def test_guru_reuse_file_repeats_a_stratified_quarter_four_times(guru):
    out, report = guru
    train = pd.read_parquet(out / "train.parquet")
    rep = pd.read_parquet(out / "train_tau4.parquet")
    idx = [e["index"] for e in rep["extra_info"]]
    epochs = [e["reuse_epoch"] for e in rep["extra_info"]]
    assert len(rep) == 4 * (len(train) // 4)
    assert pd.Series(idx).value_counts().eq(4).all() and sorted(set(epochs)) == [0, 1, 2, 3]
    assert set(idx) <= {e["index"] for e in train["extra_info"]}
    t4 = report["reuse"]["taus"]["4"]
    assert abs(t4["easy_fraction"] - report["splits"]["train"]["easy_fraction"]) < 1 / t4["unique"] + 1e-9


def test_guru_benchmarks_come_from_the_registry_with_their_scorers(guru):
    out, report = guru
    b = report["benchmarks"]
    assert {n: b[n]["rows"] for n in b} == {
        "heldout": 500,
        "gsm8k": 1319,
        "math500": 500,
        "aime2024": 30,
        "amc2023": 40,
    }
    assert b["gsm8k"]["data_sources"] == ["openai/gsm8k"] and b["gsm8k"]["scorer"] == "custom_flexible"
    assert (
        pd.read_parquet(out / "bench/heldout.parquet")["ground_truth"].tolist()
        == pd.read_parquet(out / "heldout.parquet")["ground_truth"].tolist()
    )


def test_guru_report_counts_malformed_rows_and_duplicates(guru):
    out, report = guru
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["malformed"] == {"total": 0, "by_reason": {}, "examples": []}
    dup = on_disk["duplicates"]
    assert dup["total_dropped"] == dup["within_train"] + dup["within_heldout"] + dup["train_vs_heldout"]
    assert dup["examples"] and all(e["kept"] for e in dup["examples"])


# --------------------------------------------------------------------------------------------------
# carving the held-out split, options


def test_carved_balanced_heldout_is_half_easy_half_hard(small_guru, tmp_path):
    report = prepare(small_params(small_guru, heldout_stratify="balanced"), tmp_path)
    assert (report["splits"]["heldout"]["easy"], report["splits"]["heldout"]["hard"]) == (20, 20)
    train, held = pd.read_parquet(tmp_path / "train.parquet"), pd.read_parquet(tmp_path / "heldout.parquet")
    assert keys(train).isdisjoint(keys(held)) and len(held) == 40


def test_carved_proportional_heldout_keeps_the_easy_fraction(small_guru, tmp_path):
    report = prepare(small_params(small_guru, heldout_stratify="proportional"), tmp_path)
    s = report["splits"]
    assert abs(s["heldout"]["easy_fraction"] - s["train"]["easy_fraction"]) < 0.05


def test_same_seed_same_files_other_seed_other_order(small_guru, tmp_path):
    prepare(small_params(small_guru), tmp_path / "a")
    prepare(small_params(small_guru), tmp_path / "b")
    other = small_params(small_guru)
    other["seed"] = 1
    prepare(other, tmp_path / "c")
    a, b, c = (pd.read_parquet(tmp_path / x / "train.parquet") for x in "abc")
    assert a.equals(b)
    assert [e["index"] for e in a["extra_info"]] != [e["index"] for e in c["extra_info"]]


def test_shuffle_order_is_reported_as_not_monotone(small_guru, tmp_path):
    report = prepare(small_params(small_guru, order="shuffle"), tmp_path)
    assert report["order"]["mode"] == "shuffle" and not report["order"]["monotone"]


def test_max_train_caps_the_train_set_stratified(small_guru, tmp_path):
    params = small_params(small_guru)
    params["data"]["parquet"]["max_train"] = 100
    report = prepare(params, tmp_path)
    assert report["splits"]["train"]["rows"] == 100


def test_several_files_with_renamed_columns_and_another_pass_rate_key(small_guru, tmp_path):
    """data.parquet.columns / pass_rate_key / easy_threshold from the config, over two train files:
    plain question / answer / source columns and a top-level pass-rate column with one gap."""
    df = pd.read_parquet(small_guru)
    plain = pd.DataFrame(
        {
            "question_text": [list(p)[-1]["content"] for p in df["prompt"]],
            "answer": [rm["ground_truth"] for rm in df["reward_model"]],
            "src": df["data_source"],
            "pr": [e["qwen3_30b_pass_rate"] for e in df["extra_info"]],
        }
    )
    plain.loc[3, "pr"] = None
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    plain.iloc[:200].to_parquet(files[0])
    plain.iloc[200:].reset_index(drop=True).to_parquet(files[1])
    params = small_params(files[0], heldout_stratify="proportional")
    params["data"]["parquet"] = {
        "train_files": [str(f) for f in files],
        "columns": {"question": "question_text", "ground_truth": "answer", "data_source": "src"},
        "pass_rate_key": "pr",
        "easy_threshold": 0.5,
    }
    report = prepare(params, tmp_path / "out")
    assert report["inputs"] == [{"file": str(f), "rows": 200, "malformed": 0} for f in files]
    rows = pd.concat([pd.read_parquet(tmp_path / "out" / f"{s}.parquet") for s in ("train", "heldout")])
    assert len(rows) == 400 - report["duplicates"]["total_dropped"]
    assert {e["source_file"] for e in rows["extra_info"]} == {str(f) for f in files}
    for e, ds, gt in zip(rows["extra_info"], rows["data_source"], rows["ground_truth"], strict=True):
        k = e["source_row"] + (200 if e["source_file"] == str(files[1]) else 0)
        pr = plain["pr"][k]
        assert (ds, gt) == (plain["src"][k], plain["answer"][k])
        if pd.isna(pr):  # missing counts as hard
            assert (e["pass_rate"], e["difficulty"], e["difficulty_bin"]) == (None, 1.0, "hard")
        else:
            assert e["pass_rate"] == pytest.approx(pr) and e["difficulty"] == pytest.approx(1 - pr)
            assert e["difficulty_bin"] == ("easy" if pr >= 0.5 else "hard")
    assert sum(report["splits"][s]["pass_rate_missing"] for s in ("train", "heldout")) == 1
    assert report["order"]["monotone"]


def test_prompt_template_is_applied_to_train_heldout_and_benchmarks(small_guru, tmp_path):
    params = small_params(
        small_guru, prompt={"system": "You are a math tutor.", "instruction": "Answer in \\boxed{}."}
    )
    params["benchmarks"]["amc2023"] = {}
    prepare(params, tmp_path)
    for name in ("train", "heldout", "bench/amc2023"):
        prompt = list(pd.read_parquet(tmp_path / f"{name}.parquet")["prompt"].iloc[0])
        assert prompt[0] == {"role": "system", "content": "You are a math tutor."}
        assert prompt[1]["role"] == "user" and prompt[1]["content"].endswith(" Answer in \\boxed{}.")
        assert "knowledgeable math assistant" not in prompt[1]["content"]


# --------------------------------------------------------------------------------------------------
# malformed input


def broken_copy(src: Path, dst: Path, n_bad: int) -> Path:
    df = pd.read_parquet(src).head(100).copy()
    rm = list(df["reward_model"])
    for i in range(n_bad):
        rm[i] = {"style": "rule", "ground_truth": None}
    df["reward_model"] = rm
    df.loc[99, "prompt"] = np.array([], dtype=object)
    df.to_parquet(dst)
    return dst


def test_malformed_rows_are_dropped_and_counted_by_reason(small_guru, tmp_path):
    path = broken_copy(small_guru, tmp_path / "in.parquet", n_bad=2)
    report = prepare(small_params(path, heldout_size=10, max_bad_fraction=0.05), tmp_path / "out")
    assert report["malformed"]["by_reason"] == {"empty_prompt": 1, "missing_ground_truth": 2}
    assert report["splits"]["train"]["rows"] + 10 == 97 - report["duplicates"]["total_dropped"]
    ex = report["malformed"]["examples"][0]
    assert (ex["file"], ex["row"], ex["field"]) == (str(path), 0, "reward_model.ground_truth")


def test_too_many_malformed_rows_stop_the_run_naming_file_row_and_field(small_guru, tmp_path):
    path = broken_copy(small_guru, tmp_path / "in.parquet", n_bad=10)
    with pytest.raises(UserError) as err:
        prepare(small_params(path, heldout_size=10, max_bad_fraction=0.05), tmp_path / "out")
    msg = str(err.value)
    assert msg.startswith(f"{path}: row 0, field reward_model.ground_truth: missing")
    assert "11 of 100 rows" in msg and "data.max_bad_fraction" in msg
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_a_missing_train_file_is_a_user_error_naming_the_key(tmp_path):
    with pytest.raises(UserError, match=r"data.parquet.train_files\[0\]: file .*nope.parquet does not exist"):
        prepare(small_params(tmp_path / "nope.parquet"), tmp_path / "out")


def test_an_unknown_data_key_is_a_user_error(small_guru, tmp_path):
    with pytest.raises(UserError, match=r"data.heldout_stratify: 'half' is not one of"):
        prepare(small_params(small_guru, heldout_stratify="half"), tmp_path)


# --------------------------------------------------------------------------------------------------
# hf source


def test_hf_source_reads_a_local_dataset_folder(small_guru, tmp_path):
    import datasets

    datasets.Dataset.from_pandas(pd.read_parquet(small_guru)).save_to_disk(str(tmp_path / "ds"))
    params = {
        "data": {"source": "hf", "hf": {"dataset": str(tmp_path / "ds")}, "heldout_size": 40},
        "benchmarks": {"heldout": {"source": "heldout"}},
        "seed": 0,
    }
    report = prepare(params, tmp_path / "out")
    assert report["inputs"] == [{"file": f"hf:{tmp_path / 'ds'}[train]", "rows": 400, "malformed": 0}]
    assert report["splits"]["heldout"]["rows"] == 40 and report["order"]["monotone"]
    ref = prepare(small_params(small_guru), tmp_path / "ref")
    assert report["splits"]["train"] == ref["splits"]["train"]


def test_hf_reading_settings_override_the_parquet_ones(small_guru, tmp_path):
    import datasets

    datasets.Dataset.from_pandas(pd.read_parquet(small_guru)).save_to_disk(str(tmp_path / "ds"))
    own = {"pass_rate_key": "qwen3_30b_pass_rate", "easy_threshold": 0.5}
    params = {
        "data": {"source": "hf", "hf": {"dataset": str(tmp_path / "ds"), **own}, "heldout_size": 40},
        "benchmarks": {"heldout": {"source": "heldout"}},
        "seed": 0,
    }
    report = prepare(params, tmp_path / "out")
    assert report["difficulty"]["signal"] == "1 - pass rate (qwen3_30b_pass_rate)"
    ref_params = small_params(small_guru)
    ref_params["data"]["parquet"].update(own)
    ref = prepare(ref_params, tmp_path / "ref")
    assert report["splits"] == ref["splits"]
    assert report["splits"]["train"] != prepare(small_params(small_guru), tmp_path / "d")["splits"]["train"]


# --------------------------------------------------------------------------------------------------
# synthetic source (a fake generator with the contract of rlscaling.data.synthetic)


def fake_generate(cfg: dict, seed: int) -> types.SimpleNamespace:
    r = np.random.default_rng(seed)

    def rows(levels, n, offset):
        out = []
        for i in range(n):
            lv = int(levels[i % len(levels)])
            a, b = int(r.integers(10**lv)), int(r.integers(10**lv))
            q = f"Problem {offset + i}: what is {a} + {b}?"
            out.append(
                {
                    "data_source": "synthetic_arith",
                    "prompt": [{"role": "user", "content": q}],
                    "ability": "math",
                    "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                    "extra_info": {"level": lv, "difficulty": lv / 10},
                }
            )
        return pd.DataFrame(out)

    problems = rows(cfg["levels"], cfg["n_train"], 0)
    ood = rows(cfg["ood_levels"], cfg["n_ood"], 10**6)
    corpus = pd.DataFrame({"text": [f"{a} + {a} = {2 * a}" for a in range(50)]})
    return types.SimpleNamespace(problems=problems, ood=ood, corpus=corpus)


@pytest.fixture
def fake_synthetic(monkeypatch):
    module = types.ModuleType("rlscaling.data.synthetic")
    module.generate = fake_generate
    monkeypatch.setitem(sys.modules, "rlscaling.data.synthetic", module)


def test_synthetic_source_bins_at_the_median_level_and_writes_the_corpus(fake_synthetic, tmp_path):
    params = {
        "data": {
            "source": "synthetic",
            "heldout_size": 30,
            "synthetic": {"n_train": 300, "levels": [1, 2, 3, 4, 5, 6], "ood_levels": [7, 8], "n_ood": 20},
            "reuse_taus": [1, 2],
        },
        "benchmarks": {
            "heldout": {"source": "heldout"},
            "ood": {"source": "synthetic_ood", "scorer": "strict"},
        },
        "seed": 0,
    }
    report = prepare(params, tmp_path)
    train = pd.read_parquet(tmp_path / "train.parquet")
    for e in train["extra_info"]:
        assert e["difficulty_bin"] == ("easy" if e["level"] <= 3 else "hard")
    assert cur.is_monotone(train)
    assert report["splits"]["train"]["rows"] + 30 == 300 - report["duplicates"]["total_dropped"]
    assert pd.read_parquet(tmp_path / "pretrain_corpus.parquet")["text"].tolist()[0] == "0 + 0 = 0"
    ood = pd.read_parquet(tmp_path / "bench/ood.parquet")
    assert len(ood) == 20 and {e["difficulty_bin"] for e in ood["extra_info"]} == {"hard"}
    assert report["benchmarks"]["ood"]["scorer"] == "strict"
    assert (tmp_path / "train_tau2.parquet").is_file()


def test_synthetic_ood_benchmark_needs_the_synthetic_source(small_guru, tmp_path):
    params = small_params(small_guru)
    params["benchmarks"]["ood"] = {"source": "synthetic_ood"}
    with pytest.raises(UserError, match="benchmarks.ood.source: synthetic_ood needs data.source synthetic"):
        prepare(params, tmp_path)


# --------------------------------------------------------------------------------------------------
# the command line


def test_cli_prepares_from_a_params_json_string(small_guru, tmp_path, capsys):
    rc = cli_main(["data", "--params-json", json.dumps(small_params(small_guru)), "--out-dir", str(tmp_path)])
    assert rc == 0
    assert "monotone True" in capsys.readouterr().out
    assert json.loads((tmp_path / "report.json").read_text())["splits"]["heldout"]["rows"] == 40


def test_cli_reports_bad_input_in_one_line_with_status_2(tmp_path, capsys):
    rc = cli_main(
        [
            "data",
            "--params-json",
            json.dumps(small_params(tmp_path / "missing.parquet")),
            "--out-dir",
            str(tmp_path),
        ]
    )
    assert rc == 2
    assert "rlscaling data: error: data.parquet.train_files[0]" in capsys.readouterr().err


def test_extra_info_keys_of_conflicting_types_across_files_are_a_user_error(small_guru, tmp_path):
    df = pd.read_parquet(small_guru).head(50)
    other = df.copy()
    other["extra_info"] = [{**e, "index": f"id-{e['index']}"} for e in other["extra_info"]]
    other["prompt"] = [[{"role": "user", "content": f"Other problem {i}?"}] for i in range(50)]
    df.to_parquet(tmp_path / "a.parquet")
    other.to_parquet(tmp_path / "b.parquet")
    params = small_params(tmp_path / "a.parquet", heldout_size=10)
    params["data"]["parquet"]["train_files"].append(str(tmp_path / "b.parquet"))
    with pytest.raises(
        UserError, match=r"cannot write .*train.parquet: a field has values of different types"
    ):
        prepare(params, tmp_path / "out")


def numeric_copy(src: Path, dst: Path, n_na: int) -> Path:
    """100 guru problems with integer answers, the first `n_na` of them with ground truth "N/A"."""
    df = pd.read_parquet(src).head(100).copy()
    answers = ["N/A" if i < n_na else str(i) for i in range(100)]
    df["reward_model"] = [{"style": "rule", "ground_truth": a} for a in answers]
    df.to_parquet(dst)
    return dst


def test_rows_the_reward_can_never_score_stop_the_run_naming_the_file_and_count(small_guru, tmp_path):
    path = numeric_copy(small_guru, tmp_path / "in.parquet", n_na=10)
    params = {**small_params(path, heldout_size=10), "rewards": ["strict"]}
    with pytest.raises(UserError) as err:
        prepare(params, tmp_path / "out")
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and "can never score with the 'strict' reward" in msg
    assert "ground truth 'N/A'" in msg and "data.max_unscorable_fraction = 0.0" in msg
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_rows_the_reward_can_never_score_are_counted_in_the_report_below_the_limit(small_guru, tmp_path):
    path = numeric_copy(small_guru, tmp_path / "in.parquet", n_na=10)
    data = {"heldout_size": 10, "max_unscorable_fraction": 0.2}
    params = {**small_params(path, **data), "rewards": ["strict", "boxed"]}
    report = prepare(params, tmp_path / "out")
    train_rows = report["splits"]["train"]["rows"]
    na = sum(gt == "N/A" for gt in pd.read_parquet(tmp_path / "out" / "train.parquet")["ground_truth"])
    assert report["unscorable"]["by_reward"]["strict"]["total"] == na > 0
    assert report["unscorable"]["by_reward"]["strict"]["fraction"] == pytest.approx(na / train_rows, abs=1e-6)
    assert report["unscorable"]["by_reward"]["boxed"]["total"] == 0  # \boxed{N/A} matches "N/A"


@pytest.mark.parametrize(
    ("gt", "method", "ok"),
    [("18", "strict", True), ("1,450,000", "flexible", True), ("N/A", "strict", False),
     ("N/A", "custom_flexible", False), ("\\frac{1}{2}", "strict", False), ("\\frac{1}{2}", "boxed", True),
     ("", "boxed", False), (None, "strict", False)],
)  # fmt: skip
def test_can_score_tells_whether_any_answer_can_match_the_ground_truth(gt, method, ok):
    from rlscaling.rewards import can_score

    assert can_score(gt, method) is ok
