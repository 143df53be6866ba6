"""TF Serving's warmup file: ``assets.extra/tf_serving_warmup_requests``, written and replayed.

A TFRecord of ``PredictionLog`` records (``predict_log.request``), at most
``MAX_WARMUP_RECORDS``. Like TF Serving, the server replays every request when it loads a
version, before reporting it AVAILABLE, and an unreadable file or a failing request fails that
version's load (the version served before keeps serving).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from artgan.contract import ASSETS_EXTRA_DIR, MAX_WARMUP_RECORDS, WARMUP_FILE
from artgan.contract.bundle import SavedModelBundle
from artgan.contract.requests import ServingError, run_signature


class WarmupError(Exception):
    """The warmup file cannot be read, or one of its requests fails."""


def warmup_path(version_dir: str) -> str:
    return os.path.join(version_dir, ASSETS_EXTRA_DIR, WARMUP_FILE)


def write_warmup_file(version_dir: str, requests: Sequence[predict_pb2.PredictRequest]) -> str:
    """Writes ``requests`` as PredictionLog records; returns the file's path."""
    if len(requests) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(requests)} warmup requests, at most {MAX_WARMUP_RECORDS}")
    path = warmup_path(version_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_file(version_dir: str) -> list[predict_pb2.PredictRequest]:
    """The Predict requests of a version's warmup file ([] without one); WarmupError if bad."""
    path = warmup_path(version_dir)
    if not tf.io.gfile.exists(path):
        return []
    requests = []
    try:
        for index, record in enumerate(tf.data.TFRecordDataset(path)):
            if index >= MAX_WARMUP_RECORDS:
                raise WarmupError(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            log = prediction_log_pb2.PredictionLog()
            try:
                log.ParseFromString(record.numpy())
            except Exception as error:
                raise WarmupError(
                    f"warmup record {index} of {path} is not a PredictionLog"
                ) from error
            kind = log.WhichOneof("log_type")
            if kind != "predict_log":
                raise WarmupError(
                    f"warmup record {index} of {path} is a {kind or 'empty log'}: this server "
                    "replays predict_log records only"
                )
            requests.append(log.predict_log.request)
    except tf.errors.OpError as error:
        raise WarmupError(f"cannot read the warmup file {path}: {error.message}") from error
    return requests


def replay_warmup(bundle: SavedModelBundle, max_batch_size: int) -> int:
    """Runs every request of the bundle's warmup file once; returns how many ran."""
    requests = read_warmup_file(bundle.path)
    for index, request in enumerate(requests):
        try:
            run_signature(
                bundle,
                request.model_spec.signature_name,
                request.inputs,
                request.output_filter,
                max_batch_size,
            )
        except ServingError as error:
            raise WarmupError(
                f"warmup request {index} of {warmup_path(bundle.path)} failed: "
                f"{error.code.name}: {error.message}"
            ) from error
    return len(requests)
