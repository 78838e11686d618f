"""`python -m search.export (--model URI | --run-id ID) --format onnx|torchscript --out FILE`: a trained U-Net as a file
that runs without this project (ONNX Runtime, or PyTorch's TorchScript loader).

The file takes (B, C, T, T) float32 images in [0, 1] (any batch; T is the tile the model was evaluated with, printed
and stored in the ONNX file's metadata as eval_tile) and gives (B, K, T', T') logits: a sigmoid (one class) or a
softmax over K gives probabilities, and larger images are cut into overlapping tiles as `search.predict` does. Before
the file is kept, its output on a real-sized input is checked against PyTorch's (within 1e-4). A model trained at a
working resolution (metadata image_side > 0) takes images resized so their longer side is image_side px, and its
probabilities are upsampled back to the image's size, as `search.predict` does.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from search.predict import load_trial_model
from search.tracking import client as tracking
from search.tracking import models as logged
from unet_core.rescale import checkpoint_side

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The model cannot be written in the asked format; the message is one line."""


def example_input(model, tile: int, batch: int = 2):
    """A (batch, C, tile, tile) random image batch the model takes."""
    return torch.rand(batch, model.in_channels, tile, tile, generator=torch.Generator().manual_seed(0))


def to_onnx(model, tile: int, out: Path, meta: dict) -> None:
    """Write `model` as ONNX with a free batch dimension and `meta` (JSON values) as the file's metadata."""
    import onnx  # deferred: ONNX loads only for --format onnx

    x = example_input(model, tile)
    for name in ("torch.onnx", "torch.export", "torch._export"):  # the exporter's notes (torchvision absent, shapes specialised)
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(out), input_names=["image"], output_names=["logits"], dynamo=True, verbose=False, external_data=False,
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    proto = onnx.load(str(out))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(out))


def onnx_output(path: Path, x: np.ndarray) -> np.ndarray:
    """The ONNX file's logits for `x` under ONNX Runtime (CPU)."""
    import onnxruntime  # deferred: ONNX Runtime loads only for --format onnx

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def to_torchscript(model, tile: int, out: Path, meta: dict) -> None:
    """Write `model` traced at the tile size as TorchScript, with `meta` as the extra file meta.json."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example_input(model, tile))
        torch.jit.save(traced, str(out), _extra_files={"meta.json": json.dumps(meta)})


def torchscript_output(path: Path, x: np.ndarray) -> np.ndarray:
    """The TorchScript file's logits for `x`."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path)).eval()(torch.from_numpy(x)).numpy()


WRITERS = {"onnx": (to_onnx, onnx_output), "torchscript": (to_torchscript, torchscript_output)}


def export(model, meta: dict, fmt: str, out: Path) -> float:
    """Write `model` to `out` in `fmt` after checking the file's output against PyTorch's; the largest difference.
    ExportError (and nothing written) where the format cannot hold the model or its output differs."""
    if fmt not in WRITERS:
        raise ExportError(f"--format {fmt!r}: give one of {', '.join(FORMATS)}")
    write, run = WRITERS[fmt]
    tile = int(meta["eval_tile"])
    info = {"eval_tile": tile, "in_channels": model.in_channels, "num_classes": model.num_classes, "depth": model.depth, "skips": model.skips,
            "block": model.block, "padding": model.padding, "upsample": model.upsample, "output_tile": model.output_size(tile),
            "dataset": meta.get("dataset"), "class_names": meta.get("class_names"), "dataset_options": meta.get("dataset_options", {}),
            "image_side": checkpoint_side(meta)}  # > 0: resize inputs so their longer side is this many px, upsample the output
    model = model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        try:
            write(model, tile, Path(tmp), info)
        except Exception as exc:  # noqa: BLE001 - the exporter's reason, in one line
            raise ExportError(f"{model.extra_repr()} cannot be exported to {fmt}: {logged.first_line(exc)}") from None
        x = example_input(model, tile, batch=3).numpy()
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        try:
            got = run(Path(tmp), x)
        except Exception as exc:  # noqa: BLE001 - the runtime refuses the file it was given
            raise ExportError(f"the {fmt} file of {model.extra_repr()} does not run: {logged.first_line(exc)}") from None
        diff = float(np.abs(got - want).max())
        if not diff <= TOLERANCE:
            raise ExportError(f"the {fmt} file's output differs from PyTorch's by {diff:.2e} (more than {TOLERANCE:g}): not written")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # a file like any other the user writes (mkstemp makes it private)
        os.replace(tmp, out)
        return diff
    finally:
        Path(tmp).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and write the file; bad input is one line on stderr and exit code 2."""
    p = argparse.ArgumentParser(prog="python -m search.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="models:/NAME/VERSION, models:/NAME@ALIAS or a LoggedModel id (m-...)")
    which.add_argument("--run-id", help="an MLflow trial run (its best checkpoint)")
    p.add_argument("--format", required=True, help=f"{' | '.join(FORMATS)}")
    p.add_argument("--out", required=True, type=Path, help="the file to write")
    p.add_argument("--tracking-uri", default=None)
    a = p.parse_args(argv)
    try:
        if a.format not in FORMATS:
            raise ExportError(f"--format {a.format!r}: give one of {', '.join(FORMATS)}")
        uri = a.tracking_uri or tracking.default_tracking_uri()
        client = tracking.check_tracking(uri, create=False)
        if a.model is not None:
            model, meta, _ = logged.load_unet(uri, a.model)
        else:
            model, meta = load_trial_model(client, a.run_id)
        diff = export(model, meta, a.format, a.out)
    except (ExportError, tracking.TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --out in a folder that cannot be written, or a folder itself
        print(f"error: --out {a.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {a.out} ({a.format}, input (B, {model.in_channels}, {meta['eval_tile']}, {meta['eval_tile']}), output logits; "
          f"largest difference from PyTorch {diff:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
