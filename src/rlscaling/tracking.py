"""Experiment tracking, opt-in: Weights & Biases, MLflow or TensorBoard (config section `tracking`).

    tracking: {backend: none|wandb|mlflow|tensorboard, project: STR, mode: online|offline, dir: PATH,
               uri: MLFLOW_URI, entity: WANDB_ENTITY}

Off by default (backend none): nothing is imported, no file is written, no job's params change. When on,
the workflow exports the settings to every job in the environment variable RLSCALING_TRACKING (JSON;
`Settings.export`), not as rule params: tracking never changes an output, so switching it on mid-study
reruns nothing.

One tracked run per training run, for its whole life: its id is a function of (study, run) (`run_id`),
so every segment, resumed or not, and every evaluation of its checkpoints continue the same tracked run:
- wandb: wandb.init(id=run_id, resume="allow"); the engines call wandb.init themselves and get the id
  through WANDB_RUN_ID / WANDB_RESUME=allow (`environment`). Offline mode writes one offline-run folder
  per process under DIR/wandb; `wandb sync DIR/wandb/offline-run-*` uploads them as one run.
- mlflow: the run is found by its tag rlscaling.run_id in experiment PROJECT, or created once (under a
  file lock in DIR); the engines get it as MLFLOW_RUN_ID. Store: `uri`, default sqlite:///DIR/mlflow.db.
- tensorboard: one log folder per run, DIR/tensorboard/RUN_ID, appended to by every segment (a new
  event file each time; TensorBoard reads them together).

What is logged (all against the RL step):
- per step, from the engine while it trains (live): TRL through GRPOConfig.report_to (its own metric
  names, train/*), verl through trainer.logger for wandb and tensorboard. verl 0.9.1 cannot continue an
  MLflow run across segments (it logs its whole config as MLflow params, which differ per segment, and
  drops the logger when that fails), so verl + mlflow has no live per-step metrics;
- per step, at the end of each segment, for both engines and every backend: the segment's
  metrics.jsonl records (rlscaling.train.metrics, one schema for both engines) as rl/FIELD;
- per evaluated checkpoint: eval/BENCH/pass@1, pass@k, format_rate, ... (`log_evaluation`);
- at the end, in a study-level tracked run (`STUDY_RUN`): each fit's parameters and R² as summary
  values fit/NAME/KEY, and the fit JSONs, figures and summary.md as artifacts (`log_study`).

A missing package raises UserError naming the extra to install: pip install -e '.[tracking]'.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError

BACKENDS = ("none", "wandb", "mlflow", "tensorboard")
MODES = ("online", "offline")
ENV = "RLSCALING_TRACKING"  # the settings as JSON, exported by the workflow to every job
EXTRA = "pip install -e '.[tracking]'"
_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow-skinny", "tensorboard": "tensorboard"}
STUDY_RUN = "study"  # the tracked run of the study's fits, figures and summary
STEP_KEY = "rl_step"  # the x-axis of our metrics (W&B: a defined step metric)
RUN_TAG = "rlscaling.run_id"  # MLflow: the tag that finds a run's tracked run
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Settings:
    """The `tracking` config section, resolved: `dir` absolute, `study` the study's name."""

    backend: str = "none"
    project: str = "rlscaling"
    mode: str = "offline"
    dir: str = "tracking"
    uri: str | None = None
    entity: str | None = None
    study: str = "study"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"tracking.backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.mode not in MODES:
            raise UserError(f"tracking.mode: {self.mode!r} is not one of {', '.join(MODES)}")

    @property
    def enabled(self) -> bool:
        return self.backend != "none"

    @classmethod
    def from_config(cls, config: dict[str, Any], study_dir: str | Path | None = None) -> Settings:
        """From a study config; `dir` defaults to STUDY_DIR/tracking (STUDY_DIR: results/{study})."""
        section = dict(config.get("tracking") or {})
        study = str(config.get("study") or "study")
        base = Path(study_dir) if study_dir is not None else Path("results") / study
        folder = Path(section.get("dir") or base / "tracking")
        return cls(
            backend=section.get("backend") or "none",
            project=section.get("project") or "rlscaling",
            mode=section.get("mode") or "offline",
            dir=str(folder.resolve()),
            uri=section.get("uri"),
            entity=section.get("entity"),
            study=study,
        )

    @classmethod
    def from_json(cls, text: str) -> Settings:
        try:
            data = json.loads(text)
        except ValueError as err:
            raise UserError(f"{ENV}: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise UserError(f"{ENV}: expected a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise UserError(f"{ENV}: unknown keys {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> Settings:
        """The settings the workflow exported (RLSCALING_TRACKING); backend none when it is unset."""
        text = (os.environ if env is None else env).get(ENV)
        return cls.from_json(text) if text else cls()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def export(self, env: Any = None) -> None:
        """Put the settings in `env` (default os.environ) for the jobs; remove them when off."""
        env = os.environ if env is None else env
        if self.enabled:
            env[ENV] = self.to_json()
        else:
            env.pop(ENV, None)

    def mlflow_uri(self) -> str:
        return self.uri or f"sqlite:///{Path(self.dir).resolve()}/mlflow.db"

    def tensorboard_dir(self, run: str) -> Path:
        return Path(self.dir) / "tensorboard" / run_id(self.study, run)


def run_id(study: str, run: str) -> str:
    """The stable id of a run's tracked run: `{study}-{run}` in [A-Za-z0-9_.-], at most 64 characters
    (longer or changed names get a hash suffix, so two runs never share an id)."""
    raw = f"{study}-{run}"
    clean = _ID_CHARS.sub("_", raw)
    if clean == raw and len(clean) <= 64:
        return clean
    return f"{clean[:51]}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def require(backend: str) -> Any:
    """Import a backend's package, or raise UserError naming the extra that installs it."""
    import importlib

    module = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard"}[backend]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"tracking.backend {backend}: the {_PACKAGES[backend]} package is not installed in this "
            f"environment; install the tracking extra: {EXTRA}"
        ) from None


# --------------------------------------------------------------------------------------------------
# what the engines get


def report_to(settings: Settings) -> str | list[str]:
    """TRL's GRPOConfig.report_to: the backend, or "none"."""
    return [settings.backend] if settings.enabled else "none"


def verl_loggers(settings: Settings) -> list[str]:
    """Backends to add to verl's trainer.logger: wandb and tensorboard continue one run across
    segments through the environment; mlflow cannot (see the module doc), so it is never added."""
    return [settings.backend] if settings.backend in ("wandb", "tensorboard") else []


def environment(settings: Settings, run: str) -> dict[str, str]:
    """Environment variables that make an engine's own logger continue `run`'s tracked run."""
    if not settings.enabled:
        return {}
    require(settings.backend)
    key = run_id(settings.study, run)
    if settings.backend == "wandb":
        env = {
            "WANDB_RUN_ID": key,
            "WANDB_RESUME": "allow",
            "WANDB_PROJECT": settings.project,
            "WANDB_NAME": run,
            "WANDB_RUN_GROUP": settings.study,
            "WANDB_MODE": settings.mode,
            "WANDB_DIR": str(Path(settings.dir)),
            "WANDB_SILENT": "true",
        }
        if settings.entity:
            env["WANDB_ENTITY"] = settings.entity
        Path(settings.dir).mkdir(parents=True, exist_ok=True)
        return env
    if settings.backend == "mlflow":
        return {
            "MLFLOW_TRACKING_URI": settings.mlflow_uri(),
            "MLFLOW_EXPERIMENT_NAME": settings.project,
            "MLFLOW_RUN_ID": _mlflow_run(settings, run),
            # TRL's MLflowCallback logs every TrainingArguments value as a param; they differ between
            # segments (output_dir, max_steps) and MLflow refuses to change a param: log none
            "MLFLOW_MAX_LOG_PARAMS": "0",
        }
    folder = settings.tensorboard_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    # TRL's TensorBoardCallback reads TENSORBOARD_LOGGING_DIR, verl's logger TENSORBOARD_DIR
    return {"TENSORBOARD_LOGGING_DIR": str(folder), "TENSORBOARD_DIR": str(folder)}


# --------------------------------------------------------------------------------------------------
# the tracker


class Tracker:
    """One tracked run (of a training run, or the study's `STUDY_RUN`), opened for one job.

    with Tracker.open(settings, run) as t:
        t.log_metrics({"eval/heldout/pass@1": 0.4}, step=10)
        t.log_summary({"fit/x/K_max": 0.8})
        t.log_artifact("results/s/summary.md")
    """

    def __init__(self, settings: Settings, run: str) -> None:
        self.settings = settings
        self.run = run
        self.id = run_id(settings.study, run)

    @classmethod
    def open(cls, settings: Settings, run: str) -> Tracker:
        if not settings.enabled:
            raise UserError("tracking.backend: none (nothing to open)")
        kind = {"wandb": _WandbTracker, "mlflow": _MlflowTracker, "tensorboard": _TensorBoardTracker}
        return kind[settings.backend](settings, run)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def log_summary(self, values: dict[str, float]) -> None:
        raise NotImplementedError

    def log_artifact(self, path: str | Path, folder: str = "") -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _WandbTracker(Tracker):
    def __init__(self, settings: Settings, run: str) -> None:
        super().__init__(settings, run)
        wandb = require("wandb")
        Path(settings.dir).mkdir(parents=True, exist_ok=True)
        active = wandb.run  # TRL's callback may still hold this run's tracked run: log into it
        self.wb = (
            active
            if active is not None and active.id == self.id
            else wandb.init(
                project=settings.project,
                entity=settings.entity,
                id=self.id,
                name=run,
                group=settings.study,
                resume="allow",
                mode=settings.mode,
                dir=settings.dir,
                settings=wandb.Settings(silent=True, console="off"),
            )
        )
        self.wb.define_metric(STEP_KEY)
        for prefix in ("rl/*", "eval/*"):
            self.wb.define_metric(prefix, step_metric=STEP_KEY)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.wb.log({**_finite(metrics), STEP_KEY: int(step)})

    def log_summary(self, values: dict[str, float]) -> None:
        for k, x in _finite(values).items():
            self.wb.summary[k] = x

    def log_artifact(self, path: str | Path, folder: str = "") -> None:
        # the file travels with the run (offline: copied into the run's files/ folder, uploaded by sync)
        self.wb.save(str(Path(path).resolve()), base_path=str(Path(path).resolve().parent), policy="now")

    def close(self) -> None:
        self.wb.finish()  # also the engine's run: the segment or evaluation is over
        # finish() returns once the run's exit record is handled, but W&B's service process writes out
        # the run's records (offline: DIR/wandb/offline-run-*/run-*.wandb) only when it closes the run,
        # which it does later, on its own schedule; a busy machine delays it by seconds. Shut the service
        # down here, which waits for it to write everything, so the run is complete when the job ends
        # or anything reads it (the next init starts a new service).
        require("wandb").teardown()


class _MlflowTracker(Tracker):
    def __init__(self, settings: Settings, run: str) -> None:
        super().__init__(settings, run)
        require("mlflow")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(settings.mlflow_uri())
        self.run_uuid = _mlflow_run(settings, run)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(_mlflow_key(k), x, now, int(step)) for k, x in _finite(metrics).items()]
        for i in range(0, len(batch), 500):
            self.client.log_batch(self.run_uuid, metrics=batch[i : i + 500])

    def log_summary(self, values: dict[str, float]) -> None:
        self.log_metrics(values, step=0)

    def log_artifact(self, path: str | Path, folder: str = "") -> None:
        self.client.log_artifact(self.run_uuid, str(path), artifact_path=folder or None)

    def close(self) -> None:
        self.client.set_terminated(self.run_uuid)  # FINISHED until the next job resumes it


