"""Re-ranking at the final budget: short trials favour nets that learn fast, not nets that end best (short-horizon
bias), so before a search declares its winner it trains its best few configurations at the budget the user will
train at and picks among them there. The parent run records both rankings."""
from __future__ import annotations

import json
import pickle
from typing import Any

import pandas as pd
from ray.tune.search import Searcher

from search.noise.intensify import RACE_KEYS, configuration_key, raced_order
from search.tracking.schema import FINAL as ROLE  # noqa: F401 - the re-ranking trial runs' role
from search.tracking.schema import FINAL_RANKING_TAG, SEARCH_RANKING_TAG  # noqa: F401 - the rankings on the parent run


def top_candidates(table: pd.DataFrame, configs: dict[str, dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The `k` best finished trials of a search by validation Dice, one per configuration (run name), with their Tune
    configs (`configs`: trial id -> config): [{"trial_id", "run_name", "best_val_dice", "config"}], best first."""
    done = table[(table.status == "FINISHED") & table.best_val_dice.notna() & table.trial_id.isin(list(configs))]
    done = done.sort_values(["best_val_dice", "start_time"], ascending=[False, True]).drop_duplicates("run_name")
    return [{"trial_id": r.trial_id, "run_name": r.run_name, "best_val_dice": float(r.best_val_dice), "config": configs[r.trial_id]}
            for r in done.head(k).itertuples(index=False)]


def raced_candidates(table: pd.DataFrame, configs: dict[str, dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The `k` best configurations of a raced search (search.noise.Intensifier): its evaluations grouped by configuration,
    more folds first, then the higher mean (search.noise.raced_order); each candidate's `best_val_dice` is that mean over
    its folds and its config is the configuration without the fold."""
    from recipes.params import config_run_name  # deferred: recipes imports torch

    done = table[(table.status == "FINISHED") & table.best_val_dice.notna() & table.trial_id.isin(list(configs))]
    scores: dict[str, dict[int, float]] = {}
    plain: dict[str, dict[str, Any]] = {}
    for r in done.itertuples(index=False):
        config = configs[r.trial_id]
        key = configuration_key(config)
        scores.setdefault(key, {})[int(config.get("fold", 0))] = float(r.best_val_dice)
        plain.setdefault(key, {c: v for c, v in config.items() if c not in RACE_KEYS})
    out = []
    for key in raced_order(scores)[:k]:
        s = scores[key]
        out.append({"trial_id": "", "run_name": config_run_name(plain[key]), "best_val_dice": sum(s.values()) / len(s), "config": plain[key], "folds_raced": len(s)})
    return out


def with_baseline(candidates: list[dict[str, Any]], baseline: dict[str, Any], epochs: int) -> list[dict[str, Any]]:
    """`candidates` and, last, the default U-Net's config `baseline` (marked "baseline": True; its runs are named ...-default),
    unless one of them already trains exactly that configuration at `epochs` (that one is then marked "is_default": True)."""
    from recipes.params import DEFAULT_UNET_KEY, TrialParams, config_run_name  # deferred: recipes imports torch

    target = TrialParams.from_config(final_config(baseline, epochs))
    same = [i for i, c in enumerate(candidates) if TrialParams.from_config(final_config(c["config"], epochs)) == target]
    if same:  # a finalist is the default U-Net: it stands as the default in the final choice
        return [{**c, "is_default": True} if i == same[0] else c for i, c in enumerate(candidates)]
    config = {**baseline, DEFAULT_UNET_KEY: True}
    return [*candidates, {"trial_id": "", "run_name": config_run_name(config), "best_val_dice": float("nan"), "config": config, "baseline": True}]


def final_config(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """A candidate's Tune config trained at the final budget (a saliency trial's retraining rounds keep their length), on
    the dataset's validation split (a reshuffled trial's own split is dropped)."""
    return {**{k: v for k, v in config.items() if k != "val_seed"}, "epochs": int(epochs)}


def on_folds(config: dict[str, Any], folds: int, partition: int, split_seed: int) -> list[dict[str, Any]]:
    """A final-budget config on each of the first `folds` folds of a `partition`-fold split (shuffled by `split_seed`);
    with `folds` 1, the config as is (the dataset's validation split)."""
    if folds <= 1:
        return [config]
    return [{**config, "folds": int(partition), "fold": j, "split_seed": int(split_seed)} for j in range(folds)]


def ranking(rows: list[dict[str, Any]]) -> str:
    """A ranking as the JSON a parent-run tag holds: run name and validation Dice, best first; a raced candidate's Dice is
    its mean over the `folds` it was raced on, and raced candidates keep the race's order (more folds first)."""
    raced = any("folds_raced" in r for r in rows)
    ordered = rows if raced else sorted(rows, key=lambda r: -r["best_val_dice"])
    return json.dumps([{"run_name": r["run_name"], "best_val_dice": round(float(r["best_val_dice"]), 4),
                        **({"folds": int(r["folds_raced"])} if "folds_raced" in r else {})} for r in ordered])[:5000]


def pick(final: pd.DataFrame) -> pd.Series | None:
    """The winner among the final-budget runs: the best validation Dice at the final budget (None if none finished)."""
    done = final[(final.status == "FINISHED") & final.best_val_dice.notna()]
    return None if done.empty else done.loc[done.best_val_dice.idxmax()]


class FixedConfigs(Searcher):
    """A Tune Searcher that proposes the given configurations once each, in order, then says FINISHED; its state is
    saved with the search, so a resumed search proposes only those it had not."""

    def __init__(self, configs: list[dict[str, Any]], metric: str = "val_dice", mode: str = "max"):
        super().__init__(metric=metric, mode=mode)
        self.order = [dict(c) for c in configs]

    def suggest(self, trial_id: str):
        """The next configuration, or FINISHED once every one was proposed."""
        return self.order.pop(0) if self.order else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        """Nothing to learn: the configurations are fixed."""

    def save(self, checkpoint_path: str) -> None:
        """The configurations not yet proposed."""
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.order, f)

    def restore(self, checkpoint_path: str) -> None:
        """Take back the configurations not yet proposed."""
        with open(checkpoint_path, "rb") as f:
            self.order = pickle.load(f)
