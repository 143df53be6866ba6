"""Residual generator and spectral-normalised residual discriminator (SNGAN-style).

Both scale with the resolution (8 to 256): the generator upsamples a 4x4 map with residual
blocks, halving the width per block; the discriminator mirrors it with residual downsampling
blocks whose convolutions are spectrally normalised, then sums features over space.
"""

from __future__ import annotations

import keras
from keras import layers

from artgan.models.networks.blocks import LOGITS_LAYER, num_up_blocks


def _sn(layer: layers.Layer) -> layers.Layer:
    return layers.SpectralNormalization(layer)


def _up_block(x, filters: int):
    shortcut = layers.Conv2D(filters, 1)(layers.UpSampling2D()(x))
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 3, padding="same")(layers.UpSampling2D()(x))
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 3, padding="same")(x)
    return layers.Add()([x, shortcut])


def _down_block(x, filters: int, first: bool):
    shortcut = _sn(layers.Conv2D(filters, 1))(layers.AveragePooling2D(2)(x))
    if not first:
        x = layers.ReLU()(x)
    x = _sn(layers.Conv2D(filters, 3, padding="same"))(x)
    x = _sn(layers.Conv2D(filters, 3, padding="same"))(layers.ReLU()(x))
    return layers.Add()([layers.AveragePooling2D(2)(x), shortcut])


def build_generator(
    latent_dim: int, resolution: int, channels: int, width: int = 128
) -> keras.Model:
    latents = keras.Input(shape=(latent_dim,), name="latents")
    x = layers.Reshape((4, 4, width))(layers.Dense(4 * 4 * width)(latents))
    filters = width
    for _ in range(num_up_blocks(resolution)):
        filters = max(filters // 2, 16)
        x = _up_block(x, filters)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    images = layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(latents, images, name="generator")


def build_discriminator(resolution: int, channels: int, width: int = 32) -> keras.Model:
    images = keras.Input(shape=(resolution, resolution, channels), name="images")
    x = images
    filters = width
    for block in range(num_up_blocks(resolution)):
        x = _down_block(x, filters, first=block == 0)
        filters *= 2
    x = layers.ReLU()(x)
    x = layers.Lambda(lambda t: keras.ops.sum(t, axis=[1, 2]))(x)
    logits = layers.SpectralNormalization(layers.Dense(1, dtype="float32"), name=LOGITS_LAYER)(x)
    return keras.Model(images, logits, name="discriminator")
