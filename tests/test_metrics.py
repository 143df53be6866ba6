"""FID and Inception-style score math (artgan.models.metrics) against independent references."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import scipy.linalg

from artgan.models.metrics import frechet_distance, inception_score

DIMS = 4


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula, written independently: sqrtm of cov_a @ cov_b, real part."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.cov(a, rowvar=False, ddof=1)
    cov_b = np.cov(b, rowvar=False, ddof=1)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * covmean))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def correlated(rng: np.random.Generator, rows: int, mean: np.ndarray, scale: float):
    mixing = rng.normal(size=(DIMS, DIMS)) * scale
    return rng.normal(size=(rows, DIMS)) @ mixing + mean


def test_frechet_distance_matches_scipy_reference(rng):
    a = correlated(rng, 200, np.zeros(DIMS), 1.0)
    b = correlated(rng, 150, np.array([1.0, -2.0, 0.5, 3.0]), 0.7)
    expected = reference_fid(a, b)
    assert expected > 1.0  # the sets really differ
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_of_a_set_with_itself_is_zero(rng):
    a = correlated(rng, 100, np.ones(DIMS), 2.0)
    assert abs(frechet_distance(a, a)) < 1e-6


def test_shifting_the_mean_adds_the_squared_shift(rng):
    a = correlated(rng, 100, np.zeros(DIMS), 1.0)
    b = correlated(rng, 100, np.zeros(DIMS), 1.5)
    b = b - b.mean(axis=0) + a.mean(axis=0)  # equal means, different covariances
    shift = np.array([0.5, -1.0, 2.0, 0.0])
    base = frechet_distance(a, b)
    assert frechet_distance(a, b + shift) == pytest.approx(base + shift @ shift, rel=1e-6)
    # Shifting a set only in its mean leaves nothing but |v|^2.
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)


def test_fewer_rows_than_dims_is_finite_and_warns(rng, caplog):
    a = rng.normal(size=(3, 8))
    b = rng.normal(size=(5, 8)) + 1.0
    with caplog.at_level(logging.WARNING):
        distance = frechet_distance(a, b)
    assert math.isfinite(distance)
    assert distance >= 0.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("biased" in r.getMessage() for r in warnings)


def test_enough_rows_does_not_warn(rng, caplog):
    with caplog.at_level(logging.WARNING):
        frechet_distance(rng.normal(size=(50, DIMS)), rng.normal(size=(50, DIMS)))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((10,), (10, DIMS)),  # 1-D
        ((10, DIMS), (10, 2, 2)),  # 3-D
        ((1, DIMS), (10, DIMS)),  # one row: no covariance
    ],
)
def test_frechet_distance_rejects_bad_shapes(a_shape, b_shape):
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(a_shape), np.ones(b_shape))


def test_frechet_distance_rejects_mismatched_dims(rng):
    with pytest.raises(ValueError):
        frechet_distance(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))


def test_inception_score_of_uniform_probabilities_is_one():
    probs = np.full((20, 5), 0.2)
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(1.0, abs=1e-9)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("classes", [2, 4, 10])
def test_balanced_one_hot_scores_the_number_of_classes(classes):
    probs = np.eye(classes)[np.arange(classes * 3) % classes]
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(classes, rel=1e-6)
    assert std == 0.0


def test_balanced_one_hot_over_ten_balanced_splits():
    classes, splits = 4, 10
    # Each consecutive block of `classes` rows is one balanced split.
    probs = np.eye(classes)[np.arange(classes * splits) % classes]
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(classes, rel=1e-6)
    assert 0.0 <= std < 1e-6


def test_inception_score_returns_mean_and_non_negative_std(rng):
    logits = rng.normal(size=(50, 6)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = inception_score(probs, splits=5)
    assert isinstance(result, tuple) and len(result) == 2
    mean, std = result
    assert 1.0 <= mean <= 6.0
    assert std > 0.0  # different splits of random rows score differently


def test_inception_score_needs_a_row_per_split():
    with pytest.raises(ValueError):
        inception_score(np.full((3, 2), 0.5), splits=10)
