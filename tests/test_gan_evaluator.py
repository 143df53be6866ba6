"""The evaluation components' executors on tiny transformed examples (no pipeline run).

DomainClassifier -> RealFeatureStatisticsGen (a real Beam pipeline) -> GanEvaluator, with
artifacts built by hand the way TFX hands them over.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from evaluation_fixtures import squares, standin_graph_def
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts

from artgan.components.domain_classifier.executor import Executor as ClassifierExecutor
from artgan.components.feature_artifacts import (
    FeatureNetworkModel,
    RealFeatureStatistics,
    read_reference,
    read_split,
)
from artgan.components.gan_evaluator.executor import Executor as EvaluatorExecutor
from artgan.components.real_feature_statistics import executor as statistics_executor
from artgan.config import DataConfig, EvalConfig, PipelineConfig, to_json
from artgan.models.data.preprocessing import IMAGE_KEY, LABEL_KEY
from artgan.models.export import export_generator
from artgan.models.metrics import scores
from artgan.models.metrics.feature_network import open_feature_network
from artgan.pipeline.pipeline import HISTORY_RESOLVER_ID, create_pipeline

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _example(image: np.ndarray, label: int) -> bytes:
    features = {
        IMAGE_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=image.reshape(-1))),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """Transformed examples (float [-1, 1] images + labels) and a transform graph's metadata."""
    root = tmp_path_factory.mktemp("transformed")
    rng = np.random.default_rng(0)
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    originals = {}
    for split, count in (("train", 40), ("eval", 24)):
        images, labels = squares(rng, count)
        originals[split] = images
        folder = os.path.join(examples.uri, f"Split-{split}")
        os.makedirs(folder)
        path = os.path.join(folder, "data.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for image, label in zip(images, labels, strict=True):
                writer.write(_example(image.astype(np.float32) / 127.5 - 1.0, int(label)))
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(root / "transform_graph")
    spec = {
        IMAGE_KEY: tf.io.FixedLenFeature([8, 8, 1], tf.float32),
        LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec)),
        os.path.join(graph.uri, "transformed_metadata"),
    )
    return examples, graph, originals


@pytest.fixture(scope="module")
def classifier(transformed, tmp_path_factory):
    examples, graph, _ = transformed
    network = FeatureNetworkModel()
    network.uri = str(tmp_path_factory.mktemp("feature_network"))
    ClassifierExecutor().Do(
        {"examples": [examples], "transform_graph": [graph]},
        {"feature_network": [network]},
        {"epochs": 30, "seed": 0},
    )
    return network


def run_statistics(transformed, uri: str, network=None, inception_graph_path: str = ""):
    examples, graph, _ = transformed
    statistics = RealFeatureStatistics()
    statistics.uri = uri
    inputs = {"examples": [examples], "transform_graph": [graph]}
    if network is not None:
        inputs["feature_network"] = [network]
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)
    statistics_executor.Executor(context).Do(
        inputs, {"statistics": [statistics]}, {"inception_graph_path": inception_graph_path}
    )
    return statistics


@pytest.fixture(scope="module")
def statistics(transformed, classifier, tmp_path_factory):
    return run_statistics(transformed, str(tmp_path_factory.mktemp("statistics")), classifier)


def generator_model(root, artifact_id: int, scale: float) -> standard_artifacts.Model:
    """A Model artifact holding an 8x8 generator (``scale`` 0 draws flat grey)."""
    keras.utils.set_random_seed(artifact_id)
    generator = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(64, activation="tanh"),
            keras.layers.Rescaling(scale),
            keras.layers.Reshape((8, 8, 1)),
        ]
    )
    return exported_model(root, artifact_id, generator)


def exported_model(root, artifact_id: int, generator: keras.Model) -> standard_artifacts.Model:
    """A Model artifact holding ``generator`` (latent 4) exported for serving."""
    model = standard_artifacts.Model()
    model.uri = str(root / f"model_{artifact_id}")
    model.id = artifact_id
    export_generator(generator, 4, os.path.join(model.uri, "Format-Serving"))
    return model


