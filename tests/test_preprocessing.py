"""Encoded image bytes -> square [-1, 1] pixels (models/data/preprocessing.py), on real images."""

from __future__ import annotations

import importlib
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from artgan.components.image_example_gen.images import ingest_bytes
from artgan.config import DataConfig
from artgan.errors import ArtganError
from artgan.models.data import preprocessing
from artgan.models.data.preprocessing import (
    IMAGE_KEY,
    LABEL_KEY,
    LABEL_NAME_KEY,
    orient,
    pixels_to_square,
    preprocessing_fn,
)

ATOL = 1e-4
# ITU-R 601 luma, the weights of tf.image.rgb_to_grayscale.
LUMA = np.array([0.2989, 0.5870, 0.1140])


def encode(array: np.ndarray, mode: str, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def solid(mode: str, value, size: int = 12, fmt: str = "PNG") -> bytes:
    depth = len(value) if isinstance(value, tuple) else 0
    shape = (size, size, depth) if depth else (size, size)
    return encode(np.broadcast_to(np.array(value, dtype=np.uint8), shape), mode, fmt)


def solid_rect(mode: str, value, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), value).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(encoded: bytes, resolution: int = 8, channels: int = 3, **options) -> np.ndarray:
    """One image the per-image way: decoded with TF as Transform decodes, then squared."""
    pixels = tf.io.decode_image(encoded, channels=0, expand_animations=False, dtype=tf.uint8)
    return pixels_to_square(pixels, resolution, channels, **options).numpy()


def test_pure_red_png_is_plus_one_minus_one_minus_one():
    pixels = decode(solid("RGB", (255, 0, 0)), channels=3)
    assert pixels.dtype == np.float32
    assert np.allclose(pixels, np.broadcast_to([1.0, -1.0, -1.0], pixels.shape), atol=ATOL)


@pytest.mark.parametrize("value, expected", [(255, 1.0), (0, -1.0)])
def test_grayscale_white_and_black(value, expected):
    pixels = decode(solid("L", value), channels=1)
    assert np.allclose(pixels, expected, atol=ATOL)


def test_grayscale_source_fills_all_three_channels():
    pixels = decode(solid("L", 255), channels=3)
    assert pixels.shape == (8, 8, 3)
    assert np.allclose(pixels, 1.0, atol=ATOL)


@pytest.mark.parametrize("channels", [1, 3])
def test_fully_transparent_rgba_becomes_white_not_black(channels):
    # Transparent black pixels: a decoder that drops alpha would give -1 here.
    pixels = decode(solid("RGBA", (0, 0, 0, 0)), channels=channels)
    # RGB -> gray uses luma weights summing to 0.9999, so white lands at 0.9998 there.
    assert np.allclose(pixels, 1.0, atol=1e-3)


def test_half_transparent_black_is_blended_with_white():
    pixels = decode(solid("RGBA", (0, 0, 0, 128)), channels=3)
    # 0 * a + 255 * (1 - a) with a = 128/255 -> 127 -> 127 / 127.5 - 1
    assert np.allclose(pixels, 127.0 / 127.5 - 1.0, atol=1e-3)


