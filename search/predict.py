"""`python -m search.predict (--model URI | --run-id ID) --input DIR --output DIR`: masks for new images with a trained U-Net.

--model takes a registered model (models:/NAME/VERSION or models:/NAME@ALIAS, as a search prints it) or a LoggedModel
id (m-...); --run-id takes a trial run, whose best checkpoint is used (runs from before models were logged too).
Every image in DIR is predicted at full size with overlap-tile inference and written to DIR_OUT as a PNG of the same
name (binary: 0/255, else class indices). By default the prediction averages the chosen configuration's final-round
fold models where it has them (found through the logged model's fold tag, or the trial's search; --no-ensemble: one
model) and the four mirror images of each image (--tta none: the image alone), as nnU-Net predicts.
Where training used a valid mask (DRIVE's field of view), predictions outside that region are not meaningful: apply
the image's own field-of-view mask before using them.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datasets import DatasetError, preprocess
from datasets.io import image_files, read_image, require_dir
from search.tracking import client as tracking
from search.tracking import models as logged
from search.tracking import schema
from unet_core import TTA_DEFAULT, TTA_MODES, load_model, predict_image
from unet_core.rescale import checkpoint_side

# bench/predict_tta.py (2026-12-06), per-image Dice paired on the same two fold models: the two-fold ensemble +0.0113
# [+0.0098, +0.0129] on DRIVE and +0.0263 [+0.0085, +0.0441] on Kvasir-SEG over one fold model; flip TTA (TTA_DEFAULT)
# helps beyond the noise on both too. Both are on by default.
ENSEMBLE_DEFAULT = True  # where the model has fold models; a model without them predicts alone


def load_trial_model(client, run_id: str):
    """(model, checkpoint meta) of a trial run's best checkpoint."""
    with tracking.temp_dir() as tmp:
        try:
            path = client.download_artifacts(run_id, "checkpoints/best.pt", tmp)
        except Exception as exc:  # noqa: BLE001 - unknown run or missing artifact
            raise tracking.TrackingError(f"run {run_id} has no checkpoints/best.pt: {str(exc).splitlines()[0][:200]}") from None
        try:
            model, meta = load_model(path)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign checkpoint
            raise tracking.TrackingError(f"run {run_id}'s checkpoints/best.pt is no U-Net checkpoint: {logged.first_line(exc)}") from None
    return model.eval(), meta


def fold_runs(client, run_id: str) -> list[str]:
    """The final-round runs of the same configuration as `run_id` on every fold (under the same search, the newest finished
    attempt of each), `run_id` first."""
    try:
        run = client.get_run(run_id)
        parent = run.data.tags.get(schema.PARENT_TAG)
        if not parent or run.data.tags.get(schema.ROLE_TAG) != schema.FINAL:
            return [run_id]
        runs = tracking.child_runs(client, run.info.experiment_id, parent)
    except Exception as exc:  # noqa: BLE001 - the store refuses: one line
        raise tracking.TrackingError(f"could not read run {run_id}'s search: {logged.first_line(exc)}") from None
    key = re.sub(r"-f\d+(?=-|$)", "", run.info.run_name)
    newest: dict[str, object] = {}  # run name -> its newest finished attempt (a resumed search may have trained a fold twice)
    for r in sorted(runs, key=lambda r: r.info.start_time or 0):
        if (r.data.tags.get(schema.ROLE_TAG) == schema.FINAL and r.info.status == "FINISHED" and r.info.run_name != run.info.run_name
                and re.sub(r"-f\d+(?=-|$)", "", r.info.run_name) == key):
            newest[r.info.run_name] = r.info.run_id
    return [run_id, *newest.values()]


def load_models(client, uri: str, model: str | None, run_id: str | None, ensemble: bool) -> tuple[list, dict]:
    """The models to average (one, or the fold models with `ensemble`) and the chosen model's checkpoint metadata."""
    if model is not None:
        first, meta, info = logged.load_unet(uri, model)
        ids = [m for m in logged.fold_model_ids(client, info.model_id) if m != info.model_id] if ensemble else []
        return [first, *(logged.load_unet(uri, m)[0] for m in ids)], meta
    first, meta = load_trial_model(client, run_id)
    others = fold_runs(client, run_id)[1:] if ensemble else []
    return [first, *(load_trial_model(client, r)[0] for r in others)], meta


