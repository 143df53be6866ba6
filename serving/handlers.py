"""TF Serving's request semantics, independent of gRPC or REST plumbing.

Each handler takes the model manager and a request proto and returns the response proto, or raises
``ServingError`` with the status code and message real TF Serving would give.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    predict_pb2,
)

from artgan.contract.bundle import SavedModelBundle
from artgan.contract.requests import ServingError, run_signature
from artgan.serving.batching import BatchScheduler
from artgan.serving.manager import ModelManager
from artgan.serving.metrics import GRPC
from artgan.serving.tensor_protos import output_tensor

SIGNATURE_DEF_FIELD = "signature_def"
PREDICT_API = "Predict"  # the API label of request_latency


def predict_arrays(
    manager: ModelManager,
    request: predict_pb2.PredictRequest,
    max_batch_size: int,
    timeout_ms: int = 0,
    entrypoint: str = GRPC,
) -> tuple[int, str, dict[str, np.ndarray]]:
    """Runs a Predict request on the version its model_spec asks for:
    (version, signature name, outputs); counted in the server's metrics under ``entrypoint``
    (GRPC or REST)."""
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        return run_predict(manager, request, max_batch_size, timeout_ms)
    except ServingError as error:
        code = error.code
        raise
    except Exception:
        code = grpc.StatusCode.INTERNAL
        raise
    finally:
        elapsed = time.perf_counter() - started
        manager.metrics.record_request(
            request.model_spec.name, PREDICT_API, entrypoint, code, elapsed
        )


def run_predict(
    manager: ModelManager, request: predict_pb2.PredictRequest, max_batch_size: int, timeout_ms: int
) -> tuple[int, str, dict[str, np.ndarray]]:
    """``predict_arrays`` without the metrics: holds the version for the run."""
    with manager.use(request.model_spec) as loaded:
        signature_name, results = run_signature(
            loaded.bundle,
            request.model_spec.signature_name,
            request.inputs,
            request.output_filter,
            max_batch_size,
            timeout_ms,
            batched_run(manager.batcher, loaded.bundle),
        )
    return loaded.version, signature_name, results


def batched_run(batcher: BatchScheduler | None, bundle: SavedModelBundle):
    """``bundle.run`` through the server's batch scheduler (None when batching is off)."""
    if batcher is None:
        return None

    def run(signature_name, inputs, output_names, timeout_ms):
        def run_batch(joined, names, batch_timeout_ms):
            return bundle.run(signature_name, joined, names, batch_timeout_ms)

        key = (bundle.path, signature_name)
        return batcher.run(key, run_batch, inputs, output_names, timeout_ms)

    return run


def predict(
    manager: ModelManager,
    request: predict_pb2.PredictRequest,
    max_batch_size: int,
    timeout_ms: int = 0,
    as_tensor_content: bool = False,
) -> predict_pb2.PredictResponse:
    """PredictionService.Predict on the version the request's model_spec asks for; outputs in
    typed value fields, or numeric ones as ``tensor_content`` (see ``tensor_protos``)."""
    version, signature_name, results = predict_arrays(manager, request, max_batch_size, timeout_ms)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = version
    response.model_spec.signature_name = signature_name
    for name, value in results.items():
        response.outputs[name].CopyFrom(output_tensor(value, as_tensor_content))
    return response


def model_metadata(
    manager: ModelManager, request: get_model_metadata_pb2.GetModelMetadataRequest
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
    loaded = manager.resolve(request.model_spec)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in loaded.bundle.meta_graph_signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = loaded.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def model_status(
    manager: ModelManager, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    """ModelService.GetModelStatus: each version's state, with a failed load's error."""
    if not request.HasField("model_spec"):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in manager.version_statuses(request.model_spec):
        entry = response.model_version_status.add()
        entry.version = status.version
        entry.state = status.state
        entry.status.error_code = status.error_code.value[0]
        entry.status.error_message = status.error_message
    return response


def reload_config(
    manager: ModelManager, request: model_management_pb2.ReloadConfigRequest
) -> model_management_pb2.ReloadConfigResponse:
    """ModelService.HandleReloadConfigRequest: replaces the model list, waits for new models."""
    manager.reload(request.config)
    return model_management_pb2.ReloadConfigResponse()
