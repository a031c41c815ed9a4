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

`compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, ...)` is the same for
verl's batch reward manager (`reward_model.reward_manager=batch`, custom_reward_function.name=
compute_score_batch): one call per batch, scored within one time budget (`batch_timeout_s`, see
rlscaling.rewards.core.score_batch), so a batch of pathological answers cannot stall a step. The
per-sample `compute_score` is bounded per answer only (timeout_s + 0.5 s each).

The returned dict always has the same keys with the same types, because verl stacks every key over
the batch (`reward_extra_info[key].append(value)`) and averages numeric ones in validation metrics:
`score` (float, the reward), `acc` (float 0/1, correctness), `format_ok` (float 0/1), `pred` (str,
the extracted answer, "" when none) and `reason` (str, "" when correct).
"""

from __future__ import annotations

from typing import Any

from rlscaling.rows import UnscorableRow, reference_answer
from rlscaling.errors import UserError
from rlscaling.rewards import DEFAULT_BATCH_TIMEOUT_S, score_batch, scorer_for_source
from rlscaling.rewards import score as _score


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
    answer, method = _answer_and_method(data_source, ground_truth, extra_info, method)
    s = _score(
        solution_str if isinstance(solution_str, str) else str(solution_str),
        answer,
        method,
        format_weight=format_weight,
        timeout_s=timeout_s,
    )
    return _result(s)


def compute_score_batch(
    data_sources: Any,
    solution_strs: Any,
    ground_truths: Any,
    extra_infos: Any = None,
    method: str | None = None,
    format_weight: float = 0.0,
    timeout_s: float = 1.0,
    batch_timeout_s: float = DEFAULT_BATCH_TIMEOUT_S,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Score a batch for verl's batch reward manager: one result dict (as compute_score's) per response,
    within batch_timeout_s + timeout_s + 0.5 s for the whole batch."""
    n = len(solution_strs)
    extras = list(extra_infos) if extra_infos is not None else [None] * n
    pairs = [
        _answer_and_method(ds, gt, ex, method)
        for ds, gt, ex in zip(list(data_sources), list(ground_truths), extras, strict=True)
    ]
    scores = score_batch(
        [r if isinstance(r, str) else str(r) for r in solution_strs],
        [a for a, _ in pairs],
        [m for _, m in pairs],
        format_weight=format_weight,
        timeout_s=timeout_s,
        batch_timeout_s=batch_timeout_s,
    )
    return [_result(s) for s in scores]


def _answer_and_method(
    data_source: Any, ground_truth: Any, extra_info: Any, method: str | None
) -> tuple[str, str]:
    """The row's reference answer (UserError naming the row when it has none) and its method: the
    `method` keyword, else extra_info["reward_method"], else scorer_for_source(data_source)."""
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
    return answer, method


def _result(s: Any) -> dict[str, Any]:
    return {
        "score": float(s.score),
        "acc": 1.0 if s.correct else 0.0,
        "format_ok": 1.0 if s.format_ok else 0.0,
        "pred": s.extracted or "",
        "reason": s.reason or "",
    }
