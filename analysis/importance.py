"""Which searched dimension matters: Optuna's fANOVA and PED-ANOVA importances over a search's finished trials.

Skip bits are conditional on depth (a depth-2 U-Net has no s3). Each bit is read as a three-level category,
on / off / absent, so that every trial carries every dimension and the evaluators see all trials at once
(imputing a level for the inactive branch, the usual way to hand conditional spaces to a forest-based fANOVA).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .load import MAX_BITS

# dimensions a search can vary: numeric ones (log scale where searched on one) and categorical ones
NUMERIC = {"depth": False, "patch_size": False, "patch_stride": False, "saliency_percentile": False, "saliency_iterations": False,
           "lr": True, "batch_size": False, "base_channels": False}
CATEGORICAL = ("loss", "upsample", "augment", "block", "padding")
BITS = tuple(f"s{i}" for i in range(1, MAX_BITS + 1))


def dimensions(df: pd.DataFrame) -> pd.DataFrame:
    """The searched dimensions of each trial as the evaluators read them: numbers, categories, and skip bits as on/off/absent.
    Columns that never vary are left out."""
    out = pd.DataFrame(index=df.index)
    for col in NUMERIC:
        if col in df and df[col].nunique(dropna=True) > 1:
            out[col] = df[col].astype(float)
    for col in CATEGORICAL:
        if col in df and df[col].nunique(dropna=True) > 1:
            out[col] = df[col].astype(str)
    for bit in BITS:
        if bit in df and df[bit].notna().any():
            values = df[bit].map(lambda v: "absent" if pd.isna(v) else ("on" if v >= 0.5 else "off"))
            if values.nunique() > 1:
                out[bit] = values
    return out


def param_importance(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """fANOVA and PED-ANOVA importance of every varying dimension for the trials' Dice (each method's importances sum
    to 1), sorted by fANOVA; empty with fewer than 4 trials or no varying dimension."""
    import optuna  # deferred: Optuna (about 0.1 s); python -m analysis.report --help answers without it
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator, get_param_importances

    dims = dimensions(df)
    columns = ["dimension", "fanova", "ped_anova", "levels"]
    keep = df.dice.notna()
    dims, dice = dims[keep], df.dice[keep]
    if len(dims) < 4 or dims.shape[1] == 0:
        return pd.DataFrame(columns=columns)
    dists = {}
    for col in dims:
        if col in NUMERIC:
            dists[col] = FloatDistribution(float(dims[col].min()), float(dims[col].max()), log=NUMERIC[col] and dims[col].min() > 0)
        else:
            dists[col] = CategoricalDistribution(sorted(dims[col].unique()))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials([optuna.trial.create_trial(params={c: (float(v) if c in NUMERIC else v) for c, v in row.items()}, distributions=dists, value=float(d))
                      for (_, row), d in zip(dims.iterrows(), dice)])
    fanova = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    try:
        ped = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    except (ValueError, ZeroDivisionError):  # too few trials in the top quantile
        ped = {}
    rows = [{"dimension": c, "fanova": fanova.get(c, np.nan), "ped_anova": ped.get(c, np.nan), "levels": int(dims[c].nunique())} for c in dims]
    return pd.DataFrame(rows, columns=columns).sort_values("fanova", ascending=False).reset_index(drop=True)
