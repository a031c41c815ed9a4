"""Training health: flags on a run's per-step metrics when its reward, gradient or entropy collapses, or
a measured value turns NaN or infinite.

    settings = Settings.from_config(config["training"]["health"])
    flags = assess(records, settings)        # the flags of the last record, given the records before it
    records = annotate(records, settings)    # every record with its `health` field

`records` are metrics.jsonl records of one run in step order (rlscaling.train.metrics). Each check looks
at the last `settings.steps` records (the window W):

    nonfinite      a measured loss, grad_norm, reward_mean or entropy was NaN or infinite at this step
                   (the record holds null there and names it in `nonfinite`): flagged at once
    reward         reward_mean <= reward_floor at every step of the window (no rollout earned a reward:
                   GRPO's advantages are all 0 and the policy stops learning)
    grad_norm      grad_norm <= grad_norm_floor at every step of the window (the update is empty)
    entropy        entropy < entropy_floor at every step of the window (the policy samples one response)

A window check needs W records with the value measured; a null (not measured) breaks it. The reason of
a reward flag gives the mean reward of the W steps before the window when there are any ("after a mean
of 0.41 over steps 1-10"), so a collapse reads apart from a run that never earned a reward.

A flag is a dict {"check": NAME, "reason": TEXT}; a record's `health` is the list of its flags, null
when it has none. The flags of a step depend only on the 2W - 1 steps before it, so a segment that
knows that much of its run's history (`HISTORY_STEPS` of it, carried from segment to segment) flags a
step exactly as the whole run's records do.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlscaling.errors import UserError

# the environment variable that carries `training.health` (JSON) from the workflow to `rlscaling train`:
# not a param of the training jobs, since the checks change no trained result
ENVIRONMENT = "RLSCALING_HEALTH"
# measured fields a non-finite value of which is flagged at once
FINITE_FIELDS = ("loss", "grad_norm", "reward_mean", "entropy")
# the fields of a record the checks read (what a segment carries of its run's history)
HISTORY_FIELDS = ("step", "reward_mean", "grad_norm", "entropy", "nonfinite")
# the largest window the config allows (workflow/schemas/config.schema.yaml, training.health.steps)
MAX_WINDOW = 200
# records a segment carries of the steps before it: enough for any allowed window and the reward
# flag's "mean before the window"
HISTORY_STEPS = 2 * MAX_WINDOW


@dataclass(frozen=True)
class Settings:
    """Thresholds of the checks (config `training.health`).

    steps: the window W (RL steps); reward_floor: reward_mean at or below it counts as no reward;
    grad_norm_floor: grad_norm at or below it counts as no update; entropy_floor: mean per-token
    entropy (nats) below it counts as a collapsed policy; stop: a flagged step stops the run."""

    steps: int = 10
    reward_floor: float = 0.0
    grad_norm_floor: float = 1e-8
    entropy_floor: float = 1e-3
    stop: bool = False

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> Settings:
        """Settings of a `training.health` section (missing keys take the defaults). Raises UserError
        naming the key of a value out of range."""
        section = dict(section or {})
        unknown = sorted(set(section) - set(cls.__dataclass_fields__))
        if unknown:
            raise UserError(f"training.health.{unknown[0]}: not a health setting")
        s = cls(**section)
        if not isinstance(s.steps, int) or isinstance(s.steps, bool) or not 1 <= s.steps <= MAX_WINDOW:
            raise UserError(
                f"training.health.steps: expected an integer in [1, {MAX_WINDOW}], got {s.steps!r}"
            )
        for key in ("reward_floor", "grad_norm_floor", "entropy_floor"):
            value = getattr(s, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UserError(f"training.health.{key}: expected a finite number, got {value!r}")
        if not isinstance(s.stop, bool):
            raise UserError(f"training.health.stop: expected true or false, got {s.stop!r}")
        return s

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> Settings:
        """The settings the workflow exported in $RLSCALING_HEALTH (JSON of `training.health`); the
        defaults when it is unset. Raises UserError naming the variable when it is not JSON."""
        text = (os.environ if env is None else env).get(ENVIRONMENT)
        if not text:
            return cls()
        try:
            section = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"${ENVIRONMENT}: not JSON ({err.msg})") from None
        if not isinstance(section, dict):
            raise UserError(f"${ENVIRONMENT}: expected a JSON object of training.health settings")
        return cls.from_config(section)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def export(section: dict[str, Any] | None) -> None:
    """Put `training.health` in this process's environment ($RLSCALING_HEALTH), for the training jobs it
    starts (the workflow calls it at parse time). Raises UserError naming a bad key."""
    os.environ[ENVIRONMENT] = json.dumps(Settings.from_config(section).as_dict(), sort_keys=True)


def _steps(window: Sequence[dict[str, Any]]) -> str:
    first, last = int(window[0]["step"]), int(window[-1]["step"])
    return f"{first}-{last}" if first != last else str(first)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _window(records: Sequence[dict[str, Any]], field: str, n: int) -> list[dict[str, Any]] | None:
    """The last n records, when each has `field` measured (a finite number); else None."""
    if len(records) < n:
        return None
    window = list(records[-n:])
    for rec in window:
        v = rec.get(field)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
    return window


def assess(records: Sequence[dict[str, Any]], settings: Settings) -> list[dict[str, str]]:
    """The flags of the last of `records` (one run's records in step order, ending at the step assessed);
    [] when it is healthy or there are none."""
    if not records:
        return []
    last = records[-1]
    step = int(last["step"])
    flags: list[dict[str, str]] = []
    nonfinite = last.get("nonfinite") or {}
    for field in FINITE_FIELDS:
        if field in nonfinite:
            flags.append({"check": "nonfinite", "reason": f"{field} {nonfinite[field]} at step {step}"})
    w = settings.steps
    window = _window(records, "reward_mean", w)
    if window is not None and all(r["reward_mean"] <= settings.reward_floor for r in window):
        top = max(r["reward_mean"] for r in window)
        reason = f"reward_mean {_number(top) if top else 0} for the last {w} steps ({_steps(window)})"
        before = [
            r["reward_mean"]
            for r in records[-2 * w : -w]
            if isinstance(r.get("reward_mean"), (int, float)) and math.isfinite(r["reward_mean"])
        ]
        if before and sum(before) / len(before) > settings.reward_floor:
            earlier = records[-2 * w : -w]
            reason += f", after a mean of {_number(sum(before) / len(before))} over steps {_steps(earlier)}"
        flags.append({"check": "reward", "reason": reason})
    window = _window(records, "grad_norm", w)
    if window is not None and all(r["grad_norm"] <= settings.grad_norm_floor for r in window):
        top = max(r["grad_norm"] for r in window)
        floor = _number(settings.grad_norm_floor)
        span = f"for the last {w} steps ({_steps(window)})"
        reason = f"grad_norm {_number(top) if top else 0} (at most {floor}) {span}"
        flags.append({"check": "grad_norm", "reason": reason})
    window = _window(records, "entropy", w)
    if window is not None and all(r["entropy"] < settings.entropy_floor for r in window):
        top = max(r["entropy"] for r in window)
        flags.append(
            {
                "check": "entropy",
                "reason": f"entropy {_number(top)} nats, below {_number(settings.entropy_floor)}, for the "
                f"last {w} steps ({_steps(window)})",
            }
        )
    return flags


def annotate(records: Sequence[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """`records` (one run, step order) each with its `health` field: its flags, or None when healthy."""
    out = []
    for i, rec in enumerate(records):
        flags = assess(records[max(0, i + 1 - 2 * settings.steps) : i + 1], settings)
        out.append({**rec, "health": flags or None})
    return out


def history(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a segment carries of its run's records for the next one: the checked fields of the last
    HISTORY_STEPS records."""
    return [{k: r.get(k) for k in HISTORY_FIELDS} for r in records[-HISTORY_STEPS:]]


def history_after(segment: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history a segment output hands to the next segment: its rlscaling_segment.json's
    `health_history` (the steps before it) followed by its own metrics.jsonl `records`."""
    return history([*(segment.get("health_history") or []), *records])


def check_step(records: Sequence[dict[str, Any]], settings: Settings, run: str) -> list[dict[str, str]]:
    """Check the last of `records` (the run's steps so far, this one last) during training: each flag is
    printed to stderr; with settings.stop a flag raises UserError (stop_message). Returns the flags."""
    flags = assess(records, settings)
    step = int(records[-1]["step"]) if records else 0
    for flag in flags:
        print(f"training health: run {run}, step {step}: {flag['reason']}", file=sys.stderr, flush=True)
    if flags and settings.stop:
        raise UserError(stop_message(run, step, flags))
    return flags


def stop_message(run: str, step: int, flags: list[dict[str, str]]) -> str:
    """The UserError text of a run stopped by training.health.stop."""
    reasons = "; ".join(f["reason"] for f in flags)
    return (
        f"run {run}: training health check failed at step {step}: {reasons} (training.health.stop is true; "
        "see docs/guides/input-checks.md: lower training.lr, or set training.health.stop: false to train on)"
    )
