"""Exports a trained generator as a SavedModel with the serving contract clients rely on.

The signatures and tensor names are in ``artgan/contract``. The SavedModel is written with
``keras.export.ExportArchive``, whose graph the real TF Serving (its session loader, as
``saved_model_cli run``) can run; ``tf.saved_model.save`` of a ``tf.Module`` holding Keras 3
models cannot be (tensorflow/serving#2250). Beside it, in ``assets.extra``: ``generator.json``
(sizes and classes, for clients) and ``tf_serving_warmup_requests`` (TF Serving replays it
before the version is AVAILABLE).

A seed's latent comes from a stateless normal draw keyed by the seed alone, so the same seed
gives the same image from the same version, whatever else is in the batch.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from artgan import contract
from artgan.contract import (
    FROM_LATENTS_SIGNATURE,
    FROM_LATENTS_WITH_LABELS_SIGNATURE,
    GENERATOR_INFO_FILE,
    IMAGES_OUTPUT,
    LABELS_INPUT,
    LATENTS_INPUT,
    LATENTS_OUTPUT,
    PNG_BYTES_OUTPUT,
    PNG_OUTPUT,
    PNGS_SIGNATURE,
    PSI_INPUT,
    SEED_LATENTS_SIGNATURE,
    SEEDS_INPUT,
    TRUNCATED_SIGNATURE,
    TRUNCATED_WITH_LABELS_SIGNATURE,
    WITH_LABELS_SIGNATURE,
    warmup,
)

WARMUP_BATCH_SIZES = (1, 4)  # per signature: a single image and a small grid
WARMUP_PSI = 0.7  # the truncation the warmup requests ask for
LATENT_MEAN = 0.0  # latents are drawn from N(0, I): truncation pulls them toward 0
CLASS_DIRECTIONS_SEED = (
    20_251_202,
    3,
)  # fixed: the same latent picks the same class in any version


def latents_from_seeds(seeds: tf.Tensor, latent_dim: int) -> tf.Tensor:
    """One standard-normal latent per int64 seed, independent of batch composition."""
    seeds = tf.cast(seeds, tf.int64)

    def draw(seed: tf.Tensor) -> tf.Tensor:
        return tf.random.stateless_normal([latent_dim], seed=tf.stack([seed, 0]))

    return tf.map_fn(draw, seeds, fn_output_signature=tf.TensorSpec([latent_dim], tf.float32))


def truncate_latents(latents: tf.Tensor, psi: tf.Tensor) -> tf.Tensor:
    """The truncation trick on the generator's input: ``mean + psi * (latent - mean)`` per row;
    psi 1 keeps the latent, psi 0 gives the mean. ``psi`` must hold one finite value per row."""
    psi = tf.cast(psi, tf.float32)
    checks = [
        tf.debugging.assert_equal(
            tf.shape(psi)[0], tf.shape(latents)[0], message="psi needs one value per seed"
        ),
        tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(psi)), ["psi must be a finite number"]),
    ]
    with tf.control_dependencies(checks):
        psi = tf.identity(psi)
    return LATENT_MEAN + psi[:, tf.newaxis] * (latents - LATENT_MEAN)


def labels_from_seeds(
    seeds: tf.Tensor, num_classes: int, class_shares: tuple[float, ...] | None = None
) -> tf.Tensor:
    """One class label per int64 seed, independent of batch composition: uniform, or drawn in
    proportion to ``class_shares`` (the training set's, so that seeds sample the collection as
    it is: a class of 1 image in 1,906 is drawn about once per 1,906 seeds)."""
    seeds = tf.cast(seeds, tf.int64)
    if class_shares is None:

        def draw(seed: tf.Tensor) -> tf.Tensor:
            return tf.random.stateless_uniform(
                [], seed=tf.stack([seed, 1]), maxval=num_classes, dtype=tf.int32
            )

        return tf.map_fn(draw, seeds, fn_output_signature=tf.int32)
    cumulative = np.cumsum(np.asarray(class_shares, np.float64))
    upper_bounds = tf.constant(cumulative[:-1] / cumulative[-1], tf.float32)
    uniform = tf.map_fn(
        lambda seed: tf.random.stateless_uniform([], seed=tf.stack([seed, 1])),
        seeds,
        fn_output_signature=tf.float32,
    )
    # The first class whose cumulative share exceeds the draw (the last class takes the rest).
    return tf.searchsorted(upper_bounds, uniform, side="right", out_type=tf.int32)


def labels_from_latents(latents: tf.Tensor, num_classes: int) -> tf.Tensor:
    """The class whose fixed random direction each latent points along most.

    Deterministic per latent, about uniform over classes for normal latents, and changing
    only a few times along a walk between two latents (not at every frame).
    """
    latent_dim = latents.shape[-1]
    directions = tf.random.stateless_normal([latent_dim, num_classes], seed=CLASS_DIRECTIONS_SEED)
    directions = tf.math.l2_normalize(directions, axis=0)
    return tf.argmax(
        tf.matmul(tf.cast(latents, tf.float32), directions), axis=1, output_type=tf.int32
    )


def straight_alpha(images: tf.Tensor) -> tf.Tensor:
    """Premultiplied RGBA in [-1, 1] (what Transform writes and the generator learns) ->
    straight RGBA in [-1, 1], as PNG stores it: colour divided by alpha (black where alpha is
    0), colour never above alpha first."""
    unit = (tf.cast(images, tf.float32) + 1.0) / 2.0
    alpha = tf.clip_by_value(unit[..., 3:], 0.0, 1.0)
    colour = tf.math.divide_no_nan(tf.clip_by_value(unit[..., :3], 0.0, alpha), alpha)
    return tf.concat([colour, alpha], -1) * 2.0 - 1.0


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] floats -> uint8 pixels, rounded; the one quantisation used everywhere. RGBA
    (4 channels, premultiplied) comes out with straight alpha."""
    images = tf.cast(images, tf.float32)
    if images.shape[-1] == 4:
        images = straight_alpha(images)
    scaled = (images + 1.0) * 127.5
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)


