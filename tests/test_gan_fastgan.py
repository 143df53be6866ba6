"""The adversarial step with ``fastgan``'s self-supervised discriminator (its reconstruction
loss on real images), and the whole training loop with it."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from artgan.config import DataConfig, TrainConfig
from artgan.contract.bundle import SavedModelBundle
from artgan.models.export import export_generator
from artgan.models.networks import build_networks
from artgan.models.training import losses, trainer
from artgan.models.training.trainer import train_gan

DATA = DataConfig(resolution=16, channels=3)
TRAIN = TrainConfig(
    architecture="fastgan",
    train_steps=4,
    batch_size=8,
    latent_dim=8,
    generator_width=16,
    discriminator_width=8,
    sample_every_steps=2,
    log_every_steps=2,
    r1_interval=2,
    augment="color,translation,cutout",
    augment_adaptive=True,
)


def _images(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth images, so a small decoder can learn them: random 4x4 colours upsampled.
    coarse = rng.uniform(-1.0, 1.0, size=(count, 4, 4, DATA.channels)).astype(np.float32)
    return tf.image.resize(coarse, [DATA.resolution, DATA.resolution]).numpy()


def test_reconstruction_error_is_the_mse_against_the_resized_images():
    images = tf.random.uniform([2, 16, 16, 3], -1.0, 1.0)
    target = tf.image.resize(images, [8, 8], antialias=True)
    reconstruction = target + tf.constant([0.5, -0.25])[:, None, None, None]
    error = losses.reconstruction_error(reconstruction, images).numpy()
    assert np.allclose(error, [0.25, 0.0625], atol=1e-6)
    assert losses.reconstruction_error(images, images).numpy().tolist() == [0.0, 0.0]


def _trainer(train: TrainConfig, strategy=None):
    strategy = strategy or tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        generator, discriminator = build_networks(train, DATA)
        step_trainer = trainer.adversarial_trainer(
            train, strategy, generator, discriminator, train.batch_size
        )
    return step_trainer, strategy


def _first_d_loss(weight: float, images: np.ndarray) -> float:
    keras.utils.set_random_seed(5)
    train = dataclasses.replace(TRAIN, reconstruction_weight=weight, augment="", r1_gamma=0.0)
    step_trainer, _ = _trainer(train)
    d_loss, _ = step_trainer.step(tf.constant(images))
    return float(d_loss)


def test_the_reconstruction_loss_is_part_of_the_discriminator_loss():
    images = _images(TRAIN.batch_size)
    without = _first_d_loss(0.0, images)
    # Same seed, same networks and latents: only the weighted MSE term differs.
    with_it = _first_d_loss(1000.0, images)
    assert 1.0 < without < 2.0  # about 2 log 2 for an untrained D
    assert with_it > without + 10.0


@pytest.mark.parametrize("weight", [1.0, 0.0])
def test_the_decoder_learns_to_reconstruct_real_images_only_with_the_loss(weight):
    keras.utils.set_random_seed(6)
    train = dataclasses.replace(
        TRAIN,
        reconstruction_weight=weight,
        discriminator_learning_rate=2e-3,
        augment="",
        augment_adaptive=False,
    )
    step_trainer, strategy = _trainer(train)
    images = tf.constant(_images(TRAIN.batch_size, seed=1))
    batch = next(
        iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(images)))
    )

    def error() -> float:
        _, reconstruction = step_trainer.discriminator(images, training=False)
        return float(tf.reduce_mean(losses.reconstruction_error(reconstruction, images)))

    before = error()
    for _ in range(30):
        step_trainer.step(batch)
    if weight:
        assert error() < 0.5 * before
    else:  # the decoder gets no gradient: its weights, and so its error, stay put
        assert error() == pytest.approx(before, rel=0.2)


def test_conditional_fastgan_trains_with_ada_and_r1_checkpoints_and_exports(tmp_path):
    images = _images(16, seed=2)
    labels = np.arange(16, dtype=np.int32) % 3
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(8)
    train = dataclasses.replace(TRAIN, r1_gamma=0.1, checkpoint_every_steps=2)
    checkpoints = str(tmp_path / "checkpoints")
    generator = train_gan(dataset, DATA, train, str(tmp_path / "run"), checkpoints, num_classes=3)
    saved = [name for name, _ in tf.train.list_variables(tf.train.latest_checkpoint(checkpoints))]
    assert any("augment_probability" in name for name in saved)
    assert (tmp_path / "run" / "samples" / "final.png").is_file()

    path = export_generator(generator, train.latent_dim, str(tmp_path / "export"), num_classes=3)
    model = SavedModelBundle(path)
    try:
        seeds = np.array([1, 2, 3], np.int64)
        images_out = model.run("with_labels", {"seeds": seeds, "labels": np.zeros(3, np.int64)})
    finally:
        model.close()
    assert images_out["images"].shape == (3, 16, 16, 3)
