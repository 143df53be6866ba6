"""artgan's Transform: TFX's component and executor, writing the transformed examples in
batches. The records must be TFX's own, only written faster."""

from __future__ import annotations

import glob
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tfx.components.transform import executor as tfx_transform
from tfx.dsl.components.base import base_beam_executor
from tfx.types import Channel, standard_artifacts

from artgan.bench.ingest import run_transform
from artgan.components.image_example_gen.executor import Executor as ImageExampleGenExecutor
from artgan.components.transform import Transform, executor

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
GZIP_FASTEST_LEVEL = 4  # the XFL byte of a gzip header (RFC 1952) written at level 1


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory) -> str:
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
    return examples.uri


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


def test_transformed_examples_are_the_examples_tfx_writes(examples_dir, tmp_path):
    data = {"resolution": 8, "channels": 3}
    ours, tfx_own = str(tmp_path / "ours"), str(tmp_path / "tfx")
    run_transform(examples_dir, ours, data, BEAM_ARGS)
    run_transform(examples_dir, tfx_own, data, BEAM_ARGS, executor_class=tfx_transform.Executor)
    for split in ("train", "eval"):
        written = _examples(_transformed(ours, split))
        expected = _examples(_transformed(tfx_own, split))
        assert written and len(written) == len(expected)
        # Same labels and pixels; the float pixels may differ in their last bits, as the
        # preprocessing resizes a batch of same-sized images at once, and Beam's batches vary.
        for label, image in written:
            assert image.shape == (8 * 8 * 3,)
            closest = min(expected, key=lambda other: np.abs(other[1] - image).max())
            assert closest[0] == label and np.abs(closest[1] - image).max() < 1e-5
            expected.remove(closest)
    # Written by the batch writer: gzip at its fastest level, not TFX's default level.
    for shard in _transformed(ours, "train"):
        with open(shard, "rb") as f:
            assert f.read(10)[8] == GZIP_FASTEST_LEVEL
    with open(_transformed(tfx_own, "train")[0], "rb") as f:
        assert f.read(10)[8] != GZIP_FASTEST_LEVEL


def test_tfx_do_still_builds_its_processor_by_name():
    # The executor runs TFX's Do with TransformProcessor swapped in its globals: a TFX version
    # that reaches its processor another way would silently write with TFX's writer again.
    assert "TransformProcessor" in tfx_transform.Executor.Do.__code__.co_names
    assert issubclass(executor.BatchWritingProcessor, tfx_transform.TransformProcessor)


def test_the_component_is_tfx_transform_with_artgan_executor():
    component = Transform(
        examples=Channel(type=standard_artifacts.Examples),
        schema=Channel(type=standard_artifacts.Schema),
        preprocessing_fn="artgan.models.preprocessing.preprocessing_fn",
    )
    assert component.id == "Transform"
    assert component.executor_spec.executor_class is executor.Executor
    assert set(component.outputs) >= {"transform_graph", "transformed_examples"}
