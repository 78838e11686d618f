"""The report's "How far this ranking can be trusted": the predicted agreement of a rerun, the configurations the best
cannot be told from, and whether the ranking had settled by the end of training."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import plots
from .markdown import config_names, md_table
from .reliability import (SETTLED_BY, folds_draw_their_own, indistinguishable_from_best, ranking_settling, rerun_reliability, seed_agreement,
                          settled_verdict, split_half_reliability)


def pooled_trust(pooled: str) -> tuple[list[str], list[str], dict]:
    """(Markdown, Answer lines, figures) where a (depth, skips) cell pools trials that differ in `pooled`: no reliability."""
    md = ["### How far this ranking can be trusted", "", f"Not measured: these trials differ in {pooled} besides depth and skips, "
          "so the trials of one (depth, skips) cell are different configurations, not replicates (seeds or folds) of one. "
          "Run the study (`--space ablation --folds 3`) for a replicated ranking and its reliability.", ""]
    answer = [f"Each (depth, skips) cell below pools trials that differ in {pooled}: its mean is not a replicated score of one configuration."]
    return md, answer, {"reliability": float("nan"), "settled": None}


def reliability_section(name: str, df: pd.DataFrame, curves: pd.DataFrame | None, slug: str, out: Path, pics: list[Path]) -> tuple[list[str], list[str], dict]:
    """(Markdown, Answer lines, figures) on how far the dataset's configuration ranking can be trusted."""
    half = split_half_reliability(df)
    best_all = indistinguishable_from_best(df)
    best_depth = indistinguishable_from_best(df, per_depth=True)
    tied = best_all[best_all.indistinguishable].sort_values("dice", ascending=False)
    rerun = rerun_reliability(df)
    md, answer_lines = reliability_lines(df, half, rerun)
    md += [f"Configurations the best cannot be told from (paired over replicates, 95% interval of best - configuration includes 0): "
           f"{len(tied)} of {len(best_all)}.", "", md_table(tied[["depth", "skips", "dice", "gap_to_best", "gap_low", "gap_high", "replicates", "best"]]), ""]
    per_depth = [f"depth {d}: {config_names(g[g.indistinguishable].sort_values('dice', ascending=False))}" for d, g in best_depth.groupby("group")]
    md += ["Per depth, the patterns that cannot be told from that depth's best: " + "; ".join(per_depth) + ".", ""]
    answer_lines.append(f"{len(tied)} of {len(best_all)} configurations cannot be told from the best ({config_names(tied.head(8))}"
                        + (", ..." if len(tied) > 8 else "") + ").")
    more_md, more_answer, verdict = settling_lines(name, curves, slug, out, pics)
    md, answer_lines = md + more_md, answer_lines + more_answer
    predicted = rerun["reliability"] if rerun["seeds"] >= 2 else half["reliability"]
    return md, answer_lines, {"reliability": predicted, "within_seed_reliability": half["reliability"], "settled": verdict}


