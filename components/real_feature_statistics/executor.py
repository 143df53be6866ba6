"""RealFeatureStatisticsGen executor: a Beam pipeline per split, features -> statistics."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from artgan.components import feature_artifacts
from artgan.config import DataConfig, EvalConfig, parse_colour
from artgan.errors import ArtganError
from artgan.models.data.preprocessing import IMAGE_KEY
from artgan.models.metrics import scores
from artgan.models.metrics.evaluation import to_uint8
from artgan.models.metrics.feature_network import INCEPTION_2015, open_feature_network

log = logging.getLogger(__name__)

SPLITS = ("train", "eval")
RECORDS_PER_BATCH = 256


class _FeaturesFn(beam.DoFn):
    """Batches of serialized transformed examples -> (features [B, D], image digests [B])."""

    def __init__(self, transform_uri: str, network: dict[str, str]):
        self._transform_uri = transform_uri
        self._network_args = network  # open_feature_network's arguments

    def setup(self):
        spec = tft.TFTransformOutput(self._transform_uri).transformed_feature_spec()
        self._spec = {IMAGE_KEY: spec[IMAGE_KEY]}
        self._network = open_feature_network(**self._network_args)

    def process(self, records: list[bytes]):
        images = tf.io.parse_example(tf.constant(records), self._spec)[IMAGE_KEY]
        images = to_uint8(images.numpy())
        features, _ = self._network.features_and_probs(images)
        yield features, [feature_artifacts.image_digest(image) for image in images]


class _SummarizeFn(beam.CombineFn):
    """Merges feature batches into FeatureStatistics plus the KID rows of the smallest digests.

    Keeping the rows whose image digests sort first makes the KID sample the same whatever
    order Beam delivers the batches in.
    """

    def __init__(self, kid_max_rows: int):
        self._kid_max_rows = kid_max_rows

    def create_accumulator(self):
        return None, []

    def add_input(self, accumulator, batch):
        features, digests = batch
        statistics, rows = accumulator
        statistics = statistics or scores.FeatureStatistics(features.shape[1])
        statistics.update(features)
        return statistics, self._smallest(rows + list(zip(digests, features, strict=True)))

    def merge_accumulators(self, accumulators):
        merged, rows = None, []
        for statistics, more_rows in accumulators:
            if statistics is not None:
                merged = merged.merge(statistics) if merged else statistics
            rows = self._smallest(rows + more_rows)
        return merged, rows

    def extract_output(self, accumulator):
        statistics, rows = accumulator
        return statistics, np.array([row for _, row in rows]), [digest for digest, _ in rows]

    def _smallest(self, rows):
        return sorted(rows, key=lambda item: item[0])[: self._kid_max_rows]


def _write(summary, uri: str, split: str) -> None:
    statistics, kid_rows, kid_digests = summary
    if statistics is not None:
        feature_artifacts.write_split(uri, split, statistics, kid_rows, kid_digests)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes each split's statistics and KID rows into the RealFeatureStatistics artifact."""

    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        output = artifact_utils.get_single_instance(output_dict["statistics"])
        network_artifacts = input_dict.get("feature_network") or []
        background = parse_colour(exec_properties.get("background") or DataConfig().background)
        if network_artifacts:
            network_args = {
                "name": network_artifacts[0].get_string_custom_property("feature_network"),
                "classifier_dir": network_artifacts[0].uri,
            }
        else:
            network_args = {
                "name": INCEPTION_2015,
                "inception_graph_path": exec_properties.get("inception_graph_path") or "",
            }
        network_args["background"] = background
        # Loaded here too: a missing or wrong network fails before Beam starts.
        network = open_feature_network(**network_args)
        kid_max_rows = exec_properties.get("kid_max_rows") or EvalConfig().kid_max_rows
        with self._make_beam_pipeline() as pipeline:
            for split in SPLITS:
                pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
                _ = (
                    pipeline
                    | f"Read[{split}]"
                    >> beam.io.ReadFromTFRecord(
                        pattern,
                        coder=beam.coders.BytesCoder(),
                        compression_type=beam.io.filesystem.CompressionTypes.GZIP,
                    )
                    | f"Batch[{split}]"
                    >> beam.BatchElements(
                        min_batch_size=RECORDS_PER_BATCH, max_batch_size=RECORDS_PER_BATCH
                    )
                    | f"Features[{split}]" >> beam.ParDo(_FeaturesFn(transform_uri, network_args))
                    | f"Summarize[{split}]" >> beam.CombineGlobally(_SummarizeFn(kid_max_rows))
                    | f"Write[{split}]" >> beam.Map(_write, output.uri, split)
                )
        counts = {}
        for split in SPLITS:
            if not tf.io.gfile.exists(feature_artifacts.statistics_path(output.uri, split)):
                raise ArtganError(
                    f"the {split} split of {examples.uri} holds no images; "
                    "scoring needs real images in both splits"
                )
            counts[split] = feature_artifacts.read_split(output.uri, split)[0].count
        output.set_string_custom_property("feature_network", network.name)
        output.set_int_custom_property("num_train_images", counts["train"])
        output.set_int_custom_property("num_eval_images", counts["eval"])
        description = {
            "feature_network": network.name,
            "network": network.description,
            "num_images": counts,
            "kid_max_rows": kid_max_rows,
        }
        io_utils.write_string_file(
            os.path.join(output.uri, feature_artifacts.REFERENCE_FILE),
            json.dumps(description, indent=2),
        )
        log.info(
            "RealFeatureStatisticsGen: %s features of %d train and %d eval images",
            network.name,
            counts["train"],
            counts["eval"],
        )
