"""The `vllm` evaluation engine's argument building and output handling, on CPU: vllm.LLM and
vllm.SamplingParams are replaced by recorders, the tokenizer by a character-level stand-in. (The engine
itself runs only on machines with a GPU.)"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from rlscaling.evaluate import vllm as V
from rlscaling.errors import UserError
from rlscaling.evaluate import Generation, parse_params


class CharTokenizer:
    """chat template = contents joined by newlines; one token per character; EOS id 0."""

    chat_template = "{{ messages }}"
    eos_token_id = 0
    pad_token_id = 0

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False):
        return "\n".join(m["content"] for m in messages) + "\nA:"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}


class FakeLLM:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = []

    def generate(self, inputs, sampling, use_tqdm=True):
        self.calls.append((inputs, sampling))
        outs = []
        for _ in inputs:
            samples = [
                SimpleNamespace(text="#### 4", token_ids=[35, 52, 0], finish_reason="stop"),
                SimpleNamespace(text="long", token_ids=[1, 2, 3, 4], finish_reason="length"),
            ]
            outs.append(SimpleNamespace(outputs=samples[: sampling["n"]]))
        return outs


def params(**kw):
    base = {
        "engine": "vllm",
        "n_samples": 2,
        "pass_k": [1, 2],
        "temperature": 0.7,
        "top_p": 0.95,
        "max_response_tokens": 64,
        "seed": 5,
        "batch_size": 128,
    }
    base.update(kw)
    return parse_params(json.dumps(base))


def engine(tmp_path, n_gpus=4, heads=None, **kw):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    if heads:
        (model / "config.json").write_text(json.dumps({"num_attention_heads": heads}))
    return V.VLLMEngine(
        str(model),
        params(**kw),
        n_gpus=n_gpus,
        tokenizer=CharTokenizer(),
        llm_factory=FakeLLM,
        sampling_factory=dict,
        env={},
    )


def test_tensor_parallel_over_the_visible_gpus(tmp_path):
    assert engine(tmp_path, n_gpus=4).llm_kwargs["tensor_parallel_size"] == 4


def test_tensor_parallel_divides_the_attention_heads(tmp_path):
    assert engine(tmp_path, n_gpus=8, heads=28).llm_kwargs["tensor_parallel_size"] == 7
    assert V.tensor_parallel_size(8, 64) == 8 and V.tensor_parallel_size(3, 64) == 2


def test_the_models_own_generation_config_never_changes_sampling(tmp_path):
    kw = engine(tmp_path).llm_kwargs
    assert kw["generation_config"] == "vllm"
    assert kw["seed"] == 5 and kw["max_num_seqs"] == 128 and kw["enable_prefix_caching"] is True


def test_sampling_draws_n_samples_stopping_at_eos_seeded_by_the_engine(tmp_path):
    """The seed is the engine's (LLM(seed=...)): a per-request seed crashes vLLM's CPU runner ("CPU
    Generator does not use offset") and means the same on a GPU."""
    eng = engine(tmp_path)
    eng.generate([[{"role": "user", "content": "2+2?"}]], 2)
    sampling = eng.llm.calls[0][1]
    assert sampling == {
        "n": 2,
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": -1,
        "max_tokens": 64,
        "stop_token_ids": [0],
        "skip_special_tokens": True,
    }


def test_greedy_is_temperature_zero_with_one_sample(tmp_path):
    eng = engine(tmp_path, greedy=True)
    eng.generate([[{"role": "user", "content": "2+2?"}]], 1)
    sampling = eng.llm.calls[0][1]
    assert (sampling["temperature"], sampling["top_p"], sampling["n"]) == (0.0, 1.0, 1)


def test_prompts_are_encoded_like_the_hf_engine(tmp_path):
    eng = engine(tmp_path)
    eng.generate([[{"role": "user", "content": "hi"}]], 2)
    assert eng.llm.calls[0][0] == [{"prompt_token_ids": [ord(c) for c in "hi\nA:"]}]


def test_outputs_become_generations_without_the_eos_token(tmp_path):
    gens = engine(tmp_path).generate([[{"role": "user", "content": "q"}]] * 3, 2)
    assert len(gens) == 3 and all(len(g) == 2 for g in gens)
    assert gens[0][0] == Generation(text="#### 4", n_tokens=2, finished=True)
    assert gens[0][1] == Generation(text="long", n_tokens=4, finished=False)


def test_no_visible_gpu_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="needs a GPU"):
        engine(tmp_path, n_gpus=0)


def test_visible_gpus_from_cuda_or_slurm():
    assert V.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1,2"}) == 3
    assert V.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert V.visible_gpus({"SLURM_GPUS_ON_NODE": "4"}) == 4


def test_memory_and_eager_mode_from_the_environment(tmp_path):
    kw = V.llm_arguments(
        "m",
        params(),
        n_gpus=1,
        env={
            "RLSCALING_VLLM_GPU_MEMORY": "0.5",
            "RLSCALING_VLLM_ENFORCE_EAGER": "1",
            "RLSCALING_VLLM_MAX_MODEL_LEN": "8192",
        },
    )
    assert (kw["gpu_memory_utilization"], kw["enforce_eager"], kw["max_model_len"]) == (0.5, True, 8192)
    with pytest.raises(UserError, match="RLSCALING_VLLM_GPU_MEMORY"):
        V.llm_arguments("m", params(), n_gpus=1, env={"RLSCALING_VLLM_GPU_MEMORY": "2"})


def test_without_vllm_installed_the_engine_says_so(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    with pytest.raises(UserError, match="vllm package"):
        V.VLLMEngine(str(tmp_path), params(), n_gpus=1, tokenizer=CharTokenizer())


def test_a_checkpoint_is_served_in_the_dtype_it_was_saved_in(tmp_path):
    """vLLM's "auto" would run a float32 checkpoint in bfloat16; the hf engine runs it in float32."""
    (tmp_path / "config.json").write_text('{"dtype": "float32", "hidden_size": 64, "num_attention_heads": 2}')
    assert V.model_dtype(str(tmp_path)) == "float32"
    assert V.model_dtype("Qwen/Qwen2.5-0.5B") == "auto"


def test_vllms_cpu_attention_head_sizes_are_checked_before_the_engine_starts(tmp_path):
    from rlscaling.errors import UserError

    (tmp_path / "config.json").write_text('{"hidden_size": 48, "num_attention_heads": 4}')
    with pytest.raises(UserError, match="head_dim 12 is not served by vLLM's CPU attention"):
        V.check_cpu_head_dim(str(tmp_path))
    (tmp_path / "config.json").write_text('{"hidden_size": 64, "num_attention_heads": 2}')
    V.check_cpu_head_dim(str(tmp_path))


def test_a_cpu_job_runs_vllm_in_process_unbound_to_cores_unless_the_user_says_otherwise():
    env = {"VLLM_CPU_OMP_THREADS_BIND": "0-3"}
    V.set_cpu_environment(env)
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # no engine-core and worker processes
    assert env["VLLM_TARGET_DEVICE"] == "cpu" and env["VLLM_CPU_KVCACHE_SPACE"] == str(V.CPU_KVCACHE_GIB)
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0-3"  # the user's binding stays
    fresh: dict[str, str] = {}
    V.set_cpu_environment(fresh)
    assert fresh["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"  # not every job on core 0
