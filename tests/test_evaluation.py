"""Blessing decisions and image scoring (artgan.models.evaluation, feature_network)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from artgan.models.evaluation import ModelScore, Verdict, decide, score_images, uint8_to_unit_range
from artgan.models.feature_network import build_feature_network
from artgan.pipeline.config import EvalConfig

CONFIG = EvalConfig(fid_threshold=30.0, fid_margin=5.0)


def score(fid: float) -> ModelScore:
    return ModelScore(fid=fid, inception_score=math.nan, inception_score_std=math.nan)


# --- decide -------------------------------------------------------------------------------------


def test_decide_returns_a_verdict_with_reasons():
    verdict = decide(score(10.0), None, CONFIG)
    assert isinstance(verdict, Verdict)
    assert verdict.blessed is True
    assert isinstance(verdict.reasons, tuple) and verdict.reasons


@pytest.mark.parametrize(
    "fid, blessed",
    [(0.0, True), (29.999, True), (30.0, True), (30.001, False), (1000.0, False)],
)
def test_decide_without_baseline_uses_only_the_threshold(fid, blessed):
    assert decide(score(fid), None, CONFIG).blessed is blessed


@pytest.mark.parametrize(
    "fid, blessed",
    [(12.0, True), (14.999, True), (15.0, True), (15.001, False), (25.0, False)],
)
def test_decide_with_baseline_allows_the_margin(fid, blessed):
    # baseline 10 + margin 5 = 15; all candidates are under the threshold of 30.
    assert decide(score(fid), score(10.0), CONFIG).blessed is blessed


def test_decide_needs_both_threshold_and_baseline():
    # Within the baseline margin but above the threshold: not blessed.
    config = EvalConfig(fid_threshold=20.0, fid_margin=5.0)
    assert decide(score(22.0), score(18.0), config).blessed is False
    # Under the threshold but worse than baseline + margin: not blessed.
    assert decide(score(19.0), score(2.0), config).blessed is False
    assert decide(score(19.0), score(15.0), config).blessed is True


def test_decide_with_zero_margin_blesses_an_equal_fid():
    config = EvalConfig(fid_threshold=30.0, fid_margin=0.0)
    assert decide(score(12.5), score(12.5), config).blessed is True
    assert decide(score(12.51), score(12.5), config).blessed is False


def test_reasons_name_the_numbers():
    verdict = decide(score(17.25), score(11.5), CONFIG)
    assert verdict.blessed is False
    text = " ".join(verdict.reasons)
    for number in ("17.250", "30.000", "11.500", "5.000"):
        assert number in text
    assert ">" in text


def test_reasons_say_there_is_no_baseline():
    verdict = decide(score(31.0), None, CONFIG)
    assert verdict.blessed is False
    text = " ".join(verdict.reasons)
    assert "31.000" in text and "30.000" in text
    assert "baseline" in text


# --- feature network and scoring ----------------------------------------------------------------


def squares(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 8x8x1 images: label 1 bright squares on dark, label 0 dark squares on bright."""
    labels = np.arange(count) % 2
    images = np.empty((count, 8, 8, 1), dtype=np.uint8)
    for i, label in enumerate(labels):
        background, square = (40, 220) if label else (220, 40)
        image = np.full((8, 8), background, dtype=np.int32)
        top, left = rng.integers(0, 4, size=2)
        image[top : top + 4, left : left + 4] = square
        image += rng.integers(-20, 21, size=(8, 8))
        images[i, ..., 0] = np.clip(image, 0, 255)
    return images, labels.astype(np.int64)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    train_images, train_labels = squares(rng, 40)
    eval_images, eval_labels = squares(rng, 20)
    return train_images, train_labels, eval_images, eval_labels


@pytest.fixture(scope="module")
def classifier(data):
    train_images, train_labels, eval_images, eval_labels = data
    return build_feature_network(
        uint8_to_unit_range(train_images),
        train_labels,
        uint8_to_unit_range(eval_images),
        eval_labels,
        epochs=30,
        seed=0,
    )


@pytest.fixture(scope="module")
def random_conv(data):
    train_images, _, eval_images, _ = data
    return build_feature_network(
        uint8_to_unit_range(train_images), None, uint8_to_unit_range(eval_images), None, epochs=30
    )


def test_uint8_to_unit_range():
    values = uint8_to_unit_range(np.array([0, 255, 51], dtype=np.uint8))
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, [-1.0, 1.0, 51 / 127.5 - 1.0], atol=1e-6)


def test_domain_classifier_learns_the_labels(classifier):
    assert classifier.name == "domain_classifier"
    assert classifier.heldout_accuracy is not None
    assert classifier.heldout_accuracy >= 0.9


def test_feature_network_outputs(classifier, data):
    images = uint8_to_unit_range(data[0][:5])
    features, probs = classifier.features_and_probs(images)
    assert features.dtype == probs.dtype == np.float64
    assert features.shape[0] == probs.shape[0] == 5
    assert probs.shape[1] == 2
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_without_labels_it_is_random_conv(random_conv):
    assert random_conv.name == "random_conv"
    assert random_conv.heldout_accuracy is None


def test_a_single_label_also_falls_back_to_random_conv(data):
    train_images, _, eval_images, _ = data
    network = build_feature_network(
        uint8_to_unit_range(train_images),
        np.zeros(len(train_images), dtype=np.int64),
        uint8_to_unit_range(eval_images),
        np.zeros(len(eval_images), dtype=np.int64),
        epochs=1,
    )
    assert network.name == "random_conv"
    assert network.heldout_accuracy is None


def real_features(network, images_uint8: np.ndarray) -> np.ndarray:
    return network.features_and_probs(uint8_to_unit_range(images_uint8))[0]


def test_random_conv_scores_have_nan_inception_score(random_conv, data):
    images = data[0]
    result = score_images(images, random_conv, real_features(random_conv, images))
    assert isinstance(result, ModelScore)
    assert math.isfinite(result.fid)
    assert math.isnan(result.inception_score)
    assert math.isnan(result.inception_score_std)


@pytest.mark.parametrize("network_name", ["classifier", "random_conv"])
def test_real_images_score_near_zero_and_gray_images_far(network_name, request, data):
    network = request.getfixturevalue(network_name)
    images = data[0]
    reference = real_features(network, images)
    own = score_images(images, network, reference)
    gray = score_images(np.full_like(images, 128), network, reference)
    assert abs(own.fid) < 1e-4
    # random_conv features are small (its gray FID is ~0.2 here), so compare relatively.
    assert gray.fid > 100 * max(own.fid, 1e-4)


def test_classifier_inception_score_reflects_class_balance(classifier, data):
    images = data[0]
    reference = real_features(classifier, images)
    balanced = score_images(images, classifier, reference)
    one_class = score_images(images[data[1] == 1], classifier, reference)
    # Two confidently separated, balanced classes score close to 2; one class close to 1.
    assert balanced.inception_score > 1.5
    assert balanced.inception_score <= 2.0 + 1e-6
    assert balanced.inception_score_std >= 0.0
    assert one_class.inception_score < 1.3
