"""The cluster side of rlscaling: the verl engine's configuration and the Slurm resources.

- `settings`: the resolved `training.verl` settings of one run (defaults, per-size overrides, the
  cluster shape from the size's resources), and the train-segment params the Snakefile passes on;
- `overrides`: the hydra overrides of `python -m verl.trainer.main_ppo` for one training segment;
- `metrics`: verl's file-logger JSONL -> rlscaling metrics.jsonl records (one schema for every engine);
- `resources`: the config's `resources` section -> Snakemake resources for profiles/slurm
  (snakemake-executor-plugin-slurm), per rule family and size;
- `check` (run inside an environment with verl): composes overrides against verl's own hydra config,
  calls the reward function through verl's reward manager, writes JSONL with verl's FileLogger.

Nothing here imports verl, torch or hydra at module level: the Snakefile and the main environment
import these modules, and verl lives in its own environment (see scripts/install_engines_venv.sh).
"""

VERL_VERSION = "0.9.1"
