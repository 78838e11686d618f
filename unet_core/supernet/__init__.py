"""A weight-sharing skip supernet: one U-Net per depth that holds every skip pattern, its pattern sampler and the
per-pattern batch-norm recalibration that scores a pattern fairly."""
from .calibrate import recalibrate_batch_norm
from .model import SUPERNET_BLOCKS, SkipSupernet
from .sampler import SAMPLING_RULES, PatternSampler

__all__ = ["SkipSupernet", "SUPERNET_BLOCKS", "PatternSampler", "SAMPLING_RULES", "recalibrate_batch_norm"]
