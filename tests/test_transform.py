"""The pipeline's Transform (TFX's own) with artgan's preprocessing_fn, on what
ImageExampleGen writes: every example of each split, labelled, at the configured size."""

from __future__ import annotations

import glob
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from artgan.bench.ingest import run_transform
from artgan.components.image_example_gen.executor import Executor as ImageExampleGenExecutor

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """ImageExampleGen's output for 60 small noise images in two class folders."""
    root = tmp_path_factory.mktemp("transform")
    images = root / "images"
    rng = np.random.default_rng(0)
    for index in range(60):
        folder = images / ("cats" if index % 2 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        size = (12, 12) if index % 3 else (16, 10)  # also not square, not the output size
        pixels = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    context = base_beam_executor.BaseBeamExecutor.Context(
        make_beam_pipeline_fn=lambda: beam.Pipeline(argv=BEAM_ARGS)
    )
    properties = {"input_base": str(images), "eval_percent": 25}
    ImageExampleGenExecutor(context).Do({}, {"examples": [examples]}, properties)
    return examples


def _transformed(out_dir: str, split: str) -> list[str]:
    return sorted(glob.glob(os.path.join(out_dir, "transformed_examples", f"Split-{split}", "*")))


def _examples(shards: list[str]) -> list[tuple[int, np.ndarray]]:
    """(label, image pixels) of each transformed example in the GZIP TFRecord shards."""
    examples = []
    for record in tf.data.TFRecordDataset(shards, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        image = np.array(feature["image"].float_list.value, np.float32)
        examples.append((feature["label"].int64_list.value[0], image))
    return examples


def _labels(shards: list[str]) -> list[int]:
    """The label of each untransformed example in ImageExampleGen's GZIP TFRecord shards."""
    return [
        tf.train.Example.FromString(record.numpy()).features.feature["label"].int64_list.value[0]
        for record in tf.data.TFRecordDataset(shards, compression_type="GZIP")
    ]


def test_every_example_of_each_split_comes_out_labelled_at_the_configured_size(examples, tmp_path):
    run_transform(examples.uri, str(tmp_path), {"resolution": 8, "channels": 3}, BEAM_ARGS)
    for split in ("train", "eval"):
        written = _examples(_transformed(str(tmp_path), split))
        ingested = _labels(glob.glob(os.path.join(examples.uri, f"Split-{split}", "*.gz")))
        assert written and sorted(label for label, _ in written) == sorted(ingested)
        for _, image in written:
            assert image.shape == (8 * 8 * 3,)
            assert np.isfinite(image).all()
