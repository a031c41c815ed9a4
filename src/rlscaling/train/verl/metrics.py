"""verl's file-logger JSONL -> rlscaling metrics.jsonl records (rlscaling.train.metrics schema).

verl's FileLogger (verl.utils.tracking) writes one line per `Tracking.log` call: `{"step": k, "data":
{metric: value}}`, to $VERL_FILE_LOGGER_PATH, opened with mode "wb" (so a resumed run truncates it: the
engine gives every job its own file and reads all of a segment's files, later ones winning per step).
A training step's line holds (verl 0.9.1 names):

    critic/score/mean            sequence reward, mean over the step's rollouts     -> reward_mean
    prompt_length/mean           valid prompt tokens per rollout
    response_length/mean         valid response tokens per rollout                   -> response_tokens
    perf/total_num_tokens        prompt + response tokens of all rollouts            -> tokens of the step
    perf/throughput              tokens / s / GPU                                    -> throughput_per_gpu
    timing_s/step, timing_s/gen  wall time of the step, and of its rollout phase     -> wall / gen_seconds
    actor/entropy, actor/kl_loss, actor/pg_clipfrac                                 -> entropy, kl, clip_ratio
    actor/grad_norm, actor/pg_loss                                                  -> grad_norm, loss
    val-core/<data_source>/acc/mean@<n>   in-training validation (our reward returns `acc`); older
                                 verl: .../reward/mean@<n> or val/test_score/<data_source> -> val_scores

Validation before training is logged at the segment's starting step (0 for the first segment); it is
returned separately (`initial_validation`), since metrics.jsonl has one record per trained step.

FLOPs (rlscaling.compute): paper convention 6·N·(prompt + response tokens); the fuller count with
T_gen = prompt + response tokens (sampling), T_ref = T x (1 old-policy log-prob pass + 1 reference pass
when the KL loss is on), T_train = T x ppo_epochs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError
from rlscaling import io as rio
from rlscaling.io import finite_or_none
from rlscaling.train import metrics as M

ENGINE = "verl"
_VAL_CORE = re.compile(r"^val-core/(?P<src>.+)/(?P<var>[^/]+)/mean@(?P<n>\d+)$")
_VAL_OLD = re.compile(r"^val/test_score/(?P<src>.+)$")


def read_jsonl(paths: Iterable[str | Path]) -> dict[int, dict[str, Any]]:
    """step -> merged metrics of verl file-logger files, read in the given order (later values win).

    Raises UserError naming the file and line of a malformed line; a truncated last line (a killed job)
    is skipped."""
    by_step: dict[int, dict[str, Any]] = {}
    for path in paths:
        # the job may have died while writing its last line
        for no, rec in enumerate(rio.read_jsonl(path, truncated_tail_ok=True), start=1):
            if "step" not in rec or not isinstance(rec.get("data"), dict):
                raise UserError(f"{path}, record {no}: not a verl file-logger record ({{'step', 'data'}})")
            by_step.setdefault(int(rec["step"]), {}).update(rec["data"])
    return by_step


def val_scores(data: dict[str, Any]) -> dict[str, float]:
    """data_source -> in-training validation accuracy of one step's metrics ({} when none).

    Prefers `val-core/<src>/acc/mean@n` (0.9.1 with a reward that returns `acc`), then
    `val-core/<src>/reward/mean@n`, then `val/test_score/<src>`; the largest n wins."""
    best: dict[str, tuple[int, int, float]] = {}
    for key, val in data.items():
        m = _VAL_CORE.match(key)
        if m:
            rank = {"acc": 2, "reward": 1}.get(m["var"], 0)
            cand = (rank, int(m["n"]), float(val))
        else:
            m = _VAL_OLD.match(key)
            if not m:
                continue
            cand = (-1, 1, float(val))
        src = m["src"]
        if src not in best or cand[:2] > best[src][:2]:
            best[src] = cand
    return {src: v[2] for src, v in sorted(best.items()) if math.isfinite(v[2])}


def _get(data: dict[str, Any], key: str, step: int, where: str) -> float:
    if key not in data or data[key] is None:
        raise UserError(f"{where}: step {step} has no `{key}` (is this verl {'0.9.1'} file-logger output?)")
    return float(data[key])


def _opt(data: dict[str, Any], key: str) -> float | None:
    """The metric `key` as a finite float, None when absent or not a finite number."""
    return finite_or_none(data.get(key))


def _measured(data: dict[str, Any], key: str) -> float | None:
    """The metric `key` as a float, NaN and infinities kept (the record names them); None when absent."""
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def step_stats(
    data: dict[str, Any], step: int, params: dict[str, Any], where: str = "verl log"
) -> M.StepStats:
    """Our StepStats of one verl training step."""
    prompts = int(params["prompts_per_step"])
    rollouts = M.rollouts_per_step(params)
    response = int(round(_get(data, "response_length/mean", step, where) * rollouts))
    if data.get("perf/total_num_tokens") is not None:
        total = int(round(float(data["perf/total_num_tokens"])))
        prompt = max(total - response, 0)
    else:
        prompt = int(round(_get(data, "prompt_length/mean", step, where) * rollouts))
        total = prompt + response
    kl_on = float(params.get("kl_coef", 0.0)) > 0
    epochs = int(params.get("verl", {}).get("ppo_epochs", 1) or 1)
    wall = _opt(data, "timing_s/step")
    if wall is None:
        wall = _get(data, "perf/time_per_step", step, where)
    gen = _opt(data, "timing_s/gen") or 0.0
    return M.StepStats(
        step=step,
        prompts=prompts,
        rollouts=rollouts,
        prompt_tokens=prompt,
        response_tokens=response,
        gen_tokens=total,
        ref_tokens=M.no_grad_pass_tokens(
            total, reference=kl_on, old_policy=True
        ),  # verl: old_log_prob always
        train_tokens=total * epochs,
        reward_mean=_get(data, "critic/score/mean", step, where),
        reward_std=None,  # verl logs mean / max / min of the score, not its spread
        entropy=_opt(data, "actor/entropy"),
        kl=_opt(data, "actor/kl_loss") if kl_on else None,
        clip_ratio=_opt(data, "actor/pg_clipfrac"),
        grad_norm=_measured(data, "actor/grad_norm"),
        loss=_measured(data, "actor/pg_loss"),
        wall_seconds=wall,
        gen_seconds=gen,
        sample_seconds=gen,
    )


def to_records(
    by_step: dict[int, dict[str, Any]],
    params: dict[str, Any],
    *,
    first: int,
    last: int,
    n_params: int,
    n_nonembed: int,
    previous: dict[str, Any] | None = None,
    where: str = "verl log",
) -> list[dict[str, Any]]:
    """metrics.jsonl records of steps (first, last] from verl's per-step metrics.

    `previous` is the last record of the segment this one resumes (cumulative C, D, tokens continue).
    Each record has the common fields plus `val_scores` (data_source -> accuracy, or null),
    `throughput_per_gpu` (tokens/s/GPU) and `response_clip_ratio` (rollouts cut at the length limit)."""
    cum = M.Cumulative.from_record(previous) if previous else M.Cumulative(step=first)
    if cum.step != first:
        raise UserError(f"{where}: the previous segment ends at step {cum.step}, this one starts at {first}")
    missing = [s for s in range(first + 1, last + 1) if s not in by_step]
    if missing:
        raise UserError(f"{where}: no training metrics for step(s) {missing} (verl stopped early?)")
    out = []
    for step in range(first + 1, last + 1):
        data = by_step[step]
        stats = step_stats(data, step, params, where)
        rec, cum = M.step_record(stats, cum, n_params, n_nonembed, ENGINE, int(params["seed"]))
        scores = val_scores(data)
        rec["val_scores"] = scores or None
        rec["throughput_per_gpu"] = _opt(data, "perf/throughput")
        rec["response_clip_ratio"] = _opt(data, "response_length/clip_ratio")
        out.append(rec)
    return out


def initial_validation(by_step: dict[int, dict[str, Any]], first: int) -> dict[str, float] | None:
    """Validation scores logged before training at step `first` (val_before_train), if any."""
    data = by_step.get(first)
    if not data:
        return None
    return val_scores(data) or None
