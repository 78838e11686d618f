"""The report's section on a supernet search: every skip pattern's weight-sharing estimate beside the stand-alone
results that exist for it (a study's trials, the supernet search's own stand-alone trainings), each labelled."""
from __future__ import annotations

import numpy as np
import pandas as pd

from unet_core.skips import run_key

from .supernet import rank_agreement


def estimates_table(estimates: pd.DataFrame, study: pd.DataFrame | None, final: pd.DataFrame | None) -> pd.DataFrame:
    """Per (depth, skips): the supernet estimate (mean over the searches that estimated it) and its rank, the study's
    stand-alone mean Dice and replicate count where trials exist, the supernet search's stand-alone Dice at its final
    budget where it trained the pattern; the best estimate per depth marked."""
    table = estimates.groupby(["depth", "skips"]).estimate_dice.mean().rename("estimate").reset_index()
    table["estimate_rank"] = table.estimate.rank(ascending=False, method="min").astype(int)
    table["best_estimate_at_depth"] = table.estimate == table.groupby("depth").estimate.transform("max")
    for name, frame, cols in (("study", study, ("study_dice", "study_replicates")), ("final", final, ("final_budget_dice", "final_budget_runs"))):
        if frame is not None and not frame.empty:
            agg = frame.groupby(["depth", "skips"]).dice.agg(["mean", "size"]).rename(columns=dict(zip(("mean", "size"), cols))).reset_index()
            table = table.merge(agg, on=["depth", "skips"], how="left")
        else:
            table[cols[0]], table[cols[1]] = np.nan, np.nan
    for col in ("study_replicates", "final_budget_runs"):
        table[col] = table[col].astype("Int64")
    return table.sort_values(["depth", "skips"]).reset_index(drop=True)


def supernet_section(name: str, estimates: pd.DataFrame, study: pd.DataFrame | None, final: pd.DataFrame | None, md_table) -> list[str]:
    """Markdown: the estimates table and, where a study trained the same patterns, how well the estimates rank them."""
    table = estimates_table(estimates, study, final)
    lines = [f"### {name}: supernet estimates (weight-sharing, not stand-alone training)", "",
             f"{len(table)} skip patterns estimated by {estimates.search.nunique()} supernet search(es). `estimate` is a pattern's "
             "validation Dice with the supernet's shared weights (batch norm recalibrated for the pattern): an estimate, not a trained "
             "configuration's score. `study_dice` is the stand-alone mean over the study's trials where they exist (`study_replicates` "
             "seeds x folds); `final_budget_dice` is the supernet search's own stand-alone training of its best estimates at its "
             "final budget. Empty cells: not trained stand-alone.", ""]
    shown = table.assign(best_estimate_at_depth=np.where(table.best_estimate_at_depth, "**best**", ""))
    lines += [md_table(shown), ""]
    both = table.dropna(subset=["study_dice"])
    if len(both) >= 3:
        agreement = rank_agreement(pd.Series({run_key(r.depth, r.skips): r.estimate for r in both.itertuples()}),
                                   pd.Series({run_key(r.depth, r.skips): r.study_dice for r in both.itertuples()}))
        lines += [f"Estimates against the study's stand-alone means over {agreement['configs']} patterns: Spearman "
                  f"{agreement['spearman']:.3f}, Kendall tau {agreement['kendall']:.3f} (within depth: {agreement['spearman_within_depth']:.3f} "
                  f"and {agreement['kendall_within_depth']:.3f}).", ""]
    else:
        lines += ["No study of these patterns among the analysed experiments: the estimates cannot be checked against stand-alone "
                  "training here (pass the study's experiment too).", ""]
    return lines
