"""What ``artgan generate`` writes: one PNG per image, a grid, a walk's frames, strip and GIF.

RGBA images keep their transparency (grids and strips show them over a checkerboard) unless a
``background`` colour is given: then every picture is flattened onto it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from artgan import alpha
from artgan.grid import MIN_CELL_PIXELS, save_grid, save_png

GRID_FILE = "grid.png"
STRIP_FILE = "walk_strip.png"
GIF_FILE = "walk.gif"
FRAMES_DIR = "frames"


def seed_file_name(seed: int, label: int | None = None) -> str:
    """``seed_0007.png``, or ``class_02_seed_0007.png`` in a grid with a row per class."""
    name = f"seed_{seed:04d}.png"
    return name if label is None else f"class_{label:02d}_{name}"


def write_image(png: bytes, image: np.ndarray, path: str, background) -> str:
    """The served PNG bytes as they are, or the image flattened onto ``background``."""
    if background is not None and image.shape[-1] == 4:
        return save_png(alpha.flatten(image, background), path)
    with open(path, "wb") as f:
        f.write(png)
    return path


def write_generated(
    result,
    out_dir: str,
    background: tuple[int, int, int] | None = None,
    columns: int | None = None,
    class_rows: bool = False,
) -> dict:
    """Writes one PNG per image of a ``GeneratedImages`` (the served bytes) and ``grid.png``
    with ``columns`` columns (default: about square); returns their paths. ``class_rows``
    names each file by its class too (the same seeds appear once per class)."""
    os.makedirs(out_dir, exist_ok=True)
    labels = result.labels if class_rows and result.labels else [None] * len(result.seeds)
    image_paths = [
        write_image(png, image, os.path.join(out_dir, seed_file_name(seed, label)), background)
        for seed, label, png, image in zip(
            result.seeds, labels, result.pngs, result.images, strict=True
        )
    ]
    grid_path = save_grid(
        result.images, os.path.join(out_dir, GRID_FILE), columns=columns, background=background
    )
    return {"images": image_paths, "grid": grid_path}


def write_walk(
    pngs: Sequence[bytes],
    images: np.ndarray,
    out_dir: str,
    background: tuple[int, int, int] | None = None,
    gif_fps: float | None = None,
) -> dict:
    """Writes a walk's frames (``frames/frame_0000.png`` ...), ``walk_strip.png`` (every frame
    in one row) and, with ``gif_fps``, ``walk.gif`` looping at that rate; returns the paths."""
    frames_dir = os.path.join(out_dir, FRAMES_DIR)
    os.makedirs(frames_dir, exist_ok=True)
    frame_paths = [
        write_image(png, image, os.path.join(frames_dir, f"frame_{index:04d}.png"), background)
        for index, (png, image) in enumerate(zip(pngs, images, strict=True))
    ]
    strip = save_grid(
        images, os.path.join(out_dir, STRIP_FILE), columns=len(images), background=background
    )
    written = {"frames": frame_paths, "strip": strip}
    if gif_fps:
        written["gif"] = save_gif(images, os.path.join(out_dir, GIF_FILE), gif_fps, background)
    return written


def save_gif(images: np.ndarray, path: str, fps: float, background=None) -> str:
    """An endlessly looping GIF of uint8 [N, H, W, C] frames at ``fps``; small frames are
    scaled up as in grids. RGBA keeps GIF's on/off transparency unless flattened."""
    frames = [gif_frame(image, background) for image in images]
    frames[0].save(
        path,
        save_all=True,
        append_images=frames[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
        disposal=2,  # each frame replaces the last, transparent pixels included
    )
    return path


def gif_frame(image: np.ndarray, background) -> Image.Image:
    """One frame, scaled up to the grids' cell size, flattened onto ``background`` if given."""
    scale = max(1, math.ceil(MIN_CELL_PIXELS / max(image.shape[:2])))
    frame = image.repeat(scale, axis=0).repeat(scale, axis=1)
    if background is not None:
        frame = alpha.flatten(frame, background)
    return Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
