"""The `verl` engine: one GRPO training segment with verl 0.9.1 (FSDP + vLLM / SGLang, Ray; GPU nodes).

    train_segment(params, init, data, step, threads, out)

runs `python -m verl.trainer.main_ppo` with the overrides of rlscaling.train.verl.overrides for RL steps
(step - segment_steps, step] and writes `out` (atomically: a temporary folder renamed into place):

- the Hugging Face model after `step` (config, weights, tokenizer), from verl's checkpoint
  (`actor.checkpoint.save_contents` with hf_model -> global_step_{step}/actor/huggingface, hard-linked), or
  from `python -m verl.model_merger merge` when training.verl.hf_export is `merger`;
- `metrics.jsonl`: one record per step (rlscaling.train.metrics schema + val_scores, throughput), from
  verl's file-logger JSONL (rlscaling.train.verl.metrics), cumulative C / D / tokens continuing from `init`;
- `rlscaling_segment.json`: engine, step, the base model (`reference_model`), params, the verl command,
  overrides, checkpoint folder, and the validation before training of the first segment.

verl's own resumable state (FSDP shards, optimizer, scheduler, RNG, dataloader position) lives outside
the Snakemake outputs, in `runs/{run}/.verl/{fingerprint}/checkpoints/global_step_{n}` (verl keeps the
newest `keep_checkpoints`). The fingerprint hashes everything a segment's result depends on (params, base
model, data file), so a changed setting never resumes a stale state. A segment resumes from
global_step_{step - segment_steps} (trainer.resume_mode=resume_path), or, when an earlier attempt of the
same segment saved a later checkpoint (verl.save_freq), from that one: a lost node costs at most the
steps since the last save. Every job writes its own file-logger JSONL (verl truncates the file on open),
and the converter merges a segment's files, later attempts winning per step.

The base model (`actor_rollout_ref.model.path`) is the same in every segment: it is the KL reference and
the architecture / tokenizer source, while the weights come from the resumed checkpoint.

Multi-node sizes (verl.nnodes > 1) run the trainer through the launcher (scripts/ray_slurm_launch.sh by
default), which starts a Ray head and workers inside the Slurm allocation and cleans them up.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rlscaling.checkpoint import write_manifest
from rlscaling.errors import UserError
from rlscaling.io import atomic_dir, write_json
from rlscaling.environments import engines_python, visible_gpus
from rlscaling.paths import PROJECT_ROOT
from rlscaling import training_health as health_mod
from rlscaling.train import metrics as M
from rlscaling.training_health import Settings
from rlscaling.train.verl import VERL_VERSION, settings
from rlscaling.train.verl import metrics as VM
from rlscaling.train.verl import overrides as O
from rlscaling.train.verl import processes as P
from rlscaling.resources import ClusterShape

ENGINE = "verl"
SEGMENT_FILE = "rlscaling_segment.json"
DEFAULT_LAUNCHER = PROJECT_ROOT / "scripts" / "ray_slurm_launch.sh"
_GLOBAL_STEP = re.compile(r"^global_step_(\d+)$")


# --------------------------------------------------------------------------------------------------
# planning (pure: no verl, no GPU)


def reward_path() -> str:
    """The file verl loads our reward function from (rlscaling/rewards/verl_reward.py)."""
    import importlib.util

    spec = importlib.util.find_spec("rlscaling.rewards.verl_reward")
    if spec is None or spec.origin is None:  # pragma: no cover - part of this package
        raise UserError("rlscaling.rewards.verl_reward is missing from this installation")
    return str(Path(spec.origin).resolve())


def shape_from_environment(env: dict[str, str] | None = None) -> ClusterShape:
    """Nodes / GPUs per node / CPUs of the current Slurm allocation (1 node, 0 GPUs outside Slurm)."""
    env = dict(os.environ if env is None else env)
    nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 1)
    gpus = 0
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"):
        m = re.search(r"(\d+)$", env.get(key, ""))
        if m:
            gpus = int(m.group(1))
            break
    if not gpus and env.get("CUDA_VISIBLE_DEVICES"):
        gpus = len([d for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()])
    cpus = int(env.get("SLURM_CPUS_PER_TASK") or env.get("SLURM_CPUS_ON_NODE") or 1)
    return ClusterShape(nodes=nodes, gpus_per_node=gpus, cpus_per_task=cpus)


def resolved_params(params: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """`params` with complete verl settings. The Snakefile passes them resolved for the run's size
    (rlscaling.train.verl.settings.train_params); by hand, the current allocation fills GPUs and nodes."""
    params = dict(params)
    v = params.get("verl") or {}
    if all(k in v for k in settings.DEFAULTS):
        return params
    params["verl"] = settings.resolve(v, None, shape_from_environment(env))
    return params


def fingerprint(params: dict[str, Any], base_model: str, data: Path) -> str:
    """12 hex digits identifying a run's verl state: params (cluster-independent ones), base model, data."""
    p = json.loads(json.dumps(params, sort_keys=True, default=str))
    v = dict(p.get("verl") or {})
    for key in ("python", "launcher", "env", "ray_num_cpus", "keep_checkpoints", "logger", "save_freq"):
        v.pop(key, None)  # how and where verl runs, not what it computes
    p["verl"] = v
    p.pop("segment_steps", None)  # segments of different lengths share the same trajectory
    st = data.stat() if data.exists() else None
    blob = json.dumps(
        {
            "params": p,
            "base": base_model,
            "data": str(data.resolve()),
            "data_size": st.st_size if st else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def checkpoints(ckpt_dir: Path) -> dict[int, Path]:
    """global step -> verl checkpoint folder, for complete checkpoints (actor state and data.pt)."""
    out = {}
    if ckpt_dir.is_dir():
        for d in ckpt_dir.iterdir():
            m = _GLOBAL_STEP.match(d.name)
            if m and (d / "actor").is_dir() and (d / "data.pt").is_file():
                out[int(m.group(1))] = d
    return out


def resume_point(ckpt_dir: Path, first: int, last: int) -> Path | None:
    """Where a segment (first, last] resumes: the newest complete checkpoint in [first, last], None for a
    fresh start at step 0. Raises UserError when a later segment's starting state is gone."""
    have = {s: d for s, d in checkpoints(ckpt_dir).items() if first <= s <= last}
    if have:
        return have[max(have)]
    if first == 0:
        return None
    raise UserError(
        f"{ckpt_dir}: no verl checkpoint global_step_{first} to resume this segment from "
        f"(training.verl.keep_checkpoints removed it, or the run was trained elsewhere); rerun from the "
        f"newest segment that still has its state, e.g. delete the later step_* folders of this run"
    )


def python_for(v: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """training.verl.python, else the engines' interpreter (rlscaling.environments.engines_python)."""
    return v.get("python") or engines_python(env)


def launcher_argv(v: dict[str, Any]) -> list[str]:
    """The multi-node wrapper: launcher, its options, then `--` (the trainer command follows)."""
    import shlex

    base = shlex.split(v["launcher"]) if v.get("launcher") else [str(DEFAULT_LAUNCHER)]
    opts = ["--gpus-per-node", str(int(v["n_gpus_per_node"]))]
    if v.get("ray_num_cpus"):
        opts += ["--num-cpus", str(int(v["ray_num_cpus"]))]
    return [*base, *opts, "--"]


def trainer_command(
    params: dict[str, Any], overrides: list[str], env: dict[str, str] | None = None
) -> list[str]:
    """The full argv of a segment's trainer (through the launcher for multi-node sizes)."""
    v = params["verl"]
    cmd = O.command(python_for(v, env), overrides)
    if int(v.get("nnodes") or 1) > 1:
        return [*launcher_argv(v), *cmd]
    return cmd


def plan(
    params: dict[str, Any], init: Path, data: Path, step: int, out: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Everything a segment will run with, without running it: base model, previous records, verl
    folders, resume point, overrides and command. Raises UserError on inconsistent inputs."""
    params = resolved_params(params, env)
    params["verl"] = settings.for_device(params["verl"], visible_gpus(env))
    seg = int(params["segment_steps"])
    first = step - seg
    if first < 0:
        raise UserError(f"--step {step}: smaller than training.segment_steps ({seg})")
    previous: list[dict[str, Any]] = []
    if first == 0:
        # a local base model by absolute path (Ray workers may run elsewhere), a hub id as given
        base = str(init.resolve()) if init.exists() else str(init)
    else:
        info_path = init / SEGMENT_FILE
        if not info_path.is_file():
            raise UserError(f"--init {init}: not a segment output of the verl engine (no {SEGMENT_FILE})")
        info = json.loads(info_path.read_text())
        if info.get("engine") != ENGINE:
            raise UserError(f"--init {init}: trained by the {info.get('engine')!r} engine, not verl")
        if int(info.get("step", -1)) != first:
            raise UserError(
                f"--init {init}: checkpoint is at step {info.get('step')}, but --step {step} with "
                f"training.segment_steps {seg} trains from step {first}"
            )
        base = str(info["reference_model"])
        previous = M.read(init / "metrics.jsonl")
        if not previous or int(previous[-1]["step"]) != first:
            raise UserError(f"{init / 'metrics.jsonl'}: last record is not step {first}")
    work = (out.parent / ".verl" / fingerprint(params, base, data)).resolve()
    ckpt_dir = work / "checkpoints"
    resume = resume_point(ckpt_dir, first, step)
    v = params["verl"]
    val_files = [str(Path(f).resolve()) for f in v["val_files"]]
    if not val_files and (data.parent / "heldout.parquet").is_file():
        val_files = [str((data.parent / "heldout.parquet").resolve())]
    resume_step = int(_GLOBAL_STEP.match(resume.name).group(1)) if resume else 0
    log_path = work / "logs" / f"segment_{step:06d}.{_job_tag()}.jsonl"
    segment = O.Segment(
        params=params,
        model_path=base,
        train_files=[str(data.resolve())],
        val_files=val_files,
        ckpt_dir=str(ckpt_dir),
        first=first,
        last=step,
        resume_from=str(resume) if resume else None,
        reward_path=reward_path(),
        project=str(params.get("study") or "rlscaling"),
        experiment=str(params.get("run") or out.parent.name),
        log_path=str(log_path),
    )
    overrides = O.build(segment)
    return {
        "params": params,
        "first": first,
        "base": base,
        "previous": previous,
        "work": work,
        "ckpt_dir": ckpt_dir,
        "resume": resume,
        "resume_step": resume_step,
        "log_path": log_path,
        "overrides": overrides,
        "command": trainer_command(params, overrides, env),
    }


# --------------------------------------------------------------------------------------------------
# running


def _environment(v: dict[str, Any], log_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(O.plugin_environment(v))
    env.update({str(k): str(x) for k, x in (v.get("env") or {}).items()})
    env["VERL_FILE_LOGGER_PATH"] = str(log_path)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("WANDB_MODE", "disabled")
    return env


def _job_tag() -> str:
    """A per-job suffix for the file-logger JSONL (Slurm job id and restart count, else time)."""
    job = os.environ.get("SLURM_JOB_ID")
    restart = os.environ.get("SLURM_RESTART_COUNT", "0")
    return f"slurm{job}.{restart}.{time.time_ns()}" if job else f"local.{os.getpid()}.{time.time_ns()}"


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (copy across filesystems) every file of `src` into `dst`."""
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        target = dst / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def _count_parameters(model_dir: Path) -> tuple[int, int]:
    """(N, N_nonembed) of the HF model in `model_dir`, built on the meta device (no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from rlscaling.compute import count_parameters

    cfg = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return count_parameters(model)


def run_trainer(command: list[str], env: dict[str, str]) -> int:
    """Run verl's trainer and return its exit status; no process of it outlives this call or its job.

    The trainer runs under a supervisor in a session of its own (rlscaling.train.verl.processes): a
    child subreaper that keeps every process the trainer starts (Ray, vLLM) among its descendants and
    kills them all when the trainer exits or when this process dies, SIGKILL included. A SIGTERM here
    is passed on to it."""
    import signal

    proc = subprocess.Popen(P.supervised(command), env=env, start_new_session=True)

    def on_term(signum: int, frame: Any) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        sys.exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:  # an exception here: the supervisor stops the trainer and its tree
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        signal.signal(signal.SIGTERM, previous)


def record_weight_dtype(model_dir: Path) -> str:
    """Make config.json state the dtype its weights are stored in; returns it (e.g. "float32").

    verl 0.9.1 exports the HF model from FSDP's full state dict, i.e. the fp32 master weights
    (fsdp_config.model_dtype fp32), but builds the saved config with torch_dtype=bfloat16
    (verl/utils/checkpoint/fsdp_checkpoint_manager.py). Loaders that honour the config (vLLM's and
    transformers' dtype "auto") would then round every weight to bf16. A segment therefore writes fp32
    weights, like the base models and the trl engine, and its config says so."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise RuntimeError(f"{model_dir}: no *.safetensors weights in the exported model")
    dtypes = set()
    for f in files:
        with safe_open(str(f), "pt") as fh:
            dtypes |= {str(fh.get_slice(k).get_dtype()) for k in fh.keys()}
    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    if len(dtypes) != 1 or next(iter(dtypes)) not in names:
        raise RuntimeError(f"{model_dir}: weights in mixed or unknown dtypes {sorted(dtypes)}")
    dtype = names[next(iter(dtypes))]
    cfg_path = model_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("dtype") != dtype or cfg.get("torch_dtype", dtype) != dtype:
        cfg["dtype"] = dtype
        cfg.pop("torch_dtype", None)
        cfg_path.unlink()  # a hard link into verl's checkpoint: replace it, never write through it
        write_json(cfg_path, cfg)
    return dtype


def train_segment(
    params: dict[str, Any],
    init: str | Path,
    data: str | Path,
    step: int,
    threads: int,
    out: str | Path,
    *,
    env: dict[str, str] | None = None,
    health: Settings | None = None,
) -> Path:
    """Train RL steps (step - segment_steps, step] with verl; write the checkpoint `out` (see module doc).

    `health`: the training-health checks (rlscaling.training_health; default: the config's defaults), run on
    the segment's records once verl has finished: each step's flags are printed to stderr, and with
    `stop` a flagged step raises UserError and nothing is written under `out` (the run's later segments
    do not start)."""
    init, data, out = Path(init), Path(data), Path(out)
    if not data.is_file():
        raise UserError(f"--data {data}: file not found")
    p = plan(params, init, data, step, out, env)
    v = p["params"]["verl"]
    work, ckpt_dir, first = p["work"], p["ckpt_dir"], p["first"]
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    write_json(
        work / "plan.json",
        {k: (str(x) if isinstance(x, Path) else x) for k, x in p.items() if k != "previous"},
    )

    if p["resume_step"] < step:  # else an earlier attempt finished training and died while exporting
        log_path = p["log_path"]
        print("verl command:", " ".join(p["command"]), file=sys.stderr, flush=True)
        t0 = time.time()
        returncode = run_trainer(p["command"], _environment(v, log_path))
        print(
            f"verl trainer: exit status {returncode} after {time.time() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        if returncode != 0:
            raise RuntimeError(
                f"verl exited with status {returncode} (segment to step {step}); see the job log"
            )
    final = checkpoints(ckpt_dir).get(step)
    if final is None:
        raise RuntimeError(f"verl finished without the checkpoint {ckpt_dir}/global_step_{step}")

    by_step = VM.read_jsonl(sorted(logs.glob(f"segment_{step:06d}.*.jsonl"), key=lambda f: f.stat().st_mtime))
    with atomic_dir(out) as tmp:
        if v["hf_export"] == "checkpoint":
            hf = final / "actor" / "huggingface"
            if not (hf / "config.json").is_file():
                raise RuntimeError(f"{hf}: no HF model (actor.checkpoint.save_contents lacks hf_model?)")
            _link_tree(hf, tmp)
        else:
            cmd = O.merger_command(python_for(v, env), str(final / "actor"), str(tmp))
            if subprocess.run(cmd, env=_environment(v, logs / "merger.jsonl"), check=False).returncode != 0:
                raise RuntimeError(f"verl.model_merger failed for {final / 'actor'}")
        dtype = record_weight_dtype(tmp)
        n_params, n_nonembed = _count_parameters(tmp)
        records = VM.to_records(
            by_step,
            p["params"],
            first=first,
            last=step,
            n_params=n_params,
            n_nonembed=n_nonembed,
            previous=p["previous"][-1] if p["previous"] else None,
            where=str(logs),
        )
        history = (
            health_mod.history_after(json.loads((init / SEGMENT_FILE).read_text()), p["previous"])
            if first > 0
            else []
        )
        run = str(p["params"].get("run") or out.parent.name)
        for i in range(len(records)):
            health_mod.check_step([*history, *records[: i + 1]], health or Settings(), run)
        M.write(tmp / "metrics.jsonl", records)
        write_json(
            tmp / SEGMENT_FILE,
            {
                "engine": ENGINE,
                "verl_version": VERL_VERSION,
                "step": step,
                "reference_model": p["base"],
                "params": p["params"],
                "verl_checkpoint": str(final),
                "weight_dtype": dtype,
                "resumed_from": str(p["resume"]) if p["resume"] else None,
                "command": p["command"],
                "overrides": p["overrides"],
                "initial_validation": VM.initial_validation(by_step, first),
                "health_history": history,
            },
        )
        write_manifest(tmp)  # sizes and hashes of every file, checked when the checkpoint is read
    return out
