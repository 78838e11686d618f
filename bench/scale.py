"""Data at a user's scale: Kvasir-SEG (1000 images, RGB JPEG masks) preprocessed into the store and searched, and how
memory grows with the dataset.

    python bench/scale.py [--data-root ../shared/data/kvasir] [--smoke]

Measures, each in this one run:
- preprocessing: wall time and peak memory of building the store of the 1000 cases (a process of its own);
- the fingerprint's intensity mean against a float64 reference computed here from the JPEGs;
- the README's quick search on it, end to end from a cold store: time to the first trial done (ASHA-stopped or not) and
  to the first that trained every epoch, the peak memory of the whole process tree (driver, Ray, trial workers), and the
  bytes Ray spilled; the search is then stopped with SIGTERM, as `timeout` would;
- memory against the dataset's size: the same 250 images (evenly spaced over the dataset) repeated to 250, 1000 and 4000
  cases (links, new names), each searched for the same few minutes; the slope of peak memory against the dataset's
  uint8 size;
- trainer throughput on the store (memory-mapped uint8) against the in-memory float32 path, same patches and batch,
  alternating runs, and the share of a training epoch spent reading patches (whether DataLoader workers could help).

Memory is read from /proc every 0.25 s over the whole process tree: RSS summed (shared libraries counted once per
process, an upper bound) and PSS summed (shared pages split between processes). The last line prints the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import RESULTS, write_results  # noqa: E402

PARTS = ("preprocessing", "search", "growth", "throughput")
DONE = re.compile(r"^\[(\d+):(\d+)\] (\d+)/(\d+) trials done \((\d+) stopped early")
GIB = 2**30


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_of(pids: list[int]) -> tuple[int, int]:
    """(summed RSS, summed PSS) in bytes of `pids`."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


