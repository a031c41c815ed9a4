"""Shared test fixtures.

Reference data (../shared/data) is found through RLSCALING_SHARED_DATA (default ../shared/data next to
the project); tests that need it skip with a clear reason when it is absent (a user's fresh clone).
"""

from __future__ import annotations

import os

# Many small numpy problems on 2 shared cores: multi-threaded BLAS only adds contention.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rlscaling.paths import SHARED_DATA_ENV, shared_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference-data folder, or skip."""
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"reference data not found at {d} (set {SHARED_DATA_ENV} to its folder)")
    return d


def need_file(shared: Path, rel: str) -> Path:
    """A file of the reference data, or skip naming it."""
    p = shared / rel
    if not p.exists():
        pytest.skip(f"reference file {p} not found")
    return p


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With RLSCALING_REQUIRE_ENGINES=1 (make test-engines, and CI's make test) a skipped real-engine
    test (marker engines or verl) fails: each must run where the engines environment is installed.
    Other tests skip as usual."""
    outcome = yield
    report = outcome.get_result()
    required = os.environ.get("RLSCALING_REQUIRE_ENGINES") == "1"
    real_engine = item.get_closest_marker("engines") or item.get_closest_marker("verl")
    if required and real_engine and report.skipped and call.when in ("setup", "call"):
        report.outcome = "failed"
        report.longrepr = f"skipped under RLSCALING_REQUIRE_ENGINES=1: {report.longrepr}"


# modules whose module-scoped fixture runs a whole mini study (test_workflow: ~4 min of its ~5 on 2
# cores): collected first, so that under pytest-xdist (make test, --dist loadscope) the worker that takes
# it starts there and the other workers share the rest, instead of one worker starting it last
LONGEST_MODULES = ("test_workflow.py",)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in LONGEST_MODULES)  # stable: order kept otherwise
