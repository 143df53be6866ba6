"""``artgan serve``: TF Serving's gRPC and REST APIs over pushed generators."""

from __future__ import annotations

import dataclasses

from artgan.cli.config_flags import add_section_flags, section_from_args
from artgan.cli.gallery import GALLERY, open_reports
from artgan.config import PipelineConfig, ServerConfig, ServingConfig

SERVING = ServingConfig()
SERVER = ServerConfig()
# tensorflow_model_server's spellings where ours differ, so its command lines work unchanged.
TF_SERVING_NAMES = {
    "rest_port": "rest_api_port",
    "rest_api_timeout_ms": "rest_api_timeout_in_ms",
    "rest_api_enable_cors": "rest_api_enable_cors_support",
}


def tf_serving_aliases() -> dict[str, tuple[str, ...]]:
    """Each ServerConfig flag's tensorflow_model_server spelling (``--model_config_file``)."""
    return {
        field.name: ("--" + TF_SERVING_NAMES.get(field.name, field.name),)
        for field in dataclasses.fields(ServerConfig)
    }


def add_parser(commands, parents) -> None:
    serve = commands.add_parser(
        "serve",
        parents=parents,
        help="serve pushed generators over TensorFlow Serving's gRPC and REST APIs",
    )
    serve.add_argument(
        "--model-base-path",
        "--model_base_path",
        default=PipelineConfig().serving_model_dir,
        help="folder of integer version folders (%(default)s)",
    )
    serve.add_argument("--model-name", "--model_name", default=SERVING.model_name)
    serve.add_argument("--host", default=SERVING.host, help="where gRPC and REST listen")
    serve.add_argument("--port", type=int, default=SERVING.port, help="gRPC (%(default)s)")
    serve.add_argument("--max-batch-size", type=int, default=SERVING.max_batch_size)
    add_section_flags(
        serve,
        "server",
        SERVER,
        "TensorFlow Serving's flags (ServerConfig; its underscore spellings work too)",
        aliases=tf_serving_aliases(),
    )
    add_section_flags(
        serve, "gallery", GALLERY, "artgan's gallery page (not TF Serving's)", skip=("api", "port")
    )


def serve(args) -> None:
    from artgan.serving.server import serve_forever

    server = section_from_args(args, "server", SERVER)
    server.validate()
    gallery = section_from_args(args, "gallery", GALLERY)
    gallery.validate()
    reports = open_reports(gallery.home) if gallery.gallery else None
    try:
        serve_forever(
            args.model_base_path,
            model_name=args.model_name,
            host=args.host,
            port=args.port,
            max_batch_size=args.max_batch_size,
            server=server,
            gallery=gallery,
            reports=reports,
        )
    finally:
        if reports is not None:
            reports.close()
