"""The study config: schema validation, semantic checks and the plan (runs, checkpoints, fits)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rlscaling import config as rc
from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT


@pytest.fixture()
def default() -> dict:
    with open(PROJECT_ROOT / "config.yaml") as fh:
        return yaml.safe_load(fh)


def test_default_config_is_valid_and_gets_defaults(default):
    cfg = rc.validate(default)
    assert cfg["results_dir"] == "results"
    assert cfg["training"]["engine"] == "trl"
    assert cfg["fit"]["min_step"] == 1
    assert cfg["fit"]["anchor_points"] == 0  # inter fits are not anchored unless asked


def test_negative_fit_anchor_points_is_refused_naming_the_key(default):
    default.setdefault("fit", {})["anchor_points"] = -1
    with pytest.raises(UserError, match=r"fit\.anchor_points"):
        rc.validate(default)


def test_unknown_key_is_refused_naming_it(default):
    default["training"]["learning_rate"] = 1e-4
    with pytest.raises(UserError, match=r"training: Additional properties .*learning_rate"):
        rc.validate(default)


def test_wrong_type_is_refused_naming_the_key(default):
    default["training"]["prompts_per_step"] = "sixteen"
    with pytest.raises(UserError, match=r"training\.prompts_per_step"):
        rc.validate(default)


def test_segment_longer_than_run_is_refused(default):
    default["training"]["segment_steps"] = default["training"]["total_steps"] + 10
    with pytest.raises(UserError, match=r"training\.segment_steps: .* longer than training\.total_steps"):
        rc.validate(default)


def test_total_steps_must_be_whole_segments(default):
    default["training"].update(total_steps=25, segment_steps=10)
    with pytest.raises(UserError, match=r"training\.total_steps: 25 is not a multiple"):
        rc.validate(default)


def test_pass_at_k_larger_than_samples_is_refused(default):
    default["evaluation"].update(n_samples=4, pass_k=[1, 8])
    with pytest.raises(UserError, match=r"evaluation\.pass_k: k=8 .*n_samples \(4\)"):
        rc.validate(default)


def test_missing_data_file_is_refused_naming_it(default):
    default["data"] = {"source": "parquet", "parquet": {"train_files": ["/nonexistent/train.parquet"]}}
    with pytest.raises(UserError, match=r"data\.parquet\.train_files\[0\]: file /nonexistent/train\.parquet"):
        rc.validate(default)


def test_missing_benchmark_file_is_refused_naming_it(default):
    default["benchmarks"]["gsm8k"] = {"source": "parquet", "path": "/nonexistent/gsm8k.parquet"}
    with pytest.raises(UserError, match=r"benchmarks\.gsm8k\.path"):
        rc.validate(default)


def test_evaluated_benchmark_must_be_defined(default):
    default["evaluation"]["benchmarks"] = ["heldout", "math500"]
    with pytest.raises(UserError, match=r"evaluation\.benchmarks: 'math500' is not defined"):
        rc.validate(default)


def test_unknown_sweep_dimension_is_refused(default):
    default["sweep"] = {"batch": [1, 2]}
    with pytest.raises(UserError, match=r"sweep\.batch"):
        rc.validate(default)


def test_checkpoints_are_segment_boundaries_from_base_model(default):
    cfg = rc.validate(default)
    cfg["training"].update(total_steps=40, segment_steps=10)
    assert rc.checkpoint_steps(cfg) == [0, 10, 20, 30, 40]


def test_eval_steps_include_base_and_final(default):
    default["training"].update(total_steps=50, segment_steps=10)
    default["evaluation"]["every_steps"] = 20
    cfg = rc.validate(default)
    assert rc.eval_steps(cfg) == [0, 20, 40, 50]


def test_extra_eval_steps_add_checkpoints_and_evaluations(default):
    default["training"].update(total_steps=60, segment_steps=20)
    default["evaluation"].update(every_steps=20, extra_steps=[5, 10])
    cfg = rc.validate(default)
    assert rc.checkpoint_steps(cfg) == [0, 5, 10, 20, 40, 60]
    assert rc.eval_steps(cfg) == [0, 5, 10, 20, 40, 60]


def test_a_segment_trains_from_the_checkpoint_before_it(default):
    default["training"].update(total_steps=60, segment_steps=20)
    default["evaluation"].update(every_steps=20, extra_steps=[5, 10])
    cfg = rc.validate(default)
    assert [rc.previous_checkpoint_step(cfg, s) for s in (5, 10, 20, 40)] == [0, 5, 10, 20]
    with pytest.raises(UserError, match=r"step 15: not a checkpoint step"):
        rc.previous_checkpoint_step(cfg, 15)


def test_evaluation_params_leave_out_which_steps_and_benchmarks_are_evaluated(default):
    default["evaluation"]["extra_steps"] = [5, 10]
    params = rc.evaluation_params(rc.validate(default))
    assert not set(params) & {"benchmarks", "every_steps", "extra_steps"}
    assert params["n_samples"] == default["evaluation"]["n_samples"]


def test_extra_eval_step_after_the_last_step_is_refused(default):
    default["training"].update(total_steps=60, segment_steps=20)
    default["evaluation"].update(every_steps=20, extra_steps=[5, 80])
    with pytest.raises(UserError, match=r"evaluation\.extra_steps: \[80\] after training\.total_steps"):
        rc.validate(default)


def test_runs_are_sizes_times_sweep_with_overrides(default):
    default["replicates"] = 1  # one run per size: run names are the sizes
    default["sweep"] = {"seed": [0, 1], "reward": ["strict", "flexible"]}
    cfg = rc.validate(default)
    runs = rc.runs(cfg)
    assert len(runs) == len(cfg["models"]["sizes"]) * 4
    r = rc.run_by_name(cfg, "xs__seed-1__reward-flexible")
    assert (r.size, r.training["seed"], r.training["reward"]) == ("xs", 1, "flexible")


def test_segment_params_do_not_depend_on_total_steps(default):
    a = rc.validate(default)
    b = copy.deepcopy(default)
    b["training"]["total_steps"] = 2 * default["training"]["total_steps"]
    b = rc.validate(b)
    assert rc.runs(a)[0].train_params() == rc.runs(b)[0].train_params()


def test_size_override_changes_only_that_sizes_runs(default):
    default["replicates"] = 1  # one run per size: run names are the sizes
    plain = {r.name: r.train_params() for r in rc.runs(rc.validate(copy.deepcopy(default)))}
    default["training"].setdefault("sizes", {})["l"] = {"lr": 1.5e-5, "kl_coef": 0.01}
    runs = {r.name: r for r in rc.runs(rc.validate(default))}
    assert (runs["l"].training["lr"], runs["l"].training["kl_coef"]) == (1.5e-5, 0.01)
    assert "sizes" not in runs["l"].train_params()
    for name in ("xs", "s", "m"):  # their segments keep their params: nothing of theirs reruns
        assert runs[name].train_params() == plain[name]


def test_sweep_value_wins_over_size_override(default):
    default["replicates"] = 1  # one run per size: run names are the sizes
    default["training"]["sizes"] = {"l": {"lr": 2.5e-5}}
    default["sweep"] = {"lr": [1e-4]}  # the run name says lr-0.0001: it must train at that lr
    assert rc.run_by_name(rc.validate(default), "l__lr-0.0001").training["lr"] == 1e-4


def test_size_override_of_unknown_size_is_refused_naming_it(default):
    default["training"]["sizes"] = {"xl": {"lr": 1e-5}}
    with pytest.raises(UserError, match=r"training\.sizes\.xl: no such size"):
        rc.validate(default)


def test_size_override_with_a_bad_value_is_refused_naming_the_key(default):
    default["training"]["sizes"] = {"l": {"lr": -1.0}}
    with pytest.raises(UserError, match=r"training\.sizes\.l\.lr"):
        rc.validate(default)


def test_size_override_cannot_change_the_step_grid(default):
    default["training"]["sizes"] = {"l": {"total_steps": 10}}
    with pytest.raises(UserError, match=r"training\.sizes\.l"):
        rc.validate(default)


def test_plan_command_prints_runs(capsys):
    assert cli_main(["plan", "--config", str(PROJECT_ROOT / "config.yaml"), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"runs"' in out and '"checkpoint_steps"' in out


def test_plan_command_reports_bad_config_in_one_line(tmp_path: Path, default, capsys):
    default["evaluation"]["pass_k"] = [64]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(default))
    assert cli_main(["plan", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "evaluation.pass_k" in err and "Traceback" not in err


def test_params_json_is_read_from_text_or_a_file_and_bad_input_names_the_option(tmp_path):
    from rlscaling.io import read_params_json

    f = tmp_path / "p.json"
    f.write_text('{"a": 1}')
    assert read_params_json('{"a": 1}') == read_params_json(str(f)) == {"a": 1}
    for bad, why in (("{a: 1}", "not valid JSON"), ("[1]", "neither a JSON object"), ('{"a"', "not valid")):
        with pytest.raises(UserError, match=f"--params-json: .*{why}"):
            read_params_json(bad)


def test_pretrain_size_override_changes_only_that_sizes_settings(default):
    plain = {s: rc.pretrain_settings(rc.validate(copy.deepcopy(default)), s) for s in ("xs", "s", "m")}
    default["pretrain"].setdefault("sizes", {})["l"] = {"lr": 0.001, "lr_base_width": None}
    cfg = rc.validate(default)
    l_settings = rc.pretrain_settings(cfg, "l")
    assert (l_settings["lr"], l_settings["lr_base_width"]) == (0.001, None)
    assert "sizes" not in l_settings
    for size in ("xs", "s", "m"):  # their pretrain jobs keep their params: nothing of theirs reruns
        assert rc.pretrain_settings(cfg, size) == plain[size]


def test_pretrain_size_override_with_a_bad_value_or_unknown_size_is_refused(default):
    default["pretrain"]["sizes"] = {"l": {"seed_candidates": 0}}
    with pytest.raises(UserError, match=r"pretrain\.sizes\.l\.seed_candidates"):
        rc.validate(default)
    default["pretrain"]["sizes"] = {"xl": {"lr": 0.001}}
    with pytest.raises(UserError, match=r"pretrain\.sizes\.xl: no such size"):
        rc.validate(default)


# -- replicates: a full pre-train + RL chain per replicate --------------------------------------------


def test_without_replicates_one_run_per_size_keeps_run_names_seeds_and_base_models(default):
    default.pop("replicates", None)
    cfg = rc.validate(default)
    assert rc.n_replicates(cfg) == 1
    assert [r.name for r in rc.runs(cfg)] == list(cfg["models"]["sizes"])
    assert all(r.model == r.size and r.training["seed"] == cfg["seed"] for r in rc.runs(cfg))
    assert list(rc.base_models(cfg)) == list(cfg["models"]["sizes"])


def test_replicates_multiply_runs_and_base_models_with_their_own_seeds(default):
    default["replicates"] = 3
    default["seed"] = 2
    cfg = rc.validate(default)
    runs = rc.runs(cfg)
    assert len(runs) == 3 * len(cfg["models"]["sizes"])
    r = rc.run_by_name(cfg, "m__rep-2")
    assert (r.size, r.replicate, r.model) == ("m", 2, "m/rep2")
    assert r.training["seed"] == 2 + 2 * rc.REPLICATE_SEED_STRIDE
    models = rc.base_models(cfg)
    m2 = models["m/rep2"]
    assert (m2["size"], m2["replicate"], m2["seed"]) == ("m", 2, 2002)
    assert models["xs/rep0"]["seed"] == 2  # replicate 0 uses the study's seed


def test_replicates_follow_the_sweep_in_run_names(default):
    default["replicates"] = 2
    default["sweep"] = {"reward": ["strict", "flexible"]}
    cfg = rc.validate(default)
    r = rc.run_by_name(cfg, "xs__reward-flexible__rep-1")
    assert (r.training["reward"], r.model) == ("flexible", "xs/rep1")


def test_hub_replicates_share_the_given_base_model(default):
    default["replicates"] = 2
    sizes = {"0.5B": 5e8, "1.5B": 1.5e9, "3B": 3e9}
    default["models"] = {
        "family": "hub",
        "sizes": {s: {"path": f"Qwen/Qwen2.5-{s}", "n_params": n} for s, n in sizes.items()},
    }
    default.pop("pretrain", None)
    default["training"].pop("sizes", None)
    cfg = rc.validate(default)
    assert list(rc.base_models(cfg)) == list(sizes)
    runs = [r for r in rc.runs(cfg) if r.size == "0.5B"]
    assert [(r.model, r.training["seed"]) for r in runs] == [("0.5B", 0), ("0.5B", 1000)]


def test_a_pretrain_tokens_sweep_keys_base_models_by_size_and_tokens(default):
    default["sweep"] = {"pretrain_tokens": [1000000, 500000]}
    default["replicates"] = 2
    cfg = rc.validate(default)
    models = rc.base_models(cfg)
    assert models["s/pretrain_tokens-500000/rep1"]["pretrain"]["tokens"] == 500000
    assert models["s/pretrain_tokens-500000/rep1"]["seed"] == 1000
    assert len(models) == len(cfg["models"]["sizes"]) * 2 * 2
    r = rc.run_by_name(cfg, "s__pretrain_tokens-500000__rep-1")
    assert r.model == "s/pretrain_tokens-500000/rep1"
    assert "pretrain_tokens" not in r.training and "tokens" not in r.training


def test_changing_one_pretrain_budget_leaves_the_other_base_models_settings_unchanged(default):
    default["sweep"] = {"pretrain_tokens": [1000000, 500000]}
    before = rc.base_models(rc.validate(copy.deepcopy(default)))
    default["sweep"] = {"pretrain_tokens": [1000000, 250000]}
    after = rc.base_models(rc.validate(default))
    kept = [k for k in after if "1000000" in k]
    assert kept and all(after[k] == before[k] for k in kept)  # same params: Snakemake reruns nothing there
    assert not any("500000" in k for k in after)


def test_without_a_pretrain_sweep_base_models_keep_the_size_as_key_and_its_settings(default):
    default["replicates"] = 1  # one run per size: run names are the sizes
    cfg = rc.validate(default)
    models = rc.base_models(cfg)
    assert all(models[s]["pretrain"] == rc.pretrain_settings(cfg, s) for s in cfg["models"]["sizes"])


def test_a_pretrain_sweep_with_hub_models_is_refused(default):
    default["models"] = {"family": "hub", "sizes": {"7B": {"path": "Qwen/Qwen2.5-7B", "n_params": 7e9}}}
    default.pop("pretrain", None)
    default["training"].pop("sizes", None)
    default["sweep"] = {"pretrain_tokens": [1000, 2000, 4000]}
    with pytest.raises(UserError, match="sweep.pretrain_tokens: a pre-training sweep needs models.family"):
        rc.validate(default)


def test_replicates_must_be_a_positive_integer(default):
    default["replicates"] = 0
    with pytest.raises(UserError, match="replicates"):
        rc.validate(default)
