"""The gallery's routes, outside TF Serving's ``/v1/``: the page at ``/``, its files under
``/gallery/``, and per version ``/gallery/api/<model>/versions/<v>/`` ``generator.json``
(from the version folder), ``summary.json`` and ``evaluation.html`` (from a report source).

A ``GalleryPages`` is the REST server's ``extra``: called with (method, path), it answers
(status, body, content type), or None for paths it does not own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from artgan.contract import ASSETS_EXTRA_DIR, GENERATOR_INFO_FILE
from artgan.serving.gallery.reports import ReportSource

log = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
INDEX_FILE = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
JSON = "application/json"
VERSION_PATH = re.compile(r"/gallery/api/([^/]+)/versions/(\d{1,18})/([a-z_.]+)")
# version -> its folder, or None when the server does not know where it lives
VersionFolder = Callable[[str, int], str | None]


def json_body(value: Any) -> bytes:
    """JSON with numpy scalars and other odd values written as numbers or text."""

    def plain(item: Any) -> Any:
        return item.item() if hasattr(item, "item") else str(item)

    return json.dumps(value, default=plain, indent=1).encode()


def not_found(message: str) -> tuple[int, bytes, str]:
    return 404, json_body({"error": message}), JSON


def static_file(name: str) -> tuple[int, bytes, str] | None:
    """A file shipped in ``static/`` (only names listed there: no path tricks)."""
    if name not in os.listdir(STATIC_DIR):
        return None
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        body = f.read()
    return 200, body, CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")


class GalleryPages:
    """The gallery's routes for the models ``model_names()`` lists (the first is the page's
    default); ``api`` is the REST API's root the page calls ("" for this same server)."""

    def __init__(
        self,
        model_names: Callable[[], list[str]],
        api: str = "",
        version_folder: VersionFolder | None = None,
        reports: ReportSource | None = None,
    ):
        self.model_names = model_names
        self.api = api.rstrip("/")
        self.version_folder = version_folder
        self.reports = reports
        self._reports_lock = threading.Lock()  # report sources read databases: one at a time

    def __call__(self, method: str, path: str) -> tuple[int, bytes, str] | None:
        if path not in ("/", "/" + INDEX_FILE) and not path.startswith("/gallery/"):
            return None
        if method != "GET":
            return 405, json_body({"error": f"the gallery answers GET only, not {method}"}), JSON
        if path in ("/", "/" + INDEX_FILE):
            return static_file(INDEX_FILE)
        if path == "/gallery/config.json":
            return 200, json_body(self.config()), JSON
        if match := VERSION_PATH.fullmatch(path):
            model, version, name = match.groups()
            return self.version_file(urllib.parse.unquote(model), int(version), name)
        name = path.removeprefix("/gallery/")
        return static_file(name) or not_found(f"no gallery file {name}")

    def config(self) -> dict[str, Any]:
        """What the page needs to start: where the API is and what this server can add."""
        names = self.model_names()
        return {
            "api": self.api,
            "model": names[0] if names else "",
            "models": names,
            "generator_info": self.version_folder is not None,
            "reports": self.reports is not None,
        }

    def version_file(self, model: str, version: int, name: str) -> tuple[int, bytes, str]:
        if name == GENERATOR_INFO_FILE:
            return self.generator_info(model, version)
        if name in ("summary.json", "evaluation.html"):
            return self.report(model, version, name)
        return not_found(f"no gallery file {name} for a version")

    def generator_info(self, model: str, version: int) -> tuple[int, bytes, str]:
        folder = self.version_folder(model, version) if self.version_folder else None
        if folder is None:
            return not_found(f"model {model} version {version}: its folder is not known here")
        path = os.path.join(folder, ASSETS_EXTRA_DIR, GENERATOR_INFO_FILE)
        try:
            with open(path, "rb") as f:
                return 200, f.read(), JSON
        except OSError:
            return not_found(f"model {model} version {version} has no {GENERATOR_INFO_FILE}")

    def report(self, model: str, version: int, name: str) -> tuple[int, bytes, str]:
        if self.reports is None:
            return not_found("no evaluation reports: start the server with --home DIR")
        try:
            with self._reports_lock:
                if name == "summary.json":
                    summary = self.reports.summary(model, version)
                    found = None if summary is None else (json_body(summary), JSON)
                else:
                    html = self.reports.report_html(model, version)
                    found = None if html is None else (html, CONTENT_TYPES[".html"])
        except Exception as error:  # a report that cannot be read is a message, not a dead page
            log.exception("reading the evaluation of %s version %d failed", model, version)
            message = f"the evaluation of {model} version {version} cannot be read: {error}"
            return 500, json_body({"error": message}), JSON
        if found is None:
            return not_found(f"no evaluation {name} for model {model} version {version}")
        return (200, *found)


def first_answer(*pages: Callable | None) -> Callable | None:
    """One ``extra`` handler from several: the first that answers a path does (None: none)."""
    present = [page for page in pages if page is not None]
    if not present:
        return None

    def answer(method: str, path: str):
        for page in present:
            if (found := page(method, path)) is not None:
                return found
        return None

    return answer
