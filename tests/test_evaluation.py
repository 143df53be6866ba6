"""Blessing decisions and scoring (models/metrics/)."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from evaluation_fixtures import squares

from artgan.config import EvalConfig
from artgan.contract.bundle import SavedModelBundle
from artgan.models.export import export_generator
from artgan.models.metrics import scores
from artgan.models.metrics.domain_classifier import export_classifier, train_domain_classifier
from artgan.models.metrics.evaluation import (
    GENERATE_CHUNK,
    ModelScore,
    RealReference,
    Verdict,
    decide,
    generate_images,
    score_generator,
    score_images,
    to_uint8,
)
from artgan.models.metrics.feature_network import open_feature_network

ONLY_FID = EvalConfig(
    fid_threshold=30.0, fid_max_over_floor=None, fid_margin=5.0, kid_threshold=None, kid_margin=None
)
NO_FLOOR = {"fid_max_over_floor": None}


def score(fid: float, kid: float = 0.0, inception: float = math.nan) -> ModelScore:
    return ModelScore(fid, kid, 0.0, inception, 0.0)


# --- decide -------------------------------------------------------------------------------------


def test_decide_returns_a_verdict_with_reasons_and_checks():
    verdict = decide(score(10.0), None, ONLY_FID)
    assert isinstance(verdict, Verdict)
    assert verdict.blessed is True
    assert verdict.reasons and verdict.checks
    assert all(check.passed for check in verdict.checks)


@pytest.mark.parametrize(
    "fid, blessed",
    [(0.0, True), (29.999, True), (30.0, True), (30.001, False), (1000.0, False)],
)
def test_without_baseline_only_the_threshold_counts(fid, blessed):
    assert decide(score(fid), None, ONLY_FID).blessed is blessed


@pytest.mark.parametrize(
    "fid, blessed",
    [(12.0, True), (14.999, True), (15.0, True), (15.001, False), (25.0, False)],
)
def test_with_baseline_the_margin_counts(fid, blessed):
    # baseline 10 + margin 5 = 15; all candidates are under the threshold of 30.
    assert decide(score(fid), score(10.0), ONLY_FID).blessed is blessed


def test_threshold_and_baseline_must_both_pass():
    config = dataclasses.replace(ONLY_FID, fid_threshold=20.0)
    assert decide(score(22.0), score(18.0), config).blessed is False
    assert decide(score(19.0), score(2.0), config).blessed is False
    assert decide(score(19.0), score(15.0), config).blessed is True


@pytest.mark.parametrize(
    "kid, baseline_kid, blessed",
    [
        (0.5, None, True),
        (1.0, None, True),
        (1.01, None, False),
        (0.9, 0.5, True),
        (0.9, 0.3, False),
    ],
)
def test_kid_threshold_and_margin(kid, baseline_kid, blessed):
    config = EvalConfig(
        fid_threshold=None,
        fid_margin=None,
        kid_threshold=1.0,
        kid_margin=0.5,
        is_margin=None,
        **NO_FLOOR,
    )
    baseline = None if baseline_kid is None else score(0.0, baseline_kid)
    assert decide(score(1e6, kid), baseline, config).blessed is blessed


def test_inception_score_gates_ask_for_at_least():
    config = EvalConfig(
        fid_threshold=None,
        kid_threshold=None,
        is_threshold=5.0,
        fid_margin=None,
        kid_margin=None,
        **NO_FLOOR,
    )
    assert decide(score(0, 0, 6.0), None, config).blessed is True
    assert decide(score(0, 0, 4.9), None, config).blessed is False
    with_margin = dataclasses.replace(config, is_margin=1.0)
    assert decide(score(0, 0, 6.0), score(0, 0, 7.0), with_margin).blessed is True
    assert decide(score(0, 0, 5.9), score(0, 0, 7.0), with_margin).blessed is False


def test_a_missing_class_score_fails_an_is_gate():
    config = EvalConfig(fid_threshold=None, kid_threshold=None, is_threshold=1.0, **NO_FLOOR)
    verdict = decide(score(0.0, 0.0, math.nan), None, config)
    assert verdict.blessed is False


def test_fid_relative_to_the_real_floor():
    config = dataclasses.replace(ONLY_FID, fid_threshold=None, fid_max_over_floor=3.0)
    assert decide(score(10.4), None, config, fid_floor=3.5).blessed is True
    verdict = decide(score(10.6), None, config, fid_floor=3.5)
    assert verdict.blessed is False
    assert "10.5" in " ".join(verdict.reasons)  # 3 x 3.5, spelled out


def test_by_default_fd_is_gated_against_the_floor_not_an_absolute_threshold():
    defaults = EvalConfig()
    # An emoji-sized floor: FD 100 is far above any digits-calibrated threshold, yet 7.7x.
    assert decide(score(100.0, kid=50.0), None, defaults, fid_floor=13.0).blessed is True
    verdict = decide(score(110.0), None, defaults, fid_floor=13.0)
    assert verdict.blessed is False
    assert "floor" in " ".join(verdict.reasons)
    assert decide(score(1.0), None, defaults).blessed is False  # an unknown floor fails


def test_a_feature_network_below_the_accuracy_floor_is_refused():
    config = dataclasses.replace(ONLY_FID, min_classifier_accuracy=0.9)
    assert decide(score(1.0), None, config, heldout_accuracy=0.95).blessed is True
    verdict = decide(score(1.0), None, config, heldout_accuracy=0.6)
    assert verdict.blessed is False
    assert "refused" in " ".join(verdict.reasons)


def test_the_memorisation_gate_refuses_a_model_that_copies_its_training_images():
    config = dataclasses.replace(ONLY_FID, max_copy_rate=0.1)
    novel = dataclasses.replace(score(1.0), copy_rate=0.06)
    copier = dataclasses.replace(score(1.0), copy_rate=0.4)
    assert decide(novel, None, config).blessed is True
    verdict = decide(copier, None, config)
    assert verdict.blessed is False
    assert "near-copy share 0.4" in " ".join(verdict.reasons)
    unmeasured = decide(score(1.0), None, config)  # no training features: NaN fails the gate
    assert unmeasured.blessed is False
    assert decide(copier, None, ONLY_FID).blessed is True  # off by default


def test_no_gates_bless_and_say_so():
    config = EvalConfig(
        fid_threshold=None,
        kid_threshold=None,
        fid_margin=None,
        kid_margin=None,
        is_margin=None,
        **NO_FLOOR,
    )
    verdict = decide(score(1e9, 1e9), score(0.0, 0.0), config)
    assert verdict.blessed is True
    assert "no gate is configured" in verdict.reasons


def test_reasons_name_the_numbers_and_the_feature_network():
    verdict = decide(score(17.25), score(11.5), ONLY_FID)
    assert verdict.blessed is False
    text = " ".join(verdict.reasons)
    for number in ("17.25", "30", "11.5", "5"):
        assert number in text
    assert "FD (domain_classifier) 17.25 > baseline 11.5 + margin 5" in text
    inception = " ".join(
        decide(score(17.25), None, ONLY_FID, network_name="inception_2015").reasons
    )
    assert "FID 17.25 <= threshold 30" in inception
    assert "no blessed baseline" in inception


# --- feature networks and scoring ---------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (*squares(rng, 40), *squares(rng, 20))


@pytest.fixture(scope="module")
def classifier(data, tmp_path_factory):
    trained = train_domain_classifier(*data, epochs=30, seed=0)
    export_dir = export_classifier(trained, str(tmp_path_factory.mktemp("classifier")))
    return trained, open_feature_network(
        trained.name, classifier_dir=export_dir, heldout_accuracy=trained.heldout_accuracy
    )


@pytest.fixture(scope="module")
def random_conv(data, tmp_path_factory):
    train_images, _, eval_images, _ = data
    trained = train_domain_classifier(train_images, None, eval_images, None, epochs=30)
    export_dir = export_classifier(trained, str(tmp_path_factory.mktemp("random_conv")))
    return open_feature_network(trained.name, classifier_dir=export_dir)


def reference_of(network, images: np.ndarray) -> RealReference:
    features, _ = network.features_and_probs(images)
    return RealReference(scores.FeatureStatistics.from_features(features), features, 0.0, 0.0)


def test_to_uint8_rounds_like_the_served_generator():
    values = to_uint8(np.array([-1.0, 1.0, 0.0, -2.0, 0.2], dtype=np.float32))
    assert values.dtype == np.uint8
    np.testing.assert_array_equal(values, [0, 255, 128, 0, 153])  # 127.5 rounds half to even


def test_domain_classifier_learns_the_labels(classifier):
    trained, network = classifier
    assert network.name == "domain_classifier" and network.has_class_scores
    assert network.heldout_accuracy == trained.heldout_accuracy >= 0.9


def test_exported_classifier_gives_what_the_trained_one_gives(classifier, data):
    trained, network = classifier
    features, probs = network.features_and_probs(data[0][:5])
    expected_features, expected_probs = trained.model(data[0][:5].astype(np.float32))
    assert features.dtype == probs.dtype == np.float64
    np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, expected_probs, rtol=1e-5, atol=1e-6)


def test_exported_classifier_runs_through_the_session_loader_as_it_does_eagerly(data, tmp_path):
    trained = train_domain_classifier(*data, epochs=1, seed=0)
    export_dir = export_classifier(trained, str(tmp_path / "classifier"))
    images = data[0][:5]
    bundle = SavedModelBundle(export_dir)  # TF Serving's loader: graph, restore op, Session.run
    by_session = bundle.run("serving_default", {"images": images})
    bundle.close()
    by_eager = tf.saved_model.load(export_dir).signatures["serving_default"](
        images=tf.constant(images)
    )
    assert set(by_session) == set(by_eager)
    for name, value in by_session.items():
        np.testing.assert_array_equal(value, by_eager[name].numpy(), err_msg=name)


def test_feature_networks_take_only_uint8_images(classifier, data):
    with pytest.raises(ValueError, match="uint8"):
        classifier[1].features_and_probs(data[0].astype(np.float32))


def test_without_labels_it_is_random_conv_without_class_scores(random_conv, data):
    assert random_conv.name == "random_conv"
    assert random_conv.heldout_accuracy is None
    result = score_images(data[0], random_conv, reference_of(random_conv, data[0]))
    assert math.isfinite(result.fid) and math.isfinite(result.kid)
    assert math.isnan(result.inception_score)


@pytest.mark.parametrize("which", ["classifier", "random_conv"])
def test_real_images_score_near_zero_and_gray_images_far(which, request, data):
    network = request.getfixturevalue(which)
    network = network[1] if which == "classifier" else network
    images = data[0]
    reference = reference_of(network, images)
    own = score_images(images, network, reference)
    gray = score_images(np.full_like(images, 128), network, reference)
    assert abs(own.fid) < 1e-4
    assert gray.fid > 100 * max(own.fid, 1e-4)
    # KID of a set against itself is not exactly 0 (the unbiased estimate drops self-pairs).
    assert gray.kid > 10 * abs(own.kid)


def test_classifier_score_reflects_class_balance(classifier, data):
    network = classifier[1]
    images, labels = data[0], data[1]
    reference = reference_of(network, images)
    balanced = score_images(images, network, reference)
    one_class = score_images(images[labels == 1], network, reference)
    assert 1.5 < balanced.inception_score <= 2.0 + 1e-6
    assert one_class.inception_score < 1.3
    assert balanced.class_histogram == (20, 20)


# --- score_generator ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory) -> str:
    keras.utils.set_random_seed(0)
    generator = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Reshape((8, 8, 1)),
        ]
    )
    return export_generator(generator, 4, str(tmp_path_factory.mktemp("generator")))


def test_streamed_scores_equal_scores_of_all_images_at_once(generator_dir, classifier, data):
    network = classifier[1]
    reference = reference_of(network, data[0])
    config = EvalConfig(num_samples=GENERATE_CHUNK + 100)  # two chunks
    seeds = np.arange(config.num_samples, dtype=np.int64)
    streamed, preview, timings = score_generator(generator_dir, seeds, network, reference, config)
    all_at_once = score_images(generate_images(generator_dir, seeds), network, reference, config)
    assert streamed.num_samples == all_at_once.num_samples == GENERATE_CHUNK + 100
    # Batches differ (chunks of 500 vs one set), so float32 features differ in the last bits.
    assert streamed.fid == pytest.approx(all_at_once.fid, rel=1e-6)
    assert streamed.kid == pytest.approx(all_at_once.kid, rel=1e-6)
    assert streamed.inception_score == pytest.approx(all_at_once.inception_score, rel=1e-6)
    assert streamed.class_histogram == all_at_once.class_histogram
    assert preview.dtype == np.uint8 and preview.shape == (64, 8, 8, 1)
    np.testing.assert_array_equal(preview, generate_images(generator_dir, seeds[:64]))
    assert min(dataclasses.asdict(timings).values()) >= 0.0


def test_same_seeds_same_score(generator_dir, classifier, data):
    network = classifier[1]
    reference = reference_of(network, data[0])
    config = EvalConfig(num_samples=50)
    seeds = np.arange(50, dtype=np.int64)
    first, _, _ = score_generator(generator_dir, seeds, network, reference, config)
    second, _, _ = score_generator(generator_dir, seeds, network, reference, config)
    assert first == second
