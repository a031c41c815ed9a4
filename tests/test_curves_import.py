"""`rlscaling curves import`: outside logs become a curves table that `rlscaling fit` reads."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from conftest import need_file

from rlscaling.curves_cli import add_import_arguments, run_import
from rlscaling.curves_import import (
    import_paper,
    import_seed000,
    import_verl_jsonl,
    import_wandb_csv,
    parse_N,
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


# --------------------------------------------------------------------------------------------------
# nothing is changed silently: blank, non-numeric and mixed-scale values


COL = "qwen-1.5b - val/acc"


def write_wandb(path, step, scores):
    pd.DataFrame({"Step": step, COL: scores}).to_csv(path, index=False)
    return path


def test_a_blank_step_with_a_score_is_refused_naming_the_line(tmp_path):
    p = write_wandb(tmp_path / "w.csv", [0, None, 20], [0.1, 0.2, 0.3])
    with pytest.raises(UserError, match=r"w.csv, line 3: column 'Step' is a blank cell; expected a whole"):
        import_wandb_csv(p)


def test_a_non_numeric_step_is_refused_naming_the_line_and_value(tmp_path):
    p = write_wandb(tmp_path / "w.csv", ["0", "twenty", "40"], [0.1, 0.2, 0.3])
    with pytest.raises(UserError, match=r"w.csv, line 3: column 'Step' is 'twenty'"):
        import_wandb_csv(p)


def test_a_non_numeric_score_is_refused_naming_the_cell(tmp_path):
    p = write_wandb(tmp_path / "w.csv", [0, 10, 20], ["0.1", "lots", "0.3"])
    with pytest.raises(UserError, match=r"w.csv, line 3, column 'qwen-1.5b - val/acc': 'lots' is not a"):
        import_wandb_csv(p)


def test_empty_score_cells_are_skipped_and_counted_in_the_notes(tmp_path):
    p = write_wandb(tmp_path / "w.csv", [0, 10, 20], [0.1, None, "n/a"])
    df = import_wandb_csv(p)
    assert df["step"].tolist() == [0] and df["pass_at_1"].tolist() == [0.1]
    assert df.attrs["notes"] == [f"{p}: column {COL!r}: 2 empty cell(s) skipped (no value at that step)"]


def test_one_score_above_1_in_a_fraction_column_is_refused_not_divided_by_100(tmp_path):
    p = write_wandb(tmp_path / "w.csv", [0, 10, 20, 30], [0.40, 0.45, 1.7, 0.5])
    with pytest.raises(UserError, match=r"w.csv, line 4, column '.*': score 1.7 is above 1 .*mixed scale"):
        import_wandb_csv(p)


def test_a_declared_scale_is_used_as_declared(tmp_path):
    p = write_wandb(tmp_path / "w.csv", [0, 10], [0.5, 40.0])
    assert import_wandb_csv(p, scale="percent")["pass_at_1"].tolist() == pytest.approx([0.005, 0.4])
    with pytest.raises(UserError, match="score 40 is above 1; expected a fraction"):
        import_wandb_csv(p, scale="fraction")


def test_a_percent_column_is_named_in_the_notes(tmp_path):
    p = write_wandb(tmp_path / "w.csv", [0, 10], [0.0, 40.0])
    df = import_wandb_csv(p)
    assert df["pass_at_1"].tolist() == [0.0, 0.4]
    assert df.attrs["notes"] == [
        f"{p}: column {COL!r} read as percent (every value is 0 or above 1): divided by 100"
    ]


def test_the_notes_are_printed_and_kept_in_the_parquet_file(tmp_path, capsys):
    p = write_wandb(tmp_path / "w.csv", [0, 10, 20], [0.1, None, 0.3])
    out = tmp_path / "c.parquet"
    assert run_import(parse([str(p), "-o", str(out), "--format", "wandb-csv"])) == 0
    assert "curves import: note: " in capsys.readouterr().err
    assert pd.read_parquet(out).attrs["notes"] == [
        f"{p}: column {COL!r}: 1 empty cell(s) skipped (no value at that step)"
    ]


@pytest.mark.parametrize("fmt", ["wandb-csv", "verl-jsonl", "paper"])
def test_a_binary_file_is_refused_naming_the_file(tmp_path, fmt):
    p = tmp_path / "qwen-1.5b.bin"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(UserError, match=r"qwen-1.5b.bin: a binary file; expected"):
        run_import(parse([str(p), "-o", str(tmp_path / "c.parquet"), "--format", fmt]))


def test_a_file_that_is_not_utf8_text_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "w.csv"
    p.write_bytes("Step,qwen-1.5b\n0,0.5\n1,\xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"w.csv: not UTF-8 text"):
        import_wandb_csv(p)


def write_verl(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_verl_jsonl_refuses_a_step_that_is_not_a_whole_number_naming_the_line(tmp_path):
    p = write_verl(tmp_path / "qwen-7b.jsonl", [
        {"step": 0, "data": {"val/test_score/math": 0.2}},
        {"step": "twenty", "data": {"val/test_score/math": 0.3}},
    ])  # fmt: skip
    with pytest.raises(UserError, match=r"qwen-7b.jsonl, line 2: step 'twenty' is not a number"):
        import_verl_jsonl(p, N=None)


def test_verl_jsonl_refuses_a_text_score_naming_the_line_and_key(tmp_path):
    p = write_verl(tmp_path / "qwen-7b.jsonl", [{"step": 3, "data": {"val/test_score/math": "n/a"}}])
    with pytest.raises(UserError, match=r"qwen-7b.jsonl, line 1: 'val/test_score/math' is 'n/a'; expected a"):
        import_verl_jsonl(p, N=None)


def test_verl_jsonl_skips_null_scores_with_a_count_in_the_notes(tmp_path):
    p = write_verl(tmp_path / "qwen-7b.jsonl", [
        {"step": 0, "data": {"val/test_score/math": 0.2}},
        {"step": 5, "data": {"val/test_score/math": None}},
    ])  # fmt: skip
    df = import_verl_jsonl(p, N=None)
    assert df["step"].tolist() == [0]
    assert df.attrs["notes"] == [f"{p}: 1 null / NaN validation score(s) skipped"]


def test_a_paper_csv_with_a_blank_step_is_refused_naming_the_line(tmp_path):
    p = tmp_path / "holdout.csv"
    p.write_text("family,source,N,step,ErrRate\nqwen2.5,base,5e8,0,0.9\nqwen2.5,base,5e8,,0.8\n")
    with pytest.raises(UserError, match=r"holdout.csv, line 3: column 'step' is a blank cell"):
        import_paper(p)
