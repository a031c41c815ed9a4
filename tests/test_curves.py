"""Specification of stage 5, `rlscaling curves metrics | build` (rlscaling.curves)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import rlscaling.curves as curves
import rlscaling.curves_table as curves_table
from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError

PROMPTS, PROMPT_TOKENS, RESPONSE_TOKENS = 4, 100, 300
SIZES = {"xs": 1000.0, "s": 4000.0}


def metrics_record(step: int, n: float) -> dict:
    tokens = PROMPT_TOKENS + RESPONSE_TOKENS
    return {
        "step": step,
        "prompts": PROMPTS,
        "rollouts": 4 * PROMPTS,
        "prompt_tokens": PROMPT_TOKENS,
        "response_tokens": RESPONSE_TOKENS,
        "reward_mean": 0.1 * step,
        "flops": 6 * n * tokens,
        "C": 6 * n * tokens * step,
        "D": PROMPTS * step,
        "C_full": 8 * n * tokens * step,
    }


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_segments(run_dir: Path, n: float, total: int = 4, seg: int = 2) -> list[Path]:
    dirs = []
    for end in range(seg, total + 1, seg):
        d = run_dir / f"step_{end:06d}"
        write_jsonl(d / "metrics.jsonl", [metrics_record(s, n) for s in range(end - seg + 1, end + 1)])
        dirs.append(d)
    return dirs


def make_study(
    tmp_path: Path, runs: dict | None = None, steps=(0, 2, 4), family: str = "tiny"
) -> tuple[Path, dict]:
    """A study folder with evaluations, run metrics and pre-training records, and its build params."""
    s = tmp_path / "results" / "t"
    runs = runs or {name: {"size": name, "variant": {}} for name in SIZES}
    for run, spec in runs.items():
        n = SIZES[spec["size"]]
        write_jsonl(
            s / "runs" / run / "metrics.jsonl", [metrics_record(k, n) for k in range(1, max(steps) + 1)]
        )
        for step in steps:
            for bench in ("heldout", "ood"):
                p1 = min(0.9, 0.1 + 0.01 * step + n / 1e5)
                summary = {
                    "bench": bench,
                    "step": step,
                    "seed": 0,
                    "pass_at_1": p1,
                    "pass_at_k": {"1": p1, "2": p1 + 0.05, "4": p1 + 0.1},
                    "format_rate": 0.8,
                    "mean_response_tokens": 20.0,
                }
                out = s / "eval" / run / f"step_{step:06d}" / f"{bench}.json"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(summary))
    sizes_cfg = {}
    for size, n in SIZES.items():
        if family == "tiny":
            (s / "models" / size).mkdir(parents=True, exist_ok=True)
            rec = {"N": n, "N_nonembed": n - 200, "tokens": 1e6, "flops": 6 * n * 1e6}
            (s / "models" / size / "pretrain.json").write_text(json.dumps(rec))
            sizes_cfg[size] = {"hidden_size": 16}
        else:
            sizes_cfg[size] = {"path": f"org/{size}", "n_params": n, "pretrain_tokens": 1e9}
    sweep = {}
    for spec in runs.values():
        for k, v in spec["variant"].items():
            sweep.setdefault(k, []).append(v)
    params = {
        "study": "t",
        "models": {"family": family, "sizes": sizes_cfg},
        "sweep": sweep,
        "runs": runs,
        "eval_steps": list(steps),
        "benchmarks": ["heldout", "ood"],
    }
    return s, params


# -- metrics ----------------------------------------------------------------------------------------


def test_metrics_concatenates_segments_in_step_order(tmp_path):
    dirs = write_segments(tmp_path / "runs" / "xs", 1000.0, total=6)
    out = tmp_path / "metrics.jsonl"
    assert cli_main(["curves", "metrics", *map(str, reversed(dirs)), "-o", str(out)]) == 0
    steps = [json.loads(line)["step"] for line in out.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_metrics_gap_is_an_error_naming_the_file(tmp_path):
    dirs = write_segments(tmp_path / "r", 1000.0, total=6)
    write_jsonl(dirs[1] / "metrics.jsonl", [metrics_record(4, 1000.0)])  # step 3 missing
    with pytest.raises(UserError, match=r"step_000004/metrics\.jsonl.*gap"):
        curves.concat_metrics(dirs)


def test_metrics_repeated_step_is_an_error_naming_the_file(tmp_path):
    dirs = write_segments(tmp_path / "r", 1000.0, total=4)
    write_jsonl(dirs[1] / "metrics.jsonl", [metrics_record(2, 1000.0), metrics_record(3, 1000.0)])
    with pytest.raises(UserError, match=r"step_000004/metrics\.jsonl.*repeats"):
        curves.concat_metrics(dirs)


def test_metrics_missing_segment_file_is_an_error_naming_it(tmp_path):
    dirs = write_segments(tmp_path / "r", 1000.0, total=4)
    (dirs[0] / "metrics.jsonl").unlink()
    with pytest.raises(UserError, match=r"step_000002/metrics\.jsonl does not exist"):
        curves.concat_metrics(dirs)


# -- build ------------------------------------------------------------------------------------------


def test_build_has_one_row_per_run_step_and_bench(tmp_path):
    s, params = make_study(tmp_path)
    df = curves.build_curves(s, params)
    assert len(df) == 2 * 3 * 2
    assert set(df["run"]) == {"xs", "s"} and sorted(set(df["step"])) == [0, 2, 4]
    for col in [
        "study",
        "run",
        "size",
        "family",
        "N",
        "N_nonembed",
        "seed",
        "step",
        "D",
        "C",
        "C_full",
        "C_pretrain",
        "tokens",
        "bench",
        "pass_at_1",
        "pass_at_2",
        "pass_at_4",
        "format_rate",
        "mean_response_tokens",
        "L",
    ]:
        assert col in df.columns, col
    assert list(df.columns).index("pass_at_2") == list(df.columns).index("pass_at_1") + 1


def test_build_joins_cumulative_data_and_compute_at_each_step(tmp_path):
    s, params = make_study(tmp_path)
    df = curves.build_curves(s, params).set_index(["run", "step", "bench"])
    step0 = df.xs(0, level="step")
    assert (step0[["D", "C", "C_full", "tokens"]] == 0).all().all()
    row = df.loc[("s", 4, "heldout")]
    n = SIZES["s"]
    assert row["D"] == 4 * PROMPTS
    assert row["C"] == pytest.approx(6 * n * (PROMPT_TOKENS + RESPONSE_TOKENS) * 4)
    assert row["tokens"] == 4 * (PROMPT_TOKENS + RESPONSE_TOKENS)
    assert row["N"] == n and row["N_nonembed"] == n - 200 and row["C_pretrain"] == 6 * n * 1e6
    assert row["L"] == pytest.approx(1 - row["pass_at_1"])
    assert row["family"] == "tiny" and row["study"] == "t"


def test_build_sums_per_step_flops_when_the_trainer_records_no_cumulative_values(tmp_path):
    s, params = make_study(tmp_path)
    path = s / "runs" / "xs" / "metrics.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    write_jsonl(path, [{k: v for k, v in r.items() if k not in ("C", "D", "C_full")} for r in records])
    df = curves.build_curves(s, params).set_index(["run", "step", "bench"])
    row = df.loc[("xs", 4, "ood")]
    assert row["C"] == pytest.approx(6 * SIZES["xs"] * (PROMPT_TOKENS + RESPONSE_TOKENS) * 4)
    assert row["D"] == 4 * PROMPTS
    assert pd.isna(row["C_full"])


def test_build_has_a_column_per_sweep_key(tmp_path):
    runs = {f"xs__reward-{r}": {"size": "xs", "variant": {"reward": r}} for r in ("strict", "flexible")}
    s, params = make_study(tmp_path, runs=runs)
    df = curves.build_curves(s, params)
    assert set(df["reward"]) == {"strict", "flexible"}
    assert (df.loc[df.run == "xs__reward-strict", "reward"] == "strict").all()


def test_build_for_hub_models_takes_n_and_pretraining_from_the_config(tmp_path):
    s, params = make_study(tmp_path, family="hub")
    df = curves.build_curves(s, params)
    row = df[(df.run == "s") & (df.step == 2)].iloc[0]
    assert row["family"] == "hub" and row["N"] == SIZES["s"]
    assert row["C_pretrain"] == pytest.approx(6 * SIZES["s"] * 1e9)
    assert pd.isna(row["N_nonembed"])


def test_build_names_every_missing_input(tmp_path):
    s, params = make_study(tmp_path)
    (s / "eval" / "xs" / "step_000002" / "ood.json").unlink()
    (s / "models" / "s" / "pretrain.json").unlink()
    with pytest.raises(UserError) as err:
        curves.build_curves(s, params)
    assert "eval/xs/step_000002/ood.json" in str(err.value)
    assert "models/s/pretrain.json" in str(err.value)


def test_build_refuses_an_evaluated_step_the_metrics_do_not_reach(tmp_path):
    s, params = make_study(tmp_path)
    write_jsonl(s / "runs" / "xs" / "metrics.jsonl", [metrics_record(k, 1000.0) for k in (1, 2)])
    with pytest.raises(UserError, match=r"runs/xs/metrics\.jsonl.*step 4"):
        curves.build_curves(s, params)


def test_build_cli_writes_the_parquet(tmp_path):
    s, params = make_study(tmp_path)
    out = s / "curves.parquet"
    argv = ["curves", "build", "--study-dir", str(s), "--params-json", json.dumps(params), "-o", str(out)]
    assert cli_main(argv) == 0
    assert len(pd.read_parquet(out)) == 12


def test_rlscaling_curves_import_writes_a_table_from_outside_logs(tmp_path):
    src = tmp_path / "w.csv"
    pd.DataFrame({"Step": [0, 10], "qwen-1.5b - val/acc": [0.1, 0.3]}).to_csv(src, index=False)
    out = tmp_path / "c.parquet"
    assert cli_main(["curves", "import", str(src), "-o", str(out), "--format", "wandb-csv"]) == 0
    assert pd.read_parquet(out)["pass_at_1"].tolist() == pytest.approx([0.1, 0.3])


def test_seed_is_the_training_seed_from_the_run_metrics(tmp_path):
    s, params = make_study(tmp_path)
    path = s / "runs" / "xs" / "metrics.jsonl"
    write_jsonl(path, [{**json.loads(x), "seed": 5} for x in path.read_text().splitlines()])
    df = curves.build_curves(s, params)
    assert set(df.loc[df.run == "xs", "seed"]) == {5} and set(df.loc[df.run == "s", "seed"]) == {0}


# -- numbers are validated where they enter ---------------------------------------------------------


def rewrite_eval(s: Path, **fields) -> Path:
    path = s / "eval" / "xs" / "step_000002" / "heldout.json"
    ev = json.loads(path.read_text())
    ev.update(fields)
    path.write_text(json.dumps(ev))  # json.dumps writes NaN / Infinity literals, as a sloppy writer would
    return path


@pytest.mark.parametrize("value", [1.7, -0.3, float("nan"), float("inf"), "0.5", None, True])
def test_build_refuses_a_pass_at_1_that_is_not_a_rate_naming_file_and_field(tmp_path, value):
    s, params = make_study(tmp_path)
    path = rewrite_eval(s, pass_at_1=value)
    with pytest.raises(UserError, match=rf"{path}: field `pass_at_1` is .*expected a number in \[0, 1\]"):
        curves.build_curves(s, params)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pass_at_k": {"1": 0.2, "2": 1.5}}, "pass_at_k.2"),
        ({"pass_at_k": {"1": 0.2, "4": float("nan")}}, "pass_at_k.4"),
        ({"format_rate": -0.1}, "format_rate"),
        ({"mean_response_tokens": float("inf")}, "mean_response_tokens"),
    ],
)
def test_build_refuses_other_out_of_range_evaluation_numbers_naming_the_field(tmp_path, fields, field):
    s, params = make_study(tmp_path)
    path = rewrite_eval(s, **fields)
    with pytest.raises(UserError, match=rf"{path}: field `{field}`"):
        curves.build_curves(s, params)


def test_build_refuses_a_non_finite_compute_record_naming_file_and_field(tmp_path):
    s, params = make_study(tmp_path)
    records = [metrics_record(k, 1000.0) for k in range(1, 5)]
    records[2]["C"] = float("nan")
    write_jsonl(s / "runs" / "xs" / "metrics.jsonl", records)
    with pytest.raises(UserError, match=r"runs/xs/metrics\.jsonl, record 3: field `C` is nan"):
        curves.build_curves(s, params)


@pytest.mark.parametrize(("column", "value"), [("pass_at_1", 1.7), ("L", float("nan")), ("pass_at_4", -0.2)])
def test_check_table_refuses_pass_at_k_or_loss_outside_0_1_naming_column_and_row(column, value):
    df = pd.DataFrame(
        {
            "run": ["xs", "xs"],
            "step": [0, 2],
            "bench": ["heldout"] * 2,
            "pass_at_1": [0.2, 0.3],
            "pass_at_4": [0.4, None],
            "L": [0.8, 0.7],
        }
    )
    curves_table.check_table(df, "c.parquet")  # an empty pass_at_4 cell is allowed
    df.loc[1, column] = value
    with pytest.raises(UserError, match=rf"c\.parquet: column `{column}` .*run='xs', step=2"):
        curves_table.check_table(df, "c.parquet")


def test_replicates_keep_one_row_each_with_their_own_base_models_record(tmp_path):
    runs = {
        f"xs__rep-{k}": {"size": "xs", "variant": {}, "replicate": k, "model": f"xs/rep{k}"} for k in (0, 1)
    }
    s, params = make_study(tmp_path, runs=runs)
    for k, n in ((0, 1000.0), (1, 1000.0)):
        (s / "models" / "xs" / f"rep{k}").mkdir(parents=True)
        rec = {"N": n, "N_nonembed": 800, "tokens": 1e6, "flops": 6e9 * (k + 1)}
        (s / "models" / "xs" / f"rep{k}" / "pretrain.json").write_text(json.dumps(rec))
    df = curves.build_curves(s, params)
    assert sorted(set(df["replicate"])) == [0, 1]
    assert len(df) == 2 * 3 * 2  # replicates x steps x benches: never averaged here
    assert df.groupby("replicate")["C_pretrain"].first().tolist() == [6e9, 1.2e10]
    assert df.groupby("replicate")["model"].first().tolist() == ["xs/rep0", "xs/rep1"]


def test_a_study_without_replicates_has_no_replicate_column(tmp_path):
    s, params = make_study(tmp_path)
    columns = curves.build_curves(s, params).columns
    assert "replicate" not in columns and "model" not in columns  # every base model is its size


def test_build_refuses_pass_at_k_that_falls_with_k_naming_the_file(tmp_path):
    s, params = make_study(tmp_path)
    path = rewrite_eval(s, pass_at_1=0.7, pass_at_k={"1": 0.7, "2": 0.1, "4": 0.8})
    with pytest.raises(UserError, match=rf"{path}: pass@2 = 0.1 is below pass@1 = 0.7; pass@k cannot"):
        curves.build_curves(s, params)


def test_build_accepts_pass_at_k_that_stays_level(tmp_path):
    s, params = make_study(tmp_path)
    rewrite_eval(s, pass_at_1=0.5, pass_at_k={"1": 0.5, "2": 0.5, "4": 0.75})
    assert 0.75 in curves.build_curves(s, params)["pass_at_4"].tolist()


def test_check_table_refuses_a_row_whose_pass_at_k_falls_with_k_naming_the_row():
    df = pd.DataFrame(
        {"run": ["xs"], "step": [2], "pass_at_1": [0.7], "pass_at_2": [None], "pass_at_4": [0.3], "L": [0.3]}
    )
    with pytest.raises(UserError, match=r"c\.csv: row 0, run='xs', step=2: `pass_at_4` = 0.3 is below"):
        curves_table.check_table(df, "c.csv")


def test_build_carries_each_evaluations_samples_and_problems_for_binomial_point_noise(tmp_path):
    s, params = make_study(tmp_path)
    rewrite_eval(s, n_samples=8, n_problems=200)
    df = curves.build_curves(s, params).set_index(["run", "step", "bench"])
    assert df.loc[("xs", 2, "heldout"), ["n_samples", "n_problems"]].tolist() == [8, 200]
    assert df.loc[("xs", 4, "heldout"), ["n_samples", "n_problems"]].isna().all()  # not recorded there
