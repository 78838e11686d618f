"""`python -m analysis.report --experiment NAME [--experiment NAME ...] --out DIR`: the depth / skip trade-off report.

Reads the searches' trial runs through the MLflow client, writes report.md and report.html with PNG
pictures to DIR, and attaches them to each search's parent run.
"""
from __future__ import annotations

import argparse
import html
import shutil
import sys
import tempfile
from pathlib import Path

import markdown
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from search.tracking.schema import BATCH_SAMPLING_SPACES, RECIPE_SAMPLING_SPACES, default_tracking_uri

from . import plots
from .importance import dimensions, param_importance
from .markdown import md_table
from .load import AnalysisError, load_curves, load_estimates, load_runs, load_searches, open_store
from .reliability import disattenuate
from .supernet_report import supernet_section
from .trust import pooled_trust, reliability_section
from .study import (bit_effects, cross_dataset, level_effects, parameter_importance, pareto_front, skips_and_depth_curves,
                    study_table, tradeoff_regression)

SEARCHED = ["depth", "n_skips", "patch_size", "patch_stride", "saliency_percentile", "saliency_iterations", "loss", "lr", "batch_size",
            "upsample", "base_channels", "augment", "block", "padding"]


def _interval(e) -> str:
    return f"{e.effect:+.4f} [{e.ci_low:+.4f}, {e.ci_high:+.4f}]"


def answer(dataset: str, effects: pd.DataFrame, reg: dict, table: pd.DataFrame) -> list[str]:
    """The trade-off question answered in plain words, with the numbers."""
    lines = []
    pooled = effects[effects.depth == "all"]
    sig = pooled[pooled.significant]
    if len(sig):
        parts = [f"{r.bit} {_interval(r)}" for r in sig.itertuples()]
        lines.append(f"On {dataset}, these skip connections change foreground Dice significantly (all depths pooled, 95% bootstrap interval): " + "; ".join(parts) + ".")
    nonsig = pooled[~pooled.significant]
    if len(nonsig):
        lines.append(f"Not significant on {dataset}: " + ", ".join(f"{r.bit} ({r.effect:+.4f})" for r in nonsig.itertuples()) + ".")
    inter = reg["interaction"]
    if inter is not None:
        verdict = "is" if reg["significant"] else "is not"
        direction = "less" if inter["coef"] < 0 else "more"
        lines.append(
            f"Depth x skips trade-off: the interaction {verdict} significant (coefficient {inter['coef']:+.4f} Dice per active skip per extra level, "
            f"95% CI [{inter['ci_low']:+.4f}, {inter['ci_high']:+.4f}], p = {inter['p']:.3g})"
            + (f": each active skip is worth {direction} as the U-Net gets deeper." if reg["significant"] else ".")
        )
    best = table.loc[table.dice.idxmax()]
    full = table[table.all_skips]
    if len(full):
        f = full.loc[full.dice.idxmax()]
        lines.append(f"Best configuration: depth {best.depth}, skips {best.skips} (Dice {best.dice:.4f}); best all-skips U-Net: depth {f.depth} (Dice {f.dice:.4f}).")
    return lines


