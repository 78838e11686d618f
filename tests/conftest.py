"""Shared fixtures: real-data locations (skipped with a reason when absent) and small synthetic data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UNET_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def real_data(name: str) -> Path:
    """Path of a real dataset under ../shared/data, or skip the test saying why."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (only CI and the team's machines have ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the decoded-data cache of every test out of the user's home."""
    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path_factory.getbasetemp() / "decode-cache"))
