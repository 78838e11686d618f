"""Search replays: the product's Tune searchers and schedulers run unchanged on recorded learning curves instead of
training. A replayed search validates on one recorded fold, drawn per search (a real search's trials share one validation
split); each sampled trial replays its configuration's recorded curve on that fold (a recorded seed drawn per trial where
there are several), reporting the recorded validation Dice epoch by epoch and charging the recorded seconds; a replay
takes milliseconds a trial.

Two ways to run one, with the same decisions (tests check they agree):
- `replay_search`: a sequential loop that calls the searcher and scheduler as Tune's controller does for one trial at a
  time (suggest, on_trial_add, on_trial_result, on_trial_complete). Fast enough for hundreds of seeds.
- `replay_trainable` under a real `tune.Tuner` (searcher wrapped in `Numbered`, `max_concurrent_trials=1`): slower (Tune's trial processes), for
  checking the loop and for schedulers that pause trials (HyperBand), which the loop does not model.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from search.driver.rerank import FixedConfigs
from search.noise.wrap import SearcherWrapper
from unet_core.skips import run_key

Curves = dict[str, list[dict[str, np.ndarray]]]  # config -> replicates {"dice": [...], "seconds": [...]} (analysis.curves)


def config_key(config: dict[str, Any]) -> str:
    """The recorded configuration a searcher's suggestion names: d{depth}-s{bits}, from `skips` or the s1..sn bits."""
    depth = int(config["depth"])
    skips = config.get("skips") or "".join(str(int(config[f"s{i}"])) for i in range(1, depth + 1))
    return run_key(depth, skips)


def search_fold(curves: Curves, seed: int) -> int:
    """The validation split a replayed search scores on: one recorded fold per search, drawn from its seed (every trial
    of a real search validates on the same split)."""
    folds = sorted({int(rep.get("fold", 0)) for reps in curves.values() for rep in reps})
    return folds[np.random.default_rng([seed, 7]).integers(len(folds))]


def slots(curves: Curves) -> int:
    """Replicates every configuration has: slot j is the j-th (seed, fold) of each, the same partition fold and trial seed
    for every configuration, so two configurations' scores in one slot are paired."""
    return min(len(reps) for reps in curves.values())


def pick_replicate(curves: Curves, key: str, seed: int, trial_index: int, validation: str = "fixed", slot: int | None = None) -> dict[str, np.ndarray]:
    """The recorded curve a trial replays; a replay is reproducible.

    - `slot` given (a raced evaluation on fold `slot`): that replicate;
    - validation "fixed": its configuration on the search's fold (search_fold), with a recorded seed drawn from (search
      seed, trial number) where the table has several;
    - validation "reshuffle": any of its replicates, drawn from (search seed, trial number): each trial its own split."""
    if key not in curves:
        raise KeyError(f"no recorded curve for {key} (the replayed space must match the recorded study)")
    if slot is not None:
        return curves[key][int(slot)]
    if validation == "reshuffle":
        reps = curves[key]
    else:
        fold = search_fold(curves, seed)
        reps = [rep for rep in curves[key] if int(rep.get("fold", 0)) == fold] or curves[key]
    return reps[np.random.default_rng([seed, trial_index, zlib.crc32(key.encode())]).integers(len(reps))]