def evaluate(
    tmp_path, statistics, classifier, model, config, baseline=None, history=(), transformed=None
):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"blessing_{model.id}")
    inputs = {"model": [model], "statistics": [statistics], "feature_network": [classifier]}
    if transformed is not None:
        inputs["examples"], inputs["transform_graph"] = [transformed[0]], [transformed[1]]
    if baseline is not None:
        inputs["baseline_model"] = [baseline]
    inputs["history"] = list(history)
    EvaluatorExecutor().Do(inputs, {"blessing": [blessing]}, {"eval_config": to_json(config)})
    return blessing


def test_domain_classifier_records_its_name_and_accuracy(classifier):
    assert classifier.get_string_custom_property("feature_network") == "domain_classifier"
    assert classifier.get_float_custom_property("heldout_accuracy") >= 0.9
    assert classifier.get_int_custom_property("num_classes") == 2
    assert os.path.isfile(os.path.join(classifier.uri, "saved_model.pb"))


def test_beam_statistics_equal_a_direct_computation(statistics, classifier, transformed):
    network = open_feature_network("domain_classifier", classifier_dir=classifier.uri)
    for split in ("train", "eval"):
        features, _ = network.features_and_probs(transformed[2][split])
        stored, kid_rows = read_split(statistics.uri, split)
        direct = scores.FeatureStatistics.from_features(features)
        assert stored.count == len(features)
        np.testing.assert_allclose(stored.mean, direct.mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(stored.covariance, direct.covariance, rtol=1e-7, atol=1e-9)
        # Every row is kept (fewer than EvalConfig.kid_max_rows), in a fixed order.
        assert kid_rows.shape == features.shape
        np.testing.assert_allclose(np.sort(kid_rows[:, 0]), np.sort(features[:, 0]), rtol=1e-6)
    assert statistics.get_string_custom_property("feature_network") == "domain_classifier"
    assert statistics.get_int_custom_property("num_eval_images") == 24
    with open(os.path.join(statistics.uri, "reference.json")) as f:
        assert json.load(f)["network"]["quantisation"].startswith("uint8")


def test_kid_rows_do_not_depend_on_the_order_beam_delivers_batches():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(12, 3))
    digests = [f"{d:02d}" for d in rng.permutation(12)]
    batches = [(rows[i : i + 4], digests[i : i + 4]) for i in (0, 4, 8)]
    combine = statistics_executor._SummarizeFn(kid_max_rows=5)  # fewer than the 12 rows

    def summarize(order, split_at):
        parts = []
        for group in (order[:split_at], order[split_at:]):
            accumulator = combine.create_accumulator()
            for index in group:
                accumulator = combine.add_input(accumulator, batches[index])
            parts.append(accumulator)
        return combine.extract_output(combine.merge_accumulators(parts))

    first_stats, first_rows, first_digests = summarize([0, 1, 2], 3)
    second_stats, second_rows, second_digests = summarize([2, 0, 1], 1)
    np.testing.assert_array_equal(first_rows, second_rows)
    assert first_rows.shape == (5, 3)
    smallest = sorted(range(12), key=lambda i: digests[i])[:5]
    np.testing.assert_array_equal(first_rows, rows[smallest])
    assert first_digests == second_digests == [digests[i] for i in smallest]
    assert first_stats.count == second_stats.count == 12
    np.testing.assert_allclose(first_stats.covariance, np.cov(rows, rowvar=False), rtol=1e-10)


def test_statistics_with_the_inception_graph_instead_of_a_classifier(transformed, tmp_path):
    graph_path = tmp_path / "classify_image_graph_def.pb"
    graph_path.write_bytes(standin_graph_def().SerializeToString())
    statistics = run_statistics(
        transformed, str(tmp_path / "inception"), inception_graph_path=str(graph_path)
    )
    assert statistics.get_string_custom_property("feature_network") == "inception_2015"
    stored, _ = read_split(statistics.uri, "eval")
    expected = open_feature_network("inception_2015", inception_graph_path=str(graph_path))
    features, _ = expected.features_and_probs(transformed[2]["eval"])
    np.testing.assert_allclose(stored.mean, features.mean(axis=0), rtol=1e-6)


