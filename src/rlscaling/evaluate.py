"""Stage 4: evaluate one checkpoint on benchmarks (pass@1, unbiased pass@k, format rate, lengths).

    rlscaling evaluate --model DIR_OR_HUB_ID --bench B1.parquet [B2.parquet ...] \
        --params-json '{"engine": "hf", "n_samples": 4, "pass_k": [1, 2, 4], ...}' \
        --threads 1 --out-dir results/S/eval/RUN/step_000010

For each benchmark (named by the parquet's file stem) it writes, atomically:
- `{out_dir}/{bench}.json`: the summary (metrics with the sampling settings that produced them);
- `{out_dir}/{bench}.samples.parquet`: one row per (problem, sample) with the response, its token count,
  whether it ended with EOS, and the scorer's verdict.

Benchmarks are in verl's RL schema: `prompt` (chat messages {role, content}), `data_source`,
`reward_model.ground_truth` (or a flat `ground_truth` column), `extra_info.index` / `.difficulty`.
Answers are checked with rlscaling.rewards (the same checker as the training reward); model output is
untrusted text and is only ever parsed, never executed.

Engines:
- `hf`: transformers `generate` with KV cache, left padding, prompts sorted by length and batched
  (`batch_size` sequences per batch; the n samples of a problem are n copies of its prompt). CPU or GPU.
- `vllm`: vllm.LLM (GPU), in rlscaling.evaluate_vllm. Its arguments are built by pure functions, so
  they are tested without vllm; vllm itself is imported only when the engine runs.

Sampling is seeded once (`torch.manual_seed(seed)` before the first benchmark): the same inputs give
the same samples. `greedy: true` decodes greedily and forces n_samples to 1 (the json says so); pass@k
for k > 1 then equals pass@1, since every further sample would be the same.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlscaling.checkpoint import load_tokenizer
from rlscaling.errors import UserError

# Measured with benchmarks/bench_evaluate.py (2M-param Qwen2, 1 CPU thread): throughput rises with the
# batch up to ~256 sequences and is flat beyond, while memory grows linearly.
DEFAULT_BATCH_SIZE = 256
ENGINES = ("hf", "vllm")
_STEP_RE = re.compile(r"^step_(\d+)$")


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


# --------------------------------------------------------------------------------------------------
# benchmarks


@dataclass(frozen=True)
class Problem:
    """One benchmark problem."""

    index: Any  # extra_info.index (else the row number)
    data_source: str
    messages: list[dict[str, str]]  # chat messages, each {role, content}
    ground_truth: str
    difficulty: Any = None  # extra_info.level / extra_info.difficulty / a flat column, when present


@dataclass(frozen=True)
class Bench:
    name: str  # the parquet's file stem
    path: Path
    problems: list[Problem]


def _plain(value: Any) -> Any:
    """numpy / pyarrow containers and scalars -> plain Python (lists, dicts, str, int, float, None)."""
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    value = _plain(value)
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: prompt must be a non-empty list of chat messages {{role, content}}")
    out = []
    for m in value:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise UserError(f"{where}: prompt must be a list of chat messages {{role, content}} (strings)")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _ground_truth_text(value: Any) -> str | None:
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, list):  # several accepted answers: keep them all, the scorer sees JSON
        return json.dumps(value) if len(value) != 1 else str(value[0])
    return str(value)


def load_bench(path: str | Path, max_rows: int | None = None) -> Bench:
    """Read a benchmark parquet (verl RL schema). Raises UserError naming the file and field."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"benchmark file {path} does not exist")
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad input file
        raise UserError(f"benchmark file {path}: cannot be read as parquet ({err})") from None
    if "prompt" not in df.columns:
        raise UserError(f"benchmark file {path}: missing field `prompt` (chat messages)")
    has_flat = "ground_truth" in df.columns
    has_nested = "reward_model" in df.columns
    if not has_flat and not has_nested:
        raise UserError(
            f"benchmark file {path}: missing field `ground_truth` (neither a `ground_truth` column nor "
            "`reward_model.ground_truth`)"
        )
    if max_rows is not None:
        df = df.iloc[:max_rows]
    problems = []
    for row_no, row in enumerate(df.to_dict("records")):
        where = f"benchmark file {path}, row {row_no}"
        gt = _ground_truth_text(row.get("ground_truth")) if has_flat else None
        if gt is None and has_nested:
            rm = _plain(row.get("reward_model"))
            if isinstance(rm, dict):
                gt = _ground_truth_text(rm.get("ground_truth"))
        if gt is None:
            raise UserError(f"{where}: missing field `ground_truth` (reward_model.ground_truth is null)")
        extra = _plain(row.get("extra_info")) or {}
        if not isinstance(extra, dict):
            extra = {}
        index = extra.get("index", row_no)
        difficulty = None
        for key in ("level", "difficulty"):
            if extra.get(key) is not None:
                difficulty = extra[key]
                break
            if _plain(row.get(key)) is not None:
                difficulty = _plain(row.get(key))
                break
        source = _plain(row.get("data_source"))
        problems.append(
            Problem(
                index=index if isinstance(index, (int, str)) else str(index),
                data_source="" if source is None else str(source),
                messages=_messages(row["prompt"], where),
                ground_truth=gt,
                difficulty=difficulty,
            )
        )
    if not problems:
        raise UserError(f"benchmark file {path}: has no rows")
    return Bench(name=path.name.removesuffix(".parquet"), path=path, problems=problems)


