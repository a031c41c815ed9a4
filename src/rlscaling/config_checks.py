"""Checks of a study config that need more than one key: every setting that would fail a later job is
refused here, before the first job starts (rlscaling.config.check calls `check`; so do the Snakefile
and `rlscaling plan`).

Each check mirrors the stage that would fail, and its message names the config key and what was
expected:

- models: a tiny architecture the model builder accepts (heads divide the width, kv heads divide the
  heads, an even head size for rotary embeddings), and a tiny family pre-trains on the synthetic corpus;
- benchmarks: the registry accepts each entry (source, scorer, path, max_rows; rlscaling.data.benchmarks),
  its file exists, and synthetic_ood has a synthetic source with ood problems;
- data: the held-out split leaves training problems, and every run's train file holds at least one
  step's distinct prompts (training.prompts_per_step; the trainer refuses fewer) after data.max_train
  and the run's data reuse tau. Synthetic data is counted exactly (the generator draws distinct
  problems level by level); parquet files by their row counts (an upper bound: malformed rows and
  duplicates are dropped later); hf datasets only by data.max_train;
- sweep: every value is a valid value of the training setting it overrides;
- recipes: every run's recipe (training.recipe, recipe_settings, sweep.recipe) runs on its engine
  (rlscaling.train.recipes names the engine and the knob it lacks), and a verl run with a recipe
  leaves the verl pins the recipe decides (training.verl.loss_agg_mode, clip_ratio_high) unset;
- pretrain: seed candidates need held-out documents in the corpus;
- fit: the fitted benchmark is evaluated, the objective exists, held-out sizes exist and leave a size to
  fit, intra fits have fit_steps inside the run, each law has the points, sizes and reuse factors it needs.

`warnings` lists settings that are valid but implausible (a job would run, and its numbers likely mean
little): a learning rate far outside the range RL post-training or pre-training uses (LR_RANGES). The
workflow prints them when it parses the config, `rlscaling plan` to stderr; they never stop a study.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError

# rlscaling.pretrain: the last 2% of the corpus documents (at most 500) are its held-out documents
PRETRAIN_HELDOUT_FRACTION = 0.02


@dataclass(frozen=True)
class Plan:
    """What rlscaling.config derives from a config, handed in by config.check (this module does not
    import rlscaling.config: it sits beside it, not below it)."""

    runs: list[Any]  # rlscaling.config.Run: name, size, variant, training (resolved per run)
    eval_steps: list[int]  # evaluated checkpoint steps
    pretrain: dict[str, dict[str, Any]]  # size -> its resolved pre-training settings
    sweep_sections: dict[str, str]  # sweep key -> the config section it overrides
    sweep_settings: dict[str, str]  # sweep key -> the setting of that section, where it is named apart


def check(config: dict[str, Any], plan: Plan) -> None:
    """UserError naming the key of the first setting that would fail a later job."""
    _check_models(config)
    _check_benchmarks(config)
    _check_sweep_values(config, plan)
    _check_recipes(config, plan)
    _check_train_rows(config, plan)
    _check_pretrain(config, plan)
    _check_fit(config, plan)


# learning rates a study plausibly uses, per section: GRPO / PPO post-training runs at 1e-7 .. 1e-5
# (Qwen-class models) up to ~1e-4 (the tiny family); pre-training from scratch at 1e-4 .. 1e-2
LR_RANGES = {"training": (1e-7, 1e-2), "pretrain": (1e-5, 1e-1)}


def warnings(config: dict[str, Any], plan: Plan) -> list[str]:
    """Messages on valid but implausible settings, each naming the config key and the expected range:
    every run's training lr (from training, training.sizes or the sweep) and every size's pre-training lr
    (tiny family) outside LR_RANGES. One message per key."""
    found: dict[str, str] = {}

    def check(key: str, value: Any, section: str) -> None:
        low, high = LR_RANGES[section]
        if key not in found and not low <= float(value) <= high:
            found[key] = (
                f"{key}: {value:g} is far outside the usual range of {section} learning rates "
                f"[{low:g}, {high:g}]; a run at it may diverge (reward, grad_norm or entropy collapsing, "
                "flagged by training.health) or not move"
            )

    for run in plan.runs:
        check(_origin(config, run, "lr"), run.training["lr"], "training")
    if config["models"]["family"] == "tiny":
        for size in config["models"]["sizes"]:
            per_size = ((config.get("pretrain") or {}).get("sizes") or {}).get(size) or {}
            key = f"pretrain.sizes.{size}.lr" if "lr" in per_size else "pretrain.lr"
            check(key, plan.pretrain[size]["lr"], "pretrain")
    return list(found.values())


def _resolve(p: str) -> Path:
    """A config path: absolute, or relative to the working directory (where Snakemake runs)."""
    return Path(p).expanduser().absolute()


# --------------------------------------------------------------------------------------------------
# models


def _check_models(config: dict[str, Any]) -> None:
    from rlscaling import models

    if config["models"]["family"] != "tiny":
        return
    for name, arch in config["models"]["sizes"].items():
        models.check_arch(arch, f"models.sizes.{name}")
    if config["data"]["source"] != "synthetic":
        raise UserError(
            f"models.family: tiny pre-trains on the synthetic corpus, which only data.source synthetic "
            f"writes (data.source is {config['data']['source']!r}); use family hub with model paths, or "
            "data.source synthetic"
        )


# --------------------------------------------------------------------------------------------------
# benchmarks


def _check_benchmarks(config: dict[str, Any]) -> None:
    from rlscaling.data import benchmarks as bm

    data = config["data"]
    for name, raw in config["benchmarks"].items():
        spec = bm.resolve(name, raw)  # source, path, scorer, max_rows: UserError naming the key
        if spec.source == "parquet" and spec.path and not _resolve(spec.path).exists():
            what = "the built-in default file" if not raw.get("path") else "file"
            raise UserError(f"benchmarks.{name}.path: {what} {spec.path} does not exist")
        if spec.source == "synthetic_ood":
            if data["source"] != "synthetic":
                raise UserError(
                    f"benchmarks.{name}.source: synthetic_ood needs data.source synthetic "
                    f"(data.source is {data['source']!r})"
                )
            if _synthetic(data)["n_ood"] < 1:
                raise UserError(
                    f"benchmarks.{name}.source: synthetic_ood, but data.synthetic.n_ood is 0 "
                    "(no ood problems)"
                )


# --------------------------------------------------------------------------------------------------
# sweep values


def _check_sweep_values(config: dict[str, Any], plan: Plan) -> None:
    import jsonschema
    import yaml

    from rlscaling.paths import PROJECT_ROOT

    sweep = config.get("sweep") or {}
    if not sweep:
        return
    schema = yaml.safe_load((PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for key, values in sweep.items():
        if key not in plan.sweep_sections:
            continue  # rlscaling.config.check names it
        section = plan.sweep_sections[key]
        setting = plan.sweep_settings.get(key, key)  # pretrain_tokens sets pretrain.tokens
        validator = jsonschema.Draft202012Validator(schema["properties"][section]["properties"][setting])
        for i, value in enumerate(values):
            for err in validator.iter_errors(value):
                raise UserError(f"sweep.{key}[{i}]: {err.message}")


# --------------------------------------------------------------------------------------------------
# data: held-out split and rows per run


def _synthetic(data: dict[str, Any]) -> dict[str, Any]:
    from rlscaling.data.synthetic import DEFAULTS

    return {**DEFAULTS, **(data.get("synthetic") or {})}


def _train_rows(config: dict[str, Any]) -> tuple[int | None, str, str]:
    """(upper bound of train.parquet's rows or None when unknown, how it is made up, the key to raise)."""
    from rlscaling.data import synthetic

    data = config["data"]
    source = data["source"]
    held = int(data["heldout_size"])
    if source == "synthetic":
        s = _synthetic(data)
        synthetic._settings(s)  # levels, counts: UserError naming the key
        synthetic._check_capacity(s)
        pool = int(s["n_train"]) + int(s["n_pool_heldout"])
        parts = f"data.synthetic.n_train {s['n_train']} + data.synthetic.n_pool_heldout {s['n_pool_heldout']}"
        if held >= pool:
            raise UserError(
                f"data.heldout_size: {held} held-out problems leave none of the {pool} synthetic problems "
                f"({parts}) for training"
            )
        if data["heldout_stratify"] == "balanced":
            _check_balanced(s, pool, held)
        rows, how, key = pool - held, f"{parts} - data.heldout_size {held}", "data.synthetic.n_train"
    elif source == "parquet":
        pq = data["parquet"]
        counts = [_parquet_rows(p) for p in pq["train_files"]]
        rows = None if None in counts else sum(counts)
        how, key = f"{rows} rows in data.parquet.train_files", "data.parquet.train_files"
        if rows is not None and not pq.get("heldout_files"):
            if rows and held >= rows:
                raise UserError(
                    f"data.heldout_size: {held} held-out problems leave none of the {rows} rows of "
                    "data.parquet.train_files for training"
                )
            rows -= held
            how += f" - data.heldout_size {held}"
        how = f"at most {how}"
    else:
        rows, how, key = None, "", ""
    cap, cap_key = data.get("max_train"), "data.max_train"
    if cap is None and source != "synthetic":
        from rlscaling.data.prepare import _source_settings

        cap = _source_settings(data)["max_train"]  # data.parquet.max_train (data.hf's for source hf)
        cap_key = f"data.{'hf' if source == 'hf' and data['hf'].get('max_train') else 'parquet'}.max_train"
    if cap is not None and (rows is None or cap < rows):
        rows, how, key = int(cap), f"{cap_key}: {cap}", cap_key
    return rows, how, key


def _check_balanced(s: dict[str, Any], pool: int, held: int) -> None:
    """A balanced held-out split takes held // 2 easy problems (level <= the median level) and the rest
    hard; the generator draws the levels in turn, so the counts are known."""
    levels = list(s["levels"])
    median = statistics.median(sorted(set(levels)))
    easy = sum(1 for i in range(pool) if levels[i % len(levels)] <= median)
    for what, have, need in (("easy", easy, held // 2), ("hard", pool - easy, held - held // 2)):
        if have < need:
            raise UserError(
                f"data.heldout_size: a balanced held-out split of {held} needs {need} {what} problems but "
                f"the synthetic pool has {have}; lower data.heldout_size or use data.heldout_stratify: "
                "proportional"
            )


def _parquet_rows(path: str) -> int | None:
    """Rows of a parquet file from its footer, or None when it cannot be read here (the data stage
    names the file then)."""
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(_resolve(path)).metadata.num_rows)
    except Exception:  # noqa: BLE001 - unknown: checked where the file is read
        return None


def _origin(config: dict[str, Any], run: Any, key: str) -> str:
    """The config key a run's training setting comes from (sweep, size override or training)."""
    if key in run.variant:
        return f"sweep.{key}"
    if key in ((config["training"].get("sizes") or {}).get(run.size) or {}):
        return f"training.sizes.{run.size}.{key}"
    return f"training.{key}"


def _check_train_rows(config: dict[str, Any], plan: Plan) -> None:
    rows, how, key = _train_rows(config)
    if rows is None:
        return
    for run in plan.runs:
        tau = int(run.training.get("reuse_tau", 1))
        pps = int(run.training["prompts_per_step"])
        unique = rows // tau
        if unique < 1:
            raise UserError(
                f"{_origin(config, run, 'reuse_tau')}: tau={tau} (run {run.name}) leaves no problem of the "
                f"{rows} train rows ({how})"
            )
        have = unique * tau
        if have < pps:
            file = "train.parquet" if tau == 1 else f"train_tau{tau}.parquet"
            raise UserError(
                f"{_origin(config, run, 'prompts_per_step')}: {pps} distinct prompts per step "
                f"(run {run.name}), but {file} will hold only {have} rows ({how}"
                + (f", reused tau={tau}" if tau > 1 else "")
                + f"); lower training.prompts_per_step or raise {key}"
            )


# --------------------------------------------------------------------------------------------------
# recipes

# verl settings a recipe decides (its loss_aggregation and clip_ratio_high)
RECIPE_VERL_PINS = ("loss_agg_mode", "clip_ratio_high")


def _check_recipes(config: dict[str, Any], plan: Plan) -> None:
    from rlscaling.train import recipes

    verl = config["training"].get("verl") or {}
    for run in plan.runs:
        where = _origin(config, run, "recipe_settings")
        if run.training.get("engine", "trl") == "verl" and recipes.uses_recipe(run.training):
            per_size = (verl.get("sizes") or {}).get(run.size) or {}
            for section, pins in (("training.verl", verl), (f"training.verl.sizes.{run.size}", per_size)):
                for pin in RECIPE_VERL_PINS:
                    if pin in pins:
                        knob = "loss_aggregation" if pin == "loss_agg_mode" else pin
                        raise UserError(
                            f"{section}.{pin}: set together with a recipe (run {run.name}, recipe "
                            f"{recipes.recipe_name(run.training)}); the recipe decides it: remove the pin, "
                            f"or set training.recipe_settings.{knob}"
                        )
        try:
            recipes.check(run.training, where)
        except UserError as err:
            origin = _origin(config, run, "recipe")
            if origin.startswith("sweep") or "recipe" in (run.training or {}):
                raise UserError(f"{err} (run {run.name}, recipe from {origin})") from None
            raise


# --------------------------------------------------------------------------------------------------
# pretrain


def _check_pretrain(config: dict[str, Any], plan: Plan) -> None:
    if config["models"]["family"] != "tiny" or config["data"]["source"] != "synthetic":
        return
    n_pretrain = int(_synthetic(config["data"])["n_pretrain"])
    held_docs = int(n_pretrain * PRETRAIN_HELDOUT_FRACTION)
    for size in config["models"]["sizes"]:
        k = plan.pretrain[size].get("seed_candidates", 1)
        if k > 1 and held_docs < 1:
            overrides = ((config.get("pretrain") or {}).get("sizes") or {}).get(size) or {}
            per_size = "seed_candidates" in overrides
            where = f"pretrain.sizes.{size}.seed_candidates" if per_size else "pretrain.seed_candidates"
            raise UserError(
                f"{where}: {k} seed candidates are compared on held-out documents, but the corpus of "
                f"data.synthetic.n_pretrain {n_pretrain} documents holds none "
                f"({PRETRAIN_HELDOUT_FRACTION:.0%} of it); use seed_candidates 1 or n_pretrain >= "
                f"{int(1 / PRETRAIN_HELDOUT_FRACTION)}"
            )


# --------------------------------------------------------------------------------------------------
# fit


def _check_fit(config: dict[str, Any], plan: Plan) -> None:
    from rlscaling.fit.kn import OBJECTIVES

    fit = config.get("fit") or {}
    benches = config["evaluation"]["benchmarks"]
    bench = fit.get("bench", "heldout")
    if bench not in benches:
        raise UserError(
            f"fit.bench: {bench!r} is not an evaluated benchmark (evaluation.benchmarks: {benches})"
        )
    objective = fit.get("objective", "default")
    if objective not in ("default",) + tuple(OBJECTIVES):
        raise UserError(f"fit.objective: {objective!r} is not one of {['default', *OBJECTIVES]}")
    sizes = list(config["models"]["sizes"])
    held = list(fit.get("holdout_N") or [])
    for name in held:
        if name not in sizes:
            raise UserError(f"fit.holdout_N: {name!r} is not a size under models.sizes (sizes: {sizes})")
    scenarios = fit.get("scenarios") or ["full"]
    laws = fit.get("laws") or ["paper"]
    if "inter" in scenarios:
        held_sizes = held or sizes[-1:]
        if set(sizes) <= set(held_sizes):
            raise UserError(
                f"fit.scenarios: inter holds out {held_sizes} (fit.holdout_N; default: the largest size), "
                f"which leaves no size to fit (sizes: {sizes})"
            )
    steps = plan.eval_steps
    min_step = int(fit.get("min_step", 1))
    if "intra" in scenarios:
        k = fit.get("fit_steps")
        usable = [s for s in steps if s >= min_step]
        if k is None:
            raise UserError("fit.fit_steps: fit.scenarios has intra (fits the steps <= fit_steps); set it")
        if not usable or k < usable[0] or k >= steps[-1]:
            raise UserError(
                f"fit.fit_steps: {k} must leave evaluated steps to fit and to predict (evaluated steps "
                f">= fit.min_step: {usable})"
            )
    for law in laws:
        _check_law_data(config, plan, law, scenarios, sizes, held or sizes[-1:], steps, min_step)


def _check_law_data(
    config: dict[str, Any],
    plan: Plan,
    law: str,
    scenarios: list[str],
    sizes: list[str],
    held: list[str],
    steps: list[int],
    min_step: int,
) -> None:
    """The data `rlscaling fit` will need for `law` (rlscaling.fit.identify.MIN_DATA: distinct sizes,
    points and distinct x per curve), from the sizes and evaluated steps the study will produce."""
    from rlscaling.fit import kn
    from rlscaling.fit.identify import MIN_DATA, MIN_SIZES_INTER
    from rlscaling.fit.laws import LAW_INFO

    info, req = LAW_INFO[law], MIN_DATA.get(law)
    fit = config.get("fit") or {}
    used = [s for s in steps if s >= min_step] if info.uses_min_step else steps
    if info.positive_x and used and used[0] == 0:
        raise UserError(
            f"fit.min_step: {min_step} keeps step 0 (C = D = 0), which law {law} (log-log) cannot fit; "
            "use fit.min_step >= 1"
        )
    if law == "reuse":
        taus = sorted({int(r.training.get("reuse_tau", 1)) for r in plan.runs})
        if len(taus) < 2:
            raise UserError(
                f"fit.laws: reuse fits loss across data-reuse factors; needs runs with at least 2 values "
                f"of reuse_tau (sweep.reuse_tau), got {taus}"
            )
    if req is None:
        return
    for asked in scenarios:
        scenario = asked if asked in info.scenarios else "full"  # as rlscaling fit treats it
        n_sizes = len(sizes) - (len(set(held) & set(sizes)) if scenario == "inter" else 0)
        need = req.sizes
        if scenario == "inter":
            need = max(need, MIN_SIZES_INTER.get(law, 0))
        if law == "paper-parametric":
            forms = [kn.default_e0_form(x) for x in fit.get("x") or ["C", "D"]]
            need = max([need] + [len(kn.E0_FORMS[f].names) + 1 for f in forms if f in kn.E0_FORMS])
        if law != "reuse" and n_sizes < need:
            where = f" left to fit after holding out {held} (fit.holdout_N)" if scenario == "inter" else ""
            raise UserError(
                f"fit.laws: {law} ({scenario}) needs at least {need} model sizes{where}; the study has "
                f"{n_sizes} (models.sizes: {sizes}). Why: {req.why}"
            )
        points = [s for s in used if scenario != "intra" or s <= int(fit.get("fit_steps") or 0)]
        distinct = [s for s in points if s > 0] if law == "sigmoid" else points
        if law != "gain" and (len(points) < req.points_per_curve or len(distinct) < req.distinct_x_per_curve):
            part = "up to fit.fit_steps" if scenario == "intra" else f"at or after fit.min_step {min_step}"
            raise UserError(
                f"fit.laws: {law} ({scenario}) needs at least {req.points_per_curve} evaluated steps per "
                f"curve, and only {points} are {part} (evaluation.every_steps, training.total_steps). "
                f"Why: {req.why}"
            )
