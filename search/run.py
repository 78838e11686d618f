"""`python -m search.run`: search U-Net depth, skip connections, patches, saliency and loss on Ray Tune.

With no arguments it runs a quick search on the embedded synthetic dataset (a few minutes on 2 CPUs).
"""
from __future__ import annotations

import argparse
import json
import sys

from datasets.types import DatasetError

from search.config import SearchConfig
from search.driver.interrupt import sigterm_as_ctrl_c
from search.driver.quiet import quiet_libraries
from search.errors import ConfigError, SearchInterrupted, SearchStopped, TrackingError
from search.settings import add_flags, flag_name, given


def _dataset_flags(p: argparse.ArgumentParser) -> None:
    """--dataset's choices, and the loader options the datasets declare (datasets.registry: declared once, there)."""
    from datasets.registry import DATASETS, dataset_options  # deferred: the loaders import numpy and PIL (a bad flag answers first)

    p.epilog = "datasets:\n" + "\n".join(f"  {name:<18} {spec.description}" for name, spec in DATASETS.items())
    group = p.add_argument_group("dataset options", "options of the datasets' loaders")
    for name, (option, takers) in dataset_options().items():
        kwargs = {"action": "store_true"} if option.kind is bool else {"type": option.kind}
        group.add_argument(flag_name(name), default=argparse.SUPPRESS, help=f"{', '.join(takers)}: {option.help}", **kwargs)


