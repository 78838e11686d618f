"""A search planned to a wall-clock budget against the strongest honest baselines at the same wall time (issue 32).

Parts, each run on its own (they add up to hours), each merging its figures into bench/results/budget_quality.json:

- `search`: `python -m search.run --space arch --budget B` on Kvasir-SEG's published split (trains on splits/train.txt,
  validates and chooses inside those 880 images; the 120 of splits/val.txt are its test split, scored at the original
  resolution, mean per-image foreground Dice), in a fresh folder with a fresh cache (the store build, the resized copy
  and the cost model's measurement count). Records the choice's and the final round's default U-Net's test Dice, the
  wall time, each phase's predicted against measured time (plan accuracy), and the whole process tree's peak RSS.
- `rescore`: a finished search's choice and default U-Net (`--store`: its folder, `store` in its figures) scored again
  by the search's test scoring as it is today (search.predict's flip TTA, and each image once beside it).
- `plain`: the plain whole-image U-Net recipe with no search (depth 4, 16 wide, every skip, 160 px, Dice+BCE, Adam,
  flips), trained for the same wall time on the same 880 images, best epoch by its 1/5 held-out images, two seeds side
  by side on one core each (the search's two trials at a time use the same two cores), scored the same way; in bf16
  and channels_last where the search's trials are, its learning rate decayed by a cosine over the wall time; scored
  with search.predict's flip TTA as the search's choice is (and each image once beside it).
- `drive`: DRIVE with `--budget` (thin vessels must keep the original resolution), its test Dice.
- `throughput`: the planned step's fp32 FLOP rate against this CPU's measured fp32 matmul peak, channels_last on and off,
  and torch.compile'd (with its compile seconds and the steps that repay them).
- `memory`: peak RSS while building the store of the ISIC layout at 40 and at 800 cases (the same images under new ids).
- `summary`: the keys a check reads and the search's margins, from the parts above already in the results file.

    python bench/budget_quality.py --part search --budget 10m [--seed 0]
    python bench/budget_quality.py --part plain --minutes 10
    python bench/budget_quality.py --part throughput
    python bench/budget_quality.py --part memory
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, figures_at, host, matmul_gflops  # noqa: E402
from bench.predict_tta import dice, kvasir_case, kvasir_split  # noqa: E402
from bench.scale import TreeMemory  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OUT = RESULTS / "budget_quality.json"


def merge(key: str, figures: dict) -> None:
    """Put `figures` under `key` (dotted) of the results file, keeping the other parts' figures."""
    blob = json.loads(OUT.read_text()) if OUT.is_file() else {"bench": "budget_quality"}
    node = blob
    *path, last = key.split(".")
    for part in path:
        node = node.setdefault(part, {})
    node[last] = figures
    blob["date"] = time.strftime("%Y-%m-%d")
    OUT.write_text(json.dumps(blob, indent=2) + "\n")


def run_cli(args: list[str], tmp: Path, log: Path, timeout: float) -> tuple[int, float, dict]:
    """(exit code, wall seconds, the tree's peak RSS and PSS in GiB: bench.scale.TreeMemory) of `python -m search.run ARGS` in `tmp` with a fresh cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS"))}
    env.update(UNET_SEARCH_CACHE=str(tmp / "cache"), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "search.run", "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--storage",
                                 str(tmp / "ray"), *args], cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
        memory = TreeMemory(proc.pid, every_s=1.0)
        try:
            code = proc.wait(timeout=timeout)
        finally:
            peak = memory.close()
    return code, time.perf_counter() - start, peak


def parent_figures(tmp: Path, experiment: str) -> dict:
    """The search's parent run: its test and default U-Net metrics, measured phase times and plan."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags)
    m = parent.data.metrics
    plan = json.loads(Path(client.download_artifacts(parent.info.run_id, "plan.json", str(tmp))).read_text())
    closing = {}  # each final-round training's whole-split Dice of its last weights and of its best epoch's (recipes.closing_choice)
    for run in client.search_runs([exp.experiment_id], "tags.`unet.role` = 'final'"):
        rm = run.data.metrics
        if "closing_val_dice_last" in rm:
            closing[run.info.run_name] = {"last": round(rm["closing_val_dice_last"], 4), "best_epoch": round(rm["closing_val_dice_best_epoch"], 4),
                                          "kept": "last" if rm.get("closing_kept_last") else "best_epoch"}
    return {"metrics": m, "plan": plan, "best_run": parent.data.tags.get("unet.best_run_name"), "closing": closing,
            "test_tta": parent.data.tags.get("unet.test_tta", "none")}


