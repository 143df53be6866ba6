"""One task of a multi-worker training run, for tests/test_multi_worker.py (run as a script).

TF_CONFIG (set by the test) says which task this is. Trains the default GAN at tiny widths on
in-memory 8x8 images through ``train_and_export`` and writes ``result.json`` (the training log
lines) and ``weights.npz`` (the exported generator's weights) into ``out_dir``.

    python tests/multi_worker_task.py OUT_DIR RUN_DIR CHECKPOINT_DIR EXPORT_DIR STEPS MINUTES
"""

from __future__ import annotations

import json
import logging
import os
import sys

import numpy as np
import tensorflow as tf

from artgan.config import DataConfig, TrainConfig
from artgan.models.training.strategy import hardware_strategy
from artgan.models.training.trainer import train_and_export

DATA = DataConfig(resolution=8, channels=1)


def train_config(train_steps: int, train_minutes: float) -> TrainConfig:
    return TrainConfig(
        train_steps=train_steps,
        train_minutes=train_minutes,
        batch_size=8,
        latent_dim=8,
        generator_width=16,
        discriminator_width=8,
        log_every_steps=1,
        sample_every_steps=2,
        checkpoint_every_steps=2,
        augment="",  # train_gan takes a chosen policy (auto is resolved before it)
    )


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def main(
    out_dir: str, run_dir: str, checkpoint_dir: str, export_dir: str, steps: str, minutes: str
) -> None:
    lines = Lines()
    logging.getLogger("artgan").addHandler(lines)
    logging.getLogger("artgan").setLevel(logging.INFO)
    logging.basicConfig(level=logging.INFO)
    train = train_config(int(steps), float(minutes))
    hardware_strategy(train)  # before the first TF op, as run_fn does
    images = np.random.default_rng(0).uniform(-1, 1, size=(64, 8, 8, 1)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(images).repeat().batch(8)
    generator = train_and_export(dataset, DATA, train, 0, run_dir, export_dir, checkpoint_dir)
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "weights.npz"), *generator.get_weights())
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump({"log": lines.lines}, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