class TreeMemory:
    """The peak summed RSS and PSS of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, every_s: float = 0.25):
        self.pid, self.every_s = pid, every_s
        self.peak_rss = self.peak_pss = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            rss, pss = memory_of(tree(self.pid))
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            time.sleep(self.every_s)

    def close(self) -> dict[str, float]:
        """Stop sampling; the peaks in GiB."""
        self.stop.set()
        self.thread.join()
        return {"peak_rss_gib": round(self.peak_rss / GIB, 3), "peak_pss_gib": round(self.peak_pss / GIB, 3)}


def env(cache: Path) -> dict[str, str]:
    """The environment of a measured process: its own store folder, the repository importable, output unbuffered."""
    return {**os.environ, "UNET_SEARCH_CACHE": str(cache), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def preprocess(root: Path, cache: Path) -> dict:
    """Build the store of `root` in a process of its own: its wall time and peak memory."""
    code = "from datasets import load_dataset; load_dataset('folder', %r, num_classes=2)" % str(root)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", code], env=env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    mem = TreeMemory(proc.pid)
    _, err = proc.communicate()
    figures = {"seconds": round(time.monotonic() - start, 1), **mem.close()}
    if proc.returncode:
        raise SystemExit(f"preprocessing failed: {err[-2000:]}")
    return figures


def intensity_check(root: Path, cache: Path) -> dict:
    """The fingerprint's intensity mean (datasets.inspect, from the store) against float64 sums over the same training
    images decoded here from their files."""
    from PIL import Image

    os.environ["UNET_SEARCH_CACHE"] = str(cache)
    from datasets import compute_fingerprint, load_dataset

    data = load_dataset("folder", root, num_classes=2)
    fp = compute_fingerprint(data)
    total, count = np.zeros(3, np.float64), 0
    for s in data.train + data.val:
        pixels = np.asarray(Image.open(root / "images" / f"{s.name}.jpg").convert("RGB"), np.float64) / 255.0
        total += pixels.reshape(-1, 3).sum(0)
        count += pixels.shape[0] * pixels.shape[1]
    reference = total / count
    return {"fingerprint_mean": [round(v, 6) for v in fp.intensity_mean], "float64_reference_mean": [round(float(v), 6) for v in reference],
            "max_abs_difference": float(np.abs(np.array(fp.intensity_mean) - reference).max()), "pixels": count}


def search(root: Path, cache: Path, work: Path, stop_after_s: float, until_full: bool, extra: list[str]) -> dict:
    """The README's quick search on `root` (a folder dataset, --num-classes 2) from a cold store, stopped with SIGTERM after
    `stop_after_s` seconds or, with `until_full`, once a trial trained every epoch (whichever comes first)."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "search.run", "--dataset", "folder", "--data-root", str(root), "--num-classes", "2",
           "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}", "--storage", str(work / "ray"), *extra]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env(cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mem = TreeMemory(proc.pid)
    lines, first_done, first_full = [], None, None
    timer = threading.Timer(stop_after_s, lambda: proc.poll() is None and proc.send_signal(signal.SIGTERM))
    timer.start()
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        m = DONE.match(line)
        if m:
            elapsed = time.monotonic() - start
            first_done = first_done or elapsed
            done, stopped = int(m.group(3)), int(m.group(5))
            if done > stopped and first_full is None:
                first_full = elapsed
                if until_full and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
    proc.wait()
    timer.cancel()
    figures = mem.close()
    text = "\n".join(lines)
    spilled = sum(float(x) for x in re.findall(r"Spilled (\d+) MiB", text))
    return {"seconds_to_first_trial_done": None if first_done is None else round(first_done, 1),
            "seconds_to_first_trial_all_epochs": None if first_full is None else round(first_full, 1),
            "wall_s": round(time.monotonic() - start, 1), "exit_code": proc.returncode, **figures, "ray_spilled_mib": spilled,
            "ansi_codes": "\x1b[" in text, "ended_with": lines[-1][:300] if lines else "", "log_tail": lines[-6:]}


def repeated(source: Path, n: int, out: Path, base: int) -> tuple[Path, int]:
    """A folder dataset of `n` cases: `base` of the source's pairs, evenly spaced, linked again and again under new names, so
    every size holds the same images in the same proportions (the largest image in flight sets a trial's inference
    memory, whatever the dataset's size); (folder, uint8 bytes of its images)."""
    every = sorted((source / "images").iterdir())
    images = [every[i] for i in np.linspace(0, len(every) - 1, min(base, len(every))).round().astype(int)]
    masks = {p.stem: p for p in (source / "masks").iterdir()}
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    size = 0
    from PIL import Image

    dims = {}
    for i in range(n):
        image = images[i % len(images)]
        name = f"r{i // len(images)}_{image.stem}"
        os.symlink(image.resolve(), out / "images" / f"{name}{image.suffix}")
        os.symlink(masks[image.stem].resolve(), out / "masks" / f"{name}{masks[image.stem].suffix}")
        if image not in dims:
            with Image.open(image) as im:
                dims[image] = im.size[0] * im.size[1] * 3
        size += dims[image]
    return out, size


def throughput(root: Path, cache: Path, cases: int, steps: int, repeats: int) -> dict:
    """Patches a second of a training epoch from the store's memory maps against the same cases held in memory as float32
    (the path before the store), alternating; plus the share of the store epoch spent only reading patches."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    os.environ["UNET_SEARCH_CACHE"] = str(cache)
    from datasets import PatchDataset, as_float, load_dataset
    from datasets.types import Sample
    from unet_core import TrainConfig, Trainer, UNet, build_loss

    torch.set_num_threads(1)
    data = load_dataset("folder", root, num_classes=2)
    stored = data.train[:cases]
    in_memory = [Sample(s.name, as_float(s.image).copy(), np.array(s.mask), np.array(s.valid)) for s in stored]
    batch, patch = 16, 48

    def loader(samples):
        ds = PatchDataset(samples, patch, 16)
        return DataLoader(ds, batch_size=batch, sampler=RandomSampler(ds, replacement=True, num_samples=steps * batch,
                                                                      generator=torch.Generator().manual_seed(0)))

    def train_rate(samples) -> float:
        torch.manual_seed(0)
        trainer = Trainer(UNet(3, 1, 2, base_channels=8), build_loss("dice_bce"), TrainConfig(epochs=1, batch_size=batch, num_threads=1), lambda m: {"dice": 0.0})
        start = time.perf_counter()
        trainer.train_epoch(loader(samples))
        return steps * batch / (time.perf_counter() - start)

    def read_rate(samples) -> float:
        start = time.perf_counter()
        for _ in loader(samples):
            pass
        return steps * batch / (time.perf_counter() - start)

    train_rate(stored)  # warm-up: page cache and kernels
    store_rates, memory_rates = [], []
    for r in range(repeats):  # ABBA: neither path always runs first
        first, second = (stored, in_memory) if r % 2 == 0 else (in_memory, stored)
        a, b = train_rate(first), train_rate(second)
        store_rates.append(a if first is stored else b)
        memory_rates.append(b if first is stored else a)
    ratios = [a / b for a, b in zip(store_rates, memory_rates)]
    read = read_rate(stored)
    return {"cases": cases, "batch": batch, "patch": patch, "steps": steps, "store_patches_per_s": [round(r, 1) for r in store_rates],
            "in_memory_patches_per_s": [round(r, 1) for r in memory_rates], "ratio_median": round(float(np.median(ratios)), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)], "store_read_patches_per_s": round(read, 1),
            "read_share_of_epoch": round(float(np.median(store_rates)) / read, 3)}


def smoke_dataset(out: Path, n: int = 12) -> Path:
    """`n` small cases in Kvasir's layout: RGB JPEG images, binary masks saved as RGB JPEGs (three equal channels)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir(parents=True)
    for i in range(n):
        h, w = int(rng.integers(70, 100)), int(rng.integers(70, 120))
        yy, xx = np.mgrid[:h, :w]
        blob = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < (min(h, w) / 4) ** 2
        image = np.clip(rng.normal(0.5, 0.1, (h, w, 3)) - 0.3 * blob[..., None], 0, 1)
        Image.fromarray((image * 255).astype(np.uint8)).save(out / "images" / f"case{i}.jpg")
        grey = (blob * 255).astype(np.uint8)
        Image.fromarray(np.stack([grey] * 3, -1)).save(out / "masks" / f"case{i}.jpg")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data" / "kvasir"))
    p.add_argument("--sizes", default="250,1000,4000", help="cases of the memory-growth runs")
    p.add_argument("--growth-seconds", type=float, default=240, help="how long each memory-growth search runs before SIGTERM")
    p.add_argument("--parts", default=",".join(PARTS), help=f"which measurements to take, of {', '.join(PARTS)}; the others are "
                   "kept from the last results file")
    p.add_argument("--smoke", action="store_true", help="a small Kvasir-layout folder, sizes 12 and 24, seconds-long searches")
    a = p.parse_args()
    parts = set(a.parts.split(","))
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    try:
        if a.smoke:
            root, sizes = smoke_dataset(work / "smoke"), [12, 24]
            search_args, search_s, growth_s, tp = ["--smoke-test"], 240, 15, dict(cases=6, steps=3, repeats=1)
        else:
            root, sizes = Path(a.data_root), [int(v) for v in a.sizes.split(",")]
            search_args, search_s, growth_s, tp = [], 900, a.growth_seconds, dict(cases=200, steps=80, repeats=6)
        if not (root / "images").is_dir():
            raise SystemExit(f"{root}: no images/ folder (Kvasir-SEG as released: images/NAME.jpg, masks/NAME.jpg)")
        cases = len(list((root / "images").iterdir()))
        name = "scale" if not a.smoke else "scale_smoke"
        previous = RESULTS / f"{name}.json"
        figures: dict = json.loads(previous.read_text()) if parts != set(PARTS) and previous.is_file() else {}
        figures.update({"dataset": str(root), "cases": cases})
        for key in ("bench", "date", "machine", "torch"):
            figures.pop(key, None)
        if "preprocessing" in parts:
            pre = preprocess(root, work / "cache-pre")
            figures["preprocessing"] = {**pre, "target_seconds": 60, "target_peak_rss_gib": 2.0}
            print(f"preprocessing {cases} cases: {pre['seconds']} s, peak RSS {pre['peak_rss_gib']} GiB", flush=True)
            figures["intensity"] = intensity_check(root, work / "cache-pre")
            print(f"intensity mean {figures['intensity']['fingerprint_mean']} vs float64 {figures['intensity']['float64_reference_mean']}", flush=True)
            write_results(name, figures)  # each part is kept as soon as it is measured
        if "search" in parts:
            e2e = search(root, work / "cache-search", work / "search", search_s, until_full=True, extra=search_args)
            figures["quick_search"] = {**e2e, "target_seconds_to_first_trial": 180, "target_peak_rss_gib": 4.0, "target_spilled_mib": 0}
            print(f"quick search: first trial done at {e2e['seconds_to_first_trial_done']} s, first with every epoch at "
                  f"{e2e['seconds_to_first_trial_all_epochs']} s, peak RSS {e2e['peak_rss_gib']} GiB (PSS {e2e['peak_pss_gib']}), spilled "
                  f"{e2e['ray_spilled_mib']} MiB", flush=True)
            write_results(name, figures)
        if "growth" in parts:
            growth = []
            for n in sizes:
                folder, size = repeated(root, n, work / f"repeat-{n}", min(sizes))
                run = search(folder, work / f"cache-{n}", work / f"search-{n}", growth_s, until_full=False, extra=search_args)
                growth.append({"cases": n, "uint8_gib": round(size / GIB, 3), "uint8_bytes": size, **{k: run[k] for k in (
                    "peak_rss_gib", "peak_pss_gib", "wall_s", "seconds_to_first_trial_done", "ray_spilled_mib")}})
                print(f"{n} cases ({size / GIB:.2f} GiB of uint8 pixels): peak RSS {run['peak_rss_gib']} GiB, PSS {run['peak_pss_gib']} GiB", flush=True)
                shutil.rmtree(work / f"cache-{n}", ignore_errors=True)
            x = np.array([g["uint8_bytes"] / GIB for g in growth])
            slope = {k: float(np.polyfit(x, [g[k] for g in growth], 1)[0]) for k in ("peak_rss_gib", "peak_pss_gib")}
            figures["memory_growth"] = {"runs": growth, "slope_rss_per_uint8_gib": round(slope["peak_rss_gib"], 4),
                                        "slope_pss_per_uint8_gib": round(slope["peak_pss_gib"], 4), "target_slope": 0.2,
                                        "seconds_each": growth_s, "distinct_images": min(sizes)}
            write_results(name, figures)
        if "throughput" in parts:
            figures["throughput"] = {**throughput(root, work / "cache-pre" if "preprocessing" in parts else work / "cache-tp", **tp),
                                     "target_ratio": 0.9}
        path = write_results(name, figures)
        pre, e2e, g, t = (figures.get(k, {}) for k in ("preprocessing", "quick_search", "memory_growth", "throughput"))
        print(f"wrote {path}")
        print(f"scale: preprocessing {pre.get('seconds')} s / 60 s; first trial {e2e.get('seconds_to_first_trial_done')} s / 180 s; peak RSS "
              f"{e2e.get('peak_rss_gib')} / 4 GiB; memory slope {g.get('slope_rss_per_uint8_gib')} / 0.2; store / in-memory throughput "
              f"{t.get('ratio_median')} ({t.get('ratio_range', [None])[0]}-{t.get('ratio_range', [None, None])[1]}) / 0.9")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
