"""`python -m search.run`: search U-Net depth, skip connections, patches, saliency and loss on Ray Tune.

With no arguments it runs a quick search on the embedded synthetic dataset (a few minutes on 2 CPUs).
"""
from __future__ import annotations

import argparse
import json
import sys

from datasets import DatasetError
from datasets.registry import DATASETS
from unet_core.precision import PRECISIONS

from search.config import SearchConfig
from search.driver.interrupt import sigterm_as_ctrl_c
from search.driver.quiet import quiet_libraries
from search.errors import ConfigError, SearchInterrupted, SearchStopped, TrackingError
from search.spaces import SPACES, create_space


def _where_flags(p: argparse.ArgumentParser) -> None:
    """The flags of what to search, on what, with which resources, and where to record it."""
    p.add_argument("--space", default="quick", help=f"{' | '.join(SPACES)} (default quick)")
    p.add_argument("--dataset", default="synthetic", help=f"one of {', '.join(DATASETS)} (default synthetic, embedded)")
    p.add_argument("--data-root", default=None, help="the dataset's folder in its official layout")
    p.add_argument("--num-samples", type=int, default=None, help="trials Optuna samples (quick, arch, full; the ablation runs every configuration) "
                   f"(default {', '.join(f'{k} {create_space(k).default_samples}' for k in SPACES if create_space(k).sampled)})")
    p.add_argument("--max-epochs", type=int, default=6, help="epochs of each trial's training (ASHA's budget; full-space saliency trials "
                   "retrain up to twice more for half as many epochs each) (default 6)")
    p.add_argument("--repeats", type=int, default=1, help="ablation: seeds per configuration (default 1)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs (and PyTorch threads) each trial gets; trials run side by side "
                   "on the rest (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs each trial gets; fractions share a GPU, e.g. 0.25 (default 0)")
    p.add_argument("--address", default=None, help="an existing Ray cluster: auto or ray://HOST:PORT (default: start a local Ray)")
    p.add_argument("--experiment", default="unet-search", help="MLflow experiment name (default unet-search)")
    p.add_argument("--register", default="", help="the registered model the search's chosen U-Net becomes a new version of "
                   "(an existing name gets a new version, never an overwrite) (default: the --experiment name)")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlflow/mlflow.db)")
    p.add_argument("--storage", default="ray_results", help="Ray Tune storage folder (default ray_results)")
    p.add_argument("--resume", action="store_true", help="continue the newest unfinished search of --experiment")
    p.add_argument("--dry-run", action="store_true", help="print the trial configurations (JSON lines on stdout) and the expected compute "
                   "(on stderr, timed on this machine), then exit")


def _recipe_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the trials' recipe: seed, width, batch, patch, loss, data options and validation."""
    p.add_argument("--seed", type=int, default=0, help="seeds Optuna's sampler, the data split and folds, and every trial's initialisation and "
                   "patch order: the same command with the same --seed samples the same trials again (default 0)")
    p.add_argument("--base-channels", type=int, default=8, help="ablation and arch: width of the first level's convolutions "
                   "(quick keeps 8, full searches 4/8/16) (default 8)")
    p.add_argument("--batch-size", type=int, default=16, help="ablation and arch: patches per training step; with large patches "
                   "(ISIC's 192 px) a smaller batch keeps the number of steps up at the same compute (quick keeps 16, full searches "
                   "8/16/32) (default 16)")
    p.add_argument("--patch-size", default="auto", help="ablation and arch: training patch side, a number or auto = the dataset "
                   "fingerprint's recommendation (about 3 foreground-structure widths, at least 64; see python -m datasets.inspect); "
                   "quick and full search it (default auto)")
    p.add_argument("--patches-per-epoch", type=int, default=None, help="patches drawn per epoch, every space; 0 = every grid patch at the "
                   "trial's stride (half the patch in ablation and arch), at most 4096, drawn anew each epoch where the grid holds more "
                   "(DRIVE's 64-px grid: about 4,600; Kvasir's 1000 images at 32 px: about a million); the full space "
                   "samples the stride, so it draws a fixed number, and --dry-run states the compute (default 0 for quick, arch and "
                   "ablation; 1024 for full)")
    p.add_argument("--loss", default="dice_bce", help="ablation and arch: the loss (quick and full search it) (default dice_bce)")
    p.add_argument("--lr", type=float, default=3e-3, help="ablation and arch: Adam's learning rate (quick and full search it) (default 3e-3)")
    p.add_argument("--green", action="store_true", help="DRIVE: keep the green channel")
    p.add_argument("--num-classes", type=int, default=None, help="folder: the number of classes (default: read from the masks); "
                   "2 on folder, drive or isic also thresholds grey-valued masks (resized with interpolation, saved as JPEG) at half range")
    p.add_argument("--val-images", type=int, default=32, help="validation images scored every epoch, the first of the validation "
                   "split, the same for every trial; 0 = all (default 32: DRIVE, ISBI 2012 and ISIC hold fewer)")


