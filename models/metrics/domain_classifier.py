"""The domain classifier: a feature network trained on the labelled real images.

When the 2015 Inception graph is not available (or is meaningless, as for digits), a small CNN
trained to classify the real images gives the features for a Fréchet distance and its softmax a
classifier score, the approach of TF-GAN's MNIST example. Without class labels the same network
is left at a fixed random initialisation (``random_conv``): its distances still rank models on
the same data, but it has no class score. Either is exported as a SavedModel whose
``serving_default`` signature takes served-style uint8 images.
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf
from keras import layers

log = logging.getLogger(__name__)

IMAGES_INPUT = "images"  # uint8 [N, H, W, C]
FEATURES_OUTPUT = "features"  # float32 [N, 128], the penultimate layer
PROBS_OUTPUT = "probs"  # float32 [N, classes]
PREPROCESSING = {
    "quantisation": "uint8, rounded exactly as served images",
    "channels": "as the pipeline's images (no tiling)",
    "input": "uint8 scaled to [-1, 1] inside the network",
    "resize": "none (the pipeline's resolution)",
}


@dataclasses.dataclass
class TrainedClassifier:
    """A trained feature network, ready to export."""

    name: str  # "domain_classifier", "random_conv" or "contrastive"
    model: keras.Model  # uint8-valued float images -> (features, probs), or features alone
    heldout_accuracy: float | None
    num_classes: int  # 0: no class scores (the exported probs are one constant column)
    view_match: float | None = None  # contrastive only: the held-out view match


def _network(image_shape: tuple[int, int, int], num_classes: int, seed: int) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    images = keras.Input(shape=image_shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(images)
    for filters in (32, 64):
        x = layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", kernel_initializer=init
        )(x)
    x = layers.Flatten()(x)
    features = layers.Dense(128, activation="relu", name=FEATURES_OUTPUT, kernel_initializer=init)(
        x
    )
    probs = layers.Dense(num_classes, activation="softmax", kernel_initializer=init)(features)
    return keras.Model(images, [features, probs], name="domain_classifier")


def train_domain_classifier(
    train_images: np.ndarray,
    train_labels: np.ndarray | None,
    eval_images: np.ndarray,
    eval_labels: np.ndarray | None,
    epochs: int,
    seed: int = 0,
) -> TrainedClassifier:
    """Trains on uint8 images [N, H, W, C] with labels; ``random_conv`` when there are none.

    Held-out accuracy is measured on the eval split.
    """
    keras.utils.set_random_seed(seed)
    image_shape = tuple(train_images.shape[1:])
    if train_labels is None or len(np.unique(train_labels)) < 2:
        log.warning("no class labels: features come from a fixed random network (random_conv)")
        return TrainedClassifier("random_conv", _network(image_shape, 2, seed), None, 2)
    num_classes = int(max(train_labels.max(), eval_labels.max() if eval_labels is not None else 0))
    num_classes += 1
    model = _network(image_shape, num_classes, seed)
    trainable = keras.Model(model.inputs, model.outputs[1])
    trainable.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    trainable.fit(
        train_images.astype(np.float32), train_labels, epochs=epochs, batch_size=64, verbose=0
    )
    accuracy = None
    if eval_labels is not None and len(eval_labels):
        accuracy = float(
            trainable.evaluate(eval_images.astype(np.float32), eval_labels, verbose=0)[1]
        )
    log.info("domain classifier: %d classes, held-out accuracy %s", num_classes, accuracy)
    return TrainedClassifier("domain_classifier", model, accuracy, num_classes)


def export_classifier(classifier: TrainedClassifier, export_dir: str) -> str:
    """Writes the network as a SavedModel: ``serving_default`` uint8 images -> features, probs.

    A network without classes exports probs as one constant column.

    Through ``keras.export.ExportArchive`` (see ``export.py``): it loads and runs through TF
    Serving's session loader as well as ``tf.saved_model.load``.
    """
    model = classifier.model
    _, height, width, channels = model.input_shape

    def features_and_probs(images: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = model(tf.cast(images, tf.float32), training=False)
        if isinstance(outputs, (list, tuple)):
            features, probs = outputs
        else:  # no classes: one constant column keeps the signature's shape
            features, probs = outputs, tf.ones_like(outputs[:, :1])
        return {FEATURES_OUTPUT: features, PROBS_OUTPUT: probs}

    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default",
        features_and_probs,
        input_signature=[
            tf.TensorSpec([None, height, width, channels], tf.uint8, name=IMAGES_INPUT)
        ],
    )
    archive.write_out(export_dir, verbose=False)
    return export_dir


def load_classifier(export_dir: str):
    """The exported network as a function: uint8 [N, H, W, C] -> (features, probs) arrays."""
    loaded = tf.saved_model.load(export_dir)

    def features_and_probs(images_uint8: np.ndarray):
        images = tf.constant(images_uint8, tf.uint8)
        outputs = loaded.signatures["serving_default"](**{IMAGES_INPUT: images})
        return outputs[FEATURES_OUTPUT].numpy(), outputs[PROBS_OUTPUT].numpy()

    return features_and_probs
