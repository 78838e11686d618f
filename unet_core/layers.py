"""Tiny U-Net building blocks (plain and residual conv blocks, attention gate, up-sampling) and their factories."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

UPSAMPLE_MODES = ("transpose", "bilinear", "nearest", "unpool")
BLOCK_TYPES = ("plain", "residual", "attention")
PADDINGS = ("same", "valid")


def center_crop(x: Tensor, size: tuple[int, int]) -> Tensor:
    """The centre (h, w) window of a (..., H, W) tensor (the paper's "copy and crop")."""
    h, w = size
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to the larger {size}")
    return x[..., top:top + h, left:left + w]


def _conv_bn_relu(cin: int, cout: int, batch_norm: bool, padding: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=padding, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by optional batch norm and ReLU; optional dropout at the end.

    Args:
        in_channels: channels of the input.
        out_channels: channels of both convolutions' outputs.
        batch_norm: insert BatchNorm2d after each convolution (the convolutions then have no bias).
        dropout: probability of a Dropout2d after the block (0 = none).
        padding: "same" (zero padding, size kept) or "valid" (no padding, 2 pixels lost per side).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0, padding: str = "same"):
        pad = _padding(padding)
        layers = _conv_bn_relu(in_channels, out_channels, batch_norm, pad) + _conv_bn_relu(out_channels, out_channels, batch_norm, pad)
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Res-UNet block: the two 3x3 convolutions of ConvBlock wrapped by a shortcut, ReLU after the sum.

    The shortcut is the identity when the channels match, else a 1x1 convolution; with valid padding it
    is centre-cropped to the convolutions' smaller output.

    Args: as ConvBlock.
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0, padding: str = "same"):
        super().__init__()
        pad = _padding(padding)
        self.body = nn.Sequential(*_conv_bn_relu(in_channels, out_channels, batch_norm, pad),
                                  *_conv_bn_relu(out_channels, out_channels, batch_norm, pad, relu=False))
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """relu(body(x) + shortcut(x)), then dropout."""
        y = self.body(x)
        return self.dropout(self.relu(y + center_crop(self.shortcut(x), y.shape[-2:])))


class AttentionGate(nn.Module):
    """Attention U-Net gate (Oktay et al. 2018): the coarser level's features weight the skip features.

    alpha = sigmoid(psi(relu(W_x x + up(W_g g)))) is one map in [0, 1] per pixel; the gate returns x * alpha.

    Args:
        skip_channels: channels of the skip features x.
        gate_channels: channels of the gating signal g (the coarser decoder level).
        inter_channels: channels of the intermediate 1x1 projections (default skip_channels // 2, at least 1).
    """

    def __init__(self, skip_channels: int, gate_channels: int, inter_channels: int | None = None):
        super().__init__()
        inter = inter_channels or max(1, skip_channels // 2)
        self.theta = nn.Conv2d(skip_channels, inter, 1, bias=False)
        self.phi = nn.Conv2d(gate_channels, inter, 1)
        self.psi = nn.Conv2d(inter, 1, 1)

    def attention(self, x: Tensor, g: Tensor) -> Tensor:
        """The (B, 1, H, W) attention map in [0, 1] for skip features x and gating signal g."""
        phi = F.interpolate(self.phi(g), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.psi(F.relu(self.theta(x) + phi)))

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        """The skip features scaled by the attention map."""
        return x * self.attention(x, g)


class Upsample(nn.Module):
    """Double the spatial size and halve the channels.

    `transpose` is the paper's 2x2 up-convolution; `bilinear` and `nearest` interpolate and then halve the
    channels with a 1x1 convolution; `unpool` (SegNet) halves the channels with a 1x1 convolution and then
    max-unpools with the indices of the encoder's pooling at that level. Every mode hands the decoder the same shape.

    Args:
        in_channels: channels coming from the coarser level.
        out_channels: channels after up-sampling (usually in_channels // 2).
        mode: one of `transpose`, `bilinear`, `nearest`, `unpool`.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "transpose"):
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"upsample mode must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")
        self.mode = mode
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        elif mode == "unpool":
            self.up = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        else:
            align = {"align_corners": False} if mode == "bilinear" else {}
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, **align),
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
            )

    def forward(self, x: Tensor, indices: Tensor | None = None) -> Tensor:
        """Up-sample `x` by two (`indices`: the encoder's max-pool indices, needed by `unpool`)."""
        if self.mode == "unpool":
            if indices is None:
                raise ValueError("unpool up-sampling needs the encoder's pooling indices")
            return F.max_unpool2d(self.up(x), indices, kernel_size=2, stride=2)
        return self.up(x)


def _padding(padding: str) -> int:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    return 1 if padding == "same" else 0


def make_block(kind: str, in_channels: int, out_channels: int, batch_norm: bool = True, dropout: float = 0.0, padding: str = "same") -> nn.Module:
    """The conv block of a block type: `plain` and `attention` use ConvBlock, `residual` ResidualBlock."""
    if kind not in BLOCK_TYPES:
        raise ValueError(f"block must be one of {', '.join(BLOCK_TYPES)}, got {kind!r}")
    cls = ResidualBlock if kind == "residual" else ConvBlock
    return cls(in_channels, out_channels, batch_norm, dropout, padding)
