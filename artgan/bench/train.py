"""Training: throughput against the TensorFlow DCGAN tutorial's loop, step speed, time to quality.

Throughput: both loops train the tutorial's 28x28 networks (``architecture='dcgan'``) at the
same batch size on the same in-memory images; images/s is measured after a warm-up, alternating
the two loops in rounds so that a busy machine slows both alike. Our step includes the
generator EMA update.

Step speed (``step_speed.py``): images/s of the default 64x64 RGBA training step in float32,
mixed bfloat16, with XLA and with both, and in float32 without augmentation or with DiffAugment
on every image, alternating in rounds.

Time to quality (``time_to_quality.py``): the default recipe and the DCGAN reference trained for
the same wall-clock budget on each data set, scored by the evaluator's feature network; sample
grids of each are written beside the JSON result.

Workers (``multi_worker.py``): steps/s and images/s of ``--workers`` training processes on
loopback ports against one, at the same global batch, and whether their loss curves agree
within run-to-run noise; each run's configs, task logs and results go beside the JSON result.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from artgan.bench import multi_worker, step_speed, time_to_quality
from artgan.config import ALL_AUGMENT, DataConfig, TrainConfig
from artgan.errors import ArtganError
from artgan.models import networks
from artgan.models.training.ema import GeneratorEma, ema_decay
from artgan.models.training.gan import AdversarialRecipe, AdversarialTrainer

TUTORIAL_LATENT_DIM = 100


PARTS = ("throughput", "step", "quality", "workers")
# Architectures the default recipe can take at any resolution (dcgan is 28x28 only).
SCALING_ARCHITECTURES = tuple(a for a in networks.ARCHITECTURES if a != "dcgan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", choices=PARTS, default="", help="run one part (default: all)")
    throughput = parser.add_argument_group("throughput")
    throughput.add_argument("--batch-size", type=int, default=256)
    throughput.add_argument("--steps", type=int, default=30, help="timed steps per round and loop")
    throughput.add_argument(
        "--rounds", type=int, default=3, help="rounds the loops (and step variants) alternate in"
    )
    throughput.add_argument("--warmup-steps", type=int, default=5)
    step = parser.add_argument_group("step speed")
    step.add_argument(
        "--step-variants",
        default=",".join(step_speed.VARIANTS),
        help="comma-separated, from: %(default)s",
    )
    step.add_argument(
        "--step-seconds",
        type=float,
        default=20.0,
        help="timed training per round and variant (%(default)s)",
    )
    step.add_argument(
        "--step-resolution",
        type=int,
        default=DataConfig().cpu_max_resolution,
        help="what data.resolution=auto picks on CPUs (%(default)s)",
    )
    step.add_argument("--step-batch-size", type=int, default=TrainConfig().batch_size)
    step.add_argument(
        "--step-architecture", choices=networks.ARCHITECTURES, default=TrainConfig().architecture
    )
    quality = parser.add_argument_group("time to quality")
    quality.add_argument(
        "--budget-seconds",
        type=float,
        default=300.0,
        help="training time per recipe and data set (%(default)s)",
    )
    quality.add_argument(
        "--slice-seconds",
        type=float,
        default=10.0,
        help="the recipes take turns training this long (%(default)s)",
    )
    embedded = [
        name for name in time_to_quality.DATASETS if name not in time_to_quality.FOLDER_DATASETS
    ]
    quality.add_argument(
        "--datasets",
        default=",".join(embedded),
        help=f"comma-separated, from: {', '.join(time_to_quality.DATASETS)} (%(default)s; "
        "emoji needs --emoji-dir)",
    )
    quality.add_argument(
        "--also-architectures",
        default="",
        help="comma-separated: also train the default recipe with these (e.g. resnet)",
    )
    quality.add_argument(
        "--also-recipes",
        default="",
        help="comma-separated ARCHITECTURE[+da|+ada][+norecon][+noema][+FIELD=VALUE]: also "
        "train the default recipe with that architecture, DiffAugment "
        f"{ALL_AUGMENT} on every image (da) or adaptive (ada), without D's "
        "reconstruction loss (norecon), sampled from the raw generator instead of its EMA "
        "(noema), with a TrainConfig field set (FIELD=VALUE), e.g. "
        "fastgan+ada,conv+batch_size=32",
    )
    quality.add_argument(
        "--emoji-dir",
        default="",
        help="the emoji data set's folder, as `artgan data emoji --out DIR` writes it",
    )
    quality.add_argument(
        "--samples", type=int, default=10_000, help="generated images scored per point"
    )
    quality.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="training seeds per data set; the aim is judged on median FDs (%(default)s)",
    )
    workers = parser.add_argument_group("workers")
    workers.add_argument(
        "--workers",
        type=int,
        default=2,
        help="training processes compared against one (%(default)s)",
    )
    workers.add_argument(
        "--worker-steps", type=int, default=128, help="timed steps per run (%(default)s)"
    )
    workers.add_argument(
        "--worker-warmup-steps",
        type=int,
        default=TrainConfig().r1_interval,
        help="untimed steps first: one lazy-R1 cycle (%(default)s)",
    )
    workers.add_argument(
        "--worker-batch-size",
        type=int,
        default=TrainConfig().batch_size,
        help="the global batch, split over the workers (%(default)s)",
    )
    workers.add_argument(
        "--worker-resolution",
        type=int,
        default=0,
        help="of the digits; 0: what data.resolution=auto picks for them",
    )
    workers.add_argument(
        "--worker-timeout", type=float, default=900.0, help="seconds per run (%(default)s)"
    )


def tutorial_step_fn(generator, discriminator, batch_size: int):
    """The tutorial's train_step, verbatim in substance (Adam 1e-4, cross-entropy losses)."""
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(1e-4)
    discriminator_optimizer = keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, TUTORIAL_LATENT_DIM])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = cross_entropy(tf.ones_like(real_output), real_output) + cross_entropy(
                tf.zeros_like(fake_output), fake_output
            )
        gen_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
        disc_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(
            zip(gen_grads, generator.trainable_variables, strict=True)
        )
        discriminator_optimizer.apply_gradients(
            zip(disc_grads, discriminator.trainable_variables, strict=True)
        )

    return train_step


