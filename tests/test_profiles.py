"""Specification of the Snakemake profiles: the workflow profile (profiles/default) holds what the
workflow needs everywhere, profiles/local and profiles/slurm how jobs run, and `make slurm-profile`
makes the README's cluster command, `snakemake --profile slurm all`, work as typed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from rlscaling.paths import PROJECT_ROOT

PROFILES = PROJECT_ROOT / "profiles"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _settings(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def test_workflow_profile_holds_the_settings_every_run_needs():
    assert _settings("default") == {
        "rerun-incomplete": True,
        "printshellcmds": True,
        "show-failed-logs": True,
    }


def test_site_profiles_do_not_repeat_the_workflow_profile():
    for name in ("local", "slurm"):
        assert not set(_settings(name)) & set(_settings("default")), name


def test_slurm_profile_installs_as_a_named_profile_and_is_idempotent(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    for _ in range(2):
        subprocess.run(
            ["make", "--no-print-directory", "slurm-profile"],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    link = tmp_path / "snakemake" / "slurm"
    assert link.is_symlink() and link.resolve() == (PROFILES / "slurm").resolve()


def test_slurm_profile_install_leaves_another_profile_of_that_name_alone(tmp_path):
    (tmp_path / "slurm").mkdir()
    result = subprocess.run(
        [str(PROJECT_ROOT / "scripts/install_slurm_profile.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "is not a link" in result.stderr
    assert not (tmp_path / "slurm").is_symlink()


def test_snakemake_finds_the_slurm_profile_by_name_from_the_project_root(tmp_path):
    """The command as typed: Snakemake reads the named profile and, after it, the workflow profile."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    subprocess.run(
        ["scripts/install_slurm_profile.sh"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
    )
    result = subprocess.run(
        [SNAKEMAKE, "--profile", "slurm", "-n", "all"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in result.stderr


def test_the_local_profile_reruns_a_job_that_crashed_once(tmp_path):
    """profiles/local (make study, the presets): a job that dies once (here: exit 139 on its first
    attempt, as a segfault does) is run again, and the study finishes."""
    (tmp_path / "Snakefile").write_text(
        "rule crash_once:\n"
        "    output: 'done.txt'\n"
        "    shell: \"if [ ! -e tried ]; then touch tried; exit 139; fi; echo ok > {output}\"\n"
    )
    snakemake = str(Path(sys.executable).parent / "snakemake")
    proc = subprocess.run(
        [snakemake, "--profile", str(PROFILES / "local"), "--cores", "1", "done.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "tried").exists() and (tmp_path / "done.txt").read_text() == "ok\n"
