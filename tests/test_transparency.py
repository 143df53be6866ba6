"""RGBA end to end: Transform keeps alpha, the served model returns it, pictures show it."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from artgan import alpha, grid
from artgan.contract import IMAGES_OUTPUT, PNG_OUTPUT, SEEDS_INPUT
from artgan.contract.bundle import SavedModelBundle
from artgan.models.data.preprocessing import squares_function
from artgan.models.export import export_generator, to_uint8
from artgan.models.metrics.feature_network import FeatureNetwork
from artgan.models.networks import build_generator
from artgan.models.training.augment import diff_augment

RED_HALF = (255, 0, 0, 128)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _sprite() -> np.ndarray:
    """8x8 RGBA: transparent, an opaque yellow square, a half-transparent red row."""
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[:, :] = (30, 200, 90, 0)  # colour under alpha 0 must not matter
    pixels[2:6, 2:6] = (250, 220, 0, 255)
    pixels[7, :] = RED_HALF
    return pixels


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[-1]


def _squares(images: list[np.ndarray], resolution: int = 8, fit: str = "crop") -> np.ndarray:
    to_squares = squares_function(resolution, 4, fit, (255, 255, 255))
    encoded = tf.constant([_png(image) for image in images])
    count = len(images)
    shapes = tf.constant([(*image.shape[:2], _channels(image)) for image in images], tf.int64)
    return to_squares(encoded, tf.ones([count], tf.int64), shapes).numpy()


def test_transform_writes_premultiplied_rgba_that_comes_back_as_the_file():
    sprite = _sprite()
    (square,) = _squares([sprite])

    np.testing.assert_allclose(square[0, 0], [-1, -1, -1, -1], atol=1e-6)  # transparent
    np.testing.assert_allclose(square[3, 3], np.array([250, 220, 0, 255]) / 127.5 - 1, atol=1e-5)
    half = 128 / 255
    np.testing.assert_allclose(square[7, 0], [2 * half - 1, -1, -1, 2 * half - 1], atol=1e-5)
    # Straight alpha again, as served: the file's pixels, with black where alpha is 0.
    back = to_uint8(tf.constant(square)).numpy()
    expected = sprite.copy()
    expected[sprite[..., 3] == 0] = 0
    np.testing.assert_array_equal(back, expected)


def test_opaque_images_get_an_opaque_alpha_and_padding_is_transparent():
    opaque = np.full((8, 8, 3), (10, 20, 30), np.uint8)
    gray_wide = np.full((4, 8), 200, np.uint8)

    squares = _squares([opaque, opaque, opaque])  # alike: decoded and squared as one batch
    pixels = to_uint8(tf.constant(squares)).numpy()
    np.testing.assert_array_equal(pixels[..., 3], 255)
    np.testing.assert_array_equal(pixels[0, 0, 0], (10, 20, 30, 255))

    (padded,) = _squares([gray_wide], fit="pad")
    pixels = to_uint8(tf.constant(padded)).numpy()
    assert pixels[0, 0, 3] == 0 and pixels[4, 4, 3] == 255
    np.testing.assert_array_equal(pixels[4, 4], (200, 200, 200, 255))


def test_a_generated_rgba_image_never_has_colour_above_its_alpha():
    premultiplied = tf.constant([[[[0.9, -0.2, -1.0, -0.5]]]])  # colour > alpha: clipped
    (pixel,) = to_uint8(premultiplied).numpy().reshape(-1, 4)
    assert pixel[3] == 64 and tuple(pixel[:3]) == (255, 255, 0)


@pytest.fixture(scope="module")
def rgba_export(tmp_path_factory) -> str:
    keras.utils.set_random_seed(5)
    generator = build_generator(latent_dim=8, resolution=8, channels=4, width=16)
    return export_generator(generator, 8, str(tmp_path_factory.mktemp("rgba") / "generator"))


def test_the_served_rgba_model_returns_straight_alpha_pngs_through_the_session_loader(
    rgba_export,
):
    bundle = SavedModelBundle(rgba_export)
    try:
        outputs = bundle.run("serving_default", {SEEDS_INPUT: np.arange(3, dtype=np.int64)})
    finally:
        bundle.close()
    images = outputs[IMAGES_OUTPUT]
    assert images.shape == (3, 8, 8, 4) and images.dtype == np.uint8
    for image, png in zip(images, outputs[PNG_OUTPUT], strict=True):
        decoded = Image.open(io.BytesIO(png))
        assert decoded.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(decoded), image)


def test_grids_show_transparency_on_a_checkerboard_or_a_chosen_colour():
    sprite = _sprite()
    on_checker = grid.image_grid(sprite[None], padding=0)
    assert on_checker.shape == (64, 64, 3)  # 8x8 cells scaled 8x
    corner = on_checker[:16, :16]  # transparent: the checkerboard's two greys
    assert set(np.unique(corner)) == set(alpha.CHECKER_LEVELS)
    np.testing.assert_array_equal(on_checker[30, 30], (250, 220, 0))

    on_blue = grid.image_grid(sprite[None], padding=0, background=(0, 0, 255))
    np.testing.assert_array_equal(on_blue[0, 0], (0, 0, 255))
    np.testing.assert_array_equal(on_blue[60, 0], (128, 0, 127))  # half red over blue


def test_feature_networks_see_rgba_flattened_onto_the_background():
    seen = []

    def compute(batch):
        seen.append(batch)
        return np.zeros((len(batch), 2)), np.ones((len(batch), 1))

    network = FeatureNetwork("random_conv", compute, {}, background=(0, 255, 0))
    network.features_and_probs(_sprite()[None])

    (batch,) = seen
    assert batch.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(batch[0, 0, 0], (0, 255, 0))
    np.testing.assert_array_equal(batch[0, 3, 3], (250, 220, 0))


def test_colour_augmentation_leaves_alpha_alone():
    images = tf.random.uniform([4, 8, 8, 4], -1.0, 1.0, seed=1)
    augmented = diff_augment(images, ("color",))
    np.testing.assert_array_equal(augmented[..., 3].numpy(), images[..., 3].numpy())
    assert not np.allclose(augmented[..., :3].numpy(), images[..., :3].numpy())