# --------------------------------------------------------------------------------------------------
# scoring


def _load_scoring() -> tuple[Callable[..., Any], Callable[[str], str]]:
    """(score, scorer_for_source) from rlscaling.rewards (imported lazily; tests may replace this)."""
    from rlscaling.rewards import score, scorer_for_source

    return score, scorer_for_source


def resolve_scorers(
    bench: Bench, configured: str | None, scorer_for_source: Callable[[str], str]
) -> list[str]:
    """The scoring method of each problem: the configured one, else the rewards default of its source."""
    if configured:
        return [configured] * len(bench.problems)
    methods: dict[str, str] = {}
    for p in bench.problems:
        if p.data_source not in methods:
            try:
                method = scorer_for_source(p.data_source)
                if not method:
                    raise ValueError("no default scorer")
                methods[p.data_source] = method
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001
                raise UserError(
                    f"benchmark file {bench.path}: no scorer for data_source {p.data_source!r} ({err}); "
                    f"set benchmarks.{bench.name}.scorer"
                ) from None
    return [methods[p.data_source] for p in bench.problems]


# --------------------------------------------------------------------------------------------------
# generation engines


@dataclass(frozen=True)
class Generation:
    """One sampled response."""

    text: str
    n_tokens: int  # generated tokens, the EOS token excluded
    finished: bool  # ended with EOS (False: cut at max_response_tokens)


