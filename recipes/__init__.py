"""recipes: how one U-Net configuration is trained and validated on a dataset (the stand-alone trial and the skip
supernet), in plain PyTorch over `datasets` and `unet_core`: no Ray, no MLflow. The search runs these recipes; the
benches call them directly.

Its names load on first use (PEP 562), so `from recipes.x import y` does not import the whole package."""
from __future__ import annotations

from unet_core.lazy import lazy_exports

_EXPORTS = {  # name -> the module that defines it
    "initialised": ".model",
    "model_kwargs": ".model",
    "TrialParams": ".params",
    "config_run_name": ".params",
    "supernet_run_name": ".params",
    "EPOCH_PATCH_CAP": ".settings",
    "patch_dataset": ".patches",
    "patch_loader": ".patches",
    "train_input_size": ".patches",
    "RecipeSettings": ".settings",
    "Recorder": ".train",
    "train_and_report": ".train",
    "train_config": ".train",
    "trial_precision": ".train",
    "Validator": ".validation",
    "eval_tile_for": ".validation",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
