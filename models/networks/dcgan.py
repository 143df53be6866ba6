"""Reference DCGANs: the TensorFlow tutorial's (28x28) and Radford et al.'s (64x64).

At 28x28, tensorflow.org/tutorials/generative/dcgan: a 7x7x256 projection and two stride-2
transposed convolutions; a two-layer conv discriminator with dropout. At 64x64, the DCGAN paper
(Radford et al. 2016) as the PyTorch example builds it: a 4x4x512 projection and stride-2 4x4
transposed convolutions 256-128-64 to the image, with batch norm and ReLU; the discriminator
mirrors it (4x4 stride-2 convolutions 64-128-256-512, batch norm from the second, LeakyReLU
0.2) and its last 4x4 valid convolution is the dense logit over the 4x4x512 map. Only these
two resolutions.
"""

from __future__ import annotations

import keras
from keras import layers

from artgan.errors import ArtganError
from artgan.models.networks.blocks import LOGITS_LAYER

RESOLUTION = 28  # the tutorial's
PAPER_RESOLUTION = 64  # Radford et al.'s
PAPER_WIDTHS = (512, 256, 128, 64)  # the paper generator's maps at 4, 8, 16 and 32 px


def _check(resolution: int) -> None:
    if resolution not in (RESOLUTION, PAPER_RESOLUTION):
        raise ArtganError(
            f"train.architecture 'dcgan' is the tutorial's 28x28 network or the DCGAN paper's "
            f"64x64 one; data.resolution is {resolution}: use another architecture or "
            f"resolution {RESOLUTION} or {PAPER_RESOLUTION}"
        )


def build_generator(latent_dim: int, resolution: int, channels: int) -> keras.Model:
    _check(resolution)
    if resolution == PAPER_RESOLUTION:
        return _paper_generator(latent_dim, channels)
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
    if resolution == PAPER_RESOLUTION:
        return _paper_discriminator(channels)
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


def _paper_generator(latent_dim: int, channels: int) -> keras.Model:
    first, *widths = PAPER_WIDTHS
    stack = [
        keras.Input(shape=(latent_dim,)),
        layers.Dense(4 * 4 * first, use_bias=False),
        layers.Reshape((4, 4, first)),
        layers.BatchNormalization(),
        layers.ReLU(),
    ]
    for filters in widths:
        stack += [
            layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]
    stack += [
        layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh"),
        layers.Activation("linear", dtype="float32"),
    ]
    return keras.Sequential(stack, name="generator")


def _paper_discriminator(channels: int) -> keras.Model:
    stack = [keras.Input(shape=(PAPER_RESOLUTION, PAPER_RESOLUTION, channels))]
    for index, filters in enumerate(reversed(PAPER_WIDTHS)):
        stack.append(layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=index == 0))
        if index:
            stack.append(layers.BatchNormalization())
        stack.append(layers.LeakyReLU(0.2))
    stack += [layers.Flatten(), layers.Dense(1, dtype="float32", name=LOGITS_LAYER)]
    return keras.Sequential(stack, name="discriminator")
