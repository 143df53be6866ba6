"""``fastgan``: upsample + conv generator with skip-layer excitation, self-supervised D."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from artgan.config import DataConfig, TrainConfig
from artgan.contract.bundle import SavedModelBundle
from artgan.errors import ArtganError
from artgan.models.export import export_generator
from artgan.models.networks import LOGITS_LAYER, RECONSTRUCTION_LAYER, build_networks, fastgan

SMALL = TrainConfig(architecture="fastgan", latent_dim=8, generator_width=32, discriminator_width=8)


@pytest.mark.parametrize("resolution, channels", [(16, 1), (32, 3), (16, 4), (32, 4)])
def test_shapes_for_every_channel_count(resolution, channels):
    keras.utils.set_random_seed(0)
    generator, discriminator = build_networks(SMALL, DataConfig(resolution, channels))
    images = generator(tf.random.normal([2, 8]), training=False)
    assert images.shape == (2, resolution, resolution, channels)
    assert images.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    logits, reconstruction = discriminator(images, training=True)
    size = fastgan.reconstruction_resolution(resolution)
    assert logits.shape == (2, 1)
    assert reconstruction.shape == (2, size, size, channels)
    assert discriminator.get_layer(LOGITS_LAYER).output is discriminator.outputs[0]
    assert discriminator.get_layer(RECONSTRUCTION_LAYER).output is discriminator.outputs[1]


def test_reconstruction_is_half_the_image_within_16_and_128():
    sizes = [fastgan.reconstruction_resolution(r) for r in (16, 32, 64, 128, 256, 512)]
    assert sizes == [16, 16, 32, 64, 128, 128]


@pytest.mark.parametrize("resolution, excitations", [(16, 0), (32, 1), (64, 2)])
def test_generator_upsamples_without_transposed_convolutions_and_excites_skips(
    resolution, excitations
):
    generator, _ = build_networks(SMALL, DataConfig(resolution, 3))
    kinds = [type(layer) for layer in generator.layers]
    assert keras.layers.Conv2DTranspose not in kinds
    assert kinds.count(keras.layers.UpSampling2D) == resolution.bit_length() - 3
    # SLE: 4x4 gates 32x32, 8x8 gates 64x64, each through a sigmoid weight per channel.
    assert kinds.count(keras.layers.Multiply) == excitations
    assert generator.layers[-1].dtype_policy.name == "float32"


def test_excitation_gates_the_high_resolution_map_per_channel():
    low = keras.Input((8, 8, 4))
    high = keras.Input((32, 32, 6))
    model = keras.Model([low, high], fastgan._excitation(low, high))
    high_map = tf.random.normal([2, 32, 32, 6])
    gated = model([tf.random.normal([2, 8, 8, 4]), high_map]).numpy()
    ratio = gated / high_map.numpy()
    # One factor in (0, 1) per example and channel, the same at every pixel.
    assert np.allclose(ratio, ratio[:, :1, :1, :], atol=1e-4)
    assert (ratio > 0).all() and (ratio < 1).all()


def test_refuses_resolutions_below_16():
    with pytest.raises(ArtganError, match="16"):
        build_networks(SMALL, DataConfig(8, 3))


def test_conditional_discriminator_keeps_the_reconstruction():
    generator, discriminator = build_networks(SMALL, DataConfig(16, 3), num_classes=3)
    labels = tf.constant([0, 2])
    images = generator([tf.random.normal([2, 8]), labels], training=False)
    assert images.shape == (2, 16, 16, 3)
    logits, reconstruction = discriminator([images, labels], training=True)
    assert logits.shape == (2, 1) and reconstruction.shape == (2, 16, 16, 3)
    other = discriminator([images, tf.constant([1, 1])], training=True)
    assert not np.allclose(logits.numpy(), other[0].numpy())  # the label projection


def test_exported_generator_runs_in_the_session_loader(tmp_path):
    keras.utils.set_random_seed(1)
    train = dataclasses.replace(SMALL, generator_width=16)
    generator, _ = build_networks(train, DataConfig(32, 4))
    path = export_generator(generator, train.latent_dim, str(tmp_path / "export"))
    # Loaded as TF Serving loads it (graph, restore op, Session.run), not eagerly.
    model = SavedModelBundle(path)
    try:
        images = model.run("serving_default", {"seeds": np.array([3, 4], np.int64)})["images"]
    finally:
        model.close()
    assert images.shape == (2, 32, 32, 4) and images.dtype == np.uint8
    eager = tf.saved_model.load(path).signatures["serving_default"](
        seeds=tf.constant([3, 4], tf.int64)
    )
    assert np.array_equal(images, eager["images"].numpy())
