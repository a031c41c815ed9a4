"""The `trl` engine: one GRPO training segment with TRL's GRPOTrainer (CPU, or one GPU node).

    train_segment(params, init, data, step, threads, out)

trains RL steps (step - segment_steps, step] and writes `out`, which is at once
- a Hugging Face model folder (config, weights, tokenizer with its chat template) that
  AutoModelForCausalLM / AutoTokenizer.from_pretrained read, and
- a Trainer checkpoint (optimizer.pt, scheduler.pt, rng_state.pth, trainer_state.json with global_step)
  that the next segment resumes with `resume_from_checkpoint`,
plus `metrics.jsonl` (rlscaling.train.metrics, one record per step) and `rlscaling_segment.json`.

Segments give the same result as one uninterrupted run with the same seed (same weights and metrics, bit
for bit at a fixed thread count), because everything a step depends on is carried over:
- weights, Adam moments, LR-scheduler position, global_step, and the Python / NumPy / torch RNG states
  (Trainer's checkpoint, restored right before the first generation of the resumed segment);
- the data position: prompts are consumed in file order (the curriculum), `prompts_per_step` distinct
  prompts per step, each sampled `rollouts_per_prompt` times. GRPOConfig(shuffle_dataset=False) makes
  TRL's RepeatSampler walk rows 0, 1, 2, ...; the resumed Trainer skips the global_step batches already
  used (it wraps around at the end of the file, as epochs);
- the LR schedule is constant after a linear warmup, so no segment depends on total_steps;
- the KL reference (kl_coef > 0) is the run's base model, whose path every segment records.

One step = one generation batch = one optimizer step (batch = prompts x rollouts, no accumulation,
num_iterations = 1): the sampling policy is the current policy, so TRL skips recomputing old
log-probs, and with kl_coef = 0 (beta = 0) it keeps no reference model. Loss: the run's recipe
(rlscaling.train.recipes; the default, grpo, is TRL's "dapo" loss: token-mean over the batch, verl's
default loss_agg_mode, with advantages normalized per prompt group). With the recipe's
zero_variance_filter, prompt groups whose rollouts all got the same reward are left out of the loss.

Atomic output: training runs in `.{out.name}.partial/` beside `out` (Trainer's output_dir); its final
checkpoint is renamed to `out` only when complete, so a killed job leaves nothing under the final name.
With `checkpoint_every = n > 0` the partial folder also keeps a Trainer checkpoint every n steps, and a
rerun of the same segment (same params, init and data) resumes from the newest complete one; resuming
mid-segment gives the same result as not stopping.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import AutoModelForCausalLM, TrainerCallback

from rlscaling import checkpoint
from rlscaling.checkpoint import load_tokenizer
from trl import GRPOConfig, GRPOTrainer

from rlscaling import lifecycle, sampling
from rlscaling.compute import count_parameters
from rlscaling.errors import UserError
from rlscaling.io import atomic_dir, write_json
from rlscaling import training_health as health_mod
from rlscaling.train import metrics as M
from rlscaling.train import recipes
from rlscaling.training_health import Settings

SEGMENT_FILE = "rlscaling_segment.json"  # engine, step, reference model, params: written in every output
ENGINE = "trl"


def train_segment(
    params: dict[str, Any],
    init: str | Path,
    data: str | Path,
    step: int,
    threads: int,
    out: str | Path,
    *,
    checkpoint_every: int = 0,
    reward_func: Callable[..., list[float]] | None = None,
    report_to: str | list[str] = "none",
    health: Settings | None = None,
) -> Path:
    """Train RL steps (step - segment_steps, step] from `init` on `data`; write the checkpoint `out`.

    `params`: the run's training settings (rlscaling.train.cli.parse_params). `init`: a base model folder
    (starts at step 0) or the previous segment's output. `reward_func`: a TRL reward function; default
    rlscaling.rewards.trl_reward(params["reward"]). `report_to`: TRL's per-step loggers (GRPOConfig.report_to;
    rlscaling.tracking.report_to, which also sets the environment that continues the run's tracked run).
    `health`: the training-health checks (rlscaling.training_health; default: the config's defaults): each
    step's flags are printed to stderr, and with `stop` a flagged step raises UserError before anything
    is written under `out`. Returns `out`.
    """
    torch.set_num_threads(threads)
    init, data, out = Path(init), Path(data), Path(out)
    seg = int(params["segment_steps"])
    first = step - seg
    if first < 0:
        raise UserError(f"--step {step}: smaller than training.segment_steps ({seg})")
    if not init.is_dir():
        raise UserError(f"--init {init}: not a model folder")
    checkpoint.verify(init)  # a damaged file is named (with the command that redoes it) before it is read
    # a previous segment (it has our SEGMENT_FILE), else a base model at step 0
    segment = json.loads((init / SEGMENT_FILE).read_text()) if (init / SEGMENT_FILE).is_file() else None
    init_step = _trainer_state(init)["global_step"] if segment else 0
    if init_step != first:
        raise UserError(
            f"--init {init}: checkpoint is at step {init_step}, but --step {step} with "
            f"training.segment_steps {seg} trains from step {first}"
        )
    reference = Path(segment["reference_model"]) if segment else init.resolve()  # the run's base model

    # where to resume: a complete checkpoint of an interrupted run of this very segment, else `init`
    work = out.parent / f".{out.name}.partial"
    fingerprint = _fingerprint(params, init, data, step)
    resume = _resume_point(work, fingerprint, first, step) or (init if segment else None)
    work.mkdir(parents=True, exist_ok=True)
    write_json(work / "fingerprint.json", fingerprint)
    previous = M.read(resume / "metrics.jsonl") if resume is not None else []
    if previous and previous[-1]["step"] != _trainer_state(resume)["global_step"]:
        raise UserError(f"{resume / 'metrics.jsonl'}: last step does not match trainer_state.json")
    # the run's steps before this segment, as far as the health checks look back
    history = health_mod.history_after(segment, M.read(init / "metrics.jsonl")) if segment else []
    segment_info = {
        "engine": ENGINE,
        "step": step,
        "reference_model": str(reference),
        "params": params,
        "health_history": history,
    }

    final = work / f"checkpoint-{step}"
    if resume != final:  # else an interrupted run got as far as its final checkpoint
        trainer = _build_trainer(params, init, data, step, work, first, reference, reward_func, report_to)
        recorder = _Recorder(
            trainer,
            rows=[r for r in previous if r["step"] > first],
            cum=M.Cumulative.from_record(previous[-1]) if previous else M.Cumulative(),
            seed=int(params["seed"]),
            checkpoint_every=checkpoint_every,
            segment_info=segment_info,
            health=health or Settings(),
            run=str(params.get("run") or out.parent.name),
        )
        trainer.add_callback(recorder)
        trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)

    if not (final / "metrics.jsonl").is_file():
        raise RuntimeError(f"training ended without its final checkpoint {final}")
    checkpoint.write_manifest(final)  # sizes and sha256 of every file, checked by whoever loads `out`
    lifecycle.check_parent(f"{out}")  # the job that started us is gone: Snakemake has recorded a failure
    with atomic_dir(out) as tmp:
        os.replace(final, tmp)  # rename onto the empty temp dir; atomic_dir renames it to `out`
    shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------------
# the trainer


def _build_trainer(params, init, data, step, work, first, reference, reward_func, report_to="none"):
    """GRPOTrainer for this segment: model and tokenizer from `init`, prompts from `data` in file order."""
    tokenizer = load_tokenizer(init, check=False)  # verified by train_segment
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = load_prompts(data, params)
    check_prompt_lengths(dataset, tokenizer, params, first, step)
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32)
    sampling.use_for(model)  # rollouts: the same tokens as model.generate, less work per token
    if params["kl_coef"] > 0:
        model.config._name_or_path = str(reference)  # TRL loads its reference model from this path
    if reward_func is None:
        from rlscaling.rewards import trl_reward

        reward_func = trl_reward(params["reward"])

    n_rollouts = int(params["rollouts_per_prompt"])
    args = GRPOConfig(
        output_dir=str(work),
        seed=int(params["seed"]),
        max_steps=step,  # the segment ends at `step`; the schedule below does not depend on it
        # one step = one generation batch = one optimizer step
        per_device_train_batch_size=M.rollouts_per_step(params),
        gradient_accumulation_steps=1,
        num_generations=n_rollouts,
        num_iterations=1,
        shuffle_dataset=False,  # curriculum order: prompts in file order
        # optimization
        learning_rate=float(params["lr"]),
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=int(params["warmup_steps"]),
        beta=float(params["kl_coef"]),
        # the recipe: loss, aggregation, reward scaling, clip range, entropy bonus (rlscaling.train.recipes)
        **recipes.trl_kwargs(params),
        # sampling
        max_completion_length=int(params["max_response_tokens"]),
        temperature=float(params["temperature"]),
        cache_implementation="static",  # KV cache preallocated: a few % faster than dynamic on CPU
        # plain float32, no recomputation: the tiny models are compute-bound on CPU, not memory-bound
        bf16=False,
        activation_checkpointing=False,
        # the _Recorder decides when to save; metrics go to metrics.jsonl, progress to stderr, and to the
        # experiment tracker when tracking is on (report_to)
        save_strategy="no",
        save_total_limit=2,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN or infinite loss is logged as it is (the health checks read it)
        report_to=report_to,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )
    return SegmentTrainer(
        model=model,
        reward_funcs=reward_func,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        zero_variance_filter=recipes.resolve(params).zero_variance_filter,
    )


class SegmentTrainer(GRPOTrainer):
    """GRPOTrainer that times each step's rollout phase and counts its tokens (for metrics.jsonl), and
    with `zero_variance_filter` leaves prompt groups whose rollouts all got the same reward out of the
    loss (their advantages are all zero: they add nothing to the gradient, only to the token-mean
    normaliser)."""

    def __init__(self, *, zero_variance_filter: bool = False, **kwargs):
        self.rollout: dict[str, float] = {}  # the current step's token counts and rollout times
        self._sample_seconds = 0.0
        self.zero_variance_filter = zero_variance_filter
        super().__init__(**kwargs)

    def _generate_single_turn(self, *args, **kwargs):
        t0 = time.perf_counter()
        result = super()._generate_single_turn(*args, **kwargs)
        self._sample_seconds += time.perf_counter() - t0
        return result

    def _generate_and_score_completions(self, inputs):
        t0 = time.perf_counter()
        self._sample_seconds = 0.0
        batch = super()._generate_and_score_completions(inputs)
        prompt_tokens = int(batch["prompt_mask"].sum())
        response_tokens = int(batch["completion_mask"].sum())
        if self.args.mask_truncated_completions:
            # TRL zeroed the masks of completions cut at the length limit; they were generated all the same
            cut = int((batch["completion_mask"].sum(dim=1) == 0).sum())
            response_tokens += cut * int(self.args.max_completion_length)
        if self.zero_variance_filter:
            drop_zero_variance_groups(batch, self.num_generations)
        self.rollout = {
            "prompts": len(inputs) // self.num_generations,
            "rollouts": len(inputs),
            "prompt_tokens": prompt_tokens,
            "response_tokens": response_tokens,
            "ref_tokens": M.no_grad_pass_tokens(
                prompt_tokens + response_tokens,
                reference=self.beta != 0.0,
                old_policy="old_per_token_logps" in batch,
            ),
            "gen_seconds": time.perf_counter() - t0,
            "sample_seconds": self._sample_seconds,
        }
        return batch


def drop_zero_variance_groups(batch: dict[str, Any], group_size: int) -> int:
    """Leave the prompt groups whose rollouts all got the same reward out of the loss, in place: their
    rows' completion_mask becomes 0 and num_items_in_batch (the token-mean normaliser) counts only the
    kept tokens. A group's rows are consecutive (TRL's sampler repeats each prompt `group_size` times);
    its advantages are all zero exactly when its rewards agree, whatever the reward scaling. Returns the
    number of groups dropped."""
    mask = batch["completion_mask"]
    advantages = batch["advantages"].reshape(-1, group_size)
    flat = torch.isclose(advantages, torch.zeros_like(advantages), atol=1e-6).all(dim=1)
    keep = (~flat).repeat_interleave(group_size).to(mask.dtype)
    batch["completion_mask"] = mask * keep.unsqueeze(1)
    total = batch["num_items_in_batch"]
    batch["num_items_in_batch"] = batch["completion_mask"].sum().to(total.dtype).reshape(total.shape)
    return int(flat.sum())


class _Recorder(TrainerCallback):
    """Trainer callback: writes one metrics record per step, checks the run's health, and saves
    checkpoints when due.

    A step's record is begun at its end (rollout counts, rewards, entropy) and completed when the Trainer
    logs the step's loss and grad_norm, which it does before saving. Each completed record is checked
    (rlscaling.training_health) against the run's steps before this segment (`segment_info`'s
    health_history) and this segment's: flags are printed to stderr; with health.stop a flagged step
    raises UserError, so nothing of that step is saved. A checkpoint is saved every `checkpoint_every`
    steps (0: never mid-segment) and at the segment's last step. Each saved checkpoint gets the segment's
    metrics so far and rlscaling_segment.json; metrics.jsonl is written last, so its presence marks a
    complete checkpoint.
    """

    def __init__(self, trainer, rows, cum, seed, checkpoint_every, segment_info, health, run):
        self.trainer = trainer
        self.rows = list(rows)
        self.cum = cum
        self.seed = seed
        self.every = checkpoint_every
        self.segment_info = segment_info
        self.health = health
        self.run = run
        self.pending: M.StepStats | None = None  # the step's stats until its loss and grad_norm arrive
        self.n_params, self.n_nonembed = count_parameters(trainer.model)
        self.t0 = time.perf_counter()

    def on_step_begin(self, args, state, control, **kwargs):
        self._complete()
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._complete()
        wall = time.perf_counter() - self.t0
        r, m = self.trainer.rollout, self.trainer._metrics["train"]
        tokens = r["prompt_tokens"] + r["response_tokens"]
        self.pending = M.StepStats(
            step=state.global_step,
            prompts=r["prompts"],
            rollouts=r["rollouts"],
            prompt_tokens=r["prompt_tokens"],
            response_tokens=r["response_tokens"],
            gen_tokens=tokens,
            ref_tokens=r["ref_tokens"],
            train_tokens=tokens,
            reward_mean=m["reward"][-1],
            reward_std=m["reward_std"][-1],
            entropy=m["entropy"][-1],
            kl=m["kl"][-1] if m.get("kl") else None,
            # fraction of clipped tokens (cispo: tokens whose importance weight hit its cap)
            clip_ratio=(m.get("clip_ratio/region_mean") or m["cispo_clip_ratio"])[-1],
            wall_seconds=wall,
            gen_seconds=r["gen_seconds"],
            sample_seconds=r["sample_seconds"],
        )
        if state.global_step >= state.max_steps or (self.every and state.global_step % self.every == 0):
            control.should_save = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if self.pending is not None and "loss" in logs:
            self._complete(grad_norm=logs.get("grad_norm"), loss=logs["loss"])
        return control

    def _complete(self, grad_norm: float | None = None, loss: float | None = None) -> None:
        """Write the pending step's record (with its loss and grad_norm when logged) and check it."""
        if self.pending is None:
            return
        stats = dataclasses.replace(self.pending, grad_norm=grad_norm, loss=loss)
        self.pending = None
        rec, self.cum = M.step_record(stats, self.cum, self.n_params, self.n_nonembed, ENGINE, self.seed)
        self.rows.append(rec)
        health_mod.check_step([*self.segment_info["health_history"], *self.rows], self.health, self.run)

    def on_save(self, args, state, control, **kwargs):
        self._complete()
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        write_json(ckpt / SEGMENT_FILE, self.segment_info)
        M.write(ckpt / "metrics.jsonl", self.rows)  # last: marks the checkpoint complete
        return control


