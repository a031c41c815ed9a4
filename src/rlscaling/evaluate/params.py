"""Sampling and scoring settings of one evaluation job (the --params-json object of `rlscaling evaluate`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlscaling.errors import UserError

# Measured with benchmarks/bench_evaluate.py (2M-param Qwen2, 1 CPU thread): throughput rises with the
# batch up to ~256 sequences and is flat beyond, while memory grows linearly.
DEFAULT_BATCH_SIZE = 256
ENGINES = ("hf", "vllm")


# --------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class EvalParams:
    """Sampling and scoring settings of one evaluation job (the --params-json object)."""

    engine: str = "hf"
    n_samples: int = 4  # samples per problem actually drawn (1 when greedy)
    n_samples_requested: int = 4
    pass_k: tuple[int, ...] = (1,)
    temperature: float = 1.0
    top_p: float = 1.0
    greedy: bool = False
    max_response_tokens: int = 48
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    scorers: dict[str, str | None] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def parse_params(text: str) -> EvalParams:
    """Parse and check the --params-json value (a JSON object, or the path of a JSON file).

    Raises UserError naming the offending field.
    """
    from rlscaling.io import read_params_json

    raw = read_params_json(text)

    def get(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = raw.get(key, default)
        if value is None:
            value = default
        if kind in (int, float) or kind == (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"--params-json: {key} must be a number, got {value!r}")
        elif not isinstance(value, kind):
            raise UserError(f"--params-json: {key} must be {getattr(kind, '__name__', kind)}, got {value!r}")
        return value

    engine = get("engine", str, "hf")
    if engine not in ENGINES:
        raise UserError(f"--params-json: engine must be one of {list(ENGINES)}, got {engine!r}")
    n_requested = get("n_samples", int, 4)
    if int(n_requested) != n_requested or n_requested < 1:
        raise UserError(f"--params-json: n_samples must be an integer >= 1, got {n_requested!r}")
    n_requested = int(n_requested)
    pass_k = raw.get("pass_k") or [1]
    if not isinstance(pass_k, list) or not all(
        isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in pass_k
    ):
        raise UserError(f"--params-json: pass_k must be a list of integers >= 1, got {pass_k!r}")
    pass_k = tuple(sorted(set(pass_k) | {1}))
    temperature = float(get("temperature", (int, float), 1.0))
    top_p = float(get("top_p", (int, float), 1.0))
    if temperature < 0:
        raise UserError(f"--params-json: temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise UserError(f"--params-json: top_p must be in (0, 1], got {top_p}")
    greedy = get("greedy", bool, False)
    notes: list[str] = []
    if temperature == 0 and not greedy:
        greedy = True
        notes.append("temperature 0 means greedy decoding")
    n_samples = n_requested
    if greedy:
        n_samples = 1
        if n_requested != 1:
            notes.append(f"greedy decoding: n_samples forced to 1 (requested {n_requested}); pass@k = pass@1")
    elif max(pass_k) > n_samples:
        raise UserError(
            f"--params-json: pass_k contains k={max(pass_k)} > n_samples={n_samples}; "
            "the unbiased pass@k estimator needs k <= n"
        )
    max_tokens = get("max_response_tokens", int, 48)
    batch_size = get("batch_size", int, DEFAULT_BATCH_SIZE)
    seed = get("seed", int, 0)
    for key, value, low in (
        ("max_response_tokens", max_tokens, 1),
        ("batch_size", batch_size, 1),
        ("seed", seed, 0),
    ):
        if int(value) != value or value < low:
            raise UserError(f"--params-json: {key} must be an integer >= {low}, got {value!r}")
    scorers = raw.get("scorers") or {}
    if not isinstance(scorers, dict) or not all(v is None or isinstance(v, str) for v in scorers.values()):
        raise UserError(f"--params-json: scorers must map bench name -> scorer name or null, got {scorers!r}")
    return EvalParams(
        engine=engine,
        n_samples=n_samples,
        n_samples_requested=n_requested,
        pass_k=pass_k,
        temperature=temperature,
        top_p=top_p,
        greedy=bool(greedy),
        max_response_tokens=int(max_tokens),
        batch_size=int(batch_size),
        seed=int(seed),
        scorers=dict(scorers),
        notes=tuple(notes),
    )
