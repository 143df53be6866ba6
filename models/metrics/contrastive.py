"""A contrastive feature network, trained on the real images themselves: no labels needed.

SimCLR (Chen et al. 2020) at small scale: an encoder and a projection head learn to match each
image's two augmented views (the training augmentations: colour, translation, cutout, plus a
horizontal flip) against every other image's in the batch (NT-Xent loss). The encoder's pooled
output is the feature space for FD and KD when the images have no labels, or too few for a
classifier to be trusted. Its trust measure is the held-out view match: the share of eval images
whose augmented view finds its own other view nearest among all eval images' views.
"""

from __future__ import annotations

import logging
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from artgan.models.metrics.domain_classifier import FEATURES_OUTPUT, TrainedClassifier
from artgan.models.training.augment import diff_augment

log = logging.getLogger(__name__)

CONTRASTIVE = "contrastive"
VIEW_POLICY = ("color", "translation", "cutout")
FEATURE_DIMS = 128
TEMPERATURE = 0.2
BATCH_SIZE = 256
LEARNING_RATE = 1e-3


def build_encoder(image_shape: tuple[int, int, int], seed: int) -> keras.Model:
    """uint8-valued float images -> [N, 128] features: four 3x3 convs, global average pool."""
    init = keras.initializers.GlorotUniform(seed=seed)
    images = keras.Input(shape=image_shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(images)
    halvings = max(0, min(4, int(math.log2(min(image_shape[:2]) / 4))))
    for index, filters in enumerate((32, 64, 128, FEATURE_DIMS)):
        strides = 2 if index < halvings else 1
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", kernel_initializer=init)(x)
        x = layers.LeakyReLU(0.2)(x)
    features = layers.GlobalAveragePooling2D()(x)
    return keras.Model(images, features, name=CONTRASTIVE)


def _unit_scaled(encoder: keras.Model, images: np.ndarray) -> keras.Model:
    """The encoder with its features scaled to unit mean variance on ``images``.

    FD and KD then have the same scale whatever the training made of the activations, so the
    baseline margins (absolute) mean about as much as in the classifier's space.
    """
    features = encoder.predict(images.astype(np.float32), batch_size=256, verbose=0)
    scale = 1.0 / math.sqrt(max(float(np.mean(np.var(features, axis=0))), 1e-12))
    scaled = layers.Rescaling(scale, name=FEATURES_OUTPUT)(encoder.output)
    return keras.Model(encoder.input, scaled, name=CONTRASTIVE)


def _projection_head(seed: int) -> keras.Sequential:
    init = keras.initializers.GlorotUniform(seed=seed + 1)
    return keras.Sequential(
        [
            layers.Dense(FEATURE_DIMS, activation="relu", kernel_initializer=init),
            layers.Dense(64, kernel_initializer=init),
        ]
    )


def augmented_view(images: tf.Tensor) -> tf.Tensor:
    """One random view of uint8-valued float images, in the same value range."""
    scaled = images / 127.5 - 1.0
    flip = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < 0.5
    scaled = tf.where(flip, tf.reverse(scaled, axis=[2]), scaled)
    view = diff_augment(scaled, VIEW_POLICY)
    return (tf.clip_by_value(view, -1.0, 1.0) + 1.0) * 127.5


def nt_xent(first: tf.Tensor, second: tf.Tensor, temperature: float = TEMPERATURE) -> tf.Tensor:
    """SimCLR's loss: each of 2N projections must pick its partner among the other 2N - 1."""
    both = tf.math.l2_normalize(tf.concat([first, second], axis=0), axis=1)
    count = tf.shape(first)[0]
    similarity = tf.matmul(both, both, transpose_b=True) / temperature
    similarity -= 1e9 * tf.eye(2 * count)  # never yourself
    partners = tf.concat([tf.range(count, 2 * count), tf.range(count)], axis=0)
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partners, logits=similarity)
    )


def view_match(encoder: keras.Model, images: np.ndarray, seed: int) -> float:
    """Share of images whose one view's nearest other view (cosine, features) is its own."""
    if len(images) < 2:
        return math.nan
    tf.random.set_seed(seed)
    floats = tf.constant(images, tf.float32)
    first = tf.math.l2_normalize(encoder(augmented_view(floats), training=False), axis=1)
    second = tf.math.l2_normalize(encoder(augmented_view(floats), training=False), axis=1)
    nearest = tf.argmax(tf.matmul(first, second, transpose_b=True), axis=1)
    return float(np.mean(nearest.numpy() == np.arange(len(images))))


def train_contrastive(
    train_images: np.ndarray,
    eval_images: np.ndarray,
    epochs: int,
    seed: int = 0,
) -> TrainedClassifier:
    """Trains on uint8 images [N, H, W, C] (RGB or grayscale); no labels are read.

    The result has no classes (``heldout_accuracy`` None); ``view_match`` is its trust measure.
    """
    keras.utils.set_random_seed(seed)
    encoder = build_encoder(tuple(train_images.shape[1:]), seed)
    head = _projection_head(seed)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    batch = min(BATCH_SIZE, len(train_images))
    dataset = (
        tf.data.Dataset.from_tensor_slices(train_images.astype(np.float32))
        .shuffle(len(train_images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch, drop_remainder=True)
    )

    @tf.function
    def step(images: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            first = head(encoder(augmented_view(images), training=True), training=True)
            second = head(encoder(augmented_view(images), training=True), training=True)
            loss = nt_xent(first, second)
        variables = encoder.trainable_variables + head.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    loss = math.nan
    for epoch in range(epochs):
        for images in dataset:
            loss = float(step(images))
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            log.info("contrastive network: epoch %d/%d, loss %.3f", epoch + 1, epochs, loss)
    match = view_match(encoder, eval_images, seed)
    log.info("contrastive network: held-out view match %.3f on %d images", match, len(eval_images))
    scaled = _unit_scaled(encoder, train_images)
    return TrainedClassifier(CONTRASTIVE, scaled, None, 0, view_match=match)
