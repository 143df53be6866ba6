"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for small datasets.

Applied to every batch the discriminator sees, real and generated alike, in both the D and the G
step, so D cannot memorise the few real images while gradients still reach G. Images are NHWC
in [-1, 1]; each transform draws its own parameters per example.
"""

from __future__ import annotations

import tensorflow as tf


def _per_example(images: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.random.uniform([tf.shape(images)[0], 1, 1, 1], low, high, dtype=images.dtype)


def brightness(images: tf.Tensor) -> tf.Tensor:
    return images + _per_example(images, -0.5, 0.5)


def saturation(images: tf.Tensor) -> tf.Tensor:
    """Scales each pixel's distance from its grey value; a no-op on one channel."""
    grey = tf.reduce_mean(images, axis=3, keepdims=True)
    return (images - grey) * _per_example(images, 0.0, 2.0) + grey


def contrast(images: tf.Tensor) -> tf.Tensor:
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * _per_example(images, 0.5, 1.5) + mean


def _shift_axis(images: tf.Tensor, shifts: tf.Tensor, axis: int) -> tf.Tensor:
    """Shifts each example by ``shifts[b]`` pixels along ``axis`` (1 or 2), filling with 0."""
    size = tf.shape(images)[axis]
    source = tf.range(size)[tf.newaxis, :] - shifts[:, tf.newaxis]  # [B, size]
    valid = tf.logical_and(source >= 0, source < size)
    moved = tf.gather(images, tf.clip_by_value(source, 0, size - 1), axis=axis, batch_dims=1)
    mask_shape = [-1, size, 1, 1] if axis == 1 else [-1, 1, size, 1]
    return moved * tf.reshape(tf.cast(valid, images.dtype), mask_shape)


def translation(images: tf.Tensor, ratio: float = 0.125) -> tf.Tensor:
    """Integer shifts of up to ``ratio`` of the image size in each direction."""
    batch = tf.shape(images)[0]
    for axis in (1, 2):
        limit = tf.cast(tf.cast(tf.shape(images)[axis], tf.float32) * ratio + 0.5, tf.int32)
        shifts = tf.random.uniform([batch], -limit, limit + 1, dtype=tf.int32)
        images = _shift_axis(images, shifts, axis)
    return images


def cutout(images: tf.Tensor, ratio: float = 0.5) -> tf.Tensor:
    """Zeroes one square of ``ratio`` times the image size at a random place per example."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    size_h = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    size_w = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    top = tf.random.uniform([batch, 1, 1], 0, height, dtype=tf.int32) - size_h // 2
    left = tf.random.uniform([batch, 1, 1], 0, width, dtype=tf.int32) - size_w // 2
    rows = tf.range(height)[tf.newaxis, :, tf.newaxis]
    cols = tf.range(width)[tf.newaxis, tf.newaxis, :]
    inside = tf.logical_and(
        tf.logical_and(rows >= top, rows < top + size_h),
        tf.logical_and(cols >= left, cols < left + size_w),
    )
    return images * tf.cast(tf.logical_not(inside), images.dtype)[..., tf.newaxis]


def _colour_only(transform):
    """``transform`` on the colour channels; an RGBA image's alpha is left as it is."""

    def on_colour(images: tf.Tensor) -> tf.Tensor:
        if images.shape[-1] != 4:
            return transform(images)
        return tf.concat([transform(images[..., :3]), images[..., 3:]], axis=-1)

    return on_colour


POLICIES = {
    "color": tuple(_colour_only(transform) for transform in (brightness, saturation, contrast)),
    "translation": (translation,),
    "cutout": (cutout,),
}


def diff_augment(images: tf.Tensor, policy: tuple[str, ...]) -> tf.Tensor:
    for name in policy:
        for transform in POLICIES[name]:
            images = transform(images)
    return images