def test_reference_holds_the_real_floor(statistics, classifier, transformed):
    network = open_feature_network("domain_classifier", classifier_dir=classifier.uri)
    train, _ = network.features_and_probs(transformed[2]["train"])
    held_out, _ = network.features_and_probs(transformed[2]["eval"])
    reference = read_reference(statistics, EvalConfig())
    assert reference.fid_floor == pytest.approx(scores.frechet_distance(train, held_out), 1e-6)
    assert reference.statistics.count == 24


CONFIG = EvalConfig(
    num_samples=60, fid_max_over_floor=None, fid_threshold=1e9, kid_threshold=None, kid_margin=None
)


@pytest.fixture(scope="module")
def first(tmp_path_factory, statistics, classifier):
    root = tmp_path_factory.mktemp("first")
    model = generator_model(root, 11, 1.0)
    return model, evaluate(root, statistics, classifier, model, CONFIG)


def test_blessing_carries_the_decision_and_every_number(first):
    model, blessing = first
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert not blessing.has_custom_property("baseline_model_id")
    for key in ("fid", "kid", "inception_score", "real_fid_floor", "real_kid_floor"):
        assert np.isfinite(blessing.get_float_custom_property(key)), key
    assert blessing.get_string_custom_property("feature_network") == "domain_classifier"
    assert blessing.get_int_custom_property("num_samples") == 60
    for name in ("metrics.json", "evaluation.html", "candidate.png", "BLESSED"):
        assert os.path.isfile(os.path.join(blessing.uri, name)), name
    with open(os.path.join(blessing.uri, "metrics.json")) as f:
        record = json.load(f)
    assert record["candidate"]["fid"] == blessing.get_float_custom_property("fid")
    assert record["metric_names"]["fid"] == "FD (domain_classifier)"
    assert record["reference"]["num_images"] == 24
    assert "no blessed baseline model" in record["reasons"]


def test_baseline_is_rescored_and_gates_the_candidate(tmp_path, first, statistics, classifier):
    baseline, first_blessing = first
    worse = generator_model(tmp_path, 12, 0.0)  # flat grey: far from the squares
    config = dataclasses.replace(CONFIG, fid_margin=1.0)
    blessing = evaluate(
        tmp_path, statistics, classifier, worse, config, baseline, history=[first_blessing]
    )
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property("baseline_model_id") == 11
    # The baseline's score is recomputed on the same seeds: it equals its own earlier score.
    assert blessing.get_float_custom_property("baseline_fid") == pytest.approx(
        first_blessing.get_float_custom_property("fid"), rel=1e-9
    )
    assert os.path.isfile(os.path.join(blessing.uri, "baseline.png"))
    assert os.path.isfile(os.path.join(blessing.uri, "NOT_BLESSED"))
    with open(os.path.join(blessing.uri, "evaluation.html")) as f:
        page = f.read()
    assert "NOT blessed" in page
    assert "model 11" in page and "model 12" in page  # the plot has the earlier run too
    assert page.count("data:image/png;base64,") == 2


def copying_model(root, artifact_id: int, image: np.ndarray) -> standard_artifacts.Model:
    """A generator that draws ``image`` (uint8 [8, 8, 1]) for every seed: a pure memoriser."""
    dense = keras.layers.Dense(64)
    generator = keras.Sequential([keras.Input((4,)), dense, keras.layers.Reshape((8, 8, 1))])
    dense.set_weights([np.zeros((4, 64), np.float32), image.reshape(-1) / 127.5 - 1.0])
    return exported_model(root, artifact_id, generator)


