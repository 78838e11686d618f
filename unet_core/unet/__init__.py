"""The configurable U-Net (depth, per-level skip bits, block type, padding)."""
from .model import UNet, input_size_for, output_size

__all__ = ["UNet", "input_size_for", "output_size"]
