"""A gRPC client for a served generator (artgan's embedded server or real TF Serving)."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import time
from collections.abc import Sequence

import grpc
import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from artgan.config import ServingConfig
from artgan.contract import (
    ASSETS_EXTRA_DIR,
    DEFAULT_SIGNATURE,
    FROM_LATENTS_SIGNATURE,
    FROM_LATENTS_WITH_LABELS_SIGNATURE,
    GENERATOR_INFO_FILE,
    LABELS_INPUT,
    LATENTS_INPUT,
    LATENTS_OUTPUT,
    PNG_OUTPUT,
    PSI_INPUT,
    SEED_LATENTS_SIGNATURE,
    SEEDS_INPUT,
    TRUNCATED_SIGNATURE,
    TRUNCATED_WITH_LABELS_SIGNATURE,
    WITH_LABELS_SIGNATURE,
)
from artgan.errors import ArtganError
from artgan.serving.channel import MAX_MESSAGE_BYTES, grpc_address

log = logging.getLogger(__name__)

DEFAULTS = ServingConfig()
SERVER_BATCH_LIMIT = re.compile(r"(?:maximum input batch size|max_batch_size) (\d+)")
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
STATUS_POLL_SECONDS = 0.2
MAX_RESTARTS = 3  # generations started again because a push unloaded their version


@dataclasses.dataclass(frozen=True)
class GeneratedImages:
    """What one ``generate`` call got back: one image and one PNG per seed (and label)."""

    version: int
    seeds: list[int]
    images: np.ndarray  # uint8 [N, H, W, C]
    pngs: list[bytes]
    labels: list[int] | None = None


def decode_png(png: bytes) -> np.ndarray:
    """PNG bytes -> uint8 [H, W, C] (grayscale keeps C = 1)."""
    array = np.asarray(Image.open(io.BytesIO(png)))
    return array[..., np.newaxis] if array.ndim == 2 else array


def server_batch_limit(error: grpc.RpcError) -> int | None:
    """The most rows the server takes per call, when ``error`` says it refused more: TF
    Serving's batching ("Task size X is larger than maximum input batch size Y") or artgan
    serve's ``--max-batch-size``."""
    if error.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return None
    match = SERVER_BATCH_LIMIT.search(error.details() or "")
    return int(match.group(1)) if match else None


def too_big_to_receive(error: grpc.RpcError) -> bool:
    """gRPC refused an answer over the channel's message limit."""
    return error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (
        error.details() or ""
    )


def int64_array(values: Sequence[int]) -> np.ndarray:
    return np.asarray([int(value) for value in values], np.int64)


