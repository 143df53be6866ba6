"""Warm start (training/warm_start.py via train_and_export) on tiny random data."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from test_trainer import DATA, TRAIN  # the tiny networks and schedule

from artgan import cli
from artgan.config import TrainConfig
from artgan.errors import ArtganError
from artgan.models.training.trainer import train_and_export, train_gan
from artgan.models.training.warm_start import (
    TRAINING_STATE_DIR,
    check_same_shapes,
    warm_start_source,
)

WARM = dataclasses.replace(TRAIN, train_steps=2, warm_start=True)


def dataset() -> tf.data.Dataset:
    images = np.random.default_rng(0).uniform(-1.0, 1.0, size=(16, 8, 8, 1)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(images).repeat().batch(TRAIN.batch_size)


def train_model(root, name: str, train: TrainConfig, **kwargs) -> str:
    """Trains into a Model-artifact-like folder ``root/name``; returns its Format-Serving."""
    serving = str(root / name / "Format-Serving")
    train_and_export(dataset(), DATA, train, 0, str(root / f"{name}_run"), serving, **kwargs)
    return serving


def updates_in(serving_model_dir: str) -> int:
    """Generator updates the model's saved optimiser state has seen, over all warm starts."""
    state = os.path.join(os.path.dirname(serving_model_dir), TRAINING_STATE_DIR, "state")
    key = "generator_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"
    return int(tf.train.load_checkpoint(state).get_tensor(key))


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> str:
    """A finished 4-step model: the 'latest blessed model' a warm start begins from."""
    return train_model(tmp_path_factory.mktemp("models"), "previous", TRAIN)


def test_the_training_state_is_kept_beside_format_serving_not_in_it(previous):
    model_uri = os.path.dirname(previous)
    assert sorted(os.listdir(model_uri)) == ["Format-Serving", TRAINING_STATE_DIR]
    assert "state.index" in os.listdir(os.path.join(model_uri, TRAINING_STATE_DIR))
    assert TRAINING_STATE_DIR not in os.listdir(previous)  # the Pusher copies Format-Serving
    assert updates_in(previous) == 4


def test_warm_start_trains_more_steps_from_the_previous_state_and_records_it(
    previous, tmp_path, caplog
):
    with caplog.at_level("INFO"):
        model = train_model(tmp_path, "next", WARM, base_model=previous)
    assert updates_in(model) == 4 + 2
    assert f"warm start from {os.path.dirname(previous)}" in caplog.text
    for config_file in (
        tmp_path / "next_run" / "train_config.json",
        os.path.join(model, "assets.extra", "train_config.json"),
    ):
        with open(config_file) as f:
            assert json.load(f)["warm_start_from"] == os.path.dirname(previous)


def test_without_warm_start_the_previous_model_is_ignored(previous, tmp_path):
    model = train_model(tmp_path, "scratch", WARM, base_model=None)
    assert updates_in(model) == 2
    model = train_model(
        tmp_path, "off", dataclasses.replace(WARM, warm_start=False), base_model=previous
    )
    assert updates_in(model) == 2


def test_a_crash_checkpoint_takes_precedence_over_warm_start(previous, tmp_path, caplog):
    checkpoints = str(tmp_path / "checkpoints")
    crashed = dataclasses.replace(WARM, checkpoint_every_steps=2)
    train_gan(dataset(), DATA, crashed, str(tmp_path / "crashed_run"), checkpoints)
    resumed = dataclasses.replace(crashed, train_steps=4)
    with caplog.at_level("INFO"):
        model = train_model(
            tmp_path, "resumed", resumed, checkpoint_dir=checkpoints, base_model=previous
        )
    assert "at step 2" in caplog.text
    assert updates_in(model) == 4  # 2 before the crash + 2 after; not the previous model's 4


def saved_augment_probability(serving_model_dir: str) -> float | None:
    state = os.path.join(os.path.dirname(serving_model_dir), TRAINING_STATE_DIR, "state")
    key = "augment_probability/.ATTRIBUTES/VARIABLE_VALUE"
    reader = tf.train.load_checkpoint(state)
    return float(reader.get_tensor(key)) if reader.has_tensor(key) else None


