"""The MLflow schema of a search: the tag, role and metric names its runs carry. The search writes them and `analysis/`
reads them; both import them from here (this module imports nothing of the search)."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("mlflow") / "mlflow.db"  # the local store, relative to the folder a search is started in

# tags every run of a search may carry
PARENT_TAG = "mlflow.parentRunId"  # a trial's search (MLflow nests the run under it)
NOTE_TAG = "mlflow.note.content"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
ROLE_TAG = "unet.role"  # one of ROLES
TRIAL_TAG = "unet.trial_id"  # the Tune trial a run records (a retried trial's attempts share it)
ATTEMPT_TAG = "unet.attempt"
ERROR_TAG = "unet.error"  # why a run FAILED or was KILLED, one line
TRACEBACK_TAG = "unet.traceback"
STOPPED_EARLY_TAG = "unet.stopped_early"  # "true" where ASHA stopped the trial
EPOCHS_RUN_TAG = "unet.epochs_run"
BEST_EPOCH_TAG = "unet.best_epoch"
DEVICE_TAG = "unet.device"
NODE_ID_TAG = "unet.node_id"
NODE_IP_TAG = "unet.node_ip"
PRECISION_NOTE_TAG = "unet.precision_note"
DELAYED_TAG = "unet.tracking_delayed"  # on a trial run: how many of its writes reached the store late (after an outage)
REFUSED_TAG = "unet.tracking_refused"  # on a trial run: kept writes the store refused when they were sent late

# tags of a search's parent run
BEST_RUN_ID_TAG = "unet.best_run_id"
BEST_RUN_NAME_TAG = "unet.best_run_name"
TEST_TTA_TAG = "unet.test_tta"  # the test-time augmentation a search's test_* metrics averaged (search.predict's default)
SEARCH_RANKING_TAG = "unet.search_ranking"  # the re-ranked candidates, by their search score
FINAL_RANKING_TAG = "unet.final_ranking"  # the same candidates at the final budget
ESTIMATE_RANKING_TAG = "unet.supernet_ranking"  # a supernet search's candidates, by their estimate
# the final round's default-unless-better choice (search.noise.choice): the winner, whether it is the default U-Net,
# the best finalist's paired margin over the default with its 95% interval and pairs, and the reason in words
FINAL_CHOICE_TAG = "unet.final_choice"
FINAL_CHOICE_DEFAULT_TAG = "unet.final_choice_default"
FINAL_MARGIN_TAG = "unet.final_margin"
FINAL_MARGIN_CI_TAG = "unet.final_margin_ci95"
FINAL_MARGIN_PAIRS_TAG = "unet.final_margin_pairs"
FINAL_CHOICE_REASON_TAG = "unet.final_choice_reason"
RACE_TAG = "unet.race"  # on the parent run: the race's decisions, in order (search.noise.intensify)
VAL_IMAGES_TAG = "unet.val_images"  # on a trial run: the names of the images it validated on
# on a trial run: each validation image's foreground Dice (image name: Dice) under the weights its checkpoint keeps (the
# whole split's after a final training's close), the pairs a one-fold final round weighs the default U-Net against a finalist on
VAL_IMAGE_DICE = "validation/image_dice.json"

# the search's take-home models (search.tracking.models): on the parent run, the registered model's URI and its LoggedModel
REGISTERED_MODEL_TAG = "unet.registered_model"  # models:/NAME/VERSION
MODEL_ID_TAG = "unet.model_id"
# on a LoggedModel (and the registered version): which model it is, the run it came from, and the configuration's fold models
MODEL_ROLE_TAG = "unet.model_role"  # one of MODEL_ROLES
MODEL_ROLES = ("chosen", "chosen_fold", "default")  # the search's choice, another fold of it, the final round's default U-Net
FOLD_MODELS_TAG = "unet.fold_models"  # comma-separated LoggedModel ids: the chosen configuration trained on each final fold

# tags and metrics of a supernet search's estimate runs
ESTIMATE_TAG = "unet.estimate"
SUPERNET_RUN_TAG = "unet.supernet_run_id"
ESTIMATE_PREFIX = "estimate_dice_s"  # the supernet run's metric per pattern: estimate_dice_s1001

# the runs' roles (ROLE_TAG)
SEARCH = "search"  # a search's parent run
TRIAL = "trial"  # one configuration trained by the search
FINAL = "final"  # a candidate re-trained at the final budget (the default U-Net among them)
SUPERNET = "supernet"  # one weight-sharing supernet training of a supernet search
ESTIMATE = "estimate"  # one pattern's score from a supernet: not a trained configuration
ROLES = (SEARCH, TRIAL, FINAL, SUPERNET, ESTIMATE)

# the spaces (the parent run's "space" param) whose trials sample the training recipe (width, patch, lr, loss) instead of
# taking the search's fixed flags, and those that also sample the batch size
RECIPE_SAMPLING_SPACES = ("quick", "full")
BATCH_SAMPLING_SPACES = ("full",)


def default_tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI, else a SQLite store at ./mlflow/mlflow.db."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path.cwd() / DEFAULT_DB).resolve()}"