class Engine(Protocol):
    def generate(
        self, prompts: Sequence[list[dict[str, str]]], n: int, desc: str = ""
    ) -> list[list[Generation]]:
        """n samples for each chat prompt: result[i][j] is sample j of prompt i."""
        ...


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a chat prompt: the chat template with the generation prompt appended (plain
    newline-joined contents when the tokenizer has no template)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        text = "\n".join(m["content"] for m in messages) + "\n"
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def eos_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """EOS ids: the tokenizer's plus the model's generation config's (which may list several)."""
    ids: list[int] = []
    for value in (getattr(generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and int(v) not in ids:
                ids.append(int(v))
    return ids


def hf_generation_kwargs(params: EvalParams, pad_token_id: int, eos_ids: list[int]) -> dict[str, Any]:
    """Arguments of transformers.GenerationConfig for `params` (pure; no model defaults leak in:
    top_k is disabled and no repetition penalty applies, so sampling is plain temperature / top-p)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": params.max_response_tokens,
        "pad_token_id": pad_token_id,
        "eos_token_id": eos_ids,
        "use_cache": True,
        "num_beams": 1,
    }
    if params.greedy:
        kwargs.update(do_sample=False)
    else:
        kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
    return kwargs


def batch_plan(lengths: Sequence[int], n: int, batch_size: int) -> list[list[tuple[int, int]]]:
    """Batches of (prompt, sample) jobs: prompts sorted by token length (stable), each repeated n
    times, cut into batches of `batch_size` sequences, so a batch holds prompts of similar length."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    jobs = [(i, j) for i in order for j in range(n)]
    return [jobs[s : s + batch_size] for s in range(0, len(jobs), batch_size)]


class HFEngine:
    """transformers generate: batched, left-padded, KV-cached; CUDA when available, else CPU."""

    def __init__(self, model: str, params: EvalParams, threads: int = 1) -> None:
        import torch
        from transformers import AutoModelForCausalLM, GenerationConfig

        self.torch = torch
        self.params = params
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = (
            torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        )
        try:
            self.tokenizer = load_tokenizer(model)
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
        except (OSError, ValueError) as err:
            raise UserError(f"--model {model}: cannot load a causal LM and tokenizer ({err})") from None
        self.eos_ids = eos_token_ids(self.tokenizer, getattr(self.model, "generation_config", None))
        if not self.eos_ids:
            raise UserError(f"--model {model}: the tokenizer defines no eos_token")
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.eos_ids[0]
        kwargs = hf_generation_kwargs(params, self.pad_id, self.eos_ids)
        if self.device.type == "cpu":
            # a preallocated KV cache saves the per-token torch.cat of the dynamic cache: ~10% faster
            # on CPU (benchmarks/bench_evaluate.py), same tokens
            kwargs["cache_implementation"] = "static"
        self.generation_config = GenerationConfig(**kwargs)
        self.prompt_format = "chat_template" if getattr(self.tokenizer, "chat_template", None) else "plain"

    def generate(
        self, prompts: Sequence[list[dict[str, str]]], n: int, desc: str = ""
    ) -> list[list[Generation]]:
        from tqdm import tqdm

        torch = self.torch
        encoded = [encode_prompt(self.tokenizer, m) for m in prompts]
        out: list[list[Generation | None]] = [[None] * n for _ in prompts]
        eos = torch.tensor(self.eos_ids, device=self.device)
        with tqdm(total=len(prompts) * n, desc=desc, unit="sample", file=sys.stderr, mininterval=5.0) as bar:
            for batch in batch_plan([len(e) for e in encoded], n, self.params.batch_size):
                width = max(len(encoded[i]) for i, _ in batch)
                ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, (i, _) in enumerate(batch):
                    seq = encoded[i]
                    ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
                    mask[row, width - len(seq) :] = 1
                with torch.inference_mode():
                    seqs = self.model.generate(
                        input_ids=ids.to(self.device),
                        attention_mask=mask.to(self.device),
                        generation_config=self.generation_config,
                    )
                new = seqs[:, width:]
                is_eos = torch.isin(new, eos)
                has_eos = is_eos.any(dim=1)
                first = torch.where(
                    has_eos,
                    is_eos.int().argmax(dim=1),
                    torch.full_like(has_eos, new.shape[1], dtype=torch.long),
                )
                token_lists = [new[r, : int(first[r])].tolist() for r in range(len(batch))]
                texts = self.tokenizer.batch_decode(token_lists, skip_special_tokens=True)
                for row, (i, j) in enumerate(batch):
                    out[i][j] = Generation(
                        text=texts[row], n_tokens=len(token_lists[row]), finished=bool(has_eos[row])
                    )
                bar.update(len(batch))
        return out  # type: ignore[return-value]


def make_engine(params: EvalParams, model: str, threads: int) -> Engine:
    """The engine `params.engine` names: HFEngine here, or rlscaling.evaluate_vllm.VLLMEngine."""
    if params.engine == "vllm":
        from rlscaling.evaluate_vllm import VLLMEngine

        return VLLMEngine(model, params, threads)
    return HFEngine(model, params, threads)


# --------------------------------------------------------------------------------------------------
# one benchmark


def score_samples(
    bench: Bench,
    generations: list[list[Generation]],
    methods: list[str],
    score_fn: Callable[..., Any],
) -> Any:
    """The per-sample table (pandas DataFrame, one row per (problem, sample), problem order kept)."""
    import pandas as pd

    rows = []
    for pos, (p, gens, method) in enumerate(zip(bench.problems, generations, methods, strict=True)):
        for j, g in enumerate(gens):
            try:
                s = score_fn(g.text, p.ground_truth, method)
                value, correct = float(getattr(s, "score", 0.0)), bool(getattr(s, "correct", False))
                extracted, format_ok = getattr(s, "extracted", None), bool(getattr(s, "format_ok", False))
                reason = str(getattr(s, "reason", None) or "")  # "" when correct, as the verl adapter
            except UserError:
                raise
            except Exception as err:  # noqa: BLE001 - a checker failure on one answer scores it 0
                value, correct, extracted, format_ok = 0.0, False, None, False
                reason = f"scorer_error: {type(err).__name__}"
            rows.append(
                {
                    "problem": pos,
                    "index": p.index,
                    "data_source": p.data_source,
                    "ground_truth": p.ground_truth,
                    "sample": j,
                    "response": g.text,
                    "response_tokens": int(g.n_tokens),
                    "finished": bool(g.finished),
                    "extracted": None if extracted is None else str(extracted),
                    "score": value,
                    "correct": correct,
                    "format_ok": format_ok,
                    "reason": reason,
                    "scorer": method,
                }
            )
    df = pd.DataFrame(rows)
    if len({type(v) for v in df["index"]}) > 1:  # mixed int / str ids: one parquet type
        df["index"] = df["index"].astype(str)
    return df.astype({"extracted": "object"})


def difficulty_bins(values: Sequence[Any], max_levels: int = 12, n_bins: int = 5) -> list[str | None]:
    """A label per problem for per-difficulty metrics: the value itself when there are few distinct
    values (levels), else quantile bins of numeric scores labelled "[lo, hi]"."""
    import numpy as np

    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    distinct = sorted({str(v) for v in present})
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if len(distinct) <= max_levels or not numeric:
        return [None if v is None else str(v) for v in values]
    arr = np.array([float(v) for v in present])
    edges = np.unique(np.quantile(arr, np.linspace(0, 1, n_bins + 1)))
    labels = []
    for v in values:
        if v is None:
            labels.append(None)
            continue
        b = min(int(np.searchsorted(edges, float(v), side="right")) - 1, len(edges) - 2)
        b = max(b, 0)
        labels.append(f"[{edges[b]:.3g}, {edges[b + 1]:.3g}]")
    return labels


def summarize(
    bench: Bench,
    samples: Any,
    params: EvalParams,
    *,
    model: str,
    step: int | None,
    seconds: float,
    generation_seconds: float,
    prompt_format: str = "chat_template",
) -> dict[str, Any]:
    """The {bench}.json summary from the per-sample table."""
    import numpy as np

    from rlscaling.passk import counts_from_correct, mean_pass_at_k

    _, n, c = counts_from_correct(samples["problem"].to_numpy(), samples["correct"].to_numpy())
    per_problem = c / n  # problems in bench order (samples are grouped by problem)
    if params.greedy:  # every further sample would repeat the first: pass@k = pass@1
        pass_k = {str(k): float(per_problem.mean()) for k in params.pass_k}
    else:
        pass_k = {str(k): v for k, v in mean_pass_at_k(n, c, params.pass_k).items()}
    n_problems = len(per_problem)
    stderr = float(per_problem.std(ddof=1) / math.sqrt(n_problems)) if n_problems > 1 else None
    per_difficulty: dict[str, float] = {}
    labels = difficulty_bins([p.difficulty for p in bench.problems])
    groups: dict[str, list[float]] = {}
    for value, label in zip(per_problem, labels, strict=True):
        if label is not None:
            groups.setdefault(label, []).append(float(value))
    for label, vals in groups.items():
        per_difficulty[label] = float(np.mean(vals))
    methods = sorted(set(samples["scorer"]))
    n_total = int(len(samples))
    tokens = samples["response_tokens"].to_numpy()
    summary = {
        "bench": bench.name,
        "model": model,
        "step": step,
        "engine": params.engine,
        "n_problems": n_problems,
        "n_samples": params.n_samples,
        "n_samples_requested": params.n_samples_requested,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "greedy": params.greedy,
        "max_response_tokens": params.max_response_tokens,
        "seed": params.seed,
        "scorer": methods[0] if len(methods) == 1 else methods,
        "prompt_format": prompt_format,
        "pass_at_1": float(per_problem.mean()),
        "pass_at_k": pass_k,
        "pass_at_1_stderr": stderr,
        "format_rate": float(samples["format_ok"].mean()),
        "mean_response_tokens": float(tokens.mean()),
        "mean_response_chars": float(samples["response"].str.len().mean()),
        "truncated_rate": float((~samples["finished"].astype(bool)).mean()),
        "scorer_errors": int(samples["reason"].str.startswith("scorer_error").sum()),
        "seconds": round(float(seconds), 3),
        "generation_seconds": round(float(generation_seconds), 3),
        "samples_per_second": n_total / seconds if seconds > 0 else None,
        "tokens_per_second": float(tokens.sum()) / generation_seconds if generation_seconds > 0 else None,
        "per_difficulty": dict(sorted(per_difficulty.items())),
        "notes": list(params.notes),
    }
    return summary


def evaluate_bench(
    engine: Engine,
    bench: Bench,
    params: EvalParams,
    methods: list[str],
    score_fn: Callable[..., Any],
    *,
    model: str,
    step: int | None,
) -> tuple[dict[str, Any], Any]:
    """Generate, score and summarize one benchmark. Returns (summary dict, per-sample DataFrame)."""
    t0 = time.perf_counter()
    gens = engine.generate([p.messages for p in bench.problems], params.n_samples, desc=bench.name)
    t_gen = time.perf_counter() - t0
    samples = score_samples(bench, gens, methods, score_fn)
    seconds = time.perf_counter() - t0
    summary = summarize(
        bench,
        samples,
        params,
        model=model,
        step=step,
        seconds=seconds,
        generation_seconds=t_gen,
        prompt_format=getattr(engine, "prompt_format", "chat_template"),
    )
    return summary, samples


def step_from_dir(out_dir: str | Path) -> int | None:
    """The checkpoint step from an out-dir named step_NNNNNN, else None."""
    m = _STEP_RE.match(Path(out_dir).name)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint folder (HF format) or hub id")
    parser.add_argument("--bench", required=True, nargs="+", help="benchmark parquet files (verl RL schema)")
    parser.add_argument("--params-json", required=True, help="sampling settings (JSON object or a JSON file)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    parser.add_argument("--out-dir", required=True, help="output folder, e.g. eval/RUN/step_000010")


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    params = parse_params(args.params_json)
    benches = [load_bench(p) for p in args.bench]
    names = [b.name for b in benches]
    if len(set(names)) != len(names):
        raise UserError(f"--bench: two files share a name (file stem): {names}")
    score_fn, scorer_for_source = _load_scoring()
    methods = {b.name: resolve_scorers(b, params.scorers.get(b.name), scorer_for_source) for b in benches}

    import torch

    from rlscaling.io import write_json, write_parquet

    threads = max(1, int(args.threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    torch.manual_seed(params.seed)
    engine = make_engine(params, args.model, threads)
    step = step_from_dir(args.out_dir)
    out_dir = Path(args.out_dir)
    for bench in benches:
        summary, samples = evaluate_bench(
            engine, bench, params, methods[bench.name], score_fn, model=str(args.model), step=step
        )
        write_parquet(out_dir / f"{bench.name}.samples.parquet", samples)
        write_json(out_dir / f"{bench.name}.json", summary)
        print(
            f"{bench.name}: pass@1 {summary['pass_at_1']:.4f} (+- {summary['pass_at_1_stderr'] or 0:.4f}), "
            f"format {summary['format_rate']:.3f}, {summary['n_problems']} problems x {params.n_samples}, "
            f"{summary['seconds']:.1f} s",
            file=sys.stderr,
        )
    return 0
