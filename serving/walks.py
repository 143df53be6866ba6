"""Latent walks: spherical interpolation between seeds' latents, rendered by the server.

A walk through seeds A, B, C with ``steps`` K has K frames from A towards B (A first), K from
B towards C, then C itself: K * (S - 1) + 1 frames for S seeds. With ``loop`` it goes on from
the last seed back towards A and stops one step short of it (K * S frames), so an animation
that repeats has no doubled frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from artgan.errors import ArtganError
from artgan.serving.client import GeneratorClient, decode_png

MAX_FRAMES = 10_000


@dataclasses.dataclass(frozen=True)
class Walk:
    version: int
    seeds: list[int]
    latents: np.ndarray  # float32 [F, latent_dim]
    images: np.ndarray  # uint8 [F, H, W, C]
    pngs: list[bytes]


def slerp(start: np.ndarray, end: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from ``start`` (t = 0) to ``end`` (t = 1); linear when the two
    point (almost) the same way or one is zero."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    norms = np.linalg.norm(start) * np.linalg.norm(end)
    cosine = np.clip(np.dot(start, end) / norms, -1.0, 1.0) if norms else 1.0
    angle = np.arccos(cosine)
    if np.sin(angle) < 1e-6:
        return (1 - t) * start + t * end
    return (np.sin((1 - t) * angle) * start + np.sin(t * angle) * end) / np.sin(angle)


def walk_latents(latents: np.ndarray, steps: int, loop: bool = False) -> np.ndarray:
    """The walk's latents through ``latents`` [S, D] in order (see the module docstring)."""
    if len(latents) < 2:
        raise ArtganError("a walk needs at least two seeds (--interpolate A B ...)")
    if steps < 1:
        raise ArtganError(f"--steps must be at least 1, got {steps}")
    stops = list(latents) + ([latents[0]] if loop else [])
    frames = [
        slerp(stops[index], stops[index + 1], step / steps)
        for index in range(len(stops) - 1)
        for step in range(steps)
    ]
    if not loop:
        frames.append(np.asarray(stops[-1], np.float64))
    if len(frames) > MAX_FRAMES:
        raise ArtganError(f"a walk of {len(frames)} frames is more than {MAX_FRAMES}")
    return np.asarray(frames, np.float32)


def generate_walk(
    client: GeneratorClient,
    model_name: str,
    seeds: Sequence[int],
    steps: int,
    loop: bool = False,
    psi: float = 1.0,
    label: int | None = None,
    version: int | None = None,
) -> Walk:
    """The seeds' latents (truncated by ``psi``) from ``seed_latents``, interpolated here, and
    every frame from ``from_latents`` (of class ``label`` when given), all from one version."""
    seeds = [int(seed) for seed in seeds]
    served, latents = client.seed_latents(model_name, seeds, psi, version)
    frames = walk_latents(latents, steps, loop)
    served, pngs = client.images_from_latents(model_name, frames, served, label)
    images = np.stack([decode_png(png) for png in pngs])
    return Walk(served, seeds, frames, images, pngs)
