"""Warm start: a training run that begins from the latest blessed model's training state.

The exported SavedModel holds only the EMA generator, so the Trainer also writes the whole
training state (G, D, the EMA generator, both optimisers and, when adaptive, ADA's
augmentation probability) as a ``tf.train.Checkpoint`` into the Model artifact, beside
``Format-Serving`` (``<model uri>/training_state/``) so that the Pusher, which copies
``Format-Serving`` only, does not ship it. A warm-started run restores that
state and trains ``train_steps`` more steps; the networks must have the same shapes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import keras
import tensorflow as tf

from artgan.config import DataConfig, TrainConfig, conditioning_mode
from artgan.contract import GENERATOR_INFO_FILE
from artgan.errors import ArtganError

log = logging.getLogger(__name__)

TRAIN_CONFIG_FILE = "train_config.json"  # in the ModelRun folder and the model's assets.extra
TRAINING_STATE_DIR = "training_state"  # in the Model artifact, beside Format-Serving
_STATE_PREFIX = "state"
_AUGMENT_PROBABILITY = "augment_probability"  # its name in the state, when ADA is on
# The config fields that decide the networks' variable shapes (num_classes is checked too).
SHAPE_FIELDS = (
    ("data", "resolution"),
    ("data", "channels"),
    ("train", "architecture"),
    ("train", "latent_dim"),
    ("train", "generator_width"),
    ("train", "discriminator_width"),
)
# conv's shape-deciding fields, with the value models from before each field existed had: its
# up blocks (transposed 4x4 or resize + 3x3 kernels) and where a conditional one reads labels.
CONV_FIELDS_BEFORE_THEY_EXISTED = {
    "generator_upsampling": "transposed",
    "generator_conditioning": "input",
}


def training_state_dir(serving_model_dir: str) -> str:
    """A Model artifact's training-state folder, given its ``Format-Serving`` folder."""
    return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), TRAINING_STATE_DIR)


def training_state(
    generator: keras.Model,
    discriminator: keras.Model,
    ema_generator: keras.Model,
    generator_optimizer: keras.optimizers.Optimizer,
    discriminator_optimizer: keras.optimizers.Optimizer,
) -> tf.train.Checkpoint:
    """What a warm start restores. Optimisers are saved without their loss scaling, so a state
    moves between GPU (mixed_float16), TPU (mixed_bfloat16) and CPU runs."""
    return tf.train.Checkpoint(
        generator=generator,
        discriminator=discriminator,
        ema_generator=ema_generator,
        generator_optimizer=_unscaled(generator_optimizer),
        discriminator_optimizer=_unscaled(discriminator_optimizer),
    )


def _unscaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    return getattr(optimizer, "inner_optimizer", optimizer)


def save_training_state(
    state: tf.train.Checkpoint, directory: str, augment_probability: tf.Variable | None = None
) -> None:
    """Writes ``state`` (and ADA's probability, when adaptive augmentation is on, which
    ``state`` then tracks too)."""
    if augment_probability is not None:
        setattr(state, _AUGMENT_PROBABILITY, augment_probability)
    state.write(os.path.join(directory, _STATE_PREFIX))


def restore_training_state(
    state: tf.train.Checkpoint, directory: str, augment_probability: tf.Variable | None = None
) -> None:
    """Loads ``directory``'s state into ``state``, whose optimisers must already be built, and
    ADA's probability into ``augment_probability`` when both runs adapt it (a state without
    one leaves it at its start, 0)."""
    prefix = os.path.join(directory, _STATE_PREFIX)
    try:
        state.read(prefix).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise ArtganError(
            f"warm start: the training state in {directory} does not fit this model ({error}); "
            "turn train.warm_start off (run without --warm-start) to train from scratch"
        ) from error
    saved = {name.split("/")[0] for name, _ in tf.train.list_variables(prefix)}
    if augment_probability is not None and _AUGMENT_PROBABILITY in saved:
        tf.train.Checkpoint(**{_AUGMENT_PROBABILITY: augment_probability}).read(
            prefix
        ).expect_partial()
        log.info("ADA's augmentation probability continues from %.3f", float(augment_probability))


def warm_start_source(
    base_model: str | None, data: DataConfig, train: TrainConfig, num_classes: int
) -> str:
    """The training-state folder to start from, or "" to train from scratch (logged).

    ``base_model`` is the latest blessed model's ``Format-Serving`` folder (the Trainer's
    ``fn_args.base_model``), None when no model has been blessed yet.
    """
    if not base_model:
        log.info("warm start: no blessed model yet, training from scratch")
        return ""
    state_dir = training_state_dir(base_model)
    if not tf.io.gfile.exists(os.path.join(state_dir, f"{_STATE_PREFIX}.index")):
        log.warning(
            "warm start: %s has no training state (it was trained before warm starts were "
            "possible), training from scratch",
            base_model,
        )
        return ""
    check_same_shapes(base_model, data, train, num_classes)
    log.info("warm start from %s", os.path.dirname(state_dir))
    return state_dir


def check_same_shapes(
    base_model: str, data: DataConfig, train: TrainConfig, num_classes: int
) -> None:
    """Raises ArtganError naming every shape-deciding field where ``base_model`` differs."""
    extra = os.path.join(base_model, "assets.extra")
    previous = _read_json(os.path.join(extra, TRAIN_CONFIG_FILE))
    current = {"data": dataclasses.asdict(data), "train": dataclasses.asdict(train)}
    previous["train"] = {**CONV_FIELDS_BEFORE_THEY_EXISTED, **previous.get("train", {})}
    for config in (previous, current):  # auto compared as what it built
        config["train"]["generator_conditioning"] = conditioning_mode(
            config["train"].get("architecture", ""), config["train"]["generator_conditioning"]
        )
    conv_fields = CONV_FIELDS_BEFORE_THEY_EXISTED if train.architecture == "conv" else {}
    fields = SHAPE_FIELDS + tuple(
        ("train", field)
        for field in conv_fields
        if num_classes or field != "generator_conditioning"
    )
    differences = [
        f"{section}.{field} ({previous.get(section, {}).get(field)!r} -> "
        f"{current[section][field]!r})"
        for section, field in fields
        if previous.get(section, {}).get(field) != current[section][field]
    ]
    previous_classes = _read_json(os.path.join(extra, GENERATOR_INFO_FILE)).get("num_classes", 0)
    if previous_classes != num_classes:
        differences.append(f"num_classes ({previous_classes} -> {num_classes})")
    if differences:
        raise ArtganError(
            f"warm start from {base_model}: the previous model differs in "
            f"{', '.join(differences)}, so its weights cannot initialise this one; turn "
            "train.warm_start off (run without --warm-start) to train from scratch"
        )


def _read_json(path: str) -> dict:
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except (tf.errors.NotFoundError, json.JSONDecodeError) as error:
        raise ArtganError(
            f"warm start: cannot read {path} ({error}); turn train.warm_start off "
            "(run without --warm-start) to train from scratch"
        ) from error
