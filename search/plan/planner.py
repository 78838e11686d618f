"""Turn a dataset's fingerprint, a measured cost model and a wall-clock budget into a Plan (search.plan.plan): the
working resolution, patch, epochs, trials and final round that fit the budget, widest net first, then largest resolution.

The rule, in the spirit of nnU-Net's planner (which keeps its network's width and plans the patch and spacing to the
hardware, adding a low-resolution configuration where objects are large against the patch it affords): a resolution is
kept only if the structures stay at least MIN_STRUCTURE_PX wide there (so vessels and membranes keep full resolution), and
the plan takes the widest net, then the largest resolution, at which the budget still gives every search trial
MIN_TRIAL_STEPS optimiser steps, the final round's trainings MIN_FINAL_STEPS, and the search MIN_TRIALS trials.
SEARCH_SHARE of the budget left after setup and test goes to the search, the rest to the final round."""
from __future__ import annotations

import math
from dataclasses import replace

from datasets.fingerprint import CONTEXT
from recipes.settings import EPOCH_PATCH_CAP, RecipeSettings

from search.errors import ConfigError

from .asha import MAX_TRIALS, asha_epochs
from .budget import duration
from .cost import CostModel
from .inputs import PlanInputs
from .plan import Plan
from .resolution import MIN_STRUCTURE_PX, RF_SHARE, Geometry, geometry, grid_count, receptive_field, sides

WIDTHS = (16, 8)  # first-level widths a budget plans, widest first, where the space does not sample the width itself
# Ray's start, the session and the parent run, beyond reading the data and timing the machine (measured: "prepared"); with
# MODELS_S, what seven budgeted searches spent beside their test score (2026-12-07: 5-22 s, mean 14, where the default U-Net
# stayed; the test score itself is timed on this machine: CostModel.score_s)
SETUP_S = 8.0
TRIAL_S = 8.0  # a trial's process, model and MLflow writes, beside its epochs
PHASE_S = 12.0  # a Tune phase's start and stop (the Tuner, its actors, closing the trials it cut) beside its trials: the final
# round ran 11-14 s past its longest training on Kvasir (10, 60 min), the search phase 12 s past its deadline at 10 min
EPOCH_S = 0.3  # an epoch's report to Tune and metrics to MLflow, beside its steps and validation
MODELS_S = 6.0  # logging and registering the take-home models
SAFETY = 0.97  # the plan fills this share of the budget; past it the phases' guards keep the end (the search phase's deadline,
# the final round's refit to the time left and its trainings' time limit). At 0.92 the refit handed the final round the plan's
# margin and the budgeted searches ended at 0.94-1.00 B: their final phases ran 10-22% over the plan as written (2026-12-07)
SEARCH_SHARE = 0.3  # of the budget left after setup, test and models; the rest is the final round's (Kvasir, 60 min on 2 cores:
# 20 min of search + 93 final epochs scored test mean Dice 0.782; 32 min + 62 epochs, 0.696: the final training buys more)
MIN_TRIAL_STEPS, MIN_TRIALS = 500, 8
MIN_FINAL_STEPS = 8000  # a final training's least steps, on one fold or on each of several, the take-home model's (Kvasir, whole image at
# 160 px: 2400 steps scored test mean Dice 0.73, 4400 0.71, 9000 0.80; folds' evidence is not bought by halving each training)
PLAN_LR = 1e-3  # Adam's first rate in a budget's fixed-recipe trainings (3e-3 without a plan): the default U-Net on Kvasir (160 px, 40
# epochs, cosine) scored test mean Dice 0.740 at 1e-3, 0.612 at 3e-3; DRIVE (60 epochs) 0.822 and 0.814 (bench/recipe_gap.py)
MIN_EPOCHS = 4  # a trial's most epochs (ASHA's max_t): fewer leave ASHA no rung to stop a weak trial at
FINAL_CHOICES = ((2, 2), (1, 2), (1, 1))  # (finalists, folds) the planner tries, most evidence first


