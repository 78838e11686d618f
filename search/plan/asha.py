"""What Ray's ASHA scheduler trains: the expected epochs of a search's trials, by its rule on random scores."""
from __future__ import annotations

import functools

import numpy as np

MAX_TRIALS = 48  # the most trials a plan counts (a user's --num-samples beyond it: counted as this many)


@functools.lru_cache(maxsize=None)
def _asha_reach(rf: int, rungs: int, runs: int = 1000) -> tuple[tuple[float, ...], ...]:
    """Expected trials among the first n (n = 0..MAX_TRIALS) that train each span: row n holds `rungs` + 1 figures, the
    first span's (every trial) and those past each of `rungs` rungs, by Ray's ASHA rule on
    random scores: a trial goes on past a rung unless its score is below the 1 - 1/rf quantile of the trials recorded
    there before it (none recorded: it goes on). Trials arrive in turn; a search's first n trials are a search of n."""
    rng = np.random.default_rng(0)
    scores = rng.random((runs, MAX_TRIALS))
    alive = np.ones((runs, MAX_TRIALS), bool)
    reach = [np.zeros(MAX_TRIALS + 1)]
    reach[0][1:] = np.arange(1, MAX_TRIALS + 1)  # every trial reaches the first rung
    for _ in range(rungs):
        passed = np.zeros_like(alive)
        for i in range(MAX_TRIALS):
            earlier = np.sort(np.where(alive[:, :i], scores[:, :i], np.inf), axis=1)  # the recorded first
            count = alive[:, :i].sum(axis=1)
            pos = (1 - 1 / rf) * np.maximum(count - 1, 0)  # numpy's linear quantile of the recorded scores
            lo = np.floor(pos).astype(int)
            hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
            rows = np.arange(runs)
            if i:
                cutoff = earlier[rows, lo] + (earlier[rows, hi] - earlier[rows, lo]) * (pos - lo)
                cutoff[count == 0] = -np.inf  # none recorded before it: it goes on
            else:
                cutoff = np.full(runs, -np.inf)
            passed[:, i] = alive[:, i] & (scores[:, i] >= cutoff)
        alive = passed
        reach.append(np.concatenate([[0.0], np.cumsum(alive.mean(axis=0))]))
    return tuple(tuple(r) for r in np.stack(reach, axis=1))


def asha_epochs(max_t: int, grace: int, rf: int, trials: int | None = None) -> float:
    """Expected epochs one of `trials` trials trains under ASHA: all to the first rung, and at each rung those Ray's rule
    lets on (_asha_reach: the first to arrive has no peer and goes on, so a few trials train more than 1/rf of them
    would: 8 trials of at most 29 epochs train 17.8 each, not 14.1). `trials` None: the limit of many, 1/rf a rung."""
    rungs, r = [], grace
    while r < max_t:
        rungs.append(r)
        r *= rf
    rungs.append(max_t)
    spans = [b - a for a, b in zip([0, *rungs[:-1]], rungs)]
    if trials is None:
        return sum(span / rf**i for i, span in enumerate(spans))
    n = min(trials, MAX_TRIALS)  # beyond (a user's --num-samples): counted as MAX_TRIALS, a little over the many-trials limit
    reach = _asha_reach(rf, len(spans) - 1)[n]
    return float(sum(span * reach[i] for i, span in enumerate(spans)) / n)
