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

from artgan import alpha
from artgan.config import ServingConfig
from artgan.contract import (
    ASSETS_EXTRA_DIR,
    GENERATOR_INFO_FILE,
    LABELS_INPUT,
    PNG_OUTPUT,
    SEEDS_INPUT,
    WITH_LABELS_SIGNATURE,
)
from artgan.errors import ArtganError
from artgan.grid import save_grid, save_png
from artgan.serving.channel import MAX_MESSAGE_BYTES, grpc_address

log = logging.getLogger(__name__)

DEFAULTS = ServingConfig()
MAX_SEEDS = 100_000
SEED_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
STATUS_POLL_SECONDS = 0.2
MAX_RESTARTS = 3  # generations started again because a push unloaded their version
GRID_FILE = "grid.png"


def parse_seeds(text: str) -> list[int]:
    """``"0-15,20,30-31"`` -> [0, ..., 15, 20, 30, 31]; duplicates are dropped, order kept."""
    return list(dict.fromkeys(parse_int_ranges(text, "seeds")))


def parse_labels(text: str) -> list[int]:
    """``"3"`` or ``"0-9,0-5"``: class labels, in order, repeats kept."""
    return parse_int_ranges(text, "labels")


def parse_int_ranges(text: str, what: str) -> list[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7]; ArtganError naming ``what`` on bad syntax."""
    values: list[int] = []
    for part in text.split(","):
        match = SEED_RANGE.match(part.strip())
        if not match:
            raise ArtganError(f"bad {what} {text!r}: {part.strip()!r} is not N or N-M (N, M >= 0)")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ArtganError(f"bad {what} {text!r}: range {part.strip()!r} runs backwards")
        if len(values) + last - first + 1 > MAX_SEEDS:
            raise ArtganError(f"bad {what} {text!r}: more than {MAX_SEEDS} values")
        values.extend(range(first, last + 1))
    return values


def format_int_ranges(values: Sequence[int]) -> str:
    """[0, 1, 2, 3, 7, 0, 1] -> ``"0-3,7,0-1"``: what ``parse_int_ranges`` reads back."""
    parts: list[str] = []
    start = previous = None
    for value in [*values, None]:
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = value
    return ",".join(parts)


@dataclasses.dataclass(frozen=True)
class GeneratedImages:
    """What one ``generate`` call got back: one image and one PNG per seed."""

    version: int
    seeds: list[int]
    images: np.ndarray  # uint8 [N, H, W, C]
    pngs: list[bytes]


def decode_png(png: bytes) -> np.ndarray:
    """PNG bytes -> uint8 [H, W, C] (grayscale keeps C = 1)."""
    array = np.asarray(Image.open(io.BytesIO(png)))
    return array[..., np.newaxis] if array.ndim == 2 else array


class GeneratorClient:
    """Official TF Serving stubs over an insecure channel, with artgan-friendly errors."""

    def __init__(
        self,
        host: str = DEFAULTS.host,
        port: int = DEFAULTS.port,
        timeout_s: float = 60.0,
        max_batch_size: int = DEFAULTS.max_batch_size,
    ):
        self.address = grpc_address(host, port)
        self.timeout_s = timeout_s
        self.max_batch_size = max_batch_size
        self.channel = grpc.insecure_channel(
            self.address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
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

    def predict_pngs(
        self,
        model_name: str,
        seeds: Sequence[int],
        version: int | None,
        labels: Sequence[int] | None = None,
    ) -> tuple[int, list[bytes]]:
        """One Predict call for ``seeds`` (and ``labels``, via the class-conditional
        ``with_labels`` signature): (served version, PNG bytes per seed)."""
        try:
            return self._predict_pngs(model_name, seeds, version, labels)
        except grpc.RpcError as error:
            raise self.rpc_failure(error, f"Predict for model {model_name!r}") from error

    def _predict_pngs(self, model_name, seeds, version, labels) -> tuple[int, list[bytes]]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        if version is not None:
            request.model_spec.version.value = version
        request.inputs[SEEDS_INPUT].CopyFrom(tf.make_tensor_proto(list(seeds), dtype=tf.int64))
        if labels is not None:
            request.model_spec.signature_name = WITH_LABELS_SIGNATURE
            request.inputs[LABELS_INPUT].CopyFrom(
                tf.make_tensor_proto(list(labels), dtype=tf.int64)
            )
        # PNGs only: half the bytes of also sending raw pixels, and lossless to decode.
        request.output_filter.append(PNG_OUTPUT)
        response = self.predictions.Predict(request, timeout=self.timeout_s)
        if PNG_OUTPUT not in response.outputs:
            raise ArtganError(f"model {model_name!r} on {self.address} returned no {PNG_OUTPUT!r}")
        pngs = [bytes(png) for png in tf.make_ndarray(response.outputs[PNG_OUTPUT]).ravel()]
        if len(pngs) != len(seeds):
            raise ArtganError(f"asked {self.address} for {len(seeds)} images, got {len(pngs)}")
        return response.model_spec.version.value, pngs

    def generate(
        self,
        model_name: str,
        seeds: Sequence[int],
        version: int | None = None,
        labels: Sequence[int] | None = None,
    ) -> GeneratedImages:
        """Images for ``seeds``, in chunks of at most ``max_batch_size`` seeds.

        ``labels`` (class-conditional models): one class per seed, or one for all of them.
        Without ``version``, the first chunk's served version is pinned for the rest, so one
        result never mixes versions; when a push unloads that version midway, generation
        starts again on the new latest (at most ``MAX_RESTARTS`` times).
        """
        seeds = [int(seed) for seed in seeds]
        if not seeds:
            raise ArtganError("no seeds to generate")
        if labels is not None:
            labels = [int(label) for label in labels]
            labels = labels * len(seeds) if len(labels) == 1 else labels
            if len(labels) != len(seeds):
                raise ArtganError(
                    f"{len(labels)} labels for {len(seeds)} seeds: give one or one each"
                )
        for restart in range(MAX_RESTARTS + 1):
            try:
                return self._generate_pinned(model_name, seeds, version, labels)
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

    def _generate_pinned(self, model_name, seeds, version, labels) -> GeneratedImages:
        """Every chunk from one version: ``version``, or the one the first chunk got."""
        pinned = version
        pngs: list[bytes] = []
        for start in range(0, len(seeds), self.max_batch_size):
            chunk = seeds[start : start + self.max_batch_size]
            chunk_labels = None if labels is None else labels[start : start + self.max_batch_size]
            try:
                pinned, chunk_pngs = self._predict_pngs(model_name, chunk, pinned, chunk_labels)
            except grpc.RpcError as error:
                if version is None and start and error.code() == grpc.StatusCode.NOT_FOUND:
                    raise VersionUnloaded(pinned) from error
                raise self.rpc_failure(error, f"Predict for model {model_name!r}") from error
            pngs.extend(chunk_pngs)
        images = np.stack([decode_png(png) for png in pngs])
        return GeneratedImages(version=pinned, seeds=seeds, images=images, pngs=pngs)


class VersionUnloaded(Exception):
    """The version a generation pinned went away between two of its requests."""

    def __init__(self, version: int):
        super().__init__(f"version {version} is no longer served")
        self.version = version


def seed_file_name(seed: int) -> str:
    return f"seed_{seed:04d}.png"


def write_generated(
    result: GeneratedImages, out_dir: str, background: tuple[int, int, int] | None = None
) -> dict:
    """Writes one PNG per seed (the served bytes) and ``grid.png``; returns their paths.

    RGBA images keep their transparency (the grid shows them over a checkerboard) unless a
    ``background`` colour is given: then every picture is flattened onto it.
    """
    os.makedirs(out_dir, exist_ok=True)
    flatten = background is not None and result.images.shape[-1] == 4
    image_paths = []
    for seed, png, image in zip(result.seeds, result.pngs, result.images, strict=True):
        path = os.path.join(out_dir, seed_file_name(seed))
        if flatten:
            save_png(alpha.flatten(image, background), path)
        else:
            with open(path, "wb") as f:
                f.write(png)
        image_paths.append(path)
    grid_path = save_grid(result.images, os.path.join(out_dir, GRID_FILE), background=background)
    return {"images": image_paths, "grid": grid_path}


def served_num_classes(model_base_path: str, version: int) -> int:
    """Classes of a pushed class-conditional generator (0: unconditional), from its
    ``assets.extra/generator.json``."""
    info_path = os.path.join(model_base_path, str(version), ASSETS_EXTRA_DIR, GENERATOR_INFO_FILE)
    try:
        with open(info_path) as f:
            return int(json.load(f).get("num_classes", 0))
    except (OSError, ValueError):
        return 0


def grid_labels(model_base_path: str, version: int, seeds: Sequence[int]) -> list[int] | None:
    """The class per seed a sample grid asks a class-conditional model for (``seed %
    classes``, so the grid shows every class, as the trainer's samples do); None when the
    model is unconditional."""
    num_classes = served_num_classes(model_base_path, version)
    return [seed % num_classes for seed in seeds] if num_classes else None
