"""The embedded data set: scikit-learn's bundled 8x8 handwritten digits as PNG files."""

from __future__ import annotations

import glob
import os

import numpy as np
from PIL import Image

NUM_DIGITS = 1797  # images in sklearn.datasets.load_digits()
_MAX_VALUE = 16  # load_digits pixel values run 0..16


def digit_pixels() -> tuple[np.ndarray, np.ndarray]:
    """The digits as uint8 images (N, 8, 8) scaled to 0..255, and their int labels (N,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / _MAX_VALUE)).astype(np.uint8)
    return pixels, digits.target.astype(np.int64)


def export_digits(out_dir: str) -> int:
    """Writes every digit as a grayscale PNG at out_dir/<label>/digit_<index>.png; returns count."""
    pixels, labels = digit_pixels()
    for label in range(10):
        os.makedirs(os.path.join(out_dir, str(label)), exist_ok=True)
    for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        path = os.path.join(out_dir, str(label), f"digit_{index:05d}.png")
        partial_path = path + ".partial"
        Image.fromarray(image).save(partial_path, format="PNG")
        os.replace(partial_path, path)  # never leave a truncated PNG behind
    return len(pixels)


def ensure_digits(out_dir: str) -> str:
    """Exports the digits unless out_dir already holds all of them; returns out_dir."""
    if len(glob.glob(os.path.join(out_dir, "*", "digit_*.png"))) != NUM_DIGITS:
        export_digits(out_dir)
    return out_dir
