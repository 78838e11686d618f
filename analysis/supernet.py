"""How well a supernet's estimates rank configurations: rank agreement with the stand-alone truth, and the regret of
retraining its top k stand-alone and keeping the best of them."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from .regret import regret
from .reliability import spearman


def kendall(a, b) -> float:
    """Kendall's tau-b of two equally long sequences; NaN when either is constant or shorter than 3."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(sps.kendalltau(a, b).statistic)


def rank_agreement(estimates: pd.Series, truth: pd.Series) -> dict[str, float]:
    """Spearman and Kendall tau between estimated and true scores over the configurations both hold, overall and
    averaged within each depth (configuration names start with "d<depth>-")."""
    common = estimates.index.intersection(truth.index)
    est, tru = estimates[common], truth[common]
    within = []
    for depth in sorted({c.split("-")[0] for c in common}):
        names = [c for c in common if c.split("-")[0] == depth]
        if len(names) >= 3:
            within.append((spearman(est[names], tru[names]), kendall(est[names], tru[names]), len(names)))
    weights = np.array([n for *_, n in within], float)
    return {
        "configs": int(len(common)),
        "spearman": spearman(est, tru),
        "kendall": kendall(est, tru),
        "spearman_within_depth": float(np.average([s for s, _, _ in within], weights=weights)) if within else float("nan"),
        "kendall_within_depth": float(np.average([k for _, k, _ in within], weights=weights)) if within else float("nan"),
    }


def top_k_pick(estimates: pd.Series, standalone: pd.Series, k: int) -> tuple[list[str], str]:
    """The `k` best configurations by estimate and, among them, the one with the best stand-alone score (the winner a
    supernet search returns after retraining its top k)."""
    top = list(estimates.sort_values(ascending=False, kind="stable").index[:k])
    return top, max(top, key=lambda c: standalone[c])


def top_k_regret(estimates: pd.Series, standalone: pd.Series, truth: pd.Series, k: int) -> dict[str, object]:
    """The top-k pick (top_k_pick) and its regret against the truth; k = 1 is the supernet's own pick."""
    top, pick = top_k_pick(estimates, standalone, k)
    return {"top": top, "pick": pick, "regret": regret(truth, pick)}