def _search_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the search itself: depths, skips, retries, ASHA, precision, folds and the final round."""
    p.add_argument("--depths", default="", help="comma-separated U-Net depths to search, e.g. 2,3 (default: 1..4 as the data allows)")
    p.add_argument("--skips", default="", help="ablation: comma-separated skip patterns to run, e.g. 1001,1111 (default: all)")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a trial whose process or node died (default 2)")
    p.add_argument("--searcher-seed", type=int, default=None, help="seed of Optuna alone (default --seed): same trials, other samples")
    p.add_argument("--stop-at", type=float, default=None, help="end the search once a trial reaches this validation Dice")
    p.add_argument("--precision", default="auto",
                   help=f"{' | '.join(PRECISIONS)}: training precision of every trial: auto = bf16 autocast + channels_last where bf16 is native (CUDA, "
                        "AVX512-BF16/AMX CPUs), else fp32 (default auto)")
    p.add_argument("--folds", type=int, default=1,
                   help="ablation: k-fold cross-validation over the training images, each configuration scored on every "
                        "held-out fold (default 1: the dataset's validation split)")
    p.add_argument("--grace-period", type=int, default=2, help="quick, arch, full: ASHA's first rung, in epochs (default 2)")
    p.add_argument("--reduction-factor", type=int, default=2, help="quick, arch, full: ASHA keeps 1 in this many trials at each rung (default 2)")
    p.add_argument("--rerank-top", type=int, default=None, help="quick, arch, full: before declaring a winner, train the search's best K "
                   "configurations at --final-budget epochs and pick among them there; 0 = off (default 2 for arch and full, 0 for quick)")
    p.add_argument("--final-budget", type=int, default=None, help="epochs of those re-ranking trials: the budget you will train the "
                   "winner at (default 2 x --max-epochs)")
    p.add_argument("--final-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="with re-ranking, also train the default U-Net (depth 4, every skip, the arch space's recipe) at --final-budget "
                        "beside the search's best, so the winner is never one it beats there (default on)")


def _noise_flags(p: argparse.ArgumentParser) -> None:
    """The flags of noise-aware evaluation (search.noise): reshuffled validation, racing on folds, the final round's rule."""
    p.add_argument("--validation", default="fixed", help="quick, arch, full: fixed (every trial on the dataset's validation split), "
                   "reshuffle (each trial its own seeded random split, recorded on its run) or race (every evaluation on one fold of "
                   "--race-partition folds; a configuration that tops its rungs and beats the incumbent is scored on more of the incumbent's "
                   "folds before it may replace it; the default U-Net is the first incumbent) (default fixed)")
    p.add_argument("--race-folds", type=int, default=3, help="race: the most folds a configuration is scored on (default 3)")
    p.add_argument("--race-partition", type=int, default=5, help="race and --final-folds: folds of the partition of the training "
                   "images (default 5)")
    p.add_argument("--final-folds", type=int, default=None, help="the final round trains each finalist and the default U-Net on this many "
                   "folds; from 2 on, the default U-Net is named unless a finalist beats it by more than --default-margin standard errors "
                   "of the paired margin; 1: on the search's split, the best there wins (default 2 for arch and full, 1 for quick and --strategy supernet)")
    p.add_argument("--default-margin", type=float, default=1.0, help="standard errors of the paired margin a finalist must beat the "
                   "default U-Net by (default 1)")


def _strategy_flags(p: argparse.ArgumentParser) -> None:
    """The flags of --strategy and the supernet's settings, and --smoke-test."""
    p.add_argument("--strategy", default="trials", help="arch: trials (Optuna samples configurations, each trained) or supernet (one "
                   "weight-sharing skip supernet per depth estimates every skip pattern; the best --rerank-top are then trained stand-alone at "
                   "--final-budget) (default trials)")
    p.add_argument("--supernet-sampling", default="fair", help="supernet: the skip pattern of each batch, fair (every pattern once per "
                   "cycle) or uniform (default fair)")
    p.add_argument("--supernet-warmup", type=int, default=0, help="supernet: epochs of all-skips training before patterns are sampled (default 0)")
    p.add_argument("--supernet-recalibrate", type=int, default=0, help="supernet: training batches that re-estimate each pattern's "
                   "batch-norm statistics before it is scored; 0 = the shared statistics, which ranked better in bench/supernet_rank.py (default 0)")
    p.add_argument("--smoke-test", action="store_true", help="a seconds-long run: quick space, 2 trials, 2 epochs")


