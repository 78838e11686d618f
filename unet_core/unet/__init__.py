"""The configurable U-Net (depth and per-level skip bits)."""
from .model import UNet

__all__ = ["UNet"]
