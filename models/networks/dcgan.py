"""The TensorFlow DCGAN tutorial's networks (28x28), kept as a reference point.

From tensorflow.org/tutorials/generative/dcgan: a 7x7x256 projection and two stride-2
transposed convolutions; a two-layer conv discriminator with dropout. Only 28x28 images.
"""

from __future__ import annotations

import keras
from keras import layers

from artgan.errors import ArtganError
from artgan.models.networks.blocks import LOGITS_LAYER

RESOLUTION = 28


def _check(resolution: int) -> None:
    if resolution != RESOLUTION:
        raise ArtganError(
            f"train.architecture 'dcgan' is the tutorial's 28x28 network; data.resolution is "
            f"{resolution}: use another architecture or resolution 28"
        )


def build_generator(latent_dim: int, resolution: int, channels: int) -> keras.Model:
    _check(resolution)
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.3),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.3),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(0.3),
            layers.Conv2DTranspose(
                channels, 5, strides=2, padding="same", use_bias=False, activation="tanh"
            ),
            layers.Activation("linear", dtype="float32"),
        ],
        name="generator",
    )


def build_discriminator(resolution: int, channels: int) -> keras.Model:
    _check(resolution)
    return keras.Sequential(
        [
            keras.Input(shape=(resolution, resolution, channels)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(0.3),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(0.3),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1, dtype="float32", name=LOGITS_LAYER),
        ],
        name="discriminator",
    )
