"""FID, KID, IS and streaming statistics (metrics/scores.py) against independent references."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import scipy.linalg

from artgan.models.metrics.scores import (
    FeatureStatistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
)

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


# --- frechet_distance at realistic sizes --------------------------------------------------------


def test_frechet_distance_matches_scipy_reference_in_64_dims(rng):
    mixing = rng.normal(size=(64, 64)) / 8
    a = rng.normal(size=(400, 64)) @ mixing
    b = rng.normal(size=(300, 64)) @ (mixing + rng.normal(size=(64, 64)) / 40) + 0.1
    assert frechet_distance(a, b) == pytest.approx(reference_fid(a, b), rel=1e-6)


def test_frechet_distance_accepts_statistics_and_arrays_alike(rng):
    a = correlated(rng, 120, np.zeros(DIMS), 1.0)
    b = correlated(rng, 90, np.ones(DIMS), 0.5)
    from_arrays = frechet_distance(a, b)
    assert frechet_distance(FeatureStatistics.from_features(a), b) == pytest.approx(from_arrays)
    stats_b = FeatureStatistics.from_features(b)
    assert frechet_distance(FeatureStatistics.from_features(a), stats_b) == pytest.approx(
        from_arrays, rel=1e-9
    )


# --- FeatureStatistics ----------------------------------------------------------------------------


def test_streaming_statistics_equal_numpy_over_uneven_batches(rng):
    features = correlated(rng, 257, np.array([3.0, -1.0, 0.0, 2.0]), 2.0)
    statistics = FeatureStatistics(DIMS)
    for batch in np.array_split(features, [1, 50, 51, 200]):  # sizes 1, 49, 1, 149, 57
        statistics.update(batch)
    assert statistics.count == 257
    np.testing.assert_allclose(statistics.mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        statistics.covariance, np.cov(features, rowvar=False, ddof=1), rtol=1e-10
    )


def test_merged_statistics_equal_the_whole(rng):
    features = correlated(rng, 100, np.zeros(DIMS), 1.0)
    left = FeatureStatistics.from_features(features[:37])
    right = FeatureStatistics.from_features(features[37:])
    merged = left.merge(right).merge(FeatureStatistics(DIMS))  # an empty one changes nothing
    whole = FeatureStatistics.from_features(features)
    assert merged.count == whole.count == 100
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.covariance, whole.covariance, rtol=1e-10)


def test_statistics_stay_accurate_far_from_the_origin(rng):
    """Raw sums of squares would lose the covariance to cancellation at a mean of 1e6."""
    features = rng.normal(size=(1000, DIMS)) * 0.01 + 1e6
    statistics = FeatureStatistics(DIMS)
    for batch in np.array_split(features, 10):
        statistics.update(batch)
    centered = features - features.mean(axis=0)
    expected = centered.T @ centered / 999
    np.testing.assert_allclose(statistics.covariance, expected, rtol=1e-6)


def test_statistics_are_float64_whatever_the_input(rng):
    statistics = FeatureStatistics.from_features(rng.normal(size=(10, DIMS)).astype(np.float32))
    assert statistics.mean.dtype == statistics.covariance.dtype == np.float64


def test_statistics_save_and_load(tmp_path, rng):
    statistics = FeatureStatistics.from_features(correlated(rng, 30, np.ones(DIMS), 1.0))
    with open(tmp_path / "s.npz", "wb") as f:
        statistics.save(f)
    with open(tmp_path / "s.npz", "rb") as f:
        loaded = FeatureStatistics.load(f)
    assert loaded.count == 30
    np.testing.assert_array_equal(loaded.mean, statistics.mean)
    np.testing.assert_array_equal(loaded.covariance, statistics.covariance)


def test_statistics_reject_other_dimensions(rng):
    statistics = FeatureStatistics(DIMS)
    with pytest.raises(ValueError):
        statistics.update(rng.normal(size=(5, DIMS + 1)))
    with pytest.raises(ValueError):
        statistics.merge(FeatureStatistics(DIMS + 1))
    with pytest.raises(ValueError):
        _ = FeatureStatistics.from_features(np.zeros((1, DIMS))).covariance  # one row


# --- kernel_inception_distance ------------------------------------------------------------------


def cubic_kernel(x: np.ndarray, y: np.ndarray) -> float:
    return (float(np.dot(x, y)) / len(x) + 1.0) ** 3


def reference_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased MMD^2 U-statistic, pair by pair (sets may differ in size)."""
    n, m = len(a), len(b)
    within_a = sum(cubic_kernel(a[i], a[j]) for i in range(n) for j in range(n) if i != j)
    within_b = sum(cubic_kernel(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(cubic_kernel(x, y) for x in a for y in b)
    return within_a / (n * (n - 1)) + within_b / (m * (m - 1)) - 2.0 * across / (n * m)


def test_kid_of_whole_equal_sized_sets_is_the_unbiased_mmd(rng):
    a = rng.normal(size=(25, 5))
    b = rng.normal(size=(25, 5)) * 1.3 + 0.4
    mean, std = kernel_inception_distance(a, b, num_subsets=3, subset_size=1000)
    # Each subset holds every row of both sets (m = 25), so every round gives the same number.
    assert mean == pytest.approx(reference_mmd2(a, b), rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-9 * abs(mean))
    assert mean > 0.05


def test_kid_subsets_are_capped_by_the_smaller_set_and_drawn_without_replacement(rng):
    a = rng.normal(size=(12, 3)) + 0.5
    b = rng.normal(size=(40, 3))
    mean, std = kernel_inception_distance(a, b, num_subsets=4000, subset_size=1000, seed=3)
    # m = 12 uses all of a; averaged over random 12-row subsets of b, the estimate's
    # expectation is the full-set U-statistic exactly (drawing with replacement would add
    # k(y, y) terms and bias it upwards).
    standard_error = std / math.sqrt(4000)
    assert abs(mean - reference_mmd2(a, b)) < 4 * standard_error
    assert std > 0


def test_kid_is_unbiased_between_samples_of_one_distribution(rng):
    a = rng.normal(size=(300, 8))
    b = rng.normal(size=(300, 8))
    mean, std = kernel_inception_distance(a, b, num_subsets=50, subset_size=100)
    shifted, _ = kernel_inception_distance(a, b + 1.0, num_subsets=50, subset_size=100)
    assert abs(mean) < 0.05  # near 0, and may be negative: no small-N bias
    assert shifted > 20 * max(abs(mean), std / 10)


def test_kid_is_reproducible_with_a_seed(rng):
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 0.2
    first = kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=1)
    assert kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=1) == first
    assert kernel_inception_distance(a, b, num_subsets=5, subset_size=20, seed=2) != first


def test_kid_rejects_mismatched_or_too_small_sets(rng):
    with pytest.raises(ValueError):
        kernel_inception_distance(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))
    with pytest.raises(ValueError):
        kernel_inception_distance(rng.normal(size=(1, 3)), rng.normal(size=(10, 3)))
