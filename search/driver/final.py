"""A search's final round: its best few configurations (and the default U-Net beside them) trained at the final
budget, where the winner is picked (search.driver.rerank)."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from recipes.params import config_run_name
from search.config import SearchConfig
from search.errors import SearchInterrupted
from search.spaces import SpaceLimits, create_space
from search.tracking import client as tracking
from search.tracking import schema
from search.trainable.trial import run_trial
from unet_core.sizes import feasible

from .interrupt import fit_watching_ctrl_c
from .results import TRIAL_COLUMNS, ended_count, final_attempts, trials_table
from .session import SearchSession
from .tuner import trainable, tune_config, tuner

DEFAULT_DEPTH = 4
DEFAULT_SPACE = "arch"  # the default U-Net trains at the recipe the arch space fixes


def default_unet_config(cfg: SearchConfig, limits: SpaceLimits) -> dict[str, Any]:
    """The default U-Net's Tune config: depth 4 (or the deepest that `limits` and the settled patch allow) with every skip, at the
    arch space's fixed recipe."""
    fits = [d for d in limits.depths if d <= DEFAULT_DEPTH and feasible(cfg.patch_size, d)]
    depth = max(fits) if fits else min(limits.depths)
    recipe = create_space(DEFAULT_SPACE).fixed_params(replace(cfg, space=DEFAULT_SPACE, folds=1, depths=(depth,), skips=()))
    return {**recipe, "depth": depth, "skips": "1" * depth}


def final_points(cfg: SearchConfig, candidate: dict[str, Any]) -> list[dict[str, Any]]:
    """A candidate's Tune configs at the final budget (its own "final_epochs" where the time left fits it more than
    cfg.final_epochs: with_own_epochs): one per final fold (cfg.final_folds of the race partition)."""
    from .rerank import final_config, on_folds  # deferred: search.driver.rerank imports Ray

    epochs = candidate.get("final_epochs") or cfg.final_epochs
    return on_folds(final_config(candidate["config"], epochs), cfg.final_folds, cfg.race_partition, cfg.seed)


def with_own_epochs(candidates: list[dict[str, Any]], own: dict[str, int]) -> list[dict[str, Any]]:
    """`candidates` with "final_epochs" on each searched finalist that `own` (search trial id: epochs; the session's
    final_epochs_by_trial) fits more epochs in the round's time; the default U-Net, and a finalist that is it, keep the
    round's."""
    return [{**c, "final_epochs": own[c["trial_id"]]} if own.get(c.get("trial_id") or "") and not (c.get("baseline") or c.get("is_default"))
            else c for c in candidates]


def final_choice(cfg: SearchConfig, candidates: list[dict[str, Any]], final: pd.DataFrame, images: dict[str, dict[str, float]] | None = None):
    """The final round's choice (search.noise): the default U-Net unless a finalist beats it by more than
    cfg.default_margin standard errors of the paired margin, paired over the final folds (cfg.final_folds >= 2) or, with
    one fold, over their validation images (`images`: final run name -> {image: Dice}, schema.VAL_IMAGE_DICE); the best
    there where a training has no image scores or the two were not scored on the same images (a finalist searched on
    its own fold)."""
    from search.noise import choose_best, choose_final  # deferred: search.noise imports Ray

    by_run = dict(zip(final.run_name, final.best_val_dice))
    scores, per_image, default = {}, {}, None
    for c in candidates:
        names = {int(p.get("fold", 0)): config_run_name(p) + f"-{schema.FINAL}" for p in final_points(cfg, c)}
        scores[c["run_name"]] = {f: float(by_run[n]) for f, n in names.items() if pd.notna(by_run.get(n))}
        per_image[c["run_name"]] = {k: v for n in names.values() for k, v in (images or {}).get(n, {}).items()}
        default = c["run_name"] if c.get("baseline") or c.get("is_default") else default
    scores = {name: s for name, s in scores.items() if s}
    if not scores:
        return None
    default = default if default in scores else None
    if cfg.final_folds >= 2:
        return choose_final(scores, default, cfg.default_margin)
    image_sets = {frozenset(per_image[name]) for name in scores}
    if default is not None and len(scores) > 1 and len(image_sets) == 1 and all(image_sets):  # the same images on each side
        return choose_final({name: per_image[name] for name in scores}, default, cfg.default_margin, unit="validation images")
    return choose_best(scores, default)


def image_scores(client, final: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each finished final training's per-image validation Dice of its kept weights (run name -> {image: Dice};
    schema.VAL_IMAGE_DICE); a run without them is left out."""
    scores = {}
    with tracking.temp_dir() as tmp:
        for r in final.itertuples(index=False):
            if r.status != "FINISHED":  # a failed training's file is of an epoch's subset, not its closing
                continue
            try:
                read = json.loads(Path(client.download_artifacts(r.run_id, schema.VAL_IMAGE_DICE, tmp)).read_text())
                scores[r.run_name] = {str(k): float(v) for k, v in read.items() if math.isfinite(float(v))}
            except Exception:  # noqa: BLE001 - a run logged before per-image scores, or a damaged file: the split-level rule
                continue
    return scores


def final_tuner(session: SearchSession, name: str, candidates: list[dict[str, Any]], callbacks: list):
    """The re-ranking Tuner: each candidate's config once, at the final budget, no early stopping (restored if a
    previous session of this search started it); a budget's trainings each end within their share of the time left."""
    from .rerank import FixedConfigs  # deferred: search.driver.rerank imports Ray

    cfg = session.cfg
    points = [point for c in candidates for point in final_points(cfg, c)]
    ctx = replace(session.ctx, role=schema.FINAL, time_limit_s=session.final_time_limit_s)
    function = trainable(cfg, session.data, ctx, run_trial)
    return tuner(cfg, name, function, {}, tune_config(FixedConfigs(points), num_samples=len(points)), callbacks)


