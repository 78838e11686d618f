"""The search CLI: dry runs, bad input at the edge, and a real quick search on Ray Tune + MLflow."""
import importlib.util
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datasets.synthetic import make_sample
from mlflow import MlflowClient
from tests.helpers.paths import REPO
from tests.helpers.search import run_search, runs, search_env
from unet_core import resolve_precision


@pytest.mark.slow  # a real process
def test_ablation_dry_run_lists_the_thirty_configurations(tmp_path):
    proc = run_search(tmp_path, "--space", "ablation", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    configs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(configs) == 30
    assert sorted({(c["depth"], c["skips"]) for c in configs}) == sorted(
        {(len(p), p) for d in range(1, 5) for p in [format(i, f"0{d}b") for i in range(2**d)]}
    )
    proc = run_search(tmp_path, "--space", "ablation", "--repeats", "3", "--dry-run", "--max-epochs", "4", "--patches-per-epoch", "100")
    assert len(proc.stdout.splitlines()) == 90
    # the expected compute, with a time measured on this machine, on stderr
    assert "expected compute: 90 trials x 4 epochs x 100 patches of 64 px = 36,000 patch passes; at " in proc.stderr
    assert " ms per patch" in proc.stderr and "min of training" in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()  # a dry run writes nothing


@pytest.mark.slow  # a real process
def test_help_states_every_default_and_which_spaces_a_flag_applies_to():
    out = subprocess.run([sys.executable, "-m", "search.run", "--help"], cwd=REPO, capture_output=True, text=True, env={"COLUMNS": "400"}).stdout
    lines, flag = {}, None
    for line in out.splitlines():  # one entry per option: its name line and the help lines under it
        if line.startswith("  -"):
            flag = line.split()[0].rstrip(",")
            lines[flag] = line
        elif flag and line.startswith("    "):
            lines[flag] += " " + line.strip()
    for flag, default in (("--num-samples", "quick 8, arch 16, full 16"), ("--max-epochs", "6"), ("--patches-per-epoch", "0 for quick, arch and ablation; 1024 for full"), ("--base-channels", "8, or planned with --budget"),
                          ("--seed", "0"), ("--cpus-per-trial", "1"), ("--grace-period", "2"), ("--reduction-factor", "2"),
                          ("--rerank-top", "2 for arch and full, 0 for quick"), ("--final-budget", "2 x --max-epochs"),
                          ("--final-folds", "2 for arch and full, 1 for quick and --strategy supernet"), ("--default-margin", "1")):
        assert f"(default {default})" in lines[flag], lines[flag]
    for flag in ("--base-channels", "--patch-size", "--loss", "--lr"):
        assert "ablation and arch" in lines[flag] and ("search it" in lines[flag] or "searches" in lines[flag])
    assert "every grid patch" in lines["--patches-per-epoch"]


@pytest.mark.slow
def test_stop_at_ends_the_search_once_a_trial_is_good_enough(tmp_path):
    # the trials' output starts at the class prior (Dice 0 untrained): 0.3 needs a trial that learned something
    proc = run_search(tmp_path, "--space", "arch", "--depths", "1,2", "--num-samples", "12", "--max-epochs", "4", "--patches-per-epoch", "256", "--stop-at", "0.3",
                      "--rerank-top", "0", "--experiment", "stop")
    assert proc.returncode == 0, proc.stderr[-3000:]
    client, parents, children = runs(tmp_path, "stop")
    assert parents[0].info.status == "FINISHED"
    assert 1 <= len(children) < 12  # the trials not yet started never ran
    reached = [max(m.value for m in client.get_metric_history(r.info.run_id, "val_dice")) for r in children
               if client.get_metric_history(r.info.run_id, "val_dice")]
    assert max(reached) >= 0.3


def _reliability():
    spec = importlib.util.spec_from_file_location("make_reliability", REPO / "docs" / "make_reliability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_reliability"] = module
    spec.loader.exec_module(module)
    return module


RELIABILITY = _reliability()


@pytest.fixture(scope="module")
def bad_input_outcomes():
    """Every bad-input case run once through the real CLI, two at a time (each is mostly a process importing the libraries);
    a case still running after 60 s fails as a timeout (a bad input must be refused fast), not as a measured duration."""
    return dict(zip(RELIABILITY.CASES, RELIABILITY.run_cases(RELIABILITY.CASES, timeout=60)))


@pytest.mark.slow  # a real process
@pytest.mark.parametrize("case", RELIABILITY.CASES, ids=[c.what for c in RELIABILITY.CASES])
def test_bad_input_is_one_line_fast_and_writes_nothing(case, bad_input_outcomes):
    outcome = bad_input_outcomes[case]
    assert outcome.returncode == 2, outcome.stderr[-2000:]
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and case.expect in lines[0], outcome.stderr[-2000:]
    assert not outcome.written


@pytest.mark.slow
def test_the_winner_is_picked_among_the_best_retrained_on_folds_and_goes_home_with_its_fold_models(tmp_path):
    proc = run_search(tmp_path, "--num-samples", "4", "--max-epochs", "2", "--rerank-top", "2", "--final-budget", "3", "--final-folds", "2",
                      "--experiment", "rerank")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "re-ranking the best 2 at the final budget (3 epochs), beside the default U-Net d4-s1111-dice_bce-p64-default: " in proc.stdout
    assert "re-ranked at the final budget (3 epochs): " in proc.stdout and "-default-final " in proc.stdout
    assert "(the default U-Net)" in proc.stdout
    client, parents, trials = runs(tmp_path, "rerank")
    exp = client.get_experiment_by_name("rerank")
    finals = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("unet.role") == "final"]
    assert len(trials) == 4 and len(finals) == 6  # two finalists and the default U-Net, each on two folds
    candidate = lambda run: re.sub(r"-f\d(?=-)", "", run.info.run_name).removesuffix("-final")  # noqa: E731 - the finalist a run trains
    top2 = sorted(trials, key=lambda r: -r.data.metrics["best_val_dice"])[:2]
    default = [r for r in finals if r.info.run_name.endswith("-default-final")]
    assert len(default) == 2 and {r.data.params["fold"] for r in default} == {"0", "1"}
    assert all(r.data.params["depth"] == "4" and r.data.params["skips"] == "1111" and r.data.params["default_unet"] == "True" for r in default)
    assert {candidate(r) for r in finals} - {candidate(default[0])} == {r.info.run_name for r in top2}  # the search's best two, retrained
    for run in finals:
        assert run.info.status == "FINISHED" and run.data.params["epochs"] == "3"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_dice")] == [1, 2, 3]
    parent = parents[0].data.tags
    assert [r["run_name"] for r in json.loads(parent["unet.search_ranking"])] == [r.info.run_name for r in top2]
    assert {r["run_name"] for r in json.loads(parent["unet.final_ranking"])} == {r.info.run_name for r in finals}
    chosen = [r for r in finals if candidate(r) == parent["unet.final_choice"]]
    best = max(chosen, key=lambda r: r.data.metrics["best_val_dice"])
    assert len(chosen) == 2 and parent["unet.best_run_id"] == best.info.run_id and f"best: {best.info.run_name}" in proc.stdout

    # the choice goes home registered, with its two fold models; the default U-Net it was compared with is logged beside it
    version = client.get_model_version("rerank", "1")
    assert parent["unet.registered_model"] == "models:/rerank/1" and version.tags["configuration"] == best.info.run_name
    models = {m.model_id: m for m in client.search_logged_models([exp.experiment_id])}
    registered = models[version.source.removeprefix("models:/")]
    assert registered.source_run_id == best.info.run_id and registered.tags["unet.model_role"] == "chosen"
    folds = registered.tags["unet.fold_models"].split(",")
    assert {models[m].source_run_id for m in folds} == {r.info.run_id for r in chosen}
    defaults = [m for m in models.values() if m.tags["unet.model_role"] == "default"]
    if parent["unet.final_choice_default"] == "true":
        assert not defaults  # the default U-Net is the choice: logged once, as the choice
    else:
        assert len(defaults) == 1 and defaults[0].source_run_id in {r.info.run_id for r in default}
        assert {"best_val_dice", "test_dice"} <= {m.key for m in defaults[0].metrics}
    images = tmp_path / "new"
    images.mkdir()
    Image.fromarray((make_sample(900, 96).image[0] * 255).astype(np.uint8)).save(images / "img.png")
    out = subprocess.run([sys.executable, "-m", "search.predict", "--model", "models:/rerank/1", "--ensemble", "--tta", "flip", "--input", str(images),
                          "--output", str(tmp_path / "masks"), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"], cwd=tmp_path,
                         env=search_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "(2 fold models averaged)" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
def test_quick_search_end_to_end(tmp_path):
    proc = run_search(tmp_path, "--num-samples", "8", "--max-epochs", "4", "--cpus-per-trial", "1", "--experiment", "e2e", timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best: d" in proc.stdout and "test (full images, overlap-tile): Dice" in proc.stdout
    # the log is the search's own lines: a progress line per trial, none of the libraries' noise, no terminal codes
    assert len(re.findall(r"^\[\d+:\d\d\] \d/8 trials done \(\d stopped early, 0 failed\), \d running \| best val Dice", proc.stdout, re.M)) == 8
    log = proc.stdout + proc.stderr
    for noise in ("Token authentication", "A new study created", "tensorboard", "not writable", "Exception ignored", "Configuration for experiment",
                  "View detailed results"):
        assert noise not in log, noise
    assert "\x1b" not in log
    client, parents, children = runs(tmp_path, "e2e")
    assert len(parents) == 1 and len(children) == 8
    parent = parents[0]
    assert parent.info.status == "FINISHED" and "test_dice" in parent.data.metrics
    assert client.get_experiment_by_name("e2e").tags["mlflow.experimentKind"] == "custom_model_development"
    stopped = [r for r in children if r.data.tags.get("unet.stopped_early") == "true"]
    assert stopped, "ASHA stopped no trial early"
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        p = run.data.params
        assert len(p["skips"]) == int(p["depth"]) and set(p["skips"]) <= {"0", "1"}
        assert run.info.run_name == f"d{p['depth']}-s{p['skips']}-{p['loss']}-p{p['patch_size']}"
        assert p["precision"] == "auto" and p["precision_used"] == resolve_precision("auto", "cpu").name and p["head_bias"] == "prior"
        history = client.get_metric_history(run.info.run_id, "val_dice")
        assert [m.step for m in history] == list(range(1, len(history) + 1))
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
        assert "checkpoints/best.pt" in artifacts
        assert {a.path for a in client.list_artifacts(run.info.run_id, "predictions")} == {"predictions/validation.png"}
        assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.name == "synthetic"
    assert max(len(client.get_metric_history(r.info.run_id, "val_dice")) for r in stopped) < 4
    best = parent.data.tags["unet.best_run_id"]
    assert "test_dice" in client.get_run(best).data.metrics

    # the winner segments new images through search.predict
    new = tmp_path / "new"
    new.mkdir()
    truths = {}
    for seed in (900, 901):
        s = make_sample(seed, 96)
        Image.fromarray((s.image[0] * 255).astype(np.uint8)).save(new / f"img{seed}.png")
        truths[f"img{seed}.png"] = (s.mask > 0, s.valid)
    out = subprocess.run([sys.executable, "-m", "search.predict", "--run-id", best, "--input", str(new), "--output", str(tmp_path / "masks"),
                          "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"], cwd=tmp_path, env=search_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for name, (truth, fov) in truths.items():
        mask = np.asarray(Image.open(tmp_path / "masks" / name)) > 0
        assert mask.shape == truth.shape
        mask, truth = mask[fov], truth[fov]  # outside the field of view the model was never trained, as with DRIVE
        assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.5
    take_home_model_checks(tmp_path, proc.stdout, best, new)


FRESH_PROCESS = """
import sys, json, numpy as np, mlflow, mlflow.pytorch, onnxruntime, torch
from PIL import Image
uri, image_path, onnx_path = sys.argv[1:]
model = mlflow.pytorch.load_model(uri)
meta = mlflow.models.get_model_info(uri).metadata["unet"]
from unet_core import predict_image  # the U-Net's own code, shipped with the model
image = torch.from_numpy(np.asarray(Image.open(image_path).convert("L"), dtype=np.float32)[None] / 255)
mask = (predict_image(model.eval(), image, meta["eval_tile"], tta="flip")[0].numpy() >= 0.5).astype(np.uint8) * 255
tile = image[None, :, :meta["eval_tile"], :meta["eval_tile"]].numpy()
session = onnxruntime.InferenceSession(onnx_path)
with torch.no_grad():
    diff = float(np.abs(session.run(None, {session.get_inputs()[0].name: tile})[0] - model(torch.from_numpy(tile)).numpy()).max())
import unet_core
print(json.dumps({"mask": mask.tolist(), "onnx_diff": diff, "search_imported": any(m == "search" or m.startswith("search.") for m in sys.modules),
                  "code": unet_core.__file__}))
"""


def take_home_model_checks(tmp_path, stdout: str, best_run_id: str, images) -> None:
    """The search registered its choice (the README's quick search: models:/EXPERIMENT/1); a fresh process that never imports
    `search` loads it with mlflow.pytorch and predicts search.predict's mask (its default: flip TTA; the quick search trains
    no fold models); its ONNX export runs under ONNX Runtime."""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    version = client.get_model_version("e2e", "1")
    model = client.get_logged_model(version.source.removeprefix("models:/"))
    assert model.source_run_id == best_run_id and version.tags["configuration"] == client.get_run(best_run_id).info.run_name
    assert {"best_val_dice", "test_dice"} <= {m.key for m in model.metrics} and version.tags["dataset"] == "synthetic"
    assert "model: models:/e2e/1" in stdout
    env, uri = search_env(tmp_path), f"sqlite:///{tmp_path / 'mlflow.db'}"
    tools = {"predict": ["search.predict", "--model", "models:/e2e/1", "--input", str(images), "--output", str(tmp_path / "by-model")],
             "export": ["search.export", "--model", "models:/e2e/1", "--format", "onnx", "--out", str(tmp_path / "unet.onnx")]}
    for name, tool in tools.items():
        out = subprocess.run([sys.executable, "-m", *tool, "--tracking-uri", uri], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (name, out.stderr[-2000:])
    fresh = subprocess.run([sys.executable, "-c", FRESH_PROCESS, "models:/e2e/1", str(images / "img900.png"), str(tmp_path / "unet.onnx")],
                           cwd=tmp_path, env={**env, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": ""}, capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    found = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert not found["search_imported"] and found["onnx_diff"] < 1e-4
    assert "/artifacts/code/unet_core/" in found["code"]  # the U-Net's code came with the model, not from this checkout
    assert np.array_equal(np.asarray(found["mask"], dtype=np.uint8), np.asarray(Image.open(tmp_path / "by-model" / "img900.png")))
