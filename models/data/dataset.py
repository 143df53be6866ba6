"""Reading transformed examples (the Transform component's output) back as images."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.errors import ArtganError
from artgan.models.data.preprocessing import IMAGE_KEY, LABEL_KEY, LABEL_NAME_KEY

log = logging.getLogger(__name__)


def _files(file_patterns: list[str]) -> list[str]:
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise ArtganError(f"no transformed examples match {file_patterns}")
    return files


def _parsed(file_patterns: list[str], feature_spec: dict[str, Any], keys: list[str]):
    spec = {key: feature_spec[key] for key in keys if key in feature_spec}
    records = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP")
    return records.map(
        lambda record: tf.io.parse_single_example(record, spec),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def fits_in_memory(file_patterns: list[str], feature_spec: dict[str, Any], max_mib: int) -> bool:
    """Whether the split's images, as float32, take at most ``max_mib`` MiB (it stops counting
    as soon as they would not)."""
    per_image = 4 * int(np.prod(feature_spec[IMAGE_KEY].shape))
    limit = max_mib * 2**20 // per_image
    return count_examples(file_patterns, limit + 1) <= limit


def count_examples(file_patterns: list[str], at_most: int) -> int:
    """The examples in the split, counting no further than ``at_most``."""
    records = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP")
    return int(records.take(at_most).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def image_dataset(
    file_patterns: list[str],
    feature_spec: dict[str, Any],
    train: TrainConfig,
    with_labels: bool = False,
) -> tf.data.Dataset:
    """Endless shuffled batches of transformed images (float32 [B, H, W, C] in [-1, 1]).

    ``with_labels``: batches are (images, int32 labels [B]) instead. The split is cached in
    memory only when it fits in ``train.cache_max_mib``.
    """
    if with_labels:
        parsed = _parsed(file_patterns, feature_spec, [IMAGE_KEY, LABEL_KEY])
        examples = parsed.map(
            lambda x: (x[IMAGE_KEY], tf.cast(tf.reshape(x[LABEL_KEY], []), tf.int32))
        )
    else:
        examples = _parsed(file_patterns, feature_spec, [IMAGE_KEY]).map(lambda x: x[IMAGE_KEY])
    if fits_in_memory(file_patterns, feature_spec, train.cache_max_mib):
        examples = examples.cache()
    else:
        log.info(
            "the training split takes more than train.cache_max_mib=%d MiB as float32: "
            "reading it from disk each epoch",
            train.cache_max_mib,
        )
    return (
        examples.shuffle(train.shuffle_buffer, seed=train.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(train.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def class_counts(file_patterns: list[str], feature_spec: dict[str, Any]) -> tuple[int, ...]:
    """How many examples have each label 0..largest; () when they have no labels."""
    if LABEL_KEY not in feature_spec:
        return ()
    labels = _parsed(file_patterns, feature_spec, [LABEL_KEY]).map(
        lambda x: tf.reshape(x[LABEL_KEY], [])
    )
    batches = [batch.numpy() for batch in labels.batch(4096)]
    return tuple(int(count) for count in np.bincount(np.concatenate(batches or [[]]).astype(int)))


def read_class_names(
    file_patterns: list[str], feature_spec: dict[str, Any], num_classes: int
) -> tuple[str, ...] | None:
    """The class folder's name of each label 0..num_classes-1 ("" for a label no example
    has); None when the examples carry no names (transformed before they were kept)."""
    if LABEL_NAME_KEY not in feature_spec or LABEL_KEY not in feature_spec:
        return None
    names = [""] * num_classes
    pairs = _parsed(file_patterns, feature_spec, [LABEL_KEY, LABEL_NAME_KEY])
    for batch in pairs.batch(4096):
        labels = batch[LABEL_KEY].numpy().reshape(-1)
        for label, name in zip(labels, batch[LABEL_NAME_KEY].numpy().reshape(-1), strict=True):
            if 0 <= label < num_classes and not names[label]:
                names[label] = os.fsdecode(name)
    return tuple(names)


def load_split(
    file_patterns: list[str], feature_spec: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray | None]:
    """All images (float32 [N, H, W, C]) and labels (int64 [N], or None) of a split."""
    images, labels = [], []
    for batch in _parsed(file_patterns, feature_spec, [IMAGE_KEY, LABEL_KEY]).batch(1024):
        images.append(batch[IMAGE_KEY].numpy())
        if LABEL_KEY in batch:
            labels.append(batch[LABEL_KEY].numpy().reshape(-1))
    if not images:
        raise ArtganError(f"the transformed examples in {file_patterns} hold no images")
    return np.concatenate(images), (np.concatenate(labels) if labels else None)