def dataset_section(name: str, df: pd.DataFrame, out: Path, pics: list[Path], curves: pd.DataFrame | None = None) -> tuple[list[str], dict]:
    """Markdown for one dataset (pictures written under `out`) and its reliability figures."""
    slug = "".join(c if c.isalnum() else "_" for c in name)
    budgets = [c for c in ("epochs", "patches_per_epoch") if c in df and df[c].nunique(dropna=True) > 1]  # searches of different budgets
    mixed = other_dimensions(df) + budgets
    if mixed:  # an Optuna search: a (depth, skips) cell holds different configurations, not replicates of one
        trust_md, trust_answer, trust = pooled_trust(", ".join(mixed))
    else:
        trust_md, trust_answer, trust = reliability_section(name, df, curves, slug, out, pics)
    table = study_table(df)
    effects = bit_effects(df)
    reg = tradeoff_regression(df) if df.depth.nunique() > 1 or df.n_skips.nunique() > 1 else {"interaction": None, "significant": False, "bits": {}}
    by_skips, by_depth = skips_and_depth_curves(df)
    folds = int(df["folds"].max()) if "folds" in df and df["folds"].notna().any() else 1
    where = (f"the held-out images of {folds}-fold cross-validation over the training images" if folds > 1 else "the validation split")
    count = (f"trials of searches that also varied {', '.join(mixed)}" if mixed
             else f"trials; {int(df.seed.nunique())} seed(s) x {folds} fold(s) per configuration")
    md = [f"## {name}", "", f"{len(df)} finished {count}; metrics are foreground-class figures on {where}, inside the valid mask.", ""]
    md += ["### Answer", "", *[f"- {line}" for line in [*answer(name, effects, reg, table), *trust_answer]], ""]
    md += trust_md
    shown = table.assign(best=np.where(table.best_at_depth, "**best**", ""), all_skips=np.where(table.all_skips, "yes", ""))
    count_col = "trials" if mixed else "seeds"
    shown = shown.rename(columns={"seeds": count_col})
    counted = ("`trials` counts the trials pooled in the cell (they differ in other dimensions)" if mixed
               else "`seeds` counts seed x fold replicates")
    cols = ["depth", "skips", "loss", "dice", "dice_std", count_col, "accuracy", "dice_with_background", "train_time_s", "num_params", "best", "all_skips"]
    md += ["### Every skip pattern per depth", "", f"`dice` is the foreground Dice (mean over the cell's trials, `dice_std` their spread; {counted}); "
           "`dice_with_background` averages in the background class and is shown only for comparison with published ablations.", "",
           md_table(shown[cols]), ""]
    md += ["### Effect of each skip bit", "", "Paired differences over patterns that differ only in that bit (same seed, same fold): mean and 95% interval over seeds x folds (bootstrap; Student t below 10 pairs).", "",
           md_table(effects), ""]
    if reg["interaction"] is not None:
        fit = reg["fit"]
        coefs = pd.DataFrame([{"term": n, **fit.row(n)} for n in fit.names])
        md += ["### Regression: dice ~ depth + skip bits + depth x active skips", "", f"R² = {fit.r2:.3f}, {fit.dof} residual degrees of freedom.", "",
               md_table(coefs), ""]
    md += ["### Dice against active skips and depth", "", md_table(by_skips), "", md_table(by_depth), ""]
    pics.append(plots.heatmap(table, out / f"{slug}_heatmap.png", f"{name}: foreground Dice by depth and skip pattern"))
    pics.append(plots.effect_bars(effects, out / f"{slug}_bit_effects.png", f"{name}: effect of each skip bit"))
    md += [f"![heat map]({slug}_heatmap.png)", "", f"![bit effects]({slug}_bit_effects.png)", ""]
    varying = other_dimensions(df)
    md += ["### Other searched dimensions", ""]
    if varying:
        md += importance_section(name, df, slug, out, pics)
        md += ["Share of Dice variance each dimension explains on its own (eta squared, no interactions):", "",
               md_table(parameter_importance(df, ["depth", "n_skips", *varying])), ""]
        for col in [c for c in ("saliency_percentile", "loss", "patch_size", "patch_stride", "block", "padding", "upsample") if c in varying]:
            md += [f"Effect of `{col}`:", "", md_table(level_effects(df, col)), ""]
    else:
        md += ["Only depth and skips varied in these searches (an ablation): everything else was fixed.", ""]
    for cost in ("train_time_s", "num_params"):
        front = pareto_front(df, cost)
        pics.append(plots.pareto(df, front, cost, out / f"{slug}_pareto_{cost}.png", f"{name}: Dice against {cost.replace('_', ' ')}"))
        md += [f"Pareto front, Dice against {cost}:", "", md_table(front[["run_name", "depth", "skips", "dice", cost]]), "",
               f"![pareto]({slug}_pareto_{cost}.png)", ""]
    return md, trust


def other_dimensions(df: pd.DataFrame) -> list[str]:
    """The searched dimensions besides depth and skips that vary between these trials (none in an ablation)."""
    return [c for c in SEARCHED if c in df and df[c].nunique(dropna=True) > 1 and c not in ("depth", "n_skips")]


