"""Which searcher finds the best U-Net for the least compute? The product's Tune searchers and schedulers replayed on
recorded learning curves, scored by regret.

The curve tables (bench/results/curves_<dataset>.csv) hold every epoch's validation Dice and seconds of study runs
(`--space ablation --folds 3`: 30 depth x skip configurations x 3 folds, one table row set per run's --seed: its own
fold partition and trial seeds). With two or more runs a searcher seed searches one run's replicates and its pick is
scored against the other runs' mean (the truth it never saw); `regret_all` scores it against every replicate's mean.
A search with fixed validation draws one recorded fold per search (a real search's trials share one split); each trial
replays its configuration's curve there. Methods, each over --seeds searcher seeds, at every fraction of the exhaustive
grid's compute:
- asha+tpe: Optuna TPE, ASHA grace 2, reduction factor 2; tpe without early stopping; random: Optuna's RandomSampler;
  random+asha; grid: every configuration once, in a random order; the same at half the epochs with re-ranking;
- today: the product before issue 25 (half the epochs, the best 3 re-ranked at the full budget beside the default U-Net);
- noise-aware (search.noise): "(reshuffled)": each trial its own recorded replicate (--validation reshuffle);
  "raceK": search.noise.Intensifier over the run's replicates as folds, up to K a configuration, the default U-Net
  (depth 4, every skip) the first incumbent (--validation race); "default unless better": the pick is the default
  unless it beats the default by more than one standard error of their paired margin (--final-folds, choose_final).

    python bench/search_replay.py [--seeds 50] [--datasets drive,isbi2012] [--smoke]
    python bench/search_replay.py --export drive --tracking-uri sqlite:///runs/curves/mlflow.db --experiment curves-drive [--append]

It writes bench/results/search_replay.json (a run for some datasets keeps the others' entries) and
bench/results/search_replay_<dataset>.png. The last line holds the best
noise-aware method's median regret at a quarter of the grid's compute against random search's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.curves import read_curves, replicate_curves, save_curves, true_scores  # noqa: E402
from analysis.regret import anytime_regret, grid_seconds, summarise  # noqa: E402
from bench.common import RESULTS, write_results  # noqa: E402
from unet_core.skips import run_key  # noqa: E402

FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0)
AT = 0.25  # the compute at which the targets are read
TARGET_RATIO, TARGET_REGRET = 0.5, 0.005
DEFAULT = "asha+tpe g2 r2"  # ASHA + TPE at the search's epochs (search.config: grace_period 2, reduction_factor 2)
TODAY = "today: asha+tpe g2 r2 at half the epochs + re-rank 3 beside the default"  # the product before issue 25: search at half the
# budget, re-rank the best 3 at the full budget on the search's split with the default U-Net beside them, the best there wins
MARGIN_SE = 1.0  # search.noise.choice.MARGIN_SE
# the product's --space arch/full defaults since 2026-12-05 (set from this bench's results): search at --max-epochs (here half the
# recorded budget), the best 2 and the default U-Net on 2 folds at --final-budget, the default unless a finalist beats it
NEW_DEFAULT = "asha+tpe g2 r2 at {half} epochs + re-rank 2 at {full} on 2 folds, default unless better"


def new_default(epochs: int) -> str:
    """NEW_DEFAULT's method name on a table of `epochs` recorded epochs."""
    return NEW_DEFAULT.format(half=max(1, epochs // 2), full=epochs)


@dataclass(frozen=True)
class Method:
    """One way to search: a searcher (by seed) and a scheduler, searching `search_epochs` of the recorded curves.

    Args:
        rerank: > 0: its best that many configurations are then retrained at the full recorded budget (the product's
            re-ranking at --final-budget), on `final_folds` shared folds; `beside_default`: the default U-Net beside them.
        validation: "fixed" (one split per search) or "reshuffle" (each trial its own: --validation reshuffle).
        race: > 0: the searcher runs under search.noise.Intensifier with that many race folds, the default U-Net its first
            incumbent (--validation race).
        margin_se: the default unless better (search.noise.choose_final) on the race's or the final round's folds."""

    searcher: Callable
    scheduler: Callable
    search_epochs: int
    rerank: int = 0
    validation: str = "fixed"
    race: int = 0
    margin_se: float | None = None
    beside_default: bool = False
    final_folds: int = 1


def methods(max_epochs: int, configs: list[dict], folds: int) -> dict[str, Method]:
    """name -> Method, searchers and schedulers built by the product's own factories (search.driver.tuner, search.noise)."""
    import optuna
    from search.config import SearchConfig
    from bench.replay import GridInRandomOrder
    from search.driver.tuner import make_scheduler, make_searcher
    from search.noise import Intensifier
    from search.spaces import SpaceLimits

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    half = max(1, max_epochs // 2)
    base = SearchConfig(space="arch", max_epochs=max_epochs, patch_size=64)
    limits = SpaceLimits(depths=tuple(sorted({c["depth"] for c in configs})), max_patch=64)  # the recorded study's depths

    def tpe(seed):
        return make_searcher(replace(base, seed=seed), limits)

    def rand(seed):
        return make_searcher(replace(base, seed=seed), limits, sampler=optuna.samplers.RandomSampler(seed=seed))

    def grid(seed):
        return GridInRandomOrder(configs, seed)

    def raced(make, race_folds, epochs=max_epochs, first=True):
        return lambda seed: Intensifier(make(seed), folds, min(race_folds, folds), epochs, seed, split_seed=0,
                                        first=default_config(configs) if first else None)

    def asha(grace, rf, epochs=max_epochs):
        return lambda: make_scheduler(replace(base, max_epochs=epochs, grace_period=min(grace, epochs), reduction_factor=rf))

    def none():
        return None

    out = {DEFAULT: Method(tpe, asha(2, 2), max_epochs)}
    out.update({
        "tpe": Method(tpe, none, max_epochs), "random": Method(rand, none, max_epochs), "random+asha g2 r2": Method(rand, asha(2, 2), max_epochs),
        "grid (random order)": Method(grid, none, max_epochs),
        "asha+tpe g2 r2 + re-rank 3": Method(tpe, asha(2, 2), max_epochs, rerank=3),
        # the product's defaults: search at --max-epochs, re-rank the best 3 at --final-budget = 2 x --max-epochs
        f"asha+tpe g2 r2 at {half} epochs": Method(tpe, asha(2, 2, half), half),
        f"asha+tpe g2 r2 at {half} epochs + re-rank 3 at {max_epochs}": Method(tpe, asha(2, 2, half), half, rerank=3),
        f"asha+tpe g1 r2 at {half} epochs + re-rank 3 at {max_epochs}": Method(tpe, asha(1, 2, half), half, rerank=3),
        f"random at {half} epochs + re-rank 3 at {max_epochs}": Method(rand, none, half, rerank=3),
        TODAY: Method(tpe, asha(2, 2, half), half, rerank=3, beside_default=True),
        # noise-aware: reshuffled validation (each trial its own split)
        "random (reshuffled)": Method(rand, none, max_epochs, validation="reshuffle"),
        "asha+tpe g2 r2 (reshuffled)": Method(tpe, asha(2, 2), max_epochs, validation="reshuffle"),
        "grid (reshuffled)": Method(grid, none, max_epochs, validation="reshuffle"),
        f"asha+tpe g2 r2 at {half} epochs (reshuffled) + re-rank 3 at {max_epochs} beside the default": Method(
            tpe, asha(2, 2, half), half, rerank=3, validation="reshuffle", beside_default=True),
        # the final round on more folds, default unless better
        f"asha+tpe g2 r2 at {half} epochs + re-rank 2 at {max_epochs} on 2 folds, default unless better": Method(
            tpe, asha(2, 2, half), half, rerank=2, beside_default=True, final_folds=2, margin_se=MARGIN_SE),
        f"asha+tpe g2 r2 at {half} epochs (reshuffled) + re-rank 2 at {max_epochs} on 2 folds, default unless better": Method(
            tpe, asha(2, 2, half), half, rerank=2, validation="reshuffle", beside_default=True, final_folds=2, margin_se=MARGIN_SE),
        f"asha+tpe g2 r2 at {half} epochs + re-rank 2 at {max_epochs} on 2 folds, default unless better by 2 SE": Method(
            tpe, asha(2, 2, half), half, rerank=2, beside_default=True, final_folds=2, margin_se=2 * MARGIN_SE),
        f"asha+tpe g2 r2 at {half} epochs + re-rank 2 at {max_epochs} on 2 folds beside the default, best mean": Method(
            tpe, asha(2, 2, half), half, rerank=2, beside_default=True, final_folds=2),
        f"asha+tpe g2 r2 at {half} epochs + re-rank 1 at {max_epochs} on 2 folds, default unless better": Method(
            tpe, asha(2, 2, half), half, rerank=1, beside_default=True, final_folds=2, margin_se=MARGIN_SE),
        "the default U-Net alone": Method(lambda seed: GridInRandomOrder([default_config(configs)], seed), none, max_epochs),
    })
    out.update({"race2 without the default first: asha+tpe g2 r2": Method(raced(tpe, 2, first=False), asha(2, 2), max_epochs, race=2),
                "race2 without the default first: random": Method(raced(rand, 2, first=False), none, max_epochs, race=2)})
    for race_folds in (2, 3):  # racing on folds (the default U-Net the first incumbent)
        out.update({
            f"race{race_folds}: asha+tpe g2 r2": Method(raced(tpe, race_folds), asha(2, 2), max_epochs, race=race_folds),
            f"race{race_folds}: random": Method(raced(rand, race_folds), none, max_epochs, race=race_folds),
            f"race{race_folds}: grid": Method(raced(grid, race_folds), none, max_epochs, race=race_folds),
            f"race{race_folds}: asha+tpe g2 r2, default unless better": Method(raced(tpe, race_folds), asha(2, 2), max_epochs, race=race_folds, margin_se=MARGIN_SE),
            f"race{race_folds}: grid, default unless better": Method(raced(grid, race_folds), none, max_epochs, race=race_folds, margin_se=MARGIN_SE),
        })
    return out


def default_config(configs: list[dict]) -> dict:
    """The default U-Net among the recorded configurations: the deepest, every skip on (search.driver.final)."""
    depth = max(c["depth"] for c in configs)
    return {"depth": depth, "skips": "1" * depth}


def worlds(table: pd.DataFrame) -> list[tuple[dict, pd.Series]]:
    """What a searcher seed searches and what it is scored against. With two or more recorded runs (--seed values: each
    its own fold partition and trial seeds) a search sees one run's replicates and its pick is scored on the other runs'
    mean (seed s: run s mod runs), so a method that sees more replicates cannot also be scoring itself; with one run,
    that run both ways (truth = the mean over its folds, as before 2026-12-03)."""
    runs = sorted(table.seed.unique())
    if len(runs) < 2:
        return [(replicate_curves(table), true_scores(table))]
    return [(replicate_curves(table[table.seed == r]), true_scores(table[table.seed != r])) for r in runs]


def replay_dataset(table: pd.DataFrame, seeds: int, only: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Every method x seed replayed on one dataset's curve table: (regret rows, facts about the table). `regret` is against
    the held-out runs' truth (worlds); `regret_all` against every replicate's mean (the pick scored on data it saw)."""
    from bench.replay import FinalRound, race_pick, replay_search, slots

    truth = true_scores(table)
    world = worlds(table)
    max_epochs = int(table.epoch.max())
    world_s = [grid_seconds(curves) for curves, _ in world]  # each run's own grid: runs recorded under other machine loads
    configs = [{"depth": int(k.split("-")[0][1:]), "skips": k.split("-s")[1]} for k in sorted(truth.index)]
    default = default_config(configs)
    default_key = run_key(default['depth'], default['skips'])
    rows, trials, timing = [], {}, {}
    for name, m in methods(max_epochs, configs, min(slots(c) for c, _ in world)).items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        for seed in range(seeds):
            curves, held_truth = world[seed % len(world)]
            grid_s = world_s[seed % len(world)]
            cost = (m.rerank + m.beside_default) * m.final_folds * grid_s / len(configs)
            declare = race_pick(default, m.margin_se) if m.race else None
            trace = replay_search(curves, m.searcher(seed), m.scheduler(), seed=seed, budget_s=grid_s * max(FRACTIONS), max_epochs=m.search_epochs,
                                  validation=m.validation, declare=declare)
            picks = FinalRound(trace, curves, m.rerank, max_epochs, grid_s / len(configs), seed, default_key if m.beside_default else None,
                               m.final_folds, m.margin_se) if m.rerank else trace
            held = anytime_regret(picks, held_truth, grid_s, FRACTIONS)
            seen = anytime_regret(picks, truth, grid_s, FRACTIONS)
            worse = [r > float(held_truth.max() - held_truth[default_key]) + 1e-9 for r in held]
            for f, r, a, w in zip(FRACTIONS, held, seen, worse):
                rows.append({"method": name, "seed": seed, "fraction": f, "regret": r, "regret_all": a, "worse_than_default": w})
            trials.setdefault(name, []).append(trace.trials_within(AT * grid_s - cost))
        timing[name] = round((time.perf_counter() - start) / seeds, 3)
    best_reps = table.groupby(["config", "seed", "fold"]).val_dice.max()
    sd = float(best_reps.groupby("config").std().median())
    facts = {"configurations": len(configs), "replicates_per_config": int(best_reps.groupby("config").size().min()), "epochs": max_epochs,
             "grid_core_s": round(grid_seconds(replicate_curves(table)), 1), "grid_core_s_per_run": [round(v, 1) for v in world_s], "true_best": truth.index[0], "true_best_dice": round(float(truth.iloc[0]), 4),
             "runner_up_gap": round(float(truth.iloc[0] - truth.iloc[1]), 4), "median_replicate_sd": round(sd, 4),
             "within_0.005_of_best": int((truth >= truth.iloc[0] - 0.005).sum()),
             "default_unet": default_key, "default_unet_regret": round(float(truth.iloc[0] - truth[default_key]), 4),
             "runs": len(world), "truth": "the held-out runs' mean" if len(world) > 1 else "the mean over the run's folds",
             "truth_all": {k: round(float(v), 4) for k, v in truth.items()},
             "median_trials_started_at_quarter": {k: float(np.median(v)) for k, v in trials.items()}, "replay_s_per_search": timing}
    return pd.DataFrame(rows), facts


def paired(rows: pd.DataFrame, a: str, b: str, fraction: float = AT, draws: int = 2000) -> dict:
    """Method a against b at one compute fraction, paired by searcher seed (the same seed draws the same validation fold
    for every method): wins / ties / losses of a, and the mean regret difference a - b with a bootstrap 95% interval."""
    at = rows[np.isclose(rows.fraction, fraction)].pivot(index="seed", columns="method", values="regret")
    diff = (at[a] - at[b]).to_numpy()
    boot = np.random.default_rng(0).choice(diff, size=(draws, len(diff))).mean(axis=1)
    return {"a": a, "b": b, "wins": int((diff < -1e-12).sum()), "ties": int((np.abs(diff) <= 1e-12).sum()), "losses": int((diff > 1e-12).sum()),
            "mean_diff": round(float(diff.mean()), 4), "ci95": [round(float(np.quantile(boot, 0.025)), 4), round(float(np.quantile(boot, 0.975)), 4)]}


def verdict(summary: pd.DataFrame) -> dict:
    """The targets at AT of the grid's compute: the default's median regret against random search's, and its size."""
    at = summary[np.isclose(summary.fraction, AT)].set_index("method")
    default, rand = float(at.loc[DEFAULT, "median"]), float(at.loc["random", "median"])
    asha = at[at.index.str.startswith("asha+tpe")]
    best = asha.sort_values(["median", "mean"]).index[0]
    return {"default_median": round(default, 4), "random_median": round(rand, 4),
            "ratio_default_to_random": round(default / rand, 3) if rand > 0 else (0.0 if default == 0 else float("inf")),
            "target_ratio": TARGET_RATIO, "ratio_met": bool(default <= TARGET_RATIO * rand), "target_regret": TARGET_REGRET,
            "regret_met": bool(default <= TARGET_REGRET), "best_asha_variant": best, "best_asha_variant_median": round(float(asha.loc[best, "median"]), 4),
            "best_method": at.sort_values(["median", "mean"]).index[0]}


def is_noise_aware(method: str) -> bool:
    """Whether a method scores configurations beyond one split: reshuffled, raced or with a final round on several folds."""
    return any(t in method for t in ("(reshuffled)", "race", "folds"))


def noise_verdict(summary: pd.DataFrame, epochs: int) -> dict:
    """Issue 25's targets: at AT of the grid's compute the best noise-aware method's median regret against random
    search's (<= TARGET_RATIO); the grid run the noise-aware way against random search (regret below it, at AT and once
    the grid is done); and how often the pick is worse than the default U-Net, today's product beside the new default (<= 5%)."""
    at = summary[np.isclose(summary.fraction, AT)].set_index("method")
    full = summary[np.isclose(summary.fraction, 1.0)].set_index("method")
    rand = float(at.loc["random", "median"])
    aware = at[[is_noise_aware(m) for m in at.index]].sort_values(["median", "mean"])
    best = aware.index[0]
    grids = [m for m in at.index if "grid" in m and is_noise_aware(m)]
    grid = min(grids, key=lambda m: (full.loc[m, "median"], full.loc[m, "mean"]))
    ratio = float(at.loc[best, "median"]) / rand if rand > 0 else float("inf")
    new = new_default(epochs)
    worse = {m: round(float(at.loc[m, "worse_than_default"]), 3) for m in (TODAY, new, "the default U-Net alone")}
    return {"best_noise_aware": best, "best_noise_aware_median": round(float(at.loc[best, "median"]), 4), "random_median": round(rand, 4),
            "ratio_best_noise_aware_to_random": round(ratio, 3), "target_ratio": TARGET_RATIO, "ratio_met": bool(ratio <= TARGET_RATIO),
            "noise_aware_grid": grid, "noise_aware_grid_median_at_1": round(float(full.loc[grid, "median"]), 4),
            "plain_grid_median_at_1": round(float(full.loc["grid (random order)", "median"]), 4),
            "random_median_at_1": round(float(full.loc["random", "median"]), 4),
            "grid_below_random_at_1": bool(full.loc[grid, "median"] < full.loc["random", "median"]),
            "noise_aware_grid_median_at_quarter": round(float(at.loc[grid, "median"]), 4),
            "share_worse_than_default": worse, "target_share_worse": 0.05,
            "share_worse_met": {m: bool(v <= 0.05) for m, v in worse.items()},
            "new_default": new, "new_default_median": round(float(at.loc[new, "median"]), 4), "new_default_mean": round(float(at.loc[new, "mean"]), 4),
            "today_median": round(float(at.loc[TODAY, "median"]), 4), "today_mean": round(float(at.loc[TODAY, "mean"]), 4),
            "default_unet_alone_median": round(float(at.loc["the default U-Net alone", "median"]), 4)}


def plot(summaries: dict[str, pd.DataFrame], path: Path, epochs: int) -> None:
    """Median (line) and 90th-percentile (dashed) regret against the fraction of the grid's compute, one panel a dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.5 * len(summaries), 4.8), squeeze=False)
    for ax, (dataset, s) in zip(axes[0], summaries.items()):
        shown = list(dict.fromkeys([TODAY, new_default(epochs), "the default U-Net alone", DEFAULT, "random", "grid (random order)", "asha+tpe g2 r2 (reshuffled)", "grid (reshuffled)",
                                    "race2: asha+tpe g2 r2", "race2: grid", "race2 without the default first: random"]))
        top = 0.0
        for i, m in enumerate(shown):
            g = s[s.method == m]
            if g.empty:
                continue
            color = f"C{i}"
            ax.plot(g.fraction, g["median"], "-o", color=color, ms=3, label=f"{m}")
            ax.plot(g.fraction, g["p90"], "--", color=color, lw=1)
            top = max(top, float(g[g.fraction >= 0.15]["p90"].max()))
        ax.axvline(AT, color="grey", lw=0.8)
        ax.axhline(TARGET_REGRET, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0, 1.3 * top)  # below 0.15 of the grid some searches (re-ranking ones first) have returned nothing yet: off the top
        ax.set_xscale("log")
        ax.set_xlabel("compute spent / exhaustive grid's compute")
        ax.set_ylabel("regret (true best Dice - true Dice of the pick)")
        ax.set_title(f"{dataset}: median (solid) and 90th percentile (dashed) regret")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def export(dataset: str, uri: str, experiment: str, append: bool = False) -> Path:
    """Write bench/results/curves_<dataset>.csv from a study experiment in an MLflow store; with `append`, add its
    replicates (another --seed: other seeds and another fold partition) to the table already there."""
    from mlflow import MlflowClient

    from analysis.curves import curve_table

    table = curve_table(MlflowClient(uri), experiment, dataset)
    path = RESULTS / f"curves_{dataset}.csv"
    if append and path.is_file():
        old = read_curves(path)
        if set(old.seed) & set(table.seed):
            raise SystemExit(f"error: {experiment} has seeds {sorted(set(table.seed))} that {path} already holds")
        table = pd.concat([old, table], ignore_index=True)
    return save_curves(table, path)


def smoke_table() -> pd.DataFrame:
    """A small planted curve table (depths 1-2, 2 replicates, 4 epochs) for --smoke: deeper with skips learns slower but ends best."""
    rng = np.random.default_rng(0)
    rows = []
    for depth in (1, 2):
        for bits in range(2**depth):
            skips = format(bits, f"0{depth}b")
            final = 0.5 + 0.1 * depth + 0.05 * skips.count("1")
            for fold in range(2):
                for epoch in range(1, 5):
                    dice = final * (1 - np.exp(-epoch / depth)) + rng.normal(0, 0.01)
                    rows.append({"config": run_key(depth, skips), "depth": depth, "skips": skips, "seed": 0, "fold": fold, "epoch": epoch,
                                 "val_dice": dice, "seconds": 1.0 + depth})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=50, help="searcher seeds per method (default 50)")
    p.add_argument("--datasets", default="drive,isbi2012", help="curve tables to replay (bench/results/curves_<dataset>.csv)")
    p.add_argument("--export", metavar="DATASET", help="write DATASET's curve table from --tracking-uri/--experiment, then exit")
    p.add_argument("--tracking-uri", default=f"sqlite:///{REPO / 'runs' / 'curves' / 'mlflow.db'}")
    p.add_argument("--experiment", default=None, help="the study experiment to export (default curves-DATASET)")
    p.add_argument("--append", action="store_true", help="with --export: add the experiment's replicates to the table already there")
    p.add_argument("--smoke", action="store_true", help="seconds: a planted table, 3 seeds, nothing written")
    a = p.parse_args(argv)
    if a.export:
        print(f"wrote {export(a.export, a.tracking_uri, a.experiment or f'curves-{a.export}', a.append)}")
        return 0
    if a.smoke:
        tables = {"planted": smoke_table()}
        a.seeds = min(a.seeds, 3)
    else:
        tables = {}
        for dataset in a.datasets.split(","):
            path = RESULTS / f"curves_{dataset}.csv"
            if not path.is_file():
                print(f"error: no curve table {path} (make one with --export {dataset})", file=sys.stderr)
                return 2
            tables[dataset] = read_curves(path)
    start = time.perf_counter()
    figures, summaries = {"seeds": a.seeds, "fractions": list(FRACTIONS), "at": AT, "default": DEFAULT, "datasets": {}}, {}
    for dataset, table in tables.items():
        rows, facts = replay_dataset(table, a.seeds)
        extra = rows.groupby(["method", "fraction"]).agg(worse_than_default=("worse_than_default", "mean"), median_regret_all=("regret_all", "median"))
        summary = summarise(rows).merge(extra.reset_index(), on=["method", "fraction"])
        summaries[dataset] = summary
        half = max(1, facts["epochs"] // 2)
        comparisons = [paired(rows, DEFAULT, "random"), paired(rows, DEFAULT, "grid (random order)"),
                       paired(rows, f"asha+tpe g2 r2 at {half} epochs + re-rank 3 at {facts['epochs']}", f"asha+tpe g2 r2 at {half} epochs"),
                       paired(rows, f"asha+tpe g2 r2 at {half} epochs + re-rank 3 at {facts['epochs']}", f"asha+tpe g2 r2 at {half} epochs", fraction=1.0)]
        new = new_default(facts["epochs"])
        comparisons += [paired(rows, new, TODAY), paired(rows, new, "random"), paired(rows, new, TODAY, fraction=1.0)]
        figures["datasets"][dataset] = {**facts, "verdict": verdict(summary), "noise_verdict": noise_verdict(summary, facts["epochs"]), "paired": comparisons,
                                        "summary": summary.round(4).to_dict(orient="records")}
        v = figures["datasets"][dataset]["verdict"]
        print(f"{dataset}: at {AT} of the grid's compute, median regret {DEFAULT} {v['default_median']:.4f}, random {v['random_median']:.4f}, "
              f"best ASHA variant {v['best_asha_variant']} {v['best_asha_variant_median']:.4f}; best method {v['best_method']}")
    figures["wall_s"] = round(time.perf_counter() - start, 1)
    if not a.smoke:  # one file, one entry per dataset: a rerun for one dataset keeps the others' figures
        path = RESULTS / "search_replay.json"
        earlier = json.loads(path.read_text()) if path.exists() else {}
        if earlier.get("seeds") == a.seeds and earlier.get("default") == DEFAULT:
            figures["datasets"] = {**{d: f for d, f in earlier.get("datasets", {}).items() if "noise_verdict" in f}, **figures["datasets"]}
        write_results("search_replay", figures)
        for dataset, summary in summaries.items():
            plot({dataset: summary}, RESULTS / f"search_replay_{dataset}.png", figures["datasets"][dataset]["epochs"])
    for d, f in figures["datasets"].items():
        n = f["noise_verdict"]
        print(f"{d}: best noise-aware {n['best_noise_aware']} {n['best_noise_aware_median']:.4f} vs random {n['random_median']:.4f}; noise-aware grid "
              f"{n['noise_aware_grid']} {n['noise_aware_grid_median_at_1']:.4f} at the whole grid vs random {n['random_median_at_1']:.4f}; "
              f"worse than the default U-Net: {n['share_worse_than_default']}")
    ratios = ", ".join(f"{d} {f['noise_verdict']['ratio_best_noise_aware_to_random']}" for d, f in figures["datasets"].items())
    print(f"best noise-aware / random median regret at {AT} of the grid's compute: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
