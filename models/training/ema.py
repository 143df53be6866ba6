"""Generator EMA: the exported generator is a moving average of the trained one's weights."""

from __future__ import annotations

import keras
import tensorflow as tf


def ema_decay(batch_size: int, ema_kimg: float) -> float:
    """StyleGAN2-ADA's rule: the average's half-life is ``ema_kimg`` thousand images."""
    return 0.5 ** (batch_size / (ema_kimg * 1000.0)) if ema_kimg > 0 else 0.0


class GeneratorEma:
    """Keeps ``model``, an EMA copy of ``source``; non-trainable state (BN statistics) is copied.

    A decay of 0 makes the copy track the source exactly.
    """

    def __init__(self, source: keras.Model, decay: float):
        self.source = source
        self.decay = decay
        self.model = keras.models.clone_model(source)
        self.model.set_weights(source.get_weights())
        self._update = tf.function(self._update_weights)

    def _update_weights(self) -> None:
        for average, current in zip(self.model.weights, self.source.weights, strict=True):
            if current.trainable:
                average.assign(self.decay * average + (1.0 - self.decay) * current)
            else:
                average.assign(current)

    def update(self) -> None:
        self._update()