def decode(path: Path, meta: dict) -> np.ndarray:
    """One image as the model was trained to see it: (C, H, W) float32, the training's preprocessing applied."""
    channels = meta["model"]["in_channels"]
    opts = meta.get("dataset_options", {})
    image = preprocess.apply(read_image(path, "L" if channels == 1 and not opts.get("green") else "RGB"),
                             opts.get("green", False), opts.get("clahe", False), opts.get("gamma"))
    if image.shape[0] != channels:
        raise DatasetError(f"{path}: {image.shape[0]} channel(s) but the model takes {channels}")
    return image


def predict_folder(models, meta: dict, input_dir: Path, output_dir: Path, overlap: float = 0.5, tta: str = "none",
                   progress=None) -> list[Path]:
    """Predict every image of `input_dir` with `models` (one model or a list to average); returns the written mask files.
    One image is in memory at a time; the masks go to a hidden folder beside `output_dir` and move into it once every
    image is done, so a bad input leaves nothing written. `progress(line)` hears how far a long folder is."""
    paths = image_files(require_dir(input_dir, "the images to segment"))
    if not paths:
        raise DatasetError(f"{input_dir}: no images found")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.partial-", dir=output_dir.parent))
    try:
        start, every = time.monotonic(), max(1, len(paths) // 10)
        for i, path in enumerate(paths, 1):
            with torch.no_grad():
                probs = predict_image(models, torch.from_numpy(decode(path, meta)), meta["eval_tile"], overlap, tta=tta,
                                      side=checkpoint_side(meta)).numpy()
            mask = (probs[0] >= 0.5).astype(np.uint8) * 255 if probs.shape[0] == 1 else probs.argmax(0).astype(np.uint8)
            Image.fromarray(mask).save(partial / f"{path.stem}.png")
            if progress is not None and len(paths) >= 10 and (i % every == 0 or i == len(paths)):
                progress(f"predicted {i}/{len(paths)} images ({time.monotonic() - start:.0f} s)")
        output_dir.mkdir(exist_ok=True)
        written = [output_dir / f"{path.stem}.png" for path in paths]
        for out in written:
            os.replace(partial / out.name, out)
        return written
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m search.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="models:/NAME/VERSION, models:/NAME@ALIAS or a LoggedModel id (m-...): the search prints its model's URI")
    which.add_argument("--run-id", help="an MLflow trial run (the search's summary names the best)")
    p.add_argument("--input", required=True, type=Path, help="folder of images")
    p.add_argument("--output", required=True, type=Path, help="folder for the masks")
    p.add_argument("--tta", default=TTA_DEFAULT, help="none | flip | dihedral: flip averages the predictions of the four mirror images (as is, "
                   "left-right, up-down, both: 4x the compute; +0.010 Dice on DRIVE, +0.029 on Kvasir-SEG in bench/predict_tta.py), dihedral "
                   f"the eight flips and quarter turns (not measured by that bench) (default {TTA_DEFAULT})")
    p.add_argument("--ensemble", action=argparse.BooleanOptionalAction, default=None,
                   help="average the chosen configuration's final-round fold models (a search with --final-folds 2 or more trains them; "
                        "+0.011 Dice on DRIVE, +0.026 on Kvasir-SEG over one fold model) (default: on where the model has fold models)")
    p.add_argument("--tracking-uri", default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and write the masks; bad input is one line on stderr and exit code 2."""
    a = parse_args(argv)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - progress goes to stderr, the result to stdout
    try:
        if a.tta not in TTA_MODES:
            raise DatasetError(f"--tta {a.tta!r}: give one of {', '.join(TTA_MODES)}")
        uri = a.tracking_uri or tracking.default_tracking_uri()
        client = tracking.check_tracking(uri, create=False)
        models, meta = load_models(client, uri, a.model, a.run_id, ENSEMBLE_DEFAULT if a.ensemble is None else a.ensemble)
        if a.ensemble and len(models) == 1:  # asked for by name
            say("ensemble: this model has no fold models (its search trained no final round on folds); predicting with it alone")
        written = predict_folder(models, meta, a.input, a.output, tta=a.tta, progress=say)
    except (DatasetError, tracking.TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --output is a file, or cannot be written
        print(f"error: --output {a.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} mask(s) to {a.output}" + (f" ({len(models)} fold models averaged)" if len(models) > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
