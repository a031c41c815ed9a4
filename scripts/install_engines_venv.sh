#!/usr/bin/env bash
# Install verl 0.9.1 (CPU) into its own virtual environment, .venv-engines, beside the project's .venv.
#
# Why a second venv: verl 0.9.1 requires transformers>=5.5.3,<5.11 (and tokenizers 0.22), while the
# project pins transformers==5.23.0 (TRL 1.16). The two cannot share one environment. The verl tests
# (tests/test_verl*.py) run verl's own code (hydra config composition, NaiveRewardManager, FileLogger)
# in this venv through a subprocess; they skip with a clear reason where it is absent.
#
#   scripts/install_engines_venv.sh            # -> .venv-engines (VERL_VENV=... to put it elsewhere)
#
# torch stays at the project's pin (torch==2.13.0, the CPU build on CI machines); rlscaling itself is
# installed without dependencies (it is only imported for the reward function and the converters).
# On GPU nodes use envs/verl-gpu.yaml (verl[vllm]) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VERL_VENV:-.venv-engines}
PY=${PYTHON:-python3}
VERL_VERSION=0.9.1
TORCH_VERSION=2.13.0

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# torch first (the CPU build on CI machines), then verl with its core extra (TransferQueue, which the
# v1 trainer imports, cachetools, ...). Naming torch again keeps pip from moving it.
"$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
"$VENV/bin/python" -m pip install --quiet "verl[verl-core]==$VERL_VERSION" "torch==$TORCH_VERSION" \
  "math-verify==0.9.0" "pandas==3.1.1" "pyarrow==26.0.1" "jsonschema==4.26.0" "PyYAML==6.0.3"
"$VENV/bin/python" -m pip install --quiet --no-deps -e .
"$VENV/bin/python" - <<'PYEOF'
import importlib.metadata as m
print({p: m.version(p) for p in ("verl", "torch", "transformers", "hydra-core", "omegaconf", "ray", "TransferQueue")})
PYEOF
