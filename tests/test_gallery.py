"""The gallery's routes beside TF Serving's REST API (``artgan serve --gallery``), the page-only
server (``artgan gallery``) and their flags."""

from __future__ import annotations

import http.client
import json
import os

import pytest
from serving_fixtures import MODEL, one_version_base_path

from artgan import cli
from artgan.cli.config_flags import section_from_args
from artgan.cli.gallery import GALLERY
from artgan.config import GalleryConfig
from artgan.errors import ArtganError
from artgan.serving.gallery.pages import STATIC_DIR, GalleryPages, first_answer
from artgan.serving.gallery.server import GalleryServer
from artgan.serving.server import start_server

SUMMARY = {"version": 1, "metrics": {"FD": 12.5}, "has_report": True}


class FakeReports:
    """Stands in for pipeline/mlmd/version_reports.VersionReports: version 1 only."""

    def summary(self, model_name, version):
        return dict(SUMMARY, model_name=model_name) if version == 1 else None

    def report_html(self, model_name, version):
        return b"<html>report</html>" if version == 1 else None


def get(host: str, port: int, path: str, method: str = "GET"):
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base_path = one_version_base_path(tmp_path_factory.mktemp("gallery"))
    with start_server(
        str(base_path),
        MODEL,
        port=0,
        rest_port=0,
        gallery=GalleryConfig(gallery=True),
        reports=FakeReports(),
    ) as handle:
        handle.base_path = base_path
        yield handle


def fetch(server, path, method="GET"):
    return get(server.rest.host, server.rest.port, path, method)


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/gallery/gallery.js", "text/javascript; charset=utf-8"),
        ("/gallery/gif.js", "text/javascript; charset=utf-8"),
        ("/gallery/gallery.css", "text/css; charset=utf-8"),
    ],
)
def test_static_files_are_served_with_their_content_types(server, path, content_type):
    status, served_type, body = fetch(server, path)
    assert (status, served_type) == (200, content_type)
    name = "index.html" if path in ("/", "/index.html") else path.rsplit("/", 1)[1]
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        assert body == f.read()


def test_every_module_the_page_imports_is_shipped():
    with open(os.path.join(STATIC_DIR, "gallery.js")) as f:
        imported = {line.split('"./')[1].split('"')[0] for line in f if line.startswith("import ")}
    assert imported == {"api.js", "gif.js", "walk.js"}
    assert imported <= set(os.listdir(STATIC_DIR))


def test_unknown_gallery_paths_are_404_and_paths_cannot_escape(server):
    for path in ("/gallery/nope.js", "/gallery/../pages.py", "/gallery/%2e%2e/pages.py"):
        status, content_type, body = fetch(server, path)
        assert (status, content_type) == (404, "application/json")
        assert "error" in json.loads(body)


def test_tf_servings_routes_are_untouched(server):
    status, content_type, body = fetch(server, f"/v1/models/{MODEL}")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    status, _, body = fetch(server, "/v1/gallery")
    assert status == 400 and "Malformed request" in json.loads(body)["error"]
    assert fetch(server, "/elsewhere")[0] == 404
    assert fetch(server, "/gallery/config.json", "POST")[0] == 405


def test_config_says_where_the_api_is_and_what_the_server_adds(server):
    status, _, body = fetch(server, "/gallery/config.json")
    assert status == 200
    assert json.loads(body) == {
        "api": "",
        "model": MODEL,
        "models": [MODEL],
        "generator_info": True,
        "reports": True,
    }


def test_generator_json_comes_from_the_version_folder(server):
    status, content_type, body = fetch(server, f"/gallery/api/{MODEL}/versions/1/generator.json")
    assert (status, content_type) == (200, "application/json")
    with open(server.base_path / "1" / "assets.extra" / "generator.json", "rb") as f:
        assert body == f.read()
    for path in (
        f"/gallery/api/{MODEL}/versions/9/generator.json",
        "/gallery/api/x/versions/1/generator.json",
    ):
        status, _, body = fetch(server, path)
        assert status == 404 and json.loads(body)["error"]


