"""`rlscaling curves import`: outside logs become a curves table that `rlscaling fit` reads."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from conftest import need_file

from rlscaling.curves_import import (
    add_import_arguments,
    import_paper,
    import_seed000,
    import_verl_jsonl,
    import_wandb_csv,
    parse_N,
    run_import,
)
from rlscaling.errors import UserError
from rlscaling.fit.data import to_curveset

STUDY_COLUMNS = {"study", "run", "size", "family", "N", "step", "D", "C", "bench", "pass_at_1", "L"}


def parse(argv):
    p = argparse.ArgumentParser()
    add_import_arguments(p)
    return p.parse_args(argv)


def test_paper_holdout_csv_maps_to_study_column_names(shared_data):
    src = need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv")
    df = import_paper(src)
    raw = pd.read_csv(src)
    assert STUDY_COLUMNS <= set(df.columns)
    assert len(df) == len(raw)
    assert np.allclose(df["C"], raw["C_raw"]) and np.allclose(df["D"], raw["E"])
    assert np.allclose(df["L"], raw["ErrRate"]) and np.allclose(df["pass_at_1"], 1 - raw["ErrRate"])
    assert sorted(df.loc[df.source == "base", "size"].unique(), key=parse_N) == [
        "0.5B",
        "1.5B",
        "3B",
        "7B",
        "14B",
        "32B",
        "72B",
    ]


def test_imported_paper_curves_group_one_curve_per_size_and_source(shared_data):
    df = import_paper(need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv"))
    cs = to_curveset(df[df.source == "base"], "C")
    assert cs.n_curves == 7 and cs.labels[0] == "0.5B" and cs.n_points == 732


def test_paper_reuse_csv_gets_reuse_tau_and_D_from_steps(shared_data):
    df = import_paper(need_file(shared_data, "paper/data_reuse_tau_7B.csv"))
    assert sorted(df["reuse_tau"].unique()) == [1, 2, 5, 20, 25, 50, 100]
    assert np.allclose(df["D"], 512 * df["step"])
    assert df["C"].isna().all()


def test_paper_rollout_csv_names_the_group_size_as_our_curves_do(shared_data):
    """One name for the GRPO group size: the paper's rollout_n column becomes rollouts_per_prompt (the
    config key and the study's curves column), in the column and in the run names."""
    df = import_paper(need_file(shared_data, "paper/grpo_rollout_n_7B.csv"))
    assert "rollout_n" not in df.columns
    assert sorted(df["rollouts_per_prompt"].unique()) == sorted(
        pd.read_csv(shared_data / "paper/grpo_rollout_n_7B.csv")["rollout_n"].unique()
    )
    assert df["run"].str.contains("__rollouts_per_prompt-").all()


def test_imported_C_is_the_compute_module_s_rl_flops(tmp_path):
    """C of a wide CSV with --tokens-per-step is rlscaling.compute's 6 N T, bit for bit."""
    from rlscaling.compute import rl_flops, rl_step_flops

    p = tmp_path / "w.csv"
    pd.DataFrame({"Step": [0, 10, 20], "qwen-1.5b - val/acc": [0.1, 0.2, 0.3]}).to_csv(p, index=False)
    df = import_wandb_csv(p, prompts_per_step=4, tokens_per_step=1000.0)
    assert df["C"].tolist() == [rl_step_flops(1.5e9, 0.0, t) for t in df["tokens"]]
    assert df["C"].tolist() == rl_flops(df["N"], df["tokens"]).tolist()


def test_paper_folder_imports_every_experiment(shared_data, tmp_path):
    need_file(shared_data, "paper/holdout_per_step_qwen_llama.csv")
    out = tmp_path / "paper.parquet"
    assert run_import(parse([str(shared_data / "paper"), "-o", str(out), "--format", "paper"])) == 0
    df = pd.read_parquet(out)
    assert {"holdout", "data_reuse", "rollout_n"} <= set(df["experiment"])


def test_seed000_pairs_each_rl_checkpoint_with_its_base_model_at_step_0(shared_data):
    need_file(shared_data, "seed000/0.6b.json")
    df = import_seed000(shared_data / "seed000")
    g = df[(df.bench == "gsm8k") & (df.run == "14B__reward-custom_flexible")].sort_values("step")
    assert g["step"].tolist() == [0, 56]
    doc = json.loads((shared_data / "seed000/14b.json").read_text())
    base = next(
        m for m in doc["models"] if m.get("metadata", {}).get("evaluation_method") == "custom_flexible"
    )
    assert g["pass_at_1"].iloc[0] == pytest.approx(
        base["benchmarks"]["gsm8k"]["by_shot"]["0"]["accuracy"] / 100
    )
    val = df[df.bench == "gsm8k_val"]
    assert set(val["size"]) == {"0.6B", "1.7B", "4B", "8B", "14B"}
    assert (val.loc[val.step == 0, "C"] == 0).all()


def test_wandb_export_reads_runs_and_ignores_min_max_columns(tmp_path):
    p = tmp_path / "w.csv"
    pd.DataFrame(
        {
            "Step": [0, 10, 20],
            "qwen-1.5b - val/acc": [10.0, 20.0, 30.0],
            "qwen-1.5b - val/acc__MIN": [9, 19, 29],
            "qwen-7b - val/acc": [0.3, 0.4, None],
        }
    ).to_csv(p, index=False)
    df = import_wandb_csv(p, prompts_per_step=64)
    assert sorted(df["run"].unique()) == ["qwen-1.5b", "qwen-7b"]
    small = df[df.run == "qwen-1.5b"]
    assert small["pass_at_1"].tolist() == pytest.approx([0.1, 0.2, 0.3])  # percent read as fraction
    assert small["N"].iloc[0] == 1.5e9 and small["D"].tolist() == [0, 640, 1280]
    assert len(df[df.run == "qwen-7b"]) == 2


def test_verl_file_logger_jsonl_gives_one_curve_per_validation_source(tmp_path):
    p = tmp_path / "qwen-7b.jsonl"
    lines = [
        {"step": 0, "data": {"val-core/openai/gsm8k/reward/mean@1": 0.5, "val-core/math/reward/mean@1": 0.2}},
        {"step": 1, "data": {"perf/total_num_tokens": 1000.0, "actor/loss": 0.1}},
        {
            "step": 2,
            "data": {
                "perf/total_num_tokens": 1000.0,
                "val-core/openai/gsm8k/reward/mean@1": 0.6,
                "val/test_score/math": 0.3,
            },
        },
    ]
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    df = import_verl_jsonl(p, N=None, prompts_per_step=256)
    assert set(df["bench"]) == {"openai/gsm8k", "math"}
    g = df[df.bench == "openai/gsm8k"].sort_values("step")
    assert g["L"].tolist() == pytest.approx([0.5, 0.4])
    assert g["C"].tolist() == pytest.approx([0.0, 6 * 7e9 * 2000])
    assert g["D"].tolist() == [0, 512]


def test_unknown_inputs_are_refused_with_the_file_named(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="x.csv: missing column"):
        import_paper(bad)
    with pytest.raises(UserError, match="no step column"):
        import_wandb_csv(bad)
    with pytest.raises(UserError, match="does not exist"):
        import_paper(tmp_path / "nothing.csv")
    j = tmp_path / "run.jsonl"
    j.write_text('{"step": 1, "data": {}}\n')
    with pytest.raises(UserError, match="pass --N"):
        import_verl_jsonl(j, N=None)