class GeneratorClient:
    """Official TF Serving stubs over an insecure channel, with artgan-friendly errors.

    Requests larger than the server takes (its max batch, or the gRPC message limit) are
    split transparently: the client learns the limit from the server's refusal and from the
    size of its answers.
    """

    def __init__(
        self,
        host: str = DEFAULTS.host,
        port: int = DEFAULTS.port,
        timeout_s: float = 60.0,
        max_batch_size: int = DEFAULTS.max_batch_size,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ):
        self.address = grpc_address(host, port)
        self.timeout_s = timeout_s
        self.max_batch_size = max_batch_size
        self.max_message_bytes = max_message_bytes
        self.bytes_per_row = 0  # of the largest answer so far, per input row
        self.channel = grpc.insecure_channel(
            self.address,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> GeneratorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def rpc_failure(self, error: grpc.RpcError, what: str) -> ArtganError:
        return ArtganError(
            f"{what} on {self.address} failed: {error.code().name}: {error.details()}"
        )

    def available_version(self, model_name: str, timeout_s: float) -> int | None:
        """The highest AVAILABLE version, or None (raises only on unexpected codes)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model_name
        try:
            response = self.models.GetModelStatus(request, timeout=timeout_s)
        except grpc.RpcError as error:
            retryable = (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
            if error.code() in retryable:
                return None
            raise self.rpc_failure(error, f"GetModelStatus for model {model_name!r}") from error
        versions = [s.version for s in response.model_version_status if s.state == AVAILABLE]
        return max(versions) if versions else None

    def wait_until_available(self, model_name: str, timeout_s: float = 60.0) -> int:
        """Polls GetModelStatus until a version is AVAILABLE; returns that version."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            version = self.available_version(model_name, max(remaining, 0.1))
            if version is not None:
                return version
            if time.monotonic() >= deadline:
                raise ArtganError(
                    f"model {model_name!r} is not available on {self.address} after "
                    f"{timeout_s:g} s: is the server running and has a version been pushed?"
                )
            time.sleep(min(STATUS_POLL_SECONDS, max(deadline - time.monotonic(), 0)))

    def generate(
        self,
        model_name: str,
        seeds: Sequence[int],
        version: int | None = None,
        labels: Sequence[int] | None = None,
        psi: float | None = None,
    ) -> GeneratedImages:
        """Images for ``seeds``, split into as many calls as the server needs.

        ``labels`` (class-conditional models): one class per seed, or one for all of them.
        ``psi``: truncation (1 = none, 0 = the mean image), through the ``truncated``
        signatures. Without ``version``, the first call's served version is pinned for the
        rest, so one result never mixes versions; when a push unloads that version midway,
        generation starts again on the new latest (at most ``MAX_RESTARTS`` times).
        """
        seeds = [int(seed) for seed in seeds]
        if not seeds:
            raise ArtganError("no seeds to generate")
        inputs = {SEEDS_INPUT: int64_array(seeds)}
        if labels is not None:
            labels = [int(label) for label in labels]
            labels = labels * len(seeds) if len(labels) == 1 else labels
            if len(labels) != len(seeds):
                raise ArtganError(
                    f"{len(labels)} labels for {len(seeds)} seeds: give one or one each"
                )
            inputs[LABELS_INPUT] = int64_array(labels)
        if psi is not None:
            inputs[PSI_INPUT] = np.full(len(seeds), psi, np.float32)
        signature = image_signature(seeds=True, labels=labels is not None, psi=psi is not None)
        served, pngs = self.predict_rows(model_name, signature, inputs, PNG_OUTPUT, version)
        pngs = [bytes(png) for png in pngs]
        images = np.stack([decode_png(png) for png in pngs])
        return GeneratedImages(served, seeds, images, pngs, labels)

    def seed_latents(
        self,
        model_name: str,
        seeds: Sequence[int],
        psi: float = 1.0,
        version: int | None = None,
    ) -> tuple[int, np.ndarray]:
        """(served version, float32 [N, latent_dim]): each seed's latent, truncated by ``psi``."""
        inputs = {SEEDS_INPUT: int64_array(seeds), PSI_INPUT: np.full(len(seeds), psi, np.float32)}
        return self.predict_rows(
            model_name, SEED_LATENTS_SIGNATURE, inputs, LATENTS_OUTPUT, version
        )

    def images_from_latents(
        self,
        model_name: str,
        latents: np.ndarray,
        version: int | None = None,
        label: int | None = None,
    ) -> tuple[int, list[bytes]]:
        """(served version, PNG per latent), of one class ``label`` for every latent when
        given (class-conditional models)."""
        inputs = {LATENTS_INPUT: np.asarray(latents, np.float32)}
        if label is not None:
            inputs[LABELS_INPUT] = np.full(len(latents), label, np.int64)
        signature = image_signature(seeds=False, labels=label is not None, psi=False)
        served, pngs = self.predict_rows(model_name, signature, inputs, PNG_OUTPUT, version)
        return served, [bytes(png) for png in pngs]

    def predict_rows(
        self,
        model_name: str,
        signature: str,
        inputs: dict[str, np.ndarray],
        output: str,
        version: int | None,
    ) -> tuple[int, np.ndarray]:
        """Every row of ``inputs`` through ``signature``: (served version, ``output`` rows)."""
        for restart in range(MAX_RESTARTS + 1):
            try:
                return self._predict_pinned(model_name, signature, inputs, output, version)
            except VersionUnloaded as gone:
                if restart == MAX_RESTARTS:
                    raise ArtganError(
                        f"model {model_name!r} on {self.address} changed version "
                        f"{MAX_RESTARTS + 1} times during one generation; try again"
                    ) from gone
                log.info(
                    "version %d of %s was unloaded midway: starting again on the latest",
                    gone.version,
                    model_name,
                )
        raise AssertionError("unreachable")

    def rows_per_call(self) -> int:
        """Rows the next call may ask for: the server's max batch, and answers well under
        the gRPC message limit."""
        if not self.bytes_per_row:
            return self.max_batch_size
        by_size = self.max_message_bytes // 2 // self.bytes_per_row
        return max(1, min(self.max_batch_size, by_size))

    def _predict_pinned(self, model_name, signature, inputs, output, version):
        """Every call answered by one version: ``version``, or the one the first call got."""
        pinned = version
        count = len(next(iter(inputs.values())))
        parts: list[np.ndarray] = []
        start = 0
        while start < count:
            size = self.rows_per_call()
            chunk = {key: value[start : start + size] for key, value in inputs.items()}
            try:
                pinned, rows = self._predict(model_name, signature, chunk, output, pinned)
            except grpc.RpcError as error:
                limit = server_batch_limit(error)
                if limit is not None and 1 <= limit < size:
                    self.max_batch_size = limit
                    continue
                if too_big_to_receive(error) and size > 1:
                    self.max_batch_size = size // 2
                    continue
                if version is None and start and error.code() == grpc.StatusCode.NOT_FOUND:
                    raise VersionUnloaded(pinned) from error
                raise self.rpc_failure(error, f"Predict for model {model_name!r}") from error
            parts.append(rows)
            start += size
        return pinned, np.concatenate(parts)

    def _predict(self, model_name, signature, inputs, output, version) -> tuple[int, np.ndarray]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        # One output only: PNGs are half the bytes of also sending raw pixels, and lossless.
        request.output_filter.append(output)
        response = self.predictions.Predict(request, timeout=self.timeout_s)
        if output not in response.outputs:
            raise ArtganError(f"model {model_name!r} on {self.address} returned no {output!r}")
        rows = tf.make_ndarray(response.outputs[output])
        count = len(next(iter(inputs.values())))
        if len(rows) != count:
            raise ArtganError(
                f"asked {self.address} for {count} rows of {output!r}, got {len(rows)}"
            )
        self.bytes_per_row = max(self.bytes_per_row, response.ByteSize() // count + 1)
        return response.model_spec.version.value, rows


def image_signature(seeds: bool, labels: bool, psi: bool) -> str:
    """The contract's image signature for these inputs."""
    if not seeds:
        return FROM_LATENTS_WITH_LABELS_SIGNATURE if labels else FROM_LATENTS_SIGNATURE
    if psi:
        return TRUNCATED_WITH_LABELS_SIGNATURE if labels else TRUNCATED_SIGNATURE
    return WITH_LABELS_SIGNATURE if labels else DEFAULT_SIGNATURE


class VersionUnloaded(Exception):
    """The version a generation pinned went away between two of its requests."""

    def __init__(self, version: int):
        super().__init__(f"version {version} is no longer served")
        self.version = version


def served_num_classes(model_base_path: str, version: int) -> int:
    """Classes of a pushed class-conditional generator (0: unconditional), from its
    ``assets.extra/generator.json``."""
    try:
        return int(_generator_info(model_base_path, version).get("num_classes", 0))
    except (OSError, ValueError):
        return 0


def served_class_names(model_base_path: str, version: int) -> list[str] | None:
    """Each label's class name (its training folder) from a pushed version's generator.json;
    None for models exported without them (or unconditional ones)."""
    try:
        names = _generator_info(model_base_path, version).get("class_names")
    except (OSError, ValueError):
        return None
    return [str(name) for name in names] if isinstance(names, list) else None


def _generator_info(model_base_path: str, version: int) -> dict:
    info_path = os.path.join(model_base_path, str(version), ASSETS_EXTRA_DIR, GENERATOR_INFO_FILE)
    with open(info_path) as f:
        info = json.load(f)
    if not isinstance(info, dict):
        raise ValueError(f"{info_path} holds no JSON object")
    return info


def grid_labels(model_base_path: str, version: int, seeds: Sequence[int]) -> list[int] | None:
    """The class per seed a sample grid asks a class-conditional model for (``seed %
    classes``, so the grid shows every class, as the trainer's samples do); None when the
    model is unconditional."""
    num_classes = served_num_classes(model_base_path, version)
    return [seed % num_classes for seed in seeds] if num_classes else None