def parser() -> argparse.ArgumentParser:
    """The command line, generated from SearchConfig's declared settings (search.settings) and the datasets' options."""
    p = argparse.ArgumentParser(prog="python -m search.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)  # a prefix must not pick a flag the second pass (the loaders' options) adds
    add_flags(p, SearchConfig)
    p.add_argument("--smoke-test", action="store_true", help="a seconds-long run: quick space, 2 trials, 2 epochs, no re-ranking")
    return p


def parse_args(argv: list[str] | None = None) -> SearchConfig:
    """The command line as a validated SearchConfig (ConfigError on a bad value)."""
    p = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help") for a in argv):
        _dataset_flags(p)
    a, rest = p.parse_known_args(argv)
    if rest:  # a dataset option, or a flag nobody declared: the full parser says which
        _dataset_flags(p)
        a = p.parse_args(argv)
    values = given(SearchConfig, a)
    options = {k: v for k, v in vars(a).items() if k not in values and k != "smoke_test"}
    if a.smoke_test:
        values.update(space="quick", num_samples=2, max_epochs=2, rerank_top=0)
    return SearchConfig(**values, dataset_options=options)


def summary(outcome) -> str:
    """What won and where to look."""
    from search.driver.results import final_attempts  # deferred: pandas and Ray; --help and bad flags answer without them

    t = final_attempts(outcome.trials)
    lost = len(outcome.trials) - len(t)
    lines = [f"trials: {int((t.status == 'FINISHED').sum())} finished ({int(t.stopped_early.sum())} stopped early by ASHA), "
             f"{int((t.status == 'FAILED').sum())} failed" + (f"; {lost} attempt(s) cut short (Ctrl-C, or a lost process or node) and run again" if lost else "")]
    late = int((t.tracking_delayed > 0).sum()) if "tracking_delayed" in t else 0
    if late:
        lines.append(f"tracking: the store was unreachable for a while; {late} trial runs kept their writes and sent them late "
                     f"(tag unet.tracking_delayed counts them)")
    if outcome.estimates is not None and not outcome.estimates.empty:
        e = outcome.estimates
        lines[0] = f"supernets: {int((t.status == 'FINISHED').sum())} trained, {int((t.status == 'FAILED').sum())} failed; {len(e)} skip patterns estimated"
        lines.append("best estimates (weight-sharing, not trained stand-alone): " + ", ".join(
            f"{r.run_name.removesuffix('-estimate')} {r.estimate_dice:.4f}" for r in e.head(5).itertuples(index=False)))
    if outcome.final is not None and not outcome.final.empty:
        search_dice = dict(zip(t.run_name, t.best_val_dice))
        if outcome.estimates is not None:
            search_dice = dict(zip(outcome.estimates.run_name.str.removesuffix("-estimate"), outcome.estimates.estimate_dice))
        ranked = outcome.final.sort_values("best_val_dice", ascending=False)
        origin = "estimate" if outcome.estimates is not None else "search"
        def found(name: str) -> str:  # where a final-budget run came from: its search or estimate Dice, or the default U-Net
            if name.endswith("-default-final"):
                return "the default U-Net"
            found_dice = search_dice.get(name.removesuffix("-final"))
            return f"{origin} {found_dice:.4f}" if found_dice is not None and found_dice == found_dice else f"not in the {origin} on this fold"

        lines.append(f"{'trained stand-alone' if outcome.estimates is not None else 're-ranked'} at the final budget ({final_epochs(outcome)}): " + ", ".join(
            f"{r.run_name} {r.best_val_dice:.4f} ({found(r.run_name)})" for r in ranked.itertuples(index=False)))
    if outcome.model_uri:
        lines.append(f"model: {outcome.model_uri}  (python -m search.predict --model {outcome.model_uri} --input DIR --output DIR; "
                     f"python -m search.export --model {outcome.model_uri} --format onnx --out unet.onnx)")
    if outcome.best_run_id:
        m = outcome.test_metrics
        lines.append(f"best: {outcome.best_run_name}  validation Dice {outcome.best_val_dice:.4f}  (run {outcome.best_run_id})")
        if m:
            auc = f"  AUC {m['auc']:.4f}" if "auc" in m else ""
            served = f"{m['models']:.0f} fold models averaged, " if m.get("models", 1) > 1 else ""
            lines.append(f"test (full images, overlap-tile): Dice {m['dice']:.4f}  IoU {m['iou']:.4f}{auc}  accuracy {m['accuracy']:.4f}"
                         f"  [all-pixel Dice with background: {m['dice_with_background']:.4f}]  ({served}mirror images averaged as "
                         f"search.predict serves it; each image once: Dice {m.get('dice_no_tta', float('nan')):.4f})")
    lines.extend(mlflow_lines(outcome.tracking_uri, outcome.experiment_id, outcome.parent_run_id))
    lines.append(f"Ray Tune results: {outcome.tune_path}")
    return "\n".join(lines)


def final_epochs(outcome) -> str:
    """The final round's epochs as trained: the default U-Net's (else the fitted count), each finalist given more in the
    same time (search.driver.budgeting.own_final_epochs), and each training its time limit ended sooner."""
    rows = list(outcome.final.itertuples(index=False))
    default = [r.epochs for r in rows if getattr(r, "default", False) and _known(getattr(r, "epochs", None))]
    round_epochs = int(default[0]) if default else outcome.final_epochs  # a resumed round keeps the epochs it was first given
    longer = [f"{r.run_name} {int(r.epochs)}" for r in rows if _known(getattr(r, "epochs", None)) and r.epochs > round_epochs]
    short = [f"{r.run_name} at {int(r.epochs_trained)}" for r in rows  # epoch_budget: saliency rounds included; None, NaN: none logged
             if r.status == "FINISHED" and r.epochs_trained is not None and r.epochs_trained < r.epoch_budget]
    return (f"{round_epochs} epochs" + (f"; {', '.join(longer)} in the same time" if longer else "")  # inside the caller's parentheses
            + (f"; the time left ended {', '.join(short)}" if short else ""))


def _known(value) -> bool:
    """Whether a table value is a number (not None, not NaN)."""
    return value is not None and value == value


def mlflow_lines(uri: str, experiment_id: str, parent_run_id: str) -> list[str]:
    """How to open the search's trials in the MLflow UI: the command for a local store, and the address of the trials view."""
    from search.tracking.client import is_local_sqlite, ui_url  # deferred: imports MLflow

    if is_local_sqlite(uri):
        return [f"MLflow: mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000", f"  then open {ui_url(experiment_id)}  (parent run {parent_run_id})"]
    return [f"MLflow: open {ui_url(experiment_id, uri)}  (parent run {parent_run_id})"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input is one line on stderr and exit code 2; Ctrl-C or SIGTERM exits 130 and says how to resume."""
    cfg = None
    sigterm_as_ctrl_c()
    try:
        cfg = parse_args(argv)
        quiet_libraries(local_ray=cfg.address is None)  # before Ray is imported
        if cfg.dry_run:
            from search.driver.dry_run import dry_run  # deferred: torch and the loaders, after the flags are checked

            lines, compute, plan, path = dry_run(cfg, echo=lambda line: print(line, file=sys.stderr))
            for line in lines:
                print(json.dumps(line))
            print(compute.line(), file=sys.stderr)  # stdout stays one JSON configuration per line
            for line in plan.lines() + ([f"plan written to {path} (edit it and run it with --plan {path})"] if path else []):
                print(line, file=sys.stderr)
            return 0
        from search.driver.search import run_search  # deferred: Ray loads after quiet_libraries

        outcome = run_search(cfg)
    except (ConfigError, DatasetError, TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SearchStopped as exc:  # Ctrl-C (130), or Ray failing under the search (1): resumable either way
        print(str(exc) if isinstance(exc, SearchInterrupted) else f"error: {exc}", file=sys.stderr)
        return 130 if isinstance(exc, SearchInterrupted) else 1
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside Tune's loop
        resume = f"; continue with: python -m search.run --resume --experiment {cfg.experiment}" if cfg is not None and not cfg.dry_run else ""
        print(f"interrupted{resume}", file=sys.stderr)
        return 130
    print(summary(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
