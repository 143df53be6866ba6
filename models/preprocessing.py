"""Transform's ``preprocessing_fn``: encoded image bytes -> square [-1, 1] pixels.

Each image is decoded, alpha-composited on white, converted to the configured channel count,
centre-cropped to a square, resized (bilinear, antialiased) and scaled to [-1, 1]. Resolution and
channels come from Transform's ``custom_config`` (``DataConfig`` fields).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from artgan.pipeline.config import DataConfig

IMAGE_KEY = "image"  # raw: encoded bytes; transformed: float32 [res, res, channels]
LABEL_KEY = "label"


def _dense(feature: Any, default: Any) -> tf.Tensor:
    """A [batch] tensor from a raw feature that may arrive dense [batch, 1] or sparse."""
    if isinstance(feature, tf.SparseTensor):
        feature = tf.sparse.to_dense(feature, default_value=default)
    elif isinstance(feature, tf.RaggedTensor):
        feature = feature.to_tensor(default_value=default)
    return tf.reshape(feature[:, :1], [-1])


def _composite_on_white(pixels: tf.Tensor) -> tf.Tensor:
    """[H, W, C] float in [0, 255] with C in 1..4 -> [H, W, 1 or 3] with alpha blended on white."""
    num_channels = tf.shape(pixels)[-1]
    has_alpha = tf.logical_or(tf.equal(num_channels, 2), tf.equal(num_channels, 4))

    def blend() -> tf.Tensor:
        alpha = pixels[..., -1:] / 255.0
        return pixels[..., :-1] * alpha + 255.0 * (1.0 - alpha)

    return tf.cond(has_alpha, blend, lambda: pixels)


def _to_channels(pixels: tf.Tensor, channels: int) -> tf.Tensor:
    """[H, W, 1 or 3] -> [H, W, channels]."""
    is_gray = tf.equal(tf.shape(pixels)[-1], 1)
    if channels == 1:
        return tf.cond(
            is_gray, lambda: pixels[..., :1], lambda: tf.image.rgb_to_grayscale(pixels[..., :3])
        )
    return tf.cond(is_gray, lambda: tf.tile(pixels[..., :1], [1, 1, 3]), lambda: pixels[..., :3])


def decode_to_square(encoded: tf.Tensor, resolution: int, channels: int) -> tf.Tensor:
    """One encoded image -> float32 [resolution, resolution, channels] in [-1, 1]."""
    pixels = tf.io.decode_image(encoded, channels=0, expand_animations=False, dtype=tf.uint8)
    pixels = _to_channels(_composite_on_white(tf.cast(pixels, tf.float32)), channels)
    side = tf.minimum(tf.shape(pixels)[0], tf.shape(pixels)[1])
    pixels = tf.image.resize_with_crop_or_pad(pixels, side, side)
    pixels = tf.image.resize(pixels, [resolution, resolution], antialias=True)
    pixels = tf.clip_by_value(pixels, 0.0, 255.0) / 127.5 - 1.0
    return tf.ensure_shape(pixels, [resolution, resolution, channels])


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """tf.Transform entry point (named by dotted path in the pipeline)."""
    data = DataConfig(**(custom_config or {}).get("data", {}))
    encoded = _dense(inputs[IMAGE_KEY], default=b"")
    images = tf.map_fn(
        lambda e: decode_to_square(e, data.resolution, data.channels),
        encoded,
        fn_output_signature=tf.TensorSpec([data.resolution, data.resolution, data.channels]),
    )
    outputs = {IMAGE_KEY: images}
    if LABEL_KEY in inputs:
        outputs[LABEL_KEY] = _dense(inputs[LABEL_KEY], default=-1)
    return outputs
