"""GAN metric math on feature arrays; every statistic in float64.

The public API (other code calls only these):

- ``FeatureStatistics``: mean and covariance of feature rows, accumulated batch by batch, so
  50,000 samples never sit in memory at once; mergeable (Beam combiners) and saveable.
- ``frechet_distance(a, b)``: FID-style distance between Gaussians fitted to two feature sets
  (arrays with one row per image, or ``FeatureStatistics``).
- ``kernel_inception_distance(a, b)``: KID, the unbiased MMD^2 with the cubic polynomial
  kernel, mean and std over random subsets; unbiased at small N, unlike FID.
- ``inception_score(probs)``: IS-style score from class-probability rows, mean and std over
  splits.

Which feature network produced the arrays decides what the numbers may be called: only the
2015 Inception graph's are "FID", "KID" and "IS" (see ``artgan.models.metrics.feature_network``).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


class FeatureStatistics:
    """Streaming count, mean and covariance of feature rows, in float64.

    Batches are combined with the pairwise update of Chan, Golub and LeVeque (sums of squared
    deviations, not raw second moments), which stays accurate when features have a large mean.
    """

    def __init__(self, dims: int):
        if dims < 1:
            raise ValueError(f"feature dimension must be at least 1, got {dims}")
        self.count = 0
        self.mean = np.zeros(dims, dtype=np.float64)
        # Sum over rows of the outer product of (row - mean) with itself.
        self.scatter = np.zeros((dims, dims), dtype=np.float64)

    @property
    def dims(self) -> int:
        return self.mean.shape[0]

    @property
    def covariance(self) -> np.ndarray:
        """The unbiased (ddof=1) covariance matrix."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 rows, got {self.count}")
        return self.scatter / (self.count - 1)

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStatistics:
        features = _as_rows(features)
        return cls(features.shape[1]).update(features)

    def update(self, features: np.ndarray) -> FeatureStatistics:
        """Adds a batch of rows [N, dims]; returns self."""
        batch = _as_rows(features)
        if batch.shape[1] != self.dims:
            raise ValueError(f"expected {self.dims}-d features, got {batch.shape[1]}-d")
        if batch.shape[0]:
            centered = batch - batch.mean(axis=0)
            self._combine(batch.shape[0], batch.mean(axis=0), centered.T @ centered)
        return self

    def merge(self, other: FeatureStatistics) -> FeatureStatistics:
        """Adds another accumulator's rows; returns self."""
        if other.dims != self.dims:
            raise ValueError(f"cannot merge {other.dims}-d statistics into {self.dims}-d")
        if other.count:
            self._combine(other.count, other.mean, other.scatter)
        return self

    def _combine(self, count: int, mean: np.ndarray, scatter: np.ndarray) -> None:
        total = self.count + count
        delta = mean - self.mean
        weight = self.count * count / total
        self.scatter = self.scatter + scatter + np.outer(delta, delta) * weight
        self.mean = self.mean + delta * (count / total)
        self.count = total

    def save(self, file) -> None:
        """Writes count, mean and scatter as .npz to a binary file object."""
        np.savez(file, count=self.count, mean=self.mean, scatter=self.scatter)

    @classmethod
    def load(cls, file) -> FeatureStatistics:
        """Reads what ``save`` wrote (a binary, seekable file object)."""
        arrays = np.load(file)
        statistics = cls(arrays["mean"].shape[0])
        statistics.count = int(arrays["count"])
        statistics.mean = arrays["mean"].astype(np.float64)
        statistics.scatter = arrays["scatter"].astype(np.float64)
        return statistics


def _as_rows(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"expected a 2-D feature array [rows, dims], got shape {features.shape}")
    return features


def _statistics(features: np.ndarray | FeatureStatistics) -> FeatureStatistics:
    if isinstance(features, FeatureStatistics):
        return features
    return FeatureStatistics.from_features(features)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (round-off clipped to 0)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(
    features_a: np.ndarray | FeatureStatistics, features_b: np.ndarray | FeatureStatistics
) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), in float64.

    Arguments are 2-D arrays (one row per image; mean and unbiased covariance are fitted) or
    ``FeatureStatistics``. Tr (S_a S_b)^(1/2) is computed with TF-GAN's symmetric form,
    Tr (A S_b A)^(1/2) with A = S_a^(1/2), from the eigenvalues of symmetric matrices (tiny
    negative ones clipped to 0): no ``scipy.linalg.sqrtm``, no complex round-off. Fewer rows
    than feature dimensions still give a finite number, biased upwards (a warning says so).
    """
    stats_a, stats_b = _statistics(features_a), _statistics(features_b)
    if stats_a.dims != stats_b.dims:
        raise ValueError(f"feature sizes differ: {stats_a.dims} vs {stats_b.dims}")
    rows = min(stats_a.count, stats_b.count)
    if rows <= stats_a.dims:
        log.warning(
            "Frechet distance from %d rows of %d-d features: the covariance is singular and "
            "the result is biased; score more images than feature dimensions",
            rows,
            stats_a.dims,
        )
    cov_a, cov_b = stats_a.covariance, stats_b.covariance
    root_a = _symmetric_sqrt(cov_a)
    product = root_a @ cov_b @ root_a
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2.0)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = stats_a.mean - stats_b.mean
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))


def _cubic_kernel(x: np.ndarray, y: np.ndarray, dims: int) -> np.ndarray:
    """(x.y / d + 1)^3 for every pair of rows; t * t * t, several times faster than t ** 3."""
    t = x @ y.T
    t /= dims
    t += 1.0
    return t * t * t


def kernel_inception_distance(
    features_a: np.ndarray,
    features_b: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3; returns (mean, std).

    Each of ``num_subsets`` rounds draws ``m = min(subset_size, rows_a, rows_b)`` rows from each
    set without replacement (as the KID paper and StyleGAN2-ADA's metric do). ``seed`` fixes
    the draws, so two candidates scored against the same reference see the same real subsets.
    """
    a, b = _as_rows(features_a), _as_rows(features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2 or num_subsets < 1:
        raise ValueError(f"KID needs subsets of at least 2 rows, got {m} x {num_subsets}")
    dims = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for index in range(num_subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        k_xx, k_yy, k_xy = (
            _cubic_kernel(x, x, dims),
            _cubic_kernel(y, y, dims),
            _cubic_kernel(x, y, dims),
        )
        within = k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)
        values[index] = within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m)
    return float(values.mean()), float(values.std())


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split, as openai/improved-gan; returns (mean, std)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] < splits or splits < 1:
        raise ValueError(f"expected at least {splits} probability rows, got {probs.shape}")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
