"""The tiny real pipeline run that end-to-end tests share: 60 real digits, a few steps."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from artgan import datasets
from artgan.config import DataConfig, EvalConfig, PipelineConfig, TrainConfig

TINY_DIGITS = (0, 1, 7)  # the class folders


def write_tiny_digits(folder) -> str:
    """60 real 8x8 digits (three classes of 20) as PNG files in class folders."""
    pixels, labels = datasets.digit_pixels()
    for digit in TINY_DIGITS:
        os.makedirs(folder / str(digit))
        for index in np.flatnonzero(labels == digit)[:20]:
            Image.fromarray(pixels[index]).save(folder / str(digit) / f"d{index}.png")
    return str(folder)


def tiny_config(home: str, data_dir: str, **eval_overrides) -> PipelineConfig:
    return PipelineConfig(
        home=home,
        data_dir=data_dir,
        data=DataConfig(resolution=8, channels=1),
        train=TrainConfig(
            train_steps=6,
            batch_size=8,
            latent_dim=8,
            generator_width=16,
            discriminator_width=8,
            sample_every_steps=3,
            log_every_steps=3,
        ),
        # 60 images and 2 epochs make a weak classifier: its accuracy and KID are not gated here.
        eval=EvalConfig(
            num_samples=40,
            classifier_epochs=2,
            min_classifier_accuracy=0.0,
            kid_threshold=None,
            **{"fid_max_over_floor": None, **eval_overrides},
        ),
    )