def importance_section(name: str, df: pd.DataFrame, slug: str, out: Path, pics: list[Path]) -> list[str]:
    """Which searched dimension matters: Optuna's fANOVA and PED-ANOVA importances, and a slice picture in their order."""
    table = param_importance(df)
    if table.empty:
        return ["Too few finished trials (fewer than 4) to rank the dimensions by importance.", ""]
    pics.append(plots.slices(dimensions(df), df.dice, list(table.dimension), out / f"{slug}_slices.png",
                             f"{name}: validation Dice against each searched dimension (most important first)"))
    return ["Which dimension matters: importance for validation Dice over these trials by Optuna's fANOVA (a random forest's "
            "functional ANOVA: the share of Dice variance each dimension explains, interactions included) and PED-ANOVA (how the "
            "best 10% of trials differ from all of them). Each column sums to 1. Skip bits are conditional on depth: `s3` of a "
            "depth-2 U-Net reads as a third level, absent. With few trials per level, read small differences as ties.", "",
            md_table(table, floats=3), "", f"![slices]({slug}_slices.png)", ""]


def settings_section(searches: pd.DataFrame) -> list[str]:
    """How the searches were run (their budgets), and what their best trial scored on the test split."""
    if searches is None or searches.empty:
        return []
    shown = searches.rename(columns={"max_epochs": "epochs", "patches_per_epoch": "patches/epoch", "base_channels": "width",
                                     "patch_size": "patch", "repeats": "seeds"})
    shown["folds"] = shown["folds"].replace("", "1")
    # searches before --strategy existed trained every trial
    shown["strategy"] = shown["strategy"].replace("", "trials") if "strategy" in shown else "trials"
    shown["batch"] = shown["batch_size"].replace("", "16") if "batch_size" in shown else "16"  # before --batch-size: always 16
    optuna_spaces = shown.space.isin(RECIPE_SAMPLING_SPACES)  # these search width, patch, lr and loss: their fixed defaults do not apply
    shown["batch"] = shown["batch"].astype(object)
    shown.loc[shown.space.isin(BATCH_SAMPLING_SPACES), "batch"] = "searched"
    for col in ("width", "patch", "lr", "loss"):
        shown[col] = shown[col].astype(object)
        shown.loc[optuna_spaces, col] = "searched"
    cols = ["experiment", "search", "dataset", "space", "strategy", "epochs", "patches/epoch", "batch", "width", "patch", "lr", "loss", "seeds", "folds", "precision", "status"]
    best = ["search", "best_trial", "best_val_dice", "test_dice", "test_iou", "test_auc", "test_accuracy", "test_dice_with_background"]
    return ["## How these searches were run", "", "Budgets of the searches (every trial of a search shares them; `patches/epoch` 0 means every "
            "grid patch; `searched`: the search sampled it per trial, see the importance table). `test_*` are the best trial's foreground metrics on the test split (full images, overlap-tile inference, "
            "inside the valid mask; searches since 2026-12-06's evening predict each image as search.predict serves it, its mirror images averaged, "
            "tag `unet.test_tta`); the choice of that trial used the validation split only.", "",
            md_table(shown[cols]), "", md_table(shown[best]), ""]


def cross_dataset_section(frames: dict[str, pd.DataFrame], trust: dict[str, dict]) -> list[str]:
    """Rank agreement between datasets beside each dataset's own reliability, and disattenuated by it."""
    ranks, shared = cross_dataset(frames)
    rel = {name: t["reliability"] for name, t in trust.items()}
    ranks["reliability_a"] = ranks.dataset_a.map(rel)
    ranks["reliability_b"] = ranks.dataset_b.map(rel)
    ranks["disattenuated_rho"] = [disattenuate(r.spearman_rho, r.reliability_a, r.reliability_b) for r in ranks.itertuples()]
    return ["## Across datasets", "", "Spearman rank correlation of the depth/skip configurations' mean Dice, beside each dataset's own "
            "split-half reliability (how well it agrees with itself). `disattenuated_rho` = rho / sqrt(reliability_a x reliability_b): the "
            "agreement two noise-free studies would show; above 1 means the datasets agree as well as their noise allows, NaN that a "
            "reliability is unknown or not positive.", "", md_table(ranks), "",
            "Patterns in the top 5 on every dataset: " + (", ".join(shared) if shared else "none") + ".", ""]


