"""Specification of stage 4, `rlscaling evaluate` (rlscaling.evaluate).

A random tiny Qwen3 (hidden 16, 1 layer; rlscaling.models, through tests/helpers.py) with a
character-level tokenizer and a chat template is built once per session; it writes garbage, which is all
these tests need. Scoring is replaced by a fake checker (correct when the ground truth's character
appears in the response) so correct and wrong samples mix; one test checks the real rlscaling.rewards
wiring when that module is present.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import build_tiny_model

import rlscaling.evaluate as ev
from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError
from rlscaling.passk import pass_at_k


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def write_bench(path: Path, n: int = 6, *, ground_truth: bool = True) -> Path:
    rows = []
    for i in range(n):
        row = {
            "data_source": "synthetic",
            "prompt": [{"role": "user", "content": f"Q{i}: what is {i} + {i}?" + " pad" * (i % 3)}],
            "ability": "math",
            "extra_info": {"index": 100 + i, "difficulty": 1 + i % 2, "split": "test"},
        }
        if ground_truth:
            row["reward_model"] = {"ground_truth": "abcdef"[i % 6], "style": "rule"}
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def fake_score(response: str, ground_truth: str, method: str):
    text = response.strip()
    return SimpleNamespace(
        score=float(ground_truth in text),
        correct=ground_truth in text,
        extracted=text[-1:] or None,
        format_ok=bool(text),
        reason="fake",
    )


@pytest.fixture
def fake_scoring(monkeypatch):
    monkeypatch.setattr("rlscaling.evaluate.bench._load_scoring", lambda: (fake_score, lambda s: "fake"))


EVAL_PARAMS = {
    "engine": "hf",
    "n_samples": 4,
    "pass_k": [1, 2, 4],
    "temperature": 1.0,
    "top_p": 1.0,
    "greedy": False,
    "max_response_tokens": 12,
    "batch_size": 5,
    "seed": 0,
    "scorers": {},
}


def run_eval(model: Path, benches: list[Path], out_dir: Path, extra: tuple[str, ...] = (), **params) -> int:
    cfg = EVAL_PARAMS | params
    argv = [
        "evaluate",
        "--model",
        str(model),
        "--bench",
        *map(str, benches),
        "--params-json",
        json.dumps(cfg),
        "--threads",
        "1",
        "--out-dir",
        str(out_dir),
        *extra,
    ]
    return cli_main(argv)


SUMMARY_KEYS = {
    "bench",
    "model",
    "step",
    "engine",
    "n_problems",
    "n_samples",
    "temperature",
    "top_p",
    "greedy",
    "max_response_tokens",
    "seed",
    "scorer",
    "pass_at_1",
    "pass_at_k",
    "pass_at_1_stderr",
    "format_rate",
    "mean_response_tokens",
    "mean_response_chars",
    "truncated_rate",
    "seconds",
    "samples_per_second",
    "per_difficulty",
}
SAMPLE_COLUMNS = {
    "index",
    "data_source",
    "ground_truth",
    "sample",
    "response",
    "response_tokens",
    "finished",
    "extracted",
    "score",
    "reason",
}


def test_writes_summary_and_samples_per_bench(tiny_model, tmp_path, fake_scoring):
    benches = [write_bench(tmp_path / "heldout.parquet"), write_bench(tmp_path / "ood.parquet", n=3)]
    out = tmp_path / "eval" / "xs" / "step_000010"
    assert run_eval(tiny_model, benches, out) == 0
    for name, n_problems in (("heldout", 6), ("ood", 3)):
        summary = json.loads((out / f"{name}.json").read_text())
        assert SUMMARY_KEYS <= set(summary)
        assert summary["bench"] == name and summary["step"] == 10 and summary["engine"] == "hf"
        assert summary["n_problems"] == n_problems and summary["n_samples"] == 4
        assert set(summary["pass_at_k"]) == {"1", "2", "4"}
        assert set(summary["per_difficulty"]) == {"1", "2"}
        samples = pd.read_parquet(out / f"{name}.samples.parquet")
        assert SAMPLE_COLUMNS <= set(samples.columns)
        assert len(samples) == n_problems * 4
        assert samples["response_tokens"].max() <= 12
        assert set(samples["index"]) == {100 + i for i in range(n_problems)}


def test_step_is_null_when_the_out_dir_is_not_a_step_folder(tiny_model, tmp_path, fake_scoring):
    bench = write_bench(tmp_path / "b.parquet", n=2)
    assert run_eval(tiny_model, [bench], tmp_path / "custom", n_samples=1, pass_k=[1]) == 0
    assert json.loads((tmp_path / "custom" / "b.json").read_text())["step"] is None


def test_step_given_on_the_command_line_is_recorded(tiny_model, tmp_path, fake_scoring):
    bench = write_bench(tmp_path / "b.parquet", n=2)
    assert run_eval(tiny_model, [bench], tmp_path / "custom", ("--step", "7"), n_samples=1, pass_k=[1]) == 0
    assert json.loads((tmp_path / "custom" / "b.json").read_text())["step"] == 7


def test_a_step_that_disagrees_with_the_step_folder_is_refused(tiny_model, tmp_path, fake_scoring, capsys):
    bench = write_bench(tmp_path / "b.parquet", n=2)
    out = tmp_path / "step_000010"
    assert run_eval(tiny_model, [bench], out, ("--step", "12"), n_samples=1, pass_k=[1]) == 2
    assert "--step 12 disagrees with --out-dir" in capsys.readouterr().err
    assert not out.exists()


def test_pass_at_k_and_rates_agree_with_the_samples(tiny_model, tmp_path, fake_scoring):
    bench = write_bench(tmp_path / "heldout.parquet", n=6)
    assert run_eval(tiny_model, [bench], tmp_path / "step_000000", max_response_tokens=24) == 0
    summary = json.loads((tmp_path / "step_000000" / "heldout.json").read_text())
    samples = pd.read_parquet(tmp_path / "step_000000" / "heldout.samples.parquet")
    c = samples.groupby("index")["score"].sum().to_numpy().astype(int)
    assert 0 < c.sum() < len(samples), "the fake checker should mix correct and wrong samples"
    for k in (1, 2, 4):
        assert summary["pass_at_k"][str(k)] == pytest.approx(pass_at_k(np.full(len(c), 4), c, k).mean())
    per_problem = c / 4
    assert summary["pass_at_1"] == pytest.approx(per_problem.mean())
    assert summary["pass_at_1_stderr"] == pytest.approx(per_problem.std(ddof=1) / np.sqrt(len(c)))
    assert summary["truncated_rate"] == pytest.approx(1 - samples["finished"].mean())
    assert summary["format_rate"] == pytest.approx(samples["extracted"].notna().mean())
    assert summary["mean_response_tokens"] == pytest.approx(samples["response_tokens"].mean())


def test_greedy_is_deterministic_and_forces_one_sample(tiny_model, tmp_path, fake_scoring):
    bench = write_bench(tmp_path / "b.parquet", n=4)
    for d in ("a", "b"):
        assert run_eval(tiny_model, [bench], tmp_path / d, greedy=True, seed=int(d == "b")) == 0
    summary = json.loads((tmp_path / "a" / "b.json").read_text())
    assert summary["greedy"] is True and summary["n_samples"] == 1 and summary["n_samples_requested"] == 4
    assert any("forced to 1" in note for note in summary["notes"])
    assert set(summary["pass_at_k"].values()) == {summary["pass_at_1"]}
    a = pd.read_parquet(tmp_path / "a" / "b.samples.parquet")
    b = pd.read_parquet(tmp_path / "b" / "b.samples.parquet")
    assert list(a["response"]) == list(b["response"])


def test_greedy_output_does_not_depend_on_batching_and_padding(tiny_model, tmp_path, fake_scoring):
    bench = write_bench(tmp_path / "b.parquet", n=5)  # prompts of three different lengths
    assert run_eval(tiny_model, [bench], tmp_path / "one", greedy=True, batch_size=1) == 0
    assert run_eval(tiny_model, [bench], tmp_path / "all", greedy=True, batch_size=5) == 0
    one = pd.read_parquet(tmp_path / "one" / "b.samples.parquet")
    batched = pd.read_parquet(tmp_path / "all" / "b.samples.parquet")
    assert list(one["response"]) == list(batched["response"])


def test_sampling_is_reproducible_with_the_same_seed(tiny_model, tmp_path, fake_scoring):
    bench = write_bench(tmp_path / "b.parquet", n=3)
    runs = {}
    for d, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert run_eval(tiny_model, [bench], tmp_path / d, seed=seed) == 0
        runs[d] = list(pd.read_parquet(tmp_path / d / "b.samples.parquet")["response"])
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_missing_ground_truth_is_a_user_error_naming_file_and_field(tmp_path):
    bad = write_bench(tmp_path / "bad.parquet", ground_truth=False)
    with pytest.raises(UserError, match=r"bad\.parquet.*ground_truth"):
        ev.load_bench(bad)


def test_cli_reports_a_malformed_benchmark_without_loading_the_model(tmp_path, capsys):
    bad = write_bench(tmp_path / "bad.parquet", ground_truth=False)
    assert run_eval(tmp_path / "no-model", [bad], tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "ground_truth" in err
    assert not (tmp_path / "out").exists()


def test_flat_ground_truth_column_is_accepted(tmp_path):
    df = pd.DataFrame(
        {"data_source": ["x"], "prompt": [[{"role": "user", "content": "hi"}]], "ground_truth": ["7"]}
    )
    df.to_parquet(tmp_path / "flat.parquet")
    bench = ev.load_bench(tmp_path / "flat.parquet")
    assert bench.name == "flat" and bench.problems[0].ground_truth == "7" and bench.problems[0].index == 0


def test_pass_k_larger_than_n_samples_is_refused():
    with pytest.raises(UserError, match="pass_k"):
        ev.parse_params(json.dumps({"n_samples": 2, "pass_k": [1, 4]}))


def test_batches_group_prompts_of_similar_length_and_cover_every_sample_once():
    batches = ev.batch_plan([5, 1, 3, 9], n=2, batch_size=3)
    jobs = [job for b in batches for job in b]
    assert sorted(jobs) == [(i, j) for i in range(4) for j in range(2)]
    assert [i for i, _ in jobs] == [1, 1, 2, 2, 0, 0, 3, 3]
    assert [len(b) for b in batches] == [3, 3, 2]


def test_sampling_config_is_plain_temperature_and_top_p():
    params = ev.parse_params(json.dumps({"n_samples": 4, "temperature": 0.7, "top_p": 0.9}))
    kw = ev.hf_generation_kwargs(params, pad_token_id=0, eos_ids=[2])
    assert kw["do_sample"] and kw["temperature"] == 0.7 and kw["top_p"] == 0.9 and kw["top_k"] == 0
    greedy = ev.hf_generation_kwargs(ev.parse_params('{"greedy": true}'), pad_token_id=0, eos_ids=[2])
    assert greedy["do_sample"] is False and "temperature" not in greedy


def test_both_engines_take_eos_pad_and_prompt_format_from_one_tokenizer_setup(tiny_model):
    from rlscaling.checkpoint import load_tokenizer
    from rlscaling.evaluate import vllm as V

    model = str(tiny_model)
    hf = ev.HFEngine(model, ev.parse_params(json.dumps({"n_samples": 1, "pass_k": [1]})))
    vllm_params = ev.parse_params(json.dumps({"engine": "vllm", "n_samples": 1, "pass_k": [1]}))
    vllm = V.VLLMEngine(model, vllm_params, n_gpus=1, llm_factory=dict, sampling_factory=dict, env={})
    tokenizer = load_tokenizer(model)
    setup = ev.tokenizer_setup(model, tokenizer)
    assert hf.eos_ids == vllm.eos_ids == setup.eos_ids == [tokenizer.eos_token_id]
    assert hf.pad_id == setup.pad_id == tokenizer.pad_token_id
    assert hf.prompt_format == vllm.prompt_format == setup.prompt_format == "chat_template"
    more = ev.tokenizer_setup(model, tokenizer, SimpleNamespace(eos_token_id=[5, tokenizer.eos_token_id]))
    assert more.eos_ids == [5, tokenizer.eos_token_id]  # the generation config's EOS ids first


def test_a_tokenizer_without_eos_is_a_user_error_naming_the_model():
    tokenizer = SimpleNamespace(eos_token_id=None, pad_token_id=0, chat_template=None)
    with pytest.raises(UserError, match="--model m: the tokenizer defines no eos_token"):
        ev.tokenizer_setup("m", tokenizer, SimpleNamespace(eos_token_id=None))


def test_vllm_engine_without_vllm_installed_is_a_user_error(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else object())
    with pytest.raises(UserError, match="vllm"):
        ev.make_engine(ev.parse_params('{"engine": "vllm"}'), "m", 1)


def test_scorer_from_params_overrides_the_data_source_default(tmp_path):
    bench = ev.load_bench(write_bench(tmp_path / "b.parquet", n=2))
    assert ev.resolve_scorers(bench, "boxed", lambda s: "strict") == ["boxed", "boxed"]
    assert ev.resolve_scorers(bench, None, lambda s: "strict") == ["strict", "strict"]


def test_scoring_uses_the_shared_rewards_module(tmp_path):
    rewards = pytest.importorskip("rlscaling.rewards")
    score_fn, for_source = ev.bench._load_scoring()
    assert score_fn is rewards.score and for_source is rewards.scorer_for_source
    bench = ev.load_bench(write_bench(tmp_path / "b.parquet", n=1))
    gens = [[ev.Generation(text="The answer is #### a", n_tokens=5, finished=True)]]
    samples = ev.score_samples(bench, gens, ["strict"], score_fn)
    assert len(samples) == 1 and samples["reason"].iloc[0] != ""


def test_a_correct_sample_has_an_empty_reason(tmp_path):
    score_fn, _ = ev.bench._load_scoring()
    bench = ev.load_bench(write_bench(tmp_path / "b.parquet", n=1))
    truth = bench.problems[0].ground_truth
    gens = [[ev.Generation(text=f"So the answer is \\boxed{{{truth}}}.", n_tokens=5, finished=True)]]
    samples = ev.score_samples(bench, gens, ["boxed"], score_fn)
    assert bool(samples["correct"].iloc[0]) and samples["reason"].iloc[0] == ""


@pytest.mark.parametrize("rel", ["benchmarks/gsm8k.parquet", "benchmarks/math__math_500.parquet",
                                 "guru/heldout_test_500.parquet"])  # fmt: skip
def test_reads_the_reference_benchmarks(shared_data, rel):
    from conftest import need_file

    bench = ev.load_bench(need_file(shared_data, rel))
    assert len(bench.problems) >= 500
    assert all(p.ground_truth and p.messages[-1]["content"] for p in bench.problems)
    assert len({p.index for p in bench.problems}) == len(bench.problems)


def test_a_source_without_a_scorer_is_a_user_error_naming_the_bench(tmp_path):
    bench = ev.load_bench(write_bench(tmp_path / "b.parquet", n=1))
    with pytest.raises(UserError, match=r"b\.parquet.*'synthetic'.*benchmarks\.b\.scorer"):
        ev.resolve_scorers(bench, None, lambda source: None)


def test_truncated_weights_in_a_folder_without_a_manifest_are_named_not_a_traceback(tmp_path, capsys):
    model = build_tiny_model(tmp_path / "outside-checkpoint")
    (model / "rlscaling_manifest.json").unlink(missing_ok=True)  # a checkpoint from elsewhere: unchecked
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    bench = write_bench(tmp_path / "heldout.parquet")
    assert run_eval(model, [bench], tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"--model {model}: cannot load a causal LM and tokenizer (SafetensorError" in err
    assert "Traceback" not in err
