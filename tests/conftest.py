"""Shared fixtures: real-data locations (skipped with a reason when absent) and small synthetic data."""
from __future__ import annotations

import os

import pytest
import torch

from tests.helpers.paths import REPO, SHARED_DATA, real_data  # noqa: F401 - the fixtures' paths, importable from here too

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the decoded-data cache of every test out of the user's home."""
    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path_factory.getbasetemp() / "decode-cache"))
