"""Training throughput: our Trainer against a plain tutorial-style PyTorch loop, same model, data and machine.

Prints samples/s of both, the achieved GFLOP/s of ours, and (last) the two ratios:
ours / tutorial samples/s, and achieved GFLOP/s / the machine's measured matmul GFLOP/s.
    python bench/train_throughput.py [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import matmul_gflops, write_results  # noqa: E402
from datasets import PatchDataset, load_dataset  # noqa: E402
from unet_core import TrainConfig, Trainer, UNet, build_loss  # noqa: E402


def make_model(depth: int, width: int) -> UNet:
    torch.manual_seed(0)
    return UNet(1, 1, depth=depth, skips="1" * depth, base_channels=width)


def tutorial_epoch(model, dataset, batch_size: int) -> float:
    """The loop most tutorials show: default DataLoader, BCE + soft Dice written inline."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()
    start = time.perf_counter()
    for image, mask, valid in DataLoader(dataset, batch_size=batch_size, shuffle=True):
        opt.zero_grad()
        out = model(image)
        target = mask.float().unsqueeze(1)
        prob = torch.sigmoid(out)
        dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
        loss = bce(out, target) + dice
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def our_epoch(model, dataset, batch_size: int, channels_last: bool) -> float:
    cfg = TrainConfig(batch_size=batch_size, epochs=1, channels_last=channels_last, plateau_patience=0)
    trainer = Trainer(model, build_loss("dice_bce"), cfg, validate=lambda m: {"dice": 0.0})
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    trainer.train_epoch(loader)
    return time.perf_counter() - start


def step_flops(model, batch_size: int, patch: int) -> int:
    """FLOPs of one forward + backward step (torch's flop counter)."""
    x = torch.randn(batch_size, 1, patch, patch)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true", help="seconds-long run")
    a = p.parse_args()
    depth, width, patch, batch = (2, 8, 32, 8) if a.smoke else (4, 16, 64, 16)
    data = load_dataset("synthetic", n_train=8 if a.smoke else 24, n_test=1, size=96)
    dataset = PatchDataset(data.train, patch, patch // 2)
    n = len(dataset)
    rounds = 1 if a.smoke else 3
    tutorial, ours, ours_cl = [], [], []
    for _ in range(rounds):  # interleaved, so drift in machine load hits all three alike
        tutorial.append(tutorial_epoch(make_model(depth, width), dataset, batch))
        ours.append(our_epoch(make_model(depth, width), dataset, batch, channels_last=False))
        ours_cl.append(our_epoch(make_model(depth, width), dataset, batch, channels_last=True))
    t_tut, t_ours, t_cl = min(tutorial), min(ours), min(ours_cl)
    best_ours = min(t_ours, t_cl)
    flops = step_flops(make_model(depth, width), batch, patch) * (n / batch)
    achieved = flops / best_ours / 1e9
    peak = matmul_gflops(512 if a.smoke else 1024)
    figures = {
        "samples": n, "depth": depth, "base_channels": width, "patch": patch, "batch": batch,
        "tutorial_samples_per_s": n / t_tut, "ours_samples_per_s": n / t_ours, "ours_channels_last_samples_per_s": n / t_cl,
        "achieved_gflops": achieved, "matmul_gflops": peak,
        "speed_ratio": t_tut / best_ours, "flops_ratio": achieved / peak,
    }
    if not a.smoke:
        write_results("train_throughput", figures)
    print(f"model: depth {depth}, base {width}, {patch}x{patch} patches, batch {batch}, {n} patches/epoch, {torch.get_num_threads()} threads")
    print(f"tutorial loop      {n / t_tut:8.1f} samples/s")
    print(f"our trainer        {n / t_ours:8.1f} samples/s")
    print(f"  + channels_last  {n / t_cl:8.1f} samples/s")
    print(f"achieved {achieved:.1f} GFLOP/s of a measured matmul {peak:.1f} GFLOP/s")
    print(f"ratios: trainer/tutorial samples/s = {t_tut / best_ours:.2f}, achieved/matmul GFLOP/s = {achieved / peak:.2f}")


if __name__ == "__main__":
    main()
