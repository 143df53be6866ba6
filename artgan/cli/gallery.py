"""``artgan gallery``: the gallery page alone, for a REST API served elsewhere (the real
tensorflow/serving with ``--rest_api_enable_cors_support``); and the report source that it and
``artgan serve --gallery --home DIR`` share."""

from __future__ import annotations

import os
import threading

from artgan.cli.config_flags import add_section_flags, section_from_args
from artgan.config import GalleryConfig, ServingConfig
from artgan.errors import ArtganError

GALLERY = GalleryConfig()
SERVING = ServingConfig()


def add_parser(commands, parents) -> None:
    gallery = commands.add_parser(
        "gallery",
        parents=parents,
        help="serve the gallery page for a TF Serving REST API served elsewhere",
    )
    gallery.add_argument("--model-name", default=SERVING.model_name, help="%(default)s")
    gallery.add_argument("--host", default=SERVING.host, help="where the page is served")
    gallery.add_argument(
        "--model-base-path",
        default="",
        help="the served model's version folders, if readable here: the page then reads each "
        "version's generator.json (the class count of conditional models)",
    )
    add_section_flags(gallery, "gallery", GALLERY, "the gallery", skip=("gallery",))


def open_reports(home: str):
    """Each version's evaluation summary and report from an artgan home (None without one)."""
    if not home:
        return None
    from artgan.pipeline.mlmd.version_reports import VersionReports

    return VersionReports(home)


def run(args) -> None:
    from artgan.serving.gallery.pages import GalleryPages
    from artgan.serving.gallery.server import GalleryServer

    config = section_from_args(args, "gallery", GALLERY)
    config.validate()
    base_path = os.path.abspath(args.model_base_path) if args.model_base_path else ""

    def version_folder(model: str, version: int) -> str | None:
        return os.path.join(base_path, str(version)) if model == args.model_name else None

    reports = open_reports(config.home)
    pages = GalleryPages(
        lambda: [args.model_name], config.api, version_folder if base_path else None, reports
    )
    try:
        with GalleryServer(pages, args.host, config.port).start() as server:
            print(f"gallery on {server.url} for {config.api}/v1/models/{args.model_name}")
            print("stop with Ctrl-C", flush=True)
            threading.Event().wait()
    except OSError as error:
        raise ArtganError(
            f"cannot serve the gallery on {args.host}:{config.port}: {error.strerror}; is the "
            "port (--port) in use?"
        ) from error
    finally:
        if reports is not None:
            reports.close()
