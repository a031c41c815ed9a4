"""Specification of the training-health checks (rlscaling.training_health) on synthetic metrics records:
a collapsed reward, gradient or entropy is flagged once it has lasted the window, a NaN loss at once,
a healthy run never; the run-level metrics.jsonl carries the flags, and the settings reach a segment
through the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError
from rlscaling import training_health as health
from rlscaling.train import metrics as M

SETTINGS = health.Settings(steps=10)


def record(step: int, reward: float = 0.4, grad_norm: float | None = 0.5, entropy: float = 1.2, **over):
    return {"step": step, "reward_mean": reward, "grad_norm": grad_norm, "entropy": entropy} | over


def healthy_run(n: int = 30) -> list[dict]:
    return [record(s, reward=0.3 + 0.01 * (s % 5), grad_norm=0.2 + 0.01 * s) for s in range(1, n + 1)]


def test_a_healthy_run_has_no_flags():
    assert all(r["health"] is None for r in health.annotate(healthy_run(), SETTINGS))


def test_reward_stuck_at_zero_after_learning_is_flagged_with_the_mean_before():
    recs = [record(s, reward=0.4) for s in range(1, 11)] + [record(s, reward=0.0) for s in range(11, 21)]
    flags = health.assess(recs, SETTINGS)
    assert flags == [
        {
            "check": "reward",
            "reason": "reward_mean 0 for the last 10 steps (11-20), after a mean of 0.4 over steps 1-10",
        }
    ]


def test_reward_collapse_is_flagged_only_once_it_lasted_the_window():
    recs = [record(s, reward=0.4) for s in range(1, 11)] + [record(s, reward=0.0) for s in range(11, 21)]
    out = health.annotate(recs, SETTINGS)
    assert [r["step"] for r in out if r["health"]] == [20]


def test_a_run_that_never_earned_a_reward_is_flagged_without_a_mean_before():
    flags = health.assess([record(s, reward=0.0) for s in range(1, 11)], SETTINGS)
    assert [f["reason"] for f in flags] == ["reward_mean 0 for the last 10 steps (1-10)"]


def test_zero_grad_norm_for_the_window_is_flagged():
    recs = healthy_run(5) + [record(s, grad_norm=0.0) for s in range(6, 16)]
    flags = health.assess(recs, SETTINGS)
    assert flags == [
        {"check": "grad_norm", "reason": "grad_norm 0 (at most 1e-08) for the last 10 steps (6-15)"}
    ]


def test_entropy_below_the_floor_for_the_window_is_flagged():
    recs = [record(s, entropy=1e-4) for s in range(1, 11)]
    flags = health.assess(recs, SETTINGS)
    assert [f["check"] for f in flags] == ["entropy"]
    assert "entropy 0.0001 nats, below 0.001, for the last 10 steps (1-10)" == flags[0]["reason"]


def test_a_nan_loss_is_flagged_at_its_step():
    recs = healthy_run(16) + [record(17, loss=None, nonfinite={"loss": "nan"})]
    out = health.annotate(recs, SETTINGS)
    assert [r["step"] for r in out if r["health"]] == [17]
    assert out[-1]["health"] == [{"check": "nonfinite", "reason": "loss nan at step 17"}]


def test_a_value_not_measured_breaks_a_window():
    recs = [record(s, grad_norm=0.0) for s in range(1, 11)]
    recs[4]["grad_norm"] = None  # an engine that logged no grad_norm at step 5
    assert health.assess(recs, SETTINGS) == []


def test_step_record_names_a_nonfinite_measured_value_and_writes_null():
    stats = M.StepStats(
        step=17, prompts=2, rollouts=8, prompt_tokens=10, response_tokens=20, gen_tokens=30, ref_tokens=0,
        train_tokens=30, reward_mean=0.5, reward_std=0.1, entropy=1.0, kl=None, clip_ratio=0.0,
        wall_seconds=1.0, gen_seconds=0.5, sample_seconds=0.4, grad_norm=float("inf"), loss=float("nan"),
    )  # fmt: skip
    rec, _ = M.step_record(stats, M.Cumulative(step=16), 100, 90, "trl", 0)
    assert (rec["loss"], rec["grad_norm"]) == (None, None)
    assert rec["nonfinite"] == {"grad_norm": "inf", "loss": "nan"}
    assert json.loads(json.dumps(rec, allow_nan=False)) == rec


def test_a_segment_flags_a_step_as_the_whole_run_does():
    """A segment sees the history carried in its input (HISTORY_STEPS records) plus its own steps."""
    run = [record(s, reward=0.4) for s in range(1, 401)] + [record(s, reward=0.0) for s in range(401, 421)]
    carried = health.history_after({"health_history": health.history(run[:300])}, run[300:405])
    whole = health.annotate(run, SETTINGS)
    for i in range(405, 420):
        assert health.assess([*carried, *run[405 : i + 1]], SETTINGS) == (whole[i]["health"] or [])


def test_stop_raises_naming_the_run_step_and_reason(capsys):
    recs = [record(s, reward=0.0) for s in range(1, 11)]
    with pytest.raises(UserError) as err:
        health.check_step(recs, health.Settings(steps=10, stop=True), "m__lr-100")
    assert str(err.value).startswith(
        "run m__lr-100: training health check failed at step 10: reward_mean 0 for the last 10 steps (1-10)"
    )
    assert "training health: run m__lr-100, step 10: reward_mean 0" in capsys.readouterr().err


def test_without_stop_a_flag_is_printed_and_training_goes_on(capsys):
    flags = health.check_step([record(s, reward=0.0) for s in range(1, 11)], SETTINGS, "xs")
    assert [f["check"] for f in flags] == ["reward"]
    assert "training health: run xs, step 10" in capsys.readouterr().err


def test_settings_come_from_the_environment_the_workflow_exports(monkeypatch):
    monkeypatch.setenv(health.ENVIRONMENT, "")  # unset; restored after the test
    assert health.Settings.from_environment() == health.Settings()
    health.export({"steps": 4, "stop": True})
    assert health.Settings.from_environment() == health.Settings(steps=4, stop=True)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"steps": 0}, "training.health.steps"),
        ({"windows": 3}, "training.health.windows"),
        ({"stop": "yes"}, "training.health.stop"),
    ],
)
def test_bad_settings_name_their_key(section, key):
    with pytest.raises(UserError, match=rf"^{key}:"):
        health.Settings.from_config(section)


def test_run_metrics_carry_each_steps_flags(tmp_path: Path):
    """`rlscaling curves metrics --health-json` (rule run_metrics) judges the whole run."""
    recs = [record(s, reward=0.4) for s in range(1, 5)] + [record(s, reward=0.0) for s in range(5, 9)]
    for lo, hi in ((0, 4), (4, 8)):
        d = tmp_path / f"step_{hi:06d}"
        d.mkdir()
        M.write(d / "metrics.jsonl", recs[lo:hi])
    out = tmp_path / "metrics.jsonl"
    argv = ["curves", "metrics", str(tmp_path / "step_000004"), str(tmp_path / "step_000008")]
    assert cli_main([*argv, "--health-json", '{"steps": 3}', "-o", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["step"] for r in got if r["health"]] == [7, 8]
    assert got[6]["health"][0]["reason"] == (
        "reward_mean 0 for the last 3 steps (5-7), after a mean of 0.4 over steps 2-4"
    )