# --------------------------------------------------------------------------------------------------
# data


def load_prompts(path: str | Path, params: dict[str, Any]):
    """The train parquet (verl RL schema) as a datasets.Dataset, rows in file order.

    Read by rlscaling.rows.read_training_rows: every row needs `prompt` (chat messages) and a
    reference answer (a flat `ground_truth` column, or else `reward_model.ground_truth`), and a file
    with rows that cannot be scored is refused with their counts. Every column reaches the reward
    function as a keyword argument.
    """
    from rlscaling.rows import read_training_rows

    path = Path(path)
    table = read_training_rows(path)
    if table.num_rows < params["prompts_per_step"]:
        raise UserError(
            f"{path}: {table.num_rows} prompts, fewer than "
            f"training.prompts_per_step ({params['prompts_per_step']})"
        )
    return datasets.Dataset(datasets.table.InMemoryTable(table))


def segment_rows(n_rows: int, prompts_per_step: int, first: int, last: int) -> list[int]:
    """Row indices of the prompts used by steps first+1 .. last (file order, wrapping at the end of the
    file; a last partial batch of the file is skipped, as TRL's sampler does)."""
    per_epoch = n_rows // prompts_per_step
    rows = []
    for s in range(first, last):
        start = (s % per_epoch) * prompts_per_step
        rows.extend(range(start, start + prompts_per_step))
    return rows


