"""The GAN training loop (artgan.models.training.trainer.train_gan) on tiny random data."""

from __future__ import annotations

import dataclasses
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from artgan.config import DataConfig, TrainConfig
from artgan.contract.bundle import SavedModelBundle
from artgan.errors import ArtganError
from artgan.models import networks
from artgan.models.export import export_generator
from artgan.models.training.gan import AdversarialTrainer
from artgan.models.training.progress import TrainingProgress
from artgan.models.training.schedule import learning_rate_scale
from artgan.models.training.trainer import train_gan

DATA = DataConfig(resolution=8, channels=1)
TRAIN = TrainConfig(
    train_steps=4,
    batch_size=8,
    latent_dim=8,
    generator_width=16,
    discriminator_width=8,
    sample_every_steps=2,
    log_every_steps=2,
    augment="",  # train_gan takes a chosen policy (auto is resolved before it)
    learning_rate_ramp_down=0.5,
)


def image_dataset(images: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(images).repeat().batch(TRAIN.batch_size)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1.0, 1.0, size=(32, 8, 8, 1)).astype(np.float32)
    run_dir = str(tmp_path_factory.mktemp("run"))
    generator = train_gan(image_dataset(images), DATA, TRAIN, run_dir)
    return generator, run_dir


def test_returns_a_generator_of_the_configured_shape(trained):
    generator, _ = trained
    assert tuple(generator.output_shape) == (None, 8, 8, 1)
    images = generator(tf.random.normal([3, TRAIN.latent_dim]), training=False).numpy()
    assert images.shape == (3, 8, 8, 1)
    assert np.isfinite(images).all()
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_writes_sample_grids_every_sample_step_and_at_the_end(trained):
    _, run_dir = trained
    samples = os.path.join(run_dir, "samples")
    assert sorted(os.listdir(samples)) == ["final.png", "step_000002.png", "step_000004.png"]
    for name in os.listdir(samples):
        with Image.open(os.path.join(samples, name)) as image:
            image.load()
            assert image.format == "PNG"
            assert image.mode == "L"  # one channel, as configured
            assert image.width > 8 and image.height > 8  # a grid, not one tiny image


def test_final_grid_matches_the_last_step_grid(trained):
    # No training happens after the last step, so both grids show the same generator.
    _, run_dir = trained
    samples = os.path.join(run_dir, "samples")
    last = np.asarray(Image.open(os.path.join(samples, "step_000004.png")))
    final = np.asarray(Image.open(os.path.join(samples, "final.png")))
    np.testing.assert_array_equal(last, final)


def test_nan_images_stop_training_with_the_step(tmp_path):
    images = np.full((16, 8, 8, 1), np.nan, dtype=np.float32)
    with pytest.raises(ArtganError) as raised:
        train_gan(image_dataset(images), DATA, TRAIN, str(tmp_path))
    message = str(raised.value)
    assert re.search(r"step \d+", message)
    assert "diverged" in message
    # It stops at the first report (step 2), before the final grid is written.
    assert "step 2" in message
    assert not os.path.exists(os.path.join(tmp_path, "samples", "final.png"))


def test_an_xla_compiled_step_runs_on_cpu_with_finite_losses_like_the_plain_one():
    batch = tf.random.stateless_uniform([8, 8, 8, 1], seed=[0, 1], minval=-1.0, maxval=1.0)
    losses = {}
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        generator, discriminator = networks.build_networks(TRAIN, DATA)
        trainer = AdversarialTrainer(
            tf.distribute.get_strategy(),
            generator,
            discriminator,
            keras.optimizers.Adam(1e-3),
            keras.optimizers.Adam(1e-3),
            TRAIN.latent_dim,
            TRAIN.batch_size,
            jit_compile=jit_compile,
        )
        losses[jit_compile] = [float(loss) for loss in trainer.step(batch)]
        assert trainer.generator_optimizer.iterations.numpy() == 1  # the step applied updates
    assert np.isfinite(losses[False]).all() and np.isfinite(losses[True]).all()
    # Same networks and batch; only the random latents differ (XLA draws its own numbers).
    np.testing.assert_allclose(losses[True], losses[False], atol=0.5)


