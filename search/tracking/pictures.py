"""Prediction pictures: image, ground truth, prediction and errors side by side for a few validation images.

Composed with NumPy and PIL (tens of milliseconds), not matplotlib (about half a second a figure): a trial
logs one at every improving epoch, and at that price the pictures were a real share of a search's time.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MAX_SIDE = 256  # each panel is shrunk to at most this many pixels a side
LABEL = 14  # pixels of caption above each row


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def _show_image(image: np.ndarray) -> np.ndarray:
    rgb = _rgb(image[0]) if image.shape[0] == 1 else image[:3].transpose(1, 2, 0)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _label_map(probs: np.ndarray) -> np.ndarray:
    return (probs[0] >= 0.5).astype(np.uint8) if probs.shape[0] == 1 else probs.argmax(0)


def _classes(labels: np.ndarray, valid: np.ndarray, vmax: int) -> np.ndarray:
    return _rgb((np.where(valid, labels, 0) * (255 // max(1, vmax))).astype(np.uint8))


def _errors(truth: np.ndarray, pred: np.ndarray, valid: np.ndarray, background: int = 0) -> np.ndarray:
    """White: foreground found; red: false positive; blue: missed; black: background and outside the valid mask."""
    out = np.zeros(truth.shape + (3,), np.uint8)
    t, p = (truth != background) & valid, (pred != background) & valid
    out[t & p] = (255, 255, 255)
    out[~t & p] = (230, 40, 40)
    out[t & ~p] = (40, 90, 255)
    return out


def _shrink(panel: np.ndarray) -> Image.Image:
    img = Image.fromarray(panel)
    scale = MAX_SIDE / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.NEAREST) if scale < 1 else img


def prediction_panel(items: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]], title: str = "") -> Image.Image:
    """One row per (name, image (C,H,W), mask, valid, probs (K,H,W)): image | truth | prediction | errors."""
    rows = []
    for name, image, mask, valid, probs in items:
        pred = _label_map(probs)
        vmax = max(1, int(mask.max()), int(pred.max()))
        panels = [_shrink(p) for p in (_show_image(image), _classes(mask, valid, vmax), _classes(pred, valid, vmax), _errors(mask, pred, valid))]
        row = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height + LABEL), "white")
        draw, x = ImageDraw.Draw(row), 0
        for panel, caption in zip(panels, (name, "ground truth", "prediction", "errors: red FP, blue FN")):
            row.paste(panel, (x, LABEL))
            draw.text((x + 2, 1), caption, fill="black")
            x += panel.width + 4
        rows.append(row)
    width = max(r.width for r in rows) if rows else 1
    out = Image.new("RGB", (width, sum(r.height for r in rows) + LABEL), "white")
    ImageDraw.Draw(out).text((2, 1), title, fill="black")
    y = LABEL
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out
