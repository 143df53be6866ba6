"""Exports a trained generator as a SavedModel with the serving contract clients rely on.

Signatures (served unchanged by the real TF Serving and by artgan's embedded server):
- ``serving_default``: ``seeds`` int64 [N] -> ``images`` uint8 [N,H,W,C], ``png`` string [N].
- ``from_latents``: ``latents`` float32 [N, latent_dim] -> the same outputs.

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
FROM_LATENTS_SIGNATURE = "from_latents"
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


class GeneratorModule(tf.Module):
    """The exported object: the generator plus its two signatures."""

    def __init__(self, generator: keras.Model, latent_dim: int):
        super().__init__(name="artgan_generator")
        self.generator = generator
        self.latent_dim = latent_dim

    def _outputs(self, latents: tf.Tensor) -> dict[str, tf.Tensor]:
        images = to_uint8(self.generator(latents, training=False))
        return {IMAGES_OUTPUT: images, PNG_OUTPUT: encode_pngs(images)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name=SEEDS_INPUT)])
    def generate_from_seeds(self, seeds: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._outputs(latents_from_seeds(seeds, self.latent_dim))

    @tf.function
    def generate_from_latents(self, latents: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._outputs(latents)


def export_generator(generator: keras.Model, latent_dim: int, export_dir: str) -> str:
    """Writes the generator SavedModel (with both signatures) to ``export_dir``."""
    module = GeneratorModule(generator, latent_dim)
    latents_spec = tf.TensorSpec([None, latent_dim], tf.float32, name=LATENTS_INPUT)
    signatures = {
        "serving_default": module.generate_from_seeds,
        FROM_LATENTS_SIGNATURE: module.generate_from_latents.get_concrete_function(latents_spec),
    }
    tf.saved_model.save(module, export_dir, signatures=signatures)
    _, height, width, channels = generator.output_shape
    info = {"latent_dim": latent_dim, "height": height, "width": width, "channels": channels}
    extra_dir = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra_dir)
    with tf.io.gfile.GFile(os.path.join(extra_dir, GENERATOR_INFO_FILE), "w") as f:
        json.dump(info, f)
    return export_dir
