"""Training batches from transformed examples (models/data/dataset.py): shuffle, cache limit."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.models.data.dataset import fits_in_memory, image_dataset
from artgan.models.data.preprocessing import IMAGE_KEY

SHAPE = (4, 4, 1)  # 64 bytes per image as float32
SPEC = {IMAGE_KEY: tf.io.FixedLenFeature(SHAPE, tf.float32)}


def write_examples(path: str, count: int) -> np.ndarray:
    images = np.linspace(-1, 1, count * 16, dtype=np.float32).reshape(count, *SHAPE)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for image in images:
            feature = tf.train.Feature(float_list=tf.train.FloatList(value=image.ravel()))
            example = tf.train.Example(features=tf.train.Features(feature={IMAGE_KEY: feature}))
            writer.write(example.SerializeToString())
    return images


def test_a_split_is_cached_only_when_it_fits(tmp_path):
    pattern = str(tmp_path / "train.gz")
    write_examples(pattern, 20)
    assert fits_in_memory([pattern], SPEC, max_mib=1)  # 1,280 bytes
    assert not fits_in_memory([pattern], SPEC, max_mib=0)


def test_an_uncached_split_still_gives_every_image(tmp_path, caplog):
    pattern = str(tmp_path / "train.gz")
    images = write_examples(pattern, 20)
    train = dataclasses.replace(TrainConfig(), batch_size=20, cache_max_mib=0, shuffle_buffer=5)
    with caplog.at_level(logging.INFO, logger="artgan.models.data.dataset"):
        batch = next(iter(image_dataset([pattern], SPEC, train)))
    assert "train.cache_max_mib=0" in caplog.text
    np.testing.assert_array_equal(
        np.sort(batch.numpy().ravel()), np.sort(images.ravel())
    )  # one epoch, shuffled