def test_zero_log_interval_is_rejected_by_validation():
    config = dataclasses.replace(TRAIN, log_every_steps=0)
    with pytest.raises(ArtganError, match="log_every_steps"):
        config.validate()


def test_mixed_precision_path_trains_and_exports(tmp_path):
    """The GPU recipe (mixed_float16 + loss scaling) runs on CPU too, so it is tested here."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        images = np.zeros((16, 8, 8, 1), np.float32)
        generator = train_gan(image_dataset(images), DATA, TRAIN, str(tmp_path / "run"))
        assert generator.output.dtype == "float32"
        export_generator(generator, TRAIN.latent_dim, str(tmp_path / "export"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    bundle = SavedModelBundle(str(tmp_path / "export"))  # as TF Serving loads it
    served = bundle.run("serving_default", {"seeds": np.array([0, 1], np.int64)})["images"]
    assert served.dtype == np.uint8 and served.shape == (2, 8, 8, 1)


def test_a_second_call_resumes_from_the_last_checkpoint(tmp_path, caplog):
    images = np.zeros((16, 8, 8, 1), np.float32)
    checkpoints = str(tmp_path / "checkpoints")
    first = dataclasses.replace(TRAIN, checkpoint_every_steps=2)
    train_gan(image_dataset(images), DATA, first, str(tmp_path / "a"), checkpoints)
    assert tf.train.latest_checkpoint(checkpoints).endswith("-4")

    longer = dataclasses.replace(first, train_steps=6)
    with caplog.at_level("INFO"):
        train_gan(image_dataset(images), DATA, longer, str(tmp_path / "b"), checkpoints)
    assert "at step 4" in caplog.text
    samples = sorted(os.listdir(tmp_path / "b" / "samples"))
    assert samples == ["final.png", "step_000006.png"]  # steps 1-4 were not trained again


@pytest.mark.parametrize(
    "recipe",
    [
        {"loss": "hinge", "augment": "color,translation,cutout"},
        {"loss": "wgan_gp"},
        {"r1_gamma": 0.1, "r1_interval": 2, "architecture": "resnet"},
    ],
)
def test_each_recipe_trains_to_finite_losses(tmp_path, recipe):
    rng = np.random.default_rng(1)
    images = rng.uniform(-1.0, 1.0, size=(16, 8, 8, 1)).astype(np.float32)
    train = dataclasses.replace(TRAIN, **recipe)
    generator = train_gan(image_dataset(images), DATA, train, str(tmp_path))
    assert np.isfinite(generator(tf.random.normal([2, 8]), training=False).numpy()).all()


def test_class_conditional_training_and_export_with_labels(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.uniform(-1.0, 1.0, size=(16, 8, 8, 1)).astype(np.float32)
    labels = np.arange(16, dtype=np.int32) % 3
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(8)
    train = dataclasses.replace(TRAIN, conditional=True, loss="hinge", r1_gamma=0.1, r1_interval=2)
    generator = train_gan(dataset, DATA, train, str(tmp_path / "run"), num_classes=3)
    export_generator(generator, TRAIN.latent_dim, str(tmp_path / "export"), num_classes=3)

    # Loaded as TF Serving loads it (graph, restore op, Session.run), not eagerly.
    model = SavedModelBundle(str(tmp_path / "export"))
    assert set(model.signature_defs) == {
        "serving_default",
        "with_labels",
        "from_latents",
        "from_latents_with_labels",
        "truncated",
        "truncated_with_labels",
        "seed_latents",
        "pngs",
    }
    seeds = np.array([5, 6, 7], np.int64)
    by_seed = model.run("serving_default", {"seeds": seeds})["images"]
    assert by_seed.shape == (3, 8, 8, 1)
    as_zero = model.run("with_labels", {"seeds": seeds, "labels": np.zeros(3, np.int64)})
    as_two = model.run("with_labels", {"seeds": seeds, "labels": np.full(3, 2, np.int64)})
    assert not np.array_equal(as_zero["images"], as_two["images"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < 3"):
        model.run("with_labels", {"seeds": seeds, "labels": np.array([0, 3, 1], np.int64)})
    latents = np.zeros((2, TRAIN.latent_dim), np.float32)
    assert model.run("from_latents", {"latents": latents})["images"].shape == (2, 8, 8, 1)


def test_adaptive_augmentation_probability_is_checkpointed_and_logged(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.uniform(-1.0, 1.0, size=(16, 8, 8, 1)).astype(np.float32)
    train = dataclasses.replace(
        TRAIN, augment="translation,cutout", augment_adaptive=True, checkpoint_every_steps=4
    )
    checkpoints = str(tmp_path / "checkpoints")
    train_gan(image_dataset(images), DATA, train, str(tmp_path / "run"), checkpoints)
    saved = dict(tf.train.list_variables(tf.train.latest_checkpoint(checkpoints)))
    assert any(name.startswith("augment_probability") for name in saved)
    logs = os.listdir(tmp_path / "run" / "logs")
    events = tf.compat.v1.train.summary_iterator(str(tmp_path / "run" / "logs" / logs[0]))
    tags = {value.tag for event in events for value in event.summary.value}
    assert "augment/probability" in tags


def test_without_a_time_budget_every_step_runs_and_is_recorded(trained):
    import json

    _, run_dir = trained
    with open(os.path.join(run_dir, "training_result.json")) as f:
        result = json.load(f)
    assert result["steps_done"] == TRAIN.train_steps == result["train_steps"]
    assert result["stopped_by"] == "train_steps"


def test_a_spent_time_budget_stops_training_and_says_so(tmp_path, caplog):
    import json
    import logging

    images = np.random.default_rng(1).uniform(-1, 1, size=(32, 8, 8, 1)).astype(np.float32)
    budget = dataclasses.replace(TRAIN, train_steps=10_000, train_minutes=1e-6)  # 60 us
    with caplog.at_level(logging.INFO, logger="artgan.models.training.trainer"):
        generator = train_gan(image_dataset(images), DATA, budget, str(tmp_path))
    with open(tmp_path / "training_result.json") as f:
        result = json.load(f)
    assert result["stopped_by"] == "train_minutes"
    assert 1 <= result["steps_done"] < 10_000
    assert f"stopping at step {result['steps_done']} of 10000" in caplog.text
    assert (tmp_path / "samples" / "final.png").is_file()  # the run still finishes normally
    assert generator(tf.zeros([1, TRAIN.latent_dim])).shape == (1, 8, 8, 1)


def _logged_scalars(run_dir: str, tag: str) -> dict[int, float]:
    """{step: value} of one scalar in a run's TensorBoard logs."""
    values = {}
    for name in tf.io.gfile.glob(os.path.join(run_dir, "logs", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(name):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_learning_rates_ramp_down_over_the_last_half_of_the_steps(trained):
    _, run_dir = trained
    # Step 2 is trained 1/4 of the way in (full rates), step 4 at 3/4 (half way down).
    assert _logged_scalars(run_dir, "learning_rate/scale") == {2: 1.0, 4: 0.5}


def test_a_spent_time_budget_has_ramped_the_learning_rates_down_to_zero():
    progress = TrainingProgress(10_000, 8, budget_minutes=1e-6)  # 60 us
    while not progress.out_of_time():
        pass
    assert progress.fraction_done(1) == 1.0
    assert learning_rate_scale(progress.fraction_done(1), TRAIN.learning_rate_ramp_down) == 0.0
    progress.close()


def test_scaled_learning_rates_replace_restored_ones_and_zero_freezes_the_networks():
    batch = tf.random.stateless_uniform([8, 8, 8, 1], seed=[0, 2], minval=-1.0, maxval=1.0)
    keras.utils.set_random_seed(0)
    generator, discriminator = networks.build_networks(TRAIN, DATA)
    optimizers = [keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)]
    trainer = AdversarialTrainer(
        tf.distribute.get_strategy(), generator, discriminator, *optimizers, 8, 8
    )
    for optimizer in optimizers:
        optimizer.learning_rate = 0.5  # as a checkpoint of a ramped-down run restores it
    trainer.scale_learning_rates(0.25)
    assert [float(optimizer.learning_rate) for optimizer in optimizers] == pytest.approx(
        [2.5e-4] * 2
    )
    trainer.scale_learning_rates(0.0)
    trained_weights = generator.trainable_weights + discriminator.trainable_weights
    before = [w.numpy() for w in trained_weights]
    trainer.step(batch)
    after = [w.numpy() for w in trained_weights]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
