"""verl custom reward function: `compute_score(data_source, solution_str, ground_truth, extra_info)`.

Load it by file path, as verl does (`verl.utils.import_utils.load_module` + getattr):

    custom_reward_function.path=$(python -c "import rlscaling.rewards.verl_reward as m; print(m.__file__)")
    custom_reward_function.name=compute_score
    +custom_reward_function.reward_kwargs.method=strict        # optional (default: by data_source)
    +custom_reward_function.reward_kwargs.format_weight=0.1    # optional

(verl 0.8 keeps `custom_reward_function` at the top level of the trainer config; releases that move it
under `reward.` take the same three keys there.) `pkg://rlscaling.rewards.verl_reward` also works as
the path. The module uses absolute imports only, so it works when executed from its file path as a
module of another name.

Both verl call sites pass keyword arguments: the legacy `NaiveRewardManager.__call__` (main thread,
one call per sample) and the reward-loop `NaiveRewardManager.run_single`, which calls through
`loop.run_in_executor` (a worker thread) and may add `reward_router_address` /
`reward_model_tokenizer`; unknown keyword arguments are ignored. Checks from a worker thread are
time-bounded by a worker subprocess (see rlscaling.rewards.equivalence).

The returned dict always has the same keys with the same types, because verl stacks every key over
the batch (`reward_extra_info[key].append(value)`) and averages numeric ones in validation metrics:
`score` (float, the reward), `acc` (float 0/1, correctness), `format_ok` (float 0/1), `pred` (str,
the extracted answer, "" when none) and `reason` (str, "" when correct).
"""

from __future__ import annotations

from typing import Any

from rlscaling.data.schema import UnscorableRow, reference_answer
from rlscaling.errors import UserError
from rlscaling.rewards import score as _score
from rlscaling.rewards import scorer_for_source


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    method: str | None = None,
    format_weight: float = 0.0,
    timeout_s: float = 1.0,
    **kwargs: Any,
) -> dict[str, Any]:
    """Score one decoded response for verl.

    The method is, in order: the `method` keyword (from `reward_kwargs`), `extra_info["reward_method"]`,
    else `scorer_for_source(data_source)`. Returns {"score", "acc", "format_ok", "pred", "reason"}.
    """
    try:
        answer = reference_answer(ground_truth)
    except UnscorableRow as err:
        index = extra_info.get("index") if isinstance(extra_info, dict) else None
        raise UserError(
            f"verl reward: reward_model.ground_truth of a {data_source!r} row (extra_info.index {index}) is "
            f"{ground_truth!r}: {err.detail}. A row without a reference answer cannot be scored (it would "
            "score 0 on every rollout); drop it from the train / validation parquet"
        ) from None
    if method is None and isinstance(extra_info, dict) and extra_info.get("reward_method"):
        method = str(extra_info["reward_method"])
    if method is None:
        method = scorer_for_source(str(data_source))
    s = _score(
        solution_str if isinstance(solution_str, str) else str(solution_str),
        answer,
        method,
        format_weight=format_weight,
        timeout_s=timeout_s,
    )
    return {
        "score": float(s.score),
        "acc": 1.0 if s.correct else 0.0,
        "format_ok": 1.0 if s.format_ok else 0.0,
        "pred": s.extracted or "",
        "reason": s.reason or "",
    }
