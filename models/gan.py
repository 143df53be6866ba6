"""The adversarial update: non-saturating GAN loss, one D step and one G step per batch.

Runs under whatever tf.distribute strategy it is given; per-replica losses are scaled by the
global batch size so gradients sum correctly across replicas. Optimisers go through
``scale_loss``/``apply`` so a ``LossScaleOptimizer`` (mixed precision on GPUs) works unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Per-example non-saturating D loss: softplus(D(fake)) + softplus(-D(real))."""
    real_logits = tf.cast(real_logits, tf.float32)
    fake_logits = tf.cast(fake_logits, tf.float32)
    return tf.reshape(tf.nn.softplus(fake_logits) + tf.nn.softplus(-real_logits), [-1])


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Per-example non-saturating G loss: softplus(-D(G(z)))."""
    return tf.reshape(tf.nn.softplus(-tf.cast(fake_logits, tf.float32)), [-1])


class AdversarialTrainer:
    """Owns G, D and their optimisers; ``step(batch)`` runs one distributed update."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_optimizer: keras.optimizers.Optimizer,
        discriminator_optimizer: keras.optimizers.Optimizer,
        latent_dim: int,
        global_batch_size: int,
    ):
        self.strategy = strategy
        self.generator = generator
        self.discriminator = discriminator
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.latent_dim = latent_dim
        self.global_batch_size = global_batch_size
        self._step = tf.function(self._distributed_step)

    def _average(self, per_example_loss: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(
            per_example_loss, global_batch_size=self.global_batch_size
        )

    def _replica_step(self, real_images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.shape(real_images)[0]
        # 1. Discriminator: real images up, generated images down.
        latents = tf.random.normal([batch, self.latent_dim])
        with tf.GradientTape() as tape:
            fake_images = self.generator(latents, training=True)
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            d_loss = self._average(discriminator_loss(real_logits, fake_logits))
            scaled = self.discriminator_optimizer.scale_loss(d_loss)
        d_vars = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)
        # 2. Generator: fool the updated discriminator with fresh latents.
        latents = tf.random.normal([batch, self.latent_dim])
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(latents, training=True), training=True)
            g_loss = self._average(generator_loss(fake_logits))
            scaled = self.generator_optimizer.scale_loss(g_loss)
        g_vars = self.generator.trainable_variables
        self.generator_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)
        return d_loss, g_loss

    def _distributed_step(self, real_images) -> tuple[tf.Tensor, tf.Tensor]:
        d_loss, g_loss = self.strategy.run(self._replica_step, args=(real_images,))
        total = tf.distribute.ReduceOp.SUM
        return (
            self.strategy.reduce(total, d_loss, axis=None),
            self.strategy.reduce(total, g_loss, axis=None),
        )

    def step(self, real_images) -> tuple[tf.Tensor, tf.Tensor]:
        """One D and one G update on a (distributed) batch; returns (d_loss, g_loss)."""
        return self._step(real_images)