def asha_trial_seconds(max_t: int, grace: int, rf: int, trials: int, first_s: float, later_s: float) -> float:
    """Expected seconds one of `trials` ASHA trials trains: its epochs to the first rung at `first_s` (every trial trains
    them: the depths' mean), the rest at `later_s` (the deepest net's: the trials ASHA lets on are the better ones, and
    a deeper U-Net is the better more often; Kvasir at 60 minutes: the survivors' epochs took 20.2 s against the
    depths' mean 16.6 s), and its process."""
    first = min(grace, max_t)
    return first * first_s + (asha_epochs(max_t, grace, rf, trials) - first) * later_s + TRIAL_S


def asha_trials(wall_s: float, parallel: int, max_t: int, grace: int, rf: int, first_s: float, later_s: float) -> int:
    """The most trials (at most MAX_TRIALS) whose expected ASHA seconds (asha_trial_seconds) fit `wall_s` in waves of
    `parallel` at a time, as the plan predicts the phase (an odd last trial runs a wave of its own)."""
    for n in range(MAX_TRIALS, 0, -1):
        if math.ceil(n / parallel) * asha_trial_seconds(max_t, grace, rf, n, first_s, later_s) <= wall_s:
            return n
    return 0


def epoch_seconds(inp: PlanInputs, cost: CostModel, g: Geometry, depth: int | None = None) -> tuple[float, float]:
    """(seconds of one training step, seconds of one epoch with its validation) at geometry `g`, of a net of `depth`
    (default: the deepest searched)."""
    depth = depth or inp.depth
    step = cost.step_s(depth, inp.base_channels, g.patch, inp.batch_size)
    side = g.side or max(inp.median_shape)
    steps = math.ceil(g.per_epoch / inp.batch_size)
    return step, EPOCH_S + steps * step + inp.val_per_epoch * cost.predict_s(depth, inp.base_channels, side)


def search_epoch_seconds(inp: PlanInputs, cost: CostModel, g: Geometry) -> float:
    """Seconds of a search trial's epoch before ASHA's first rung: in a sampled space, the mean over the depths it draws
    (Optuna's first trials draw them evenly, and a U-Net's cost grows with its depth); an enumerated ablation, the deepest's."""
    if not inp.sampled or not inp.depths:
        return epoch_seconds(inp, cost, g)[1]
    return sum(epoch_seconds(inp, cost, g, d)[1] for d in inp.depths) / len(inp.depths)


def fixed_seconds(inp: PlanInputs, cost: CostModel, g: Geometry, folds: int = 1) -> float:
    """Setup, scoring the test split with the choice's `folds` models and the take-home models: the budget's part no trial
    uses. A finalist that replaces the default U-Net has the default scored beside it, once more: the plan predicts the
    default kept (the final round's rule unless a finalist leads beyond the noise; 5 of 7 budgeted searches, 2026-12-07)
    and the budget's last 1 - SAFETY holds the second score (DRIVE at 30 min: 28 s of 54)."""
    return SETUP_S + MODELS_S + inp.test_images * cost.score_s(inp.depth, inp.base_channels, g.side, inp.median_shape, folds, scoring_tile(inp, g))


