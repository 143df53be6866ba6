"""The Trainer's ``run_fn``: trains the GAN on transformed examples and exports the generator.

Writes into the ModelRun directory: ``train_config.json`` (the fully resolved config),
``samples/step_NNNNNN.png`` fixed-seed grids during training, and ``samples/final.png``.
Exports only the generator, with the serving signatures of ``export.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from artgan.errors import ArtganError
from artgan.models import export, grid, networks
from artgan.models.dataset import image_dataset
from artgan.models.ema import GeneratorEma, ema_decay
from artgan.models.gan import AdversarialTrainer
from artgan.pipeline.config import DataConfig, TrainConfig

log = logging.getLogger(__name__)

SAMPLE_SEEDS = tuple(range(16))  # the same seeds `artgan generate --seeds 0-15` asks for


def hardware_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy (with mixed precision) when GPUs are visible, else the default."""
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def sample_images(generator: keras.Model, latent_dim: int) -> np.ndarray:
    """uint8 images for ``SAMPLE_SEEDS``, quantised exactly as the server does."""
    latents = export.latents_from_seeds(tf.constant(SAMPLE_SEEDS, tf.int64), latent_dim)
    return export.to_uint8(generator(latents, training=False)).numpy()


def _optimizer(learning_rate: float, beta1: float) -> keras.optimizers.Optimizer:
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta1)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def train_gan(
    dataset: tf.data.Dataset, data: DataConfig, train: TrainConfig, run_dir: str
) -> keras.Model:
    """Trains for ``train.train_steps`` and returns the EMA generator; writes grids to run_dir."""
    keras.utils.set_random_seed(train.seed)
    strategy = hardware_strategy()
    global_batch = train.batch_size * strategy.num_replicas_in_sync
    with strategy.scope():
        generator = networks.build_generator(
            train.latent_dim, data.resolution, data.channels, train.generator_width
        )
        discriminator = networks.build_discriminator(
            data.resolution,
            data.channels,
            train.discriminator_width,
            train.discriminator_dropout,
        )
        ema = GeneratorEma(generator, ema_decay(global_batch, train.ema_kimg))
        trainer = AdversarialTrainer(
            strategy,
            generator,
            discriminator,
            _optimizer(train.generator_learning_rate, train.adam_beta1),
            _optimizer(train.discriminator_learning_rate, train.adam_beta1),
            train.latent_dim,
            global_batch,
        )
    batches = iter(strategy.experimental_distribute_dataset(dataset.rebatch(global_batch)))
    progress = _Progress(train.train_steps, global_batch)
    for step in range(1, train.train_steps + 1):
        d_loss, g_loss = trainer.step(next(batches))
        ema.update()
        if step % train.log_every_steps == 0 or step == train.train_steps:
            progress.report(step, float(d_loss), float(g_loss))
        if step % train.sample_every_steps == 0:
            grid.save_grid(
                sample_images(ema.model, train.latent_dim),
                os.path.join(run_dir, "samples", f"step_{step:06d}.png"),
            )
    grid.save_grid(
        sample_images(ema.model, train.latent_dim), os.path.join(run_dir, "samples", "final.png")
    )
    return ema.model


class _Progress:
    """Logs steps/s, images/s, losses and ETA; stops training on non-finite losses."""

    def __init__(self, total_steps: int, batch_size: int):
        self.total_steps = total_steps
        self.batch_size = batch_size
        self.start = time.monotonic()

    def report(self, step: int, d_loss: float, g_loss: float) -> None:
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            raise ArtganError(
                f"training diverged at step {step}: d_loss={d_loss}, g_loss={g_loss}; "
                "lower the learning rates or check the input images"
            )
        elapsed = time.monotonic() - self.start
        steps_per_s = step / max(elapsed, 1e-9)
        eta = (self.total_steps - step) / max(steps_per_s, 1e-9)
        log.info(
            "step %d/%d  %.1f steps/s  %.0f images/s  d_loss %.4f  g_loss %.4f  ETA %.0fs",
            step,
            self.total_steps,
            steps_per_s,
            steps_per_s * self.batch_size,
            d_loss,
            g_loss,
            eta,
        )


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor), named by dotted path in the pipeline."""
    custom = fn_args.custom_config or {}
    data = DataConfig(**custom.get("data", {}))
    train = TrainConfig(**{**custom.get("train", {}), "train_steps": fn_args.train_steps})
    run_dir = fn_args.model_run_dir
    tf.io.gfile.makedirs(run_dir)
    with tf.io.gfile.GFile(os.path.join(run_dir, "train_config.json"), "w") as f:
        resolved = {"data": dataclasses.asdict(data), "train": dataclasses.asdict(train)}
        json.dump(resolved, f, indent=2)
    feature_spec = tft.TFTransformOutput(fn_args.transform_output).transformed_feature_spec()
    dataset = image_dataset(fn_args.train_files, feature_spec, train.batch_size, train.seed)
    generator = train_gan(dataset, data, train, run_dir)
    export.export_generator(generator, train.latent_dim, fn_args.serving_model_dir)