def encode_pngs(images_uint8: tf.Tensor) -> tf.Tensor:
    return tf.map_fn(
        tf.io.encode_png, images_uint8, fn_output_signature=tf.TensorSpec([], tf.string)
    )


class GeneratorSignatures:
    """The generator's serving functions, one per signature of the contract.

    A class-conditional generator (``num_classes`` > 0) reads [latents, labels]: without
    labels, ``serving_default`` draws each seed's class from the seed (in proportion to
    ``class_shares`` when given) and ``from_latents`` from the latent (``labels_from_latents``).
    """

    def __init__(
        self,
        generator: keras.Model,
        latent_dim: int,
        num_classes: int = 0,
        class_shares: tuple[float, ...] | None = None,
    ):
        self.generator = generator
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.class_shares = class_shares

    def seed_labels(self, seeds: tf.Tensor) -> tf.Tensor | None:
        """The class each seed draws (``labels_from_seeds``); None when unconditional."""
        if not self.num_classes:
            return None
        return labels_from_seeds(seeds, self.num_classes, self.class_shares)

    def outputs(self, latents: tf.Tensor, labels: tf.Tensor | None) -> dict[str, tf.Tensor]:
        if self.num_classes:
            labels = tf.cast(labels, tf.int32)
            checks = [
                tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
                tf.debugging.assert_less(
                    labels, self.num_classes, message=f"labels must be < {self.num_classes}"
                ),
            ]
            with tf.control_dependencies(checks):
                labels = tf.identity(labels)
            images = self.generator([latents, labels], training=False)
        else:
            images = self.generator(latents, training=False)
        images = to_uint8(images)
        pngs = encode_pngs(images)
        return {IMAGES_OUTPUT: images, PNG_OUTPUT: pngs, PNG_BYTES_OUTPUT: tf.identity(pngs)}

    def from_seeds(self, seeds: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.outputs(latents_from_seeds(seeds, self.latent_dim), self.seed_labels(seeds))

    def from_latents(self, latents: tf.Tensor) -> dict[str, tf.Tensor]:
        labels = labels_from_latents(latents, self.num_classes) if self.num_classes else None
        return self.outputs(latents, labels)

    def with_labels(self, seeds: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.outputs(latents_from_seeds(seeds, self.latent_dim), labels)

    def from_latents_with_labels(self, latents: tf.Tensor, labels: tf.Tensor):
        return self.outputs(latents, labels)

    def truncated_latents(self, seeds: tf.Tensor, psi: tf.Tensor) -> tf.Tensor:
        return truncate_latents(latents_from_seeds(seeds, self.latent_dim), psi)

    def truncated(self, seeds: tf.Tensor, psi: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.outputs(self.truncated_latents(seeds, psi), self.seed_labels(seeds))

    def truncated_with_labels(self, seeds: tf.Tensor, labels: tf.Tensor, psi: tf.Tensor):
        return self.outputs(self.truncated_latents(seeds, psi), labels)

    def seed_latents(self, seeds: tf.Tensor, psi: tf.Tensor) -> dict[str, tf.Tensor]:
        return {LATENTS_OUTPUT: self.truncated_latents(seeds, psi)}

    def pngs(self, seeds: tf.Tensor) -> dict[str, tf.Tensor]:
        return {PNG_BYTES_OUTPUT: self.from_seeds(seeds)[PNG_BYTES_OUTPUT]}

    def endpoints(self) -> dict[str, tuple]:
        """Signature name -> (function, input signature), in the contract's order."""
        specs = {
            SEEDS_INPUT: tf.TensorSpec([None], tf.int64, name=SEEDS_INPUT),
            LATENTS_INPUT: tf.TensorSpec([None, self.latent_dim], tf.float32, name=LATENTS_INPUT),
            LABELS_INPUT: tf.TensorSpec([None], tf.int64, name=LABELS_INPUT),
            PSI_INPUT: tf.TensorSpec([None], tf.float32, name=PSI_INPUT),
        }
        functions = {
            contract.DEFAULT_SIGNATURE: self.from_seeds,
            FROM_LATENTS_SIGNATURE: self.from_latents,
            WITH_LABELS_SIGNATURE: self.with_labels,
            FROM_LATENTS_WITH_LABELS_SIGNATURE: self.from_latents_with_labels,
            TRUNCATED_SIGNATURE: self.truncated,
            TRUNCATED_WITH_LABELS_SIGNATURE: self.truncated_with_labels,
            SEED_LATENTS_SIGNATURE: self.seed_latents,
            PNGS_SIGNATURE: self.pngs,
        }
        return {
            name: (functions[name], [specs[key] for key in contract.signature_inputs(name)])
            for name in contract.signature_names(self.num_classes)
        }


def signature_inputs_for_seeds(
    signature_name: str, seeds, latent_dim: int, num_classes: int, psi: float = 1.0
) -> dict[str, np.ndarray]:
    """One signature's inputs for ``seeds``: the seeds, their latents, class ``seed % classes``
    and ``psi`` for each."""
    seeds = np.asarray(seeds, np.int64)
    values = {
        SEEDS_INPUT: seeds,
        LATENTS_INPUT: latents_from_seeds(seeds, latent_dim).numpy(),
        LABELS_INPUT: seeds % max(num_classes, 1),
        PSI_INPUT: np.full(seeds.shape, psi, np.float32),
    }
    return {key: values[key] for key in contract.signature_inputs(signature_name)}


def warmup_requests(latent_dim: int, num_classes: int) -> list[predict_pb2.PredictRequest]:
    """A few requests per signature (batches of ``WARMUP_BATCH_SIZES``), seeds from 0."""
    requests = []
    for name in contract.signature_names(num_classes):
        for size in WARMUP_BATCH_SIZES:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = name
            inputs = signature_inputs_for_seeds(
                name, range(size), latent_dim, num_classes, WARMUP_PSI
            )
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            requests.append(request)
    return requests


def export_generator(
    generator: keras.Model,
    latent_dim: int,
    export_dir: str,
    num_classes: int = 0,
    class_shares: tuple[float, ...] | None = None,
    class_names: tuple[str, ...] | None = None,
) -> str:
    """Writes the generator SavedModel, its info and its warmup requests to ``export_dir``;
    ``class_shares``: each class's share of the training set, which seeds draw by;
    ``class_names``: each label's class folder, for clients that ask by name."""
    archive = keras.export.ExportArchive()
    # No archive.track(generator): the endpoints track the variables they use, and tracking
    # the model as well stores every variable twice (keras-team/keras#23553).
    for name, (function, input_signature) in (
        GeneratorSignatures(generator, latent_dim, num_classes, class_shares).endpoints().items()
    ):
        archive.add_endpoint(name, function, input_signature=input_signature)
    archive.write_out(export_dir, verbose=False)
    _, height, width, channels = generator.output_shape
    info = {
        "latent_dim": latent_dim,
        "height": height,
        "width": width,
        "channels": channels,
        "num_classes": num_classes,
    }
    if class_shares is not None:
        info["class_shares"] = [float(share) for share in class_shares]
    if class_names is not None:
        info["class_names"] = list(class_names)
    extra_dir = os.path.join(export_dir, contract.ASSETS_EXTRA_DIR)
    tf.io.gfile.makedirs(extra_dir)
    with tf.io.gfile.GFile(os.path.join(extra_dir, GENERATOR_INFO_FILE), "w") as f:
        json.dump(info, f)
    warmup.write_warmup_file(export_dir, warmup_requests(latent_dim, num_classes))
    return export_dir
