"""Executor of ImageExampleGen: a folder of image files -> train/eval tf.Example TFRecords."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from artgan.errors import ArtganError

log = logging.getLogger(__name__)

INPUT_BASE_KEY = "input_base"
EVAL_PERCENT_KEY = "eval_percent"
EXAMPLES_KEY = "examples"
INPUT_FINGERPRINT_KEY = "input_fingerprint"

SPLIT_NAMES = ("train", "eval")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
MAX_PIXELS = 8192 * 8192  # larger images are skipped before their pixels are decoded
SKIPPED_FILE_NAME = "skipped.jsonl"
RECORD_FILE_PREFIX = "data_tfrecord"  # the name TFX's own ExampleGen uses
_COUNTS_DIR_NAME = ".counts"
_SKIPPED_TAG = "skipped"
_REASONS_IN_ERROR = 5


def list_image_files(input_base: str) -> list[str]:
    """Relative POSIX paths of image files under input_base, sorted; symlinked dirs not followed."""
    paths = []
    for dir_path, dir_names, file_names in os.walk(input_base, followlinks=False):
        dir_names.sort()
        for name in file_names:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                relative = os.path.relpath(os.path.join(dir_path, name), input_base)
                paths.append(relative.replace(os.sep, "/"))
    return sorted(paths)


def folder_fingerprint(input_base: str) -> str:
    """A digest of every image file's path, size and mtime: changes when the folder does.

    Passed as a component parameter so TFX's cache never reuses Examples of an older folder.
    """
    digest = hashlib.sha256()
    for path in list_image_files(input_base):
        stat = os.stat(os.path.join(input_base, *path.split("/")))
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def class_names(paths: list[str]) -> list[str]:
    """Sorted top-level folder names if every file sits in one, else [] (unlabelled)."""
    if not paths or any("/" not in path for path in paths):
        return []
    return sorted({path.split("/", 1)[0] for path in paths})


def split_of(path: str, eval_percent: int) -> str:
    """'eval' or 'train', decided by a stable hash of the relative path."""
    bucket = int.from_bytes(hashlib.sha256(path.encode("utf-8")).digest()[:8], "big") % 100
    return "eval" if bucket < eval_percent else "train"


def channels_of(image: Image.Image) -> int:
    """Channels a decoder yields for this image (palette -> RGB or RGBA, CMYK -> RGB)."""
    if image.mode in ("P", "PA"):
        return 4 if image.mode == "PA" or "transparency" in image.info else 3
    if image.mode == "CMYK":
        return 3
    return len(image.getbands())


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


class _DecodeImageFn(beam.DoFn):
    """Reads and decodes one file: emits (split, serialized tf.Example) or a skip record."""

    def __init__(self, input_base: str, label_names: list[str], eval_percent: int):
        self._input_base = input_base
        self._label_index = {name: index for index, name in enumerate(label_names)}
        self._eval_percent = eval_percent

    def process(self, path: str):
        try:
            with open(os.path.join(self._input_base, *path.split("/")), "rb") as f:
                data = f.read()
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError(f"{width}x{height} exceeds the {MAX_PIXELS}-pixel limit")
                image.load()
                channels = channels_of(image)
        except UnidentifiedImageError:
            reason = "not a readable image (unknown or corrupt format)"
            yield beam.pvalue.TaggedOutput(_SKIPPED_TAG, {"path": path, "reason": reason})
            return
        except Exception as error:  # any undecodable file is skipped, never fatal
            reason = f"{type(error).__name__}: {error}"
            yield beam.pvalue.TaggedOutput(_SKIPPED_TAG, {"path": path, "reason": reason})
            return
        features = {
            "image": _bytes_feature(data),
            "height": _int_feature(height),
            "width": _int_feature(width),
            "channels": _int_feature(channels),
            "path": _bytes_feature(path.encode("utf-8")),
        }
        if self._label_index:
            label_name = path.split("/", 1)[0]
            features["label"] = _int_feature(self._label_index[label_name])
            features["label_name"] = _bytes_feature(label_name.encode("utf-8"))
        example = tf.train.Example(features=tf.train.Features(feature=features))
        yield split_of(path, self._eval_percent), example.SerializeToString()


def _read_lines(path: str) -> list[str]:
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as f:
        return [line for line in f.read().splitlines() if line.strip()]


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes decodable images as GZIP TFRecords of tf.Example under Split-train/Split-eval."""

    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_base = exec_properties[INPUT_BASE_KEY]
        eval_percent = int(exec_properties.get(EVAL_PERCENT_KEY, 20))
        if not 0 <= eval_percent <= 100:
            raise ArtganError(f"eval_percent must be in 0..100, got {eval_percent}")
        if not os.path.isdir(input_base):
            raise ArtganError(f"image folder {input_base!r} does not exist or is not a folder")
        paths = list_image_files(input_base)
        if not paths:
            raise ArtganError(
                f"image folder {input_base!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
            )
        label_names = class_names(paths)

        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(list(SPLIT_NAMES))
        counts_prefix = os.path.join(examples.uri, _COUNTS_DIR_NAME, "counts.json")
        skipped_path = os.path.join(examples.uri, SKIPPED_FILE_NAME)
        decode_fn = _DecodeImageFn(input_base, label_names, eval_percent)

        with self._make_beam_pipeline() as pipeline:
            decoded = (
                pipeline
                | "CreatePaths" >> beam.Create(paths)
                | "DecodeImages"
                >> beam.ParDo(decode_fn).with_outputs(_SKIPPED_TAG, main=EXAMPLES_KEY)
            )
            splits = decoded[EXAMPLES_KEY] | "PartitionSplits" >> beam.Partition(
                lambda keyed, _: SPLIT_NAMES.index(keyed[0]), len(SPLIT_NAMES)
            )
            for split_name, split in zip(SPLIT_NAMES, splits, strict=True):
                split_dir = artifact_utils.get_split_uri([examples], split_name)
                _ = (
                    split
                    | f"Values[{split_name}]" >> beam.Values()
                    | f"Shuffle[{split_name}]" >> beam.Reshuffle()
                    | f"Write[{split_name}]"
                    >> beam.io.WriteToTFRecord(
                        os.path.join(split_dir, RECORD_FILE_PREFIX), file_name_suffix=".gz"
                    )
                )
            _ = (
                decoded[EXAMPLES_KEY]
                | "SplitKeys" >> beam.Keys()
                | "CountPerSplit" >> beam.combiners.Count.PerElement()
                | "ToDict" >> beam.combiners.ToDict()
                | "CountsToJson" >> beam.Map(json.dumps)
                | "WriteCounts" >> beam.io.WriteToText(counts_prefix, shard_name_template="")
            )
            _ = (
                decoded[_SKIPPED_TAG]
                | "SkippedToJson" >> beam.Map(json.dumps, sort_keys=True)
                | "WriteSkipped" >> beam.io.WriteToText(skipped_path, shard_name_template="")
            )

        counts = json.loads((_read_lines(counts_prefix) or ["{}"])[0])
        if fileio.exists(os.path.dirname(counts_prefix)):
            fileio.rmtree(os.path.dirname(counts_prefix))
        skipped = [json.loads(line) for line in _read_lines(skipped_path)]
        if not fileio.exists(skipped_path):
            with fileio.open(skipped_path, "w") as f:
                f.write("")
        num_train, num_eval = counts.get("train", 0), counts.get("eval", 0)
        self._record_properties(examples, num_train, num_eval, len(skipped), label_names)
        for item in skipped:
            log.warning("Skipped %s: %s", item["path"], item["reason"])
        if num_train + num_eval == 0:
            reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:_REASONS_IN_ERROR])
            raise ArtganError(f"image folder {input_base!r} holds no decodable image ({reasons})")
        for split_name, count in (("train", num_train), ("eval", num_eval)):
            if count == 0:
                log.warning("The %s split is empty: %s has too few images", split_name, input_base)

    @staticmethod
    def _record_properties(
        examples: types.Artifact,
        num_train: int,
        num_eval: int,
        num_skipped: int,
        label_names: list[str],
    ) -> None:
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        examples.set_int_custom_property("num_examples", num_train + num_eval)
        examples.set_int_custom_property("num_train", num_train)
        examples.set_int_custom_property("num_eval", num_eval)
        examples.set_int_custom_property("num_skipped", num_skipped)
        examples.set_string_custom_property("label_names", json.dumps(label_names))
