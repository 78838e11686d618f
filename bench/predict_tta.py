"""What mirror test-time augmentation and the fold ensemble add to a trained U-Net's test Dice, paired on the same models.

For each dataset two models of one configuration are trained on two folds of a 5-fold partition of the training
images (as the final round trains its finalists), and every test image is predicted four ways by
`unet_core.predict_image`, the function `search.predict` uses: one model alone, one model with flip TTA (the four
mirror images averaged, nnU-Net's 2D mirroring), the two folds' ensemble, and the ensemble with flip TTA. Each gain
is a paired difference of per-image foreground Dice over the same images (mean, 95% t interval, images better),
for each fold model alone and for their mean.

- DRIVE: the default U-Net of a search's final round (depth 4, every skip, the arch space's recipe, 12 epochs) on
  folds 0 and 1, trained by the platform's own recipe (`recipes.train_and_report`), scored on the 20 test images
  inside the field of view at full resolution.
- Kvasir-SEG: a whole-image U-Net (depth 4, 16 wide, every skip) on images resized to 160 px, trained `--minutes` per
  fold with flips on folds 0 and 1 of the 880 images of `splits/train.txt`, scored on the 120 images of
  `splits/val.txt` at their original resolution (probabilities upsampled), mean per-image Dice as published. The
  platform's own full-resolution recipe does not learn Kvasir in bench time (issue 32), so this bench trains the
  plain resized recipe that does; TTA and the ensemble are measured on it the same way.

    python bench/predict_tta.py [--datasets drive,kvasir] [--minutes 12] [--smoke]

Writes bench/results/predict_tta.json (the smoke run writes predict_tta_smoke.json); the last line holds the gains.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FOLDS, PARTITION = (0, 1), 5
KVASIR_SIDE = 160
WAYS = ("single", "tta", "ensemble", "ensemble_tta")


def paired_gain(high: np.ndarray, low: np.ndarray) -> dict:
    """high - low per image: mean, 95% t interval, how many images gained, and both means."""
    from scipy import stats

    diffs = high - low
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    return {"mean": float(diffs.mean()), "ci95": [float(diffs.mean() - half), float(diffs.mean() + half)],
            "images_better": int((diffs > 0).sum()), "images_worse": int((diffs < 0).sum()), "images": int(len(diffs)),
            "with": float(high.mean()), "without": float(low.mean())}


def dice(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Foreground Dice of one image (1.0 where both are empty), inside `valid` when given."""
    if valid is not None:
        pred, truth = pred[valid], truth[valid]
    inter, total = float((pred & truth).sum()), float(pred.sum() + truth.sum())
    return 1.0 if total == 0 else 2 * inter / total


# ---------------------------------------------------------------- DRIVE: the platform's recipe, the default U-Net

def drive_fold(job: tuple) -> dict:
    """Train the final round's default U-Net on one fold of DRIVE's training images; its best epoch's checkpoint."""
    fold, root, epochs, patches = job
    import torch

    from bench.full_search_check import KeepBest, plain_params
    from recipes import train_and_report
    from recipes.params import TrialParams
    from search.config import SearchConfig
    from search.driver.data import load_data

    torch.set_num_threads(1)
    data = load_data(SearchConfig(space="full", dataset="drive", data_root=root))
    params = TrialParams(**{**plain_params("drive", root, epochs, patches), "fold": fold, "folds": PARTITION, "split_seed": 0})
    keeper, start = KeepBest(), time.perf_counter()
    best = train_and_report(params, data, run=keeper)
    return {"fold": fold, "state": keeper.state, "meta": keeper.meta, "val_dice": float(best["val_dice"]), "train_s": time.perf_counter() - start,
            "run_name": params.run_name}


