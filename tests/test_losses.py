"""GAN losses and gradient penalties against values worked out by hand."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from artgan.models.training import losses

REAL = tf.constant([[2.0], [-1.0]])
FAKE = tf.constant([[0.5], [-3.0]])


def softplus(x):
    return np.log1p(np.exp(x))


def test_non_saturating_loss_values():
    d = losses.NON_SATURATING.discriminator(REAL, FAKE).numpy()
    assert np.allclose(d, softplus(np.array([0.5, -3.0])) + softplus(-np.array([2.0, -1.0])))
    assert np.allclose(losses.NON_SATURATING.generator(FAKE).numpy(), softplus([-0.5, 3.0]))


def test_hinge_loss_values():
    d = losses.HINGE.discriminator(REAL, FAKE).numpy()
    assert np.allclose(d, [0.0 + 1.5, 2.0 + 0.0])
    assert np.allclose(losses.HINGE.generator(FAKE).numpy(), [-0.5, 3.0])


def test_wgan_loss_values_and_penalty_weight():
    assert np.allclose(losses.WGAN_GP.discriminator(REAL, FAKE).numpy(), [-1.5, -2.0])
    assert losses.WGAN_GP.gradient_penalty_weight == 10.0
    assert losses.NON_SATURATING.gradient_penalty_weight == 0.0


def linear_discriminator(weights: np.ndarray) -> keras.Model:
    """D(x) = sum(w * x): its input gradient is w everywhere."""
    inputs = keras.Input(shape=weights.shape)
    logits = keras.layers.Lambda(
        lambda x: tf.reduce_sum(x * weights[None].astype(np.float32), axis=[1, 2, 3])[:, None]
    )(inputs)
    return keras.Model(inputs, logits)


def test_r1_penalty_is_the_squared_input_gradient_norm():
    weights = np.arange(16, dtype=np.float32).reshape(4, 4, 1) / 10
    penalty = losses.r1_penalty(linear_discriminator(weights), tf.random.normal([3, 4, 4, 1]))
    assert np.allclose(penalty.numpy(), [np.sum(weights**2)] * 3, rtol=1e-5)


def test_wgan_gradient_penalty_is_zero_for_a_unit_gradient():
    weights = np.zeros([4, 4, 1], np.float32)
    weights[0, 0, 0] = 1.0
    d = linear_discriminator(weights)
    real, fake = tf.random.normal([3, 4, 4, 1]), tf.random.normal([3, 4, 4, 1])
    assert np.allclose(losses.wgan_gradient_penalty(d, real, fake).numpy(), 0.0, atol=1e-6)
    doubled = linear_discriminator(2 * weights)
    assert np.allclose(losses.wgan_gradient_penalty(doubled, real, fake).numpy(), 1.0, atol=1e-5)


def test_every_loss_the_config_accepts_has_an_implementation():
    from artgan import config

    assert set(losses.LOSSES) == set(config.LOSSES)