def test_ada_probability_carries_over_a_warm_start(previous, tmp_path, caplog):
    ada = dataclasses.replace(
        TRAIN, augment="translation,cutout", augment_adaptive=True, ada_target=0.01
    )
    # So low a target that D exceeds it from the first steps on these images: p climbs from 0.
    first = train_model(tmp_path, "ada", ada)
    carried = saved_augment_probability(first)
    assert carried is not None and carried > 0.0
    with caplog.at_level("INFO"):
        warm = dataclasses.replace(ada, train_steps=2, warm_start=True)
        second = train_model(tmp_path, "ada_next", warm, base_model=first)
    assert f"continues from {carried:.3f}" in caplog.text
    assert saved_augment_probability(second) >= carried  # it went on climbing from there
    # A state from a run without ADA warm-starts an adaptive one at p = 0, without complaint.
    assert saved_augment_probability(previous) is None
    third = train_model(tmp_path, "ada_from_plain", warm, base_model=previous)
    assert saved_augment_probability(third) is not None


def test_different_network_shapes_are_refused_naming_the_fields(previous, tmp_path):
    bigger = dataclasses.replace(WARM, latent_dim=16, architecture="resnet")
    with pytest.raises(ArtganError) as raised:
        train_model(tmp_path, "bigger", bigger, base_model=previous)
    message = str(raised.value)
    assert "train.latent_dim (8 -> 16)" in message
    assert "train.architecture ('conv' -> 'resnet')" in message
    assert "warm_start off" in message
    assert not (tmp_path / "bigger").exists()  # refused before training

    with pytest.raises(ArtganError, match=r"data.resolution \(8 -> 16\), num_classes \(0 -> 3\)"):
        warm_start_source(previous, dataclasses.replace(DATA, resolution=16), WARM, 3)


def test_other_up_blocks_are_refused_and_older_models_count_as_transposed(previous, tmp_path):
    made = TRAIN.generator_upsampling
    other = "transposed" if made == "resize" else "resize"
    with pytest.raises(ArtganError, match=rf"train.generator_upsampling \('{made}' -> '{other}'\)"):
        warm_start_source(previous, DATA, dataclasses.replace(WARM, generator_upsampling=other), 0)

    older = tmp_path / "older"
    shutil.copytree(os.path.dirname(previous), older)  # Format-Serving and training_state
    config_path = older / "Format-Serving" / "assets.extra" / "train_config.json"
    config = json.loads(config_path.read_text())
    del config["train"]["generator_upsampling"]  # written before the field existed
    config_path.write_text(json.dumps(config))
    serving = str(older / "Format-Serving")
    transposed = dataclasses.replace(WARM, generator_upsampling="transposed")
    assert warm_start_source(serving, DATA, transposed, 0)
    with pytest.raises(ArtganError, match=r"\('transposed' -> 'resize'\)"):
        warm_start_source(
            serving, DATA, dataclasses.replace(WARM, generator_upsampling="resize"), 0
        )


def test_other_class_conditioning_is_refused_and_older_models_read_labels_at_the_input(
    previous, tmp_path
):
    older = tmp_path / "older_conditional"
    shutil.copytree(os.path.dirname(previous), older)
    extra = older / "Format-Serving" / "assets.extra"
    config = json.loads((extra / "train_config.json").read_text())
    del config["train"]["generator_conditioning"]  # written before the field existed
    (extra / "train_config.json").write_text(json.dumps(config))
    info = json.loads((extra / "generator.json").read_text())
    (extra / "generator.json").write_text(json.dumps({**info, "num_classes": 3}))
    serving = str(older / "Format-Serving")

    # "input", as every model before the field
    check_same_shapes(serving, DATA, dataclasses.replace(WARM, generator_conditioning="input"), 3)
    assert WARM.generator_conditioning == "auto"  # compared as what it builds: batchnorm
    for batchnorm in (WARM, dataclasses.replace(WARM, generator_conditioning="batchnorm")):
        with pytest.raises(ArtganError, match=r"conditioning \('input' -> 'batchnorm'\)"):
            check_same_shapes(serving, DATA, batchnorm, 3)
    check_same_shapes(previous, DATA, dataclasses.replace(WARM, generator_conditioning="input"), 0)


def test_no_blessed_model_or_no_training_state_trains_from_scratch(tmp_path, caplog):
    old_model = tmp_path / "old" / "Format-Serving"  # a model from before warm starts
    old_model.mkdir(parents=True)
    with caplog.at_level("INFO"):
        assert warm_start_source(None, DATA, WARM, 0) == ""
        assert warm_start_source(str(old_model), DATA, WARM, 0) == ""
    assert "no blessed model yet, training from scratch" in caplog.text
    assert "has no training state" in caplog.text


def test_artgan_run_warm_start_flag():
    parse = cli.build_parser().parse_args
    assert cli.run.config_from_args(parse(["run", "--warm-start"])).train.warm_start is True
    assert cli.run.config_from_args(parse(["run"])).train.warm_start is False
