"""``fastgan``: a CPU-sized FastGAN (Liu et al., ICLR 2021) for small collections of art.

Generator: a 4x4 map from the latent, then one up block per doubling (nearest upsampling, a 3x3
convolution, batch norm, GLU: no transposed convolutions, so no checkerboard), widths halving
per block like ``conv``'s; skip-layer excitation (SLE) lets each low-resolution map gate the
channels of the map eight times larger (4x4 -> 32x32, 8x8 -> 64x64, ...): the low map is
pooled to 4x4, a valid 4x4 convolution, swish, a 1x1 convolution and a sigmoid give one weight
per channel of the high map.

Discriminator: strided down blocks with shortcuts to 4x4, then the logit. It also reconstructs
the (downsampled) input from its 8x8 features with a small decoder, its second output; the
trainer adds the reconstruction's MSE on real images to D's loss (``TrainConfig.
reconstruction_weight``), the self-supervision of FastGAN and lightweight-gan, which keeps a
discriminator on few images learning features rather than memorising. The decoder has no batch
norm, so when only the logit is used its ops are pruned from the traced step.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from artgan.errors import ArtganError
from artgan.models.networks.blocks import LOGITS_LAYER, RECONSTRUCTION_LAYER, num_up_blocks

MIN_RESOLUTION = 16
EXCITATION_SPAN = 8  # SLE: a map gates the one this many times larger
FEATURES_RESOLUTION = 8  # the discriminator map the decoder reads
DECODER_WIDTHS = (32, 16)  # filters of the decoder's up blocks (then 16)
_RESIDUAL_SCALE = 0.5**0.5


@keras.saving.register_keras_serializable(package="artgan")
class GatedLinearUnit(layers.Layer):
    """GLU over channels: the first half times the sigmoid of the second half."""

    def call(self, x):
        value, gate = keras.ops.split(x, 2, axis=-1)
        return value * keras.ops.sigmoid(gate)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)


def check_resolution(resolution: int) -> None:
    if resolution < MIN_RESOLUTION:
        raise ArtganError(
            f"train.architecture 'fastgan' needs data.resolution >= {MIN_RESOLUTION}, got "
            f"{resolution}: use 'conv' for smaller images"
        )


def reconstruction_resolution(resolution: int) -> int:
    """The size of D's reconstruction: half the image, within 16..128 (FastGAN: 128 of 256)."""
    return min(max(resolution // 2, 16), 128)


def _up_block(x, filters: int):
    x = layers.UpSampling2D(interpolation="nearest")(x)
    x = layers.Conv2D(2 * filters, 3, padding="same", use_bias=False)(x)
    return GatedLinearUnit()(layers.BatchNormalization()(x))


def _excitation(low, high):
    """Skip-layer excitation: ``low`` scales each channel of ``high``."""
    pooled = low if low.shape[1] == 4 else layers.AveragePooling2D(low.shape[1] // 4)(low)
    channels = high.shape[-1]
    x = layers.Conv2D(channels, 4, padding="valid", activation="swish")(pooled)
    x = layers.Conv2D(channels, 1, activation="sigmoid")(x)
    return layers.Multiply()([high, x])


def build_generator(
    latent_dim: int, resolution: int, channels: int, width: int = 128
) -> keras.Model:
    """Latent [N, latent_dim] -> images [N, resolution, resolution, channels] in [-1, 1]."""
    check_resolution(resolution)
    latents = keras.Input(shape=(latent_dim,), name="latents")
    x = layers.Dense(4 * 4 * 2 * width, use_bias=False)(latents)
    x = layers.Reshape((4, 4, 2 * width))(x)
    x = GatedLinearUnit()(layers.BatchNormalization()(x))
    maps = {4: x}
    filters = width
    for block in range(num_up_blocks(resolution)):
        size = 8 << block
        filters = max(filters // 2, 16)
        x = _up_block(x, filters)
        if size // EXCITATION_SPAN in maps:
            x = _excitation(maps[size // EXCITATION_SPAN], x)
        maps[size] = x
    images = layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(latents, images, name="generator")


def _down_block(x, filters: int):
    """2x downsampling: a strided 4x4 conv, plus a 1x1 shortcut of the average-pooled input."""
    main = layers.LeakyReLU(0.2)(layers.Conv2D(filters, 4, strides=2, padding="same")(x))
    shortcut = layers.Conv2D(filters, 1, use_bias=False)(layers.AveragePooling2D(2)(x))
    return layers.Rescaling(_RESIDUAL_SCALE)(layers.Add()([main, shortcut]))


def _decoder(features, resolution: int, channels: int):
    """8x8 features -> the image at ``reconstruction_resolution`` (tanh, float32)."""
    x = features
    doublings = int(math.log2(reconstruction_resolution(resolution) // FEATURES_RESOLUTION))
    for block in range(doublings):
        filters = DECODER_WIDTHS[block] if block < len(DECODER_WIDTHS) else 16
        x = layers.UpSampling2D(interpolation="nearest")(x)
        x = GatedLinearUnit()(layers.Conv2D(2 * filters, 3, padding="same")(x))
    return layers.Conv2D(
        channels, 3, padding="same", activation="tanh", dtype="float32", name=RECONSTRUCTION_LAYER
    )(x)


def build_discriminator(resolution: int, channels: int, width: int = 32) -> keras.Model:
    """Images -> [logit [N, 1], reconstruction [N, r, r, channels]], r the
    ``reconstruction_resolution``."""
    check_resolution(resolution)
    images = keras.Input(shape=(resolution, resolution, channels), name="images")
    x = images
    filters = width
    features = None
    for block in range(num_up_blocks(resolution)):
        x = _down_block(x, filters)
        if resolution >> (block + 1) == FEATURES_RESOLUTION:
            features = x
        filters *= 2
    x = layers.Flatten()(layers.LeakyReLU(0.2)(x))
    logits = layers.Dense(1, dtype="float32", name=LOGITS_LAYER)(x)
    reconstruction = _decoder(features, resolution, channels)
    return keras.Model(images, [logits, reconstruction], name="discriminator")
