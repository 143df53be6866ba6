"""TF Serving's request semantics for one model, independent of gRPC plumbing.

Each handler takes the repository and a request proto and returns the response proto, or raises
``ServingError`` with the status code and message real TF Serving would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from artgan.serving.repository import LoadedVersion, ModelRepository

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE


class ServingError(Exception):
    """A request failure carrying the gRPC status code to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def requested_servable(model_spec: model_pb2.ModelSpec) -> str:
    """How TF Serving names a request in NOT_FOUND messages: Latest(m), Specific(m, 3), ..."""
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return f"Specific({model_spec.name}, {model_spec.version.value})"
    if choice == "version_label":
        return f"Label({model_spec.name}, {model_spec.version_label})"
    return f"Latest({model_spec.name})"


def select_version(repository: ModelRepository, model_spec: model_pb2.ModelSpec) -> LoadedVersion:
    """The loaded version a model_spec asks for; NOT_FOUND unless it is the one being served.

    Version labels are not configured, so every label is unknown.
    """
    loaded = repository.current()
    choice = model_spec.WhichOneof("version_choice")
    if (
        loaded is None
        or model_spec.name != repository.model_name
        or choice == "version_label"
        or (choice == "version" and model_spec.version.value != loaded.version)
    ):
        message = f"Servable not found for request: {requested_servable(model_spec)}"
        if choice == "version_label":
            message += " (this server has no version labels)"
        raise ServingError(grpc.StatusCode.NOT_FOUND, message)
    return loaded


def format_shape(dims: Iterable[int | None]) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in dims) + "]"


def dtype_name(proto: tensor_pb2.TensorProto) -> str:
    try:
        return tf.dtypes.as_dtype(proto.dtype).name
    except TypeError:
        return f"<dtype enum {proto.dtype}>"


def check_input(name: str, proto: tensor_pb2.TensorProto, spec: tf.TensorSpec) -> list[int]:
    """Checks one input's dtype and shape against the signature; returns its dimensions."""
    dims = [dim.size for dim in proto.tensor_shape.dim]
    expected_dims = spec.shape.as_list()
    matches = (
        not proto.tensor_shape.unknown_rank
        and dtype_name(proto) == spec.dtype.name
        and len(dims) == len(expected_dims)
        and all(dim >= 0 for dim in dims)
        and all(want is None or want == got for want, got in zip(expected_dims, dims, strict=True))
    )
    if not matches:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input '{name}' expects {spec.dtype.name} {format_shape(expected_dims)}, "
            f"got {dtype_name(proto)} {format_shape(dims)}",
        )
    return dims


def check_batch_size(
    dims_by_input: Mapping[str, list[int]], specs: Mapping[str, tf.TensorSpec], max_batch: int
) -> None:
    """All batched inputs share one batch size N, with 1 <= N <= ``max_batch``."""
    sizes = {
        name: dims[0]
        for name, dims in dims_by_input.items()
        if specs[name].shape.rank and specs[name].shape[0] is None
    }
    if len(set(sizes.values())) > 1:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT, f"inputs have different batch sizes: {sizes}"
        )
    for name, size in sizes.items():
        if size == 0:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' is empty")
        if size > max_batch:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"input '{name}' has a batch of {size}, more than this server's "
                f"max_batch_size {max_batch}: split the request",
            )


def decode_inputs(
    inputs: Mapping[str, tensor_pb2.TensorProto],
    specs: Mapping[str, tf.TensorSpec],
    signature_name: str,
    max_batch: int,
) -> dict[str, tf.Tensor]:
    """Validates the request's inputs against the signature and converts them to tensors."""
    missing = sorted(set(specs) - set(inputs))
    extra = sorted(set(inputs) - set(specs))
    if missing or extra:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"inputs do not match signature '{signature_name}' (expects {sorted(specs)}): "
            f"missing {missing}, unknown {extra}",
        )
    dims_by_input = {name: check_input(name, inputs[name], specs[name]) for name in specs}
    check_batch_size(dims_by_input, specs, max_batch)
    tensors = {}
    for name, spec in specs.items():
        try:
            array = tf.make_ndarray(inputs[name])
        except Exception as error:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"input '{name}' cannot be decoded: {error}"
            ) from error
        tensors[name] = tf.constant(np.asarray(array), dtype=spec.dtype)
    return tensors


def select_outputs(signature: Callable[..., Any], output_filter: Iterable[str]) -> list[str]:
    """The output aliases to return: the filter (checked), or all of them."""
    names = sorted(signature.structured_outputs)
    chosen: list[str] = []
    for alias in output_filter:
        if alias not in names:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output tensor alias not found in signature: {alias} "
                f"Outputs expected to be in the set {{{','.join(names)}}}.",
            )
        if alias in chosen:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {alias}"
            )
        chosen.append(alias)
    return chosen or names


def model_check_message(error: tf.errors.InvalidArgumentError) -> str:
    """The failed assertion's own line (e.g. "labels must be < 3 ..."), not the graph dump."""
    for line in error.message.splitlines():
        if "assertion failed:" in line:
            return line.split("assertion failed:", 1)[1].strip()
    return error.message.strip().splitlines()[0]


def predict(
    repository: ModelRepository, request: predict_pb2.PredictRequest, max_batch_size: int
) -> predict_pb2.PredictResponse:
    """PredictionService.Predict on the served version."""
    loaded = select_version(repository, request.model_spec)
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = loaded.signatures.get(signature_name)
    if signature is None:
        raise ServingError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f'Serving signature key "{signature_name}" not found.',
        )
    specs = dict(signature.structured_input_signature[1])
    tensors = decode_inputs(request.inputs, specs, signature_name, max_batch_size)
    output_names = select_outputs(signature, request.output_filter)
    try:
        results = signature(**tensors)
    except tf.errors.InvalidArgumentError as error:  # the model's own input checks
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"signature '{signature_name}' rejected its inputs: {model_check_message(error)}",
        ) from error
    except Exception as error:
        raise ServingError(
            grpc.StatusCode.INTERNAL,
            f"signature '{signature_name}' of {repository.model_name} version "
            f"{loaded.version} failed: {type(error).__name__}: {error}",
        ) from error
    response = predict_pb2.PredictResponse()
    response.model_spec.name = repository.model_name
    response.model_spec.version.value = loaded.version
    response.model_spec.signature_name = signature_name
    for name in output_names:
        response.outputs[name].CopyFrom(tf.make_tensor_proto(results[name].numpy()))
    return response


def model_metadata(
    repository: ModelRepository, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """PredictionService.GetModelMetadata: the saved_model.pb's SignatureDefMap."""
    if not request.HasField("model_spec"):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    if not request.metadata_field:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "GetModelMetadataRequest must specify at least one metadata_field",
        )
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported"
            )
    loaded = select_version(repository, request.model_spec)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in loaded.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = repository.model_name
    response.model_spec.version.value = loaded.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def model_status(
    repository: ModelRepository, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    """ModelService.GetModelStatus: the served version, AVAILABLE."""
    spec = request.model_spec
    loaded = repository.current()
    if loaded is None or spec.name != repository.model_name:
        raise ServingError(
            grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}"
        )
    choice = spec.WhichOneof("version_choice")
    if choice == "version_label" or (choice == "version" and spec.version.value != loaded.version):
        wanted = spec.version_label if choice == "version_label" else spec.version.value
        raise ServingError(
            grpc.StatusCode.NOT_FOUND, f"Could not find version {wanted} of model {spec.name}"
        )
    response = get_model_status_pb2.GetModelStatusResponse()
    status = response.model_version_status.add()
    status.version = loaded.version
    status.state = AVAILABLE
    return response
