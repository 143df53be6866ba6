"""An embedded, TF Serving-compatible gRPC model server for one model.

It speaks the official ``tensorflow_serving.apis`` services (PredictionService, ModelService),
so the same clients work against it and against the real ``tensorflow/serving`` image.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from artgan.config import ServingConfig
from artgan.contract.requests import ServingError
from artgan.errors import ArtganError
from artgan.serving import handlers
from artgan.serving.channel import MAX_MESSAGE_BYTES, grpc_address
from artgan.serving.repository import ModelRepository

log = logging.getLogger(__name__)

DEFAULTS = ServingConfig()
GRPC_WORKERS = 4
STOP_GRACE_SECONDS = 2.0


def answer(context: grpc.ServicerContext, handler: Callable[[], Any]) -> Any:
    """Runs a handler, turning its failures into gRPC status codes (never a dead server)."""
    try:
        return handler()
    except ServingError as error:
        context.abort(error.code, error.message)
    except Exception as error:
        log.exception("request failed unexpectedly")
        context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")


def unimplemented(context: grpc.ServicerContext, method: str) -> None:
    context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} is not supported by the artgan server: the generator has only Predict "
        "signatures",
    )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService: Predict and GetModelMetadata."""

    def __init__(self, repository: ModelRepository, max_batch_size: int):
        self.repository = repository
        self.max_batch_size = max_batch_size

    def Predict(self, request, context):
        return answer(
            context, lambda: handlers.predict(self.repository, request, self.max_batch_size)
        )

    def GetModelMetadata(self, request, context):
        return answer(context, lambda: handlers.model_metadata(self.repository, request))

    def Classify(self, request, context):
        unimplemented(context, "Classify")

    def Regress(self, request, context):
        unimplemented(context, "Regress")

    def MultiInference(self, request, context):
        unimplemented(context, "MultiInference")


class ModelStatusServicer(model_service_pb2_grpc.ModelServiceServicer):
    """ModelService: GetModelStatus (model config reloads are not supported)."""

    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def GetModelStatus(self, request, context):
        return answer(context, lambda: handlers.model_status(self.repository, request))

    def HandleReloadConfigRequest(self, request, context):
        unimplemented(context, "HandleReloadConfigRequest")


class ServerHandle:
    """A running server: ``.port``, ``.address``, ``.stop()``, ``.wait()``; a context manager."""

    def __init__(self, server: grpc.Server, repository: ModelRepository, host: str, port: int):
        self.server = server
        self.repository = repository
        self.host = host
        self.port = port
        self.address = grpc_address(host, port)
        self._stopped = threading.Event()

    @property
    def served_version(self) -> int | None:
        loaded = self.repository.current()
        return loaded.version if loaded else None

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stops serving (in-flight requests get ``grace_seconds``) and stops polling."""
        if self._stopped.is_set():
            return
        self.server.stop(grace_seconds).wait()
        self.repository.stop_polling()
        self._stopped.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Blocks until stopped (or ``timeout_s``); True once stopped."""
        return self._stopped.wait(timeout_s)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_server(
    model_base_path: str,
    model_name: str = DEFAULTS.model_name,
    host: str = DEFAULTS.host,
    port: int = DEFAULTS.port,
    max_batch_size: int = DEFAULTS.max_batch_size,
    poll_seconds: float = DEFAULTS.poll_seconds,
) -> ServerHandle:
    """Loads the latest version (if any), starts serving it and polling for newer ones.

    ``port=0`` picks a free port (see the handle's ``.port``). A missing or empty base path is
    fine: the server answers NOT_FOUND until a version appears.
    """
    if max_batch_size < 1 or poll_seconds <= 0:
        raise ArtganError(
            f"max_batch_size must be >= 1 and poll_seconds > 0, got {max_batch_size} and "
            f"{poll_seconds}"
        )
    repository = ModelRepository(model_name, model_base_path, poll_seconds, max_batch_size)
    repository.poll_once()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS, thread_name_prefix="artgan-grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a busy port is an error, not a silently shared one
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(repository, max_batch_size), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelStatusServicer(repository), server
    )
    try:
        bound_port = server.add_insecure_port(grpc_address(host, port))
    except RuntimeError as error:
        bound_port, reason = 0, f": {error}"
    else:
        reason = ""
    if not bound_port:
        raise ArtganError(
            f"cannot listen on {grpc_address(host, port)}{reason}; is the port in use?"
        )
    server.start()
    repository.start_polling()
    handle = ServerHandle(server, repository, host, bound_port)
    log.info(
        "serving model %s from %s on %s (version %s)",
        model_name,
        model_base_path,
        handle.address,
        handle.served_version or "none yet",
    )
    return handle


def serve_forever(
    model_base_path: str,
    model_name: str = DEFAULTS.model_name,
    host: str = DEFAULTS.host,
    port: int = DEFAULTS.port,
    max_batch_size: int = DEFAULTS.max_batch_size,
    poll_seconds: float = DEFAULTS.poll_seconds,
) -> None:
    """Serves until SIGINT or SIGTERM, then stops cleanly (for the CLI)."""
    stop_requested = threading.Event()
    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[signum] = signal.signal(signum, lambda *_: stop_requested.set())
    try:
        with start_server(
            model_base_path, model_name, host, port, max_batch_size, poll_seconds
        ) as handle:
            if handle.served_version is None:
                log.warning(
                    "no version of %s under %s yet: waiting for one to be pushed",
                    model_name,
                    model_base_path,
                )
            log.info("gRPC on %s; stop with Ctrl-C", handle.address)
            while not stop_requested.wait(0.5):
                pass
            log.info("stopping the server on %s", handle.address)
    finally:
        for signum, previous in previous_handlers.items():
            signal.signal(signum, previous)
