"""recipes: how one U-Net configuration is trained and validated on a dataset (the stand-alone trial and the skip
supernet), in plain PyTorch over `datasets` and `unet_core`: no Ray, no MLflow. The search runs these recipes; the
benches call them directly."""
from .model import initialised, model_kwargs
from .params import TrialParams, config_run_name, supernet_run_name
from .patches import EPOCH_PATCH_CAP, patch_dataset, patch_loader, train_input_size
from .settings import RecipeSettings
from .train import Recorder, train_and_report, train_config, trial_precision
from .validation import Validator, eval_tile_for

__all__ = [
    "initialised", "model_kwargs", "TrialParams", "config_run_name", "supernet_run_name", "EPOCH_PATCH_CAP", "patch_dataset",
    "patch_loader", "train_input_size", "RecipeSettings", "Recorder", "train_and_report", "train_config", "trial_precision",
    "Validator", "eval_tile_for",
]