def plan_accuracy(plan: dict, metrics: dict) -> dict:
    """Each phase's predicted and measured seconds and the error as a fraction of the prediction."""
    out = {}
    for phase in ("setup", "search", "final", "test", "total"):
        predicted = plan["predicted_s"].get(phase if phase != "test" else "setup")
        measured = metrics.get(f"time_{phase}_s")
        if phase in ("setup", "test"):  # the plan predicts setup and test together ("setup": the budget's fixed part)
            continue
        if predicted and measured is not None:
            out[phase] = {"predicted_s": predicted, "measured_s": round(measured, 1), "error": round((measured - predicted) / predicted, 3)}
    fitted, final = metrics.get("plan_final_fitted_s"), metrics.get("time_final_s")
    if fitted and final is not None:  # the final round as re-fitted to the time left at the search's measured epoch time
        out["final_fitted"] = {"predicted_s": round(fitted, 1), "measured_s": round(final, 1), "error": round((final - fitted) / fitted, 3)}
    fixed = metrics.get("time_setup_s", 0) + metrics.get("time_test_s", 0)
    expected = plan["predicted_s"]["setup"] + plan["predicted_s"].get("prepared", 0.0)  # the store and the timing, before the plan
    out["setup_and_test"] = {"predicted_s": round(expected, 1), "measured_s": round(fixed, 1), "error": round((fixed - expected) / expected, 3)}
    return out


def search_figures(tmp: Path, figures: dict) -> dict:
    """`figures` with the finished search's test scores, plan and plan accuracy read from its MLflow store in `tmp`."""
    p = parent_figures(tmp, "kvasir-budget")
    m = p["metrics"]
    chose_default = "-default" in (p["best_run"] or "")  # the default U-Net won the final round: its test score is the search's
    figures.update(mean_dice=m.get("test_mean_dice"), global_dice=m.get("test_dice"), mean_dice_no_tta=m.get("test_mean_dice_no_tta"),
                   test_tta=p["test_tta"], best_run=p["best_run"],
                   default_unet_mean_dice=m.get("test_mean_dice" if chose_default else "default_test_mean_dice"),
                   default_unet_mean_dice_no_tta=m.get("test_mean_dice_no_tta" if chose_default else "default_test_mean_dice_no_tta"),
                   default_unet_global_dice=m.get("test_dice" if chose_default else "default_test_dice"),
                   plan=p["plan"], plan_accuracy=plan_accuracy(p["plan"], m), budget_s=p["plan"]["budget_s"], final_closing=p["closing"],
                   measured_total_s=m.get("time_total_s"))
    if "wall_s" in figures:
        figures["within_budget"] = figures["wall_s"] <= 1.1 * p["plan"]["budget_s"]
    return figures


def part_search(budget: str, seed: int, key: str) -> dict:
    """One budgeted arch search on Kvasir-SEG's published split."""
    root = SHARED / "kvasir"
    tmp = Path(tempfile.mkdtemp(prefix="budget-"))
    log = RESULTS / f"budget_quality_{key.replace('.', '_')}.log"
    args = ["--space", "arch", "--dataset", "folder", "--data-root", str(root), "--num-classes", "2", "--split-lists", str(root / "splits"),
            "--budget", budget, "--experiment", "kvasir-budget", "--seed", str(seed)]
    code, wall, peak = run_cli(args, tmp, log, timeout=6 * 3600)
    figures = {"command": "python -m search.run " + " ".join(args), "exit": code, "wall_s": round(wall, 1), **peak,
               "log": str(log.relative_to(REPO)), "seed": seed, "store": str(tmp), "host": host()}
    if code == 0:
        search_figures(tmp, figures)
    merge(key, figures)
    return figures


