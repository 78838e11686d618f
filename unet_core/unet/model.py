"""U-Net with a chosen depth and an on/off bit per skip connection."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers import AttentionGate, Upsample, center_crop, make_block
from ..skips import SkipSpec, check_depth, format_skips, parse_skips


def _valid_output(size: int, depth: int) -> int | None:
    s = size
    for _ in range(depth):
        s -= 4  # two unpadded 3x3 convolutions
        if s <= 0 or s % 2:
            return None
        s //= 2
    s -= 4
    for _ in range(depth):
        if s <= 0:
            return None
        s = 2 * s - 4
    return s if s > 0 else None


def output_size(size: int, depth: int, padding: str = "same") -> int:
    """The output side of a U-Net of this depth and padding for an input side (ValueError if it does not fit)."""
    factor = 2**depth
    if padding == "same":
        if size % factor:
            raise ValueError(f"input size {size} is not divisible by 2**depth = {factor}: use patches or padding that are multiples of {factor}")
        return size
    out = _valid_output(size, depth)
    if out is None:
        raise ValueError(f"input size {size} does not fit a valid-padding U-Net of depth {depth}: "
                         f"the next size that does is {input_size_for(1, depth, padding, start=size)}")
    return out


def input_size_for(min_output: int, depth: int, padding: str = "same", start: int = 1) -> int:
    """The smallest input side (from `start`) whose output side is at least `min_output`."""
    if padding == "same":
        factor = 2**depth
        return -(-max(min_output, start) // factor) * factor
    size = max(1, start)
    while (_valid_output(size, depth) or 0) < min_output:
        size += 1
    return size


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) whose depth and skip connections are parameters.

    Encoder level i (1..depth) is a ConvBlock with `base_channels * 2**(i-1)` channels followed by a
    2x2 max-pool; the bottleneck has `base_channels * 2**depth` channels. Decoder level i up-samples
    the coarser features to `base_channels * 2**(i-1)` channels and, when skip bit s_i is on,
    concatenates encoder level i's output before its ConvBlock (so its input has twice the channels);
    when s_i is off it gets the up-sampled features alone. A 1x1 convolution makes the logits.

    With `padding="valid"` (the paper's setting) no convolution pads: skip features are centre-cropped
    ("copy and crop") and the output is smaller than the input; `output_size` and `valid_input_size` give
    the sizes (a 572 input gives the paper's 388 output at depth 4).

    Args:
        in_channels: image channels (1 grey, 3 RGB).
        num_classes: output channels; 1 means a binary task with a sigmoid head, k >= 2 a softmax over k.
        depth: number of encoder/decoder levels n, 1..5. Inputs must be divisible by 2**n.
        skips: one bit per level, s1 nearest the input .. sn deepest: a string like "1001", a sequence
            of bools or 0/1, or None for all skips on (the classic U-Net).
        base_channels: channels of the first level (the paper's 64), doubling per level.
        upsample: "transpose" (2x2 up-convolution), "bilinear" or "nearest" (+ 1x1 convolution).
        batch_norm: batch norm after every 3x3 convolution.
        dropout: Dropout2d probability at the end of the two deepest encoder blocks and the bottleneck
            (the paper's drop-out at the end of the contracting path); 0 disables it.
        block: "plain" (conv-ReLU x2), "residual" (Res-UNet: the two convolutions plus a shortcut) or
            "attention" (plain blocks, and an attention gate on every skip that is on).
        padding: "same" (output size = input size) or "valid" (no padding, output smaller; see above).
            `unpool` up-sampling needs "same": the pooling indices only fit unpadded sizes.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 1,
        depth: int = 4,
        skips: SkipSpec | None = None,
        base_channels: int = 64,
        upsample: str = "transpose",
        batch_norm: bool = True,
        dropout: float = 0.0,
        block: str = "plain",
        padding: str = "same",
    ):
        super().__init__()
        check_depth(depth)
        if upsample == "unpool" and padding == "valid":
            raise ValueError("unpool up-sampling needs padding='same': max-unpooling indices do not fit cropped features")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("base_channels", base_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.depth = depth
        self.skip_bits = parse_skips(skips, depth)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.block, self.padding, self.upsample = block, padding, upsample

        widths = [base_channels * 2**i for i in range(depth + 1)]  # widths[i-1] = level i, widths[depth] = bottleneck
        deep = lambda level: dropout if level >= depth - 1 else 0.0  # noqa: E731
        self.encoders = nn.ModuleList()
        cin = in_channels
        for level in range(1, depth + 1):
            self.encoders.append(make_block(block, cin, widths[level - 1], batch_norm, deep(level), padding))
            cin = widths[level - 1]
        self.pool = nn.MaxPool2d(2, return_indices=upsample == "unpool")
        self.bottleneck = make_block(block, widths[depth - 1], widths[depth], batch_norm, dropout, padding)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.gates = nn.ModuleDict()
        for level in range(depth, 0, -1):
            width = widths[level - 1]
            self.ups.append(Upsample(widths[level], width, upsample))
            dec_in = width * 2 if self.skip_bits[level - 1] else width
            self.decoders.append(make_block(block, dec_in, width, batch_norm, 0.0, padding))
            if block == "attention" and self.skip_bits[level - 1]:
                self.gates[str(level)] = AttentionGate(width, widths[level])
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    @property
    def skips(self) -> str:
        """The skip pattern as a string, s1 first."""
        return format_skips(self.skip_bits)

    def output_size(self, size: int) -> int:
        """Output side for an input side (ValueError if that input does not fit the network)."""
        return output_size(size, self.depth, self.padding)

    def valid_input_size(self, min_output: int, start: int = 1) -> int:
        """The smallest input side (from `start`) whose output side is at least `min_output`."""
        return input_size_for(min_output, self.depth, self.padding, start)

    def check_input(self, x: Tensor) -> None:
        """Raise ValueError if `x` is not (B, in_channels, H, W) with H and W that fit the network."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        factor = 2**self.depth
        if self.padding == "valid":
            self.output_size(h), self.output_size(w)
        elif h % factor or w % factor:
            raise ValueError(
                f"input size {h}x{w} is not divisible by 2**depth = {factor}: "
                f"use patches or padding that are multiples of {factor}"
            )

    def forward(self, x: Tensor) -> Tensor:
        """Return logits of shape (B, num_classes, H', W'): H' = H with same padding, output_size(H) with valid."""
        self.check_input(x)
        features, indices = [], []
        for enc in self.encoders:
            x = enc(x)
            features.append(x)
            if self.upsample == "unpool":
                x, idx = self.pool(x)
                indices.append(idx)
            else:
                x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, level in zip(self.ups, self.decoders, range(self.depth, 0, -1)):
            coarse = x
            x = up(x, indices[level - 1] if indices else None)
            skip = self.skip_features(features[level - 1], level, coarse, x.shape[-2:])
            if skip is not None:
                x = torch.cat([skip, x], dim=1)
            x = dec(x)
        return self.head(x)

    def skip_features(self, features: Tensor, level: int, coarse: Tensor, size: tuple[int, int]) -> Tensor | None:
        """What level `level`'s skip hands its decoder: the encoder features cropped to `size` (and gated by the coarser
        features `coarse` in an attention U-Net), or None where the skip is off."""
        if not self.skip_bits[level - 1]:
            return None
        skip = center_crop(features, size)
        if str(level) in self.gates:
            skip = self.gates[str(level)](skip, coarse)
        return skip

    def extra_repr(self) -> str:
        return f"depth={self.depth}, skips={self.skips!r}, block={self.block!r}, padding={self.padding!r}"
