"""The real pipeline, end to end, on tiny real images: MLMD, blessing, push, serve, generate."""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from apache_beam.runners.portability import local_job_service
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from PIL import Image
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.orchestration import metadata
from tiny_pipeline import TINY_DIGITS, tiny_config

from artgan.cli import build_parser, main
from artgan.cli.run import config_from_args
from artgan.components.image_example_gen.listing import list_image_files, split_of
from artgan.config import PipelineConfig
from artgan.contract.warmup import read_warmup_file
from artgan.models.export import latents_from_seeds
from artgan.pipeline.local_runner import run_locally
from artgan.pipeline.mlmd.lineage import downstream
from artgan.pipeline.mlmd.reader import MetadataReader
from artgan.serving.client import GeneratorClient
from artgan.serving.sampling import sample_served_model
from artgan.serving.server import start_server

pytestmark = pytest.mark.e2e

COMPONENTS = (
    "ImageExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "Transform",
    "Trainer",
    "DomainClassifier",
    "RealFeatureStatisticsGen",
    "GanEvaluator",
    "ServingCheck",
    "Pusher",
)
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
SEEDS = [1, 2, 3]


def saved_model_cli_run(version_dir: str, signature: str, inputs: dict, out_dir) -> dict:
    """TensorFlow's own tool, which loads a SavedModel the way TF Serving does."""
    paths = []
    for name, values in inputs.items():
        path = os.path.join(out_dir, f"{signature}_{name}.npy")
        np.save(path, values)
        paths.append(f"{name}={path}")
    outdir = os.path.join(out_dir, signature)
    subprocess.run(
        [SAVED_MODEL_CLI, "run", "--dir", version_dir, "--tag_set", "serve"]
        + ["--signature_def", signature, "--inputs", ";".join(paths), "--outdir", outdir],
        check=True,
        capture_output=True,
    )
    return {
        name: np.load(os.path.join(outdir, f"{name}.npy"), allow_pickle=True)
        for name in ("images", "png", "png_bytes")
    }


def check_pushed_version_serves_everywhere(version_dir: str, tmp_path) -> None:
    """saved_model_cli answers every signature; artgan serve gives the same bytes."""
    with open(os.path.join(version_dir, "assets.extra", "generator.json")) as f:
        info = json.load(f)
    assert info["num_classes"] == 3  # the tiny digits sit in three class folders
    # serving_default's seeds draw classes by their share of the training split
    assert len(info["class_shares"]) == 3 and min(info["class_shares"]) > 0
    assert sum(info["class_shares"]) == pytest.approx(1.0)
    with open(os.path.join(version_dir, "assets.extra", "train_config.json")) as f:
        recorded = json.load(f)["train"]
    assert recorded["generator_conditioning"] == "batchnorm"  # auto, as the conv model built it
    # Each label's class folder, which `artgan generate --labels NAME` reads
    assert info["class_names"] == [str(digit) for digit in TINY_DIGITS]
    seeds = np.array(SEEDS, np.int64)
    labels = np.array([2, 0, 1], np.int64)
    latents = latents_from_seeds(tf.constant(seeds), info["latent_dim"]).numpy()
    requests = {
        "serving_default": {"seeds": seeds},
        "from_latents": {"latents": latents},
        "with_labels": {"seeds": seeds, "labels": labels},
        "from_latents_with_labels": {"latents": latents, "labels": labels},
    }
    by_cli = {
        signature: saved_model_cli_run(version_dir, signature, inputs, str(tmp_path))
        for signature, inputs in requests.items()
    }
    for outputs in by_cli.values():
        assert outputs["images"].dtype == np.uint8 and outputs["images"].shape == (3, 8, 8, 1)
        assert list(outputs["png"]) == list(outputs["png_bytes"])
    np.testing.assert_array_equal(
        by_cli["with_labels"]["images"], by_cli["from_latents_with_labels"]["images"]
    )
    assert read_warmup_file(version_dir)  # PredictionLog records, replayed by both servers

    base_path, version = os.path.split(version_dir)
    with start_server(base_path, port=0) as handle:
        with GeneratorClient(handle.host, handle.port) as client:
            assert client.wait_until_available("artgan", timeout_s=60) == int(version)
            served = client.generate("artgan", SEEDS)
            served_with_labels = client.generate("artgan", SEEDS, labels=list(labels))
    assert served.pngs == list(by_cli["serving_default"]["png"])
    np.testing.assert_array_equal(served.images, by_cli["serving_default"]["images"])
    assert served_with_labels.pngs == list(by_cli["with_labels"]["png"])


def _store(config: PipelineConfig) -> metadata_store.MetadataStore:
    path = os.path.join(os.path.abspath(config.home), "metadata.sqlite")
    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))


def _completed_components(store: metadata_store.MetadataStore) -> list[str]:
    type_names = {t.id: t.name for t in store.get_execution_types()}
    done = metadata_store_pb2.Execution.COMPLETE
    return [
        type_names[e.type_id].rsplit(".", 1)[-1]
        for e in store.get_executions()
        if e.last_known_state == done
    ]


