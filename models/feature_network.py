"""Feature networks the evaluator scores images with.

``domain_classifier``: a small CNN trained on the labelled real images; its penultimate layer
gives features for the Frechet distance and its softmax the class probabilities for the
Inception-style score (the approach of TF-GAN's MNIST "Frechet classifier distance").
``random_conv``: the same network left at a fixed random initialisation, for unlabelled folders;
its distances are comparable between models on the same data, but it has no class score.
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
from keras import layers

log = logging.getLogger(__name__)

FEATURES_LAYER = "features"


@dataclasses.dataclass
class FeatureNetwork:
    name: str  # "domain_classifier" or "random_conv"; recorded with every metric
    model: keras.Model  # images [-1, 1] -> (features, class probabilities)
    heldout_accuracy: float | None = None

    def features_and_probs(self, images: np.ndarray, batch_size: int = 256):
        """float images [N, H, W, C] in [-1, 1] -> (float64 features [N, D], probs [N, K])."""
        features, probs = self.model.predict(images, batch_size=batch_size, verbose=0)
        return features.astype(np.float64), probs.astype(np.float64)


def _classifier(image_shape: tuple[int, int, int], num_classes: int, seed: int) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    images = keras.Input(shape=image_shape)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init)(
        images
    )
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", kernel_initializer=init)(
        x
    )
    x = layers.Flatten()(x)
    features = layers.Dense(128, activation="relu", name=FEATURES_LAYER, kernel_initializer=init)(x)
    probs = layers.Dense(num_classes, activation="softmax", kernel_initializer=init)(features)
    return keras.Model(images, [features, probs], name="feature_network")


def build_feature_network(
    train_images: np.ndarray,
    train_labels: np.ndarray | None,
    eval_images: np.ndarray,
    eval_labels: np.ndarray | None,
    epochs: int,
    seed: int = 0,
) -> FeatureNetwork:
    """Trains the domain classifier when labels exist, else returns ``random_conv``."""
    keras.utils.set_random_seed(seed)
    image_shape = tuple(train_images.shape[1:])
    has_labels = train_labels is not None and len(np.unique(train_labels)) >= 2
    if not has_labels:
        log.warning("no class labels: scoring with a fixed random conv net (random_conv)")
        return FeatureNetwork("random_conv", _classifier(image_shape, 2, seed))
    num_classes = int(max(train_labels.max(), eval_labels.max() if eval_labels is not None else 0))
    model = _classifier(image_shape, num_classes + 1, seed)
    probs_output = model.outputs[1]
    trainable = keras.Model(model.inputs, probs_output)
    trainable.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    trainable.fit(train_images, train_labels, epochs=epochs, batch_size=64, verbose=0)
    accuracy = None
    if eval_labels is not None and len(eval_labels):
        accuracy = float(trainable.evaluate(eval_images, eval_labels, verbose=0)[1])
    log.info("domain classifier: %d classes, held-out accuracy %s", num_classes + 1, accuracy)
    return FeatureNetwork("domain_classifier", model, accuracy)
