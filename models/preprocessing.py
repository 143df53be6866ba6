"""Transform's ``preprocessing_fn``: encoded image bytes -> square [-1, 1] pixels.

Each image is decoded, turned upright (the EXIF orientation ImageExampleGen recorded),
alpha-composited on the background colour, made square (centre-crop, or pad with the
background), resized (bilinear, antialiased), converted to the configured channel count and
scaled to [-1, 1]. Resolution, channels, fit and background come from Transform's
``custom_config`` (``DataConfig`` fields).

Opaque images are cropped or padded and resized as uint8, so a large photo never exists as a
full-size float tensor; only images with alpha are composited in float at full size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from artgan.pipeline.config import DataConfig

IMAGE_KEY = "image"  # raw: encoded bytes; transformed: float32 [res, res, channels]
LABEL_KEY = "label"
ORIENTATION_KEY = "orientation"  # raw only: EXIF orientation 1..8 still to apply

_DEFAULTS = DataConfig()
# ITU-R 601 luma, the weights of tf.image.rgb_to_grayscale.
_LUMA = (0.2989, 0.5870, 0.1140)
# Images up to this many decoded bytes (256 x 256 RGBA) are kept whole for the batched path;
# larger ones are squared as soon as they are decoded.
_MAX_BATCHED_IMAGE_BYTES = 256 * 256 * 4


def _dense(feature: Any, default: Any) -> tf.Tensor:
    """A [batch] tensor from a raw feature that may arrive dense [batch, 1] or sparse."""
    if isinstance(feature, tf.SparseTensor):
        feature = tf.sparse.to_dense(feature, default_value=default)
    elif isinstance(feature, tf.RaggedTensor):
        feature = feature.to_tensor(default_value=default)
    return tf.reshape(feature[:, :1], [-1])


def orient(pixels: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """[H, W, C] as stored -> upright, for EXIF orientation 1..8 (as Pillow's exif_transpose)."""

    def transposed() -> tf.Tensor:
        return tf.transpose(pixels, [1, 0, 2])

    branches = [
        lambda: pixels,  # 1: upright
        lambda: tf.reverse(pixels, [1]),  # 2: mirrored left-right
        lambda: tf.reverse(pixels, [0, 1]),  # 3: rotated 180
        lambda: tf.reverse(pixels, [0]),  # 4: mirrored top-bottom
        transposed,  # 5: transposed
        lambda: tf.reverse(transposed(), [1]),  # 6: stored rotated 90 counter-clockwise
        lambda: tf.reverse(transposed(), [0, 1]),  # 7: transversed
        lambda: tf.reverse(transposed(), [0]),  # 8: stored rotated 90 clockwise
    ]
    index = tf.clip_by_value(tf.cast(orientation, tf.int32), 1, 8) - 1
    return tf.switch_case(index, branches)


def _gray_level(background: tuple[int, int, int]) -> float:
    red, green, blue = background
    if red == green == blue:
        return float(red)
    return sum(weight * value for weight, value in zip(_LUMA, background, strict=True))


def _background_like(colour: tf.Tensor, background: tuple[int, int, int]) -> tf.Tensor:
    """The background as a [C] vector of colour's dtype, for C = 1 (gray) or 3 (RGB)."""
    gray = tf.constant([_gray_level(background)], tf.float32)
    rgb = tf.constant(background, tf.float32)
    vector = tf.cond(tf.equal(tf.shape(colour)[-1], 1), lambda: gray, lambda: rgb)
    if colour.dtype.is_integer:
        vector = tf.round(vector)
    return tf.cast(vector, colour.dtype)


def _square(pixels: tf.Tensor, fit: str, background: tuple[int, int, int]) -> tf.Tensor:
    """[H, W, C] -> [S, S, C]: the centred square (crop), or the image centred on one (pad)."""
    height, width = tf.shape(pixels)[0], tf.shape(pixels)[1]
    if fit == "crop":
        side = tf.minimum(height, width)
        return tf.image.resize_with_crop_or_pad(pixels, side, side)
    side = tf.maximum(height, width)
    fill = _background_like(pixels, background)

    def block(rows: tf.Tensor, columns: tf.Tensor) -> tf.Tensor:
        return tf.broadcast_to(fill, tf.stack([rows, columns, tf.shape(pixels)[-1]]))

    top, left = (side - height) // 2, (side - width) // 2
    pixels = tf.concat([block(top, width), pixels, block(side - height - top, width)], axis=0)
    return tf.concat([block(side, left), pixels, block(side, side - width - left)], axis=1)


def _composite(colour: tf.Tensor, alpha: tf.Tensor, background: tuple[int, int, int]) -> tf.Tensor:
    """uint8 colour [H, W, C] and alpha [H, W, 1] -> float32 [H, W, C] on the background."""
    colour = tf.cast(colour, tf.float32)
    alpha = tf.cast(alpha, tf.float32) / 255.0
    return colour * alpha + _background_like(colour, background) * (1.0 - alpha)


def _to_channels(pixels: tf.Tensor, channels: int) -> tf.Tensor:
    """[..., 1 or 3] -> [..., channels] (one image or a batch)."""
    is_gray = tf.equal(tf.shape(pixels)[-1], 1)
    if channels == 1:
        return tf.cond(
            is_gray, lambda: pixels[..., :1], lambda: tf.image.rgb_to_grayscale(pixels[..., :3])
        )
    return tf.cond(is_gray, lambda: tf.concat([pixels[..., :1]] * 3, -1), lambda: pixels[..., :3])


def decode_to_square(
    encoded: tf.Tensor,
    resolution: int,
    channels: int,
    fit: str = _DEFAULTS.fit,
    background: tuple[int, int, int] = _DEFAULTS.background_rgb(),
    orientation: tf.Tensor | int = 1,
) -> tf.Tensor:
    """One encoded image -> float32 [resolution, resolution, channels] in [-1, 1]."""
    pixels = tf.io.decode_image(encoded, channels=0, expand_animations=False, dtype=tf.uint8)
    return pixels_to_square(pixels, resolution, channels, fit, background, orientation)


def pixels_to_square(
    pixels: tf.Tensor,
    resolution: int,
    channels: int,
    fit: str = _DEFAULTS.fit,
    background: tuple[int, int, int] = _DEFAULTS.background_rgb(),
    orientation: tf.Tensor | int = 1,
) -> tf.Tensor:
    """One decoded uint8 image [H, W, 1..4] -> float32 [resolution, resolution, channels]."""
    pixels = orient(pixels, orientation)
    num_channels = tf.shape(pixels)[-1]
    has_alpha = tf.logical_or(tf.equal(num_channels, 2), tf.equal(num_channels, 4))

    def colour_of(colour: tf.Tensor) -> tf.Tensor:
        """Gray sources become RGB first when the output is RGB (so padding can be coloured)."""
        if channels == 1:
            return colour
        is_gray = tf.equal(tf.shape(colour)[-1], 1)
        return tf.cond(is_gray, lambda: tf.tile(colour, [1, 1, 3]), lambda: colour)

    def square_and_resize(colour: tf.Tensor) -> tf.Tensor:
        square = _square(colour, fit, background)
        return tf.image.resize(square, [resolution, resolution], antialias=True)

    def transparent() -> tf.Tensor:
        colour = colour_of(pixels[..., :-1])
        return square_and_resize(_composite(colour, pixels[..., -1:], background))

    resized = tf.cond(has_alpha, transparent, lambda: square_and_resize(colour_of(pixels)))
    return _scaled(_to_channels(resized, channels), resolution, channels)


def _scaled(resized: tf.Tensor, resolution: int, channels: int) -> tf.Tensor:
    """Resized pixels in 0..255 (one image or a batch) -> [-1, 1] with the static shape set."""
    resized = tf.clip_by_value(resized, 0.0, 255.0) / 127.5 - 1.0
    return tf.ensure_shape(resized, [*resized.shape[:-3], resolution, resolution, channels])


def _decode_all(
    encoded: tf.Tensor,
    orientation: tf.Tensor,
    to_square: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    square_shape: list[int],
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Decodes a batch once: (small images' uint8 pixels flattened one after another, every
    image's shape [B, 3], large images' ``to_square(pixels, orientation)`` [B, ...] (zeros
    for small ones)). Large images are squared at once, so a batch of photos never sits in
    memory at full size."""
    count = tf.shape(encoded)[0]
    pixels = tf.TensorArray(tf.uint8, size=count, infer_shape=False, element_shape=[None])
    shapes = tf.TensorArray(tf.int32, size=count, element_shape=[3])
    squares = tf.TensorArray(tf.float32, size=count)

    def decode(index: tf.Tensor, pixels: tf.TensorArray, shapes, squares):
        image = tf.io.decode_image(
            encoded[index], channels=0, expand_animations=False, dtype=tf.uint8
        )
        flat, square = tf.cond(
            tf.size(image) <= _MAX_BATCHED_IMAGE_BYTES,
            lambda: (tf.reshape(image, [-1]), tf.zeros(square_shape)),
            lambda: (tf.zeros([0], tf.uint8), to_square(image, orientation[index])),
        )
        return (
            index + 1,
            pixels.write(index, flat),
            shapes.write(index, tf.shape(image)),
            squares.write(index, square),
        )

    _, pixels, shapes, squares = tf.while_loop(
        lambda index, *_: index < count, decode, (0, pixels, shapes, squares)
    )
    # A TensorArray of no elements cannot concat (an empty batch).
    flat = tf.cond(count > 0, pixels.concat, lambda: tf.zeros([0], tf.uint8))
    return flat, tf.reshape(shapes.stack(), [-1, 3]), squares.stack()


def _is_uniform_batch(shapes: tf.Tensor, orientation: tf.Tensor, fit: str) -> tf.Tensor:
    """True when one batched path gives every image what the per-image path would: a
    non-empty batch of same-shaped, small, upright, opaque images (square ones if padding)."""
    first = shapes[:1]
    checks = [
        tf.reduce_all(tf.reduce_prod(shapes, axis=1) <= _MAX_BATCHED_IMAGE_BYTES),
        tf.reduce_all(tf.equal(shapes, first)),
        tf.reduce_all(tf.equal(orientation, 1)),
        tf.reduce_all(tf.logical_or(tf.equal(first[:, 2], 1), tf.equal(first[:, 2], 3))),
    ]
    if fit != "crop":
        checks.append(tf.reduce_all(tf.equal(first[:, 0], first[:, 1])))
    return tf.logical_and(tf.size(orientation) > 0, tf.reduce_all(tf.stack(checks)))


def _uniform_batch_to_square(
    flat: tf.Tensor, shapes: tf.Tensor, resolution: int, channels: int
) -> tf.Tensor:
    """The batched path for ``_is_uniform_batch`` batches: the same pixels, far fewer ops."""
    height, width, num_channels = shapes[0, 0], shapes[0, 1], shapes[0, 2]
    pixels = tf.reshape(flat, tf.stack([-1, height, width, num_channels]))
    if channels == 3:
        pixels = tf.cond(
            tf.equal(num_channels, 1), lambda: tf.tile(pixels, [1, 1, 1, 3]), lambda: pixels
        )
    side = tf.minimum(height, width)  # crop; padding only reaches here with square images
    square = tf.image.resize_with_crop_or_pad(pixels, side, side)
    resized = tf.image.resize(square, [resolution, resolution], antialias=True)
    return _scaled(_to_channels(resized, channels), resolution, channels)


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """tf.Transform entry point (named by dotted path in the pipeline).

    Each image is decoded once. A batch of same-shaped, upright, opaque images (a typical data
    set) is squared and resized in one go; any other batch image by image.
    """
    data = DataConfig(**(custom_config or {}).get("data", {}))
    background = data.background_rgb()
    encoded = _dense(inputs[IMAGE_KEY], default=b"")
    if ORIENTATION_KEY in inputs:
        orientation = tf.cast(_dense(inputs[ORIENTATION_KEY], default=1), tf.int64)
    else:
        orientation = tf.ones(tf.shape(encoded), tf.int64)
    res, channels = data.resolution, data.channels

    def to_square(pixels: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
        return pixels_to_square(pixels, res, channels, data.fit, background, orientation)

    flat, shapes, squares = _decode_all(encoded, orientation, to_square, [res, res, channels])

    def image_by_image() -> tf.Tensor:
        sizes = tf.reduce_prod(shapes, axis=1)
        small = sizes <= _MAX_BATCHED_IMAGE_BYTES
        sizes = tf.where(small, sizes, 0)  # large images were squared while decoding
        starts = tf.cumsum(sizes, exclusive=True)

        def one(index: tf.Tensor) -> tf.Tensor:
            def from_pixels() -> tf.Tensor:
                pixels = flat[starts[index] : starts[index] + sizes[index]]
                return to_square(tf.reshape(pixels, shapes[index]), orientation[index])

            return tf.cond(small[index], from_pixels, lambda: squares[index])

        return tf.map_fn(
            one,
            tf.range(tf.shape(shapes)[0]),
            fn_output_signature=tf.TensorSpec([res, res, channels]),
        )

    images = tf.cond(
        _is_uniform_batch(shapes, orientation, data.fit),
        lambda: _uniform_batch_to_square(flat, shapes, res, channels),
        image_by_image,
    )
    outputs = {IMAGE_KEY: tf.ensure_shape(images, [None, res, res, channels])}
    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = _dense(inputs[LABEL_KEY], default=-1)
    return outputs
