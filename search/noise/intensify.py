"""Racing on folds: SMAC-style intensification (Hutter et al. 2011; SMAC3's Intensifier) on top of any Tune searcher.

Every evaluation trains a configuration on one fold of one k-fold partition of the training images (shared by every
trial: evaluations on the same fold are paired). The incumbent is the configuration the search would return. A new
configuration is first scored on one of the incumbent's folds; if it topped its ASHA rungs (trained the full budget) and
beats the incumbent there, it is scored on the incumbent's other folds one at a time, and it replaces the incumbent
only if it still has the higher mean on all of them. After each challenge the incumbent gains a fold, up to
`race_folds`. A configuration ASHA stopped is not a challenger: one lucky split can no longer crown it.

Why on top of Tune rather than ASHA's rungs as folds: ASHA's budget is epochs of one training; a fold is a new training,
so "more folds" cannot be a rung of the same trial. A wrapper searcher keeps ASHA pruning bad configurations after a
few epochs (where it saves most) and spends extra folds only on those that could change the answer.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable

import numpy as np
from ray.tune.search import Searcher

from .wrap import SearcherWrapper

RACE_KEYS = ("fold", "folds", "split_seed", "val_seed", "replay_index")  # where a configuration is evaluated, not what it is


def configuration_key(config: dict[str, Any]) -> str:
    """What identifies a configuration across its evaluations: its trial parameters without fold, split or seed of the split."""
    from recipes.params import TrialParams  # deferred: recipes imports torch

    try:
        values = TrialParams.from_config(config).to_dict()
    except (TypeError, ValueError):
        values = dict(config)
    return json.dumps({k: v for k, v in sorted(values.items()) if k not in RACE_KEYS}, sort_keys=True, default=str)


def raced_order(scores: dict[str, dict[int, float]]) -> list[str]:
    """Configurations best first as a race leaves them: more folds first (the incumbent and those raced against it), then
    the higher mean."""
    return sorted(scores, key=lambda k: (-len(scores[k]), -float(np.mean(list(scores[k].values())))))


class Intensifier(SearcherWrapper):
    """Races `searcher`'s configurations on the folds of one partition.

    Args:
        searcher: the Tune searcher that proposes new configurations (Optuna); it sees only their first evaluation.
        folds: folds of the partition (k of the k-fold split of the training images).
        race_folds: the most folds a configuration is scored on (<= folds).
        full_epochs: ASHA's max_t: a trial that trained min(this, its own epochs) topped its rungs.
        seed: draws the folds.
        split_seed: the partition's shuffle (the search's --seed), passed to every trial.
        first: a configuration raced first (the default U-Net): the first incumbent, so the search returns it unless a
            challenger beats it on the same folds.
        key: what identifies a configuration (configuration_key).
        metric: the reported score (higher is better).
    """

    def __init__(self, searcher: Searcher, folds: int, race_folds: int, full_epochs: int, seed: int, split_seed: int,
                 first: dict[str, Any] | None = None, key: Callable[[dict[str, Any]], str] = configuration_key, metric: str = "val_dice"):
        super().__init__(searcher)
        if not 1 <= race_folds <= folds:
            raise ValueError(f"race_folds must be in 1..{folds}, got {race_folds}")
        self.folds, self.race_folds, self.full_epochs, self.split_seed = int(folds), int(race_folds), int(full_epochs), int(split_seed)
        self.seed, self.first, self.key, self.score_metric = int(seed), first, key, metric
        self.configs: dict[str, dict[str, Any]] = {}
        self.scores: dict[str, dict[int, float]] = {}
        self.topped: dict[str, bool] = {}
        self.queue: list[tuple[str, int]] = []
        self.pending: dict[str, tuple[str, int, bool]] = {}
        self.best: dict[str, float] = {}
        self.iterations: dict[str, int] = {}
        self.incumbent: str | None = None
        self.draws = 0
        self.first_done = first is None
        self.history: list[str] = []

    # --- suggestions -------------------------------------------------------------------------------------------------
    def suggest(self, trial_id: str):
        """A queued race evaluation if any, else the wrapped searcher's next configuration on one of the incumbent's folds."""
        if not self.first_done:
            self.first_done = True
            key = self._know(self.first)
            return self._evaluate(trial_id, key, self._draw(range(self.folds)), from_searcher=False)
        if self.queue:
            key, fold = self.queue.pop(0)
            return self._evaluate(trial_id, key, fold, from_searcher=False)
        config = self.searcher.suggest(trial_id)
        if config == Searcher.FINISHED and self.pending:
            return None  # a running evaluation may still queue a race evaluation: ask again later
        if config is None or config == Searcher.FINISHED:
            return config
        key = self._know(config)
        taken = self._taken(key)
        if taken:  # sampled again (or while its first evaluation still runs): another fold of it
            fold = self._draw([f for f in range(self.folds) if f not in taken] or range(self.folds))
        else:
            fold = self._draw(sorted(self.scores[self.incumbent]) if self.incumbent else range(self.folds))
        return self._evaluate(trial_id, key, fold, from_searcher=True, config=config)

    def _taken(self, key: str) -> set[int]:
        """The folds a configuration was scored on, is being scored on or is queued for."""
        return ({int(f) for f in self.scores.get(key, {})} | {f for k, f, _ in self.pending.values() if k == key}
                | {f for k, f in self.queue if k == key})

    def _know(self, config: dict[str, Any]) -> str:
        key = self.key(config)
        self.configs.setdefault(key, {k: v for k, v in config.items() if k not in ("fold", "folds", "split_seed")})
        return key

    def _draw(self, options) -> int:
        options = list(options)
        self.draws += 1
        return int(options[np.random.default_rng([self.seed, self.draws, 17]).integers(len(options))])

    def _evaluate(self, trial_id: str, key: str, fold: int, from_searcher: bool, config: dict[str, Any] | None = None) -> dict[str, Any]:
        self.pending[trial_id] = (key, fold, from_searcher)
        return {**(config or self.configs[key]), "folds": self.folds, "fold": int(fold), "split_seed": self.split_seed}

    # --- results -----------------------------------------------------------------------------------------------------
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keep the trial's best score and epochs; the wrapped searcher hears of its own trials."""
        if trial_id not in self.pending:
            return
        if self.pending[trial_id][2]:
            self.searcher.on_trial_result(trial_id, result)
        self._note(trial_id, result)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        """Record the evaluation and race it against the incumbent."""
        if trial_id not in self.pending:
            return
        key, fold, from_searcher = self.pending.pop(trial_id)
        if from_searcher:
            self.searcher.on_trial_complete(trial_id, result=result, error=error)
        if result:
            self._note(trial_id, result)
        score, epochs = self.best.pop(trial_id, None), self.iterations.pop(trial_id, 0)
        if error or score is None:
            return
        first = key not in self.scores
        self.scores.setdefault(key, {})[fold] = score
        if first:
            self.topped[key] = epochs >= self._budget(key)
        self._race(key)

    def _note(self, trial_id: str, result: dict) -> None:
        """The trial's best score and epochs so far (the completion result may carry what on_trial_result did not see)."""
        if self.score_metric in result:
            self.best[trial_id] = max(float(result[self.score_metric]), self.best.get(trial_id, -np.inf))
        if "training_iteration" in result:
            self.iterations[trial_id] = max(int(result["training_iteration"]), self.iterations.get(trial_id, 0))

    def _budget(self, key: str) -> int:
        """The epochs the configuration trains unstopped: its own (a full-space trial without saliency rounds trains fewer than
        ASHA's max_t), at most full_epochs."""
        from recipes.params import TrialParams  # deferred: recipes imports torch

        config = self.configs.get(key, {})
        try:
            own = TrialParams.from_config(config).total_epochs if "epochs" in config else self.full_epochs
        except (TypeError, ValueError):
            own = self.full_epochs
        return min(self.full_epochs, own)

    def _mean(self, key: str, folds) -> float:
        return float(np.mean([self.scores[key][f] for f in folds]))

    def _race(self, key: str) -> None:
        inc = self.incumbent
        if inc is None:
            if self.topped.get(key):
                self.incumbent = key
                self.history.append(f"first incumbent {self._name(key)}")
                self._grow(key)
            return
        if key == inc or not self.topped.get(key):
            return
        shared = sorted(set(self.scores[key]) & set(self.scores[inc]))
        if not shared:  # the incumbent changed while this one trained: race it on one of the new incumbent's folds
            self._enqueue(key, self._draw(sorted(self.scores[inc])))
            return
        if self._mean(key, shared) <= self._mean(inc, shared):
            self.history.append(f"{self._name(key)} lost to {self._name(inc)} on {len(shared)} folds")
            self._grow(inc)
            return
        missing = sorted(set(self.scores[inc]) - set(self.scores[key]))
        if missing:
            self._enqueue(key, missing[0])
            return
        self.incumbent = key
        self.history.append(f"{self._name(key)} replaced {self._name(inc)} on {len(shared)} folds")
        self._grow(key)

    def _enqueue(self, key: str, fold: int) -> None:
        if (key, fold) not in self.queue and (key, fold) not in {(k, f) for k, f, _ in self.pending.values()}:
            self.queue.append((key, fold))

    def _grow(self, key: str) -> None:
        """One more fold for the incumbent (up to race_folds), unless one is already on its way."""
        if len(self.scores[key]) >= self.race_folds or any(k == key for k, _ in self.queue) or any(k == key for k, _, _ in self.pending.values()):
            return
        self._enqueue(key, self._draw([f for f in range(self.folds) if f not in self.scores[key]]))

    def _name(self, key: str) -> str:
        config = self.configs.get(key, {})
        try:
            from recipes.params import config_run_name  # deferred: recipes imports torch

            return config_run_name(config)
        except (TypeError, ValueError, KeyError):
            return key[:40]

    # --- what the race says ------------------------------------------------------------------------------------------
    @property
    def incumbent_config(self) -> dict[str, Any] | None:
        """The configuration the search returns now (None before any configuration topped its rungs)."""
        return None if self.incumbent is None else self.configs[self.incumbent]

    def order(self) -> list[str]:
        """Configuration keys best first: the incumbent, then raced_order."""
        rest = [k for k in raced_order(self.scores) if k != self.incumbent]
        return ([self.incumbent] if self.incumbent else []) + rest

    def state(self) -> dict[str, Any]:
        """Everything the race knows (saved with the search, for --resume)."""
        names = ("configs", "scores", "topped", "queue", "pending", "best", "iterations", "incumbent", "draws", "first_done", "history")
        return copy.deepcopy({n: getattr(self, n) for n in names})

    def load(self, state: dict[str, Any]) -> None:
        """Take back the race's state."""
        for name, value in copy.deepcopy(state).items():
            setattr(self, name, value)
