"""A trial's training patches: their size around the network's input, and how many an epoch draws."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, RandomSampler

from datasets import PatchDataset
from unet_core.unet import input_size_for, output_size

from .params import TrialParams
from .settings import EPOCH_PATCH_CAP



def train_input_size(params: TrialParams) -> tuple[int, int]:
    """(network input side, margin lost per side) for the trial's training patches."""
    size = input_size_for(params.patch_size, params.depth, params.padding)
    return size, (size - output_size(size, params.depth, params.padding)) // 2


def patch_dataset(params: TrialParams, samples, augment) -> PatchDataset:
    """The training patches of `samples` at the trial's patch size and stride (the network's input around each)."""
    size, margin = train_input_size(params)
    return PatchDataset(samples, size, params.patch_stride, augment, margin)


def patch_loader(params: TrialParams, dataset: PatchDataset, seed: int) -> DataLoader | None:
    """The epoch's patches: `patches_per_epoch` drawn with replacement from a stream seeded by `seed` (shared by trials
    of one seed: common random numbers), or None for the trainer's shuffled pass over every patch; a grid of more than
    EPOCH_PATCH_CAP patches gives EPOCH_PATCH_CAP of them an epoch, different ones each epoch."""
    generator = torch.Generator().manual_seed(seed)
    if not params.patches_per_epoch:
        if len(dataset) <= EPOCH_PATCH_CAP:
            return None
        sampler = RandomSampler(dataset, replacement=False, num_samples=EPOCH_PATCH_CAP, generator=generator)
        return DataLoader(dataset, batch_size=params.batch_size, sampler=sampler)
    sampler = RandomSampler(dataset, replacement=True, num_samples=params.patches_per_epoch, generator=generator)
    return DataLoader(dataset, batch_size=params.batch_size, sampler=sampler)
