"""Tiny data the evaluation tests share: labelled squares, and a stand-in Inception graph."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

DIMS, CLASSES, RESIZE = 16, 10, 8


def squares(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 8x8x1 images: label 1 bright squares on dark, label 0 dark squares on bright."""
    labels = np.arange(count) % 2
    images = np.empty((count, 8, 8, 1), dtype=np.uint8)
    for i, label in enumerate(labels):
        background, square = (40, 220) if label else (220, 40)
        image = np.full((8, 8), background, dtype=np.int32)
        top, left = rng.integers(0, 4, size=2)
        image[top : top + 4, left : left + 4] = square
        image += rng.integers(-20, 21, size=(8, 8))
        images[i, ..., 0] = np.clip(image, 0, 255)
    return images, labels.astype(np.int64)


def standin_graph_def(dims: int = DIMS, classes: int = CLASSES) -> tf.compat.v1.GraphDef:
    rng = np.random.default_rng(0)
    with tf.Graph().as_default() as graph:
        contents = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        expanded = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0, name="ExpandDims")
        size = tf.constant([RESIZE, RESIZE], name="ResizeBilinear/size")
        resized = tf.compat.v1.image.resize_bilinear(expanded, size, name="ResizeBilinear")
        normalised = tf.multiply(tf.subtract(resized, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        kernel = tf.constant(rng.normal(size=(3, 3, 3, dims)).astype(np.float32), name="conv/w")
        conv = tf.nn.relu(tf.nn.conv2d(normalised, kernel, 1, "SAME"), name="conv")
        pool = tf.nn.avg_pool2d(conv, RESIZE, 1, "VALID", name="pool_3")
        flat = tf.reshape(pool, [1, dims], name="pool_3/_reshape")
        weights = rng.normal(size=(dims, classes)).astype(np.float32)
        matmul = tf.matmul(
            flat, tf.constant(weights, name="softmax/weights"), name="softmax/logits/MatMul"
        )
        biases = tf.constant(rng.normal(size=classes).astype(np.float32), name="softmax/biases")
        tf.nn.softmax(tf.nn.bias_add(matmul, biases, name="softmax/logits"), name="softmax")
    return graph.as_graph_def()
