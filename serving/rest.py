"""TF Serving's REST API (model_servers/http_rest_api_handler.cc) over the same model manager.

Routes, all under ``/v1/`` (matched case-insensitively, as TF Serving's regexes are):

- ``POST /v1/models/<name>[/versions/<v> | /labels/<l>]:predict``: Predict, JSON in and out;
- ``GET /v1/models/<name>[/versions/<v> | /labels/<l>]``: GetModelStatus as proto3 JSON;
- ``GET /v1/models/<name>[/versions/<v> | /labels/<l>]/metadata``: GetModelMetadata.

Anything else under ``/v1/`` is INVALID_ARGUMENT "Malformed request"; errors are
``{"error": "..."}`` with TF Serving's HTTP status for the code.
"""

from __future__ import annotations

import http.server
import logging
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Self

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from artgan.contract import DEFAULT_SIGNATURE
from artgan.contract.requests import ServingError
from artgan.serving import handlers, json_tensor
from artgan.serving.manager import ModelManager
from artgan.serving.metrics import REST

log = logging.getLogger(__name__)

API_PREFIX = "/v1/"
PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, GET"),
    ("Access-Control-Allow-Headers", "Content-Type"),
)
MAX_BODY_BYTES = 64 * 1024 * 1024


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    """FillModelSpecWithNameVersionAndLabel, with the path's %-escapes decoded."""
    spec = model_pb2.ModelSpec(name=urllib.parse.unquote(name))
    if version is not None and label is not None:
        raise invalid(
            f"Both model version ({version}) and model version label ({label}) cannot be supplied."
        )
    if version is not None:
        if int(version) >= 2**63:
            raise invalid(f"Failed to convert version: {version} to numeric.")
        spec.version.value = int(version)
    if label is not None:
        spec.version_label = urllib.parse.unquote(label)
    return spec


def proto_json(message) -> bytes:
    """Proto3 JSON as TF Serving prints it: every field, proto field names."""
    return json_format.MessageToJson(
        message,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        indent=1,
    ).encode()


class RestApi:
    """Answers one REST request: (HTTP status, JSON body)."""

    def __init__(self, manager: ModelManager, max_batch_size: int, timeout_ms: int):
        self.manager = manager
        self.max_batch_size = max_batch_size
        self.timeout_ms = timeout_ms

    def process(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            return 200, self.dispatch(method, path, body)
        except ServingError as error:
            return json_tensor.http_status(error.code), json_tensor.error_json(error.message)
        except Exception as error:
            log.exception("REST request %s %s failed unexpectedly", method, path)
            return 500, json_tensor.error_json(f"{type(error).__name__}: {error}")

    def dispatch(self, method: str, path: str, body: bytes) -> bytes:
        if method == "POST" and (match := PREDICTION_PATH.fullmatch(path)):
            name, version, label, verb = match.groups()
            spec = model_spec(name, version, label)
            if verb.lower() != "predict":  # the generator has only Predict signatures
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"{verb} is not supported by the artgan server: the generator has only "
                    "Predict signatures",
                )
            return self.predict(spec, body)
        if method == "GET" and (match := STATUS_PATH.fullmatch(path)):
            name, version, label, subresource = match.groups()
            if not name:
                raise invalid("Missing model name in request.")
            spec = model_spec(name, version, label)
            if subresource:
                return self.metadata(spec)
            request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
            return proto_json(handlers.model_status(self.manager, request))
        raise invalid(f"Malformed request: {method} {path}")

    def predict(self, spec: model_pb2.ModelSpec, body: bytes) -> bytes:
        parsed = json_tensor.parse_predict_body(body)
        signature_name = parsed.signature_name or DEFAULT_SIGNATURE
        bundle = self.manager.resolve(spec).bundle
        signature = bundle.signature_defs.get(signature_name)
        if signature is None:
            raise invalid(f'Serving signature name: "{signature_name}" not found in signature def')
        input_dtypes = {name: info.dtype for name, info in signature.inputs.items()}
        request = predict_pb2.PredictRequest(model_spec=spec)
        request.model_spec.signature_name = parsed.signature_name
        for name, tensor in json_tensor.request_tensors(parsed, input_dtypes).items():
            request.inputs[name].CopyFrom(tensor)
        _, _, outputs = handlers.predict_arrays(
            self.manager, request, self.max_batch_size, self.timeout_ms, REST
        )
        return json_tensor.response_json(parsed.row_format, outputs)

    def metadata(self, spec: model_pb2.ModelSpec) -> bytes:
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=[handlers.SIGNATURE_DEF_FIELD]
        )
        response = handlers.model_metadata(self.manager, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[handlers.SIGNATURE_DEF_FIELD].Unpack(signature_map)
        return (
            b'{\n"model_spec":'
            + proto_json(response.model_spec)
            + b',\n"metadata": {"signature_def": '
            + proto_json(signature_map)
            + b"}\n}\n"
        )


def request_handler(
    api: RestApi, slots: threading.Semaphore, cors: bool, extra: Callable | None = None
) -> type[http.server.BaseHTTPRequestHandler]:
    """The HTTP handler class: ``extra`` answers the paths it knows (e.g. the metrics page,
    returning (status, body, content type), else None), ``/v1/`` goes to ``api``, and other
    paths are 404, as TF Serving ignores them."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of TF Serving
        disable_nagle_algorithm = True  # small answers go out at once, not after a delayed ACK
        server_version = "artgan-serving"

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            log.debug("REST %s", format % args)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_OPTIONS(self):
            if cors and self.api_path():
                self.reply(200, b"", "application/json")
            else:
                self.handle_any("OPTIONS")

        def api_path(self) -> str | None:
            path = urllib.parse.urlsplit(self.path).path
            return path if path.lower().startswith(API_PREFIX) else None

        def read_body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                message = f"Content-Length must be 0 to {MAX_BODY_BYTES} bytes"
                self.close_connection = True
                self.reply(400, json_tensor.error_json(message), "application/json")
                return None
            return self.rfile.read(length) if length > 0 else b""

        def handle_any(self, method: str) -> None:
            body = self.read_body()
            if body is None:
                return
            answer = extra(method, urllib.parse.urlsplit(self.path).path) if extra else None
            if answer is not None:
                self.reply(*answer)
                return
            path = self.api_path()
            if path is None:
                self.reply(404, b"", "text/plain")
                return
            with slots:
                status, payload = api.process(method, path, body)
            self.reply(status, payload, "application/json")

        def reply(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if cors:
                for header, value in CORS_HEADERS:
                    self.send_header(header, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


class HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: many clients connect at once under load

    def __init__(self, address: tuple[str, int], handler):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)


class ThreadedHttpServer:
    """An ``HttpServer`` on ``host:port`` (0 picks a free port: see ``.port``), answering on
    threads of its own from ``start`` until ``stop``."""

    def __init__(self, host: str, port: int, handler, thread_name: str):
        self.httpd = HttpServer((host, port), handler)
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=thread_name, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


class RestServer(ThreadedHttpServer):
    """The REST API on ``host:port`` (0 picks a free port: see ``.port``), on its own threads."""

    def __init__(
        self,
        manager: ModelManager,
        host: str,
        port: int,
        max_batch_size: int,
        num_threads: int,
        timeout_ms: int,
        cors: bool,
        extra: Callable | None = None,
    ):
        api = RestApi(manager, max_batch_size, timeout_ms)
        handler = request_handler(api, threading.Semaphore(num_threads), cors, extra)
        super().__init__(host, port, handler, "artgan-rest")
