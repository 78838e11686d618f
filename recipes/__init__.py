"""recipes: how one U-Net configuration is trained and validated on a dataset (the stand-alone trial and the skip
supernet), in plain PyTorch over `datasets` and `unet_core`: no Ray, no MLflow. The search runs these recipes; the
benches call them directly.

Its names load on first use (PEP 562), so `from recipes.x import y` does not import the whole package."""
from __future__ import annotations

from importlib import import_module

_EXPORTS = {  # name -> the module that defines it
    "initialised": ".model",
    "model_kwargs": ".model",
    "TrialParams": ".params",
    "config_run_name": ".params",
    "supernet_run_name": ".params",
    "EPOCH_PATCH_CAP": ".patches",
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


def __getattr__(name: str):
    """A package-level name, imported from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
