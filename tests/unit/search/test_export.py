"""Export: a U-Net written as ONNX (and TorchScript) gives PyTorch's output on a real image, for every block type and
upsampling; an unknown format or a file that would differ is refused in one line, with nothing written."""
from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from search.export import ExportError, export, onnx_output, torchscript_output
from tests.helpers.paths import real_data
from unet_core import UNet

TILE = 64


def isbi_tiles() -> np.ndarray:
    """Two 64x64 tiles of a real ISBI 2012 EM slice, grey in [0, 1], as (2, 1, 64, 64)."""
    image = np.asarray(Image.open(real_data("isbi2012") / "train" / "image" / "0.png").convert("L"), dtype=np.float32) / 255
    return np.stack([image[None, 100:100 + TILE, 200:200 + TILE], image[None, 300:300 + TILE, 40:40 + TILE]])


def meta_for(model: UNet, tile: int) -> dict:
    return {"eval_tile": tile, "dataset": "isbi2012", "class_names": ["membrane"], "dataset_options": {}}


@pytest.mark.parametrize("block,upsample,padding", [("plain", "transpose", "same"), ("residual", "transpose", "same"),
                                                    ("attention", "transpose", "same"), ("plain", "unpool", "same"),
                                                    ("attention", "transpose", "valid")])
def test_onnx_runtime_gives_pytorchs_output_on_a_real_image(tmp_path, block, upsample, padding):
    x = isbi_tiles()
    torch.manual_seed(0)
    model = UNet(1, 1, 3, "101", 8, upsample=upsample, block=block, padding=padding, batch_norm=True).eval()
    tile = model.valid_input_size(1, start=TILE) if padding == "valid" else TILE
    if padding == "valid":
        x = np.pad(x, ((0, 0), (0, 0), (0, tile - TILE), (0, tile - TILE)), mode="reflect")
    for m in model.modules():  # trained-looking batch-norm statistics, so a dropped normalisation would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    out = tmp_path / "unet.onnx"
    export(model, meta_for(model, tile), "onnx", out)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = onnx_output(out, x)
    assert got.shape == want.shape == (2, 1, model.output_size(tile), model.output_size(tile))
    assert np.abs(got - want).max() < 1e-4
    meta = onnxruntime.InferenceSession(str(out)).get_modelmeta().custom_metadata_map  # what a user without this project reads
    assert meta["eval_tile"] == str(tile) and meta["block"] == f'"{block}"'


def test_torchscript_gives_pytorchs_output_on_a_real_image(tmp_path):
    x = isbi_tiles()
    model = UNet(1, 1, 2, "11", 8).eval()
    export(model, meta_for(model, TILE), "torchscript", tmp_path / "unet.pt")
    with torch.no_grad():
        assert np.abs(torchscript_output(tmp_path / "unet.pt", x) - model(torch.from_numpy(x)).numpy()).max() < 1e-4


def test_an_unknown_format_or_a_file_that_differs_writes_nothing(tmp_path, monkeypatch):
    model = UNet(1, 1, 2, "11", 4).eval()
    with pytest.raises(ExportError, match="--format 'tflite': give one of onnx, torchscript"):
        export(model, meta_for(model, 32), "tflite", tmp_path / "m.tflite")
    import search.export as ex

    monkeypatch.setitem(ex.WRITERS, "onnx", (ex.to_onnx, lambda path, x: onnx_output(path, x) + 1e-3))  # an exporter that drifts
    with pytest.raises(ExportError, match="differs from PyTorch's by 1.00e-03"):
        export(model, meta_for(model, 32), "onnx", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
