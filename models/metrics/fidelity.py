"""Per-image measures in a feature space: density / coverage, and memorisation.

- Density and coverage (Naeem et al. 2020): each real image owns a ball reaching its k-th
  nearest real neighbour. Density is how many real balls a generated image falls in, over k, on
  average (about 1 for a model like the real data; above 1 when it crowds the dense regions);
  coverage is the share of real images whose ball holds at least one generated image (mode
  coverage, at most 1). Unlike k-NN precision / recall they are robust to real outliers.
- Memorisation: a generated image is a near-copy when its nearest training image is closer than
  the 5th percentile of held-out real images' nearest training distances. A model that draws new
  images as the held-out ones are new copies about 5% by this rule; far more means it repeats
  its training images.
"""

from __future__ import annotations

import dataclasses

import numpy as np

NEIGHBOURS = 5  # k of density / coverage, as Naeem et al.
COPY_PERCENTILE = 5.0  # of held-out real images' nearest training distances
_CHUNK = 1024


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def nearest(queries: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query, (index, distance) of its nearest row; in chunks of queries."""
    indices, distances = [], []
    for start in range(0, len(queries), _CHUNK):
        block = pairwise_distances(queries[start : start + _CHUNK], rows)
        index = block.argmin(axis=1)
        indices.append(index)
        distances.append(block[np.arange(len(index)), index])
    return np.concatenate(indices), np.concatenate(distances)


def density_coverage(
    real: np.ndarray, generated: np.ndarray, k: int = NEIGHBOURS
) -> tuple[float, float]:
    """(density, coverage) of ``generated`` against ``real`` feature rows; NaN with <= k reals."""
    if len(real) <= k or len(generated) == 0:
        return float("nan"), float("nan")
    real_to_real = pairwise_distances(real, real)
    radii = np.sort(real_to_real, axis=1)[:, k]  # column 0 is the image itself
    inside = 0
    covered = np.zeros(len(real), bool)
    for start in range(0, len(generated), _CHUNK):
        within = pairwise_distances(generated[start : start + _CHUNK], real) <= radii[None, :]
        inside += int(within.sum())
        covered |= within.any(axis=0)
    return inside / (k * len(generated)), float(covered.mean())


@dataclasses.dataclass(frozen=True)
class Memorisation:
    copy_rate: float  # share of generated images that are near-copies of a training image
    copy_distance: float  # the threshold: 5th percentile of held-out nearest-train distances


def memorisation(train: np.ndarray, heldout: np.ndarray, generated: np.ndarray) -> Memorisation:
    """Near-copies among ``generated``, judged by how near held-out images come to training."""
    if len(train) == 0 or len(heldout) == 0 or len(generated) == 0:
        return Memorisation(float("nan"), float("nan"))
    _, heldout_distances = nearest(heldout, train)
    threshold = float(np.percentile(heldout_distances, COPY_PERCENTILE))
    _, generated_distances = nearest(generated, train)
    return Memorisation(float(np.mean(generated_distances < threshold)), threshold)
