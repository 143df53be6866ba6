"""Transform's ``preprocessing_fn``: encoded image bytes -> square [-1, 1] pixels.

Each image is decoded, turned upright (the EXIF orientation ImageExampleGen recorded),
alpha-composited on the background colour, made square (centre-crop, or pad with the
background), resized (bilinear, antialiased), converted to the configured channel count and
scaled to [-1, 1]. Resolution, channels, fit and background come from Transform's
``custom_config`` (``DataConfig`` fields). With 4 channels (RGBA) nothing is composited: the
pixels are RGB premultiplied by alpha, and alpha (a transparent pixel is -1 in every channel;
padding is transparent), which resize without colour fringes and which the generator learns;
``export.to_uint8`` turns them into straight alpha, as PNG stores it.

Opaque images are cropped or padded and resized as uint8, so a large photo never exists as a
full-size float tensor; only images with alpha are composited in float at full size. Small
upright opaque images shaped like their batch's first (a typical data set) are squared and
resized together (small ones by two matrix products: the resize filter as a matrix per axis),
which gives the same pixels at a fraction of the cost per image. When ImageExampleGen's
recorded shapes say a whole batch is alike, it is decoded straight into one tensor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from artgan.config import DataConfig

IMAGE_KEY = "image"  # raw: encoded bytes; transformed: float32 [res, res, channels]
LABEL_KEY = "label"
LABEL_NAME_KEY = "label_name"  # the class folder's name (os.fsencode'd), beside its label
ORIENTATION_KEY = "orientation"  # raw only: EXIF orientation 1..8 still to apply
# Raw only: the decoded size ImageExampleGen recorded (upright; as tf.io.decode_image yields).
SHAPE_KEYS = ("height", "width", "channels")

_DEFAULTS = DataConfig()
# ITU-R 601 luma, the weights of tf.image.rgb_to_grayscale.
_LUMA = (0.2989, 0.5870, 0.1140)
# Images up to this many decoded bytes (256 x 256 RGBA) are kept whole for the batched path;
# larger ones are squared as soon as they are decoded.
_MAX_BATCHED_IMAGE_BYTES = 256 * 256 * 4
# The batched path resizes squares up to this side by two matrix products (the resize filter
# along each axis as a matrix): at these sizes several times faster than tf.image.resize,
# slower above.
_MAX_MATRIX_RESIZE_SIDE = 96


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


def _centre_square(pixels: tf.Tensor) -> tf.Tensor:
    """[..., H, W, C] -> the centred [..., S, S, C], S = min(H, W) (as resize_with_crop_or_pad
    crops: the odd pixel goes at the end)."""
    height, width = tf.shape(pixels)[-3], tf.shape(pixels)[-2]
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return pixels[..., top : top + side, left : left + side, :]


def _square(
    pixels: tf.Tensor,
    fit: str,
    background: tuple[int, int, int],
    fill: tf.Tensor | None = None,
) -> tf.Tensor:
    """[H, W, C] -> [S, S, C]: the centred square (crop), or the image centred on one (pad)
    of the background colour, or of ``fill`` [C] when given."""
    height, width = tf.shape(pixels)[0], tf.shape(pixels)[1]
    if fit == "crop":
        return _centre_square(pixels)
    side = tf.maximum(height, width)
    if fill is None:
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
    """Opaque [..., 1 or 3] in 0..255 -> [..., channels] (one image or a batch); channels 4
    adds an opaque alpha."""
    is_gray = tf.equal(tf.shape(pixels)[-1], 1)
    if channels == 1:
        return tf.cond(
            is_gray, lambda: pixels[..., :1], lambda: tf.image.rgb_to_grayscale(pixels[..., :3])
        )
    rgb = tf.cond(is_gray, lambda: tf.concat([pixels[..., :1]] * 3, -1), lambda: pixels[..., :3])
    if channels == 4:
        return tf.concat([rgb, tf.fill(tf.shape(rgb[..., :1]), tf.cast(255, rgb.dtype))], -1)
    return rgb


def _premultiplied_rgba(pixels: tf.Tensor) -> tf.Tensor:
    """Upright uint8 [H, W, 1..4] -> float32 [H, W, 4]: RGB premultiplied by alpha, and alpha
    (255 where the image has none), in 0..255."""
    num_channels = tf.shape(pixels)[-1]
    has_alpha = tf.logical_or(tf.equal(num_channels, 2), tf.equal(num_channels, 4))
    pixels = tf.cast(pixels, tf.float32)
    opaque = tf.fill(tf.shape(pixels[..., :1]), 255.0)
    colour = tf.cond(has_alpha, lambda: pixels[..., :-1], lambda: pixels)
    alpha = tf.cond(has_alpha, lambda: pixels[..., -1:], lambda: opaque)
    is_gray = tf.equal(tf.shape(colour)[-1], 1)
    colour = tf.cond(is_gray, lambda: tf.tile(colour, [1, 1, 3]), lambda: colour)
    return tf.concat([colour * alpha / 255.0, alpha], -1)


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
    if channels == 4:
        square = _square(_premultiplied_rgba(pixels), fit, background, fill=tf.zeros([4]))
        resized = tf.image.resize(square, [resolution, resolution], antialias=True)
        return _scaled(resized, resolution, channels)
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


def _decode(encoded: tf.Tensor) -> tf.Tensor:
    return tf.io.decode_image(encoded, channels=0, expand_animations=False, dtype=tf.uint8)


def _batchable_shape(shape: tf.Tensor, fit: str) -> tf.Tensor:
    """Whether images of ``shape`` [3] can take the batched path: small, opaque (and square when
    padding)."""
    checks = [
        tf.reduce_prod(shape) <= _MAX_BATCHED_IMAGE_BYTES,
        tf.logical_or(tf.equal(shape[2], 1), tf.equal(shape[2], 3)),
    ]
    if fit != "crop":
        checks.append(tf.equal(shape[0], shape[1]))
    return tf.reduce_all(tf.stack(checks))


def _batched_to_square(pixels: tf.Tensor, resolution: int, channels: int) -> tf.Tensor:
    """The batched path: same-shaped upright opaque uint8 images [B, H, W, 1 or 3] -> squares,
    exactly as ``pixels_to_square`` makes them one by one."""
    if channels in (3, 4):
        is_gray = tf.equal(tf.shape(pixels)[-1], 1)
        pixels = tf.cond(is_gray, lambda: tf.concat([pixels] * 3, -1), lambda: pixels)
    square = _centre_square(pixels)  # padding only batches square images
    resized = tf.cond(
        tf.shape(square)[1] <= _MAX_MATRIX_RESIZE_SIDE,
        lambda: _resize_by_matrices(square, resolution),
        lambda: tf.image.resize(square, [resolution, resolution], antialias=True),
    )
    return _scaled(_to_channels(resized, channels), resolution, channels)


def _resize_matrix(size: tf.Tensor, resolution: int) -> tf.Tensor:
    """[resolution, size]: tf.image.resize's antialiased bilinear filter along one axis, as the
    matrix of its responses to unit impulses."""
    impulses = tf.reshape(tf.eye(size), tf.stack([size, size, 1, 1]))
    responses = tf.image.resize(impulses, [resolution, 1], antialias=True)
    return tf.transpose(tf.reshape(responses, tf.stack([size, resolution])))


def _resize_by_matrices(squares: tf.Tensor, resolution: int) -> tf.Tensor:
    """Same-sized squares [B, S, S, C] -> float32 [B, res, res, C], as tf.image.resize with
    antialias (to float rounding): rows, then columns, each one plain 2-D matrix product."""
    shape = tf.shape(squares)
    batch, side, channels = shape[0], shape[1], shape[3]
    matrix = _resize_matrix(side, resolution)  # [res, S]
    # [B, Sy, Sx, C] -> [B * Sy * C, Sx] @ [Sx, res] -> [B, Sy, C, res(x)]
    pixels = tf.transpose(tf.cast(squares, tf.float32), [0, 1, 3, 2])
    pixels = tf.matmul(tf.reshape(pixels, tf.stack([-1, side])), tf.transpose(matrix))
    pixels = tf.reshape(pixels, tf.stack([batch, side, channels, resolution]))
    # -> [Sy, res(x) * C * B]; [res, Sy] @ that -> [res(y), res(x), C, B]
    pixels = tf.reshape(tf.transpose(pixels, [1, 3, 2, 0]), tf.stack([side, -1]))
    pixels = tf.reshape(
        tf.matmul(matrix, pixels), tf.stack([resolution, resolution, channels, batch])
    )
    return tf.transpose(pixels, [3, 0, 1, 2])


def _batch_to_square(
    encoded: tf.Tensor,
    orientation: tf.Tensor,
    shapes: tf.Tensor,
    to_square: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    fit: str,
    square_shape: list[int],
) -> tf.Tensor:
    """Encoded [B] -> squares [B, *square_shape].

    When ImageExampleGen recorded every image's decoded shape ([B, 3]; -1 where unknown) and
    they are all the same, small and opaque, and every image is upright (a typical data set),
    the batch is decoded straight into one tensor; otherwise image by image.
    """
    shapes = tf.cast(shapes, tf.int32)
    first = tf.concat([shapes, -tf.ones([1, 3], tf.int32)], 0)[0]  # -1s for an empty batch
    uniform = tf.reduce_all(
        tf.stack(
            [
                tf.reduce_all(first >= 1),
                tf.reduce_all(tf.equal(shapes, first)),
                tf.reduce_all(tf.equal(orientation, 1)),
                _batchable_shape(first, fit),
            ]
        )
    )
    resolution, channels = square_shape[0], square_shape[2]
    return tf.cond(
        uniform,
        lambda: _batched_to_square(_decode_alike(encoded, first), resolution, channels),
        lambda: _mixed_batch_to_square(encoded, orientation, to_square, fit, square_shape),
    )


def _decode_alike(encoded: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """Encoded [B] images recorded as all of ``shape`` [3] -> uint8 [B, *shape].

    ImageExampleGen's decode check has TF decode every stored image at its recorded shape, so
    only examples made elsewhere can fail the assertion.
    """

    def decode(one: tf.Tensor) -> tf.Tensor:
        image = _decode(one)
        check = tf.debugging.assert_equal(
            tf.shape(image),
            shape,
            message="an image decodes to another shape than its recorded height, width and "
            "channels features",
        )
        with tf.control_dependencies([check]):
            return tf.identity(image)

    spec = tf.TensorSpec([None, None, None], tf.uint8)
    return tf.map_fn(decode, encoded, fn_output_signature=spec)


def _mixed_batch_to_square(
    encoded: tf.Tensor,
    orientation: tf.Tensor,
    to_square: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    fit: str,
    square_shape: list[int],
) -> tf.Tensor:
    """Encoded [B] -> squares [B, *square_shape], each image decoded once.

    Upright images shaped like the batch's first one, when that shape is small and opaque (a
    typical data set), are kept whole and squared together at the end; any other image is
    squared as soon as it is decoded, so a batch of photos never sits in memory at full size.
    """
    count = tf.shape(encoded)[0]
    like = tf.cond(
        count > 0, lambda: tf.shape(_decode(encoded[0])), lambda: -tf.ones([3], tf.int32)
    )
    # What can be decided before decoding is decided for the whole batch at once.
    joinable = tf.logical_and(_batchable_shape(like, fit), tf.equal(orientation, 1))
    no_pixels, no_square = tf.zeros([0], tf.uint8), tf.zeros([0, *square_shape])
    kept = tf.TensorArray(tf.uint8, size=count, infer_shape=False, element_shape=[None])
    joins = tf.TensorArray(tf.bool, size=count, element_shape=[])
    squares = tf.TensorArray(
        tf.float32, size=count, infer_shape=False, element_shape=[None, *square_shape]
    )

    def decode_one(index: tf.Tensor, kept: tf.TensorArray, joins, squares):
        image = _decode(encoded[index])
        join = tf.logical_and(joinable[index], tf.reduce_all(tf.equal(tf.shape(image), like)))
        pixels, square = tf.cond(
            join,
            lambda: (tf.reshape(image, [-1]), no_square),
            lambda: (no_pixels, to_square(image, orientation[index])[tf.newaxis]),
        )
        return (
            index + 1,
            kept.write(index, pixels),
            joins.write(index, join),
            squares.write(index, square),
        )

    _, kept, joins, squares = tf.while_loop(
        lambda index, *_: index < count, decode_one, (0, kept, joins, squares)
    )
    joins = tf.reshape(joins.stack(), [-1])
    joined = tf.cast(tf.reshape(tf.where(joins), [-1]), tf.int32)
    alone = tf.cast(tf.reshape(tf.where(tf.logical_not(joins)), [-1]), tf.int32)
    resolution, channels = square_shape[0], square_shape[2]

    def batched() -> tf.Tensor:
        pixels = tf.reshape(kept.concat(), tf.concat([[-1], like], 0))
        return _batched_to_square(pixels, resolution, channels)

    batched_squares = tf.cond(tf.size(joined) > 0, batched, lambda: no_square)
    return tf.reshape(
        tf.dynamic_stitch([joined, alone], [batched_squares, squares.concat()]),
        [-1, *square_shape],
    )


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """tf.Transform entry point (named by dotted path in the pipeline)."""
    data = DataConfig(**(custom_config or {}).get("data", {}))
    data.require_resolved()
    encoded = _dense(inputs[IMAGE_KEY], default=b"")
    if ORIENTATION_KEY in inputs:
        orientation = tf.cast(_dense(inputs[ORIENTATION_KEY], default=1), tf.int64)
    else:
        orientation = tf.ones(tf.shape(encoded), tf.int64)
    if all(key in inputs for key in SHAPE_KEYS):
        shapes = tf.stack([_dense(inputs[key], default=-1) for key in SHAPE_KEYS], axis=1)
    else:
        shapes = -tf.ones([tf.shape(encoded)[0], 3], tf.int64)
    to_squares = squares_function(data.resolution, data.channels, data.fit, data.background_rgb())
    outputs = {IMAGE_KEY: to_squares(encoded, orientation, tf.cast(shapes, tf.int64))}
    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = _dense(inputs[LABEL_KEY], default=-1)
    if LABEL_NAME_KEY in inputs:  # kept, so the trainer can name the classes it learns
        outputs[LABEL_NAME_KEY] = _dense(inputs[LABEL_NAME_KEY], default=b"")
    return outputs


@functools.cache
def squares_function(
    resolution: int, channels: int, fit: str, background: tuple[int, int, int]
) -> tf.types.experimental.PolymorphicFunction:
    """Encoded [B] strings, orientations [B] and recorded shapes [B, 3] (-1: unknown) -> squares
    [B, res, res, channels], traced once.

    Transform traces ``preprocessing_fn`` about nine times per run; the decoding graph is the
    costly part to trace, so it is one function per process and data settings, which each
    trace calls.
    """

    def to_square(pixels: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
        return pixels_to_square(pixels, resolution, channels, fit, background, orientation)

    # The graph's control flow is explicit (tf.cond, tf.while_loop): AutoGraph would only add
    # seconds converting the code.
    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None, 3], tf.int64),
        ],
        autograph=False,
    )
    def squares(encoded: tf.Tensor, orientation: tf.Tensor, shapes: tf.Tensor) -> tf.Tensor:
        return _batch_to_square(
            encoded, orientation, shapes, to_square, fit, [resolution, resolution, channels]
        )

    return squares
