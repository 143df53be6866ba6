"""Artifact types the evaluation components exchange, and how their contents are read.

- ``FeatureNetworkModel``: a trained feature network SavedModel (domain_classifier, contrastive
  or random_conv) with custom properties ``feature_network``, ``heldout_accuracy`` (a
  classifier), ``view_match`` (contrastive), ``fallback_reason`` and ``num_classes``.
- ``RealFeatureStatistics``: the real images of each split in one feature network's space:
  ``<split>_statistics.npz`` (count, mean, scatter in float64), ``<split>_kid_rows.npy``
  (features for KID and memorisation, at most ``EvalConfig.kid_max_rows``) and
  ``<split>_kid_digests.json`` (``image_digest`` of each row's image, to find it again), plus
  ``reference.json`` (network, preprocessing, counts); custom properties ``feature_network``,
  ``num_train_images``, ``num_eval_images``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import types
from tfx.types import artifact_utils
from tfx.utils import io_utils

from artgan.config import EvalConfig
from artgan.errors import ArtganError
from artgan.models.data.preprocessing import IMAGE_KEY
from artgan.models.metrics import scores
from artgan.models.metrics.evaluation import RealReference, to_uint8
from artgan.models.metrics.feature_network import (
    INCEPTION_2015,
    FeatureNetwork,
    open_feature_network,
)

REFERENCE_FILE = "reference.json"
# How a trained network was chosen and how far to trust it: recorded with every metric.
PROVENANCE_PROPERTIES = ("view_match", "fallback_reason", "refused_classifier_accuracy")


class FeatureNetworkModel(types.Artifact):
    """A feature network exported as a SavedModel."""

    TYPE_NAME = "artgan.FeatureNetworkModel"  # KFP v2 wants "<namespace>.<Name>"


class RealFeatureStatistics(types.Artifact):
    """Real-image feature statistics per split, for one feature network and preprocessing."""

    TYPE_NAME = "artgan.RealFeatureStatistics"


def statistics_path(uri: str, split: str) -> str:
    return os.path.join(uri, f"{split}_statistics.npz")


def kid_rows_path(uri: str, split: str) -> str:
    return os.path.join(uri, f"{split}_kid_rows.npy")


def kid_digests_path(uri: str, split: str) -> str:
    return os.path.join(uri, f"{split}_kid_digests.json")


def image_digest(image_uint8: np.ndarray) -> str:
    """Names one transformed uint8 image [H, W, C] by its pixels."""
    return hashlib.sha1(np.ascontiguousarray(image_uint8).tobytes()).hexdigest()


def write_split(
    uri: str,
    split: str,
    statistics: scores.FeatureStatistics,
    kid_rows: np.ndarray,
    kid_digests: list[str],
) -> None:
    tf.io.gfile.makedirs(uri)
    for path, write in (
        (statistics_path(uri, split), statistics.save),
        (kid_rows_path(uri, split), lambda f: np.save(f, kid_rows.astype(np.float32))),
    ):
        buffer = io.BytesIO()
        write(buffer)
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(buffer.getvalue())
    io_utils.write_string_file(kid_digests_path(uri, split), json.dumps(list(kid_digests)))


def read_kid_digests(uri: str, split: str) -> list[str] | None:
    """The image digests of the split's KID rows, in row order; None for older artifacts."""
    path = kid_digests_path(uri, split)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def transformed_images(
    examples: types.Artifact, transform_uri: str, split: str, batch_size: int = 256
) -> Iterator[np.ndarray]:
    """The split's transformed images as uint8 batches [B, H, W, C], in file order."""
    spec = tft.TFTransformOutput(transform_uri).transformed_feature_spec()
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), compression_type="GZIP")
    for batch in records.batch(batch_size):
        parsed = tf.io.parse_example(batch, {IMAGE_KEY: spec[IMAGE_KEY]})
        yield to_uint8(parsed[IMAGE_KEY].numpy())


def read_split(uri: str, split: str) -> tuple[scores.FeatureStatistics, np.ndarray]:
    with tf.io.gfile.GFile(statistics_path(uri, split), "rb") as f:
        statistics = scores.FeatureStatistics.load(io.BytesIO(f.read()))
    with tf.io.gfile.GFile(kid_rows_path(uri, split), "rb") as f:
        kid_rows = np.load(io.BytesIO(f.read()))
    if statistics.count < 2:
        raise ArtganError(
            f"the {split} split has {statistics.count} image(s) in {uri}; scoring needs at "
            "least 2 per split: add images or raise data.eval_percent"
        )
    return statistics, kid_rows


def read_reference(statistics: types.Artifact, config: EvalConfig) -> RealReference:
    """The eval split as the reference, with the train-vs-eval floors (FD and KID)."""
    train, train_rows = read_split(statistics.uri, "train")
    evaluation, eval_rows = read_split(statistics.uri, "eval")
    kid_floor, _ = scores.kernel_inception_distance(
        train_rows,
        eval_rows,
        num_subsets=config.kid_subsets,
        subset_size=config.kid_subset_size,
        seed=config.seed,
    )
    fid_floor = scores.frechet_distance(train, evaluation)
    return RealReference(evaluation, eval_rows, fid_floor, kid_floor, train_rows=train_rows)


def read_description(statistics: types.Artifact) -> dict:
    with tf.io.gfile.GFile(os.path.join(statistics.uri, REFERENCE_FILE)) as f:
        return json.load(f)


def open_network(
    network_artifact: types.Artifact | None,
    inception_graph_path: str,
    background: tuple[int, int, int],
) -> FeatureNetwork:
    """The classifier in ``network_artifact``, or else the Inception graph at the path; RGBA
    images are flattened onto ``background``."""
    if network_artifact is None:
        return open_feature_network(
            INCEPTION_2015, inception_graph_path=inception_graph_path, background=background
        )
    accuracy = (
        network_artifact.get_float_custom_property("heldout_accuracy")
        if network_artifact.has_custom_property("heldout_accuracy")
        else math.nan
    )
    provenance = {
        name: network_artifact.get_custom_property(name)
        for name in PROVENANCE_PROPERTIES
        if network_artifact.has_custom_property(name)
    }
    return open_feature_network(
        network_artifact.get_string_custom_property("feature_network"),
        classifier_dir=network_artifact.uri,
        heldout_accuracy=accuracy,
        background=background,
        provenance=provenance,
    )