def _artifacts_of_type(store: metadata_store.MetadataStore, type_name: str):
    return sorted(store.get_artifacts_by_type(type_name), key=lambda a: a.id)


def test_two_runs_bless_push_serve_then_gate_against_baseline(tmp_path, tiny_digits, monkeypatch):
    """The first run (Beam in memory) blesses, pushes and serves; the second, on two Beam
    worker processes, gates against the first as its baseline."""
    home = str(tmp_path / "home")
    config = tiny_config(home, tiny_digits, fid_threshold=1e9)

    first = run_locally(config)

    assert first.blessed and first.pushed
    store = _store(config)
    completed = _completed_components(store)
    for component in COMPONENTS:
        assert completed.count(component) == 1, (component, completed)
    examples = _artifacts_of_type(store, "Examples")[0]
    assert examples.custom_properties["num_examples"].int_value == 60
    model = _artifacts_of_type(store, "Model")[0]
    blessing = _artifacts_of_type(store, "ModelBlessing")[0]
    assert blessing.custom_properties["blessed"].int_value == 1
    assert blessing.custom_properties["current_model_id"].int_value == model.id
    assert np.isfinite(blessing.custom_properties["fid"].double_value)
    assert blessing.custom_properties["inception_score"].double_value >= 1.0
    assert np.isfinite(blessing.custom_properties["kid"].double_value)
    assert blessing.custom_properties["feature_network"].string_value == "domain_classifier"
    assert os.path.isfile(os.path.join(first.blessing_uri, "evaluation.html"))
    version_dir = os.path.join(home, "serving", "artgan", first.pushed_version)
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    assert os.path.isfile(os.path.join(first.model_run_uri, "samples", "final.png"))
    with open(os.path.join(version_dir, "assets.extra", "train_config.json")) as f:
        # Data settings given, so train.augment=auto was left to the Trainer, which counted
        # its few training examples: adaptive DiffAugment.
        recorded = json.load(f)["train"]
    assert (recorded["augment"], recorded["augment_adaptive"]) == ("color,translation,cutout", True)
    with open(os.path.join(first.blessing_uri, "metrics.json")) as f:
        record = json.load(f)
    # The nearest training image of each preview sample was read back from Transform's output.
    assert len(record["nearest_training_images"]) == 16
    assert 0.0 <= blessing.custom_properties["copy_rate"].double_value <= 1.0

    check_pushed_version_serves_everywhere(version_dir, tmp_path)
    serving_check = _artifacts_of_type(store, "InfraBlessing")[0]
    assert serving_check.custom_properties["blessed"].int_value == 1
    assert serving_check.custom_properties["reason"].string_value == "all 7 checks passed"
    assert first.serving_check_passed is True

    served = sample_served_model(
        os.path.join(home, "serving", "artgan"), "artgan", [1, 2, 3], str(tmp_path / "out")
    )
    assert served["version"] == int(first.pushed_version)
    assert len(served["images"]) == 3
    assert Image.open(served["images"][0]).size == (8, 8)

    # Second run in the same home: the first model is the baseline; a threshold nothing can
    # meet means no blessing and no push.
    started = _count_beam_workers(monkeypatch)
    second = run_locally(
        dataclasses.replace(
            config,
            eval=dataclasses.replace(config.eval, fid_threshold=0.0),
            beam_args=_multi_processing_beam_args(),
        )
    )

    assert not second.blessed and not second.pushed
    _check_beam_components_ran_on_two_workers(store, started, tiny_digits, config)
    blessings = _artifacts_of_type(store, "ModelBlessing")
    assert len(blessings) == 2
    assert blessings[1].custom_properties["baseline_model_id"].int_value == model.id
    assert blessings[1].custom_properties["blessed"].int_value == 0
    assert os.listdir(os.path.join(home, "serving", "artgan")) == [first.pushed_version]
    # Lineage stays within a run: the second evaluator read the first blessing (its history)
    # and model (its baseline), which makes neither of them a source of the second run.
    made_from_first = downstream(MetadataReader(store), blessing.id).steps
    assert blessings[1].id not in {step.artifact_id for step in made_from_first}


MULTI_PROCESSING = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
BEAM_COMPONENTS = ("ImageExampleGen", "StatisticsGen", "Transform", "RealFeatureStatisticsGen")