def part_rescore(store: Path, key: str) -> dict:
    """A finished search's choice and default U-Net (its MLflow store in `store`) scored again on the test split by the
    search's own test_score as it scores today, beside the figures the search recorded under `key`."""
    from mlflow import MlflowClient

    from datasets import load_dataset
    from search.driver.results import test_score

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    exp = client.get_experiment_by_name("kvasir-budget")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags)
    finals = client.search_runs([exp.experiment_id], "tags.`unet.role` = 'final' and attributes.status = 'FINISHED'")
    default = max((r for r in finals if "-default" in r.info.run_name), key=lambda r: r.data.metrics.get("best_val_dice", -1))  # as the search takes it
    os.environ["UNET_SEARCH_CACHE"] = str(store / "cache")  # the search's own store: its images memory-mapped, not decoded again
    data = load_dataset("folder", SHARED / "kvasir", num_classes=2, split_lists=str(SHARED / "kvasir" / "splits"))
    runs = {"chosen": parent.data.tags["unet.best_run_id"], "default_unet": default.info.run_id}
    scores = {role: test_score(client, run_id, data) for role, run_id in runs.items()}
    figures = {role: {k: v for k, v in s.items() if k.split("_no_tta")[0] in ("dice", "mean_dice")} for role, s in scores.items()}
    node = figures_at(json.loads(OUT.read_text()), key)
    node["rescored"] = {**figures, "how": "the same checkpoints scored again by search.driver.results.test_score with test-time augmentation "
                        "(mean_dice: as search.predict serves the model; mean_dice_no_tta: each image once, as the search scored them)"}
    merge(key, node)
    return node["rescored"]


def plain_seed(job: tuple) -> dict:
    """The plain recipe, one seed on one core for `seconds`: bench.predict_tta's resized whole-image U-Net."""
    from bench.predict_tta import kvasir_fold

    seed, seconds, fast = job
    return kvasir_fold((seed, str(SHARED / "kvasir"), seconds, False, fast))


def part_plain(minutes: float, key: str, fast: bool = True) -> dict:
    """Two seeds of the plain recipe side by side, each scored on the 120 test images at original resolution. `fast`:
    trained as the search's trials are on this machine (bf16 and channels_last where bf16 is native, else fp32 in the
    faster memory format) with a cosine over the wall budget, so the baseline has every speed and schedule the search has
    (False: fp32 at a constant rate)."""
    import torch
    import torch.nn.functional as F

    from unet_core import TTA_DEFAULT, UNet, predict_image

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        runs = pool.map(plain_seed, [(s, minutes * 60, fast) for s in (0, 1)])
    _, names = kvasir_split(SHARED / "kvasir", False)
    seeds = []
    for r in runs:
        model = UNet(3, 1, 4, None, 16)
        model.load_state_dict(r["state"])
        model.eval()
        scores = {TTA_DEFAULT: [], "none": []}  # as the search scores its choice: search.predict's TTA, and each image once
        for name in names:
            small, _, truth = kvasir_case(SHARED / "kvasir", name)
            for tta, kept in scores.items():
                probs = predict_image(model, torch.from_numpy(small), 160, tta=tta)
                kept.append(dice(F.interpolate(probs[None], size=truth.shape, mode="bilinear")[0, -1].numpy() >= 0.5, truth))
        seeds.append({"seed": r["fold"], "mean_dice": float(np.mean(scores[TTA_DEFAULT])), "mean_dice_no_tta": float(np.mean(scores["none"])),
                      "val_dice": r["val_dice"], "epochs": r["epochs"], "bf16": r["bf16"], "channels_last": r.get("channels_last")})
    how = ("bf16 autocast and channels_last where bf16 is native (else fp32 in the memory format that measures faster), lr "
           "decayed by a cosine over the wall budget" if fast
           else "fp32, constant lr")
    figures = {"recipe": f"whole-image U-Net d4-s1111 16 wide at 160 px, Dice+BCE, Adam 1e-3, flips, best epoch on 1/5 held out; {how}; "
                         f"scored with {TTA_DEFAULT} TTA as the search's choice is (mean_dice_no_tta: each image once)",
               "minutes": minutes, "seeds": seeds, "mean_dice": float(np.mean([s["mean_dice"] for s in seeds])),
               "mean_dice_no_tta": float(np.mean([s["mean_dice_no_tta"] for s in seeds])),
               "spread": [min(s["mean_dice"] for s in seeds), max(s["mean_dice"] for s in seeds)], "host": host()}
    merge(key, figures)
    return figures


