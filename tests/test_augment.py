"""DiffAugment: what each policy does to images, and that gradients pass through."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from artgan.config import TrainConfig, parse_augment_policy
from artgan.errors import ArtganError
from artgan.models.training import augment


def test_translation_moves_each_image_by_at_most_an_eighth_and_fills_with_zero():
    image = np.zeros([64, 16, 16, 1], np.float32)
    image[:, 8, 8, 0] = 1.0
    moved = augment.translation(tf.constant(image)).numpy()
    positions = [np.argwhere(example[..., 0]) for example in moved]
    assert all(len(p) == 1 for p in positions)  # the pixel moved, nothing else appeared
    offsets = np.array([p[0] - [8, 8] for p in positions])
    assert np.abs(offsets).max() == 2  # 16 * 0.125
    assert len({tuple(o) for o in offsets}) > 5  # drawn per example
    ones = augment.translation(tf.ones([32, 8, 8, 1])).numpy()
    assert set(np.unique(ones)) <= {0.0, 1.0}


def test_cutout_zeroes_one_half_size_square_clipped_at_borders():
    cut = augment.cutout(tf.ones([200, 8, 8, 1])).numpy()
    zeros_per_image = (cut == 0).sum(axis=(1, 2, 3))
    assert zeros_per_image.max() == 16  # a 4x4 square fully inside
    assert zeros_per_image.min() >= 4  # at worst a 2x2 corner of it
    first = np.argwhere(cut[np.argmax(zeros_per_image), ..., 0] == 0)
    assert np.ptp(first[:, 0]) == 3 and np.ptp(first[:, 1]) == 3  # one square


def test_color_changes_are_per_image_and_saturation_keeps_grey():
    grey = tf.fill([8, 4, 4, 1], 0.2)
    assert np.allclose(augment.saturation(grey).numpy(), 0.2)
    bright = augment.brightness(grey).numpy()
    assert np.ptp(bright.reshape(8, -1).mean(axis=1)) > 0  # differs between images
    assert np.allclose(np.ptp(bright.reshape(8, -1), axis=1), 0)  # uniform within one


def test_gradients_flow_through_every_policy():
    images = tf.Variable(tf.random.uniform([4, 8, 8, 3], -1, 1))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(
            augment.diff_augment(images, parse_augment_policy("color,translation,cutout"))
        )
    gradient = tape.gradient(total, images)
    assert gradient is not None and np.abs(gradient.numpy()).sum() > 0


def test_unknown_policy_is_named_in_the_error():
    assert parse_augment_policy("") == ()
    assert parse_augment_policy(" color , cutout ") == ("color", "cutout")
    with pytest.raises(ArtganError, match="zoom"):
        parse_augment_policy("color,zoom")


def test_every_transform_the_config_accepts_has_an_implementation():
    from artgan import config

    assert set(augment.POLICIES) == set(config.AUGMENT_TRANSFORMS)


def test_augment_auto_is_adaptive_diffaugment_for_fewer_than_10000_training_images():
    auto = TrainConfig()
    assert auto.augment == "auto"
    small, why = auto.with_augment_for(1906)
    assert (small.augment, small.augment_adaptive) == ("color,translation,cutout", True)
    assert why == (
        "train.augment=auto: color,translation,cutout, adaptive (1906 training images, fewer "
        "than 10000; --augment sets a policy)"
    )
    large, why = auto.with_augment_for(60_000)
    assert (large.augment, large.augment_adaptive) == ("", False)
    assert why == (
        "train.augment=auto: none (60000 training images, at least 10000; --augment sets a policy)"
    )
    adaptive = dataclasses.replace(auto, augment_adaptive=True).with_augment_for(60_000)[0]
    assert adaptive.augment == "color,translation,cutout"  # ADA turns itself down
    chosen = dataclasses.replace(auto, augment="cutout")
    assert chosen.with_augment_for(10) == (chosen, "")
    with pytest.raises(ArtganError, match="train.augment is auto"):
        parse_augment_policy("auto")
