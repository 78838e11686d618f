"""The model a user takes home: logged as an MLflow 3 LoggedModel linked to its run and metrics, registered as new
versions, loaded back by URI, and refused in one line where the URI holds no U-Net of this platform."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import mlflow
from search.driver.models import _chosen_folds, _default_unet
from search.tracking import client as tracking
from search.tracking import models as logged
from unet_core import UNet, predict_image

META = {"eval_tile": 32, "model": {"in_channels": 1, "num_classes": 1, "depth": 2, "skips": "10", "base_channels": 4},
        "params": {"depth": 2, "skips": "10", "patch_size": 32}, "dataset": "synthetic", "dataset_options": {}}


@pytest.fixture
def store(tmp_path):
    """(uri, client, experiment id, a finished trial run id) of a fresh SQLite store."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = tracking.check_tracking(uri)
    exp = tracking.get_or_create_experiment(client, "models", uri)
    run = client.create_run(exp, run_name="d2-s10-dice_bce-p32")
    client.set_terminated(run.info.run_id)
    return uri, client, exp, run.info.run_id


def unet(seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return UNet(**META["model"]).eval()


def test_a_logged_unet_is_a_model_of_its_run_and_experiment_with_its_metrics_and_loads_back_by_id(store):
    uri, client, exp, run_id = store
    model = unet()
    model_id = logged.log_unet(client, uri, exp, run_id, model, META, {"best_val_dice": 0.61, "test_dice": 0.58}, {"unet.model_role": "chosen"})
    found = client.get_logged_model(model_id)
    assert found.experiment_id == exp and found.source_run_id == run_id and str(found.status) == "READY"
    assert {m.key: m.value for m in found.metrics} == {"best_val_dice": 0.61, "test_dice": 0.58}
    assert found.params["skips"] == "10" and found.tags["unet.model_role"] == "chosen"
    assert [o.model_id for o in client.get_run(run_id).outputs.model_outputs] == [model_id]  # the run lists it as its output
    back, meta, info = logged.load_unet(uri, model_id)
    assert meta["eval_tile"] == 32 and info.signature.inputs.inputs[0].shape == (-1, 1, -1, -1)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_registering_a_name_that_exists_adds_a_version_and_leaves_the_first_as_it_was(store):
    uri, client, exp, run_id = store
    first = logged.log_unet(client, uri, exp, run_id, unet(0), META, {}, {})
    second = logged.log_unet(client, uri, exp, run_id, unet(1), META, {}, {})
    assert logged.register(uri, first, "vessels", {"configuration": "a"}) == 1
    assert logged.register(uri, second, "vessels", {"configuration": "b"}) == 2
    v1, v2 = client.get_model_version("vessels", "1"), client.get_model_version("vessels", "2")
    assert (v1.source, v1.tags["configuration"]) == (f"models:/{first}", "a") and (v2.source, v2.tags["configuration"]) == (f"models:/{second}", "b")
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(logged.load_unet(uri, "models:/vessels/1")[0](x), unet(0)(x))


def test_an_alias_names_a_version_and_a_long_folder_reports_its_progress(store, tmp_path):
    from PIL import Image

    from search.predict import predict_folder

    uri, client, exp, run_id = store
    logged.register(uri, logged.log_unet(client, uri, exp, run_id, unet(3), META, {}, {}), "vessels", {})
    client.set_registered_model_alias("vessels", "production", "1")
    model, meta, _ = logged.load_unet(uri, "models:/vessels@production")
    (tmp_path / "in").mkdir()
    for i in range(20):
        Image.fromarray(np.full((40, 48), 12 * i, dtype=np.uint8)).save(tmp_path / "in" / f"case{i:02d}.png")
    lines = []
    written = predict_folder([model], meta, tmp_path / "in", tmp_path / "out", progress=lines.append)
    assert len(written) == 20 and all(np.asarray(Image.open(p)).shape == (40, 48) for p in written)
    assert [line.split(" images")[0] for line in lines] == [f"predicted {i}/20" for i in range(2, 21, 2)]  # a line per tenth of the folder


def test_a_bad_image_late_in_a_folder_leaves_no_mask_written(store, tmp_path):
    from PIL import Image

    from datasets import DatasetError
    from search.predict import predict_folder

    (tmp_path / "in").mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 48), 60 * i, dtype=np.uint8)).save(tmp_path / "in" / f"case{i}.png")
    (tmp_path / "in" / "case9.png").write_bytes(b"not a png")  # predicted last, after the good ones
    with pytest.raises(DatasetError, match="case9.png"):
        predict_folder([unet()], META, tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no partial folder left either


def test_a_bad_model_uri_is_one_line_and_exit_2(store, tmp_path, capsys):
    from search import export, predict

    uri, client, exp, run_id = store
    logged.register(uri, logged.log_unet(client, uri, exp, run_id, unet(), META, {}, {}), "vessels", {})
    other = client.create_logged_model(exp, name="linear", source_run_id=run_id)  # a PyTorch model that is not one of this platform's U-Nets
    with logged.tracking_uri(uri):
        mlflow.pytorch.log_model(torch.nn.Linear(2, 1), name="linear", model_id=other.model_id, run_id=run_id, serialization_format="pickle")
    (tmp_path / "in").mkdir()
    cases = {"models:/vessels/7": "not found", "models:/nobody/1": "not found", "m-123": "give models:/NAME/VERSION",
             other.model_id: "is not a U-Net of this platform"}
    for model, why in cases.items():
        for tool, args in ((predict.main, ["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]),
                           (export.main, ["--format", "onnx", "--out", str(tmp_path / "x.onnx")])):
            capsys.readouterr()
            assert tool([*args, "--model", model, "--tracking-uri", uri]) == 2, model
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("error: ") and why in err, err
    assert export.main(["--model", "models:/vessels/1", "--format", "tflite", "--out", str(tmp_path / "x.tfl"), "--tracking-uri", uri]) == 2
    assert capsys.readouterr().err == "error: --format 'tflite': give one of onnx, torchscript\n"
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.onnx").exists() and not (tmp_path / "x.tfl").exists()


def test_predict_image_averages_the_fold_models_and_the_mirror_images():
    models = [unet(0), unet(1)]
    image = torch.rand(1, 48, 40)
    with torch.no_grad():
        one = [predict_image(m, image, 32) for m in models]
        assert torch.allclose(predict_image(models, image, 32), (one[0] + one[1]) / 2, atol=1e-6)
        mirrored = predict_image(models[0], image.flip(-1), 32).flip(-1)
        flips = predict_image(models[0], image, 32, tta="flip")
        assert not torch.allclose(flips, one[0], atol=1e-4)  # the mirror images do change the prediction
        assert torch.allclose(predict_image(models[0], image.flip(-1), 32, tta="flip").flip(-1), flips, atol=1e-5)  # and flip TTA is mirror-invariant
        assert not torch.allclose(mirrored, one[0], atol=1e-4)
    with pytest.raises(ValueError, match="tta must be one of none, flip"):
        predict_image(models, image, 32, tta="rot")


def table(rows: list[tuple[str, str, float, bool, bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"run_name": n, "run_id": i, "status": "FINISHED", "best_val_dice": d, "chosen": c, "default": df} for n, i, d, c, df in rows])


def test_the_chosen_configurations_fold_models_and_the_default_unet_it_was_compared_with_are_kept():
    final = table([("d2-s10-p32-f0-final", "a0", 0.70, True, False), ("d2-s10-p32-f1-final", "a1", 0.74, True, False),
                   ("d4-s1111-p32-f0-default-final", "d0", 0.69, False, True), ("d4-s1111-p32-f1-default-final", "d1", 0.72, False, True)])
    best = final.loc[1]
    assert list(_chosen_folds(best, final).run_id) == ["a1", "a0"]  # the best fold first: it is the registered one
    assert _default_unet(final, {"a0", "a1"}).run_id == "d1"
    named_default = final.assign(chosen=final["default"])
    assert _default_unet(named_default, {"d0", "d1"}) is None  # the default U-Net won: logged once, as the choice
    # a finalist that is the default configuration stands as the default U-Net (no "-default" run name): it is found too
    finalist_default = final.assign(default=final.run_name.str.startswith("d2"), chosen=final.run_name.str.startswith("d4"))
    assert _default_unet(finalist_default, {"d0", "d1"}).run_id == "a1"
    assert list(_chosen_folds(final.loc[0], None).run_id) == ["a0"] and _default_unet(None, set()) is None  # no final round
