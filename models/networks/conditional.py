"""Class-conditional wrappers around any architecture (used when the images have labels).

The generator reads its latent concatenated with a learned label embedding of the same size;
the discriminator is a projection discriminator (Miyato & Koyama 2018): its logit plus the dot
product of a label embedding with the image features that feed its last layer.
"""

from __future__ import annotations

import keras
from keras import layers

from artgan.models.networks.blocks import LOGITS_LAYER


def conditional_generator(base: keras.Model, latent_dim: int, num_classes: int) -> keras.Model:
    """[latents [N, latent_dim], labels [N]] -> images; ``base`` reads 2 * latent_dim."""
    latents = keras.Input(shape=(latent_dim,), name="latents")
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    embedded = layers.Embedding(num_classes, latent_dim, name="label_embedding")(labels)
    joined = layers.Concatenate()([latents, layers.Activation("linear")(embedded)])
    return keras.Model([latents, labels], base(joined), name="conditional_generator")


def projection_discriminator(base: keras.Model, num_classes: int) -> keras.Model:
    """[images, labels [N]] -> logits: base logit + <embed(label), features>.

    A base with a second output (its reconstruction, ``blocks.RECONSTRUCTION_LAYER``) keeps it:
    [images, labels] -> [logits, reconstruction].
    """
    logits_layer = base.get_layer(LOGITS_LAYER)
    extras = list(base.outputs[1:])
    trunk = keras.Model(
        base.inputs,
        [logits_layer.input, *extras] if extras else logits_layer.input,
        name="discriminator_trunk",
    )
    images = keras.Input(shape=base.input_shape[1:], name="images")
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    features, *extra_outputs = trunk(images) if extras else [trunk(images)]
    embedded = layers.Embedding(num_classes, features.shape[-1], name="label_projection")(labels)
    projection = layers.Dot(axes=1, dtype="float32")([embedded, features])
    logits = layers.Add(dtype="float32")([logits_layer(features), projection])
    outputs = [logits, *extra_outputs] if extras else logits
    return keras.Model([images, labels], outputs, name="conditional_discriminator")
