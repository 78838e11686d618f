"""Search regret on recorded curves: how much worse, in true Dice, the configuration a search returns is than the true
best, as a function of the compute spent (anytime curves), summarised over searcher seeds."""
from __future__ import annotations

from typing import Iterable, Protocol

import numpy as np
import pandas as pd


class Incumbent(Protocol):
    """Anything that says which configuration a search returns at a given compute (bench.replay.Trace)."""

    def incumbent(self, budget_s: float) -> str | None: ...


def regret(truth: pd.Series, pick: str | None) -> float:
    """The true best Dice minus the true Dice of `pick`; a search that has returned nothing yet scores the worst regret."""
    if pick is None:
        return float(truth.max() - truth.min())
    return float(truth.max() - truth[pick])


def anytime_regret(trace: Incumbent, truth: pd.Series, grid_s: float, fractions: Iterable[float]) -> list[float]:
    """Regret of the search's pick once it has spent each fraction of the grid's compute (`grid_s`)."""
    return [regret(truth, trace.incumbent(f * grid_s)) for f in fractions]


def summarise(regrets: pd.DataFrame) -> pd.DataFrame:
    """Per method and compute fraction (rows of `regrets`: method, seed, fraction, regret): seeds, median, 90th
    percentile and mean regret, and the share of seeds that returned the true best (regret 0)."""
    g = regrets.groupby(["method", "fraction"]).regret
    return pd.DataFrame({
        "seeds": g.size(), "median": g.median(), "p90": g.quantile(0.9), "mean": g.mean(),
        "found_best": g.apply(lambda r: float(np.mean(np.isclose(r, 0.0)))),
    }).reset_index()


def grid_seconds(curves: dict[str, list[dict[str, np.ndarray]]], max_epochs: int | None = None) -> float:
    """The exhaustive grid's compute: every configuration trained once for the whole budget (its replicates' mean seconds)."""
    return float(sum(np.mean([rep["seconds"][:max_epochs].sum() for rep in reps]) for reps in curves.values()))
