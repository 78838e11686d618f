"""The cost model of a plan: seconds a training step (by depth, width, patch, batch, threads and memory format), seconds
a full-image prediction and seconds scoring a test image as the search does, measured on this machine in a few timed steps and cached per machine, so planning a
second search costs nothing. channels_last is decided here, by the measurement, not by the CPU's name; steps are timed in
the precision the trials train in (bf16 autocast where this device computes bf16 natively: --precision auto)."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

CACHE_VERSION = 2  # 2: the step timed is the trainer's own (its loss and finite check)


class CostModel(Protocol):
    """What a planner needs to know about this machine."""

    def step_s(self, depth: int, width: int, patch: int, batch: int) -> float:
        """Wall seconds of one training step (forward, backward, optimiser) of `batch` patches."""

    def channels_last(self, depth: int, width: int, patch: int, batch: int) -> bool:
        """Whether the measured step is faster in channels_last."""

    def predict_s(self, depth: int, width: int, side: int) -> float:
        """Wall seconds to predict one image whose longer side is `side` px."""

    def score_s(self, depth: int, width: int, side: int, shape: tuple[int, int], models: int = 1, tile: int = 0) -> float:
        """Wall seconds to score one test image of `shape` (h, w) as the search does after its final round: `models` fold
        models averaged over the served views, predicted at `side` (0: the original size) in `tile`-px tiles (0: the
        image in one), scored at the original size."""


def read_cpuinfo() -> str:
    """/proc/cpuinfo's text ("" where there is none: macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_fields(cpuinfo: str, fallback: str = "") -> tuple[str, list[str]]:
    """(model name, instruction-set flags) of the CPU /proc/cpuinfo's text describes; `fallback` names a CPU it does not."""
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line and line.split(":", 1)[0].strip() in ("model name", "flags"))
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return fields.get("model name", fallback), fields.get("flags", "").split()


def cpu_identity(cpuinfo: str, fallback: str = "") -> str:
    """The CPU as /proc/cpuinfo's text describes it: its model name and instruction-set flags (clouds sell CPUs of one
    model name with and without AVX-512 or native bf16, whose steps differ severalfold)."""
    model, flags = cpu_fields(cpuinfo, fallback)
    return " ".join([model, *sorted(flags)])


def machine_key(device: str, threads: int) -> str:
    """This machine as the cache knows it: CPU model and flags, core count, torch version, the device and the threads a trial gets."""
    import torch  # deferred: planning imports torch only once the flags are checked

    cpu = cpu_identity(read_cpuinfo(), platform.processor() or platform.machine())
    gpu = torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else ""
    raw = json.dumps([CACHE_VERSION, cpu, os.cpu_count(), torch.__version__, device, gpu, threads])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class MeasuredCost:
    """A CostModel that times each step, prediction and test image's score once on this machine and keeps the seconds in
    `cache`."""

    cache: Path
    device: str = "cpu"
    threads: int = 1
    steps: int = 3
    bf16: bool = False  # trials train in bf16 autocast (and then always channels_last: recipes.train_config)
    echo: Callable[[str], None] | None = None  # told of each step timed here for the first time (a fresh machine: minutes)
    timed: int = 0  # measurements this model has made (not read from the cache)

    def _entries(self) -> dict[str, float]:
        try:
            return json.loads(self.cache.read_text())
        except (OSError, ValueError):
            return {}

    def _measure(self, key: str, run) -> float:
        entries = self._entries()
        if key not in entries:
            entries[key] = run()
            self.timed += 1
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
            os.replace(tmp, self.cache)
        return float(entries[key])

    def _step(self, depth: int, width: int, patch: int, batch: int, channels_last: bool) -> float:
        key = f"step-d{depth}-w{width}-p{patch}-b{batch}-cl{int(channels_last)}" + ("-bf16" if self.bf16 else "")
        return self._measure(key, lambda: time_steps(depth, width, patch, batch, channels_last, self.device, self.threads, self.steps, self.bf16))

    def step_s(self, depth: int, width: int, patch: int, batch: int) -> float:
        """The step the trials take: in bf16, channels_last's; in fp32, the faster memory format's."""
        before = self.timed
        last = self._step(depth, width, patch, batch, True)
        eager = last if self.bf16 else self._step(depth, width, patch, batch, False)
        step = min(last, eager)  # in bf16 the two are one timing
        if self.echo is not None and self.timed > before:
            self.echo(f"timed a training step on this machine (kept for later searches): depth {depth}, width {width}, {patch}-px patches "
                      f"of {batch}: {step:.2f} s{', channels_last' if self.bf16 or last < eager else ''}")
        return step

    def channels_last(self, depth: int, width: int, patch: int, batch: int) -> bool:
        """channels_last where it measured faster (always in bf16, where the trials use it regardless)."""
        return self.bf16 or self._step(depth, width, patch, batch, True) < self._step(depth, width, patch, batch, False)

    def predict_s(self, depth: int, width: int, side: int) -> float:
        """One forward pass over a side x side tile (an image is at most that, padded)."""
        key = f"predict-d{depth}-w{width}-s{side}"
        return self._measure(key, lambda: time_predict(depth, width, side, self.device, self.threads))

    def score_s(self, depth: int, width: int, side: int, shape: tuple[int, int], models: int = 1, tile: int = 0) -> float:
        """A test image scored as search.driver.results.test_score does: on the driver's CPU with its threads (the trials
        have ended), whatever device the trials train on."""
        import torch  # deferred: see machine_key

        key = f"score-d{depth}-w{width}-s{side}-{shape[0]}x{shape[1]}-m{models}-t{tile}-th{torch.get_num_threads()}"
        return self._measure(key, lambda: time_score(depth, width, side, shape, models, tile=tile))