def part_drive(budget: str, key: str) -> dict:
    """A budgeted arch search on DRIVE: the plan must keep the original resolution."""
    tmp = Path(tempfile.mkdtemp(prefix="budget-drive-"))
    log = RESULTS / f"budget_quality_{key.replace('.', '_')}.log"
    args = ["--space", "arch", "--dataset", "drive", "--data-root", str(SHARED / "drive"), "--budget", budget, "--experiment", "drive-budget"]
    code, wall, peak = run_cli(args, tmp, log, timeout=4 * 3600)
    figures = {"command": "python -m search.run " + " ".join(args), "exit": code, "wall_s": round(wall, 1), **peak, "host": host()}
    if code == 0:
        p = parent_figures(tmp, "drive-budget")
        figures.update(test_dice=p["metrics"].get("test_dice"), test_dice_no_tta=p["metrics"].get("test_dice_no_tta"), test_tta=p["test_tta"],
                       image_side=p["plan"]["image_side"], plan=p["plan"],
                       plan_accuracy=plan_accuracy(p["plan"], p["metrics"]))
    merge(key, figures)
    return figures


THROUGHPUT_STEPS = {"planned": (4, 8, 128, 8), "stop41": (4, 8, 176, 8)}  # (depth, width, patch, batch): today's Kvasir plan's step
# (128-px whole images), and the 176-px patches of the figures before it


