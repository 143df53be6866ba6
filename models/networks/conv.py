"""``conv``: the default generator/discriminator pair, which scales.

``conv``'s generator maps a latent vector to a 4x4 feature map and doubles the size per residual
up block until the configured resolution; the discriminator mirrors it with residual down
blocks. Each block is one convolution plus a 1x1 shortcut of the resampled input, so it costs
little more than a plain DCGAN (issue 5, Fashion-MNIST at 32x32 for 300 s: FD 51 with the
shortcuts on two seeds; 57 and 72 without them). The generator's up blocks are a
nearest-neighbour resize and a 3x3 convolution, which cannot draw a checkerboard
(``TrainConfig.generator_upsampling``; ``"transposed"``: DCGAN's 4x4 transposed convolution, the
default until 2026-12-06; ``"bilinear"``: a bilinear resize, smoother still); the
discriminator's down blocks are 4x4 strided convolutions. The discriminator is regularised by R1
(``TrainConfig.r1_gamma``) rather than spectral norm, as in StyleGAN2. Images are in [-1, 1]
(tanh), NHWC.
"""

from __future__ import annotations

import keras
from keras import layers

from artgan.models.networks.blocks import LOGITS_LAYER, num_up_blocks

_RESIDUAL_SCALE = 0.5**0.5  # keeps the variance of main + shortcut that of one path


def up_block(x, filters: int, upsampling: str = "transposed", condition=None):
    """2x upsampling: a 4x4 transposed conv (or, with ``resize``, a nearest-neighbour resize
    and a 3x3 conv; with ``bilinear``, a bilinear resize and a 3x3 conv), plus a 1x1 shortcut
    of the upsampled input. With ``condition`` [N, C] its batch norm is conditional."""
    interpolation = "bilinear" if upsampling == "bilinear" else "nearest"
    upsampled = layers.UpSampling2D(interpolation=interpolation)(x)
    if upsampling in ("resize", "bilinear"):
        main = layers.Conv2D(filters, 3, padding="same", use_bias=False)(upsampled)
    else:
        main = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
    if condition is None:
        main = layers.BatchNormalization()(main)
    else:
        main = conditional_batch_norm(main, condition)
    main = layers.ReLU()(main)
    shortcut = layers.Conv2D(filters, 1, use_bias=False)(upsampled)
    return layers.Rescaling(_RESIDUAL_SCALE)(layers.Add()([main, shortcut]))


def conditional_batch_norm(x, condition):
    """Batch norm whose per-channel scale and shift are linear in ``condition`` (BigGAN's);
    at initialisation plain batch norm (scale 1, shift 0)."""
    channels = x.shape[-1]
    normed = layers.BatchNormalization(center=False, scale=False)(x)
    scale = layers.Dense(channels, kernel_initializer="zeros", bias_initializer="ones")(condition)
    shift = layers.Dense(channels, kernel_initializer="zeros")(condition)
    scale = layers.Reshape((1, 1, channels))(scale)
    shift = layers.Reshape((1, 1, channels))(shift)
    return layers.Add()([layers.Multiply()([normed, scale]), shift])


def _down_block(x, filters: int, dropout: float):
    """2x downsampling: a strided 4x4 conv, plus a 1x1 shortcut of the average-pooled input."""
    main = layers.LeakyReLU(0.2)(layers.Conv2D(filters, 4, strides=2, padding="same")(x))
    shortcut = layers.Conv2D(filters, 1, use_bias=False)(layers.AveragePooling2D(2)(x))
    main = layers.Rescaling(_RESIDUAL_SCALE)(layers.Add()([main, shortcut]))
    if dropout:
        main = layers.Dropout(dropout)(main)
    return main


def build_generator(
    latent_dim: int,
    resolution: int,
    channels: int,
    width: int = 128,
    upsampling: str = "transposed",
) -> keras.Model:
    """Latent [N, latent_dim] -> images [N, resolution, resolution, channels] in [-1, 1];
    ``upsampling`` is ``transposed`` or ``resize`` (see ``up_block``)."""
    latents = keras.Input(shape=(latent_dim,), name="latents")
    images = _generator_body(latents, None, resolution, channels, width, upsampling)
    return keras.Model(latents, images, name="generator")


def build_batchnorm_conditioned_generator(
    latent_dim: int,
    num_classes: int,
    resolution: int,
    channels: int,
    width: int = 128,
    upsampling: str = "resize",
) -> keras.Model:
    """[latents [N, latent_dim], labels [N]] -> images: [latent, label embedding] feeds the
    first block and every up block's conditional batch norm (``generator_conditioning``
    batchnorm; the same inputs as ``conditional.conditional_generator``)."""
    latents = keras.Input(shape=(latent_dim,), name="latents")
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    embedded = layers.Embedding(num_classes, latent_dim, name="label_embedding")(labels)
    condition = layers.Concatenate()([latents, layers.Activation("linear")(embedded)])
    images = _generator_body(condition, condition, resolution, channels, width, upsampling)
    return keras.Model([latents, labels], images, name="conditional_generator")


def _generator_body(x, condition, resolution, channels, width, upsampling):
    x = layers.Dense(4 * 4 * width, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((4, 4, width))(x)
    filters = width
    for _ in range(num_up_blocks(resolution)):
        filters = max(filters // 2, 16)
        x = up_block(x, filters, upsampling, condition)
    return layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")(x)


def build_discriminator(
    resolution: int, channels: int, width: int = 32, dropout: float = 0.0
) -> keras.Model:
    """Images [N, resolution, resolution, channels] -> one real/fake logit per image.

    Dropout after each block (as in the TensorFlow DCGAN tutorial) keeps the discriminator from
    memorising small datasets.
    """
    images = keras.Input(shape=(resolution, resolution, channels), name="images")
    x = images
    filters = width
    for _ in range(num_up_blocks(resolution) + 1):
        x = _down_block(x, filters, dropout)
        filters *= 2
    x = layers.Flatten()(x)
    logits = layers.Dense(1, dtype="float32", name=LOGITS_LAYER)(x)
    return keras.Model(images, logits, name="discriminator")