def _model(depth: int, width: int, device: str, channels_last: bool):
    import torch  # deferred: see machine_key

    from unet_core.unet import UNet  # deferred: imports torch

    model = UNet(in_channels=3, num_classes=1, depth=depth, base_channels=width).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def time_steps(depth: int, width: int, patch: int, batch: int, channels_last: bool, device: str = "cpu", threads: int = 1, steps: int = 3,
               bf16: bool = False) -> float:
    """Seconds of one training step (unet_core.trainer.train_step, the trials' own, with their Dice+BCE loss), the mean of
    `steps` timed after one warm-up step; `bf16`: the forward pass in bf16 autocast, as a trial trains where bf16 is native."""
    return _timed(depth, width, patch, batch, channels_last, device, threads, steps, bf16, compiled=False)[1]


def time_compiled_steps(depth: int, width: int, patch: int, batch: int, channels_last: bool, device: str = "cpu", threads: int = 1,
                        steps: int = 3, bf16: bool = False) -> tuple[float, float]:
    """(seconds torch.compile (inductor) took, beyond one step, before the first step ran; seconds of one compiled step, as
    time_steps): what compiling a training would cost and give on this machine."""
    return _timed(depth, width, patch, batch, channels_last, device, threads, steps, bf16, compiled=True)


def _timed(depth: int, width: int, patch: int, batch: int, channels_last: bool, device: str, threads: int, steps: int, bf16: bool,
           compiled: bool) -> tuple[float, float]:
    """(the warm-up step's seconds beyond a timed step's, a timed step's seconds)."""
    import torch  # deferred: see machine_key

    from unet_core.losses import build_loss  # deferred: imports torch
    from unet_core.trainer import train_step  # deferred: imports torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        torch.manual_seed(0)
        model = _model(depth, width, device, channels_last)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        stepped = torch.compile(model) if compiled else model
        x = torch.randn(batch, 3, patch, patch, device=device)
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        y = torch.randint(0, 2, (batch, patch, patch), device=device)
        valid = torch.ones(batch, patch, patch, device=device)
        loss_fn = build_loss("dice_bce").to(device)
        marks = []
        for _ in range(steps + 1):
            if device == "cuda":
                torch.cuda.synchronize()
            marks.append(time.perf_counter())
            train_step(stepped, loss_fn, opt, x, y, valid, amp=bf16, cpu_amp=bf16)  # its loss.item() waits for the device
        step = (time.perf_counter() - marks[1]) / steps
        return max(0.0, marks[1] - marks[0] - step), step
    finally:
        torch.set_num_threads(before)


def time_predict(depth: int, width: int, side: int, device: str = "cpu", threads: int = 1) -> float:
    """Seconds of one forward pass over a side x side input (side rounded up to a multiple of 2**depth)."""
    import torch  # deferred: see machine_key

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        size = -(-side // 2**depth) * 2**depth
        model = _model(depth, width, device, False).eval()
        x = torch.randn(1, 3, size, size, device=device)
        with torch.no_grad():
            model(x)
            start = time.perf_counter()
            model(x)
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(before)


def time_score(depth: int, width: int, side: int, shape: tuple[int, int], models: int = 1, images: int = 1, tile: int = 0) -> float:
    """Seconds to score one image of `shape` with `models` fold models (unet_core.evaluate_images, as the search scores its
    test split: TTA_DEFAULT's views in `tile`-px tiles overlapping by half (0: the image in one), the probabilities
    upsampled from `side`, the metrics and each image's Dice), the mean of `images` timed after one warm-up, on this
    process's threads."""
    import numpy as np
    import torch  # deferred: see machine_key

    from unet_core import TTA_DEFAULT, evaluate_images  # deferred: imports torch

    torch.manual_seed(0)
    nets = [_model(depth, width, "cpu", False).eval() for _ in range(models)]
    rng = np.random.default_rng(0)
    sample = (rng.random((3, *shape), dtype=np.float32), (rng.random(shape) > 0.5).astype(np.uint8), None)
    tile = tile or -(-(side or max(shape)) // 2**depth) * 2**depth
    with torch.no_grad():
        evaluate_images(nets, [sample], 1, tile, 0.5, 0, tta=TTA_DEFAULT, side=side, per_image=True, no_tta=True)
        start = time.perf_counter()
        evaluate_images(nets, [sample] * images, 1, tile, 0.5, 0, tta=TTA_DEFAULT, side=side, per_image=True, no_tta=True)
    return (time.perf_counter() - start) / images


@dataclass(frozen=True)
class PlantedCost:
    """A cost model with made-up seconds (tests, and what-if plans): a step costs `per_megapixel_step` seconds per
    million input pixels of a width-8 depth-4 net, scaled by width squared over 64; prediction likewise."""

    per_megapixel_step: float = 4.0
    per_megapixel_predict: float = 0.5

    def step_s(self, depth: int, width: int, patch: int, batch: int) -> float:
        """Made-up step seconds, proportional to pixels and width squared."""
        return self.per_megapixel_step * batch * patch * patch / 1e6 * (width / 8) ** 2

    def channels_last(self, depth: int, width: int, patch: int, batch: int) -> bool:
        """Never (a planted model measures nothing)."""
        return False

    def predict_s(self, depth: int, width: int, side: int) -> float:
        """Made-up prediction seconds."""
        return self.per_megapixel_predict * side * side / 1e6 * (width / 8) ** 2

    def score_s(self, depth: int, width: int, side: int, shape: tuple[int, int], models: int = 1, tile: int = 0) -> float:
        """Made-up scoring seconds: each model's four mirror views, predicted."""
        return 4 * models * self.predict_s(depth, width, side or max(shape))
