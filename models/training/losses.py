"""GAN losses and discriminator regularisers, per example, in float32.

Each loss is a pair of functions of discriminator logits; ``LOSSES`` maps config names to them.
The gradient penalties need the discriminator itself, so they take it as an argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf


def _flat(logits: tf.Tensor) -> tf.Tensor:
    return tf.reshape(tf.cast(logits, tf.float32), [-1])


@dataclasses.dataclass(frozen=True)
class GanLoss:
    """``discriminator(real_logits, fake_logits)`` and ``generator(fake_logits)``, per example."""

    discriminator: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]
    gradient_penalty_weight: float = 0.0  # WGAN-GP's lambda; 0 for the others


NON_SATURATING = GanLoss(
    discriminator=lambda real, fake: tf.nn.softplus(_flat(fake)) + tf.nn.softplus(-_flat(real)),
    generator=lambda fake: tf.nn.softplus(-_flat(fake)),
)
HINGE = GanLoss(
    discriminator=lambda real, fake: tf.nn.relu(1.0 - _flat(real)) + tf.nn.relu(1.0 + _flat(fake)),
    generator=lambda fake: -_flat(fake),
)
WGAN_GP = GanLoss(
    discriminator=lambda real, fake: _flat(fake) - _flat(real),
    generator=lambda fake: -_flat(fake),
    gradient_penalty_weight=10.0,
)
LOSSES = {"non_saturating": NON_SATURATING, "hinge": HINGE, "wgan_gp": WGAN_GP}


def _input_gradient_norms_squared(critic, images: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = tf.reduce_sum(tf.cast(critic(images), tf.float32))
    gradients = tf.cast(tape.gradient(logits, images), tf.float32)
    return tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3])


def r1_penalty(critic, real_images: tf.Tensor) -> tf.Tensor:
    """Per example |grad_x D(x)|^2 on real images (multiply by gamma / 2 for the R1 term).

    ``critic`` maps images to discriminator logits (in training mode).
    """
    return _input_gradient_norms_squared(critic, real_images)


def wgan_gradient_penalty(critic, real_images: tf.Tensor, fake_images: tf.Tensor) -> tf.Tensor:
    """Per example (|grad D(x_hat)| - 1)^2 at random interpolates of real and fake images."""
    real_images = tf.cast(real_images, tf.float32)
    fake_images = tf.cast(fake_images, tf.float32)
    mix = tf.random.uniform([tf.shape(real_images)[0], 1, 1, 1])
    interpolates = real_images + mix * (fake_images - real_images)
    norms = tf.sqrt(_input_gradient_norms_squared(critic, interpolates) + 1e-12)
    return tf.square(norms - 1.0)


def reconstruction_error(reconstruction: tf.Tensor, images: tf.Tensor) -> tf.Tensor:
    """Per example mean squared error between a discriminator's ``reconstruction`` and
    ``images`` resized (antialiased, as Transform resizes) to its size."""
    reconstruction = tf.cast(reconstruction, tf.float32)
    size = reconstruction.shape[1:3]
    target = tf.cast(images, tf.float32)
    if target.shape[1:3] != size:
        target = tf.image.resize(target, size, antialias=True)
    return tf.reduce_mean(tf.square(reconstruction - target), axis=[1, 2, 3])
