"""``artgan serve`` and ``artgan generate``: TF Serving's gRPC API, server and client."""

from __future__ import annotations

import dataclasses

from artgan.cli.config_flags import add_section_flags, section_from_args
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


def add_parsers(commands, parents) -> None:
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

    generate = commands.add_parser(
        "generate", parents=parents, help="ask a model server for images by seed"
    )
    generate.add_argument("--host", default=SERVING.host)
    generate.add_argument("--port", type=int, default=SERVING.port)
    generate.add_argument("--model-name", default=SERVING.model_name)
    generate.add_argument("--version", type=int, help="model version (default: latest)")
    generate.add_argument("--seeds", default="0-15", help="e.g. 0-15 or 1,5,9-12")
    generate.add_argument(
        "--labels",
        help="class labels for a class-conditional model: one for all seeds or one per seed",
    )
    generate.add_argument("--out", default="generated", help="output folder (%(default)s)")
    generate.add_argument(
        "--background",
        metavar="#RRGGBB",
        help="flatten transparent (RGBA) images onto this colour; by default they stay "
        "transparent and grid.png shows them over a checkerboard",
    )


def serve(args) -> None:
    from artgan.serving.server import serve_forever

    server = section_from_args(args, "server", SERVER)
    server.validate()
    serve_forever(
        args.model_base_path,
        model_name=args.model_name,
        host=args.host,
        port=args.port,
        max_batch_size=args.max_batch_size,
        server=server,
    )


def generate(args) -> None:
    from artgan.config import parse_colour
    from artgan.serving.client import GeneratorClient, parse_labels, parse_seeds, write_generated

    background = parse_colour(args.background, "--background") if args.background else None
    with GeneratorClient(args.host, args.port) as client:
        labels = parse_labels(args.labels) if args.labels else None
        seeds = parse_seeds(args.seeds)
        result = client.generate(args.model_name, seeds, version=args.version, labels=labels)
    written = write_generated(result, args.out, background)
    print(f"{len(result.seeds)} images from {args.model_name} version {result.version}")
    print(f"  grid: {written['grid']}")
