"""The MLflow UI a search points to: Model training mode, the runs table, metric columns."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from search.tracking import client as tracking
from search.run import mlflow_lines

REPO = Path(__file__).resolve().parents[1]


def test_every_experiment_carries_the_trials_view_and_the_printed_link_opens_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = tracking.check_tracking(uri)
    exp = tracking.get_or_create_experiment(client, "ui", uri)
    view = json.loads(client.get_experiment(exp).tags[tracking.VIEW_TAG])
    assert view["orderByKey"] == "metrics.`best_val_dice`" and view["orderByAsc"] is False
    assert {"metrics.`best_val_dice`", "metrics.`test_dice`", "params.`depth`", "params.`skips`"} <= set(view["selectedColumns"])
    command, link = mlflow_lines(uri, exp, "PARENT")
    assert command.startswith(f"MLflow: mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")
    assert f"http://127.0.0.1:5000/#/experiments/{exp}/runs?workflowType=machine_learning&viewStateShareKey={tracking.VIEW_KEY}" in link
    (server,) = mlflow_lines("http://mlflow.lab:5000", exp, "PARENT")
    assert f"http://mlflow.lab:5000/#/experiments/{exp}/runs?workflowType=machine_learning" in server


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Chromium (apt-get install chromium) to render the MLflow UI")
def test_the_printed_link_lands_on_the_runs_table_in_a_real_browser(tmp_path):
    shot = tmp_path / "ui.png"
    proc = subprocess.run([sys.executable, str(REPO / "mlflow" / "check_ui.py"), "--out", str(shot)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert shot.stat().st_size > 10_000
