"""Every architecture builds at the resolutions it promises and refuses the others clearly."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from artgan.config import DataConfig, TrainConfig
from artgan.errors import ArtganError
from artgan.models.networks import ARCHITECTURES, build_networks, num_up_blocks

SMALL = TrainConfig(latent_dim=8, generator_width=32, discriminator_width=8)


@pytest.mark.parametrize(
    "architecture, resolution, channels",
    [
        ("conv", 8, 1),
        ("conv", 32, 3),
        ("resnet", 8, 3),
        ("resnet", 16, 1),
        ("dcgan", 28, 1),
        ("dcgan", 64, 3),
    ],
)
def test_generator_and_discriminator_shapes(architecture, resolution, channels):
    train = dataclasses.replace(SMALL, architecture=architecture)
    generator, discriminator = build_networks(train, DataConfig(resolution, channels))
    images = generator(tf.random.normal([2, 8]), training=False)
    assert images.shape == (2, resolution, resolution, channels)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    assert discriminator(images, training=True).shape == (2, 1)


def test_dcgan_is_28x28_or_64x64_only():
    with pytest.raises(ArtganError, match="28 or 64"):
        build_networks(dataclasses.replace(SMALL, architecture="dcgan"), DataConfig(16, 1))


def test_dcgan_at_64_is_the_papers_network():
    train = dataclasses.replace(SMALL, architecture="dcgan")
    generator, discriminator = build_networks(train, DataConfig(64, 3))
    transposed = [x for x in generator.layers if isinstance(x, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in transposed] == [256, 128, 64, 3]
    assert generator.layers[1].output.shape == (None, 4, 4, 512)
    convs = [x for x in discriminator.layers if isinstance(x, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [64, 128, 256, 512]
    norms = sum(
        isinstance(layer, keras.layers.BatchNormalization) for layer in discriminator.layers
    )
    assert norms == 3


@pytest.mark.parametrize(
    "field, value", [("architecture", "stylegan9"), ("loss", "l2"), ("augment", "zoom")]
)
def test_config_names_unknown_choices(field, value):
    with pytest.raises(ArtganError, match=value):
        dataclasses.replace(TrainConfig(), **{field: value}).validate()


def test_every_architecture_is_buildable_by_name():
    assert set(ARCHITECTURES) == {"conv", "resnet", "dcgan", "fastgan"}


@pytest.mark.parametrize("resolution", [8, 32])
def test_conv_blocks_carry_a_shortcut_around_each_convolution(resolution):
    keras.utils.set_random_seed(0)
    generator, discriminator = build_networks(SMALL, DataConfig(resolution, 1))
    adds = [
        sum(isinstance(layer, keras.layers.Add) for layer in m.layers)
        for m in (generator, discriminator)
    ]
    assert adds == [num_up_blocks(resolution), num_up_blocks(resolution) + 1]
    # With every strided 4x4 convolution of D silenced, images still reach the logit through
    # the shortcuts; a plain DCGAN discriminator would then answer exactly the same for any image.
    for layer in discriminator.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (4, 4):
            layer.kernel.assign(tf.zeros_like(layer.kernel))
            layer.bias.assign(tf.zeros_like(layer.bias))
    white, black = tf.ones([1, resolution, resolution, 1]), -tf.ones([1, resolution, resolution, 1])
    logits = discriminator(tf.concat([white, black], 0), training=False).numpy()
    assert abs(logits[0, 0] - logits[1, 0]) > 1e-3


@pytest.mark.parametrize(
    ("upsampling", "checkerboard"), [("transposed", True), ("resize", False), ("bilinear", False)]
)
def test_resize_up_blocks_cannot_draw_a_checkerboard(upsampling, checkerboard):
    from artgan.models.networks.conv import up_block

    keras.utils.set_random_seed(0)
    flat = keras.Input(shape=(8, 8, 4))
    block = keras.Model(flat, up_block(flat, 4, upsampling))
    out = block(tf.ones([1, 8, 8, 4]), training=False).numpy()[0, 2:-2, 2:-2]  # away from padding
    spread = float(out.std(axis=(0, 1)).max())
    # A 4x4 stride-2 transposed convolution weighs even and odd pixels differently, so even a
    # flat input comes out as a checkerboard; resize + 3x3 convolution keeps it flat.
    assert (spread > 1e-3) == checkerboard


@pytest.mark.parametrize(("upsampling", "spread_pixels"), [("resize", 4), ("bilinear", 16)])
def test_bilinear_up_blocks_spread_a_pixel_where_nearest_copies_it(upsampling, spread_pixels):
    from artgan.models.networks.conv import up_block

    flat = keras.Input(shape=(8, 8, 1))
    block = keras.Model(flat, up_block(flat, 4, upsampling))
    resize = next(layer for layer in block.layers if isinstance(layer, keras.layers.UpSampling2D))
    spike = np.zeros([1, 8, 8, 1], np.float32)
    spike[0, 4, 4, 0] = 1.0
    upsampled = keras.Model(flat, resize.output)(spike).numpy()
    assert int((upsampled > 1e-6).sum()) == spread_pixels  # 2x2 copies, or a 4x4 tent


def test_conv_generator_with_resize_upsampling_has_no_transposed_convolutions():
    train = dataclasses.replace(SMALL, generator_upsampling="resize")
    generator, _ = build_networks(train, DataConfig(32, 4))
    assert generator(tf.random.normal([2, 8]), training=False).shape == (2, 32, 32, 4)
    assert not any(isinstance(x, keras.layers.Conv2DTranspose) for x in generator.layers)
    with pytest.raises(ArtganError, match="bicubic"):
        dataclasses.replace(TrainConfig(), generator_upsampling="bicubic").validate()


def _conv_widths_by_resolution(model: keras.Model) -> dict[int, int]:
    """The widest 3x3/4x4 convolution output at each spatial size of ``model``."""
    widths: dict[int, int] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size != (1, 1):
            size, filters = layer.output.shape[1], layer.output.shape[-1]
            widths[size] = max(widths.get(size, 0), filters)
    return widths


def test_the_default_discriminator_is_no_wider_than_the_generator_at_64x64():
    """D twice G's width made the emoji step 1.5x slower and trained far worse (README)."""
    generator, discriminator = build_networks(TrainConfig(), DataConfig(64, 4))
    generator_widths = _conv_widths_by_resolution(generator)
    discriminator_widths = _conv_widths_by_resolution(discriminator)
    shared = sorted(set(generator_widths) & set(discriminator_widths))
    assert shared == [8, 16, 32]
    for size in shared:
        assert discriminator_widths[size] <= generator_widths[size], size


