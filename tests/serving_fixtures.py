"""What the serving tests share: tiny exported generators, pushes, stubs and waits."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from artgan.config import ServingConfig
from artgan.models.export import export_generator
from artgan.models.networks import build_generator

LATENT_DIM = 8
RESOLUTION = 8
MAX_BATCH = 4
POLL_SECONDS = 0.1
MODEL = ServingConfig().model_name
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.State.END


def export_tiny_generator(path: str, weights_seed: int) -> str:
    keras.utils.set_random_seed(weights_seed)
    generator = build_generator(LATENT_DIM, RESOLUTION, channels=1, width=16)
    return export_generator(generator, LATENT_DIM, path)


def export_versions(root, versions) -> dict[int, str]:
    """Tiny generators with different weights, one per version, exported under ``root``."""
    return {
        version: export_tiny_generator(str(root / f"v{version}"), weights_seed=version)
        for version in versions
    }


def export_slow_model(path: str) -> None:
    """A SavedModel whose Predict spins for seconds: a run that a deadline must cut short."""

    class Slow(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seeds")])
        def serve(self, seeds):
            def spin(step, total):
                return step + 1, total * 0.999 + 1.0

            _, total = tf.while_loop(
                lambda step, _: step < 100_000_000, spin, (tf.constant(0), tf.constant(0.0))
            )
            return {"total": tf.cast(seeds, tf.float32) + total}

    module = Slow()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})


def push(exported_dir: str, base_path, version: int) -> None:
    """Publishes a version atomically (the Pusher writes saved_model.pb last for the same end)."""
    os.makedirs(base_path, exist_ok=True)
    staging = os.path.join(base_path, f".staging-{version}")
    shutil.copytree(exported_dir, staging)
    os.rename(staging, os.path.join(base_path, str(version)))


def one_version_base_path(root) -> Path:
    """``root/<MODEL>`` holding version 1 of the tiny generator (exported under ``root``)."""
    (exported,) = export_versions(root / "exports", (1,)).values()
    push(exported, root / MODEL, 1)
    return root / MODEL


def write_config(folder, name: str, text: str) -> str:
    """A config file (TF Serving's text formats) in ``folder``; returns its path."""
    path = folder / name
    path.write_text(text)
    return str(path)


def open_stubs(address: str) -> SimpleNamespace:
    channel = grpc.insecure_channel(address)
    return SimpleNamespace(
        channel=channel,
        prediction=prediction_service_pb2_grpc.PredictionServiceStub(channel),
        models=model_service_pb2_grpc.ModelServiceStub(channel),
    )


def predict_request(
    seeds=None, signature: str = "", model: str = MODEL, **inputs
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if seeds is not None:
        inputs["seeds"] = tf.make_tensor_proto(seeds, dtype=tf.int64)
    for name, proto in inputs.items():
        request.inputs[name].CopyFrom(proto)
    return request


def status_request(model: str = MODEL) -> get_model_status_pb2.GetModelStatusRequest:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    return request


def metadata_request(model: str = MODEL) -> get_model_metadata_pb2.GetModelMetadataRequest:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model
    request.metadata_field.append("signature_def")
    return request


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value


def images_and_pngs(response: predict_pb2.PredictResponse) -> tuple[np.ndarray, list[bytes]]:
    images = tf.make_ndarray(response.outputs["images"])
    pngs = [bytes(png) for png in tf.make_ndarray(response.outputs["png"])]
    return images, pngs


def wait_for_version(stubs, version: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            statuses = stubs.models.GetModelStatus(status_request(), timeout=5)
            available = [s.version for s in statuses.model_version_status if s.state == AVAILABLE]
            if available == [version]:
                return
        except grpc.RpcError:
            pass
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"version {version} was not served within {timeout_s} s")


def status_of(
    stubs, version=None, model: str = MODEL
) -> get_model_status_pb2.GetModelStatusResponse:
    request = status_request(model)
    if version is not None:
        request.model_spec.version.value = version
    return stubs.models.GetModelStatus(request, timeout=5)


def wait_for_state(stubs, version: int, state: int, timeout_s: float = 20.0, model: str = MODEL):
    """The version's ModelVersionStatus once it is in ``state``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            (status,) = status_of(stubs, version, model).model_version_status
            if status.state == state:
                return status
        except grpc.RpcError:
            pass
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"version {version} did not reach state {state} within {timeout_s} s")
