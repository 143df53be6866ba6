"""Adaptive augmentation (ADA, Karras et al. 2020) over the DiffAugment policies.

Each transform of the policy is applied to each image with probability ``p``. ``p`` starts at 0
and is steered from the discriminator's outputs on real images: when ``r_t = E[sign(D(real))]``
is above the target, D is overconfident on the reals (it begins to memorise them), so ``p``
rises; below it, ``p`` falls. Augmenting rarely while D still generalises keeps early training
as fast as without augmentation; augmenting as D starts to overfit keeps small datasets from
degrading with longer training. ``p`` is a non-trainable variable, so checkpoints keep it.
"""

from __future__ import annotations

import tensorflow as tf

from artgan.models.training import augment

ADJUST_EVERY_STEPS = 4  # ADA's interval: p moves after this many steps' statistics


class AdaptiveAugment:
    """DiffAugment with a steered per-image probability; create under the strategy's scope."""

    def __init__(
        self,
        policy: tuple[str, ...],
        target: float,
        batch_size: int,
        speed_kimg: float,
        adjust_every_steps: int = ADJUST_EVERY_STEPS,
    ):
        self.policy = policy
        self.target = target
        self.adjust_every_steps = adjust_every_steps
        self.step_size = batch_size * adjust_every_steps / (speed_kimg * 1000.0)
        aggregation = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.probability = tf.Variable(
            0.0, trainable=False, name="augment_probability", aggregation=aggregation
        )
        self._sign_sum = tf.Variable(0.0, trainable=False, aggregation=aggregation)
        self._count = tf.Variable(0.0, trainable=False, aggregation=aggregation)

    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        """Each transform applied to each image with probability ``p``."""
        return apply_with_probability(images, self.policy, self.probability)

    def accumulate(self, real_signs: tf.Tensor) -> None:
        """Adds one step's [sum of sign(D(real)), number of real images] (cross-replica)."""
        self._sign_sum.assign_add(real_signs[0])
        self._count.assign_add(real_signs[1])

    def overfitting(self) -> tf.Tensor:
        """r_t since the last adjustment (0 before any statistics)."""
        return self._sign_sum / tf.maximum(self._count, 1.0)

    def adjust(self) -> None:
        """Moves ``p`` one step towards keeping r_t at the target and resets the statistics."""
        direction = tf.sign(self.overfitting() - self.target)
        moved = self.probability + direction * self.step_size * tf.sign(self._count)
        self.probability.assign(tf.clip_by_value(moved, 0.0, 1.0))
        self._sign_sum.assign(0.0)
        self._count.assign(0.0)


def apply_with_probability(
    images: tf.Tensor, policy: tuple[str, ...], probability: tf.Tensor | float
) -> tf.Tensor:
    """DiffAugment where each transform hits each image with ``probability`` (1: all of them)."""
    probability = tf.cast(probability, tf.float32)
    for name in policy:
        for transform in augment.POLICIES[name]:
            images = transform_some(images, transform, probability)
    return images


def transform_some(images: tf.Tensor, transform, probability: tf.Tensor) -> tf.Tensor:
    """``transform`` on each image with ``probability``; not computed at all when it hits none.

    ADA's probability stays at 0 for much of a run on small collections; computing every
    transform for every image there made the default 64x64 step 1.4x slower than without
    augmentation (87 against 123 images/s; 118 with this shortcut: the ``ada_idle`` step bench,
    README)."""
    chosen = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < probability
    return tf.cond(
        tf.reduce_any(chosen),
        lambda: tf.where(chosen, transform(images), images),
        lambda: images,
    )
