"""A SavedModel loaded the way TF Serving loads it: graph, restore op, then ``Session.run``.

TF Serving's C++ loader (and ``saved_model_cli run``) imports the "serve" meta graph into a
session, runs its restore and init ops and then feeds the signature's input tensors. A model
that only ``tf.saved_model.load`` can run (Keras 3 models saved through a ``tf.Module``:
tensorflow/serving#2250) fails here, as it would in the real server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from artgan.contract import SERVE_TAG


def tensor_spec(info: meta_graph_pb2.TensorInfo) -> tf.TensorSpec:
    """A signature input's dtype and shape (unknown dimensions as None)."""
    if info.tensor_shape.unknown_rank:
        shape = tf.TensorShape(None)
    else:
        shape = tf.TensorShape(
            [dim.size if dim.size >= 0 else None for dim in info.tensor_shape.dim]
        )
    return tf.TensorSpec(shape, tf.dtypes.as_dtype(info.dtype))


class SavedModelBundle:
    """One SavedModel in its own graph and session; ``run`` is safe from several threads."""

    def __init__(self, path: str, tags: Sequence[str] = (SERVE_TAG,)):
        self.path = path
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        try:
            with self.graph.as_default():
                meta_graph = tf.compat.v1.saved_model.load(self.session, list(tags), path)
        except Exception:
            self.session.close()
            raise
        # Every signature def, as GetModelMetadata returns them (__saved_model_init_op too).
        self.meta_graph_signature_defs = dict(meta_graph.signature_def)
        self.signature_defs: dict[str, meta_graph_pb2.SignatureDef] = {
            name: signature
            for name, signature in meta_graph.signature_def.items()
            if not name.startswith("__")  # __saved_model_init_op is not a servable signature
        }

    def input_specs(self, signature_name: str) -> dict[str, tf.TensorSpec]:
        inputs = self.signature_defs[signature_name].inputs
        return {name: tensor_spec(info) for name, info in inputs.items()}

    def output_specs(self, signature_name: str) -> dict[str, tf.TensorSpec]:
        outputs = self.signature_defs[signature_name].outputs
        return {name: tensor_spec(info) for name, info in outputs.items()}

    def run(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_names: Sequence[str] | None = None,
        timeout_ms: int = 0,
    ) -> dict[str, np.ndarray]:
        """Feeds ``inputs`` (every input of the signature, by name) and fetches the outputs;
        a run longer than ``timeout_ms`` (0: no limit) raises DeadlineExceededError."""
        signature = self.signature_defs[signature_name]
        if set(inputs) != set(signature.inputs):
            raise ValueError(
                f"signature {signature_name!r} takes {sorted(signature.inputs)}, "
                f"got {sorted(inputs)}"
            )
        names = list(output_names) if output_names else sorted(signature.outputs)
        feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
        fetches = {name: signature.outputs[name].name for name in names}
        options = tf.compat.v1.RunOptions(timeout_in_ms=timeout_ms) if timeout_ms else None
        return self.session.run(fetches, feed_dict=feeds, options=options)

    def close(self) -> None:
        self.session.close()