def _step_rates(depth: int, width: int, patch: int, batch: int, peak: float) -> dict:
    """One step's fp32 GFLOP/s (3x the forward's FLOPs, by torch's FLOP counter) against `peak`: eager, channels_last,
    and torch.compile'd (inductor, compiled in one thread as a trial's would be) in the faster memory format, its compile
    seconds beside it."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from search.plan.cost import time_compiled_steps, time_steps
    from unet_core.unet import UNet

    model = UNet(in_channels=3, num_classes=1, depth=depth, base_channels=width)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(batch, 3, patch, patch)).sum().backward()
    flops = counter.get_total_flops()
    seconds = {cl: min(time_steps(depth, width, patch, batch, cl, "cpu", 1, steps=5) for _ in range(2)) for cl in (False, True)}
    chosen = seconds[True] < seconds[False]
    figures = {"step": f"depth {depth}, width {width}, batch {batch}, {patch}-px inputs, one thread", "gflop_per_step": round(flops / 1e9, 2),
               "gflops_channels_last": round(flops / seconds[True] / 1e9, 1), "gflops_eager": round(flops / seconds[False] / 1e9, 1),
               "channels_last_chosen": chosen, "step_vs_peak_ratio": round(flops / seconds[chosen] / 1e9 / peak, 3),
               "step_vs_peak_ratio_eager": round(flops / seconds[False] / 1e9 / peak, 3)}
    try:
        import torch._inductor.config as inductor

        inductor.compile_threads, inductor.force_disable_caches = 1, True  # a trial compiles in its one thread, from nothing
        compile_s, step = time_compiled_steps(depth, width, patch, batch, chosen, "cpu", 1, steps=5)
    except Exception as exc:  # no C++ compiler, or inductor fails on this machine: compiling is no option here
        figures["compiled"] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
        return figures
    figures["compiled"] = {"step_vs_peak_ratio": round(flops / step / 1e9 / peak, 3), "speedup": round(seconds[chosen] / step, 3),
                           "compile_s": round(compile_s, 1), "repaid_after_steps": math.ceil(compile_s / (seconds[chosen] - step)) if step < seconds[chosen] else None}
    return figures


def part_throughput(key: str) -> dict:
    """The planned Kvasir step against the fp32 matmul peak, one thread: channels_last on and off, and torch.compile'd
    (THROUGHPUT_STEPS; the headline ratios are the planned step's)."""
    import torch

    torch.set_num_threads(1)
    peak = matmul_gflops()
    steps = {name: _step_rates(*shape, peak) for name, shape in THROUGHPUT_STEPS.items()}
    figures = {**steps["planned"], "matmul_peak_gflops": round(peak, 1), "by_step": steps, "host": host()}
    merge(key, figures)
    return figures


def isic_layout(root: Path, cases: int) -> Path:
    """The ISIC 2017 layout with `cases` cases: the shared 40 images and masks again and again under new ids (links)."""
    src = SHARED / "isic"
    images = sorted((src / "ISIC-2017_Validation_Data").glob("ISIC_*.jpg"))
    data, truth = root / "ISIC-2017_Training_Data", root / "ISIC-2017_Training_Part1_GroundTruth"
    data.mkdir(parents=True)
    truth.mkdir(parents=True)
    for i in range(cases):
        image, new = images[i % len(images)], f"ISIC_{9000000 + i:07d}"
        (data / f"{new}.jpg").symlink_to(image)
        (truth / f"{new}_segmentation.png").symlink_to(src / "ISIC-2017_Validation_Part1_GroundTruth" / f"{image.stem}_segmentation.png")
    return root


def part_memory(key: str) -> dict:
    """The whole process tree's peak RSS while `--dry-run` builds the store of the ISIC layout at 40 and at 800 cases
    (decoding, the fingerprint and the cost model's measurement included), and the progress lines it printed meanwhile."""
    figures = {"host": host()}
    for cases in (40, 800):
        tmp = Path(tempfile.mkdtemp(prefix=f"isic{cases}-"))
        log = RESULTS / f"budget_quality_memory_isic{cases}.log"
        args = ["--space", "arch", "--dataset", "isic", "--data-root", str(isic_layout(tmp / "data", cases)), "--dry-run"]
        code, wall, peak = run_cli(args, tmp, log, timeout=3600)
        lines = log.read_text().splitlines()
        figures[f"isic_{cases}"] = {"exit": code, "wall_s": round(wall, 1), **peak,
                                    "progress_lines": [ln for ln in lines if ln.startswith("preprocessing")][:12]}
    figures["rss_growth_mb"] = round((figures["isic_800"]["peak_rss_gib"] - figures["isic_40"]["peak_rss_gib"]) * 1024)
    figures["target_growth_mb"] = 200
    merge(key, figures)
    return figures


def _search_scores(search: dict) -> dict:
    """{tta: (the choice's, the default U-Net's) test mean Dice}: each image once ("none") and, where the search scored
    with search.predict's TTA or was rescored (part_rescore), with it."""
    tta = search.get("test_tta", "none")
    if tta != "none":
        return {tta: (search["mean_dice"], search["default_unet_mean_dice"]),
                "none": (search["mean_dice_no_tta"], search["default_unet_mean_dice_no_tta"])}
    scores = {"none": (search["mean_dice"], search["default_unet_mean_dice"])}
    if "rescored" in search:
        r = search["rescored"]
        scores["flip"] = (r["chosen"]["mean_dice"], r["default_unet"]["mean_dice"])
    return scores


def _plain_scores(plain: dict) -> dict:
    """{tta: each plain seed's test mean Dice}, as _search_scores (runs before the TTA scoring were scored once)."""
    scores = {"none": [s.get("mean_dice_no_tta", s["mean_dice"]) for s in plain["seeds"]]}
    if all("mean_dice_no_tta" in s for s in plain["seeds"]):
        scores["flip"] = [s["mean_dice"] for s in plain["seeds"]]
    return scores


def _margins(search: dict, plain: dict, tta: str | None = None) -> dict:
    """The search's test mean Dice against its default U-Net and each plain seed, all scored the same way: `tta`, or
    with search.predict's TTA where both sides were, else each image once."""
    ours, theirs = _search_scores(search), _plain_scores(plain)
    tta = tta or ("flip" if "flip" in ours and "flip" in theirs else "none")
    (chosen, default), seeds = ours[tta], theirs[tta]
    return {"scored_with_tta": tta, "search_mean_dice": chosen, "default_unet_mean_dice": default,
            "plain_mean_dice": float(np.mean(seeds)), "plain_seeds": seeds,
            "margin_over_plain": round(chosen - float(np.mean(seeds)), 4), "margin_over_plain_by_seed": [round(chosen - s, 4) for s in seeds],
            "margin_over_default_unet": round(chosen - default, 4)}


SEARCH_SEEDS = ("search_60m", "search_60m_seed1", "search_60m_seed2", "search_60m_seed3", "search_60m_seed4", "search_60m_seed5")
# the 60-min searches, one a seed (seeds 0 and 1 ran before the search phase filled its planned time, seed 2 after, seed 3
# on the plan that fills 0.97 of the budget, seed 4 with the one-fold final choice paired over the validation images, seed
# 5 with each phase's start and stop and the test score timed)
PLAN_RUNS = ("kvasir.search_60m_seed5", "kvasir.search_10m", "drive.search_30m")  # plan.max_abs_error: the runs on today's
# planning rules (the search phase's deadline at 105%, each phase's start and stop, the test score timed as the search
# scores it: c224b7c and after); the earlier rules' errors stay beside it, under earlier_rules
EARLIER_PLAN_RUNS = ("kvasir.search_60m", "kvasir.search_60m_seed1", "kvasir.search_60m_seed2", "kvasir.search_60m_seed3",
                     "kvasir.search_60m_seed4", "kvasir.search_10m_before_safety", "kvasir.search_10m_before_setup",
                     "kvasir.search_10m_before_phase", "kvasir.search_10m_before_score", "drive.search_30m_before_safety",
                     "drive.search_30m_before_setup", "drive.search_30m_before_score")
REPLAY = RESULTS / "final_choice_replay.json"  # bench/final_choice_replay.py: today's final choice on earlier seeds' checkpoints
PHASES = ("search", "final", "total")


def _plan_errors(blob: dict, keys: tuple[str, ...]) -> dict:
    """{run key: its plan_accuracy} for the runs of `keys` ("dataset.key") in the results file that have one."""
    runs = {}
    for key in keys:
        dataset, _, run = key.partition(".")
        if "plan_accuracy" in blob.get(dataset, {}).get(run, {}):
            runs[key] = blob[dataset][run]["plan_accuracy"]
    return runs


def _max_error(runs: dict) -> float | None:
    errors = [abs(r[p]["error"]) for r in runs.values() for p in PHASES if p in r]
    return max(errors) if errors else None


def _todays_choice(k: dict, seeds: list[str], tta: str) -> dict:
    """The 60-min seeds' test mean Dice under today's one-fold final choice (paired over the validation images): the
    served figure of the seeds that ran with it, the replayed choice's (REPLAY) for those before it."""
    replay = json.loads(REPLAY.read_text())["runs"] if REPLAY.is_file() else {}
    by_seed, how = [], []
    for key in seeds:
        replayed = replay.get(f"kvasir.{key}")
        if replayed is not None and not replayed.get("ran_with_todays_rule") and tta == "flip":  # the replay reads the served (flip) figures
            by_seed.append(replayed["today"]["test_mean_dice"])
            how.append("replayed")
        else:
            by_seed.append(_search_scores(k[key])[tta][0])
            how.append("served")  # ran with today's choice (seed 4), or not replayed
    return {"mean_dice": float(np.mean(by_seed)), "sd": float(np.std(by_seed, ddof=1)) if len(by_seed) > 1 else None,
            "by_seed": by_seed, "how": how, "see": "bench/results/final_choice_replay.json"}


def part_summary() -> dict:
    """The keys a check reads (kvasir.search, kvasir.default_unet, kvasir.plain, plan.max_abs_error) and the margins at each
    budget, from the parts' figures already in the results file."""
    blob = json.loads(OUT.read_text())
    k = blob["kvasir"]
    search, plain = k["search_60m"], k["plain_60m"]
    seeds = [key for key in SEARCH_SEEDS if k.get(key, {}).get("mean_dice") is not None]
    tta = "flip" if all(_margins(k[key], plain)["scored_with_tta"] == "flip" for key in seeds) else "none"
    runs_at = [_margins(k[key], plain, tta) for key in seeds]  # every search seed and the plain seeds scored alike
    at = {**runs_at[0], "search_mean_dice": float(np.mean([a["search_mean_dice"] for a in runs_at])),
          "default_unet_mean_dice": float(np.mean([a["default_unet_mean_dice"] for a in runs_at]))}
    k["search"] = {"budget": "60m", "see": seeds, "seeds": len(seeds), "mean_dice": at["search_mean_dice"], "scored_with_tta": tta,
                   "by_seed": [a["search_mean_dice"] for a in runs_at], **{f: search.get(f) for f in ("wall_s", "peak_rss_gib", "peak_pss_gib")},
                   "served": {"tta": search.get("test_tta", "none"), "mean_dice": search.get("mean_dice"), "global_dice": search.get("global_dice")},
                   "wall_s_by_seed": [k[key].get("wall_s") for key in seeds], "peak_rss_gib_by_seed": [k[key].get("peak_rss_gib") for key in seeds],
                   "image_side": search["plan"]["image_side"], "base_channels": search["plan"]["base_channels"],
                   "earlier_rules_no_tta": {key: k[key]["mean_dice"] for key in k if key.startswith("search_60m_") and key not in seeds
                                            and k[key].get("mean_dice") is not None and k[key].get("test_tta", "none") == "none"}}
    k["search"]["todays_choice"] = _todays_choice(k, seeds, tta)
    k["default_unet"] = {"budget": "60m", "mean_dice": at["default_unet_mean_dice"], "scored_with_tta": tta,
                         "by_seed": [a["default_unet_mean_dice"] for a in runs_at],
                         "note": "the final round's default U-Net (d4-s1111) under the same plan"}
    k["plain"] = {"minutes": plain["minutes"], "mean_dice": at["plain_mean_dice"], "seeds": at["plain_seeds"], "scored_with_tta": at["scored_with_tta"],
                  "spread": [min(at["plain_seeds"]), max(at["plain_seeds"])], "recipe": plain["recipe"], "see": "kvasir.plain_60m"}
    for budget in ("60m", "10m"):
        if f"search_{budget}" in k and f"plain_{budget}" in k and k[f"search_{budget}"].get("mean_dice") is not None:
            k[f"at_{budget}"] = _margins(k[f"search_{budget}"], k[f"plain_{budget}"])
    runs, earlier = _plan_errors(blob, PLAN_RUNS), _plan_errors(blob, EARLIER_PLAN_RUNS)
    fixed = [abs(r["setup_and_test"]["error"]) for r in runs.values() if "setup_and_test" in r]
    blob["plan"] = {"max_abs_error": _max_error(runs), "phases": list(PHASES), "by_run": runs,
                    "setup_and_test_max_abs_error": max(fixed) if fixed else None,
                    "earlier_rules": {"max_abs_error": _max_error(earlier), "by_run": earlier},
                    "note": "errors are (measured - predicted) / predicted, against the plans file as written before the search; "
                            "max_abs_error spans the runs on today's planning rules (PLAN_RUNS), earlier_rules those before"}
    OUT.write_text(json.dumps(blob, indent=2) + "\n")
    return {"kvasir": {key: k[key] for key in ("search", "default_unet", "plain") if key in k}, "plan": blob["plan"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", required=True, choices=["search", "rescore", "plain", "drive", "throughput", "memory", "summary"])
    parser.add_argument("--budget", default="60m")
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--key", default=None, help="where the figures go in the results file (default: by part and budget)")
    parser.add_argument("--store", type=Path, help="rescore: the finished search's folder (its `store` in the results file)")
    parser.add_argument("--fp32-constant", action="store_true", help="plain: the fp32 constant-rate recipe (before 2026-12-06)")
    a = parser.parse_args()
    if a.part == "search":
        out = part_search(a.budget, a.seed, a.key or f"kvasir.search_{a.budget}")
    elif a.part == "rescore":
        out = part_rescore(a.store, a.key or f"kvasir.search_{a.budget}")
    elif a.part == "plain":
        out = part_plain(a.minutes, a.key or f"kvasir.plain_{a.minutes:g}m", fast=not a.fp32_constant)
    elif a.part == "drive":
        out = part_drive(a.budget, a.key or f"drive.search_{a.budget}")
    elif a.part == "summary":
        out = part_summary()
    elif a.part == "memory":
        out = part_memory(a.key or "memory.store_build")
    else:
        out = part_throughput(a.key or "throughput")
    print(json.dumps({k: v for k, v in out.items() if k not in ("plan",)}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
