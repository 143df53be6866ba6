"""Exports a trained generator as a SavedModel with the serving contract clients rely on.

Signatures (served unchanged by the real TF Serving and by artgan's embedded server):
- ``serving_default``: ``seeds`` int64 [N] -> ``images`` uint8 [N,H,W,C], ``png`` string [N].
- ``from_latents``: ``latents`` float32 [N, latent_dim] (+ ``labels`` int64 [N] when
  class-conditional) -> the same outputs.
- ``with_labels`` (class-conditional only): ``seeds`` and ``labels`` int64 [N]. TF Serving has
  no optional inputs, so "labels if given, else drawn from the seed" is two signatures.

A seed's latent comes from a stateless normal draw keyed by the seed alone, so the same seed
gives the same image from the same version, whatever else is in the batch.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

SEEDS_INPUT = "seeds"
LATENTS_INPUT = "latents"
IMAGES_OUTPUT = "images"
PNG_OUTPUT = "png"
LABELS_INPUT = "labels"
FROM_LATENTS_SIGNATURE = "from_latents"
WITH_LABELS_SIGNATURE = "with_labels"  # class-conditional generators only: seeds + labels
GENERATOR_INFO_FILE = "generator.json"  # in the SavedModel's assets.extra: sizes for clients


def latents_from_seeds(seeds: tf.Tensor, latent_dim: int) -> tf.Tensor:
    """One standard-normal latent per int64 seed, independent of batch composition."""
    seeds = tf.cast(seeds, tf.int64)

    def draw(seed: tf.Tensor) -> tf.Tensor:
        return tf.random.stateless_normal([latent_dim], seed=tf.stack([seed, 0]))

    return tf.map_fn(draw, seeds, fn_output_signature=tf.TensorSpec([latent_dim], tf.float32))


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] floats -> uint8 pixels, rounded; the one quantisation used everywhere."""
    scaled = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)


def encode_pngs(images_uint8: tf.Tensor) -> tf.Tensor:
    return tf.map_fn(
        tf.io.encode_png, images_uint8, fn_output_signature=tf.TensorSpec([], tf.string)
    )


def labels_from_seeds(seeds: tf.Tensor, num_classes: int) -> tf.Tensor:
    """One class label per int64 seed (uniform), independent of batch composition."""

    def draw(seed: tf.Tensor) -> tf.Tensor:
        return tf.random.stateless_uniform(
            [], seed=tf.stack([seed, 1]), maxval=num_classes, dtype=tf.int32
        )

    return tf.map_fn(draw, tf.cast(seeds, tf.int64), fn_output_signature=tf.int32)


class GeneratorModule(tf.Module):
    """The exported object: the generator plus its signatures.

    A class-conditional generator (``num_classes`` > 0) reads [latents, labels]: its
    ``serving_default`` draws each seed's label from the seed, ``with_labels`` takes them, and
    ``from_latents`` takes ``latents`` and ``labels``.
    """

    def __init__(self, generator: keras.Model, latent_dim: int, num_classes: int = 0):
        super().__init__(name="artgan_generator")
        self.generator = generator
        self.latent_dim = latent_dim
        self.num_classes = num_classes

    def _outputs(self, latents: tf.Tensor, labels: tf.Tensor | None) -> dict[str, tf.Tensor]:
        if self.num_classes:
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
        return {IMAGES_OUTPUT: images, PNG_OUTPUT: encode_pngs(images)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name=SEEDS_INPUT)])
    def generate_from_seeds(self, seeds: tf.Tensor) -> dict[str, tf.Tensor]:
        labels = labels_from_seeds(seeds, self.num_classes) if self.num_classes else None
        return self._outputs(latents_from_seeds(seeds, self.latent_dim), labels)

    @tf.function
    def generate_with_labels(self, seeds: tf.Tensor, labels: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._outputs(latents_from_seeds(seeds, self.latent_dim), tf.cast(labels, tf.int32))

    @tf.function
    def generate_from_latents(self, latents: tf.Tensor, labels=None) -> dict[str, tf.Tensor]:
        return self._outputs(latents, None if labels is None else tf.cast(labels, tf.int32))

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        latents = tf.TensorSpec([None, self.latent_dim], tf.float32, name=LATENTS_INPUT)
        labels = tf.TensorSpec([None], tf.int64, name=LABELS_INPUT)
        seeds = tf.TensorSpec([None], tf.int64, name=SEEDS_INPUT)
        signatures = {"serving_default": self.generate_from_seeds}
        if self.num_classes:
            signatures[WITH_LABELS_SIGNATURE] = self.generate_with_labels.get_concrete_function(
                seeds, labels
            )
            signatures[FROM_LATENTS_SIGNATURE] = self.generate_from_latents.get_concrete_function(
                latents, labels
            )
        else:
            signatures[FROM_LATENTS_SIGNATURE] = self.generate_from_latents.get_concrete_function(
                latents
            )
        return signatures


def export_generator(
    generator: keras.Model, latent_dim: int, export_dir: str, num_classes: int = 0
) -> str:
    """Writes the generator SavedModel (with its signatures) to ``export_dir``."""
    module = GeneratorModule(generator, latent_dim, num_classes)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    _, height, width, channels = generator.output_shape
    info = {
        "latent_dim": latent_dim,
        "height": height,
        "width": width,
        "channels": channels,
        "num_classes": num_classes,
    }
    extra_dir = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra_dir)
    with tf.io.gfile.GFile(os.path.join(extra_dir, GENERATOR_INFO_FILE), "w") as f:
        json.dump(info, f)
    return export_dir