def build_report(frames: dict[str, pd.DataFrame], out: Path, title: str, searches: pd.DataFrame | None = None, notes: str = "",
                 curves: dict[str, pd.DataFrame] | None = None, estimates: dict[str, pd.DataFrame] | None = None,
                 finals: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    """Write report.md, report.html and pictures for per-dataset frames (and their per-epoch curves, which show
    whether each ranking settled) and supernet searches' per-dataset estimates (beside the stand-alone trainings at
    their final budget, `finals`); returns every file written."""
    out.mkdir(parents=True, exist_ok=True)
    pics: list[Path] = []
    md = [f"# {title}", "", "Question: is there a trade-off between skip connections and the number of encoder/decoder levels, "
          "and does it hold across datasets?", ""]
    if notes.strip():
        md += [notes.strip(), ""]
    md += settings_section(searches)
    trust = {}
    estimates, finals = estimates or {}, finals or {}
    for name in sorted(set(frames) | set(estimates)):
        if name in frames:
            section, trust[name] = dataset_section(name, frames[name], out, pics, (curves or {}).get(name))
            md += section
        else:
            md += [f"## {name}", "", "No stand-alone study of this dataset among the analysed experiments: only supernet estimates.", ""]
        if name in estimates:
            md += supernet_section(name, estimates[name], frames.get(name), finals.get(name), md_table)
    if len(frames) > 1:
        md += cross_dataset_section(frames, trust)
    text = "\n".join(md) + "\n"
    (out / "report.md").write_text(text)
    (out / "report.html").write_text(markdown_to_html(text, title))
    return [out / "report.md", out / "report.html", *pics]


def markdown_to_html(text: str, title: str) -> str:
    """A self-contained HTML page of the report (Python-Markdown with tables; pictures by relative path)."""
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}pre{background:#f4f4f4;padding:6px;overflow-x:auto}</style>"
            f"</head><body>\n{body}\n</body></html>\n")


def main(argv: list[str] | None = None) -> int:
    """Build the report; a missing experiment or one without finished runs is one line and exit code 2."""
    p = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__)
    p.add_argument("--experiment", action="append", required=True, help="an MLflow experiment (repeat for several datasets)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--title", default="U-Net skip connections and depth: the trade-off")
    p.add_argument("--notes", type=Path, default=None, help="a Markdown file placed under the title (the study's context and caveats)")
    a = p.parse_args(argv)
    if a.notes is not None and not a.notes.is_file():
        print(f"error: --notes {a.notes}: no such file", file=sys.stderr)
        return 2
    try:
        client: MlflowClient = open_store(a.tracking_uri or default_tracking_uri())
        runs = _concat([load_runs(client, e, missing_ok=True) for e in a.experiment])
        estimates = _concat([load_estimates(client, e) for e in a.experiment])
        if runs.empty and estimates.empty:
            names = ", ".join(repr(e) for e in a.experiment)
            raise AnalysisError(f"experiment {names} has no finished trial runs (and no supernet estimates)")
        finals = _concat([load_runs(client, e, role="final", missing_ok=True) for e in a.experiment])
        searches = load_searches(client, a.experiment)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frames = _by_dataset(runs)
    curves = {name: load_curves(client, df) for name, df in frames.items()}
    if not finals.empty:  # a supernet search's stand-alone trainings sit beside its estimates, not in the study's tables
        finals = finals[finals.parent_run_id.isin(set(estimates.parent_run_id))] if not estimates.empty else finals.iloc[0:0]
    with tempfile.TemporaryDirectory() as tmp:  # build aside, then move: no half-written report on failure
        files = build_report(frames, Path(tmp) / "report", a.title, searches, a.notes.read_text() if a.notes else "", curves,
                             _by_dataset(estimates), _by_dataset(finals))
        a.out.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, a.out / f.name)
    parents = set(runs.parent_run_id.dropna()) if not runs.empty else set()
    parents |= set(estimates.parent_run_id.dropna()) if not estimates.empty else set()
    for parent in sorted(parents):
        client.log_artifacts(parent, str(a.out), "report")
    print(f"wrote {a.out / 'report.md'} and report.html ({len(files) - 2} pictures) from {len(runs)} trials"
          + (f" and {len(estimates)} supernet estimates" if not estimates.empty else ""))
    return 0


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _by_dataset(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {} if df.empty else {name: g.reset_index(drop=True) for name, g in df.groupby("dataset")}


if __name__ == "__main__":
    sys.exit(main())