def drive_scores(models: list, meta: dict, root: str) -> dict[str, np.ndarray]:
    """Per-image foreground Dice (inside the field of view) of DRIVE's test images, each way of predicting."""
    import torch

    from search.config import SearchConfig
    from search.driver.data import load_data
    from datasets import full_images
    from unet_core import predict_image

    data = load_data(SearchConfig(space="full", dataset="drive", data_root=root))
    tile = meta["eval_tile"]
    scores = {f"{way}_f{f}": [] for way in ("single", "tta") for f in FOLDS} | {"ensemble": [], "ensemble_tta": []}
    for image, mask, valid in full_images(data.test):
        x, truth, fov = torch.from_numpy(np.ascontiguousarray(image)), np.asarray(mask) > 0, np.asarray(valid).astype(bool)
        for f, model in zip(FOLDS, models):
            for way, tta in (("single", "none"), ("tta", "flip")):
                scores[f"{way}_f{f}"].append(dice(predict_image(model, x, tile, tta=tta)[0].numpy() >= 0.5, truth, fov))
        for way, tta in (("ensemble", "none"), ("ensemble_tta", "flip")):
            scores[way].append(dice(predict_image(models, x, tile, tta=tta)[0].numpy() >= 0.5, truth, fov))
    return {k: np.asarray(v) for k, v in scores.items()}


def run_drive(minutes: float, smoke: bool) -> dict:
    """Both folds trained side by side (one core each), then the four ways scored."""
    from unet_core import model_from_meta

    root = str(SHARED / "drive")
    epochs, patches = (1, 64) if smoke else (12, 1024)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        folds = pool.map(drive_fold, [(f, root, epochs, patches) for f in FOLDS])
    models = [model_from_meta(r["meta"], r["state"]).eval() for r in folds]
    scores = drive_scores(models, folds[0]["meta"], root)
    return summarise(scores, {"recipe": f"the default U-Net of the final round, {folds[0]['run_name']}, {epochs} epochs x {patches} patches",
                              "folds": [{k: r[k] for k in ("fold", "val_dice", "train_s", "run_name")} for r in folds],
                              "test_images": len(scores["ensemble"]), "scored": "foreground Dice inside the field of view, full resolution"})


# ---------------------------------------------------------------- Kvasir-SEG: a plain resized whole-image U-Net

def kvasir_case(root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image resized to KVASIR_SIDE as float (3, S, S), mask resized (S, S) 0/1 float, original mask (H, W) bool)."""
    from PIL import Image

    image = Image.open(root / "images" / f"{name}.jpg").convert("RGB")
    mask = Image.open(root / "masks" / f"{name}.jpg").convert("L")
    small = np.asarray(image.resize((KVASIR_SIDE, KVASIR_SIDE), Image.BILINEAR), dtype=np.float32).transpose(2, 0, 1) / 255
    small_mask = (np.asarray(mask.resize((KVASIR_SIDE, KVASIR_SIDE), Image.BILINEAR)) > 127).astype(np.float32)
    return small, small_mask, np.asarray(mask) > 127


def kvasir_split(root: Path, smoke: bool) -> tuple[list[str], list[str]]:
    """The published split's names (train 880, val 120), cut down for the smoke run."""
    train = (root / "splits" / "train.txt").read_text().split()
    val = (root / "splits" / "val.txt").read_text().split()
    return (train[:40], val[:8]) if smoke else (train, val)


def kvasir_fold_cases(root: Path, fold: int, smoke: bool) -> tuple[list, list]:
    """(training cases, held-out cases) of fold `fold` of a PARTITION-fold split of the 880 training images (kvasir_case)."""
    names, _ = kvasir_split(root, smoke)
    order = np.random.default_rng(0).permutation(len(names))
    held = set(order[fold::PARTITION].tolist())
    cases = [kvasir_case(root, n) for n in names]
    return [c for i, c in enumerate(cases) if i not in held], [c for i, c in enumerate(cases) if i in held]


