"""Asks TensorFlow itself whether it decodes stored images right, many images per call.

Pillow and TF disagree on some damaged files (a PNG without its IEND chunk loads in Pillow and
fails in TF); such files are stored normalised, so no record can fail Transform. The check runs
Transform's own decoder (``tf.io.decode_image``, first frame, uint8). Called eagerly it costs
about 90 µs per 28x28 PNG, nearly all of it dispatch overhead; one traced graph of
``BATCH_SIZE`` independent decodes takes about 15-20 µs per image.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Sequence

import tensorflow as tf
from PIL import Image

from artgan.components.image_example_gen.images import TRANSPOSED_ORIENTATIONS, IngestedImage

# Images per call: each call takes the GIL a few times, from a thread that competes for it
# with the reading and parsing; fewer, larger calls wait for it less.
BATCH_SIZE = 256
# Bytes (encoded and decoded) one call may hold at once; a larger image is checked on its own.
MAX_BATCH_BYTES = 64 * 2**20


def expected_shape(image: IngestedImage) -> tuple[int, int, int]:
    """[height, width, channels] of ``image.encoded`` decoded, before its EXIF orientation."""
    height, width = image.height, image.width
    if image.orientation in TRANSPOSED_ORIENTATIONS:
        height, width = width, height  # the stored pixels are not upright yet
    return height, width, image.channels


def checked_bytes(image: IngestedImage) -> int:
    """Memory that checking ``image`` takes: its encoded bytes and its decoded pixels."""
    height, width, channels = expected_shape(image)
    return len(image.encoded) + height * width * channels


def tensorflow_decodes(images: Sequence[IngestedImage]) -> list[bool]:
    """Per image: whether TF decodes its bytes, at the shape Pillow reported.

    A call that fails (one of its images does not decode) is redone image by image.
    """
    decodes = []
    for call in _calls(images):
        encoded = [image.encoded for image in call]
        try:
            shapes = _decoded_shapes(encoded, BATCH_SIZE)
        except tf.errors.OpError:
            shapes = [_decoded_shape(data) for data in encoded]
        decodes.extend(
            shape == expected_shape(image) for shape, image in zip(shapes, call, strict=True)
        )
    return decodes


def _calls(images: Sequence[IngestedImage]) -> Iterator[list[IngestedImage]]:
    """Consecutive runs of at most BATCH_SIZE images and (unless alone) MAX_BATCH_BYTES."""
    call, call_bytes = [], 0
    for image in images:
        size = checked_bytes(image)
        if call and (len(call) == BATCH_SIZE or call_bytes + size > MAX_BATCH_BYTES):
            yield call
            call, call_bytes = [], 0
        call.append(image)
        call_bytes += size
    if call:
        yield call


def _decoded_shape(encoded: bytes) -> tuple[int, ...] | None:
    try:
        return _decoded_shapes([encoded], 1)[0]
    except tf.errors.OpError:
        return None


def _decoded_shapes(encoded: list[bytes], batch_size: int) -> list[tuple[int, ...]]:
    """Raises tf.errors.OpError when any of them fails to decode."""
    padding = [_tiny_png()] * (batch_size - len(encoded))
    shapes = _decode_graph(batch_size)(tf.constant(encoded + padding)).numpy()
    return [tuple(int(size) for size in shape) for shape in shapes[: len(encoded)]]


@functools.cache
def _decode_graph(batch_size: int):
    """A traced function: [batch_size] encoded images -> [batch_size, 3] decoded shapes."""

    @tf.function(input_signature=[tf.TensorSpec([batch_size], tf.string)])
    def decoded_shapes(batch: tf.Tensor) -> tf.Tensor:
        return tf.stack(
            [
                tf.shape(tf.io.decode_image(encoded, channels=0, expand_animations=False))
                for encoded in tf.unstack(batch, num=batch_size)
            ]
        )

    return decoded_shapes.get_concrete_function()


@functools.cache
def _tiny_png() -> bytes:
    """Fills a partial batch: a 1x1 image costs next to nothing to decode."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    return buffer.getvalue()
