"""Step speed: images/s of the default training step in float32, bfloat16, XLA and both, and
in float32 without augmentation, with DiffAugment on every image, or with adaptive augmentation
whose probability is held at 0.

The step is the one ``artgan run`` trains for an unlabelled folder of RGBA art at the size
``data.resolution=auto`` picks on CPUs (``DataConfig.cpu_max_resolution``): ``TrainConfig``'s
defaults (architecture, batch size, loss, lazy R1, generator EMA, and the DiffAugment
train.augment=auto picks for a collection of that size) on random images in memory, so the input
pipeline is not measured. Each variant builds fresh networks under its Keras mixed-precision
policy (process-global, so it is set around everything the variant does and restored after), its
``TrainConfig.jit_compile`` and its augmentation: ``auto`` (the default's adaptive augmentation;
on the one repeated batch D soon memorises, its probability rises above 0), ``idle`` (the same
with the probability held at 0 before every step, as for much of a run on the emoji, where no
transform is computed), ``none`` or ``all`` (``ALL_AUGMENT`` on every image, not adaptive).
``mixed_bfloat16`` needs no loss scaling: bfloat16 has float32's exponent range (the trainer
wraps its optimisers in a LossScaleOptimizer for ``mixed_float16`` only); outputs, losses and
variables stay float32.

All variants are built first (seeding makes a traced step retrace), then each warms up for
one R1 cycle (``train.r1_interval`` steps), so both of its step functions are traced (and
XLA-compiled) before timing; then the variants take turns training for ``--step-seconds``
each, in ``--rounds`` rounds, so that a busy machine slows them alike. A variant's images/s is
its images over its own timed seconds, all rounds together (the lazy R1 step, dearer than the
others, lands in some rounds only). Losses must stay finite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from artgan.config import ALL_AUGMENT, DataConfig, TrainConfig
from artgan.errors import ArtganError
from artgan.models import networks
from artgan.models.training import trainer
from artgan.models.training.ema import GeneratorEma, ema_decay

CHANNELS = 4  # RGBA art: data.channels=auto picks 4 when a tenth of the images is transparent
COLLECTION_IMAGES = 1906  # the emoji benchmark's size: train.augment=auto augments its step
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo: bfloat16 arithmetic in hardware


@dataclasses.dataclass(frozen=True)
class Variant:
    policy: str  # the keras.mixed_precision policy the networks are built and trained under
    jit_compile: str  # TrainConfig.jit_compile
    # auto: the default's; idle: the default's with ADA's probability held at 0; none; all:
    # ALL_AUGMENT on every image
    augment: str = "auto"

    def train_config(self, train: TrainConfig) -> TrainConfig:
        """``train`` (the default step's config) with this variant's XLA and augmentation."""
        train = dataclasses.replace(train, jit_compile=self.jit_compile)
        if self.augment == "none":
            return dataclasses.replace(train, augment="", augment_adaptive=False)
        if self.augment == "all":
            return dataclasses.replace(train, augment=ALL_AUGMENT, augment_adaptive=False)
        return train


VARIANTS = {
    "float32": Variant("float32", "off"),
    "bfloat16": Variant("mixed_bfloat16", "off"),
    "xla": Variant("float32", "on"),
    "bfloat16_xla": Variant("mixed_bfloat16", "on"),
    "no_augment": Variant("float32", "off", "none"),
    "augment_all": Variant("float32", "off", "all"),
    "ada_idle": Variant("float32", "off", "idle"),
}


@contextlib.contextmanager
def precision_policy(name: str):
    """Sets the global Keras dtype policy ``name`` for the block, then restores the previous."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as the kernel reports them (empty where it does not)."""
    try:
        with open(path) as f:
            return {flag for line in f if line.startswith("flags") for flag in line.split()[2:]}
    except OSError:
        return set()


def parse_variants(text: str) -> tuple[str, ...]:
    """'float32,bfloat16' -> its names, checked; ArtganError names the unknown ones."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names or set(names) - set(VARIANTS):
        raise ArtganError(f"--step-variants {text!r}: choose from {', '.join(VARIANTS)}")
    return names


class TimedStep:
    """One variant's G, D, optimisers and EMA, trained on one batch of in-memory images."""

    def __init__(self, name: str, train: TrainConfig, data: DataConfig, images: tf.Tensor):
        self.name = name
        self.variant = VARIANTS[name]
        self.train = self.variant.train_config(train)
        self.images = images
        self.seconds = 0.0
        self.steps = 0
        self.rounds: list[float] = []  # images/s of each timed round
        with precision_policy(self.variant.policy):
            keras.utils.set_random_seed(self.train.seed)  # every variant starts from one G and D
            strategy = tf.distribute.get_strategy()
            generator, discriminator = networks.build_networks(self.train, data)
            self.ema = GeneratorEma(generator, ema_decay(train.batch_size, train.ema_kimg))
            self.trainer = trainer.adversarial_trainer(
                self.train, strategy, generator, discriminator, train.batch_size
            )
        self.losses = (math.nan, math.nan)  # (D, G) after the latest step
        self.warmup_seconds = math.nan

    def warm_up(self) -> None:
        """One R1 cycle: traces (and compiles) the plain and the R1 step, untimed."""
        self.warmup_seconds = self._run(self.train.r1_interval)

    def _run(self, steps: int) -> float:
        """Trains ``steps`` steps; their seconds, waiting for the last to finish."""
        with precision_policy(self.variant.policy):
            started = time.perf_counter()
            for _ in range(steps):
                if self.variant.augment == "idle":
                    self.trainer.augment_probability.assign(0.0)
                d_loss, g_loss = self.trainer.step(self.images)
                self.ema.update()
            self.losses = (float(d_loss), float(g_loss))
            seconds = time.perf_counter() - started
        if not all(math.isfinite(loss) for loss in self.losses):
            raise ArtganError(f"step variant {self.name}: the (D, G) losses are {self.losses}")
        return seconds

    def train_for(self, seconds: float) -> None:
        """Whole steps until ``seconds`` have passed (at least one), timed."""
        started, steps = time.perf_counter(), 0
        while time.perf_counter() - started < seconds or not steps:
            self._run(1)
            steps += 1
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        self.steps += steps
        self.rounds.append(steps * self.train.batch_size / elapsed)

    def samples_finite(self) -> bool:
        """Whether the EMA generator's images are finite and in [-1, 1]."""
        with precision_policy(self.variant.policy):
            latents = tf.random.normal([self.train.batch_size, self.train.latent_dim])
            images = self.ema.model(latents, training=False).numpy()
        return bool(np.isfinite(images).all() and np.abs(images).max() <= 1.0)

    @property
    def images_per_second(self) -> float:
        return self.steps * self.train.batch_size / self.seconds


def step_speed(
    variants: tuple[str, ...],
    rounds: int,
    seconds: float,
    resolution: int,
    batch_size: int,
    architecture: str,
) -> dict:
    """images/s of the default step per variant (``VARIANTS``), alternating in rounds."""
    train, _ = TrainConfig().with_augment_for(COLLECTION_IMAGES)
    train = dataclasses.replace(train, batch_size=batch_size, architecture=architecture)
    data = DataConfig(resolution=resolution, channels=CHANNELS)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(-1, 1, (batch_size, resolution, resolution, CHANNELS))
    images = tf.constant(pixels.astype(np.float32))
    # All are built before any is traced: seeding (in each build) makes tf.functions retrace.
    steps = {name: TimedStep(name, train, data, images) for name in variants}
    for step in steps.values():
        step.warm_up()
    for _ in range(rounds):
        for step in steps.values():
            step.train_for(seconds)
    speeds = {name: step.images_per_second for name, step in steps.items()}
    return {
        "architecture": architecture,
        "resolution": resolution,
        "channels": CHANNELS,
        "batch_size": batch_size,
        "r1_interval": train.r1_interval,
        "default_augment": {"policy": train.augment, "adaptive": train.augment_adaptive},
        "devices": [d.name for d in tf.config.list_physical_devices()],
        "cpu_bf16_flags": sorted(cpu_flags() & set(CPU_BF16_FLAGS)),
        # oneDNN kernels: about 2x the step on AVX2-only CPUs (artgan/__init__.py)
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
        "variants": {name: dataclasses.asdict(VARIANTS[name]) for name in variants},
        "images_per_second": speeds,
        "vs_float32": {name: speed / speeds["float32"] for name, speed in speeds.items()}
        if "float32" in speeds
        else {},
        "rounds": {name: step.rounds for name, step in steps.items()},
        "timed_steps": {name: step.steps for name, step in steps.items()},
        "warmup_seconds": {name: step.warmup_seconds for name, step in steps.items()},
        "final_losses": {name: list(step.losses) for name, step in steps.items()},
        "samples_finite": {name: step.samples_finite() for name, step in steps.items()},
    }
