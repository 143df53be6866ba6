"""Loading the 2015 Inception graph (artgan.models.metrics.inception) through a tiny stand-in graph.

The stand-in has the real graph's tensor names and structure around them: a JPEG decoder
feeding ``ExpandDims``, the graph's own ``ResizeBilinear``, ``pool_3`` [1, 1, 1, D], a batch-1
``pool_3/_reshape`` and ``softmax/logits/MatMul`` followed by a bias. The reference is how TTUR
and openai/improved-gan run the real one: a TF1 session fed one image at a time.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf
from evaluation_fixtures import CLASSES, DIMS, standin_graph_def

from artgan import config
from artgan.config import EvalConfig
from artgan.errors import ArtganError
from artgan.models.metrics import inception
from artgan.models.metrics.feature_network import metric_names, open_feature_network


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("inception") / config.INCEPTION_GRAPH_FILE
    path.write_bytes(standin_graph_def().SerializeToString())
    return str(path)


@pytest.fixture(scope="module")
def network(graph_path):
    return open_feature_network("inception_2015", inception_graph_path=graph_path)


def reference_features_and_probs(graph_path: str, images_uint8: np.ndarray):
    """TTUR / improved-gan style: one image per session run, softmax of pool_3 x W (no bias)."""
    graph_def = tf.compat.v1.GraphDef()
    with open(graph_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    features, probs = [], []
    with tf.Graph().as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session() as session:
            for image in images_uint8:
                rgb = np.tile(image, [1, 1, 3 // image.shape[-1]]).astype(np.float32)[None]
                pool, logits = session.run(
                    ["pool_3:0", "softmax/logits/MatMul:0"], {"ExpandDims:0": rgb}
                )
                features.append(pool.reshape(-1))
                exp = np.exp(logits[0] - logits[0].max())
                probs.append(exp / exp.sum())
    return np.array(features), np.array(probs)


def test_batches_give_what_the_reference_code_gives_per_image(network, graph_path):
    images = np.random.default_rng(1).integers(0, 256, size=(7, 16, 16, 3), dtype=np.uint8)
    features, probs = network.features_and_probs(images)
    expected_features, expected_probs = reference_features_and_probs(graph_path, images)
    assert features.shape == (7, DIMS) and probs.shape == (7, CLASSES)
    np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs, expected_probs, rtol=1e-5, atol=1e-7)


def test_grayscale_images_are_tiled_to_rgb(network, graph_path):
    gray = np.random.default_rng(2).integers(0, 256, size=(3, 8, 8, 1), dtype=np.uint8)
    features, _ = network.features_and_probs(gray)
    tiled, _ = network.features_and_probs(np.tile(gray, [1, 1, 1, 3]))
    np.testing.assert_array_equal(features, tiled)
    np.testing.assert_allclose(features, reference_features_and_probs(graph_path, gray)[0], 1e-5)


def test_the_network_is_recorded_by_name_file_and_preprocessing(network):
    assert network.name == "inception_2015"
    assert network.has_class_scores
    assert len(network.description["graph_sha256"]) == 64
    assert network.description["feature_tensor"] == "pool_3:0"
    assert "ResizeBilinear" in network.description["resize"]
    assert network.description["feature_dims"] == DIMS


def test_a_graph_of_other_sizes_is_flagged_as_not_comparable(graph_path, caplog):
    with caplog.at_level(logging.WARNING):
        inception.load_inception_2015(graph_path)
    assert "not comparable" in caplog.text


def test_only_inception_numbers_are_called_fid_and_is():
    assert metric_names("inception_2015") == {"fid": "FID", "kid": "KID", "inception_score": "IS"}
    names = metric_names("domain_classifier")
    assert names["fid"] == "FD (domain_classifier)"
    assert "FID" not in " ".join(names.values()) and "IS" not in names["inception_score"]


@pytest.mark.parametrize("path", ["", "/nonexistent/classify_image_graph_def.pb"])
def test_a_missing_graph_says_how_to_get_it(path):
    with pytest.raises(ArtganError) as error:
        open_feature_network("inception_2015", inception_graph_path=path)
    message = str(error.value)
    assert config.INCEPTION_2015_URL in message
    assert "inception-2015-12-05.tgz" in message
    assert "inception_graph_path" in message and "--inception-graph" in message


def test_selecting_inception_without_the_file_fails_config_validation():
    with pytest.raises(ArtganError, match="inception-2015-12-05.tgz"):
        EvalConfig(feature_network="inception_2015").validate()
    with pytest.raises(ArtganError, match="inception-2015-12-05.tgz"):
        EvalConfig(inception_graph_path="/nonexistent/graph.pb").validate()  # auto picks it


def test_the_graph_path_alone_selects_inception(graph_path):
    EvalConfig(inception_graph_path=graph_path).validate()
    assert EvalConfig(inception_graph_path=graph_path).resolved_feature_network() == (
        "inception_2015"
    )
    assert EvalConfig().resolved_feature_network() == "domain_classifier"


def test_a_file_that_is_not_a_graph_is_refused(tmp_path):
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(b"\xff\xfe not a protobuf \x00\x01" * 10)
    with pytest.raises(ArtganError, match="not a TensorFlow GraphDef"):
        inception.load_inception_2015(str(path))


def test_a_graph_without_the_inception_tensors_is_refused(tmp_path):
    with tf.Graph().as_default() as graph:
        tf.constant(1.0, name="something_else")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ArtganError, match="ExpandDims, pool_3, softmax/logits/MatMul"):
        inception.load_inception_2015(str(path))


def test_artgan_run_stops_before_training_and_names_the_flag(tmp_path, capsys):
    from artgan.cli import main

    code = main(["run", "--home", str(tmp_path / "home"), "--feature-network", "inception_2015"])
    assert code == 2
    error = capsys.readouterr().err
    assert "--inception-graph" in error and config.INCEPTION_2015_URL in error
    assert not (tmp_path / "home" / "metadata.sqlite").exists()
