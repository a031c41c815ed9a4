"""Stage 3: GRPO training in resumable segments.

`rlscaling train` (rlscaling.train.cli) trains one segment, RL steps (K - segment_steps, K], from the
previous segment's checkpoint (or the base model) and writes `runs/{run}/step_{K:06d}/`. Engines, chosen
by the run's `training.engine`, share that contract and the metrics schema (rlscaling.train.metrics):

- `trl`  (rlscaling.train.trl.engine): TRL's GRPOTrainer, CPU or one node — the embedded default;
- `verl` (rlscaling.train.verl.engine): verl's main_ppo (FSDP + vLLM, multi-node through Ray).
"""

ENGINES = ("trl", "verl")