def test_transparent_gif_becomes_white():
    # tf.io.decode_image drops GIF transparency, so ImageExampleGen stores such a GIF as a PNG
    # with alpha; this is the path a transparent GIF takes through the pipeline.
    gif = Image.new("P", (10, 10), 0)
    gif.putpalette([0, 0, 0] * 256)
    buffer = io.BytesIO()
    gif.save(buffer, format="GIF", transparency=0)
    stored = ingest_bytes(buffer.getvalue(), max_pixels=10_000)
    assert stored.normalized and stored.channels == 4
    pixels = decode(stored.encoded, channels=1)
    assert np.allclose(pixels, 1.0, atol=1e-3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_like_pillows_exif_transpose(orientation):
    stored = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    upright = orient(tf.constant(stored), tf.constant(orientation)).numpy()
    np.testing.assert_array_equal(upright, expected)


def test_pad_fits_a_wide_image_on_the_background_colour():
    # 4 rows x 8 columns of black, padded to 8x8 on red: red bands above and below.
    pixels = decode(
        solid_rect("RGB", (0, 0, 0), width=8, height=4),
        resolution=8,
        channels=3,
        fit="pad",
        background=(255, 0, 0),
    )
    np.testing.assert_allclose(pixels[:2], np.broadcast_to([1, -1, -1], (2, 8, 3)), atol=ATOL)
    np.testing.assert_allclose(pixels[2:6], -1.0, atol=ATOL)
    np.testing.assert_allclose(pixels[6:], np.broadcast_to([1, -1, -1], (2, 8, 3)), atol=ATOL)


def test_pad_of_a_tall_gray_image_to_gray_output():
    pixels = decode(solid_rect("L", 0, width=2, height=8), resolution=8, channels=1, fit="pad")
    np.testing.assert_allclose(pixels[:, 3:5], -1.0, atol=ATOL)  # the image, centred
    np.testing.assert_allclose(pixels[:, :3], 1.0, atol=ATOL)  # white padding
    np.testing.assert_allclose(pixels[:, 5:], 1.0, atol=ATOL)


def test_transparent_gray_on_a_coloured_background_takes_its_colour():
    pixels = decode(solid("LA", (0, 0)), channels=3, background=(0, 0, 255))
    np.testing.assert_allclose(pixels, np.broadcast_to([-1, -1, 1], pixels.shape), atol=ATOL)


def test_opaque_black_gray_alpha_is_black():
    pixels = decode(solid("LA", (0, 255)), channels=1)
    assert np.allclose(pixels, -1.0, atol=ATOL)


def test_transparent_gray_alpha_is_white():
    pixels = decode(solid("LA", (0, 0)), channels=1)
    assert np.allclose(pixels, 1.0, atol=ATOL)


def test_rgb_to_one_channel_uses_luminance():
    red = decode(solid("RGB", (255, 0, 0)), channels=1)
    green = decode(solid("RGB", (0, 255, 0)), channels=1)
    assert red.shape == green.shape == (8, 8, 1)
    assert not np.allclose(red, green, atol=0.1)  # not a plain channel average
    assert np.allclose(red, LUMA[0] * 255 / 127.5 - 1.0, atol=1e-2)
    assert np.allclose(green, LUMA[1] * 255 / 127.5 - 1.0, atol=1e-2)


def test_non_square_image_is_centre_cropped_not_squashed():
    # 10 rows x 20 columns: black left quarter, white centre half, gray right quarter.
    array = np.full((10, 20), 255, dtype=np.uint8)
    array[:, :5] = 0
    array[:, 15:] = 100
    pixels = decode(encode(array, "L"), resolution=8, channels=1)
    # The centred 10x10 square is all white; squashing would pull black in on the left
    # and gray in on the right.
    assert np.allclose(pixels[:, 0], 1.0, atol=ATOL)
    assert np.allclose(pixels[:, -1], 1.0, atol=ATOL)
    assert np.allclose(pixels, 1.0, atol=ATOL)


def test_tall_image_is_centre_cropped_vertically():
    array = np.full((20, 10), 0, dtype=np.uint8)
    array[:5] = 255
    array[15:] = 255
    pixels = decode(encode(array, "L"), resolution=8, channels=1)
    assert np.allclose(pixels, -1.0, atol=ATOL)


@pytest.mark.parametrize("resolution", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_and_range(resolution, channels):
    rng = np.random.default_rng(resolution + channels)
    noise = rng.integers(0, 256, size=(13, 21, 3), dtype=np.uint8)
    pixels = decode(encode(noise, "RGB"), resolution, channels)
    assert pixels.shape == (resolution, resolution, channels)
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0


def test_jpeg_is_decoded():
    pixels = decode(solid("RGB", (255, 0, 0), size=16, fmt="JPEG"), channels=3)
    # JPEG is lossy: allow a little chroma bleed.
    assert np.allclose(pixels, np.broadcast_to([1.0, -1.0, -1.0], pixels.shape), atol=0.05)


def test_grayscale_jpeg_is_decoded():
    pixels = decode(solid("L", 255, size=16, fmt="JPEG"), channels=1)
    assert np.allclose(pixels, 1.0, atol=0.02)


def batch_inputs() -> tuple[list[bytes], dict]:
    pngs = [solid("L", 255), solid("RGB", (0, 0, 0), size=9)]
    inputs = {
        IMAGE_KEY: tf.constant([[pngs[0]], [pngs[1]]]),
        LABEL_KEY: tf.constant([[3], [7]], tf.int64),
    }
    return pngs, inputs


@pytest.mark.parametrize("resolution, channels", [(8, 1), (16, 3)])
def test_preprocessing_fn_on_a_dense_batch(resolution, channels):
    _, inputs = batch_inputs()
    config = {"data": {"resolution": resolution, "channels": channels}}
    outputs = preprocessing_fn(inputs, config)
    images = outputs[IMAGE_KEY].numpy()
    labels = outputs[LABEL_KEY].numpy()
    assert images.shape == (2, resolution, resolution, channels)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert np.allclose(images[0], 1.0, atol=ATOL)  # white
    assert np.allclose(images[1], -1.0, atol=ATOL)  # black
    assert labels.shape == (2,)
    assert labels.tolist() == [3, 7]


def test_preprocessing_fn_accepts_sparse_image_input():
    pngs, inputs = batch_inputs()
    inputs[IMAGE_KEY] = tf.SparseTensor(
        indices=[[0, 0], [1, 0]], values=tf.constant(pngs), dense_shape=[2, 1]
    )
    outputs = preprocessing_fn(inputs, {"data": {"resolution": 8, "channels": 1}})
    images = outputs[IMAGE_KEY].numpy()
    assert images.shape == (2, 8, 8, 1)
    assert np.allclose(images[0], 1.0, atol=ATOL)
    assert np.allclose(images[1], -1.0, atol=ATOL)
    assert outputs[LABEL_KEY].numpy().tolist() == [3, 7]


def test_preprocessing_fn_keeps_each_label_s_class_name():
    _, inputs = batch_inputs()
    inputs[LABEL_NAME_KEY] = tf.constant([[b"hearts"], [b"flags"]])
    outputs = preprocessing_fn(inputs, {"data": {"resolution": 8, "channels": 1}})
    assert outputs[LABEL_NAME_KEY].numpy().tolist() == [b"hearts", b"flags"]
    assert outputs[LABEL_KEY].numpy().tolist() == [3, 7]


def test_preprocessing_fn_without_labels_works_and_without_settings_says_so():
    _, inputs = batch_inputs()
    del inputs[LABEL_KEY]
    outputs = preprocessing_fn(inputs, {"data": {"resolution": 16, "channels": 1}})
    assert LABEL_KEY not in outputs
    assert outputs[IMAGE_KEY].shape == (2, 16, 16, 1)
    # The defaults are auto, chosen from the images before Transform runs.
    with pytest.raises(ArtganError, match="data.resolution and data.channels are auto"):
        preprocessing_fn(inputs, {})


def test_decoding_graph_is_traced_once_however_often_transform_traces():
    """Transform traces preprocessing_fn about nine times a run; the costly decoding graph is
    traced once per data settings and called from each trace."""
    _, inputs = batch_inputs()
    config = {"data": {"resolution": 8, "channels": 1, "background": "#123456"}}
    traces = [_traced(inputs, config) for _ in range(3)]
    # TFX reloads the module it takes a function from: ask the module loaded now.
    module = importlib.import_module(preprocessing_fn.__module__)
    squares = module.squares_function(8, 1, DataConfig().fit, (0x12, 0x34, 0x56))
    assert squares.experimental_get_tracing_count() == 1
    for images in traces:
        assert np.allclose(images[0], 1.0, atol=ATOL)  # white
        assert np.allclose(images[1], -1.0, atol=ATOL)  # black


def _noise_png(mode: str, width: int, height: int, seed: int) -> bytes:
    depth = {"L": 0, "RGB": 3, "RGBA": 4, "LA": 2}[mode]
    shape = (height, width, depth) if depth else (height, width)
    return encode(np.random.default_rng(seed).integers(0, 256, shape), mode)


def _traced(inputs: dict, config: dict) -> np.ndarray:
    """preprocessing_fn run as Transform runs it: traced into a graph (both cond branches)."""
    return tf.function(lambda: preprocessing_fn(inputs, config)[IMAGE_KEY])().numpy()


def _one_by_one(pngs, orientations, resolution, channels, fit):
    return np.stack(
        [
            decode(png, resolution, channels, fit=fit, orientation=orientation)
            for png, orientation in zip(pngs, orientations, strict=True)
        ]
    )


@pytest.mark.parametrize(
    "mode, width, height, fit, channels",
    [
        ("L", 28, 28, "crop", 1),  # Fashion-MNIST-like
        ("L", 20, 12, "crop", 3),  # gray to RGB, cropped
        ("RGB", 12, 20, "crop", 1),  # RGB to gray, cropped
        ("RGB", 17, 17, "pad", 3),
        ("L", 100, 100, "crop", 1),  # over the matrix resize's side: tf.image.resize
    ],
)
def test_batch_of_alike_images_matches_image_by_image(mode, width, height, fit, channels):
    # Same-shaped, upright, opaque images take the batched path: it must give every image
    # exactly what decoding it alone gives.
    pngs = [_noise_png(mode, width, height, seed) for seed in range(5)]
    inputs = {IMAGE_KEY: tf.constant([[png] for png in pngs])}
    config = {"data": {"resolution": 8, "channels": channels, "fit": fit}}
    batched = _traced(inputs, config)
    expected = _one_by_one(pngs, [1] * 5, 8, channels, fit)
    np.testing.assert_allclose(batched, expected, atol=1e-5)


@pytest.mark.parametrize(
    "pngs, orientations, fit",
    [
        ([_noise_png("L", 12, 12, 0), _noise_png("L", 16, 10, 1)], [1, 1], "crop"),  # sizes
        ([_noise_png("RGB", 12, 12, 0), _noise_png("RGBA", 12, 12, 1)], [1, 1], "crop"),  # alpha
        ([_noise_png("RGB", 12, 10, 0), _noise_png("RGB", 12, 10, 1)], [1, 6], "crop"),  # EXIF
        ([_noise_png("RGB", 12, 10, 0), _noise_png("RGB", 12, 10, 1)], [1, 1], "pad"),  # pad
        ([_noise_png("LA", 9, 9, 0), _noise_png("LA", 9, 9, 1)], [1, 1], "crop"),  # gray alpha
        # Batched images around one that is not: each lands in its own row.
        (
            [
                _noise_png("RGB", 12, 12, 0),
                _noise_png("RGB", 16, 10, 1),
                _noise_png("RGB", 12, 12, 2),
            ],
            [1, 1, 1],
            "crop",
        ),
        # The first image cannot be batched: none is.
        ([_noise_png("RGBA", 9, 9, 0), _noise_png("RGB", 9, 9, 1)], [1, 1], "crop"),
        # Over 256x256x4 decoded bytes: squared while decoding, never batched whole.
        ([_noise_png("RGB", 320, 300, 0), _noise_png("RGB", 12, 12, 1)], [1, 1], "crop"),
        ([_noise_png("RGB", 320, 300, 0), _noise_png("RGB", 320, 300, 1)], [1, 1], "pad"),
        ([_noise_png("L", 600, 500, 0), _noise_png("L", 600, 500, 1)], [1, 1], "crop"),
    ],
)
def test_mixed_batches_match_image_by_image(pngs, orientations, fit):
    inputs = {
        IMAGE_KEY: tf.constant([[png] for png in pngs]),
        "orientation": tf.constant([[o] for o in orientations], tf.int64),
    }
    config = {"data": {"resolution": 8, "channels": 3, "fit": fit}}
    batched = _traced(inputs, config)
    expected = _one_by_one(pngs, orientations, 8, 3, fit)
    np.testing.assert_allclose(batched, expected, atol=1e-5)


def test_empty_batch_gives_no_images():
    inputs = {IMAGE_KEY: tf.zeros([0, 1], tf.string)}
    outputs = preprocessing_fn(inputs, {"data": {"resolution": 8, "channels": 1}})
    assert outputs[IMAGE_KEY].shape == (0, 8, 8, 1)


@pytest.mark.parametrize(
    "side, resolution, channels",
    [(28, 16, 1), (8, 32, 3), (17, 8, 3), (96, 64, 3), (64, 64, 1), (1, 8, 1)],
)
def test_matrix_resize_gives_tf_image_resize_pixels(side, resolution, channels):
    # The batched path's resize (two matrix products) stands in for tf.image.resize with
    # antialias, downscaling and upscaling alike.
    squares = np.random.default_rng(side).integers(0, 256, (3, side, side, channels), np.uint8)
    expected = tf.image.resize(squares, [resolution, resolution], antialias=True).numpy()
    resized = preprocessing._resize_by_matrices(tf.constant(squares), resolution).numpy()
    assert resized.shape == (3, resolution, resolution, channels)
    np.testing.assert_allclose(resized, expected, atol=1e-3)


def _with_recorded_shapes(pngs, shapes, orientations=None) -> dict:
    """Inputs as ImageExampleGen writes them: the decoded shape recorded beside each image."""
    inputs = {IMAGE_KEY: tf.constant([[png] for png in pngs])}
    for index, key in enumerate(preprocessing.SHAPE_KEYS):
        inputs[key] = tf.constant([[shape[index]] for shape in shapes], tf.int64)
    if orientations:
        inputs["orientation"] = tf.constant([[o] for o in orientations], tf.int64)
    return inputs


@pytest.mark.parametrize(
    "pngs, shapes, orientations",
    [
        # All alike and upright: decoded straight into one batch.
        ([_noise_png("L", 28, 28, seed) for seed in range(4)], [(28, 28, 1)] * 4, None),
        ([_noise_png("RGB", 20, 12, seed) for seed in range(3)], [(12, 20, 3)] * 3, None),
        # Not alike, or not upright: image by image.
        (
            [_noise_png("L", 12, 12, 0), _noise_png("L", 16, 10, 1)],
            [(12, 12, 1), (10, 16, 1)],
            None,
        ),
        ([_noise_png("RGB", 12, 10, 0), _noise_png("RGB", 12, 10, 1)], [(10, 12, 3)] * 2, [1, 6]),
    ],
)
def test_recorded_shapes_give_the_same_pixels(pngs, shapes, orientations):
    inputs = _with_recorded_shapes(pngs, shapes, orientations)
    config = {"data": {"resolution": 8, "channels": 3}}
    expected = _one_by_one(pngs, orientations or [1] * len(pngs), 8, 3, "crop")
    np.testing.assert_allclose(_traced(inputs, config), expected, atol=1e-5)


def test_a_wrong_recorded_shape_fails_with_a_clear_message():
    pngs = [_noise_png("L", 12, 12, 0), _noise_png("L", 16, 16, 1)]
    inputs = _with_recorded_shapes(pngs, [(12, 12, 1)] * 2)  # the second is 16x16
    with pytest.raises(tf.errors.InvalidArgumentError, match="recorded height, width"):
        _traced(inputs, {"data": {"resolution": 8, "channels": 1}})