def artgan_step_fn(train: TrainConfig, data: DataConfig):
    generator, discriminator = networks.build_networks(train, data)
    trainer = AdversarialTrainer(
        tf.distribute.get_strategy(),
        generator,
        discriminator,
        keras.optimizers.Adam(1e-4),
        keras.optimizers.Adam(1e-4),
        train.latent_dim,
        train.batch_size,
        AdversarialRecipe(simultaneous=True),
    )
    ema = GeneratorEma(generator, ema_decay(train.batch_size, train.ema_kimg))

    def step(images):
        trainer.step(images)
        ema.update()

    return step


def _images_per_second(step, images: tf.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step(images)
    _ = float(tf.reduce_sum(images))  # nothing pending
    return steps * int(images.shape[0]) / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> dict:
    datasets, architectures, recipes = _quality_options(args)  # checked before any work starts
    variants = _step_options(args)
    worker_options = _worker_options(args)
    result = {}
    if args.only in ("", "throughput"):
        result["throughput"] = throughput(args)
    if args.only in ("", "step"):
        result["step"] = step_speed.step_speed(
            variants,
            args.rounds,
            args.step_seconds,
            args.step_resolution,
            args.step_batch_size,
            args.step_architecture,
        )
    if args.only in ("", "quality"):
        result["time_to_quality"] = quality(args, datasets, architectures, recipes)
    if args.only in ("", "workers"):
        work_dir = os.path.splitext(args.out)[0] + "_workers"
        result["workers"] = multi_worker.compare_workers(worker_options, work_dir)
    return result


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _quality_options(
    args: argparse.Namespace,
) -> tuple[list[str], tuple[str, ...], tuple[str, ...]]:
    """The data sets, extra architectures and recipe variants asked for; ArtganError for
    unknown ones, and for a folder data set whose folder is not given."""
    datasets, architectures = _names(args.datasets), tuple(_names(args.also_architectures))
    recipes = tuple(_names(args.also_recipes))
    for flag, names, choices in (
        ("--datasets", datasets, time_to_quality.DATASETS),
        ("--also-architectures", architectures, SCALING_ARCHITECTURES),
    ):
        if set(names) - set(choices):
            raise ArtganError(f"{flag} {','.join(names)!r}: choose from {', '.join(choices)}")
    for spec in recipes:
        if time_to_quality.parse_variant(spec)[0] not in SCALING_ARCHITECTURES:
            raise ArtganError(
                f"--also-recipes {spec!r}: the architecture must be one of "
                f"{', '.join(SCALING_ARCHITECTURES)}"
            )
        time_to_quality.default_variant(64, 1, spec)  # names a FIELD=VALUE that does not fit
    if not datasets:
        raise ArtganError("--datasets is empty")
    if "emoji" in datasets:
        time_to_quality.folder_images("emoji", args.emoji_dir)  # names what is missing
    if args.budget_seconds <= 0 or args.slice_seconds <= 0 or args.samples < 2 or args.seeds < 1:
        raise ArtganError(
            "--budget-seconds and --slice-seconds must be > 0, --samples >= 2, --seeds >= 1"
        )
    return datasets, architectures, recipes


def _step_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The step variants asked for; ArtganError for unknown ones and impossible sizes."""
    variants = step_speed.parse_variants(args.step_variants)
    try:
        DataConfig(resolution=args.step_resolution).validate()
    except ArtganError as error:
        raise ArtganError(f"--step-resolution: {error}") from error
    if args.step_seconds <= 0 or args.step_batch_size < 1 or args.rounds < 1:
        raise ArtganError("--step-seconds must be > 0, --step-batch-size and --rounds >= 1")
    return variants


def _worker_options(args: argparse.Namespace) -> multi_worker.WorkerOptions:
    return multi_worker.check_options(
        multi_worker.WorkerOptions(
            workers=args.workers,
            steps=args.worker_steps,
            warmup_steps=args.worker_warmup_steps,
            global_batch=args.worker_batch_size,
            resolution=args.worker_resolution or multi_worker.default_resolution(),
            timeout_s=args.worker_timeout,
        )
    )


def quality(
    args: argparse.Namespace,
    datasets: list[str],
    architectures: tuple[str, ...],
    recipes: tuple[str, ...] = (),
) -> dict:
    """Per data set: FD of the default recipe and the reference over the same budget."""
    grids_dir = os.path.splitext(args.out)[0] + "_grids"
    return {
        name: time_to_quality.compare_on(
            name,
            args.budget_seconds,
            args.slice_seconds,
            args.samples,
            grids_dir,
            seeds=tuple(range(args.seeds)),
            also_architectures=architectures,
            also_recipes=recipes,
            folder=args.emoji_dir if name == "emoji" else "",
        )
        for name in datasets
    }


def throughput(args: argparse.Namespace) -> dict:
    data = DataConfig(resolution=28, channels=1)
    train = dataclasses.replace(
        TrainConfig(),
        architecture="dcgan",
        batch_size=args.batch_size,
        latent_dim=TUTORIAL_LATENT_DIM,
    )
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (args.batch_size, 28, 28, 1)).astype(np.float32))
    tutorial_g, tutorial_d = networks.build_networks(train, data)
    loops = {
        "tutorial": tutorial_step_fn(tutorial_g, tutorial_d, args.batch_size),
        "artgan": artgan_step_fn(train, data),
    }
    for step in loops.values():
        for _ in range(args.warmup_steps):
            step(images)
    rounds = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, step in loops.items():
            rounds[name].append(_images_per_second(step, images, args.steps))
    medians = {name: float(np.median(values)) for name, values in rounds.items()}
    return {
        "architecture": "dcgan",
        "batch_size": args.batch_size,
        "devices": [d.name for d in tf.config.list_physical_devices()],
        "images_per_second": medians,
        "rounds": rounds,
        "artgan_vs_tutorial": medians["artgan"] / medians["tutorial"],
    }