@dataclass
class Trace:
    """What a replayed search did, report by report: trial number, configuration, epoch, Dice and the compute spent so far."""

    trial: list[int] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    dice: list[float] = field(default_factory=list)
    spent_s: list[float] = field(default_factory=list)
    declared: list[tuple[float, str | None]] = field(default_factory=list)  # (compute spent, pick) where the searcher declares its own

    def declare(self, spent_s: float, pick: str | None) -> None:
        """Record the configuration the search would return from now on (a race's incumbent)."""
        self.declared.append((spent_s, pick))

    def add(self, trial: int, config: str, epoch: int, dice: float, spent_s: float) -> None:
        """Record one report."""
        self.trial.append(trial)
        self.config.append(config)
        self.epoch.append(epoch)
        self.dice.append(dice)
        self.spent_s.append(spent_s)

    @property
    def trials(self) -> int:
        """Trials started."""
        return len(set(self.trial))

    def trials_within(self, budget_s: float) -> int:
        """Trials that reported at least once within `budget_s` of compute."""
        return len({t for t, spent in zip(self.trial, self.spent_s) if spent <= budget_s})

    def top(self, budget_s: float, k: int) -> list[str]:
        """The `k` configurations with the best reported validation Dice within `budget_s` of compute, best first."""
        best: dict[str, float] = {}
        for dice, config, spent in zip(self.dice, self.config, self.spent_s):
            if spent > budget_s:
                break
            best[config] = max(dice, best.get(config, -np.inf))
        return sorted(best, key=lambda c: -best[c])[:k]

    def incumbent(self, budget_s: float) -> str | None:
        """The configuration the search returns if stopped once `budget_s` of compute is spent: the trial with the best
        reported validation Dice so far (what search.run declares), or None before the first report. A searcher that
        declares its own pick (a race) returns what it last declared within the budget."""
        if self.declared:
            pick = None
            for spent, declared in self.declared:
                if spent > budget_s:
                    break
                pick = declared
            return pick
        best, pick = -np.inf, None
        for dice, config, spent in zip(self.dice, self.config, self.spent_s):
            if spent > budget_s:
                break
            if dice > best:
                best, pick = dice, config
        return pick


def replay_search(curves: Curves, searcher, scheduler, seed: int, budget_s: float, max_epochs: int, max_trials: int = 10_000,
                  validation: str = "fixed", declare: Callable[[Any], str | None] | None = None) -> Trace:
    """Run `searcher` (a Tune Searcher) and `scheduler` (a Tune TrialScheduler, or None for no early stopping) one trial
    at a time on recorded curves until `budget_s` of recorded compute is spent, the searcher is done or `max_trials`.

    A suggestion that names a `fold` (an Intensifier's evaluation) replays that slot; the others follow `validation`
    (pick_replicate). `declare(searcher)`, called after each trial, gives the search's own pick (its race's incumbent)."""
    trace, spent = Trace(), 0.0
    for index in range(max_trials):
        trial_id = f"replay_{index:05d}"
        config = searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            break
        key = config_key(config)
        rep = pick_replicate(curves, key, seed, index, validation, config.get("fold") if "folds" in config else None)
        trial = SimpleNamespace(trial_id=trial_id, config=config)
        if scheduler is not None:
            scheduler.on_trial_add(None, trial)
        result: dict[str, Any] = {}
        for epoch in range(1, min(max_epochs, len(rep["dice"])) + 1):
            spent += float(rep["seconds"][epoch - 1])
            result = {"val_dice": float(rep["dice"][epoch - 1]), "training_iteration": epoch, "trial_id": trial_id}
            trace.add(index, key, epoch, result["val_dice"], spent)
            searcher.on_trial_result(trial_id, result)
            decision = scheduler.on_trial_result(None, trial, result) if scheduler is not None else TrialScheduler.CONTINUE
            if spent >= budget_s or decision == TrialScheduler.STOP:
                break
        if scheduler is not None:
            scheduler.on_trial_complete(None, trial, result)
        searcher.on_trial_complete(trial_id, result)
        if declare is not None:
            trace.declare(spent, declare(searcher))
        if spent >= budget_s:
            break
    return trace


class GridInRandomOrder(FixedConfigs):
    """A Tune Searcher that proposes every configuration once, in an order shuffled by `seed` (the honest grid baseline)."""

    def __init__(self, configs: list[dict[str, Any]], seed: int):
        super().__init__([configs[i] for i in np.random.default_rng(seed).permutation(len(configs))])