def scoring_tile(inp: PlanInputs, g: Geometry) -> int:
    """The tile a test image is scored in (recipes.validation.eval_tile_for at the recipe's eval_tile): the image at its
    working size, rounded up to 2**depth, at most eval_tile and at least the patch."""
    factor = 2**inp.depth
    tile = max(g.patch, min(RecipeSettings().eval_tile, -(-(g.side or max(inp.median_shape)) // factor) * factor))
    return -(-tile // factor) * factor


def closing_seconds(inp: PlanInputs, cost: CostModel, g: Geometry, folds: int = 1) -> float:
    """A final-round training's closing validation (recipes.closing_choice): two predictions of every image of its
    validation split (on several folds: its fold's), where an epoch scores only some of them (else none)."""
    images = inp.fold_val_images or inp.val_images if folds > 1 else inp.val_images
    if inp.val_per_epoch >= images:
        return 0.0
    return 2 * images * cost.predict_s(inp.depth, inp.base_channels, g.side or max(inp.median_shape))


def _final_choices(inp: PlanInputs) -> tuple[tuple[int, int], ...]:
    if inp.rerank_top is not None or inp.final_folds is not None:
        return ((inp.rerank_top if inp.rerank_top is not None else 2, inp.final_folds or 2),)
    return FINAL_CHOICES


def _final_epochs(inp: PlanInputs, epoch: float, fixed: float, budget: float, k: int, folds: int, closing: float) -> int:
    """Epochs of each final-round training (SEARCH_SHARE's rest of the budget, in waves of `parallel`); 0: no final round."""
    waves = math.ceil((k + 1) * folds / inp.parallel) if k else 0
    return int((((1 - SEARCH_SHARE) * (budget * SAFETY - fixed) - PHASE_S) / waves - TRIAL_S - closing) // epoch) if waves else 0


def _candidate(inp: PlanInputs, g: Geometry, step: float, epoch: float, fixed: float, budget: float, k: int, folds: int,
               trial_epoch: float | None = None, closing: float = 0.0) -> dict | None:
    """The plan at one geometry and final round within `budget`, or None where it cannot hold one epoch of each.
    `epoch`: the final round's (the deepest net's) epoch seconds; `trial_epoch`: a search trial's (default `epoch`);
    `closing`: a final training's closing validation."""
    trial = trial_epoch or epoch
    steps = math.ceil(g.per_epoch / inp.batch_size)
    p = inp.parallel
    avail = budget * SAFETY - fixed
    waves = math.ceil((k + 1) * folds / p) if k else 0
    final_epochs = _final_epochs(inp, epoch, fixed, budget, k, folds, closing)
    if waves and final_epochs < 1:
        return None
    final_s = waves * (final_epochs * epoch + TRIAL_S + closing) + PHASE_S if waves else 0.0
    search_wall = avail - final_s - PHASE_S
    if inp.sampled:
        top = max(1, final_epochs // 2) if waves else max(1, int(search_wall * p / (MIN_TRIALS * trial) // 2))
        for max_t in range(min(top, 64), 0, -1):  # the longest trials (at most half a final training) that leave MIN_TRIALS
            grace = max(1, max_t // 4)
            trials = asha_trials(search_wall, p, max_t, grace, inp.reduction_factor, trial, epoch)
            if trials >= MIN_TRIALS or max_t <= MIN_EPOCHS:
                break
        if trials < 2:
            return None
        search_s = math.ceil(trials / p) * asha_trial_seconds(max_t, grace, inp.reduction_factor, trials, trial, epoch) + PHASE_S
    else:
        trials, grace = inp.fixed_trials, 1
        max_t = int((search_wall / math.ceil(trials / p) - TRIAL_S) // trial)  # in waves, as the phase is predicted
        if max_t < 1:
            return None
        search_s = math.ceil(trials / p) * (max_t * trial + TRIAL_S) + PHASE_S
    good = (max_t * steps >= MIN_TRIAL_STEPS and (not waves or final_epochs * steps >= MIN_FINAL_STEPS)
            and (not inp.sampled or (trials >= MIN_TRIALS and max_t >= MIN_EPOCHS)))
    return {"geometry": g, "step": step, "epoch": epoch, "trial_epoch": trial, "closing": closing, "max_t": max_t, "grace": grace, "trials": trials, "k": k,
            "folds": folds, "final_epochs": max(final_epochs, 1), "good": good,
            "predicted": {"setup": fixed, "search": search_s, "final": final_s}}


def plan_for_budget(inp: PlanInputs, cost: CostModel, budget_s: float, spent_s: float = 0.0) -> Plan:
    """The plan that fits `budget_s` (ConfigError naming the minimum where even the smallest plan does not), of which
    `spent_s` already went to reading the data and timing this machine (predicted as "prepared")."""
    plan = _for_budget(inp, cost, budget_s - spent_s, spent_s)
    if spent_s:
        p = plan.predicted_s
        plan.budget_s, plan.predicted_s = budget_s, {"prepared": round(spent_s, 1), **p, "total": round(p["total"] + spent_s, 1)}
    return plan


def _for_budget(inp: PlanInputs, cost: CostModel, budget_s: float, spent_s: float) -> Plan:
    found = []  # (final round's steps, inputs, geometry, final choice, its candidate or None: not yet timed) short of the minimum steps
    for width in inp.widths or (inp.base_channels,):
        for side in sides(inp):
            at = replace(inp, base_channels=width)
            g = geometry(at, side)
            step, epoch = epoch_seconds(at, cost, g)
            steps, trial_epoch = math.ceil(g.per_epoch / at.batch_size), None
            for k, folds in _final_choices(at):
                fixed, closing = fixed_seconds(at, cost, g, folds), closing_seconds(at, cost, g, folds)
                final = _final_epochs(at, epoch, fixed, budget_s, k, folds, closing)
                if k and final < 1:
                    continue
                if k and final * steps < MIN_FINAL_STEPS:  # not a good plan whatever its search: the search's depths are
                    found.append((final * steps, at, g, (k, folds), None))  # timed only if it is chosen (minutes on a slow CPU)
                    continue
                trial_epoch = trial_epoch or search_epoch_seconds(at, cost, g)
                c = _candidate(at, g, step, epoch, fixed, budget_s, k, folds, trial_epoch, closing)
                if c is not None and c["good"]:
                    return _plan(at, cost, c, budget_s, f"at {_res(g)} and width {width} the budget gives each trial {c['max_t']} epochs "
                                 f"({c['max_t'] * steps} steps), {c['trials']} trials, and the final round {c['final_epochs']} epochs: the "
                                 f"widest net, then the largest resolution, that holds at least {MIN_TRIAL_STEPS} steps a trial, "
                                 f"{MIN_FINAL_STEPS} a final training and {MIN_TRIALS} trials")
                if c is not None:
                    found.append((c["final_epochs"] * steps, at, g, (k, folds), c))
    for most in sorted({f[0] for f in found}, reverse=True):  # none holds the minimum steps: the most final steps, then trials
        tied = [(at, g, c or _candidate(at, g, *epoch_seconds(at, cost, g), fixed_seconds(at, cost, g, folds), budget_s, k, folds,
                                        search_epoch_seconds(at, cost, g), closing_seconds(at, cost, g, folds)))
                for steps, at, g, (k, folds), c in found if steps == most]
        tied = [t for t in tied if t[2] is not None]
        if tied:
            at, g, c = max(tied, key=lambda t: t[2]["trials"])
            return _plan(at, cost, c, budget_s, f"no resolution gives {MIN_FINAL_STEPS} steps a final training in this budget: "
                         f"{_res(g)} at width {at.base_channels} gives the most ({c['final_epochs']} epochs); a longer --budget "
                         "trains models worth more")
    after = f", after {duration(spent_s)} of reading the data and timing this machine" if spent_s else ""
    raise ConfigError(f"--budget {duration(budget_s + spent_s)} is below the smallest plan's {duration(minimum_seconds(inp, cost) + spent_s)} "
                      f"(2 trials and a final round of one epoch each at the lowest resolution{after}): give at least that")


def minimum_seconds(inp: PlanInputs, cost: CostModel) -> float:
    """The shortest budget any plan fits (to the second): the lowest resolution and narrowest width, 2 trials of one epoch,
    the final round of least evidence for one epoch each."""
    inp = replace(inp, base_channels=min(inp.widths or (inp.base_channels,)))
    g = geometry(inp, sides(inp)[-1])
    step, epoch = epoch_seconds(inp, cost, g)
    k, folds = _final_choices(inp)[-1]
    trial, fixed = search_epoch_seconds(inp, cost, g), fixed_seconds(inp, cost, g, folds)

    def fits(budget: float) -> bool:
        return _candidate(inp, g, step, epoch, fixed, budget, k, folds, trial, closing_seconds(inp, cost, g, folds)) is not None

    lo, hi = 0.0, max(60.0, fixed / SAFETY)
    while not fits(hi) and hi < 1e8:  # (a plan no budget holds is refused by plan_for_budget with this figure)
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    whole = math.ceil(hi)
    return float(whole if fits(whole) else hi)


def _res(g: Geometry) -> str:
    return f"{g.side} px" if g.side else "the original resolution"


def _plan(inp: PlanInputs, cost: CostModel, c: dict, budget_s: float | None, reason: str) -> Plan:
    g = c["geometry"]
    why = [reason]
    if g.side:
        why.append(f"structures {inp.structure_width:.0f} px wide at {max(inp.median_shape)} px become "
                   f"{inp.structure_width * g.side / max(inp.median_shape):.0f} px at {g.side} px: at least {MIN_STRUCTURE_PX}, and within "
                   f"{RF_SHARE:g} of a depth-{inp.depth} U-Net's {receptive_field(inp.depth)}-px receptive field")
    elif len(sides(inp)) == 1:
        why.append(f"structures {inp.structure_width:.1f} px wide would fall below {MIN_STRUCTURE_PX} px at any smaller resolution")
    if g.whole:
        why.append(f"a patch of {CONTEXT} structure widths covers most of the resized image: whole-image training")
    if budget_s:
        why.append(f"every training's epochs are planned: its learning rate decays by a cosine to 1% over them, from {PLAN_LR:g} (Adam) in "
                   "the fixed recipe's trainings and the default U-Net's")
    predicted = dict(c["predicted"])
    predicted["total"] = sum(predicted.values())
    return Plan(inp.dataset, inp.data_key, inp.images, budget_s, inp.parallel, inp.cpus_per_trial, inp.gpus_per_trial, g.side, g.whole,
                g.patch, g.stride, inp.batch_size, 0 if g.whole or g.per_epoch >= EPOCH_PATCH_CAP else g.per_epoch, g.per_epoch, c["max_t"], c["grace"],
                c["trials"], c["k"], c["final_epochs"], c["folds"], inp.depth, inp.base_channels, round(c["step"], 5),
                round(c["epoch"], 3), cost.channels_last(inp.depth, inp.base_channels, g.patch, inp.batch_size),
                {k: round(v, 1) for k, v in predicted.items()}, why, search_epoch_s=round(c.get("trial_epoch", c["epoch"]), 3),
                schedule="cosine" if budget_s else "plateau", closing_s=round(c.get("closing", 0.0), 1), lr=PLAN_LR if budget_s else 0.0)


def plan_defaults(inp: PlanInputs, cost: CostModel, cfg, trials: int, patch: int) -> Plan:
    """No --budget: today's settings as a plan, with their predicted time (nothing changes)."""
    side = cfg.image_side
    scale = side / max(inp.median_shape) if side else 1.0
    h, w = inp.median_shape[0] * scale, inp.median_shape[1] * scale
    stride = max(1, patch // 2)
    per_epoch = cfg.patches_per_epoch or min(grid_count(inp, h, w, patch, stride), EPOCH_PATCH_CAP)
    g = Geometry(side, patch, stride, patch >= max(h, w), per_epoch)
    inp = replace(inp, batch_size=cfg.batch_size)
    step, epoch = epoch_seconds(inp, cost, g)
    p = inp.parallel
    epochs = asha_epochs(cfg.max_epochs, cfg.grace_period, cfg.reduction_factor, trials) if inp.sampled else cfg.max_epochs
    k, folds, final_epochs = cfg.rerank_k, cfg.final_folds, cfg.final_epochs
    waves = math.ceil(cfg.final_trials / p) if k else 0
    closing = closing_seconds(inp, cost, g, folds)
    c = {"geometry": g, "step": step, "epoch": epoch, "max_t": cfg.max_epochs, "grace": cfg.grace_period, "trials": trials, "k": k,
         "folds": folds, "final_epochs": final_epochs, "closing": closing,
         "predicted": {"setup": fixed_seconds(inp, cost, g, folds), "search": math.ceil(trials / p) * (epochs * epoch + TRIAL_S) + PHASE_S,
                       "final": waves * (final_epochs * epoch + TRIAL_S + closing) + PHASE_S if waves else 0.0}}
    plan = _plan(inp, cost, c, None, "no --budget was given: the settings stand as given, timed")
    plan.patches_per_epoch = cfg.patches_per_epoch
    return plan
