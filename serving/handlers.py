"""TF Serving's request semantics for one model, independent of gRPC plumbing.

Each handler takes the repository and a request proto and returns the response proto, or raises
``ServingError`` with the status code and message real TF Serving would give.
"""

from __future__ import annotations

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from artgan.contract.requests import ServingError, run_signature
from artgan.serving.repository import LoadedVersion, ModelRepository

SIGNATURE_DEF_FIELD = "signature_def"
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE


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


def predict(
    repository: ModelRepository, request: predict_pb2.PredictRequest, max_batch_size: int
) -> predict_pb2.PredictResponse:
    """PredictionService.Predict on the served version."""
    loaded = select_version(repository, request.model_spec)
    signature_name, results = run_signature(
        loaded.bundle,
        request.model_spec.signature_name,
        request.inputs,
        request.output_filter,
        max_batch_size,
    )
    response = predict_pb2.PredictResponse()
    response.model_spec.name = repository.model_name
    response.model_spec.version.value = loaded.version
    response.model_spec.signature_name = signature_name
    for name, value in results.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
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
    for name, signature_def in loaded.bundle.meta_graph_signature_defs.items():
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