def test_near_copies_of_training_images_are_counted_shown_and_gated(
    tmp_path, statistics, classifier, transformed
):
    copier = copying_model(tmp_path, 13, transformed[2]["train"][3])
    config = dataclasses.replace(CONFIG, max_copy_rate=0.5)
    blessing = evaluate(tmp_path, statistics, classifier, copier, config, transformed=transformed)
    assert blessing.get_float_custom_property("copy_rate") == 1.0
    assert blessing.get_int_custom_property("blessed") == 0
    with open(os.path.join(blessing.uri, "metrics.json")) as f:
        record = json.load(f)
    pairs = record["nearest_training_images"]
    assert len(pairs) == 16 and all(pair["copy"] for pair in pairs)
    assert max(pair["distance"] for pair in pairs) < 1e-3
    with open(os.path.join(blessing.uri, "evaluation.html")) as f:
        page = f.read()
    assert "near-copies of training images" in page
    assert "counts as a near-copy: 16 of 16 here" in page
    assert page.count('class="near-copy"') == 16


def test_a_new_drawing_is_not_a_copy(tmp_path, statistics, classifier, transformed, first):
    model, _ = first
    blessing = evaluate(tmp_path, statistics, classifier, model, CONFIG, transformed=transformed)
    with open(os.path.join(blessing.uri, "metrics.json")) as f:
        record = json.load(f)
    assert record["candidate"]["copy_rate"] < 0.5
    assert 0 <= record["candidate"]["coverage"] <= 1 and record["candidate"]["density"] >= 0
    distances = [pair["distance"] for pair in record["nearest_training_images"]]
    assert len(distances) == 16 and min(distances) > 0


def test_a_score_without_class_scores_is_stored_without_nan(tmp_path, first, classifier):
    """MLMD's SQLite store refuses NaN; a network without class scores has no IS."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    blessing = standard_artifacts.ModelBlessing()
    record = {
        "blessed": True,
        "candidate": {
            "fid": 1.0,
            "kid": 0.1,
            "kid_std": 0.01,
            "inception_score": float("nan"),
            "inception_score_std": float("nan"),
            "density": 1.0,
            "coverage": 0.9,
            "copy_rate": float("nan"),
        },
        "num_samples": 10,
        "real_floor": {"fid": 0.5, "kid": 0.0},
    }
    network = open_feature_network("domain_classifier", classifier_dir=classifier.uri)
    EvaluatorExecutor._record_properties(blessing, record, first[0], None, network)
    assert blessing.has_custom_property("fid")
    assert not blessing.has_custom_property("inception_score")
    assert not blessing.has_custom_property("copy_rate")
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    connection.sqlite.connection_mode = 3  # READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(connection)
    blessing.type_id = store.put_artifact_type(blessing.artifact_type)
    [stored_id] = store.put_artifacts([blessing.mlmd_artifact])
    [stored] = store.get_artifacts_by_id([stored_id])
    assert stored.custom_properties["fid"].double_value == 1.0


# --- wiring -------------------------------------------------------------------------------------


def pipeline_components(tmp_path, **eval_fields) -> dict:
    config = PipelineConfig(
        data=DataConfig(resolution=16, channels=1), eval=EvalConfig(**eval_fields)
    )
    pipeline = create_pipeline(
        config, str(tmp_path), str(tmp_path / "root"), str(tmp_path / "serving")
    )
    return {component.id: component for component in pipeline.components}


def test_the_default_pipeline_trains_a_classifier_and_plots_history(tmp_path):
    components = pipeline_components(tmp_path)
    assert {"DomainClassifier", "RealFeatureStatisticsGen", HISTORY_RESOLVER_ID} <= set(components)
    evaluator_inputs = components["GanEvaluator"].inputs
    assert {
        "feature_network",
        "statistics",
        "baseline_model",
        "history",
        "examples",
        "transform_graph",
    } <= set(evaluator_inputs)


def test_with_the_inception_graph_there_is_no_classifier(tmp_path):
    graph_path = tmp_path / "classify_image_graph_def.pb"
    graph_path.write_bytes(standin_graph_def().SerializeToString())
    components = pipeline_components(tmp_path, inception_graph_path=str(graph_path), history_runs=0)
    assert "DomainClassifier" not in components and HISTORY_RESOLVER_ID not in components
    statistics = components["RealFeatureStatisticsGen"]
    assert statistics.exec_properties["inception_graph_path"] == str(graph_path)
    evaluator = components["GanEvaluator"]
    assert json.loads(evaluator.exec_properties["eval_config"])["feature_network"] == "auto"
