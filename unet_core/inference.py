"""Full-image prediction from overlapping tiles, blended with a Gaussian window."""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rescale import to_original, to_working
from .sizes import tile_starts


def to_probabilities(logits: Tensor) -> Tensor:
    """Sigmoid for a 1-channel head, softmax over channels otherwise."""
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


def gaussian_window(tile: int, sigma_scale: float = 0.125) -> Tensor:
    """A (tile, tile) blending weight peaking at the centre (nnU-Net's sigma = tile/8), floored above zero."""
    coords = torch.arange(tile, dtype=torch.float32) - (tile - 1) / 2
    g = torch.exp(-(coords**2) / (2 * (sigma_scale * tile) ** 2))
    w = g[:, None] * g[None, :]
    w = w / w.max()
    return w.clamp_min(1e-3)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast speeds convolutions up."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_context(device: torch.device, enabled: bool, cpu: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled, and on the CPU as well when `cpu`; a no-op otherwise."""
    if enabled and (device.type == "cuda" or (cpu and device.type == "cpu")):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _pad_to(image: Tensor, height: int, width: int) -> Tensor:
    ph, pw = max(0, height - image.shape[-2]), max(0, width - image.shape[-1])
    if not ph and not pw:
        return image
    mode = "reflect" if ph < image.shape[-2] and pw < image.shape[-1] else "replicate"
    return F.pad(image[None], (0, pw, 0, ph), mode=mode)[0]


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def image_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor over an image array, copied only when the array is read-only (arrays shared by Ray's object store are)."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())


@torch.no_grad()
def sliding_window_predict(
    model: nn.Module,
    image: Tensor,
    tile: int,
    overlap: float = 0.5,
    batch_size: int = 8,
    amp: bool = True,
    channels_last: bool = False,
) -> Tensor:
    """Predict class probabilities (K, H, W) for one image (C, H, W) of any size.

    The image is cut into `tile` x `tile` tiles overlapping by the `overlap` fraction (an image smaller
    than a tile is mirror-padded), each tile is predicted, and the tiles are blended with a Gaussian
    weight so seams vanish. `tile` must suit the model (a multiple of 2**depth with same padding). A
    valid-padding model predicts a smaller centre window of each tile: the image is mirrored by the
    difference (the paper's overlap-tile strategy) and the output windows tile the image exactly.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    h, w = image.shape[-2:]
    out = model.output_size(tile) if hasattr(model, "output_size") else tile
    margin = (tile - out) // 2
    base = _pad_to(image.float(), out, out)
    ph, pw = base.shape[-2:]
    padded = _mirror(base, margin).to(device)
    stride = max(1, int(round(out * (1 - overlap))))
    coords = [(y, x) for y in tile_starts(ph, out, stride) for x in tile_starts(pw, out, stride)]
    window = gaussian_window(out).to(device)
    acc = None
    norm = torch.zeros((ph, pw), device=device)
    for chunk in _batches(coords, batch_size):
        batch = torch.stack([padded[:, y : y + tile, x : x + tile] for y, x in chunk])
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, amp):
            probs = to_probabilities(model(batch).float())
        if acc is None:
            acc = torch.zeros((probs.shape[1], ph, pw), device=device)
        for (y, x), p in zip(chunk, probs):
            acc[:, y : y + out, x : x + out] += p * window
            norm[y : y + out, x : x + out] += window
    model.train(was_training)
    return (acc / norm)[:, :h, :w].cpu()


def _mirror(image: Tensor, margin: int) -> Tensor:
    """Mirror (C, H, W) by `margin` on every side (repeatedly where the image is smaller than the margin)."""
    while margin > 0:
        step = min(margin, image.shape[-2] - 1, image.shape[-1] - 1)
        if step < 1:
            return F.pad(image[None], (margin,) * 4, mode="replicate")[0]
        image = F.pad(image[None], (step,) * 4, mode="reflect")[0]
        margin -= step
    return image


def dihedral_predict(model: nn.Module, image: Tensor, tile: int, overlap: float = 0.5, **kwargs) -> Tensor:
    """`sliding_window_predict` averaged over the 8 flips and 90-degree rotations of the image (test-time augmentation)."""
    return predict_image(model, image, tile, overlap, tta="dihedral", **kwargs)


def _view(rot: int, dims: tuple[int, ...]) -> tuple:
    """(to the view, back from it) of a (C, H, W) tensor: `rot` quarter turns, then flips of `dims`."""
    def there(x: Tensor) -> Tensor:
        x = torch.rot90(x, rot, dims=(-2, -1)) if rot else x
        return x.flip(dims) if dims else x

    def back(p: Tensor) -> Tensor:
        p = p.flip(dims) if dims else p
        return torch.rot90(p, -rot, dims=(-2, -1)) if rot else p

    return there, back


# test-time augmentation: the views of an image whose predictions are averaged. flip: nnU-Net's 2D mirroring (as is,
# left-right, up-down, both); dihedral: the 8 flips and quarter turns
VIEWS = {"none": [_view(0, ())], "flip": [_view(0, d) for d in ((), (-1,), (-2,), (-2, -1))],
         "dihedral": [_view(k, d) for k in range(4) for d in ((), (-1,))]}
TTA_MODES = tuple(VIEWS)
# bench/predict_tta.py (2026-12-06), per-image Dice paired on the same two fold models: flip TTA +0.0103 [+0.0089, +0.0118]
# on DRIVE's 20 test images and +0.0289 [+0.0099, +0.0479] on Kvasir-SEG's 120: on by default where a trained model
# predicts (search.predict) and where a search scores its choice on the test split (the model as it is served)
TTA_DEFAULT = "flip"


def _view_means(models: nn.Module | list[nn.Module], image: Tensor, tile: int, overlap: float, tta: str, **kwargs) -> tuple[Tensor, Tensor]:
    """(the mean of every model's predictions of every view `tta` names, the mean of the first view's: the image as is),
    at the image's own resolution."""
    if tta not in VIEWS:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    total, as_is = None, None
    for model in models:
        for i, (there, back) in enumerate(VIEWS[tta]):
            probs = back(sliding_window_predict(model, there(image).contiguous(), tile, overlap, **kwargs))
            total = probs if total is None else total + probs  # a new tensor: as_is never changes with it
            if i == 0:
                as_is = probs if as_is is None else as_is + probs
    return total / (len(models) * len(VIEWS[tta])), as_is / len(models)


def predict_views(models: nn.Module | list[nn.Module], image: Tensor, tile: int, overlap: float = 0.5, tta: str = "none", side: int = 0,
                  **kwargs) -> tuple[Tensor, Tensor]:
    """(predict_image's probabilities, those of the image as is alone): the first of every TTA mode's views is the image
    as is, so one pass gives both what a served model predicts and what it predicts without the augmentation."""
    height, width = image.shape[-2:]
    averaged, as_is = _view_means(models, to_working(image, side), tile, overlap, tta, **kwargs)
    averaged = to_original(averaged, height, width)
    return averaged, (averaged if len(VIEWS[tta]) == 1 else to_original(as_is, height, width))  # one view: upsampled once


def predict_image(models: nn.Module | list[nn.Module], image: Tensor, tile: int, overlap: float = 0.5, tta: str = "none", side: int = 0,
                  **kwargs) -> Tensor:
    """Class probabilities (K, H, W) of one image, averaged over `models` (a fold ensemble) and over the views `tta` names
    (VIEWS: none, flip, dihedral); `side` > 0 predicts at that working resolution (the longer side, unet_core.rescale)
    and returns the probabilities upsampled to the image's own size."""
    height, width = image.shape[-2:]
    return to_original(_view_means(models, to_working(image, side), tile, overlap, tta, **kwargs)[0], height, width)
