"""Where things are: the project root and the shared reference data.

The reference data (guru problems, benchmark sets, the published curves) is never part of this
repository. It is found through one setting: the environment variable RLSCALING_SHARED_DATA, default
`../shared/data` relative to the project root. Tests that need it skip with a clear reason when it is
absent.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA_ENV = "RLSCALING_SHARED_DATA"


def shared_data_dir() -> Path:
    """The reference-data folder (may not exist on a user's fresh clone)."""
    configured = os.environ.get(SHARED_DATA_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return (PROJECT_ROOT / ".." / "shared" / "data").resolve()
