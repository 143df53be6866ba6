"""The gallery page on its own port (``artgan gallery``), for a REST API served elsewhere,
such as the real tensorflow/serving started with ``--rest_api_enable_cors_support``."""

from __future__ import annotations

import http.server
import logging
import urllib.parse
from collections.abc import Callable

from artgan.serving.rest import ThreadedHttpServer

log = logging.getLogger(__name__)


def page_handler(pages: Callable) -> type[http.server.BaseHTTPRequestHandler]:
    """GET answered by ``pages`` (see GalleryPages), everything else 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "artgan-gallery"

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            log.debug("gallery %s", format % args)

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            status, body, content_type = pages("GET", path) or (404, b"", "text/plain")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

    return Handler


class GalleryServer(ThreadedHttpServer):
    """Serves ``pages`` on ``host:port`` (0 picks a free port: see ``.port``) on its own
    thread; a context manager."""

    def __init__(self, pages: Callable, host: str, port: int):
        super().__init__(host, port, page_handler(pages), "artgan-gallery")

    @property
    def url(self) -> str:
        return f"{super().url}/"

    def __enter__(self) -> GalleryServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