class Numbered(SearcherWrapper):
    """Wraps a Tune Searcher for a real tune.Tuner: adds the trial's number (`replay_index`) to each suggestion, so the
    replay trainable draws the same replicate as `replay_search` does for that trial."""

    def __init__(self, searcher: Searcher):
        super().__init__(searcher)
        self.count = 0

    def suggest(self, trial_id: str):
        """The wrapped searcher's suggestion, numbered."""
        config = self.searcher.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        self.count += 1
        return {**config, "replay_index": self.count - 1}

    def state(self) -> dict:
        """The count (Tune saves it with the wrapped searcher's own state)."""
        return {"count": self.count}

    def load(self, state: dict) -> None:
        """Restore the count."""
        self.count = state["count"]


def replay_trainable(curves: Curves, seed: int, max_epochs: int) -> Callable[[dict[str, Any]], None]:
    """A Tune function trainable that replays a recorded curve of its configuration (for a real tune.Tuner whose searcher
    is wrapped in Numbered): the recorded Dice each epoch and the recorded seconds spent so far (`charged_s`)."""

    def trainable(config: dict[str, Any]) -> None:
        from ray import tune

        key = config_key(config)
        rep = pick_replicate(curves, key, seed, int(config["replay_index"]))
        spent = 0.0
        for epoch in range(1, min(max_epochs, len(rep["dice"])) + 1):
            spent += float(rep["seconds"][epoch - 1])
            tune.report({"val_dice": float(rep["dice"][epoch - 1]), "charged_s": spent, "config_key": key, "replay_index": int(config["replay_index"])})

    return trainable


@dataclass
class FinalRound:
    """A replayed search followed by a final round on several folds: its best `k` configurations (within what the budget
    leaves after the round's own cost) and, with `default`, the default U-Net, each replayed at `final_epochs` on the same
    `folds` slots (drawn per search seed: paired). The pick: with `margin_se`, search.noise.choose_final (the default
    unless a finalist beats it by more than that many standard errors of the paired margin); without, the best mean
    (today's rule: with one fold, the finalists and the default on the search's split)."""

    trace: Trace
    curves: Curves
    k: int
    final_epochs: int
    trial_s: float
    seed: int
    default: str | None = None
    folds: int = 1
    margin_se: float | None = None

    def incumbent(self, budget_s: float) -> str | None:
        """The final round's pick once `budget_s` of compute (search and final round together) is spent."""
        from search.noise import choose_final

        names_k = self.k + (1 if self.default else 0)
        search_s = budget_s - names_k * self.folds * self.trial_s
        top = self.trace.top(search_s, self.k) if search_s > 0 else []
        if not top:
            return None
        names = top + ([self.default] if self.default and self.default not in top else [])
        if self.folds == 1:  # the search's own split (a recorded seed drawn per trial where there are several)
            scores = {c: {0: float(pick_replicate(self.curves, c, self.seed, 100_000 + i)["dice"][: self.final_epochs].max())} for i, c in enumerate(names)}
        else:
            chosen = np.random.default_rng([self.seed, 11]).permutation(slots(self.curves))[: self.folds]
            scores = {c: {int(j): float(self.curves[c][int(j)]["dice"][: self.final_epochs].max()) for j in chosen} for c in names}
        if self.margin_se is None:
            return max(scores, key=lambda c: np.mean(list(scores[c].values())))
        return choose_final(scores, self.default, self.margin_se).winner


def race_pick(default_config: dict[str, Any] | None, margin_se: float | None) -> Callable[[Any], str | None]:
    """What a raced search declares (replay_search's `declare`): its incumbent, or with `margin_se` the default unless the
    incumbent beats it by more than that many standard errors on their shared folds (search.noise.choose_final)."""
    from search.noise import choose_final, configuration_key

    default_key = configuration_key(default_config) if default_config else None

    def declare(race) -> str | None:
        if race.incumbent is None:
            return None
        winner = race.incumbent
        if margin_se is not None and default_key in race.scores and winner != default_key:
            winner = choose_final({winner: race.scores[winner], default_key: race.scores[default_key]}, default_key, margin_se).winner
        return config_key(race.configs[winner])

    return declare


Reranked = FinalRound  # the product's re-ranking before 2026-12-03: one fold (the search's split), no default U-Net, the best wins
