"""Executor of ImageExampleGen: a folder of image files -> train/eval tf.Example TFRecords.

A Beam pipeline: the listed paths are spread over the workers, each worker reads and checks
one file at a time (``images.ingest_file``) and the examples stream straight into GZIP TFRecord
shards, so no stage holds the data set. Skipped files go to ``skipped.jsonl`` with their
reason; counts become custom properties of the Examples artifact.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from artgan.components.image_example_gen import images
from artgan.components.image_example_gen.listing import (
    IMAGE_EXTENSIONS,
    class_names,
    folder_fingerprint,
    is_folder,
    join,
    list_image_files,
    split_of,
)
from artgan.errors import ArtganError
from artgan.pipeline.config import DataConfig

__all__ = ["Executor", "folder_fingerprint", "list_image_files"]

log = logging.getLogger(__name__)

INPUT_BASE_KEY = "input_base"
EVAL_PERCENT_KEY = "eval_percent"
MAX_PIXELS_KEY = "max_pixels"
EXAMPLES_KEY = "examples"
INPUT_FINGERPRINT_KEY = "input_fingerprint"

SPLIT_NAMES = ("train", "eval")
SKIPPED_FILE_NAME = "skipped.jsonl"
RECORD_FILE_PREFIX = "data_tfrecord"  # the name TFX's own ExampleGen uses
_COUNTS_DIR_NAME = ".counts"
_SKIPPED_TAG = "skipped"
_COUNTS_TAG = "counts"
_NORMALIZED_COUNT = "normalized"
_REASONS_IN_ERROR = 5
# Paths go to the workers in tasks of this many: few elements to redistribute (the DirectRunner
# holds a shuffle's input in memory), still enough tasks to keep every worker busy.
PATHS_PER_TASK = 100
_SKIPPED_IN_LOG = 20
# A worker starts a new TFRecord shard after this many examples or uncompressed bytes.
MAX_RECORDS_PER_SHARD = 10_000
MAX_BYTES_PER_SHARD = 256 * 2**20


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def image_example(path: str, image: images.IngestedImage, label_index: dict[str, int]) -> bytes:
    """The serialized tf.Example of one ingested file."""
    features = {
        "image": _bytes_feature(image.encoded),
        "height": _int_feature(image.height),
        "width": _int_feature(image.width),
        "channels": _int_feature(image.channels),
        "orientation": _int_feature(image.orientation),
        "format": _bytes_feature(image.source_format.encode("ascii", "replace")),
        "normalized": _int_feature(int(image.normalized)),
        "path": _bytes_feature(os.fsencode(path)),
    }
    if label_index:
        label_name = path.split("/", 1)[0]
        features["label"] = _int_feature(label_index[label_name])
        features["label_name"] = _bytes_feature(os.fsencode(label_name))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def tensorflow_decodes(image: images.IngestedImage) -> bool:
    """Whether Transform's decoder reads the stored bytes at the expected shape.

    Pillow and TF disagree on some damaged files (a PNG without its IEND chunk loads in Pillow
    and fails in TF); such files are stored normalised, so no record can fail Transform.
    """
    try:
        pixels = tf.io.decode_image(image.encoded, channels=0, expand_animations=False)
    except tf.errors.OpError:
        return False
    height, width = image.height, image.width
    if image.orientation in images.TRANSPOSED_ORIENTATIONS:
        height, width = width, height  # the stored pixels are not upright yet
    return tuple(pixels.shape) == (height, width, image.channels)


class _IngestImageFn(beam.DoFn):
    """A task of relative paths (os.fsencode'd: names need not be UTF-8) -> per file
    (split, serialized tf.Example) or a skipped.jsonl line; plus count keys."""

    def __init__(self, input_base: str, label_names: list[str], eval_percent: int, max_pixels: int):
        self._input_base = input_base
        self._label_index = {name: index for index, name in enumerate(label_names)}
        self._eval_percent = eval_percent
        self._max_pixels = max_pixels

    def process(self, task: tuple[bytes, ...]):
        for encoded_path in task:
            yield from self._ingest(os.fsdecode(encoded_path))

    def _ingest(self, path: str):
        try:
            image = images.ingest_file(join(self._input_base, path), self._max_pixels)
            if not image.normalized and not tensorflow_decodes(image):
                image = images.ingest_bytes(image.encoded, self._max_pixels, normalize=True)
        except images.SkippedFile as skipped:
            record = {"path": path, "reason": skipped.reason, "detail": skipped.detail}
            yield beam.pvalue.TaggedOutput(_SKIPPED_TAG, json.dumps(record, sort_keys=True))
            yield beam.pvalue.TaggedOutput(_COUNTS_TAG, f"skipped:{skipped.reason}")
            return
        split = split_of(path, self._eval_percent)
        yield split, image_example(path, image, self._label_index)
        yield beam.pvalue.TaggedOutput(_COUNTS_TAG, f"split:{split}")
        if image.normalized:
            yield beam.pvalue.TaggedOutput(_COUNTS_TAG, _NORMALIZED_COUNT)


class _WriteTFRecordShards(beam.io.WriteToTFRecord):
    """GZIP TFRecords, rolling over to a new shard at the limits above.

    Shards come from the bundles themselves, with no GroupByKey of the examples (a fixed
    num_shards needs one, and the DirectRunner holds a GroupByKey's input in memory).
    """

    def __init__(self, file_path_prefix: str):
        super().__init__(file_path_prefix, file_name_suffix=".gz")
        self._sink.max_records_per_shard = MAX_RECORDS_PER_SHARD
        self._sink.max_bytes_per_shard = MAX_BYTES_PER_SHARD


def _tasks(paths: list[str]) -> list[tuple[bytes, ...]]:
    encoded = [os.fsencode(path) for path in paths]
    return [
        tuple(encoded[start : start + PATHS_PER_TASK])
        for start in range(0, len(encoded), PATHS_PER_TASK)
    ]


def _first_lines(path: str, count: int) -> list[str]:
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as f:
        return [line for line in itertools.islice(f, count) if line.strip()]


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes good images as GZIP TFRecords of tf.Example under Split-train/Split-eval."""

    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_base = exec_properties[INPUT_BASE_KEY]
        eval_percent = int(exec_properties.get(EVAL_PERCENT_KEY, 20))
        max_pixels = int(exec_properties.get(MAX_PIXELS_KEY) or DataConfig().max_pixels)
        if not 0 <= eval_percent <= 100:
            raise ArtganError(f"eval_percent must be in 0..100, got {eval_percent}")
        if max_pixels < 1:
            raise ArtganError(f"max_pixels must be at least 1, got {max_pixels}")
        if not is_folder(input_base):
            raise ArtganError(f"image folder {input_base!r} does not exist or is not a folder")
        paths = list_image_files(input_base)
        if not paths:
            raise ArtganError(
                f"image folder {input_base!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
            )
        label_names = class_names(paths)

        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(list(SPLIT_NAMES))
        counts_path = os.path.join(examples.uri, _COUNTS_DIR_NAME, "counts.json")
        skipped_path = os.path.join(examples.uri, SKIPPED_FILE_NAME)
        ingest_fn = _IngestImageFn(input_base, label_names, eval_percent, max_pixels)

        with self._make_beam_pipeline() as pipeline:
            ingested = (
                pipeline
                | "ListedPaths" >> beam.Create(_tasks(paths))  # reshuffled over the workers
                | "IngestImages"
                >> beam.ParDo(ingest_fn).with_outputs(_SKIPPED_TAG, _COUNTS_TAG, main=EXAMPLES_KEY)
            )
            splits = ingested[EXAMPLES_KEY] | "PartitionSplits" >> beam.Partition(
                lambda keyed, _: SPLIT_NAMES.index(keyed[0]), len(SPLIT_NAMES)
            )
            for split_name, split in zip(SPLIT_NAMES, splits, strict=True):
                split_dir = artifact_utils.get_split_uri([examples], split_name)
                _ = (
                    split
                    | f"Values[{split_name}]" >> beam.Values()
                    | f"Write[{split_name}]"
                    >> _WriteTFRecordShards(os.path.join(split_dir, RECORD_FILE_PREFIX))
                )
            _ = (
                ingested[_COUNTS_TAG]
                | "Count" >> beam.combiners.Count.PerElement()
                | "ToDict" >> beam.combiners.ToDict()
                | "CountsToJson" >> beam.Map(json.dumps, sort_keys=True)
                | "WriteCounts" >> beam.io.WriteToText(counts_path, shard_name_template="")
            )
            _ = ingested[_SKIPPED_TAG] | "WriteSkipped" >> beam.io.WriteToText(
                skipped_path, shard_name_template=""
            )

        counts = json.loads((_first_lines(counts_path, 1) or ["{}"])[0])
        fileio.rmtree(os.path.dirname(counts_path))
        if not fileio.exists(skipped_path):
            with fileio.open(skipped_path, "w") as f:
                f.write("")
        skipped_reasons = {
            key.removeprefix("skipped:"): count
            for key, count in counts.items()
            if key.startswith("skipped:")
        }
        num_train, num_eval = counts.get("split:train", 0), counts.get("split:eval", 0)
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        examples.set_int_custom_property("num_examples", num_train + num_eval)
        examples.set_int_custom_property("num_train", num_train)
        examples.set_int_custom_property("num_eval", num_eval)
        examples.set_int_custom_property("num_skipped", sum(skipped_reasons.values()))
        examples.set_int_custom_property("num_normalized", counts.get(_NORMALIZED_COUNT, 0))
        examples.set_string_custom_property("skipped_reasons", json.dumps(skipped_reasons))
        examples.set_string_custom_property("label_names", json.dumps(label_names))
        self._report(input_base, skipped_path, skipped_reasons, num_train, num_eval)

    @staticmethod
    def _report(input_base, skipped_path, skipped_reasons, num_train, num_eval) -> None:
        """Logs what was skipped; fails when nothing usable was found."""
        num_skipped = sum(skipped_reasons.values())
        for line in _first_lines(skipped_path, _SKIPPED_IN_LOG):
            item = json.loads(line)
            log.warning("Skipped %s (%s): %s", item["path"], item["reason"], item["detail"])
        if num_skipped:
            log.warning(
                "Skipped %d file(s) of %s %s; the full list is in %s",
                num_skipped,
                input_base,
                json.dumps(skipped_reasons, sort_keys=True),
                skipped_path,
            )
        if num_train + num_eval == 0:
            first = [json.loads(line) for line in _first_lines(skipped_path, _REASONS_IN_ERROR)]
            reasons = "; ".join(f"{s['path']}: {s['reason']} ({s['detail']})" for s in first)
            raise ArtganError(f"image folder {input_base!r} holds no usable image ({reasons})")
        for split_name, count in (("train", num_train), ("eval", num_eval)):
            if count == 0:
                log.warning("The %s split is empty: %s has too few images", split_name, input_base)
