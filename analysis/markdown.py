"""Markdown pieces of the report: tables and configuration names."""
from __future__ import annotations

import numpy as np
import pandas as pd
from unet_core.skips import run_key


def md_table(df: pd.DataFrame, floats: int = 4) -> str:
    """A Markdown table (no extra dependency)."""
    def cell(v):
        if v is pd.NA:
            return ""
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{floats}f}"
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def config_names(rows: pd.DataFrame) -> str:
    """The rows' configurations as d<depth>-s<skips>, comma-separated."""
    return ", ".join(run_key(r.depth, r.skips) for r in rows.itertuples())
