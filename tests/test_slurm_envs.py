"""The conda environments of the rule families (envs/) pin what pyproject.toml pins, the GPU one differs
only where verl 0.9.1 / vLLM fix the version, and the cluster extra pins the installed executor plugin.
(Creating the environments needs conda and a GPU node's network; they are checked on paper here.)"""

from __future__ import annotations

import importlib.metadata
import re

import pytest
import yaml

from rlscaling.paths import PROJECT_ROOT

ENVS = PROJECT_ROOT / "envs"
RULES = PROJECT_ROOT / "workflow" / "rules"
# where verl[vllm]==0.9.1 decides: its GPU stack, and numpy < 2.4 for vLLM's mistral_common
GPU_EXCEPTIONS = {"torch", "transformers", "tokenizers", "numpy"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)$", req.strip())
        if m:
            out[norm(m.group(1))] = m.group(2)
    return out


def pyproject_pins(section: str | None = None) -> dict[str, str]:
    import tomllib

    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    reqs = data["dependencies"] if section is None else data["optional-dependencies"][section]
    return pins(reqs)


def env_pins(name: str) -> dict[str, str]:
    env = yaml.safe_load((ENVS / name).read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return pins(pip)


@pytest.mark.parametrize("name", ["cpu.yaml", "analysis.yaml", "verl-gpu.yaml"])
def test_environment_files_are_conda_environments_with_python_3_11(name):
    env = yaml.safe_load((ENVS / name).read_text())
    assert env["name"].startswith("rlscaling-")
    assert "python=3.11" in env["dependencies"]
    assert env_pins(name)


@pytest.mark.parametrize("name", ["cpu.yaml", "analysis.yaml"])
def test_cpu_and_analysis_environments_pin_what_pyproject_pins(name):
    project = pyproject_pins()
    env = env_pins(name)
    assert set(env) <= set(project), set(env) - set(project)
    assert {k: env[k] for k in env} == {k: project[k] for k in env}


def test_cpu_environment_has_every_runtime_dependency_but_snakemake():
    assert set(pyproject_pins()) - set(env_pins("cpu.yaml")) == {"snakemake"}


def test_gpu_environment_differs_from_pyproject_only_where_verl_decides():
    project, gpu = pyproject_pins(), env_pins("verl-gpu.yaml")
    differ = {k for k in set(project) & set(gpu) if project[k] != gpu[k]}
    assert differ <= GPU_EXCEPTIONS, differ
    assert gpu["verl"] == "0.9.1"


def test_gpu_environment_agrees_with_its_lock_file():
    lock = pins((ENVS / "verl-gpu.lock.txt").read_text().splitlines())
    gpu = env_pins("verl-gpu.yaml")
    assert {k: lock.get(k) for k in gpu} == gpu


def test_cluster_extra_pins_the_installed_executor_plugin():
    extra = pyproject_pins("cluster")
    for name, version in extra.items():
        assert importlib.metadata.version(name) == version, name


@pytest.mark.skipif("conda:" not in (RULES / "train.smk").read_text(), reason="rules declare no conda: yet")
def test_every_conda_environment_a_rule_names_exists():
    for smk in RULES.glob("*.smk"):
        for path in re.findall(r'"(\.\./\.\./envs/[^"]+)"', smk.read_text()):
            assert (smk.parent / path).resolve().is_file(), (smk.name, path)
