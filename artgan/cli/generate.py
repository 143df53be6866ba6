"""``artgan generate``: ask a model server for images by seed (TF Serving's gRPC API)."""

from __future__ import annotations

from artgan.config import ServingConfig

SERVING = ServingConfig()


def add_parser(commands, parents) -> None:
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