def test_batchnorm_conditioning_gives_every_up_block_a_class_dependent_scale_and_shift():
    train = dataclasses.replace(SMALL, generator_conditioning="batchnorm")
    generator, discriminator = build_networks(train, DataConfig(16, 4), num_classes=5)
    at_input = dataclasses.replace(SMALL, generator_conditioning="input")
    plain, _ = build_networks(at_input, DataConfig(16, 4), num_classes=5)
    assert plain.name == "conditional_generator" and plain.layers[-1].name == "generator"
    assert [i.name for i in generator.inputs] == [i.name for i in plain.inputs]  # one contract
    latents, labels = tf.random.normal([2, 8]), tf.constant([1, 4])
    images = generator([latents, labels], training=False)
    assert images.shape == (2, 16, 16, 4)
    assert discriminator([images, labels], training=True).shape == (2, 1)

    # Two Dense layers (scale, shift) per up block read [latent, label embedding]...
    condition_dense = [
        layer
        for layer in generator.layers
        if isinstance(layer, keras.layers.Dense) and layer.kernel.shape[0] == 16
    ]
    assert len(condition_dense) == 2 * num_up_blocks(16) + 1  # + the 4x4 block's input layer
    # ...and each one shapes the image: a gradient reaches every one of them.
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(generator([latents, labels], training=True) ** 2)
    gradients = tape.gradient(total, [layer.kernel for layer in condition_dense])
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_batchnorm_conditioning_is_refused_outside_conv():
    with pytest.raises(ArtganError, match="generator_conditioning batchnorm.*conv.*resnet"):
        TrainConfig(architecture="resnet", generator_conditioning="batchnorm").validate()
    with pytest.raises(ArtganError, match="generator_conditioning"):
        TrainConfig(generator_conditioning="everywhere").validate()


def test_auto_conditioning_is_batchnorm_for_conv_and_input_for_the_others():
    assert TrainConfig().conditioning_mode() == "batchnorm"
    assert TrainConfig(architecture="resnet").conditioning_mode() == "input"
    TrainConfig(architecture="fastgan").validate()  # auto never asks for what cannot be built
    conv, _ = build_networks(SMALL, DataConfig(8, 1), num_classes=3)
    resnet, _ = build_networks(
        dataclasses.replace(SMALL, architecture="resnet"), DataConfig(8, 1), 3
    )
    assert sum(isinstance(layer, keras.layers.Dense) for layer in conv.layers) > 1
    assert resnet.layers[-1].name == "generator"  # the base generator fed [latent, embedding]
