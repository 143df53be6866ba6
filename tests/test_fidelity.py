"""Density / coverage and memorisation (models/metrics/fidelity.py) on known point sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from artgan.models.metrics import fidelity


@pytest.fixture(scope="module")
def real():
    return np.random.default_rng(0).normal(size=(400, 8))


def test_nearest_finds_the_closest_row_in_chunks():
    rng = np.random.default_rng(1)
    rows, queries = rng.normal(size=(50, 3)), rng.normal(size=(3000, 3))
    index, distance = fidelity.nearest(queries, rows)
    full = np.linalg.norm(queries[:, None, :] - rows[None, :, :], axis=2)
    np.testing.assert_array_equal(index, full.argmin(axis=1))
    np.testing.assert_allclose(distance, full.min(axis=1), atol=1e-9)


def test_a_model_like_the_data_scores_about_one_and_full_coverage(real):
    like = np.random.default_rng(2).normal(size=(2000, 8))
    density, coverage = fidelity.density_coverage(real, like)
    assert 0.8 < density < 1.2
    assert coverage > 0.9


def test_mode_collapse_loses_coverage_and_off_data_samples_lose_density(real):
    collapsed = real[:5] + np.random.default_rng(3).normal(scale=0.01, size=(5, 8))
    collapsed = np.repeat(collapsed, 200, axis=0)
    _, coverage = fidelity.density_coverage(real, collapsed)
    assert coverage < 0.2  # only the 5 modes' own balls and a few neighbours' hold a sample
    far = np.random.default_rng(4).normal(loc=10.0, size=(500, 8))
    density, coverage = fidelity.density_coverage(real, far)
    assert density == 0.0 and coverage == 0.0


def test_too_few_real_rows_give_nan():
    density, coverage = fidelity.density_coverage(np.zeros((5, 2)), np.zeros((3, 2)))
    assert math.isnan(density) and math.isnan(coverage)


def test_copies_of_training_images_are_counted_and_new_images_are_not(real):
    train, heldout = real[:300], real[300:]
    rng = np.random.default_rng(5)
    novel = fidelity.memorisation(train, heldout, rng.normal(size=(2000, 8)))
    assert novel.copy_rate < 0.15  # about the 5% a held-out image itself would score
    copies = np.concatenate([train[:150] + 1e-6, rng.normal(size=(50, 8))])
    copied = fidelity.memorisation(train, heldout, copies)
    assert copied.copy_rate == pytest.approx(0.75, abs=0.03)
    assert copied.copy_distance == novel.copy_distance > 0
