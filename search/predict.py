"""`python -m search.predict --run-id ID --input DIR --output DIR`: masks for new images with a trained trial.

The trial's best checkpoint is fetched from MLflow; every image in DIR is predicted at full size with
overlap-tile inference and written to DIR_OUT as a PNG of the same name (binary: 0/255, else class indices).
Where training used a valid mask (DRIVE's field of view), predictions outside that region are not
meaningful: apply the image's own field-of-view mask before using them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from datasets import DatasetError, preprocess
from datasets.io import image_files, read_image, require_dir

from search.tracking import client as tracking


def load_trial_model(client, run_id: str):
    """(model, checkpoint meta) of a trial run's best checkpoint."""
    from unet_core import load_model

    with tracking.temp_dir() as tmp:
        try:
            path = client.download_artifacts(run_id, "checkpoints/best.pt", tmp)
        except Exception as exc:  # noqa: BLE001 - unknown run or missing artifact
            raise tracking.TrackingError(f"run {run_id} has no checkpoints/best.pt: {str(exc).splitlines()[0][:200]}") from None
        model, meta = load_model(path)
    return model.eval(), meta


def predict_folder(model, meta: dict, input_dir: Path, output_dir: Path, overlap: float = 0.5) -> list[Path]:
    """Predict every image of `input_dir`; returns the written mask files (none are written if any input is bad)."""
    import torch

    from unet_core import sliding_window_predict

    paths = image_files(require_dir(input_dir, "the images to segment"))
    if not paths:
        raise DatasetError(f"{input_dir}: no images found")
    channels = meta["model"]["in_channels"]
    opts = meta.get("dataset_options", {})
    images = []
    for path in paths:  # decode everything first, so a bad file leaves no half-written output
        image = preprocess.apply(read_image(path, "L" if channels == 1 and not opts.get("green") else "RGB"),
                                 opts.get("green", False), opts.get("clahe", False), opts.get("gamma"))
        if image.shape[0] != channels:
            raise DatasetError(f"{path}: {image.shape[0]} channel(s) but the model takes {channels}")
        images.append(image)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, image in zip(paths, images):
        with torch.no_grad():
            probs = sliding_window_predict(model, torch.from_numpy(image), meta["eval_tile"], overlap).numpy()
        mask = (probs[0] >= 0.5).astype(np.uint8) * 255 if probs.shape[0] == 1 else probs.argmax(0).astype(np.uint8)
        out = output_dir / f"{path.stem}.png"
        Image.fromarray(mask).save(out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and write the masks; bad input is one line on stderr and exit code 2."""
    p = argparse.ArgumentParser(prog="python -m search.predict", description=__doc__)
    p.add_argument("--run-id", required=True, help="an MLflow trial run (the search's summary names the best)")
    p.add_argument("--input", required=True, type=Path, help="folder of images")
    p.add_argument("--output", required=True, type=Path, help="folder for the masks")
    p.add_argument("--tracking-uri", default=None)
    a = p.parse_args(argv)
    try:
        client = tracking.check_tracking(a.tracking_uri or tracking.default_tracking_uri())
        model, meta = load_trial_model(client, a.run_id)
        written = predict_folder(model, meta, a.input, a.output)
    except (DatasetError, tracking.TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} mask(s) to {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