def test_summary_and_report_come_from_the_report_source(server):
    status, content_type, body = fetch(server, f"/gallery/api/{MODEL}/versions/1/summary.json")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == dict(SUMMARY, model_name=MODEL)
    status, content_type, body = fetch(server, f"/gallery/api/{MODEL}/versions/1/evaluation.html")
    assert (status, content_type, body) == (200, "text/html; charset=utf-8", b"<html>report</html>")
    status, _, body = fetch(server, f"/gallery/api/{MODEL}/versions/2/summary.json")
    assert status == 404 and "version 2" in json.loads(body)["error"]


def test_without_a_report_source_the_404_names_home():
    pages = GalleryPages(lambda: [MODEL])
    status, body, _ = pages("GET", f"/gallery/api/{MODEL}/versions/1/summary.json")
    assert status == 404 and "--home" in json.loads(body)["error"]
    assert json.loads(pages("GET", "/gallery/config.json")[1])["reports"] is False
    assert pages("GET", "/v1/models/x") is None


class BrokenReports:
    def summary(self, model_name, version):
        raise ArtganError("metadata.sqlite is locked")

    report_html = summary


def test_a_report_source_that_fails_answers_a_500_json_error():
    pages = GalleryPages(lambda: [MODEL], reports=BrokenReports())
    for name in ("summary.json", "evaluation.html"):
        status, body, content_type = pages("GET", f"/gallery/api/{MODEL}/versions/1/{name}")
        assert (status, content_type) == (500, "application/json")
        assert "metadata.sqlite is locked" in json.loads(body)["error"]


def test_first_answer_tries_each_page_in_turn():
    metrics = lambda method, path: (200, b"m", "text/plain") if path == "/metrics" else None  # noqa: E731
    both = first_answer(metrics, None, GalleryPages(lambda: [MODEL]))
    assert both("GET", "/metrics")[1] == b"m"
    assert both("GET", "/")[0] == 200
    assert both("GET", "/v1/models/x") is None
    assert first_answer(None, None) is None


def test_gallery_without_a_rest_port_is_an_error_naming_the_flag(tmp_path, capsys):
    with pytest.raises(ArtganError, match="--gallery .*--rest-port"):
        start_server(str(tmp_path), MODEL, port=0, gallery=GalleryConfig(gallery=True))
    code = cli.main(["serve", "--model-base-path", str(tmp_path), "--port", "0", "--gallery"])
    assert code == 2
    assert "--rest-port" in capsys.readouterr().err


def test_artgan_gallery_parses_its_flags(tmp_path):
    args = cli.build_parser().parse_args(
        ["gallery", "--port", "0", "--api", "http://models:8501", "--model-name", "emoji"]
        + ["--home", str(tmp_path)]
    )
    config = section_from_args(args, "gallery", GALLERY)
    assert (config.port, config.api, config.home) == (0, "http://models:8501", str(tmp_path))
    assert args.model_name == "emoji" and args.command == "gallery"
    config.validate()


@pytest.mark.parametrize(
    "config, flag",
    [
        (GalleryConfig(api="models:8501"), "--api"),
        (GalleryConfig(port=70000), "--port"),
        (GalleryConfig(home="/nonexistent/home"), "--home"),
    ],
)
def test_bad_gallery_settings_name_their_flag(config, flag):
    with pytest.raises(ArtganError, match=flag):
        config.validate()


def test_the_page_only_server_points_the_page_at_the_api():
    pages = GalleryPages(lambda: ["emoji"], "http://models:8501/")
    with GalleryServer(pages, "127.0.0.1", 0).start() as server:
        status, _, body = get("127.0.0.1", server.port, "/gallery/config.json")
        assert status == 200
        assert json.loads(body)["api"] == "http://models:8501"
        assert json.loads(body)["generator_info"] is False
        assert get("127.0.0.1", server.port, "/")[0] == 200
        assert get("127.0.0.1", server.port, "/v1/models/emoji")[0] == 404
