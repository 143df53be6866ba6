"""Generator/discriminator architectures by name (``TrainConfig.architecture``).

``conv`` (``conv.py``) is the default and scales with the resolution; ``resnet`` has
spectral-normalised residual blocks; ``fastgan`` (16 px and up) has upsample + conv blocks with
skip-layer excitation and a discriminator that also reconstructs its input (a second output);
``dcgan`` is the TensorFlow tutorial's 28x28 pair or the DCGAN paper's 64x64 one.
``conditional.py`` wraps any of them for class labels; conv's generator reads them in every
up block's batch norm instead (``TrainConfig.generator_conditioning``).
"""

from __future__ import annotations

import keras

from artgan.config import ARCHITECTURES
from artgan.models.networks import conditional, dcgan, fastgan, resnet
from artgan.models.networks.blocks import LOGITS_LAYER, RECONSTRUCTION_LAYER, num_up_blocks
from artgan.models.networks.conv import (
    build_batchnorm_conditioned_generator,
    build_discriminator,
    build_generator,
)

__all__ = [
    "ARCHITECTURES",
    "LOGITS_LAYER",
    "RECONSTRUCTION_LAYER",
    "build_discriminator",
    "build_generator",
    "build_networks",
    "num_up_blocks",
]


def build_networks(train, data, num_classes: int = 0) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for ``train.architecture`` (TrainConfig, DataConfig).

    With ``num_classes`` > 0 both are class-conditional (``conditional.py``, or conv's
    ``generator_conditioning`` batchnorm): the generator takes [latents, labels] and the
    discriminator [images, labels]. A discriminator returns
    logits [N, 1], or [logits, reconstruction] when it has a decoder (``fastgan``).
    """
    generator, discriminator = _build_unconditional(train, data, num_classes)
    if not num_classes:
        return generator, discriminator
    if train.conditioning_mode() == "batchnorm":
        generator = build_batchnorm_conditioned_generator(
            train.latent_dim,
            num_classes,
            data.resolution,
            data.channels,
            train.generator_width,
            train.generator_upsampling,
        )
    else:
        generator = conditional.conditional_generator(generator, train.latent_dim, num_classes)
    return generator, conditional.projection_discriminator(discriminator, num_classes)


def _build_unconditional(train, data, num_classes: int) -> tuple[keras.Model, keras.Model]:
    # A conditional generator reads [latent, label embedding]: twice the latent size.
    latent_dim = train.latent_dim * (2 if num_classes else 1)

    res, channels = data.resolution, data.channels
    if train.architecture == "dcgan":
        generator = dcgan.build_generator(latent_dim, res, channels)
        return generator, dcgan.build_discriminator(res, channels)
    if train.architecture == "fastgan":
        generator = fastgan.build_generator(latent_dim, res, channels, train.generator_width)
        return generator, fastgan.build_discriminator(res, channels, train.discriminator_width)
    if train.architecture == "resnet":
        generator = resnet.build_generator(latent_dim, res, channels, train.generator_width)
        return generator, resnet.build_discriminator(res, channels, train.discriminator_width)
    generator = build_generator(
        latent_dim, res, channels, train.generator_width, train.generator_upsampling
    )
    discriminator = build_discriminator(
        res, channels, train.discriminator_width, train.discriminator_dropout
    )
    return generator, discriminator
