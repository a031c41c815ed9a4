"""Specification of the per-step training metrics (rlscaling.train.metrics): one schema for every engine,
FLOPs from rlscaling.compute, cumulative totals that continue across segments."""

from __future__ import annotations

import json

import pytest

from rlscaling.compute import rl_step_flops, rl_step_flops_full
from rlscaling.errors import UserError
from rlscaling.train import metrics as M


def stats(step: int = 1, **over) -> M.StepStats:
    base = dict(
        step=step,
        prompts=16,
        rollouts=128,
        prompt_tokens=3000,
        response_tokens=2000,
        gen_tokens=5000,
        ref_tokens=0,
        train_tokens=5000,
        reward_mean=0.25,
        reward_std=0.4,
        entropy=1.5,
        kl=None,
        clip_ratio=0.01,
        wall_seconds=2.0,
        gen_seconds=0.8,
        sample_seconds=0.7,
    )
    return M.StepStats(**(base | over))


def test_record_has_every_field_in_schema_order_with_flops_from_the_compute_module():
    rec, _ = M.step_record(stats(), M.Cumulative(), n_params=1000, n_nonembed=900, engine="trl", seed=3)
    assert list(rec) == list(M.FIELDS)
    assert rec["flops"] == rl_step_flops(1000, 3000, 2000)
    assert rec["flops_full"] == rl_step_flops_full(1000, 5000, 0, 5000)
    assert rec["response_length_mean"] == 2000 / 128
    assert rec["update_seconds"] == pytest.approx(1.2)
    assert (rec["N"], rec["N_nonembed"], rec["engine"], rec["seed"]) == (1000, 900, "trl", 3)


def test_cumulative_totals_continue_from_the_previous_segments_last_record():
    first, cum = M.step_record(stats(1), M.Cumulative(), 1000, 900, "trl", 0)
    second, _ = M.step_record(
        stats(2), M.Cumulative.from_record(json.loads(json.dumps(first))), 1000, 900, "trl", 0
    )
    assert (second["C"], second["C_full"]) == (2 * first["flops"], 2 * first["flops_full"])
    assert (second["D"], second["tokens"]) == (32, 10000)
    assert M.Cumulative.from_record(second) == M.step_record(stats(2), cum, 1000, 900, "trl", 0)[1]


def test_unmeasured_or_non_finite_values_are_written_as_null():
    rec, _ = M.step_record(stats(kl=None, entropy=float("nan")), M.Cumulative(), 10, 9, "trl", 0)
    assert rec["kl"] is None and rec["entropy"] is None
    assert "NaN" not in json.dumps(rec)


def test_write_then_read_round_trips(tmp_path):
    recs = [M.step_record(stats(s), M.Cumulative(), 10, 9, "trl", 0)[0] for s in (1, 2)]
    M.write(tmp_path / "metrics.jsonl", recs)
    assert M.read(tmp_path / "metrics.jsonl") == recs


def test_reading_a_broken_file_names_file_and_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": \n')
    with pytest.raises(UserError, match=r"metrics.jsonl, line 2: not valid JSON"):
        M.read(tmp_path / "metrics.jsonl")
    with pytest.raises(UserError, match="does not exist"):
        M.read(tmp_path / "missing.jsonl")
