"""The exported generator's serving contract (artgan.models.export), reloaded from disk."""

from __future__ import annotations

import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from artgan.models.export import (
    FROM_LATENTS_SIGNATURE,
    GENERATOR_INFO_FILE,
    IMAGES_OUTPUT,
    LATENTS_INPUT,
    PNG_OUTPUT,
    SEEDS_INPUT,
    export_generator,
    latents_from_seeds,
    to_uint8,
)
from artgan.models.networks import build_generator

LATENT_DIM = 8
RESOLUTION = 8
CHANNELS = 1


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> str:
    keras.utils.set_random_seed(3)
    generator = build_generator(
        latent_dim=LATENT_DIM, resolution=RESOLUTION, channels=CHANNELS, width=16
    )
    path = str(tmp_path_factory.mktemp("export") / "generator")
    assert export_generator(generator, LATENT_DIM, path) == path
    return path


@pytest.fixture(scope="module")
def loaded(export_dir):
    return tf.saved_model.load(export_dir)


def generate(loaded, seeds) -> dict[str, np.ndarray]:
    outputs = loaded.signatures["serving_default"](**{SEEDS_INPUT: tf.constant(seeds, tf.int64)})
    return {key: value.numpy() for key, value in outputs.items()}


def decode_png(png: bytes) -> np.ndarray:
    array = np.asarray(Image.open(io.BytesIO(png)))
    return array[..., np.newaxis] if array.ndim == 2 else array


def test_serving_default_takes_int64_seeds(loaded):
    signature = loaded.signatures["serving_default"]
    spec = signature.structured_input_signature[1][SEEDS_INPUT]
    assert spec.dtype == tf.int64
    assert spec.shape.as_list() == [None]


def test_serving_default_returns_uint8_images_and_matching_pngs(loaded):
    outputs = generate(loaded, [0, 1, 2])
    assert set(outputs) == {IMAGES_OUTPUT, PNG_OUTPUT}
    images, pngs = outputs[IMAGES_OUTPUT], outputs[PNG_OUTPUT]
    assert images.dtype == np.uint8
    assert images.shape == (3, RESOLUTION, RESOLUTION, CHANNELS)
    assert pngs.shape == (3,)
    for image, png in zip(images, pngs, strict=True):
        np.testing.assert_array_equal(decode_png(png), image)
    # Different seeds give different images (the seed reaches the generator).
    assert not np.array_equal(images[0], images[1])


def test_same_seed_same_image_whatever_the_batch(loaded):
    alone = generate(loaded, [5])
    batched = generate(loaded, [9, 5, 123456789])
    np.testing.assert_array_equal(alone[IMAGES_OUTPUT][0], batched[IMAGES_OUTPUT][1])
    assert alone[PNG_OUTPUT][0] == batched[PNG_OUTPUT][1]
    again = generate(loaded, [5])
    np.testing.assert_array_equal(alone[IMAGES_OUTPUT], again[IMAGES_OUTPUT])


def test_from_latents_of_seed_latents_equals_serving_default(loaded):
    seeds = tf.constant([0, 7, 42], tf.int64)
    latents = latents_from_seeds(seeds, LATENT_DIM)
    assert latents.shape == (3, LATENT_DIM)
    from_latents = loaded.signatures[FROM_LATENTS_SIGNATURE](**{LATENTS_INPUT: latents})
    from_seeds = generate(loaded, seeds)
    np.testing.assert_array_equal(from_latents[IMAGES_OUTPUT].numpy(), from_seeds[IMAGES_OUTPUT])
    np.testing.assert_array_equal(from_latents[PNG_OUTPUT].numpy(), from_seeds[PNG_OUTPUT])


def test_from_latents_input_spec(loaded):
    signature = loaded.signatures[FROM_LATENTS_SIGNATURE]
    spec = signature.structured_input_signature[1][LATENTS_INPUT]
    assert spec.dtype == tf.float32
    assert spec.shape.as_list() == [None, LATENT_DIM]


def test_latents_from_seeds_are_standard_normal_and_seed_keyed():
    latents = latents_from_seeds(tf.range(400, dtype=tf.int64), LATENT_DIM).numpy()
    assert latents.dtype == np.float32
    assert abs(latents.mean()) < 0.1
    assert abs(latents.std() - 1.0) < 0.1
    single = latents_from_seeds(tf.constant([17], tf.int64), LATENT_DIM).numpy()
    np.testing.assert_array_equal(single[0], latents[17])


def test_generator_info_file(export_dir):
    with open(os.path.join(export_dir, "assets.extra", GENERATOR_INFO_FILE)) as f:
        info = json.load(f)
    assert info == {
        "latent_dim": LATENT_DIM,
        "height": RESOLUTION,
        "width": RESOLUTION,
        "channels": CHANNELS,
        "num_classes": 0,
    }


def test_to_uint8_endpoints_and_midpoint():
    values = to_uint8(tf.constant([-1.0, 1.0, 0.0])).numpy()
    assert values.dtype == np.uint8
    # 0 -> 127.5, rounded (tf.round: half to even) -> 128.
    assert values.tolist() == [0, 255, 128]


def test_to_uint8_rounds_to_nearest():
    # (x + 1) * 127.5 = 10.4 -> 10 and 10.6 -> 11: rounded, not truncated.
    x = np.array([10.4, 10.6], dtype=np.float32) / 127.5 - 1.0
    assert to_uint8(tf.constant(x)).numpy().tolist() == [10, 11]


def test_to_uint8_clips_out_of_range():
    values = to_uint8(tf.constant([-5.0, -1.01, 1.01, 7.0])).numpy()
    assert values.tolist() == [0, 0, 255, 255]
