"""The 2015-12-05 Inception graph that published FID, KID and IS numbers use.

``classify_image_graph_def.pb`` (inside the tarball at ``INCEPTION_2015_URL``) is loaded from a
local path, the way TTUR's ``fid.py`` and openai/improved-gan's ``inception_score.py`` use it:
float RGB images in [0, 255] of any size are fed into ``ExpandDims:0``, the graph resizes them
itself (its ``ResizeBilinear`` to 299x299) and normalises them; FID/KID features are the 2048-d
``pool_3:0`` and IS probabilities the softmax of ``pool_3 x W`` with W the weights of the
``softmax/logits/MatMul`` op and no bias (1008 classes).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from artgan.config import (
    INCEPTION_GRAPH_FILE,
    check_inception_graph_file,
    how_to_get_inception_graph,
)
from artgan.errors import ArtganError

log = logging.getLogger(__name__)

INPUT_TENSOR = "ExpandDims:0"  # float32 [N, H, W, 3] in [0, 255], resized inside the graph
POOL_TENSOR = "pool_3:0"  # [N, 1, 1, 2048]
SOFTMAX_MATMUL_OP = "softmax/logits/MatMul"  # its second input is the [2048, 1008] weight matrix
REFERENCE_FEATURE_DIMS = 2048
REFERENCE_CLASSES = 1008
PREPROCESSING = {
    "quantisation": "uint8, rounded exactly as served images",
    "channels": "grayscale tiled to RGB",
    "input": "float32 RGB in [0, 255] fed to ExpandDims:0",
    "resize": "the graph's own ResizeBilinear to 299x299 (TF1, align_corners=False), as TTUR",
}


def read_graph_def(path: str) -> tuple[tf.compat.v1.GraphDef, str]:
    """The GraphDef at ``path`` and the file's sha256 (recorded with every metric)."""
    check_inception_graph_file(path)
    if not tf.io.gfile.exists(path):
        raise ArtganError(
            f"eval.inception_graph_path {path!r} does not exist: {how_to_get_inception_graph()}"
        )
    with tf.io.gfile.GFile(path, "rb") as f:
        content = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(content)
    except DecodeError as error:
        raise ArtganError(
            f"eval.inception_graph_path {path!r} is not a TensorFlow GraphDef ({error}): "
            f"{how_to_get_inception_graph()}"
        ) from error
    names = {node.name for node in graph_def.node}
    missing = [
        name.split(":")[0]
        for name in (INPUT_TENSOR, POOL_TENSOR, SOFTMAX_MATMUL_OP)
        if name.split(":")[0] not in names
    ]
    if missing:
        raise ArtganError(
            f"{path!r} lacks the Inception graph's {', '.join(missing)}: it is not "
            f"{INCEPTION_GRAPH_FILE} from the 2015-12-05 tarball; {how_to_get_inception_graph()}"
        )
    return graph_def, hashlib.sha256(content).hexdigest()


def inception_function(graph_def: tf.compat.v1.GraphDef) -> Callable[[tf.Tensor], tuple]:
    """A concrete function: float32 [N, H, W, 3] in [0, 255] -> (pool_3 [N, D], probs [N, K])."""

    def imported(images: tf.Tensor):
        pool, matmul = tf.graph_util.import_graph_def(
            graph_def,
            input_map={INPUT_TENSOR: images},
            return_elements=[POOL_TENSOR, SOFTMAX_MATMUL_OP],
            name="inception_2015",
        )
        weights = matmul.inputs[1]
        features = tf.reshape(pool, [-1, weights.shape[0]])
        return features, tf.nn.softmax(tf.matmul(features, weights))

    wrapped = tf.compat.v1.wrap_function(
        imported, [tf.TensorSpec([None, None, None, 3], tf.float32)]
    )
    # Only what the two outputs need runs: not the graph's JPEG decoder, nor its batch-1 reshape.
    return wrapped.prune(wrapped.inputs[0], list(wrapped.outputs))


def load_inception_2015(path: str) -> tuple[Callable[[np.ndarray], tuple], dict]:
    """Loads the graph at ``path``: (uint8 [N, H, W, C] -> (features, probs), description)."""
    graph_def, sha256 = read_graph_def(path)
    function = inception_function(graph_def)

    def features_and_probs(images_uint8: np.ndarray):
        images = tf.convert_to_tensor(images_uint8)
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        features, probs = function(tf.cast(images, tf.float32))
        return features.numpy(), probs.numpy()

    probe_features, probe_probs = features_and_probs(np.zeros((1, 8, 8, 3), np.uint8))
    dims, classes = probe_features.shape[1], probe_probs.shape[1]
    if (dims, classes) != (REFERENCE_FEATURE_DIMS, REFERENCE_CLASSES):
        log.warning(
            "%s gives %d-d features and %d classes, not the reference graph's %d and %d: "
            "its numbers are not comparable with published FID/IS",
            path,
            dims,
            classes,
            REFERENCE_FEATURE_DIMS,
            REFERENCE_CLASSES,
        )
    description = {
        "graph_path": path,
        "graph_sha256": sha256,
        "feature_tensor": POOL_TENSOR,
        "feature_dims": int(dims),
        "classes": int(classes),
        **PREPROCESSING,
    }
    return features_and_probs, description
