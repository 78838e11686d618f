"""Where the repository and the real datasets are; a test needing real data skips with the reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("UNET_SHARED_DATA", REPO.parent / "shared" / "data"))


def real_data(name: str) -> Path:
    """Path of a real dataset under ../shared/data, or skip the test saying why."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (only CI and the team's machines have ../shared/data)")
    return path
