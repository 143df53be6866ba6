"""An embedded, TF Serving-compatible model server: gRPC and, when asked, REST.

It speaks the official ``tensorflow_serving.apis`` services (PredictionService, ModelService)
and TF Serving's REST API, so the same clients work against it and against the real
``tensorflow/serving`` image, with the same flags (``ServerConfig``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from artgan.config import GalleryConfig, ServerConfig, ServingConfig
from artgan.contract.requests import ServingError
from artgan.errors import ArtganError
from artgan.serving import handlers
from artgan.serving.batching import read_batching_options
from artgan.serving.channel import MAX_MESSAGE_BYTES, grpc_address
from artgan.serving.config_protos import SSLConfig, read_text_proto
from artgan.serving.gallery.pages import GalleryPages, first_answer
from artgan.serving.gallery.reports import ReportSource
from artgan.serving.manager import ModelManager
from artgan.serving.metrics import ServerMetrics, prometheus_path
from artgan.serving.model_config import read_config_file, single_model_config
from artgan.serving.repository import ModelRepository
from artgan.serving.rest import RestServer

log = logging.getLogger(__name__)

DEFAULTS = ServingConfig()
SERVER_DEFAULTS = ServerConfig()
GALLERY_DEFAULTS = GalleryConfig()
STOP_GRACE_SECONDS = 2.0
NO_DEADLINE_SECONDS = 1e7  # gRPC reports a call without a deadline as one far in the future


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

    def __init__(self, manager: ModelManager, max_batch_size: int, as_tensor_content: bool):
        self.manager = manager
        self.max_batch_size = max_batch_size
        self.as_tensor_content = as_tensor_content

    def Predict(self, request, context):
        # The client's deadline bounds the run, as in TF Serving.
        remaining = context.time_remaining()
        bounded = remaining is not None and remaining < NO_DEADLINE_SECONDS
        timeout_ms = max(int(remaining * 1000), 1) if bounded else 0
        return answer(
            context,
            lambda: handlers.predict(
                self.manager, request, self.max_batch_size, timeout_ms, self.as_tensor_content
            ),
        )

    def GetModelMetadata(self, request, context):
        return answer(context, lambda: handlers.model_metadata(self.manager, request))

    def Classify(self, request, context):
        unimplemented(context, "Classify")

    def Regress(self, request, context):
        unimplemented(context, "Regress")

    def MultiInference(self, request, context):
        unimplemented(context, "MultiInference")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """ModelService: GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        return answer(context, lambda: handlers.model_status(self.manager, request))

    def HandleReloadConfigRequest(self, request, context):
        return answer(context, lambda: handlers.reload_config(self.manager, request))


class ServerHandle:
    """A running server: ``.port`` (gRPC), ``.rest`` (None when REST is off), ``.stop()``,
    ``.wait()``; a context manager."""

    def __init__(
        self,
        server: grpc.Server,
        manager: ModelManager,
        host: str,
        port: int,
        rest: RestServer | None = None,
    ):
        self.server = server
        self.manager = manager
        self.host = host
        self.port = port
        self.address = grpc_address(host, port)
        self.rest = rest
        self._stopped = threading.Event()

    @property
    def repository(self) -> ModelRepository:
        """The only model's repository (a server of several models has no single one)."""
        (repository,) = self.manager.models().values()
        return repository

    @property
    def served_version(self) -> int | None:
        """The only model's latest available version."""
        loaded = self.repository.latest()
        return loaded.version if loaded else None

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stops serving (in-flight requests get ``grace_seconds``), polling, and unloads."""
        if self._stopped.is_set():
            return
        if self.rest is not None:
            self.rest.stop()
        self.server.stop(grace_seconds).wait()
        self.manager.stop()
        self._stopped.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Blocks until stopped (or ``timeout_s``); True once stopped."""
        return self._stopped.wait(timeout_s)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# What TF Serving's --enable_grpc_healthcheck_service reports SERVING ("" is the whole server).
HEALTH_SERVICES = ("", "ModelService", "PredictionService")


def add_health_service(grpc_server: grpc.Server) -> None:
    """grpc.health.v1.Health, SERVING for the server and its two services from the start."""
    servicer = health.HealthServicer()
    for service in HEALTH_SERVICES:
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, grpc_server)


