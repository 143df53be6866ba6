"""The contrastive feature network, and auto's choice between it and the domain classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from artgan import datasets
from artgan.contract.bundle import SavedModelBundle
from artgan.models.metrics import scores
from artgan.models.metrics.contrastive import (
    augmented_view,
    build_encoder,
    nt_xent,
    train_contrastive,
    view_match,
)
from artgan.models.metrics.domain_classifier import export_classifier
from artgan.models.metrics.feature_network import open_feature_network
from artgan.models.metrics.network_choice import NetworkSettings, train_feature_network


@pytest.fixture(scope="module")
def digits():
    """The real 8x8 digits: 600 to train on, 150 held out."""
    pixels, labels = datasets.digit_pixels()
    images = pixels[..., np.newaxis]
    return images[:600], labels[:600], images[600:750], labels[600:750]


@pytest.fixture(scope="module")
def trained(digits):
    train_images, _, eval_images, _ = digits
    return train_contrastive(train_images, eval_images, epochs=15, seed=0)


def test_nt_xent_rewards_views_that_find_their_partner():
    rng = np.random.default_rng(0)
    anchors = tf.constant(rng.normal(size=(16, 8)), tf.float32)
    matched = float(nt_xent(anchors, anchors))
    shuffled = float(nt_xent(anchors, tf.random.shuffle(anchors, seed=1)))
    collapsed = float(nt_xent(tf.ones((16, 8)), tf.ones((16, 8))))
    assert matched < shuffled
    assert collapsed == pytest.approx(math.log(31), rel=1e-4)  # 2N - 1 equal candidates


def test_views_keep_the_uint8_range_and_differ():
    images = tf.constant(np.full((4, 8, 8, 3), 200, np.float32))
    tf.random.set_seed(0)
    first, second = augmented_view(images).numpy(), augmented_view(images).numpy()
    assert first.min() >= 0 and first.max() <= 255
    assert not np.array_equal(first, second)


def test_training_makes_held_out_views_find_each_other(trained, digits):
    assert trained.name == "contrastive" and trained.num_classes == 0
    assert trained.heldout_accuracy is None
    untrained = view_match(build_encoder(digits[2].shape[1:], seed=0), digits[2], seed=0)
    # 8x8 digits are near-duplicates of each other under these views: 5% against 2.7%.
    assert trained.view_match > 1.5 * untrained > 1 / len(digits[2])


def test_exported_it_serves_through_the_session_loader_without_class_scores(
    trained, digits, tmp_path
):
    export_dir = export_classifier(trained, str(tmp_path / "contrastive"))
    images = digits[0][:5]
    bundle = SavedModelBundle(export_dir)  # TF Serving's loader
    by_session = bundle.run("serving_default", {"images": images})
    bundle.close()
    assert by_session["features"].shape == (5, 128)
    np.testing.assert_array_equal(by_session["probs"], np.ones((5, 1), np.float32))
    network = open_feature_network("contrastive", classifier_dir=export_dir)
    assert not network.has_class_scores
    features, _ = network.features_and_probs(images)
    np.testing.assert_allclose(features, by_session["features"], rtol=1e-5, atol=1e-5)


def test_its_distances_separate_real_digits_from_noise(trained, digits, tmp_path):
    network = open_feature_network(
        "contrastive", classifier_dir=export_classifier(trained, str(tmp_path / "c"))
    )
    train_features, _ = network.features_and_probs(digits[0])
    eval_features, _ = network.features_and_probs(digits[2])
    noise = np.random.default_rng(0).integers(0, 256, digits[2].shape, dtype=np.uint8)
    noise_features, _ = network.features_and_probs(noise)
    statistics = scores.FeatureStatistics.from_features
    floor = scores.frechet_distance(statistics(train_features), statistics(eval_features))
    noise_distance = scores.frechet_distance(statistics(train_features), statistics(noise_features))
    assert noise_distance > 10 * floor
    assert 0.5 < np.mean(np.var(train_features, axis=0)) < 2.0  # unit-scaled features


def settings(choice: str, min_accuracy: float) -> NetworkSettings:
    return NetworkSettings(choice, min_accuracy, classifier_epochs=3, contrastive_epochs=1)


def test_auto_keeps_a_classifier_that_reaches_the_minimum(digits):
    chosen = train_feature_network(*digits, settings("auto", 0.0))
    assert chosen.network.name == "domain_classifier" and not chosen.fallback_reason


def test_auto_falls_back_to_contrastive_below_the_minimum_and_says_why(digits, caplog):
    chosen = train_feature_network(*digits, settings("auto", 1.0))
    assert chosen.network.name == "contrastive"
    assert chosen.refused_classifier_accuracy < 1.0
    assert chosen.refused_classifier.name == "domain_classifier"
    assert chosen.refused_classifier.heldout_accuracy == chosen.refused_classifier_accuracy
    assert "below eval.min_classifier_accuracy 1" in chosen.fallback_reason
    assert "--feature-network domain_classifier" in caplog.text


def test_auto_without_labels_is_contrastive(digits):
    train_images, _, eval_images, _ = digits
    chosen = train_feature_network(train_images, None, eval_images, None, settings("auto", 0.8))
    assert chosen.network.name == "contrastive"
    assert "no class labels" in chosen.fallback_reason


def test_a_forced_network_is_kept(digits):
    forced = train_feature_network(*digits, settings("domain_classifier", 1.0))
    assert forced.network.name == "domain_classifier" and not forced.fallback_reason
    assert train_feature_network(*digits, settings("contrastive", 0.0)).network.name == (
        "contrastive"
    )