class _TensorBoardTracker(Tracker):
    def __init__(self, settings: Settings, run: str) -> None:
        super().__init__(settings, run)
        require("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.folder = settings.tensorboard_dir(run)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for k, x in _finite(metrics).items():
            self.writer.add_scalar(k, x, int(step))

    def log_summary(self, values: dict[str, float]) -> None:
        self.log_metrics(values, step=0)

    def log_artifact(self, path: str | Path, folder: str = "") -> None:
        # TensorBoard has no artifacts: files are copied beside the run's event files
        target = self.folder / "artifacts" / folder
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / Path(path).name)

    def close(self) -> None:
        self.writer.close()


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    """Numbers only (bools, None, NaN and text left out): what every backend can plot."""
    out = {}
    for k, x in metrics.items():
        if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x)):
            out[k] = float(x)
    return out


def _mlflow_key(key: str) -> str:
    """MLflow allows alphanumerics, _ - . / : and spaces in keys (pass@1 -> pass_at_1)."""
    return re.sub(r"[^\w\-./: ]", "_", key.replace("@", "_at_"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock file (fcntl), so concurrent jobs create a tracked run only once."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _mlflow_run(settings: Settings, run: str) -> str:
    """The MLflow run id of `run`'s tracked run: found by its tag, else created (under a lock)."""
    require("mlflow")
    from mlflow.tracking import MlflowClient

    key = run_id(settings.study, run)
    client = MlflowClient(settings.mlflow_uri())
    with _locked(Path(settings.dir) / ".locks" / f"{key}.lock"):
        exp = client.get_experiment_by_name(settings.project)
        # artifacts beside the store (MLflow's default is ./mlruns in the job's working directory)
        artifacts = (Path(settings.dir) / "mlflow-artifacts").resolve().as_uri()
        exp_id = exp.experiment_id if exp else client.create_experiment(settings.project, artifacts)
        found = client.search_runs([exp_id], filter_string=f"tags.`{RUN_TAG}` = '{key}'", max_results=2)
        if found:
            return found[0].info.run_id
        tags = {RUN_TAG: key, "rlscaling.study": settings.study, "rlscaling.run": run}
        return client.create_run(exp_id, run_name=run, tags=tags).info.run_id


# --------------------------------------------------------------------------------------------------
# what the stages log


def log_segment(settings: Settings, run: str, records: Iterable[dict[str, Any]]) -> int:
    """A segment's metrics.jsonl records as rl/FIELD against their step; returns how many."""
    n = 0
    with Tracker.open(settings, run) as t:
        for rec in records:
            t.log_metrics({f"rl/{k}": x for k, x in rec.items() if k != "step"}, step=int(rec["step"]))
            n += 1
    return n


def evaluation_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """One benchmark's evaluation summary (rlscaling evaluate's JSON) as eval/BENCH/... metrics."""
    b = f"eval/{summary['bench']}"
    out = {f"{b}/pass@1": summary.get("pass_at_1"), f"{b}/pass@1_stderr": summary.get("pass_at_1_stderr")}
    for k, x in (summary.get("pass_at_k") or {}).items():
        out[f"{b}/pass@{k}"] = x
    for field in ("format_rate", "mean_response_tokens", "truncated_rate"):
        out[f"{b}/{field}"] = summary.get(field)
    return _finite(out)


def log_evaluation(settings: Settings, run: str, step: int, summaries: list[dict[str, Any]]) -> None:
    """A checkpoint's evaluation (one summary per benchmark) against its RL step."""
    metrics: dict[str, float] = {}
    for s in summaries:
        metrics.update(evaluation_metrics(s))
    with Tracker.open(settings, run) as t:
        t.log_metrics(metrics, step=step)


def fit_values(name: str, fit: dict[str, Any]) -> dict[str, float]:
    """A fit JSON's parameters, R² and held-out errors as fit/NAME/KEY summary values."""
    out: dict[str, Any] = {f"fit/{name}/{k}": x for k, x in (fit.get("params") or {}).items()}
    for k, x in fit.items():
        if k.startswith("r2") or k in ("n_points", "rmse", "mape"):
            out[f"fit/{name}/{k}"] = x
    for k, x in (fit.get("heldout") or {}).items():
        out[f"fit/{name}/heldout_{k}"] = x
    return _finite(out)


def log_study(
    settings: Settings, fits: Iterable[str | Path], figures: Iterable[str | Path], summary: str | Path
) -> None:
    """The study's end results in its own tracked run (`STUDY_RUN`): every fit's values as summary values
    and its JSON as an artifact, the figures (PNG) and summary.md as artifacts."""
    with Tracker.open(settings, STUDY_RUN) as t:
        for path in map(Path, fits):
            t.log_summary(fit_values(path.stem, json.loads(path.read_text())))
            t.log_artifact(path, "fits")
        for path in map(Path, figures):
            if path.suffix == ".png" and path.is_file():
                t.log_artifact(path, "figures")
        t.log_artifact(summary)
