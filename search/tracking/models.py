"""A search's take-home models as MLflow 3 models: a trained U-Net logged as a LoggedModel (linked to its run and its
metrics, listed on the experiment's Models page), registered under a name, and loaded back from a model URI.

The logged model is the trained `unet_core.UNet` in MLflow's pytorch flavour. It carries its own code (`unet_core`,
plain PyTorch), so `mlflow.pytorch.load_model(URI)` works where this project is not installed; the checkpoint's
metadata (model arguments, evaluation tile, dataset options, class names, metrics) travels as the model's
`metadata["unet"]`, which is also how a model URI is recognised as one of this platform's U-Nets.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import mlflow
import numpy as np
import torch
from mlflow import MlflowClient
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow.types import Schema, TensorSpec

import unet_core
from search.errors import TrackingError
from search.tracking import schema
from search.tracking.client import log_metrics

LOGGED_NAME = "unet"  # a LoggedModel's name where none is given (a search names each after its run; its role tag says which it is)
META_KEY = "unet"  # MLmodel metadata key of the checkpoint's metadata
MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


def model_uri(text: str) -> str:
    """A model URI from what a user typed: models:/NAME/VERSION, models:/NAME@ALIAS, runs:/..., or a LoggedModel id (m-...)."""
    if MODEL_ID.fullmatch(text):
        return f"models:/{text}"
    if re.match(r"^(models|runs):/\S+", text):
        return text
    raise TrackingError(f"--model {text!r}: give models:/NAME/VERSION, models:/NAME@ALIAS or a LoggedModel id (m-...)")


@contextmanager
def tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (log_model, load_model, register_model) pointed at `uri` inside the block; afterwards the
    process's tracking URI and $MLFLOW_TRACKING_URI are exactly as they were (set or not)."""
    before = tracking_utils._tracking_uri  # the fluent API's own global, restored as MLflow's _use_tracking_uri does
    env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env


def input_example(model: unet_core.UNet) -> np.ndarray:
    """The smallest image the network takes: one (1, C, S, S) float32 example in [0, 1]."""
    side = model.valid_input_size(1) if model.padding == "valid" else 2**model.depth
    return np.random.default_rng(0).random((1, model.in_channels, side, side), dtype=np.float32)


def signature(model: unet_core.UNet, example: np.ndarray) -> ModelSignature:
    """The signature inferred from an input example and the logits it gives, with height and width left free: (B, C, H, W)
    float32 images in [0, 1] give (B, K, H', W') logits (the tile the model was evaluated with is metadata["unet"]["eval_tile"])."""
    with torch.no_grad():
        logits = model(torch.from_numpy(example)).numpy()
    inferred = infer_signature(example, logits)
    free = lambda spec: TensorSpec(spec.type, (-1, spec.shape[1], -1, -1))  # noqa: E731 - any batch, any fitting size
    return ModelSignature(inputs=Schema([free(s) for s in inferred.inputs.inputs]), outputs=Schema([free(s) for s in inferred.outputs.inputs]))


def requirements() -> list[str]:
    """What a loaded model needs: this torch and numpy (the U-Net's code travels with the model)."""
    return [f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"]


def log_unet(client: MlflowClient, uri: str, experiment_id: str, run_id: str, model: unet_core.UNet, meta: dict[str, Any],
             metrics: dict[str, float], tags: dict[str, str], name: str = LOGGED_NAME, step: int = 0) -> str:
    """Log a trained U-Net as a LoggedModel `name` (the Models page lists it so; a search names it after its run) of
    `run_id` (its output at `step`), with `metrics` linked to it at that step; its model id."""
    params = {k: str(v) for k, v in meta.get("params", {}).items() if k in ("depth", "skips", "patch_size", "loss", "block", "padding", "upsample",
                                                                          "base_channels", "fold")}
    example = input_example(model.eval())
    sig = signature(model, example)  # before the LoggedModel exists: a failure here leaves no PENDING model on its page
    logged = client.create_logged_model(experiment_id, name=name, source_run_id=run_id, tags=tags, params=params, model_type="U-Net")
    with tracking_uri(uri), contextlib.redirect_stderr(io.StringIO()):  # MLflow prints its progress to stderr
        mlflow.pytorch.log_model(model, name=name, model_id=logged.model_id, run_id=run_id, signature=sig,
                                 input_example=example, pip_requirements=requirements(), serialization_format="pickle", step=step,
                                 code_paths=[str(Path(unet_core.__file__).parent)], metadata={META_KEY: plain(meta)})
    log_metrics(client, run_id, metrics, step, model_id=logged.model_id)  # on the run, and on the model's page
    return logged.model_id


def plain(value: Any) -> Any:
    """`value` with tuples as lists and numpy scalars as Python numbers (MLmodel is YAML)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def register(uri: str, model_id: str, name: str, tags: dict[str, str], description: str = "") -> int:
    """Register the LoggedModel under `name` as a new version (the name is created if new) with `tags` and `description`;
    the version number."""
    with tracking_uri(uri), contextlib.redirect_stderr(io.StringIO()):  # "Successfully registered model ...": the search says it
        try:
            version = mlflow.register_model(f"models:/{model_id}", name, tags=tags)
            if description:
                MlflowClient(uri).update_model_version(name, version.version, description=description)
        except Exception as exc:  # noqa: BLE001 - a bad name, a registry that refuses: one line
            raise TrackingError(f"could not register the model as {name!r}: {first_line(exc)}") from None
    return int(version.version)


def first_line(exc: BaseException) -> str:
    """An exception's first line, shortened."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def model_info(uri: str, text: str):
    """The MLflow model info of a model URI (or LoggedModel id) that holds one of this platform's U-Nets (TrackingError otherwise)."""
    target = model_uri(text)
    with tracking_uri(uri):
        try:
            info = mlflow.models.get_model_info(target)
        except Exception as exc:  # noqa: BLE001 - unknown name, version, alias or id
            raise TrackingError(f"no model at {target}: {first_line(exc)}") from None
    if "pytorch" not in info.flavors or META_KEY not in (info.metadata or {}):
        raise TrackingError(f"{target} is not a U-Net of this platform (no pytorch flavour with unet metadata)")
    return info


def load_unet(uri: str, text: str) -> tuple[torch.nn.Module, dict[str, Any], Any]:
    """(model in eval mode, checkpoint metadata, model info) of a model URI or LoggedModel id."""
    info = model_info(uri, text)
    with tracking_uri(uri):
        try:
            model = mlflow.pytorch.load_model(model_uri(text), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - missing artifacts, a model that does not unpickle
            raise TrackingError(f"could not load {model_uri(text)}: {first_line(exc)}") from None
    if not isinstance(model, unet_core.UNet):  # e.g. a torch.export program, or another network under the same metadata
        raise TrackingError(f"{model_uri(text)} holds a {type(model).__name__}, not a U-Net of this platform")
    return model.eval(), dict(info.metadata[META_KEY]), info


def fold_model_ids(client: MlflowClient, model_id: str | None) -> list[str]:
    """The LoggedModel ids of the same configuration's final-round fold models (the model itself among them), or []."""
    if not model_id:
        return []
    try:
        tags = client.get_logged_model(model_id).tags
    except Exception as exc:  # noqa: BLE001 - the store refuses: one line
        raise TrackingError(f"could not read model {model_id}: {first_line(exc)}") from None
    return [m for m in tags.get(schema.FOLD_MODELS_TAG, "").split(",") if m]
