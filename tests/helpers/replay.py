"""A planted table of learning curves for the search replays."""
from __future__ import annotations

import numpy as np
import pandas as pd

from unet_core.skips import run_key


def planted_table(depths=(1, 2), epochs=4, folds=2, seed=0) -> pd.DataFrame:
    """Curves where more depth and more skips end higher; each replicate its own noise; seconds grow with depth."""
    rng = np.random.default_rng(seed)
    rows = []
    for depth in depths:
        for bits in range(2**depth):
            skips = format(bits, f"0{depth}b")
            final = 0.5 + 0.1 * depth + 0.04 * skips.count("1")
            for fold in range(folds):
                for epoch in range(1, epochs + 1):
                    rows.append({"config": run_key(depth, skips), "depth": depth, "skips": skips, "seed": 0, "fold": fold, "epoch": epoch,
                                 "val_dice": final * (1 - np.exp(-epoch / depth)) + rng.normal(0, 0.01), "seconds": 1.0 + depth + 0.1 * fold})
    return pd.DataFrame(rows)
