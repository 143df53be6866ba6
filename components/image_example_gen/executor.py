"""Executor of ImageExampleGen: a folder of image files -> train/eval tf.Example TFRecords.

A Beam pipeline: the listed paths are spread over the workers in tasks; a worker reads a
task's files on threads ahead of checking each one's header (``read_ahead``,
``images.ingest_bytes``), has TF decode a batch of them at once on another thread while it
goes on with the next batch (``decode_check``) and sends each batch's examples straight into
GZIP TFRecord shards, so no stage holds the data set. Skipped files go to ``skipped.jsonl``
with their reason; counts, summed per task, become custom properties of the Examples artifact.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import json
import logging
import os
from typing import Any

import apache_beam as beam
from tensorflow.core.example import example_pb2
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from artgan.components.image_example_gen import decode_check, images, read_ahead
from artgan.components.image_example_gen.listing import (
    IMAGE_EXTENSIONS,
    class_names,
    is_folder,
    join,
    list_image_files,
    split_of,
)
from artgan.components.image_example_gen.tfrecord_batches import WriteTFRecordBatches
from artgan.config import DataConfig
from artgan.errors import ArtganError

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
# holds a shuffle's input in memory), still enough tasks to keep every worker busy; TF checks a
# task's files in batches of decode_check.BATCH_SIZE.
PATHS_PER_TASK = 2 * decode_check.BATCH_SIZE
_SKIPPED_IN_LOG = 20
# A worker starts a new TFRecord shard after this many examples or framed, uncompressed bytes
# (only ImageExampleGen writes with WriteTFRecordBatches; Transform is TFX's own).
MAX_RECORDS_PER_SHARD = 10_000
MAX_BYTES_PER_SHARD = 256 * 2**20


def image_example(path: str, image: images.IngestedImage, label_index: dict[str, int]) -> bytes:
    """The serialized tf.Example of one ingested file."""
    example = example_pb2.Example()
    feature = example.features.feature
    feature["image"].bytes_list.value.append(image.encoded)
    feature["path"].bytes_list.value.append(os.fsencode(path))
    for key in ("height", "width", "channels", "orientation"):
        feature[key].int64_list.value.append(getattr(image, key))
    feature["format"].bytes_list.value.append(image.source_format.encode("ascii", "replace"))
    feature["normalized"].int64_list.value.append(int(image.normalized))
    if label_index:
        label_name = path.split("/", 1)[0]
        feature["label"].int64_list.value.append(label_index[label_name])
        feature["label_name"].bytes_list.value.append(os.fsencode(label_name))
    return example.SerializeToString()


class _IngestImageFn(beam.DoFn):
    """A task of relative paths (os.fsencode'd: names need not be UTF-8) -> per file a
    serialized tf.Example tagged with its split, or a skipped.jsonl line; then the task's
    (count key, count) pairs."""

    def __init__(self, input_base: str, label_names: list[str], eval_percent: int, max_pixels: int):
        self._input_base = input_base
        self._label_index = {name: index for index, name in enumerate(label_names)}
        self._eval_percent = eval_percent
        self._max_pixels = max_pixels

    def setup(self):
        # This worker's threads: reading ahead, and TF's decode check (TF releases the GIL, so
        # it runs beside the reading and Pillow's parsing of the next group).
        self._read_pool = concurrent.futures.ThreadPoolExecutor(read_ahead.THREADS, "artgan-read")
        self._check_pool = concurrent.futures.ThreadPoolExecutor(1, "artgan-check")

    def teardown(self):
        self._read_pool.shutdown()
        self._check_pool.shutdown()

    def process(self, task: tuple[bytes, ...]):
        counts = collections.Counter()
        in_flight: collections.deque = collections.deque()  # (group, its TF check's future)
        group, group_bytes, group_kept = [], 0, 0  # read, not yet sent to TF's check
        paths = [os.fsdecode(encoded_path) for encoded_path in task]
        contents = read_ahead.read_ahead(
            [join(self._input_base, path) for path in paths], self._read_pool
        )
        for path, (_, content) in zip(paths, contents, strict=True):
            try:
                if isinstance(content, images.SkippedFile):
                    raise content
                image = images.ingest_bytes(content, self._max_pixels)
                group_bytes += decode_check.checked_bytes(image)
                group_kept += _kept_as_is(image)
            except images.SkippedFile as skipped:
                image = skipped
            group.append((path, image))
            if group_kept >= decode_check.BATCH_SIZE or group_bytes >= decode_check.MAX_BATCH_BYTES:
                in_flight.append((group, self._checked_in_background(group)))
                group, group_bytes, group_kept = [], 0, 0
                if len(in_flight) > 1:  # one group checked while the next is read and opened
                    yield from self._outputs(*in_flight.popleft(), counts)
        if group:
            in_flight.append((group, self._checked_in_background(group)))
        while in_flight:
            yield from self._outputs(*in_flight.popleft(), counts)
        for key, count in sorted(counts.items()):
            yield beam.pvalue.TaggedOutput(_COUNTS_TAG, (key, count))

    def _outputs(self, group: list, check: concurrent.futures.Future, counts: collections.Counter):
        """Stores normalised what TF would decode wrongly; yields each split's examples as one
        batch (Beam's cost per element is paid per batch, not per image) and skipped lines."""
        decodes = iter(check.result())
        batches = {split_name: [] for split_name in SPLIT_NAMES}
        for path, image in group:
            if _kept_as_is(image) and not next(decodes):
                image = self._normalized(image)
            if isinstance(image, images.SkippedFile):
                record = {"path": path, "reason": image.reason, "detail": image.detail}
                yield beam.pvalue.TaggedOutput(_SKIPPED_TAG, json.dumps(record, sort_keys=True))
                counts[f"skipped:{image.reason}"] += 1
                continue
            split = split_of(path, self._eval_percent)
            batches[split].append(image_example(path, image, self._label_index))
            counts[f"split:{split}"] += 1
            if image.normalized:
                counts[_NORMALIZED_COUNT] += 1
        for split_name, batch in batches.items():
            if batch:
                yield beam.pvalue.TaggedOutput(split_name, tuple(batch))

    def _checked_in_background(self, group: list) -> concurrent.futures.Future:
        """TF's decode check of the group's images kept as they are, on the check thread."""
        kept = [image for _, image in group if _kept_as_is(image)]
        return self._check_pool.submit(decode_check.tensorflow_decodes, kept)

    def _normalized(self, image: images.IngestedImage) -> images.IngestedImage | images.SkippedFile:
        try:
            return images.ingest_bytes(image.encoded, self._max_pixels, normalize=True)
        except images.SkippedFile as skipped:
            return skipped


def _kept_as_is(image: images.IngestedImage | images.SkippedFile) -> bool:
    """An image whose original bytes are kept, if TF decodes them right."""
    return isinstance(image, images.IngestedImage) and not image.normalized


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
        defaults = DataConfig()
        eval_percent = exec_properties.get(EVAL_PERCENT_KEY)
        eval_percent = defaults.eval_percent if eval_percent is None else int(eval_percent)
        max_pixels = int(exec_properties.get(MAX_PIXELS_KEY) or defaults.max_pixels)
        # DataConfig's ranges: data.eval_percent 1..50, data.max_pixels at least 1.
        DataConfig(eval_percent=eval_percent, max_pixels=max_pixels).validate()
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
                # Reshuffled over the workers; typed, or Beam infers the type of every path.
                | "ListedPaths" >> beam.Create(_tasks(paths)).with_output_types(tuple[bytes, ...])
                | "IngestImages"
                >> beam.ParDo(ingest_fn).with_outputs(_SKIPPED_TAG, _COUNTS_TAG, *SPLIT_NAMES)
            )
            for split_name in SPLIT_NAMES:
                split_dir = artifact_utils.get_split_uri([examples], split_name)
                _ = ingested[split_name] | f"Write[{split_name}]" >> WriteTFRecordBatches(
                    os.path.join(split_dir, RECORD_FILE_PREFIX),
                    MAX_RECORDS_PER_SHARD,
                    MAX_BYTES_PER_SHARD,
                )
            _ = (
                ingested[_COUNTS_TAG]
                | "Count" >> beam.CombinePerKey(sum)
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