def reliability_lines(df: pd.DataFrame, half: dict, rerun: dict) -> tuple[list[str], list[str]]:
    """(Markdown, Answer lines) on the predicted agreement of a rerun: over whole seeds where there are several, else over
    the folds (a rerun's prediction where each fold drew its own weights, an upper bound where they shared them)."""
    md = ["### How far this ranking can be trusted", ""]
    answer_lines = []
    if half["splits"]:
        md += [f"Split-half reliability of the ranking of configurations: the {half['replicates']} replicates (seed x fold) split in "
               f"halves at random ({half['splits']} splits), the halves' rankings agree at Spearman {half['half_spearman']:.3f} on average; "
               f"stepped up to the whole study (Spearman-Brown) the reliability is **{half['reliability']:.3f}**.", ""]
    if rerun["seeds"] >= 2:
        md += [f"Predicted agreement of a rerun (another --seed): the same split-half with whole seeds as the halves ({rerun['seeds']} seeds), "
               f"so the initial weights and the data order differ between the halves as they do between reruns: **{rerun['reliability']:.3f}**. "
               "This is the figure to expect when the study is run again.", ""]
        check = seed_agreement(df)
        own = "each fold its own draw" if folds_draw_their_own(df) else "folds sharing each seed's draw: an upper bound"
        md += ["Checked on these seeds: each seed alone predicted a rerun at " + ", ".join(f"{v:.3f} (seed {k})" for k, v in check["predicted_by_each_seed"].items())
               + f" (its split-half over folds, {own}); the seeds' rankings agree at Spearman "
               + ", ".join(f"{v:.3f} ({k})" for k, v in check["observed"].items()) + ".", ""]
        answer_lines.append(f"A rerun is predicted to agree with this ranking at {rerun['reliability']:.2f} (split-half over {rerun['seeds']} seeds; "
                            f"over replicates {half['reliability']:.2f})" + ("; rankings this noisy should be read as groups, not as an order."
                                                                            if rerun["reliability"] < 0.8 else "."))
    elif half["splits"] and folds_draw_their_own(df):
        md += ["**One seed, each fold its own draw**: a configuration's folds trained from initial weights and data orders of their own, "
               "so the halves of the folds differ in the draw and in the validation images as two runs of the study do (they share the "
               f"fold partition). {half['reliability']:.3f} is the predicted agreement of a rerun.", ""]
        answer_lines.append(f"A rerun is predicted to agree with this ranking at {half['reliability']:.2f} (split-half over {half['replicates']} folds, "
                            "each its own draw)" + ("; rankings this noisy should be read as groups, not as an order." if half["reliability"] < 0.8 else "."))
    elif half["splits"]:
        md += ["**One seed**: every fold shares each configuration's initial weights and the fold partition, so halves of the folds agree "
               f"better than two runs of the study do (DRIVE: 0.79 within one seed, 0.56 between two runs). {half['reliability']:.3f} is an upper "
               "bound on how well a rerun will agree; `--repeats 2` gives the predicted rerun agreement.", ""]
        answer_lines.append(f"The ranking's split-half reliability within one seed is {half['reliability']:.2f}, an upper bound on a rerun's "
                            "agreement (one seed: run --repeats 2 to predict it)" + ("; rankings this noisy should be read as groups, not as an order."
                                                                                     if half["reliability"] < 0.8 else "."))
    else:
        md += [f"One replicate per configuration: no split-half reliability can be computed (run --repeats 2 or --folds 3).", ""]
        answer_lines.append("With one replicate per configuration the ranking's reliability is unknown.")
    return md, answer_lines


def settling_lines(name: str, curves: pd.DataFrame | None, slug: str, out: Path, pics: list[Path]) -> tuple[list[str], list[str], dict | None]:
    """(Markdown, Answer lines, verdict) on whether the ranking had settled by the end of training (None without curves)."""
    md, answer_lines = [], []
    verdict = None
    if curves is not None and len(curves):
        settling = ranking_settling(curves)
        verdict = settled_verdict(settling)
        md += ["Has the ranking settled? The ranking of the configurations by the best validation Dice reached by each epoch "
               "(mean over replicates), against the ranking at the last epoch:", "",
               md_table(settling), ""]
        pics.append(plots.settling({name: settling}, out / f"{slug}_settling.png", f"{name}: does the ranking settle?"))
        md += [f"![ranking settling]({slug}_settling.png)", ""]
        if verdict["settled"]:
            answer_lines.append(f"The ranking had settled: from epoch {verdict['settled_from_epoch']} of {verdict['epochs']} on it agrees with the final "
                                f"one at Spearman >= {verdict['threshold']}.")
        else:
            answer_lines.append(f"**The ranking was still moving at the end of training**: from {int(100 * SETTLED_BY)}% of the budget "
                                f"(epoch {verdict['check_epoch']} of {verdict['epochs']}) on, its agreement with the final ranking fell to "
                                f"Spearman {verdict['lowest_after_check']:.2f} (epoch {verdict['lowest_epoch']}), below {verdict['threshold']}; "
                                "a longer budget may order these configurations differently.")
    return md, answer_lines, verdict