def rerank_at_final_budget(session: SearchSession, results, table: pd.DataFrame) -> pd.DataFrame:
    """Train the search's best cfg.rerank_k configurations (and, with cfg.final_baseline, the default U-Net) at
    cfg.final_epochs; their trial table (role "final"). Both rankings go on the parent run as tags (search.driver.rerank)."""
    from .rerank import raced_candidates, top_candidates, with_baseline  # deferred: search.driver.rerank imports Ray

    cfg = session.cfg
    configs = {(r.metrics or {}).get("trial_id"): r.config for r in results if (r.metrics or {}).get("trial_id")}
    pick = raced_candidates if cfg.validation == "race" else top_candidates
    candidates = pick(final_attempts(table), configs, cfg.rerank_k)
    if candidates:
        searched = len(candidates)
        if cfg.final_baseline:
            candidates = with_baseline(candidates, default_unet_config(cfg, session.limits), cfg.final_epochs)
        candidates = with_own_epochs(candidates, session.final_epochs_by_trial)
        beside = f", beside the default U-Net {candidates[-1]['run_name']}" if candidates[-1].get("baseline") else ""
        longer = "".join(f"; {c['run_name']} {c['final_epochs']} in the same time" for c in candidates if c.get("final_epochs"))
        session.echo(f"re-ranking the best {searched} at the final budget ({cfg.final_epochs} epochs{longer}){beside}: "
                     + ", ".join(c["run_name"] + (f" ({c['best_val_dice']:.4f} over {c['folds_raced']} fold{'s' * (c['folds_raced'] != 1)})" if "folds_raced" in c else "")
                                 for c in candidates[:searched]))
    return train_at_final_budget(session, candidates, schema.SEARCH_RANKING_TAG)


def train_at_final_budget(session: SearchSession, candidates: list[dict[str, Any]], ranking_tag: str) -> pd.DataFrame:
    """Train `candidates` ([{"run_name", "best_val_dice", "config"}], best first) at cfg.final_epochs; their trial table
    (role "final"). The candidates' ranking goes on the parent run as `ranking_tag`, the final budget's as unet.final_ranking."""
    from search.tracking.callbacks import CloseTrialRuns  # deferred: imports Ray's Callback

    from .progress import ProgressLines  # deferred: imports Ray's Callback
    from .rerank import ranking  # deferred: search.driver.rerank imports Ray

    if not candidates:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    cfg, client, ctx = session.cfg, session.client, session.ctx
    client.set_tag(ctx.parent_run_id, ranking_tag, ranking([c for c in candidates if not c.get("baseline")]))
    trainings = sum(len(final_points(cfg, c)) for c in candidates)  # each candidate on each final fold
    epochs = max(c.get("final_epochs") or cfg.final_epochs for c in candidates)
    progress = ProgressLines(trainings, epochs, early_stopping=False, echo=lambda line: session.echo(f"final budget {line}"))
    closer = CloseTrialRuns(ctx.tracking_uri, ctx.experiment_id, ctx.parent_run_id, ctx.outbox_dir)
    final_results, stopped = fit_watching_ctrl_c(final_tuner(session, f"{session.search_name}-final", candidates, [closer, progress]).fit)
    session.send_kept_writes()
    if not stopped:  # not the trainings Ctrl-C cut: KILLED, trained again on --resume
        closer.settle(final_results)
    final = trials_table(client, ctx.experiment_id, ctx.parent_run_id, role=schema.FINAL)
    ended = ended_count(final)
    if stopped or ended < trainings:
        raise SearchInterrupted(f"interrupted while training at the final budget: {ended} of {trainings} done. Continue with: {session.resume}")
    final = final_attempts(final)
    client.set_tag(ctx.parent_run_id, schema.FINAL_RANKING_TAG, ranking([{"run_name": r.run_name, "best_val_dice": r.best_val_dice}
                                                                         for r in final.itertuples(index=False) if pd.notna(r.best_val_dice)]))
    return mark_choice(session, candidates, final)


def mark_choice(session: SearchSession, candidates: list[dict[str, Any]], final: pd.DataFrame) -> pd.DataFrame:
    """`final` with a `chosen` column (the winner's runs: the test score is taken from the best of them) and a `default`
    column (the default U-Net's runs, trained beside the finalists or one of them); the choice, its margin over the
    default U-Net and its interval go on the parent run (search.noise.FinalChoice.tags)."""
    images = image_scores(session.client, final) if session.cfg.final_folds < 2 else None
    choice = final_choice(session.cfg, candidates, final, images)
    default = next((c for c in candidates if c.get("baseline") or c.get("is_default")), None)
    final = final.assign(chosen=False, default=final.run_name.isin(_final_names(session.cfg, default)))
    if choice is None:
        return final
    for key, value in choice.tags().items():
        session.client.set_tag(session.ctx.parent_run_id, key, value)
    winner = next(c for c in candidates if c["run_name"] == choice.winner)
    session.echo(f"final choice: {choice.reason}")
    return final.assign(chosen=final.run_name.isin(_final_names(session.cfg, winner)))


def _final_names(cfg: SearchConfig, candidate: dict[str, Any] | None) -> set[str]:
    """The run names of a candidate's final-round trainings (one per final fold); none for no candidate."""
    return {config_run_name(p) + f"-{schema.FINAL}" for p in final_points(cfg, candidate)} if candidate else set()
