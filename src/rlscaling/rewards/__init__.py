"""Reward / answer checking, one module for training rewards and evaluation.

    from rlscaling.rewards import score, Score, METHODS, trl_reward, scorer_for_source

    score("... so she makes 18 dollars.\\n#### 18", "18", "strict")   # Score(score=1.0, correct=True, ...)
    score("... \\boxed{\\dfrac12}", "0.5", "boxed").correct          # True (math-verify equivalence)

Adapters: `trl_reward(method)` for TRL's GRPOTrainer; `rlscaling/rewards/verl_reward.py` defines
verl's custom reward function `compute_score` (load it by file path). Model text is never evaluated
as code, and every check is time-bounded (see rlscaling.rewards.core).
"""

from rlscaling.rewards.core import (
    DEFAULT_BATCH_TIMEOUT_S,
    MAX_RESPONSE_CHARS,
    METHODS,
    REASONS,
    SOURCE_METHODS,
    Score,
    can_score,
    completion_text,
    score,
    score_batch,
    scorer_for_source,
    trl_reward,
)

__all__ = [
    "DEFAULT_BATCH_TIMEOUT_S",
    "MAX_RESPONSE_CHARS",
    "METHODS",
    "REASONS",
    "SOURCE_METHODS",
    "Score",
    "can_score",
    "completion_text",
    "score",
    "score_batch",
    "scorer_for_source",
    "trl_reward",
]
