"""Adaptive augmentation: how the probability is steered and what it does to images."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.errors import ArtganError
from artgan.models.training import ada, augment
from artgan.models.training.gan import AdversarialRecipe, AdversarialTrainer

POLICY = ("translation", "cutout")


def test_probability_rises_while_d_calls_most_reals_real_and_falls_otherwise():
    speed_kimg = TrainConfig().ada_speed_kimg
    steering = ada.AdaptiveAugment(POLICY, target=0.6, batch_size=64, speed_kimg=speed_kimg)
    step = 64 * ada.ADJUST_EVERY_STEPS / (speed_kimg * 1000)
    for _ in range(3):
        steering.accumulate(tf.constant([64.0, 64.0]))  # every real image scored real
        steering.adjust()
    assert float(steering.probability) == pytest.approx(3 * step)
    steering.accumulate(tf.constant([0.0, 64.0]))  # half the reals on each side: under target
    steering.adjust()
    assert float(steering.probability) == pytest.approx(2 * step)
    for _ in range(5):
        steering.accumulate(tf.constant([-64.0, 64.0]))
        steering.adjust()
    assert float(steering.probability) == 0.0  # never below 0
    steering.adjust()  # no statistics since the last adjustment: p stays
    assert float(steering.probability) == 0.0


def test_probability_zero_leaves_images_unchanged_and_one_augments_every_image():
    images = tf.random.uniform([64, 8, 8, 1], 0.5, 1.0)
    unchanged = ada.apply_with_probability(images, POLICY, 0.0)
    assert np.array_equal(unchanged.numpy(), images.numpy())
    cut = ada.apply_with_probability(tf.ones([200, 8, 8, 1]), ("cutout",), 1.0).numpy()
    always = augment.diff_augment(tf.ones([200, 8, 8, 1]), ("cutout",)).numpy()
    for result in (cut, always):  # as DiffAugment: every image loses a 2x2 to 4x4 square
        zeros = (result == 0).sum(axis=(1, 2, 3))
        assert zeros.min() >= 4 and zeros.max() == 16


def test_a_transform_that_hits_no_image_is_not_computed_and_gradients_pass_either_way():
    """ADA's probability sits at 0 for much of a run: the step must not pay for transforms."""
    calls = tf.Variable(0)

    def counted_cutout(images):
        calls.assign_add(1)
        return augment.cutout(images)

    @tf.function
    def augmented_and_gradient(images, probability):
        with tf.GradientTape() as tape:
            tape.watch(images)
            out = ada.transform_some(images, counted_cutout, probability)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, images)

    images = tf.ones([64, 8, 8, 1])
    out, gradient = augmented_and_gradient(images, tf.constant(0.0))
    assert int(calls) == 0
    assert np.array_equal(out.numpy(), images.numpy())
    assert np.array_equal(gradient.numpy(), np.ones(images.shape))
    out, gradient = augmented_and_gradient(images, tf.constant(1.0))
    assert int(calls) == 1
    assert np.array_equal(gradient.numpy(), out.numpy())  # 1 where kept, 0 where cut out
    assert (out.numpy() == 0).sum(axis=(1, 2, 3)).min() >= 4


def test_each_image_is_augmented_with_the_probability():
    cut = ada.apply_with_probability(tf.ones([2000, 8, 8, 1]), ("cutout",), 0.3).numpy()
    share = (cut.reshape(2000, -1).min(axis=1) == 0).mean()
    assert 0.25 < share < 0.35


def _constant_discriminator(logit: float) -> keras.Model:
    """D that scores every image ``logit`` (its weights do not move at learning rate 0)."""
    inputs = keras.Input([8, 8, 1])
    dense = keras.layers.Dense(
        1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(logit)
    )
    return keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))


@pytest.mark.parametrize("logit, rises", [(5.0, True), (-5.0, False)])
def test_the_trainer_steers_the_probability_from_d_on_real_images(logit, rises):
    latents = keras.Input([4])
    generator = keras.Model(
        latents, keras.layers.Reshape([8, 8, 1])(keras.layers.Dense(64)(latents))
    )
    recipe = AdversarialRecipe(augment_policy=POLICY, augment_target=0.6, augment_speed_kimg=10.0)
    trainer = AdversarialTrainer(
        tf.distribute.get_strategy(),
        generator,
        _constant_discriminator(logit),
        keras.optimizers.Adam(0.0),
        keras.optimizers.Adam(0.0),
        latent_dim=4,
        global_batch_size=8,
        recipe=recipe,
    )
    batch = tf.random.uniform([8, 8, 8, 1], -1.0, 1.0)
    for _ in range(2 * ada.ADJUST_EVERY_STEPS):
        trainer.step(batch)
    probability = float(trainer.augment_probability)
    assert (probability > 0.0) == rises
    if rises:
        # two adjustments of 8 images x 4 steps each, at 0 -> 1 in 10,000 images
        assert probability == pytest.approx(2 * 8 * ada.ADJUST_EVERY_STEPS / 10_000)


def test_adaptive_augmentation_needs_a_policy_and_a_target_in_range():
    with pytest.raises(ArtganError, match="train.augment_adaptive"):
        TrainConfig(augment="", augment_adaptive=True).validate()
    with pytest.raises(ArtganError, match="train.ada_target"):
        TrainConfig(augment="cutout", augment_adaptive=True, ada_target=1.5).validate()
    with pytest.raises(ArtganError, match="train.ada_speed_kimg"):
        TrainConfig(augment="cutout", augment_adaptive=True, ada_speed_kimg=0.0).validate()
    TrainConfig(augment="translation,cutout", augment_adaptive=True).validate()
