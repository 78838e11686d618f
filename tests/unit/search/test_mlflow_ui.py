"""The MLflow UI a search points to: Model training mode, the runs table, metric columns; the Models page and the registry."""
from __future__ import annotations

import importlib.util
import json

from search.run import mlflow_lines
from search.tracking import client as tracking
from tests.helpers.paths import REPO


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


def check_ui():
    """mlflow/check_ui.py as a module (its folder is no package: it would shadow mlflow)."""
    spec = importlib.util.spec_from_file_location("check_ui", REPO / "mlflow" / "check_ui.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pages_are_judged_on_what_they_show():
    page_problems, models_problems, registry_problems = (getattr(check_ui(), f) for f in ("page_problems", "models_problems", "registry_problems"))

    runs = "<div>Runs</div><td>d2-s10-dice_bce-p48</td><th>best_val_dice</th><th>test_dice</th><th>depth</th>"
    assert page_problems(runs) == [] and page_problems(runs + "Detect Issues") == ["shows the GenAI overview (Detect Issues)"]
    models = "Models Source run Registered models <td>d2-s10-dice_bce-p48</td> <span>Ready</span> <a>d2-s10-dice_bce-p48</a> <a>ui-check v1</a>"
    assert models_problems(models) == [] and models_problems(models.replace("ui-check v1", "")) == ["no model of a trial run registered as ui-check v1"]
    registry = "Registered Models ui-check Version 1 dataset : synthetic configuration : d2-s10 test_dice : 0.7"
    assert registry_problems(registry) == [] and registry_problems(registry.replace("Version 1", "")) == ["missing Version 1"]
