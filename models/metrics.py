"""GAN metric math on feature arrays; all statistics in float64.

- ``frechet_distance``: FID-style distance between Gaussians fitted to two feature sets.
- ``inception_score``: IS-style score from class-probability rows.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"expected a 2-D feature array with at least 2 rows, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False, ddof=1)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), float64.

    The trace of the matrix square root is the sum of the square roots of the eigenvalues of
    S_a S_b (real and >= 0 in exact arithmetic; round-off is clipped), which avoids the complex
    results of ``scipy.linalg.sqrtm``. Fewer rows than feature dimensions still give a finite,
    but biased, number (a warning says so).
    """
    mu_a, cov_a = _moments(features_a)
    mu_b, cov_b = _moments(features_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sizes differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    rows = min(np.shape(features_a)[0], np.shape(features_b)[0])
    if rows <= mu_a.shape[0]:
        log.warning(
            "Frechet distance from %d rows of %d-d features: covariance is singular, "
            "the result is biased",
            rows,
            mu_a.shape[0],
        )
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0.0, None)).sum()
    diff = mu_a - mu_b
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split; returns (mean, std) over splits."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] < splits:
        raise ValueError(f"expected at least {splits} probability rows, got {probs.shape}")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