def faster_in_channels_last(width: int, side: int = 160, batch: int = 8) -> bool:
    """Whether the plain recipe's fp32 step (depth 4, `width`, whole `side`-px images, `batch`, one thread) measures faster
    in channels_last, timed as the search's cost model times its trials' steps (search.plan.cost.time_steps)."""
    from search.plan.cost import time_steps

    return min(time_steps(4, width, side, batch, True) for _ in range(2)) < min(time_steps(4, width, side, batch, False) for _ in range(2))


def kvasir_fold(job: tuple) -> dict:
    """Train the resized whole-image U-Net on one fold of the 880 training images for `seconds`; its best epoch's weights.
    `job`: (fold, root, seconds, smoke[, fast]); `fast` trains as the search's trials do on this machine (bf16 autocast
    and channels_last where bf16 is native; in fp32, the memory format whose step measures faster, the measurement
    counted in `seconds`) with the learning rate decayed by a cosine over the wall budget (unet_core.BudgetConfig),
    instead of fp32 at a constant rate."""
    fold, root, seconds, smoke, *rest = job
    fast = bool(rest and rest[0])
    import torch
    import torch.nn.functional as F

    from unet_core import BudgetConfig, UNet, build_loss, cpu_has_native_bf16, seed_everything
    from unet_core.inference import autocast_context

    torch.set_num_threads(1)
    started = time.perf_counter()
    width = 4 if smoke else 16
    bf16 = fast and cpu_has_native_bf16()
    channels_last = bf16 or (fast and faster_in_channels_last(width))
    seed_everything(fold)
    root = Path(root)
    train, val = kvasir_fold_cases(root, fold, smoke)
    model = UNet(3, 1, 4, None, width)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    schedule = BudgetConfig(seconds=seconds, lr=1e-3, schedule="cosine" if fast else "constant")
    loss_fn = build_loss("dice_bce")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.from_numpy(np.stack([c[0] for c in train]))
    masks = torch.from_numpy(np.stack([c[1] for c in train]))
    best, state, epochs, start = -1.0, None, 0, started
    rng = np.random.default_rng(fold)
    while time.perf_counter() - start < seconds:
        model.train()
        for idx in np.array_split(rng.permutation(len(train)), max(1, len(train) // 8)):
            x, y = images[idx], masks[idx]
            for dim in (-1, -2):  # flips
                if rng.random() < 0.5:
                    x, y = x.flip(dim), y.flip(dim)
            for group in opt.param_groups:
                group["lr"] = schedule.lr_at((time.perf_counter() - start) / seconds)
            opt.zero_grad()
            with autocast_context(torch.device("cpu"), bf16, cpu=True):
                logits = model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
            loss_fn(logits.float(), y).backward()
            opt.step()
        epochs += 1
        model.eval()
        with torch.no_grad():
            score = float(np.mean([dice(F.interpolate(torch.sigmoid(model(torch.from_numpy(c[0])[None])), size=c[2].shape, mode="bilinear")[0, 0].numpy() >= 0.5, c[2])
                                   for c in val]))
        if score > best:
            best, state = score, {k: v.clone() for k, v in model.state_dict().items()}
    return {"fold": fold, "state": state, "val_dice": best, "epochs": epochs, "train_s": time.perf_counter() - start, "bf16": bf16,
            "channels_last": channels_last}


def kvasir_scores(models: list, root: Path, smoke: bool) -> dict[str, np.ndarray]:
    """Per-image foreground Dice of the 120 published validation images at original resolution, each way of predicting."""
    import torch
    import torch.nn.functional as F

    from unet_core import predict_image

    _, names = kvasir_split(root, smoke)
    scores = {f"{way}_f{f}": [] for way in ("single", "tta") for f in FOLDS} | {"ensemble": [], "ensemble_tta": []}

    def score(probs, truth) -> float:
        return dice(F.interpolate(probs[None], size=truth.shape, mode="bilinear")[0, 0].numpy() >= 0.5, truth)

    for name in names:
        small, _, truth = kvasir_case(root, name)
        x = torch.from_numpy(small)
        for f, model in zip(FOLDS, models):
            for way, tta in (("single", "none"), ("tta", "flip")):
                scores[f"{way}_f{f}"].append(score(predict_image(model, x, KVASIR_SIDE, tta=tta), truth))
        for way, tta in (("ensemble", "none"), ("ensemble_tta", "flip")):
            scores[way].append(score(predict_image(models, x, KVASIR_SIDE, tta=tta), truth))
    return {k: np.asarray(v) for k, v in scores.items()}


def run_kvasir(minutes: float, smoke: bool) -> dict:
    """Both folds trained side by side for `minutes` each (one core each), then the four ways scored."""
    from unet_core import UNet

    root = SHARED / "kvasir"
    seconds = 20 if smoke else minutes * 60
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        folds = pool.map(kvasir_fold, [(f, str(root), seconds, smoke) for f in FOLDS])
    models = []
    for r in folds:
        model = UNet(3, 1, 4, None, 4 if smoke else 16)
        model.load_state_dict(r["state"])
        models.append(model.eval())
    scores = kvasir_scores(models, root, smoke)
    return summarise(scores, {"recipe": f"whole-image U-Net d4-s1111 16 wide at {KVASIR_SIDE} px, Dice+BCE, Adam 1e-3, flips, {minutes:g} min a fold on one core",
                              "folds": [{k: r[k] for k in ("fold", "val_dice", "epochs", "train_s")} for r in folds],
                              "test_images": len(scores["ensemble"]), "scored": "mean per-image foreground Dice at original resolution"})


def summarise(scores: dict[str, np.ndarray], about: dict) -> dict:
    """Mean Dice of each way, and each gain paired per image: flip TTA on each fold model and on the ensemble, the ensemble
    against each fold model and against their mean, both together against one model."""
    single_mean = (scores["single_f0"] + scores["single_f1"]) / 2
    tta_mean = (scores["tta_f0"] + scores["tta_f1"]) / 2
    gains = {
        "tta": {f"f{f}": paired_gain(scores[f"tta_f{f}"], scores[f"single_f{f}"]) for f in FOLDS}
        | {"fold_mean": paired_gain(tta_mean, single_mean), "on_ensemble": paired_gain(scores["ensemble_tta"], scores["ensemble"])},
        "ensemble": {f"vs_f{f}": paired_gain(scores["ensemble"], scores[f"single_f{f}"]) for f in FOLDS}
        | {"vs_fold_mean": paired_gain(scores["ensemble"], single_mean)},
        "ensemble_tta_vs_single_mean": paired_gain(scores["ensemble_tta"], single_mean),
    }
    return {**about, "mean_dice": {k: float(v.mean()) for k, v in scores.items()}, "gains": gains}


def main() -> int:
    """Train, predict every way, write the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="drive,kvasir")
    p.add_argument("--minutes", type=float, default=12.0, help="Kvasir: training minutes per fold (default 12)")
    p.add_argument("--smoke", action="store_true", help="a seconds-long run on a few images")
    a = p.parse_args()
    figures, runners = {}, {"drive": run_drive, "kvasir": run_kvasir}
    for name in a.datasets.split(","):
        start = time.perf_counter()
        figures[name] = {**runners[name](a.minutes, a.smoke), "wall_s": time.perf_counter() - start}
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures[name]["mean_dice"].items() if "_f" not in k), flush=True)
    path = write_results("predict_tta_smoke" if a.smoke else "predict_tta", figures)
    print(f"wrote {path}")
    print(" | ".join(f"{n}: TTA {g['gains']['tta']['fold_mean']['mean']:+.4f} {fmt(g['gains']['tta']['fold_mean']['ci95'])}, "
                     f"ensemble {g['gains']['ensemble']['vs_fold_mean']['mean']:+.4f} {fmt(g['gains']['ensemble']['vs_fold_mean']['ci95'])}"
                     for n, g in figures.items()))
    return 0


def fmt(ci: list[float]) -> str:
    """A 95% interval in brackets."""
    return f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


if __name__ == "__main__":
    sys.exit(main())
