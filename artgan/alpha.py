"""Transparency for people and feature networks: RGBA pixels flattened onto a background.

Served and saved RGBA images have straight (unassociated) alpha, as PNG does. Pictures for
people are flattened onto a checkerboard (or a chosen colour) so transparency shows; feature
networks see every image flattened onto the data's background colour.
"""

from __future__ import annotations

import numpy as np

CHECKER_SQUARE = 8  # pixels per checkerboard square
CHECKER_LEVELS = (204, 255)  # the two greys of the checkerboard, as image editors draw it


def checkerboard(height: int, width: int, square: int = CHECKER_SQUARE) -> np.ndarray:
    """uint8 [height, width, 3] light-grey checkerboard."""
    rows = (np.arange(height) // square)[:, None]
    columns = (np.arange(width) // square)[None, :]
    levels = np.where((rows + columns) % 2 == 0, *CHECKER_LEVELS).astype(np.uint8)
    return np.repeat(levels[..., None], 3, axis=-1)


def composite(images: np.ndarray, background) -> np.ndarray:
    """uint8 RGBA [..., H, W, 4] -> uint8 RGB [..., H, W, 3] over ``background``: an (r, g, b)
    colour or a uint8 [H, W, 3] picture."""
    images = np.asarray(images)
    colour = images[..., :3].astype(np.float32)
    alpha = images[..., 3:].astype(np.float32) / 255.0
    under = np.asarray(background, np.float32)
    return np.round(colour * alpha + under * (1.0 - alpha)).astype(np.uint8)


def flatten(images: np.ndarray, background: tuple[int, int, int] | None = None) -> np.ndarray:
    """uint8 images [..., H, W, C]: RGBA ones over ``background``, or a checkerboard when None;
    gray and RGB ones as they are."""
    images = np.asarray(images)
    if images.shape[-1] != 4:
        return images
    if background is None:
        background = checkerboard(images.shape[-3], images.shape[-2])
    return composite(images, background)