def _records(folder: str) -> int:
    files = glob.glob(os.path.join(folder, "*.gz"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _multi_processing_beam_args() -> tuple[str, ...]:
    """What `artgan run --beam-arg=--direct_running_mode=multi_processing
    --beam-arg=--direct_num_workers=2` configures: the flags replace the in_memory defaults."""
    flags = ["run", *(f"--beam-arg={arg}" for arg in MULTI_PROCESSING)]
    beam_args = config_from_args(build_parser().parse_args(flags)).beam_args
    assert beam_args == MULTI_PROCESSING
    return beam_args


def _count_beam_workers(monkeypatch) -> list:
    """The Beam SDK worker processes started from now on."""
    started = []
    start_worker = local_job_service.SubprocessSdkWorker.run
    monkeypatch.setattr(
        local_job_service.SubprocessSdkWorker,
        "run",
        lambda worker: started.append(worker) or start_worker(worker),
    )
    return started


def _check_beam_components_ran_on_two_workers(store, started, tiny_digits, config) -> None:
    """Every Beam component of the second run had its functions unpickled and run in two worker
    processes of its own, and every image arrived once in every split."""
    assert len(started) == 2 * len(BEAM_COMPONENTS)
    completed = _completed_components(store)
    for component in BEAM_COMPONENTS:
        assert completed.count(component) == 2, (component, completed)  # in each run
    # The counts an in-memory run has: each file's split is a hash of its path.
    expected = collections.Counter(
        split_of(path, config.data.eval_percent) for path in list_image_files(tiny_digits)
    )
    assert expected["train"] + expected["eval"] == 60 and expected["eval"] > 0
    examples, transformed = _artifacts_of_type(store, "Examples")[-2:]  # ImageExampleGen's first
    statistics = _artifacts_of_type(store, "ExampleStatistics")[-1]
    for split in ("train", "eval"):
        assert examples.custom_properties[f"num_{split}"].int_value == expected[split]
        assert _records(os.path.join(examples.uri, f"Split-{split}")) == expected[split]
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with open(os.path.join(statistics.uri, f"Split-{split}", "FeatureStats.pb"), "rb") as f:
            stats.ParseFromString(f.read())
        assert stats.datasets[0].num_examples == expected[split]
        assert _records(os.path.join(transformed.uri, f"Split-{split}")) == expected[split]


def test_one_training_step_on_the_digits_is_not_blessed(tmp_path, capsys, caplog):
    """The default gate refuses an untrained generator (the issue's `--train-steps 1` rule)."""
    caplog.set_level(logging.INFO)
    code = main(["run", "--home", str(tmp_path / "home"), "--train-steps", "1"])

    assert code == 0
    # The 8x8 gray digits, read by data.*=auto, train as the gates were calibrated: 16x16x1.
    assert "data.resolution=auto: 16 (typical image 8x8, upscaled" in caplog.text
    assert "data.channels=auto: 1 (grayscale" in caplog.text
    output = capsys.readouterr().out
    assert "NOT blessed" in output and "not pushed" in output
    assert not os.path.exists(tmp_path / "home" / "serving" / "artgan")


def write_tiny_sprites(folder) -> str:
    """40 real RGBA PNGs in two class folders: coloured discs and bars on transparency."""
    rng = np.random.default_rng(7)
    rows, columns = np.mgrid[:20, :20]
    for index in range(40):
        kind = ("discs", "bars")[index % 2]
        pixels = np.zeros((20, 20, 4), np.uint8)
        centre = rng.integers(7, 13, 2)
        if kind == "discs":
            inside = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < 25
        else:
            inside = abs(rows - centre[0]) < 3
        pixels[inside] = (*rng.integers(0, 256, 3), 255)
        os.makedirs(folder / kind, exist_ok=True)
        Image.fromarray(pixels).save(folder / kind / f"{index}.png")
    return str(folder)


def test_a_transparent_collection_trains_and_serves_rgba_with_auto_settings(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    sprites = write_tiny_sprites(tmp_path / "sprites")
    config = tiny_config(str(tmp_path / "home"), sprites, fid_threshold=None, fid_margin=None)
    config = dataclasses.replace(config, data=PipelineConfig().data)  # auto, auto

    outcome = run_locally(config)

    assert "data.resolution=auto: 16 (typical image 20x20" in caplog.text
    assert "data.channels=auto: 4 (RGBA: 100% of images have transparent pixels" in caplog.text
    assert "train.augment=auto: color,translation,cutout, adaptive (" in caplog.text
    assert outcome.blessed and outcome.pushed
    version_dir = os.path.join(config.home, "serving", "artgan", outcome.pushed_version)
    with open(os.path.join(version_dir, "assets.extra", "train_config.json")) as f:
        recorded = json.load(f)
    assert (recorded["data"]["resolution"], recorded["data"]["channels"]) == (16, 4)
    assert recorded["train"]["augment_adaptive"]
    images = saved_model_cli_run(version_dir, "serving_default", {"seeds": [1, 2]}, tmp_path)
    assert images["images"].shape == (2, 16, 16, 4)
    served = sample_served_model(
        os.path.join(config.home, "serving", "artgan"), "artgan", [1, 2], str(tmp_path / "out")
    )
    assert Image.open(served["images"][0]).mode == "RGBA"
    # People see transparency over a checkerboard: the grid is RGB.
    assert Image.open(os.path.join(outcome.model_run_uri, "samples", "final.png")).mode == "RGB"
    assert Image.open(served["grid"]).mode == "RGB"
