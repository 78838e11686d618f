"""A report generated end to end from a real ablation search on the embedded synthetic data."""
import subprocess
import sys

import pytest

from tests.helpers.search import run_search, runs, search_env


@pytest.mark.slow
def test_report_from_a_real_ablation_search(tmp_path):
    proc = run_search(tmp_path, "--space", "ablation", "--max-epochs", "1", "--base-channels", "4", "--patch-size", "64",
                      "--experiment", "abl", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client, parents, children = runs(tmp_path, "abl")
    assert len(children) == 30 and all(r.info.status == "FINISHED" for r in children)
    assert not any(r.data.tags.get("unet.stopped_early") == "true" for r in children)  # ablation: every trial to the end
    out = tmp_path / "report"
    (tmp_path / "notes.md").write_text("Budget: one epoch per trial, width 4.")
    rep = subprocess.run([sys.executable, "-m", "analysis.report", "--experiment", "abl", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                          "--out", str(out), "--notes", str(tmp_path / "notes.md")], cwd=tmp_path, env=search_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-3000:]
    text = (out / "report.md").read_text()
    assert "Budget: one epoch per trial, width 4." in text
    settings = text.split("## How these searches were run")[1].split("## synthetic")[0]
    assert "| abl | ablation-synthetic-" in settings and "| 1 | 0 | 16 | 4 | 64 |" in settings  # epochs, patches/epoch, batch, width, patch
    assert parents[0].data.tags["unet.best_run_name"] in settings
    assert "## synthetic" in text and "### Every skip pattern per depth" in text and "Depth x skips trade-off" in text
    assert text.count("**best**") >= 4  # one best pattern per depth
    assert (out / "synthetic_heatmap.png").stat().st_size > 0
    assert {a.path for a in client.list_artifacts(parents[0].info.run_id, "report")} >= {"report/report.md", "report/report.html"}


@pytest.mark.slow  # a real process
def test_report_errors_are_one_line(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = [sys.executable, "-m", "analysis.report", "--tracking-uri", uri, "--out", str(tmp_path / "r")]
    rep = subprocess.run([*report, "--experiment", "nope"], cwd=tmp_path, env=search_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert rep.returncode == 2 and rep.stderr.strip() == f"error: no MLflow store at {tmp_path / 'mlflow.db'}"
    assert not (tmp_path / "mlflow.db").exists()  # a wrong path does not leave an empty store behind
    from mlflow import MlflowClient

    MlflowClient(uri).create_experiment("empty")
    rep = subprocess.run([*report, "--experiment", "nope"], cwd=tmp_path, env=search_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert rep.returncode == 2 and rep.stderr.strip() == f"error: experiment 'nope' not found at {uri}"
    assert not (tmp_path / "r").exists()
    rep = subprocess.run([sys.executable, "-m", "analysis.report", "--experiment", "empty", "--tracking-uri", uri, "--out", str(tmp_path / "r")],
                         cwd=tmp_path, env=search_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert rep.returncode == 2 and "has no finished trial runs" in rep.stderr and len(rep.stderr.strip().splitlines()) == 1
