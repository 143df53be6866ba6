"""``artgan generate``: ask a model server for images by seed (TF Serving's gRPC API): grids,
truncation, class-per-row grids and latent walks with GIFs."""

from __future__ import annotations

import math

from artgan.config import ServingConfig
from artgan.errors import ArtganError

SERVING = ServingConfig()
DEFAULT_SEEDS = "0-15"
WALK_STEPS = 16  # frames from one seed towards the next
WALK_FPS = 12.0


def add_parser(commands, parents) -> None:
    generate = commands.add_parser(
        "generate", parents=parents, help="ask a model server for images by seed"
    )
    generate.add_argument("--host", default=SERVING.host)
    generate.add_argument("--port", type=int, default=SERVING.port)
    generate.add_argument("--model-name", default=SERVING.model_name)
    generate.add_argument("--version", type=int, help="model version (default: latest)")
    generate.add_argument(
        "--seeds", help=f"e.g. 0-15 or 1,5,9-12 (default {DEFAULT_SEEDS}, or fill --grid)"
    )
    generate.add_argument(
        "--labels",
        help="class labels for a class-conditional model: one for all seeds or one per seed "
        "(with --class-rows: one grid row per label); numbers (0-2,5) or, with "
        "--model-base-path, class names (smileys_and_emotion-heart, or a part of one name)",
    )
    generate.add_argument(
        "--model-base-path",
        metavar="DIR",
        help="the served model's folder (as given to the server): --labels may then name "
        "classes, read from the version's assets.extra/generator.json",
    )
    generate.add_argument(
        "--truncation",
        type=float,
        metavar="PSI",
        help="pull latents toward the mean: 1 = none, 0 = the mean image (typical 0.5-0.8)",
    )
    generate.add_argument(
        "--grid", metavar="COLSxROWS", help="grid.png's shape, e.g. 8x4 (seeds 0..31 by default)"
    )
    generate.add_argument(
        "--class-rows",
        action="store_true",
        help="one grid row per class of --labels, the same seeds in every row",
    )
    generate.add_argument(
        "--interpolate",
        nargs="+",
        type=int,
        metavar="SEED",
        help="a latent walk through these seeds (spherical interpolation): frames, a strip "
        "and, with --gif, an animation",
    )
    generate.add_argument(
        "--steps", type=int, default=WALK_STEPS, help="walk frames per seed (%(default)s)"
    )
    generate.add_argument("--loop", action="store_true", help="walk back to the first seed")
    generate.add_argument("--gif", action="store_true", help="also write the walk as walk.gif")
    generate.add_argument("--fps", type=float, default=WALK_FPS, help="GIF frames per second")
    generate.add_argument("--out", default="generated", help="output folder (%(default)s)")
    generate.add_argument(
        "--background",
        metavar="#RRGGBB",
        help="flatten transparent (RGBA) images onto this colour; by default they stay "
        "transparent and grid.png shows them over a checkerboard",
    )


def generate(args) -> None:
    from artgan.config import parse_colour
    from artgan.serving.client import GeneratorClient

    background = parse_colour(args.background, "--background") if args.background else None
    if args.truncation is not None and not math.isfinite(args.truncation):
        raise ArtganError(f"--truncation must be a finite number, got {args.truncation}")
    with GeneratorClient(args.host, args.port) as client:
        if args.interpolate:
            walk(client, args, background)
        else:
            grid(client, args, background)


def grid(client, args, background) -> None:
    from artgan.serving.pictures import write_generated
    from artgan.serving.seeds import parse_grid, parse_seeds

    columns, rows = parse_grid(args.grid) if args.grid else (None, None)
    labels = requested_labels(args)
    if args.seeds:
        seeds = parse_seeds(args.seeds)
    elif columns and not args.class_rows:
        seeds = list(range(columns * rows))
    elif columns:
        seeds = list(range(columns))
    else:
        seeds = parse_seeds(DEFAULT_SEEDS)
    if args.class_rows:
        if not labels:
            raise ArtganError("--class-rows needs --labels: the classes to give a row each")
        columns = columns or len(seeds)
        seeds, labels = seeds * len(labels), [label for label in labels for _ in seeds]
    if rows and len(seeds) > columns * rows:
        raise ArtganError(f"{len(seeds)} images do not fit a --grid of {args.grid}")
    result = client.generate(args.model_name, seeds, args.version, labels, args.truncation)
    written = write_generated(result, args.out, background, columns, args.class_rows)
    print(f"{len(result.seeds)} images from {args.model_name} version {result.version}")
    print(f"  grid: {written['grid']}")


def walk(client, args, background) -> None:
    from artgan.serving.pictures import write_walk
    from artgan.serving.walks import generate_walk

    if args.seeds or args.grid or args.class_rows:
        raise ArtganError(
            "--interpolate takes its seeds itself: leave out --seeds, --grid and --class-rows"
        )
    labels = requested_labels(args) or [None]
    if len(labels) != 1:
        raise ArtganError(f"a walk is drawn in one class: give one --labels, not {args.labels}")
    if args.fps <= 0:
        raise ArtganError(f"--fps must be above 0, got {args.fps}")
    psi = 1.0 if args.truncation is None else args.truncation
    result = generate_walk(
        client,
        args.model_name,
        args.interpolate,
        args.steps,
        args.loop,
        psi,
        labels[0],
        args.version,
    )
    written = write_walk(
        result.pngs, result.images, args.out, background, args.fps if args.gif else None
    )
    seeds = " -> ".join(str(seed) for seed in result.seeds)
    print(
        f"a walk of {len(result.pngs)} frames ({seeds}) from {args.model_name} version "
        f"{result.version}"
    )
    print(f"  strip: {written['strip']}")
    if "gif" in written:
        print(f"  gif: {written['gif']}")


def requested_labels(args) -> list[int] | None:
    """``--labels`` as numbers, names looked up under ``--model-base-path`` when given."""
    from artgan.serving.seeds import resolve_labels

    if not args.labels:
        return None
    if not args.model_base_path:
        return resolve_labels(args.labels, None)
    return resolve_labels(
        args.labels, lambda: class_names_under(args.model_base_path, args.version)
    )


def class_names_under(model_base_path: str, version: int | None) -> list[str]:
    """The class names of ``version`` (default: the newest) under ``model_base_path``."""
    from artgan.serving.client import served_class_names
    from artgan.serving.repository import ready_versions

    if version is None:
        versions = ready_versions(model_base_path)
        if not versions:
            raise ArtganError(f"--model-base-path {model_base_path} holds no model version")
        version = versions[-1]
    names = served_class_names(model_base_path, version)
    if not names:
        raise ArtganError(
            f"version {version} under {model_base_path} records no class names (unconditional, "
            "or exported before they were kept): give --labels as class numbers"
        )
    return names