def server_credentials(ssl_config_file: str) -> grpc.ServerCredentials | None:
    """TLS credentials from TF Serving's SSLConfig file (None: plaintext), as
    BuildServerCredentialsFromSSLConfigFile builds them."""
    if not ssl_config_file:
        return None
    ssl = read_text_proto(ssl_config_file, SSLConfig, "--ssl-config-file")
    if not ssl.server_key or not ssl.server_cert:
        raise ArtganError(
            f"--ssl-config-file {ssl_config_file}: server_key and server_cert (PEM contents) "
            "are both needed"
        )
    if ssl.client_verify and not ssl.custom_ca:
        raise ArtganError(
            f"--ssl-config-file {ssl_config_file}: client_verify needs custom_ca, the PEM of the "
            "authority that signs client certificates"
        )
    try:
        return grpc.ssl_server_credentials(
            [(ssl.server_key.encode(), ssl.server_cert.encode())],
            root_certificates=ssl.custom_ca.encode() or None,
            require_client_auth=ssl.client_verify,
        )
    except (RuntimeError, ValueError) as error:
        raise ArtganError(f"--ssl-config-file {ssl_config_file}: {error}") from error


def metrics_page(metrics: ServerMetrics, path: str):
    """The REST server's handler for Prometheus' scrape path."""

    def page(method: str, request_path: str):
        if request_path != path:
            return None
        return 200, metrics.prometheus_text().encode(), "text/plain; version=0.0.4"

    return page


def gallery_pages(manager: ModelManager, reports: ReportSource | None) -> GalleryPages:
    """The gallery over this server's own REST API, models and version folders."""

    def version_folder(model: str, version: int) -> str | None:
        repository = manager.models().get(model)
        return os.path.join(repository.base_path, str(version)) if repository else None

    return GalleryPages(lambda: list(manager.models()), "", version_folder, reports)


def absolute(path: str) -> str:
    """A local path made absolute (TF Serving wants absolute base paths); URIs untouched."""
    return path if "://" in path else os.path.abspath(path)


def initial_config(model_base_path: str, model_name: str, config_file: str):
    """The model config file's models, or the one model of --model-name/--model-base-path;
    ArtganError naming the file or path when it cannot be served."""
    try:
        if config_file:
            return read_config_file(config_file)
        return single_model_config(model_name, absolute(model_base_path))
    except ServingError as error:
        raise ArtganError(error.message) from error


