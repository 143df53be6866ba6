"""Sample grids: the pictures users look at (training progress, evaluation, generate)."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image

from artgan import alpha

MIN_CELL_PIXELS = 64  # small images are scaled up (nearest neighbour) so a grid is readable


def image_grid(
    images: np.ndarray,
    columns: int | None = None,
    padding: int = 2,
    background: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Tiles uint8 images [N, H, W, C] into one uint8 [rows*H', cols*W', C'] picture.

    Cells are upscaled by an integer factor to at least ``MIN_CELL_PIXELS`` and separated by
    ``padding`` pixels of mid grey. RGBA cells are shown over a checkerboard, or over the
    ``background`` colour (C' = 3).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"expected uint8 images [N,H,W,C] with N >= 1, got {images.shape}")
    count, height, width, channels = images.shape
    scale = max(1, math.ceil(MIN_CELL_PIXELS / max(height, width)))
    images = alpha.flatten(images.repeat(scale, axis=1).repeat(scale, axis=2), background)
    height, width, channels = height * scale, width * scale, images.shape[-1]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        128,
        dtype=np.uint8,
    )
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top = padding + row * (height + padding)
        left = padding + column * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def save_png(image: np.ndarray, path: str) -> str:
    """Writes one uint8 [H, W, C] image (gray, RGB or RGBA) as a PNG, creating folders."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    array = image[..., 0] if image.shape[-1] == 1 else image
    Image.fromarray(array).save(path)
    return path


def save_grid(
    images: np.ndarray,
    path: str,
    columns: int | None = None,
    background: tuple[int, int, int] | None = None,
) -> str:
    """Writes ``images`` (uint8 [N,H,W,C]) as one grid PNG at ``path`` (see ``image_grid``)."""
    return save_png(image_grid(images, columns, background=background), path)
