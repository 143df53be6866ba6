"""One task of ``artgan bench train --only workers`` (started by ``local_cluster.run_cluster``).

    python -m artgan.bench.multi_worker_task --config CONFIG.json --images IMAGES.npz --out OUT

CONFIG.json holds a resolved ``DataConfig`` and ``TrainConfig`` (``batch_size`` per worker: the
global batch is it times the tasks in TF_CONFIG); IMAGES.npz the training images in [-1, 1]
(``images``) and their labels (``labels``), kept in memory. The task trains with the Trainer's
own loop (``trainer.train_gan``, under MultiWorkerMirroredStrategy when TF_CONFIG names a
cluster) for ``train_steps`` steps, logging every step, and writes to OUT each step's end time
(seconds since this process began training, taken when the step's progress line is logged:
the losses are read back every step, so each step has finished by then) and its losses (the
global batch's, the same on every task).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import time

import numpy as np
import tensorflow as tf

from artgan.config import DataConfig, TrainConfig
from artgan.models.training.strategy import cluster_task, hardware_strategy
from artgan.models.training.trainer import train_gan

PROGRESS_LOGGER = "artgan.models.training.progress"
PROGRESS_LINE = re.compile(r"step (\d+)/\d+ .* d_loss (\S+)  g_loss (\S+)")


class StepTimes(logging.Handler):
    """Each progress line's step, time (since ``start``) and losses."""

    def __init__(self, start: float):
        super().__init__(logging.INFO)
        self.start = start
        self.steps: list[int] = []
        self.seconds: list[float] = []
        self.d_loss: list[float] = []
        self.g_loss: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        now = time.perf_counter() - self.start
        match = PROGRESS_LINE.match(record.getMessage())
        if match:
            self.steps.append(int(match[1]))
            self.seconds.append(now)
            self.d_loss.append(float(match[2]))
            self.g_loss.append(float(match[3]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with open(args.config) as f:
        config = json.load(f)
    data, train = DataConfig(**config["data"]), TrainConfig(**config["train"])
    start = time.perf_counter()
    strategy = hardware_strategy(train)  # before the first TF op (a multi-worker strategy)
    arrays = np.load(args.images)
    images, labels = arrays["images"], arrays["labels"].astype(np.int32)
    num_classes = int(labels.max()) + 1 if train.conditional else 0
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=train.seed).repeat()
    dataset = dataset.batch(train.batch_size, drop_remainder=True)
    if not num_classes:
        dataset = dataset.map(lambda images, _: images)
    times = StepTimes(start)
    logging.getLogger(PROGRESS_LOGGER).addHandler(times)
    run_dir = os.path.splitext(args.out)[0] + "_run"
    train_gan(dataset, data, train, run_dir, num_classes=num_classes)
    result = {
        "task": dataclasses.asdict(cluster_task()),
        "replicas": strategy.num_replicas_in_sync,
        "global_batch": train.batch_size * strategy.num_replicas_in_sync,
        "step": times.steps,
        "seconds": times.seconds,
        "d_loss": times.d_loss,
        "g_loss": times.g_loss,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
