"""A bad flag is answered by a real process before the heavy libraries load."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.paths import REPO


@pytest.mark.slow
def test_a_bad_flag_is_answered_before_torch_ray_or_mlflow_is_imported():
    probe = ("import sys, search.run\ntry:\n    search.run.parse_args(['--no-such-flag'])\nexcept SystemExit as e:\n    assert e.code == 2\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'mlflow', 'optuna', 'albumentations'}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