def start_server(
    model_base_path: str,
    model_name: str = DEFAULTS.model_name,
    host: str = DEFAULTS.host,
    port: int = DEFAULTS.port,
    max_batch_size: int = DEFAULTS.max_batch_size,
    poll_seconds: float = SERVER_DEFAULTS.file_system_poll_wait_seconds,
    server: ServerConfig = SERVER_DEFAULTS,
    rest_port: int | None = None,
    gallery: GalleryConfig = GALLERY_DEFAULTS,
    reports: ReportSource | None = None,
) -> ServerHandle:
    """Loads each model's aspired versions, starts gRPC (and REST on ``server.rest_port``
    unless 0), and polls for new versions every ``poll_seconds``.

    ``port=0`` picks a free gRPC port (see the handle's ``.port``); ``rest_port`` overrides
    ``server.rest_port``, and there 0 picks a free port (``.rest.port``). A missing or empty
    base path is fine: the server answers NOT_FOUND until a version appears.
    ``gallery.gallery`` adds the gallery page at ``/`` on the REST port, with ``reports``'
    evaluation summaries when given.
    """
    server.validate()
    rest_enabled = rest_port is not None or server.rest_port > 0
    if gallery.gallery and not rest_enabled:
        raise ArtganError(
            "--gallery serves the page on the REST port: add --rest-port P (TF Serving's "
            "--rest_api_port) and open http://HOST:P/"
        )
    if max_batch_size < 1 or poll_seconds <= 0:
        raise ArtganError(
            f"max_batch_size must be >= 1 and poll_seconds > 0, got {max_batch_size} and "
            f"{poll_seconds}"
        )
    batching = None
    if server.enable_batching:
        batching = read_batching_options(server.batching_parameters_file)
        log.info("batching: %s", batching)
    elif server.batching_parameters_file:
        log.warning("--batching-parameters-file is ignored without --enable-batching")
    manager = ModelManager(
        poll_seconds,
        max_batch_size,
        server.allow_version_labels_for_unavailable_models,
        batching=batching,
    )
    try:
        manager.reload(initial_config(model_base_path, model_name, server.model_config_file))
    except ServingError as error:
        manager.stop()
        raise ArtganError(f"cannot serve the configured models: {error.message}") from error
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=server.grpc_max_threads, thread_name_prefix="artgan-grpc"
        ),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a busy port is an error, not a silently shared one
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, max_batch_size, server.enable_serialization_as_tensor_content),
        grpc_server,
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), grpc_server)
    if server.enable_grpc_healthcheck_service:
        add_health_service(grpc_server)
    try:
        credentials = server_credentials(server.ssl_config_file)
        if credentials is None:
            bound_port = grpc_server.add_insecure_port(grpc_address(host, port))
        else:
            bound_port = grpc_server.add_secure_port(grpc_address(host, port), credentials)
    except ArtganError:
        manager.stop()
        raise
    except RuntimeError as error:
        bound_port, reason = 0, f": {error}"
    else:
        reason = ""
    if not bound_port:
        manager.stop()
        hint = "is the port in use?"
        if server.ssl_config_file:
            hint = (
                f"are server_key and server_cert in {server.ssl_config_file} a PEM key and "
                "its certificate? Or is the port in use?"
            )
        raise ArtganError(f"cannot listen on {grpc_address(host, port)}{reason}; {hint}")
    rest = None
    try:
        metrics_path = prometheus_path(server.monitoring_config_file)
    except ArtganError:
        grpc_server.stop(None)
        manager.stop()
        raise
    if metrics_path and not rest_enabled:
        log.warning("Prometheus metrics are served on the REST port: add --rest-port")
    rest_port = server.rest_port if rest_port is None else rest_port
    if rest_enabled:
        try:
            rest = RestServer(
                manager,
                host,
                rest_port,
                max_batch_size,
                server.rest_threads(),
                server.rest_api_timeout_ms,
                server.rest_api_enable_cors,
                first_answer(
                    metrics_page(manager.metrics, metrics_path) if metrics_path else None,
                    gallery_pages(manager, reports) if gallery.gallery else None,
                ),
            )
        except OSError as error:
            grpc_server.stop(None)
            manager.stop()
            raise ArtganError(
                f"cannot listen for REST on {host}:{rest_port}: {error.strerror}; is the "
                "port in use?"
            ) from error
    handle = ServerHandle(grpc_server, manager, host, bound_port, rest)
    grpc_server.start()
    if rest is not None:
        rest.start()
    manager.start_polling(server.model_config_file, server.model_config_file_poll_wait_seconds)
    for name, repository in manager.models().items():
        log.info(
            "serving model %s from %s (versions %s)",
            name,
            repository.base_path,
            sorted(repository.available()) or "none yet",
        )
    log.info("gRPC on %s", handle.address)
    if rest is not None:
        log.info("REST on %s/v1/models/<name>", rest.url)
        if metrics_path:
            log.info("Prometheus metrics on %s%s", rest.url, metrics_path)
        if gallery.gallery:
            log.info("gallery on %s/", rest.url)
    return handle


def serve_forever(
    model_base_path: str,
    model_name: str = DEFAULTS.model_name,
    host: str = DEFAULTS.host,
    port: int = DEFAULTS.port,
    max_batch_size: int = DEFAULTS.max_batch_size,
    server: ServerConfig = SERVER_DEFAULTS,
    gallery: GalleryConfig = GALLERY_DEFAULTS,
    reports: ReportSource | None = None,
) -> None:
    """Serves until SIGINT or SIGTERM, then stops cleanly (for the CLI)."""
    stop_requested = threading.Event()
    previous_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[signum] = signal.signal(signum, lambda *_: stop_requested.set())
    try:
        with start_server(
            model_base_path,
            model_name,
            host,
            port,
            max_batch_size,
            server.file_system_poll_wait_seconds,
            server,
            gallery=gallery,
            reports=reports,
        ) as handle:
            for name, repository in handle.manager.models().items():
                if not repository.available():
                    log.warning(
                        "no version of %s under %s yet: waiting for one to be pushed",
                        name,
                        repository.base_path,
                    )
            log.info("stop with Ctrl-C")
            while not stop_requested.wait(0.5):
                pass
            log.info("stopping the server on %s", handle.address)
    finally:
        for signum, previous in previous_handlers.items():
            signal.signal(signum, previous)