def parse_args(argv: list[str] | None = None) -> SearchConfig:
    """The command line as a validated SearchConfig (ConfigError on a bad value)."""
    p = argparse.ArgumentParser(prog="python -m search.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for add in (_where_flags, _recipe_flags, _search_flags, _noise_flags, _strategy_flags):
        add(p)
    a = p.parse_args(argv)
    try:
        depths = tuple(int(d) for d in a.depths.split(",") if d.strip())
    except ValueError:
        raise ConfigError(f"--depths {a.depths!r}: give whole numbers separated by commas, e.g. 2,3") from None
    options = ({"green": True} if a.green else {}) | ({"num_classes": a.num_classes} if a.num_classes is not None else {})
    try:
        patch = 0 if a.patch_size == "auto" else int(a.patch_size)
    except ValueError:
        raise ConfigError(f"--patch-size {a.patch_size!r}: give a number of pixels or auto") from None
    if a.smoke_test:
        a.space, a.num_samples, a.max_epochs = "quick", 2, 2
    return SearchConfig(
        space=a.space, dataset=a.dataset, data_root=a.data_root, num_samples=a.num_samples, max_epochs=a.max_epochs, repeats=a.repeats,
        cpus_per_trial=a.cpus_per_trial, gpus_per_trial=a.gpus_per_trial, address=a.address, experiment=a.experiment, register=a.register,
        tracking_uri=a.tracking_uri, storage=a.storage, resume=a.resume, dry_run=a.dry_run, seed=a.seed, base_channels=a.base_channels, batch_size=a.batch_size,
        patch_size=patch, patches_per_epoch=a.patches_per_epoch, loss=a.loss, lr=a.lr, dataset_options=options,
        depths=depths, skips=tuple(x.strip() for x in a.skips.split(",") if x.strip()), max_failures=a.max_failures,
        searcher_seed=a.searcher_seed, stop_at=a.stop_at, precision=a.precision, folds=a.folds, grace_period=a.grace_period,
        reduction_factor=a.reduction_factor, rerank_top=0 if a.smoke_test else a.rerank_top, final_budget=a.final_budget,
        final_baseline=a.final_baseline, val_images=a.val_images,
        validation=a.validation, race_folds=a.race_folds, race_partition=a.race_partition, final_folds=a.final_folds,
        default_margin=a.default_margin, strategy=a.strategy, supernet_sampling=a.supernet_sampling, supernet_warmup=a.supernet_warmup, supernet_recalibrate=a.supernet_recalibrate,
    )


def summary(outcome) -> str:
    """What won and where to look."""
    from search.driver.results import final_attempts

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

        lines.append(f"{'trained stand-alone' if outcome.estimates is not None else 're-ranked'} at the final budget ({outcome.final_epochs} epochs): " + ", ".join(
            f"{r.run_name} {r.best_val_dice:.4f} ({found(r.run_name)})" for r in ranked.itertuples(index=False)))
    if outcome.model_uri:
        lines.append(f"model: {outcome.model_uri}  (python -m search.predict --model {outcome.model_uri} --input DIR --output DIR; "
                     f"python -m search.export --model {outcome.model_uri} --format onnx --out unet.onnx)")
    if outcome.best_run_id:
        m = outcome.test_metrics
        lines.append(f"best: {outcome.best_run_name}  validation Dice {outcome.best_val_dice:.4f}  (run {outcome.best_run_id})")
        if m:
            auc = f"  AUC {m['auc']:.4f}" if "auc" in m else ""
            lines.append(f"test (full images, overlap-tile): Dice {m['dice']:.4f}  IoU {m['iou']:.4f}{auc}  accuracy {m['accuracy']:.4f}"
                         f"  [all-pixel Dice with background: {m['dice_with_background']:.4f}]")
    lines.extend(mlflow_lines(outcome.tracking_uri, outcome.experiment_id, outcome.parent_run_id))
    lines.append(f"Ray Tune results: {outcome.tune_path}")
    return "\n".join(lines)


def mlflow_lines(uri: str, experiment_id: str, parent_run_id: str) -> list[str]:
    """How to open the search's trials in the MLflow UI: the command for a local store, and the address of the trials view."""
    from search.tracking.client import is_local_sqlite, ui_url

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
            from search.driver.dry_run import dry_run

            lines, compute = dry_run(cfg)
            for line in lines:
                print(json.dumps(line))
            print(compute.line(), file=sys.stderr)  # stdout stays one JSON configuration per line
            return 0
        from search.driver.search import run_search

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
