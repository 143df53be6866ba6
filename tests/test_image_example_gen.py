"""ImageExampleGen's executor, run directly on tiny image folders."""

import dataclasses
import glob
import io
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts

from artgan.components.image_example_gen import ImageExampleGen, decode_check, executor, images
from artgan.components.image_example_gen.executor import Executor
from artgan.components.image_example_gen.listing import folder_fingerprint, split_of
from artgan.config import DataConfig
from artgan.errors import ArtganError

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _encode(size, mode, image_format, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], len(mode)), np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _run(input_base, output_dir, eval_percent=30):
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir)
    # make_beam_pipeline_fn: skips TFX packaging itself for remote runners (seconds per run).
    context = base_beam_executor.BaseBeamExecutor.Context(
        make_beam_pipeline_fn=lambda: beam.Pipeline(argv=BEAM_ARGS)
    )
    Executor(context).Do(
        {}, {"examples": [examples]}, {"input_base": str(input_base), "eval_percent": eval_percent}
    )
    return examples


def _read_split(examples, split_name):
    files = glob.glob(os.path.join(examples.uri, f"Split-{split_name}", "data_tfrecord-*.gz"))
    assert files
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()) for r in records]


def _feature(example, name):
    feature = example.features.feature[name]
    return (feature.int64_list.value or feature.bytes_list.value)[0]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """cats/ holds 10 RGB PNGs and 3 bad files; dogs/ 10 JPEGs of other modes and sizes."""
    root = tmp_path_factory.mktemp("images")
    good = {}
    for i in range(10):
        good[f"cats/cat_{i:02d}.png"] = _encode((8 + i, 6), "RGB", "PNG", i)
        mode, name = ("L", f"dogs/dog_{i:02d}.jpg") if i % 2 else ("RGB", f"dogs/Dog_{i:02d}.JPEG")
        good[name] = _encode((5, 7 + i), mode, "JPEG", 100 + i)
    good["dogs/alpha.png"] = _encode((4, 4), "RGBA", "PNG", 7)
    bad = {
        "cats/empty.png": b"",
        "cats/notes.png": b"this is not an image\n",
        "cats/truncated.png": good["cats/cat_09.png"][: len(good["cats/cat_09.png"]) // 2],
    }
    for relative, data in {**good, **bad}.items():
        _write(os.path.join(root, relative), data)
    _write(os.path.join(root, "dogs", "readme.txt"), b"ignored: not an image extension")
    out = tmp_path_factory.mktemp("out")
    first = _run(root, out / "first")
    second = _run(root, out / "second")
    return root, good, bad, first, second


def test_counts_match_records_and_custom_properties(labelled):
    _, good, _, examples, _ = labelled
    train, eval_ = _read_split(examples, "train"), _read_split(examples, "eval")
    assert train and eval_
    assert examples.get_int_custom_property("num_train") == len(train)
    assert examples.get_int_custom_property("num_eval") == len(eval_)
    assert examples.get_int_custom_property("num_examples") == len(train) + len(eval_) == len(good)
    assert examples.get_int_custom_property("num_skipped") == 3
    assert json.loads(examples.get_string_custom_property("label_names")) == ["cats", "dogs"]
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples_utils.get_payload_format_string(examples) == "FORMAT_TF_EXAMPLE"
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    assert not os.path.exists(os.path.join(examples.uri, ".counts"))


def test_skipped_files_are_listed_with_reasons(labelled):
    _, _, bad, examples, _ = labelled
    with open(os.path.join(examples.uri, "skipped.jsonl")) as f:
        skipped = [json.loads(line) for line in f]
    assert sorted(item["path"] for item in skipped) == sorted(bad)
    assert all(item["reason"] for item in skipped)


def test_features_hold_original_bytes_labels_and_shape(labelled):
    root, good, _, examples, _ = labelled
    records = _read_split(examples, "train") + _read_split(examples, "eval")
    by_path = {_feature(r, "path").decode(): r for r in records}
    assert sorted(by_path) == sorted(good)
    for path, record in by_path.items():
        assert _feature(record, "image") == good[path]
        class_name = path.split("/")[0]
        assert _feature(record, "label_name") == class_name.encode()
        assert _feature(record, "label") == ["cats", "dogs"].index(class_name)
        with Image.open(os.path.join(root, path)) as image:
            assert (_feature(record, "width"), _feature(record, "height")) == image.size
    assert _feature(by_path["cats/cat_03.png"], "channels") == 3
    assert _feature(by_path["dogs/dog_01.jpg"], "channels") == 1
    assert _feature(by_path["dogs/alpha.png"], "channels") == 4


def test_split_assignment_is_stable_across_runs(labelled):
    _, _, _, first, second = labelled
    for split_name in ("train", "eval"):
        paths = [{_feature(r, "path") for r in _read_split(a, split_name)} for a in (first, second)]
        assert paths[0] == paths[1]


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(6):
        _write(str(tmp_path / "images" / f"img_{i}.png"), _encode((4, 4), "L", "PNG", i))
    examples = _run(tmp_path / "images", tmp_path / "out", eval_percent=50)
    records = _read_split(examples, "train") + _read_split(examples, "eval")
    assert len(records) == 6
    assert all("label" not in r.features.feature for r in records)
    assert all("label_name" not in r.features.feature for r in records)
    assert examples.get_string_custom_property("label_names") == "[]"


def test_object_storage_uri_is_listed_and_read_through_tf_gfile(tmp_path):
    # file:// goes through the same tf.io.gfile code as gs:// or s3:// would.
    for i in range(4):
        _write(str(tmp_path / "images" / "sub" / f"img_{i}.png"), _encode((4, 4), "L", "PNG", i))
    _write(str(tmp_path / "images" / "sub" / "broken.png"), b"")
    examples = _run(f"file://{tmp_path}/images/", tmp_path / "out", eval_percent=50)
    records = _read_split(examples, "train") + _read_split(examples, "eval")
    assert sorted(_feature(r, "path") for r in records) == [
        f"sub/img_{i}.png".encode() for i in range(4)
    ]
    assert examples.get_int_custom_property("num_skipped") == 1


def test_folder_without_decodable_images_raises(tmp_path):
    _write(str(tmp_path / "bad" / "a" / "broken.png"), b"not a png")
    with pytest.raises(ArtganError, match="bad.*broken.png"):
        _run(tmp_path / "bad", tmp_path / "out1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtganError, match="empty"):
        _run(tmp_path / "empty", tmp_path / "out2")
    with pytest.raises(ArtganError, match="missing"):
        _run(tmp_path / "missing", tmp_path / "out3")


@pytest.mark.parametrize("eval_percent", [0, 51])
def test_eval_percent_outside_data_configs_range_is_refused(tmp_path, eval_percent):
    _write(str(tmp_path / "images" / "a.png"), _encode((4, 4), "L", "PNG", 0))
    with pytest.raises(
        ArtganError, match=f"data.eval_percent must be in 1..50, got {eval_percent}"
    ):
        _run(tmp_path / "images", tmp_path / "out", eval_percent=eval_percent)


def test_eval_percent_defaults_to_data_configs(tmp_path):
    for i in range(40):
        _write(str(tmp_path / "images" / f"img_{i:02d}.png"), _encode((3, 3), "L", "PNG", i))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "out")
    context = base_beam_executor.BaseBeamExecutor.Context(
        make_beam_pipeline_fn=lambda: beam.Pipeline(argv=BEAM_ARGS)
    )
    Executor(context).Do({}, {"examples": [examples]}, {"input_base": str(tmp_path / "images")})
    eval_paths = {_feature(r, "path").decode() for r in _read_split(examples, "eval")}
    expected = {
        f"img_{i:02d}.png"
        for i in range(40)
        if split_of(f"img_{i:02d}.png", DataConfig().eval_percent) == "eval"
    }
    assert eval_paths == expected


def test_component_declares_examples_output():
    component = ImageExampleGen(input_base="/data/images")
    assert component.outputs["examples"].type is standard_artifacts.Examples
    assert component.exec_properties == {
        "input_base": "/data/images",
        "eval_percent": DataConfig().eval_percent,
        "input_fingerprint": "",
        "max_pixels": DataConfig().max_pixels,
    }


def test_folder_fingerprint_changes_when_a_file_changes(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (4, 4), 10).save(folder / "a.png")
    before = folder_fingerprint(str(folder))
    assert folder_fingerprint(str(folder)) == before
    Image.new("L", (4, 5), 200).save(folder / "a.png")
    assert folder_fingerprint(str(folder)) != before
    changed = folder_fingerprint(str(folder))
    Image.new("L", (4, 4), 10).save(folder / "b.png")
    assert folder_fingerprint(str(folder)) != changed


def _without_iend(data):
    """A PNG cut before its IEND chunk: Pillow loads it, TF refuses it."""
    return data[:-12]


def test_tensorflow_check_in_batches_matches_each_files_answer(monkeypatch):
    monkeypatch.setattr(decode_check, "BATCH_SIZE", 32)
    good = [images.ingest_bytes(_encode((3 + i % 5, 4), "L", "PNG", i), 10_000) for i in range(70)]
    broken = images.ingest_bytes(_without_iend(_encode((5, 5), "RGB", "PNG", 1)), 10_000)
    wrong_channels = dataclasses.replace(good[0], channels=3)  # the file is gray
    checked = [*good[:66], broken, *good[66:], wrong_channels]
    expected = [image is not broken and image is not wrong_channels for image in checked]
    assert not broken.normalized and len(checked) > decode_check.BATCH_SIZE  # two calls
    assert decode_check.tensorflow_decodes(checked) == expected
    monkeypatch.setattr(decode_check, "MAX_BATCH_BYTES", 100)  # a few images per call
    assert decode_check.tensorflow_decodes(checked) == expected


def test_shards_roll_over_after_the_record_limit_and_keep_every_example(tmp_path, monkeypatch):
    root = tmp_path / "images"
    for i in range(20):
        _write(str(root / f"img_{i:02d}.png"), _encode((3, 3), "L", "PNG", i))
    monkeypatch.setattr(executor, "PATHS_PER_TASK", 3)  # batches of at most 3 examples
    monkeypatch.setattr(executor, "MAX_RECORDS_PER_SHARD", 4)
    examples = _run(root, tmp_path / "out", eval_percent=1)
    shards = glob.glob(os.path.join(examples.uri, "Split-*", "data_tfrecord-*.gz"))
    per_shard = [
        sum(1 for _ in tf.data.TFRecordDataset(shard, compression_type="GZIP")) for shard in shards
    ]
    assert sum(per_shard) == 20 and len(shards) >= 20 // (4 + 3 - 1)
    assert max(per_shard) <= 4 + 3 - 1  # a shard ends with the batch that reaches the limit
    records = _read_split(examples, "train") + _read_split(examples, "eval")
    paths = sorted(_feature(r, "path").decode() for r in records)
    assert paths == [f"img_{i:02d}.png" for i in range(20)]


def test_small_tasks_and_early_flushes_give_the_same_examples(tmp_path, monkeypatch):
    root = tmp_path / "images"
    files = {f"a/img_{i}.png": _encode((4, 3 + i), "RGB", "PNG", i) for i in range(7)}
    files["b/no_iend.png"] = _without_iend(_encode((6, 6), "L", "PNG", 9))
    files["b/empty.png"] = b""
    noise = _encode((16, 16), "RGB", "PNG", 8)
    files["b/truncated.png"] = noise[: len(noise) // 2]
    for relative, data in files.items():
        _write(str(root / relative), data)
    monkeypatch.setattr(executor, "PATHS_PER_TASK", 3)  # 4 tasks whose counts are summed
    monkeypatch.setattr(decode_check, "MAX_BATCH_BYTES", 1)  # every image checked on its own
    examples = _run(root, tmp_path / "out", eval_percent=50)
    records = _read_split(examples, "train") + _read_split(examples, "eval")
    by_path = {_feature(r, "path").decode(): r for r in records}
    assert sorted(by_path) == sorted([*(f"a/img_{i}.png" for i in range(7)), "b/no_iend.png"])
    assert all(_feature(by_path[p], "image") == files[p] for p in by_path if p.startswith("a/"))
    assert _feature(by_path["b/no_iend.png"], "normalized") == 1
    assert examples.get_int_custom_property("num_examples") == 8
    assert examples.get_int_custom_property("num_normalized") == 1
    reasons = json.loads(examples.get_string_custom_property("skipped_reasons"))
    assert reasons == {"empty_file": 1, "corrupt": 1}


@pytest.mark.parametrize("size", [1, 127, 128, 20_000, 3_000_000])  # one- to four-byte lengths
@pytest.mark.parametrize("labelled", [True, False])
def test_examples_hold_every_feature_as_a_proto_built_example(size, labelled):
    image = images.IngestedImage(
        bytes(range(256)) * (size // 256) + b"x" * (size % 256),
        height=3000,
        width=1,
        channels=4,
        orientation=6,
        source_format="JPEG",
        normalized=bool(size % 2),
    )
    path = "caf\udce9/photo 1.jpg"  # a non-UTF-8 folder name, as os.fsdecode gives it
    label_index = {"caf\udce9": 7} if labelled else {}
    expected = tf.train.Example()
    feature = expected.features.feature
    feature["image"].bytes_list.value.append(image.encoded)
    for key in ("height", "width", "channels", "orientation"):
        feature[key].int64_list.value.append(getattr(image, key))
    feature["format"].bytes_list.value.append(b"JPEG")
    feature["normalized"].int64_list.value.append(int(image.normalized))
    feature["path"].bytes_list.value.append(b"caf\xe9/photo 1.jpg")
    if labelled:
        feature["label"].int64_list.value.append(7)
        feature["label_name"].bytes_list.value.append(b"caf\xe9")
    example = tf.train.Example.FromString(executor.image_example(path, image, label_index))
    assert example == expected
