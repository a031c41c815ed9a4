"""Which interpreter runs the cluster engines (rlscaling.environments)."""

from __future__ import annotations

import sys

from rlscaling import environments as E


def test_an_explicit_engines_python_wins():
    assert E.engines_python({E.ENGINES_PYTHON_ENV: "/opt/engines/bin/python"}) == "/opt/engines/bin/python"


def test_the_running_interpreter_is_used_where_it_has_the_engine():
    """A GPU node's engines environment runs the rule itself: never hand verl to .venv-engines there."""
    assert E.engines_python({}, module="json") == sys.executable


def test_without_the_engine_here_the_projects_engines_venv_is_used_where_it_exists(monkeypatch, tmp_path):
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    monkeypatch.setattr(E, "ENGINES_VENV", tmp_path)
    assert E.engines_python({}, module="no_such_engine_module") == str(python)
    monkeypatch.setattr(E, "ENGINES_VENV", tmp_path / "absent")
    assert E.engines_python({}, module="no_such_engine_module") == sys.executable


def test_visible_gpus_come_from_cuda_visible_devices_then_slurm():
    assert E.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert E.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == 0
    assert E.visible_gpus({"SLURM_GPUS_ON_NODE": "4"}) == 4


def test_require_engines_fails_a_skipped_real_engine_test_and_only_that(tmp_path):
    """RLSCALING_REQUIRE_ENGINES=1 (make test-engines, CI's make test): a test marked engines or verl
    that skips fails; an unmarked test that skips (say, no reference data) still skips."""
    import os
    import shutil
    import subprocess

    from rlscaling.paths import PROJECT_ROOT

    shutil.copy(PROJECT_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n  verl: v\n  engines: e\n")
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.verl\ndef test_needs_verl():\n    pytest.skip('no verl environment')\n\n"
        "@pytest.mark.engines\ndef test_needs_engines():\n    pytest.skip('no engines')\n\n"
        "def test_needs_data():\n    pytest.skip('no reference data')\n"
    )
    env = dict(os.environ, RLSCALING_REQUIRE_ENGINES="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "2 failed, 1 skipped" in proc.stdout, proc.stdout[-2000:]
