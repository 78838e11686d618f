"""Tiny U-Net building blocks and the up-sampling factory."""
from __future__ import annotations

from torch import Tensor, nn

UPSAMPLE_MODES = ("transpose", "bilinear", "nearest")


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by optional batch norm and ReLU; optional dropout at the end.

    Args:
        in_channels: channels of the input.
        out_channels: channels of both convolutions' outputs.
        batch_norm: insert BatchNorm2d after each convolution (the convolutions then have no bias).
        dropout: probability of a Dropout2d after the block (0 = none).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0):
        layers: list[nn.Module] = []
        for cin in (in_channels, out_channels):
            layers.append(nn.Conv2d(cin, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class Upsample(nn.Module):
    """Double the spatial size and halve the channels.

    `transpose` is the paper's 2x2 up-convolution; `bilinear` and `nearest` interpolate and then
    halve the channels with a 1x1 convolution, so every mode hands the decoder the same shape.

    Args:
        in_channels: channels coming from the coarser level.
        out_channels: channels after up-sampling (usually in_channels // 2).
        mode: one of `transpose`, `bilinear`, `nearest`.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transpose"):
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"upsample mode must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")
        self.mode = mode
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        else:
            align = {"align_corners": False} if mode == "bilinear" else {}
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, **align),
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
            )

    def forward(self, x: Tensor) -> Tensor:
        """Up-sample `x` by two."""
        return self.up(x)
