"""Run the search CLI in a subprocess against a throw-away MLflow store and Tune folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient
from tests.helpers.paths import REPO


def search_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS"))}
    env.update(UNET_SEARCH_CACHE=str(tmp / "cache"), PYTHONPATH=str(REPO), RAY_DEDUP_LOGS="0", PYTHONUNBUFFERED="1")
    return env


def search_cmd(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "search.run", "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--storage", str(tmp / "ray"), *args]


def run_search(tmp: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(search_cmd(tmp, *args), cwd=tmp, env=search_env(tmp), capture_output=True, text=True, timeout=timeout)


def runs(tmp: Path, experiment: str):
    """(parent runs, child runs) of an experiment."""
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    all_runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in all_runs if r.data.tags.get("unet.role") == "search"]
    children = [r for r in all_runs if r.data.tags.get("unet.role") == "trial"]
    return client, parents, children


def dry_run(tmp: Path, *args: str, monkeypatch=None) -> list[dict]:
    """The configurations `search.run --dry-run ARGS` prints, computed in this process (the CLI's own path is tested once,
    in test_search_cli; a subprocess per dry run costs seconds of imports)."""
    from search.driver.data import load_data, settle_patch, space_limits
    from search.driver.dry_run import dry_run_lines
    from search.run import parse_args

    os.environ.setdefault("UNET_SEARCH_CACHE", str(tmp / "cache"))
    cfg = parse_args(["--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--storage", str(tmp / "ray"), *args, "--dry-run"])
    data = load_data(cfg)
    cfg = settle_patch(cfg, data)
    return dry_run_lines(cfg, space_limits(cfg, data))