def check_prompt_lengths(dataset, tokenizer, params: dict[str, Any], first: int, last: int) -> None:
    """UserError when a prompt of this segment is longer than training.max_prompt_tokens (chat template
    applied). Prompts are never truncated: a cut question has no right answer."""
    limit = int(params["max_prompt_tokens"])
    for i in segment_rows(len(dataset), int(params["prompts_per_step"]), first, last):
        ids = tokenizer.apply_chat_template(
            dataset[i]["prompt"], add_generation_prompt=True, return_dict=True
        )
        if len(ids["input_ids"]) > limit:
            raise UserError(
                f"training.max_prompt_tokens: prompt of row {i} has {len(ids['input_ids'])} tokens, "
                f"more than {limit} (raise the limit or filter the data)"
            )


# --------------------------------------------------------------------------------------------------
# checkpoints and resume


def _trainer_state(folder: Path) -> dict[str, Any]:
    """trainer_state.json of a Trainer checkpoint (global_step, log history)."""
    path = folder / "trainer_state.json"
    if not path.is_file():
        raise UserError(f"{folder}: not a resumable checkpoint (no trainer_state.json)")
    return json.loads(path.read_text())


def _fingerprint(params: dict[str, Any], init: Path, data: Path, step: int) -> dict[str, Any]:
    """What an interrupted run of this segment must share with this one to be resumed."""

    def stamp(p: Path) -> list[int]:
        st = p.stat()
        return [st.st_size, st.st_mtime_ns]

    weights = sorted(init.glob("*.safetensors")) or [init / "config.json"]
    blob = json.dumps(
        {
            "params": params,
            "step": step,
            "init": str(init.resolve()),
            "data": str(data.resolve()),
            "init_files": [stamp(w) for w in weights],
            "data_file": stamp(data),
        },
        sort_keys=True,
    )
    return {"engine": ENGINE, "step": step, "sha256": hashlib.sha256(blob.encode()).hexdigest()}


def _resume_point(work: Path, fingerprint: dict[str, Any], first: int, last: int) -> Path | None:
    """The newest complete checkpoint in `work` left by an interrupted run of the same segment, or None.
    A `work` folder from a different segment setup (params, init or data changed) is deleted."""
    if not work.is_dir():
        return None
    try:
        same = json.loads((work / "fingerprint.json").read_text()) == fingerprint
    except (OSError, ValueError):
        same = False
    if not same:
        shutil.rmtree(work)
        return None
    done = []
    for ckpt in work.glob("checkpoint-*"):
        n = ckpt.name.removeprefix("checkpoint-")
        if n.isdigit() and first < int(n) <= last and (ckpt / "metrics.jsonl").is_file():
            done.append((int(n), ckpt))
    return max(done)[1] if done else None
