"""rlscaling: RL post-training scaling-law studies for LLM math reasoning.

Stages (one module each, one CLI subcommand each): data -> pretrain -> train -> evaluate -> curves
-> fit -> figures -> report. The Snakemake workflow (Snakefile, workflow/rules) only calls the CLI.
"""

__version__ = "0.1.0"
